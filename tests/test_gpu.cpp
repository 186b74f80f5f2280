// CPU and CUDA backends on the same inputs, beside the tests written once for every device
// (tests/on_device.hpp, each device against an oracle): the chunked solve against plain Thomas,
// the element-wise kernels, the blocked 1D burst, the 1D gap-tooth and full
// resolution, and the 2D gap-tooth scheme on every kind of lattice. Labelled `gpu`; each test
// skips cleanly where no GPU is usable. Tolerances: the partitioned solve on CUDA
// (short chunks) and plain Thomas on the CPU differ only by roundoff, ~1e-15 relative per solve,
// amplified at most by the conditioning of the increment systems; the schemes' dU/dt divide tooth
// averages by the burst, so they are compared to 1e-9 relative.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "patchlearn/coeff/random_medium.hpp"
#include "patchlearn/core/error.hpp"
#include "patchlearn/kernels/batched.hpp"
#include "patchlearn/micro/initial_conditions.hpp"
#include "patchlearn/schemes/full_resolution.hpp"
#include "patchlearn/schemes/gap_tooth.hpp"
#include "patchlearn/schemes/integrators.hpp"
#include "patchlearn/schemes/lattice2d.hpp"
#include "patchlearn/schemes/patch_dynamics.hpp"
#include "on_device.hpp"

using namespace patchlearn;

namespace {

#define REQUIRE_GPU() SKIP_UNLESS_USABLE(Device::CUDA)

std::vector<double> randoms(std::size_t n, unsigned seed, double lo = -1, double hi = 1) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<double> U(lo, hi);
  std::vector<double> v(n);
  for (auto& x : v) x = U(g);
  return v;
}

// Three smooth macro states of 11 nodes, values in [0.5, 1.5].
std::vector<double> three_macro_states() {
  std::vector<double> U(3 * 11);
  for (int b = 0; b < 3; ++b)
    for (int i = 0; i < 11; ++i) U[b * 11 + i] = 1.0 + std::sin(0.9 * i + b) * (0.3 + 0.1 * b);
  return U;
}

void expect_close(const std::vector<double>& a, const std::vector<double>& b, double rel, const char* what) {
  ASSERT_EQ(a.size(), b.size());
  const double scale = max_magnitude(b), worst = max_difference(a, b);  // NaN-aware (on_device.hpp)
  EXPECT_LE(worst, rel * scale) << what << ": max |cuda - cpu| = " << worst << " (scale " << scale << ")";
}

// The same macro states through patch dynamics on the CPU and on CUDA: the rates (differences of
// tooth averages over the burst; nvcc may fuse multiply-adds) to 1e-9, the burst fields to round-off.
void expect_same_patch_dynamics(PatchDynamics1D& cpu, PatchDynamics1D& gpu, const std::vector<double>& U,
                                const std::string& what) {
  const auto batch = static_cast<index_t>(U.size()) / cpu.nodes();
  std::vector<double> rc(U.size());
  Buffer<double> ug(Device::CUDA, U), rg(Device::CUDA, U.size());
  cpu.rhs(U.data(), rc.data(), batch);
  gpu.rhs(ug.data(), rg.data(), batch);
  expect_close(rg.to_host(), rc, 1e-9, (what + " CUDA vs CPU dU/dt").c_str());
  for (index_t b = 0; b < batch; ++b)
    expect_close(gpu.patch_field(b), cpu.patch_field(b), 1e-13, (what + " burst fields").c_str());
}

/// The paper's tables with g(u) = 1 + u^2/2 on every bond and rho (u - u^3) on every site, rho a
/// 3 x 3 table of mean 1 (configs/nonlinear2d.toml).
KappaTables u_dependent_paper_tables() {
  KappaTables t = KappaTables::paper();
  t.u_range = {-1.5, 1.5};
  t.conductance_factor.emplace("lattice.conductance_factor", "1 + 0.5*u^2", std::vector<std::string>{"u"});
  t.reaction.emplace("lattice.reaction", "u - u^3", std::vector<std::string>{"u"});
  t.reaction_rate = {0.5, 1.5, 1.0, 2.0, 0.25, 1.0, 1.0, 0.75, 1.0};
  return t;
}

/// Two initial conditions of amplitudes within +-0.3 (modes up to 3): inside that u range.
std::vector<InitialCondition2D> small_initial_conditions() {
  InitialConditionParams2D p;
  p.trajectories = 2;
  p.k_hi = 3;
  p.amplitude_lo = -0.3;
  p.amplitude_hi = 0.3;
  return draw_initial_conditions_2d(p);
}

}  // namespace

TEST(Gpu, TridiagonalSolve) {
  REQUIRE_GPU();
  const index_t mats = 3, n = 5001, systems = 12;
  const auto cond = randoms(mats * (n - 1), 1, 0.1, 2.1);
  const auto b = randoms(systems * n, 2);
  // Chunks of 64 give a reduced system of 79 rows (one warp scans it); chunks of 8, 626 rows
  // (five warps, four rows a thread): the block scan across warps.
  for (index_t chunk : {index_t{64}, index_t{8}})
    for (auto ends : {kernels::EndRows::Dirichlet, kernels::EndRows::AveragedGradient}) {
      const index_t eo = ends == kernels::EndRows::Dirichlet ? 1 : (chunk == 8 ? 7 : 100);
      Buffer<double> cc(Device::CPU, cond), cg(Device::CUDA, cond);
      kernels::BatchedTridiag cpu(Device::CPU, mats, n, 0, eo), gpu(Device::CUDA, mats, n, chunk, eo);
      cpu.assemble_diffusion(cc, 1e7, ends);
      gpu.assemble_diffusion(cg, 1e7, ends);
      expect_close(gpu.diag(), cpu.diag(), 0.0, "assembled diagonal");
      std::vector<double> x = b;
      Buffer<double> xg(Device::CUDA, b);
      cpu.solve(x.data(), systems);
      gpu.solve(xg.data(), systems);
      expect_close(xg.to_host(), x, 1e-10, "tridiagonal solve");
    }
}

TEST(Gpu, DeviceIndex) {
  REQUIRE_GPU();
  EXPECT_EQ(resolve_device("cuda:0"), Device::CUDA);
  EXPECT_EQ(current_gpu(), 0);
  try {
    resolve_device("cuda:999");
    ADD_FAILURE() << "a GPU past the visible ones resolved";
  } catch (const RunError& e) {
    EXPECT_NE(std::string(e.what()).find("visible (cuda:0"), std::string::npos) << e.what();
  }
  EXPECT_EQ(current_gpu(), 0);  // the failed request left the current GPU alone
}

TEST(Gpu, ElementwiseKernels) {
  REQUIRE_GPU();
  const index_t systems = 7, n = 3001, mats = 2;
  const auto cond = randoms(mats * (n - 1), 3, 0.1, 2.1);
  const auto x = randoms(systems * n, 4);
  const auto left = randoms(systems, 5), right = randoms(systems, 6);
  Buffer<double> cg(Device::CUDA, cond), xg(Device::CUDA, x), lg(Device::CUDA, left), rg(Device::CUDA, right),
      og(Device::CUDA, x.size());
  std::vector<double> o(x.size());
  kernels::increment_rhs(Device::CPU, systems, mats, n, cond.data(), 3.0, kernels::EndRows::AveragedGradient, 50,
                         left.data(), right.data(), x.data(), o.data());
  kernels::increment_rhs(Device::CUDA, systems, mats, n, cg.data(), 3.0, kernels::EndRows::AveragedGradient, 50,
                         lg.data(), rg.data(), xg.data(), og.data());
  expect_close(og.to_host(), o, 1e-15, "increment_rhs");

  const auto d1 = randoms(x.size(), 8), d2 = randoms(x.size(), 9);
  Buffer<double> d1g(Device::CUDA, d1), d2g(Device::CUDA, d2);
  kernels::trbdf2_error_estimate(Device::CPU, x.data(), d1.data(), d2.data(), 1e-3, o.data(), x.size());
  kernels::trbdf2_error_estimate(Device::CUDA, xg.data(), d1g.data(), d2g.data(), 1e-3, og.data(), x.size());
  expect_close(og.to_host(), o, 1e-15, "TR-BDF2 error estimate");
  EXPECT_EQ(kernels::max_abs(Device::CPU, o.data(), o.size()), kernels::max_abs(Device::CUDA, og.data(), o.size()));
}

#ifdef PATCHLEARN_CUDA_EMU
TEST(Gpu, TheEmulatorRefusesHostMemoryInALaunch) {
  // The emulator checks every pointer a launch carries, a kernel's plain pointer arguments and the
  // pointers an element-wise functor lists (kernels/elementwise.hpp): a host array handed to a CUDA
  // kernel stops the process with one line naming the launch.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  std::vector<double> host(8, 1.0);
  Buffer<double> dev(Device::CUDA, 8);
  EXPECT_DEATH(kernels::axpby(Device::CUDA, 8, 1.0, dev.data(), 1.0, host.data(), dev.data()),
               "launch of k_for_each_index<F>: pointer 1 of argument 1 .* is not in device memory");
  EXPECT_DEATH(kernels::lift(Device::CUDA, 1, 8, 4, 0.1, 3, host.data(), dev.data()),
               "launch of k_lift: pointer argument 5 .* is not in device memory");
}
#endif

TEST(Gpu, PatchDynamicsBlockedBurst) {
  // Patches of 241 points fit in shared memory, so the CUDA burst runs temporally blocked: it must
  // agree with the CPU. (Blocked against unblocked on each device:
  // SchemesOnDevice.PatchDynamicsTemporalBlockingGivesTheSameEstimates.)
  REQUIRE_GPU();
  const FineModel1D model(CoefficientField::sinusoid(1.1, 1.0), 1e-3, 5e-5);
  const PatchLayout1D layout(1.0, 11, 5e-5, 2e-3, 1.2e-2);
  const std::vector<double> U = three_macro_states();
  PatchDynamicsParams p;
  p.burst = 5e-6;
  p.buffer_ends = kernels::EndRows::AveragedGradient;
  p.heal_substeps = 2;
  PatchDynamics1D cpu(model, layout, p, Device::CPU, 3), gpu(model, layout, p, Device::CUDA, 3);
  expect_same_patch_dynamics(cpu, gpu, U, "blocked");
}

TEST(Gpu, PatchDynamicsOnAURandomMediumLiftedOntoItsSlowManifold) {
  // Lognormal cells (sigma 1) conducting a_k g(u), g = 1 + 0.3u, with a drift and a reaction: every
  // patch is lifted by kernels::lift_slow_row (a march along the row with fixed-point and secant
  // iterations) and stepped by the nonlinear burst, on both backends. The march is the same
  // arithmetic on each (FMA aside) and stops at 1e-14 of the tooth average, so the rates agree to
  // the 1e-9 of expect_same_patch_dynamics and the fields to round-off.
  REQUIRE_GPU();
  RandomMediumSpec law;
  law.distribution = RandomMediumSpec::Distribution::lognormal;
  law.sigma = 1.0;
  law.seed = 5;
  const URange range{0.0, 2.0};
  const auto field =
      random_medium(law, 1.0, 1e-3).with_factor("1 + 0.3*u", range).with_terms("-0.5*u", "0.5*u*(1 - u)", range);
  const FineModel1D model(field, 1e-3, 5e-5);
  const PatchLayout1D layout(1.0, 11, 5e-5, 4e-3, 2e-2);
  PatchDynamicsParams p;
  p.burst = 5e-6;
  p.buffer_ends = kernels::EndRows::Dirichlet;
  p.heal_substeps = 0;
  PatchDynamics1D cpu(model, layout, p, Device::CPU, 3), gpu(model, layout, p, Device::CUDA, 3);
  expect_same_patch_dynamics(cpu, gpu, three_macro_states(), "slow lift");
}

TEST(Gpu, GapToothAndFullResolution) {
  // Both backends use the same partition (chunks of 64), so only FMA on the GPU separates them.
  // U: ~1e-16 per step over some hundred adaptive steps, compared to 1e-10. The full-resolution
  // dU/dt is the tooth average of A u (and of A^2 u in its Hermite interpolant): A has norm
  // 4 max(a)/h^2 ~ 8e10 here, so a difference delta u in the state becomes up to 4 max(a)/h^2 delta u
  // in the rate: round-off dominated (chunking against plain Thomas alone gives ~2e-3 relative).
  // Its tolerance is that bound with delta u at the U tolerance.
  REQUIRE_GPU();
  const FineModel1D model(CoefficientField::sinusoid(1.1, 1.0), 1e-3, 1e-5);
  const PatchLayout1D teeth(1.0, 11, 1e-5, 2e-3, 2e-3);
  InitialConditionParams icp;
  icp.trajectories = 2;
  const auto ics = draw_initial_conditions(icp);
  std::vector<std::function<double(double)>> f(ics.begin(), ics.end());
  const std::vector<double> times{0.0, 0.002, 0.004};
  GapToothParams gp;
  gp.chunk_len = 64;
  GapTooth1D gc(model, teeth, gp, Device::CPU, 2), gg(model, teeth, gp, Device::CUDA, 2);
  const auto a = gc.run(f, times), b = gg.run(f, times);
  expect_close(b.host_U(), a.host_U(), 1e-12, "gap-tooth U");
  expect_close(b.host_dUdt(), a.host_dUdt(), 1e-8, "gap-tooth dU/dt");

  FullResolutionParams fp;
  fp.chunk_len = 64;
  FullResolution1D fc(model, teeth, fp, Device::CPU), fg(model, teeth, fp, Device::CUDA);
  std::vector<double> Uc(3 * 11), Rc(Uc.size()), Ug(Uc.size()), Rg(Uc.size());
  fc.run(f[0], times, Uc.data(), Rc.data());
  fg.run(f[0], times, Ug.data(), Rg.data());
  EXPECT_EQ(fc.accepted_steps(), fg.accepted_steps());
  const double u_tol = 1e-10, a_max = 2.1, h = 1e-5;
  double u_scale = 0, rate_scale = 0;
  for (double u : Uc) u_scale = std::max(u_scale, std::abs(u));
  for (double r : Rc) rate_scale = std::max(rate_scale, std::abs(r));
  expect_close(Ug, Uc, u_tol, "full resolution U");
  expect_close(Rg, Rc, 4 * a_max / (h * h) * u_tol * u_scale / rate_scale, "full resolution dU/dt");
}

TEST(Gpu, Lattice2DGapToothOnBothBackends) {
  // The whole 2D gap-tooth scheme on the CPU and on CUDA, on each kind of lattice: one bond table
  // for all teeth, one per tooth (a modulated lattice, linear and with g(u) and a reaction), teeth
  // closed as their own cells (a random lattice with gaps), and g(u) with a reaction on the
  // paper's tables. Each kernel alone is checked against the host's per-point function on every
  // device (LatticeOnDevice.*); here they run together: the coupling, the closure (CUDA precomputes
  // the batch's ghosts, the CPU each trajectory's pass its own) and the stepper, the exponential on
  // the paper's symmetric lattice, rkc otherwise (CUDA stage by stage over the batch, the CPU each
  // trajectory through in one call). The same arithmetic in another order: rates ~1e-15 of their
  // scale (1e-13 leaves room for the edge sums' P terms), states after three intervals of up to a
  // few hundred stages ~1e-12, the rates of the means 1e-10.
  REQUIRE_GPU();
  struct Case {
    std::string what;
    PatchLayout2D layout;
    Lattice2D lattice;
    FineStepper stepper;
    EffectiveTensor bound;  // about the largest D: it only sets rkc's steps, the same on both
  };
  const auto paper = make_layout_2d(2 * M_PI, 16, 5, 0.1, Coupling::Spectral, 0),
             modulated = make_layout_2d(2 * M_PI, 8, 5, 0.25, Coupling::Spectral, 0),
             gaps = make_layout_2d(2 * M_PI, 8, 7, 0.5, Coupling::Spectral, 0),
             small = make_layout_2d(2 * M_PI, 8, 5, 0.1, Coupling::Spectral, 0);
  const MediumExpression A("lattice.modulation", "1 + 0.3*sin(x) + 0.2*cos(y)", {"x", "y"});
  RandomMediumSpec law;
  law.sigma = 0.5;
  law.seed = 9;
  const auto tilted = [&](const KappaTables& period) {
    return Lattice2D(period.modulated(static_cast<int>(modulated.lattice_points()), modulated.h, modulated.first, A),
                     BondPlacement::Aligned, modulated.h, modulated.first);
  };
  const KappaTables u_dependent = u_dependent_paper_tables();
  const std::vector<Case> cases = {
      {"the paper's tables",
       paper,
       Lattice2D(KappaTables::paper(), BondPlacement::Reference, paper.h, paper.first),
       FineStepper::Exponential,
       {}},
      {"own bonds", modulated, tilted(KappaTables::paper()), FineStepper::RKC, {2.0, 0.0, 2.0}},
      {"own bonds, u-dependent", modulated, tilted(u_dependent), FineStepper::RKC, {2.0, 0.0, 2.0}},
      {"closed teeth",
       gaps,
       Lattice2D(KappaTables::random_lattice(static_cast<int>(gaps.lattice_points()), law), BondPlacement::Aligned,
                 gaps.h, gaps.first),
       FineStepper::RKC,
       {1.5, 0.0, 1.5}},
      {"u-dependent", small, Lattice2D(u_dependent, BondPlacement::Reference, small.h, small.first), FineStepper::RKC,
       effective_tensor(Lattice2D(u_dependent.linear_part(), BondPlacement::Reference, small.h, small.first))}};
  const auto ics = small_initial_conditions();
  for (const auto& c : cases) {
    GapTooth2D gc(Device::CPU, c.lattice, c.layout, 2), gg(Device::CUDA, c.lattice, c.layout, 2);
    EXPECT_EQ(gc.closure().active(), c.what == "closed teeth");
    const auto u = randoms(static_cast<std::size_t>(2 * gc.state_size()), 15);
    Buffer<double> uc(Device::CPU, u), ug(Device::CUDA, u), rc(Device::CPU, u.size()), rg(Device::CUDA, u.size());
    gc.rates(uc.data(), rc.data());
    gg.rates(ug.data(), rg.data());
    expect_close(rg.to_host(), rc.to_host(), 1e-13, (c.what + ": gap-tooth rates").c_str());
    const bool rkc = c.stepper == FineStepper::RKC;
    Propagator2D pc(gc, 0.01, c.stepper, 0.0, rkc ? 1e-4 : exact_exponential_tolerance(),
                    rkc ? gc.slow_rate(c.bound) : 0.0),
        pg(gg, 0.01, c.stepper, 0.0, rkc ? 1e-4 : exact_exponential_tolerance(), rkc ? gg.slow_rate(c.bound) : 0.0);
    EXPECT_EQ(pc.evaluations(), pg.evaluations()) << c.what;
    const auto dc = simulate_lattice_2d(gc, pc, 0.01, 3, ics), dg = simulate_lattice_2d(gg, pg, 0.01, 3, ics);
    EXPECT_EQ(dg.device(), Device::CUDA);
    expect_close(dg.host_U(), dc.host_U(), 1e-12, (c.what + ": patch means").c_str());
    expect_close(dg.host_dUdt(), dc.host_dUdt(), 1e-10, (c.what + ": rates of the means").c_str());
  }
}
