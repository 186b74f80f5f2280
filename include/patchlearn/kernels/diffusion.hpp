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

/// Flux difference a_j (u_{j+1}-u_j) - a_{j-1} (u_j-u_{j-1}) at interior point j. T here and below:
/// a double, or on the CPU a vector of several systems' values in its lanes (kernels/nonlinear.hpp,
/// BatchedTridiag::fused_steps), each operation the scalar one lane by lane; the conductances' A
/// is T or, for lanes of one medium, a double broadcast to them.
template <class A, class T>
PL_HDI T flux_difference(const A* a, const T* u, index_t j) {
  return a[j] * (u[j + 1] - u[j]) - a[j - 1] * (u[j] - u[j - 1]);
}

/// The end rows of increment_rhs below (j = 0, or j = n - 1 when `last`).
template <class T>
PL_HDI T end_increment_rhs(bool last, index_t n, const T* u, EndRows ends, index_t eo, const T& target) {
  if (ends != EndRows::AveragedGradient) return T{};
  return last ? target - (u[n - 1] - u[n - 1 - eo]) : target - (u[eo] - u[0]);
}

/// Right-hand side of the increment form of an implicit step. Solving (I - theta c L) D = r with
///   r_j = alpha * flux_difference_j                   (interior, alpha = c = dt / dx^2)
///   r_0 = r_{n-1} = 0                                  (Dirichlet ends keep their values)
///   r_0 = left - (u_eo - u_0), r_{n-1} = right - (u_{n-1} - u_{n-1-eo})   (averaged gradient)
/// and setting u += D takes one theta-step. Solving for the increment, not for u itself, keeps
/// the roundoff relative to the small change D: the matrix has condition ~ 4 c a_max (4e7 in the
/// paper case), which would otherwise turn 1e-16 relative errors in u into 1e-8 absolute ones.
template <class A, class T>
PL_HDI T increment_rhs(index_t j, index_t n, const A* a, const T* u, double alpha, EndRows ends, index_t eo,
                       const T& left, const T& right) {
  if (j == 0) return end_increment_rhs(false, n, u, ends, eo, left);
  if (j == n - 1) return end_increment_rhs(true, n, u, ends, eo, right);
  return alpha * flux_difference(a, u, j);
}

/// The increment right-hand side of a whole system of n points (out[j] for every j): one
/// thread's loop over a system, shared by the CPU's batched and blocked steps.
template <class A, class T>
PL_HDI void increment_rhs_system(index_t n, const A* a, const T* u, double alpha, EndRows ends, index_t eo,
                                 const T& left, const T& right, T* out) {
  out[0] = end_increment_rhs(false, n, u, ends, eo, left);
  for (index_t j = 1; j < n - 1; ++j) out[j] = alpha * flux_difference(a, u, j);
  out[n - 1] = end_increment_rhs(true, n, u, ends, eo, right);
}

/// Row j of I - c L (c = theta dt / dx^2) for a system of n points.
PL_HD void implicit_row(index_t j, index_t n, const double* a, double c, EndRows ends, double* l, double* d,
                        double* u) {
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
  double r = coef[ncoef - 1];
  for (int k = ncoef - 2; k >= 0; --k) r = r * z + coef[k];
  return r;
}

/// Normalised composite-Simpson weight of point q of nq (odd) equally spaced points: the weights
/// sum to 1, so sum_q w_q u_q is the tooth average, exact for cubics.
PL_HD double simpson_weight(index_t q, index_t nq) {
  const double w = (q == 0 || q == nq - 1) ? 1.0 : ((q & 1) ? 4.0 : 2.0);
  return w / (3.0 * static_cast<double>(nq - 1));
}

/// Simpson average of the nq points y[start ..] (T a double, or on the CPU a lane vector of rows
/// side by side: kernels/nonlinear.hpp's lift_slow_row).
template <class T>
PL_HDI T tooth_average(const T* y, index_t start, index_t nq) {
  T acc{};
  for (index_t q = 0; q < nq; ++q) acc += simpson_weight(q, nq) * y[start + q];
  return acc;
}

/// One patch's lift with its own corrector (a linear medium that is not periodic), in place on a
/// row of n points with bonds a_0 .. a_{n-2} of harmonic mean a_star: the increments become
///     y'_{g+1} - y'_g = (a_star / a_g) (y_{g+1} - y_g),
/// so that the bond fluxes a_g (y'_{g+1} - y'_g) / dx = a_star y_x carry no micro-scale fluctuation
/// (the first-order corrector y + eps chi(x/eps) y_x with chi' = a_star/a - 1), then the row is
/// shifted by the constant that keeps its Simpson average over the tooth [start, start + nq) (the
/// macro value the lift was built to restrict to). On a periodic medium the corrector forms by
/// itself within a period, in time ~eps^2/a; on a random one it is a random walk over the cells that
/// forms only by diffusion across the whole patch, far slower than a burst.
PL_HD void lift_corrector_row(double* y, index_t n, const double* a, double a_star, index_t start, index_t nq) {
  const double before = tooth_average(y, start, nq);
  double prev = y[0];
  for (index_t g = 0; g + 1 < n; ++g) {
    const double next = y[g + 1];
    y[g + 1] = y[g] + a_star / a[g] * (next - prev);
    prev = next;
  }
  const double shift = before - tooth_average(y, start, nq);
  for (index_t j = 0; j < n; ++j) y[j] += shift;
}

/// TR-BDF2 (Bank et al. 1985; Hosea and Shampine 1996) with gamma = 2 - sqrt(2): a trapezoidal
/// stage to t + gamma h, then BDF2 to t + h, both solving with the one matrix I - d h A
/// (d = gamma / 2); second order and L-stable. In increment form, with F = A y_n:
///   stage 1: (I - d h A) d1 = 2 d h F,                 z = y_n + d1
///   stage 2: (I - d h A) d2 = d h A z - (1 - w) d1,    y_{n+1} = z + d2,   w = 1 / (gamma (2 - gamma)).
/// The local error y_{n+1} - y(t + h) = -C h^3 y''' (C = (-3 gamma^2 + 4 gamma - 2) / (12 (2 - gamma))) is estimated by
/// the second divided difference of f over t, t + gamma h, t + h, where f(z) = d1 / (d h) - F and
/// f(y_{n+1}) = ((1 - w) d1 + d2) / (d h) follow from the stages without another operator apply.
/// Solving once more with I - d h A filters the estimate of the stiff components (Hosea-Shampine).
struct TrBdf2 {
  static constexpr double gamma = 0.58578643762690495;  // 2 - sqrt(2)
  static constexpr double d = 0.5 * gamma;
  static constexpr double w = 1.0 / (gamma * (2.0 - gamma));
  static constexpr double C = (-3.0 * gamma * gamma + 4.0 * gamma - 2.0) / (12.0 * (2.0 - gamma));
};

/// The unfiltered estimate of the local error y_{n+1} - y(t + h) of one TR-BDF2 step at one point.
PL_HD double trbdf2_error(double F, double d1, double d2, double h) {
  const double g = TrBdf2::gamma, dh = TrBdf2::d * h;
  const double f_mid = d1 / dh - F, f_end = ((1.0 - TrBdf2::w) * d1 + d2) / dh;
  return -2.0 * TrBdf2::C * h * (F / g - f_mid / (g * (1.0 - g)) + f_end / (1.0 - g));
}

/// |x|, and +inf for NaN, so that a max-norm sees a non-finite value.
PL_HD double abs_or_inf(double x) {
  const double a = x < 0 ? -x : x;
  return a <= 1.79769313486231570e308 ? a : 1.0 / 0.0;
}

/// The record slot of a bad value (mark_bad_values): 0 for a value that is not finite, 1 for a
/// finite one outside [lo, hi], -1 for a good one.
PL_HD int bad_value_slot(double x, double lo, double hi) {
  if (abs_or_inf(x) > 1.79769313486231570e308) return 0;
  return x < lo || x > hi ? 1 : -1;
}

}  // namespace patchlearn::kernels
