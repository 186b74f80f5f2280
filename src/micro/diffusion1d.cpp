#include "patchlearn/micro/diffusion1d.hpp"

#include <cmath>

#include <fmt/format.h>

#include "patchlearn/core/error.hpp"

namespace patchlearn {

namespace {

// The series of a and c on the bonds and r on the points, for the positions y of the elements
// (bond k at y_bond(k), point k at y_point(k)).
FineModel1D::Tables tabulate(const CoefficientField& field, index_t bonds, index_t points,
                             const std::function<double(index_t)>& y_bond,
                             const std::function<double(index_t)>& y_point) {
  const URange r = field.u_range();
  FineModel1D::Tables t;
  t.a = tabulate_in_u(
      bonds, [&](index_t k, double u) { return field(y_bond(k), u); }, r, "medium.expression");
  if (field.has_drift())
    t.c = tabulate_in_u(
        bonds, [&](index_t k, double u) { return field.drift(y_bond(k), u); }, r, "medium.drift");
  if (field.has_reaction())
    t.r = tabulate_in_u(
        points, [&](index_t k, double u) { return field.reaction(y_point(k), u); }, r, "medium.reaction");
  return t;
}

// Append the series of lattice elements first .. first + count - 1 to `dst`, element g being
// series g mod `period` of one period's table `src`.
void append(const ChebyshevTable& src, index_t first, index_t count, index_t period, ChebyshevTable& dst) {
  if (src.terms == 0) return;
  dst.terms = src.terms;
  dst.lo = src.lo;
  dst.hi = src.hi;
  for (index_t j = 0; j < count; ++j) {
    const index_t k = ((first + j) % period + period) % period;
    dst.coef.insert(dst.coef.end(), src.coef.begin() + k * src.terms, src.coef.begin() + (k + 1) * src.terms);
  }
}

}  // namespace

FineModel1D::FineModel1D(CoefficientField field, double epsilon, double dx)
    : field_(std::move(field)), eps_(epsilon), dx_(dx), per_period_(0) {
  const double r = epsilon / dx;
  if (whole_number(r)) per_period_ = static_cast<int>(std::lround(r));
  // The one-period shortcut needs a periodic medium; a random one is sampled bond by bond.
  if (per_period_ > 0 && !nonlinear() && field_.periodic()) period_ = field_.sample_period(per_period_);
  if (per_period_ > 0 && nonlinear() && field_.periodic()) {
    const double n = per_period_;
    phase_ = tabulate(
        field_, per_period_, per_period_, [n](index_t k) { return (static_cast<double>(k) + 0.5) / n; },
        [n](index_t k) { return static_cast<double>(k) / n; });
  }
}

std::vector<double> FineModel1D::conductances(index_t first, index_t count) const {
  field_.require_linear();
  std::vector<double> a(static_cast<std::size_t>(count));
  if (!period_.empty()) {
    const index_t n = per_period_;
    index_t p = ((first % n) + n) % n;
    for (index_t j = 0; j < count; ++j) {
      a[j] = period_[p];
      if (++p == n) p = 0;
    }
  } else {
    for (index_t j = 0; j < count; ++j) a[j] = field_((static_cast<double>(first + j) + 0.5) * dx_ / eps_);
  }
  return a;
}

std::vector<double> FineModel1D::cell_conductances(index_t first, index_t count) const {
  if (!field_.random()) return conductances(first, count);
  return FineModel1D(field_.linear_part(), eps_, dx_).conductances(first, count);
}

FineModel1D::Tables FineModel1D::medium_tables(const std::vector<index_t>& firsts, index_t n) const {
  if (!nonlinear()) throw std::logic_error("FineModel1D::medium_tables: the medium is linear");
  if (phase_.a.terms == 0) {
    // Without one period's tables (no whole number of points per period, or a graded medium) every
    // element is its own series: tabulate the windows' elements in order (window w's bonds are
    // elements w (n - 1) .., its points w n ..).
    const auto W = static_cast<index_t>(firsts.size());
    const auto bond_at = [&](index_t k) { return firsts[k / (n - 1)] + k % (n - 1); };
    const auto point_at = [&](index_t k) { return firsts[k / n] + k % n; };
    return tabulate(
        field_, W * (n - 1), W * n, [&](index_t k) { return (static_cast<double>(bond_at(k)) + 0.5) * dx_ / eps_; },
        [&](index_t k) { return static_cast<double>(point_at(k)) * dx_ / eps_; });
  }
  Tables out;
  for (const index_t first : firsts) {
    append(phase_.a, first, n - 1, per_period_, out.a);
    append(phase_.c, first, n - 1, per_period_, out.c);
    append(phase_.r, first, n, per_period_, out.r);
  }
  return out;
}

}  // namespace patchlearn
