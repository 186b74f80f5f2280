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

double InitialCondition::operator()(double x) const { return series(x) + shift_; }

std::vector<InitialCondition> draw_initial_conditions(const InitialConditionParams& p) {
  std::vector<InitialCondition> out;
  for (int i = 0; i < p.trajectories; ++i) {
    Rng rng(p.seed, static_cast<std::uint64_t>(i));
    std::vector<double> a(p.modes), phi(p.modes), l(p.modes);
    for (auto& v : a) v = rng.uniform(p.amplitude_lo, p.amplitude_hi);
    for (auto& v : phi) v = rng.uniform(p.phase_lo, p.phase_hi);
    for (auto& v : l) v = rng.uniform(p.frequency_lo, p.frequency_hi);
    out.emplace_back(std::move(a), std::move(l), std::move(phi), p.positivity_shift);
  }
  return out;
}

}  // namespace patchlearn
