// Patch dynamics, gap-tooth, full resolution and the homogenized solver, against each other.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "patchlearn/coeff/random_medium.hpp"
#include "patchlearn/core/error.hpp"
#include "patchlearn/homog/homogenized1d.hpp"
#include "patchlearn/io/config.hpp"
#include "patchlearn/kernels/batched.hpp"
#include "patchlearn/kernels/diffusion.hpp"
#include "patchlearn/micro/diffusion1d.hpp"
#include "patchlearn/micro/initial_conditions.hpp"
#include "patchlearn/schemes/full_resolution.hpp"
#include "patchlearn/schemes/gap_tooth.hpp"
#include "patchlearn/schemes/integrators.hpp"
#include "patchlearn/schemes/patch_dynamics.hpp"
#include "on_device.hpp"
#include "three_point.hpp"

using namespace patchlearn;

namespace {
const double kAstar = std::sqrt(0.21);
double smooth(double x) { return 1.0 + 0.5 * std::sin(2 * M_PI * x) + 0.3 * std::cos(3 * M_PI * x); }

std::vector<double> nodes_of(const std::function<double(double)>& f, int M, int batch = 1) {
  std::vector<double> U(batch * M);
  for (int b = 0; b < batch; ++b)
    for (int i = 0; i < M; ++i) U[b * M + i] = f(double(i) / (M - 1));
  return U;
}

// Max over interior nodes and macro states of |estimate / (a* D2) - 1| for the paper's medium and
// patch geometry (eps = 1e-5, dx = 1e-7, h = 1e-4), on the seed-42 ICs and two smooth profiles.
double paper_estimate_error(Device dev, double H, const PatchDynamicsParams& p, double* at04 = nullptr) {
  const FineModel1D model(CoefficientField::sinusoid(1.1, 1.0), 1e-5, 1e-7);
  const PatchLayout1D layout(1.0, 11, 1e-7, 1e-4, H);
  InitialConditionParams icp;
  icp.trajectories = 4;
  const auto ics = draw_initial_conditions(icp);
  std::vector<std::function<double(double)>> f(ics.begin(), ics.end());
  f.push_back(smooth);
  f.push_back([](double x) { return 1 + std::sin(M_PI * x); });
  const int B = static_cast<int>(f.size());
  std::vector<double> U(11 * B), R(U.size()), ref(U.size());
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < 11; ++i) U[b * 11 + i] = f[b](0.1 * i);
  PatchDynamics1D op(model, layout, p, dev, B);
  Buffer<double> Ud(dev, U), Rd(dev, U.size());
  op.rhs(Ud.data(), Rd.data(), B);
  R = Rd.to_host();
  ThreePoint(Device::CPU, kAstar, 11).rhs(U.data(), ref.data(), B);
  double worst = 0;
  for (int b = 0; b < B; ++b) {
    EXPECT_EQ(R[b * 11], 0.0);
    EXPECT_EQ(R[b * 11 + 10], 0.0);
    for (int i = 1; i < 10; ++i)
      if (std::abs(ref[b * 11 + i]) > 1e-3) worst = std::max(worst, std::abs(R[b * 11 + i] / ref[b * 11 + i] - 1));
  }
  if (at04) *at04 = R[4 * 11 + 4] / ref[4 * 11 + 4] - 1;  // the smooth profile at x = 0.4
  EXPECT_DOUBLE_EQ(op.point_steps(), double(B) * 9 * (std::llround(H / 1e-7) + 1) * p.substeps);
  return worst;
}
}  // namespace

using SchemesOnDevice = OnDevice;

TEST_P(SchemesOnDevice, PatchDynamicsPaperEstimateMatchesCoarseScheme) {
  const Device dev = GetParam();
  // REFERENCE sec. 2.3: at x_i = 0.4 the burst estimate reproduces the 3-point scheme a* D2 to
  // ~1e-5 (LSODA 1.1e-5). What remains is (i) the O(eps^2/delta_t) jump of the tooth average while
  // the micro corrector forms, +6e-6 here, and (ii) with Dirichlet buffer ends, the deficit that
  // diffuses in from the pinned ends, which depends on the buffer: erfc((H-h)/2 / sqrt(4 a* dt)).
  PatchDynamicsParams p;  // backward Euler x 10, Dirichlet ends, reference estimator
  double at04 = 0;
  const double wide = paper_estimate_error(dev, 1.2e-2, p, &at04);
  std::printf("Dirichlet ends, H = 1.2e-2: worst relative error %.3e (x=0.4: %.3e)\n", wide, at04);
  EXPECT_LT(std::abs(at04), 2e-5);
  EXPECT_LT(wide, 2e-5);
  // The paper's H = 8e-3 with Dirichlet ends is marginal: up to ~1e-3 on these profiles.
  const double narrow = paper_estimate_error(dev, 8e-3, p);
  std::printf("Dirichlet ends, H = 8e-3: worst relative error %.3e\n", narrow);
  EXPECT_LT(narrow, 3e-3);
  // Averaged-gradient ends remove (ii) at the paper's H.
  p.buffer_ends = kernels::EndRows::AveragedGradient;
  const double ag = paper_estimate_error(dev, 8e-3, p, &at04);
  std::printf("averaged-gradient ends, H = 8e-3: worst relative error %.3e (x=0.4: %.3e)\n", ag, at04);
  EXPECT_LT(ag, 2e-5);
  // ... and healing over the first substep removes (i): what is left is backward Euler's error on
  // a rate that is constant once the corrector has formed, i.e. roundoff-level.
  p.heal_substeps = 1;
  const double healed = paper_estimate_error(dev, 8e-3, p, &at04);
  std::printf("averaged-gradient ends + healed estimate: worst relative error %.3e\n", healed);
  EXPECT_LT(healed, 1e-7);
}

TEST(PatchDynamics, CrankNicolsonAgrees) {
  PatchDynamicsParams p;
  p.method = BurstMethod::CrankNicolson;
  p.buffer_ends = kernels::EndRows::AveragedGradient;
  const double err = paper_estimate_error(Device::CPU, 8e-3, p);
  std::printf("Crank-Nicolson x 10: worst relative error %.3e\n", err);
  EXPECT_LT(err, 2e-5);
}

TEST_P(SchemesOnDevice, PatchDynamicsQuick1dTrajectoryMatchesCoarseScheme) {
  const Device dev = GetParam();
  // Patch dynamics represents the 3-point homogenized scheme; driven by the same forward-Euler
  // macro step, the trajectories differ by the estimate's ~4e-4 relative rate error (quick1d's
  // measured bias at eps = 1e-3), so the eq.-(24) rMSE is ~(4e-4)^2 * O(1) << 1e-6.
  auto cfg = load_config_1d(std::string(PATCHLEARN_SOURCE_DIR) + "/configs/quick1d.toml");
  const FineModel1D model(*cfg.field, cfg.epsilon, cfg.micro_dx);
  const PatchLayout1D layout(cfg.length, cfg.macro_nodes, cfg.micro_dx, cfg.tooth_width, cfg.buffer_width);
  const PatchDynamicsParams p = cfg.patch_setting().params;
  cfg.initial.trajectories = 3;
  const auto ics = draw_initial_conditions(cfg.initial);
  std::vector<double> U0(3 * 11);
  for (int b = 0; b < 3; ++b)
    for (int i = 0; i < 11; ++i) U0[b * 11 + i] = ics[b](0.1 * i);
  PatchDynamics1D pd(model, layout, p, dev, 3);
  ThreePoint coarse(Device::CPU, kAstar, 11);
  const auto a = integrate_coarse(pd, MacroMethod::Euler, 1e-3, 300, 1, U0, 3);
  const auto b = integrate_coarse(coarse, MacroMethod::Euler, 1e-3, 300, 1, U0, 3);
  const double r = relative_mse(a.host_U(), b.host_U()), rd = relative_mse(a.host_dUdt(), b.host_dUdt());
  std::printf("quick1d patch dynamics vs coarse scheme: rMSE U %.3e, dU/dt %.3e\n", r, rd);
  EXPECT_LE(r, 1e-6);
  EXPECT_LE(rd, 1e-6);
}

TEST_P(SchemesOnDevice, PatchDynamicsTemporalBlockingGivesTheSameEstimates) {
  const Device dev = GetParam();
  // The temporally blocked burst (every patch stepped in cache through the substeps; on CUDA in
  // shared memory) performs the unblocked burst's arithmetic operation for operation: equal
  // estimates for both closures, both implicit methods and the healed estimator (two blocked runs
  // per burst). On the CPU bit for bit. nvcc may contract multiply-adds differently in the fused
  // kernel (~1 ulp per operation): the fields within FusedSteps' 1e-13, and the estimates, which
  // divide tooth-average differences by the estimate's span, within 1e-12 of the largest rate.
  const FineModel1D model(CoefficientField::sinusoid(1.1, 1.0), 1e-3, 5e-5);
  const PatchLayout1D layout(1.0, 11, 5e-5, 2e-3, 1.2e-2);
  const auto U = nodes_of(smooth, 11, 3);
  for (auto method : {BurstMethod::BackwardEuler, BurstMethod::CrankNicolson})
    for (auto ends : {kernels::EndRows::Dirichlet, kernels::EndRows::AveragedGradient}) {
      PatchDynamicsParams p;
      p.burst = 5e-6;
      p.method = method;
      p.buffer_ends = ends;
      p.heal_substeps = ends == kernels::EndRows::AveragedGradient ? 2 : 0;
      p.chunk_len = 60;  // a partitioned solve, not only Thomas
      PatchDynamics1D a(model, layout, p, dev, 3);
      p.temporal_blocking = false;
      PatchDynamics1D b(model, layout, p, dev, 3);
      const Buffer<double> Ud(dev, U);
      Buffer<double> bd(dev, U.size()), ud(dev, U.size());
      a.rhs(Ud.data(), bd.data(), 3);
      b.rhs(Ud.data(), ud.data(), 3);
      const auto blocked = bd.to_host(), unblocked = ud.to_host();
      if (dev == Device::CPU) {
        EXPECT_EQ(blocked, unblocked);
        EXPECT_EQ(a.patch_field(2), b.patch_field(2));
      } else {
        EXPECT_LE(max_difference(blocked, unblocked), 1e-12 * max_magnitude(unblocked));  // NaN-aware
        EXPECT_LE(max_difference(a.patch_field(2), b.patch_field(2)), 1e-13);
      }
      EXPECT_EQ(a.point_steps(), b.point_steps());
      EXPECT_GT(std::abs(blocked[3]), 0.1);  // a real estimate (a* D2 of the profile)
    }
}

TEST_P(SchemesOnDevice, PatchDynamicsRateOnARandomMediumIsEachPatchsHarmonicMeanTimesTheLiftsCurvature) {
  // Lifted with its own corrector, a patch of a random medium (issue 17) starts on the slow
  // manifold: its bond fluxes are a*_p P'(x) (a*_p the patch's harmonic mean, P the quadratic
  // lift), so the tooth average moves at a*_p P'' = a*_p (U_{i+1} - 2 U_i + U_{i-1}) / dX^2 until
  // the held buffer ends' deficit arrives. With buffers of d on each side and a burst T that
  // deficit at the tooth is below erfc(d / sqrt(4 a_max T)) of the rate (the continuous heat
  // kernel; backward Euler spreads less): here d / sqrt(4 a_max T) >= 3.5, erfc < 1e-6. The
  // reference estimator (R(T) - U) / T also checks that the corrected lift keeps the tooth average.
  const Device dev = GetParam();
  RandomMediumSpec spec;
  spec.sigma = 0.5;
  spec.seed = 7;
  const double T = 1e-6, tooth = 2e-3, width = 3.6e-2, dX = 0.1;
  const int M = 11;
  const FineModel1D model(random_medium(spec, 1.0, 1e-3), 1e-3, 1e-5);
  const PatchLayout1D layout(1.0, M, 1e-5, tooth, width);
  double a_max = 0;
  for (double v : model.conductances(0, 100000)) a_max = std::max(a_max, v);
  const double d = 0.5 * (width - tooth), margin = d / std::sqrt(4 * a_max * T);
  ASSERT_GE(margin, 3.5);
  PatchDynamicsParams p;
  p.burst = T;
  p.substeps = 10;
  std::vector<double> U(2 * M);
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < M; ++i) U[b * M + i] = 1.0 + 0.4 * std::sin(2.0 * i + b) + 0.1 * b * i;
  const Buffer<double> Ud(dev, U);
  Buffer<double> Rd(dev, U.size());
  PatchDynamics1D(model, layout, p, dev, 2).rhs(Ud.data(), Rd.data(), 2);
  const auto R = Rd.to_host();
  double worst = 0, scale = 0, a_lo = INFINITY, a_hi = 0;
  for (int i = 1; i < M - 1; ++i) {
    const auto a = model.conductances(layout.global_start(i), layout.points - 1);
    double inv = 0;
    for (double v : a) inv += 1.0 / v;
    const double a_patch = double(a.size()) / inv;
    a_lo = std::min(a_lo, a_patch);
    a_hi = std::max(a_hi, a_patch);
    for (int b = 0; b < 2; ++b) {
      const double d2 = (U[b * M + i + 1] - 2 * U[b * M + i] + U[b * M + i - 1]) / (dX * dX);
      worst = std::max(worst, std::abs(R[b * M + i] - a_patch * d2));
      scale = std::max(scale, std::abs(a_patch * d2));
    }
  }
  std::printf("patches' a* %.4f .. %.4f; rate against a*_p D2 U: %.3e relative (margin %.2f)\n", a_lo, a_hi,
              worst / scale, margin);
  EXPECT_LT(worst, 1e-6 * scale);
  EXPECT_GT(a_hi - a_lo, 0.03 * a_hi);  // the patches see different pieces of the realization
}

TEST(Homogenized, SingleModeIsExact) {
  // A discrete sine mode on the FD grid decays exactly with its discrete eigenvalue.
  const index_t N = 200;
  HomogenizedSolution1D sol(0.5, 1.0, N, [](double x) { return 2.0 + 3.0 * x + std::sin(3 * M_PI * x); });
  const double lam = -4 * 0.5 * N * N * std::pow(std::sin(3 * M_PI / (2.0 * N)), 2);
  std::vector<index_t> nodes{0, 17, 100, 163, 200};
  std::vector<double> U(5), R(5);
  sol.evaluate(0.07, nodes, U.data(), R.data());
  for (int m = 0; m < 5; ++m) {
    const double x = double(nodes[m]) / N;
    EXPECT_NEAR(U[m], 2 + 3 * x + std::exp(lam * 0.07) * std::sin(3 * M_PI * x), 1e-13);
    EXPECT_NEAR(R[m], lam * std::exp(lam * 0.07) * std::sin(3 * M_PI * x), 1e-11);
  }
}

TEST(Homogenized, ExactTimeMatchesFineEulerSteps) {
  // The exact propagation equals many small explicit steps of the same 3-point scheme
  // (forward Euler error ~ dt * |lambda|^2 t / 2 ~ 1e-6 here).
  const int M = 41;
  ThreePoint op(Device::CPU, kAstar, M);
  auto U0 = nodes_of(smooth, M);
  const auto d = integrate_coarse(op, MacroMethod::RK4, 1e-5, 2000, 2000, U0, 1);
  HomogenizedSolution1D sol(kAstar, 1.0, M - 1, smooth);
  std::vector<index_t> nodes(M);
  for (int i = 0; i < M; ++i) nodes[i] = i;
  std::vector<double> U(M), R(M);
  sol.evaluate(0.02, nodes, U.data(), R.data());
  const auto dU = d.host_U();
  for (int i = 0; i < M; ++i) EXPECT_NEAR(dU[M + i], U[i], 1e-11);
}

TEST(FullResolution, TrBdf2StepAndErrorEstimateOnTheScalarEquation) {
  // y' = lambda y, one TR-BDF2 step in the increment form full resolution uses. The step is second
  // order (local error -C (lambda h)^3 y = 0.0404 (lambda h)^3 y), the filtered estimate matches the
  // true local error to O(lambda h) relative, and for stiff components (lambda h = -1e4, -1e8) the
  // step is L-stable (damps them) and the filtered estimate stays O(|y|) instead of growing with
  // |lambda h| (the filter's purpose: an initial layer of amplitude a costs steps only if a > tol).
  using kernels::TrBdf2;
  const auto step = [](double lh, double* estimate) {
    const double y = 1.0, F = lh, dh = TrBdf2::d, M = 1.0 - dh * lh;  // h = 1, lambda = lh
    const double d1 = 2.0 * dh * F / M, d2 = (dh * lh * (y + d1) - (1.0 - TrBdf2::w) * d1) / M;
    *estimate = kernels::trbdf2_error(F, d1, d2, 1.0) / M;
    return y + d1 + d2;
  };
  for (const double lh : {-1e-1, -1e-2, -1e-3}) {
    double est = 0.0;
    const double err = step(lh, &est) - std::exp(lh);
    EXPECT_NEAR(err / std::pow(-lh, 3), -0.0404401, 0.0404 * (std::abs(lh) + 2e-3)) << lh;  // next order: O(lambda h)
    EXPECT_NEAR(est / err, 1.0, 0.05 * std::abs(lh) + 1e-6) << lh;
  }
  for (const double lh : {-1e4, -1e8}) {
    double est = 0.0;
    EXPECT_LT(std::abs(step(lh, &est)), 1e-3) << lh;
    EXPECT_LT(std::abs(est), 2.0) << lh;
  }
}

TEST_P(SchemesOnDevice, FullResolutionApproachesHomogenizedAsEpsShrinks) {
  const Device dev = GetParam();
  // The tooth average of the fine solution differs from the homogenized one by O(eps^2) corrector
  // terms; halving eps must shrink the error. The truth is the homogenized FD solution on a fine
  // grid (its own O(dx^2) error, dx = 1e-3, is far below the eps effect at these eps).
  std::vector<double> errs;
  const std::vector<double> times{0.005, 0.02};
  for (double eps : {2e-2, 1e-2, 5e-3}) {
    const double dx = eps / 40;
    const FineModel1D model(CoefficientField::sinusoid(1.1, 1.0), eps, dx);
    const PatchLayout1D teeth(1.0, 11, dx, 2 * eps, 2 * eps);
    FullResolutionParams p;
    p.rtol = 1e-7;
    FullResolution1D fr(model, teeth, p, dev);
    std::vector<double> U(2 * 11), R(2 * 11);
    fr.run(smooth, times, U.data(), R.data());
    const auto truth = homogenized_truth(kAstar, 1.0, 11, 100, {smooth}, times);
    errs.push_back(relative_mse(U, truth.U));
    std::printf("eps %.0e: rMSE vs homogenized %.3e (%lld steps)\n", eps, errs.back(),
                static_cast<long long>(fr.accepted_steps()));
  }
  EXPECT_LT(errs[1], 0.5 * errs[0]);
  EXPECT_LT(errs[2], 0.5 * errs[1]);
  EXPECT_LT(errs[2], 1e-6);
}

TEST_P(SchemesOnDevice, GapToothMatchesCoarseScheme) {
  const Device dev = GetParam();
  // With the averaged-gradient edge condition a tooth average moves at a* D2 (paper eq. 9 and
  // sec. 3), so the gap-tooth trajectory follows the 3-point homogenized scheme. Reference: that
  // scheme integrated exactly in time. The fine step dt = 1e-5 adds a backward-Euler error of
  // about dt |lambda|/2 ~ 1e-3 relative in the fastest coarse mode (|lambda| <= 4 a*/dX^2 = 183),
  // i.e. an rMSE of order 1e-7; bound 1e-5. (On CUDA to t = 0.02: 10^4 fine steps take 29 s
  // emulated, 2 x 10^3 a fifth of that.)
  const double eps = 1e-3, dx = 1e-5;
  const FineModel1D model(CoefficientField::sinusoid(1.1, 1.0), eps, dx);
  const PatchLayout1D teeth(1.0, 11, dx, 2e-3, 2e-3);
  GapToothParams p;
  p.dt = 1e-5;
  InitialConditionParams icp;
  icp.trajectories = 2;
  const auto ics = draw_initial_conditions(icp);
  std::vector<std::function<double(double)>> f(ics.begin(), ics.end());
  const std::vector<double> times =
      dev == Device::CPU ? std::vector<double>{0.0, 0.01, 0.05, 0.1} : std::vector<double>{0.0, 0.01, 0.02};
  GapTooth1D gt(model, teeth, p, dev, 2);
  const auto d = gt.run(f, times);
  const auto coarse = homogenized_truth(kAstar, 1.0, 11, 1, f, times);
  const double r = relative_mse(d.host_U(), coarse.U);
  std::printf("gap-tooth vs coarse scheme rMSE = %.3e\n", r);
  EXPECT_LT(r, 1e-5);
}

TEST(Schemes, GapToothEdgesCarryTheCorrectorOfAnAsymmetricCell) {
  // A laminate whose teeth start where its corrector is not 0 (0.6 on 17 of a period's 50 bonds,
  // then 2.2): the gradient averaged over an edge period is U_x plus the corrector's mean at the
  // period's ends times q'/a*, q' the flux's slope (schemes/gap_tooth.hpp). Without that term every
  // tooth's rate carried a spurious s a* U_xxx (s = 0.157 eps), 1e-3 of the rates' rms at every node;
  // with q' from the 5-point U_xxx alone the two teeth beside the held ends kept 6e-4 and 1e-3. Now
  // every node is within 1e-5 of the exact coarse operator (the bound: 1e-4).
  // Also with a drift 0.2, which makes the medium the nonlinear model's (the edge terms then come
  // from series in u and the teeth's rates), and with a(y, u) = laminate x (1 - 0.2u + 0.05u^2),
  // whose edge periods conduct with a*(u) at their mean shifted by the slope and whose rates hold
  // a*'(U) U_x U_xx terms the state's differences do not give, and whose rate over a step was first
  // order in dt while the edges held the step's start: before, 1.7e-4 between the teeth beside the
  // ends (the bound: 5e-5) and 5e-4 in all; now 8e-6.
  const double eps = 1e-3, dx = 2e-5, a_star = 1.0 / (0.34 / 0.6 + 0.66 / 2.2);
  const auto laminate = CoefficientField::laminate(0.6, 2.2, 0.34);
  const URange range{-20, 20};
  struct Case {
    CoefficientField field;
    double drift, c1, c2;  // a*(u) = a_star (1 + c1 u + c2 u^2)
  };
  const Case cases[] = {
      {laminate, 0.0, 0.0, 0.0},
      {laminate.with_terms("0.2", "", range, "u"), 0.2, 0.0, 0.0},
      {CoefficientField::expression("(y < 0.34 ? 0.6 : 2.2) * (1 - 0.2*u + 0.05*u^2)", range, "u"), 0.0, -0.2, 0.05}};
  for (const auto& c : cases) {
    const FineModel1D model(c.field, eps, dx);
    const int M = 11;
    const PatchLayout1D teeth(1.0, M, dx, 2e-3, 2e-3);
    InitialConditionParams icp;
    icp.trajectories = 3;
    const auto ics = draw_initial_conditions(icp);
    GapTooth1D gt(model, teeth, GapToothParams{}, Device::CPU, 3);
    const auto d = gt.run({ics.begin(), ics.end()}, {0.0, 0.01, 0.02});
    const auto U = d.host_U(), R = d.host_dUdt();
    double err = 0, rms = 0, inner_err = 0, inner_rms = 0;  // every interior node; those between teeth
    for (int n = 0; n < 3 * 3; ++n) {
      if (n % 3 == 0) continue;  // t = 0: the sampled initial condition, before its corrector forms
      for (int i = 1; i <= M - 2; ++i) {
        const double* V = U.data() + n * M;
        const double u = V[i], D1 = (V[i + 1] - V[i - 1]) * (M - 1) / 2.0,
                     D2 = (V[i + 1] - 2 * u + V[i - 1]) * (M - 1) * (M - 1);
        const double e = a_star * ((1 + c.c1 * u + c.c2 * u * u) * D2 + (c.c1 + 2 * c.c2 * u) * D1 * D1) + c.drift * D1;
        err += std::pow(R[n * M + i] - e, 2);
        rms += e * e;
        if (i >= 2 && i <= M - 3) inner_err += std::pow(R[n * M + i] - e, 2), inner_rms += e * e;
      }
    }
    std::printf(
        "gap-tooth rates on an asymmetric laminate (drift %g, a*(u) factor 1 + %gu + %gu^2): %.2e of the exact "
        "coarse operator's rms (%.2e between teeth)\n",
        c.drift, c.c1, c.c2, std::sqrt(err / rms), std::sqrt(inner_err / inner_rms));
    EXPECT_LT(std::sqrt(err / rms), 1e-4) << c.drift << " " << c.c1;
    EXPECT_LT(std::sqrt(inner_err / inner_rms), 5e-5) << c.drift << " " << c.c1;
  }
}

TEST(Schemes, GapToothRunsMediaWhoseEdgeMeansCancel) {
  // The edge rows' means over a period (schemes/gap_tooth.hpp) cancel to round-off on a medium
  // uniform in y (the corrector's term, the conductance shift) or symmetric about the teeth's edges
  // (those and a drift or reaction of mean 0); tabulated in u, that round-off was "not smooth
  // enough in u" (a ConfigError) even for a = 2 exp(-0.3u). They are 0 now: the uniform medium's
  // rates are its coarse operator's, a*(U) D2 + a*'(U) D1^2 with a* = a, within the tooth average
  // (3e-5 of the rates at h = 2 eps; bound 1e-4).
  const double eps = 1e-3, dx = 2e-5;
  const URange range{-20, 20};
  const int M = 11;
  const PatchLayout1D teeth(1.0, M, dx, 2e-3, 2e-3);
  InitialConditionParams icp;
  icp.trajectories = 3;
  const auto ics = draw_initial_conditions(icp);
  const auto rates = [&](const CoefficientField& field) {
    GapTooth1D gt(FineModel1D(field, eps, dx), teeth, GapToothParams{}, Device::CPU, 3);
    const auto d = gt.run({ics.begin(), ics.end()}, {0.0, 0.01, 0.02});
    return std::pair{d.host_U(), d.host_dUdt()};
  };
  const auto [U, R] = rates(CoefficientField::expression("2*exp(-0.3*u)", range, "u"));
  double err = 0, rms = 0;
  for (int n = 0; n < 3 * 3; ++n) {
    if (n % 3 == 0) continue;  // t = 0: the sampled initial condition
    for (int i = 1; i <= M - 2; ++i) {
      const double* V = U.data() + n * M;
      const double a = 2 * std::exp(-0.3 * V[i]), D1 = (V[i + 1] - V[i - 1]) * (M - 1) / 2.0,
                   D2 = (V[i + 1] - 2 * V[i] + V[i - 1]) * (M - 1) * (M - 1);
      const double e = a * D2 - 0.3 * a * D1 * D1;
      err += std::pow(R[n * M + i] - e, 2);
      rms += e * e;
    }
  }
  EXPECT_LT(std::sqrt(err / rms), 1e-4);
  const URange narrow{-8, 8};  // where this a stays > 0
  const auto symmetric = CoefficientField::expression("1.5 + 0.5*cos(2*pi*y)*(1 + 0.1*u)", narrow, "u")
                             .with_terms("0.3*sin(2*pi*y)*u", "0.2*sin(2*pi*y)*u", narrow, "u");
  const auto [Us, Rs] = rates(symmetric);
  for (const double r : Rs) EXPECT_TRUE(std::isfinite(r));
}

namespace {

/// dU/dt = -U, except that from macro step `bad_from` on (one rhs per Euler step) node 3 of
/// trajectory 1 is NaN; with `refuse_nan`, an input holding a NaN makes the operator throw its own
/// RunError, as a nonlinear medium's u-range check does.
class TurnsNonFinite : public CoarseOperator {
 public:
  TurnsNonFinite(index_t bad_from, bool refuse_nan) : bad_from_(bad_from), refuse_nan_(refuse_nan) {}
  int nodes() const override { return 5; }
  void rhs(const double* U, double* dUdt, index_t batch) override {
    for (index_t i = 0; i < batch * 5; ++i) {
      if (refuse_nan_ && std::isnan(U[i])) throw RunError("U = nan is outside the operator's range");
      dUdt[i] = -U[i];
    }
    if (calls_++ >= bad_from_) dUdt[5 + 3] = std::nan("");
  }
  index_t calls() const { return calls_; }

 private:
  index_t bad_from_, calls_ = 0;
  bool refuse_nan_;
};

}  // namespace

TEST(CoarseData, ANonFiniteRateStopsTheRunWhereItFirstAppearedWhateverCheckEvery) {
  // The device's record is read every check_every steps, but the message names the step the NaN
  // appeared at, also where the operator's own error came first; at most check_every - 1 steps run
  // past it, and no data come back.
  for (const bool refuse : {false, true})
    for (const index_t every : {1, 4, 7, 100}) {
      TurnsNonFinite op(5, refuse);
      try {
        integrate_coarse(op, MacroMethod::Euler, 1e-3, 20, 2, std::vector<double>(3 * 5, 1.0), 3, {}, every);
        ADD_FAILURE() << "a NaN rate came back as data (check_every " << every << ")";
      } catch (const RunError& e) {
        EXPECT_NE(std::string(e.what()).find("non-finite dU/dt at macro step 5, trajectory 1, node 3"),
                  std::string::npos)
            << e.what();
      }
      const index_t read_at = std::min<index_t>((5 / every + 1) * every - 1, 20);  // the first read at or after 5
      // Refused, the call at step 6 (its input holds the NaN) threw before it counted itself.
      EXPECT_EQ(op.calls(), refuse ? 6 : read_at + 1) << "check_every " << every;
    }
  TurnsNonFinite fine(100, false);
  EXPECT_THROW(integrate_coarse(fine, MacroMethod::Euler, 1e-3, 2, 1, std::vector<double>(5, 1.0), 1, {}, 0),
               std::invalid_argument);
}

namespace {

/// dU/dt = 1 at node 2 of trajectory 1 and 0 elsewhere, defined on U <= 1 (an operator's state
/// range, like a nonlinear medium's u range); it never looks at its input itself.
class Bounded : public CoarseOperator {
 public:
  int nodes() const override { return 5; }
  StateRange state_range() const override { return {{-INFINITY, 1.0}, "medium.u_range"}; }
  void rhs(const double*, double* dUdt, index_t batch) override {
    std::fill(dUdt, dUdt + batch * 5, 0.0);
    dUdt[5 + 2] = 1.0;
  }
};

}  // namespace

TEST(CoarseData, AStateOutsideTheOperatorsRangeStopsTheRunAtItsStepAndStage) {
  // From U = 0.903 with dt = 0.01, node (1, 2) holds 0.903 + 0.01 s at step s. RK4 first leaves
  // U <= 1 in step 9's last stage (0.993 + dt), Euler with step 10's state (1.003); RK2's stage
  // (U + dt) does so in step 9 too. The message names it whatever check_every.
  const std::vector<std::pair<MacroMethod, std::string>> cases{
      {MacroMethod::RK4,
       "U at macro step 9 (RK stage 3), trajectory 1, node 2 (t = 0.09) is outside "
       "medium.u_range [-inf, 1]"},
      {MacroMethod::RK2, "U at macro step 9 (RK stage 1), trajectory 1, node 2"},
      {MacroMethod::Euler, "U at macro step 10, trajectory 1, node 2 (t = 0.1)"}};
  for (const auto& [method, text] : cases)
    for (const index_t every : {1, 3, 100}) {
      Bounded op;
      try {
        integrate_coarse(op, method, 0.01, 40, 4, std::vector<double>(2 * 5, 0.903), 2, {}, every);
        ADD_FAILURE() << "a state outside the range came back as data";
      } catch (const RunError& e) {
        EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
      }
    }
  Bounded inside;  // 9 Euler steps end at 0.993 on node (1, 2), inside
  EXPECT_NO_THROW(integrate_coarse(inside, MacroMethod::Euler, 0.01, 9, 1, std::vector<double>(2 * 5, 0.903), 2));
}

TEST(CoarseData, TheBadValueWatchKeepsTheEarliestOfEachKind) {
  // Tags look * count + index: a later look never hides an earlier one, and within a look the
  // lowest index wins; an outside value comes before a non-finite one of the same look.
  BadValueWatch w(Device::CPU, 4);
  const std::vector<double> good{0, 1, 2, 3}, late{0, INFINITY, 9, 1}, early{0, 1, 2, -5};
  w.look(good.data(), 0, -10, 10);
  EXPECT_FALSE(w.found());
  w.look(late.data(), 3, 0, 5);
  auto f = w.found();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->look, 3);
  EXPECT_EQ(f->index, 2);
  EXPECT_TRUE(f->outside);
  w.look(early.data(), 4);  // no range: -5 is fine
  f = w.found();
  EXPECT_EQ(f->look, 3);
  EXPECT_EQ(f->index, 2);
  BadValueWatch v(Device::CPU, 4);
  v.look(late.data(), 2);
  f = v.found();
  ASSERT_TRUE(f);
  EXPECT_FALSE(f->outside);
  EXPECT_EQ(f->index, 1);
}

TEST(CoarseData, ARolloutStopsAtABadValueOrAStateOutsideTheOperatorsRange) {
  // A NaN rate (TurnsNonFinite: from its 6th call) makes the states non-finite; a state past the
  // operator's range (Bounded: node (1, 2) grows at rate 1 from 0.903, so it passes 1 at
  // t = 0.097) stops the rollout in the step that crosses it, for both integrators.
  for (const auto method : {RolloutMethod::Dopri5, RolloutMethod::BDF}) {
    TurnsNonFinite nan(5, false);
    std::vector<double> U0(3 * 5, 1.0);
    try {
      rollout_coarse(nan, U0.data(), 3, {0.0, 0.1}, {method, 1e-3});
      ADD_FAILURE() << "a NaN rate came back as a rollout";
    } catch (const RunError& e) {
      EXPECT_NE(std::string(e.what()).find("non-finite"), std::string::npos) << e.what();
    }
    Bounded bounded;
    std::vector<double> V0(2 * 5, 0.903);
    try {
      rollout_coarse(bounded, V0.data(), 2, {0.0, 0.05, 0.2}, {method, 1e-3});
      ADD_FAILURE() << "a state outside the range came back as a rollout";
    } catch (const RunError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("is outside medium.u_range [-inf, 1]"), std::string::npos) << m;
      const auto from = m.find("from t = "), to = m.find(" to ", from);
      ASSERT_NE(to, std::string::npos) << m;
      EXPECT_LE(std::stod(m.substr(from + 9)), 0.097 + 1e-12) << m;
      EXPECT_GT(std::stod(m.substr(to + 4)), 0.097) << m;
    }
  }
}

INSTANTIATE_ON_EVERY_DEVICE(SchemesOnDevice);
