#pragma once
// Per-system dense linear algebra of the implicit coarse integrator (schemes/integrators.hpp:
// BDF2's Newton iteration on I - g dF/dU), shared by both backends: one system's n x n block is
// factored and solved by one thread, which fits the macro grids' few nodes (tens in 1D, a few
// hundred in 2D) and the iteration's reuse of one factorization for many solves.
#include "patchlearn/core/defs.hpp"

namespace patchlearn::kernels {

/// The forward-difference step of a coarse Jacobian column at a state value u: 1e-6 max(1, |u|),
/// well above the round-off of rates that come from fine simulation (1e-12 relative and more).
PL_HD double coarse_difference_step(double u) {
  const double a = u < 0 ? -u : u;
  return 1e-6 * (a > 1.0 ? a : 1.0);
}

/// A (n x n, row-major) becomes L and U of P A = L U in place (L unit lower, below the diagonal),
/// by Gaussian elimination with partial pivoting; piv[k] is the row swapped with row k at step k.
/// A singular block leaves a zero pivot, so that the solve gives non-finite values, which the
/// integrator reports.
PL_HD void dense_lu_factor(double* A, index_t n, index_t* piv) {
  for (index_t k = 0; k < n; ++k) {
    index_t p = k;
    double best = A[k * n + k] < 0 ? -A[k * n + k] : A[k * n + k];
    for (index_t r = k + 1; r < n; ++r) {
      const double v = A[r * n + k] < 0 ? -A[r * n + k] : A[r * n + k];
      if (v > best) best = v, p = r;
    }
    piv[k] = p;
    if (p != k)
      for (index_t c = 0; c < n; ++c) {
        const double t = A[k * n + c];
        A[k * n + c] = A[p * n + c];
        A[p * n + c] = t;
      }
    const double inv = 1.0 / A[k * n + k];
    for (index_t r = k + 1; r < n; ++r) {
      const double l = A[r * n + k] * inv;
      A[r * n + k] = l;
      for (index_t c = k + 1; c < n; ++c) A[r * n + c] -= l * A[k * n + c];
    }
  }
}

/// b becomes A^-1 b from dense_lu_factor's LU and piv.
PL_HD void dense_lu_solve(const double* LU, index_t n, const index_t* piv, double* b) {
  for (index_t k = 0; k < n; ++k) {
    const index_t p = piv[k];
    if (p != k) {
      const double t = b[k];
      b[k] = b[p];
      b[p] = t;
    }
  }
  for (index_t r = 1; r < n; ++r)
    for (index_t c = 0; c < r; ++c) b[r] -= LU[r * n + c] * b[c];
  for (index_t r = n; r-- > 0;) {
    for (index_t c = r + 1; c < n; ++c) b[r] -= LU[r * n + c] * b[c];
    b[r] /= LU[r * n + r];
  }
}

}  // namespace patchlearn::kernels
