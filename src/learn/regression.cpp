#include "patchlearn/learn/regression.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <stdexcept>

#include "patchlearn/homog/homogenized2d.hpp"
#include "patchlearn/learn/discovered.hpp"
#include "patchlearn/learn/tensors.hpp"
#include "patchlearn/schemes/coarse_operator.hpp"

using torch::indexing::Slice;

namespace patchlearn::learn {

std::vector<double> least_squares(std::vector<double> A, std::vector<double> b, int rows, int cols) {
  if (rows < cols) throw std::invalid_argument("least_squares: fewer samples than terms");
  const auto At = torch::from_blob(A.data(), {rows, cols}, torch::kDouble);
  const auto bt = torch::from_blob(b.data(), {rows, 1}, torch::kDouble);
  return to_vector(std::get<0>(torch::linalg_lstsq(At, bt, c10::nullopt, "gelsy")).flatten());
}

namespace {

/// The library's columns [terms, rows...], each term evaluated from its name on the derivatives
/// (averaged over the 1D teeth with `tooth`), as the discovered equation evaluates it.
torch::Tensor library_columns(const DerivativeMap& d, const std::vector<std::string>& terms,
                              const ToothAverage& tooth = {}) {
  std::vector<torch::Tensor> cols;
  for (const auto& t : terms) cols.push_back(tooth.evaluate(d, {t}, {1.0}));
  return torch::stack(cols);
}

/// theta [rows][terms] (row-major), as stlsq takes it, from the columns [terms, rows...].
std::vector<double> row_major(const torch::Tensor& columns) {
  return to_vector(columns.reshape({columns.size(0), -1}).t().contiguous());
}

/// V [..., P*P] times the Fourier multiplier w [P, P] of the periodic P x P grid, mode by mode.
torch::Tensor multiply_modes(const torch::Tensor& V, const torch::Tensor& w, int P) {
  return torch::real(torch::fft::ifft2(torch::fft::fft2(V.reshape({-1, P, P})) * w)).reshape(V.sizes()).contiguous();
}

/// The projection on the modes |kx|, |ky| <= K of the P x P grid (regress_2d's `modes`).
torch::Tensor slow_modes(int P, int K, const torch::Tensor& like) {
  std::vector<double> w(static_cast<std::size_t>(P) * P);
  const auto slow = [&](int i) { return std::min(i, P - i) <= K; };  // |signed index| <= K
  for (int j = 0; j < P; ++j)
    for (int i = 0; i < P; ++i) w[j * P + i] = slow(i) && slow(j) ? 1.0 : 0.0;
  return to_tensor(w, {P, P}, like.device(), like.scalar_type());
}

/// The library `base` and each of its terms times every function of `position` ("1" times phi is phi).
std::vector<std::string> position_terms(const std::vector<std::string>& base, const PositionBasis& position) {
  std::vector<std::string> terms = base;
  for (const auto& [name, phi] : position.functions())
    for (const auto& t : base) terms.push_back(t == "1" ? name : name + "*" + t);
  return terms;
}

}  // namespace

std::vector<std::pair<int, PositionBasis::Function>> PositionBasis::axis_functions(int axis) const {
  std::vector<std::pair<int, Function>> f;
  const std::string v = axis == 0 ? "x" : "y";
  // The coordinate of this axis.
  const auto at = [axis](double x, double y) { return axis == 0 ? x : y; };
  for (int k = 1; k <= degree && kind != Kind::None; ++k) {
    if (kind == Kind::Polynomial) {
      f.push_back({k, {k == 1 ? v : v + "^" + std::to_string(k), [k, at](double x, double y) {
                         return std::pow(at(x, y), k);
                       }}});
    } else {
      const double w = 2.0 * M_PI * k / length;
      const std::string arg = fmt::format("({}pi {}/L)", 2 * k, v);
      f.push_back({k, {"sin" + arg, [w, at](double x, double y) { return std::sin(w * at(x, y)); }}});
      f.push_back({k, {"cos" + arg, [w, at](double x, double y) { return std::cos(w * at(x, y)); }}});
    }
  }
  return f;
}

std::vector<PositionBasis::Function> PositionBasis::functions() const {
  const auto fx = axis_functions(0);
  std::vector<Function> f;
  for (const auto& [k, phi] : fx) f.push_back(phi);
  if (dimensions < 2) return f;
  for (const auto& [l, psi] : axis_functions(1)) {
    f.push_back(psi);
    for (const auto& [k, phi] : fx)
      if (kind == Kind::Fourier || k + l <= degree)
        f.push_back({phi.first + "*" + psi.first,
                     [a = phi.second, b = psi.second](double x, double y) { return a(x, y) * b(x, y); }});
  }
  return f;
}

double PositionBasis::coefficient_at(const RegressionResult& fit, const std::string& term, double x, double y) const {
  double c = fit.coefficient(term);
  for (const auto& [name, phi] : functions()) c += fit.coefficient(name + "*" + term) * phi(x, y);
  return c;
}

DerivativeMap with_position(DerivativeMap d, const PositionBasis& basis, const std::vector<double>& x,
                            const std::vector<double>& y) {
  if (basis.kind == PositionBasis::Kind::None) return d;
  const torch::Tensor& U = d.at("U");  // [B, K]: the nodes at (x[k], y[k])
  const auto K = U.size(1);
  if (static_cast<int64_t>(x.size()) != K || (!y.empty() && y.size() != x.size()))
    throw std::invalid_argument("with_position: one position per column of U");
  // The factors of one axis are all a term needs (products are split at '*'); "x" carries the
  // position itself, so "x^2" is its square (evaluate_terms' powers); so does "y".
  for (int axis = 0; axis < basis.dimensions; ++axis)
    for (const auto& [order, phi] : basis.axis_functions(axis)) {
      if (basis.kind == PositionBasis::Kind::Polynomial && order > 1) continue;
      std::vector<double> v(static_cast<std::size_t>(K));
      for (int64_t k = 0; k < K; ++k) v[k] = phi.second(x[k], y.empty() ? 0.0 : y[k]);
      d[phi.first] = torch::tensor(v, U.options()).unsqueeze(0).expand_as(U);
    }
  return d;
}

DerivativeMap with_position(DerivativeMap d, const PositionBasis& basis, double dX) {
  std::vector<double> x(static_cast<std::size_t>(d.at("U").size(1)));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<double>(i + 1) * dX;
  return with_position(std::move(d), basis, x);
}

DerivativeMap with_position_2d(DerivativeMap d, const PositionBasis& basis, const std::vector<double>& centres) {
  if (basis.kind == PositionBasis::Kind::None) return d;
  const std::size_t P = centres.size();
  std::vector<double> x(P * P), y(P * P);
  for (std::size_t k = 0; k < P * P; ++k) x[k] = centres[k % P], y[k] = centres[k / P];
  return with_position(std::move(d), basis, x, y);
}

double RegressionResult::coefficient(const std::string& term) const {
  for (std::size_t j = 0; j < terms.size(); ++j)
    if (terms[j] == term) return stlsq[j];
  return 0.0;
}

namespace {
/// The prediction theta xi of every row of a library of P columns.
std::vector<double> predict(const std::vector<double>& theta, std::size_t P, const std::vector<double>& xi) {
  std::vector<double> v(theta.size() / P, 0.0);
  for (std::size_t r = 0; r < v.size(); ++r)
    for (std::size_t j = 0; j < P; ++j) v[r] += xi[j] * theta[r * P + j];
  return v;
}

/// A library prepared for STLSQ on its rows: the work that does not depend on the threshold, done
/// once. Two scales per column: its norm, to which it is scaled for the least squares (QR on raw
/// columns whose norms differ by orders of magnitude loses the small ones' digits), and its
/// standard deviation (the rms for a column constant up to rounding), which standardizes the
/// threshold. Terms the data cannot tell apart from earlier ones (e.g. U_xxxx = 5 U_xx + 4 U when
/// only wavenumbers 1 and 2 occur) are left out: a column whose part independent of the earlier
/// ones is below 1e-8 of its norm (LAPACK's blocked Householder QR in library order).
class PreparedLibrary {
 public:
  PreparedLibrary(const std::vector<double>& theta, const std::vector<double>& y, std::size_t columns)
      : theta_(theta),
        y_(y),
        P_(static_cast<int>(columns)),
        rows_(static_cast<int>(y.size())),
        norm_(P_, 1.0),
        spread_(P_, 1.0) {
    double ymean = 0;
    for (double v : y_) ymean += v;
    ymean /= rows_;
    for (double v : y_) ystd_ += (v - ymean) * (v - ymean);
    ystd_ = std::sqrt(ystd_ / rows_);
    for (int j = 0; j < P_; ++j) {
      double m = 0, s = 0, q = 0;
      for (int r = 0; r < rows_; ++r) m += at(r, j);
      m /= rows_;
      for (int r = 0; r < rows_; ++r) {
        s += (at(r, j) - m) * (at(r, j) - m);
        q += at(r, j) * at(r, j);
      }
      if (q > 0) norm_[j] = std::sqrt(q);
      spread_[j] = s > 1e-24 * q ? std::sqrt(s / rows_) : std::sqrt(q / rows_);
    }
    // |R_jj| of the QR of the normalized columns in library order is the norm of column j's part
    // independent of the columns before it.
    const auto scaled = torch::from_blob(const_cast<double*>(theta_.data()), {rows_, P_}, torch::kDouble) /
                        to_tensor(norm_, {1, P_}, torch::kCPU, torch::kDouble);
    const auto independent = std::get<1>(torch::linalg_qr(scaled, "r")).diagonal().abs();
    for (int j = 0; j < P_; ++j)
      if (independent[j].item<double>() >= 1e-8) independent_.push_back(j);
    least_squares_ = fit(independent_);
  }

  /// Least squares on every independent column.
  const std::vector<double>& least_squares() const { return least_squares_; }

  /// STLSQ from the least squares: drop every term whose standardized coefficient |xi_j| std_j is
  /// below threshold * std(y), refit, until nothing changes (at most 10 rounds).
  std::vector<double> thresholded(double threshold) const {
    auto active = independent_;
    auto xi = least_squares_;
    for (int it = 0; it < 10; ++it) {
      std::vector<int> keep;
      for (int j : active)
        if (std::abs(xi[j]) * spread_[j] >= threshold * ystd_) keep.push_back(j);
      if (keep.size() == active.size() || keep.empty()) break;
      active = keep;
      xi = fit(active);
    }
    return xi;
  }

 private:
  double at(int r, int j) const { return theta_[static_cast<std::size_t>(r) * P_ + j]; }
  std::vector<double> fit(const std::vector<int>& active) const {
    const int k = static_cast<int>(active.size());
    std::vector<double> A(static_cast<std::size_t>(rows_) * k);
    for (int r = 0; r < rows_; ++r)
      for (int c = 0; c < k; ++c) A[static_cast<std::size_t>(r) * k + c] = at(r, active[c]) / norm_[active[c]];
    const auto xs = learn::least_squares(std::move(A), y_, rows_, k);
    std::vector<double> xi(P_, 0.0);
    for (int c = 0; c < k; ++c) xi[active[c]] = xs[c] / norm_[active[c]];
    return xi;
  }
  const std::vector<double>& theta_;
  const std::vector<double>& y_;
  int P_, rows_;
  double ystd_ = 0;
  std::vector<double> norm_, spread_, least_squares_;
  std::vector<int> independent_;
};

/// A library's rows split for choosing from the data: every fifth row held out, the other four
/// prepared for STLSQ, and a coefficient vector's eq.-(24) error on the held-out rows.
class HeldOutFifth {
 public:
  HeldOutFifth(const std::vector<double>& theta, const std::vector<double>& y, std::size_t P) : P_(P) {
    for (std::size_t r = 0; r < y.size(); ++r) {
      auto& t = r % 5 == 4 ? held_theta_ : fit_theta_;
      (r % 5 == 4 ? held_y_ : fit_y_).push_back(y[r]);
      t.insert(t.end(), theta.begin() + static_cast<std::ptrdiff_t>(r * P),
               theta.begin() + static_cast<std::ptrdiff_t>((r + 1) * P));
    }
    fitting_.emplace(fit_theta_, fit_y_, P);
  }
  const PreparedLibrary& fitting() const { return *fitting_; }
  double error(const std::vector<double>& xi) const {
    return patchlearn::relative_mse(predict(held_theta_, P_, xi), held_y_);
  }

 private:
  std::size_t P_;
  std::vector<double> fit_theta_, fit_y_, held_theta_, held_y_;
  std::optional<PreparedLibrary> fitting_;  ///< on fit_theta_, fit_y_ (which it references)
};

/// The threshold chosen from the data (a negative threshold: see regression.hpp): STLSQ on four
/// rows in five at quarter-decade thresholds 1e-5 .. 10^-0.5, each scored on the held-out fifth;
/// the largest whose error is within 10% of the lowest.
double chosen_threshold(const std::vector<double>& theta, const std::vector<double>& y, std::size_t P) {
  if (y.size() / 5 < P) throw std::invalid_argument("stlsq: too few samples to choose the threshold");  // held out
  const HeldOutFifth rows(theta, y, P);
  std::vector<double> thresholds, errors;
  for (int k = 0; k <= 18; ++k) {
    thresholds.push_back(std::pow(10.0, -5.0 + 0.25 * k));
    errors.push_back(rows.error(rows.fitting().thresholded(thresholds.back())));
  }
  const double lowest = *std::min_element(errors.begin(), errors.end());
  double chosen = thresholds.front();
  for (std::size_t k = 0; k < thresholds.size(); ++k)
    if (errors[k] <= 1.1 * lowest) chosen = thresholds[k];
  return chosen;
}

/// `position` with its degree chosen from the data where it is PositionBasis::kChosenDegree (see
/// there), else as it is. `library(basis, every)` gives the library of `basis` (row-major) and the
/// rates on every `every`-th of the `states` states, each `rows_per_state` rows; `positions` per
/// axis and the library's size (`base_terms` times the basis functions and 1, at most
/// kChosenColumns) bound the degree. Each degree is scored as chosen_threshold scores a threshold:
/// its least squares on four rows in five, on the held-out fifth.
template <class Library>
PositionBasis with_chosen_degree(PositionBasis position, int positions, int64_t states, int64_t rows_per_state,
                                 std::size_t base_terms, const Library& library) {
  if (position.kind == PositionBasis::Kind::None || position.degree != PositionBasis::kChosenDegree) return position;
  const int64_t every = std::max<int64_t>(1, states * rows_per_state / 20000);
  const int top = std::min(8, position.max_degree(positions));
  std::vector<double> errors;  // errors[d - 1]: degree d's held-out error
  int chosen = 1;
  for (int d = 1; d <= top && d <= chosen + 2; ++d) {
    position.degree = d;
    const std::size_t P = base_terms * (1 + position.functions().size());
    if (d > 1 && P > PositionBasis::kChosenColumns) break;
    const auto [theta, y] = library(position, every);
    if (y.size() < 3 * P) break;  // too few samples to score this degree
    const HeldOutFifth rows(theta, y, P);
    errors.push_back(rows.error(rows.fitting().least_squares()));
    if (errors.back() < 0.9 * errors[chosen - 1]) chosen = d;
  }
  position.degree = chosen;
  return position;
}
}  // namespace

RegressionResult stlsq(const std::vector<double>& theta, const std::vector<double>& y, std::vector<std::string> terms,
                       double threshold) {
  if (threshold < 0) threshold = chosen_threshold(theta, y, terms.size());
  RegressionResult res;
  res.threshold = threshold;
  res.terms = std::move(terms);
  const PreparedLibrary library(theta, y, res.terms.size());
  res.least_squares = library.least_squares();
  res.stlsq = library.thresholded(threshold);
  res.equation = "dU/dt =";
  bool first = true;
  for (std::size_t j = 0; j < res.terms.size(); ++j) {
    if (res.stlsq[j] == 0.0) continue;
    const bool constant = res.terms[j] == "1";
    res.equation +=
        fmt::format("{}{:.7g}{}{}", first ? " " : (res.stlsq[j] < 0 ? " - " : " + "),
                    first ? res.stlsq[j] : std::abs(res.stlsq[j]), constant ? "" : " ", constant ? "" : res.terms[j]);
    first = false;
  }
  if (first) res.equation += " 0";
  res.relative_residual = patchlearn::relative_mse(predict(theta, res.terms.size(), res.stlsq), y);
  return res;
}

RegressionResult regress(const std::vector<double>& U, const std::vector<double>& dUdt, int M, double dX, int stencil,
                         double threshold, const PositionBasis& position, double tooth_width) {
  const auto N = static_cast<int64_t>(U.size() / M);
  const auto Ut = torch::from_blob(const_cast<double*>(U.data()), {N, M}, torch::kDouble);
  const auto Rt = torch::from_blob(const_cast<double*>(dUdt.data()), {N, M}, torch::kDouble);
  const std::vector<std::string> base = {"1",    "U",      "U^2",      "U^3",   "U_x",     "U*U_x", "U^2*U_x",
                                         "U_xx", "U*U_xx", "U^2*U_xx", "U_x^2", "U*U_x^2", "U_xx^2"};
  // The library of `basis` and the rates at the interior nodes of the states `every` apart.
  const auto library = [&](const PositionBasis& basis, int64_t every) {
    const auto rows = Slice(torch::indexing::None, torch::indexing::None, every);
    return std::make_pair(
        row_major(library_columns(with_position(macro_derivatives_1d(Ut.index({rows}), dX, stencil), basis, dX),
                                  position_terms(base, basis), ToothAverage{tooth_width})),
        to_vector(Rt.index({rows, Slice(1, M - 1)})));
  };
  const auto basis = with_chosen_degree(position, M - 2, N, M - 2, base.size(), library);
  auto [theta, rates] = library(basis, 1);
  auto res = stlsq(theta, rates, position_terms(base, basis), threshold);
  res.position = basis;
  res.a_star = res.coefficient("U_xx");
  return res;
}

PatchMeanMap::PatchMeanMap(int P, double L, const PatchMeans& patch) : P_(P) {
  if (patch.m == 1) return;
  for (int i = 0; i < P; ++i) s_.push_back(patch_mean_factor(wavenumber(L, P, i), patch.m, patch.h));
}

torch::Tensor PatchMeanMap::apply(const torch::Tensor& V, int power, torch::Tensor& cache) const {
  if (s_.empty()) return V;
  if (stale(cache, V)) {
    std::vector<double> w(static_cast<std::size_t>(P_) * P_);
    for (int j = 0; j < P_; ++j)
      for (int i = 0; i < P_; ++i) w[j * P_ + i] = std::pow(s_[j] * s_[i], power);
    cache = to_tensor(w, {P_, P_}, V.device(), V.scalar_type());
  }
  return multiply_modes(V, cache, P_);
}

RegressionResult regress_2d(const std::vector<double>& U, const std::vector<double>& dUdt, int P, double L,
                            double threshold, const PositionBasis& position, const std::vector<double>& centres,
                            const PatchMeans& means, int modes, bool linear) {
  const auto N = static_cast<int64_t>(U.size() / (static_cast<std::size_t>(P) * P));
  PatchMeanMap map(P, L, means);
  const auto Ut = map.values(torch::from_blob(const_cast<double*>(U.data()), {N, P * P}, torch::kDouble));
  // The rates as point values (dUdt itself when the data are point values).
  const auto Rt = map.values(torch::from_blob(const_cast<double*>(dUdt.data()), {N, P * P}, torch::kDouble));
  std::vector<std::string> base = {"1",      "U",        "U^2",     "U^3",     "U_x",       "U*U_x",    "U^2*U_x",
                                   "U_y",    "U*U_y",    "U^2*U_y", "U_xx",    "U*U_xx",    "U^2*U_xx", "U_xy",
                                   "U*U_xy", "U^2*U_xy", "U_yy",    "U*U_yy",  "U^2*U_yy",  "U_xxxx",   "U_xxyy",
                                   "U_yyyy", "U_x^2",    "U*U_x^2", "U_x*U_y", "U*U_x*U_y", "U_y^2",    "U*U_y^2"};
  if (linear)  // U and its derivatives: no constant, power or product
    base.erase(std::remove_if(base.begin(), base.end(),
                              [](const std::string& t) { return t == "1" || t.find_first_of("^*") != t.npos; }),
               base.end());
  // The library of `basis` and the rates of the states `every` apart (on the slow modes).
  const auto library = [&](const PositionBasis& basis, int64_t every) {
    const auto rows = Slice(torch::indexing::None, torch::indexing::None, every);
    const auto Us = Ut.index({rows});
    auto theta = library_columns(with_position_2d(spectral_derivatives_2d(Us, P, L), basis, centres),
                                 position_terms(base, basis));
    auto rates = Rt.index({rows});
    if (modes > 0 && 2 * modes < P) {
      const auto w = slow_modes(P, modes, Us);
      theta = multiply_modes(theta, w, P);
      rates = multiply_modes(rates, w, P);
    }
    return std::make_pair(row_major(theta), to_vector(rates));
  };
  const auto basis = with_chosen_degree(position, P, N, P * P, base.size(), library);
  auto [theta, rates] = library(basis, 1);
  auto res = stlsq(theta, rates, position_terms(base, basis), threshold);
  res.position = basis;
  return res;
}

}  // namespace patchlearn::learn
