#pragma once
// Per-element arithmetic of the 2D lattice model (paper eq. 25) and its gap-tooth patches, shared
// by the CPU loops and the CUDA kernels. Arrays are [row y][column x], x fastest. kE[y][x] is the
// x-bond diffusivity between (x, y) and (x+1, y); kN[y][x] the y-bond between (x, y) and (x, y+1).
//
// Gap-tooth state: only the m x m evolving interior of each patch is stored, as
// [trajectory][patch J (y)][patch I (x)][q][p]. The patch edges are never stored: each edge value
// is a circulant sum over the neighbours' interior values along the patch row or column (the
// coupling kernel of patch/layout2d.hpp), computed where the one interior point next to it needs it.
#include "patchlearn/core/defs.hpp"

namespace patchlearn::kernels {

/// du/dt at a point from its four neighbours and the four bond diffusivities (paper eq. 25).
PL_HD double lattice_rate(double u, double uE, double uW, double uN, double uS, double kE, double kW, double kN,
                          double kS, double inv_h2) {
  return (kE * (uE - u) + kW * (uW - u) + kN * (uN - u) + kS * (uS - u)) * inv_h2;
}

/// du/dt at global point (x, y) of a periodic N x N lattice u[y][x] with full bond tables.
PL_HD double periodic_lattice_rate(const double* u, const double* kE, const double* kN, index_t N, index_t x,
                                   index_t y, double inv_h2) {
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

/// du/dt at point (x, y) of a framed patch: the n x n = (m+2) x (m+2) values of a patch's
/// interior surrounded by its edge values (corners unused), with the patch's bond tables kE, kN.
PL_HD double padded_point_rate(const double* frame, int n, int x, int y, const double* kE, const double* kN,
                               double inv_h2) {
  const int c = y * n + x;
  return lattice_rate(frame[c], frame[c + 1], frame[c - 1], frame[c + n], frame[c - n], kE[c], kE[c - 1], kN[c],
                      kN[c - n], inv_h2);
}

/// du/dt at interior point (p, q) of one patch (m x m values, row-major) given the edge values
/// next to it (eE, eW, eN, eS; only those on the patch border are read). kE, kN are the patch's
/// (m+2) x (m+2) bond tables, edges included.
PL_HD double patch_point_rate(const double* patch, int m, int p, int q, double eE, double eW, double eN, double eS,
                              const double* kE, const double* kN, double inv_h2) {
  const double u = patch[q * m + p];
  const double uE = p + 1 < m ? patch[q * m + p + 1] : eE;
  const double uW = p > 0 ? patch[q * m + p - 1] : eW;
  const double uN = q + 1 < m ? patch[(q + 1) * m + p] : eN;
  const double uS = q > 0 ? patch[(q - 1) * m + p] : eS;
  const int n = m + 2, x = p + 1, y = q + 1;
  return lattice_rate(u, uE, uW, uN, uS, kE[y * n + x], kE[y * n + x - 1], kN[y * n + x], kN[(y - 1) * n + x],
                      inv_h2);
}

/// du/dt at interior point (p, q) of patch (I, J) of one trajectory U[J][I][q][p] (P x P patches of
/// m x m), with the edge values it needs interpolated on the spot. Wp / Wm are the P x P circulant
/// coupling matrices that give the right/top edge from the neighbours' first interior column/row
/// (shift +r) and the left/bottom edge from their last (shift -r).
PL_HD double gap_tooth_rate(const double* U, int P, int m, int I, int J, int p, int q, const double* kE,
                            const double* kN, const double* Wp, const double* Wm, double inv_h2) {
  const index_t mm = static_cast<index_t>(m) * m;
  const index_t row = static_cast<index_t>(P) * mm;  // one patch row (fixed J)
  const double eE = p + 1 < m ? 0.0 : coupling_sum(Wp + I * P, P, U + J * row + q * m, mm);
  const double eW = p > 0 ? 0.0 : coupling_sum(Wm + I * P, P, U + J * row + q * m + (m - 1), mm);
  const double eN = q + 1 < m ? 0.0 : coupling_sum(Wp + J * P, P, U + I * mm + p, row);
  const double eS = q > 0 ? 0.0 : coupling_sum(Wm + J * P, P, U + I * mm + (m - 1) * m + p, row);
  return patch_point_rate(U + (static_cast<index_t>(J) * P + I) * mm, m, p, q, eE, eW, eN, eS, kE, kN, inv_h2);
}

/// One step of the Chebyshev recurrence for exp(dt A): T_{k+1} = a A T_k + 2 T_k - T_{k-1}, written
/// over T_{k-1}, and acc += c T_{k+1}. (a = 4/rho maps the spectrum [-rho, 0] onto [-1, 1].)
PL_HD void chebyshev_update(double a, double AT, double Tk, double& Tkm1, double c, double& acc) {
  Tkm1 = a * AT + 2.0 * Tk - Tkm1;
  acc += c * Tkm1;
}

}  // namespace patchlearn::kernels
