#include "patchlearn/coeff/chebyshev.hpp"

#include <algorithm>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "patchlearn/core/error.hpp"
#include "patchlearn/kernels/nonlinear.hpp"

namespace patchlearn {

double ChebyshevTable::value(index_t k, double u) const {
  double f, df;
  kernels::chebyshev_value_slope(coef.data() + k * terms, terms, (u - mid()) * scale(), &f, &df);
  return f;
}

double ChebyshevTable::slope(index_t k, double u) const {
  double f, df;
  kernels::chebyshev_value_slope(coef.data() + k * terms, terms, (u - mid()) * scale(), &f, &df);
  return df * scale();
}

kernels::MediumTables MediumSeries::view(const double* a_values, const double* c_values, const double* r_values,
                                         index_t mats, bool per_element) const {
  kernels::MediumTables t;
  t.a = a_values;
  t.c = c_values;
  t.r = r_values;
  t.na = a.terms;
  t.nc = c.terms;
  t.nr = r.terms;
  t.a_stride = per_element ? a.terms : 0;
  t.c_stride = per_element ? c.terms : 0;
  t.r_stride = per_element ? r.terms : 0;
  t.mats = mats;
  t.u_mid = a.mid();
  t.u_scale = a.scale();
  return t;
}

ChebyshevTable tabulate_in_u(index_t count, const std::function<double(index_t, double)>& f, URange r,
                             const std::string& key, double accuracy) {
  if (!std::isfinite(r.lo) || !std::isfinite(r.hi) || !(r.hi > r.lo))
    throw ConfigError(
        key, fmt::format("a medium that depends on u needs a finite u range with lo < hi, not [{}, {}]", r.lo, r.hi));
  ChebyshevTable t;
  t.lo = r.lo;
  t.hi = r.hi;
  for (int K = 9;; K = 2 * K - 1) {
    // Chebyshev points u_j = mid + half cos(pi (j + 1/2) / K) and the discrete cosine transform.
    std::vector<double> cosines(static_cast<std::size_t>(K) * K), values(K), coef(static_cast<std::size_t>(count) * K);
    for (int k = 0; k < K; ++k)
      for (int j = 0; j < K; ++j) cosines[k * K + j] = std::cos(M_PI * k * (j + 0.5) / K);
    double size = 0, tail = 0;
    for (index_t e = 0; e < count; ++e) {
      for (int j = 0; j < K; ++j) {
        values[j] = f(e, t.mid() + std::cos(M_PI * (j + 0.5) / K) / t.scale());
        if (!std::isfinite(values[j]))
          throw ConfigError(key, fmt::format("is not finite at u = {} (element {})",
                                             t.mid() + std::cos(M_PI * (j + 0.5) / K) / t.scale(), e));
      }
      double norm = 0;
      for (int k = 0; k < K; ++k) {
        double s = 0;
        for (int j = 0; j < K; ++j) s += values[j] * cosines[k * K + j];
        coef[e * K + k] = (k == 0 ? 1.0 : 2.0) * s / K;
        norm += std::abs(coef[e * K + k]);
      }
      size = std::max(size, norm);
      tail = std::max({tail, std::abs(coef[e * K + K - 1]), std::abs(coef[e * K + K - 2])});
    }
    if (tail <= accuracy * size || size == 0) {
      int terms = 1;
      for (index_t e = 0; e < count; ++e)
        for (int k = K - 1; k >= terms; --k)
          if (std::abs(coef[e * K + k]) > accuracy * size) terms = k + 1;
      t.terms = terms;
      t.coef.resize(static_cast<std::size_t>(count) * terms);
      for (index_t e = 0; e < count; ++e) std::copy_n(coef.begin() + e * K, terms, t.coef.begin() + e * terms);
      return t;
    }
    if (K >= kMaxChebyshevPoints)
      throw ConfigError(key, fmt::format("is not smooth enough in u on [{}, {}] to tabulate: its Chebyshev series "
                                         "still has terms of {:.1e} of its size at {} points",
                                         r.lo, r.hi, tail / size, K));
  }
}

ChebyshevTable tabulate_in_u(const MediumExpression& e, URange r) {
  return tabulate_in_u(
      1, [&e](index_t, double u) { return e(0.0, u); }, r, e.key());
}

double SeriesRatio::value(double u) const {
  const double v = p.value(0, u);
  return q.terms ? v / q.value(0, u) : v;
}

double SeriesRatio::slope(double u) const {
  if (!q.terms) return p.slope(0, u);
  const double qv = q.value(0, u);
  return (p.slope(0, u) * qv - p.value(0, u) * q.slope(0, u)) / (qv * qv);
}

kernels::SeriesRatioView SeriesRatio::view(const double* p_values, const double* q_values) const {
  return {p_values, q.terms ? q_values : nullptr, p.terms, q.terms};
}

namespace {

/// x minimizing |A x - b| (A rows x cols, row-major, rows >= cols) by Householder QR; false when a
/// column depends on those before it (its remaining norm <= 1e-13 of the largest column's).
bool least_squares(std::vector<double>& A, std::vector<double>& b, int rows, int cols, std::vector<double>& x) {
  const auto at = [&](int i, int j) -> double& { return A[static_cast<std::size_t>(i) * cols + j]; };
  double widest = 0;
  for (int j = 0; j < cols; ++j) {
    double n2 = 0;
    for (int i = 0; i < rows; ++i) n2 += at(i, j) * at(i, j);
    widest = std::max(widest, std::sqrt(n2));
  }
  std::vector<double> v(rows), diag(cols);
  for (int k = 0; k < cols; ++k) {
    double n2 = 0;
    for (int i = k; i < rows; ++i) n2 += at(i, k) * at(i, k);
    const double norm = std::sqrt(n2);
    if (!(norm > 1e-13 * widest)) return false;
    diag[k] = at(k, k) > 0 ? -norm : norm;
    double v2 = 0;
    for (int i = k; i < rows; ++i) {
      v[i] = at(i, k) - (i == k ? diag[k] : 0.0);
      v2 += v[i] * v[i];
    }
    const auto reflect = [&](auto&& column) {
      double d = 0;
      for (int i = k; i < rows; ++i) d += v[i] * column(i);
      for (int i = k; i < rows; ++i) column(i) -= 2 * d / v2 * v[i];
    };
    for (int j = k + 1; j < cols; ++j) reflect([&](int i) -> double& { return at(i, j); });
    reflect([&](int i) -> double& { return b[i]; });
  }
  x.assign(cols, 0.0);
  for (int k = cols - 1; k >= 0; --k) {
    double s = b[k];
    for (int j = k + 1; j < cols; ++j) s -= at(k, j) * x[j];
    x[k] = s / diag[k];
  }
  return true;
}

/// p (np terms) and q (nq terms, q_0 = 1) with p / q ~ f at the points t: the linearized residual
/// p(t) - f q(t) in least squares, three times, each weighted by 1 / |q| of the one before
/// (Sanathanan-Koerner), so that the last weighs the residual of p / q itself. False where the
/// least squares are degenerate (a type above the function's own) or q vanishes at a point.
bool fit_ratio(const std::vector<double>& t, const std::vector<double>& f, int np, int nq, std::vector<double>& p,
               std::vector<double>& q) {
  const int rows = static_cast<int>(t.size()), cols = np + nq - 1, n = std::max(np, nq);
  std::vector<double> T(static_cast<std::size_t>(rows) * n), w(rows, 1.0), A, b, x;
  for (int i = 0; i < rows; ++i)
    for (int k = 0; k < n; ++k)
      T[i * n + k] = k == 0 ? 1.0 : k == 1 ? t[i] : 2 * t[i] * T[i * n + k - 1] - T[i * n + k - 2];
  for (int pass = 0; pass < 3; ++pass) {
    A.assign(static_cast<std::size_t>(rows) * cols, 0.0);
    b.assign(rows, 0.0);
    for (int i = 0; i < rows; ++i) {
      for (int k = 0; k < np; ++k) A[i * cols + k] = w[i] * T[i * n + k];
      for (int k = 1; k < nq; ++k) A[i * cols + np + k - 1] = -w[i] * f[i] * T[i * n + k];
      b[i] = w[i] * f[i];
    }
    if (!least_squares(A, b, rows, cols, x)) return false;
    p.assign(x.begin(), x.begin() + np);
    q.assign(1, 1.0);
    q.insert(q.end(), x.begin() + np, x.end());
    for (int i = 0; i < rows; ++i) {
      const double qi = kernels::chebyshev_value(q.data(), nq, t[i]);
      if (!(std::abs(qi) > 0)) return false;
      w[i] = 1 / std::abs(qi);
    }
  }
  return true;
}

}  // namespace

SeriesRatio fit_in_u(const MediumExpression& e, URange r) {
  constexpr double kAccuracy = 1e-14;
  constexpr int kFitPoints = 128, kCheckPoints = 4097, kMaxP = 16, kMaxQ = 8;
  SeriesRatio s;
  std::optional<ConfigError> unresolved;
  try {
    s.p = tabulate_in_u(e, r);
  } catch (const ConfigError& err) {
    if (!std::isfinite(r.lo) || !std::isfinite(r.hi) || !(r.hi > r.lo)) throw;
    unresolved = err;
  }
  // Ratios strictly cheaper than the series (any ratio when there is none).
  const int budget = unresolved ? kMaxP + kMaxQ + 2 : s.cost() - 1;
  if (budget < 5) return s;
  ChebyshevTable range;
  range.lo = r.lo;
  range.hi = r.hi;
  const auto sample = [&](int count, auto&& point) {
    std::vector<double> t(count), f(count);
    for (int i = 0; i < count; ++i) {
      t[i] = point(i);
      f[i] = e(0.0, range.mid() + t[i] / range.scale());
      if (!std::isfinite(f[i])) {
        if (unresolved) throw *unresolved;
        throw ConfigError(e.key(), fmt::format("is not finite at u = {}", range.mid() + t[i] / range.scale()));
      }
    }
    return std::pair{t, f};
  };
  const auto [tf, ff] = sample(kFitPoints, [](int i) { return std::cos(M_PI * (i + 0.5) / kFitPoints); });
  const auto [tc, fc] = sample(kCheckPoints, [](int i) { return -1.0 + 2.0 * i / (kCheckPoints - 1); });
  double fmax = 0;
  for (double v : fc) fmax = std::max(fmax, std::abs(v));
  const auto verified = [&](const std::vector<double>& p, const std::vector<double>& q) {
    std::vector<double> qv(kCheckPoints);
    double qmax = 0;
    for (int i = 0; i < kCheckPoints; ++i) {
      qv[i] = kernels::chebyshev_value(q.data(), static_cast<int>(q.size()), tc[i]);
      qmax = std::max(qmax, std::abs(qv[i]));
    }
    for (int i = 0; i < kCheckPoints; ++i) {
      if (!(qv[i] >= 1e-3 * qmax)) return false;  // q_0 = 1 is q's mean: one sign means positive
      const double v = kernels::chebyshev_value(p.data(), static_cast<int>(p.size()), tc[i]) / qv[i];
      if (!(std::abs(v - fc[i]) <= kAccuracy * fmax)) return false;
    }
    return true;
  };
  std::vector<double> p, q;
  for (int cost = 5; cost <= budget; ++cost)
    for (int nq = 2; nq <= kMaxQ; ++nq) {
      const int np = cost - 2 - nq;
      if (np < 1 || np > kMaxP) continue;
      if (!fit_ratio(tf, ff, np, nq, p, q) || !verified(p, q)) continue;
      SeriesRatio ratio;
      ratio.p = ratio.q = range;
      ratio.p.terms = np;
      ratio.p.coef = p;
      ratio.q.terms = nq;
      ratio.q.coef = q;
      return ratio;
    }
  if (unresolved) throw *unresolved;
  return s;
}

}  // namespace patchlearn
