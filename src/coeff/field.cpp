#include "patchlearn/coeff/field.hpp"

#include <muParser.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "patchlearn/core/error.hpp"

namespace patchlearn {
namespace {

double frac(double y) { return y - std::floor(y); }

std::string num(double v) {
  std::ostringstream s;
  s.precision(12);
  s << v;
  return s.str();
}

}  // namespace

CoefficientField::CoefficientField(std::function<double(double)> f, std::string desc, std::vector<double> table)
    : f_(std::move(f)), desc_(std::move(desc)), table_(std::move(table)) {
  min_ = std::numeric_limits<double>::infinity();
  max_ = -min_;
  if (!table_.empty()) {
    for (double v : table_) { min_ = std::min(min_, v); max_ = std::max(max_, v); }
  } else {
    const int n = 8192;  // dense enough to see any feature a lattice of <= 8192 points per period resolves
    for (int j = 0; j <= n; ++j) {
      const double v = f_(static_cast<double>(j) / n);
      if (!std::isfinite(v)) throw ConfigError("medium.coefficient", desc_ + " is not finite at y = " + num(double(j) / n));
      min_ = std::min(min_, v);
      max_ = std::max(max_, v);
    }
  }
  if (!(min_ > 0.0))
    throw ConfigError("medium.coefficient", desc_ + " has minimum " + num(min_) +
                                                " over a period; a diffusivity must be > 0 everywhere");
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

CoefficientField CoefficientField::expression(const std::string& expr) {
  auto parser = std::make_shared<mu::Parser>();
  auto y = std::make_shared<double>(0.0);
  try {
    parser->DefineVar("y", y.get());
    parser->DefineConst("pi", M_PI);
    parser->SetExpr(expr);
    parser->Eval();
  } catch (mu::Parser::exception_type& e) {
    throw ConfigError("medium.expression", "cannot parse '" + expr + "': " + e.GetMsg());
  }
  return CoefficientField(
      [parser, y](double v) {
        *y = v;
        return parser->Eval();
      },
      "expression " + expr);
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
        throw InputError("medium.table: '" + path + "' line " + std::to_string(lineno) + ": '" + tok + "' is not a number");
      }
    }
  }
  return table(std::move(v), path);
}

double CoefficientField::operator()(double y) const { return f_(y); }

std::vector<double> CoefficientField::sample_period(int n) const {
  std::vector<double> a(n);
  for (int j = 0; j < n; ++j) a[j] = f_((j + 0.5) / n);
  return a;
}

double CoefficientField::harmonic_mean() const {
  if (exact_harmonic_ > 0) return exact_harmonic_;
  if (!table_.empty()) {
    double s = 0;
    for (double v : table_) s += 1.0 / v;
    return static_cast<double>(table_.size()) / s;
  }
  // Adaptive Simpson of 1/a over [0, 1]; exact-enough for smooth fields and steps alike.
  auto g = [&](double y) { return 1.0 / f_(y); };
  std::function<double(double, double, double, double, double, double, int)> rec =
      [&](double a, double b, double fa, double fm, double fb, double whole, int depth) {
        const double m = 0.5 * (a + b), lm = 0.5 * (a + m), rm = 0.5 * (m + b);
        const double flm = g(lm), frm = g(rm);
        const double left = (m - a) / 6 * (fa + 4 * flm + fm), right = (b - m) / 6 * (fm + 4 * frm + fb);
        if (depth > 40 || std::abs(left + right - whole) < 1e-15 * 15) return left + right + (left + right - whole) / 15;
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

}  // namespace patchlearn
