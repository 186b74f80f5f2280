// Kernel microbenchmarks. Each benchmark reports
//   cells/s   fine-cell updates (or solves) per second,
//   bytes/s   effective memory traffic: the unique bytes a kernel must move per cell (stated per
//             kernel below) times cells/s,
//   copy_B/s  the copy bandwidth (read + write) of the same device, measured right after the
//             benchmark (best of 10 copies of 57.6 MB): the ceiling it is judged against,
//   copy_%    bytes/s as a percentage of copy_B/s: the mean over the timing loop against the
//             best copy, the conservative figure,
//   best_copy_%  the fastest iteration's bytes/s as a percentage of copy_B/s: best against best,
//             the like-for-like figure on a machine whose speed drifts.
// BM_Copy is the copy itself over the whole timing loop. Pass --benchmark_filter=Cuda / =Cpu to
// choose a backend.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "patchlearn/core/timer.hpp"
#ifdef PATCHLEARN_HAVE_CUDA
#include "patchlearn/core/cuda_runtime.hpp"
#endif
#include "patchlearn/homog/effective.hpp"
#include "patchlearn/homog/homogenized1d.hpp"
#include "patchlearn/kernels/batched.hpp"
#include "patchlearn/micro/diffusion1d.hpp"
#include "patchlearn/patch/layout1d.hpp"
#include "patchlearn/schemes/lattice2d.hpp"
#include "patchlearn/schemes/patch_dynamics.hpp"
#ifdef PATCHLEARN_BENCH_CUSPARSE
#include <cusparse.h>

#include "patchlearn/kernels/cuda_ops.hpp"
#endif
#ifdef PATCHLEARN_BENCH_THRUST
#include <thrust/system/omp/execution_policy.h>
#include <thrust/transform_reduce.h>

#include "patchlearn/kernels/diffusion.hpp"
#endif

using namespace patchlearn;

namespace {

// The paper's batch: 10 trajectories x 9 patches x 80,001 points.
constexpr index_t kMats = 9, kN = 80001, kSystems = 90;

void sync(Device d) {
#ifdef PATCHLEARN_HAVE_CUDA
  if (d == Device::CUDA) patchlearn::cuda::synchronize();
#endif
  (void)d;
}

bool usable(Device d, benchmark::State& st) {
  if (d == Device::CUDA && !cuda_available()) {
    st.SkipWithError("no CUDA GPU");
    return false;
  }
  return true;
}

std::vector<double> field(index_t n, double base) {
  std::vector<double> v(n);
  for (index_t i = 0; i < n; ++i) v[i] = base + 0.5 * std::sin(0.001 * static_cast<double>(i));
  return v;
}

// One copy of n doubles: read 8 + write 8 bytes each (on the CPU split over the OpenMP threads,
// as the kernels use every thread).
void copy_once(Device d, const double* a, double* b, index_t n) {
  if (d == Device::CPU) {
#pragma omp parallel for
    for (index_t c = 0; c < n; c += 1 << 16)
      std::memcpy(b + c, a + c, std::min<index_t>(1 << 16, n - c) * sizeof(double));
  } else {
    detail::copy_bytes(d, b, d, a, n * sizeof(double));
    sync(d);
  }
}

// The copy bandwidth of device d right now (bytes/s): the best of 10 copies of the paper batch's
// 57.6 MB. Measured afresh beside every benchmark, since the bandwidth of a shared machine drifts
// between benchmarks; the best rather than the mean, so that copy_% is never flattered.
double copy_bandwidth(Device d) {
  const index_t n = kSystems * kN;
  Buffer<double> a(d, field(n, 1.0)), b(d, n);
  copy_once(d, a.data(), b.data(), n);  // warm (first touch)
  double best = 1e300;
  for (int r = 0; r < 10; ++r) {
    Stopwatch clock;
    copy_once(d, a.data(), b.data(), n);
    best = std::min(best, clock.seconds());
  }
  return 16.0 * static_cast<double>(n) / best;
}

/// The wall time of a benchmark's whole timing loop and of its fastest iteration.
struct LoopTimes {
  double total, best;
};

/// Runs body() once per benchmark iteration, each waited for on device d (an asynchronous launch
/// would otherwise make an iteration look faster than the copy).
template <class Body>
LoopTimes timed(benchmark::State& st, Device d, const Body& body) {
  Stopwatch total;
  double best = 1e300;
  for (auto _ : st) {
    Stopwatch lap;
    body();
    sync(d);
    best = std::min(best, lap.seconds());
  }
  return {total.seconds(), best};
}

/// The counters of one benchmark (see the top of this file), with the copy bandwidth measured just
/// after its timing loop.
void report(benchmark::State& st, Device d, double cells_per_iter, double bytes_per_cell, LoopTimes t) {
  st.counters["cells/s"] = benchmark::Counter(cells_per_iter, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["bytes/s"] =
      benchmark::Counter(cells_per_iter * bytes_per_cell, benchmark::Counter::kIsIterationInvariantRate);
  const double bytes = cells_per_iter * bytes_per_cell, copy = copy_bandwidth(d);
  st.counters["copy_%"] = 100.0 * bytes * static_cast<double>(st.iterations()) / t.total / copy;
  st.counters["best_copy_%"] = 100.0 * bytes / t.best / copy;
  st.counters["copy_B/s"] = copy;
}

// Copy: the ceiling (its copy_% is its mean against the best copy).
void BM_Copy(benchmark::State& st, Device d) {
  if (!usable(d, st)) return;
  const index_t n = kSystems * kN;
  Buffer<double> a(d, field(n, 1.0)), b(d, n);
  const LoopTimes t = timed(st, d, [&] { copy_once(d, a.data(), b.data(), n); });
  report(st, d, static_cast<double>(n), 16.0, t);
}

// Increment right-hand side (the explicit stencil): read u, read a, write r = 24 B/cell.
void BM_Stencil(benchmark::State& st, Device d) {
  if (!usable(d, st)) return;
  Buffer<double> cond(d, field(kMats * (kN - 1), 1.1)), x(d, field(kSystems * kN, 2.0)), out(d, kSystems * kN);
  const LoopTimes t = timed(st, d, [&] {
    kernels::increment_rhs(d, kSystems, kMats, kN, cond.data(), 1e7, kernels::EndRows::Dirichlet, 1, nullptr, nullptr,
                           x.data(), out.data());
  });
  report(st, d, static_cast<double>(kSystems * kN), 24.0, t);
}

// Batched tridiagonal solve with a prefactored matrix: read and write x (16 B) plus the factors and
// spikes l, c', 1/den, v, w (40 B) = 56 B/cell.
void BM_Tridiag(benchmark::State& st, Device d) {
  if (!usable(d, st)) return;
  Buffer<double> cond(d, field(kMats * (kN - 1), 1.1)), x(d, field(kSystems * kN, 2.0));
  kernels::BatchedTridiag solver(d, kMats, kN, default_chunk_len(d, kSystems, kN));
  solver.assemble_diffusion(cond, 1e7, kernels::EndRows::Dirichlet);
  const LoopTimes t = timed(st, d, [&] { solver.solve(x.data(), kSystems); });
  report(st, d, static_cast<double>(kSystems * kN), 56.0, t);
}

#ifdef PATCHLEARN_BENCH_CUSPARSE
// The library baseline of BM_Tridiag on the GPU: cuSPARSE's gtsv2StridedBatch (no pivoting) on the
// same 90 systems, each with its own copy of its matrix as the library takes them. It factors as it
// solves: it reads the three diagonals and x and writes x, 40 B/cell against our prefactored 56.
void BM_TridiagCusparse(benchmark::State& st) {
  const Device d = Device::CUDA;
  if (!usable(d, st)) return;
  const index_t cells = kSystems * kN;
  Buffer<double> cond(d, field(kSystems * (kN - 1), 1.1)), l(d, cells), dg(d, cells), u(d, cells),
      x(d, field(cells, 2.0));
  kernels::cuda::assemble_diffusion(kSystems, kN, cond.data(), 1e7, kernels::EndRows::Dirichlet, l.data(), dg.data(),
                                    u.data());
  cusparseHandle_t h = nullptr;
  if (cusparseCreate(&h) != CUSPARSE_STATUS_SUCCESS) return st.SkipWithError("cusparseCreate failed");
  const int m = static_cast<int>(kN), batch = static_cast<int>(kSystems);
  std::size_t bytes = 0;
  if (cusparseDgtsv2StridedBatch_bufferSizeExt(h, m, l.data(), dg.data(), u.data(), x.data(), batch, m, &bytes) !=
      CUSPARSE_STATUS_SUCCESS) {
    cusparseDestroy(h);
    return st.SkipWithError("cusparseDgtsv2StridedBatch_bufferSizeExt failed");
  }
  Buffer<double> work(d, bytes / sizeof(double) + 1);
  cusparseStatus_t status = CUSPARSE_STATUS_SUCCESS;
  const LoopTimes t = timed(st, d, [&] {
    if (status == CUSPARSE_STATUS_SUCCESS)
      status = cusparseDgtsv2StridedBatch(h, m, l.data(), dg.data(), u.data(), x.data(), batch, m, work.data());
  });
  cusparseDestroy(h);
  if (status != CUSPARSE_STATUS_SUCCESS) return st.SkipWithError(cusparseGetErrorString(status));
  report(st, d, static_cast<double>(cells), 40.0, t);
}
BENCHMARK(BM_TridiagCusparse)->UseRealTime()->Unit(benchmark::kMillisecond);
#endif

// Lift (write 8 B/cell) followed by restriction of the tooth (read 8 B per tooth cell).
void BM_LiftRestrict(benchmark::State& st, Device d) {
  if (!usable(d, st)) return;
  const PatchLayout1D L(1.0, 11, 1e-7, 1e-4, 8e-3);
  Buffer<double> coef(d, field(kSystems * 3, 1.0)), y(d, kSystems * kN), r(d, kSystems);
  const LoopTimes t = timed(st, d, [&] {
    kernels::lift(d, kSystems, kN, L.centre, L.dx, 3, coef.data(), y.data());
    kernels::restrict_teeth(d, kSystems, kN, 1, L.tooth_start, 0, L.tooth_points, y.data(), r.data());
  });
  report(st, d, static_cast<double>(kSystems * (kN + L.tooth_points)) / 1.0, 8.0, t);
}

// One patch-dynamics burst of the paper case for one trajectory (9 patches x 80,001 points,
// 10 backward-Euler substeps): the issue's <= 0.1 s target on one core.
void BM_PaperBurst(benchmark::State& st, Device d) {
  if (!usable(d, st)) return;
  const FineModel1D model(CoefficientField::sinusoid(1.1, 1.0), 1e-5, 1e-7);
  const PatchLayout1D layout(1.0, 11, 1e-7, 1e-4, 8e-3);
  const index_t batch = st.range(0);
  PatchDynamics1D op(model, layout, PatchDynamicsParams{}, d, batch);
  std::vector<double> u0(11 * batch);
  for (index_t i = 0; i < static_cast<index_t>(u0.size()); ++i) u0[i] = 1.0 + 0.1 * static_cast<double>(i % 11);
  Buffer<double> U(d, u0), R(d, u0.size());  // the operator's states live on its device
  const LoopTimes t = timed(st, d, [&] { op.rhs(U.data(), R.data(), batch); });
  // per substep: stencil 24 + solve 56 + add 24 B/cell
  report(st, d, static_cast<double>(batch * 9 * kN * 10), 104.0, t);
  st.counters["bursts/s"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
}

// The bench1d burst on many patches: 20,000 systems of 481 points (19 patch matrices; 77 MB,
// more than the CPU's last-level cache and the H200's L2), 10 backward-Euler steps. Arg 0: the
// unblocked steps (increment_rhs, solve, axpby: three passes through memory per step); arg 1: the
// temporally blocked fused_steps (one read and one write per burst). Both count the unblocked
// steps' 104 B per cell and step, so a blocked copy_% above 100 is the gain beyond the DRAM roofline.
void BM_SmallPatchBurst(benchmark::State& st, Device d) {
  if (!usable(d, st)) return;
  constexpr index_t mats = 19, n = 481, systems = 20000;
  constexpr int steps = 10;
  const double alpha = 2e4;  // dt / dx^2 of a bench1d substep (5 eps^2 / 10 over (eps / 20)^2 = 200, x 100)
  Buffer<double> cond(d, field(mats * (n - 1), 1.1)), y(d, field(systems * n, 2.0)), work(d, systems * n);
  kernels::BatchedTridiag solver(d, mats, n, default_chunk_len(d, systems, n));
  solver.assemble_diffusion(cond, alpha, kernels::EndRows::Dirichlet);
  const bool blocked = st.range(0) == 1;
  if (blocked && !solver.fits_on_chip()) {
    st.SkipWithError("a 481-point system does not fit on chip");
    return;
  }
  const LoopTimes t = timed(st, d, [&] {
    if (blocked) {
      solver.fused_steps(y.data(), systems, steps, cond.data(), alpha, kernels::EndRows::Dirichlet, nullptr, nullptr);
    } else {
      for (int k = 0; k < steps; ++k) {
        kernels::increment_rhs(d, systems, mats, n, cond.data(), alpha, kernels::EndRows::Dirichlet, 1, nullptr,
                               nullptr, y.data(), work.data());
        solver.solve(work.data(), systems);
        kernels::axpby(d, systems * n, 1.0, y.data(), 1.0, work.data(), y.data());
      }
    }
  });
  report(st, d, static_cast<double>(systems * n * steps), 104.0, t);
}

// The nonlinear burst (kernels/nonlinear.hpp: theta_steps) on BM_SmallPatchBurst's systems: the
// same 10 backward-Euler steps of 20000 patches of 481 points, with a(y, u) a Chebyshev series of
// `arg` terms per bond (3: quadratic in u), so that its cost per point-step compares directly with
// the linear burst's (issue 15's target: at most 2x the linear burst on the CPU). Second arg: 0
// factors the Jacobian at every step, 1 freezes it over the burst (the W-method). Third arg: 1
// adds a drift c(y, u) on the bonds and a reaction r(y, u) on the points, series of as many terms.
void BM_NonlinearBurst(benchmark::State& st, Device d) {
  if (!usable(d, st)) return;
  constexpr index_t mats = 19, n = 481, systems = 20000;
  constexpr int steps = 10;
  const int terms = static_cast<int>(st.range(0));
  const bool drift_reaction = st.range(2) == 1;
  const auto series = [&](index_t elements, double first) {
    std::vector<double> s(static_cast<std::size_t>(elements * terms), 0.0);
    for (index_t k = 0; k < elements; ++k) {
      s[k * terms] = first;
      for (int i = 1; i < terms; ++i) s[k * terms + i] = 0.3 / i;
    }
    return s;
  };
  Buffer<double> a(d, series(mats * (n - 1), 1.1)), c, r, y(d, field(systems * n, 2.0));
  kernels::MediumTables m;
  m.a = a.data();
  m.na = terms;
  m.a_stride = terms;
  if (drift_reaction) {
    c = Buffer<double>(d, series(mats * (n - 1), 0.5));
    r = Buffer<double>(d, series(mats * n, -0.2));
    m.c = c.data();
    m.r = r.data();
    m.nc = m.nr = terms;
    m.c_stride = m.r_stride = terms;
  }
  m.mats = mats;
  m.u_mid = 2.0;
  m.u_scale = 1.0;
  Buffer<double> scratch(d, static_cast<std::size_t>(kernels::theta_steps_scratch(d, systems, n, m)));
  const double dx = 1.0 / 481, dt = 2e4 * dx * dx;  // BM_SmallPatchBurst's dt / dx^2
  const auto jac = st.range(1) == 1 ? kernels::StepJacobian::Frozen : kernels::StepJacobian::Exact;
  const LoopTimes t = timed(st, d, [&] {
    kernels::theta_steps(d, systems, n, m, steps, dt, 1.0, jac, 1.0 / dx, kernels::EndRows::Dirichlet, 1, nullptr,
                         nullptr, y.data(), scratch.data());
  });
  report(st, d, static_cast<double>(systems * n * steps), 104.0, t);
}

}  // namespace

// Rates of a 2D scheme over its whole batch: read u, write du/dt (16 B/cell; the bond tables and
// coupling kernels are shared by the batch and stay in cache, the edge sums re-read neighbours
// that are in cache).
void rates_2d(benchmark::State& st, Device d, LatticeScheme2D& s) {
  const index_t n = s.batch() * s.state_size();
  Buffer<double> u(d, field(n, 1.0)), du(d, n);
  const LoopTimes t = timed(st, d, [&] { s.rates(u.data(), du.data()); });
  report(st, d, static_cast<double>(n), 16.0, t);
}

const PatchLayout2D& paper_layout_2d() {
  static const auto g = make_layout_2d(2 * M_PI, 16, 5, 0.1, Coupling::Spectral, 0);
  return g;
}

// 2D lattice step (paper eq. 25) on the paper's periodic 480 x 480 lattice, 16 trajectories.
void BM_Lattice2D(benchmark::State& st, Device d) {
  if (!usable(d, st)) return;
  const auto& g = paper_layout_2d();
  FullLattice2D full(d, Lattice2D(KappaTables::paper(), BondPlacement::Reference, g.h, g.first), g, 16);
  rates_2d(st, d, full);
}

// Gap-tooth rates of the paper2d batch (100 trajectories x 256 patches x 9 evolving points), the
// EdgyInt coupling included. The coupling is compute-bound: each of the 4 P m edge lines of a
// trajectory is a sum over the P patches of its row for each of the P patches, 8 P^3 m flops per
// trajectory (1.3 multiply-adds per byte of state for the paper's P = 16, m = 3), plus 12 flops per
// point for the rates; flop/s reports that rate.
void BM_GapTooth2D(benchmark::State& st, Device d) {
  if (!usable(d, st)) return;
  const auto& g = paper_layout_2d();
  constexpr index_t batch = 100;
  GapTooth2D gt(d, Lattice2D(KappaTables::paper(), BondPlacement::Reference, g.h, g.first), g, batch);
  rates_2d(st, d, gt);
  const double P = g.P, m = g.m;
  st.counters["flop/s"] = benchmark::Counter(batch * (8 * P * P * P * m + 12 * P * P * m * m),
                                             benchmark::Counter::kIsIterationInvariantRate);
}

// The spectral coupling's edge values as cuBLAS computes them (kernels::coupling_edges, which
// GapTooth2D uses where kernels::coupling_edges_pay), against our kernel that sums them where each
// border point needs them (BM_GapTooth2D's kernel). Arg 0: P (P x P patches of the paper's m = 3
// points, 100 trajectories); arg 1: 0 ours, 1 cuBLAS's 4 m strided-batched GEMMs over the batch,
// then the rates from those planes. Both do the same 8 P^3 m flops per trajectory; the library's
// product runs on the tensor cores, ours as FMAs fed from cache, and pays a launch per GEMM. The
// coupling matrices here are random (the time does not depend on them). flop/s as in
// BM_GapTooth2D; the state's 16 B per point as the bytes.
void BM_GapToothCoupling(benchmark::State& st) {
  const Device d = Device::CUDA;
  if (!usable(d, st)) return;
  const int P = static_cast<int>(st.range(0));
  const bool library = st.range(1) == 1;
  PatchLayout2D g;
  try {
    g = make_layout_2d(2 * M_PI, P, 5, 0.1, Coupling::Spectral, 0);
  } catch (const std::exception& e) {
    return st.SkipWithError(e.what());
  }
  constexpr index_t batch = 100;
  GapTooth2D gt(d, Lattice2D(KappaTables::paper(), BondPlacement::Reference, g.h, g.first), g, batch);
  const int m = g.m;
  const index_t PP = static_cast<index_t>(P) * P, n = batch * PP * m * m;
  Buffer<double> u(d, field(n, 1.0)), du(d, n), wp(d, field(PP, 0.1)), wm(d, field(PP, 0.2)),
      edges(d, static_cast<std::size_t>(batch * 4 * m * PP));
  const double inv_h2 = 1.0 / (g.h * g.h);
  const LoopTimes t = timed(st, d, [&] {
    if (library) kernels::coupling_edges(d, batch, P, m, wp.data(), wm.data(), u.data(), edges.data());
    kernels::gap_tooth_rates(d, batch, P, m, gt.bonds(), wp.data(), wm.data(), inv_h2, u.data(), du.data(), {},
                             library ? edges.data() : nullptr);
  });
  report(st, d, static_cast<double>(n), 16.0, t);
  st.counters["flop/s"] = benchmark::Counter(static_cast<double>(batch) * (8.0 * PP * P * m + 12.0 * PP * m * m),
                                             benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_GapToothCoupling)->ArgsProduct({{16, 32, 64, 128}, {0, 1}})->UseRealTime()->Unit(benchmark::kMillisecond);

// The effective-PDE truth of a nonlinear 1D medium (homog/homogenized1d.hpp: effective_truth on
// micro/lattice_ivp.hpp's extrapolated linearly implicit Euler): one trajectory on 201 points
// (homogenized.dx = 5e-3), t from 0 to 1 with 501 samples, a(y, u), c(y) and r(y, u) all present,
// at rtol = 10^-arg. The counter max_dU is the largest |U| difference from the same truth at rtol
// 1e-13. One thread (the truth's trajectories are its parallel loop).
void BM_EffectiveTruth(benchmark::State& st) {
  const URange range{0.0, 1.3};
  const auto field = CoefficientField::expression("1 + 0.3*u*sin(2*pi*y) + 0.3*cos(4*pi*y)", range)
                         .with_terms("0.5*(1 + sin(2*pi*y))", "u*(1-u)*(1 + 0.5*sin(2*pi*y))", range);
  const auto medium = effective_medium(field, 100);
  const std::vector<std::function<double(double)>> ics = {[](double x) {
    return 0.6 + 0.25 * std::sin(2 * M_PI * x) + 0.2 * std::cos(3 * M_PI * x) + 0.1 * std::sin(7 * x);
  }};
  std::vector<double> times;
  for (int i = 0; i <= 500; ++i) times.push_back(0.002 * i);
  const double rtol = std::pow(10.0, -static_cast<double>(st.range(0)));
  const auto reference = effective_truth(medium, 1.0, 11, 20, ics, times, 1e-13);
  HomogenizedTruth truth;
  for (auto _ : st) truth = effective_truth(medium, 1.0, 11, 20, ics, times, rtol);
  double du = 0;
  for (std::size_t k = 0; k < truth.U.size(); ++k) du = std::max(du, std::abs(truth.U[k] - reference.U[k]));
  st.counters["max_dU"] = du;
}

// One sampling interval of the paper2d batch's gap-tooth patches by a Chebyshev series of 220
// terms (the exact one at dt = 0.01; here every coefficient 1/220: the spectrum of the symmetric
// system keeps the terms bounded, and the sum, the state of the next iteration, stays near 1). Arg 0: term by term
// through memory (the rates, then the update: read T_k, write A T_k; read A T_k, T_k, T_k-1, the sum; write T_k-1, the
// sum: 64 B per point and term); arg 1: chebyshev_interval, each trajectory's series on chip. Both count the 64 B, so a
// copy_% above 100 for arg 1 is the gain beyond the DRAM roofline.
void BM_GapToothInterval(benchmark::State& st, Device d) {
  if (!usable(d, st)) return;
  const auto& g = paper_layout_2d();
  constexpr index_t batch = 100;
  constexpr int terms = 220;
  GapTooth2D gt(d, Lattice2D(KappaTables::paper(), BondPlacement::Reference, g.h, g.first), g, batch);
  const bool on_chip = st.range(0) == 1;
  if (on_chip && !kernels::gap_tooth_interval_fits(d, g.P, g.m)) {
    st.SkipWithError("a trajectory's patches do not fit on chip");
    return;
  }
  const index_t n = batch * gt.state_size();
  const double rho = gt.spectral_bound(), a = 4.0 / rho;
  const double ck = 1.0 / terms;
  const std::vector<double> coefficients(terms, ck);
  Buffer<double> c(d, coefficients), u(d, field(n, 1.0)), Tk(d, n), AT(d, n), acc(d, n);
  const LoopTimes t = timed(st, d, [&] {
    if (on_chip) {
      gt.chebyshev_interval(c.data(), terms, rho, u.data());
    } else {
      gt.rates(u.data(), AT.data());
      kernels::chebyshev_start(d, n, a, AT.data(), u.data(), ck, ck, Tk.data(), acc.data());
      for (int k = 1; k + 1 < terms; ++k) {
        gt.chebyshev_step(Tk.data(), u.data(), a, ck, acc.data(), AT.data());
        std::swap(Tk, u);
      }
    }
  });
  report(st, d, static_cast<double>(n) * (terms - 1), 64.0, t);
}

// The max-norm over the paper batch (the error estimate's; the NaN guard's count is the same pass):
// read 8 B/cell. kernels::max_abs: an OpenMP reduction on the CPU, Thrust's transform-reduce (CUB)
// on CUDA.
void BM_MaxNorm(benchmark::State& st, Device d) {
  if (!usable(d, st)) return;
  const index_t n = kSystems * kN;
  Buffer<double> x(d, field(n, 1.0));
  double m = 0.0;
  const LoopTimes t = timed(st, d, [&] { m = std::max(m, kernels::max_abs(d, x.data(), n)); });
  benchmark::DoNotOptimize(m);
  report(st, d, static_cast<double>(n), 8.0, t);
}

#ifdef PATCHLEARN_BENCH_THRUST
// The library baseline on the CPU: the same max-norm by Thrust's OpenMP backend.
struct AbsOrInf {
  double operator()(double x) const { return kernels::abs_or_inf(x); }
};
void BM_MaxNormThrustOmp(benchmark::State& st) {
  const index_t n = kSystems * kN;
  const auto x = field(n, 1.0);
  double m = 0.0;
  const LoopTimes t = timed(st, Device::CPU, [&] {
    m = std::max(m, thrust::transform_reduce(thrust::omp::par, x.data(), x.data() + n, AbsOrInf{}, 0.0,
                                             [](double a, double b) { return std::max(a, b); }));
  });
  benchmark::DoNotOptimize(m);
  report(st, Device::CPU, static_cast<double>(n), 8.0, t);
}
BENCHMARK(BM_MaxNormThrustOmp)->UseRealTime()->Unit(benchmark::kMillisecond);
#endif

BENCHMARK_CAPTURE(BM_Copy, Cpu, Device::CPU)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MaxNorm, Cpu, Device::CPU)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Stencil, Cpu, Device::CPU)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Tridiag, Cpu, Device::CPU)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LiftRestrict, Cpu, Device::CPU)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_PaperBurst, Cpu, Device::CPU)->Arg(1)->Arg(10)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_SmallPatchBurst, Cpu, Device::CPU)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_NonlinearBurst, Cpu, Device::CPU)
    ->ArgsProduct({{1, 3}, {0, 1}, {0, 1}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EffectiveTruth)->Arg(6)->Arg(9)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Lattice2D, Cpu, Device::CPU)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_GapTooth2D, Cpu, Device::CPU)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_GapToothInterval, Cpu, Device::CPU)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Copy, Cuda, Device::CUDA)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MaxNorm, Cuda, Device::CUDA)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Stencil, Cuda, Device::CUDA)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Tridiag, Cuda, Device::CUDA)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LiftRestrict, Cuda, Device::CUDA)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_PaperBurst, Cuda, Device::CUDA)->Arg(1)->Arg(10)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_SmallPatchBurst, Cuda, Device::CUDA)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_NonlinearBurst, Cuda, Device::CUDA)
    ->ArgsProduct({{1, 3}, {0, 1}, {0, 1}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Lattice2D, Cuda, Device::CUDA)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_GapTooth2D, Cuda, Device::CUDA)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_GapToothInterval, Cuda, Device::CUDA)
    ->Arg(0)
    ->Arg(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
