#pragma once
// The 2D jobs behind `cell`, `simulate`, `train`, `rollout` and `run` for a config with
// domain.dimension = 2: gap-tooth (or full-lattice) data of paper §5.2, the tensor-homogenized
// truth (homog/homogenized2d.hpp), both 2D networks, the regression that recovers D, batched
// rollouts and the evaluation against the truth.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>

#include "patchlearn/cli/chunks.hpp"
#include "patchlearn/cli/learn.hpp"
#include "patchlearn/core/device.hpp"
#include "patchlearn/homog/cell2d.hpp"
#include "patchlearn/io/config2d.hpp"
#include "patchlearn/patch/layout2d.hpp"
#include "patchlearn/schemes/coarse_operator.hpp"

namespace patchlearn {

PatchLayout2D layout_2d(const Config2D& cfg);
Lattice2D lattice_2d(const Config2D& cfg);
/// The cell-problem tensor of the configured lattice.
EffectiveTensor cell_tensor(const Config2D& cfg);

/// Homogenized truth U, dU/dt [trajectory][time][P*P] (host) of trajectories [first, first + count).
struct Truth2D {
  std::vector<double> U, dUdt;
};
Truth2D homogenized_truth_2d(const Config2D& cfg, const EffectiveTensor& D, int first, int count,
                             const std::vector<double>& times);

struct Simulation2D {
  CoarseData data;  ///< patch means U and dU/dt [trajectory][time][P*P] on the device
  Truth2D truth;
  EffectiveTensor D;
  double wall_s = 0.0;
  double rmse_vs_homogenized = 0.0;      ///< eq. (24) over all times
  double rmse_vs_homogenized_t03 = 0.0;  ///< at the snapshot nearest t = 0.3
  int fine_evaluations = 0;              ///< rate evaluations per sampling interval
};

/// With `chunks`: resumable, chunk by chunk (cli/chunks.hpp).
Simulation2D simulate_2d(const Config2D& cfg, Device device, const std::function<void(double)>& progress = {},
                         const ChunkedRun* chunks = nullptr);
void write_data_2d_h5(const std::string& path, const Config2D& cfg, const Simulation2D& sim, Device device);

/// Training data U, dUdt [trajectory, time, P*P] from a 2D data.h5, checked against the config
/// (zero-copy from a simulation: learning_data(sim, sim->data), cli/learn.hpp).
LearningData load_learning_data_2d(const std::string& path, const Config2D& cfg, torch::Device device);

/// Train the configured networks (models/NAME2d.pt), the regression, the rollouts and the
/// evaluation; writes summary.json and rollout.h5 into out_dir and returns the summary.
nlohmann::json train_and_evaluate_2d(const Config2D& cfg, const LearningData& data, const EffectiveTensor& D,
                                     Device device, const std::string& out_dir, bool quiet);

/// Roll a saved 2D model out from the config's test initial conditions and evaluate it.
nlohmann::json rollout_model_2d(const Config2D& cfg, const std::string& model_path, Device device);

}  // namespace patchlearn
