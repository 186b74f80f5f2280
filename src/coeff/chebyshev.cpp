#include "patchlearn/coeff/chebyshev.hpp"

#include <algorithm>
#include <cmath>

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

}  // namespace patchlearn
