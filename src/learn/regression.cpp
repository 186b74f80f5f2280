#include "patchlearn/learn/regression.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "patchlearn/kernels/coarse.hpp"
#include "patchlearn/learn/networks.hpp"

namespace patchlearn::learn {

std::vector<double> least_squares(std::vector<double> A, std::vector<double> b, int rows, int cols) {
  if (rows < cols) throw std::invalid_argument("least_squares: fewer samples than terms");
  for (int k = 0; k < cols; ++k) {
    double norm = 0;
    for (int r = k; r < rows; ++r) norm += A[r * cols + k] * A[r * cols + k];
    norm = std::sqrt(norm);
    if (norm == 0) continue;
    const double alpha = A[k * cols + k] > 0 ? -norm : norm;
    // v = x - alpha e1, stored in column k below (and on) the diagonal
    A[k * cols + k] -= alpha;
    double vnorm2 = 0;
    for (int r = k; r < rows; ++r) vnorm2 += A[r * cols + k] * A[r * cols + k];
    for (int c = k + 1; c < cols; ++c) {
      double dot = 0;
      for (int r = k; r < rows; ++r) dot += A[r * cols + k] * A[r * cols + c];
      const double f = 2 * dot / vnorm2;
      for (int r = k; r < rows; ++r) A[r * cols + c] -= f * A[r * cols + k];
    }
    double dot = 0;
    for (int r = k; r < rows; ++r) dot += A[r * cols + k] * b[r];
    const double f = 2 * dot / vnorm2;
    for (int r = k; r < rows; ++r) b[r] -= f * A[r * cols + k];
    A[k * cols + k] = alpha;  // R's diagonal
  }
  std::vector<double> x(cols, 0.0);
  for (int k = cols - 1; k >= 0; --k) {
    double s = b[k];
    for (int c = k + 1; c < cols; ++c) s -= A[k * cols + c] * x[c];
    x[k] = A[k * cols + k] != 0 ? s / A[k * cols + k] : 0.0;
  }
  return x;
}

RegressionResult regress(const std::vector<double>& U, const std::vector<double>& dUdt, int M, double dX, int stencil,
                         double threshold) {
  std::vector<std::string> terms = {"1", "U", "U_x", "U_xx", "U^2", "U U_x", "U U_xx", "U_x^2", "U_x U_xx", "U_xx^2"};
  const int P = static_cast<int>(terms.size());
  const std::size_t N = U.size() / M;
  const int rows = static_cast<int>(N * (M - 2));
  std::vector<double> theta(static_cast<std::size_t>(rows) * P), y(rows);
  double D[5];
  for (std::size_t n = 0; n < N; ++n)
    for (int i = 1; i < M - 1; ++i) {
      kernels::macro_differences(U.data() + n * M, M, i, stencil == 5 ? 4 : 2, dX, D);
      const double u = D[0], ux = D[1], uxx = D[2];
      const double row[] = {1, u, ux, uxx, u * u, u * ux, u * uxx, ux * ux, ux * uxx, uxx * uxx};
      const std::size_t r = n * (M - 2) + (i - 1);
      for (int j = 0; j < P; ++j) theta[r * P + j] = row[j];
      y[r] = dUdt[n * M + i];
    }
  auto res = stlsq(theta, y, std::move(terms), threshold);
  res.a_star = res.coefficient("U_xx");
  return res;
}

RegressionResult regress_2d(const std::vector<double>& U, const std::vector<double>& dUdt, int P, double L,
                            double threshold) {
  const auto N = static_cast<int64_t>(U.size() / (static_cast<std::size_t>(P) * P));
  const auto Ut = torch::from_blob(const_cast<double*>(U.data()), {N, P, P}, torch::kDouble);
  const auto d = [&](int px, int py) { return spectral_derivative_2d(Ut, L, px, py); };
  const auto f = torch::stack({Ut, d(1, 0), d(0, 1), d(2, 0), d(1, 1), d(0, 2), d(4, 0), d(2, 2), d(0, 4)}, -1)
                     .reshape({-1, 9})
                     .contiguous();
  const auto* F = f.data_ptr<double>();
  std::vector<std::string> terms = {"1",      "U",      "U_x",    "U_y", "U_xx",  "U_xy", "U_yy",
                                    "U_xxxx", "U_xxyy", "U_yyyy", "U^2", "U U_x", "U U_y"};
  const int T = static_cast<int>(terms.size());
  const std::size_t rows = static_cast<std::size_t>(f.size(0));
  std::vector<double> theta(rows * T);
  for (std::size_t r = 0; r < rows; ++r) {
    const double* v = F + r * 9;
    const double row[] = {1,    v[0], v[1], v[2],        v[3],        v[4],       v[5],
                          v[6], v[7], v[8], v[0] * v[0], v[0] * v[1], v[0] * v[2]};
    for (int j = 0; j < T; ++j) theta[r * T + j] = row[j];
  }
  return stlsq(theta, dUdt, std::move(terms), threshold);
}

double RegressionResult::coefficient(const std::string& term) const {
  for (std::size_t j = 0; j < terms.size(); ++j)
    if (terms[j] == term) return stlsq[j];
  return 0.0;
}

RegressionResult stlsq(const std::vector<double>& theta, const std::vector<double>& y, std::vector<std::string> terms,
                       double threshold) {
  RegressionResult res;
  res.terms = std::move(terms);
  const int P = static_cast<int>(res.terms.size());
  const int rows = static_cast<int>(y.size());
  // Column scales (the constant column keeps scale 1) for conditioning and for the threshold.
  double ymean = 0, ystd = 0;
  for (double v : y) ymean += v;
  ymean /= rows;
  for (double v : y) ystd += (v - ymean) * (v - ymean);
  ystd = std::sqrt(ystd / rows);
  std::vector<double> scale(P, 1.0);
  for (int j = 1; j < P; ++j) {
    double m = 0, s = 0;
    for (int r = 0; r < rows; ++r) m += theta[r * P + j];
    m /= rows;
    for (int r = 0; r < rows; ++r) s += (theta[r * P + j] - m) * (theta[r * P + j] - m);
    scale[j] = std::sqrt(s / rows) > 0 ? std::sqrt(s / rows) : 1.0;
  }
  auto fit = [&](const std::vector<int>& active) {
    const int k = static_cast<int>(active.size());
    std::vector<double> A(static_cast<std::size_t>(rows) * k);
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < k; ++c) A[r * k + c] = theta[r * P + active[c]] / scale[active[c]];
    const auto xs = least_squares(std::move(A), y, rows, k);
    std::vector<double> xi(P, 0.0);
    for (int c = 0; c < k; ++c) xi[active[c]] = xs[c] / scale[active[c]];
    return xi;
  };
  // Terms the data cannot tell apart from earlier ones (e.g. U_xxxx = 5 U_xx + 4 U when only
  // wavenumbers 1 and 2 occur) are left out: modified Gram-Schmidt on the columns in library
  // order drops a column whose part independent of the kept ones is below 1e-8 of its norm.
  std::vector<int> active;
  {
    std::vector<std::vector<double>> basis;
    for (int j = 0; j < P; ++j) {
      std::vector<double> v(rows);
      double n0 = 0;
      for (int r = 0; r < rows; ++r) n0 += (v[r] = theta[static_cast<std::size_t>(r) * P + j]) * v[r];
      for (const auto& q : basis) {
        double d = 0;
        for (int r = 0; r < rows; ++r) d += q[r] * v[r];
        for (int r = 0; r < rows; ++r) v[r] -= d * q[r];
      }
      double n1 = 0;
      for (int r = 0; r < rows; ++r) n1 += v[r] * v[r];
      if (n0 == 0 || n1 < 1e-16 * n0) continue;
      for (auto& x : v) x /= std::sqrt(n1);
      basis.push_back(std::move(v));
      active.push_back(j);
    }
  }
  res.least_squares = fit(active);
  res.stlsq = res.least_squares;
  for (int it = 0; it < 10; ++it) {
    std::vector<int> keep;
    for (int j : active)
      if (std::abs(res.stlsq[j]) * (j == 0 ? 1.0 : scale[j]) >= threshold * ystd) keep.push_back(j);
    if (keep.size() == active.size() || keep.empty()) break;
    active = keep;
    res.stlsq = fit(active);
  }
  res.equation = "dU/dt =";
  bool first = true;
  for (int j = 0; j < P; ++j) {
    if (res.stlsq[j] == 0.0) continue;
    res.equation +=
        fmt::format("{}{:.7g}{}{}", first ? " " : (res.stlsq[j] < 0 ? " - " : " + "),
                    first ? res.stlsq[j] : std::abs(res.stlsq[j]), j == 0 ? "" : " ", j == 0 ? "" : res.terms[j]);
    first = false;
  }
  if (first) res.equation += " 0";
  double num = 0, den = 0;
  for (int r = 0; r < rows; ++r) {
    double pred = 0;
    for (int j = 0; j < P; ++j) pred += res.stlsq[j] * theta[r * P + j];
    num += (pred - y[r]) * (pred - y[r]);
    den += (y[r] - ymean) * (y[r] - ymean);
  }
  res.relative_residual = num / den;
  return res;
}

}  // namespace patchlearn::learn
