#pragma once
// The one abstraction every way of knowing the macro dynamics shares: a coarse operator maps macro
// states U[batch][M] (values at the macro nodes, host memory) to dU/dt[batch][M]. The two end nodes
// carry fixed Dirichlet values, so their rate is 0. Patch dynamics, the homogenized finite-difference
// scheme and (later) learned networks are coarse operators; the macro integrators and the data
// driver below serve them all alike.
#include <functional>
#include <string>
#include <vector>

#include "patchlearn/core/defs.hpp"

namespace patchlearn {

class CoarseOperator {
 public:
  virtual ~CoarseOperator() = default;
  virtual int nodes() const = 0;
  /// dUdt = F(U) for `batch` states; both arrays hold batch * nodes() values.
  virtual void rhs(const double* U, double* dUdt, index_t batch) = 0;
  /// Fine point-steps spent so far (0 for operators without a fine model).
  virtual double point_steps() const { return 0.0; }
};

/// Explicit macro integrators for projective steps: forward Euler, Heun's RK2, classical RK4.
enum class MacroMethod { Euler, RK2, RK4 };
MacroMethod parse_macro_method(const std::string& name);

/// Coarse data on the macro grid: U and dU/dt as [trajectory][time][node].
struct CoarseData {
  index_t trajectories = 0, times = 0, nodes = 0;
  std::vector<double> t, U, dUdt;
  double point_steps = 0.0;
  double at(const std::vector<double>& a, index_t tr, index_t n, index_t j) const {
    return a[(tr * times + n) * nodes + j];
  }
};

/// Integrate `op` from U0[batch][M] with macro step dt for `steps` steps, recording U and the
/// operator's own dU/dt at every `sample_every`-th step (and at t = 0). `progress` (may be empty)
/// is called after each step with the number of steps done.
CoarseData integrate_coarse(CoarseOperator& op, MacroMethod method, double dt, index_t steps,
                            index_t sample_every, const std::vector<double>& U0, index_t batch,
                            const std::function<void(index_t)>& progress = {});

}  // namespace patchlearn

namespace patchlearn {
/// Relative mean squared error of paper eq. (24): sum |v - ref|^2 / sum |ref - mean(ref)|^2.
double relative_mse(const std::vector<double>& v, const std::vector<double>& ref);
}  // namespace patchlearn
