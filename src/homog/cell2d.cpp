#include "patchlearn/homog/cell2d.hpp"

#include <cmath>
#include <vector>

#include "patchlearn/core/error.hpp"

namespace patchlearn {

EffectiveTensor effective_tensor(const Lattice2D& lat) {
  lat.tables().require_linear();
  const int mx = lat.tables().mx, my = lat.tables().my, n = mx * my;
  // The bonds once, [y][x] (Lattice2D::kx and ky wrap and place them on every call): KX between
  // sites (x, y) and (x+1, y), KY between (x, y) and (x, y+1); and each column's neighbours.
  std::vector<double> KX(n), KY(n);
  std::vector<int> east(mx), west(mx);
  for (int y = 0; y < my; ++y)
    for (int x = 0; x < mx; ++x) {
      KX[y * mx + x] = lat.kx(x, y);
      KY[y * mx + x] = lat.ky(x, y);
    }
  for (int x = 0; x < mx; ++x) {
    east[x] = x + 1 == mx ? 0 : x + 1;
    west[x] = x == 0 ? mx - 1 : x - 1;
  }
  // Large tables (random lattices, RVE windows) share the loops among threads; the paper's 3 x 3
  // tables stay serial.
  const bool threads = n > 4096;
  // (-L) phi, in units of h.
  auto apply = [&](const std::vector<double>& v, std::vector<double>& out) {
#pragma omp parallel for if (threads)
    for (int y = 0; y < my; ++y) {
      const int row = y * mx, north = (y + 1 == my ? 0 : y + 1) * mx, south = (y == 0 ? my - 1 : y - 1) * mx;
      for (int x = 0; x < mx; ++x) {
        const double u = v[row + x];
        out[row + x] = -(KX[row + x] * (v[row + east[x]] - u) + KX[row + west[x]] * (v[row + west[x]] - u) +
                         KY[row + x] * (v[north + x] - u) + KY[south + x] * (v[south + x] - u));
      }
    }
  };
  double flux[2][2];  // flux[e][direction]
  for (int e = 0; e < 2; ++e) {
    const double ex = e == 0 ? 1.0 : 0.0, ey = 1.0 - ex;
    std::vector<double> b(n), phi(n, 0.0), r(n), p(n), Ap(n);
    for (int y = 0; y < my; ++y)
      for (int x = 0; x < mx; ++x) {
        const int i = y * mx + x, south = (y == 0 ? my - 1 : y - 1) * mx + x;
        b[i] = ex * (KX[i] - KX[y * mx + west[x]]) + ey * (KY[i] - KY[south]);
      }
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
        const int i = y * mx + x, north = (y + 1 == my ? 0 : y + 1) * mx + x;
        fx += KX[i] * (ex + phi[y * mx + east[x]] - phi[i]);
        fy += KY[i] * (ey + phi[north] - phi[i]);
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
