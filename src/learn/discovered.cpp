#include "patchlearn/learn/discovered.hpp"

#include <stdexcept>

#include "patchlearn/learn/networks.hpp"

using torch::indexing::Slice;

namespace patchlearn::learn {

torch::Tensor evaluate_terms(const DerivativeMap& d, const std::vector<std::string>& terms,
                             const std::vector<double>& coefficients) {
  const torch::Tensor& like = d.at("U");
  torch::Tensor sum = torch::zeros_like(like);
  for (std::size_t j = 0; j < terms.size(); ++j) {
    if (coefficients[j] == 0.0) continue;
    torch::Tensor t = torch::ones_like(like);
    for (const auto& [name, power] : term_factors(terms[j])) {
      const auto it = d.find(name);
      if (it == d.end()) throw std::invalid_argument("discovered equation: unknown factor '" + name + "'");
      t = t * (power == 1 ? it->second : it->second.pow(power));
    }
    sum = sum + coefficients[j] * t;
  }
  return sum;
}

DerivativeMap macro_derivatives_1d(const torch::Tensor& U, double dX, int stencil) {
  const auto M = U.size(1);
  const auto at = [&](int64_t lo) { return U.index({Slice(), Slice(lo, M - 2 + lo)}); };  // U[i - 1 + lo]
  const auto um = at(0), u0 = at(1), up = at(2);
  auto ux = (up - um) / (2 * dX), uxx = (up - 2 * u0 + um) / (dX * dX);
  if (stencil == 5 && M >= 5) {
    // 5-point differences at nodes 2..M-3 (rows 1..M-4 of the interior).
    const auto v = [&](int64_t lo) { return U.index({Slice(), Slice(lo, M - 4 + lo)}); };  // U[i - 2 + lo]
    const auto vm2 = v(0), vm1 = v(1), v0 = v(2), vp1 = v(3), vp2 = v(4);
    const auto inner = Slice(1, M - 3);
    ux = ux.clone();
    uxx = uxx.clone();
    ux.index_put_({Slice(), inner}, (-vp2 + 8 * vp1 - 8 * vm1 + vm2) / (12 * dX));
    uxx.index_put_({Slice(), inner}, (-vp2 + 16 * vp1 - 30 * v0 + 16 * vm1 - vm2) / (12 * dX * dX));
  }
  return {{"U", u0}, {"U_x", ux}, {"U_xx", uxx}};
}

DerivativeMap spectral_derivatives_2d(const torch::Tensor& U, int P, double L) {
  const auto V = U.reshape({-1, P, P});
  const auto d = [&](int px, int py) { return spectral_derivative_2d(V, L, px, py).reshape({-1, P * P}); };
  return {{"U", U.reshape({-1, P * P})},
          {"U_x", d(1, 0)},
          {"U_y", d(0, 1)},
          {"U_xx", d(2, 0)},
          {"U_xy", d(1, 1)},
          {"U_yy", d(0, 2)},
          {"U_xxxx", d(4, 0)},
          {"U_xxyy", d(2, 2)},
          {"U_yyyy", d(0, 4)}};
}

torch::Tensor ToothAverage::evaluate(const DerivativeMap& centre, const std::vector<std::string>& terms,
                                     const std::vector<double>& coefficients) const {
  if (width <= 0.0) return evaluate_terms(centre, terms, coefficients);
  // Gauss-Legendre nodes and weights on [-1, 1].
  static constexpr double node[4] = {-0.8611363115940526, -0.3399810435848563, 0.3399810435848563, 0.8611363115940526};
  static constexpr double weight[4] = {0.3478548451374538, 0.6521451548625461, 0.6521451548625461, 0.3478548451374538};
  const torch::Tensor &U = centre.at("U"), &Ux = centre.at("U_x"), &Uxx = centre.at("U_xx");
  torch::Tensor sum;
  for (int g = 0; g < 4; ++g) {
    const double z = 0.5 * width * node[g];
    DerivativeMap at = centre;
    at["U"] = U + Ux * z + 0.5 * (z * z - width * width / 12.0) * Uxx;
    at["U_x"] = Ux + z * Uxx;
    const auto v = 0.5 * weight[g] * evaluate_terms(at, terms, coefficients);
    sum = g ? sum + v : v;
  }
  return sum;
}

torch::Tensor DiscoveredOperator::rhs(const torch::Tensor& U) {
  const auto rates = tooth_.evaluate(derivatives_(U), fit_.terms, fit_.stlsq);
  if (!interior_) return rates;
  auto out = torch::zeros_like(U);
  out.index_put_({Slice(), Slice(1, U.size(1) - 1)}, rates);
  return out;
}

}  // namespace patchlearn::learn
