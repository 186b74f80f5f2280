#include "patchlearn/schemes/integrators.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>

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

namespace {

// The index of the first non-finite value of v, if any (read back to the host only when one exists).
std::optional<std::size_t> first_nonfinite(const Buffer<double>& v) {
  if (kernels::count_nonfinite(v.device(), v.data(), static_cast<index_t>(v.size())) == 0) return std::nullopt;
  const auto h = v.to_host();
  return static_cast<std::size_t>(std::find_if(h.begin(), h.end(), [](double x) { return !std::isfinite(x); }) -
                                  h.begin());
}

// Names the first non-finite value of a batch of M-node states.
void check_finite(const Buffer<double>& v, index_t M, index_t step, const char* what) {
  if (const auto i = first_nonfinite(v))
    throw TrajectoryError(fmt::format("non-finite {} at macro step {}, ", what, step), static_cast<index_t>(*i) / M,
                          fmt::format(", node {}", static_cast<index_t>(*i) % M));
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
    const std::string step_at =
        fmt::format("macro step {}{}, ", step, kind >= 2 ? fmt::format(" (RK stage {})", kind - 1) : std::string());
    const std::string node = fmt::format(", node {}", f->index % M);
    if (f->outside)
      throw TrajectoryError(
          "U at " + step_at, f->index / M,
          fmt::format("{} (t = {:.6g}) is outside {} [{:.6g}, {:.6g}], where the operator is "
                      "defined; widen {}",
                      node, static_cast<double>(step) * dt, range.key, range.range.lo, range.range.hi, range.key));
    throw TrajectoryError(fmt::format("non-finite {} at {}", kind == 1 ? "dU/dt" : "U", step_at), f->index / M, node);
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
      const std::string when = fmt::format(" (macro step {}, t = {:.6g})", s, static_cast<double>(s) * dt);
      if (const auto* about = dynamic_cast<const TrajectoryError*>(&e)) throw about->extended(when);
      throw RunError(e.what() + when);
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

namespace {

// Dormand-Prince 5(4) tableau: stage j's state U + h sum_i a[j][i] k_i, the 5th-order update b
// (FSAL: its rate is the next step's k1) and the error estimate e = b - b*.
constexpr double kA[6][6] = {{1.0 / 5},
                             {3.0 / 40, 9.0 / 40},
                             {44.0 / 45, -56.0 / 15, 32.0 / 9},
                             {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
                             {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
                             {35.0 / 384, 0.0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84}};
constexpr double kE[7] = {71.0 / 57600, 0.0, -71.0 / 16695, 71.0 / 1920, -17253.0 / 339200, 22.0 / 525, -1.0 / 40};

// What a rollout watches on its device: every state the operator is given, against its state
// range (BadValueWatch, read once per step), and every accepted state, against the bound.
class RolloutRun {
 public:
  RolloutRun(CoarseOperator& op, index_t batch, const RolloutParams& p)
      : op_(op),
        p_(p),
        dev_(op.device()),
        batch_(batch),
        size_(batch * op.nodes()),
        range_(op.state_range()),
        watch_(dev_, size_) {}

  Device device() const { return dev_; }
  index_t batch() const { return batch_; }
  index_t nodes() const { return op_.nodes(); }
  index_t size() const { return size_; }
  index_t evaluations() const { return evaluations_; }

  void rhs(const double* U, double* dUdt) {
    if (range_.bounded()) watch_.look(U, looks_++, range_.range.lo, range_.range.hi);
    op_.rhs(U, dUdt, batch_);
    ++evaluations_;
  }

  /// The operator's Jacobian at U (not counted as rate evaluations; U is the Newton iterate that
  /// rhs() is given next, which watches it).
  void jacobian(const double* U, double* J) { op_.jacobian(U, J, batch_); }

  /// Stops where a state the operator was given in the step from t0 to t1 lay outside its range.
  void check_range(double t0, double t1) {
    if (!range_.bounded()) return;
    if (const auto f = watch_.found()) {
      if (!f->outside)
        throw RunError(fmt::format("rollout produced non-finite values between t = {:.6g} and {:.6g}", t0, t1));
      throw RunError(
          fmt::format("rollout: a state in the step from t = {:.6g} to {:.6g} is outside {} [{:.6g}, {:.6g}], "
                      "where the operator is defined; widen {}",
                      t0, t1, range_.key, range_.range.lo, range_.range.hi, range_.key));
    }
  }

  /// Stops at an accepted state at t that is not finite or past the bound.
  void check_bound(const Buffer<double>& U, double t) {
    if (p_.bound == std::numeric_limits<double>::infinity()) return;
    const double top = kernels::max_abs(dev_, U.data(), size_);
    if (!std::isfinite(top)) check_finite(U, t);
    if (top > p_.bound)
      throw RunError(
          fmt::format("rollout diverged at t = {:.6g}: max |U| = {:.6g} passed {:.6g} (the model is unstable "
                      "on these states)",
                      t, top, p_.bound));
  }

  void check_finite(const Buffer<double>& U, double t) const {
    if (const auto i = first_nonfinite(U))
      throw TrajectoryError(
          fmt::format("rollout produced non-finite values at t = {:.6g}, ", t), static_cast<index_t>(*i) / op_.nodes(),
          fmt::format(", node {} (the model is unstable on these states)", static_cast<index_t>(*i) % op_.nodes()));
  }

 private:
  CoarseOperator& op_;
  const RolloutParams& p_;
  Device dev_;
  index_t batch_, size_;
  StateRange range_;
  BadValueWatch watch_;
  index_t looks_ = 0, evaluations_ = 0;
};

void dopri5(RolloutRun& run, Buffer<double>& U, const std::vector<double>& times, const RolloutParams& p,
            const std::function<void(index_t)>& sample, index_t& steps) {
  const Device dev = run.device();
  const index_t size = run.size();
  std::vector<Buffer<double>> k;
  for (int i = 0; i < 7; ++i) k.emplace_back(dev, size);
  Buffer<double> stage(dev, size), next(dev, size), err(dev, size);
  double t = times.empty() ? 0.0 : times.front();
  run.rhs(U.data(), k[0].data());
  double h = 1e-6;
  for (std::size_t n = 0; n < times.size(); ++n) {
    const double target = times[n];
    while (t < target - 1e-14 * std::max(1.0, target)) {
      const double step = std::min(h, target - t);
      const double* kp[7];
      for (int i = 0; i < 7; ++i) kp[i] = k[i].data();
      for (int j = 1; j <= 5; ++j) {
        kernels::stage_sum(dev, size, step, U.data(), j, kA[j - 1], kp, stage.data());
        run.rhs(stage.data(), k[j].data());
      }
      kernels::stage_sum(dev, size, step, U.data(), 6, kA[5], kp, next.data());
      run.rhs(next.data(), k[6].data());
      kernels::stage_sum(dev, size, step, nullptr, 7, kE, kp, err.data());
      kernels::scaled_error(dev, size, err.data(), U.data(), next.data(), p.atol, p.rtol, err.data());
      run.check_range(t, t + step);
      const double en = std::sqrt(kernels::sum_squares(dev, err.data(), size) / static_cast<double>(size));
      if (!std::isfinite(en)) {
        run.check_finite(next, t + step);
        throw RunError(fmt::format("rollout error estimate is not finite at t = {:.6g}", t));
      }
      if (en <= 1.0) {
        std::swap(U, next);
        std::swap(k[0], k[6]);  // FSAL
        t += step;
        ++steps;
        run.check_bound(U, t);
      }
      h = step * std::clamp(0.9 * std::pow(std::max(en, 1e-10), -0.2), 0.2, 5.0);
      if (h < 1e-10 * std::max(1.0, times.back()))
        throw RunError(
            fmt::format("rollout: the Dormand-Prince step fell to {:.3g} at t = {:.6g} (the operator is "
                        "stiff or unstable here; rollout.method = \"bdf\" handles stiffness)",
                        h, t));
    }
    sample(static_cast<index_t>(n));
  }
}

void bdf2(RolloutRun& run, Buffer<double>& U, const std::vector<double>& times, const RolloutParams& p,
          const std::function<void(index_t)>& sample, index_t& steps) {
  const Device dev = run.device();
  const index_t size = run.size(), M = run.nodes(), batch = run.batch();
  Buffer<double> prev(dev, size), base(dev, size), Y(dev, size), F(dev, size), d(dev, size);
  Buffer<double> J(dev, static_cast<std::size_t>(size * M)), A(dev, static_cast<std::size_t>(size * M));
  Buffer<index_t> pivots(dev, static_cast<std::size_t>(size));
  const auto axpby = [&](double a, const double* x, double b, const double* y, double* out) {
    kernels::axpby(dev, size, a, x, b, y, out);
  };
  bool has_prev = false;
  double A_gamma = -1.0, t = times.empty() ? 0.0 : times.front();
  for (std::size_t n = 0; n < times.size(); ++n) {
    const double target = times[n];
    const auto count = static_cast<index_t>(std::llround((target - t) / p.dt));
    if (std::abs(static_cast<double>(count) * p.dt - (target - t)) > 1e-9 * p.dt)
      throw ConfigError("rollout.dt", fmt::format("{} must divide the sample spacing", p.dt));
    for (index_t s = 0; s < count; ++s) {
      // BDF2: Y - 4/3 U + 1/3 prev - 2/3 h F(Y) = 0 (BDF1, Y - U - h F(Y) = 0, on the first step),
      // from the predictor 2 U - prev (U).
      const double g = has_prev ? 2.0 / 3.0 * p.dt : p.dt;
      if (has_prev) {
        axpby(4.0 / 3.0, U.data(), -1.0 / 3.0, prev.data(), base.data());
        axpby(2.0, U.data(), -1.0, prev.data(), Y.data());
      } else {
        base.copy_from_device(U.data(), size);
        Y.copy_from_device(U.data(), size);
      }
      const double scale = std::max(1.0, kernels::max_abs(dev, U.data(), size));
      bool converged = false;
      for (int attempt = 0; attempt < 2 && !converged; ++attempt) {
        if (attempt == 1 || g != A_gamma) {
          run.jacobian(Y.data(), J.data());
          kernels::shifted_identity(dev, batch, M, g, J.data(), A.data());
          kernels::lu_factor(dev, batch, M, A.data(), pivots.data());
          A_gamma = g;
        }
        for (int it = 0; it < p.newton_max; ++it) {
          run.rhs(Y.data(), F.data());
          axpby(1.0, Y.data(), -1.0, base.data(), d.data());
          axpby(1.0, d.data(), -g, F.data(), d.data());
          kernels::lu_solve(dev, batch, M, A.data(), pivots.data(), d.data());
          axpby(1.0, Y.data(), -1.0, d.data(), Y.data());
          if (kernels::max_abs(dev, d.data(), size) <= p.newton_tol * scale) {
            converged = it < p.newton_max / 2 || attempt == 1;
            break;
          }
        }
      }
      run.check_range(t, t + p.dt);
      if (!converged) {
        run.check_finite(Y, t + p.dt);
        throw RunError(fmt::format("rollout: Newton did not converge at t = {:.6g} (try a smaller rollout.dt)", t));
      }
      std::swap(prev, U);
      std::swap(U, Y);
      has_prev = true;
      t += p.dt;
      ++steps;
      run.check_bound(U, t);
    }
    t = target;
    sample(static_cast<index_t>(n));
  }
}

}  // namespace

CoarseRollout rollout_coarse(CoarseOperator& op, const double* U0, index_t batch, const std::vector<double>& times,
                             const RolloutParams& p) {
  if (!std::is_sorted(times.begin(), times.end())) throw std::invalid_argument("rollout_coarse: times not ascending");
  if (op.nodes() < 1) throw std::invalid_argument("rollout_coarse: the operator has no nodes");
  RolloutRun run(op, batch, p);
  const Device dev = run.device();
  const index_t M = op.nodes(), T = static_cast<index_t>(times.size());
  CoarseRollout out;
  out.U = Buffer<double>(dev, static_cast<std::size_t>(batch * T * M));
  Buffer<double> U(dev, static_cast<std::size_t>(run.size()));
  U.copy_from_device(U0, run.size());
  const auto sample = [&](index_t n) { kernels::store_snapshot(dev, batch, M, T, n, U.data(), out.U.data()); };
  if (p.method == RolloutMethod::Dopri5)
    dopri5(run, U, times, p, sample, out.steps);
  else
    bdf2(run, U, times, p, sample, out.steps);
  run.check_finite(U, times.empty() ? 0.0 : times.back());
  out.rhs_evaluations = run.evaluations();
  return out;
}

}  // namespace patchlearn
