#pragma once
// Adam (PyTorch's update, without weight decay) on one flat vector. Every trainable tensor becomes
// a view into one buffer and the moments are two more, so an update is a dozen element-wise
// operations whatever the number of layers. The step count and the learning rate are tensors and
// the bias corrections are computed from them where the parameters live, so an update holds no host
// value: the trainer's whole mini-batch step can be replayed from a CUDA graph (learn/trainer.cpp).
//   m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2,   t <- t + 1,
//   p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// with b1 = 0.9, b2 = 0.999, eps = 1e-8, as torch::optim::Adam's defaults; the same update to
// round-off (test_learn).
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace patchlearn::learn {

/// Adam's state: the moments m, v (flat, in parameter order) and the step count t (0-dim, fp64).
struct AdamState {
  torch::Tensor m, v, t;
  /// Checksum of the three, chained from `seed`.
  std::uint64_t checksum(std::uint64_t seed) const;
  /// As "adam_m", "adam_v" and "adam_t".
  void save(torch::serialize::OutputArchive& archive) const;
};

class FlatAdam {
 public:
  /// Makes `params` views into one buffer (their values kept) and starts from zero moments, or
  /// from `from` where its tensors are defined (a checkpoint's; sizes checked by the caller).
  FlatAdam(std::vector<torch::Tensor> params, double lr, const AdamState& from = {});
  FlatAdam(const FlatAdam&) = delete;
  FlatAdam& operator=(const FlatAdam&) = delete;
  /// The parameters own their storage again.
  ~FlatAdam();
  const std::vector<torch::Tensor>& params() const { return params_; }
  void set_lr(double lr) { lr_.fill_(lr); }
  /// One update from the gradients of params(), in order (an undefined one counts as zero).
  void step(const std::vector<torch::Tensor>& grads);
  /// The live state (the tensors the updates write).
  AdamState state() const { return {m_, v_, t_}; }

 private:
  std::vector<torch::Tensor> params_;
  torch::Tensor flat_, m_, v_, t_, lr_;
};

}  // namespace patchlearn::learn
