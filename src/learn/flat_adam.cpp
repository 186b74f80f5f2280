#include "patchlearn/learn/flat_adam.hpp"

#include "patchlearn/learn/networks.hpp"

namespace patchlearn::learn {

namespace {
constexpr double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
}

std::uint64_t AdamState::checksum(std::uint64_t seed) const {
  return tensor_checksum(t, tensor_checksum(v, tensor_checksum(m, seed)));
}

void AdamState::save(torch::serialize::OutputArchive& archive) const {
  archive.write("adam_m", m);
  archive.write("adam_v", v);
  archive.write("adam_t", t);
}

FlatAdam::FlatAdam(std::vector<torch::Tensor> params, double lr, const AdamState& from) : params_(std::move(params)) {
  torch::NoGradGuard g;
  std::vector<torch::Tensor> pieces;
  for (const auto& q : params_) pieces.push_back(q.detach().reshape(-1));
  flat_ = torch::cat(pieces);
  int64_t at = 0;
  for (auto& q : params_) {
    const auto n = q.numel();
    q.set_data(flat_.narrow(0, at, n).view(q.sizes()));
    at += n;
  }
  const auto scalars = flat_.options().dtype(torch::kFloat64);
  m_ = from.m.defined() ? from.m.to(flat_.options()).reshape(-1).clone() : torch::zeros_like(flat_);
  v_ = from.v.defined() ? from.v.to(flat_.options()).reshape(-1).clone() : torch::zeros_like(flat_);
  t_ = from.t.defined() ? from.t.to(scalars).reshape({}).clone() : torch::zeros({}, scalars);
  lr_ = torch::full({}, lr, scalars);
}

FlatAdam::~FlatAdam() {
  torch::NoGradGuard g;
  for (auto& q : params_) {
    try {
      q.set_data(q.detach().clone());
    } catch (const c10::Error&) {
      // Out of memory while unwinding: the parameter stays a (valid) view into the flat buffer.
    }
  }
}

void FlatAdam::step(const std::vector<torch::Tensor>& grads) {
  torch::NoGradGuard g;
  std::vector<torch::Tensor> pieces;
  for (std::size_t k = 0; k < params_.size(); ++k)
    pieces.push_back(grads[k].defined() ? grads[k].reshape(-1) : torch::zeros_like(params_[k]).reshape(-1));
  const auto grad = torch::cat(pieces);
  m_.mul_(beta1).add_(grad, 1 - beta1);
  v_.mul_(beta2).addcmul_(grad, grad, 1 - beta2);
  t_.add_(1);
  // The fp64 scalars scale fp32 tensors without promoting them (0-dim operands).
  const auto step_size = lr_ / (1 - torch::pow(beta1, t_));
  const auto denom = v_.sqrt().div_((1 - torch::pow(beta2, t_)).sqrt()).add_(eps);
  flat_.sub_(m_.div(denom).mul_(step_size));
}

}  // namespace patchlearn::learn
