#pragma once
// Training of a coarse model on (U, dU/dt) pairs: Adam, mini-batches of macro states, MSE on the
// interior nodes measured in units of the target's standard deviation, a cosine learning-rate
// decay from `lr` to `lr_final`, the loss logged every epoch, optional checkpoints every
// `checkpoint_every` epochs. An optional full-batch L-BFGS polish (strong Wolfe line search)
// follows the Adam epochs: the nets are tiny and the data exact to ~1e-6, so a second-order finish
// reaches a far lower loss than Adam's noisy steps in the same time. A seed makes a run
// deterministic on a given device (every epoch's shuffle is seeded by (seed, epoch) and drawn by the
// CPU's generator, so a CPU and a GPU train on the same batches, and after the
// Adam epochs the global generator is reseeded by (seed, epochs), so whatever draws next — the
// next network's initialization — does not depend on whether this run was resumed). With
// checkpoints every N epochs, PATH.state holds the model, Adam's state, the loss history, the
// settings the continuation depends on and a checksum, in one durably written file; `resume`
// continues from it and reaches the same parameters as an uninterrupted run, and refuses (an
// InputError naming the file and the setting) a state whose settings or training data differ or
// whose checksum does not match.
//
// Growth penalty. A net fitted on smooth states is constrained only along the directions those
// states span: its response to the waves they never carry is whatever its initialization and the
// whitening of its windows left, and a rollout grows it (nonlinear2d's discretized net: waves near
// the grid scale grew at +35..+50 per unit time where the effective PDE damps them, and every
// rollout diverged). So the first quarter of the states of every batch get one plane wave each, its
// wavenumber drawn uniformly over the grid, and the model's response to A cos theta and A sin theta
// (A = 1% of std(U)) gives its Jacobian's local symbol at every node, the growth rate of that wave
// there with the coefficients frozen:
//   Re sigma_x = (cos theta_x dN_cos,x + sin theta_x dN_sin,x) / A,  dN = N(U + wave) - N(U).
// The objective adds growth_penalty * mean(max(0, Re sigma_x / b_x - 1)^2). The bound b_x is the
// data's own rate scale mu = std(dU/dt) / std(U), or, where it is larger, the model's growth rate
// of a uniform shift at that node, (N(U + A) - N(U))_x / A: no wave may grow faster than the data's
// rates go, nor than the longest wave grows there. A parabolic effective PDE meets that on every
// wave: its frozen-coefficient symbol is largest at wavenumber 0 (diffusion damps the short waves,
// drift only turns them), where it is the reaction's slope. So a model that already does pays
// nothing, and a reaction that grows faster than mu is not held back: on a Fisher front with
// r = 25, where mu = 7.9, bounding by mu alone held the net's growth at the leading edge to 17.7
// and its front speed error to 1.09% against the grid's own 0.91%. The uniform shift's growth is
// fitted, not penalized: the smooth training states carry it. The epochs' training loss includes
// the term; the validation loss, the kept L-BFGS iterate and the final losses are the fit alone.
//
// Patch scales. On a medium that differs from patch to patch at random, the estimate at node x of
// trajectory g is the rate of the piece of medium that patch sees: its own apparent coefficient
// times the effective rate, a scatter (random1d: 17% from patch to patch on a correlated field)
// that is constant along the trajectory and no function of the state can hold. A net fitted to it
// learns it as U-dependence anyway, on the few hundred pieces it has seen (random1d with a
// correlated field: rollouts 1.1-1.5x the floor on every seed). With patch groups the fit is
// instead to s_{g,x} N(U)_x: one scale per patch (group g, node x), fitted with the net, the
// mixed-effects model of the data. The scales are s = exp(delta) normalized so that the mean of
// 1/s over the fitted patches is 1. In 1D the pieces lie in series along the medium, and pieces in
// series conduct with the harmonic mean of their apparent coefficients, so that normalization
// leaves the medium's own a* in N: the mean of 1/a_p over random1d's correlated patches gives
// 0.9468 against the realization's a* 0.9487, the arithmetic mean 0.9729. The scales enter the
// fit only (the validation loss and the final losses are the scaled fit; a validation state of a
// held-out trajectory has scale 1): the saved model is N.

#include <cmath>
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
  int lbfgs_iterations = 0;  ///< at most this many full-batch L-BFGS iterations after the Adam epochs
  /// Weight of the growth penalty (above); 0, the default, for none. The pipeline gives the
  /// discretized nets learn.growth_penalty (0.01 unless set) and the functional nets none.
  double growth_penalty = 0.0;
  /// Patch scales (above): the group (a trajectory, 0 .. G - 1) of every training state [N] and of
  /// every validation state (-1 for a group that was not trained), long; undefined for none.
  torch::Tensor train_groups, val_groups;
  /// Where the targets Rtr are derived from the data rather than read (a random medium's rates with
  /// the regression's patch scales taken out, pipeline/learning.hpp): the data's own rates of the
  /// same training states, which a resumed training checks its data by. The derived targets come
  /// out of the patch scales' reductions, whose last bit can differ from one invocation to the next
  /// (measured: runs that differ only in learn.epochs, or a run and its --resume); the checkpoint
  /// also records that its targets were derived. Undefined: Rtr itself.
  torch::Tensor source_rates;
  /// On a GPU, replay the Adam steps from CUDA graphs where this build can (cuda_graphs_built());
  /// false runs them eagerly (the same arithmetic, one launch per operation).
  bool cuda_graphs = true;
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
  /// The polish's loss before it and after each block of 50 iterations: the validation loss, or
  /// the training loss without a validation set (what the kept iterate is chosen on)
  std::vector<double> lbfgs_loss;
  /// Whether the polish kept its last iterate and its last block still lowered that loss by more
  /// than the fraction kStillImproving: more iterations would very likely give a better net
  bool lbfgs_still_improving() const;
  static constexpr double kStillImproving = 0.1;
  /// With the growth penalty: the trained model's largest local growth rate over the training
  /// states (each with its wave of the L-BFGS polish), the data's rate scale mu, and the largest
  /// bound a growth rate was held to (mu, or a uniform shift's growth where larger); NaN without it
  double largest_growth = std::nan(""), rate_scale = std::nan(""), largest_bound = std::nan("");
  /// With patch scales: the fitted patches' count and the standard deviation of their scales
  int patch_scales = 0;
  double patch_scale_spread = std::nan("");
  double wall_s = 0.0;                           ///< the whole training
  double adam_wall_s = 0.0, lbfgs_wall_s = 0.0;  ///< its Adam epochs and its L-BFGS polish
  /// How the Adam steps ran: "eager", "cuda_graphs" (replayed from CUDA graphs on a GPU), or
  /// "eager (...)" with the reason a graph capture failed
  std::string adam_steps;
  int epochs_done = 0;
};

/// Whether this build replays training steps from CUDA graphs on a GPU (a CUDA backend and a
/// LibTorch built with CUDA; PATCHLEARN_TORCH_CUDA_GRAPHS).
bool cuda_graphs_built();

/// Train `model` (already on the data's device and dtype) on Utr/Rtr [N, M]; Uval/Rval may be
/// empty. `on_epoch(epoch, train, val)` is called after every epoch.
TrainLog train(const CoarseModel& model, const torch::Tensor& Utr, const torch::Tensor& Rtr, const torch::Tensor& Uval,
               const torch::Tensor& Rval, const TrainParams& params,
               const std::function<void(int, double, double)>& on_epoch = {});

}  // namespace patchlearn::learn
