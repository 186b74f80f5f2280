#pragma once
// The one set of time integrators for coarse operators (schemes/coarse_operator.hpp), whatever
// produces the rates (patch dynamics, gap-tooth, the effective PDE, a network, the discovered
// equation), run on the operator's device with the vector work of kernels/batched.hpp:
//   integrate_coarse  fixed-step explicit Euler, Heun's RK2 or classical RK4, recording U and the
//                     operator's dU/dt: projective macro steps, the coarse data of patch dynamics
//   rollout_coarse    adaptive Dormand-Prince 5(4), or BDF2 with a fixed step and Newton's method on
//                     the operator's Jacobian: a model's trajectory at given times, as scored
#include <functional>
#include <limits>
#include <vector>

#include "patchlearn/schemes/coarse_operator.hpp"

namespace patchlearn {

/// Explicit macro integrators for projective steps: forward Euler, Heun's RK2, classical RK4.
enum class MacroMethod { Euler, RK2, RK4 };
/// Its name in configs and messages: euler, rk2, rk4.
const char* name_of(MacroMethod m);
/// Rollout integrators of a coarse model: adaptive Dormand-Prince 5(4), or BDF2 with a fixed step.
enum class RolloutMethod { Dopri5, BDF };
/// Its name in configs and messages: dopri5, bdf.
const char* name_of(RolloutMethod m);

/// Integrate `op` from U0[batch][M] (host) with macro step dt for `steps` steps, recording U and the
/// operator's own dU/dt at every `sample_every`-th step (and at t = 0). `progress` (may be empty)
/// is called after each step with the number of steps done. A non-finite dU/dt, or a state
/// (the step's own or an RK stage's) outside op.state_range(), stops the run naming the step,
/// trajectory and node where it first appeared; both are looked for on the device at every step
/// and read back every `check_every` steps (BadValueWatch) and at the end.
CoarseData integrate_coarse(CoarseOperator& op, MacroMethod method, double dt, index_t steps, index_t sample_every,
                            const std::vector<double>& U0, index_t batch,
                            const std::function<void(index_t)>& progress = {}, index_t check_every = 1);

struct RolloutParams {
  RolloutMethod method = RolloutMethod::Dopri5;
  double dt = 1e-4;  ///< bdf step (must divide the sample spacing)
  double rtol = 1e-9, atol = 1e-12;
  int newton_max = 8;
  double newton_tol = 1e-13;  ///< on the Newton update, relative to max |U|
  /// max |U| beyond which the rollout has diverged: a RunError at the first step past it, instead
  /// of integrating a blow-up to the end (a dopri5 rollout of an unstable model takes ever more steps).
  double bound = std::numeric_limits<double>::infinity();
};

/// A rollout: the states U[batch][time][M] at the sample times, on the operator's device.
struct CoarseRollout {
  Buffer<double> U;
  index_t steps = 0, rhs_evaluations = 0;
};

/// Integrate `op` from U0[batch][M] (op.nodes() values per state, on op.device()), the state at
/// times[0], to every one of `times` (ascending).
///   dopri5  the step size is shared by the batch and controlled on the RMS over every value of
///           the error estimate scaled by atol + rtol max(|U|, |U_next|) (Hairer's norm)
///   bdf     BDF2 (BDF1 on the first step) with step dt; simplified Newton: the iteration matrix
///           I - g J is factored once and kept across steps, refreshed only when Newton converges
///           slowly (so once for a linear operator, whose J is constant)
/// A non-finite value, an accepted state past params.bound, a state outside op.state_range() (in
/// any stage, also of a dopri5 step that would have been rejected: the operator was evaluated
/// where it is not defined), a step size that collapses or a Newton iteration that fails stop the
/// rollout with a RunError naming the time.
CoarseRollout rollout_coarse(CoarseOperator& op, const double* U0, index_t batch, const std::vector<double>& times,
                             const RolloutParams& params);

}  // namespace patchlearn
