#pragma once
// The 2D lattice problem (paper §5.2, domain.dimension = 2): gap-tooth (or full-lattice) data,
// the tensor-homogenized truth (homog/homogenized2d.hpp), both 2D networks, the regression that
// recovers D, batched rollouts and the evaluation against the truth.
#include <memory>
#include <optional>
#include <string>

#include "patchlearn/homog/cell2d.hpp"
#include "patchlearn/homog/effective.hpp"
#include "patchlearn/io/config2d.hpp"
#include "patchlearn/patch/layout2d.hpp"
#include "patchlearn/pipeline/bench.hpp"
#include "patchlearn/pipeline/problem.hpp"

namespace patchlearn {

PatchLayout2D layout_2d(const Config2D& cfg);
Lattice2D lattice_2d(const Config2D& cfg);
/// The effective PDE of the configured lattice (homog/effective.hpp); on a random lattice, with the
/// representative-volume estimate of D and its standard errors (representative_volume at cell.window).
EffectiveLattice2D effective_lattice(const Config2D& cfg);
/// The cell-problem tensor of the configured lattice's bond tables (D*(u) / g(u)).
EffectiveTensor cell_tensor(const Config2D& cfg);

/// The representative-volume estimate of D on a random lattice at one window size: the cell
/// problems of `samples` disjoint W x W windows of the realization, each closed periodically
/// (KappaTables::window), tiled from the origin row by row; each component's statistics.
struct RveTensorEstimate {
  int window = 0, samples = 0;
  SampleStats xx, xy, yy;
  std::vector<EffectiveTensor> each;  ///< every window's tensor, in order (closed teeth: tooth (I, J) at J P + I)
  EffectiveTensor mean() const { return {xx.mean, xy.mean, yy.mean}; }
  EffectiveTensor standard_error() const { return {xx.standard_error, xy.standard_error, yy.standard_error}; }
};
/// The estimate at windows of w x w sites over the sites that cell.samples windows of
/// cell.window cover. Random lattices only. With u, the cell problems of the windows' bonds at
/// that u (KappaTables::at: a u-dependent lattice's D*(u)); without it, of the kappa alone.
RveTensorEstimate representative_volume(const Config2D& cfg, int w, std::optional<double> u = std::nullopt);
/// The estimates at W / 4, W / 2 and W (W = cell.window): the trend with the window size.
std::vector<RveTensorEstimate> representative_volumes(const Config2D& cfg, std::optional<double> u = std::nullopt);
/// Gap-tooth teeth closed as periodic cells of their own (GapTooth2D::closed_teeth): the statistics
/// of their P^2 cell tensors (window m, the teeth's points per side), the sample of the medium their
/// patch means follow; nullopt for any other scheme or lattice.
std::optional<RveTensorEstimate> closed_teeth_sample(const Config2D& cfg);

/// Homogenized truth U, dU/dt [trajectory][time][P*P] (host) of trajectories [first, first + count):
/// the exact tensor-homogenized solution on a linear lattice, the effective PDE solved on the
/// homogenized.grid grid (Dormand-Prince, rtol 1e-10) on a u-dependent one.
HomogenizedTruth homogenized_truth_2d(const Config2D& cfg, const EffectiveLattice2D& e, int first, int count,
                                      const std::vector<double>& times);

struct Simulation2D : Simulation {
  EffectiveTensor D;
  std::optional<RveTensorEstimate> teeth;  ///< closed teeth: the sample they hold (closed_teeth_sample)
  double rmse_vs_homogenized_t03 = 0.0;    ///< at the snapshot nearest t = 0.3 (the last before it)
  double t03 = 0.0;                        ///< that snapshot's time
  int fine_evaluations = 0;                ///< rate evaluations per sampling interval
};

/// With `chunks`: resumable, chunk by chunk (pipeline/chunks.hpp).
Simulation2D simulate_data(const Config2D& cfg, Device device, Observer& observer = silent_observer(),
                           const ChunkedRun* chunks = nullptr);
void write_data_h5(const std::string& path, const Config2D& cfg, const Simulation2D& sim, Device device);

/// Training data U, dUdt [trajectory, time, P*P] from a 2D data.h5, checked against the config
/// (zero-copy from a simulation: learning_data(sim, sim->data), pipeline/learning.hpp).
LearningData load_learning_data_2d(const std::string& path, const Config2D& cfg, torch::Device device);

/// The learning task of a 2D config whose effective PDE is e, and whose closed teeth hold the
/// sample `teeth` (closed_teeth_sample; a simulation's own).
std::unique_ptr<LearningTask> learning_task_2d(const Config2D& cfg, const EffectiveLattice2D& e,
                                               std::optional<RveTensorEstimate> teeth);

/// A saved model fits this problem's grid (InputError naming the file otherwise).
void check_model(const Config2D& cfg, const learn::CoarseModelImpl& model, const std::string& path);

/// The problem behind a 2D lattice config.
class Problem2D : public ProblemOf<Config2D, Simulation2D> {
 public:
  using ProblemOf::ProblemOf;
  int dimension() const override { return 2; }
  std::vector<std::string> check_simulable() const override;
  Report cell(const CellQuery& query) const override;
  /// `cell` on a random lattice: representative-volume windows (representative_volumes), their
  /// trend and convergence, and the whole realization's cell problem; with u, all at that u, and
  /// the reaction there.
  Report random_cell(std::optional<double> u) const;
  /// `cell` on a modulated lattice: A(x, y) times the period's tensor at (--x, --y), or at every
  /// patch centre.
  Report modulated_cell(const CellQuery& query) const;
  Report simulation_report(const Simulation& sim, Device device) const override;
  nlohmann::json run_extras(const Simulation& sim) const override;
  std::unique_ptr<LearningTask> learning_task(const Simulation* sim) const override;
  LearningData load_data(const std::string& path, torch::Device device) const override;
  Report learning_report(const nlohmann::json& summary) const override;
};

}  // namespace patchlearn
