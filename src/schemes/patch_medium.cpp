#include "patchlearn/schemes/patch_medium.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "patchlearn/core/error.hpp"
#include "patchlearn/kernels/batched.hpp"

namespace patchlearn {

PatchMedium1D::PatchMedium1D(const FineModel1D& model, const std::vector<index_t>& firsts, index_t n, Device device,
                             index_t max_systems)
    : device_(device), n_(n), inv_dx_(1.0 / model.dx()), nonlinear_(model.nonlinear()) {
  const auto W = static_cast<index_t>(firsts.size());
  if (nonlinear_) {
    const auto t = model.medium_tables(firsts, n);
    u_range_ = model.field().u_range();
    series_a_ = Buffer<double>(device_, t.a.coef);
    series_c_ = Buffer<double>(device_, t.c.coef);
    series_r_ = Buffer<double>(device_, t.r.coef);
    tables_ = t.view(series_a_.data(), series_c_.data(), series_r_.data(), W, true);
    scratch_ = Buffer<double>(device_,
                              static_cast<std::size_t>(kernels::theta_steps_scratch(device_, max_systems, n, tables_)));
  }
  const bool random = model.field().random();
  if (nonlinear_ && !random) return;
  std::vector<double> cond(static_cast<std::size_t>(W * (n - 1))), harmonic;
  for (index_t w = 0; w < W; ++w) {
    const auto a = model.cell_conductances(firsts[w], n - 1);
    std::copy(a.begin(), a.end(), cond.begin() + w * (n - 1));
    if (!random) continue;
    double inv = 0.0;
    for (const double v : a) inv += 1.0 / v;
    harmonic.push_back(static_cast<double>(a.size()) / inv);
  }
  cond_ = Buffer<double>(device_, cond);
  if (random) harmonic_ = Buffer<double>(device_, harmonic);
}

void PatchMedium1D::theta_steps(index_t systems, int count, double dt, double theta, kernels::StepJacobian jac,
                                kernels::EndRows ends, index_t eo, const double* left, const double* right, double* y) {
  kernels::theta_steps(device_, systems, n_, tables_, count, dt, theta, jac, inv_dx_, ends, eo, left, right, y,
                       scratch_.data());
}

void PatchMedium1D::lift_corrector(index_t systems, index_t start, index_t nq, double* y) {
  kernels::lift_corrector(device_, systems, static_cast<index_t>(harmonic_.size()), n_, cond_.data(), harmonic_.data(),
                          tables_, 1.0 / inv_dx_, start, nq, y, scratch_.data());
}

void PatchMedium1D::check_u_range(const std::vector<double>& v, index_t per_trajectory,
                                  const std::function<std::string(std::size_t)>& where) const {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!u_range_.contains(v[i]))
      throw TrajectoryError(fmt::format("U = {:.6g} at ", v[i]), static_cast<index_t>(i) / per_trajectory,
                            fmt::format(", {} is outside medium.u_range [{:.6g}, {:.6g}], where the medium is "
                                        "tabulated; widen medium.u_range",
                                        where(i), u_range_.lo, u_range_.hi));
}

}  // namespace patchlearn
