#pragma once
// Coefficient fields a(y): positive, period 1 in the fast variable y = x / epsilon.
//   sinusoid    a(y) = mean + amplitude sin(2 pi y)          (the paper: 1.1 + sin 2 pi y)
//   laminate    a(y) = a1 on [0, fraction), a2 on [fraction, 1)
//   expression  any muParser expression in y, e.g. "1.1 + sin(2*pi*y)"
//   table       K values from a file, piecewise constant on K equal cells of [0, 1)
// A field whose minimum over a period is <= 0 is rejected at construction.
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace patchlearn {

class CoefficientField {
 public:
  static CoefficientField sinusoid(double mean, double amplitude);
  static CoefficientField laminate(double a1, double a2, double fraction);
  static CoefficientField expression(const std::string& expr);
  static CoefficientField table(std::vector<double> values, const std::string& origin = "table");
  /// A table read from a text file: whitespace- or comma-separated numbers, '#' comments.
  static CoefficientField table_file(const std::string& path);

  /// a(y) for any real y (the period is applied).
  double operator()(double y) const;
  /// Sample a at y_j = (j + 0.5) / n, j < n: the face-centred values of one period on a lattice
  /// of n points per period.
  std::vector<double> sample_period(int n) const;
  /// Smallest and largest value over a period (sampled densely, and exactly for tables).
  double min_value() const { return min_; }
  double max_value() const { return max_; }
  /// Harmonic mean 1 / <1/a> over a period: closed form for sinusoid, laminate and table,
  /// adaptive quadrature for expressions.
  double harmonic_mean() const;
  const std::string& description() const { return desc_; }

 private:
  CoefficientField(std::function<double(double)> f, std::string desc, std::vector<double> table = {});
  std::function<double(double)> f_;
  std::string desc_;
  std::vector<double> table_;  // non-empty for piecewise-constant fields (laminate, table)
  double min_ = 0, max_ = 0;
  double exact_harmonic_ = 0;  // > 0 where a closed form is known
};

}  // namespace patchlearn
