#include "patchlearn/schemes/coarse_operator.hpp"

#include <cmath>

#include "patchlearn/core/error.hpp"

namespace patchlearn {

MacroMethod parse_macro_method(const std::string& name) {
  if (name == "euler") return MacroMethod::Euler;
  if (name == "rk2") return MacroMethod::RK2;
  if (name == "rk4") return MacroMethod::RK4;
  throw ConfigError("macro.integrator", "'" + name + "' is not a macro integrator; use euler, rk2 or rk4");
}

namespace {

void check_finite(const std::vector<double>& v, index_t M, index_t step, const char* what) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]))
      throw RunError(std::string("non-finite ") + what + " at macro step " + std::to_string(step) + ", trajectory " +
                     std::to_string(i / M) + ", node " + std::to_string(i % M));
}

}  // namespace

CoarseData integrate_coarse(CoarseOperator& op, MacroMethod method, double dt, index_t steps, index_t sample_every,
                            const std::vector<double>& U0, index_t batch, const std::function<void(index_t)>& progress) {
  const index_t M = op.nodes(), size = batch * M;
  CoarseData d;
  d.trajectories = batch;
  d.nodes = M;
  d.times = steps / sample_every + 1;
  d.t.resize(d.times);
  d.U.resize(d.trajectories * d.times * M);
  d.dUdt.resize(d.U.size());
  std::vector<double> U = U0, k1(size), k2(size), k3(size), k4(size), tmp(size);
  auto record = [&](index_t n) {
    d.t[n] = static_cast<double>(n * sample_every) * dt;
    for (index_t b = 0; b < batch; ++b)
      for (index_t j = 0; j < M; ++j) {
        d.U[(b * d.times + n) * M + j] = U[b * M + j];
        d.dUdt[(b * d.times + n) * M + j] = k1[b * M + j];
      }
  };
  auto axpy = [&](const std::vector<double>& k, double a) {
    for (index_t i = 0; i < size; ++i) tmp[i] = U[i] + a * k[i];
  };
  for (index_t s = 0; s <= steps; ++s) {
    op.rhs(U.data(), k1.data(), batch);
    check_finite(k1, M, s, "dU/dt");
    if (s % sample_every == 0) record(s / sample_every);
    if (s == steps) break;
    switch (method) {
      case MacroMethod::Euler:
        for (index_t i = 0; i < size; ++i) U[i] += dt * k1[i];
        break;
      case MacroMethod::RK2:
        axpy(k1, dt);
        op.rhs(tmp.data(), k2.data(), batch);
        for (index_t i = 0; i < size; ++i) U[i] += 0.5 * dt * (k1[i] + k2[i]);
        break;
      case MacroMethod::RK4:
        axpy(k1, 0.5 * dt);
        op.rhs(tmp.data(), k2.data(), batch);
        axpy(k2, 0.5 * dt);
        op.rhs(tmp.data(), k3.data(), batch);
        axpy(k3, dt);
        op.rhs(tmp.data(), k4.data(), batch);
        for (index_t i = 0; i < size; ++i) U[i] += dt / 6.0 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
        break;
    }
    check_finite(U, M, s + 1, "U");
    if (progress) progress(s + 1);
  }
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
