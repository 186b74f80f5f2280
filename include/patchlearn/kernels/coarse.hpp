#pragma once
// Per-element math on the macro grid, shared by both backends: finite differences at a node,
// the corrected lifting polynomial, the patch-dynamics estimate.
#include "patchlearn/core/defs.hpp"

namespace patchlearn::kernels {

/// Discrete tooth moments mu_k = sum_q w_q z_q^k / k!, k <= 4 (see PatchLayout1D::tooth_moments).
struct ToothMoments {
  double mu[5];
};

/// D[0] = U_i and the finite differences D_1..D_degree at interior node i of one macro state
/// U[M] with spacing dX: 3-point (degree 2) or 5-point (degree 4; nodes next to a boundary fall
/// back to 3-point differences with D3 = D4 = 0).
PL_HD void macro_differences(const double* U, int M, int i, int degree, double dX, double* D) {
  D[0] = U[i];
  if (degree == 4 && i >= 2 && i <= M - 3) {
    const double um2 = U[i - 2], um1 = U[i - 1], u0 = U[i], up1 = U[i + 1], up2 = U[i + 2];
    D[1] = (-up2 + 8 * up1 - 8 * um1 + um2) / (12 * dX);
    D[2] = (-up2 + 16 * up1 - 30 * u0 + 16 * um1 - um2) / (12 * dX * dX);
    D[3] = (up2 - 2 * up1 + 2 * um1 - um2) / (2 * dX * dX * dX);
    D[4] = (up2 - 4 * up1 + 6 * u0 - 4 * um1 + um2) / (dX * dX * dX * dX);
    return;
  }
  D[1] = (U[i + 1] - U[i - 1]) / (2 * dX);
  D[2] = (U[i + 1] - 2 * U[i] + U[i - 1]) / (dX * dX);
  for (int k = 3; k <= degree; ++k) D[k] = 0.0;
}

/// Coefficients c_k (powers of z = x - x_i) of the lift at node i: c_k = D_k / k! for k >= 1 and
/// c_0 = U_i - sum_k D_k mu_k, so that the discrete tooth average of the lift is exactly U_i.
PL_HD void lift_coefficients(const double* U, int M, int i, int degree, double dX, const ToothMoments& m, double* c) {
  double D[5];
  macro_differences(U, M, i, degree, dX, D);
  double fact = 1.0, corr = 0.0;
  for (int k = 1; k <= degree; ++k) {
    fact *= k;
    c[k] = D[k] / fact;
    corr += D[k] * m.mu[k];
  }
  c[0] = D[0] - corr;
}

/// The most restrictions after the first that a patch-dynamics estimate combines (a cubic in time).
inline constexpr int kMaxEstimateDegree = 3;

/// Patch-dynamics estimate from restrictions R_0 = base (U_i, or the healed R) and R_1 .. R_d later
/// in the burst: sum_k w_k (R_k - base), the derivative at the burst's start of the polynomial
/// through the d + 1 restrictions (w_k its Lagrange weights, patch_estimate_weights; the base's
/// weight is minus their sum, so base cancels exactly). d = 1 is paper eq. 11, (R - base) / span.
/// R_k = R[k - 1][r], the restrictions `stride` apart.
PL_HD double patch_estimate(const double* R, index_t stride, index_t r, double base, int d, const double* w) {
  double e = 0.0;
  for (int k = 0; k < d; ++k) e += w[k] * (R[k * stride + r] - base);
  return e;
}

}  // namespace patchlearn::kernels
