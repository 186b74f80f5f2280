#include "patchlearn/learn/rollout.hpp"

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "patchlearn/core/error.hpp"
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

torch::Tensor EffectiveTorchOperator::rhs(const torch::Tensor& U) {
  const auto M = U.size(1);
  const auto left = U.index({Slice(), Slice(0, M - 2)}), mid = U.index({Slice(), Slice(1, M - 1)}),
             right = U.index({Slice(), Slice(2, M)});
  const auto D1 = (right - left) / (2.0 * dX_), D2 = (right - 2.0 * mid + left) / (dX_ * dX_);
  torch::Tensor inner;
  if (m_.a.terms == 1) {  // a* independent of U
    inner = coefficients(m_.a, series_[0], mid)[0] * D2;
  } else {
    const auto [a, da] = chebyshev(m_.a, series_[0], mid);
    inner = a * D2 + da * D1 * D1;
  }
  if (slope_.terms) inner = inner + chebyshev(slope_, series_[1], mid).first * D1;
  if (m_.c.terms) inner = inner + chebyshev(m_.c, series_[2], mid).first * D1;
  if (m_.r.terms) inner = inner + chebyshev(m_.r, series_[3], mid).first;
  return torch::constant_pad_nd(inner, {1, 1}, 0.0);
}

torch::Tensor SpectralHomogenizedOperator2D::rhs(const torch::Tensor& U) {
  const auto opts = torch::TensorOptions().dtype(U.scalar_type()).device(U.device());
  const auto k = torch::fft::fftfreq(P_, L_ / (2.0 * M_PI * P_), opts);
  auto ko = k.clone();
  if (P_ % 2 == 0) ko.index_put_({P_ / 2}, 0.0);
  const auto& D = e_.D;
  const auto V = U.reshape({-1, P_, P_});
  const auto G = e_.G.terms ? chebyshev(e_.G, series_[0], V).first : V;
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
  if (e_.f.terms) out = out + e_.rho_mean * chebyshev(e_.f, series_[1], V).first;
  return out.reshape({-1, P_ * P_});
}

torch::Tensor EngineOperator::rhs(const torch::Tensor& U) {
  const auto dev = torch_device(op_.device());
  require_default_stream(dev);
  auto x = U.detach().to(dev, torch::kFloat64).contiguous();
  auto out = torch::empty_like(x);
  op_.rhs(x.data_ptr<double>(), out.data_ptr<double>(), x.size(0));
  return out.to(U.device(), U.scalar_type());
}

torch::Tensor EngineOperator::jacobian(const torch::Tensor& U) {
  // Forward differences, perturbing one node at a time for the whole batch.
  const auto M = U.size(1);
  const auto F0 = rhs(U);
  std::vector<torch::Tensor> cols;
  for (int64_t j = 0; j < M; ++j) {
    auto x = U.clone();
    const double h = 1e-6 * std::max(1.0, U.index({Slice(), j}).abs().max().item<double>());
    x.index_put_({Slice(), j}, x.index({Slice(), j}) + h);
    cols.push_back((rhs(x) - F0) / h);
  }
  return torch::stack(cols, 2);
}

namespace {

// Dormand-Prince 5(4) tableau.
constexpr double c2 = 1.0 / 5, c3 = 3.0 / 10, c4 = 4.0 / 5, c5 = 8.0 / 9;
constexpr double a21 = 1.0 / 5;
constexpr double a31 = 3.0 / 40, a32 = 9.0 / 40;
constexpr double a41 = 44.0 / 45, a42 = -56.0 / 15, a43 = 32.0 / 9;
constexpr double a51 = 19372.0 / 6561, a52 = -25360.0 / 2187, a53 = 64448.0 / 6561, a54 = -212.0 / 729;
constexpr double a61 = 9017.0 / 3168, a62 = -355.0 / 33, a63 = 46732.0 / 5247, a64 = 49.0 / 176, a65 = -5103.0 / 18656;
constexpr double b1 = 35.0 / 384, b3 = 500.0 / 1113, b4 = 125.0 / 192, b5 = -2187.0 / 6784, b6 = 11.0 / 84;
constexpr double e1 = 71.0 / 57600, e3 = -71.0 / 16695, e4 = 71.0 / 1920, e5 = -17253.0 / 339200, e6 = 22.0 / 525,
                 e7 = -1.0 / 40;

void check_finite(const torch::Tensor& U, double t) {
  if (!torch::isfinite(U).all().item<bool>())
    throw RunError("rollout produced non-finite values at t = " + std::to_string(t) +
                   " (the model is unstable on these states)");
}

/// The accepted state at t stays within p.bound (RolloutParams).
void check_bounded(const torch::Tensor& U, double t, double bound) {
  if (bound == std::numeric_limits<double>::infinity()) return;
  const double top = U.abs().max().item<double>();
  if (!std::isfinite(top)) check_finite(U, t);
  if (top > bound)
    throw RunError(
        fmt::format("rollout diverged at t = {:.6g}: max |U| = {:.6g} passed {:.6g} (the model is unstable "
                    "on these states)",
                    t, top, bound));
}

}  // namespace

RolloutResult rollout(TorchOperator& op, const torch::Tensor& U0, const std::vector<double>& times,
                      const RolloutParams& p) {
  torch::NoGradGuard no_grad;
  RolloutResult res;
  std::vector<torch::Tensor> out;
  auto U = U0.clone();
  double t = times.empty() ? 0.0 : times.front();
  if (p.method == RolloutMethod::Dopri5) {
    auto k1 = op.rhs(U);
    ++res.rhs_evaluations;
    double h = 1e-6;
    for (double target : times) {
      while (t < target - 1e-14 * std::max(1.0, target)) {
        const double step = std::min(h, target - t);
        auto k2 = op.rhs(U + step * a21 * k1);
        auto k3 = op.rhs(U + step * (a31 * k1 + a32 * k2));
        auto k4 = op.rhs(U + step * (a41 * k1 + a42 * k2 + a43 * k3));
        auto k5 = op.rhs(U + step * (a51 * k1 + a52 * k2 + a53 * k3 + a54 * k4));
        auto k6 = op.rhs(U + step * (a61 * k1 + a62 * k2 + a63 * k3 + a64 * k4 + a65 * k5));
        auto Un = U + step * (b1 * k1 + b3 * k3 + b4 * k4 + b5 * k5 + b6 * k6);
        auto k7 = op.rhs(Un);
        res.rhs_evaluations += 6;
        auto err = step * (e1 * k1 + e3 * k3 + e4 * k4 + e5 * k5 + e6 * k6 + e7 * k7);
        auto sc = p.atol + p.rtol * torch::maximum(U.abs(), Un.abs());
        const double en = (err / sc).pow(2).mean().sqrt().item<double>();
        if (!std::isfinite(en)) check_finite(Un, t), throw RunError("rollout error estimate is not finite");
        if (en <= 1.0) {
          U = Un;
          k1 = k7;
          t += step;
          ++res.steps;
          check_bounded(U, t, p.bound);
        }
        h = step * std::clamp(0.9 * std::pow(std::max(en, 1e-10), -0.2), 0.2, 5.0);
        if (h < 1e-10 * std::max(1.0, times.back()))
          throw RunError("rollout: the Dormand-Prince step fell to " + std::to_string(h) +
                         " at t = " + std::to_string(t) +
                         " (the operator is stiff or unstable here; rollout.method = \"bdf\" handles stiffness)");
      }
      out.push_back(U);
    }
  } else {
    // Simplified Newton: the iteration matrix I - g J is kept across steps and refreshed only when
    // Newton converges slowly (always exact for linear operators, whose J is constant).
    torch::Tensor Uprev, A;
    double A_gamma = -1.0;
    const auto M = U.size(1);
    const auto eye = torch::eye(M, U.options()).unsqueeze(0);
    for (double target : times) {
      const auto n = static_cast<int64_t>(std::llround((target - t) / p.dt));
      if (std::abs(n * p.dt - (target - t)) > 1e-9 * p.dt)
        throw ConfigError("rollout.dt", std::to_string(p.dt) + " must divide the sample spacing");
      for (int64_t s = 0; s < n; ++s) {
        // BDF2: Y - 4/3 U + 1/3 Uprev - 2/3 h F(Y) = 0 (BDF1 on the first step).
        const bool first = !Uprev.defined();
        const double g = first ? p.dt : 2.0 / 3.0 * p.dt;
        const auto base = first ? U : (4.0 / 3.0) * U - (1.0 / 3.0) * Uprev;
        auto Y = first ? U.clone() : 2 * U - Uprev;  // predictor
        const double scale = std::max(1.0, U.abs().max().item<double>());
        bool converged = false;
        for (int attempt = 0; attempt < 2 && !converged; ++attempt) {
          if (attempt == 1 || g != A_gamma) {
            A = eye - g * op.jacobian(Y);
            A_gamma = g;
          }
          for (int it = 0; it < p.newton_max; ++it) {
            const auto G = Y - base - g * op.rhs(Y);
            ++res.rhs_evaluations;
            const auto d = torch::linalg_solve(A, G.unsqueeze(-1)).squeeze(-1);
            Y = Y - d;
            if (d.abs().max().item<double>() <= p.newton_tol * scale) {
              converged = it < p.newton_max / 2 || attempt == 1;
              break;
            }
          }
          if (!converged && attempt == 0) continue;
          if (!converged)
            throw RunError("rollout: Newton did not converge at t = " + std::to_string(t) +
                           " (try a smaller rollout.dt)");
        }
        Uprev = U;
        U = Y;
        t += p.dt;
        ++res.steps;
        check_bounded(U, t, p.bound);
      }
      t = target;
      out.push_back(U);
    }
  }
  check_finite(U, t);
  res.U = torch::stack(out, 1);
  return res;
}

}  // namespace patchlearn::learn
