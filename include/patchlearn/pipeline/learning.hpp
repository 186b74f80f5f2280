#pragma once
// The learning job, written once for every problem: split coarse data by trajectory, train the
// configured networks, fit the interpretable regression, roll the models out from unseen initial
// conditions and measure them against the truth. A problem supplies what differs (which states
// train, its regression library, its evaluation set and Fourier projection, its networks) as a
// LearningTask; train_and_evaluate() runs the same steps for all of them.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <functional>
#include <limits>
#include <memory>
#include <map>
#include <string>
#include <utility>

#include "patchlearn/core/device.hpp"
#include "patchlearn/io/config.hpp"
#include "patchlearn/io/h5.hpp"
#include "patchlearn/learn/networks.hpp"
#include "patchlearn/learn/regression.hpp"
#include "patchlearn/learn/rollout.hpp"
#include "patchlearn/learn/trainer.hpp"
#include "patchlearn/pipeline/observer.hpp"
#include "patchlearn/schemes/coarse_operator.hpp"

namespace patchlearn {

/// Coarse training data as tensors [trajectory, time, node].
struct LearningData {
  torch::Tensor U, dUdt;
  std::vector<double> t;
};

/// Zero-copy: tensors over the coarse data's own buffers (on its device); `owner` (which holds
/// `data`) stays alive as long as any tensor does.
LearningData learning_data(std::shared_ptr<const void> owner, const CoarseData& data);
/// U, dU/dt and t of a data.h5 written by `simulate`, as [trajectory, time, nodes]: InputError
/// unless U and dU/dt have `rank` dimensions (`layout` names them), `trajectories` of them, and
/// t matches. `dims` receives U's shape.
LearningData read_learning_data(const std::string& path, std::size_t rank, const std::string& layout,
                                index_t trajectories, torch::Device device, std::vector<index_t>& dims);

/// Training states [N, M] of `trajectories` trajectories (trajectory-major, N / trajectories
/// states each) split at random (seeded by the [learn] options) into training and validation parts
/// by state or by whole trajectory (learn.validation_split), on `device` in the configured
/// precision. ConfigError where a split by trajectory cannot hold out one and keep one. Where R are
/// derived from the data's rates (FittedRegression::descaled_rates), `source` [N, M] gives those
/// and the split's Rtr_source their training part, on the same states. With
/// learn.patch_scales, Gtr and Gval are each state's patch group (learn::TrainParams): its
/// trajectory among those trained (0 .. G - 1), -1 for a held-out trajectory's.
struct TrainSplit {
  torch::Tensor Utr, Rtr, Uval, Rval;
  torch::Tensor Gtr, Gval;  ///< undefined without patch scales
  /// Where Rtr are not the data's rates (FittedRegression::descaled_rates): the data's rates of the
  /// same states (learn::TrainParams::source_rates); undefined otherwise.
  torch::Tensor Rtr_source = {};
};
TrainSplit split_states(const torch::Tensor& U, const torch::Tensor& R, int trajectories, const LearnOptions& o,
                        torch::Device device, const torch::Tensor& source = {});

/// Train `model` with the [learn] options, report its progress to `observer`, save it to `path`;
/// returns the log and puts the loss history and checkpoint into `record`.
learn::TrainLog train_model(const learn::CoarseModel& model, const std::string& name, const LearnOptions& o,
                            const TrainSplit& data, const std::string& path, Observer& observer,
                            nlohmann::json& record);

/// Store a tensor (any device and dtype) as a float64 dataset of its shape.
void write_tensor(H5Writer& file, const std::string& name, const torch::Tensor& t);

/// Eq. (24) of each trajectory Y[b] against ref[b].
std::vector<double> per_trajectory_rmse(const torch::Tensor& Y, const torch::Tensor& ref);

/// The unseen test trajectories a model is scored on: their initial states U0 [B, M], the truth at
/// the rollout times [B, T, M], the states its right-hand side is scored on [N, M] with the exact
/// right-hand side there, and (where the problem has one) the rollout of the exact coarse operator
/// on the same nodes [B, T, M]: the floor no model on this grid can beat.
struct EvaluationSet {
  std::vector<double> times;
  torch::Tensor U0, truth, test_states, exact_rhs;
  torch::Tensor coarse;          ///< undefined where the problem has no separate coarse operator
  index_t first_trajectory = 0;  ///< the run's index of test trajectory 0, which messages name
};

/// A model's predictions on an evaluation set: dU/dt on the test states and the rollout [B, T, M].
struct ModelPredictions {
  torch::Tensor rhs, rollout;
};

/// The position basis of regression.position_basis / .position_degree on [0, length]^dimensions.
learn::PositionBasis position_basis(const SharedConfig& cfg, double length, int dimensions);

/// The regression's fit as the summary's "regression": equation, terms, least-squares and STLSQ
/// coefficients (lists in library order), "coefficients" (every term's name mapped to its STLSQ
/// coefficient, 0 for a dropped term), residual.
nlohmann::json regression_json(const learn::RegressionResult& fit);
/// A coefficient curve of the regression's equation: sum_k scale c(terms[k]) u^k, c the coefficient
/// of a term (a*(u) from U_xx, U*U_xx, U^2*U_xx; a 2D D*_xy(u) from U_xy, ... with scale 1/2). Its
/// error is relative to the largest magnitude of the curves `relative_to` names (a tensor's
/// off-diagonal component: of the diagonal ones, the tensor's size), of its own by default.
struct CoefficientCurve {
  std::string key;
  std::vector<std::string> terms;
  double scale = 1.0;
  std::vector<std::string> relative_to = {};
};
/// The regression's curves on the points u of `truth` (the cell problems' curves: "u" and an array
/// per key), each with its KEY_max_error (add_curve_errors); with a position basis, the
/// coefficients at the position (x, y) (RegressionResult::coefficient_at).
nlohmann::json regression_curves(const learn::RegressionResult& fit, const nlohmann::json& truth,
                                 const std::vector<CoefficientCurve>& curves, double x = 0.0, double y = 0.0);
/// Learned curves `out` (arrays on the points of `truth`) gain KEY_max_error for every key they
/// share with truth: the largest error against truth's curve relative to that curve's largest
/// magnitude, or to the largest of the curves relative_to[KEY] names (absolute where it is zero).
/// Where truth has "u_data" (with_data_range), also KEY_max_error_on_data: the same on the points
/// inside that range, relative to the sizes there.
void add_curve_errors(nlohmann::json& out, const nlohmann::json& truth,
                      const std::map<std::string, std::vector<std::string>>& relative_to = {});
/// "LABEL1 e1, LABEL2 e2, ... (max error / max size)" for the curves `labels` ({key, label}) of `curves`
/// (add_curve_errors' KEY_max_error), followed where it has them by the same on the data's range
/// ("; on the data's u in [lo, hi]: ..."): a curve is determined by the data only where they go.
std::string curve_errors_text(const nlohmann::json& curves,
                              const std::vector<std::pair<std::string, std::string>>& labels);
/// The curves `truth` with "u_data" = [min, max] of the states U: the range of u the data visit,
/// inside the medium's u range, where the learned curves are determined (a term that matters only
/// at the ends of u_range may be dropped by data that never go there).
nlohmann::json with_data_range(nlohmann::json truth, const torch::Tensor& U);
/// The headline scores of a model's evaluation (those present of rhs_rmse, rollout_rmse,
/// rollout_rmse_vs_coarse, floor_rmse).
nlohmann::json headline_scores(const nlohmann::json& scores);
/// The same as one line for people, after the model's name.
std::string score_line(const std::string& name, const nlohmann::json& scores);

/// The problem's views of truth and model rollouts [B, T, M] at `times`, as keys of a model's
/// record: "fourier", the projection on the dominant Fourier modes (paper Fig. 8b); "front", the
/// front speeds of front-shaped data (reaction-diffusion, issue 15).
using TrajectoryViews = std::function<nlohmann::json(const torch::Tensor& truth, const torch::Tensor& model,
                                                     const std::vector<double>& times)>;

/// rhs_rmse, rollout_rmse (and, with a coarse operator, rollout_rmse_vs_coarse and floor_rmse),
/// per-trajectory values, the MSE over time and the problem's trajectory views of one model (with
/// a coarse operator, "front" also gets floor_relative_error: the exact coarse operator's front
/// speed error, the grid's own); `out` receives its predictions.
nlohmann::json evaluate_model(learn::TorchOperator& model, const EvaluationSet& eval, const RolloutParams& rollout,
                              const TrajectoryViews& views, ModelPredictions* out = nullptr);

/// The regression on the training states: its result and the keys it adds to the summary (with
/// "regression").
struct FittedRegression {
  learn::RegressionResult result;
  nlohmann::json summary;
  /// With patch scales that take some terms alone (PatchScaling::group): the rates [N, M] the kept
  /// fit was fitted on, each patch's put back at its mean scale (regression_with_patch_scales), the
  /// nets' training targets; undefined otherwise.
  torch::Tensor descaled_rates = {};
};

/// Eq. (24) of the training data's dU/dt against the exact coarse operator's on the same states
/// (1% rms), above which train_and_evaluate warns that every model on this grid would fit the
/// difference (LearningTask::tolerated_data_rhs_rmse): a 3-point operator on 11 nodes against
/// full-resolution rates of waves up to frequency 4 gave 0.1-2.7, patch-dynamics data 1e-13-1e-12.
constexpr double kUnresolvedDataRates = 1e-4;

class LearningTask;
/// The alternations of regression_with_patch_scales: at most kPatchScaleRounds, until no scale
/// moves by more than kPatchScaleChange (relative); the summary says how many ran ("rounds") and
/// whether they settled ("settled"). Exact rates of that form settle in a few rounds; on data with
/// scatter no model holds (random_nonlinear1d.toml) they need not, and more rounds did not improve
/// the fit there (40 rounds: a*(u) 2.3e-3 off against 6.7e-4 after 8).
inline constexpr int kPatchScaleRounds = 8;
inline constexpr double kPatchScaleChange = 1e-6;
/// Several scales per patch (PatchScaling::groups) are told apart only where their groups' rates
/// are not nearly collinear over the patch's states: where the least eigenvalue of their
/// correlation matrix is below this (two groups correlated above 0.99), one common scale. A scale
/// difference's error grows like the rates' scatter over the square root of that eigenvalue.
inline constexpr double kCollinearScales = 1e-2;

/// How learn.patch_scales' scales enter a task's regression (LearningTask::patch_scaling).
struct PatchScaling {
  /// The scale of a patch that multiplies each regression term: 0 .. groups - 1, or -1 for a term
  /// no piece of the medium scales. Empty (the default): one scale multiplies the whole rate (a
  /// random diffusion in 1D), and the nets train beside the same scales; otherwise the nets, whose
  /// rate has no such split, train without them.
  std::function<int(const std::string& term)> group;
  int groups = 1;
  /// A patch is a node of every training trajectory (the 2D lattice: one realization under all of
  /// them); otherwise a node of one trajectory (1D: trajectories live on translates and realizations).
  bool per_node = false;
  /// The mean of the scales held at 1: harmonic (1D: pieces in series conduct as their harmonic
  /// mean, so the fit's a* is the whole medium's), or arithmetic (2D: the teeth of a lattice combine
  /// with no closed form, so the fit's D stays their mean tensor, as without scales; the scales take
  /// the teeth's scatter out of the equation's shape, the conductance factor's derivative and the
  /// reaction).
  bool harmonic = true;
  /// Where defined ([G, M, groups], double on the CPU; 1D patches only), the groups' scales are not
  /// fitted but known from the medium (Problem1D::patch_scaling: a u-dependent random medium's
  /// pieces): one regression with each term of group k times its patch's known[..., k]
  /// (learn::TermScales), whose coefficients are the common operator's; the rates put back at that
  /// operator (the nets' rates) and the equation fitted to them with the plain library, twice; no
  /// alternation of scales.
  torch::Tensor known;
};

/// The task's regression with patch scales (learn.patch_scales; learn/trainer.hpp): a first fit,
/// then each patch's rates (training trajectory g, node x: U and R [N, M] trajectory-major) set
/// against the fit's there and fitted again, alternated until the scales settle. The fit's rates
/// split by PatchScaling::group into the groups' f_k and the rest n; a patch's scales s_k are the
/// least-squares factors of R - n on the f_k (over its states; one common factor where the f_k are
/// nearly collinear there), normalized per group (PatchScaling::harmonic), and the rates fitted
/// again are n + (R - n - sum_k (s_k - s) f_k) / s, s the rate-weighted mean of the patch's s_k
/// (one group: n + (R - n) / s). One alternation of the nets' mixed-effects model: the first fit
/// has the equation's shape, and the scales move its size from the patches' least-squares mean to
/// the mean the scaling names. The summary gains "regression_patch_scales" (their count, spread,
/// scales per patch, rounds). The first fit, with a warning, where some patch's rates are no
/// positive multiple of it. With PatchScaling::group the rates of the kept fit are also returned
/// (FittedRegression::descaled_rates): a net's rate has no split into the groups' terms, so it
/// cannot fit the scales beside it as it does a whole-rate scale, and trains on those rates
/// instead. What they borrow from the fit is its split only: a patch's rates change by
/// (1 - 1/s) times the fit's unscaled terms n, and an error in n enters the nets as that error
/// times 1 - 1/s, whose mean over the patches is 0 under the harmonic normalization (and of the
/// order of the scales' variance under the arithmetic one). `scaling`: the task's patch_scaling()
/// where a caller holds it already (null: asked of the task).
FittedRegression regression_with_patch_scales(const LearningTask& task, const torch::Tensor& U, const torch::Tensor& R,
                                              Observer& observer, const PatchScaling* scaling = nullptr);

/// What a problem supplies to the one training and evaluation loop.
class LearningTask {
 public:
  virtual ~LearningTask() = default;
  virtual const LearnOptions& options() const = 0;
  /// The first this many trajectories train; the rest are the unseen test set.
  virtual int train_trajectories() const = 0;
  /// Training states U, dU/dt [N, M] (any device, float64) from the whole data set: the
  /// train_trajectories() trajectories whole, in order, each over the same times.
  virtual std::pair<torch::Tensor, torch::Tensor> training_states(const LearningData& data) const = 0;
  /// The regression on the training states (its degrees scored on whole held-out trajectories).
  /// `scales`: known factors on groups of terms, state by state (learn::TermScales; 1D only).
  virtual FittedRegression regression(const torch::Tensor& U, const torch::Tensor& dUdt, Observer& observer,
                                      const learn::TermScales* scales = nullptr) const = 0;
  /// The discovered equation of a regression as a model, in the problem's own discretization.
  virtual std::unique_ptr<learn::TorchOperator> discovered(const learn::RegressionResult& fit) const = 0;
  /// The unseen test set; `data` (may be null) supplies the test states when given.
  virtual EvaluationSet evaluation(const LearningData* data, torch::Device device) const = 0;
  /// The exact coarse operator on the problem's own nodes (the effective PDE in the macro grid's
  /// discretization), where it is a function of the node values alone; null where it is not (2D:
  /// the patch means' operator needs the truth's modes).
  virtual std::unique_ptr<learn::TorchOperator> exact_coarse() const { return nullptr; }
  /// What the training states' dU/dt (U: training_states) should be: exact_coarse()'s rates, or on
  /// a 1D random medium's patches each patch's own (its piece's factors on the operator's parts,
  /// Problem1D); undefined without an exact coarse operator.
  virtual torch::Tensor coarse_data_rates(const torch::Tensor& U) const;
  /// What coarse_data_rates are, as the data check's lines and summary.json's `data_rhs_reference` name them.
  virtual std::string coarse_data_reference() const { return "the exact coarse operator's"; }
  /// Eq. (24) of the data's dU/dt against coarse_data_rates above which the data do not match the
  /// grid: kUnresolvedDataRates, or the square of a looser patch.rate_tolerance for patch data;
  /// infinite where they need not match (a 2D random lattice's teeth, full resolution on a random
  /// medium: no model gives each tooth's own rates).
  virtual double tolerated_data_rhs_rmse() const { return std::numeric_limits<double>::infinity(); }
  /// How a patch's scales (learn.patch_scales) enter the regression: by default one scale of the
  /// whole rate per node of each trajectory, normalized to a harmonic mean of 1 (a random 1D
  /// diffusion). Where a drift or reaction shares the rate, a piece of the medium scales only the
  /// diffusion; on a 2D lattice each direction's diffusion has its own scale.
  virtual PatchScaling patch_scaling() const { return {}; }
  /// A new network `net` (a name of learn.networks) and the file name it is saved under.
  virtual learn::CoarseModel make_model(const std::string& net) const = 0;
  virtual std::string model_name(const std::string& net) const { return net; }
  virtual const RolloutParams& rollout_params() const = 0;
  /// The problem's TrajectoryViews of a model's rollout.
  virtual nlohmann::json trajectory_views(const torch::Tensor& truth, const torch::Tensor& model,
                                          const std::vector<double>& times) const = 0;
  /// Keys that describe the problem in the summary (a_star_cell, D_cell, dimension, ...).
  virtual nlohmann::json describe() const = 0;
  /// Keys read off the fitted regression against the description, added to the summary once the
  /// regression is in it (none by default; a 2D lattice on closed teeth: its patch scales against
  /// each tooth's own cell tensor, "patch_scales_vs_teeth").
  virtual void describe_fit(nlohmann::json& summary) const { (void)summary; }
  /// Keys a trained network adds to its summary entry (empty by default; a nonlinear 1D medium:
  /// the effective coefficients probed from the functional net, scored also on the range of the
  /// training states U, as the regression's curves are).
  virtual nlohmann::json model_views(learn::CoarseModelImpl& model, const torch::Tensor& U) const {
    (void)model;
    (void)U;
    return nlohmann::json::object();
  }
};

/// Train every configured network on `data`, save DIR/models/NAME.pt, run the regression and the
/// evaluation of every network and of the discovered equation (summary "regression": its fit and
/// the same scores as a network's). Returns the summary, also written once to DIR/summary.json
/// after `complete` (when given) has added the caller's own entries (say, the simulation that
/// made the data); the arrays behind the figures (test states, exact and learned dU/dt, truth,
/// coarse and learned rollouts) go to DIR/rollout.h5.
nlohmann::json train_and_evaluate(const LearningTask& task, const LearningData& data, Device device,
                                  const std::string& out_dir, Observer& observer,
                                  const std::function<void(nlohmann::json&)>& complete = {});

/// Load a saved model and score it on the task's evaluation set.
nlohmann::json rollout_saved_model(const LearningTask& task, const learn::CoarseModel& model, Device device);

}  // namespace patchlearn
