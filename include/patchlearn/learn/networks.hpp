#pragma once
// The two learned coarse operators of paper Fig. 3, each mapping macro states U[B, M] to
// dU/dt[B, M] with 0 at the two Dirichlet nodes:
//   functional   (U, U_x, U_xx) at each interior node, from a 3- or 5-point finite-difference
//                stencil, through a pointwise MLP 3 -> 32 -> 32 -> 1 (ReLU after the first two)
//   discretized  Conv1d(1->32, k=3) -> ReLU -> Conv1d(32->32, k=1) -> ReLU -> Conv1d(32->1, k=1),
//                which sees the interior nodes with their two neighbours
// With position input (learn.position_input, for graded media whose effective operator varies
// across the domain) both also see the node's position s = 2 x / L - 1 in [-1, 1]: the functional
// net as a fourth feature (U, U_x, U_xx, s), the discretized net as a position channel entering
// the first layer through its own Conv1d(1->32, k=1) (so the whitening of the U windows is kept);
// and their last layer is a PositionHead (below), whose weights vary with the position.
// The 2D nets (periodic grid) see the periodic position features (cos, sin of 2 pi X / L and of
// 2 pi Y / L, node (I, J) at (I L / P, J L / P)): four more MLP inputs for the functional net, four
// channels through a Conv2d(4->32, 1x1) beside the first layer for the discretized one, and the
// same PositionHead of those four features.
// The convolutions are evaluated as the per-node linear maps they are (each node's window times
// the kernel, channels last), not through cuDNN, whose fp64 convolutions of large batches were
// most of paper1d's training time on an H200; the parameters keep the Conv1d/Conv2d shapes.
// Inputs and outputs can be standardized (affine maps fitted on the training data and stored in
// the model as buffers, so a checkpoint is self-contained). For the discretized net the
// standardization also whitens the 3-point window: its first layer is parametrized as W = V A with
// A = C^{-1/2} the inverse square root of the windows' covariance. That is the same Conv1d(1->32,
// k=3) function class, but the stencil direction that carries dU/dt (1, -2, 1), ~15x thinner in
// the data than the mean level, is no longer ill-conditioned for the optimizer. Checkpoints are LibTorch archives with
// the parameters, the buffers and a small header (kind, nodes, dX, stencil, dtype).
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>

namespace patchlearn::learn {

/// (U, U_x, U_xx) at the interior nodes: [B, M-2, 3]. stencil 3 or 5 (5-point differences where
/// they fit, 3-point next to the boundary).
torch::Tensor derivative_features(const torch::Tensor& U, double dX, int stencil);

/// The last layer of a position-aware net. The effective operator of a graded medium is, at each
/// node, a function of the local state whose coefficients vary across the domain (in 1D a*(x) U_xx +
/// a*'(x) U_x), so the rate at a node is
///   c(p) . [phi, h, 1],   c(p) = w + C(p),
/// the node's linear features phi (the standardized derivatives, or the whitened window), its last
/// hidden layer h and 1, weighted by coefficients that vary with the node's position features p:
/// w constant, C an MLP d -> 16 -> F + H + 1 whose last layer starts at zero (training starts from
/// a plain output layer w . [phi, h, 1]). A linear operator with smoothly varying coefficients is
/// then in the function class as such. With the position as one more input only, the MLP had to
/// form the products x U_xx from its activations' curvature: on graded1d both nets stalled with
/// the rates of unseen trajectories 7.7e-4 off (eq. 24), rolling out at 1.08x the coarse grid's
/// floor; with the head 9.4e-7 and 1.9e-6 off, at 1.002x and 1.001x (bench/RESULTS.md).
class PositionHeadImpl : public torch::nn::Module {
 public:
  /// F = `linear` features, H = `hidden` units, d = `dims` position features.
  PositionHeadImpl(int linear, int hidden, int dims, const torch::nn::AnyModule& activation);
  /// phi [B, N, F], h [B, N, H] and the N nodes' position features p [N, d] -> the rates [B, N].
  torch::Tensor forward(const torch::Tensor& phi, const torch::Tensor& h, const torch::Tensor& p);
  /// F, the linear features it weighs.
  int linear() const { return linear_; }

 private:
  int linear_;
  torch::nn::Linear w_{nullptr};
  torch::nn::Sequential C_{nullptr};
};
TORCH_MODULE(PositionHead);

class CoarseModelImpl : public torch::nn::Module {
 public:
  CoarseModelImpl(int nodes, double dX, std::string activation, bool position = false)
      : nodes_(nodes), dX_(dX), activation_(std::move(activation)), position_(position) {}
  /// dU/dt for states U[B, M] (any leading batch size; 0 at the end nodes).
  virtual torch::Tensor forward(const torch::Tensor& U) = 0;
  virtual std::string kind() const = 0;
  /// Fit the input/output standardization to training states and targets; identity when !enabled.
  virtual void fit_standardization(const torch::Tensor& U, const torch::Tensor& dUdt, bool enabled) = 0;
  /// The nodes the loss sees: the interior nodes in 1D, every node on the periodic 2D grid.
  virtual torch::Tensor interior(const torch::Tensor& x) const;
  /// Patches per side of a 2D model (0 for a 1D model).
  virtual int grid() const { return 0; }
  /// Standard deviation of the interior targets the loss is measured in.
  torch::Tensor output_scale() const { return out_std_; }
  int nodes() const { return nodes_; }
  double dX() const { return dX_; }
  /// The hidden layers' activation (learn.activation): relu (the paper's), silu or tanh.
  const std::string& activation() const { return activation_; }
  int stencil() const { return stencil_; }
  /// Whether the model sees the nodes' positions (learn.position_input).
  bool position() const { return position_; }

 protected:
  /// s = 2 x / L - 1 at the interior nodes, [1, M - 2], in U's dtype and device.
  torch::Tensor interior_positions(const torch::Tensor& U) const;
  torch::Tensor pad_ends(const torch::Tensor& interior) const;  // [B, M-2] -> [B, M]
  /// A new activation module of this model's kind.
  torch::nn::AnyModule act() const;
  /// A functional net's layers on its `features` derivatives (and, with position, `dims` position
  /// features after them): the pointwise MLP -> 32 -> 32, registered as "mlp" with the
  /// standardization buffers, and its last layer, 32 -> 1 at the end of the MLP or the position
  /// head (registered as "head", in head_).
  torch::nn::Sequential functional_layers(int features, int dims);
  /// A discretized net's layers after its first (Conv = Conv1d or Conv2d): activation, 1 x 1
  /// convolution 32 -> 32, activation, registered as "rest", and its last layer, a 1 x 1
  /// convolution 32 -> 1 at the end of "rest" or the position head of its `features` whitened
  /// window values and `dims` position features.
  template <class Conv, class Options>
  torch::nn::Sequential discretized_layers(int features, int dims);
  int nodes_;
  double dX_;
  std::string activation_;
  bool position_ = false;
  int stencil_ = 3;
  torch::Tensor in_mean_, in_std_, out_mean_, out_std_;
  PositionHead head_{nullptr};  ///< the last layer of a position-aware net
};

class FunctionalNetImpl : public CoarseModelImpl {
 public:
  FunctionalNetImpl(int nodes, double dX, int stencil, const std::string& activation = "relu", bool position = false);
  torch::Tensor forward(const torch::Tensor& U) override;
  std::string kind() const override { return "functional"; }
  void fit_standardization(const torch::Tensor& U, const torch::Tensor& dUdt, bool enabled) override;

 private:
  torch::Tensor features(const torch::Tensor& U) const;  // [B, M-2, 3 or 4]
  torch::nn::Sequential mlp_{nullptr};                   // with position: the hidden layers only
};

class DiscretizedNetImpl : public CoarseModelImpl {
 public:
  DiscretizedNetImpl(int nodes, double dX, const std::string& activation = "relu", bool position = false);
  torch::Tensor forward(const torch::Tensor& U) override;
  std::string kind() const override { return "discretized"; }
  void fit_standardization(const torch::Tensor& U, const torch::Tensor& dUdt, bool enabled) override;

 private:
  torch::nn::Conv1d first_{nullptr}, position_layer_{nullptr};
  torch::nn::Sequential rest_{nullptr};  // with position: up to the last hidden layer
  torch::Tensor whiten_;                 ///< A, [3, 3]
};

// --- 2D, on the periodic P x P grid of patch means (states [B, P*P], row-major [J][I]) ---

/// d^px/dx^px d^py/dy^py of periodic fields U[..., P, P] ([y][x]) on [0, L)^2, spectrally.
torch::Tensor spectral_derivative_2d(const torch::Tensor& U, double L, int px, int py);
/// Spectral derivatives (u, u_x, u_y, u_xx, u_yy, u_xy) of periodic fields U[B, P, P] on [0, L)^2:
/// [B, P, P, 6] (the Nyquist mode is dropped from the odd derivatives).
torch::Tensor spectral_features_2d(const torch::Tensor& U, double L);

/// The periodic position features of the P x P grid (above): [P, P, 4], [J][I].
torch::Tensor periodic_positions_2d(int P, const torch::TensorOptions& opts);

/// Paper Fig. 3a in 2D: the six spectral features (and with `position` the four position
/// features) through a pointwise MLP 6 (10) -> 32 -> 32 -> 1.
class FunctionalNet2DImpl : public CoarseModelImpl {
 public:
  FunctionalNet2DImpl(int P, double L, const std::string& activation = "relu", bool position = false);
  torch::Tensor forward(const torch::Tensor& U) override;
  std::string kind() const override { return "functional2d"; }
  void fit_standardization(const torch::Tensor& U, const torch::Tensor& dUdt, bool enabled) override;
  torch::Tensor interior(const torch::Tensor& x) const override { return x; }
  int grid() const override { return P_; }

 private:
  torch::Tensor features(const torch::Tensor& U) const;  // [B, P, P, 6 or 10]
  int P_;
  torch::nn::Sequential mlp_{nullptr};  // with position: the hidden layers only
};

/// Paper Fig. 3b in 2D: periodic padding by 2, Conv2d(1 -> 32, 5 x 5) -> ReLU -> Conv2d(32 -> 32,
/// 1 x 1) -> ReLU -> Conv2d(32 -> 1, 1 x 1). With standardization the 5 x 5 windows are whitened
/// as in 1D (first layer W = V A, A = C^{-1/2} of the windows' covariance, its eigenvalues floored
/// at 1e-6 of the largest: directions smooth data hardly span are not amplified).
class DiscretizedNet2DImpl : public CoarseModelImpl {
 public:
  DiscretizedNet2DImpl(int P, double L, const std::string& activation = "relu", bool position = false);
  torch::Tensor forward(const torch::Tensor& U) override;
  std::string kind() const override { return "discretized2d"; }
  void fit_standardization(const torch::Tensor& U, const torch::Tensor& dUdt, bool enabled) override;
  torch::Tensor interior(const torch::Tensor& x) const override { return x; }
  int grid() const override { return P_; }

 private:
  torch::Tensor windows(const torch::Tensor& U) const;  // [B, P P, 25]: each node's periodic 5 x 5 window
  int P_;
  torch::nn::Conv2d first_{nullptr}, position_layer_{nullptr};
  torch::nn::Sequential rest_{nullptr};  // with position: up to the last hidden layer
  torch::Tensor whiten_;                 ///< A, [25, 25]
};

using CoarseModel = std::shared_ptr<CoarseModelImpl>;

/// 1D: "functional" or "discretized" on `nodes` nodes with spacing dX; 2D: "functional2d" or
/// "discretized2d" on grid x grid patches of spacing dX (nodes = grid^2); with the nodes' positions
/// as input when `position`.
CoarseModel make_model(const std::string& kind, int nodes, double dX, int stencil, int grid = 0,
                       const std::string& activation = "relu", bool position = false);

/// Save parameters, buffers, the header and a checksum of the tensors durably (PATH.partial,
/// fsync, rename); RunError naming PATH when it cannot be written (disk full).
void save_model(const CoarseModel& model, const std::string& path);
/// Load a checkpoint onto `device`; InputError if it is missing, corrupt, does not match its
/// checksum or is not a patchlearn model.
CoarseModel load_model(const std::string& path, torch::Device device);

/// Checksum of a model's parameters and buffers (names, dtypes' bytes, in order).
std::uint64_t model_checksum(const CoarseModel& model);
/// Checksum of a tensor's bytes (any device), chained from `seed`.
std::uint64_t tensor_checksum(const torch::Tensor& t, std::uint64_t seed);
/// Serialize an archive in memory and write it durably to `path` (core/durable.hpp).
void write_archive(torch::serialize::OutputArchive& archive, const std::string& path);
/// The first line of an error message (LibTorch's carry stack traces), at most 160 characters.
std::string first_line(const std::string& message);

}  // namespace patchlearn::learn
