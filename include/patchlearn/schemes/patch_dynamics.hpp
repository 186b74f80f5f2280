#pragma once
// Patch dynamics with buffers (paper sec. 3; the reference's algorithm, REFERENCE sec. 2):
//   lift     U -> polynomial profile in every patch (tooth + buffers), tooth average exactly U_i
//   burst    integrate the fine model for delta_t in `substeps` implicit steps (backward Euler or
//            Crank-Nicolson). The buffer ends are either held at their lifted values (Dirichlet,
//            as the reference does) or keep the lift's gradient averaged over the period next to
//            each end (the gap-tooth condition of paper eq. 9). A quadratic macro profile keeps its
//            gradient under homogenized diffusion, so the second closure is consistent with the
//            macro evolution and with the micro-scale flux; Dirichlet ends instead pin the ends
//            while the interior moves at a* D2, and that deficit diffuses towards the tooth.
//   restrict R_i = Simpson average over the tooth
//   estimate dU_i/dt = (R_i - U_i) / delta_t                                        (paper eq. 11)
//            or, healed, the rate of R_i after the first `heal_substeps` substeps: the tooth
//            average jumps by O(eps^2 D2) while the micro-scale corrector forms (time ~eps^2/a),
//            a bias of O(eps^2 / delta_t) in eq. (11) (6e-6 relative in the paper case, 6% at
//            eps = 1e-3 with the same burst) that the healed rate does not see.
// All patches of all trajectories form one batched array [trajectory][patch][point] on the
// device, and each substep is one batched tridiagonal solve over the whole batch, in increment
// form (kernels/diffusion.hpp). The implicit matrix is fixed per patch, so it is factored once.
// Where a patch fits on chip the substeps between two restrictions run temporally blocked: each
// patch is read once, stepped in shared memory (CUDA) or cache (CPU) and written once.
// A nonlinear medium (a(y, u), drift, reaction) bursts with the linearly implicit theta method of
// kernels/nonlinear.hpp on the same patches (one factorization per substep, each patch held by
// one thread through its substeps); its macro states must stay inside medium.u_range, where the
// medium's series are valid (its state_range, which integrate_coarse watches).
#include <algorithm>
#include <memory>
#include <vector>

#include "patchlearn/core/buffer.hpp"
#include "patchlearn/kernels/batched.hpp"
#include "patchlearn/micro/diffusion1d.hpp"
#include "patchlearn/patch/layout1d.hpp"
#include "patchlearn/schemes/coarse_operator.hpp"
#include "patchlearn/schemes/patch_medium.hpp"

namespace patchlearn {

/// Implicit fine stepping: theta = 1 backward Euler, theta = 1/2 Crank-Nicolson.
enum class BurstMethod { BackwardEuler, CrankNicolson };
BurstMethod parse_burst_method(const std::string& name);
const char* name_of(BurstMethod m);  ///< the patch.method name
namespace kernels {
/// "exact" or "frozen" (patch.jacobian).
const char* name_of(StepJacobian j);
}  // namespace kernels
kernels::EndRows parse_buffer_ends(const std::string& name);

struct PatchDynamicsParams {
  double burst = 1e-6;  ///< delta_t, the burst length
  int substeps = 10;    ///< implicit steps per burst
  BurstMethod method = BurstMethod::BackwardEuler;
  /// Nonlinear media: the Jacobian of the linearly implicit substeps, factored at the first
  /// substep of each run of them (Frozen, the W-method of kernels/nonlinear.hpp) or at every one.
  kernels::StepJacobian jacobian = kernels::StepJacobian::Frozen;
  int lifting_degree = 2;
  kernels::EndRows buffer_ends = kernels::EndRows::Dirichlet;
  int heal_substeps = 0;  ///< 0: the reference estimator (R(delta_t) - U) / delta_t
  /// Nonlinear media: the degree d in time of the polynomial through the restrictions (the
  /// healed one and d more) whose derivative at the burst's start is the estimate, so that the
  /// lifted profile's drifting rate errs like burst^d; at most substeps - heal_substeps. A linear
  /// medium's lifted rate is steady: 1, the healed two-point rate.
  int estimate_degree = 2;
  /// The degree the estimate takes on a medium: estimate_degree, at most substeps - heal_substeps,
  /// on a nonlinear one; 1 on a linear one.
  int degree_on(bool nonlinear) const { return nonlinear ? std::min(estimate_degree, substeps - heal_substeps) : 1; }
  index_t chunk_len = -1;  ///< tridiagonal partition length (-1: the backend's default)
  /// Run the substeps temporally blocked (BatchedTridiag::fused_steps: every patch held on chip
  /// through them) whenever a patch fits; false always takes the unblocked path. Same values.
  bool temporal_blocking = true;
};

class PatchDynamics1D : public CoarseOperator {
 public:
  /// max_batch: the largest number of macro states evaluated at once.
  PatchDynamics1D(const FineModel1D& model, const PatchLayout1D& layout, const PatchDynamicsParams& params,
                  Device device, index_t max_batch);

  int nodes() const override { return layout_.macro_nodes; }
  Device device() const override { return device_; }
  void rhs(const double* U, double* dUdt, index_t batch) override;
  double point_steps() const override { return point_steps_; }
  StateRange state_range() const override;
  /// The fine field of state `b` of the last rhs() call at the end of its burst: [patch][point]
  /// (host copy; patch p sits at macro node p + 1, its point 0 at layout.global_start(p + 1)).
  std::vector<double> patch_field(index_t b) const;

 private:
  /// Fill the patch array from macro states U[batch][M] on the device.
  void lift(const double* U, index_t batch);
  void substeps(index_t batch, int count);
  void restrict_into(index_t batch, double* R) const;
  PatchLayout1D layout_;
  PatchDynamicsParams params_;
  kernels::ToothMoments moments_;
  Device device_;
  index_t max_batch_;
  PatchMedium1D medium_;
  /// The restrictions the estimate takes after the healed one: the substep each ends (as many as
  /// params_.degree_on this medium), and the derivative weights at the burst's start of the
  /// polynomial through all of them, weights_[0] the healed restriction's (patch_estimate_weights).
  std::vector<int> stops_;
  std::vector<double> weights_;
  Buffer<double> y_, work_, coef_, left_, right_, healed_, restricted_;
  index_t eo_ = 1;
  bool blocked_ = false;
  std::unique_ptr<kernels::BatchedTridiag> solver_;
  double theta_, dx2_;
  double point_steps_ = 0.0;
};

/// Default chunk length of the partitioned tridiagonal solve for a batch of `systems` systems of
/// n points: one chunk per system when the systems alone keep every CPU thread busy. On CUDA, one
/// thread sweeps each chunk: the longest chunks (at most 64 rows) that still give every thread the
/// GPU holds resident a chunk, and at least 16 rows, below which the reduced system (a row per
/// chunk) and the spikes cost more than the sweeps they shorten.
index_t default_chunk_len(Device device, index_t systems, index_t n);

/// The weights w_k of the derivative at t = 0 of the polynomial through values at times t_k:
/// p'(0) = sum_k w_k f(t_k) (Lagrange; they sum to 0).
std::vector<double> patch_estimate_weights(const std::vector<double>& t);

}  // namespace patchlearn
