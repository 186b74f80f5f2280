#include "patchlearn/schemes/patch_dynamics.hpp"

#include <omp.h>

#include <cmath>

#include "patchlearn/core/error.hpp"

namespace patchlearn {

BurstMethod parse_burst_method(const std::string& name) {
  if (name == "backward_euler") return BurstMethod::BackwardEuler;
  if (name == "crank_nicolson") return BurstMethod::CrankNicolson;
  throw ConfigError("patch.method", "'" + name + "' is not a burst method; use backward_euler or crank_nicolson");
}

index_t default_chunk_len(Device device, index_t systems, index_t n) {
  if (device == Device::CUDA) return 64;
  const index_t threads = omp_get_max_threads();
  if (systems >= 2 * threads || n < 4096) return 0;
  return std::max<index_t>(1024, n * systems / (4 * threads));
}

PatchDynamics1D::PatchDynamics1D(const FineModel1D& model, const PatchLayout1D& layout,
                                 const PatchDynamicsParams& params, Device device, index_t max_batch)
    : layout_(layout), params_(params), lifting_(layout_, params.lifting_degree), device_(device),
      max_batch_(max_batch) {
  const index_t P = layout_.patches(), N = layout_.points;
  std::vector<double> cond(static_cast<std::size_t>(P * (N - 1)));
  for (int p = 0; p < P; ++p) {
    auto a = model.conductances(layout_.global_start(p + 1), N - 1);
    std::copy(a.begin(), a.end(), cond.begin() + p * (N - 1));
  }
  cond_ = Buffer<double>(device_, cond);
  y_ = Buffer<double>(device_, static_cast<std::size_t>(max_batch * P * N));
  if (params_.method == BurstMethod::CrankNicolson) work_ = Buffer<double>(device_, y_.size());
  coef_ = Buffer<double>(device_, static_cast<std::size_t>(max_batch * P * lifting_.coefficients()));
  restricted_ = Buffer<double>(device_, static_cast<std::size_t>(max_batch * P));
  theta_ = params_.method == BurstMethod::BackwardEuler ? 1.0 : 0.5;
  const double dt = params_.burst / params_.substeps;
  const index_t chunk = params_.chunk_len >= 0 ? params_.chunk_len : default_chunk_len(device_, max_batch * P, N);
  solver_ = std::make_unique<kernels::BatchedTridiag>(device_, P, N, chunk);
  solver_->assemble_diffusion(cond_, theta_ * dt / (model.dx() * model.dx()), kernels::EndRows::Dirichlet);
  dx2_ = model.dx() * model.dx();
}

void PatchDynamics1D::lift(const double* U, index_t batch) {
  if (batch > max_batch_) throw std::invalid_argument("PatchDynamics1D: batch exceeds max_batch");
  std::vector<double> coef(static_cast<std::size_t>(batch * layout_.patches() * lifting_.coefficients()));
  lifting_.coefficients(U, batch, coef.data());
  coef_.copy_from_host(coef.data(), coef.size());
  kernels::lift(device_, batch * layout_.patches(), layout_.points, layout_.centre, layout_.dx,
                lifting_.coefficients(), coef_.data(), y_.data());
}

std::vector<double> PatchDynamics1D::restrict_teeth(index_t batch) const {
  const index_t systems = batch * layout_.patches();
  kernels::restrict_teeth(device_, systems, layout_.points, 1, layout_.tooth_start, 0, layout_.tooth_points,
                          y_.data(), restricted_.data());
  std::vector<double> R(static_cast<std::size_t>(systems));
  restricted_.copy_to_host(R.data(), R.size());
  return R;
}

std::vector<double> PatchDynamics1D::burst_and_restrict(index_t batch) {
  const index_t systems = batch * layout_.patches(), N = layout_.points;
  const double dt = params_.burst / params_.substeps;
  for (int k = 0; k < params_.substeps; ++k) {
    if (theta_ < 1.0) {
      kernels::flux_update(device_, systems, layout_.patches(), N, cond_.data(), (1.0 - theta_) * dt / dx2_,
                           y_.data(), work_.data());
      std::swap(y_, work_);
    }
    solver_->solve(y_.data(), systems);
  }
  point_steps_ += static_cast<double>(systems) * static_cast<double>(N) * params_.substeps;
  return restrict_teeth(batch);
}

void PatchDynamics1D::rhs(const double* U, double* dUdt, index_t batch) {
  const int M = layout_.macro_nodes, P = layout_.patches();
  lift(U, batch);
  const auto R = burst_and_restrict(batch);
  for (index_t b = 0; b < batch; ++b) {
    dUdt[b * M] = dUdt[b * M + M - 1] = 0.0;
    for (int p = 0; p < P; ++p) {
      const double r = R[b * P + p];
      if (!std::isfinite(r))
        throw RunError("non-finite tooth average in a patch-dynamics burst: trajectory " + std::to_string(b) +
                       ", patch at node " + std::to_string(p + 1));
      dUdt[b * M + p + 1] = (r - U[b * M + p + 1]) / params_.burst;
    }
  }
}

std::vector<double> PatchDynamics1D::patch_values(index_t batch) const {
  std::vector<double> h(static_cast<std::size_t>(batch * layout_.patches() * layout_.points));
  y_.copy_to_host(h.data(), h.size());
  return h;
}

}  // namespace patchlearn
