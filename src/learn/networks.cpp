#include "patchlearn/learn/networks.hpp"

#include <filesystem>
#include <sstream>

#include "patchlearn/core/durable.hpp"
#include "patchlearn/core/error.hpp"

namespace patchlearn::learn {

namespace nn = torch::nn;
using torch::indexing::Slice;

torch::Tensor derivative_features(const torch::Tensor& U, double dX, int stencil) {
  const auto M = U.size(-1);
  const auto um = U.index({Slice(), Slice(0, M - 2)}), u0 = U.index({Slice(), Slice(1, M - 1)}),
             up = U.index({Slice(), Slice(2, M)});
  auto ux = (up - um) / (2 * dX);
  auto uxx = (up - 2 * u0 + um) / (dX * dX);
  if (stencil == 5 && M >= 7) {
    // 5-point differences on nodes 2..M-3 (interior index 1..M-4).
    const auto a = U.index({Slice(), Slice(0, M - 4)}), b = U.index({Slice(), Slice(1, M - 3)}),
               c = U.index({Slice(), Slice(2, M - 2)}), d = U.index({Slice(), Slice(3, M - 1)}),
               e = U.index({Slice(), Slice(4, M)});
    ux = ux.clone();
    uxx = uxx.clone();
    ux.index_put_({Slice(), Slice(1, M - 3)}, (-e + 8 * d - 8 * b + a) / (12 * dX));
    uxx.index_put_({Slice(), Slice(1, M - 3)}, (-e + 16 * d - 30 * c + 16 * b - a) / (12 * dX * dX));
  }
  return torch::stack({u0, ux, uxx}, -1);
}

namespace {
/// Covariance of the rows of w [N, k].
torch::Tensor covariance(const torch::Tensor& w) {
  const auto c = w - w.mean(0);
  return torch::matmul(c.t(), c) / static_cast<double>(c.size(0));
}
/// C^{-1/2} of a covariance, its eigenvalues floored at 1e-6 of the largest. Directions the data
/// hardly span (smooth 2D states: 10 of the 25 directions of a 5 x 5 window of nonlinear2d's data
/// lie below 1e-6) are not whitened further: their random first-layer weights, which training never
/// corrects, would otherwise reach the rate with gains up to 1e6 (at a floor of 1e-12, that net's
/// rollout diverged at t = 0.32 with rhs rMSE 1.3e-4; at 1e-6 at t = 0.55 with 9.6e-5). The 1D
/// windows' smallest eigenvalues are ~1e-3 of the largest: untouched.
torch::Tensor inverse_sqrt(const torch::Tensor& C) {
  const auto eig = torch::linalg_eigh(C);
  const auto lam = std::get<0>(eig).clamp_min(1e-6 * std::get<0>(eig).max().item<double>());
  const auto Q = std::get<1>(eig);
  return torch::matmul(Q * lam.rsqrt(), Q.t());
}
}  // namespace

PositionHeadImpl::PositionHeadImpl(int linear, int hidden, int dims, const nn::AnyModule& activation)
    : linear_(linear) {
  const int K = linear + hidden;
  w_ = register_module("w", nn::Linear(K, 1));
  nn::Sequential C(nn::Linear(dims, 16));
  C->push_back(activation);
  C->push_back(nn::Linear(16, K + 1));
  C_ = register_module("C", C);
  torch::NoGradGuard g;
  for (auto& t : C_[2]->parameters()) t.zero_();
}

torch::Tensor PositionHeadImpl::forward(const torch::Tensor& phi, const torch::Tensor& h, const torch::Tensor& p) {
  const auto x = torch::cat({phi, h}, -1);  // [B, N, K]
  const auto K = x.size(-1);
  const auto c = C_->forward(p);  // [N, K + 1]
  return (x * (c.narrow(-1, 0, K) + w_->weight)).sum(-1) + (c.select(-1, K) + w_->bias);
}

torch::Tensor CoarseModelImpl::interior(const torch::Tensor& x) const {
  return x.index({Slice(), Slice(1, nodes_ - 1)});
}

torch::nn::AnyModule CoarseModelImpl::act() const {
  if (activation_ == "relu") return torch::nn::AnyModule(nn::ReLU());
  if (activation_ == "silu") return torch::nn::AnyModule(nn::SiLU());
  if (activation_ == "tanh") return torch::nn::AnyModule(nn::Tanh());
  throw ConfigError("learn.activation", "'" + activation_ + "' is not an activation; use relu, silu or tanh");
}

torch::Tensor CoarseModelImpl::interior_positions(const torch::Tensor& U) const {
  const auto opts = torch::TensorOptions().dtype(U.scalar_type()).device(U.device());
  // x_i / L = i / (M - 1) for i = 1 .. M - 2, mapped to [-1, 1].
  return (torch::arange(1, nodes_ - 1, opts) * (2.0 / (nodes_ - 1)) - 1.0).unsqueeze(0);
}

// InitOrder: each net creates its layers from the last to the first, the order in which GCC
// evaluated the arguments of the one Sequential(...) that built each net before the position head
// existed. A seed thus gives the same initial weights, and the nets without position input are
// those of every figure recorded before it.
nn::Sequential CoarseModelImpl::functional_layers(int features, int dims) {
  const int n = position_ ? features + dims : features;
  const nn::Linear last = position_ ? nn::Linear(nullptr) : nn::Linear(32, 1);
  const nn::Linear hidden(32, 32), first(n, 32);
  auto mlp = register_module("mlp", nn::Sequential(first, act(), hidden, act()));
  if (position_)
    head_ = register_module("head", PositionHead(features, 32, dims, act()));
  else
    mlp->push_back(last);
  in_mean_ = register_buffer("in_mean", torch::zeros({n}));
  in_std_ = register_buffer("in_std", torch::ones({n}));
  out_mean_ = register_buffer("out_mean", torch::zeros({1}));
  out_std_ = register_buffer("out_std", torch::ones({1}));
  return mlp;
}

template <class Conv, class Options>
nn::Sequential CoarseModelImpl::discretized_layers(int features, int dims) {
  const Conv last = position_ ? Conv(nullptr) : Conv(Options(32, 1, 1));  // InitOrder
  auto rest = register_module("rest", nn::Sequential(act(), Conv(Options(32, 32, 1)), act()));
  if (position_)
    head_ = register_module("head", PositionHead(features, 32, dims, act()));
  else
    rest->push_back(last);
  return rest;
}

torch::Tensor CoarseModelImpl::pad_ends(const torch::Tensor& interior) const {
  return torch::constant_pad_nd(interior, {1, 1}, 0.0);
}

FunctionalNetImpl::FunctionalNetImpl(int nodes, double dX, int stencil, const std::string& activation, bool position)
    : CoarseModelImpl(nodes, dX, activation, position) {
  if (stencil != 3 && stencil != 5) throw ConfigError("learn.stencil", std::to_string(stencil) + " must be 3 or 5");
  stencil_ = stencil;
  mlp_ = functional_layers(3, 1);
}

torch::Tensor FunctionalNetImpl::features(const torch::Tensor& U) const {
  const auto f = derivative_features(U, dX_, stencil_);
  if (!position_) return f;
  return torch::cat({f, interior_positions(U).unsqueeze(-1).expand({f.size(0), f.size(1), 1})}, -1);
}

torch::Tensor FunctionalNetImpl::forward(const torch::Tensor& U) {
  const auto f = (features(U) - in_mean_) / in_std_;
  if (!position_) return pad_ends(mlp_->forward(f).squeeze(-1) * out_std_ + out_mean_);
  return pad_ends(head_->forward(f.narrow(-1, 0, head_->linear()), mlp_->forward(f), interior_positions(U).t()) *
                      out_std_ +
                  out_mean_);
}

void FunctionalNetImpl::fit_standardization(const torch::Tensor& U, const torch::Tensor& dUdt, bool enabled) {
  torch::NoGradGuard g;
  if (!enabled) return;
  const auto f = features(U).reshape({-1, in_mean_.size(0)});
  in_mean_.copy_(f.mean(0));
  in_std_.copy_(f.std(0).clamp_min(1e-12));
  const auto r = interior(dUdt);
  out_mean_.fill_(r.mean().item<double>());
  out_std_.fill_(std::max(r.std().item<double>(), 1e-12));
}

DiscretizedNetImpl::DiscretizedNetImpl(int nodes, double dX, const std::string& activation, bool position)
    : CoarseModelImpl(nodes, dX, activation, position) {
  first_ = register_module("conv1", nn::Conv1d(nn::Conv1dOptions(1, 32, 3)));
  if (position) position_layer_ = register_module("position", nn::Conv1d(nn::Conv1dOptions(1, 32, 1).bias(false)));
  rest_ = discretized_layers<nn::Conv1d, nn::Conv1dOptions>(3, 1);
  whiten_ = register_buffer("whiten", torch::eye(3));
  in_mean_ = register_buffer("in_mean", torch::zeros({1}));
  in_std_ = register_buffer("in_std", torch::ones({1}));
  out_mean_ = register_buffer("out_mean", torch::zeros({1}));
  out_std_ = register_buffer("out_std", torch::ones({1}));
}

namespace {

// The 3-point windows of x [B, M] at the interior nodes, [B, M-2, 3].
torch::Tensor windows3(const torch::Tensor& x, int M) {
  return torch::stack(
      {x.index({Slice(), Slice(0, M - 2)}), x.index({Slice(), Slice(1, M - 1)}), x.index({Slice(), Slice(2, M)})}, -1);
}

// A stack of 1x1 convolutions and activations applied to channels-last features h [..., C]: each
// convolution as the per-node linear map it is. The same function as the convolutions over
// [B, C, ...], without cuDNN: its fp64 convolutions of the L-BFGS polish's large batches were
// most of paper1d's training time on an H200.
torch::Tensor pointwise(nn::Sequential layers, torch::Tensor h) {
  for (auto& layer : *layers) {
    if (const auto* c = layer.ptr()->as<nn::Conv1dImpl>())
      h = torch::linear(h, c->weight.flatten(1), c->bias);
    else if (const auto* c2 = layer.ptr()->as<nn::Conv2dImpl>())
      h = torch::linear(h, c2->weight.flatten(1), c2->bias);
    else
      h = layer.forward(h);
  }
  return h;
}

}  // namespace

torch::Tensor DiscretizedNetImpl::forward(const torch::Tensor& U) {
  const auto w = windows3((U - in_mean_) / in_std_, nodes_);                                      // [B, M-2, 3]
  auto h = torch::linear(w, torch::matmul(first_->weight.view({32, 3}), whiten_), first_->bias);  // [B, M-2, 32]
  if (!position_) return pad_ends(pointwise(rest_, h).squeeze(-1) * out_std_ + out_mean_);
  const auto s = interior_positions(U).t();  // [M-2, 1]
  h = h + s * position_layer_->weight.view({1, 32});
  // The whitened windows (A is symmetric) are the head's linear features.
  return pad_ends(head_->forward(torch::matmul(w, whiten_), pointwise(rest_, h), s) * out_std_ + out_mean_);
}

void DiscretizedNetImpl::fit_standardization(const torch::Tensor& U, const torch::Tensor& dUdt, bool enabled) {
  torch::NoGradGuard g;
  if (!enabled) return;
  in_mean_.fill_(U.mean().item<double>());
  in_std_.fill_(std::max(U.std().item<double>(), 1e-12));
  // Whitening of the standardized 3-point windows: A = C^{-1/2} (eigenvalues floored for safety).
  whiten_.copy_(inverse_sqrt(covariance(windows3((U - in_mean_) / in_std_, nodes_).reshape({-1, 3}))));
  const auto r = interior(dUdt);
  out_mean_.fill_(r.mean().item<double>());
  out_std_.fill_(std::max(r.std().item<double>(), 1e-12));
}

torch::Tensor spectral_derivative_2d(const torch::Tensor& U, double L, int px, int py) {
  const auto P = U.size(-1);
  const auto opts = torch::TensorOptions().dtype(U.scalar_type()).device(U.device());
  // (i kx)^px (i ky)^py with k = 2 pi (0..P/2, -P/2+1..-1) / L; the Nyquist wavenumber is dropped
  // from odd orders (its derivative is not real).
  const auto k = torch::fft::fftfreq(P, L / (2.0 * M_PI * P), opts);
  auto kx = k.clone(), ky = k.clone();
  if (P % 2 == 0 && px % 2) kx.index_put_({P / 2}, 0.0);
  if (P % 2 == 0 && py % 2) ky.index_put_({P / 2}, 0.0);
  const auto factor = kx.pow(px).view({1, P}) * ky.pow(py).view({P, 1});
  const int order = px + py;
  const double sign = (order / 2) % 2 ? -1.0 : 1.0;  // i^order = sign (order even) or sign i (odd)
  const auto Uh = torch::fft::fft2(U) * (factor * sign);
  return torch::real(torch::fft::ifft2(order % 2 ? Uh * c10::complex<double>(0.0, 1.0) : Uh));
}

torch::Tensor spectral_features_2d(const torch::Tensor& U, double L) {
  return torch::stack(
      {U, spectral_derivative_2d(U, L, 1, 0), spectral_derivative_2d(U, L, 0, 1), spectral_derivative_2d(U, L, 2, 0),
       spectral_derivative_2d(U, L, 0, 2), spectral_derivative_2d(U, L, 1, 1)},
      -1);
}

torch::Tensor periodic_positions_2d(int P, const torch::TensorOptions& opts) {
  const auto phase = torch::arange(P, opts) * (2.0 * M_PI / P);
  const auto x = phase.view({1, P}).expand({P, P}), y = phase.view({P, 1}).expand({P, P});
  return torch::stack({torch::cos(x), torch::sin(x), torch::cos(y), torch::sin(y)}, -1);
}

FunctionalNet2DImpl::FunctionalNet2DImpl(int P, double L, const std::string& activation, bool position)
    : CoarseModelImpl(P * P, L / P, activation, position), P_(P) {
  mlp_ = functional_layers(6, 4);
}

torch::Tensor FunctionalNet2DImpl::features(const torch::Tensor& U) const {
  const auto f = spectral_features_2d(U.view({-1, P_, P_}), dX_ * P_);
  if (!position_) return f;
  const auto p = periodic_positions_2d(P_, f.options()).unsqueeze(0).expand({f.size(0), P_, P_, 4});
  return torch::cat({f, p}, -1);
}

torch::Tensor FunctionalNet2DImpl::forward(const torch::Tensor& U) {
  const auto f = (features(U) - in_mean_) / in_std_;
  if (!position_) return (mlp_->forward(f).squeeze(-1) * out_std_ + out_mean_).reshape({-1, nodes_});
  const auto g = f.reshape({-1, nodes_, f.size(-1)});
  const auto p = periodic_positions_2d(P_, f.options()).view({nodes_, 4});
  return head_->forward(g.narrow(-1, 0, head_->linear()), mlp_->forward(g), p) * out_std_ + out_mean_;
}

void FunctionalNet2DImpl::fit_standardization(const torch::Tensor& U, const torch::Tensor& dUdt, bool enabled) {
  torch::NoGradGuard g;
  if (!enabled) return;
  const auto f = features(U).reshape({-1, in_mean_.size(0)});
  in_mean_.copy_(f.mean(0));
  in_std_.copy_(f.std(0).clamp_min(1e-12));
  out_mean_.fill_(dUdt.mean().item<double>());
  out_std_.fill_(std::max(dUdt.std().item<double>(), 1e-12));
}

DiscretizedNet2DImpl::DiscretizedNet2DImpl(int P, double L, const std::string& activation, bool position)
    : CoarseModelImpl(P * P, L / P, activation, position), P_(P) {
  first_ = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(1, 32, 5)));
  if (position) position_layer_ = register_module("position", nn::Conv2d(nn::Conv2dOptions(4, 32, 1).bias(false)));
  rest_ = discretized_layers<nn::Conv2d, nn::Conv2dOptions>(25, 4);
  whiten_ = register_buffer("whiten", torch::eye(25));
  in_mean_ = register_buffer("in_mean", torch::zeros({1}));
  in_std_ = register_buffer("in_std", torch::ones({1}));
  out_mean_ = register_buffer("out_mean", torch::zeros({1}));
  out_std_ = register_buffer("out_std", torch::ones({1}));
}

torch::Tensor DiscretizedNet2DImpl::windows(const torch::Tensor& U) const {
  // Periodic padding by 2 on both axes, then every node's 5 x 5 window as a row (unfold).
  const auto x = U.view({-1, 1, P_, P_});
  const auto y = torch::cat({x.narrow(-2, P_ - 2, 2), x, x.narrow(-2, 0, 2)}, -2);
  const auto padded = torch::cat({y.narrow(-1, P_ - 2, 2), y, y.narrow(-1, 0, 2)}, -1);
  return torch::nn::functional::unfold(padded, torch::nn::functional::UnfoldFuncOptions({5, 5})).transpose(1, 2);
}

torch::Tensor DiscretizedNet2DImpl::forward(const torch::Tensor& U) {
  const auto w = windows((U - in_mean_) / in_std_);                                                // [B, P P, 25]
  auto h = torch::linear(w, torch::matmul(first_->weight.view({32, 25}), whiten_), first_->bias);  // [B, P P, 32]
  if (!position_) return pointwise(rest_, h).squeeze(-1) * out_std_ + out_mean_;
  const auto p = periodic_positions_2d(P_, w.options()).view({nodes_, 4});
  h = h + torch::linear(p, position_layer_->weight.flatten(1));  // [P P, 32], the same for every state
  return head_->forward(torch::matmul(w, whiten_), pointwise(rest_, h), p) * out_std_ + out_mean_;
}

void DiscretizedNet2DImpl::fit_standardization(const torch::Tensor& U, const torch::Tensor& dUdt, bool enabled) {
  torch::NoGradGuard g;
  if (!enabled) return;
  in_mean_.fill_(U.mean().item<double>());
  in_std_.fill_(std::max(U.std().item<double>(), 1e-12));
  // The 5 x 5 windows of the standardized states, as rows [B P P, 25].
  whiten_.copy_(inverse_sqrt(covariance(windows((U - in_mean_) / in_std_).reshape({-1, 25}))));
  out_mean_.fill_(dUdt.mean().item<double>());
  out_std_.fill_(std::max(dUdt.std().item<double>(), 1e-12));
}

CoarseModel make_model(const std::string& kind, int nodes, double dX, int stencil, int grid,
                       const std::string& activation, bool position) {
  if (kind == "functional") return std::make_shared<FunctionalNetImpl>(nodes, dX, stencil, activation, position);
  if (kind == "discretized") return std::make_shared<DiscretizedNetImpl>(nodes, dX, activation, position);
  if (kind == "functional2d") return std::make_shared<FunctionalNet2DImpl>(grid, dX * grid, activation, position);
  if (kind == "discretized2d") return std::make_shared<DiscretizedNet2DImpl>(grid, dX * grid, activation, position);
  throw ConfigError(
      "learn.networks",
      "'" + kind + "' is not a network; use functional or discretized");  // (the 2D kinds are chosen by the 2D run)
}

std::string first_line(const std::string& message) {
  const auto end = message.find_first_of("\r\n");
  return message.substr(0, std::min<std::size_t>(end, 160));
}

std::uint64_t tensor_checksum(const torch::Tensor& t, std::uint64_t seed) {
  const auto c = t.detach().to(torch::kCPU).contiguous();
  return checksum64(c.data_ptr(), c.numel() * c.element_size(), seed);
}

std::uint64_t model_checksum(const CoarseModel& model) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const auto& p : model->named_parameters())
    h = tensor_checksum(p.value(), checksum64(p.key().data(), p.key().size(), h));
  for (const auto& b : model->named_buffers())
    h = tensor_checksum(b.value(), checksum64(b.key().data(), b.key().size(), h));
  return h;
}

void write_archive(torch::serialize::OutputArchive& archive, const std::string& path) {
  std::ostringstream bytes;
  try {
    archive.save_to(bytes);
  } catch (const c10::Error&) {
    throw RunError("cannot write " + path + ": LibTorch could not serialize it (out of memory?)");
  }
  const std::string s = bytes.str();
  write_file_durably(path + ".partial", path, s.data(), s.size());
}

void save_model(const CoarseModel& model, const std::string& path) {
  torch::serialize::OutputArchive ar;
  model->save(ar);
  ar.write("patchlearn_kind", c10::IValue(model->kind()));
  ar.write("patchlearn_nodes", c10::IValue(static_cast<int64_t>(model->nodes())));
  ar.write("patchlearn_dx", c10::IValue(model->dX()));
  ar.write("patchlearn_stencil", c10::IValue(static_cast<int64_t>(model->stencil())));
  ar.write("patchlearn_grid", c10::IValue(static_cast<int64_t>(model->grid())));
  ar.write("patchlearn_activation", c10::IValue(model->activation()));
  ar.write("patchlearn_position", c10::IValue(model->position()));
  ar.write("patchlearn_position_head", c10::IValue(model->position()));
  ar.write("patchlearn_checksum", c10::IValue(checksum_hex(model_checksum(model))));
  write_archive(ar, path);
}

CoarseModel load_model(const std::string& path, torch::Device device) {
  if (!std::filesystem::exists(path)) throw InputError("model checkpoint '" + path + "' does not exist");
  torch::serialize::InputArchive ar;
  try {
    ar.load_from(path, torch::kCPU);
  } catch (const std::exception&) {
    throw InputError("'" + path + "' is not a readable LibTorch checkpoint (damaged or truncated?)");
  }
  c10::IValue kind, nodes, dx, stencil;
  if (!ar.try_read("patchlearn_kind", kind) || !ar.try_read("patchlearn_nodes", nodes) ||
      !ar.try_read("patchlearn_dx", dx) || !ar.try_read("patchlearn_stencil", stencil) || !kind.isString() ||
      !nodes.isInt() || !dx.isDouble() || !stencil.isInt())
    throw InputError("'" + path + "' is not a patchlearn model checkpoint (no patchlearn header)");
  // Older checkpoints: relu, no position input.
  c10::IValue grid(static_cast<int64_t>(0)), activation(std::string("relu")), position(false);
  ar.try_read("patchlearn_grid", grid);
  ar.try_read("patchlearn_activation", activation);
  ar.try_read("patchlearn_position", position);
  if (!grid.isInt() || !activation.isString() || !position.isBool())
    throw InputError("'" + path + "' is not a patchlearn model checkpoint (its header is damaged)");
  // Position-aware nets saved before their last layer became a PositionHead lack it.
  c10::IValue head(false);
  if (position.toBool() && !(ar.try_read("patchlearn_position_head", head) && head.isBool() && head.toBool()))
    throw InputError("'" + path +
                     "' is a position-aware net of an older patchlearn, whose last layer did not depend on the "
                     "position; train it again");
  CoarseModel model;
  try {
    model = make_model(kind.toStringRef(), static_cast<int>(nodes.toInt()), dx.toDouble(),
                       static_cast<int>(stencil.toInt()), static_cast<int>(grid.toInt()), activation.toStringRef(),
                       position.toBool());
  } catch (const std::exception&) {
    throw InputError("'" + path + "' is not a patchlearn model checkpoint (its header is damaged)");
  }
  // Match the stored precision before loading the tensors.
  torch::Tensor probe;
  if (ar.try_read("out_std", probe, true)) model->to(probe.scalar_type());
  try {
    model->load(ar);
  } catch (const std::exception& e) {
    throw InputError("'" + path + "' does not match a " + kind.toStringRef() + " network: " + first_line(e.what()));
  }
  // Checkpoints written before checksums were stored have none; those are loaded as they are.
  c10::IValue stored;
  if (ar.try_read("patchlearn_checksum", stored) &&
      (!stored.isString() || stored.toStringRef() != checksum_hex(model_checksum(model))))
    throw InputError("'" + path + "' does not match its checksum (the file is damaged); train the model again");
  model->to(device);
  return model;
}

}  // namespace patchlearn::learn
