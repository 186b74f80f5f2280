// Nonlinear media (issue 15): the Chebyshev tables, the linearly implicit burst, patch-dynamics
// estimates against the effective rate of the lifted profile, and the effective-PDE truth.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <set>

#include "patchlearn/coeff/chebyshev.hpp"
#include "patchlearn/core/buffer.hpp"
#include "patchlearn/core/error.hpp"
#include "patchlearn/homog/effective.hpp"
#include "patchlearn/homog/homogenized1d.hpp"
#include "patchlearn/io/config.hpp"
#include "patchlearn/kernels/batched.hpp"
#include "patchlearn/kernels/nonlinear.hpp"
#include "patchlearn/micro/diffusion1d.hpp"
#include "patchlearn/schemes/full_resolution.hpp"
#include "patchlearn/schemes/patch_budget.hpp"
#include "patchlearn/schemes/patch_dynamics.hpp"
#include "lift_oracle.hpp"
#include "on_device.hpp"

using namespace patchlearn;
using namespace patchlearn::testing_support;

namespace {

const URange kRange{0.0, 2.0};

CoefficientField medium(const std::string& a, const std::string& drift = "", const std::string& reaction = "") {
  return CoefficientField::expression(a, kRange).with_terms(drift, reaction, kRange);
}

// quick1d's geometry: eps = 1e-3, dx = 1e-5, 11 macro nodes, teeth of 2 periods, buffers of 24
// periods, ends that keep the lift's averaged gradient; a burst of 4e-6 in 16 backward-Euler
// substeps healed over the first 8 (quick1d's 5e-6 lets the ends' disturbance reach the tooth
// when a grows to ~3.6 on these states: 1.2e-5 relative for the first medium below).
PatchDynamicsParams quick_params() {
  PatchDynamicsParams p;
  p.burst = 4e-6;
  p.substeps = 16;
  p.heal_substeps = 8;
  p.buffer_ends = kernels::EndRows::AveragedGradient;
  return p;
}

std::vector<double> smooth_states(int M) {
  const std::vector<std::function<double(double)>> f = {
      [](double x) { return 0.8 + 0.4 * std::sin(2 * M_PI * x) + 0.2 * std::cos(3 * M_PI * x); },
      [](double x) { return 0.5 + 0.6 * x * x; },
      [](double x) { return 1.2 - 0.5 * std::sin(M_PI * x) + 0.1 * std::sin(5 * M_PI * x); }};
  std::vector<double> U(f.size() * M);
  for (std::size_t b = 0; b < f.size(); ++b)
    for (int i = 0; i < M; ++i) U[b * M + i] = f[b](double(i) / (M - 1));
  return U;
}

// The effective PDE's rate a*(p) p'' + a*'(p) p'^2 + c*(p) p' + r*(p) of a periodic medium.
LiftRate effective_rate(const EffectiveMedium1D& m) {
  return [&m](double, double p, double p1, double p2) {
    const double da = 1e-6, slope = (m.at(p + da).a_star - m.at(p - da).a_star) / (2 * da);
    const auto e = m.at(p);
    return e.a_star * p2 + slope * p1 * p1 + e.drift * p1 + e.reaction;
  };
}

// quick1d's geometry at eps (100 lattice points per period).
PatchLayout1D quick_layout(double eps) { return PatchLayout1D(1.0, 11, eps / 100, 2e-3, 2.4e-2); }

// The error on quick1d's geometry against the effective rate of the periodic medium `field`, over
// smooth_states(11).
double estimate_error(const CoefficientField& field, double eps, const PatchDynamicsParams& p,
                      Device dev = Device::CPU) {
  const auto eff = effective_medium(field, 100);
  return testing_support::estimate_error(FineModel1D(field, eps, eps / 100), quick_layout(eps), p, smooth_states(11),
                                         effective_rate(eff), dev);
}

}  // namespace

TEST(Chebyshev, PolynomialsAreExactAndShort) {
  const auto t = tabulate_in_u(
      2, [](index_t k, double u) { return k == 0 ? 1 + 0.5 * u : 2 - u * u * u; }, kRange, "k");
  EXPECT_EQ(t.terms, 4);
  for (double u : {0.0, 0.3, 1.7, 2.0}) {
    // The transform's round-off: ~K eps relative to the series' size (K = 9 points).
    EXPECT_NEAR(t.value(0, u), 1 + 0.5 * u, 1e-14);
    EXPECT_NEAR(t.value(1, u), 2 - u * u * u, 1e-13);
  }
}

TEST(Chebyshev, SmoothFunctionsToRoundOffAndKinksRefused) {
  const auto t = tabulate_in_u(
      1, [](index_t, double u) { return std::exp(-u) / (1 + u * u); }, kRange, "k");
  double err = 0;
  for (int k = 0; k <= 200; ++k) {
    const double u = 2.0 * k / 200;
    err = std::max(err, std::abs(t.value(0, u) - std::exp(-u) / (1 + u * u)));
  }
  EXPECT_LT(err, 1e-14);
  try {
    tabulate_in_u(
        1, [](index_t, double u) { return std::abs(u - 0.7); }, kRange, "medium.expression");
    FAIL() << "a kink in u was tabulated";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key, "medium.expression");
  }
}

namespace {
/// fit_in_u of `expr` on r, checked against the expression at 1000 points off the fit's and the
/// check's: a ratio or powers of t within 1e-14 of the largest value (what fit_in_u verifies), a
/// Chebyshev series within 1e-14 of its coefficients' sum (tabulate_in_u's cut); the evaluation's
/// own round-off, a few ulps, is inside either.
SeriesRatio checked_fit(const std::string& expr, URange r) {
  const MediumExpression e("lattice.conductance_factor", expr, {"u"});
  const SeriesRatio s = fit_in_u(e, r);
  double err = 0, size = 0;
  for (int k = 0; k < 1000; ++k) {
    const double u = r.lo + (r.hi - r.lo) * (k + 0.3183) / 1000;
    err = std::max(err, std::abs(s.value(u) - e(0.0, u)));
    size = std::max(size, std::abs(e(0.0, u)));
  }
  if (!s.monomial && !s.q.terms) {
    size = 0;
    for (double c : s.p.coef) size += std::abs(c);
  }
  EXPECT_LE(err, 1e-14 * size) << expr;
  return s;
}
}  // namespace

TEST(Chebyshev, AnEffectiveDriftOrReactionOfMeanZeroIsTabulatedAsZero) {
  // c = cos(2 pi y) u / 2 on a = (1 + 0.9 sin 2 pi y) / (1 + u/2) and r = u sin 2 pi y: c* = a* <c/a> and
  // r* = <r> vanish by symmetry, and what the cell problem returns is the round-off of their terms
  // (~1e-16), which varies with u as no series resolves. Tabulated to 1e-12 of itself it was a
  // ConfigError ("medium.drift: is not smooth enough in u") at simulate, after validate had passed.
  const auto field =
      medium("(1 + 0.9*sin(2*pi*y)) / (1 + 0.5*u)", "0.5*cos(2*pi*y)*u", "u*sin(2*pi*y) + 0.01*u*(1 - u)");
  const auto eff = effective_medium(field, 100);
  for (double u : {0.0, 0.7, 2.0}) {
    EXPECT_EQ(eff.at(u).drift, 0.0);
    // The reaction's mean 0.01 u (1 - u) does not cancel: tabulated to 1e-12 of its terms' size ~0.64 u.
    EXPECT_NEAR(eff.at(u).reaction, 0.01 * u * (1 - u), 1e-12 * (1 + u));
  }
}

TEST(Chebyshev, AFunctionWithPolesNearTheRangeBecomesARatioOfShortSeries) {
  // 1 / (1 + 0.3 u^2) on [-3.2, 3.2] (poles at +-1.83i) needs ~60 Chebyshev terms; it is a ratio
  // of 1 and 3 terms: cost 6 Clenshaw steps, not 60.
  const MediumExpression e("lattice.conductance_factor", "1/(1 + 0.3*u^2)", {"u"});
  const int series = tabulate_in_u(e, {-3.2, 3.2}).terms;
  EXPECT_GT(series, 50);
  const SeriesRatio r = checked_fit("1/(1 + 0.3*u^2)", {-3.2, 3.2});
  EXPECT_EQ(r.p.terms, 1);
  EXPECT_EQ(r.q.terms, 3);
  // Michaelis-Menten kinetics u / (0.2 + u) on [0, 3] (pole at -0.2): 2 and 2 terms.
  const SeriesRatio mm = checked_fit("u/(0.2 + u)", {0.0, 3.0});
  EXPECT_EQ(mm.p.terms, 2);
  EXPECT_EQ(mm.q.terms, 2);
  // The slope, which bounds the reaction's stiffness, is the ratio's: -0.6 u / (1 + 0.3 u^2)^2.
  for (double u : {-2.0, 0.5, 3.0}) EXPECT_NEAR(r.slope(u), -0.6 * u / std::pow(1 + 0.3 * u * u, 2), 1e-13);
}

TEST(Chebyshev, ARatioIsTakenOnlyWhereItIsCheaperAndPowersOfTWhereTheyKeepTheAccuracy) {
  // A polynomial stays as short as its series, in powers of t (Horner); exp(0.3 u) (an entire
  // function: 14 terms) is a series or a cheaper ratio, either to the accuracy, and in powers of t
  // (all of them positive, so Horner does not cancel). cos(20 u) on [-1, 1] has power coefficients
  // up to ~1e7 of alternating sign: its values would lose ~1e-9, so it stays a Chebyshev series.
  for (const char* poly : {"1 + 0.5*u^2", "u - u^3", "2"}) {
    const SeriesRatio s = checked_fit(poly, {-3.2, 3.2});
    EXPECT_EQ(s.q.terms, 0) << poly;
    EXPECT_TRUE(s.monomial) << poly;
    EXPECT_EQ(s.p.terms, tabulate_in_u(MediumExpression("k", poly, {"u"}), {-3.2, 3.2}).terms) << poly;
  }
  const SeriesRatio s = checked_fit("exp(0.3*u)", {-3.2, 3.2});
  EXPECT_LE(s.cost(), tabulate_in_u(MediumExpression("k", "exp(0.3*u)", {"u"}), {-3.2, 3.2}).terms);
  EXPECT_TRUE(s.monomial);
  const SeriesRatio c = checked_fit("cos(20*u)", {-1.0, 1.0});
  EXPECT_FALSE(c.monomial);
  EXPECT_EQ(c.q.terms, 0);
}

TEST(Chebyshev, APoleOrKinkInsideTheRangeIsRefused) {
  // 1 / (u - 0.3) on [0, 1] is a ratio of 1 and 2 terms, but with its pole in the range; |u - 0.7|
  // is no ratio at all. Both: ConfigError naming the key.
  for (const char* bad : {"1/(u - 0.3)", "abs(u - 0.7)"}) {
    try {
      fit_in_u(MediumExpression("lattice.reaction", bad, {"u"}), {0.0, 1.0});
      ADD_FAILURE() << bad << " was fitted";
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.key, "lattice.reaction") << bad;
    }
  }
}

using NonlinearOnDevice = OnDevice;  // on_device.hpp

TEST_P(NonlinearOnDevice, AMediumThatIgnoresUStepsLikeTheLinearModel) {
  const Device dev = GetParam();
  // a(y, u) = 1.1 + sin(2 pi y) + 0 u takes the nonlinear path: its Jacobian is the linear
  // matrix, so the linearly implicit step is the linear increment form. The two differ by the
  // solver's arithmetic only (one factorization per step against one per run).
  const PatchLayout1D layout(1.0, 11, 1e-5, 2e-3, 2.4e-2);
  const FineModel1D linear(CoefficientField::sinusoid(1.1, 1.0), 1e-3, 1e-5);
  const FineModel1D ignoring(medium("1.1 + sin(2*pi*y) + 0*u"), 1e-3, 1e-5);
  ASSERT_TRUE(ignoring.nonlinear());
  const auto U = smooth_states(11);
  Buffer<double> Ud(dev, U), Rd(dev, U.size());
  PatchDynamics1D a(linear, layout, quick_params(), dev, 3), b(ignoring, layout, quick_params(), dev, 3);
  a.rhs(Ud.data(), Rd.data(), 3);
  b.rhs(Ud.data(), Rd.data(), 3);
  const auto R = Rd.to_host();
  for (int s = 0; s < 3; ++s) {
    const double diff = max_difference(a.patch_field(s), b.patch_field(s));  // NaN-aware (on_device.hpp)
    double change = 0;
    for (int i = 1; i < 10; ++i) change = std::max(change, std::abs(R[s * 11 + i]) * 4e-6);
    // The fields after the burst agree to the solves' round-off (~1e-16 of the fields' size ~1
    // per step, 16 steps), far below the burst's change of the tooth averages (~1e-5).
    EXPECT_LT(diff, 1e-13) << diff << " vs a change of " << change;
  }
}

TEST_P(NonlinearOnDevice, AFrozenJacobianIsExactOnAMediumThatIgnoresUAndFirstOrderOtherwise) {
  const Device dev = GetParam();
  // The W-method (kernels/nonlinear.hpp) keeps the first substep's factors. Where J does not
  // change (a ignores u) those are every substep's own, so the two bursts agree to round-off: a
  // few ulps of the field (~2e-16 x 1.2) per substep, 16 substeps, times the estimate's ~1 / burst
  // (the quadratic through three restrictions 2e-6 apart): ~1e-9 of rates of size ~1. Otherwise the frozen step's local
  // error differs from the exact one's by theta dt^2 (J_k - W) F = O(dt^3 k): over a fixed burst the two estimates
  // differ by O(dt), i.e. halve with the step.
  const PatchLayout1D layout(1.0, 11, 1e-5, 2e-3, 2.4e-2);
  const auto U = smooth_states(11);
  const auto estimates = [&](const CoefficientField& field, kernels::StepJacobian jac, int refine) {
    PatchDynamicsParams p = quick_params();
    p.jacobian = jac;
    p.substeps *= refine;
    p.heal_substeps *= refine;
    Buffer<double> Ud(dev, U), Rd(dev, U.size());
    PatchDynamics1D(FineModel1D(field, 1e-3, 1e-5), layout, p, dev, 3).rhs(Ud.data(), Rd.data(), 3);
    return Rd.to_host();
  };
  const auto ignoring = medium("1.1 + sin(2*pi*y) + 0*u");
  const double round_off = max_difference(estimates(ignoring, kernels::StepJacobian::Frozen, 1),
                                          estimates(ignoring, kernels::StepJacobian::Exact, 1));
  EXPECT_LT(round_off, 1e-8);
  const auto field = medium("(1.1 + sin(2*pi*y)) * (1 + 0.5*u)", "-u");
  double d[2];
  for (int k = 0; k < 2; ++k)
    d[k] = max_difference(estimates(field, kernels::StepJacobian::Frozen, 1 << k),
                          estimates(field, kernels::StepJacobian::Exact, 1 << k));
  std::printf("frozen - exact estimate: %.3e where a ignores u; %.3e (16 substeps), %.3e (32)\n", round_off, d[0],
              d[1]);
  EXPECT_GT(d[0], 100 * round_off);
  EXPECT_NEAR(d[0] / d[1], 2.0, 0.3);  // first order, with an O(dt) share of the next term
}

TEST_P(NonlinearOnDevice, TheBurstEstimateIsTheEffectiveRateOfTheLift) {
  // The data target of issue 15: patch-dynamics dU/dt within 1e-5 relative of the effective rate
  // of the lifted profile, for a concentration-dependent diffusivity, a Burgers-type drift, a
  // heterogeneous drift (weighted by the corrector; on the points instead of the bonds the
  // lattice's own c* would be 2.3e-4 off the cell problem's) and a heterogeneous Fisher-KPP
  // reaction, on quick1d's geometry.
  const std::vector<CoefficientField> media = {
      medium("(1.1 + sin(2*pi*y)) * (1 + 0.5*u)"), medium("(1.1 + sin(2*pi*y)) * exp(-0.3*u)", "-u"),
      medium("(1.1 + sin(2*pi*y)) * (1 + 0.5*u)", "u * (2 + sin(2*pi*y))"),
      medium("0.8 + 0.5*sin(2*pi*y)", "", "5 * (1 + 0.5*sin(2*pi*y)) * u * (1 - u)")};
  for (const auto& field : media)
    for (auto jac : {kernels::StepJacobian::Frozen, kernels::StepJacobian::Exact}) {
      PatchDynamicsParams p = quick_params();
      p.jacobian = jac;
      const double err = estimate_error(field, 1e-3, p, GetParam());
      std::printf("%s, %s Jacobian: max |estimate - effective rate| / max |rate| = %.3e\n", field.description().c_str(),
                  name_of(jac), err);
      EXPECT_LT(err, 1e-5) << field.description() << ", " << name_of(jac);
    }
}

TEST_P(NonlinearOnDevice, OnAGradedMediumTheEstimateIsTheLocalEffectiveRateOfTheLift) {
  // Each patch sees its own piece of a graded u-dependent medium with a drift and a reaction
  // (lift_oracle.hpp): the estimate must be the tooth average of the local effective rate along the
  // lift, a*(x, p) p'' + d_u a* p'^2 + d_x a* p' + c*(x, p) p' + r*(x, p), up to the rate's drift
  // within the burst (U_tt != 0 on a graded medium), the buffer ends and the frozen Jacobian's
  // O(dt), all of which this half-length burst (2.5e-6 in 10 substeps, healed over 5) shrinks.
  std::vector<double> U(2 * 11);
  for (int i = 0; i < 11; ++i) {
    const double x = i / 10.0;
    U[i] = 0.3 + 0.5 * std::sin(2 * M_PI * x);
    U[11 + i] = -0.4 + 0.9 * x * x;
  }
  PatchDynamicsParams p;
  p.burst = 2.5e-6;
  p.substeps = 10;
  p.heal_substeps = 5;
  p.buffer_ends = kernels::EndRows::AveragedGradient;
  const double err = estimate_error(FineModel1D(graded_u_medium(), 1e-3, 1e-5), quick_layout(1e-3), p, U,
                                    graded_u_effective_rate, GetParam());
  std::printf("graded u-dependent patch dynamics: max |estimate - effective rate| / max |rate| = %.3e\n", err);
  EXPECT_LT(err, 1e-5);  // issue 15's data target
}

TEST(NonlinearBurst, TheCpuLanesStepEverySystemAsItWouldBeSteppedAlone) {
  // The CPU steps several systems side by side, one per lane of a vector (8 with AVX-512, 4 with
  // AVX2, 2 with the baseline), on their media's series packed per group (kernels/patch1d.cpp). Each lane does its
  // system's operations in the scalar step's order, without multiply-adds on x86, so every system
  // must come out bit for bit as kernels::theta_step leaves it alone. Media of different series
  // lengths (a shared reaction series among them), 23 systems (a last group with spare lanes),
  // 3 media (lanes of one group on different media) or 2 (groups that reuse the packed series),
  // both end closures, and exact and frozen Jacobians, in every vector version this CPU runs.
  constexpr index_t n = 41, systems = 23;
  const double dx = 1.0 / (n - 1);
  for (const index_t mats : {index_t{3}, index_t{2}}) {
    std::vector<double> a(mats * (n - 1) * 3), c(mats * (n - 1) * 2), r(4);
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = i % 3 == 0 ? 1.2 + 0.5 * std::sin(0.7 * i) : 0.1 / (i % 3);
    for (std::size_t i = 0; i < c.size(); ++i) c[i] = std::cos(1.3 * i);
    r = {0.3, -0.2, 0.1, 0.05};
    kernels::MediumTables m;
    m.a = a.data();
    m.c = c.data();
    m.r = r.data();
    m.na = 3;
    m.nc = 2;
    m.nr = 4;
    m.a_stride = 3;
    m.c_stride = 2;
    m.r_stride = 0;
    m.mats = mats;
    m.u_mid = 1.0;
    m.u_scale = 1.0;
    std::vector<double> y0(systems * n), left(systems), right(systems);
    for (index_t s = 0; s < systems; ++s) {
      for (index_t j = 0; j < n; ++j) y0[s * n + j] = 1.0 + 0.4 * std::sin(0.3 * j + s) + 0.05 * s;
      left[s] = 0.01 * (s + 1);
      right[s] = -0.02 * s;
    }
    for (const auto ends : {kernels::EndRows::Dirichlet, kernels::EndRows::AveragedGradient})
      for (const auto jac : {kernels::StepJacobian::Exact, kernels::StepJacobian::Frozen})
        for (const std::string& isa : cpu_isas(Device::CPU)) {
          const int count = 3;
          const double dt = 2e-3, theta = jac == kernels::StepJacobian::Exact ? 0.5 : 1.0;
          const bool keep = jac == kernels::StepJacobian::Frozen;
          std::vector<double> alone = y0, work(kernels::StepScratch::kArrays * n);
          for (index_t s = 0; s < systems; ++s)
            for (int k = 0; k < count; ++k)
              kernels::theta_step(n, m.of_system(s, n), alone.data() + s * n, dt, theta, 1.0 / dx, ends, 2, left[s],
                                  right[s], kernels::StepScratch::at(work.data(), n),
                                  k == 0 ? kernels::StepJacobian::Exact : jac, keep);
          const CpuIsa version(isa);
          Buffer<double> y(Device::CPU, y0), L(Device::CPU, left), R(Device::CPU, right),
              scratch(Device::CPU, kernels::theta_steps_scratch(Device::CPU, systems, n, m));
          kernels::theta_steps(Device::CPU, systems, n, m, count, dt, theta, jac, 1.0 / dx, ends, 2, L.data(), R.data(),
                               y.data(), scratch.data());
          const auto lanes = y.to_host();
          const double change = max_difference(alone, y0);
          ASSERT_GT(change, 1e-3);  // the steps move the fields
#ifdef __x86_64__
          EXPECT_EQ(max_difference(lanes, alone), 0.0)
#else  // where multiply-adds may be contracted differently in the two loops: round-off of the steps
          EXPECT_LT(max_difference(lanes, alone), 1e-13)
#endif
              << "mats " << mats << ", ends " << static_cast<int>(ends) << ", frozen " << keep << isa_label(isa);
        }
  }
}

TEST(NonlinearBurst, AHeterogeneousDriftCarriesAnOrderEpsilonCorrectionThatTheEffectivePdeLacks) {
  // The effective PDE is the leading order of the two-scale expansion. A drift that varies within
  // the period adds an O(eps) term to the upscaled rate (the expansion's next order, where c meets
  // the corrector); for c = u (2 + cos 2 pi y) on a = (1.1 + sin 2 pi y)(1 + u/2) it is 1.3e-4 of
  // the rate at eps = 1e-3. The estimate is the fine model's own rate, so its distance to the
  // effective rate halves with eps (the same lattice points per period, tooth and patch).
  const auto field = medium("(1.1 + sin(2*pi*y)) * (1 + 0.5*u)", "u * (2 + cos(2*pi*y))");
  const double d0 = estimate_error(field, 1e-3, quick_params()), d1 = estimate_error(field, 5e-4, quick_params());
  std::printf("heterogeneous drift: estimate - effective rate %.3e at eps = 1e-3, %.3e at 5e-4\n", d0, d1);
  EXPECT_GT(d0, 5e-5);             // far above the other media's ~5e-6: the O(eps) term
  EXPECT_NEAR(d0 / d1, 2.0, 0.3);  // first order in eps
}

TEST(EffectiveTruth, ALinearMediumMatchesTheExactHomogenizedSolution) {
  // a* (U) constant: the effective-PDE integrator against the sine-series solution that is exact
  // in time on the same grid, so the difference is the integrator's alone. Its step keeps the local
  // error estimate within rtol max |U|, and this dissipative problem does not accumulate the local
  // errors: the global error stays below rtol max |U| at every tolerance (measured 0.18 to 0.37 of
  // it at rtol 1e-5 ... 1e-11; the Aitken-Neville corrections at half their weight leave the value
  // first order: 80 times the bound at rtol 1e-6, 2,300 times at 1e-9). The rate is the lattice operator of U, so its
  // error is |U|'s amplified by up to 4 a* / dx^2 (7e4 here): checked at the tight tolerance.
  const auto field = medium("1.1 + sin(2*pi*y) + 0*u");
  const auto eff = effective_medium(field, 100);
  const std::vector<std::function<double(double)>> ics = {
      [](double x) { return 1 + 0.5 * std::sin(2 * M_PI * x) + 0.3 * std::cos(3 * M_PI * x); }};
  const std::vector<double> times = {0.0, 0.01, 0.1, 0.5};
  const auto b = homogenized_truth(std::sqrt(0.21), 1.0, 11, 20, ics, times);
  const double scale = *std::max_element(b.U.begin(), b.U.end());
  for (const double rtol : {1e-6, 1e-9}) {
    const auto a = effective_truth(eff, 1.0, 11, 20, ics, times, rtol);
    for (std::size_t k = 0; k < a.U.size(); ++k) EXPECT_NEAR(a.U[k], b.U[k], rtol * scale) << rtol << " " << k;
    if (rtol == 1e-9) {
      for (std::size_t k = 0; k < a.U.size(); ++k)
        EXPECT_NEAR(a.dUdt[k], b.dUdt[k], 1e-6 * std::max(1.0, std::abs(b.dUdt[k]))) << k;
    }
  }
}

TEST(EffectiveTruth, LeavingTheURangeIsARunError) {
  const auto field = medium("1 + 0*u", "", "20 * u");  // grows like exp(20 t) out of [0, 2]
  const auto eff = effective_medium(field, 10);
  const std::vector<std::function<double(double)>> ics = {[](double) { return 1.0; }};
  EXPECT_THROW(effective_truth(eff, 1.0, 11, 10, ics, {0.0, 0.5}, 1e-8), RunError);
}

namespace {

// The error against the effective rate of the lift over the states U[b][M] of a grid of spacing
// dX, for patch parameters `s` on the lattice of `model`.
double error_against_lift(const FineModel1D& model, const std::vector<double>& U, int M, double dX, double tooth,
                          const PatchSetting& s) {
  const auto eff = effective_medium(model.field(), 100);
  return testing_support::estimate_error(model, PatchLayout1D(dX * (M - 1), M, model.dx(), tooth, s.buffer_width),
                                         s.params, U, effective_rate(eff));
}

// quick1d's patch parameters (burst 5e-6 in 10 substeps healed over 5, buffer 2.4e-2).
PatchSetting quick_setting() {
  PatchSetting q;
  q.buffer_width = 2.4e-2;
  q.params.burst = 5e-6;
  q.params.substeps = 10;
  q.params.heal_substeps = 5;
  q.params.buffer_ends = kernels::EndRows::AveragedGradient;
  return q;
}

// Media beyond quick1d's: a nearly vanishing minimum (slow corrector), a small a (slow corrector),
// a large a (the ends' disturbance reaches the tooth), and the three nonlinear kinds. Each with
// the leading-order effective rate's own error at eps = 1e-3, which no patch parameter removes:
// zero for a linear medium and a quadratic lift; for the nonlinear media 1.5e-6 to 1.8e-6 measured
// with parameters converged to a budget of 1e-9, so 2e-6.
struct BudgetMedium {
  CoefficientField field;
  double floor;
};
std::vector<BudgetMedium> budget_media() {
  return {{medium("1.1 + sin(2*pi*y) + 0*u"), 0.0},
          {medium("1.02 + sin(2*pi*y) + 0*u"), 0.0},
          {medium("0.3 + 0.25*sin(2*pi*y) + 0*u"), 0.0},
          {medium("3 + 2.5*sin(2*pi*y) + 0*u"), 0.0},
          {medium("(1.1 + sin(2*pi*y)) * (1 + 0.5*u)"), 2e-6},
          {medium("(1.1 + sin(2*pi*y)) * exp(-0.3*u)", "-u"), 2e-6},
          {medium("0.8 + 0.5*sin(2*pi*y)", "", "5 * (1 + 0.5*sin(2*pi*y)) * u * (1 - u)"), 2e-6}};
}

}  // namespace

TEST(PatchBudget, TheMeasuredBudgetAccountsForTheError) {
  // On quick1d's geometry and patch parameters, the error of the estimate against the effective
  // rate of the lift is within the measured budget (up to a factor 1.5: each probe measures its
  // error against a refinement that removes most but not all of it) plus the modelling floor, and
  // the budget does not cry wolf (at most 3x the error: the corrector and time probes overlap where
  // backward Euler damps the corrector).
  const PatchGeometry g{1.0, 11, 2e-3};
  const auto U = smooth_states(11);
  const PatchProbe probe{g, U, 3, {}};
  for (const auto& [f, floor] : budget_media()) {
    const FineModel1D model(f, 1e-3, 1e-5);
    const auto b = measure_patch_errors(model, probe, quick_setting());
    const double err = error_against_lift(model, U, 11, 0.1, 2e-3, quick_setting());
    std::printf("%-60s budget %.2e (buffer %.2e, corrector %.2e, time %.2e), error %.2e\n", f.description().c_str(),
                b.total(), b.buffer, b.corrector, b.time, err);
    EXPECT_LE(err, 1.5 * b.total() + floor) << f.description();
    EXPECT_LE(b.total(), 3.0 * err + 1e-9) << f.description();
  }
}

TEST(PatchBudget, AutoParametersMeetTheTolerance) {
  const PatchGeometry g{1.0, 11, 2e-3};
  const auto U = smooth_states(11);
  const PatchProbe probe = probe_windows(g, 2, U, 3);
  ASSERT_EQ(probe.batch, 4);
  ASSERT_EQ(probe.geometry.macro_nodes, 3);
  for (const auto& [f, floor] : budget_media()) {
    const FineModel1D model(f, 1e-3, 1e-5);
    const auto t =
        tune_patch_parameters(model, probe, quick_setting(), PatchFreedom{true, true, true, true}, 1e-6, 1e-3);
    const double err = error_against_lift(model, U, 11, 0.1, 2e-3, t.setting);
    std::printf("%-60s burst %.3e, %d substeps healed over %d, buffer %.4g: budget %.2e, error %.2e\n",
                f.description().c_str(), t.setting.params.burst, t.setting.params.substeps,
                t.setting.params.heal_substeps, t.setting.buffer_width, t.budget.total(), err);
    EXPECT_TRUE(t.met) << f.description();
    // The probe saw 4 windows of the 27 estimates compared here.
    EXPECT_LE(err, 1.5e-6 + floor) << f.description();
  }
}

TEST(PatchBudget, FixedKeysStayAndBoundTheTuning) {
  // With the buffer fixed too thin for any corrector-healing burst of a = 3 + 2.5 sin, auto keeps
  // it, stops short and says so (met = false); the budget names the buffer.
  const PatchGeometry g{1.0, 11, 2e-3};
  const PatchProbe probe{g, smooth_states(11), 3, {}};
  PatchSetting s = quick_setting();
  s.buffer_width = 4e-3;
  const FineModel1D model(medium("3 + 2.5*sin(2*pi*y) + 0*u"), 1e-3, 1e-5);
  const auto t = tune_patch_parameters(model, probe, s, PatchFreedom{true, false, true, true}, 1e-6, 1e-3);
  EXPECT_DOUBLE_EQ(t.setting.buffer_width, 4e-3);
  EXPECT_FALSE(t.met);
  EXPECT_GT(t.budget.buffer, 1e-6 / 3);
}

namespace {

// A shipped config's text with its patch keys "auto", heal_substeps included where the config
// leaves it out (and patch.method, where the config gives it as "backward_euler", when `method`;
// rollout.method is another key).
std::string with_auto_patch_keys(const char* config, bool method) {
  const std::string text = read_config_text(std::string(PATCHLEARN_SOURCE_DIR) + "/configs/" + config);
  std::string keys = "^(burst|buffer_width|substeps|heal_substeps) *=.*$";
  if (method) keys += "|^(method) *= *\"backward_euler\".*$";
  std::string out = std::regex_replace(text, std::regex(keys, std::regex::multiline), "$1$2 = \"auto\"");
  if (out.find("heal_substeps") == std::string::npos)
    out = std::regex_replace(out, std::regex("\\[patch\\]"), "[patch]\nheal_substeps = \"auto\"");
  return out;
}

// nonlinear1d with a heterogeneous drift and reaction, for the default patch.rate_tolerance: the
// unseen medium on which the tuner once ran away (bench/RESULTS.md).
std::string drifting_and_reacting(std::string nonlinear1d) {
  nonlinear1d = std::regex_replace(nonlinear1d, std::regex("^expression *=.*$", std::regex::multiline),
                                   "expression = \"(1.2 + 0.8*cos(2*pi*y)) * (1 + 0.3*u + 0.2*u^2)\"\n"
                                   "drift = \"(0.5 + 0.3*sin(2*pi*y)) * u\"\n"
                                   "reaction = \"(1 + 0.5*sin(2*pi*y)) * u * (1 - u)\"");
  return std::regex_replace(nonlinear1d, std::regex("^rate_tolerance *=.*$", std::regex::multiline),
                            "rate_tolerance = 1e-6");
}

}  // namespace

TEST(PatchBudget, ShippedConfigsWithAutoParametersEstimateTheEffectiveRate) {
  // Issue 15's data target: with burst, buffer, substeps and healing "auto" (for the default
  // patch.rate_tolerance = 1e-6), every shipped 1D patch-dynamics config's dU/dt estimate is
  // within 1e-5 of the effective rate of the lifted profile, on its first two initial conditions.
  for (const char* name :
       {"quick1d.toml", "paper1d.toml", "dense1d.toml", "nonlinear1d.toml", "burgers1d.toml", "fisher1d.toml"}) {
    auto cfg = parse_config_1d(with_auto_patch_keys(name, false), name);
    ASSERT_TRUE(cfg.patch_budget) << name;
    cfg.initial.trajectories = 2;
    const auto ics = draw_initial_conditions(cfg.initial);
    const int M = cfg.macro_nodes;
    const double dX = cfg.length / (M - 1);
    std::vector<double> U(2 * M);
    for (int b = 0; b < 2; ++b)
      for (int i = 0; i < M; ++i) U[b * M + i] = ics[b](i * dX);
    const FineModel1D model(*cfg.field, cfg.epsilon, cfg.micro_dx);
    const double err = error_against_lift(model, U, M, dX, cfg.tooth_width, cfg.patch_setting());
    std::printf("%-16s %s: error %.2e\n", name, cfg.notes.front().c_str(), err);
    EXPECT_LT(err, 1e-5) << name;
  }
}

TEST(PatchBudget, AnAutoMethodIsTheCheaperOfTheTwoThatMeetsTheTolerance) {
  // patch.method = "auto" tunes backward Euler and Crank-Nicolson and keeps the cheaper (substeps x
  // patch width) that meets the tolerance: on quick1d's medium backward Euler's damping of the
  // corrector wins, on a drifting, reacting medium Crank-Nicolson's second order.
  const std::string quick = with_auto_patch_keys("quick1d.toml", true);
  const std::string drifting = drifting_and_reacting(with_auto_patch_keys("nonlinear1d.toml", true));
  std::set<std::string> chosen;
  for (const auto& [name, text] : {std::pair{"quick1d", quick}, std::pair{"drifting", drifting}}) {
    const auto cfg = parse_config_1d(text, name);
    ASSERT_TRUE(cfg.patch_budget);
    EXPECT_LE(cfg.patch_budget->total(), cfg.rate_tolerance) << name;
    const double cost = cfg.substeps * cfg.buffer_width;
    for (const char* m : {"backward_euler", "crank_nicolson"}) {
      const auto one = parse_config_1d(
          std::regex_replace(text, std::regex("method = \"auto\""), std::string("method = \"") + m + "\""), name);
      std::printf("%-9s %-15s %4d substeps, H %.4g, budget %.2e\n", name, m, one.substeps, one.buffer_width,
                  one.patch_budget->total());
      if (one.patch_budget->total() <= one.rate_tolerance) {
        EXPECT_LE(cost, one.substeps * one.buffer_width) << name << " " << m;
      }
      if (m == cfg.burst_method) {
        EXPECT_EQ(cost, one.substeps * one.buffer_width) << name;
      }
    }
    chosen.insert(cfg.burst_method);
  }
  EXPECT_EQ(chosen.size(), 2u);  // each method wins somewhere
}

TEST(PatchBudget, ATolerancePastTheRoundOffStopsWhereNoChangeHelps) {
  // For 1e-13 no parameters exist (the estimates' round-off is ~1e-12 of the rate): the tuner must
  // stop with the best budget it found, within kMaxSubsteps, not keep doubling the substeps or
  // widening the room until its 40 rounds cost hours (> 5 min before the changes had to help).
  const PatchGeometry g{1.0, 11, 2e-3};
  const auto U = smooth_states(11);
  const PatchProbe probe = probe_windows(g, 2, U, 3);
  const FineModel1D model(medium("1.1 + sin(2*pi*y) + 0*u"), 1e-3, 1e-5);
  const PatchFreedom all{true, true, true, true};
  const auto loose = tune_patch_parameters(model, probe, quick_setting(), all, 1e-6, 1e-3);
  const auto tight = tune_patch_parameters(model, probe, quick_setting(), all, 1e-13, 1e-3);
  std::printf(
      "burst %.3e, %d substeps healed over %d, buffer %.4g: budget %.2e (buffer %.2e, corrector %.2e, "
      "time %.2e)\n",
      tight.setting.params.burst, tight.setting.params.substeps, tight.setting.params.heal_substeps,
      tight.setting.buffer_width, tight.budget.total(), tight.budget.buffer, tight.budget.corrector, tight.budget.time);
  EXPECT_FALSE(tight.met);
  EXPECT_LE(tight.setting.params.substeps, kMaxSubsteps);
  EXPECT_LT(tight.budget.total(), 1e-2 * loose.budget.total());  // it still went as far as it could
}

TEST(PatchBudget, AHealingThatDoesNotHelpIsNotExtended) {
  // nonlinear1d with a heterogeneous drift and reaction and every patch key "auto": the corrector
  // error here is the drift of the rate within the burst, which a longer healing does not shrink.
  // Extending the healing regardless once left 4 of 32768 substeps for the estimate, whose error
  // had grown to 3e-3; the tuner must keep the healing that helped and meet the tolerance.
  const std::string text = drifting_and_reacting(with_auto_patch_keys("nonlinear1d.toml", false));
  const auto cfg = parse_config_1d(text, "nonlinear1d.toml with a drift and a reaction");
  ASSERT_TRUE(cfg.patch_budget);
  std::printf("%s\n", cfg.notes.back().c_str());
  EXPECT_LE(cfg.patch_budget->total(), cfg.rate_tolerance);
  EXPECT_GE(cfg.substeps - cfg.heal_substeps, cfg.substeps / 4);
}

namespace {

// Each key's first line of a config's text replaced by `line`.
std::string set_key(std::string text, const std::string& key, const std::string& line) {
  return std::regex_replace(text, std::regex("^" + key + " *=.*$", std::regex::multiline), line,
                            std::regex_constants::format_first_only);
}

// burgers1d at eps = 5e-3 with the diffusivity `a` and a drift -u^2, 21 nodes, every patch key
// "auto" (the seventh sweep's unseen medium D, bench/RESULTS.md), and the patch line `extra`.
std::string burgers_at_5e3(const std::string& a, const std::string& extra) {
  std::string text = with_auto_patch_keys("burgers1d.toml", true);
  text = set_key(text, "coefficient", "coefficient = \"expression\"\nexpression = \"" + a + "\"");
  text = set_key(set_key(text, "mean", ""), "amplitude", "");  // the sinusoid's keys, in [medium] before [initial]'s
  for (const auto& [key, value] :
       {std::pair{"drift", "\"-u^2\""}, std::pair{"epsilon", "5e-3"}, std::pair{"macro_nodes", "21"},
        std::pair{"dx", "5e-5"}, std::pair{"tooth_width", "1e-2"}, std::pair{"integrator", "\"rk4\""}})
    text = set_key(text, key, std::string(key) + " = " + value);
  return set_key(text, "buffer_ends", "buffer_ends = \"averaged_gradient\"\n" + extra);
}

}  // namespace

TEST(PatchBudget, ALongerBurstThatDoesNotHelpIsShortened) {
  // burgers1d at eps = 5e-3 with a = (1 + sin(2 pi y) / 2)(1 + u) / 2 and a drift -u^2, 21 nodes,
  // every patch key "auto" and the estimate's degree 2: the corrector forms within a few
  // eps^2 / a, but the lift's rate drifts within the burst and the quadratic through the three
  // restrictions errs like the burst squared, so a longer burst does not help. Before, the tuner
  // then doubled backward Euler's substeps to 4096 for a budget of 5.5e-5 at the tolerance 1e-6
  // (bench/RESULTS.md). Now a tuning that shortens the burst is tried too, and with the corrector
  // error stuck the substeps double only while the whole budget shrinks: a budget under half the
  // old one at under a sixteenth of its cost (measured: 3.0x and 128x), and an estimate nearer the
  // effective rate of the lift. (With the degree free the tuner takes a cubic in time instead,
  // ADriftTheQuadraticCannotMeetTakesACubicInTime.)
  const auto set = set_key;
  std::string text = burgers_at_5e3("(1 + 0.5*sin(2*pi*y)) * (0.5 + 0.5*u)", "estimate_degree = 2");
  const auto cfg = parse_config_1d(text, "burgers1d at eps = 5e-3");
  ASSERT_TRUE(cfg.patch_budget);
  std::printf("%s\n", cfg.notes.back().c_str());
  std::string old = text;  // the old tuning's choice
  for (const auto& [key, value] :
       {std::pair{"burst", "4.444444444e-05"}, std::pair{"substeps", "4096"}, std::pair{"heal_substeps", "2048"},
        std::pair{"buffer_width", "0.0949"}, std::pair{"method", "\"backward_euler\""}})
    old = set(old, key, std::string(key) + " = " + value);
  const auto old_cfg = parse_config_1d(old, "the old tuning's choice");
  const auto before = patch_error_budget(old_cfg);
  // Against the effective rate of the lift on the first two initial conditions (which holds the
  // leading order's own O(eps) error too).
  auto ic = cfg.initial;
  ic.trajectories = 2;
  const auto ics = draw_initial_conditions(ic);
  std::vector<double> U;
  for (const auto& f : ics)
    for (int i = 0; i < 21; ++i) U.push_back(f(i * 0.05));
  const FineModel1D model(*cfg.field, cfg.epsilon, cfg.micro_dx);
  const double error_before = error_against_lift(model, U, 21, 0.05, 1e-2, old_cfg.patch_setting());
  const double error_now = error_against_lift(model, U, 21, 0.05, 1e-2, cfg.patch_setting());
  std::printf("before: 4096 substeps, budget %.2e, error %.2e; now error %.2e\n", before.total(), error_before,
              error_now);
  EXPECT_LT(error_now, 0.8 * error_before);  // measured 0.55x
  EXPECT_LT(cfg.burst, 4.444444444e-05);
  EXPECT_LT(cfg.patch_budget->total(), 0.5 * before.total());
  EXPECT_LT(16.0 * cfg.substeps * cfg.buffer_width, 4096 * 0.0949);
}

TEST(PatchDynamics, ACubicInTimeFollowsTheLiftsDriftingRate) {
  // A homogeneous a(u) = (1 + u) / 2 with the drift -u^2 on the geometry of burgers_at_5e3, at the
  // burst a heterogeneous medium there needs for its corrector (4.8e-5 in 64 Crank-Nicolson
  // substeps healed over 32): no corrector and no O(eps) error, so the effective rate of the lift
  // is the fine model's own up to the lattice's O(dx^2), and the estimate's error is the drift of
  // the lift's rate within the burst. The polynomial through d + 1 restrictions errs like burst^d:
  // measured 2.2e-3 (d = 1), 4.8e-6 (d = 2), 2.1e-7 (d = 3).
  const auto field = medium("0.5 + 0.5*u + 0*y", "-u^2");
  const auto eff = effective_medium(field, 100);
  const PatchLayout1D layout(1.0, 21, 5e-5, 1e-2, 0.0949);
  double err[4];
  for (int d = 1; d <= 3; ++d) {
    PatchDynamicsParams p;
    p.burst = 4.761904762e-05;
    p.substeps = 64;
    p.heal_substeps = 32;
    p.method = BurstMethod::CrankNicolson;
    p.buffer_ends = kernels::EndRows::AveragedGradient;
    p.estimate_degree = d;
    err[d] = testing_support::estimate_error(FineModel1D(field, 5e-3, 5e-5), layout, p, smooth_states(21),
                                             effective_rate(eff));
  }
  std::printf("against the exact rate of the lift: degree 1 %.2e, 2 %.2e, 3 %.2e\n", err[1], err[2], err[3]);
  EXPECT_LT(err[2], 0.01 * err[1]);
  EXPECT_LT(err[3], 0.1 * err[2]);
  EXPECT_LT(err[3], 1e-6);
}

TEST(PatchBudget, ADriftTheQuadraticCannotMeetTakesACubicInTime) {
  // A Fisher-type reaction 10 u (1 - u) on a = 1 + sin(2 pi y) / 2 at eps = 5e-3 (burgers_at_5e3's
  // geometry), every patch key "auto" and the degree unset: the corrector needs a burst of a few
  // eps^2 / a, over which the reaction moves the lift's rate; the quadratic through three
  // restrictions cannot meet the default tolerance, so the tuner must take the cubic and meet it.
  // Against the effective rate of the lift (its own error here is O(eps^2): the reaction sees the
  // corrector's square), the cubic must beat the quadratic with the same parameters.
  std::string text = burgers_at_5e3("1 + 0.5*sin(2*pi*y) + 0*u", "");
  text = set_key(text, "drift", "reaction = \"10*u*(1 - u)\"");
  const auto cfg = parse_config_1d(text, "a reacting medium at eps = 5e-3");
  ASSERT_TRUE(cfg.patch_budget);
  std::printf("%s\n", cfg.notes.back().c_str());
  EXPECT_EQ(cfg.estimate_degree, 3);
  EXPECT_LE(cfg.patch_budget->total(), cfg.rate_tolerance);
  const FineModel1D model(*cfg.field, cfg.epsilon, cfg.micro_dx);
  const auto U = initial_node_values(cfg, 2);
  PatchSetting quadratic = cfg.patch_setting();
  quadratic.params.estimate_degree = 2;
  const double cubic_error = error_against_lift(model, U, 21, 0.05, 1e-2, cfg.patch_setting());
  const double quadratic_error = error_against_lift(model, U, 21, 0.05, 1e-2, quadratic);
  std::printf("against the effective rate of the lift: cubic %.2e, quadratic %.2e with the same parameters\n",
              cubic_error, quadratic_error);
  EXPECT_LT(cubic_error, 0.5 * quadratic_error);
}

namespace {

// Full resolution of a medium on quick1d's geometry against its effective PDE (on a grid of 1e-3,
// whose 3-point error is ~4e-6 here): the largest |U| difference and the largest dU/dt difference
// relative to the largest rate, at t = 0.01 and 0.03 (dU/dt only after t = 0: the initial profile
// has no corrector yet).
std::pair<double, double> full_resolution_vs_effective(const CoefficientField& field) {
  const FineModel1D model(field, 1e-3, 1e-5);
  const PatchLayout1D teeth(1.0, 11, 1e-5, 2e-3, 2e-3);
  FullResolutionParams p;
  p.rtol = 1e-6;
  FullResolution1D fr(model, teeth, p, Device::CPU);
  const std::vector<std::function<double(double)>> ics = {
      [](double x) { return 0.8 + 0.4 * std::sin(2 * M_PI * x) + 0.2 * std::cos(3 * M_PI * x); }};
  const std::vector<double> times = {0.0, 0.01, 0.03};
  std::vector<double> U(times.size() * 11), R(U.size());
  fr.run(ics[0], times, U.data(), R.data());
  const auto truth = effective_truth(effective_medium(field, 100), 1.0, 11, 100, ics, times, 1e-9);
  double du = 0, dr = 0, rscale = 0;
  for (std::size_t k = 11; k < U.size(); ++k) {
    du = std::max(du, std::abs(U[k] - truth.U[k]));
    dr = std::max(dr, std::abs(R[k] - truth.dUdt[k]));
    rscale = std::max(rscale, std::abs(truth.dUdt[k]));
  }
  std::printf("%-70s full resolution vs effective PDE: |dU| %.2e, |d dU/dt| %.2e relative (%lld steps)\n",
              field.description().c_str(), du, dr / rscale, static_cast<long long>(fr.accepted_steps()));
  return {du, dr / rscale};
}

}  // namespace

TEST(FullResolution, ANonlinearMediumFollowsItsEffectivePde) {
  // The theory-free truth of a nonlinear medium (the whole fine lattice, restricted like the
  // patches). Without micro-structure the fine and effective PDEs are one PDE on two grids: they
  // agree to the discretizations' ~1e-6 (the tooth average against the point value, h^2/24 U_xx
  // ~ 3e-6; the effective grid's 3-point error). With micro-structure, the difference is the
  // homogenization's own O(eps) error (the Dirichlet ends' boundary layers), which the linear
  // medium a(y) shows the same way on this geometry: the nonlinear medium's is of its size.
  const auto [du0, dr0] =
      full_resolution_vs_effective(medium("1.1 * (1 + 0.5*u) + 0*y", "-0.5*u", "2 * u * (1 - u/2)"));
  EXPECT_LT(du0, 5e-6);
  EXPECT_LT(dr0, 5e-5);
  const auto [du1, dr1] = full_resolution_vs_effective(medium("1.1 + sin(2*pi*y) + 0*u"));
  const auto [du2, dr2] = full_resolution_vs_effective(
      medium("(1.1 + sin(2*pi*y)) * (1 + 0.5*u)", "-0.5*u", "2 * (1 + 0.5*sin(2*pi*y)) * u * (1 - u/2)"));
  EXPECT_LT(du1, 2e-4);  // O(eps) with eps = 1e-3
  EXPECT_LT(du2, 1.5 * du1);
  EXPECT_LT(dr2, 1.5 * dr1);
}

INSTANTIATE_ON_EVERY_DEVICE(NonlinearOnDevice);
