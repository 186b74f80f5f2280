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
  if (!r.finite_interval())
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

ChebyshevTable tabulate_means_in_u(index_t count, const std::function<std::array<double, 2>(index_t, double)>& f,
                                   URange r, const std::string& key, double accuracy) {
  constexpr int kProbes = 9;
  double largest = 0.0, size = 0.0;
  for (index_t e = 0; e < count; ++e)
    for (int j = 0; j < kProbes; ++j) {
      const auto [mean, terms] = f(e, r.lo + (r.hi - r.lo) * (j + 0.5) / kProbes);
      largest = std::max(largest, std::abs(mean));
      size = std::max({size, terms, std::abs(mean)});  // a mean is no larger than its terms
    }
  const bool cancels = !(largest > 100.0 * accuracy * size);
  return tabulate_in_u(
      count, [&](index_t e, double u) { return cancels ? 0.0 : f(e, u)[0]; }, r, key,
      cancels ? accuracy : accuracy * size / largest);
}

ChebyshevTable tabulate_in_u(const MediumExpression& e, URange r) {
  return tabulate_in_u(
      1, [&e](index_t, double u) { return e(0.0, u); }, r, e.key());
}

namespace {

/// The value and t-derivative at t of one of a SeriesRatio's polynomials (Clenshaw, or Horner with
/// its derivative for the powers of t).
void polynomial_value_slope(const ChebyshevTable& c, bool monomial, double t, double* f, double* df) {
  if (!monomial) return kernels::chebyshev_value_slope(c.coef.data(), c.terms, t, f, df);
  double v = 0, d = 0;
  for (int k = c.terms - 1; k >= 0; --k) {
    d = v + t * d;
    v = c.coef[k] + t * v;
  }
  *f = v;
  *df = d;
}

}  // namespace

double SeriesRatio::value(double u) const {
  const double t = (u - p.mid()) * p.scale();
  double f, df, g, dg;
  polynomial_value_slope(p, monomial, t, &f, &df);
  if (!q.terms) return f;
  polynomial_value_slope(q, monomial, t, &g, &dg);
  return f / g;
}

double SeriesRatio::slope(double u) const {
  const double t = (u - p.mid()) * p.scale();
  double f, df, g = 1, dg = 0;
  polynomial_value_slope(p, monomial, t, &f, &df);
  if (q.terms) polynomial_value_slope(q, monomial, t, &g, &dg);
  return (df * g - f * dg) / (g * g) * p.scale();
}

kernels::SeriesRatioView SeriesRatio::view(const double* p_values, const double* q_values) const {
  return {p_values, q.terms ? q_values : nullptr, p.terms, q.terms, monomial};
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

/// The powers of t of a Chebyshev series' coefficients (T_k = 2t T_k-1 - T_k-2).
std::vector<double> to_monomial(const std::vector<double>& c) {
  const std::size_t n = c.size();
  std::vector<double> a(n, 0.0), prev(n, 0.0), cur(n, 0.0), next(n);
  for (std::size_t k = 0; k < n; ++k) {
    if (k == 0) {
      cur[0] = 1;
    } else if (k == 1) {
      prev = cur;
      cur.assign(n, 0.0);
      cur[1] = 1;
    } else {
      for (std::size_t i = 0; i < n; ++i) next[i] = (i > 0 ? 2 * cur[i - 1] : 0.0) - prev[i];
      prev = cur;
      cur = next;
    }
    for (std::size_t i = 0; i <= k; ++i) a[i] += c[k] * cur[i];
  }
  return a;
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
    if (!r.finite_interval()) throw;
    unresolved = err;
  }
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
  const auto [tc, fc] = sample(kCheckPoints, [](int i) { return -1.0 + 2.0 * i / (kCheckPoints - 1); });
  double fmax = 0;
  for (double v : fc) fmax = std::max(fmax, std::abs(v));
  // s as the device evaluates it, at the check points: q of one sign with |q| >= 1e-3 max |q|
  // (q_0 = 1 is q's mean, so that sign is +), and within the accuracy of the expression.
  const auto verified = [&](const SeriesRatio& s) {
    const kernels::SeriesRatioView v = s.view(s.p.coef.data(), s.q.coef.data());
    std::vector<double> qv(kCheckPoints, 1.0);
    double qmax = 0;
    for (int i = 0; i < kCheckPoints && v.q; ++i) {
      qv[i] = v.polynomial(v.q, v.nq, tc[i]);
      qmax = std::max(qmax, std::abs(qv[i]));
    }
    for (int i = 0; i < kCheckPoints; ++i) {
      if (v.q && !(qv[i] >= 1e-3 * qmax)) return false;
      if (!(std::abs(v.polynomial(v.p, v.np, tc[i]) / qv[i] - fc[i]) <= kAccuracy * fmax)) return false;
    }
    return true;
  };
  // Ratios strictly cheaper than the series (any ratio when there is none).
  const int budget = unresolved ? kMaxP + kMaxQ + 2 : s.cost() - 1;
  std::vector<double> p, q;
  bool found = false;
  if (budget >= 5) {
    const auto [tf, ff] = sample(kFitPoints, [](int i) { return std::cos(M_PI * (i + 0.5) / kFitPoints); });
    for (int cost = 5; cost <= budget && !found; ++cost)
      for (int nq = 2; nq <= kMaxQ && !found; ++nq) {
        const int np = cost - 2 - nq;
        if (np < 1 || np > kMaxP || !fit_ratio(tf, ff, np, nq, p, q)) continue;
        SeriesRatio ratio;
        ratio.p = ratio.q = range;
        ratio.p.terms = np;
        ratio.p.coef = p;
        ratio.q.terms = nq;
        ratio.q.coef = q;
        if ((found = verified(ratio))) s = ratio;
      }
  }
  if (unresolved && !found) throw *unresolved;
  // The same polynomials in powers of t where Horner keeps the accuracy (not where the
  // conversion cancels: a series with large coefficients of alternating sign).
  SeriesRatio powers = s;
  powers.monomial = true;
  powers.p.coef = to_monomial(s.p.coef);
  if (s.q.terms) powers.q.coef = to_monomial(s.q.coef);
  return verified(powers) ? powers : s;
}

}  // namespace patchlearn
