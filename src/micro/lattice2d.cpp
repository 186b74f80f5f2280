#include "patchlearn/micro/lattice2d.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "patchlearn/core/error.hpp"
#include "patchlearn/core/rng.hpp"

namespace patchlearn {
namespace {
index_t wrap(index_t i, int m) {
  const index_t r = i % m;
  return r < 0 ? r + m : r;
}
}  // namespace

KappaTables KappaTables::paper() {
  KappaTables t;
  t.mx = t.my = 3;
  t.cx = {1.0568443800327378, 0.6667688764170373, 1.1567570793183417, 6.58943280148587,  0.8682722106552978,
          2.417373110621216,  0.9472880471239477, 1.1406934498430858, 1.6610331475130502};
  t.cy = {3.635489827254553,   0.44704165916815564, 2.389572961353843,  0.8627884628122521, 4.855807353407596,
          0.28333722696940417, 4.502451125633513,   1.5864704356781725, 0.5679225873812012};
  return t;
}

KappaTables KappaTables::lognormal(int mx, int my, double sigma, std::uint64_t seed) {
  KappaTables t;
  t.mx = mx;
  t.my = my;
  Rng rng(seed, 0);
  auto draw = [&] {
    // Box-Muller from two uniforms in (0, 1].
    const double u1 = 1.0 - rng.uniform(0.0, 1.0), u2 = rng.uniform(0.0, 1.0);
    return std::exp(sigma * std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
  };
  for (int k = 0; k < mx * my; ++k) t.cx.push_back(draw());
  for (int k = 0; k < mx * my; ++k) t.cy.push_back(draw());
  return t;
}

KappaTables KappaTables::random_lattice(int N, const RandomMediumSpec& law) {
  KappaTables t;
  t.mx = t.my = N;
  const auto n = static_cast<std::int64_t>(N) * N;
  const auto v = law.draw(2 * n);
  t.cx.assign(v.begin(), v.begin() + n);
  t.cy.assign(v.begin() + n, v.end());
  t.whole_lattice = true;
  return t;
}

KappaTables KappaTables::modulated(int N, double h, index_t origin, const MediumExpression& A) const {
  KappaTables t = *this;
  t.mx = t.my = N;
  t.whole_lattice = true;
  t.tile_mx = mx;
  t.tile_my = my;
  const auto n = static_cast<std::size_t>(N) * N;
  t.cx.resize(n);
  t.cy.resize(n);
  const auto factor = [&](double x, double y) {
    const double a = A.at(x, y, 0.0);
    if (!(a > 0) || !std::isfinite(a))
      throw ConfigError(A.key(), fmt::format("is {} at (x, y) = ({:.6g}, {:.6g}); it must be finite and > 0 on the "
                                             "domain (it multiplies every bond)",
                                             a, x, y));
    return a;
  };
  for (int i = 0; i < N; ++i)
    for (int j = 0; j < N; ++j) {
      const std::size_t k = static_cast<std::size_t>(i % mx) * my + j % my, w = static_cast<std::size_t>(i) * N + j;
      const auto p = static_cast<double>(wrap(origin + i, N)), q = static_cast<double>(wrap(origin + j, N));
      t.cx[w] = cx[k] * factor((p + 0.5) * h, q * h);
      t.cy[w] = cy[k] * factor(p * h, (q + 0.5) * h);
    }
  return t;
}

KappaTables KappaTables::window(int x0, int y0, int W) const {
  KappaTables t;
  t.mx = t.my = W;
  t.conductance_factor = conductance_factor;
  t.reaction = reaction;
  t.u_range = u_range;
  for (int i = 0; i < W; ++i)
    for (int j = 0; j < W; ++j) {
      const std::size_t k = static_cast<std::size_t>((x0 + i) % mx) * my + (y0 + j) % my;
      t.cx.push_back(cx[k]);
      t.cy.push_back(cy[k]);
      if (!reaction_rate.empty()) t.reaction_rate.push_back(reaction_rate[k]);
    }
  return t;
}

BondPlacement parse_bond_placement(const std::string& name) {
  if (name == "reference") return BondPlacement::Reference;
  if (name == "aligned") return BondPlacement::Aligned;
  throw ConfigError("lattice.placement", "'" + name + "' is not valid; use reference or aligned");
}

Lattice2D::Lattice2D(KappaTables tables, BondPlacement placement, double h, index_t origin)
    : t_(std::move(tables)), placement_(placement), h_(h), origin_(origin) {
  if (t_.mx < 1 || t_.my < 1 || t_.cx.size() != static_cast<std::size_t>(t_.mx * t_.my) || t_.cy.size() != t_.cx.size())
    throw ConfigError("lattice.kappa_x", "the diffusivity tables must both be mx x my with mx, my >= 1");
  for (double v : t_.cx)
    if (!(v > 0) || !std::isfinite(v)) throw ConfigError("lattice.kappa_x", "every diffusivity must be finite and > 0");
  for (double v : t_.cy)
    if (!(v > 0) || !std::isfinite(v)) throw ConfigError("lattice.kappa_y", "every diffusivity must be finite and > 0");
  const int mx = t_.period_x(), my = t_.period_y();
  if (!t_.reaction_rate.empty() && t_.reaction_rate.size() != static_cast<std::size_t>(mx) * my)
    throw ConfigError("lattice.reaction_rate",
                      "the reaction-rate table must have the period of the diffusivity tables, " + std::to_string(mx) +
                          " x " + std::to_string(my));
}

void KappaTables::require_linear() const {
  const std::string key = nonlinear_key();
  if (!key.empty())
    throw ConfigError(key,
                      "makes the lattice u-dependent, which the 2D schemes (simulate, run, bench) do not model yet; "
                      "`patchlearn cell CONFIG --u VALUE` gives its effective coefficients at a value of u");
}

KappaTables KappaTables::linear_part() const {
  KappaTables t;
  t.mx = mx;
  t.my = my;
  t.cx = cx;
  t.cy = cy;
  t.u_range = u_range;
  return t;
}

KappaTables KappaTables::at(double u) const {
  require_in_range(u_range, u, "lattice.u_range");
  KappaTables t = linear_part();
  const double g = factor(u);
  for (double& k : t.cx) k *= g;
  for (double& k : t.cy) k *= g;
  return t;
}

std::string KappaTables::nonlinear_key() const {
  if (conductance_factor) return conductance_factor->key();
  if (reaction) return reaction->key();
  return "";
}

double Lattice2D::rho(index_t x, index_t y) const {
  if (t_.reaction_rate.empty()) return 1.0;
  const index_t mx = t_.period_x(), my = t_.period_y();
  return t_.reaction_rate[wrap(x - origin_, mx) * my + wrap(y - origin_, my)];
}

double Lattice2D::mean_rho() const {
  const index_t mx = t_.period_x(), my = t_.period_y();
  double sum = 0;
  for (index_t y = 0; y < my; ++y)
    for (index_t x = 0; x < mx; ++x) sum += rho(origin_ + x, origin_ + y);
  return sum / static_cast<double>(mx * my);
}

double Lattice2D::kx(index_t x, index_t y) const {
  const index_t p = wrap(x - origin_, t_.mx);
  const index_t q = wrap(y - origin_ - (placement_ == BondPlacement::Reference ? 1 : 0), t_.my);
  return t_.cx[p * t_.my + q];
}

double Lattice2D::ky(index_t x, index_t y) const {
  const index_t p = wrap(x - origin_ - (placement_ == BondPlacement::Reference ? 1 : 0), t_.mx);
  const index_t q = wrap(y - origin_, t_.my);
  return t_.cy[p * t_.my + q];
}

void Lattice2D::window(index_t x0, index_t y0, index_t n, std::vector<double>& kE, std::vector<double>& kN) const {
  kE.resize(n * n);
  kN.resize(n * n);
  for (index_t y = 0; y < n; ++y)
    for (index_t x = 0; x < n; ++x) {
      kE[y * n + x] = kx(x0 + x, y0 + y);
      kN[y * n + x] = ky(x0 + x, y0 + y);
    }
}

}  // namespace patchlearn
