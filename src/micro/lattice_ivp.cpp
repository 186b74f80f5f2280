#include "patchlearn/micro/lattice_ivp.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "patchlearn/core/error.hpp"

namespace patchlearn {

LatticeIvpStats integrate_lattice(const kernels::MediumTables& m, double inv_dx, std::vector<double>& y,
                                  const std::vector<double>& times, double rtol, URange range, const std::string& what,
                                  const std::function<void(std::size_t, const std::vector<double>&)>& sample) {
  const auto N = static_cast<index_t>(y.size());
  std::vector<double> y1(N), y2(N), scratch(kernels::StepScratch::kArrays * N);
  const auto work = kernels::StepScratch::at(scratch.data(), N);
  const auto step = [&](std::vector<double>& v, double h) {
    kernels::theta_step(N, m, v.data(), h, 1.0, inv_dx, kernels::EndRows::Dirichlet, 1, 0.0, 0.0, work);
  };
  LatticeIvpStats stats;
  double t = 0, h = 1e-6;
  for (std::size_t n = 0; n < times.size(); ++n) {
    while (t < times[n]) {
      const bool last = t + h >= times[n] * (1 - 1e-14);
      const double hs = last ? times[n] - t : h;
      y1 = y;
      step(y1, hs);
      y2 = y;
      step(y2, 0.5 * hs);
      step(y2, 0.5 * hs);
      stats.point_steps += 3.0 * static_cast<double>(N);
      double err = 0, scale = 0;
      for (index_t j = 0; j < N; ++j) {
        err = std::max(err, std::abs(y2[j] - y1[j]));
        scale = std::max(scale, std::abs(y2[j]));
      }
      err /= rtol * std::max(scale, 1e-300);
      if (!(err <= 1.0)) {  // also rejects a NaN estimate
        if (!std::isfinite(err) || hs < 1e-14 * std::max(times[n], 1e-300))
          throw RunError(fmt::format("{} failed at t = {:.6g}", what, t));
        h = hs * std::max(0.2, 0.9 / std::sqrt(err));
        continue;
      }
      for (index_t j = 0; j < N; ++j) y[j] = 2.0 * y2[j] - y1[j];
      t = last ? times[n] : t + hs;
      ++stats.accepted;
      const double grow = std::min(4.0, 0.9 / std::sqrt(std::max(err, 1e-12)));
      if (!last || grow < 1.0) h = hs * grow;
      for (index_t j = 0; j < N; ++j)
        if (!range.contains(y[j]))
          throw RunError(
              fmt::format("{} reaches U = {:.6g} at t = {:.6g}, outside medium.u_range [{:.6g}, {:.6g}]; "
                          "widen medium.u_range",
                          what, y[j], t, range.lo, range.hi));
    }
    sample(n, y);
  }
  return stats;
}

}  // namespace patchlearn
