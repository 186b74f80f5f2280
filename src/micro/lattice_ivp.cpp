#include "patchlearn/micro/lattice_ivp.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "patchlearn/core/error.hpp"

namespace patchlearn {

LatticeIvpStats integrate_lattice(const kernels::MediumTables& m, double inv_dx, std::vector<double>& y,
                                  const std::vector<double>& times, double rtol, URange range, const std::string& what,
                                  index_t trajectory,
                                  const std::function<void(std::size_t, const std::vector<double>&)>& sample) {
  const auto N = static_cast<index_t>(y.size());
  constexpr int K = kMaxExtrapolationLevels;
  // P[c] holds column c of the extrapolation table's latest row (order c + 1), y the start.
  std::vector<std::vector<double>> P(K, std::vector<double>(N));
  std::vector<double> member(N), scratch(kernels::StepScratch::kArrays * N);
  const auto work = kernels::StepScratch::at(scratch.data(), N);
  LatticeIvpStats stats;
  double t = 0, h = 1e-6;
  int target = 3;  // the members the step is planned for
  for (std::size_t n = 0; n < times.size(); ++n) {
    while (t < times[n]) {
      const bool last = t + h >= times[n] * (1 - 1e-14);
      const double hs = last ? times[n] - t : h;
      // err[k]: the error estimate of the order k - 1 value after k members, relative to rtol max |y|.
      std::array<double, K + 1> err{};
      const int most = std::min(K, target + 1);
      int k = 1;
      for (;; ++k) {
        // Member k: k substeps of hs / k. The first factors I - (hs / k) J(y) and keeps the factors,
        // the others reuse them, so every member's matrix is J at the step's start (LIMEX).
        member = y;
        for (int s = 0; s < k; ++s)
          kernels::theta_step(N, m, member.data(), hs / k, 1.0, inv_dx, kernels::EndRows::Dirichlet, 1, 0.0, 0.0, work,
                              s == 0 ? kernels::StepJacobian::Exact : kernels::StepJacobian::Frozen, s == 0);
        stats.point_steps += k * static_cast<double>(N);
        // Aitken-Neville along the new row: T_{k,c+1} = T_{k,c} + (T_{k,c} - T_{k-1,c}) / (k / (k - c) - 1),
        // each member's error expansion holding every power of h; the last correction estimates the
        // error of T_{k,k-1}.
        double e = 0, scale = 0;
        for (index_t i = 0; i < N; ++i) {
          double v = member[i], d = 0;
          for (int c = 1; c < k; ++c) {
            d = (v - P[c - 1][i]) / (static_cast<double>(k) / (k - c) - 1.0);
            P[c - 1][i] = v;
            v += d;
          }
          P[k - 1][i] = v;
          e = std::max(e, std::abs(d));
          scale = std::max(scale, std::abs(v));
        }
        if (k == 1) continue;
        err[k] = e / (rtol * std::max(scale, 1e-300));
        // Done at the first order whose estimate meets the tolerance (a step cut short by a sample
        // time converges early and costs less), at a NaN, or at the planned order plus one.
        if (err[k] <= 1.0 || !std::isfinite(err[k]) || k == most) break;
      }
      if (!(err[k] <= 1.0)) {  // also a NaN estimate
        if (!std::isfinite(err[k]) || hs < 1e-14 * std::max(times[n], 1e-300))
          throw TrajectoryError(what + " of ", trajectory, fmt::format(" failed at t = {:.6g}", t));
        h = hs * std::max(0.2, 0.9 * std::pow(err[k], -1.0 / k));
        continue;
      }
      std::swap(y, P[k - 1]);
      t = last ? times[n] : t + hs;
      ++stats.accepted;
      // The next step's members and length: of the orders this step estimated, the one with the least
      // work (k (k + 1) / 2 substeps) per unit step, one more member when that is the highest here.
      double best = std::numeric_limits<double>::infinity(), next_h = hs;
      for (int j = 2; j <= k; ++j) {
        const double hj = hs * std::clamp(0.9 * std::pow(std::max(err[j], 1e-12), -1.0 / j), 0.2, 4.0);
        const double cost = 0.5 * j * (j + 1) / hj;
        if (cost < best) {
          best = cost;
          target = j;
          next_h = hj;
        }
      }
      if (target == k && k < K) {
        next_h *= static_cast<double>(k + 2) / k;  // W_{k+1} / W_k: the next order at the same cost per step
        ++target;
      }
      if (!last || next_h < hs) h = next_h;
      for (index_t j = 0; j < N; ++j)
        if (!range.contains(y[j]))
          throw TrajectoryError(what + " of ", trajectory,
                                fmt::format(" reaches U = {:.6g} at t = {:.6g}, outside medium.u_range [{:.6g}, "
                                            "{:.6g}]; widen medium.u_range",
                                            y[j], t, range.lo, range.hi));
    }
    sample(n, y);
  }
  return stats;
}

}  // namespace patchlearn
