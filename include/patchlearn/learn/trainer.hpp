#pragma once
// Training of a coarse model on (U, dU/dt) pairs: Adam, mini-batches of macro states, MSE on the
// interior nodes measured in units of the target's standard deviation, a cosine learning-rate
// decay from `lr` to `lr_final`, the loss logged every epoch, optional checkpoints every
// `checkpoint_every` epochs. An optional full-batch L-BFGS polish (strong Wolfe line search)
// follows the Adam epochs: the nets are tiny and the data exact to ~1e-6, so a second-order finish
// reaches a far lower loss than Adam's noisy steps in the same time. A seed makes a run
// deterministic on a given device (every epoch's shuffle is seeded by (seed, epoch), and after the
// Adam epochs the global generator is reseeded by (seed, epochs), so whatever draws next — the
// next network's initialization — does not depend on whether this run was resumed). With
// checkpoints every N epochs, PATH.state holds the model, Adam's state, the loss history, the
// settings the continuation depends on and a checksum, in one durably written file; `resume`
// continues from it and reaches the same parameters as an uninterrupted run, and refuses (an
// InputError naming the file and the setting) a state whose settings or training data differ or
// whose checksum does not match.
#include <functional>
#include <string>
#include <vector>

#include "patchlearn/learn/networks.hpp"

namespace patchlearn::learn {

struct TrainParams {
  int epochs = 300;
  int batch = 64;
  double lr = 1e-3, lr_final = 1e-5;
  bool standardize = true;
  std::uint64_t seed = 0;
  int lbfgs_iterations = 0;     ///< at most this many full-batch L-BFGS iterations after the Adam epochs
  int checkpoint_every = 0;     ///< 0: none
  std::string checkpoint_path;  ///< the exported model PATH; the resume checkpoint is PATH.state
  bool resume = false;          ///< continue from PATH.state when it exists
};

struct TrainLog {
  std::vector<double> train_loss, val_loss;             ///< per epoch, standardized MSE
  double final_train_loss = 0.0, final_val_loss = 0.0;  ///< after the L-BFGS polish
  /// The L-BFGS iterations of the kept iterate: the one of lowest validation loss, checked every 50
  /// (all of them without a validation set)
  int lbfgs_kept = 0;
  double wall_s = 0.0;
  int epochs_done = 0;
};

/// Train `model` (already on the data's device and dtype) on Utr/Rtr [N, M]; Uval/Rval may be
/// empty. `on_epoch(epoch, train, val)` is called after every epoch.
TrainLog train(const CoarseModel& model, const torch::Tensor& Utr, const torch::Tensor& Rtr, const torch::Tensor& Uval,
               const torch::Tensor& Rval, const TrainParams& params,
               const std::function<void(int, double, double)>& on_epoch = {});

}  // namespace patchlearn::learn
