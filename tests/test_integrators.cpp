// The coarse integrators (schemes/integrators.hpp) and their kernels on each device, against exact
// answers (on_device.hpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "patchlearn/core/buffer.hpp"
#include "patchlearn/homog/homogenized1d.hpp"
#include "patchlearn/kernels/batched.hpp"
#include "patchlearn/schemes/integrators.hpp"
#include "on_device.hpp"
#include "three_point.hpp"

using namespace patchlearn;

namespace {

std::vector<double> nodes_of(const std::function<double(double)>& f, int M) {
  std::vector<double> U(M);
  for (int i = 0; i < M; ++i) U[i] = f(double(i) / (M - 1));
  return U;
}

using Integrators = OnDevice;

}  // namespace

TEST_P(Integrators, RolloutsOfTheThreePointSchemeMatchItsExactSolution) {
  // The semi-discrete 3-point scheme on the macro grid, integrated exactly in time, is the
  // reference. BDF2 with dt = 1e-5: global error ~ dt^2 |lambda|^3 t / 12 * |u| < 1e-6 for the
  // stiffest mode (|lambda| <= 4 a / dX^2 = 160) -> tolerance 1e-6. Dormand-Prince with rtol 1e-10:
  // its local errors are held to ~1e-10 |U|, summed over a few hundred steps -> 1e-8. Two states
  // (the second the first reflected) share the batch, its step sizes and Newton matrices.
  const int M = 11;
  const double a = 0.4;
  auto ic = [](double x) { return 1 + x + std::sin(M_PI * x) + 0.3 * std::sin(4 * M_PI * x); };
  auto mirrored = [&](double x) { return ic(1.0 - x); };
  const HomogenizedSolution1D sol(a, 1.0, M - 1, ic), sol2(a, 1.0, M - 1, mirrored);
  const std::vector<double> times{0.0, 0.01, 0.05, 0.1};
  std::vector<index_t> nodes(M);
  for (int i = 0; i < M; ++i) nodes[i] = i;
  std::vector<double> ref(2 * times.size() * M), rate(M);
  for (std::size_t n = 0; n < times.size(); ++n) {
    sol.evaluate(times[n], nodes, ref.data() + n * M, rate.data());
    sol2.evaluate(times[n], nodes, ref.data() + (times.size() + n) * M, rate.data());
  }
  auto U0 = nodes_of(ic, M);
  const auto U1 = nodes_of(mirrored, M);
  U0.insert(U0.end(), U1.begin(), U1.end());
  const Device dev = GetParam();
  ThreePoint op(dev, a, M);
  const Buffer<double> start(dev, U0);
  const auto worst = [&](const CoarseRollout& r) {
    const auto U = r.U.to_host();
    double w = 0;
    for (std::size_t i = 0; i < U.size(); ++i) w = std::max(w, std::abs(U[i] - ref[i]));
    return w;
  };
  const auto bdf = rollout_coarse(op, start.data(), 2, times, {RolloutMethod::BDF, 1e-5, 1e-9, 1e-12, 8, 1e-13});
  const auto dp = rollout_coarse(op, start.data(), 2, times, {RolloutMethod::Dopri5, 1e-4, 1e-10, 1e-13, 8, 1e-13});
  EXPECT_EQ(bdf.U.device(), dev);
  EXPECT_LT(worst(bdf), 1e-6);
  EXPECT_LT(worst(dp), 1e-8);
  EXPECT_EQ(bdf.steps, 10000);
  // A linear operator's Newton matrix is exact: one iteration and the check that it converged.
  EXPECT_EQ(bdf.rhs_evaluations, 2 * bdf.steps);
  EXPECT_GE(dp.rhs_evaluations, 6 * dp.steps + 1);  // six per step tried, FSAL: one more at the start
}

TEST_P(Integrators, TheFiniteDifferenceJacobianOfALinearOperatorIsItsMatrix) {
  // The 3-point scheme's Jacobian is c (1, -2, 1) on the interior rows and zero on the end rows.
  // Forward differences of a linear operator err only by the round-off of the two rates, ~4 eps
  // c |U| / h with h = 1e-6 max(1, |U|): ~1e-9 c here, tested at 1e-7 c.
  const int M = 9;
  const Device dev = GetParam();
  ThreePoint op(dev, 0.3, M);
  auto U = nodes_of([](double x) { return 1.0 + 0.5 * std::sin(2 * M_PI * x); }, M);
  const auto U2 = nodes_of([](double x) { return 40.0 * std::cos(x); }, M);
  U.insert(U.end(), U2.begin(), U2.end());
  const Buffer<double> Ud(dev, U);
  Buffer<double> Jd(dev, 2 * M * M);
  op.jacobian(Ud.data(), Jd.data(), 2);
  const auto J = Jd.to_host();
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < M; ++j) {
        const bool interior = i > 0 && i < M - 1;
        const double exact = !interior ? 0.0 : j == i ? -2 * op.c() : std::abs(i - j) == 1 ? op.c() : 0.0;
        EXPECT_NEAR(J[(b * M + i) * M + j], exact, 1e-7 * op.c()) << b << " " << i << " " << j;
      }
}

TEST_P(Integrators, TheBatchedLuSolvesSystemsThatNeedPivoting) {
  // Each block has a zero diagonal entry, so elimination without row swaps would divide by zero;
  // the known solution comes back to the round-off of a well-conditioned 4 x 4 solve.
  const index_t n = 4, B = 3;
  std::vector<double> A(B * n * n), x(B * n), b(B * n);
  for (index_t s = 0; s < B; ++s) {
    for (index_t r = 0; r < n; ++r) {
      for (index_t c = 0; c < n; ++c)
        A[(s * n + r) * n + c] =
            std::sin(1.0 + 3.0 * s + 1.7 * r * c + 0.9 * c * c + 0.4 * r * r) + (r == c ? 2.0 : 0.0);
      x[s * n + r] = 1.0 + r - 0.5 * s;
    }
    A[(s * n + 0) * n + 0] = 0.0;
    for (index_t r = 0; r < n; ++r) {
      b[s * n + r] = 0.0;
      for (index_t c = 0; c < n; ++c) b[s * n + r] += A[(s * n + r) * n + c] * x[s * n + c];
    }
  }
  const Device dev = GetParam();
  Buffer<double> LU(dev, A), xd(dev, b);
  Buffer<index_t> piv(dev, static_cast<std::size_t>(B * n));
  kernels::lu_factor(dev, B, n, LU.data(), piv.data());
  kernels::lu_solve(dev, B, n, LU.data(), piv.data(), xd.data());
  const auto sol = xd.to_host();
  EXPECT_NE(piv.to_host()[0], 0);
  for (index_t i = 0; i < B * n; ++i) EXPECT_NEAR(sol[i], x[i], 1e-12) << i;
}

TEST_P(Integrators, TheFieldReductionsOverManyBlocks) {
  // max_abs, count_nonfinite and sum_squares (the integrators' max-norms, NaN checks and error
  // norm) over 100,003 values, many blocks and threads on either device, against exact answers:
  // the values are small integers, so every sum of squares is exact in any order.
  const Device dev = GetParam();
  std::vector<double> x(100003);
  double squares = 0;
  for (std::size_t i = 0; i < x.size(); ++i)
    x[i] = static_cast<double>(static_cast<int>(i % 7) - 3), squares += x[i] * x[i];
  x[4] = -7.0, squares += 49.0 - 1.0;
  const Buffer<double> xd(dev, x);
  EXPECT_EQ(kernels::max_abs(dev, xd.data(), x.size()), 7.0);
  EXPECT_EQ(kernels::count_nonfinite(dev, xd.data(), x.size()), 0);
  EXPECT_EQ(kernels::sum_squares(dev, xd.data(), x.size()), squares);
  // A block of -0.0 (abs_or_inf keeps the sign bit) must not beat 0.5 in the bitwise max across
  // blocks.
  std::vector<double> zeros(3 * 256, 0.5);
  std::fill(zeros.begin(), zeros.begin() + 256, -0.0);
  const Buffer<double> zd(dev, zeros);
  EXPECT_EQ(kernels::max_abs(dev, zd.data(), zeros.size()), 0.5);
  // A NaN is an infinite max-norm and a non-finite sum; an infinity is counted; an empty field
  // has neither.
  x[99999] = -INFINITY;
  x[5] = std::nan("");
  const Buffer<double> bad(dev, x);
  EXPECT_EQ(kernels::max_abs(dev, bad.data(), x.size()), INFINITY);
  EXPECT_EQ(kernels::count_nonfinite(dev, bad.data(), x.size()), 2);
  EXPECT_FALSE(std::isfinite(kernels::sum_squares(dev, bad.data(), x.size())));
  EXPECT_EQ(kernels::max_abs(dev, bad.data(), 0), 0.0);
  EXPECT_EQ(kernels::count_nonfinite(dev, bad.data(), 0), 0);
  EXPECT_EQ(kernels::sum_squares(dev, bad.data(), 0), 0.0);
  // The bad-value watch's record over passes with falling tags: the least tag of each kind (-7 at
  // 4 is outside [-3, 3], the NaN at 5 the first non-finite value), and an empty pass changes
  // nothing.
  Buffer<unsigned long long> rec(dev, std::vector<unsigned long long>{kernels::kNoBadValue, kernels::kNoBadValue});
  for (const unsigned long long tag : {1000000ull, 0ull, 500000ull})
    kernels::mark_bad_values(dev, bad.data(), x.size(), tag, -3.0, 3.0, rec.data());
  kernels::mark_bad_values(dev, bad.data(), 0, 0, -3.0, 3.0, rec.data());
  EXPECT_EQ(rec.to_host(), (std::vector<unsigned long long>{5, 4}));
}

INSTANTIATE_ON_EVERY_DEVICE(Integrators);
