// The partitioned tridiagonal solver against a dense solve, on each device: the Cpu/ instances are
// unit tests, the Cuda/ ones gpu tests (tests/CMakeLists.txt), run on the emulated backend in CI and
// on a GPU by bench/gpu_check.sh, skipped where neither is.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <tuple>

#include "patchlearn/core/device.hpp"
#include "patchlearn/core/error.hpp"
#include "patchlearn/kernels/batched.hpp"
#include "patchlearn/kernels/tridiag.hpp"
#include "on_device.hpp"

using namespace patchlearn;

namespace {

// Dense Gaussian elimination with partial pivoting (reference).
std::vector<double> dense_solve(std::vector<double> A, std::vector<double> b, int n) {
  for (int c = 0; c < n; ++c) {
    int p = c;
    for (int r = c + 1; r < n; ++r)
      if (std::abs(A[r * n + c]) > std::abs(A[p * n + c])) p = r;
    for (int k = 0; k < n; ++k) std::swap(A[c * n + k], A[p * n + k]);
    std::swap(b[c], b[p]);
    for (int r = c + 1; r < n; ++r) {
      const double f = A[r * n + c] / A[c * n + c];
      for (int k = c; k < n; ++k) A[r * n + k] -= f * A[c * n + k];
      b[r] -= f * b[c];
    }
  }
  std::vector<double> x(n);
  for (int r = n - 1; r >= 0; --r) {
    double s = b[r];
    for (int k = r + 1; k < n; ++k) s -= A[r * n + k] * x[k];
    x[r] = s / A[r * n + r];
  }
  return x;
}

// Systems of more rows are checked against plain Thomas on the rows [l, d, u] (tridiagonal ones
// only, eo = 1): diagonally dominant, so it is as accurate as the dense solve.
constexpr int kDenseRows = 400;
std::vector<double> thomas_solve(const std::vector<double>& A, std::vector<double> x, int n) {
  std::vector<double> cp(n);
  double prev = 0.0;
  for (int i = 0; i < n; ++i) {
    const double inv = 1.0 / (A[3 * i + 1] - (i > 0 ? A[3 * i] * prev : 0.0));
    cp[i] = prev = A[3 * i + 2] * inv;
    x[i] = (x[i] - (i > 0 ? A[3 * i] * x[i - 1] : 0.0)) * inv;
  }
  for (int i = n - 2; i >= 0; --i) x[i] -= cp[i] * x[i + 1];
  return x;
}

struct Case {
  int n, mats, systems;
  index_t chunk, eo;
};

class Tridiag : public testing::TestWithParam<std::tuple<Device, Case>> {};

}  // namespace

TEST_P(Tridiag, MatchesDenseSolve) {
  const auto [dev, c] = GetParam();
  SKIP_UNLESS_USABLE(dev);
  std::mt19937_64 gen(7);
  std::uniform_real_distribution<double> U(0.1, 2.0), S(-1.0, 1.0);
  const int n = c.n;
  std::vector<double> l(c.mats * n), d(l.size()), u(l.size());
  for (int m = 0; m < c.mats; ++m)
    for (int i = 0; i < n; ++i) {
      // Diffusion-like rows with a large stiffness ratio, as in a burst (c ~ 1e7 in the paper case).
      const double k = (i % 5 == 0) ? 1e6 : 3.0;
      l[m * n + i] = i > 0 ? -k * U(gen) : 0.0;
      u[m * n + i] = i < n - 1 ? -k * U(gen) : 0.0;
      d[m * n + i] = 1.0 + std::abs(l[m * n + i]) + std::abs(u[m * n + i]);
    }
  if (c.eo > 1)  // gap-tooth end rows: -x0 + x_eo and x_{n-1} - x_{n-1-eo}
    for (int m = 0; m < c.mats; ++m) {
      d[m * n] = -1.0;
      u[m * n] = 1.0;
      d[m * n + n - 1] = 1.0;
      l[m * n + n - 1] = -1.0;
    }
  kernels::BatchedTridiag solver(dev, c.mats, n, c.chunk, c.eo);
  solver.set_matrices(l, d, u);
  std::vector<double> b(c.systems * n);
  for (auto& v : b) v = S(gen);
  Buffer<double> xd(dev, b);
  solver.solve(xd.data(), c.systems);
  const std::vector<double> x = xd.to_host();
  for (int s = 0; s < c.systems; ++s) {
    const int m = s % c.mats;
    std::vector<double> A(n <= kDenseRows ? n * n : 3 * n, 0.0);
    const auto at = [&](int i, int j) -> double& { return n <= kDenseRows ? A[i * n + j] : A[3 * i + 1 + j - i]; };
    for (int i = 0; i < n; ++i) {
      at(i, i) = d[m * n + i];
      const int left = (i == n - 1) ? n - 1 - static_cast<int>(c.eo) : i - 1;
      const int right = (i == 0) ? static_cast<int>(c.eo) : i + 1;
      if (i > 0) at(i, left) += l[m * n + i];
      if (i < n - 1) at(i, right) += u[m * n + i];
    }
    const std::vector<double> bs(b.begin() + s * n, b.begin() + (s + 1) * n);
    const auto ref = n <= kDenseRows ? dense_solve(A, bs, n) : thomas_solve(A, bs, n);
    double scale = 0;
    for (double v : ref) scale = std::max(scale, std::abs(v));
    // Diagonally dominant rows: forward error ~ n * machine epsilon * condition (small here), on
    // either device (a fused multiply-add changes a rounding, not the bound).
    for (int i = 0; i < n; ++i) ASSERT_NEAR(x[s * n + i], ref[i], 1e-11 * scale) << "system " << s << " row " << i;
  }
}

// Chunk 0: one chunk (plain Thomas); the others partition the system, each device the same way.
// The last two have reduced systems of 2,001 and 10,001 rows, which a GPU block solves as scans
// over 512 threads of 4 rows and 1,024 threads of 10 rows; the second is long enough to be factored
// by a scan too (cuda/batched.cu).
const auto kCases = testing::Values(Case{50, 1, 1, 0, 1}, Case{50, 3, 7, 0, 1}, Case{97, 2, 5, 8, 1},
                                    Case{200, 3, 6, 17, 1}, Case{64, 1, 2, 2, 1}, Case{120, 2, 4, 0, 9},
                                    Case{120, 2, 4, 16, 9}, Case{4001, 2, 3, 2, 1}, Case{40001, 1, 2, 4, 1});
std::string case_name(const testing::TestParamInfo<Tridiag::ParamType>& info) {
  const Case& c = std::get<1>(info.param);
  return "n" + std::to_string(c.n) + "_mats" + std::to_string(c.mats) + "_systems" + std::to_string(c.systems) +
         "_chunk" + std::to_string(c.chunk) + "_eo" + std::to_string(c.eo);
}
INSTANTIATE_TEST_SUITE_P(Cpu, Tridiag, testing::Combine(testing::Values(Device::CPU), kCases), case_name);
INSTANTIATE_TEST_SUITE_P(Cuda, Tridiag, testing::Combine(testing::Values(Device::CUDA), kCases), case_name);

TEST(Tridiag, TheThomasFactorizationComposesAsFractionalMaps) {
  // The GPU factors a long reduced system as a scan of the rows' maps rcp_{k-1} -> rcp_k. Composed
  // over any run of rows from the first, the map at 0 is the recurrence's rcp at the run's end: to
  // rounding, since on diagonally dominant rows (those of the burst matrices, as here) the recurrence
  // contracts. 100,000 rows, every fifth of diagonal ~1e6: the unscaled product would overflow.
  std::mt19937_64 gen(3);
  std::uniform_real_distribution<double> U(0.1, 2.0);
  const int rows = 100000;
  double rcp = 0.0, worst = 0.0;
  kernels::FractionalMap prefix = kernels::identity_fractional_map();
  for (int k = 0; k < rows; ++k) {
    const double s = (k % 5 == 0) ? 1e6 : 3.0, lo = -s * U(gen), up = -s * U(gen), di = 1.0 - lo - up;
    rcp = up / (di - lo * rcp);
    prefix = kernels::then(prefix, kernels::reduced_factor_row(lo, di, up));
    worst = std::max(worst, std::abs(kernels::at_zero(prefix) - rcp));
  }
  EXPECT_LT(worst, 1e-14);
  // Composition is associative: runs composed first and then chained give the same map.
  const auto row = [](double lo, double di, double up) { return kernels::reduced_factor_row(lo, di, up); };
  const auto a = row(-1.0, 4.0, -2.0), b = row(-3.0, 7.0, -1.5), c = row(-0.5, 2.5, -1.0);
  EXPECT_NEAR(kernels::at_zero(kernels::then(kernels::then(a, b), c)),
              kernels::at_zero(kernels::then(a, kernels::then(b, c))), 1e-16);
}

namespace {

struct FusedCase {
  index_t n, chunk;
};
class FusedSteps : public testing::TestWithParam<std::tuple<Device, FusedCase>> {};

}  // namespace

TEST_P(FusedSteps, SameValuesAsTheUnblockedSteps) {
  // fused_steps runs increment_rhs, solve and the update with each system held on chip (a CPU
  // thread's cache, where several systems share the lanes of a vector; a CUDA block's shared
  // memory); the arithmetic is the same operation for operation. On the CPU the values must agree
  // bit for bit, in the lanes of every vector version this CPU runs (AVX-512's 8, AVX2's 4, the
  // baseline's 2); nvcc may contract multiply-adds differently in the two kernels, ~1 ulp per
  // operation: 1e-13 relative after five steps. One chunk (Thomas) and several, plain and
  // averaged-gradient ends; n = 4801 needs 77 KB of shared memory, past CUDA's 48 KB default.
  // 9 matrices and 84 systems: on the CPU, groups of lanes of one matrix (the first eight rows, in
  // every version), then a row of groups of consecutive matrices (full, and past the last matrix)
  // and a group that runs past the batch's end.
  const auto [dev, c] = GetParam();
  SKIP_UNLESS_USABLE(dev);
  const index_t n = c.n, mats = 9, systems = 84;
  const int steps = 5;
  std::mt19937_64 gen(11);
  std::uniform_real_distribution<double> A(0.1, 2.1), S(-1.0, 1.0);
  std::vector<double> cond_host(mats * (n - 1)), y0(systems * n), edges(2 * systems);
  for (auto& a : cond_host) a = A(gen);
  for (auto& v : y0) v = S(gen);
  for (auto& e : edges) e = 0.1 * S(gen);
  const Buffer<double> cond(dev, cond_host), edge(dev, edges);
  const double alpha = 3e4;  // stiff: dt / dx^2 of a burst substep
  for (const std::string& isa : cpu_isas(dev))
    for (const auto ends : {kernels::EndRows::Dirichlet, kernels::EndRows::AveragedGradient}) {
      const bool grad = ends == kernels::EndRows::AveragedGradient;
      const index_t eo = grad ? 6 : 1;
      std::optional<CpuIsa> version(std::in_place, isa);  // read when the solver is made, not after
      kernels::BatchedTridiag solver(dev, mats, n, c.chunk, eo);
      version.reset();
      solver.assemble_diffusion(cond, alpha, ends);
      ASSERT_TRUE(solver.fits_on_chip());
      const double* lp = grad ? edge.data() : nullptr;
      const double* rp = grad ? edge.data() + systems : nullptr;
      Buffer<double> unblocked(dev, y0), work(dev, y0.size()), fused(dev, y0);
      for (int k = 0; k < steps; ++k) {
        kernels::increment_rhs(dev, systems, mats, n, cond.data(), alpha, ends, eo, lp, rp, unblocked.data(),
                               work.data());
        solver.solve(work.data(), systems);
        kernels::axpby(dev, systems * n, 1.0, unblocked.data(), 1.0, work.data(), unblocked.data());
      }
      solver.fused_steps(fused.data(), systems, steps, cond.data(), alpha, ends, lp, rp);
      const auto f = fused.to_host(), u = unblocked.to_host();
      EXPECT_LE(max_difference(f, u), dev == Device::CPU ? 0.0 : 1e-13) << "eo " << eo << isa_label(isa);
      EXPECT_GT(max_difference(f, y0), 0.1);  // the steps did something: the field moved
    }
  if (dev == Device::CUDA) {  // the paper's 80,001-point patches do not fit
    EXPECT_FALSE(kernels::BatchedTridiag(dev, 9, 80001, 64, 1).fits_on_chip());
  }
}

const auto kFusedCases =
    testing::Values(FusedCase{121, 0}, FusedCase{121, 16}, FusedCase{481, 64}, FusedCase{4801, 64});
std::string fused_name(const testing::TestParamInfo<FusedSteps::ParamType>& info) {
  const FusedCase& c = std::get<1>(info.param);
  return "n" + std::to_string(c.n) + "_chunk" + std::to_string(c.chunk);
}
INSTANTIATE_TEST_SUITE_P(Cpu, FusedSteps, testing::Combine(testing::Values(Device::CPU), kFusedCases), fused_name);
INSTANTIATE_TEST_SUITE_P(Cuda, FusedSteps, testing::Combine(testing::Values(Device::CUDA), kFusedCases), fused_name);

TEST(FusedSteps, AnUnknownCpuVersionIsNamedInTheError) {
  // PATCHLEARN_CPU_ISA caps the CPU kernels' vectors; a value that names no version stops the run
  // with a line that names the variable and the values it takes, rather than running some version.
  const CpuIsa version("avx3");
  try {
    kernels::BatchedTridiag solver(Device::CPU, 1, 11, 0);
    FAIL() << "no error";
  } catch (const RunError& e) {
    EXPECT_NE(std::string(e.what()).find("PATCHLEARN_CPU_ISA='avx3': expected baseline, avx2 or avx512"),
              std::string::npos)
        << e.what();
  }
}
