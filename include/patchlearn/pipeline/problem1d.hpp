#pragma once
// The 1D continuum problem (paper §5.1): u_t = (a(x/eps) u_x)_x on [0, L] with Dirichlet ends, or
// the nonlinear u_t = (a(x/eps, u) u_x)_x + c(x/eps, u) u_x + r(x/eps, u) (issue 15).
// Coarse data from the configured scheme (patch dynamics, gap-tooth or full resolution), the truth on the same nodes
// and times (the homogenized solution, or the effective PDE of the nonlinear medium), the data.h5 that stores both, and
// the learning task (functional and discretized networks, the 1D regression, the 3-point scheme of the homogenized /
// effective PDE as the exact coarse operator).
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "patchlearn/io/config.hpp"
#include "patchlearn/micro/diffusion1d.hpp"
#include "patchlearn/pipeline/bench.hpp"
#include "patchlearn/pipeline/problem.hpp"

namespace patchlearn {

struct Simulation1D : Simulation {
  /// From the cell problem on the micro lattice (a linear medium): cell_a_star, so of several
  /// realizations their ensemble's, which the learned models are scored against
  double a_star = 0.0;
  /// A random medium of several realizations: each one's a* (the truth of its trajectories)
  std::vector<double> a_star_realizations;
  /// a*(u), c*(u), r*(u) from the cell problems over medium.u_range (a nonlinear medium)
  std::optional<EffectiveMedium1D> effective;
  /// The local a*(x) at the macro nodes from the cell problems (a linear graded medium)
  std::vector<double> a_star_x;
  /// Patch dynamics only: the fine field in every patch of trajectory 0 after the burst that starts
  /// at the sample time fine_t nearest 0.05 (paper Fig. 2), and its positions: [patch][point].
  double fine_t = 0.0;
  std::vector<double> fine_x, fine_u;
  /// With full_resolution.compare = n: eq. (24) of the data of the first n trajectories against the
  /// full-resolution run of the same initial conditions (the theory-free truth), and n. Eq. (24)
  /// divides by the trajectories' own variance, so the same data against the effective PDE on those
  /// n trajectories and the full-resolution run's own error against it (homogenization's error at
  /// this eps) come beside it: the three are comparable, rmse_vs_homogenized (all trajectories) is not.
  double rmse_vs_full_resolution = 0.0;
  double rmse_vs_homogenized_compared = 0.0;
  double full_resolution_vs_homogenized = 0.0;
  index_t full_resolution_trajectories = 0;
};

/// The cell-problem a* for the configured medium on its micro lattice (eps/dx points per period,
/// or 1000 when eps/dx is not a whole number). A random medium's representative volume is its
/// whole realization: the cell problem of all the domain's bonds (their harmonic mean). Of several
/// realizations (medium.realizations = R, those some trajectory lives on) it is their ensemble's, the R realizations in
/// series, R / sum_r 1 / a*_r: what the patches of all of them hold together (PatchCover), so the truth of a model
/// learned from them, while each trajectory's data follow their own realization's a*.
double cell_a_star(const Config1D& cfg);
/// Realization r of a random medium (cfg.field for r = 0), and its whole-domain cell-problem a*.
CoefficientField realization_field(const Config1D& cfg, int r);
double realization_a_star(const Config1D& cfg, int r);
/// The media the trajectories live on, trajectory b on medium b mod their count: the R realizations
/// (medium.realizations) and the T translates of each (medium.translations: translate t by t N / T
/// of its N cells, so that the patch at a node sees another piece of the medium in every translate
/// while every translate keeps its realization's a*), medium k being realization k mod R translated
/// by floor(k / R) N / T cells (only those some trajectory lives on); or the one medium.
std::vector<FineModel1D> trajectory_media(const Config1D& cfg);

/// How the patches of a random medium sample it (patch schemes). The pieces of medium the patches
/// see lie in series along it, and what their rates hold of the medium's a* (a realization's, or
/// several realizations' ensemble: cell_a_star) is the harmonic mean of the pieces' own a* (each
/// the harmonic mean of its patch's bonds), every piece counted as often as training trajectories
/// (learn.train_trajectories) sample it: what learn.patch_scales' normalization leaves in the nets.
/// That is the medium's a* only where every cell of every realization is seen equally often.
/// Otherwise patch data pin a* only to the pieces' sampling error, and no model learned from them
/// removes it: the truth is the effective PDE with the medium's a* (random1d's rollouts: a 1% error
/// in a* is 1.18x the floor). No weighting of the pieces recovers it either where pieces overlap by
/// part of their length (bench/RESULTS.md, "The patches' a*").
struct PatchCover {
  double a_star_pieces = 0, a_star = 0;  ///< the pieces' harmonic mean, the medium's a* (cell_a_star)
  double deviation = 0;                  ///< a_star_pieces / a_star - 1
  double least_seen = 0, most_seen = 0;  ///< pieces over a cell seen at all, fewest and most (a piece
                                         ///< holding part of a cell counts that part)
  double unseen_fraction = 0;            ///< of the cells (of every realization) no patch sees
};
/// The cover of a random medium by the configured patches (std::nullopt for any other medium or
/// for full resolution).
std::optional<PatchCover> patch_cover(const Config1D& cfg);

/// Each training patch's piece of a random medium ([train_trajectories][macro_nodes], 1 at the
/// ends): its a*_p, the harmonic mean of the patch's cells (its trajectory's medium). The patch's
/// lift (kernels::lift_corrector) makes its flux a*_p g(u) y_x + C(u) uniform across the cells, so
/// its rate is a*_p (g(U) U_xx + g'(U) U_x^2) + c(U) U_x + r(U): a*_p scales the diffusion terms and
/// nothing else.
std::vector<double> patch_a_stars(const Config1D& cfg);

/// The representative-volume estimate of a*(random media) at one window size: the cell problems of
/// `samples` disjoint windows of `window` periods (cells) of the realization, each closed
/// periodically (in 1D the window's harmonic mean), their mean and its standard error s / sqrt(n)
/// (s the windows' sample standard deviation; the windows hold disjoint independent cells, so
/// their estimates are independent), and that scatter s itself, which shrinks like W^(-1/2) for
/// independent cells (the standard error of the mean does not: the windows of every size cover the
/// same cells).
struct RveEstimate {
  int window = 0, samples = 0;
  SampleStats a_star;
};
/// The estimates at the windows W / 4, W / 2 and W (W = cell.window), each over the cells that
/// cell.samples windows of W cover (so the smaller windows have more samples), in every
/// realization (medium.realizations): the trend with the window size. Random media only. With u,
/// the cell problems of the windows' bonds at that u (a nonlinear medium's a*(u)); without it, of
/// the cells alone (CoefficientField::linear_part: a linear medium's a*).
std::vector<RveEstimate> representative_volumes(const Config1D& cfg, std::optional<double> u = std::nullopt);

/// A graded medium's local effective coefficients at the positions x, from the cell problems on
/// the config's micro lattice (homog/effective.hpp: local_effective_series): a*(x, u), c*(x, u) and
/// r*(x, u) as one series in u per position (one constant a*(x) each on a linear medium), and the
/// x-slope of a* per position by central differences of the cell problems (the step's truncation
/// error h^2 a*'''/6 and its round-off ~1e-16 a* / h balance near h = 1e-5 L, both far below the
/// 1e-3 the targets need).
struct GradedCoefficients {
  std::vector<double> x;
  MediumSeries local;
  ChebyshevTable slope;
  /// The coefficients at position k and value u (u is ignored on a linear medium).
  EffectiveCoefficients1D at(std::size_t k, double u = 0.0) const;
  /// a*(x) at every position (a linear medium).
  std::vector<double> a_star() const;
};
GradedCoefficients graded_coefficients(const Config1D& cfg, const std::vector<double>& xs);
/// The macro nodes' positions i L / (M - 1): all of them, or the interior ones.
std::vector<double> macro_positions(const Config1D& cfg, bool interior);

/// The effective medium of a nonlinear config: effective_medium on the config's micro lattice
/// (eps/dx points per period, or 1000); of a random medium its whole realization's, and of several
/// realizations their ensemble's (in series: volume_coefficients_in_series), what the learned
/// models are scored against.
EffectiveMedium1D effective_medium(const Config1D& cfg);

/// a*(u), c*(u), r*(u) of the effective medium at 33 values of u across its range, as
/// {"u": [...], "a_star": [...], "drift": [...], "reaction": [...]}; the same of any coefficients
/// `at` on the range [lo, hi] (a graded medium's at one position).
nlohmann::json effective_curves_json(const EffectiveMedium1D& medium);
nlohmann::json effective_curves_json(double lo, double hi, const std::function<EffectiveCoefficients1D(double)>& at);

/// Run the configured scheme; `observer` hears its progress. With `chunks`, trajectories run chunk
/// by chunk, each committed to disk (pipeline/chunks.hpp: resumable).
Simulation1D simulate_data(const Config1D& cfg, Device device, Observer& observer = silent_observer(),
                           const ChunkedRun* chunks = nullptr);

/// Write DIR/data.h5 (atomically).
void write_data_h5(const std::string& path, const Config1D& cfg, const Simulation1D& sim, Device device);

/// From a 1D data.h5, checked against the config (nodes, trajectories, times).
LearningData load_learning_data(const std::string& path, const Config1D& cfg, torch::Device device);

/// The learning task of a 1D config with the effective coefficient a_star (its exact coarse
/// operator is the 3-point homogenized scheme a* D2 on the macro nodes), or, for a nonlinear
/// medium, its effective medium (the exact coarse operator is then EffectiveTorchOperator).
std::unique_ptr<LearningTask> learning_task_1d(const Config1D& cfg, double a_star,
                                               std::optional<EffectiveMedium1D> effective = std::nullopt);

/// A saved model fits this problem's grid (InputError naming the file otherwise).
void check_model(const Config1D& cfg, const learn::CoarseModelImpl& model, const std::string& path);

/// The problem behind a 1D config.
class Problem1D : public ProblemOf<Config1D, Simulation1D> {
 public:
  using ProblemOf::ProblemOf;
  int dimension() const override { return 1; }
  /// On patch dynamics, the warnings of the estimate's measured error budget against
  /// patch.rate_tolerance (every scheme simulates every 1D medium).
  std::vector<std::string> check_simulable() const override;
  /// A random medium's rate data are not learnable yet (README, "Random media").
  void check_learnable() const override;
  Report cell(const CellQuery& query) const override;
  /// `cell` on a random medium: the representative-volume windows (representative_volumes), their
  /// trend and convergence, the ergodic value and the whole realization's cell problem; of a
  /// nonlinear random medium at the value u, with the drift and reaction.
  Report random_cell(std::optional<double> u = std::nullopt) const;
  Report simulation_report(const Simulation& sim, Device device) const override;
  std::unique_ptr<LearningTask> learning_task(const Simulation* sim) const override;
  LearningData load_data(const std::string& path, torch::Device device) const override;
  Report learning_report(const nlohmann::json& summary) const override;
};

}  // namespace patchlearn
