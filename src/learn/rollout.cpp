#include "patchlearn/learn/rollout.hpp"

#include <memory>
#include <stdexcept>

#include "patchlearn/learn/tensors.hpp"

namespace patchlearn::learn {

using torch::indexing::Slice;

torch::Tensor TorchOperator::jacobian(const torch::Tensor& U) {
  // One backward pass per output node, each for the whole batch at once: J[b, i, :] = dF_i/dU.
  const auto M = U.size(1);
  auto x = U.detach().clone().requires_grad_(true);
  torch::Tensor F;
  {
    torch::AutoGradMode on(true);
    F = rhs(x);
  }
  std::vector<torch::Tensor> rows;
  for (int64_t i = 0; i < M; ++i) {
    auto go = torch::zeros_like(F);
    go.index_put_({Slice(), i}, 1.0);
    auto g = torch::autograd::grad({F}, {x}, {go}, /*retain_graph=*/true, false, /*allow_unused=*/true)[0];
    rows.push_back(g.defined() ? g : torch::zeros_like(x));
  }
  return torch::stack(rows, 1).detach();
}

torch::Tensor ModelOperator::rhs(const torch::Tensor& U) {
  return model_->forward(U.to(model_->output_scale().dtype())).to(U.dtype());
}

namespace {
// sum_k c_k T_k(t) of a table's series and its u-derivative, elementwise (Clenshaw and its
// derivative recurrence, as kernels::chebyshev_value_slope): one series for every element of u,
// or, for a table of several, series j for the elements u[..., j] of u's last dimension.
// `cache` keeps the coefficients as a tensor on u's device and dtype between calls.
const torch::Tensor& coefficients(const ChebyshevTable& table, torch::Tensor& cache, const torch::Tensor& u) {
  // c[k]: term k of every series, [count], broadcast over u's last dimension.
  if (stale(cache, u))
    cache = torch::tensor(table.coef, torch::TensorOptions().dtype(torch::kFloat64))
                .reshape({static_cast<int64_t>(table.coef.size()) / table.terms, table.terms})
                .t()
                .contiguous()
                .to(u.device(), u.scalar_type());
  return cache;
}

/// The value alone: two tensor operations a term, c_k - b2 and the fused add of 2t b1 (the
/// truth's operators evaluate a series of up to ~60 terms, g's integral, at every rate).
torch::Tensor chebyshev_value(const ChebyshevTable& table, torch::Tensor& cache, const torch::Tensor& u) {
  const auto t = (u - table.mid()) * table.scale(), two_t = 2.0 * t;
  const auto& c = coefficients(table, cache, u);
  auto b1 = torch::zeros_like(t), b2 = torch::zeros_like(t);
  for (int k = table.terms - 1; k >= 1; --k) {
    auto b = torch::addcmul(c[k] - b2, two_t, b1);
    b2 = b1;
    b1 = b;
  }
  return c[0] + t * b1 - b2;
}

std::pair<torch::Tensor, torch::Tensor> chebyshev(const ChebyshevTable& table, torch::Tensor& cache,
                                                  const torch::Tensor& u) {
  const auto t = (u - table.mid()) * table.scale();
  const auto& c = coefficients(table, cache, u);
  auto b1 = torch::zeros_like(t), b2 = torch::zeros_like(t), d1 = torch::zeros_like(t), d2 = torch::zeros_like(t);
  for (int k = table.terms - 1; k >= 1; --k) {
    auto b = c[k] + 2.0 * t * b1 - b2, d = 2.0 * b1 + 2.0 * t * d1 - d2;
    b2 = b1;
    b1 = b;
    d2 = d1;
    d1 = d;
  }
  return {c[0] + t * b1 - b2, (b1 + t * d1 - d2) * table.scale()};
}
}  // namespace

EffectiveTorchOperator::Parts EffectiveTorchOperator::parts(const torch::Tensor& U) {
  const auto M = U.size(1);
  const auto left = U.index({Slice(), Slice(0, M - 2)}), mid = U.index({Slice(), Slice(1, M - 1)}),
             right = U.index({Slice(), Slice(2, M)});
  const auto D1 = (right - left) / (2.0 * dX_), D2 = (right - 2.0 * mid + left) / (dX_ * dX_);
  Parts p;
  if (m_.a.terms == 1) {  // a* independent of U
    p.diffusion = coefficients(m_.a, series_[0], mid)[0] * D2;
  } else {
    const auto [a, da] = chebyshev(m_.a, series_[0], mid);
    p.diffusion = a * D2;
    p.gradient_squared = da * D1 * D1;
  }
  if (slope_.terms) p.slope = chebyshev_value(slope_, series_[1], mid) * D1;
  if (m_.c.terms) p.drift = chebyshev_value(m_.c, series_[2], mid) * D1;
  if (m_.r.terms) p.reaction = chebyshev_value(m_.r, series_[3], mid);
  return p;
}

torch::Tensor EffectiveTorchOperator::rhs(const torch::Tensor& U) {
  const Parts p = parts(U);
  auto inner = p.diffusion;
  for (const auto* part : {&p.gradient_squared, &p.slope, &p.drift, &p.reaction})
    if (part->defined()) inner = inner + *part;
  return torch::constant_pad_nd(inner, {1, 1}, 0.0);
}

torch::Tensor SpectralHomogenizedOperator2D::rhs(const torch::Tensor& U) {
  const auto opts = torch::TensorOptions().dtype(U.scalar_type()).device(U.device());
  const auto k = torch::fft::fftfreq(P_, L_ / (2.0 * M_PI * P_), opts);
  auto ko = k.clone();
  if (P_ % 2 == 0) ko.index_put_({P_ / 2}, 0.0);
  const auto& D = e_.D;
  const auto V = U.reshape({-1, P_, P_});
  const auto G = e_.G.terms ? chebyshev_value(e_.G, series_[0], V) : V;
  torch::Tensor out;
  if (e_.modulation) {
    if (stale(A_, U)) {
      std::vector<double> a(static_cast<std::size_t>(P_) * P_);
      for (int j = 0; j < P_; ++j)
        for (int i = 0; i < P_; ++i)
          a[j * P_ + i] = e_.modulation->at(origin_ + i * L_ / P_, origin_ + j * L_ / P_, 0.0);
      A_ = to_tensor(a, {P_, P_}, U.device()).to(U.scalar_type());
    }
    const auto ikx = torch::complex(torch::zeros_like(ko), ko).view({1, P_}),
               iky = torch::complex(torch::zeros_like(ko), ko).view({P_, 1});
    const auto Gh = torch::fft::fft2(G);
    const auto Gx = torch::real(torch::fft::ifft2(Gh * ikx)), Gy = torch::real(torch::fft::ifft2(Gh * iky));
    const auto Fx = A_ * (D.xx * Gx + D.xy * Gy), Fy = A_ * (D.xy * Gx + D.yy * Gy);
    out = torch::real(torch::fft::ifft2(torch::fft::fft2(Fx) * ikx + torch::fft::fft2(Fy) * iky));
  } else {
    const auto kx = k.view({1, P_}), ky = k.view({P_, 1});
    const auto lam = D.xx * kx * kx + 2.0 * D.xy * ko.view({1, P_}) * ko.view({P_, 1}) + D.yy * ky * ky;
    out = torch::real(torch::fft::ifft2(torch::fft::fft2(G) * (-lam)));
  }
  if (e_.f.terms) out = out + e_.rho_mean * chebyshev_value(e_.f, series_[1], V);
  return out.reshape({-1, P_ * P_});
}

namespace {

// A float64 tensor [rows, cols...] over raw memory on `dev` (no copy, no ownership).
torch::Tensor over(const double* p, at::IntArrayRef sizes, Device dev) {
  return torch::from_blob(const_cast<double*>(p), sizes,
                          torch::TensorOptions().dtype(torch::kFloat64).device(torch_device(dev)));
}

}  // namespace

TorchOperator& TorchOperator::on_grid(int nodes, Device device) {
  nodes_ = nodes;
  device_ = device;
  return *this;
}

void TorchOperator::rhs(const double* U, double* dUdt, index_t batch) {
  if (nodes_ < 1) throw std::logic_error("TorchOperator: the raw-array interface needs on_grid() first");
  require_default_stream(torch_device(device_));
  torch::NoGradGuard no_grad;
  over(dUdt, {batch, nodes_}, device_).copy_(rhs(over(U, {batch, nodes_}, device_)));
}

void TorchOperator::jacobian(const double* U, double* J, index_t batch) {
  if (nodes_ < 1) throw std::logic_error("TorchOperator: the raw-array interface needs on_grid() first");
  require_default_stream(torch_device(device_));
  over(J, {batch, nodes_, nodes_}, device_).copy_(jacobian(over(U, {batch, nodes_}, device_)));
}

RolloutResult rollout(TorchOperator& op, const torch::Tensor& U0, const std::vector<double>& times,
                      const RolloutParams& p) {
  const auto start = U0.to(torch::kFloat64).contiguous();
  const Device dev = start.is_cuda() ? Device::CUDA : Device::CPU;
  op.on_grid(static_cast<int>(start.size(1)), dev);
  auto r = std::make_shared<CoarseRollout>(rollout_coarse(op, start.data_ptr<double>(), start.size(0), times, p));
  RolloutResult out;
  out.U = view(r, r->U, {start.size(0), static_cast<int64_t>(times.size()), start.size(1)});
  out.steps = r->steps;
  out.rhs_evaluations = r->rhs_evaluations;
  return out;
}

}  // namespace patchlearn::learn
