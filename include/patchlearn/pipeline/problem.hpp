#pragma once
// A problem: the medium, the micro model, the schemes, the truth, the networks and the regression
// library that belong together (the 1D continuum of paper §5.1, the 2D lattice of §5.2, whatever
// comes next). The jobs (pipeline/jobs.hpp) are written once against this interface; a new
// problem kind is one implementation and one entry in the registry (src/pipeline/problem.cpp),
// never a new branch in every command.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "patchlearn/core/device.hpp"
#include "patchlearn/homog/homogenized1d.hpp"
#include "patchlearn/io/config.hpp"
#include "patchlearn/io/h5.hpp"
#include "patchlearn/pipeline/bench.hpp"
#include "patchlearn/pipeline/chunks.hpp"
#include "patchlearn/pipeline/learning.hpp"
#include "patchlearn/pipeline/observer.hpp"
#include "patchlearn/schemes/coarse_operator.hpp"

namespace patchlearn {

/// A result for people and for scripts: the JSON object a command prints with --json, and the
/// lines it prints otherwise.
struct Report {
  nlohmann::json json = nlohmann::json::object();
  std::vector<std::string> lines;
};

/// What every simulation of a problem yields: the scheme's coarse data, the homogenized truth on
/// the same nodes and times, the scheme's wall time and eq. (24) of the data against the truth.
/// Problems derive from it to keep what else their data file stores.
struct Simulation {
  Simulation() = default;
  Simulation(Simulation&&) = default;
  Simulation& operator=(Simulation&&) = default;
  virtual ~Simulation() = default;
  CoarseData data;
  HomogenizedTruth truth;
  double wall_s = 0.0;
  double rmse_vs_homogenized = 0.0;
};

/// The statistics of independent estimates (the cell problems of disjoint representative-volume
/// windows): their mean, its standard error s / sqrt(n) and the scatter s (the sample standard
/// deviation, n - 1 in the denominator). At least two values.
struct SampleStats {
  double mean = 0, standard_error = 0, scatter = 0;
};
SampleStats sample_stats(const std::vector<double>& values);
/// Whether two such estimates agree: their means within twice their combined standard error (how
/// `cell` calls the representative volumes of its two largest windows converged).
bool estimates_agree(const SampleStats& a, const SampleStats& b);

/// Where `cell` evaluates the effective coefficients: at the value u of a u-dependent medium, at the
/// macro position x of a graded 1D medium or (x, y) of a modulated 2D lattice.
struct CellQuery {
  std::optional<double> u, x, y;
};

class Problem {
 public:
  virtual ~Problem() = default;
  virtual int dimension() const = 0;
  /// The sections every problem shares ([learn], [rollout], [regression], [run], [bench]), the
  /// config text, its origin and the warnings its validation found.
  virtual const SharedConfig& shared() const = 0;
  virtual SharedConfig& shared() = 0;
  /// The configured scheme's name (patch_dynamics, gap_tooth, full_lattice, ...).
  virtual std::string scheme() const = 0;

  /// `cell`: the effective coefficients of the medium from its cell problem, at the value `u` of
  /// the field where the medium depends on it (InputError when such a medium has no `u`), at the
  /// macro position `x` of a graded medium (without it: at every macro node).
  virtual Report cell(const CellQuery& query = {}) const = 0;

  /// Coarse data with the configured scheme and its truth; with `chunks`, chunk by chunk
  /// (pipeline/chunks.hpp: resumable).
  virtual std::shared_ptr<Simulation> simulate(Device device, const ChunkedRun* chunks, Observer& observer) const = 0;
  /// DIR/data.h5, written atomically.
  virtual void write_data(const std::string& path, const Simulation& sim, Device device) const = 0;
  /// What `simulate` reports about a simulation (wall time, cost, accuracy against the truth).
  virtual Report simulation_report(const Simulation& sim, Device device) const = 0;
  /// Keys a `run` adds to its summary and its JSON from the simulation (may be empty).
  virtual nlohmann::json run_extras(const Simulation& sim) const {
    (void)sim;
    return nlohmann::json::object();
  }

  /// The learning task on this problem's data; `sim` (may be null) supplies the cell-problem
  /// coefficients it computed already.
  virtual std::unique_ptr<LearningTask> learning_task(const Simulation* sim) const = 0;
  /// Training data from a data.h5 of this problem, checked against the config.
  virtual LearningData load_data(const std::string& path, torch::Device device) const = 0;
  /// A saved model, checked to fit this problem's grid (InputError otherwise).
  virtual learn::CoarseModel load_model(const std::string& path, torch::Device device) const = 0;
  /// The problem's part of what `train` and `run` report from the summary: the effective
  /// coefficients from the cell problem and from the regression.
  virtual Report learning_report(const nlohmann::json& summary) const = 0;

  /// ConfigError (naming the key) when the schemes cannot simulate this medium; otherwise warnings
  /// about the accuracy the configured scheme can reach (measured by short probes). Checked by
  /// `validate` and before a job that simulates starts.
  virtual std::vector<std::string> check_simulable() const = 0;
  /// ConfigError (naming the key) when the learning stages cannot work on this medium: checked
  /// before `train`, `rollout` and `run` start.
  virtual void check_learnable() const {}
  /// `bench`: the cost of coarse data by patches against the full-resolution simulation;
  /// `on_entry` hears each size's entry as soon as it is measured.
  virtual nlohmann::json bench(Device device, Observer& observer, const SweepEntryHandler& on_entry) const = 0;
  /// The checks only `bench` (and `validate`) need: the sweep against the rest of the config.
  virtual void check_bench() const = 0;
};

/// What every data.h5 holds, whatever the problem: U, dUdt, U_hom, dUdt_hom as [trajectory, time,
/// node_dims...], t, and the attributes config, version, device, scheme, wall_s, point_steps and
/// rmse_vs_homogenized. The problem adds its own (x, ...) and commits.
void write_common_data(H5Writer& file, const std::vector<index_t>& node_dims, const SharedConfig& cfg,
                       const std::string& scheme, const Simulation& sim, Device device);

/// What every simulation report holds, whatever the problem: wall_s, point_steps, device, scheme,
/// rmse_vs_homogenized. The problem adds its own keys.
nlohmann::json common_simulation_json(const Simulation& sim, const std::string& scheme, Device device);

/// A learning report with the regression's patch scales (the summary's "regression_patch_scales",
/// learn.patch_scales) added, in 1D and 2D alike: `r` unchanged without them.
Report with_patch_scales(Report r, const nlohmann::json& summary);

/// What every problem kind implements the same way from its own config type `Config` (a
/// SharedConfig with a `scheme`) and simulation type `Sim`, through the overloads
/// simulate_data(cfg, ...), write_data_h5(path, cfg, sim, device), bench_sweep(cfg, ...),
/// check_bench_sweep(cfg) and check_model(cfg, model, path) of its header.
template <class Config, class Sim>
class ProblemOf : public Problem {
 public:
  explicit ProblemOf(Config cfg) : cfg_(std::move(cfg)) {}
  const Config& config() const { return cfg_; }

  const SharedConfig& shared() const override { return cfg_; }
  SharedConfig& shared() override { return cfg_; }
  std::string scheme() const override { return name_of(cfg_.scheme); }
  std::shared_ptr<Simulation> simulate(Device device, const ChunkedRun* chunks, Observer& observer) const override {
    return std::make_shared<Sim>(simulate_data(cfg_, device, observer, chunks));
  }
  void write_data(const std::string& path, const Simulation& sim, Device device) const override {
    write_data_h5(path, cfg_, dynamic_cast<const Sim&>(sim), device);
  }
  learn::CoarseModel load_model(const std::string& path, torch::Device device) const override {
    auto model = learn::load_model(path, device);
    check_model(cfg_, *model, path);
    return model;
  }
  nlohmann::json bench(Device device, Observer& observer, const SweepEntryHandler& on_entry) const override {
    return bench_sweep(cfg_, device, observer, on_entry);
  }
  void check_bench() const override { check_bench_sweep(cfg_); }

 protected:
  Config cfg_;
};

/// The problem a config describes, chosen by domain.dimension through the registry; base_dir
/// resolves relative file names in the config.
std::unique_ptr<Problem> parse_problem(const std::string& text, const std::string& origin,
                                       const std::string& base_dir = ".");
/// The same from a file (InputError when it cannot be read).
std::unique_ptr<Problem> load_problem(const std::string& path);
/// The problem `patchlearn run` uses without a config (configs/quick1d.toml, embedded at build time).
std::unique_ptr<Problem> default_problem();
/// The text of that embedded config.
const char* embedded_default_config();

}  // namespace patchlearn
