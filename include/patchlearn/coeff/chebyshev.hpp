#pragma once
// Chebyshev series in the unknown u of a medium's coefficients (issue 15). A u-dependent medium
// is given as expressions (muParser), which the device cannot evaluate and the host evaluates at
// ~100 ns a call; every element (bond or point) of the fine lattice therefore carries its a, c, r
// as a Chebyshev series in u on the medium's u range, evaluated by Clenshaw's recurrence
// (kernels/nonlinear.hpp) on either backend. Sampled at K Chebyshev points, a function analytic
// on the range has coefficients decaying geometrically, so K doubles until the last two are below
// the function's relative accuracy (1e-14 of the series' size for an expression; polynomials in u
// of degree < K are exact at the first K); the series are then cut after their last coefficient
// above it (the transform's round-off is ~K 1e-16), one length for the table. A function known
// only to a coarser accuracy (a cell problem's coefficients: homog/effective.hpp) must say so, or
// its round-off is tabulated as if it were signal, up to ~60 terms of noise.
#include <array>
#include <functional>
#include <string>
#include <vector>

#include "patchlearn/coeff/field.hpp"
#include "patchlearn/core/defs.hpp"
#include "patchlearn/kernels/nonlinear.hpp"

namespace patchlearn {

/// `count` Chebyshev series in u on [lo, hi] with `terms` coefficients each: coef[k * terms + i].
struct ChebyshevTable {
  std::vector<double> coef;
  int terms = 0;
  double lo = -1, hi = 1;
  /// t = (u - mid) scale in [-1, 1] for u in [lo, hi].
  double mid() const { return 0.5 * (lo + hi); }
  double scale() const { return 2.0 / (hi - lo); }
  /// Series k at u (for host use and tests).
  double value(index_t k, double u) const;
  /// The derivative in u of series k at u.
  double slope(index_t k, double u) const;
};

/// A medium's a (on bonds), c and r (on points) as tables of series in u on one range (c and r
/// empty without a drift / reaction): the fine model's on a lattice window, or the effective
/// medium's single series.
struct MediumSeries {
  ChebyshevTable a, c, r;
  /// The per-element view (kernels/nonlinear.hpp) of these tables with their values at a, c, r
  /// (a.coef, c.coef, r.coef or copies of them on a device): each element its own series for
  /// `mats` media of elements when `per_element`, else one series shared by every element.
  kernels::MediumTables view(const double* a_values, const double* c_values, const double* r_values, index_t mats,
                             bool per_element) const;
};

/// The largest number of Chebyshev points tried before a function counts as not resolvable.
inline constexpr int kMaxChebyshevPoints = 257;

/// Tabulate f(k, u) for k < count on the finite range r, f known to the relative `accuracy`. A
/// function whose series has not converged at kMaxChebyshevPoints points (not smooth in u on the
/// range) is a ConfigError naming `key`.
ChebyshevTable tabulate_in_u(index_t count, const std::function<double(index_t, double)>& f, URange r,
                             const std::string& key, double accuracy = 1e-14);
/// A mean that may cancel, tabulated like tabulate_in_u: f(k, u) = {the mean, the mean of its
/// terms' sizes}. A mean of terms that cancel (a drift of mean 0 over the period, the corrector's
/// term on a cell symmetric about an edge) holds their round-off, which varies with u as no series
/// resolves: tabulated to `accuracy` of itself, that was a ConfigError ("not smooth enough in u")
/// even for smooth media. So `accuracy` is relative to the terms (probed at 9 values of u), and a
/// mean below 100 accuracy of them everywhere is 0.
ChebyshevTable tabulate_means_in_u(index_t count, const std::function<std::array<double, 2>(index_t, double)>& f,
                                   URange r, const std::string& key, double accuracy);
/// One series: a medium expression of u alone, named by its key.
ChebyshevTable tabulate_in_u(const MediumExpression& e, URange r);

/// A function of u alone (a 2D lattice's g or f) as the ratio p / q of two Chebyshev series on one
/// range, or as p alone (q empty). A function with poles near the range (1 / (1 + u^2),
/// Michaelis-Menten u / (K + u)) needs a long series, ~60 terms for 1 / (1 + 0.3 u^2) on [-3.2, 3.2],
/// each a Clenshaw step at every bond of every evaluation; as a ratio it is 1 and 3 terms and a
/// division. fit_in_u takes the ratio only where it is cheaper and verified to the same accuracy.
struct SeriesRatio {
  ChebyshevTable p, q;
  /// p's and q's coefficients are those of the powers of t (Horner), not of T_k (Clenshaw).
  bool monomial = false;
  double value(double u) const;
  /// d/du of the function at u.
  double slope(double u) const;
  /// One evaluation's cost in Clenshaw steps: p's terms, and for a ratio q's and 2 more (the
  /// division and the extra pass over the values, each measured at about one step).
  int cost() const { return p.terms + (q.terms ? q.terms + 2 : 0); }
  /// The device view (kernels/nonlinear.hpp) with the coefficients at p_values and q_values.
  kernels::SeriesRatioView view(const double* p_values, const double* q_values) const;
};

/// An expression of u alone at relative accuracy 1e-14, as cheap to evaluate as it can be:
/// tabulate_in_u's series, or a ratio p / q of lower cost, fitted by linearized least squares
/// (Sanathanan-Koerner reweighting, q's first coefficient 1) at 128 Chebyshev points and accepted only
/// if, on 4097 points across the range, q keeps one sign with |q| >= 1e-3 max |q| (no pole, nor a
/// pole-zero pair slipped between the points: with at most 8 terms, q cannot dip below that bound
/// between two of them unless it comes near it at one) and p / q is within 1e-14 max |f| of the
/// expression. A function the series cannot resolve is tried as a ratio too (though a pole that close
/// mostly leaves q's values, near its dip, with cancellation past that accuracy); failing that, the
/// series' ConfigError. The chosen series or ratio is then rewritten in powers of t, evaluated by
/// Horner at two operations a term (Clenshaw takes three or four, and a pass over a plane of values
/// 1.6-1.8x the time), where the same check passes: not where the conversion cancels (cos(20 u) on
/// [-1, 1]: coefficients of ~1e7 of alternating sign).
SeriesRatio fit_in_u(const MediumExpression& e, URange r);

}  // namespace patchlearn
