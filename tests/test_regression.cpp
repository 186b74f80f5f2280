// The regression library, polynomial in U times derivative terms: a known polynomial effective
// equation evaluated exactly on the library's own features is recovered (1D: exact and with
// noise; 2D: exact), absent terms are dropped, and the discovered equation evaluates every term.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <string>

#include "patchlearn/learn/discovered.hpp"
#include "patchlearn/learn/regression.hpp"
#include "patchlearn/learn/tensors.hpp"

using namespace patchlearn;
using torch::indexing::Slice;

namespace {

using Truth = std::map<std::string, double>;

constexpr int M = 21;
constexpr double dX = 0.05;

// dU/dt = d/dx((0.4 + 0.3 U^2) U_x) + (0.2 - U) U_x + 0.5 (U - U^2): a concentration-dependent
// diffusivity (a = 0.4 + 0.3 U^2 gives a U_xx + 0.6 U*U_x^2), a Burgers-like drift and a
// Fisher-like reaction. The library's other terms (1, U^3, U^2*U_x, U*U_xx, U_x^2, U_xx^2) are
// absent.
const Truth kTruth1D = {{"U_xx", 0.4},   {"U^2*U_xx", 0.3}, {"U*U_x^2", 0.6}, {"U_x", 0.2},
                        {"U*U_x", -1.0}, {"U", 0.5},        {"U^2", -0.5}};

// Random smooth states on [0, 1]: three sine modes, a linear part and an offset, U in ~[0.2, 2.6].
torch::Tensor smooth_states(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  const auto x = torch::linspace(0, 1, M, torch::kFloat64);
  auto U = 0.2 + torch::rand({n, 1}, torch::kFloat64) + torch::rand({n, 1}, torch::kFloat64) * x;
  for (int k = 1; k <= 3; ++k) U = U + torch::rand({n, 1}, torch::kFloat64) * torch::sin(M_PI * k * x) / k;
  return U;
}

// The truth's dU/dt on the interior nodes from the 3-point differences (the ends 0).
torch::Tensor rates_1d(const torch::Tensor& U) {
  const auto d = learn::macro_derivatives_1d(U, dX, 3);
  std::vector<std::string> terms;
  std::vector<double> xi;
  for (const auto& [t, c] : kTruth1D) terms.push_back(t), xi.push_back(c);
  auto R = torch::zeros_like(U);
  R.index_put_({Slice(), Slice(1, M - 1)}, learn::evaluate_terms(d, terms, xi));
  return R;
}

// Every true coefficient within rel_tol relative, every other term below rel_tol of the largest
// true coefficient; returns the largest relative error of each kind.
std::pair<double, double> check(const learn::RegressionResult& fit, const Truth& truth, double rel_tol) {
  double largest = 0, worst_present = 0, worst_absent = 0;
  for (const auto& [t, c] : truth) largest = std::max(largest, std::abs(c));
  for (const auto& t : fit.terms) {
    const double got = fit.coefficient(t);
    const auto it = truth.find(t);
    if (it != truth.end()) {
      worst_present = std::max(worst_present, std::abs(got / it->second - 1));
      EXPECT_NEAR(got, it->second, rel_tol * std::abs(it->second)) << t;
    } else {
      worst_absent = std::max(worst_absent, std::abs(got) / largest);
      EXPECT_LT(std::abs(got), rel_tol * largest) << t;
    }
  }
  for (const auto& [t, c] : truth) EXPECT_NE(std::find(fit.terms.begin(), fit.terms.end(), t), fit.terms.end()) << t;
  return {worst_present, worst_absent};
}

}  // namespace

TEST(Regression, LibraryHasCanonicalTermNames) {
  // Exact data of a quadratic a: nothing is left for a higher degree in U, which stays at 2.
  const auto U = smooth_states(20, 1);
  const auto fit = learn::regress(learn::to_vector(U), learn::to_vector(rates_1d(U)), M, dX, 3, 1e-3);
  const std::vector<std::string> want = {"1",    "U",      "U^2",      "U^3",   "U_x",     "U*U_x", "U^2*U_x",
                                         "U_xx", "U*U_xx", "U^2*U_xx", "U_x^2", "U*U_x^2", "U_xx^2"};
  EXPECT_EQ(fit.terms, want);
  EXPECT_EQ(fit.u_degree, 2);
  const std::vector<std::string> cubic = {"1",        "U",       "U^2",     "U^3",       "U^4",    "U_x",
                                          "U*U_x",    "U^2*U_x", "U^3*U_x", "U_xx",      "U*U_xx", "U^2*U_xx",
                                          "U^3*U_xx", "U_x^2",   "U*U_x^2", "U^2*U_x^2", "U_xx^2"};
  EXPECT_EQ(learn::library_1d(3), cubic);
  const auto given = learn::regress(learn::to_vector(U), learn::to_vector(rates_1d(U)), M, dX, 3, 1e-3, {}, 0.0,
                                    learn::Weights::Residuals, 3);
  EXPECT_EQ(given.terms, cubic);
  EXPECT_EQ(given.u_degree, 3);
}

TEST(Regression, TheDegreeInUIsScoredOnTrajectoriesItHasNotSeen) {
  // Six trajectories of 20 states, each near its own level of U (0.3, 0.8, ..., 2.8, waves of 0.1),
  // whose rates carry the truth plus an offset of its own (N(0, 0.02), the rates' scale ~0.5): an
  // error shared by a trajectory's states, as a random medium's pieces or a patch scheme's bias
  // give. A reaction of degree 5 in U (u_degree 4) interpolates six offsets at six levels, so every
  // fifth row of the same states, held out, says the higher degree explains the rates; a trajectory
  // held out says its offset is not a function of U that the others' fit predicts.
  constexpr int G = 6, per = 20;
  torch::manual_seed(5);
  const auto x = torch::linspace(0, 1, M, torch::kFloat64);
  std::vector<torch::Tensor> Us, Rs;
  const auto offsets = 0.02 * torch::randn({G}, torch::kFloat64);
  for (int g = 0; g < G; ++g) {
    auto U = (0.3 + 0.5 * g) * torch::ones({per, 1}, torch::kFloat64);
    for (int k = 1; k <= 3; ++k) U = U + 0.1 * torch::rand({per, 1}, torch::kFloat64) * torch::sin(M_PI * k * x) / k;
    auto R = rates_1d(U);
    R.index({Slice(), Slice(1, M - 1)}) += offsets[g];
    Us.push_back(U);
    Rs.push_back(R);
  }
  const auto U = learn::to_vector(torch::cat(Us)), R = learn::to_vector(torch::cat(Rs));
  const auto rows = learn::regress(U, R, M, dX, 3, 1e-3, {}, 0.0, learn::Weights::None, learn::kChosenDegree, 1);
  const auto whole = learn::regress(U, R, M, dX, 3, 1e-3, {}, 0.0, learn::Weights::None, learn::kChosenDegree, G);
  // On a trajectory none of them saw (between two levels, without an offset), the truth's rates
  // against each fit's.
  const auto unseen = 1.05 + 0.1 * torch::rand({per, 1}, torch::kFloat64) * torch::sin(M_PI * x);
  const auto truth = rates_1d(unseen).index({Slice(), Slice(1, M - 1)});
  const auto off = [&](const learn::RegressionResult& fit) {
    const auto got = learn::evaluate_terms(learn::macro_derivatives_1d(unseen, dX, 3), fit.terms, fit.stlsq);
    return ((got - truth).pow(2).sum() / (truth - truth.mean()).pow(2).sum()).item<double>();
  };
  std::printf(
      "held-out rows: degree %d, unseen trajectory's rates %.3e (eq. 24); held-out trajectories: degree %d, "
      "%.3e\n",
      rows.u_degree, off(rows), whole.u_degree, off(whole));
  EXPECT_GT(rows.u_degree, 2);
  EXPECT_EQ(whole.u_degree, 2);
  EXPECT_LT(off(whole), off(rows));
}

TEST(Regression, TheThresholdIsChosenOnTrajectoriesItHasNotSeen) {
  // Six trajectories of 20 states over the same range of U, whose rates carry dU/dt = 0.4 U_xx +
  // 0.2 U_x plus an offset delta_g of each trajectory's own (a random medium's piece, a patch
  // scheme's bias), which no term of the truth holds: the offsets' mean is a constant term that the
  // pooled least squares keep. Rows of the same states held out share their trajectory's offset, so
  // that term lowers their error (by the mean's square over the offsets' mean square, 16% here)
  // and a threshold that keeps it is chosen; a trajectory held out has an offset of its own, which
  // the others' mean does not predict, so the threshold chosen there drops it.
  constexpr int G = 6, per = 20;
  const std::vector<double> delta = {0.015, -0.005, 0.012, -0.003, 0.009, -0.006};
  const Truth truth = {{"U_xx", 0.4}, {"U_x", 0.2}};
  const auto U = smooth_states(G * per, 7);
  auto R = torch::zeros_like(U);
  R.index_put_({Slice(), Slice(1, M - 1)},
               learn::evaluate_terms(learn::macro_derivatives_1d(U, dX, 3), {"U_xx", "U_x"}, {0.4, 0.2}));
  for (int g = 0; g < G; ++g) R.index({Slice(g * per, (g + 1) * per), Slice(1, M - 1)}) += delta[g];
  const auto u = learn::to_vector(U), r = learn::to_vector(R);
  const auto rows = learn::regress(u, r, M, dX, 3, -1, {}, 0.0, learn::Weights::None, 2, 1);
  const auto whole = learn::regress(u, r, M, dX, 3, -1, {}, 0.0, learn::Weights::None, 2, G);
  std::printf("held-out rows: threshold %.3g, %s\nheld-out trajectories: threshold %.3g, %s\n", rows.threshold,
              rows.equation.c_str(), whole.threshold, whole.equation.c_str());
  EXPECT_NE(rows.coefficient("1"), 0.0);
  check(whole, truth, 1e-3);  // the offsets left in the rates move the two by ~3e-4
}

TEST(Regression, RecoversPolynomialEquationExactly) {
  // Data exact up to rounding (~1e-16 relative): the coefficient errors are rounding amplified
  // by the condition number of the unit-norm columns (~3e2 on such states: U^k on U in [0.2, 2.6]
  // are the near-collinear ones) and by 1 / the term's standardized coefficient (>= ~1e-2: 0.5 U
  // is the smallest), ~1e-13, far inside the 1e-4. STLSQ at the configs' threshold 1e-3
  // drops the absent terms (standardized least-squares coefficients ~1e-14) to exactly 0.
  const auto U = smooth_states(200, 2);
  const auto fit = learn::regress(learn::to_vector(U), learn::to_vector(rates_1d(U)), M, dX, 3, 1e-3);
  const auto [present, absent] = check(fit, kTruth1D, 1e-4);
  std::printf("exact 1D data: largest relative coefficient error %.2e, largest absent term %.2e\n", present, absent);
  EXPECT_LT(present, 1e-10);
  EXPECT_EQ(absent, 0.0);
  EXPECT_LT(fit.relative_residual, 1e-24);
}

TEST(Regression, ToothAveragesFindTheFieldsEquation) {
  // 1D data are tooth averages: of quadratic fields u = a + b x + c x^2, whose 3-point differences
  // and local quadratic are exact, and of the truth's rate on them (an 8-point Gauss-Legendre
  // average over the tooth, exact for its degree-6 polynomial in x). With the columns averaged over
  // the same teeth (learn::ToothAverage) the fit is exact to rounding; taken at the centres, the
  // nonlinear columns are off by O(w^2) (U_x^2 by w^2 U_xx^2 / 12) and the coefficients move.
  const double w = 0.04;
  const int n = 200;
  const double gx[8] = {-0.9602898564975363, -0.7966664774136267, -0.5255324099163290, -0.1834346424956498,
                        0.1834346424956498,  0.5255324099163290,  0.7966664774136267,  0.9602898564975363};
  const double gw[8] = {0.1012285362903763, 0.2223810344533745, 0.3137066458778873, 0.3626837833783620,
                        0.3626837833783620, 0.3137066458778873, 0.2223810344533745, 0.1012285362903763};
  std::vector<double> U(static_cast<std::size_t>(n) * M), R(U.size(), 0.0);
  torch::manual_seed(7);
  const auto coef = torch::rand({n, 3}, torch::kFloat64);
  for (int b = 0; b < n; ++b) {
    const double a = 0.2 + coef[b][0].item<double>(), slope = 2 * coef[b][1].item<double>() - 1,
                 c = 4 * coef[b][2].item<double>() - 2;
    for (int i = 0; i < M; ++i) {
      double u_mean = 0, r_mean = 0;
      for (int g = 0; g < 8; ++g) {
        const double x = i * dX + 0.5 * w * gx[g], u = a + slope * x + c * x * x, ux = slope + 2 * c * x, uxx = 2 * c;
        u_mean += 0.5 * gw[g] * u;
        r_mean += 0.5 * gw[g] * ((0.4 + 0.3 * u * u) * uxx + 0.6 * u * ux * ux + (0.2 - u) * ux + 0.5 * (u - u * u));
      }
      U[static_cast<std::size_t>(b) * M + i] = u_mean;
      if (i > 0 && i < M - 1) R[static_cast<std::size_t>(b) * M + i] = r_mean;
    }
  }
  const auto averaged = learn::regress(U, R, M, dX, 3, 1e-6, {}, w);
  const auto centred = learn::regress(U, R, M, dX, 3, 1e-6);
  const auto [present, absent] = check(averaged, kTruth1D, 1e-8);
  double moved = 0;
  for (const auto& [t, c] : kTruth1D) moved = std::max(moved, std::abs(centred.coefficient(t) / c - 1));
  std::printf(
      "tooth averages: largest relative coefficient error %.2e with the columns averaged, %.2e at the centres\n",
      present, moved);
  EXPECT_EQ(absent, 0.0);
  EXPECT_GT(moved, 1e-5);
  // The discovered equation averages its terms over the same teeth, and gives the data's rates.
  learn::DiscoveredOperator op(
      averaged, [](const torch::Tensor& V) { return learn::macro_derivatives_1d(V, dX, 3); }, true,
      learn::ToothAverage{w});
  const auto Ut = torch::tensor(U, torch::kFloat64).reshape({n, M}),
             Rt = torch::tensor(R, torch::kFloat64).reshape({n, M});
  EXPECT_LT((op.rhs(Ut) - Rt).abs().max().item<double>(), 1e-10 * Rt.abs().max().item<double>());
}

TEST(Regression, RecoversPolynomialEquationFromNoisyRates) {
  // Noise of 1e-9 times the rms rate: a coefficient moves by at most ~ noise x condition number
  // / its standardized coefficient ~ 1e-9 x 3e2 / 1e-2 ~ 3e-5, inside 1e-4 (random noise over
  // 3800 samples averages far below that: ~1e-9 measured); the absent terms (standardized
  // ~1e-9 x 3e2) stay far below the threshold 1e-3 and are dropped.
  const auto U = smooth_states(200, 3);
  auto R = rates_1d(U);
  torch::manual_seed(4);
  const double rms = R.pow(2).mean().sqrt().item<double>();
  R.index_put_({Slice(), Slice(1, M - 1)},
               R.index({Slice(), Slice(1, M - 1)}) + 1e-9 * rms * torch::randn({U.size(0), M - 2}, torch::kFloat64));
  const auto fit = learn::regress(learn::to_vector(U), learn::to_vector(R), M, dX, 3, 1e-3);
  const auto [present, absent] = check(fit, kTruth1D, 1e-4);
  std::printf("noisy 1D data: largest relative coefficient error %.2e, largest absent term %.2e\n", present, absent);
  EXPECT_LT(present, 1e-5);
}

// The largest relative error of the true coefficients of kTruth1D in `fit`.
double worst_coefficient(const learn::RegressionResult& fit) {
  double worst = 0;
  for (const auto& [t, c] : kTruth1D) worst = std::max(worst, std::abs(fit.coefficient(t) / c - 1));
  return worst;
}

// `R` plus `size` times each state's rms rate in the shape of the rates' own second difference at
// the interior nodes (as a tooth average leaves it on a patch's rate), on the states `rows`.
torch::Tensor with_curvature_error(torch::Tensor R, double size, const Slice& rows = Slice()) {
  R = R.clone();  // the caller's rates stay as they are
  const auto inner = Slice(1, M - 1);
  const auto Rs = R.index({rows});
  const auto curvature = torch::constant_pad_nd(
      Rs.index({Slice(), Slice(2, M)}) - 2 * Rs.index({Slice(), inner}) + Rs.index({Slice(), Slice(0, M - 2)}), {1, 1},
      0.0);
  R.index_put_({rows},
               Rs + size * curvature * (Rs.pow(2).mean(1, true).sqrt() / curvature.pow(2).mean(1, true).sqrt()));
  return R;
}

TEST(Regression, StatesWeighByTheirRatesSoTheSteepestDoNotSetTheFit) {
  // Patch rates carry errors that grow with the rates, and a trajectory's first states are the
  // steepest: here 20 states with a wavenumber-8 ripple (rms rate 131 against 16.5) whose rates
  // carry a systematic error of 5e-6 of their own (the rates' own curvature, as a tooth average
  // leaves it), beside 200 smooth states with exact rates. Weighted by rates, a state above three
  // times the median's rms rate weighs by that bound over its rms (the ripples' rows ~1/5 of their
  // unweighted weight). The ripples also excite directions of the library the smooth states barely
  // do, and there their error moves the coefficients at any weight short of zero; measured: 4.9e-5
  // by rates, 1.3e-4 unweighted. Weighted by residuals, each round weighs the ripples by the median
  // residual (the smooth states', the last fit's own error) over theirs (their 5e-6), which the
  // round before made smaller: 1.1e-7 after two. The bounds: the 1e-4 by rates, at least
  // twice better than unweighted, and residuals ten times better than rates.
  const auto smooth = smooth_states(200, 6);
  const auto x = torch::linspace(0, 1, M, torch::kFloat64);
  const auto steep = smooth_states(20, 7) + 0.3 * torch::sin(8 * M_PI * x);
  const auto Rs = with_curvature_error(rates_1d(steep), 5e-6);
  const auto U = learn::to_vector(torch::cat({smooth, steep})),
             R = learn::to_vector(torch::cat({rates_1d(smooth), Rs}));
  std::printf("rms rate: smooth states %.3g, steep ones %.3g\n", rates_1d(smooth).pow(2).mean().sqrt().item<double>(),
              Rs.pow(2).mean().sqrt().item<double>());
  const auto fit = learn::regress(U, R, M, dX, 3, 1e-3);
  EXPECT_EQ(fit.weights, learn::Weights::Residuals);
  const auto [present, absent] = check(fit, kTruth1D, 1e-4);
  const auto by_rates = learn::regress(U, R, M, dX, 3, 1e-3, {}, 0.0, learn::Weights::Rates);
  const auto plain = learn::regress(U, R, M, dX, 3, 1e-3, {}, 0.0, learn::Weights::None);
  const double rates = worst_coefficient(by_rates), unweighted = worst_coefficient(plain);
  std::printf(
      "steep states with 5e-6 errors: largest relative coefficient error %.2e by residuals (absent terms %.2e), "
      "%.2e by rates, %.2e unweighted\n",
      present, absent, rates, unweighted);
  EXPECT_LT(rates, 1e-4);
  EXPECT_GT(unweighted, 2 * rates);
  EXPECT_LT(10 * present, rates);
}

TEST(Regression, StatesWeighByTheirResidualsSoTheOnesThatErrDoNotSetTheFit) {
  // Errors need not grow with the rates: 20 states as smooth and as steep as the 200 others, whose
  // rates carry a systematic error of 1e-4 of their own (the curvature's shape, as above). Their
  // rates set them apart from nothing, so weighting by rates weighs every state alike; their
  // residuals of the first fit are ~1e-4 of their rates against the others' (the first fit's own
  // error, which the 20 put there), and each round weighs them by the median residual over theirs,
  // so each round shrinks the coefficients' error by about that ratio; measured: 2.2e-4 by rates,
  // 2.1e-10 by residuals after the two rounds. The bounds: rates above 1e-5 (the premise: the 20
  // set the rates-weighted fit), residuals a hundred times below.
  const auto U = smooth_states(220, 8);
  const auto R = with_curvature_error(rates_1d(U), 1e-4, Slice(200, 220));
  const auto fit = learn::regress(learn::to_vector(U), learn::to_vector(R), M, dX, 3, 1e-3);
  const auto by_rates =
      learn::regress(learn::to_vector(U), learn::to_vector(R), M, dX, 3, 1e-3, {}, 0.0, learn::Weights::Rates);
  const auto [present, absent] = check(fit, kTruth1D, 1e-5);
  const double rates = worst_coefficient(by_rates);
  std::printf(
      "20 states with 1e-4 errors: largest relative coefficient error %.2e by residuals (absent terms %.2e), "
      "%.2e by rates\n",
      present, absent, rates);
  EXPECT_GT(rates, 1e-5);
  EXPECT_LT(100 * present, rates);
}

namespace {
// A diffusivity a(U) that is not a polynomial, and its slope a'(U), on tensors of U.
struct Diffusivity {
  std::function<torch::Tensor(const torch::Tensor&)> a, slope;
};
// 2 exp(-0.3 U).
const Diffusivity kExponential{[](const torch::Tensor& u) { return 2.0 * torch::exp(-0.3 * u); },
                               [](const torch::Tensor& u) { return -0.6 * torch::exp(-0.3 * u); }};
// sqrt(6.25 - (1 + U/2)^2): a branch point at U = 3, close beyond the states' largest U.
const Diffusivity kBranch{
    [](const torch::Tensor& u) { return torch::sqrt(6.25 - (1 + 0.5 * u).pow(2)); },
    [](const torch::Tensor& u) { return -0.5 * (1 + 0.5 * u) / torch::sqrt(6.25 - (1 + 0.5 * u).pow(2)); }};

// The rate (a(U) U_x)_x = a(U) U_xx + a'(U) U_x^2 on the 3-point differences.
torch::Tensor diffusivity_rates(const torch::Tensor& U, const Diffusivity& a) {
  const auto d = learn::macro_derivatives_1d(U, dX, 3);
  auto R = torch::zeros_like(U);
  R.index_put_({Slice(), Slice(1, M - 1)}, a.a(d.at("U")) * d.at("U_xx") + a.slope(d.at("U")) * d.at("U_x").pow(2));
  return R;
}

// The largest error of the fit's a*(u) = sum_k c(U^k*U_xx) u^k against a(u) on [lo, hi], relative
// to a's largest value there.
double diffusivity_error(const learn::RegressionResult& fit, const Diffusivity& a, double lo, double hi) {
  const auto series = learn::u_series("U_xx", fit.u_degree);
  const auto u = torch::linspace(lo, hi, 101, torch::kFloat64);
  auto fitted = torch::zeros_like(u);
  for (std::size_t k = 0; k < series.size(); ++k)
    fitted = fitted + fit.coefficient(series[k]) * u.pow(static_cast<double>(k));
  const auto truth = a.a(u);
  return ((fitted - truth).abs().max() / truth.abs().max()).item<double>();
}

// 200 smooth states and 20 steep ones (a wavenumber-8 ripple) whose rates err by 5e-6 of their own,
// as in the steep-states test, with the rates of the diffusivity a; returns U, R and U's range.
struct DiffusivityData {
  std::vector<double> U, R;
  double lo, hi;
};
DiffusivityData diffusivity_data(const Diffusivity& a, uint64_t seed) {
  const auto smooth = smooth_states(200, seed);
  const auto x = torch::linspace(0, 1, M, torch::kFloat64);
  const auto steep = smooth_states(20, seed + 1) + 0.3 * torch::sin(8 * M_PI * x);
  const auto Uall = torch::cat({smooth, steep});
  return {learn::to_vector(Uall),
          learn::to_vector(
              torch::cat({diffusivity_rates(smooth, a), with_curvature_error(diffusivity_rates(steep, a), 5e-6)})),
          Uall.min().item<double>(), Uall.max().item<double>()};
}
}  // namespace

TEST(Regression, TheLibrarysDegreeInUFollowsACoefficientThatIsNotAPolynomial) {
  // a(U) = 2 exp(-0.3 U) on states with U in [-0.07, 2.86] (200 smooth, and 20 steep ones whose
  // rates err by 5e-6 of their own, as in the steep-states test), held by the library to its degree
  // d in U only: the best polynomial of degree d misses the exponential by ~(0.44)^(d+1) / ((d+1)!
  // 2^d) of its size (0.44: 0.3 times the half range), ~1e-2 at d = 2 (measured: 8.5e-3 by
  // residuals, 9.5e-3 unweighted, on the whole range). "auto" raises d while the held-out error at
  // least halves: measured 5, where the truncation is ~3e-7 and the threshold sets the error
  // instead: STLSQ drops the powers whose standardized share of the rates is below 1e-3 (U^5*U_xx,
  // U^4*U_x^2), and the kept ones absorb most of them; measured 8.2e-5 by residuals, 5.8e-5
  // unweighted. The bounds: d >= 4, within 2e-4, and at least 40 times better than d = 2.
  const auto [U, R, lo, hi] = diffusivity_data(kExponential, 9);
  const auto fit = [&](learn::Weights w, int d) { return learn::regress(U, R, M, dX, 3, 1e-3, {}, 0.0, w, d); };
  const auto chosen = fit(learn::Weights::Residuals, learn::kChosenDegree);
  const auto chosen_plain = fit(learn::Weights::None, learn::kChosenDegree);
  const auto quadratic = fit(learn::Weights::Residuals, 2), quadratic_plain = fit(learn::Weights::None, 2);
  const double e = diffusivity_error(chosen, kExponential, lo, hi),
               ep = diffusivity_error(chosen_plain, kExponential, lo, hi),
               q = diffusivity_error(quadratic, kExponential, lo, hi),
               qp = diffusivity_error(quadratic_plain, kExponential, lo, hi);
  std::printf(
      "a = 2 exp(-0.3U) on U in [%.2f, %.2f]: a*(u) off by %.2e at the chosen degree %d by residuals, %.2e at %d "
      "unweighted; at degree 2 %.2e by residuals, %.2e unweighted\n",
      lo, hi, e, chosen.u_degree, ep, chosen_plain.u_degree, q, qp);
  EXPECT_GE(chosen.u_degree, 4);
  EXPECT_LT(e, 2e-4);
  EXPECT_LT(ep, 2e-4);
  EXPECT_GT(q, 40 * e);
  EXPECT_GT(qp, 40 * ep);
}

TEST(Regression, TheLibrarysDegreeInURisesPastSixWhereTheDataResolveIt) {
  // a(U) = sqrt(6.25 - (1 + U/2)^2), whose branch point at U = 3 lies 0.42 beyond the states' range
  // [0.03, 2.58]: its best polynomial of degree d on that range misses it by ~rho^-d, rho = R +
  // sqrt(R^2 - 1) = 2.2 (R = 1.33: the branch point's distance from the range's centre over the
  // half range), ~9e-3 at d = 6 and 4e-4 at d = 10, so the data resolve degrees above 6, as they
  // do on a medium a(y, u) = 2 + (1 + u/2) sin 2 pi y, whose a*(u) = sqrt(4 - (1 + u/2)^2) has its
  // branch point at u = 2 (bench/RESULTS.md, "Past degree 6"). Measured: degree 10 chosen, a*(u)
  // off by 1.8e-4 against 3.1e-3 at degree 6.
  const auto [U, R, lo, hi] = diffusivity_data(kBranch, 11);
  const auto fit = [&](int d) { return learn::regress(U, R, M, dX, 3, 1e-3, {}, 0.0, learn::Weights::Residuals, d); };
  const auto chosen = fit(learn::kChosenDegree), six = fit(6);
  const double e = diffusivity_error(chosen, kBranch, lo, hi), e6 = diffusivity_error(six, kBranch, lo, hi);
  std::printf(
      "a = sqrt(6.25 - (1 + U/2)^2) on U in [%.2f, %.2f]: a*(u) off by %.2e at the chosen degree %d, %.2e at 6\n", lo,
      hi, e, chosen.u_degree, e6);
  EXPECT_GT(chosen.u_degree, 6);
  EXPECT_LT(e, e6 / 3);
}

TEST(Regression, RecoversPolynomialEquationOnTheLattice) {
  // 2D: div(g(U) D grad U) + r(U) with g = 1 + 0.5 U^2, D = [[1.1, 0.25], [0.25, 0.7]] and the
  // Fisher-like r = 0.3 (U - U^2), evaluated on the spectral derivatives of random periodic
  // states: g D:grad grad U + g'(U) grad U . D grad U + r. Exact data as in 1D; fourth-order terms,
  // drifts, U^3 and the other products are absent and dropped (threshold 1e-4 as paper2d.toml).
  const int P = 8;
  const double L = 2 * M_PI;
  torch::manual_seed(5);
  const auto x = torch::arange(P, torch::kFloat64) * (L / P);
  auto V = 0.5 + torch::zeros({60, P, P}, torch::kFloat64);
  for (int kx = 0; kx <= 2; ++kx)
    for (int ky = -2; ky <= 2; ++ky) {
      if (kx == 0 && ky <= 0) continue;
      const auto a = 0.5 * (torch::rand({60, 1, 1}, torch::kFloat64) - 0.5),
                 ph = torch::rand({60, 1, 1}, torch::kFloat64) * 2 * M_PI;
      V = V + a * torch::cos(kx * x.view({1, 1, P}) + ky * x.view({1, P, 1}) + ph);
    }
  const auto U = V.reshape({60, P * P});
  const Truth truth = {{"U_xx", 1.1},    {"U^2*U_xx", 0.55}, {"U_xy", 0.5},    {"U^2*U_xy", 0.25},
                       {"U_yy", 0.7},    {"U^2*U_yy", 0.35}, {"U*U_x^2", 1.1}, {"U*U_x*U_y", 0.5},
                       {"U*U_y^2", 0.7}, {"U", 0.3},         {"U^2", -0.3}};
  std::vector<std::string> terms;
  std::vector<double> xi;
  for (const auto& [t, c] : truth) terms.push_back(t), xi.push_back(c);
  const auto R = learn::evaluate_terms(learn::spectral_derivatives_2d(U, P, L), terms, xi);
  const auto fit = learn::regress_2d(learn::to_vector(U), learn::to_vector(R), P, L, 1e-4);
  EXPECT_EQ(fit.terms.size(), 28u);
  const auto [present, absent] = check(fit, truth, 1e-4);
  std::printf("exact 2D data: largest relative coefficient error %.2e, largest absent term %.2e\n", present, absent);
  EXPECT_LT(present, 1e-10);
}

TEST(Regression, DiscoveredEquationEvaluatesEveryLibraryTerm) {
  // The fitted equation as an operator reproduces the rates it was fitted to: every library
  // term, U^3 and U^2*U_xx included, is evaluated by name like the regression's columns.
  const auto U = smooth_states(50, 6);
  const auto R = rates_1d(U);
  const auto fit = learn::regress(learn::to_vector(U), learn::to_vector(R), M, dX, 3, 1e-3);
  const auto d = learn::macro_derivatives_1d(U, dX, 3);
  const auto u = d.at("U"), ux = d.at("U_x"), uxx = d.at("U_xx");
  const torch::Tensor want[] = {
      torch::ones_like(u), u,       u * u,       u * u * u, ux, u * ux, u * u * ux, uxx, u * uxx,
      u * u * uxx,         ux * ux, u * ux * ux, uxx * uxx};
  ASSERT_EQ(fit.terms.size(), 13u);
  for (std::size_t j = 0; j < fit.terms.size(); ++j)
    EXPECT_TRUE(torch::allclose(learn::evaluate_terms(d, {fit.terms[j]}, {1.0}), want[j], 1e-15, 0)) << fit.terms[j];
  learn::DiscoveredOperator op(
      fit, [](const torch::Tensor& V) { return learn::macro_derivatives_1d(V, dX, 3); }, true);
  EXPECT_LT((op.rhs(U) - R).abs().max().item<double>(), 1e-12 * R.abs().max().item<double>());
}
