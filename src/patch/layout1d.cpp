#include "patchlearn/patch/layout1d.hpp"

#include <cmath>
#include <sstream>

#include "patchlearn/core/error.hpp"
#include "patchlearn/kernels/diffusion.hpp"

namespace patchlearn {
namespace {

// n if x / dx is within 1e-6 of an integer n, else -1.
index_t lattice_count(double x, double dx) {
  const double r = x / dx;
  const double n = std::round(r);
  return std::abs(r - n) <= 1e-6 * std::max(1.0, n) ? static_cast<index_t>(n) : -1;
}

std::string str(double v) {
  std::ostringstream s;
  s.precision(10);
  s << v;
  return s.str();
}

}  // namespace

PatchLayout1D::PatchLayout1D(double length_, int macro_nodes_, double dx_, double tooth_width_, double patch_width_)
    : length(length_), macro_dx(length_ / (macro_nodes_ - 1)), dx(dx_), tooth_width(tooth_width_),
      patch_width(patch_width_), macro_nodes(macro_nodes_) {
  const index_t nh = lattice_count(tooth_width, dx), nH = lattice_count(patch_width, dx);
  if (nh < 2 || nh % 2)
    throw ConfigError("patch.tooth_width", str(tooth_width) + " is " + str(tooth_width / dx) +
                                               " fine intervals; it must be an even number (>= 2) of micro.dx");
  if (nH < 2 || nH % 2)
    throw ConfigError("patch.buffer_width", str(patch_width) + " is " + str(patch_width / dx) +
                                                " fine intervals; it must be an even number of micro.dx");
  if (nH < nh)
    throw ConfigError("patch.buffer_width", str(patch_width) + " is smaller than the tooth width " +
                                                str(tooth_width) + "; the buffer must contain the tooth (H >= h)");
  if (lattice_count(macro_dx, dx) < 0)
    throw ConfigError("domain.macro_nodes", "the macro spacing " + str(macro_dx) +
                                                " is not a whole number of micro.dx = " + str(dx));
  points = nH + 1;
  centre = nH / 2;
  tooth_points = nh + 1;
  tooth_start = centre - nh / 2;
}

index_t PatchLayout1D::global_start(int i) const {
  return i * static_cast<index_t>(std::llround(macro_dx / dx)) - centre;
}

std::vector<double> PatchLayout1D::tooth_moments(int max_degree) const {
  std::vector<double> mu(max_degree + 1, 0.0);
  for (index_t q = 0; q < tooth_points; ++q) {
    const double w = kernels::simpson_weight(q, tooth_points), z = tooth_offset(q);
    double zk = 1.0, fact = 1.0;
    for (int k = 0; k <= max_degree; ++k) {
      if (k > 0) { zk *= z; fact *= k; }
      mu[k] += w * zk / fact;
    }
  }
  return mu;
}

Lifting1D::Lifting1D(const PatchLayout1D& layout, int degree)
    : layout_(layout), degree_(degree), mu_(layout.tooth_moments(degree)) {
  if (degree != 2 && degree != 4) throw ConfigError("patch.lifting", "degree must be 2 (quadratic) or 4 (quartic)");
}

void Lifting1D::differences(const double* U, int i, double* D) const {
  const double h = layout_.macro_dx;
  const int M = layout_.macro_nodes;
  D[0] = U[i];
  if (degree_ == 4 && i >= 2 && i <= M - 3) {
    const double um2 = U[i - 2], um1 = U[i - 1], u0 = U[i], up1 = U[i + 1], up2 = U[i + 2];
    D[1] = (-up2 + 8 * up1 - 8 * um1 + um2) / (12 * h);
    D[2] = (-up2 + 16 * up1 - 30 * u0 + 16 * um1 - um2) / (12 * h * h);
    D[3] = (up2 - 2 * up1 + 2 * um1 - um2) / (2 * h * h * h);
    D[4] = (up2 - 4 * up1 + 6 * u0 - 4 * um1 + um2) / (h * h * h * h);
    return;
  }
  D[1] = (U[i + 1] - U[i - 1]) / (2 * h);
  D[2] = (U[i + 1] - 2 * U[i] + U[i - 1]) / (h * h);
  for (int k = 3; k <= degree_; ++k) D[k] = 0.0;
}

void Lifting1D::coefficients(const double* U, index_t batch, double* coef) const {
  const int M = layout_.macro_nodes, P = layout_.patches(), nc = degree_ + 1;
  double D[5];
  for (index_t b = 0; b < batch; ++b)
    for (int p = 0; p < P; ++p) {
      differences(U + b * M, p + 1, D);
      double* c = coef + (b * P + p) * nc;
      double fact = 1.0, corr = 0.0;
      for (int k = 1; k <= degree_; ++k) {
        fact *= k;
        c[k] = D[k] / fact;
        corr += D[k] * mu_[k];  // mu_k already holds the 1/k!
      }
      c[0] = D[0] - corr;
    }
}

}  // namespace patchlearn
