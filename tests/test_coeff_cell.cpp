// Coefficient fields and the 1D cell problem.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "patchlearn/coeff/field.hpp"
#include "patchlearn/core/error.hpp"
#include "patchlearn/homog/cell1d.hpp"
#include "patchlearn/micro/diffusion1d.hpp"

using namespace patchlearn;

namespace {
// Bond conductances of one period on a lattice of n points per period.
std::vector<double> period(const CoefficientField& f, int n) { return FineModel1D(f, 1.0, 1.0 / n).conductances(0, n); }
}  // namespace

TEST(Cell1D, PaperSinusoidIsSqrt021) {
  // 1/(1.1 + sin 2 pi y) has Fourier coefficients decaying like 0.64^k, so the 100-point lattice
  // harmonic mean equals the continuum one to ~0.64^100 ~ 1e-19: only roundoff remains.
  const auto f = CoefficientField::sinusoid(1.1, 1.0);
  const double exact = std::sqrt(0.21);
  EXPECT_NEAR(f.harmonic_mean(), exact, 1e-15);
  const auto cell = solve_cell_problem_1d(period(f, 100));
  EXPECT_NEAR(cell.a_star, exact, 1e-12);
  EXPECT_NEAR(cell.a_star, 0.458257569495584, 1e-12);
}

TEST(Cell1D, LaminateIsHarmonicMean) {
  // With fraction * n an integer the lattice represents the layers exactly.
  const auto f = CoefficientField::laminate(1.0, 4.0, 0.3);
  const double exact = 1.0 / (0.3 / 1.0 + 0.7 / 4.0);
  EXPECT_NEAR(f.harmonic_mean(), exact, 1e-15);
  EXPECT_NEAR(solve_cell_problem_1d(period(f, 100)).a_star, exact, 1e-12);
  EXPECT_NEAR(solve_cell_problem_1d(period(f, 10)).a_star, exact, 1e-12);
}

TEST(Cell1D, CorrectorMakesFluxConstant) {
  // The cell problem states that a (1 + chi') is constant; check it pointwise for a rough table.
  const std::vector<double> a{1.0, 3.0, 0.5, 2.0, 7.0, 0.25, 1.5};
  const auto cell = solve_cell_problem_1d(a);
  const int n = static_cast<int>(a.size());
  double mean = 0;
  for (double c : cell.chi) mean += c;
  EXPECT_NEAR(mean, 0.0, 1e-14);
  for (int j = 0; j < n; ++j) EXPECT_NEAR(a[j] * (1.0 + (cell.chi[(j + 1) % n] - cell.chi[j]) * n), cell.a_star, 1e-12);
  EXPECT_NEAR(cell.a_star, CoefficientField::table(a).harmonic_mean(), 1e-12);
}

TEST(Coefficient, ExpressionMatchesSinusoid) {
  const auto e = CoefficientField::expression("1.1 + sin(2*pi*y)");
  const auto s = CoefficientField::sinusoid(1.1, 1.0);
  for (double y : {0.0, 0.1, 0.37, 0.5, 0.99, 3.25}) EXPECT_NEAR(e(y), s(y), 1e-15);
  // Quadrature route for expressions: same harmonic mean as the closed form.
  EXPECT_NEAR(e.harmonic_mean(), std::sqrt(0.21), 1e-10);
}

TEST(Coefficient, TableFromFile) {
  const std::string path = testing::TempDir() + "/table.txt";
  {
    std::ofstream o(path);
    o << "# two-phase table\n1.0, 2.0\n4.0   # comment\n";
  }
  const auto t = CoefficientField::table_file(path);
  EXPECT_DOUBLE_EQ(t(0.1), 1.0);
  EXPECT_DOUBLE_EQ(t(0.5), 2.0);
  EXPECT_DOUBLE_EQ(t(0.9), 4.0);
  EXPECT_DOUBLE_EQ(t(1.1), 1.0);
  EXPECT_NEAR(t.harmonic_mean(), 3.0 / (1.0 + 0.5 + 0.25), 1e-15);
  std::remove(path.c_str());
}

TEST(Coefficient, NonPositiveFieldsAreRejected) {
  EXPECT_THROW(CoefficientField::sinusoid(1.0, 1.0), ConfigError);  // min exactly 0
  EXPECT_THROW(CoefficientField::sinusoid(0.5, 1.0), ConfigError);
  EXPECT_THROW(CoefficientField::laminate(1.0, -2.0, 0.5), ConfigError);
  EXPECT_THROW(CoefficientField::expression("sin(2*pi*y)"), ConfigError);
  EXPECT_THROW(CoefficientField::table({1.0, 0.0, 2.0}), ConfigError);
  EXPECT_THROW(CoefficientField::expression("1 + "), ConfigError);
  EXPECT_THROW(CoefficientField::table_file("/nonexistent/table.txt"), InputError);
  try {
    CoefficientField::sinusoid(0.5, 1.0);
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key, "medium.coefficient");
    EXPECT_NE(std::string(e.what()).find("-0.5"), std::string::npos);
  }
  // The message names the table by its real size (the name is made before the values move).
  try {
    CoefficientField::table({-1.0, 0.0, -2.0}, "t.txt");
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("table of 3 values (t.txt)"), std::string::npos) << e.what();
  }
}
