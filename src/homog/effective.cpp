#include "patchlearn/homog/effective.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "patchlearn/core/error.hpp"
#include "patchlearn/homog/cell1d.hpp"

namespace patchlearn {
EffectiveCoefficients1D volume_coefficients(const CoefficientField& medium, index_t bonds, double dy, double u,
                                            index_t first) {
  if (bonds < 2) throw std::invalid_argument("volume_coefficients: the cell problem needs at least 2 bonds");
  require_in_range(medium.u_range(), u, "medium.u_range");
  // Bond j at y_bond(j), point j at y_point(j), from bond / point `first` of the lattice.
  const auto y_bond = [&](index_t j) { return (static_cast<double>(first + j) + 0.5) * dy; };
  const auto y_point = [&](index_t j) { return static_cast<double>(first + j) * dy; };
  std::vector<double> a(static_cast<std::size_t>(bonds));
  for (index_t j = 0; j < bonds; ++j) a[j] = medium(y_bond(j), u);
  const CellSolution1D cell = solve_cell_problem_1d(a);
  EffectiveCoefficients1D e;
  e.a_star = cell.a_star;
  double drift = 0, reaction = 0, drift_terms = 0, reaction_terms = 0;
  for (index_t j = 0; j < bonds; ++j) {
    // The drift at bond j, weighted by the corrector's flux factor 1 + chi_y there.
    if (medium.has_drift()) {
      const double c = medium.drift(y_bond(j), u) * (1.0 + (cell.chi[(j + 1) % bonds] - cell.chi[j]) / dy);
      drift += c;
      drift_terms += std::abs(c);
    }
    if (medium.has_reaction()) {
      const double r = medium.reaction(y_point(j), u);
      reaction += r;
      reaction_terms += std::abs(r);
    }
  }
  const double n = static_cast<double>(bonds);
  e.drift = drift / n;
  e.reaction = reaction / n;
  e.drift_terms = drift_terms / n;
  e.reaction_terms = reaction_terms / n;
  return e;
}

EffectiveCoefficients1D effective_coefficients(const CoefficientField& medium, int n, double u) {
  if (n < 2) throw std::invalid_argument("effective_coefficients: the cell problem needs at least 2 points per period");
  return volume_coefficients(medium, n, 1.0 / n, u);
}

double local_a_star(const CoefficientField& graded, double x, int n) {
  if (n < 2) throw std::invalid_argument("local_a_star: the cell problem needs at least 2 points per period");
  if (!(x >= 0 && x <= graded.length()))
    throw InputError(fmt::format("--x: {} is outside the domain [0, {:.10g}]", x, graded.length()));
  return solve_cell_problem_1d(graded.at_position(x).sample_period(n)).a_star;
}

EffectiveCoefficients1D local_effective_coefficients(const CoefficientField& graded, double x, int n, double u) {
  if (!(x >= 0 && x <= graded.length()))
    throw InputError(fmt::format("--x: {} is outside the domain [0, {:.10g}]", x, graded.length()));
  return effective_coefficients(graded.at_position(x), n, u);
}

namespace {
/// a*, c* (one series in u per bond position) and r* (per point position) of `medium` over its
/// u range (c* only if `drift`), `solve(x, u)` the cell problem there. It gives all three coefficients, and the tables
/// ask for them at the same Chebyshev points in turn, so the last solve is kept.
MediumSeries tabulate_effective(const CoefficientField& medium, const std::vector<double>& x_bonds,
                                const std::vector<double>& x_points,
                                const std::function<EffectiveCoefficients1D(double, double)>& solve, bool drift,
                                double accuracy = kCellProblemAccuracy) {
  const URange r = medium.u_range();
  double cached_x = std::numeric_limits<double>::quiet_NaN(), cached_u = cached_x;
  EffectiveCoefficients1D cached;
  const auto at = [&](double x, double u) -> const EffectiveCoefficients1D& {
    if (x != cached_x || u != cached_u) cached = solve(x, u), cached_x = x, cached_u = u;
    return cached;
  };
  const auto count = [](const std::vector<double>& xs) { return static_cast<index_t>(xs.size()); };
  MediumSeries s;
  s.a = tabulate_in_u(
      count(x_bonds), [&](index_t k, double u) { return at(x_bonds[k], u).a_star; }, r, "medium.expression", accuracy);
  // c* and r* are means whose terms may cancel (a drift or reaction of mean 0 over the period).
  using Mean = double EffectiveCoefficients1D::*;
  const auto means = [&](const std::vector<double>& xs, Mean mean, Mean terms, const char* key) {
    return tabulate_means_in_u(
        count(xs),
        [&](index_t k, double u) {
          const auto& e = at(xs[k], u);
          return std::array<double, 2>{e.*mean, e.*terms};
        },
        r, key, accuracy);
  };
  if (drift && medium.has_drift())
    s.c = means(x_bonds, &EffectiveCoefficients1D::drift, &EffectiveCoefficients1D::drift_terms, "medium.drift");
  if (medium.has_reaction() && !x_points.empty())
    s.r = means(x_points, &EffectiveCoefficients1D::reaction, &EffectiveCoefficients1D::reaction_terms,
                "medium.reaction");
  return s;
}
}  // namespace

MediumSeries local_effective_series(const CoefficientField& graded, int n, const std::vector<double>& x_bonds,
                                    const std::vector<double>& x_points, bool drift) {
  MediumSeries s;
  if (graded.nonlinear_key().empty()) {
    // a*(x) alone: one constant term per position (any finite range; the series ignore u).
    s.a.terms = 1;
    s.a.coef.reserve(x_bonds.size());
    for (const double x : x_bonds) s.a.coef.push_back(local_a_star(graded, x, n));
    return s;
  }
  return tabulate_effective(
      graded, x_bonds, x_points, [&](double x, double u) { return local_effective_coefficients(graded, x, n, u); },
      drift);
}

EffectiveMedium1D effective_medium(const CoefficientField& medium, int n) {
  return volume_effective_medium({medium}, n, 1.0 / n);
}

namespace {
// The coefficients of volumes of one length in series (volume_coefficients_in_series); one volume's
// as they are.
EffectiveCoefficients1D in_series(const std::vector<EffectiveCoefficients1D>& each) {
  if (each.size() == 1) return each.front();
  double inverse = 0, flux = 0, reaction = 0, flux_terms = 0, reaction_terms = 0;
  for (const auto& e : each) {
    inverse += 1.0 / e.a_star;
    flux += e.drift / e.a_star;
    reaction += e.reaction;
    flux_terms += e.drift_terms / e.a_star;
    reaction_terms += e.reaction_terms;
  }
  const auto R = static_cast<double>(each.size());
  EffectiveCoefficients1D e;
  e.a_star = R / inverse;
  e.drift = e.a_star * flux / R;
  e.reaction = reaction / R;
  e.drift_terms = e.a_star * flux_terms / R;
  e.reaction_terms = reaction_terms / R;
  return e;
}

// The effective medium of `solve(u)`, the coefficients of a volume of `bonds` bonds, over the u
// range of `medium` (whose keys name the series), to the accuracy of those coefficients
// (kCellProblemAccuracy, or n eps-like round-off on a larger volume).
EffectiveMedium1D effective_medium_of(const CoefficientField& medium, index_t bonds,
                                      const std::function<EffectiveCoefficients1D(double)>& solve) {
  EffectiveMedium1D m;
  static_cast<MediumSeries&>(m) = tabulate_effective(
      medium, {0.0}, {0.0}, [&](double, double u) { return solve(u); }, true,
      std::max(kCellProblemAccuracy, kVolumeRoundOff * static_cast<double>(bonds)));
  return m;
}
}  // namespace

EffectiveCoefficients1D volume_coefficients_in_series(const std::vector<CoefficientField>& media, index_t bonds,
                                                      double dy, double u) {
  std::vector<EffectiveCoefficients1D> each;
  for (const auto& medium : media) each.push_back(volume_coefficients(medium, bonds, dy, u));
  return in_series(each);
}

EffectiveMedium1D volume_effective_medium(const std::vector<CoefficientField>& media, index_t bonds, double dy) {
  return effective_medium_of(media.front(), bonds,
                             [&](double u) { return volume_coefficients_in_series(media, bonds, dy, u); });
}

VolumeEffectiveMedia volume_effective_media(const std::vector<CoefficientField>& media, index_t bonds, double dy) {
  // Each realization's coefficients at every u a tabulation visits, solved once: the tabulations
  // visit the same Chebyshev points of one u range.
  std::map<std::pair<std::size_t, double>, EffectiveCoefficients1D> solved;
  const auto at = [&](std::size_t r, double u) -> const EffectiveCoefficients1D& {
    auto it = solved.find({r, u});
    if (it == solved.end()) it = solved.emplace(std::pair{r, u}, volume_coefficients(media[r], bonds, dy, u)).first;
    return it->second;
  };
  VolumeEffectiveMedia out;
  out.ensemble = effective_medium_of(media.front(), bonds, [&](double u) {
    std::vector<EffectiveCoefficients1D> each;
    for (std::size_t r = 0; r < media.size(); ++r) each.push_back(at(r, u));
    return in_series(each);
  });
  for (std::size_t r = 0; r < media.size(); ++r)
    out.each.push_back(effective_medium_of(media[r], bonds, [&](double u) { return at(r, u); }));
  return out;
}

EffectiveCoefficients1D EffectiveMedium1D::at(double u) const {
  EffectiveCoefficients1D e;
  e.a_star = a.value(0, u);
  if (c.terms) e.drift = c.value(0, u);
  if (r.terms) e.reaction = r.value(0, u);
  return e;
}

kernels::MediumTables EffectiveMedium1D::tables() const {
  return view(a.coef.data(), c.coef.data(), r.coef.data(), 1, false);
}

EffectiveTensor EffectiveLattice2D::local(double x, double y) const {
  const double a = modulation ? modulation->at(x, y, 0.0) : 1.0;
  return {a * D.xx, a * D.xy, a * D.yy, 0.0};
}

EffectiveLattice2D effective_lattice(const Lattice2D& lattice) {
  return effective_lattice(lattice, effective_tensor(Lattice2D(lattice.tables().linear_part(), lattice.placement(),
                                                               lattice.h(), lattice.origin())));
}

EffectiveLattice2D effective_lattice(const Lattice2D& lattice, const EffectiveTensor& D) {
  const KappaTables& t = lattice.tables();
  EffectiveLattice2D e;
  e.D = D;
  if (t.conductance_factor) {
    // G = integral of sum c_k T_k(s) ds / scale: int T_0 = T_1, int T_k = T_k+1 / 2(k+1) - T_k-1 / 2(k-1),
    // so C_1 = c_0 - c_2 / 2 and C_k = (c_k-1 - c_k+1) / 2k (k >= 2); C_0 = 0 (G is used through its
    // derivatives only).
    const ChebyshevTable g = tabulate_in_u(*t.conductance_factor, t.u_range);
    e.G = g;
    e.G.terms = g.terms + 1;
    e.G.coef.assign(e.G.terms, 0.0);
    const auto c = [&g](int k) { return k < g.terms ? g.coef[k] : 0.0; };
    for (int k = 1; k < e.G.terms; ++k)
      e.G.coef[k] = (k == 1 ? c(0) - 0.5 * c(2) : (c(k - 1) - c(k + 1)) / (2.0 * k)) / g.scale();
  }
  if (t.reaction) {
    e.f = tabulate_in_u(*t.reaction, t.u_range);
    e.rho_mean = lattice.mean_rho();
  }
  return e;
}

EffectiveCoefficients2D effective_coefficients(const Lattice2D& lattice, double u) {
  const KappaTables& t = lattice.tables();
  EffectiveCoefficients2D e;
  e.D = effective_tensor(Lattice2D(t.at(u), lattice.placement(), lattice.h(), lattice.origin()));
  e.reaction = effective_reaction(lattice, u);
  return e;
}

double effective_reaction(const Lattice2D& lattice, double u) {
  const auto& f = lattice.tables().reaction;
  return f ? (*f)(0.0, u) * lattice.mean_rho() : 0.0;
}

}  // namespace patchlearn
