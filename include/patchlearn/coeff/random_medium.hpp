#pragma once
// A 1D random medium (issue 17): independent values of a on cells of length eps covering the whole
// domain [0, L], cell k on x in [k eps, (k + 1) eps), drawn once from one distribution:
//   lognormal   log a ~ N(mu, sigma^2)                       (medium.mu, medium.sigma >= 0)
//   uniform     a ~ U[lo, hi)                                 (medium.lo, medium.hi, 0 < lo < hi)
//   two_phase   a = a1 with probability fraction, else a2     (medium.a1, medium.a2 > 0, 0 < fraction < 1)
// The cells are drawn in order from one stream of Rng(medium.seed, 0), so a seed gives the same
// realization on every machine and thread count.
// A lognormal medium with medium.correlation = c = l / eps > 0 is a log-Gaussian field with the
// exponential covariance sigma^2 exp(-|x - x'| / l), sampled at the cell centres: log a_k - mu is
// the stationary AR(1) chain g_0 = sigma xi_0, g_k = rho g_{k-1} + sigma sqrt(1 - rho^2) xi_k with
// rho = exp(-1 / c), exact for that covariance at the centres (the cells stay piecewise constant). The medium is one
// realization, not a period: CoefficientField::random_cells makes it a field that is not periodic.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "patchlearn/coeff/field.hpp"

namespace patchlearn {

struct RandomMediumSpec {
  enum class Distribution { lognormal, uniform, two_phase };
  Distribution distribution = Distribution::lognormal;
  double mu = 0, sigma = 0;               // lognormal
  double lo = 0, hi = 0;                  // uniform
  double a1 = 0, a2 = 0, fraction = 0.5;  // two_phase
  double correlation = 0;                 // lognormal: l / eps in cells; 0: independent cells
  std::uint64_t seed = 0;

  /// The medium.* keys each distribution takes ("lognormal", "uniform", "two_phase").
  static const std::vector<std::string>& keys(const std::string& distribution);
  /// How a config names the parameters: its section and, where they differ, the keys of the
  /// parameters ("a1" -> "k1" on the 2D lattice).
  struct Keys {
    std::string section = "medium";
    std::map<std::string, std::string> renamed;
    std::string operator()(const std::string& parameter) const;
  };
  /// ConfigError naming the first parameter out of range (medium.sigma, medium.lo, ...).
  void validate(const Keys& keys) const;
  void validate() const;
  /// The values of `cells` cells, in order, of realization `realization` (its own stream of the
  /// seed, Rng(seed, realization): realization 0 is the medium of a single-realization config).
  std::vector<double> draw(std::int64_t cells, std::uint64_t realization = 0) const;
  /// One line naming the distribution and its parameters.
  std::string description() const;
  /// The ergodic effective diffusivity of a medium of independent cells in 1D, 1 / E[1/a], exact:
  /// lognormal exp(mu - sigma^2 / 2), uniform (hi - lo) / ln(hi / lo), two-phase
  /// 1 / (fraction / a1 + (1 - fraction) / a2).
  double ergodic_a_star() const;
};

/// Realization `realization` of `spec` over [0, length] with cells of length epsilon (the last cell
/// may reach past L): a field of period-free cells, y = x / epsilon in [0, ceil(L / epsilon)).
/// `shift` > 0 translates it cyclically by that many cells: cell k holds the realization's cell
/// (k + shift) mod cells. A stationary medium's translate is an equally likely medium, and one over
/// whole cells has the same cells, so the same whole-domain a*.
CoefficientField random_medium(const RandomMediumSpec& spec, double length, double epsilon,
                               std::uint64_t realization = 0, std::int64_t shift = 0);

}  // namespace patchlearn
