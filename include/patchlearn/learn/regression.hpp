#pragma once
// Interpretable regression of dU/dt on a library of candidate terms, by least squares and by
// sequentially thresholded least squares (STLSQ, as PDE-FIND/SINDy): fit, drop the terms whose
// standardized coefficient |xi_j| std(theta_j) / std(dU/dt) is below the threshold, refit on the
// rest, repeat. Solved by Householder QR in double precision on the host, on columns scaled to
// unit norm (the library's columns differ in scale by many orders: U^3 against U_xx / dX^2...).
//
// Weights (regression.weights; Weights below). A state is one trajectory at one time, and the fits
// weigh each state's rows and rates alike, by a weight that should be the inverse of its rates'
// error (least squares is then generalized least squares, the best linear unbiased fit when errors
// differ from state to state). The errors are unknown; each choice estimates them:
//   "rates"      by the rms of the state's rates, floored at three times the median state's, so only
//                the states steeper than that weigh less, by the bound over their rms. A
//                deterministic medium's rate estimates err by amounts that grow with the rates (a
//                patch's burst and buffer terms, gap-tooth's O(w^2) tooth terms), and a trajectory's
//                first states are orders of magnitude steeper than the rest (a graded medium with a
//                drift: rms 62 at t = 0, 0.13 at t = 0.2), so unweighted rows let them set every
//                coefficient (there: the drift's x*U^2*U_x 2.3e-4 off with patch dynamics, 5e-4 with
//                gap-tooth; by rates 8.8e-6 and 8.4e-5). The floor is high because near rest the rate
//                is the small difference of terms that balance, and its errors follow those terms, not
//                the rate: a floor of a tenth of the median gave a graded medium with a drift and a long
//                tail to rest spurious U-terms and a*(x, u) 7.8e-4 off.
//   "residuals"  (the default on a medium that is not random) by the state's own residual: STLSQ on
//                the rows weighted by rates chooses the terms; then, kResidualRounds times, each
//                state's rms residual of the last fit, floored at the median state's, divides its rows
//                and rates, and the least squares on the chosen terms is refitted. A state that errs
//                more than the median weighs less by the ratio, the rest alike, whatever its rates: the
//                residual sees errors that do not grow with the rates, and each round shrinks what the
//                erring states put into the residuals of the others. The terms stay those of the rates-weighted
//                STLSQ: the threshold is relative to the weighted rates' spread, and re-thresholding
//                each round dropped graded1d's small x^k*U_xx terms (a*(x) 1.1e-5 -> 2.4e-4 off).
//                Measured on unseen media (bench/RESULTS.md, "Residual weights"): gap-tooth fronts with
//                a phase-varying drift, c*(u) 1.1e-4 -> 7.9e-6 of its size; a graded medium with a drift
//                on gap-tooth, worst coefficient 2.7e-5 -> 3.9e-6; paper2d's D_xy 1.5e-4 -> 7e-5; graded2d's
//                D(x, y) 3.1e-4 -> 3.3e-4, its regression 17.7 -> 19.7 s (each round builds only the fit's
//                terms, 14 of the 700 columns: built whole, 48.4 s). Where the library holds the effective
//                equation only approximately, the residuals are its truncation, not the state's error,
//                and the premise fails: a = 2 exp(-0.3u), a*(u) held to its quadratic, came out 1.6e-2
//                off on the data's range (by rates 8.8e-3, unweighted 3.6e-4). The library's degree in
//                U, chosen from the data ("The library" below), removes the truncation: at the chosen
//                degree 4, 8.9e-6 (by rates 8.5e-6; unweighted, at its chosen 3, 4.3e-5).
//   "none"       every row alike. A random medium's errors are its patches' scatter: each patch's own
//                effective coefficients, the same offset in every state of a trajectory, a share of
//                the diffusion terms at any rate or residual, not an error of the state. Weighted, that
//                fit moved its diffusion most (random_nonlinear1d: a*(u) 6.7e-4 off unweighted, 6.8e-2
//                by rates, 1.0e-2 by residuals, whose r*(u) went 1.1e-2 -> 9e-4 and c*(u) 3.8e-3 ->
//                8.9e-3), so it is a random medium's default.
//
// The library is polynomial in U times derivative terms, enough for the effective equation
// U_t = (a(U) U_x)_x + c(U) U_x + r(U) with a and c polynomials of degree d (regression.u_degree)
// and r of degree d + 1; at d = 2:
//   1D: 1, U, U^2, U^3, U_x, U*U_x, U^2*U_x, U_xx, U*U_xx, U^2*U_xx, U_x^2, U*U_x^2, U_xx^2
// and each family one power longer per degree (library_1d). An a*(U) that is not a polynomial (a =
// 2 exp(-0.3u): a*(u) = 2 exp(-0.3u) too) is held only to the library's degree, and the rest of it
// is a model error in every state that no weighting can tell from the data's: "auto" (the default)
// raises d from 2, up to kMaxUDegree, while one of the next two degrees lowers the least-squares
// error on held-out data to kUDegreeGain (half) of the chosen degree's or less (the position basis's
// degree is chosen alike, at a gain of 0.9), so a*(u) is expanded as far as the data resolve it.
// The held-out data are whole training trajectories (up to five folds, each scored by the fit of
// the others) where the regression is told the states' trajectories, else every fifth row; rows of
// the same states share the states' own errors, which powers of U can follow there and not on
// trajectories they have not seen (bench/RESULTS.md, "The library's degree in U", "Past degree 6"
// and "Held-out trajectories"). It never lowers d below 2:
// STLSQ drops the powers a medium does not have.
// Of the earlier library's U_x*U_xx and U_xx^2, U_xx^2 stays: in the 3-point differences the
// conservative 3-point discretization of (a(U) U_x)_x with a quadratic a is exactly
//   a(U) U_xx + a'(U) (U_x^2 + dX^2/4 U_xx^2) + a''/2 (3 dX^2/4 U_x^2 U_xx + dX^4/16 U_xx^3),
// which the library holds exactly for a linear a; and it costs nothing in conditioning (random
// smooth states: condition number 2.8e2 without it, 2.9e2 with it, on unit-norm columns).
// U_x*U_xx goes: neither the equation family nor that discretization produces it, so it could
// only absorb noise.
#include <torch/torch.h>

#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "patchlearn/learn/regression_choices.hpp"

namespace patchlearn::learn {

struct RegressionResult;

/// The "residuals" fits after the first ("Weights" above).
inline constexpr int kResidualRounds = 2;

/// How much a higher degree in U must lower the held-out error to be chosen ("The library" above):
/// to this fraction of the chosen degree's. A power that a coefficient's expansion needs removes most
/// of the error (a = 2 exp(-0.3u) on gap-tooth, fitted by rates: 2 -> 3 to 3.5e-4 of it, 3 -> 4 to
/// 5.7e-3 of that). Powers that only follow the data's own errors lowered it to 0.55 - 1.12 of
/// degree 2's on six unseen media (bench/regression_weights.py, every weighting), and to 0.27 on a
/// Burgers-like one, whose fits STLSQ then left at degree 2's terms. At 0.9 (the position degree's
/// gain) the gap-tooth fronts fitted unweighted went to degree 6 and kept its powers: c*(u) 6.4e-4
/// -> 4.8e-2 off.
inline constexpr double kUDegreeGain = 0.5;
/// The terms factor, U*factor, U^2*factor, ..., U^degree*factor of a coefficient that is a polynomial
/// in U ("1" as the factor: 1, U, ..., U^degree): the family of a*(U) in "U_xx", of r*(U) in "1".
std::vector<std::string> u_series(const std::string& factor, int degree);
/// The 1D library of degree `u_degree` in U ("The library" above).
std::vector<std::string> library_1d(int u_degree);
/// The 2D library of degree `u_degree` in U (regress_2d below); `linear`: the terms linear in U only.
std::vector<std::string> library_2d(int u_degree, bool linear);

/// Position-aware regression (issue 17, graded media and modulated lattices): every library term T
/// also appears times each basis function phi_k of the macro position, so a coefficient varying
/// across the domain [0, L] (or [0, L)^2) is expanded in the basis (a*(x) U_xx = sum_k c_k phi_k(x) U_xx):
///   polynomial  phi_k = x^k, k = 1..degree, named "x", "x^2", ...
///   fourier     sin and cos(2 pi k x / L), k = 1..degree, named "sin(2pi x/L)", "cos(2pi x/L)",
///               "sin(4pi x/L)", ...
/// In 2D (dimensions = 2) the basis is the tensor product: every product phi(x) psi(y) of a function
/// of x (or 1) and one of y (or 1), except 1 * 1 ("y", "x*y", "x^2*y", "sin(2pi x/L)*cos(2pi y/L)"),
/// polynomial ones up to the total degree `degree`, Fourier ones up to the harmonic `degree` in each
/// axis. An additive basis (functions of x plus functions of y) cannot follow a modulation such as
/// A(x, y) = 1 + 0.3 sin x cos y: its D(x, y) was 55% off at the patch centres.
/// The factor comes first in a term's name ("x^2*U_xx", "cos(2pi x/L)*U_x"). None by default: the
/// translation-invariant library.
struct PositionBasis {
  using Kind = PositionKind;
  /// A basis function of the position: its name (a term's factor) and its value at (x, y).
  using Function = std::pair<std::string, std::function<double(double, double)>>;
  Kind kind = Kind::None;
  /// regression.position_degree = "auto": regress and regress_2d choose the degree from the data.
  /// The fits of a basis raised one degree at a time (up to 8, what the positions tell apart:
  /// max_degree, and a library of at most kChosenColumns terms) are scored by their least-squares
  /// error on held-out data (whole trajectories, else every fifth row, of a subsample of at most
  /// ~20,000 rows: "The library" above), and the degree
  /// rises while one of the next two lowers that error by more than 10%. The coefficient functions
  /// are then as fine as the data resolve (a graded a*(x) = sqrt of a quadratic: 3.5e-3 off at
  /// degree 2, 1.5e-6 at the 8 chosen). The cap keeps the STLSQ fit on all rows affordable: 2D
  /// Fourier bases stop at degree 2 (700 terms; degree 3 has 1372), 2D polynomials at 5 (588).
  static constexpr std::size_t kChosenColumns = 800;
  int degree = 2;
  double length = 1.0;
  int dimensions = 1;
  /// The functions of one axis (0: x, 1: y), each with its order (the power, or the harmonic k):
  /// x, x^2, ... or sin and cos(2 pi k x / L). Terms name them as factors, so these (the powers
  /// as powers of "x" or "y") are all a derivative map needs (with_position).
  std::vector<std::pair<int, Function>> axis_functions(int axis) const;
  /// The basis: the functions of x in 1D, their tensor product with those of y in 2D.
  std::vector<Function> functions() const;
  /// The largest degree whose functions `positions` distinct positions per axis tell apart.
  int max_degree(int positions) const { return kind == Kind::Fourier ? (positions - 1) / 2 : positions - 1; }
  /// The value at (x, y) of the coefficient of `term` in `fit`: the sum over the position factors
  /// phi (and 1) of the sparse coefficient of "phi*term" times phi(x, y).
  double coefficient_at(const RegressionResult& fit, const std::string& term, double x, double y = 0.0) const;
};

struct RegressionResult {
  std::vector<std::string> terms;
  std::vector<double> least_squares;  ///< all terms, on the first fit's rows ("Weights" above)
  std::vector<double> stlsq;          ///< sparse (0 for dropped terms)
  std::string equation;               ///< e.g. "dU/dt = 0.4582576 U_xx"
  double a_star = 0.0;                ///< coefficient of U_xx in the sparse fit (1D)
  double relative_residual = 0.0;     ///< eq.-(24) rMSE of the sparse fit on the (weighted) rows
  double threshold = 0.0;             ///< the threshold of the sparse fit (as given, or as chosen)
  Weights weights = Weights::None;    ///< how the states weighed ("Weights" above)
  /// The library's degree in U ("The library" above), as given or as chosen; 0: the 2D library linear in U.
  int u_degree = 2;
  PositionBasis position;  ///< the position basis of the library (its degree as given, or as chosen)
  /// 2D: the fit's modes |kx|, |ky| <= modes (0: every mode), as given or as chosen (regress_2d).
  int modes = 0;
  /// 2D on chosen slow modes: whether they tell the library's terms apart (regress_2d): each tried
  /// K's held-out error on every mode, and the every-mode fit's own (empty, NaN: not checked).
  std::vector<std::pair<int, double>> slow_mode_errors;
  double every_mode_error = std::numeric_limits<double>::quiet_NaN();
  /// The sparse coefficient of a term (0 when it is not in the library or was dropped).
  double coefficient(const std::string& term) const;
  /// The coefficient of `term` with its position factors at (x, y) (PositionBasis::coefficient_at).
  double coefficient_at(const std::string& term, double x, double y = 0.0) const {
    return position.coefficient_at(*this, term, x, y);
  }
};

/// STLSQ of y on the columns of theta [rows][terms.size()] (the engine of both regressions). A
/// negative threshold chooses it from the data (regression.threshold = "auto"): STLSQ on four rows in five at the
/// thresholds 10^-5, 10^-4.75, ..., 10^-0.5, each fit scored by its eq.-(24) error on the fifth
/// rows it did not see; the largest threshold whose held-out error is within 10% of the lowest is
/// refitted on all rows. Terms that matter change that error by far more (on clean data by orders of
/// magnitude); terms that only follow scatter in the data (a random medium's patches) do not.
RegressionResult stlsq(const std::vector<double>& theta, const std::vector<double>& y, std::vector<std::string> terms,
                       double threshold);

/// U and dUdt: [N][M] macro states and rates (row-major); the interior nodes are the samples, at
/// x_i = i dX for the position basis. `tooth_width` > 0: the data are averages over teeth of that
/// width, and so is every column (learn::ToothAverage, discovered.hpp), so the equation found is the
/// field's. `weights`: how the states weigh in the fits (see "Weights" above). `u_degree`: the
/// library's degree in U ("The library" above), kChosenDegree to choose it from the data.
/// `trajectories`: the states are that many whole trajectories of equal length, in order; with two
/// or more, the degrees and the threshold chosen from the data are scored on whole held-out
/// trajectories ("The library" above; the threshold: each one's STLSQ on the other folds, the
/// folds' median error), else on held-out rows. Rows of one trajectory's states share its own
/// errors (a random medium's piece, an offset), which a low threshold's spurious terms follow:
/// held-out rows reward them, a held-out trajectory does not.
/// Known factors on groups of library terms, state by state and node by node: the data of
/// patches that each hold their own piece of a random medium (pipeline PatchScaling::known). A term
/// of group k >= 0 (`group` of its name) enters state n's row at node i times factors[n][i][k];
/// a term of group -1 as it is. The fit's coefficients are then the common operator's.
struct TermScales {
  std::function<int(const std::string& term)> group;
  torch::Tensor factors;  ///< [N, M, groups], double, on the CPU
};

RegressionResult regress(const std::vector<double>& U, const std::vector<double>& dUdt, int M, double dX, int stencil,
                         double threshold, const PositionBasis& position = {}, double tooth_width = 0.0,
                         Weights weights = Weights::Residuals, int u_degree = kChosenDegree, int trajectories = 1,
                         const TermScales* term_scales = nullptr);

/// 2D: dU/dt with spectral derivatives of the periodic P x P states U[N][P*P] on [0, L)^2, on
/// (at the library's degree u_degree = 2; each family one power longer per degree, library_2d)
///   1, U, U^2, U^3, U_x, U*U_x, U^2*U_x, U_y, U*U_y, U^2*U_y, U_xx, U*U_xx, U^2*U_xx, U_xy,
///   U*U_xy, U^2*U_xy, U_yy, U*U_yy, U^2*U_yy, U_xxxx, U_xxyy, U_yyyy, U_x^2, U*U_x^2, U_x*U_y,
///   U*U_x*U_y, U_y^2, U*U_y^2
/// (div(g(U) D grad U) with a quadratic g needs U*U_x*U_y beside U*U_x^2 and U*U_y^2 when D has
/// an off-diagonal part). The degree is chosen as in 1D ("The library" above), after the modes. The fourth-order terms
/// take up the lattice's next-order (O(h^2 k^4)) correction of the rates, which would otherwise bias D by ~5e-4 through
/// the fast modes. D = [[c(U_xx), c(U_xy)/2], [c(U_xy)/2, c(U_yy)]]. With a position basis (dimensions 2) every term
/// also appears times each of its functions, the node (I, J) of U's row-major [J][I] layout at (centres[I],
/// centres[J]).
///
/// Patch means are not point values: the mean over a patch's m x m points (spacing h) multiplies
/// the mode exp(i k.x) by s(kx) s(ky) (patch/layout2d.hpp: patch_mean_factor), and it does
/// not commute with a nonlinear rate (the mean of U^3 is not the cube of the mean: their difference
/// is O((m h)^2) of the rate, 2e-3 of the U^2-weighted coefficients on the paper's lattice). Given
/// `means`, states and rates are both divided by s(kx) s(ky) mode by mode before the fit, which
/// turns the means' rates M N(U) back into the point values' N(U) on the grid's modes, so the
/// equation found is the one of the field, not of its means (exact for a linear operator too, where
/// the two coincide).
struct PatchMeans {
  int m = 1;       ///< points per side of the mean (1: the data are point values)
  double h = 0.0;  ///< their spacing
};
/// The patch mean on the periodic P x P grid [B, P*P] over [0, L)^2 as the Fourier multiplier
/// s(kx) s(ky): `means` of point values, and the point `values` of means, mode by mode. The [P, P]
/// multiplier and its inverse are made once and kept on the states' device and dtype.
class PatchMeanMap {
 public:
  PatchMeanMap(int P, double L, const PatchMeans& patch);
  torch::Tensor means(const torch::Tensor& values) { return apply(values, 1, symbol_); }
  torch::Tensor values(const torch::Tensor& means) { return apply(means, -1, inverse_); }

 private:
  torch::Tensor apply(const torch::Tensor& V, int power, torch::Tensor& cache) const;
  int P_;
  std::vector<double> s_;  ///< s(k_i), i < P; empty for point values (m = 1)
  torch::Tensor symbol_, inverse_;
};

/// Only the slow modes (`modes` > 0): the fit is restricted to the grid's Fourier modes |kx|, |ky| <=
/// modes, the rates and every column projected on them (for least squares the same as fitting
/// those modes' coefficients). A library term is a pointwise product of up to three factors on the
/// P x P grid (U^3, U^2*U_xx, U*U_x*U_y): what such a product of the field holds beyond the grid's
/// Nyquist mode comes back on the grid's modes (aliasing), and so does the field's own content
/// beyond it (the cubic harmonics of a nonlinear rate), so a column is not the field's term at the
/// fast modes. Both errors land mostly there: a product of three factors each within K holds modes
/// up to 3K, whose aliases k - P miss every mode within K when 4K < P. 0 (or P/2 and more): every
/// mode. The slow modes must still tell the library's terms apart, which they need not: on |k| <= 1
/// U_xxxx is -U_xx, and with the data's energy on few modes, U_xxxx, U_xx and U are nearly
/// dependent there (U_xxxx = 5 U_xx + 4 U on wavenumbers 1 and 2), which the fast modes' harmonics
/// of the nonlinear terms would have told apart. A fit on such modes matches them and misses the
/// rest. A negative `modes` chooses them, from -modes up: the least squares on the modes within K
/// (of a subsample of ~20,000 rows) is scored by its eq.-(24) error on every mode of held-out rows,
/// against the every-mode least squares' error there: whole held-out trajectories where there are
/// several (`trajectories`, the folds' median, as the degrees are scored), else four rows in five
/// against the fifth. Where the modes identify
/// the terms, the two fits differ by the fast modes' aliasing and the data's noise, which both
/// errors share and the slow fit leaves out (random_nonlinear2d's data: by 1e-6); where they do not,
/// the slow fit's rates are off on every other mode (8 x 8 teeth on |k| <= 1: by 9.5, eq. 24). The
/// first K whose error exceeds the every-mode fit's by at most kSlowModesIdentify is fitted, else
/// every mode (RegressionResult::modes says which). A positive `modes` is taken as it is.
/// `linear`: the lattice has no u-dependence, so its effective equation is linear in U (a linear
/// fine model's is) and the library keeps the terms linear in U: U, its first, second and fourth
/// derivatives (9 instead of 28, so a position basis of degree d takes 9 (2d + 1)^2 columns: a
/// Fourier degree 4 within PositionBasis::kChosenColumns, where the full library stops at 2).
/// How much more of the rates' variance (eq. 24) the slow modes' fit may miss on every mode than the
/// every-mode fit before regress_2d finds that they do not tell the library's terms apart: 1% rms
/// of the rates, the bound on data that a grid does not resolve (kUnresolvedDataRates).
inline constexpr double kSlowModesIdentify = 1e-4;
RegressionResult regress_2d(const std::vector<double>& U, const std::vector<double>& dUdt, int P, double L,
                            double threshold, const PositionBasis& position = {},
                            const std::vector<double>& centres = {}, const PatchMeans& means = {}, int modes = 0,
                            bool linear = false, Weights weights = Weights::Residuals, int u_degree = kChosenDegree,
                            int trajectories = 1);

/// One factor of a term's name and its power: "U_xx" {"U_xx", 1}, "U^2" {"U", 2}, "x^3" {"x", 3}.
struct TermFactor {
  std::string name;
  int power = 1;
};
/// A term's factors, its name split at '*' and each factor at '^' (the naming above); the
/// constant "1" has none. The one parser of term names: the discovered equation evaluates a term
/// from it, and the regression's groups of terms are read from it.
std::vector<TermFactor> term_factors(const std::string& term);

/// The derivatives a term's factors take along x and along y, each counted with its factor's
/// power: U*U_x^2 {2, 0}, U_xy {1, 1}, U^2*U_yy {0, 2}, U_xxyy {2, 2}, U^3 and position factors
/// {0, 0}. A 2D diffusion's terms in one direction are those of {2, 0} or {0, 2}.
std::pair<int, int> derivative_counts(const std::string& term);

/// Least squares min |A x - b| for a tall A [rows][cols] (row-major), by LAPACK's QR with column
/// pivoting (gelsy, blocked; with geqrf for STLSQ's dependent columns it took a regression-only
/// `train` on a 2D graded library of 252 terms from 102 s with plain Householder loops to 14.6 s).
std::vector<double> least_squares(std::vector<double> A, std::vector<double> b, int rows, int cols);

}  // namespace patchlearn::learn
