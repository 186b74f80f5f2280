#pragma once
// The error budget of the patch-dynamics estimate, and patch parameters chosen to meet it.
// The dU/dt that patch dynamics reports differs from the effective rate of the lifted profile by
// three errors, each owned by one group of patch parameters:
//   buffer     the buffer ends' disturbance diffusing into the tooth within the burst: the buffer
//              half-room (H - h)/2 against the diffusion length sqrt(a_max burst)
//              (patch.buffer_width);
//   corrector  the micro-scale corrector, which the lift lacks, still forming when the estimate
//              starts: it relaxes in time ~eps^2 / a_min, so its residual decays with the healed
//              time and is divided by the estimate's span (patch.burst, patch.heal_substeps);
//   time       the implicit fine stepper's error (patch.substeps).
// Each error is measured, not modelled: the estimate on probe macro states is compared with the
// same estimate with only that group refined (a buffer wide enough that nothing reaches the tooth;
// the healing extended by half the burst at the same substep; twice the substeps at the same burst
// and healed time), relative to the largest |dU/dt|. Closed-form bounds (erfc of the buffer,
// the cell spectrum's slowest mode) would need the spectrum of every medium and bound rather than
// measure; the probe is the same for a periodic, nonlinear, drifting or reacting medium, and costs
// a few bursts of a few patches.
#include <vector>

#include "patchlearn/micro/diffusion1d.hpp"
#include "patchlearn/schemes/patch_dynamics.hpp"

namespace patchlearn {

/// The three errors of an estimate, each relative to the largest |dU/dt| of the probe states.
struct PatchErrorBudget {
  double buffer = 0.0, corrector = 0.0, time = 0.0;
  double total() const { return buffer + corrector + time; }
};

/// Patch parameters: the patch (buffer) width H beside the burst's parameters.
struct PatchSetting {
  double buffer_width = 0.0;
  PatchDynamicsParams params;
};

/// The patch geometry that stays fixed while the patch parameters are chosen.
struct PatchGeometry {
  double length = 1.0;
  int macro_nodes = 11;
  double tooth_width = 0.0;
};

/// Macro states to probe on: windows of one patch's lifting stencil (lifting_degree + 1 macro
/// nodes), each a state of a grid of that many nodes with the same spacing, so that a probe costs
/// a few patches whatever the size of the macro grid. Each window's patch sits where it came from
/// (first_nodes): on a graded or random medium the estimate's error depends on the piece of the
/// medium under the patch (a graded diffusivity that grows across the domain drifts most where it
/// is largest).
struct PatchProbe {
  PatchGeometry geometry;
  std::vector<double> U;  ///< [batch][geometry.macro_nodes], host
  index_t batch = 0;
  std::vector<int> first_nodes;  ///< per state, the medium's node under its node 0; empty: all 0
};

/// The `count` windows of the states U[batch][g.macro_nodes] where the estimate is hardest: half
/// with the largest second differences (the corrector's jump and the buffer ends' disturbance
/// grow with them), the rest with the largest first differences (drift).
PatchProbe probe_windows(const PatchGeometry& g, int lifting_degree, const std::vector<double>& U, index_t batch,
                         int count = 4);

/// Measure the budget of `setting` on the probe's states, on the CPU.
PatchErrorBudget measure_patch_errors(const FineModel1D& model, const PatchProbe& probe, const PatchSetting& setting);

/// Which parameters tune_patch_parameters may change ("auto" in the config).
struct PatchFreedom {
  bool burst = false, buffer_width = false, substeps = false, heal_substeps = false, method = false;
  bool estimate_degree = false;
  bool any() const { return burst || buffer_width || substeps || heal_substeps || method || estimate_degree; }
};

struct TunedPatch {
  PatchSetting setting;
  PatchErrorBudget budget;
  bool met = false;  ///< every error within a third of the tolerance
  /// What a burst of these parameters costs: substeps x patch width (fine point-steps per unit length).
  double cost() const;
};

/// The most substeps "auto" chooses: 256x its start of 16, so a burst costs at most that many
/// times the default's; a tolerance that needs more is out of reach (validate says so).
inline constexpr int kMaxSubsteps = 4096;

/// Choose the free parameters for `tolerance` (fixed ones keep their values in `start`). They start
/// from eps and the largest a over the medium's u range, a_hi: a burst of 4 eps^2 / a_hi (a few
/// relaxation times of the corrector's fast modes), 16 substeps healed over half of them, a buffer
/// room (H - h)/2 of 3 diffusion lengths sqrt(2 a_hi burst). Then, until each error is at most
/// tolerance / 3: a corrector error lengthens the burst by half (or, with the burst fixed, extends
/// the healing); a time error, once the corrector is within its share, doubles the substeps (and
/// the healing substeps, up to kMaxSubsteps); a buffer error widens the room by half. A change that
/// did not shrink its error is undone and not made again: a corrector error that a longer burst
/// does not shrink is the lift's drift, which grows with the burst (graded media), and a time or
/// buffer error that does not shrink is round-off. Where this misses the tolerance, a second tuning
/// shortens the burst by a third instead (the drift's error grows like the burst squared), again
/// after a longer healing has helped. Once neither the burst nor the healing can shrink a corrector
/// error over the target, the substeps double only while the whole budget shrinks by a fifth, and
/// the room widens only while the buffer error exceeds a third of the corrector's: an unreachable
/// tolerance costs no more than the budget it reaches needs. It stops when it meets the tolerance
/// or when no change is left that helps; the burst never exceeds max_burst (the macro step). The
/// result records the budget it reached and whether that meets the tolerance. With the method free,
/// both backward Euler and Crank-Nicolson are tuned; of all the tunings, the cheaper that meets the
/// tolerance is kept (the smaller budget if none does): Crank-Nicolson's second order wins where
/// the time share dominates (a drifting, reacting medium: 64 substeps against 256), backward
/// Euler's damping where the corrector's does (quick1d: 16 against 64). With the estimate's degree
/// free, a nonlinear medium whose tunings all miss the tolerance at the start's degree (2: the
/// quadratic through three restrictions) is tuned again with a cubic in time, whose error from the
/// lifted profile's drifting rate falls like burst^3 instead of burst^2 (a homogeneous a(u) with a
/// drift at eps = 5e-3: 4.8e-6 against 2.1e-7 of the exact rate, test_nonlinear), and the better
/// of all is kept as above. The cubic's weights extrapolate further back to the burst's start
/// (|w| summing to ~470 / burst against ~48 / burst with half the burst healed), so it amplifies
/// the corrector's residual and the substeps' error more; it is therefore tried only where the
/// quadratic cannot reach the tolerance, and media that meet it keep what they chose before.
TunedPatch tune_patch_parameters(const FineModel1D& model, const PatchProbe& probe, const PatchSetting& start,
                                 const PatchFreedom& free, double tolerance, double max_burst);

}  // namespace patchlearn
