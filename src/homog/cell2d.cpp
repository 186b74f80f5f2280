#include "patchlearn/homog/cell2d.hpp"

#include <cmath>
#include <vector>

#include "patchlearn/core/error.hpp"

namespace patchlearn {

EffectiveTensor effective_tensor(const Lattice2D& lat) {
  lat.tables().require_linear();
  const int mx = lat.tables().mx, my = lat.tables().my, n = mx * my;
  auto at = [&](int x, int y) { return ((y % my + my) % my) * mx + ((x % mx) + mx) % mx; };
  // (-L) phi, in units of h.
  // Large tables (random lattices, RVE windows) share the loops among threads; the paper's 3 x 3
  // tables stay serial.
  const bool threads = n > 4096;
  auto apply = [&](const std::vector<double>& v, std::vector<double>& out) {
#pragma omp parallel for if (threads)
    for (int y = 0; y < my; ++y)
      for (int x = 0; x < mx; ++x) {
        const double u = v[at(x, y)];
        out[at(x, y)] = -(lat.kx(x, y) * (v[at(x + 1, y)] - u) + lat.kx(x - 1, y) * (v[at(x - 1, y)] - u) +
                          lat.ky(x, y) * (v[at(x, y + 1)] - u) + lat.ky(x, y - 1) * (v[at(x, y - 1)] - u));
      }
  };
  double flux[2][2];  // flux[e][direction]
  for (int e = 0; e < 2; ++e) {
    const double ex = e == 0 ? 1.0 : 0.0, ey = 1.0 - ex;
    std::vector<double> b(n), phi(n, 0.0), r(n), p(n), Ap(n);
    for (int y = 0; y < my; ++y)
      for (int x = 0; x < mx; ++x)
        b[at(x, y)] = ex * (lat.kx(x, y) - lat.kx(x - 1, y)) + ey * (lat.ky(x, y) - lat.ky(x, y - 1));
    // Conjugate gradients from phi = 0; b sums to zero, so the iterates stay mean-free.
    r = b;
    p = r;
    double rr = 0, bb = 0;
    for (int i = 0; i < n; ++i) rr += r[i] * r[i];
    bb = rr;
    for (int it = 0; it < 10 * n + 100 && rr > 1e-30 * bb && rr > 0; ++it) {
      apply(p, Ap);
      double pAp = 0;
#pragma omp parallel for reduction(+ : pAp) if (threads)
      for (int i = 0; i < n; ++i) pAp += p[i] * Ap[i];
      const double alpha = rr / pAp;
      double rr_new = 0;
#pragma omp parallel for reduction(+ : rr_new) if (threads)
      for (int i = 0; i < n; ++i) {
        phi[i] += alpha * p[i];
        r[i] -= alpha * Ap[i];
        rr_new += r[i] * r[i];
      }
#pragma omp parallel for if (threads)
      for (int i = 0; i < n; ++i) p[i] = r[i] + (rr_new / rr) * p[i];
      rr = rr_new;
    }
    double fx = 0, fy = 0;
    for (int y = 0; y < my; ++y)
      for (int x = 0; x < mx; ++x) {
        fx += lat.kx(x, y) * (ex + phi[at(x + 1, y)] - phi[at(x, y)]);
        fy += lat.ky(x, y) * (ey + phi[at(x, y + 1)] - phi[at(x, y)]);
      }
    flux[e][0] = fx / n;
    flux[e][1] = fy / n;
  }
  EffectiveTensor D;
  D.xx = flux[0][0];
  D.yy = flux[1][1];
  D.xy = 0.5 * (flux[1][0] + flux[0][1]);
  D.asymmetry = std::abs(flux[1][0] - flux[0][1]);
  if (!(D.xx > 0 && D.yy > 0 && D.xx * D.yy > D.xy * D.xy))
    throw RunError("the 2D cell problem gave a tensor that is not positive definite");
  return D;
}

}  // namespace patchlearn
