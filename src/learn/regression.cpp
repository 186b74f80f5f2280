#include "patchlearn/learn/regression.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
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

/// theta [rows, terms], as the folded library takes it, from the columns [terms, rows...].
torch::Tensor library_rows(const torch::Tensor& columns) { return columns.reshape({columns.size(0), -1}).t(); }

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

/// The states' weights 1 / e for their error estimates e [N] (regression.hpp, "Weights"), e floored at
/// `times` the median state's; undefined when that median is 0.
torch::Tensor inverse_errors(const torch::Tensor& e, double times) {
  const double floor = times * e.median().item<double>();
  return floor > 0 ? 1.0 / e.clamp_min(floor) : torch::Tensor();
}

/// Every state's weight in the first fit: by rates, 1 / the rms of its rates [N, K] floored at three
/// times the median state's; 1 everywhere unweighted or when that median is 0.
torch::Tensor state_weights(const torch::Tensor& rates, Weights weights) {
  const auto rms = rates.pow(2).mean(1).sqrt();
  const auto w = weights == Weights::None ? torch::Tensor() : inverse_errors(rms, 3.0);
  return w.defined() ? w : torch::ones_like(rms);
}

/// The library rows theta [n K, terms] and rates [n, K] of n states, each state's rows times its
/// weight w [n]: the rows and rates STLSQ fits.
std::pair<torch::Tensor, torch::Tensor> weighted_rows(const torch::Tensor& theta, const torch::Tensor& rates,
                                                      const torch::Tensor& w) {
  const auto n = rates.size(0);
  return {(theta.reshape({n, -1, theta.size(1)}) * w.view({n, 1, 1})).reshape({-1, theta.size(1)}),
          (rates.reshape({n, -1}) * w.view({n, 1})).reshape({-1})};
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

std::vector<std::string> u_series(const std::string& factor, int degree) {
  std::vector<std::string> terms;
  for (int k = 0; k <= degree; ++k) {
    const std::string power = k == 0 ? "" : k == 1 ? "U" : "U^" + std::to_string(k);
    terms.push_back(factor == "1" ? (k == 0 ? "1" : power) : (k == 0 ? factor : power + "*" + factor));
  }
  return terms;
}

namespace {
/// The concatenation of the families `series` ({factor, degree} each, u_series).
std::vector<std::string> families(const std::vector<std::pair<std::string, int>>& series) {
  std::vector<std::string> terms;
  for (const auto& [factor, degree] : series)
    for (auto& t : u_series(factor, degree)) terms.push_back(std::move(t));
  return terms;
}
}  // namespace

std::vector<std::string> library_1d(int d) {
  // r(U); c(U) U_x; a(U) U_xx; a'(U) U_x^2; the conservative differences' dX^2 term ("The library").
  auto terms = families({{"1", d + 1}, {"U_x", d}, {"U_xx", d}, {"U_x^2", d - 1}});
  terms.push_back("U_xx^2");
  return terms;
}

std::vector<std::string> library_2d(int d, bool linear) {
  if (linear) return {"U", "U_x", "U_y", "U_xx", "U_xy", "U_yy", "U_xxxx", "U_xxyy", "U_yyyy"};
  // r(U); the drifts; g(U) D : grad grad U; the fourth-order terms; g'(U) grad U . D grad U.
  auto terms = families({{"1", d + 1}, {"U_x", d}, {"U_y", d}, {"U_xx", d}, {"U_xy", d}, {"U_yy", d}});
  for (const char* t : {"U_xxxx", "U_xxyy", "U_yyyy"}) terms.push_back(t);
  for (auto& t : families({{"U_x^2", d - 1}, {"U_x*U_y", d - 1}, {"U_y^2", d - 1}})) terms.push_back(std::move(t));
  return terms;
}

double RegressionResult::coefficient(const std::string& term) const {
  for (std::size_t j = 0; j < terms.size(); ++j)
    if (terms[j] == term) return stlsq[j];
  return 0.0;
}

namespace {

/// The rows [X | y] of a least-squares problem folded into the triangular factor R of their QR,
/// with each column's count, mean and sum of squared deviations (merged as Chan et al.'s
/// pairwise update). |X b - y|^2 = |R [b; -1]|^2 for every b, so every fit and error STLSQ needs
/// is an (at most) (P+1) x (P+1) problem, and the library is never held whole: it is folded a
/// chunk of states at a time (regress, regress_2d), at ~2 mn^2 flops, one QR of the whole.
class FoldedRows {
 public:
  explicit FoldedRows(int64_t columns)
      : mean_(torch::zeros({columns}, torch::kDouble)), m2_(torch::zeros({columns}, torch::kDouble)) {}

  /// Fold the rows Xy [n, columns].
  void add(const torch::Tensor& Xy) {
    const auto n = Xy.size(0);
    if (n == 0) return;
    const auto mean = Xy.mean(0);
    merge(n, mean, (Xy - mean).pow(2).sum(0), Xy);
  }
  /// Fold another's rows.
  void add(const FoldedRows& o) {
    if (o.rows_ > 0) merge(o.rows_, o.mean_, o.m2_, o.R_);
  }

  int64_t rows() const { return rows_; }
  int64_t columns() const { return mean_.size(0); }
  /// [min(rows, columns), columns], upper triangular
  const torch::Tensor& R() const { return R_; }
  double m2(int64_t j) const { return m2_[j].item<double>(); }
  /// Column j's sum of squares.
  double squares(int64_t j) const { return R_.index({Slice(), j}).pow(2).sum().item<double>(); }
  /// The residual sum (X xi - y)^2 of the coefficients xi (0 without rows).
  double residual_squares(const std::vector<double>& xi) const {
    if (rows_ == 0) return 0.0;
    auto v = to_tensor(xi, {static_cast<int64_t>(xi.size())}, torch::kCPU, torch::kDouble);
    v = torch::cat({v, -torch::ones({1}, torch::kDouble)});
    return torch::mv(R_, v).pow(2).sum().item<double>();
  }
  /// The eq.-(24) error sum (X xi - y)^2 / sum (y - mean y)^2 of the coefficients xi.
  double relative_mse(const std::vector<double>& xi) const { return residual_squares(xi) / m2(columns() - 1); }

 private:
  void merge(int64_t n, const torch::Tensor& mean, const torch::Tensor& m2, const torch::Tensor& rows) {
    const double na = static_cast<double>(rows_), nb = static_cast<double>(n), total = na + nb;
    const auto delta = mean - mean_;
    m2_ = m2_ + m2 + delta.pow(2) * (na * nb / total);
    mean_ = mean_ + delta * (nb / total);
    rows_ += n;
    R_ = std::get<1>(torch::linalg_qr(R_.defined() ? torch::cat({R_, rows}) : rows.contiguous(), "r"));
  }
  int64_t rows_ = 0;
  torch::Tensor R_, mean_, m2_;
};

/// Rows [theta | y] in double: the library theta [n, P] beside its rates y [n], as FoldedRows folds them.
torch::Tensor library_block(const torch::Tensor& theta, const torch::Tensor& y) {
  const auto n = theta.size(0);
  return torch::cat({theta.reshape({n, -1}), y.reshape({n, 1})}, 1).to(torch::kDouble);
}

/// A library's rows as STLSQ takes them: every fifth row (by its index) folded apart from the
/// other four, for the choices made on held-out rows, and all of them.
class LibraryRows {
 public:
  explicit LibraryRows(int64_t P) : four_(P + 1), fifth_(P + 1) {}
  /// The next rows: theta [n, P] and their rates y [n].
  void add(const torch::Tensor& theta, const torch::Tensor& y) {
    const auto n = theta.size(0);
    const auto Xy = library_block(theta, y);
    const auto held = torch::arange(count_, count_ + n, torch::kLong).remainder(5) == 4;
    four_.add(Xy.index({~held}));
    fifth_.add(Xy.index({held}));
    count_ += n;
  }
  int64_t rows() const { return count_; }
  const FoldedRows& four() const { return four_; }
  const FoldedRows& fifth() const { return fifth_; }
  FoldedRows all() const {
    FoldedRows a = four_;
    a.add(fifth_);
    return a;
  }

 private:
  FoldedRows four_, fifth_;
  int64_t count_ = 0;
};

/// A library prepared for STLSQ on its folded rows: the work that does not depend on the threshold,
/// done once. Two scales per column: its norm, to which it is scaled for the least squares (QR on
/// raw columns whose norms differ by orders of magnitude loses the small ones' digits), and its
/// standard deviation (the rms for a column constant up to rounding), which standardizes the
/// threshold. Terms the data cannot tell apart from earlier ones (e.g. U_xxxx = 5 U_xx + 4 U when
/// only wavenumbers 1 and 2 occur) are left out: a column whose part independent of the earlier
/// ones is below 1e-8 of its norm (|R_jj| of the QR in library order over the column's norm).
class PreparedLibrary {
 public:
  explicit PreparedLibrary(const FoldedRows& rows)
      : rows_(rows), P_(static_cast<int>(rows.columns() - 1)), norm_(P_, 1.0), spread_(P_, 1.0) {
    const double n = static_cast<double>(rows.rows());
    ystd_ = std::sqrt(rows.m2(P_) / n);
    const auto& R = rows.R();
    for (int j = 0; j < P_; ++j) {
      const double q = rows.squares(j), s = rows.m2(j);
      if (q > 0) norm_[j] = std::sqrt(q);
      spread_[j] = s > 1e-24 * q ? std::sqrt(s / n) : std::sqrt(q / n);
      if (j < R.size(0) && std::abs(R[j][j].item<double>()) / norm_[j] >= 1e-8) independent_.push_back(j);
    }
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
  // Least squares on the columns `active`: min |R_active b - R_y|, the folded form of the rows'
  // (R has min(rows, P + 1) rows, so least_squares refuses fewer rows than terms as before).
  std::vector<double> fit(const std::vector<int>& active) const {
    const auto& R = rows_.R();
    const int k = static_cast<int>(active.size()), m = static_cast<int>(R.size(0));
    std::vector<double> A(static_cast<std::size_t>(m) * k), b(m);
    const auto Ra = R.accessor<double, 2>();
    for (int r = 0; r < m; ++r) {
      b[r] = Ra[r][P_];
      for (int c = 0; c < k; ++c) A[static_cast<std::size_t>(r) * k + c] = Ra[r][active[c]] / norm_[active[c]];
    }
    const auto xs = learn::least_squares(std::move(A), std::move(b), m, k);
    std::vector<double> xi(P_, 0.0);
    for (int c = 0; c < k; ++c) xi[active[c]] = xs[c] / norm_[active[c]];
    return xi;
  }
  const FoldedRows& rows_;
  int P_;
  double ystd_ = 0;
  std::vector<double> norm_, spread_, least_squares_;
  std::vector<int> independent_;
};

/// The threshold chosen from the data (a negative threshold: see regression.hpp): STLSQ at
/// quarter-decade thresholds 1e-5 .. 10^-0.5, `error_of(t)` the held-out error of the fit at t; the
/// largest whose error is within 10% of the lowest.
double chosen_threshold(const std::function<double(double)>& error_of) {
  std::vector<double> thresholds, errors;
  for (int k = 0; k <= 18; ++k) {
    thresholds.push_back(std::pow(10.0, -5.0 + 0.25 * k));
    errors.push_back(error_of(thresholds.back()));
  }
  const double lowest = *std::min_element(errors.begin(), errors.end());
  double chosen = thresholds.front();
  for (std::size_t k = 0; k < thresholds.size(); ++k)
    if (errors[k] <= 1.1 * lowest) chosen = thresholds[k];
  return chosen;
}

/// Scored on rows: STLSQ on four rows in five, each threshold's fit scored on the fifth.
double chosen_threshold(const LibraryRows& rows) {
  if (rows.fifth().rows() < rows.fifth().columns() - 1)
    throw std::invalid_argument("stlsq: too few samples to choose the threshold");  // held out
  const PreparedLibrary fitting(rows.four());
  return chosen_threshold([&](double t) { return rows.fifth().relative_mse(fitting.thresholded(t)); });
}

/// The states of a chunk of the library with P terms, `rows_per_state` rows each: 32 MB of library.
int64_t states_per_chunk(int64_t P, int64_t rows_per_state) {
  constexpr int64_t kChunkEntries = int64_t{1} << 22;
  return std::max<int64_t>(1, kChunkEntries / (rows_per_state * (P + 1)));
}

/// The library rows of the `states` states, every `every`-th, folded a chunk of states at a time:
/// `library(basis, rows)` gives the library theta [n, P] and rates y [n] of the states `rows`
/// (a Slice), each `rows_per_state` rows.
template <class Library>
LibraryRows folded_library(const Library& library, const PositionBasis& basis, std::size_t P, int64_t states,
                           int64_t every, int64_t rows_per_state) {
  const int64_t per_chunk = states_per_chunk(static_cast<int64_t>(P), rows_per_state);
  LibraryRows rows(static_cast<int64_t>(P));
  for (int64_t s = 0; s < states; s += per_chunk * every) {
    const auto [theta, y] = library(basis, Slice(s, std::min(states, s + per_chunk * every), every));
    rows.add(theta, y);
  }
  return rows;
}

/// An eq.-(24) held-out error at or below this is the rounding of an exact fit: nothing is left for
/// a higher degree to find.
constexpr double kExactFit = 1e-20;

/// The degree chosen from the data (regression.position_degree and .u_degree = "auto"): from
/// `first` up to `top`, while one of the next two degrees lowers the held-out error below `gain`
/// times the chosen degree's. `error_of(d)` is degree d's held-out error (degree_error), or nullopt
/// where that library is too large or its samples too few to score it.
template <class Error>
int chosen_degree(int first, int top, double gain, const Error& error_of) {
  std::vector<double> errors;  // errors[d - first]: degree d's held-out error
  int chosen = first;
  for (int d = first; d <= top && d <= chosen + 2; ++d) {
    const std::optional<double> e = error_of(d);
    if (!e) break;
    errors.push_back(*e);
    if (errors[chosen - first] <= kExactFit) break;
    if (errors.back() < gain * errors[chosen - first]) chosen = d;
  }
  return chosen;
}

/// States taken one in `every` so that a subsample holds about 20,000 rows.
int64_t subsample(int64_t states, int64_t rows_per_state) {
  return std::max<int64_t>(1, states * rows_per_state / 20000);
}

/// The library's rows (folded_library's `library` of `basis` with P columns) in folds of whole
/// trajectories: the `states` are `trajectories` whole trajectories of equal length in order,
/// subsampled one state in `every`; trajectory g lies in fold g mod K (K = min(trajectories, 5)).
template <class Library>
std::vector<FoldedRows> trajectory_folds(const Library& library, const PositionBasis& basis, std::size_t P,
                                         int64_t states, int64_t every, int64_t rows_per_state, int trajectories) {
  const int K = std::min(trajectories, 5);
  const int64_t length = states / trajectories, per_chunk = states_per_chunk(static_cast<int64_t>(P), rows_per_state);
  std::vector<FoldedRows> folds(static_cast<std::size_t>(K), FoldedRows(static_cast<int64_t>(P) + 1));
  for (int g = 0; g < trajectories; ++g) {
    const int64_t end = (g + 1) * length;
    for (int64_t s = (g * length + every - 1) / every * every; s < end; s += per_chunk * every) {
      const auto [theta, y] = library(basis, Slice(s, std::min(end, s + per_chunk * every), every));
      folds[static_cast<std::size_t>(g % K)].add(library_block(theta, y));
    }
  }
  return folds;
}

/// Fits scored on whole held-out trajectories: for each fold (trajectory_folds) that holds rows of
/// some spread, the library prepared on the other folds, whose fits are scored on it. `scored`, where
/// given: the same folds' rows as they are scored (regress_2d's slow modes: fitted on the slow modes,
/// scored on every mode).
class TrajectoryFolds {
 public:
  explicit TrajectoryFolds(const std::vector<FoldedRows>& folds) : TrajectoryFolds(folds, folds) {}
  TrajectoryFolds(const std::vector<FoldedRows>& fitted, const std::vector<FoldedRows>& scored) : folds_(scored) {
    const auto P = fitted.front().columns() - 1;
    for (std::size_t k = 0; k < fitted.size(); ++k) {
      FoldedRows others(P + 1);
      for (std::size_t j = 0; j < fitted.size(); ++j)
        if (j != k) others.add(fitted[j]);
      if (scored[k].rows() > 0 && scored[k].m2(P) > 0 && others.rows() >= P) {
        held_.push_back(k);
        others_.push_back(std::move(others));
      }
    }
    for (const FoldedRows& o : others_) fitting_.emplace_back(o);
  }
  /// At least two folds are scored.
  bool scored() const { return held_.size() >= 2; }
  /// The held-out folds' median eq.-(24) error of `fit` (the coefficients of a prepared library):
  /// the typical unseen trajectory, not one at the edge of the data's range, whose states the
  /// others' fit extrapolates to (bench/RESULTS.md, "Held-out trajectories").
  double median_error(const std::function<std::vector<double>(const PreparedLibrary&)>& fit) const {
    std::vector<double> errors;
    for (std::size_t i = 0; i < held_.size(); ++i) errors.push_back(folds_[held_[i]].relative_mse(fit(fitting_[i])));
    std::sort(errors.begin(), errors.end());
    const std::size_t n = errors.size();
    return n % 2 ? errors[n / 2] : 0.5 * (errors[n / 2 - 1] + errors[n / 2]);
  }

 private:
  const std::vector<FoldedRows>& folds_;
  std::vector<std::size_t> held_;
  std::deque<FoldedRows> others_;  // a deque: the prepared libraries hold references to them
  std::vector<PreparedLibrary> fitting_;
};

/// The held-out error of a library's least squares over whole trajectories (trajectory_folds):
/// each fold scored by the least squares of the others, the folds' median. nullopt where fewer
/// than two folds are scored.
template <class Library>
std::optional<double> trajectory_fold_error(const Library& library, const PositionBasis& basis, std::size_t P,
                                            int64_t states, int64_t every, int64_t rows_per_state, int trajectories) {
  const auto folds = trajectory_folds(library, basis, P, states, every, rows_per_state, trajectories);
  const TrajectoryFolds fits(folds);
  if (!fits.scored()) return std::nullopt;
  return fits.median_error([](const PreparedLibrary& p) { return p.least_squares(); });
}

/// A degree's held-out error for chosen_degree: the least squares of the library (folded_library's
/// `library`) of `basis` with P columns on a subsample of `states`, scored on whole held-out
/// trajectories where the states are `trajectories` >= 2 of them (trajectory_fold_error), else as
/// chosen_threshold scores a threshold (on four rows in five, against the fifth). Rows of one state
/// are neighbouring patches of one field, and states of one trajectory follow one another, so rows
/// held out of the same states share what a fit of too high a degree follows in them: on a
/// modulated u-dependent lattice with 4 training trajectories, every fifth row chose degree 8
/// (rollout 2.7e-6 against 3.2e-8 at degree 2; bench/RESULTS.md, "Held-out trajectories"). nullopt
/// where a raised degree's library exceeds PositionBasis::kChosenColumns or the rows are too few
/// (< 3 P) to score it.
template <class Library>
std::optional<double> degree_error(const Library& library, const PositionBasis& basis, std::size_t P, bool raised,
                                   int64_t states, int64_t rows_per_state, int trajectories) {
  if (raised && P > PositionBasis::kChosenColumns) return std::nullopt;
  const int64_t every = subsample(states, rows_per_state);
  if ((states + every - 1) / every * rows_per_state < static_cast<int64_t>(3 * P)) return std::nullopt;
  if (trajectories >= 2 && states % trajectories == 0)
    if (const auto e = trajectory_fold_error(library, basis, P, states, every, rows_per_state, trajectories)) return e;
  const LibraryRows r = folded_library(library, basis, P, states, every, rows_per_state);
  return r.fifth().relative_mse(PreparedLibrary(r.four()).least_squares());
}

/// `position` with its degree chosen from the data where it is kChosenDegree (PositionBasis), else
/// as it is. `library` (folded_library) gives the library of `basis` and the rates; `positions` per
/// axis and the library's size (`base_terms` times the basis functions and 1, at most
/// kChosenColumns) bound the degree.
template <class Library>
PositionBasis with_chosen_degree(PositionBasis position, int positions, int64_t states, int64_t rows_per_state,
                                 std::size_t base_terms, const Library& library, int trajectories) {
  if (position.kind == PositionBasis::Kind::None || position.degree != kChosenDegree) return position;
  position.degree = chosen_degree(1, std::min(8, position.max_degree(positions)), 0.9, [&](int d) {
    PositionBasis b = position;
    b.degree = d;
    return degree_error(library, b, base_terms * (1 + b.functions().size()), d > 1, states, rows_per_state,
                        trajectories);
  });
  return position;
}

/// The library's degree in U (regression.hpp, "The library"): `u_degree` as given, or chosen from 2
/// up to kMaxUDegree where it is kChosenDegree, a degree at a time while one of the next two at
/// least halves the held-out error (kUDegreeGain). `library_of(d)` is the library of degree d
/// (library_1d, library_2d), and `library(terms, basis, rows)` gives the rows of `terms` times `basis`
/// of the states `rows`.
template <class Library>
int chosen_u_degree(int u_degree, const std::function<std::vector<std::string>(int)>& library_of,
                    const PositionBasis& basis, int64_t states, int64_t rows_per_state, const Library& library,
                    int trajectories) {
  if (u_degree != kChosenDegree) return u_degree;
  return chosen_degree(2, kMaxUDegree, kUDegreeGain, [&](int d) {
    const auto terms = position_terms(library_of(d), basis);
    const auto rows_of = [&](const PositionBasis& b, const Slice& rows) { return library(terms, b, rows); };
    return degree_error(rows_of, basis, terms.size(), d > 2, states, rows_per_state, trajectories);
  });
}

/// Every state's rms residual of the coefficients xi [P]: `library` (folded_library) gives each
/// state's rows times its weight w [states], so the residual of those rows over w.
template <class Library>
torch::Tensor state_residuals(const Library& library, const PositionBasis& basis, const std::vector<double>& xi,
                              int64_t states, int64_t rows_per_state, const torch::Tensor& w) {
  const auto P = static_cast<int64_t>(xi.size());
  const int64_t per_chunk = states_per_chunk(P, rows_per_state);
  const auto x = to_tensor(xi, {P}, torch::kCPU, torch::kDouble);
  std::vector<torch::Tensor> rms;
  for (int64_t s = 0; s < states; s += per_chunk) {
    const auto [theta, y] = library(basis, Slice(s, std::min(states, s + per_chunk)));
    const auto r = (torch::mv(theta.to(torch::kDouble), x) - y.to(torch::kDouble)).reshape({-1, rows_per_state});
    rms.push_back(r.pow(2).mean(1).sqrt());
  }
  return torch::cat(rms) / w;
}

/// The equation "dU/dt = c1 t1 + c2 t2 ..." of the nonzero coefficients xi of `terms`.
std::string equation_of(const std::vector<std::string>& terms, const std::vector<double>& xi) {
  std::string equation = "dU/dt =";
  bool first = true;
  for (std::size_t j = 0; j < terms.size(); ++j) {
    if (xi[j] == 0.0) continue;
    const bool constant = terms[j] == "1";
    equation += fmt::format("{}{:.7g}{}{}", first ? " " : (xi[j] < 0 ? " - " : " + "), first ? xi[j] : std::abs(xi[j]),
                            constant ? "" : " ", constant ? "" : terms[j]);
    first = false;
  }
  return first ? equation + " 0" : equation;
}

/// STLSQ on all the folded library rows at a threshold >= 0.
RegressionResult stlsq(const FoldedRows& all, std::vector<std::string> terms, double threshold) {
  RegressionResult res;
  res.threshold = threshold;
  res.terms = std::move(terms);
  const PreparedLibrary library(all);
  res.least_squares = library.least_squares();
  res.stlsq = library.thresholded(threshold);
  res.equation = equation_of(res.terms, res.stlsq);
  res.relative_residual = all.relative_mse(res.stlsq);
  return res;
}

/// "residuals" (regression.hpp, "Weights"): kResidualRounds least-squares fits on the terms of `res`,
/// each state weighted by its residual of the fit before. `columns(terms, basis, rows)` gives the
/// rows of the terms `terms` of the states `rows` times `weight` [states], which each round sets; the
/// rounds build only the fit's terms (graded2d: 14 of 700 columns).
template <class Columns>
void refit_by_residuals(RegressionResult& res, const Columns& columns, const PositionBasis& basis, int64_t states,
                        int64_t rows_per_state, torch::Tensor& weight) {
  std::vector<int> support;
  std::vector<std::string> names;
  std::vector<double> xi;
  for (std::size_t j = 0; j < res.stlsq.size(); ++j)
    if (res.stlsq[j] != 0.0)
      support.push_back(static_cast<int>(j)), names.push_back(res.terms[j]), xi.push_back(res.stlsq[j]);
  if (support.empty()) return;
  // The rows of the fit's terms (folded_library's `library`).
  const auto library = [&](const PositionBasis& b, const Slice& rows) { return columns(names, b, rows); };
  for (int round = 0; round < kResidualRounds; ++round) {
    auto w = inverse_errors(state_residuals(library, basis, xi, states, rows_per_state, weight), 1.0);
    if (!w.defined()) break;  // the fit is exact on most states
    weight = std::move(w);
    const auto rows = folded_library(library, basis, names.size(), states, 1, rows_per_state).all();
    xi = PreparedLibrary(rows).least_squares();
    res.relative_residual = rows.relative_mse(xi);
  }
  for (std::size_t k = 0; k < support.size(); ++k) res.stlsq[support[k]] = xi[k];
  res.equation = equation_of(res.terms, res.stlsq);
}
/// STLSQ on folded library rows, the threshold chosen on the held-out fifth where it is negative.
RegressionResult stlsq(const LibraryRows& rows, std::vector<std::string> terms, double threshold) {
  return stlsq(rows.all(), std::move(terms), threshold < 0 ? chosen_threshold(rows) : threshold);
}

/// STLSQ on the library `terms` (folded_library's `library` of `basis`) of the `states`. A negative
/// threshold is chosen on whole held-out trajectories where the states are `trajectories` >= 2 of
/// them (trajectory_folds; each threshold's STLSQ on the other folds scored on each, the median),
/// else on held-out rows: rows of one trajectory's states share the errors that a low threshold's
/// spurious terms follow in them.
template <class Library>
RegressionResult stlsq(const Library& library, const PositionBasis& basis, std::vector<std::string> terms,
                       int64_t states, int64_t rows_per_state, double threshold, int trajectories) {
  const auto P = terms.size();
  if (threshold < 0 && trajectories >= 2 && states % trajectories == 0) {
    const auto folds = trajectory_folds(library, basis, P, states, 1, rows_per_state, trajectories);
    const TrajectoryFolds fits(folds);
    if (fits.scored()) {
      FoldedRows all(static_cast<int64_t>(P) + 1);
      for (const FoldedRows& f : folds) all.add(f);
      threshold = chosen_threshold(
          [&](double t) { return fits.median_error([t](const PreparedLibrary& p) { return p.thresholded(t); }); });
      return stlsq(all, std::move(terms), threshold);
    }
  }
  return stlsq(folded_library(library, basis, P, states, 1, rows_per_state), std::move(terms), threshold);
}
}  // namespace

RegressionResult stlsq(const std::vector<double>& theta, const std::vector<double>& y, std::vector<std::string> terms,
                       double threshold) {
  const auto n = static_cast<int64_t>(y.size()), P = static_cast<int64_t>(terms.size());
  LibraryRows rows(P);
  rows.add(torch::from_blob(const_cast<double*>(theta.data()), {n, P}, torch::kDouble),
           torch::from_blob(const_cast<double*>(y.data()), {n}, torch::kDouble));
  return stlsq(rows, std::move(terms), threshold);
}

RegressionResult regress(const std::vector<double>& U, const std::vector<double>& dUdt, int M, double dX, int stencil,
                         double threshold, const PositionBasis& position, double tooth_width, Weights weights,
                         int u_degree, int trajectories, const TermScales* term_scales) {
  const auto N = static_cast<int64_t>(U.size() / M);
  const auto Ut = torch::from_blob(const_cast<double*>(U.data()), {N, M}, torch::kDouble);
  const auto Rt = torch::from_blob(const_cast<double*>(dUdt.data()), {N, M}, torch::kDouble);
  // The library of the given degree in U, or of 2 until the degree is chosen (after the position basis's).
  auto base = library_1d(u_degree == kChosenDegree ? 2 : u_degree);
  auto weight = state_weights(Rt.index({Slice(), Slice(1, M - 1)}), weights);
  // The library terms `terms` of `basis` and the rates at the interior nodes of the states `rows`, weighted.
  const auto columns = [&](const std::vector<std::string>& terms, const PositionBasis& basis, const Slice& rows) {
    auto theta = library_columns(with_position(macro_derivatives_1d(Ut.index({rows}), dX, stencil), basis, dX), terms,
                                 ToothAverage{tooth_width});
    if (term_scales)  // each term of a group times its factors at the states' interior nodes
      for (std::size_t j = 0; j < terms.size(); ++j)
        if (const int k = term_scales->group(terms[j]); k >= 0)
          theta[static_cast<int64_t>(j)] *= term_scales->factors.index({rows, Slice(1, M - 1), k});
    return weighted_rows(library_rows(theta), Rt.index({rows, Slice(1, M - 1)}), weight.index({rows}));
  };

  // The whole library of `basis` (folded_library's `library`).
  const auto library = [&](const PositionBasis& basis, const Slice& rows) {
    return columns(position_terms(base, basis), basis, rows);
  };
  const auto basis = with_chosen_degree(position, M - 2, N, M - 2, base.size(), library, trajectories);
  u_degree = chosen_u_degree(u_degree, library_1d, basis, N, M - 2, columns, trajectories);
  base = library_1d(u_degree);
  const auto terms = position_terms(base, basis);
  auto res = stlsq(library, basis, terms, N, M - 2, threshold, trajectories);
  if (weights == Weights::Residuals) refit_by_residuals(res, columns, basis, N, M - 2, weight);
  res.position = basis;
  res.weights = weights;
  res.u_degree = u_degree;
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
                            const PatchMeans& means, int modes, bool linear, Weights weights, int u_degree,
                            int trajectories) {
  const auto N = static_cast<int64_t>(U.size() / (static_cast<std::size_t>(P) * P));
  PatchMeanMap map(P, L, means);
  const auto Ut = map.values(torch::from_blob(const_cast<double*>(U.data()), {N, P * P}, torch::kDouble));
  // The rates as point values (dUdt itself when the data are point values).
  const auto Rt = map.values(torch::from_blob(const_cast<double*>(dUdt.data()), {N, P * P}, torch::kDouble));
  auto base = library_2d(u_degree == kChosenDegree ? 2 : u_degree, linear);  // as in regress
  // The modes fitted: |kx|, |ky| <= K, 0 for every mode.
  const auto within = [P](int K) { return 2 * K < P ? K : 0; };
  int K = within(std::abs(modes));
  auto weight = state_weights(Rt, weights);
  // The library terms `terms` of `basis` and the rates of the states `rows` (on the modes within K),
  // weighted.
  const auto columns = [&](const std::vector<std::string>& terms, const PositionBasis& basis, const Slice& rows) {
    const auto Us = Ut.index({rows});
    auto theta = library_columns(with_position_2d(spectral_derivatives_2d(Us, P, L), basis, centres), terms);
    auto rates = Rt.index({rows});
    if (K > 0) {
      const auto w = slow_modes(P, K, Us);
      theta = multiply_modes(theta, w, P);
      rates = multiply_modes(rates, w, P);
    }
    return weighted_rows(library_rows(theta), rates, weight.index({rows}));
  };
  // The whole library of `basis` (folded_library's `library`).
  const auto library = [&](const PositionBasis& basis, const Slice& rows) {
    return columns(position_terms(base, basis), basis, rows);
  };
  auto basis = with_chosen_degree(position, P, N, P * P, base.size(), library, trajectories);
  // Chosen modes: their check (see regression.hpp), on a subsample.
  std::vector<std::pair<int, double>> tried;  // each K's held-out error on every mode
  double every_mode = std::numeric_limits<double>::quiet_NaN();
  if (K > 0 && modes < 0) {
    const auto columns = position_terms(base, basis).size();
    const int64_t every = std::max<int64_t>(1, N * P * P / 20000);
    const int first = K;
    K = 0;
    // A fit of the library at the current K (its rows on the modes within K) scored on held-out
    // rows on every mode: whole trajectories where the states are several (their folds' median, as
    // the degrees are scored), else every fifth row. nullopt: too few samples to check.
    std::function<std::optional<double>()> error_now;
    std::vector<FoldedRows> every_mode_folds;
    std::optional<LibraryRows> every_mode_rows;
    if (trajectories >= 2 && N % trajectories == 0) {
      every_mode_folds = trajectory_folds(library, basis, columns, N, every, P * P, trajectories);
      error_now = [&]() -> std::optional<double> {
        const TrajectoryFolds fits(trajectory_folds(library, basis, columns, N, every, P * P, trajectories),
                                   every_mode_folds);
        if (!fits.scored()) return std::nullopt;
        return fits.median_error([](const PreparedLibrary& p) { return p.least_squares(); });
      };
    } else {
      every_mode_rows = folded_library(library, basis, columns, N, every, P * P);
      error_now = [&]() -> std::optional<double> {
        if (every_mode_rows->fifth().rows() < static_cast<int64_t>(columns)) return std::nullopt;
        const LibraryRows rows = folded_library(library, basis, columns, N, every, P * P);
        return every_mode_rows->fifth().relative_mse(PreparedLibrary(rows.four()).least_squares());
      };
    }
    if (const auto e = error_now()) {
      every_mode = *e;
      bool identify = false;
      for (int k = first; k > 0 && !identify; k = within(k + 1)) {
        K = k;
        tried.push_back({k, error_now().value_or(std::numeric_limits<double>::infinity())});
        identify = tried.back().second - every_mode <= kSlowModesIdentify;
      }
      if (!identify) K = 0;  // every mode
    } else {
      K = first;  // too few samples to check
    }
    if (K != first) basis = with_chosen_degree(position, P, N, P * P, base.size(), library, trajectories);
  }
  if (linear) {
    u_degree = 0;
  } else {
    u_degree = chosen_u_degree(
        u_degree, [](int d) { return library_2d(d, false); }, basis, N, P * P, columns, trajectories);
    base = library_2d(u_degree, false);
  }
  const auto terms = position_terms(base, basis);
  auto res = stlsq(library, basis, terms, N, P * P, threshold, trajectories);
  if (weights == Weights::Residuals) refit_by_residuals(res, columns, basis, N, P * P, weight);
  res.position = basis;
  res.weights = weights;
  res.u_degree = u_degree;
  res.modes = K;
  res.slow_mode_errors = std::move(tried);
  res.every_mode_error = every_mode;
  return res;
}

std::vector<TermFactor> term_factors(const std::string& term) {
  std::vector<TermFactor> factors;
  std::size_t start = 0;
  while (start <= term.size()) {
    const std::size_t end = std::min(term.find('*', start), term.size());
    const std::string f = term.substr(start, end - start);
    if (!f.empty() && f != "1") {
      const std::size_t caret = f.find('^');
      factors.push_back({f.substr(0, caret), caret == std::string::npos ? 1 : std::stoi(f.substr(caret + 1))});
    }
    start = end + 1;
  }
  return factors;
}

std::pair<int, int> derivative_counts(const std::string& term) {
  std::pair<int, int> n{0, 0};
  for (const auto& [name, power] : term_factors(term))
    if (name.rfind("U_", 0) == 0)
      for (const char a : name.substr(2)) (a == 'x' ? n.first : n.second) += power;
  return n;
}

}  // namespace patchlearn::learn
