#pragma once
// TOML configuration of a 1D run, validated up front. Every key is optional and has the default
// shown in the README; unknown keys, wrong types and out-of-range or inconsistent values are
// ConfigErrors naming the key, the bad value and what is valid. Soft problems are collected as
// warnings. Patch parameters given as "auto" are chosen here, by probing the patch-dynamics
// estimate's error budget (schemes/patch_budget.hpp), so that a parsed config is complete.
#include <optional>
#include <string>
#include <vector>

#include "patchlearn/coeff/field.hpp"
#include "patchlearn/coeff/random_medium.hpp"
#include "patchlearn/core/defs.hpp"
#include "patchlearn/learn/regression_choices.hpp"
#include "patchlearn/micro/initial_conditions.hpp"
#include "patchlearn/schemes/integrators.hpp"
#include "patchlearn/schemes/patch_budget.hpp"

namespace patchlearn {

/// The hidden layers' activation of the networks (learn.activation).
enum class Activation { ReLU, SiLU, Tanh };
/// Its name in configs and checkpoints: relu, silu, tanh.
const char* name_of(Activation a);
/// The networks' floating-point precision (learn.precision).
enum class Precision { FP64, FP32 };
/// Its name in configs and summaries: fp64, fp32.
const char* name_of(Precision p);
/// What the validation set holds out (learn.validation_split): single states drawn from every
/// training trajectory, or whole trajectories. States of one trajectory are close in time and share
/// its initial condition and, on a random medium, its piece of the medium; holding out whole
/// trajectories measures how a model does on ones it has not seen, which is what its rollouts face.
enum class ValidationSplit { States, Trajectories };
const char* name_of(ValidationSplit s);

/// The [learn] keys the 1D and 2D problems share.
struct LearnOptions {
  std::vector<std::string> networks{"functional", "discretized"};
  int epochs = 300, batch = 64, lbfgs_iterations = 0;
  double lr = 1e-3, lr_final = 1e-5;
  /// The discretized nets' growth penalty (learn/trainer.hpp): its weight, 0 for none
  double growth_penalty = 1e-2;
  bool standardize = true;
  Activation activation = Activation::ReLU;
  Precision precision = Precision::FP64;
  double validation_fraction = 0.1;
  ValidationSplit validation_split = ValidationSplit::States;
  std::uint64_t seed = 0;
  int checkpoint_every = 0;
  /// The 1D networks see the nodes' positions (graded media; learn/networks.hpp)
  bool position_input = false;
  /// One fitted scale per patch of every training trajectory beside the net (learn/trainer.hpp:
  /// patch scales): the patches' scatter on a random 1D medium. Default on there for the patch
  /// schemes, off elsewhere; a 1D key.
  bool patch_scales = false;
  bool resume = false;  ///< not a TOML key: set by --resume (continue from the last checkpoint)
};

/// The training trajectories learn.validation_split = "trajectories" holds out of `trajectories`:
/// validation_fraction of them rounded down, at least one where any is asked for.
int held_out_trajectories(const LearnOptions& o, int trajectories);
/// ConfigError (learn.validation_split) where a split by whole trajectories holds out every one of
/// the `trajectories` training trajectories. The config parsers check it, so that `validate` and
/// `run` say it before any simulation; the split itself checks it again for library callers.
void check_validation_split(const LearnOptions& o, int trajectories);

/// ConfigError (`key`, the u range) where an initial condition leaves `range` where the run starts
/// from it: `values` holds each trajectory's `per` values there (the 1D macro nodes, the 2D patch
/// centres), trajectory b's from b * per on. The run's own check would stop it at t = 0; the
/// problems' check_simulable says it before any simulation, and `validate` with it (a lift or a
/// patch mean that leaves the range between the nodes is still the run's to find). A default
/// range, the initial conditions' bound, always holds them.
void check_initial_values_in_range(const std::vector<double>& values, std::size_t per, URange range,
                                   const std::string& key);

/// The [bench] keys of `patchlearn bench`: the sweep, and the accuracy both ways of producing the
/// coarse data must reach.
struct BenchOptions {
  std::vector<double> epsilon{1e-3, 1e-4, 1e-5, 1e-6};  ///< 1D: the scale separations swept
  /// 1D: full-resolution tolerances, loosest first; each eps takes the loosest that meets `rmse`.
  std::vector<double> full_rtol{1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6};
  std::vector<int> lattice{480, 1440, 4800};  ///< 2D: lattice sizes N (an N x N lattice) swept
  /// 2D: exponential-stepper tolerances (fine.tolerance), loosest first; at each N each side
  /// takes the loosest that meets `rmse`.
  std::vector<double> tolerance{1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 1e-6, 1e-8, 1e-11, 1e-14};
  double rmse = 1e-6;  ///< eq. (24) against the homogenized truth, over all trajectories and times
  /// A measurement that took less than this (seconds) is run again until this much time has
  /// passed in all (at most 10 runs), and its fastest run reported; 0: one run each.
  double repeat_s = 1.0;
};

/// The [rollout] keys: how models are rolled out from the unseen initial conditions.
struct RolloutOptions {
  RolloutMethod method = RolloutMethod::Dopri5;
  double t_end = 0.5, dt = 1e-4, rtol = 1e-9, atol = 1e-12;
};

/// The 1D schemes that make coarse data (scheme.type).
enum class Scheme1D { PatchDynamics, GapTooth, FullResolution };
/// Its name in configs, data files and messages: patch_dynamics, gap_tooth, full_resolution.
const char* name_of(Scheme1D s);

/// What every problem's config holds: its text, the sections all problems share ([learn],
/// [rollout], [regression], [run], [bench]; each problem sets its own defaults before they are
/// parsed, by parse_shared_sections in src/io/toml_table.hpp) and the warnings its validation found.
struct SharedConfig {
  std::string text;    ///< the TOML source, stored with the data
  std::string origin;  ///< file path, or "<embedded default>"
  // [learn]
  LearnOptions learn;
  // [rollout]
  RolloutOptions rollout;
  // [regression]
  /// STLSQ's threshold; kChosenThreshold (regression.threshold = "auto"): chosen from the data
  /// (learn::stlsq takes a negative threshold for that)
  double regression_threshold = 1e-3;
  static constexpr double kChosenThreshold = -1.0;
  /// The position basis of a position-aware regression and its degree (regression.position_basis,
  /// .position_degree); learn::kChosenDegree ("auto", the default): chosen from the data.
  learn::PositionKind position_basis = learn::PositionKind::None;
  int position_degree = learn::kChosenDegree;
  /// regression.weights (learn/regression.hpp, "Weights"); by default "residuals" unless the medium
  /// is random ("none").
  learn::Weights regression_weights = learn::Weights::Residuals;
  /// The library's degree in U (regression.u_degree; learn/regression.hpp, "The library");
  /// learn::kChosenDegree ("auto", the default): chosen from the data.
  int u_degree = learn::kChosenDegree;
  // [run]
  std::string device = "auto";
  int chunk_trajectories = 0;  ///< trajectories per committed chunk of `simulate` (0: a tenth, at least 8; GPU: all)
  /// The fewest trajectories of a default chunk: 2D gap-tooth teeth with bond tables of their own
  /// (a random or modulated lattice) hold 2 m (m + 1) bonds each, closed teeth (a random lattice
  /// with gaps) also 8 m ghost factors, against m^2 values of one trajectory's state, so a chunk of
  /// ceil(those / m^2) trajectories keeps the tables within the patch state's size (issue 17's
  /// memory bound). 1 otherwise.
  int chunk_least = 1;
  /// The fewest trajectories of a default chunk on the CPU for its lanes and threads
  /// (io/footprint.hpp: kCpuChunkFloor) in the patch schemes; 1 at full resolution, where one
  /// trajectory's state is the whole domain's and a few of them may not fit in memory.
  int chunk_floor = 1;
  /// Macro steps (1D patch dynamics) or samples (2D) between the host's reads of the device's
  /// record of the first non-finite or out-of-range value (BadValueWatch): the device is not made
  /// to wait every step, and a bad value still stops the run naming where it first appeared.
  int check_every = 16;
  // [bench]
  BenchOptions bench;

  std::vector<std::string> warnings;
  /// What the parser chose for the user (the "auto" keys), one line each
  std::vector<std::string> notes;
};

struct Config1D : SharedConfig {
  // [medium]
  /// a(y) or a(y, u) (medium.coefficient / medium.expression) with the optional drift c(y, u) and
  /// reaction r(y, u) (medium.drift, medium.reaction), checked on u_range
  std::optional<CoefficientField> field;
  /// The law of a random medium (medium.coefficient = "random"), none otherwise
  std::optional<RandomMediumSpec> random;
  /// medium.realizations: R independent media of that law; trajectory b lives on realization
  /// b mod R (`field` is realization 0)
  int realizations = 1;
  /// medium.translations: T cyclic translates of every realization, translate t by t N / T of its
  /// N cells; trajectory b lives on translate floor(b / R) mod T of its realization. A translate
  /// has its realization's cells, so its a*, while a patch at a given node sees a different piece
  /// of it in every translate
  int translations = 1;
  /// medium.u_range: where the medium is used and checked; default default_u_range(initial)
  URange u_range;
  double epsilon = 1e-3;
  // [domain]
  double length = 1.0;
  int macro_nodes = 11;
  // [micro]
  double micro_dx = 1e-5;
  // [scheme]
  Scheme1D scheme = Scheme1D::PatchDynamics;
  // [patch]
  double tooth_width = 2e-3, buffer_width = 1.2e-2;
  int lifting_degree = 2;
  double burst = 1e-6;
  int substeps = 10;
  std::string burst_method = "backward_euler";
  /// Nonlinear media: the substeps' Jacobian, frozen over each run of substeps or exact at each
  kernels::StepJacobian burst_jacobian = kernels::StepJacobian::Frozen;
  std::string buffer_ends = "dirichlet";  ///< dirichlet | averaged_gradient
  int heal_substeps = 0;
  /// patch.estimate_degree: the degree in time of a nonlinear medium's estimate (PatchDynamicsParams);
  /// 0: "auto", chosen with the other "auto" keys, 2 where none is (patch_setting() resolves it)
  int estimate_degree = 0;
  /// The keys among burst, buffer_width, substeps, heal_substeps, method and estimate_degree the
  /// tuner chooses ("auto"; estimate_degree also when unset and another key is "auto")
  PatchFreedom patch_auto;
  /// patch.rate_tolerance: the relative error of the dU/dt estimate the patch parameters must reach
  double rate_tolerance = 1e-6;
  /// The error budget measured while choosing the "auto" keys (none when all are explicit)
  std::optional<PatchErrorBudget> patch_budget;
  // [gap_tooth]
  double gap_tooth_dt = 1e-5;
  // [full_resolution]
  double full_rtol = 1e-6, full_dt0 = 1e-9;
  /// full_resolution.compare: with another scheme, also run the first this many trajectories at full
  /// resolution, the theory-free truth the data are scored against (0: none)
  int full_compare = 0;
  // [macro]
  double macro_dt = 1e-3;
  MacroMethod integrator = MacroMethod::Euler;
  double t_end = 0.999;
  int sample_every = 1;
  // [initial]
  InitialConditionParams initial;
  // [homogenized]
  double homogenized_dx = 5e-3;
  // [learn], beside the shared keys
  int train_trajectories = 8;  ///< the first ones train, the rest test
  double train_t_max = 1e300;  ///< use snapshots with t < train_t_max
  /// and t >= train_t_min: gap-tooth and full-resolution data begin with a layer (default: skip
  /// the t = 0 snapshot, see parse_config_1d), patch dynamics does not (default 0)
  double train_t_min = 0.0;
  int stencil = 3;
  // [cell] (random media): representative-volume windows of `cell_window` periods (cells), and
  // `cell_samples` of them, disjoint, from the realization (0: not random)
  int cell_window = 0, cell_samples = 0;

  index_t macro_steps() const;  ///< t_end / macro.dt
  /// The patch width and the burst's parameters, as patch dynamics takes them.
  PatchSetting patch_setting() const;
  std::vector<double> sample_times() const;
};

/// The default medium.u_range: a sound bound of the initial conditions of eq. (23). Each is a sum
/// of `modes` sines with |A_k| <= A = max(|amplitude_lo|, |amplitude_hi|), so |sum| <= S = modes A;
/// the positivity shift |min| + 0.1 <= S + 0.1 is only ever added, so u(x, 0) lies in [-S, S]
/// without the shift and in [-S, 2 S + 0.1] with it; a front (kind = "front", values in (0, 1)) adds
/// the series to it: [-S, 1 + S]. The range is that bound widened by 5% of its width (at least
/// 0.05) at each end. Diffusion and drift keep u inside its initial range (maximum
/// principle); a reaction may take it out: such a medium should give medium.u_range.
URange default_u_range(const InitialConditionParams& ic);

/// The first `trajectories` initial conditions (at most initial.trajectories) at the macro nodes:
/// [trajectory][node], as the runs start from them.
std::vector<double> initial_node_values(const Config1D& cfg, int trajectories);
/// Where the patch parameters are probed: the hardest windows (schemes/patch_budget.hpp) of the
/// first (at most two) initial conditions at the macro nodes.
PatchProbe patch_probe(const Config1D& cfg);
/// The patch-dynamics estimate's error budget with the config's patch parameters (the one found
/// while choosing "auto" keys, else measured: a few bursts).
PatchErrorBudget patch_error_budget(const Config1D& cfg);

/// Parse and validate TOML text; base_dir resolves relative file names (medium.table).
Config1D parse_config_1d(const std::string& text, const std::string& origin, const std::string& base_dir = ".");
/// Read and validate a config file (InputError when it cannot be read).
Config1D load_config_1d(const std::string& path);
/// The [bench] sweep against the rest of the config (only `bench` and `validate` need it).
void check_bench_sweep(const Config1D& cfg);

/// The text of a config file (InputError when it cannot be read).
std::string read_config_text(const std::string& path);
/// domain.dimension of a config (1 when absent; a ConfigError for anything but 1 or 2).
int config_dimension(const std::string& text, const std::string& origin);

}  // namespace patchlearn
