#include "patchlearn/coeff/random_medium.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "patchlearn/core/error.hpp"
#include "patchlearn/core/format.hpp"
#include "patchlearn/core/rng.hpp"

namespace patchlearn {

const std::vector<std::string>& RandomMediumSpec::keys(const std::string& distribution) {
  static const std::vector<std::string> lognormal{"mu", "sigma"}, uniform{"lo", "hi"},
      two_phase{"a1", "a2", "fraction"};
  if (distribution == "lognormal") return lognormal;
  if (distribution == "uniform") return uniform;
  if (distribution == "two_phase") return two_phase;
  throw std::invalid_argument("RandomMediumSpec::keys: unknown distribution " + distribution);
}

std::string RandomMediumSpec::Keys::operator()(const std::string& parameter) const {
  const auto it = renamed.find(parameter);
  return section + "." + (it == renamed.end() ? parameter : it->second);
}

void RandomMediumSpec::validate() const { validate(Keys{}); }

void RandomMediumSpec::validate(const Keys& key) const {
  switch (distribution) {
    case Distribution::lognormal:
      if (!(sigma >= 0)) throw ConfigError(key("sigma"), num(sigma) + " must be >= 0");
      if (!(correlation >= 0 && std::isfinite(correlation)))
        throw ConfigError(key("correlation"), num(correlation) + " must be a finite length >= 0 (in cells, l / eps)");
      if (!(std::abs(mu) + 8 * sigma < 700))
        throw ConfigError(key("sigma"), key("mu") + " = " + num(mu) + " and sigma = " + num(sigma) +
                                            " give values of a beyond the range of doubles");
      break;
    case Distribution::uniform:
      if (!(lo > 0)) throw ConfigError(key("lo"), num(lo) + " must be > 0 (a diffusivity is positive)");
      if (!(hi > lo)) throw ConfigError(key("hi"), num(hi) + " must be > " + key("lo") + " = " + num(lo));
      break;
    case Distribution::two_phase:
      if (!(a1 > 0)) throw ConfigError(key("a1"), num(a1) + " must be > 0 (a diffusivity is positive)");
      if (!(a2 > 0)) throw ConfigError(key("a2"), num(a2) + " must be > 0 (a diffusivity is positive)");
      if (!(fraction > 0 && fraction < 1))
        throw ConfigError(key("fraction"), num(fraction) + " is not a volume fraction; use 0 < fraction < 1");
      break;
  }
}

std::vector<double> RandomMediumSpec::draw(std::int64_t cells, std::uint64_t realization) const {
  validate();
  Rng rng(seed, realization);
  std::vector<double> a(static_cast<std::size_t>(cells));
  // The correlated chain's memory (rho = 0: independent cells, the same draws as before).
  const double rho = correlation > 0 ? std::exp(-1.0 / correlation) : 0.0, fresh = std::sqrt(1.0 - rho * rho);
  double g = 0.0;
  bool first = true;
  for (auto& v : a) {
    switch (distribution) {
      case Distribution::lognormal:
        g = first ? rng.normal(0.0, sigma) : rho * g + fresh * rng.normal(0.0, sigma);
        first = false;
        v = std::exp(mu + g);
        break;
      case Distribution::uniform:
        v = rng.uniform(lo, hi);
        break;
      case Distribution::two_phase:
        v = rng.uniform(0.0, 1.0) < fraction ? a1 : a2;
        break;
    }
  }
  return a;
}

std::string RandomMediumSpec::description() const {
  switch (distribution) {
    case Distribution::lognormal:
      return fmt::format(
          "lognormal, log a ~ N({}, {}^2){}", num(mu), num(sigma),
          correlation > 0 ? fmt::format(", exponential correlation over {} cells", num(correlation)) : std::string());
    case Distribution::uniform:
      return fmt::format("uniform on [{}, {})", num(lo), num(hi));
    case Distribution::two_phase:
      return fmt::format("two-phase {} (fraction {}) / {}", num(a1), num(fraction), num(a2));
  }
  return "";
}

double RandomMediumSpec::ergodic_a_star() const {
  switch (distribution) {
    case Distribution::lognormal:  // (correlated or not: the one-point law is the same)
      return std::exp(mu - 0.5 * sigma * sigma);
    case Distribution::uniform:
      return (hi - lo) / std::log(hi / lo);
    case Distribution::two_phase:
      return 1.0 / (fraction / a1 + (1.0 - fraction) / a2);
  }
  return 0.0;
}

CoefficientField random_medium(const RandomMediumSpec& spec, double length, double epsilon, std::uint64_t realization,
                               std::int64_t shift) {
  const auto cells = static_cast<std::int64_t>(std::ceil(length / epsilon * (1 - 1e-12)));
  auto values = spec.draw(cells, realization);
  shift %= cells;
  if (shift < 0) shift += cells;
  std::rotate(values.begin(), values.begin() + shift, values.end());
  return CoefficientField::random_cells(
      std::move(values),
      fmt::format("random cells ({}, seed {}): {}{} of {} cells over the domain", spec.description(), spec.seed,
                  realization ? fmt::format("realization {}", realization) : std::string("one realization"),
                  shift ? fmt::format(" translated by {} cells", shift) : std::string(), cells));
}

}  // namespace patchlearn
