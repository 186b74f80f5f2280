#pragma once
// The learning jobs behind `train`, `rollout` and `run`: split coarse data by trajectory, train the
// networks, fit the interpretable regression, roll the models out from unseen initial conditions
// and measure them against the homogenized truth and against the exact coarse operator the data
// represent.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>

#include "patchlearn/cli/simulate.hpp"
#include "patchlearn/io/config.hpp"
#include "patchlearn/io/h5.hpp"
#include "patchlearn/learn/networks.hpp"
#include "patchlearn/learn/rollout.hpp"
#include "patchlearn/learn/trainer.hpp"

namespace patchlearn {

/// Write j to `path` (indented) through "<path>.partial", fsync and a rename (core/durable.hpp),
/// so that a killed or failed job never leaves a truncated file; RunError naming the file (and
/// "disk full?" where so) when it cannot be written.
void write_json_file(const std::string& path, const nlohmann::json& j);

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
LearningData read_learning_data(const std::string& path, std::size_t rank, const std::string& layout, index_t trajectories,
                                torch::Device device, std::vector<index_t>& dims);
/// From a 1D data.h5, checked against the config (nodes, trajectories, times).
LearningData load_learning_data(const std::string& path, const Config1D& cfg, torch::Device device);

/// Unseen test initial conditions (the trajectories after learn.train_trajectories), their
/// homogenized truth at the rollout times, and the rollout of the exact coarse operator (the
/// 3-point homogenized scheme on the macro nodes, with the same integrator).
struct EvaluationSet {
  std::vector<double> times;
  torch::Tensor U0, truth, coarse, test_states;  ///< test_states: [N, M] states for the RHS error
  double a_star = 0.0, dX = 0.0;
};
EvaluationSet evaluation_set(const Config1D& cfg, double a_star, const LearningData* data, torch::Device device);

/// A model's predictions on an evaluation set: dU/dt on the test states and the rollout [B, T, M].
struct ModelPredictions {
  torch::Tensor rhs, rollout;
};

/// rhs_rmse, rollout_rmse, rollout_rmse_vs_coarse, floor_rmse, per-trajectory values, the MSE over
/// time and the Fourier-amplitude projection, for one trained model; `out` receives the arrays.
nlohmann::json evaluate_model(const learn::CoarseModel& model, const EvaluationSet& eval, const Config1D& cfg,
                              ModelPredictions* out = nullptr);

/// Train every configured network on `data`, save DIR/models/NAME.pt, run the regression and the
/// evaluation. Returns the summary (also written to DIR/summary.json); the arrays behind the
/// figures (test states, exact and learned dU/dt, truth, coarse and learned rollouts) go to
/// DIR/rollout.h5.
nlohmann::json train_and_evaluate(const Config1D& cfg, const LearningData& data, double a_star_cell, Device device,
                                  const std::string& out_dir, bool quiet);

/// Training states [N, M] split at random (seeded by the [learn] options) into training and
/// validation parts, on `device` in the configured precision.
struct TrainSplit {
  torch::Tensor Utr, Rtr, Uval, Rval;
};
TrainSplit split_states(const torch::Tensor& U, const torch::Tensor& R, const LearnOptions& o, torch::Device device);

/// Train `model` with the [learn] options, report its progress (unless quiet), save it to `path`;
/// returns the log and puts the loss history and checkpoint into `record`.
learn::TrainLog train_model(const learn::CoarseModel& model, const std::string& name, const LearnOptions& o,
                            const TrainSplit& data, const std::string& path, bool quiet, nlohmann::json& record);

/// Store a tensor (any device and dtype) as a float64 dataset of its shape.
void write_tensor(H5Writer& file, const std::string& name, const torch::Tensor& t);

/// The configuration `patchlearn run` uses without a config file (configs/quick1d.toml, embedded).
const char* embedded_default_config();

}  // namespace patchlearn
