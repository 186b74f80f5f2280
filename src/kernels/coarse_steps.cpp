// The coarse integrators' work on their device (schemes/integrators.hpp): Runge-Kutta stage sums,
// the adaptive step's error norm, the implicit step's Newton matrix and its batched dense LU, and
// forward-difference Jacobian columns.
#include <algorithm>

#include "cpu_support.hpp"

namespace patchlearn::kernels {

void stage_sum(Device dev, index_t count, double h, const double* x, int n, const double* c, const double* const* k,
               double* out) {
  if (n < 1 || n > StageSum::kMax) throw std::invalid_argument("stage_sum: 1 to 7 stages");
  StageSum f{n, h, x, {}, {}, out};
  for (int j = 0; j < n; ++j) f.c[j] = c[j], f.k[j] = k[j];
  for_each_index(dev, count, f);
}

void scaled_error(Device dev, index_t count, const double* e, const double* u, const double* v, double atol,
                  double rtol, double* out) {
  for_each_index(dev, count, ScaledError{e, u, v, atol, rtol, out});
}

double sum_squares(Device dev, const double* x, index_t count) {
  PL_RETURN_IF_CUDA(dev, sum_squares(x, count));
  double s = 0.0;
#pragma omp parallel for reduction(+ : s) if (count >= 4096)
  for (index_t i = 0; i < count; ++i) s += x[i] * x[i];
  return s;
}

void shifted_identity(Device dev, index_t systems, index_t n, double g, const double* J, double* A) {
  for_each_index(dev, systems * n * n, ShiftedIdentity{n, g, J, A});
}

void lu_factor(Device dev, index_t systems, index_t n, double* A, index_t* piv) {
  for_each_index(dev, systems, LuFactor{n, A, piv});
}

void lu_solve(Device dev, index_t systems, index_t n, const double* LU, const index_t* piv, double* b) {
  for_each_index(dev, systems, LuSolve{n, LU, piv, b});
}

void perturb_node(Device dev, index_t systems, index_t n, index_t j, const double* U, double* x) {
  for_each_index(dev, systems * n, PerturbNode{n, j, U, x});
}

void jacobian_column(Device dev, index_t systems, index_t n, index_t j, const double* F0, const double* F1,
                     const double* U, const double* x, double* J) {
  for_each_index(dev, systems * n, JacobianColumn{n, j, F0, F1, U, x, J});
}

}  // namespace patchlearn::kernels
