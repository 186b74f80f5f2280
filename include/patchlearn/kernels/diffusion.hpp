#pragma once
// Per-element math of the conservative 1D fine-scale diffusion model
//     du_j/dt = [ a_j (u_{j+1} - u_j) - a_{j-1} (u_j - u_{j-1}) ] / dx^2,
// with the conductance a_j on the face (bond) between points j and j+1. Shared by both backends.
#include "patchlearn/core/defs.hpp"

namespace patchlearn::kernels {

/// How the first and last rows of a fine system are closed.
enum class EndRows : int {
  Dirichlet = 0,         ///< u_0, u_{n-1} keep their values (patch buffers, full domain)
  AveragedGradient = 1,  ///< u_{n-1} - u_{n-1-eo} = r and u_{eo} - u_0 = r (gap-tooth edges)
};

/// Flux difference a_j (u_{j+1}-u_j) - a_{j-1} (u_j-u_{j-1}) at interior point j.
PL_HD double flux_difference(const double* a, const double* u, index_t j) {
  return a[j] * (u[j + 1] - u[j]) - a[j - 1] * (u[j] - u[j - 1]);
}

/// Right-hand side of the increment form of an implicit step. Solving (I - theta c L) D = r with
///   r_j = alpha * flux_difference_j                   (interior, alpha = c = dt / dx^2)
///   r_0 = r_{n-1} = 0                                  (Dirichlet ends keep their values)
///   r_0 = left - (u_eo - u_0), r_{n-1} = right - (u_{n-1} - u_{n-1-eo})   (averaged gradient)
/// and setting u += D takes one theta-step. Solving for the increment, not for u itself, keeps
/// the roundoff relative to the small change D: the matrix has condition ~ 4 c a_max (4e7 in the
/// paper case), which would otherwise turn 1e-16 relative errors in u into 1e-8 absolute ones.
PL_HD double increment_rhs(index_t j, index_t n, const double* a, const double* u, double alpha, EndRows ends,
                           index_t eo, double left, double right) {
  if (j == 0) return ends == EndRows::AveragedGradient ? left - (u[eo] - u[0]) : 0.0;
  if (j == n - 1) return ends == EndRows::AveragedGradient ? right - (u[n - 1] - u[n - 1 - eo]) : 0.0;
  return alpha * flux_difference(a, u, j);
}

/// Row j of I - c L (c = theta dt / dx^2) for a system of n points.
PL_HD void implicit_row(index_t j, index_t n, const double* a, double c, EndRows ends, double* l,
                        double* d, double* u) {
  if (j == 0 || j == n - 1) {
    const bool grad = ends == EndRows::AveragedGradient;
    l[j] = (j == n - 1 && grad) ? -1.0 : 0.0;
    u[j] = (j == 0 && grad) ? 1.0 : 0.0;
    d[j] = (j == 0 && grad) ? -1.0 : 1.0;
    return;
  }
  l[j] = -c * a[j - 1];
  u[j] = -c * a[j];
  d[j] = 1.0 + c * (a[j - 1] + a[j]);
}

/// Lifted polynomial sum_k coef_k z^k at offset z from the patch centre (Horner).
PL_HD double lift_value(const double* coef, int ncoef, double z) {
  double r = 0.0;
  for (int k = ncoef - 1; k >= 0; --k) r = r * z + coef[k];
  return r;
}

/// Normalised composite-Simpson weight of point q of nq (odd) equally spaced points: the weights
/// sum to 1, so sum_q w_q u_q is the tooth average, exact for cubics.
PL_HD double simpson_weight(index_t q, index_t nq) {
  const double w = (q == 0 || q == nq - 1) ? 1.0 : ((q & 1) ? 4.0 : 2.0);
  return w / (3.0 * static_cast<double>(nq - 1));
}

/// Step doubling in increment form: d1 is the increment of one step, d2 that of two half steps.
/// Returns the error estimate |d2 - d1| and writes the Richardson extrapolation u + 2 d2 - d1.
PL_HD double richardson_value(double u, double d1, double d2, double* out) {
  const double e = d2 - d1;
  *out = u + d2 + e;
  return e < 0 ? -e : e;
}

}  // namespace patchlearn::kernels
