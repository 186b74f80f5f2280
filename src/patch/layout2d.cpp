#include "patchlearn/patch/layout2d.hpp"

#include "patchlearn/core/format.hpp"

#include <cmath>

#include "patchlearn/core/error.hpp"

namespace patchlearn {

const char* name_of(Coupling c) {
  static const char* const names[] = {"spectral", "polynomial"};  // in the enum's order
  return names[static_cast<int>(c)];
}

std::vector<double> coupling_kernel(int P, double r, Coupling coupling, int order) {
  std::vector<double> w(P, 0.0);
  if (coupling == Coupling::Spectral) {
    for (int d = 0; d < P; ++d) {
      double s = 1.0;
      for (int k = 1; 2 * k < P; ++k) s += 2.0 * std::cos(2.0 * M_PI * k * (d + r) / P);
      if (P % 2 == 0) s += std::cos(M_PI * (d + r));
      w[d] = s / P;
    }
  } else {
    // Lagrange weight of the patch at offset j (J = I + j) for the point I + r: entry (-j) mod P.
    const int half = order / 2;
    for (int j = -half; j <= half; ++j) {
      double l = 1.0;
      for (int k = -half; k <= half; ++k)
        if (k != j) l *= (r - k) / static_cast<double>(j - k);
      w[((-j) % P + P) % P] += l;
    }
  }
  return w;
}

double patch_mean_factor(double k, int m, double h) {
  double s = 0;
  for (int j = 0; j < m; ++j) s += std::cos(k * (j - 0.5 * (m - 1)) * h);
  return s / m;
}

double wavenumber(double L, int N, int i) { return 2.0 * M_PI / L * (i <= N / 2 ? i : i - N); }

PatchLayout2D make_layout_2d(double L, int P, int n, double ratio, Coupling coupling, int order) {
  if (n < 3)
    throw ConfigError("patch.points", std::to_string(n) + " must be >= 3 (an interior point and one edge each side)");
  if (P < 3) throw ConfigError("domain.patches", std::to_string(P) + " must be >= 3");
  if (!(ratio > 0 && ratio <= 1))
    throw ConfigError("patch.ratio", num(ratio) + " must be in (0, 1]: 1 means the patches fill the domain");
  if (coupling == Coupling::Polynomial && (order < 2 || order % 2 || order + 1 > P))
    throw ConfigError("patch.order", std::to_string(order) + " must be even, >= 2 and at most domain.patches - 1");
  PatchLayout2D g;
  g.L = L;
  g.P = P;
  g.n = n;
  g.m = n - 2;
  g.ratio = ratio;
  g.DX = L / P;
  g.h = ratio * g.DX / g.m;
  const double s = g.m / ratio;
  if (!whole_number(s))
    throw ConfigError("patch.ratio", num(ratio) + " puts the patch centres " + num(s) +
                                         " lattice points apart; (points - 2) / ratio must be a whole number");
  g.spacing = static_cast<index_t>(std::llround(s));
  g.first = g.spacing / 2 - (n - 1) / 2;
  for (int I = 0; I < P; ++I) g.centres.push_back((static_cast<double>(I * g.spacing + g.first) + 0.5 * (n - 1)) * g.h);
  g.coupling = coupling;
  g.order = order;
  g.wp = coupling_kernel(P, ratio, coupling, order);
  g.wm = coupling_kernel(P, -ratio, coupling, order);
  return g;
}

}  // namespace patchlearn
