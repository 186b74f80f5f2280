#pragma once
// Per-element arithmetic of the 2D lattice model (paper eq. 25) and its gap-tooth patches, shared
// by the CPU loops and the CUDA kernels. Arrays are [row y][column x], x fastest. kE[y][x] is the
// x-bond diffusivity between (x, y) and (x+1, y); kN[y][x] the y-bond between (x, y) and (x, y+1).
//
// Gap-tooth state: only the m x m evolving interior of each patch is stored, point-major, as
// [trajectory][q][p][patch J (y)][patch I (x)]: for each interior point, the P x P values of all
// patches side by side (so the batched loops run over patches in unit stride). The patch edges
// are never stored: each edge value is a circulant sum over the neighbours' interior values along
// the patch row or column (the coupling kernel of patch/layout2d.hpp), computed where the one
// interior point next to it needs it.
#include "patchlearn/core/defs.hpp"

namespace patchlearn::kernels {

/// du/dt at a point from its four neighbours and the four bond diffusivities (paper eq. 25).
PL_HD double lattice_rate(double u, double uE, double uW, double uN, double uS, double kE, double kW, double kN,
                          double kS, double inv_h2) {
  return (kE * (uE - u) + kW * (uW - u) + kN * (uN - u) + kS * (uS - u)) * inv_h2;
}

/// du/dt at global point (x, y) of a periodic N x N lattice u[y][x] with full bond tables.
PL_HD double periodic_lattice_rate(const double* u, const double* kE, const double* kN, index_t N, index_t x, index_t y,
                                   double inv_h2) {
  const index_t xe = x + 1 == N ? 0 : x + 1, xw = x == 0 ? N - 1 : x - 1;
  const index_t yn = y + 1 == N ? 0 : y + 1, ys = y == 0 ? N - 1 : y - 1;
  return lattice_rate(u[y * N + x], u[y * N + xe], u[y * N + xw], u[yn * N + x], u[ys * N + x], kE[y * N + x],
                      kE[y * N + xw], kN[y * N + x], kN[ys * N + x], inv_h2);
}

/// sum_J W[J] src[J * stride]: one interpolated edge value, W the row of the circulant coupling
/// matrix for the patch whose edge it is.
PL_HD double coupling_sum(const double* W, int P, const double* src, index_t stride) {
  double s = 0.0;
  for (int J = 0; J < P; ++J) s += W[J] * src[J * stride];
  return s;
}

/// du/dt at interior point (p, q) of one patch, its m x m values patch[(q m + p) stride], given
/// the edge values next to it (eE, eW, eN, eS; only those on the patch border are read). kE, kN
/// are the patch's (m+2) x (m+2) bond tables, edges included.
PL_HD double patch_point_rate(const double* patch, index_t stride, int m, int p, int q, double eE, double eW, double eN,
                              double eS, const double* kE, const double* kN, double inv_h2) {
  const auto at = [patch, stride, m](int pp, int qq) { return patch[(static_cast<index_t>(qq) * m + pp) * stride]; };
  const double u = at(p, q);
  const double uE = p + 1 < m ? at(p + 1, q) : eE;
  const double uW = p > 0 ? at(p - 1, q) : eW;
  const double uN = q + 1 < m ? at(p, q + 1) : eN;
  const double uS = q > 0 ? at(p, q - 1) : eS;
  const int n = m + 2, x = p + 1, y = q + 1;
  return lattice_rate(u, uE, uW, uN, uS, kE[y * n + x], kE[y * n + x - 1], kN[y * n + x], kN[(y - 1) * n + x], inv_h2);
}

/// du/dt at interior point (p, q) of patch (I, J) of one trajectory's patch values, stored
/// point-major: U[q][p][J][I], the P x P patches' values at one interior point side by side (m x m
/// such planes). The edge values it needs are interpolated on the spot: Wp / Wm are the P x P
/// circulant coupling matrices that give the right/top edge from the neighbours' first interior
/// column/row (shift +r) and the left/bottom edge from their last (shift -r).
PL_HD double gap_tooth_rate(const double* U, int P, int m, int I, int J, int p, int q, const double* kE,
                            const double* kN, const double* Wp, const double* Wm, double inv_h2) {
  const index_t PP = static_cast<index_t>(P) * P;
  const auto plane = [U, m, PP](int pp, int qq) { return U + (static_cast<index_t>(qq) * m + pp) * PP; };
  const double eE = p + 1 < m ? 0.0 : coupling_sum(Wp + I * P, P, plane(0, q) + J * P, 1);
  const double eW = p > 0 ? 0.0 : coupling_sum(Wm + I * P, P, plane(m - 1, q) + J * P, 1);
  const double eN = q + 1 < m ? 0.0 : coupling_sum(Wp + J * P, P, plane(p, 0) + I, P);
  const double eS = q > 0 ? 0.0 : coupling_sum(Wm + J * P, P, plane(p, m - 1) + I, P);
  return patch_point_rate(U + static_cast<index_t>(J) * P + I, PP, m, p, q, eE, eW, eN, eS, kE, kN, inv_h2);
}

/// The first two terms of the Chebyshev series for exp(dt A) u at one point, T_0 = u and
/// T_1 = (a/2) A u + u, summed: acc = c0 T_0 + c1 T_1 (a = 4/rho as below).
PL_HD void chebyshev_start(double a, double Au, double u, double c0, double c1, double& T1, double& acc) {
  T1 = 0.5 * a * Au + u;
  acc = c0 * u + c1 * T1;
}

/// One step of the Chebyshev recurrence for exp(dt A): T_{k+1} = a A T_k + 2 T_k - T_{k-1}, written
/// over T_{k-1}, and acc += c T_{k+1}. (a = 4/rho maps the spectrum [-rho, 0] onto [-1, 1].)
PL_HD void chebyshev_update(double a, double AT, double Tk, double& Tkm1, double c, double& acc) {
  Tkm1 = a * AT + 2.0 * Tk - Tkm1;
  acc += c * Tkm1;
}

}  // namespace patchlearn::kernels
