#include "patchlearn/coeff/field.hpp"

#include "patchlearn/core/format.hpp"

#include <fmt/format.h>
#include <muParser.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "patchlearn/core/error.hpp"

namespace patchlearn {
namespace {

double frac(double y) { return y - std::floor(y); }

/// 1 / <1/a> over a period by adaptive Simpson; exact-enough for smooth fields and steps alike.
double quadrature_harmonic_mean(const std::function<double(double)>& a) {
  auto g = [&](double y) { return 1.0 / a(y); };
  std::function<double(double, double, double, double, double, double, int)> rec =
      [&](double a, double b, double fa, double fm, double fb, double whole, int depth) {
        const double m = 0.5 * (a + b), lm = 0.5 * (a + m), rm = 0.5 * (m + b);
        const double flm = g(lm), frm = g(rm);
        const double left = (m - a) / 6 * (fa + 4 * flm + fm), right = (b - m) / 6 * (fm + 4 * frm + fb);
        if (depth > 40 || std::abs(left + right - whole) < 1e-15 * 15)
          return left + right + (left + right - whole) / 15;
        return rec(a, m, fa, flm, fm, left, depth + 1) + rec(m, b, fm, frm, fb, right, depth + 1);
      };
  // Split at 64 panels so steps and sharp features are all seen.
  double s = 0;
  const int panels = 64;
  for (int p = 0; p < panels; ++p) {
    const double a = double(p) / panels, b = double(p + 1) / panels, m = 0.5 * (a + b);
    const double fa = g(a), fm = g(m), fb = g(b);
    s += rec(a, b, fa, fm, fb, (b - a) / 6 * (fa + 4 * fm + fb), 0);
  }
  return 1.0 / s;
}

}  // namespace

void require_in_range(URange r, double u, const std::string& range_key) {
  if (!std::isfinite(u) || !r.contains(u))
    throw InputError(
        fmt::format("{}: u = {} is outside [{:.10g}, {:.10g}], the range the medium was checked on; "
                    "give a u inside it or widen {}",
                    range_key, u, r.lo, r.hi, range_key));
}

void for_each_check_point(URange r, bool over_y, const std::function<void(double y, double u)>& f) {
  if (!std::isfinite(r.lo) || !std::isfinite(r.hi) || r.lo > r.hi)
    throw std::invalid_argument(fmt::format("a medium's u range [{}, {}] must be finite with lo <= hi", r.lo, r.hi));
  const int ny = over_y ? 1024 : 1, nu = 64;
  for (int k = 0; k <= nu; ++k) {
    const double u = k == nu ? r.hi : r.lo + k * (r.hi - r.lo) / nu;
    for (int j = 0; j < ny; ++j) f(static_cast<double>(j) / ny, u);
  }
}

struct MediumExpression::Parser {
  mu::Parser parser;
  double x = 0, y = 0, u = 0;
  std::vector<std::string> used;
};

MediumExpression::MediumExpression(std::string key, const std::string& expr, const std::vector<std::string>& variables)
    : parser_(std::make_shared<Parser>()), key_(std::move(key)), text_(expr) {
  std::string names;
  for (std::size_t i = 0; i < variables.size(); ++i)
    names += (i == 0 ? "" : i + 1 == variables.size() ? " and " : ", ") + variables[i];
  try {
    auto& p = parser_->parser;
    for (const auto& v : variables) p.DefineVar(v, v == "x" ? &parser_->x : v == "y" ? &parser_->y : &parser_->u);
    p.DefineConst("pi", M_PI);
    p.SetExpr(expr);
    p.Eval();
    for (const auto& [name, _] : p.GetUsedVar()) parser_->used.push_back(name);
  } catch (mu::Parser::exception_type& e) {
    throw ConfigError(
        key_, fmt::format("cannot parse '{}': {} (the variables are {}, the constant pi)", expr, e.GetMsg(), names));
  }
}

double MediumExpression::at(double x, double y, double u) const {
  parser_->x = x;
  parser_->y = y;
  parser_->u = u;
  return parser_->parser.Eval();
}

bool MediumExpression::uses(const std::string& variable) const {
  return std::find(parser_->used.begin(), parser_->used.end(), variable) != parser_->used.end();
}

void MediumExpression::check(URange r, bool positive, const std::string& range_key) const {
  for_each_check_point(r, uses("y"), [&](double y, double u) {
    const double v = (*this)(y, u);
    if (std::isfinite(v) && (v > 0 || !positive)) return;
    throw ConfigError(key_,
                      fmt::format("'{}' = {} at {}u = {:.10g}, in {} = [{:.10g}, {:.10g}]; {}", text_, v,
                                  uses("y") ? fmt::format("y = {:.10g}, ", y) : "", u, range_key, r.lo, r.hi,
                                  positive ? "a diffusivity must be finite and > 0 there" : "it must be finite there"));
  });
}

CoefficientField::CoefficientField(std::function<double(double)> f, std::string desc, std::vector<double> table,
                                   bool scan)
    : f_(std::move(f)), desc_(std::move(desc)), table_(std::move(table)) {
  min_ = std::numeric_limits<double>::infinity();
  max_ = -min_;
  if (!scan) return;  // a u-dependent field: expression() takes min_ and max_ on its u range
  if (!table_.empty()) {
    for (double v : table_) {
      min_ = std::min(min_, v);
      max_ = std::max(max_, v);
    }
  } else {
    const int n = 8192;  // dense enough to see any feature a lattice of <= 8192 points per period resolves
    for (int j = 0; j <= n; ++j) {
      const double v = f_(static_cast<double>(j) / n);
      if (!std::isfinite(v))
        throw ConfigError("medium.coefficient", desc_ + " is not finite at y = " + num(double(j) / n));
      min_ = std::min(min_, v);
      max_ = std::max(max_, v);
    }
  }
  if (!(min_ > 0.0))
    throw ConfigError("medium.coefficient",
                      desc_ + " has minimum " + num(min_) + " over a period; a diffusivity must be > 0 everywhere");
}

CoefficientField CoefficientField::sinusoid(double mean, double amplitude) {
  CoefficientField f([=](double y) { return mean + amplitude * std::sin(2.0 * M_PI * y); },
                     "sinusoid " + num(mean) + " + " + num(amplitude) + " sin(2 pi y)");
  if (std::abs(amplitude) < mean) f.exact_harmonic_ = std::sqrt(mean * mean - amplitude * amplitude);
  return f;
}

CoefficientField CoefficientField::laminate(double a1, double a2, double fraction) {
  if (!(fraction > 0.0 && fraction < 1.0))
    throw ConfigError("medium.fraction", num(fraction) + " is not a volume fraction; use 0 < fraction < 1");
  CoefficientField f([=](double y) { return frac(y) < fraction ? a1 : a2; },
                     "laminate " + num(a1) + " (fraction " + num(fraction) + ") / " + num(a2));
  f.exact_harmonic_ = 1.0 / (fraction / a1 + (1.0 - fraction) / a2);
  return f;
}

CoefficientField CoefficientField::expression(const std::string& expr, URange u_range, const std::string& range_key,
                                              double epsilon, double length) {
  auto a = std::make_shared<const MediumExpression>("medium.expression", expr, std::vector<std::string>{"x", "y", "u"});
  if (a->uses("x")) return graded(a, epsilon, length, u_range, range_key);
  if (!a->uses("u")) return CoefficientField([a](double y) { return (*a)(y, 0.0); }, "expression " + expr);
  // a(y, u): checked on the grid of [0, 1) x u_range, where min_ and max_ are taken.
  a->check(u_range, true, range_key);
  CoefficientField f(
      [expr](double) -> double {
        throw std::logic_error("a(y) of the u-dependent medium '" + expr + "': evaluate a(y, u)");
      },
      "expression " + expr, {}, false);
  f.a_u_ = a;
  f.u_range_ = u_range;
  for_each_check_point(u_range, true, [&](double y, double u) {
    const double v = (*a)(y, u);
    f.min_ = std::min(f.min_, v);
    f.max_ = std::max(f.max_, v);
  });
  return f;
}

namespace {

// Calls f(x, y, u) on a graded medium's check grid: x_k = k L / nx (k <= nx) times the u check
// grid of `r` (for_each_check_point, y over [0, 1) at 1024 points) when `in_u`, else times
// y_j = j / 1024 at u = 0.
void for_each_graded_point(double length, bool in_u, URange r,
                           const std::function<void(double x, double y, double u)>& f) {
  const int nx = in_u ? 32 : 256;
  for (int k = 0; k <= nx; ++k) {
    const double x = length * k / nx;
    if (in_u)
      for_each_check_point(r, true, [&](double y, double u) { f(x, y, u); });
    else
      for (int j = 0; j < 1024; ++j) f(x, j / 1024.0, 0.0);
  }
}

// ConfigError naming e's key at the first point of the graded check grid where e is not finite
// (or, with `positive`, not > 0); calls seen(v) with every value.
void check_graded(const MediumExpression& e, double length, URange r, const std::string& range_key, bool positive,
                  const std::function<void(double)>& seen = {}) {
  const bool in_u = e.uses("u");
  for_each_graded_point(length, in_u, r, [&](double x, double y, double u) {
    const double v = e.at(x, y, u);
    if (seen) seen(v);
    if (std::isfinite(v) && (v > 0 || !positive)) return;
    throw ConfigError(e.key(),
                      fmt::format("'{}' = {} at x = {:.10g}, y = {:.10g}{}; {} on the domain [0, {:.10g}], "
                                  "the period [0, 1){}",
                                  e.text(), v, x, y, in_u ? fmt::format(", u = {:.10g}", u) : "",
                                  positive ? "a diffusivity must be finite and > 0" : "it must be finite", length,
                                  in_u ? fmt::format(" and {} [{:.10g}, {:.10g}]", range_key, r.lo, r.hi) : ""));
  });
}

}  // namespace

CoefficientField CoefficientField::graded(const std::shared_ptr<const MediumExpression>& a, double epsilon,
                                          double length, URange u_range, const std::string& range_key) {
  const std::string& expr = a->text();
  if (!(epsilon > 0 && length > 0))
    throw std::invalid_argument("CoefficientField::graded: '" + expr + "' uses x and needs the domain and epsilon");
  // The fine model's a(x, x / eps) at y = x / eps: the position is eps y.
  std::function<double(double)> linear = [a, epsilon](double y) { return a->at(epsilon * y, y, 0.0); };
  if (a->uses("u"))
    linear = [expr](double) -> double {
      throw std::logic_error("a(y) of the u-dependent medium '" + expr + "': evaluate a(y, u)");
    };
  CoefficientField f(std::move(linear), "graded expression " + expr, {}, false);
  f.graded_ = a;
  f.length_ = length;
  f.eps_ = epsilon;
  f.extent_ = length / epsilon;
  if (a->uses("u")) {
    f.a_u_ = a;
    f.u_range_ = u_range;
  }
  check_graded(*a, length, u_range, range_key, true, [&f](double v) {
    f.min_ = std::min(f.min_, v);
    f.max_ = std::max(f.max_, v);
  });
  return f;
}

CoefficientField CoefficientField::at_position(double x) const {
  if (!graded_) throw std::logic_error("at_position: " + desc_ + " is not graded");
  CoefficientField f = *this;
  f.graded_.reset();
  f.x_ = x;
  f.extent_ = 0;
  f.length_ = 0;
  if (!a_u_) f.f_ = [a = graded_, x](double y) { return a->at(x, y, 0.0); };
  f.desc_ = fmt::format("{} at x = {:.10g}", desc_, x);
  return f;
}

CoefficientField CoefficientField::with_terms(const std::string& drift, const std::string& reaction, URange u_range,
                                              const std::string& range_key) const {
  if ((a_u_ || factor_) && (u_range.lo != u_range_.lo || u_range.hi != u_range_.hi))
    throw std::invalid_argument("with_terms: the u range differs from the one a(y, u) was checked on");
  CoefficientField f = *this;
  f.u_range_ = u_range;
  const auto term = [&](const std::string& key, const std::string& expr) -> std::shared_ptr<const MediumExpression> {
    if (expr.empty()) return nullptr;
    auto e = std::make_shared<const MediumExpression>(key, expr, std::vector<std::string>{"x", "y", "u"});
    if (random() && (e->uses("x") || e->uses("y")))
      throw ConfigError(key, "'" + expr + "' uses " + (e->uses("x") ? "x" : "y") +
                                 ", but the cells of a random medium have no period and no grading for it to vary "
                                 "over: write it in u alone");
    if (e->uses("x") && !graded())
      throw ConfigError(key, "'" + expr +
                                 "' uses x, but medium.expression does not: x is the position of a graded medium, "
                                 "whose diffusivity is an expression in x (add 0*x to it for a diffusivity that "
                                 "does not vary)");
    if (graded())
      check_graded(*e, length_, u_range, range_key, false);
    else
      e->check(u_range, false, range_key);
    return e;
  };
  f.drift_ = term("medium.drift", drift);
  f.reaction_ = term("medium.reaction", reaction);
  if (f.drift_) f.desc_ += "; drift " + drift;
  if (f.reaction_) f.desc_ += "; reaction " + reaction;
  return f;
}

CoefficientField CoefficientField::with_factor(const std::string& factor, URange u_range,
                                               const std::string& range_key) const {
  if (!random())
    throw ConfigError("medium.conductance_factor",
                      "is the g(u) of a random medium's cells a_k g(u); on a periodic or graded medium write a(y, u) "
                      "in medium.expression, e.g. \"(1 + 0.3*u) * (1.1 + sin(2*pi*y))\"");
  auto g = std::make_shared<const MediumExpression>("medium.conductance_factor", factor, std::vector<std::string>{"u"});
  g->check(u_range, true, range_key);
  CoefficientField f = *this;
  f.factor_ = g;
  f.u_range_ = u_range;
  f.cell_extremes();
  f.desc_ += "; conductance factor g(u) = " + factor;
  return f;
}

std::pair<double, double> CoefficientField::factor_range() const {
  if (!factor_) return {1.0, 1.0};
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  for_each_check_point(u_range_, false, [&](double, double u) {
    lo = std::min(lo, factor(u));
    hi = std::max(hi, factor(u));
  });
  return {lo, hi};
}

void CoefficientField::cell_extremes() {
  // a_k > 0 and g > 0: the cells' extremes times g's.
  const auto [lo, hi] = std::minmax_element(table_.begin(), table_.end());
  const auto [g_lo, g_hi] = factor_range();
  min_ = *lo * g_lo;
  max_ = *hi * g_hi;
}

CoefficientField CoefficientField::with_terms_of(const CoefficientField& other) const {
  if (!random() || !other.random()) throw std::logic_error("with_terms_of: both media must be random");
  CoefficientField f = *this;
  f.factor_ = other.factor_;
  f.drift_ = other.drift_;
  f.reaction_ = other.reaction_;
  f.u_range_ = other.u_range_;
  f.cell_extremes();
  f.desc_ = cells_desc_ + other.desc_.substr(other.cells_desc_.size());
  return f;
}

CoefficientField CoefficientField::linear_part() const {
  if (!random()) throw std::logic_error("linear_part: " + desc_ + " is not a random medium");
  CoefficientField f = *this;
  f.factor_.reset();
  f.drift_.reset();
  f.reaction_.reset();
  f.u_range_ = {};
  f.cell_extremes();
  f.desc_ = cells_desc_;
  return f;
}

void CoefficientField::require_linear() const {
  if (const std::string key = nonlinear_key(); !key.empty())
    throw ConfigError(
        key, fmt::format("the medium '{}' depends on u or has a drift or reaction, which the linear fine model "
                         "(gap-tooth, full resolution, the linear cell problem) does not represent; patch dynamics "
                         "simulates it, and `patchlearn cell CONFIG --u VALUE` gives its effective coefficients",
                         description()));
}

std::string CoefficientField::nonlinear_key() const {
  if (a_u_) return "medium.expression";
  if (factor_) return "medium.conductance_factor";
  if (drift_) return "medium.drift";
  if (reaction_) return "medium.reaction";
  return "";
}

std::string CoefficientField::u_key() const {
  if (a_u_) return "medium.expression";
  if (factor_) return "medium.conductance_factor";
  if (drift_ && drift_->uses("u")) return "medium.drift";
  if (reaction_ && reaction_->uses("u")) return "medium.reaction";
  return "";
}

CoefficientField CoefficientField::table(std::vector<double> values, const std::string& origin) {
  if (values.empty()) throw ConfigError("medium.table", origin + " holds no values");
  for (double v : values)
    if (!std::isfinite(v)) throw ConfigError("medium.table", origin + " holds a non-finite value");
  const auto k = static_cast<double>(values.size());
  auto vals = values;
  // The name before the values are moved (the order in which arguments are evaluated is unspecified).
  std::string name = "table of " + std::to_string(values.size()) + " values (" + origin + ")";
  return CoefficientField(
      [vals, k](double y) {
        auto i = static_cast<std::size_t>(frac(y) * k);
        return vals[std::min(i, vals.size() - 1)];
      },
      std::move(name), std::move(values));
}

CoefficientField CoefficientField::random_cells(std::vector<double> values, std::string desc) {
  if (values.empty()) throw std::invalid_argument("random_cells: no cells");
  auto vals = std::make_shared<const std::vector<double>>(values);
  CoefficientField f(
      [vals](double y) {
        if (!(y >= 0.0 && y < static_cast<double>(vals->size())))
          throw std::out_of_range(fmt::format("y = {} is outside the random medium's cells [0, {})", y, vals->size()));
        return (*vals)[static_cast<std::size_t>(y)];
      },
      std::move(desc), std::move(values));
  f.extent_ = static_cast<double>(f.table_.size());
  f.cells_desc_ = f.desc_;
  return f;
}

CoefficientField CoefficientField::table_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError("medium.table: cannot open coefficient table '" + path + "'");
  std::vector<double> v;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    line = line.substr(0, line.find('#'));
    std::replace(line.begin(), line.end(), ',', ' ');
    std::istringstream ls(line);
    std::string tok;
    while (ls >> tok) {
      try {
        std::size_t used = 0;
        v.push_back(std::stod(tok, &used));
        if (used != tok.size()) throw std::invalid_argument(tok);
      } catch (std::exception&) {
        throw InputError("medium.table: '" + path + "' line " + std::to_string(lineno) + ": '" + tok +
                         "' is not a number");
      }
    }
  }
  return table(std::move(v), path);
}

double CoefficientField::operator()(double y) const { return f_(y); }

std::vector<double> CoefficientField::sample_period(int n) const {
  if (!periodic()) throw std::logic_error("sample_period: " + desc_ + " is not periodic");
  std::vector<double> a(n);
  for (int j = 0; j < n; ++j) a[j] = f_((j + 0.5) / n);
  return a;
}

double CoefficientField::harmonic_mean() const {
  if (exact_harmonic_ > 0) return exact_harmonic_;
  if (!table_.empty()) {
    double s = 0;
    for (double v : table_) s += 1.0 / v;
    // a random medium's a_k g(u): at the largest g
    return factor_range().second * static_cast<double>(table_.size()) / s;
  }
  if (graded_) {
    const int nx = a_u_ ? 32 : 64;
    double largest = 0;
    for (int k = 0; k <= nx; ++k) largest = std::max(largest, at_position(length_ * k / nx).harmonic_mean());
    return largest;
  }
  if (!a_u_) return quadrature_harmonic_mean(f_);
  double largest = 0;
  for_each_check_point(u_range_, false, [&](double, double u) {
    largest = std::max(largest, quadrature_harmonic_mean([&](double y) { return (*a_u_)(y, u); }));
  });
  return largest;
}

}  // namespace patchlearn
