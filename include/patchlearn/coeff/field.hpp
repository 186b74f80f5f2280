#pragma once
// Coefficient fields a(y): positive, period 1 in the fast variable y = x / epsilon.
//   sinusoid    a(y) = mean + amplitude sin(2 pi y)          (the paper: 1.1 + sin 2 pi y)
//   laminate    a(y) = a1 on [0, fraction), a2 on [fraction, 1)
//   expression  any muParser expression in y, e.g. "1.1 + sin(2*pi*y)", or in y and the unknown u,
//               e.g. "(1 + u^2) * (1.1 + sin(2*pi*y))": a(y, u), a concentration-dependent medium
//   table       K values from a file, piecewise constant on K equal cells of [0, 1)
// A field whose minimum over a period is <= 0 is rejected at construction.
//
// Random media (issue 17, coeff/random_medium.hpp) are not periodic: random_cells holds one value
// per cell of length eps over the whole domain, a(y) = value floor(y) for y in [0, extent()), and
// periodic() is false. Whatever repeats one period (sample_period, the fine model's one-period
// shortcut) is not for them. A random medium may be nonlinear in a separable way (with_factor,
// with_terms): a(y, u) = a_k g(u) on cell k, with a drift c(u) and a reaction r(u) of u alone (the
// cells carry no period for them to vary over). Its corrector at a fixed u, 1 + chi_y = a* / a,
// is that of the cells alone (g(u) cancels), so linear_part(), the cells, lifts and closes the
// patches at every u, and the effective coefficients are a*(u) = a*_cells g(u), c*(u) =
// a*(u) <c / a> = c(u), r*(u) = r(u) (homog/effective.hpp computes them from the cell problem).
//
// Graded (macro-modulated) media (issue 17): an expression that uses the macro position x as well,
// a(x, y) or a(x, y, u) with y = x / eps, e.g. "(1 + x/2) * (1.1 + sin(2*pi*y))": a slowly varying
// micro-structure, periodic in y at every fixed x. A drift or reaction of a graded medium may use x
// too. The fine model samples a(x, x / eps, u) at every bond (not periodic(), like random cells),
// while at_position(x) is the locally periodic medium y -> a(x, y, u) (with its drift and
// reaction at x) whose cell problem gives the local effective coefficients a*(x, u), c*(x, u),
// r*(x, u). A linear graded a is checked finite and > 0 on the grid x_k = k L / 256 (k <= 256)
// times y_j = j / 1024; a u-dependent one on x_k = k L / 32 (k <= 32) times the u check grid below.
//
// The medium of u_t = (a(y, u) u_x)_x + c(y, u) u_x + r(y, u) (issue 15) is such a field with
// optional drift c and reaction r (with_terms). Whatever depends on u is checked on the medium's
// u range (medium.u_range): on the grid y_j = j / 1024 (j < 1024) times u_k = lo + k (hi - lo) / 64
// (k <= 64), a must be finite and > 0, c and r finite; a ConfigError names the key and the point.
// The linear fine model (a(y) sampled once into bond conductances) is untouched: a field that does
// not depend on u evaluates a(y) as before; a u-dependent one has only a(y, u).
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace patchlearn {

/// The range [lo, hi] of the unknown u on which a medium is used and checked; the default, all
/// reals, is that of a medium that was never checked on a range (it cannot depend on u).
struct URange {
  double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
  bool contains(double u) const { return u >= lo && u <= hi; }
  /// Both ends finite and lo < hi: a range a function of u can be tabulated on.
  bool finite_interval() const { return std::isfinite(lo) && std::isfinite(hi) && hi > lo; }
};
/// InputError naming `range_key` when u is not finite or lies outside r: a value asked for (cell
/// --u) where the medium was not checked.
void require_in_range(URange r, double u, const std::string& range_key);

/// The check grid of a medium: calls f(y, u) at y_j = j / 1024 (j < 1024; only y = 0 when
/// `over_y` is false) and u_k = lo + k (hi - lo) / 64 (k <= 64); r must be finite.
void for_each_check_point(URange r, bool over_y, const std::function<void(double y, double u)>& f);

/// A muParser expression of one config key in the fast variable y and / or the unknown u (which of
/// them the key allows is given at construction; pi is a constant). Copies share one parser: not
/// for concurrent use.
class MediumExpression {
 public:
  /// A syntax error or a variable outside `variables` ("x", "y", "u") is a ConfigError naming `key`.
  MediumExpression(std::string key, const std::string& expr, const std::vector<std::string>& variables);
  double operator()(double y, double u) const { return at(0.0, y, u); }
  /// The value at the macro position x (graded media), fast variable y and unknown u.
  double at(double x, double y, double u) const;
  /// Whether the expression uses the variable ("x", "y" or "u").
  bool uses(const std::string& variable) const;
  const std::string& key() const { return key_; }
  const std::string& text() const { return text_; }
  /// ConfigError naming the key and the point where the value is not finite (or, with
  /// `positive`, not > 0) on the check grid of `r` (for_each_check_point).
  void check(URange r, bool positive, const std::string& range_key) const;

 private:
  struct Parser;
  std::shared_ptr<Parser> parser_;
  std::string key_, text_;
};

class CoefficientField {
 public:
  static CoefficientField sinusoid(double mean, double amplitude);
  static CoefficientField laminate(double a1, double a2, double fraction);
  /// An expression in y, or in y and u (then checked on the grid of [0, 1) x u_range, whose key
  /// `range_key` the errors name), or in x and y (and u): a graded medium on the domain [0, length]
  /// with period epsilon (both needed only then; a ConfigError when x is used without them).
  static CoefficientField expression(const std::string& expr, URange u_range = {},
                                     const std::string& range_key = "medium.u_range", double epsilon = 0,
                                     double length = 0);
  static CoefficientField table(std::vector<double> values, const std::string& origin = "table");
  /// A table read from a text file: whitespace- or comma-separated numbers, '#' comments.
  static CoefficientField table_file(const std::string& path);
  /// A non-periodic field of cells: a(y) = values[floor(y)] on [0, values.size()) (a random
  /// realization; `desc` describes it).
  static CoefficientField random_cells(std::vector<double> values, std::string desc);

  /// This medium with a drift c(y, u) (medium.drift) and a reaction r(y, u) (medium.reaction):
  /// muParser expressions in y and u (and x on a graded medium), "" for none, checked finite on the
  /// grid of [0, 1) x u_range (times the graded grid of x). u_range becomes the medium's (for an
  /// expression in u it must be the one it was built with).
  /// On a random medium both must be expressions in u alone (ConfigError naming the key otherwise).
  CoefficientField with_terms(const std::string& drift, const std::string& reaction, URange u_range,
                              const std::string& range_key = "medium.u_range") const;
  /// A random medium whose cells conduct a_k g(u) (medium.conductance_factor = g, an expression in
  /// u, checked finite and > 0 on u_range); ConfigError naming the key on any other medium, whose
  /// a(y, u) is written in medium.expression.
  CoefficientField with_factor(const std::string& factor, URange u_range,
                               const std::string& range_key = "medium.u_range") const;
  /// These random cells with the conductance factor, drift, reaction and u range of `other` (the
  /// configured medium): the other realizations and translates of a config.
  CoefficientField with_terms_of(const CoefficientField& other) const;
  /// A random medium's cells alone, without its conductance factor, drift and reaction: the linear
  /// medium whose corrector and harmonic means are the nonlinear one's at every u (this medium
  /// itself when it is linear; std::logic_error for a medium that is not random).
  CoefficientField linear_part() const;

  /// a(y) for any real y (the period is applied), or for y in [0, extent()) when the field is not
  /// periodic (std::out_of_range outside); a field that depends on u has no a(y)
  /// (std::logic_error): use a(y, u).
  double operator()(double y) const;
  /// a(y, u): a(y) when the field does not depend on u. On a graded medium y = x / eps is the fine
  /// lattice's position (x = eps y); on at_position(x) the x is that one.
  double operator()(double y, double u) const {
    return a_u_ ? a_u_->at(x_of(y), y, u) : factor_ ? f_(y) * (*factor_)(0.0, u) : f_(y);
  }
  /// c(y, u) and r(y, u); 0 without a drift / reaction.
  double drift(double y, double u) const { return drift_ ? drift_->at(x_of(y), y, u) : 0.0; }
  double reaction(double y, double u) const { return reaction_ ? reaction_->at(x_of(y), y, u) : 0.0; }
  /// Whether a(y + 1) = a(y); false for random cells, which cover only [0, extent()), and for
  /// graded media.
  bool periodic() const { return extent_ == 0; }
  /// Whether the medium is graded: a(x, y) with a slowly varying x (periodic in y at each x).
  bool graded() const { return static_cast<bool>(graded_); }
  /// Whether the medium is a random realization (neither periodic nor graded).
  bool random() const { return !periodic() && !graded(); }
  /// The locally periodic medium y -> a(x, y, u) of a graded medium at the macro position x, with
  /// its drift and reaction at x (std::logic_error for a medium that is not graded). Cheap: nothing
  /// is scanned, its min_value() and max_value() are the graded medium's bounds.
  CoefficientField at_position(double x) const;
  /// The domain [0, length()] of a graded medium (0 otherwise).
  double length() const { return length_; }
  /// The y range [0, extent()) of a non-periodic field, 0 for a periodic one.
  double extent() const { return extent_; }
  bool depends_on_u() const { return a_u_ || factor_; }
  /// g(u) of a random medium's a_k g(u) (1 without medium.conductance_factor).
  double factor(double u) const { return factor_ ? (*factor_)(0.0, u) : 1.0; }
  bool has_drift() const { return static_cast<bool>(drift_); }
  bool has_reaction() const { return static_cast<bool>(reaction_); }
  /// The u range the medium was checked on (set by expression() in u or with_terms()).
  URange u_range() const { return u_range_; }
  /// The key of the first term the linear fine model u_t = (a(y) u_x)_x lacks (medium.expression
  /// when a depends on u, medium.conductance_factor, medium.drift, medium.reaction), "" when it has
  /// none.
  std::string nonlinear_key() const;
  /// The key of the first term that depends on u ("" when a, the drift and the reaction are
  /// functions of position alone): what a u-dependent effective coefficient needs.
  std::string u_key() const;
  /// ConfigError naming that key unless the medium is linear (what the fine-scale schemes model).
  void require_linear() const;
  /// Sample a at y_j = (j + 0.5) / n, j < n: the face-centred values of one period on a lattice
  /// of n points per period (periodic fields only: std::logic_error otherwise).
  std::vector<double> sample_period(int n) const;
  /// Smallest and largest value over a period (sampled densely, and exactly for tables and random
  /// cells, where the "period" is the whole realization); for a
  /// u-dependent field, over the check grid of [0, 1) x u_range; for a graded one over its check
  /// grid of [0, L] x [0, 1) (x u_range).
  double min_value() const { return min_; }
  double max_value() const { return max_; }
  /// Harmonic mean 1 / <1/a> over a period (over all cells of a random realization): closed
  /// form for sinusoid, laminate, table and random cells,
  /// adaptive quadrature for expressions. For a u-dependent field, the largest harmonic mean over
  /// the 65 check values of u; for a graded one the largest local harmonic mean over the positions
  /// x_k = k L / 64 (k L / 32 when it depends on u; what bounds such as an explicit stability
  /// limit need).
  double harmonic_mean() const;
  const std::string& description() const { return desc_; }

 private:
  CoefficientField(std::function<double(double)> f, std::string desc, std::vector<double> table = {}, bool scan = true);
  static CoefficientField graded(const std::shared_ptr<const MediumExpression>& a, double epsilon, double length,
                                 URange u_range, const std::string& range_key);
  /// A random medium's min_ and max_: its cells' extremes times g's on the u range (without a
  /// conductance factor, the cells').
  void cell_extremes();
  /// The least and largest g on the check grid of the u range ({1, 1} without a factor).
  std::pair<double, double> factor_range() const;
  /// The macro position x of the fast variable y: eps y on a graded medium, the fixed x_ otherwise.
  double x_of(double y) const { return graded_ ? eps_ * y : x_; }
  std::function<double(double)> f_;
  std::shared_ptr<const MediumExpression> a_u_, drift_, reaction_;  // a(y, u) when a depends on u
  std::shared_ptr<const MediumExpression> factor_;                  // a random medium's g(u)
  std::shared_ptr<const MediumExpression> graded_;                  // a(x, y) of a graded medium
  double length_ = 0;                                               // a graded medium's domain [0, length_]
  double eps_ = 0;                                                  // a graded medium's period
  double x_ = 0;                                                    // the macro position of at_position(x)
  URange u_range_;
  std::string desc_, cells_desc_;  // cells_desc_: a random medium's cells without factor and terms
  std::vector<double> table_;      // non-empty for piecewise-constant fields (laminate, table)
  double min_ = 0, max_ = 0;
  double exact_harmonic_ = 0;  // > 0 where a closed form is known
  double extent_ = 0;          // > 0 for a non-periodic field: its y range [0, extent_)
};

}  // namespace patchlearn
