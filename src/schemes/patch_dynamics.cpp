#include "patchlearn/schemes/patch_dynamics.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "patchlearn/core/error.hpp"
#ifdef PATCHLEARN_HAVE_CUDA
#include "patchlearn/kernels/cuda_ops.hpp"
#endif

namespace patchlearn {

const char* kernels::name_of(kernels::StepJacobian j) { return j == kernels::StepJacobian::Exact ? "exact" : "frozen"; }

const char* name_of(BurstMethod m) { return m == BurstMethod::CrankNicolson ? "crank_nicolson" : "backward_euler"; }

BurstMethod parse_burst_method(const std::string& name) {
  if (name == "backward_euler") return BurstMethod::BackwardEuler;
  if (name == "crank_nicolson") return BurstMethod::CrankNicolson;
  throw ConfigError("patch.method", "'" + name + "' is not a burst method; use backward_euler or crank_nicolson");
}

kernels::EndRows parse_buffer_ends(const std::string& name) {
  if (name == "dirichlet") return kernels::EndRows::Dirichlet;
  if (name == "averaged_gradient") return kernels::EndRows::AveragedGradient;
  throw ConfigError("patch.buffer_ends", "'" + name + "' is not a buffer closure; use dirichlet or averaged_gradient");
}

index_t default_chunk_len(Device device, index_t systems, index_t n) {
  if (device == Device::CUDA) {
#ifdef PATCHLEARN_HAVE_CUDA
    return std::clamp<index_t>(systems * (n - 1) / kernels::cuda::resident_threads(), 16, 64);
#else
    throw RunError("a CUDA chunk length in a build without CUDA");
#endif
  }
  const index_t threads = omp_get_max_threads();
  if (systems >= 2 * threads || n < 4096) return 0;
  return std::max<index_t>(1024, n * systems / (4 * threads));
}

PatchDynamics1D::PatchDynamics1D(const FineModel1D& model, const PatchLayout1D& layout,
                                 const PatchDynamicsParams& params, Device device, index_t max_batch)
    : layout_(layout),
      params_(params),
      moments_(layout_.tooth_moments()),
      device_(device),
      max_batch_(max_batch),
      medium_(model, layout.patch_starts(), layout.points, device, max_batch * layout.patches()) {
  if (params_.lifting_degree != 2 && params_.lifting_degree != 4)
    throw ConfigError("patch.lifting", "degree must be 2 (quadratic) or 4 (quartic)");
  const index_t P = layout_.patches(), N = layout_.points;
  y_ = Buffer<double>(device_, static_cast<std::size_t>(max_batch * P * N));
  if (!medium_.nonlinear()) work_ = Buffer<double>(device_, y_.size());  // the unblocked linear steps' increments
  if (params_.heal_substeps < 0 || params_.heal_substeps >= params_.substeps)
    throw ConfigError("patch.heal_substeps",
                      std::to_string(params_.heal_substeps) +
                          " must be >= 0 and < patch.substeps = " + std::to_string(params_.substeps));
  coef_ = Buffer<double>(device_, static_cast<std::size_t>(max_batch * P * (params_.lifting_degree + 1)));
  if (params_.estimate_degree < 1 || params_.estimate_degree > kernels::kMaxEstimateDegree)
    throw ConfigError("patch.estimate_degree", std::to_string(params_.estimate_degree) + " must be 1, 2 or 3");
  theta_ = params_.method == BurstMethod::BackwardEuler ? 1.0 : 0.5;
  const double dt = params_.burst / params_.substeps;
  // The estimate's restrictions: the healed one, then d more evenly spread over the rest of the burst.
  const int S = params_.substeps, h = params_.heal_substeps, d = params_.degree_on(medium_.nonlinear());
  std::vector<double> times{h * dt};
  for (int k = 1; k <= d; ++k) {
    stops_.push_back(h + k * (S - h) / d);
    times.push_back(stops_.back() * dt);
  }
  weights_ = patch_estimate_weights(times);
  restricted_ = Buffer<double>(device_, static_cast<std::size_t>(max_batch * P * d));
  healed_ = Buffer<double>(device_, static_cast<std::size_t>(max_batch * P));
  const index_t chunk = params_.chunk_len >= 0 ? params_.chunk_len : default_chunk_len(device_, max_batch * P, N);
  if (params_.buffer_ends == kernels::EndRows::AveragedGradient) {
    eo_ = model.points_per_period();
    if (eo_ < 1 || 2 * eo_ > N - 1)
      throw ConfigError(
          "patch.buffer_ends",
          "averaged_gradient needs epsilon / micro.dx to be a whole number and a patch of at least two periods");
    left_ = Buffer<double>(device_, static_cast<std::size_t>(max_batch * P));
    right_ = Buffer<double>(device_, static_cast<std::size_t>(max_batch * P));
  }
  dx2_ = model.dx() * model.dx();
  if (medium_.nonlinear()) return;
  solver_ = std::make_unique<kernels::BatchedTridiag>(device_, P, N, chunk == 0 ? 0 : std::max(chunk, eo_ + 1), eo_);
  solver_->assemble_diffusion(medium_.conductances(), theta_ * dt / dx2_, params_.buffer_ends);
  blocked_ = params_.temporal_blocking && solver_->fits_on_chip();
}

void PatchDynamics1D::lift(const double* U, index_t batch) {
  if (batch > max_batch_) throw std::invalid_argument("PatchDynamics1D: batch exceeds max_batch");
  const int nc = params_.lifting_degree + 1;
  const index_t systems = batch * layout_.patches();
  kernels::lift_coefficients(device_, batch, layout_.macro_nodes, params_.lifting_degree, layout_.macro_dx, moments_, U,
                             coef_.data());
  if (params_.buffer_ends == kernels::EndRows::AveragedGradient) {
    // The lift's rise over the period next to each end: the averaged gradient the ends keep.
    const double half = 0.5 * layout_.patch_width, w = static_cast<double>(eo_) * layout_.dx;
    kernels::lift_rise(device_, systems, nc, coef_.data(), -half, -half + w, left_.data());
    kernels::lift_rise(device_, systems, nc, coef_.data(), half - w, half, right_.data());
  }
  kernels::lift(device_, systems, layout_.points, layout_.centre, layout_.dx, nc, coef_.data(), y_.data());
  if (medium_.harmonic_means().size() > 0)
    medium_.lift_corrector(systems, layout_.tooth_start, layout_.tooth_points, y_.data());
}

void PatchDynamics1D::restrict_into(index_t batch, double* R) const {
  kernels::restrict_teeth(device_, batch * layout_.patches(), layout_.points, 1, layout_.tooth_start, 0,
                          layout_.tooth_points, y_.data(), R);
}

void PatchDynamics1D::substeps(index_t batch, int count) {
  const index_t systems = batch * layout_.patches(), N = layout_.points;
  const double dt = params_.burst / params_.substeps;
  if (medium_.nonlinear()) {
    medium_.theta_steps(systems, count, dt, theta_, params_.jacobian, params_.buffer_ends, eo_, left_.data(),
                        right_.data(), y_.data());
  } else if (blocked_) {
    solver_->fused_steps(y_.data(), systems, count, medium_.conductances().data(), dt / dx2_, params_.buffer_ends,
                         left_.data(), right_.data());
  } else {
    for (int k = 0; k < count; ++k) {
      kernels::increment_rhs(device_, systems, layout_.patches(), N, medium_.conductances().data(), dt / dx2_,
                             params_.buffer_ends, eo_, left_.data(), right_.data(), y_.data(), work_.data());
      solver_->solve(work_.data(), systems);
      kernels::axpby(device_, systems * N, 1.0, y_.data(), 1.0, work_.data(), y_.data());
    }
  }
  point_steps_ += static_cast<double>(systems) * static_cast<double>(N) * count;
}

std::vector<double> PatchDynamics1D::patch_field(index_t b) const {
  const index_t n = static_cast<index_t>(layout_.patches()) * layout_.points;
  std::vector<double> out(n);
  y_.copy_to_host(out.data(), n, b * n);
  return out;
}

StateRange PatchDynamics1D::state_range() const {
  if (!medium_.nonlinear()) return {};
  return {medium_.u_range(), "medium.u_range"};
}

std::vector<double> patch_estimate_weights(const std::vector<double>& t) {
  // L_k'(0) = sum_{i != k} 1 / (t_k - t_i) prod_{j != k, i} (0 - t_j) / (t_k - t_j).
  const std::size_t n = t.size();
  std::vector<double> w(n, 0.0);
  for (std::size_t k = 0; k < n; ++k)
    for (std::size_t i = 0; i < n; ++i) {
      if (i == k) continue;
      double term = 1.0 / (t[k] - t[i]);
      for (std::size_t j = 0; j < n; ++j)
        if (j != k && j != i) term *= -t[j] / (t[k] - t[j]);
      w[k] += term;
    }
  return w;
}

void PatchDynamics1D::rhs(const double* U, double* dUdt, index_t batch) {
  lift(U, batch);
  // Reference estimator: (R(delta_t) - U) / delta_t. Healed estimator: the rate between the end
  // of the healing substeps and the end of the burst, which drops the O(eps^2 / delta_t) jump of
  // the tooth average while the micro-scale corrector forms. A nonlinear medium's macro rate
  // changes within the burst (a linear medium's does not for a quadratic lift), which biases
  // those two-point rates by O(delta_t^d) for a polynomial of degree d in time; there the rate
  // is the derivative at the burst's start of the polynomial through d + 1 restrictions (the end
  // of healing, then d more evenly spread over the rest of the burst: stops_, weights_).
  const int h = params_.heal_substeps, d = static_cast<int>(stops_.size());
  const index_t stride = batch * layout_.patches();
  if (h > 0) {
    substeps(batch, h);
    restrict_into(batch, healed_.data());
  }
  for (int k = 0, done = h; k < d; done = stops_[k++]) {
    substeps(batch, stops_[k] - done);
    restrict_into(batch, restricted_.data() + k * stride);
  }
  kernels::patch_estimates(device_, batch, layout_.macro_nodes, restricted_.data(), d, weights_.data() + 1, U,
                           h > 0 ? healed_.data() : nullptr, dUdt);
}

}  // namespace patchlearn
