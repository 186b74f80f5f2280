#include "patchlearn/schemes/full_resolution.hpp"

#include <algorithm>
#include <cmath>

#include "patchlearn/core/error.hpp"
#include "patchlearn/kernels/batched.hpp"
#include "patchlearn/schemes/patch_dynamics.hpp"

namespace patchlearn {

FullResolution1D::FullResolution1D(const FineModel1D& model, const PatchLayout1D& teeth,
                                   const FullResolutionParams& params, Device device)
    : dx_(model.dx()), teeth_(teeth), params_(params), device_(device) {
  N_ = static_cast<index_t>(std::llround(teeth_.length / dx_)) + 1;
  stride_ = static_cast<index_t>(std::llround(teeth_.macro_dx / dx_));
  cond_ = Buffer<double>(device_, model.conductances(0, N_ - 1));
  u_ = Buffer<double>(device_, N_);
  d1_ = Buffer<double>(device_, N_);
  d2_ = Buffer<double>(device_, N_);
  d3_ = Buffer<double>(device_, N_);
  tmp_ = Buffer<double>(device_, N_);
}

void FullResolution1D::restrict_state(double* U, double* dUdt) {
  const int M = teeth_.macro_nodes;
  const index_t nq = teeth_.tooth_points, start = stride_ - (nq - 1) / 2;
  std::vector<double> R(M - 2), Rr(M - 2);
  Buffer<double> out(device_, M - 2);
  kernels::restrict_teeth(device_, 1, N_, M - 2, start, stride_, nq, u_.data(), out.data());
  out.copy_to_host(R.data(), R.size());
  kernels::increment_rhs(device_, 1, 1, N_, cond_.data(), 1.0 / (dx_ * dx_), kernels::EndRows::Dirichlet, 1,
                         nullptr, nullptr, u_.data(), d1_.data());
  kernels::restrict_teeth(device_, 1, N_, M - 2, start, stride_, nq, d1_.data(), out.data());
  out.copy_to_host(Rr.data(), Rr.size());
  double ends[2];
  u_.copy_to_host(&ends[0], 1, 0);
  u_.copy_to_host(&ends[1], 1, N_ - 1);
  U[0] = ends[0];
  U[M - 1] = ends[1];
  dUdt[0] = dUdt[M - 1] = 0.0;
  for (int i = 1; i < M - 1; ++i) {
    U[i] = R[i - 1];
    dUdt[i] = Rr[i - 1];
  }
}

void FullResolution1D::run(const std::function<double(double)>& ic, const std::vector<double>& times, double* U,
                           double* dUdt) {
  const int M = teeth_.macro_nodes;
  std::vector<double> u0(N_);
  double scale = 0.0;
#pragma omp parallel for reduction(max : scale)
  for (index_t g = 0; g < N_; ++g) {
    u0[g] = ic(static_cast<double>(g) * dx_);
    scale = std::max(scale, std::abs(u0[g]));
  }
  u_.copy_from_host(u0);
  const double tol = params_.rtol * std::max(scale, 1e-300);
  const index_t chunk = params_.chunk_len >= 0 ? params_.chunk_len : default_chunk_len(device_, 1, N_);
  kernels::BatchedTridiag full(device_, 1, N_, chunk), half(device_, 1, N_, chunk);
  double t = 0.0, dt = params_.dt0, factored_dt = -1.0;
  for (std::size_t n = 0; n < times.size(); ++n) {
    while (t < times[n] * (1 - 1e-14)) {
      const double h = std::min(dt, times[n] - t);
      if (h != factored_dt) {
        full.assemble_diffusion(cond_, h / (dx_ * dx_), kernels::EndRows::Dirichlet);
        half.assemble_diffusion(cond_, 0.5 * h / (dx_ * dx_), kernels::EndRows::Dirichlet);
        factored_dt = h;
      }
      // Increments: d1 over h; d2 then d3 over the two halves (from u, then from u + d2).
      const double c = h / (dx_ * dx_);
      const auto rhs = [&](const Buffer<double>& from, Buffer<double>& to, double alpha) {
        kernels::increment_rhs(device_, 1, 1, N_, cond_.data(), alpha, kernels::EndRows::Dirichlet, 1, nullptr,
                               nullptr, from.data(), to.data());
      };
      rhs(u_, d1_, c);
      full.solve(d1_.data(), 1);
      rhs(u_, d2_, 0.5 * c);
      half.solve(d2_.data(), 1);
      kernels::axpby(device_, N_, 1.0, u_.data(), 1.0, d2_.data(), tmp_.data());
      rhs(tmp_, d3_, 0.5 * c);
      half.solve(d3_.data(), 1);
      kernels::axpby(device_, N_, 1.0, d2_.data(), 1.0, d3_.data(), d2_.data());
      point_steps_ += 3.0 * static_cast<double>(N_);
      const double err = kernels::richardson_extrapolate(device_, u_.data(), d1_.data(), d2_.data(), tmp_.data(), N_);
      if (!std::isfinite(err))
        throw RunError("non-finite fine state in the full-resolution solve at t = " + std::to_string(t));
      if (err <= tol) {
        std::swap(u_, tmp_);
        t += h;
        ++accepted_;
      }
      // Step-doubling error ~ C h^2: aim at 0.8 tol, grow at most 2x, shrink at most 5x.
      const double fac = err > 0 ? 0.9 * std::sqrt(tol / err) : 2.0;
      dt = h * std::clamp(fac, 0.2, 2.0);
    }
    restrict_state(U + n * M, dUdt + n * M);
  }
}

}  // namespace patchlearn
