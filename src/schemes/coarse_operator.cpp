#include "patchlearn/schemes/coarse_operator.hpp"

#include <fmt/format.h>

#include <cmath>

#include "patchlearn/core/error.hpp"
#include "patchlearn/kernels/batched.hpp"

namespace patchlearn {

const char* name_of(RolloutMethod m) {
  static const char* const names[] = {"dopri5", "bdf"};  // in the enum's order
  return names[static_cast<int>(m)];
}

const char* name_of(MacroMethod m) {
  static const char* const names[] = {"euler", "rk2", "rk4"};  // in the enum's order
  return names[static_cast<int>(m)];
}

CoarseData::CoarseData(Device dev, index_t trajectories_, index_t times_, index_t nodes_)
    : trajectories(trajectories_),
      times(times_),
      nodes(nodes_),
      t(times_),
      U(dev, static_cast<std::size_t>(trajectories_ * times_ * nodes_)),
      dUdt(dev, static_cast<std::size_t>(trajectories_ * times_ * nodes_)) {}

CoarseData CoarseData::from_host(Device dev, index_t trajectories, std::vector<double> t, index_t nodes,
                                 const std::vector<double>& U, const std::vector<double>& dUdt, double point_steps) {
  CoarseData d(dev, trajectories, static_cast<index_t>(t.size()), nodes);
  d.t = std::move(t);
  d.U.copy_from_host(U);
  d.dUdt.copy_from_host(dUdt);
  d.point_steps = point_steps;
  return d;
}

BadValueWatch::BadValueWatch(Device dev, index_t count)
    : count_(count), first_(dev, std::vector<unsigned long long>{kernels::kNoBadValue, kernels::kNoBadValue}) {}

void BadValueWatch::look(const double* x, index_t n, double lo, double hi) {
  // The record's tags n * count + i stay below kNoBadValue for any run that fits in memory;
  // refuse rather than wrap.
  if (count_ > 0 &&
      static_cast<unsigned long long>(n) >= kernels::kNoBadValue / static_cast<unsigned long long>(count_) - 1)
    throw RunError("bad-value watch: look " + std::to_string(n) + " of " + std::to_string(count_) +
                   " values overflows its record");
  kernels::mark_bad_values(first_.device(), x, count_, static_cast<unsigned long long>(n) * count_, lo, hi,
                           first_.data());
}

std::optional<BadValueWatch::Found> BadValueWatch::found() const {
  const auto first = first_.to_host();
  const auto at = [&](unsigned long long tag, bool outside) {
    return Found{static_cast<index_t>(tag / count_), static_cast<index_t>(tag % count_), outside};
  };
  if (first[0] == kernels::kNoBadValue && first[1] == kernels::kNoBadValue) return std::nullopt;
  if (first[0] == kernels::kNoBadValue) return at(first[1], true);
  if (first[1] == kernels::kNoBadValue) return at(first[0], false);
  const Found nonfinite = at(first[0], false), outside = at(first[1], true);
  return outside.look <= nonfinite.look ? outside : nonfinite;
}

namespace {

// Names the first non-finite value of a batch (read back only when one exists).
void check_finite(const Buffer<double>& v, index_t M, index_t step, const char* what) {
  if (kernels::count_nonfinite(v.device(), v.data(), static_cast<index_t>(v.size())) == 0) return;
  const auto h = v.to_host();
  for (std::size_t i = 0; i < h.size(); ++i)
    if (!std::isfinite(h[i]))
      throw RunError(std::string("non-finite ") + what + " at macro step " + std::to_string(step) + ", trajectory " +
                     std::to_string(i / M) + ", node " + std::to_string(i % M));
}

}  // namespace

CoarseData integrate_coarse(CoarseOperator& op, MacroMethod method, double dt, index_t steps, index_t sample_every,
                            const std::vector<double>& U0, index_t batch, const std::function<void(index_t)>& progress,
                            index_t check_every) {
  if (check_every < 1) throw std::invalid_argument("integrate_coarse: check_every must be at least 1");
  const Device dev = op.device();
  const index_t M = op.nodes(), size = batch * M;
  CoarseData d(dev, batch, steps / sample_every + 1, M);
  Buffer<double> U(dev, U0), k1(dev, size), k2(dev, size), k3(dev, size), k4(dev, size), tmp(dev, size);
  const auto axpby = [&](double a, const Buffer<double>& x, double b, const Buffer<double>& y, Buffer<double>& out) {
    kernels::axpby(dev, size, a, x.data(), b, y.data(), out.data());
  };
  // Step s's looks: 5s its state U (against the operator's state range), 5s + 1 its rate k1,
  // 5s + 1 + j the state of RK stage j + 1 (j = 1, 2, 3; j = 1 is RK2's one).
  BadValueWatch watch(dev, size);
  const StateRange range = op.state_range();
  const bool bounded = range.bounded();
  const auto stop_at_bad_value = [&] {
    const auto f = watch.found();
    if (!f) return;
    const index_t step = f->look / 5, kind = f->look % 5;
    const std::string where =
        fmt::format("macro step {}{}, trajectory {}, node {}", step,
                    kind >= 2 ? fmt::format(" (RK stage {})", kind - 1) : std::string(), f->index / M, f->index % M);
    if (f->outside)
      throw RunError(
          fmt::format("U at {} (t = {:.6g}) is outside {} [{:.6g}, {:.6g}], where the operator is defined; "
                      "widen {}",
                      where, static_cast<double>(step) * dt, range.key, range.range.lo, range.range.hi, range.key));
    throw RunError(fmt::format("non-finite {} at {}", kind == 1 ? "dU/dt" : "U", where));
  };
  // An operator's own run-time error gains the macro step and time it happened at, unless a bad
  // value before it was the cause.
  index_t s = 0;
  const auto rhs = [&](const Buffer<double>& x, Buffer<double>& out, index_t stage) {
    if (bounded) watch.look(x.data(), 5 * s + (stage == 0 ? 0 : stage + 1), range.range.lo, range.range.hi);
    try {
      op.rhs(x.data(), out.data(), batch);
    } catch (const RunError& e) {
      stop_at_bad_value();
      throw RunError(std::string(e.what()) + " (macro step " + std::to_string(s) +
                     ", t = " + std::to_string(static_cast<double>(s) * dt) + ")");
    }
  };
  for (; s <= steps; ++s) {
    rhs(U, k1, 0);
    watch.look(k1.data(), 5 * s + 1);
    if ((s + 1) % check_every == 0 || s == steps) stop_at_bad_value();
    if (s % sample_every == 0) {
      const index_t n = s / sample_every;
      d.t[n] = static_cast<double>(s) * dt;
      kernels::store_snapshot(dev, batch, M, d.times, n, U.data(), d.U.data());
      kernels::store_snapshot(dev, batch, M, d.times, n, k1.data(), d.dUdt.data());
    }
    if (s == steps) break;
    switch (method) {
      case MacroMethod::Euler:
        axpby(1.0, U, dt, k1, U);
        break;
      case MacroMethod::RK2:
        axpby(1.0, U, dt, k1, tmp);
        rhs(tmp, k2, 1);
        axpby(1.0, k1, 1.0, k2, k2);
        axpby(1.0, U, 0.5 * dt, k2, U);
        break;
      case MacroMethod::RK4:
        axpby(1.0, U, 0.5 * dt, k1, tmp);
        rhs(tmp, k2, 1);
        axpby(1.0, U, 0.5 * dt, k2, tmp);
        rhs(tmp, k3, 2);
        axpby(1.0, U, dt, k3, tmp);
        rhs(tmp, k4, 3);
        axpby(1.0, k1, 2.0, k2, k2);  // k2 <- k1 + 2 k2
        axpby(1.0, k2, 2.0, k3, k2);  //       + 2 k3
        axpby(1.0, k2, 1.0, k4, k2);  //       + k4
        axpby(1.0, U, dt / 6.0, k2, U);
        break;
    }
    if (progress) progress(s + 1);
  }
  check_finite(U, M, steps, "U");
  d.point_steps = op.point_steps();
  return d;
}

}  // namespace patchlearn

namespace patchlearn {
double relative_mse(const std::vector<double>& v, const std::vector<double>& ref) {
  double mean = 0.0;
  for (double r : ref) mean += r;
  mean /= static_cast<double>(ref.size());
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    num += (v[i] - ref[i]) * (v[i] - ref[i]);
    den += (ref[i] - mean) * (ref[i] - mean);
  }
  return num / den;
}
}  // namespace patchlearn
