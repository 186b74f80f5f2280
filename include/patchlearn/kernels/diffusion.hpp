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

/// Richardson step of one value: returns |y2 - y1| and sets y2 to the extrapolation 2 y2 - y1.
PL_HD double richardson_value(double y1, double* y2) {
  const double d = *y2 - y1;
  *y2 += d;
  return d < 0 ? -d : d;
}

}  // namespace patchlearn::kernels
