#include "patchlearn/micro/initial_conditions.hpp"

#include <algorithm>
#include <cmath>

#include "patchlearn/core/rng.hpp"

namespace patchlearn {

InitialCondition::InitialCondition(std::vector<double> amplitude, std::vector<double> frequency,
                                   std::vector<double> phase, bool positivity_shift)
    : a_(std::move(amplitude)), l_(std::move(frequency)), phi_(std::move(phase)) {
  if (positivity_shift) {
    double rmin = series(0.0);
    for (int j = 0; j < 128; ++j) rmin = std::min(rmin, series(2.0 * M_PI * j / 127.0));
    if (rmin < 0.05) shift_ = std::abs(rmin) + 0.1;
  }
}

double InitialCondition::series(double x) const {
  double s = 0.0;
  for (std::size_t k = 0; k < a_.size(); ++k) s += a_[k] * std::sin(2.0 * M_PI * l_[k] * x + phi_[k]);
  return s;
}

InitialCondition InitialCondition::with_front(double x0, double w) const {
  InitialCondition c = *this;
  c.shift_ = 0.0;
  c.front_x0_ = x0;
  c.front_w_ = w;
  return c;
}

double InitialCondition::operator()(double x) const {
  const double front = front_w_ > 0 ? 0.5 * (1.0 - std::tanh((x - front_x0_) / front_w_)) : 0.0;
  return series(x) + shift_ + front;
}

std::vector<InitialCondition> draw_initial_conditions(const InitialConditionParams& p) {
  std::vector<InitialCondition> out;
  for (int i = 0; i < p.trajectories; ++i) {
    Rng rng(p.seed, static_cast<std::uint64_t>(i));
    std::vector<double> a(p.modes), phi(p.modes), l(p.modes);
    for (auto& v : a) v = rng.uniform(p.amplitude_lo, p.amplitude_hi);
    for (auto& v : phi) v = rng.uniform(p.phase_lo, p.phase_hi);
    for (auto& v : l) v = rng.uniform(p.frequency_lo, p.frequency_hi);
    InitialCondition c(std::move(a), std::move(l), std::move(phi), p.positivity_shift && !p.front);
    if (p.front) {
      const double x0 = rng.uniform(p.front_position_lo, p.front_position_hi);
      c = c.with_front(x0, rng.uniform(p.front_width_lo, p.front_width_hi));
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace patchlearn

namespace patchlearn {

double InitialCondition2D::operator()(double x, double y) const {
  double s = 0.0;
  for (std::size_t j = 0; j < a.size(); ++j) s += a[j] * std::sin(lx[j] * x + px[j]) * std::sin(ly[j] * y + py[j]);
  return s;
}

void InitialCondition2D::on_grid(const std::vector<double>& xs, const std::vector<double>& ys, double* out) const {
  const std::size_t nx = xs.size(), ny = ys.size(), modes = a.size();
  std::vector<double> X(modes * nx), Y(modes * ny);
  for (std::size_t j = 0; j < modes; ++j) {
    for (std::size_t i = 0; i < nx; ++i) X[j * nx + i] = std::sin(lx[j] * xs[i] + px[j]);
    for (std::size_t k = 0; k < ny; ++k) Y[j * ny + k] = std::sin(ly[j] * ys[k] + py[j]);
  }
#pragma omp parallel for
  for (std::size_t k = 0; k < ny; ++k) {
    double* row = out + k * nx;
    std::fill(row, row + nx, 0.0);
    for (std::size_t j = 0; j < modes; ++j) {
      const double* Xj = X.data() + j * nx;
      const double ay = Y[j * ny + k];
      for (std::size_t i = 0; i < nx; ++i) row[i] += a[j] * Xj[i] * ay;
    }
  }
}

std::vector<InitialCondition2D> draw_initial_conditions_2d(const InitialConditionParams2D& p) {
  std::vector<InitialCondition2D> out;
  for (int i = 0; i < p.trajectories; ++i) {
    Rng rng(p.seed, static_cast<std::uint64_t>(i));
    InitialCondition2D ic;
    // l whole periods of the domain (2 pi / L is exactly 1 for the paper's L = 2 pi).
    const double unit = 2 * M_PI / p.length;
    auto wavenumber = [&] { return std::floor(rng.uniform(p.k_lo, p.k_hi + 1.0)) * unit; };
    auto phase = [&] {
      return p.reference_phases ? M_PI * std::floor(rng.uniform(0.0, 2.0)) : rng.uniform(0.0, 2.0 * M_PI);
    };
    for (int j = 0; j < p.modes; ++j) {
      ic.a.push_back(rng.uniform(p.amplitude_lo, p.amplitude_hi));
      ic.lx.push_back(wavenumber());
      ic.ly.push_back(wavenumber());
      ic.px.push_back(phase());
      ic.py.push_back(phase());
    }
    out.push_back(std::move(ic));
  }
  return out;
}

}  // namespace patchlearn
