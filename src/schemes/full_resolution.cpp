#include "patchlearn/schemes/full_resolution.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "patchlearn/core/error.hpp"
#include "patchlearn/kernels/batched.hpp"
#include "patchlearn/micro/lattice_ivp.hpp"
#include "patchlearn/schemes/patch_dynamics.hpp"

namespace patchlearn {

FullResolution1D::FullResolution1D(const FineModel1D& model, const PatchLayout1D& teeth,
                                   const FullResolutionParams& params, Device device)
    : dx_(model.dx()),
      nonlinear_(model.nonlinear()),
      u_range_(model.field().u_range()),
      teeth_(teeth),
      params_(params),
      device_(device) {
  N_ = static_cast<index_t>(std::llround(teeth_.length / dx_)) + 1;
  stride_ = static_cast<index_t>(std::llround(teeth_.macro_dx / dx_));
  if (nonlinear_) {
    series_ = model.medium_tables({0}, N_);
    return;
  }
  cond_ = Buffer<double>(device_, model.conductances(0, N_ - 1));
  u_ = Buffer<double>(device_, N_);
  f_ = Buffer<double>(device_, N_);
  d1_ = Buffer<double>(device_, N_);
  d2_ = Buffer<double>(device_, N_);
  teeth_out_ = Buffer<double>(device_, teeth_.macro_nodes - 2);
}

FullResolution1D::Restricted FullResolution1D::restrict_state() {
  const int M = teeth_.macro_nodes;
  const index_t nq = teeth_.tooth_points, start = stride_ - (nq - 1) / 2;
  const auto restrict_teeth = [&](const Buffer<double>& x, std::vector<double>& out) {
    out.assign(M, 0.0);
    kernels::restrict_teeth(device_, 1, N_, M - 2, start, stride_, nq, x.data(), teeth_out_.data());
    teeth_out_.copy_to_host(out.data() + 1, M - 2);
  };
  const auto apply_A = [&](const Buffer<double>& x, Buffer<double>& out) {
    kernels::increment_rhs(device_, 1, 1, N_, cond_.data(), 1.0 / (dx_ * dx_), kernels::EndRows::Dirichlet, 1, nullptr,
                           nullptr, x.data(), out.data());
  };
  Restricted r;
  restrict_teeth(u_, r.U);
  u_.copy_to_host(&r.U[0], 1, 0);
  u_.copy_to_host(&r.U[M - 1], 1, N_ - 1);
  apply_A(u_, f_);  // the Dirichlet rows are 0: the end nodes do not move
  restrict_teeth(f_, r.rate);
  return r;
}

void FullResolution1D::restrict_host(const std::vector<double>& x, double* out) const {
  const index_t nq = teeth_.tooth_points, start = stride_ - (nq - 1) / 2;
  kernels::restrict_teeth(Device::CPU, 1, N_, teeth_.macro_nodes - 2, start, stride_, nq, x.data(), out + 1);
}

void FullResolution1D::run_nonlinear(const std::function<double(double)>& ic, const std::vector<double>& times,
                                     double* U, double* dUdt, const std::function<void(double)>& progress) {
  const int M = teeth_.macro_nodes;
  const auto m = series_.view(series_.a.coef.data(), series_.c.coef.data(), series_.r.coef.data(), 1, true);
  const double inv_dx = 1.0 / dx_;
  std::vector<double> y(N_), rate(N_);
  for (index_t g = 0; g < N_; ++g) y[g] = ic(static_cast<double>(g) * dx_);
  const auto stats = integrate_lattice(m, inv_dx, y, times, params_.rtol, u_range_, "the full-resolution fine run", 0,
                                       [&](std::size_t n, const std::vector<double>& v) {
                                         kernels::fine_rates_system(N_, m, v.data(), inv_dx, rate.data());
                                         restrict_host(v, U + n * M);
                                         restrict_host(rate, dUdt + n * M);
                                         U[n * M] = v[0];
                                         U[n * M + M - 1] = v[N_ - 1];
                                         dUdt[n * M] = dUdt[n * M + M - 1] = 0.0;  // the Dirichlet ends do not move
                                         if (progress) progress(times[n] / std::max(times.back(), 1e-300));
                                       });
  point_steps_ += stats.point_steps;
  accepted_ += stats.accepted;
}

void FullResolution1D::run(const std::function<double(double)>& ic, const std::vector<double>& times, double* U,
                           double* dUdt, const std::function<void(double)>& progress) {
  if (nonlinear_) return run_nonlinear(ic, times, U, dUdt, progress);
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
  kernels::BatchedTridiag implicit(device_, 1, N_, chunk);  // I - d h A, both TR-BDF2 stages
  // Steps come from the ladder dt0 * sqrt(2)^k, so the matrix is refactored only when the
  // controller moves a rung (and once for the last, clipped step).
  const double rung = std::sqrt(2.0);
  const auto ladder = [&](double h) {
    return params_.dt0 * std::pow(rung, std::floor(std::log(h / params_.dt0) / std::log(rung) + 1e-9));
  };
  const double t_last = times.empty() ? 0.0 : times.back();
  double t = 0.0, dt = params_.dt0, factored_dt = -1.0;
  Restricted a = restrict_state();
  std::size_t next = 0;
  const auto emit = [&](const Restricted& r0, const Restricted& r1, double t0, double h) {
    // The cubic Hermite interpolant in time of U (from U and its rate at both ends) and its
    // derivative, for every sample time in [t0, t0 + h]: O(h^4) and O(h^3), within the step's own
    // local error, and exact at the step's ends. (The Hermite interpolant of the rate would need
    // R(A^2 u), which the stiff remainder of the step error swamps on a random medium: there it
    // gave rates off by 100x at late times.)
    for (; next < times.size() && times[next] <= t0 + h * (1 + 1e-14); ++next) {
      const double s = h > 0 ? std::clamp((times[next] - t0) / h, 0.0, 1.0) : 1.0;
      const double h00 = (1 + 2 * s) * (1 - s) * (1 - s), h10 = s * (1 - s) * (1 - s), h01 = s * s * (3 - 2 * s),
                   h11 = s * s * (s - 1);
      const double d10 = (1 - s) * (1 - 3 * s), d11 = s * (3 * s - 2), dU = h > 0 ? 6 * s * (1 - s) / h : 0.0;
      for (int i = 0; i < M; ++i) {
        U[next * M + i] = h00 * r0.U[i] + h * h10 * r0.rate[i] + h01 * r1.U[i] + h * h11 * r1.rate[i];
        dUdt[next * M + i] = dU * (r1.U[i] - r0.U[i]) + d10 * r0.rate[i] + d11 * r1.rate[i];
      }
    }
  };
  emit(a, a, 0.0, 0.0);
  while (next < times.size()) {
    const double h = std::min(dt, t_last - t);
    const double dh = kernels::TrBdf2::d * h, c = dh / (dx_ * dx_);
    if (h != factored_dt) {
      implicit.assemble_diffusion(cond_, c, kernels::EndRows::Dirichlet);
      factored_dt = h;
    }
    const auto apply = [&](const Buffer<double>& from, Buffer<double>& to, double alpha) {
      kernels::increment_rhs(device_, 1, 1, N_, cond_.data(), alpha, kernels::EndRows::Dirichlet, 1, nullptr, nullptr,
                             from.data(), to.data());
    };
    // TR-BDF2 in increment form (kernels/diffusion.hpp): F = A y; d1 from 2 d h F; d2 from
    // d h A z - (1 - w) d1 = d h F + c L d1 - (1 - w) d1.
    apply(u_, f_, 1.0 / (dx_ * dx_));
    kernels::axpby(device_, N_, 2.0 * dh, f_.data(), 0.0, f_.data(), d1_.data());
    implicit.solve(d1_.data(), 1);
    apply(d1_, d2_, c);
    kernels::axpby(device_, N_, 1.0, d2_.data(), dh, f_.data(), d2_.data());
    kernels::axpby(device_, N_, 1.0, d2_.data(), -(1.0 - kernels::TrBdf2::w), d1_.data(), d2_.data());
    implicit.solve(d2_.data(), 1);
    kernels::trbdf2_error_estimate(device_, f_.data(), d1_.data(), d2_.data(), h, f_.data(), N_);
    implicit.solve(f_.data(), 1);
    point_steps_ += 3.0 * static_cast<double>(N_);
    const double err = kernels::max_abs(device_, f_.data(), N_);
    if (!std::isfinite(err))
      throw TrajectoryError("the full-resolution solve of ", 0,
                            fmt::format(" met a non-finite state at t = {:.6g}", t));
    if (err <= tol) {
      kernels::axpby(device_, N_, 1.0, d1_.data(), 1.0, d2_.data(), d1_.data());
      kernels::axpby(device_, N_, 1.0, u_.data(), 1.0, d1_.data(), u_.data());
      const Restricted b = restrict_state();
      emit(a, b, t, h);
      a = b;
      t += h;
      ++accepted_;
      if (progress) progress(t / t_last);
    }
    // Local error ~ C h^3: aim at 0.73 tol, grow at most 2x, shrink at most 5x, onto the ladder.
    const double fac = err > 0 ? 0.9 * std::cbrt(tol / err) : 2.0;
    dt = ladder(std::max(dt, h) * std::clamp(fac, 0.2, 2.0));
  }
}

}  // namespace patchlearn
