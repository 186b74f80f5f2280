// CUDA kernels of the batched operations (see kernels/batched.hpp). Each kernel applies the same
// per-element function as the matching OpenMP loop in src/kernels/batched.cpp.
#include "common.cuh"

#include <string>

#include "patchlearn/core/error.hpp"
#include "patchlearn/kernels/cuda_ops.hpp"
#include "patchlearn/kernels/tridiag.hpp"

namespace patchlearn::kernels::cuda {
namespace {

__global__ void k_assemble(index_t mats, index_t n, const double* cond, double c, EndRows ends, double* l, double* d,
                           double* u) {
  const index_t t = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (t >= mats * n) return;
  const index_t m = t / n, j = t % n;
  implicit_row(j, n, cond + m * (n - 1), c, ends, l + m * n, d + m * n, u + m * n);
}

// Thomas factors and spikes of chunk k of matrix m, one thread each, and their lane-major copies.
__global__ void k_factor_chunks(TridiagFactors f, const double* d, double* cp, double* inv, double* v, double* w,
                                double* lanes) {
  const index_t t = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x, n = f.n, P = f.P;
  if (t >= f.mats * P) return;
  const index_t m = t / P, k = t % P, o = m * n, lo = separator(k, n, P) + 1, hi = separator(k + 1, n, P);
  factor_chunk(lo, hi, f.l + o, d + o, f.u + o, cp + o, inv + o, v + o, w + o);
  for (index_t j = 0; j < hi - lo; ++j) {
    lanes[f.lane_at(m, SweepFactor::l, j, k)] = f.l[o + lo + j];
    lanes[f.lane_at(m, SweepFactor::inv, j, k)] = inv[o + lo + j];
    lanes[f.lane_at(m, SweepFactor::cp, j, k)] = cp[o + lo + j];
  }
}

// The chunk sweeps (solve_chunk's arithmetic), one thread per chunk, consecutive chunks on
// consecutive threads, in tiles of kTileRows rows. For each tile the block stages the next rows of
// all its chunks in shared memory: consecutive threads move consecutive values of one chunk, so
// every load and store of x is a contiguous run, where a thread walking its own chunk in x reads
// a chunk's length apart from its neighbours. Each thread then sweeps its rows there with the
// lane-major factors (contiguous across the threads too). The forward sweep takes the tiles first
// to last and the back substitution last to first, each carrying its recurrence's value across;
// the last tile stays in shared memory between the two.
constexpr index_t kTileRows = 32, kSweepBlock = 128, kTileStride = kTileRows + 1;  // odd: no bank conflicts

__global__ void k_solve_chunks(index_t systems, TridiagFactors f, double* x) {
  PL_SHARED(double, tile, kSweepBlock* kTileStride);
  PL_SHARED(index_t, first, kSweepBlock);  // each thread's first interior row in x
  PL_SHARED(index_t, rows, kSweepBlock);   // and its count (0 for a thread past the last chunk)
  const index_t T = blockDim.x, q = threadIdx.x, t = blockIdx.x * T + q, n = f.n, P = f.P;
  const bool mine = t < systems * P;
  const index_t s = mine ? t / P : 0, k = mine ? t % P : 0, m = s % f.mats, lo = separator(k, n, P) + 1;
  const index_t len = mine ? separator(k + 1, n, P) - lo : 0;
  first[q] = s * n + lo;
  rows[q] = len;
  // Rows j0 .. j0 + kTileRows - 1 of every chunk of the block between x and the tile: element e of
  // the T x kTileRows tile is row e % kTileRows of thread e / kTileRows's chunk.
  const auto stage = [&](index_t j0, bool load) {
    for (index_t e = q; e < T * kTileRows; e += T) {
      const index_t c = e / kTileRows, r = e % kTileRows;
      if (j0 + r >= rows[c]) continue;
      double& slot = tile[c * kTileStride + r];
      double& value = x[first[c] + j0 + r];
      if (load)
        slot = value;
      else
        value = slot;
    }
  };
  const auto at = [&](SweepFactor which, index_t j) { return f.lanes[f.lane_at(m, which, j, k)]; };
  double* mine_row = tile + q * kTileStride;
  const index_t tiles = (f.rows + kTileRows - 1) / kTileRows;
  double p = 0.0;
  for (index_t b = 0; b < tiles; ++b) {
    const index_t j0 = b * kTileRows, top = j0 + kTileRows < len ? j0 + kTileRows : len;
    __syncthreads();
    stage(j0, true);
    __syncthreads();
    for (index_t j = j0; j < top; ++j)
      mine_row[j - j0] = p = (mine_row[j - j0] - at(SweepFactor::l, j) * p) * at(SweepFactor::inv, j);
    if (b + 1 < tiles) {
      __syncthreads();
      stage(j0, false);
    }
  }
  double next = 0.0;  // the back substitution's value of the row after the tile
  for (index_t b = tiles; b-- > 0;) {
    const index_t j0 = b * kTileRows, top = j0 + kTileRows < len ? j0 + kTileRows : len;
    if (b + 1 < tiles) {
      __syncthreads();
      stage(j0, true);
      __syncthreads();
    }
    for (index_t j = top; j-- > j0;)
      if (j + 1 < len) mine_row[j - j0] -= at(SweepFactor::cp, j) * (j + 1 < top ? mine_row[j + 1 - j0] : next);
    if (top > j0) next = mine_row[0];
    __syncthreads();
    stage(j0, false);
  }
}

// The composition of the maps of threads 0 .. pos-1 (in that order) for the thread at position
// pos of T, each bringing `mine`: an exclusive Hillis-Steele scan through `sh` (T maps). Every
// thread of the block calls it.
template <class Map>
__device__ Map block_exclusive_scan(Map* sh, Map mine, index_t pos, index_t T, Map identity) {
  sh[pos] = mine;
  __syncthreads();
  for (index_t off = 1; off < T; off *= 2) {
    const Map v = pos >= off ? then(sh[pos - off], sh[pos]) : sh[pos];
    __syncthreads();
    sh[pos] = v;
    __syncthreads();
  }
  const Map prefix = pos > 0 ? sh[pos - 1] : identity;
  __syncthreads();  // sh is free again for the next scan
  return prefix;
}

// The largest block for a reduced system: a long one (one full-resolution system of 10^6-10^7
// points has 10^5-10^6 reduced rows) is latency-bound row by row, and every thread shortens it.
// The reduced kernels use under 64 registers a thread (ptxas on sm_90: 58 for the solve, 48 for
// the scan factorization), which __launch_bounds__ makes the compiler keep.
constexpr int kReducedBlock = 1024;

// The rows of the reduced system that thread t of T takes, [k0, k1): consecutive runs of about
// (P + 1) / T rows.
struct ReducedRun {
  index_t k0, k1;
  __device__ ReducedRun(index_t P, index_t T, index_t t) {
    const index_t per = (P + T) / T;
    k0 = t * per < P + 1 ? t * per : P + 1;
    k1 = k0 + per < P + 1 ? k0 + per : P + 1;
  }
};

// The reduced system's Thomas factors, one thread per matrix walking its rows in turn: the
// factors of the CPU, for reduced systems of up to kSerialReducedRows rows.
__global__ void k_factor_reduced(index_t mats, index_t n, index_t P, index_t eo, const double* l, const double* d,
                                 const double* u, const double* v, const double* w, double* rlow, double* rcp,
                                 double* rinv) {
  const index_t m = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (m >= mats) return;
  const index_t o = m * n, r = m * (P + 1);
  factor_reduced(n, P, eo, l + o, d + o, u + o, v + o, w + o, rlow + r, rcp + r, rinv + r);
}

// Longer reduced systems are factored by a block each (k_factor_reduced_scan). The walk is
// latency-bound: bench1d's full side took 564 ms a step on an H200 for one system whose reduced
// system has 125,000 rows (eps = 1e-5), about 4.5 us a row if, as the step ladder allows, it was
// refactored at every step; 4,096 rows would then take ~18 ms. Below that the walk stays:
// the scan's incoming rcp, a ratio of products of many rows' maps, is less accurate than the
// recurrence (emulated, on Gpu.TridiagonalSolve's stiff averaged-gradient systems, 626 rows:
// 8.4e-8 from a long-double solve against the walk's 7.2e-9 and plain Thomas's 5.6e-9; on its
// Dirichlet ones 3.0e-11 against 5.6e-12, of a solution of size 549).
constexpr index_t kSerialReducedRows = 4096;

// The reduced system's Thomas factors of matrix m by one block: a scan of the rows' fractional
// maps (kernels/tridiag.hpp) gives each thread's run its incoming rcp, and each thread factors its
// run from it. Same factors as factor_reduced up to rounding.
__global__ void __launch_bounds__(kReducedBlock)
    k_factor_reduced_scan(index_t n, index_t P, index_t eo, const double* l, const double* d, const double* u,
                          const double* v, const double* w, double* rlow, double* rcp, double* rinv) {
  PL_SHARED(FractionalMap, scan, kReducedBlock);
  const index_t m = blockIdx.x, o = m * n, r = m * (P + 1), T = blockDim.x, t = threadIdx.x;
  const ReducedRun run_of(P, T, t);
  FractionalMap run = identity_fractional_map();
  for (index_t k = run_of.k0; k < run_of.k1; ++k) {
    double lo, di, up;
    reduced_row(k, n, P, eo, l + o, d + o, u + o, v + o, w + o, &lo, &di, &up);
    run = then(run, reduced_factor_row(lo, di, up));
  }
  double prev = at_zero(block_exclusive_scan(scan, run, t, T, identity_fractional_map()));
  for (index_t k = run_of.k0; k < run_of.k1; ++k)
    prev = factor_reduced_row(k, n, P, eo, l + o, d + o, u + o, v + o, w + o, prev, rlow + r, rcp + r, rinv + r);
}

// The reduced system of system s by one block: the forward sweep and the back substitution each
// as a scan of affine maps (kernels/tridiag.hpp) over runs of rows, one run per thread. Same
// result as solve_reduced up to rounding. x holds g in the chunk interiors and b at the
// separators on entry, the separator values on exit.
__global__ void __launch_bounds__(kReducedBlock) k_solve_reduced(TridiagFactors f, double* x) {
  PL_SHARED(AffineMap, scan, kReducedBlock);
  const index_t s = blockIdx.x, n = f.n, P = f.P, o = f.at(s), r = f.reduced_at(s), T = blockDim.x, t = threadIdx.x;
  const double *l = f.l + o, *u = f.u + o, *rlow = f.rlow + r, *rcp = f.rcp + r, *rinv = f.rinv + r;
  double* xs = x + s * n;
  const ReducedRun run_of(P, T, t);
  const index_t k0 = run_of.k0, k1 = run_of.k1;
  // Forward sweep: the right-hand sides r_k (read before any separator is overwritten; they read
  // b at their own separator and g inside the chunks) replace b, and each run composes its maps.
  AffineMap run = identity_map();
  for (index_t k = k0; k < k1; ++k) {
    const double rk = reduced_rhs(k, n, P, f.eo, l, u, xs);
    xs[separator(k, n, P)] = rk;
    run = then(run, reduced_forward_row(rk, rlow[k], rinv[k]));
  }
  double z = block_exclusive_scan(scan, run, t, T, identity_map()).a;  // y_{k0-1}; the sweep starts from 0
  for (index_t k = k0; k < k1; ++k) {
    double& y = xs[separator(k, n, P)];
    y = z = (y - rlow[k] * z) * rinv[k];
  }
  // Back substitution, runs in reverse order: thread T-1 first, from x_{P+1} = 0.
  run = identity_map();
  for (index_t k = k1; k-- > k0;) run = then(run, reduced_backward_row(xs[separator(k, n, P)], rcp[k]));
  z = block_exclusive_scan(scan, run, T - 1 - t, T, identity_map()).a;  // x_{k1}
  for (index_t k = k1; k-- > k0;) {
    double& v = xs[separator(k, n, P)];
    v = z = v - rcp[k] * z;
  }
}

// Threads for a reduced system of rows unknowns: about four rows each, whole warps, at most
// kReducedBlock.
unsigned reduced_threads(index_t rows) {
  const index_t warps = (rows + 4 * 32 - 1) / (4 * 32);
  return static_cast<unsigned>(warps * 32 < kReducedBlock ? warps * 32 : kReducedBlock);
}

__global__ void k_correct(index_t systems, TridiagFactors f, double* x) {
  const index_t t = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (t >= systems * f.n) return;
  const index_t s = t / f.n, i = t % f.n, o = f.at(s);
  if (is_separator(i, f.n, f.P)) return;
  correct_element(i, f.n, f.P, f.v + o, f.w + o, x + s * f.n);
}

// Temporally blocked steps: one block per system, which lives in shared memory (y and the
// increment r) through all `count` steps. Each step runs the phases of increment_rhs, solve and
// axpby with block barriers between them: the rhs and the update over points, the chunk sweeps
// over chunks, the reduced system on one thread.
__global__ void k_fused_steps(TridiagFactors f, int count, const double* cond, double alpha, EndRows ends,
                              const double* left, const double* right, double* y) {
  PL_DYNAMIC_SHARED(double, shared);
  const index_t n = f.n, P = f.P, s = blockIdx.x, o = f.at(s), r = f.reduced_at(s);
  double *ys = shared, *rs = shared + n, *yg = y + s * n;
  const double* a = cond + (s % f.mats) * (n - 1);
  const double lv = left ? left[s] : 0.0, rv = right ? right[s] : 0.0;
  for (index_t j = threadIdx.x; j < n; j += blockDim.x) ys[j] = yg[j];
  __syncthreads();
  for (int k = 0; k < count; ++k) {
    for (index_t j = threadIdx.x; j < n; j += blockDim.x) rs[j] = increment_rhs(j, n, a, ys, alpha, ends, f.eo, lv, rv);
    __syncthreads();
    for (index_t c = threadIdx.x; c < P; c += blockDim.x)
      solve_chunk(separator(c, n, P) + 1, separator(c + 1, n, P), f.l + o, f.cp + o, f.inv + o, rs);
    __syncthreads();
    if (threadIdx.x == 0) solve_reduced(n, P, f.eo, f.l + o, f.u + o, f.rlow + r, f.rcp + r, f.rinv + r, rs);
    __syncthreads();
    for (index_t j = threadIdx.x; j < n; j += blockDim.x) {
      if (!is_separator(j, n, P)) correct_element(j, n, P, f.v + o, f.w + o, rs);
      ys[j] += rs[j];
    }
    __syncthreads();
  }
  for (index_t j = threadIdx.x; j < n; j += blockDim.x) yg[j] = ys[j];
}

__global__ void k_increment_rhs(index_t systems, index_t mats, index_t n, const double* cond, double alpha,
                                EndRows ends, index_t eo, const double* left, const double* right, const double* x,
                                double* out) {
  const index_t t = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (t >= systems * n) return;
  const index_t s = t / n, j = t % n;
  out[t] = increment_rhs(j, n, cond + (s % mats) * (n - 1), x + s * n, alpha, ends, eo, left ? left[s] : 0.0,
                         right ? right[s] : 0.0);
}

// One thread per system through all `count` steps, its scratch in global memory: every system a lane
// of one StepScratch (row = systems), so that a warp's threads, at the same row, read and write
// consecutive addresses.
__global__ void k_theta_steps(index_t systems, index_t n, MediumTables m, int count, double dt, double theta,
                              StepJacobian jac, double inv_dx, EndRows ends, index_t eo, const double* left,
                              const double* right, double* y, double* scratch) {
  const index_t s = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (s >= systems) return;
  const MediumTables ms = m.of_system(s, n);
  const StepScratch work = StepScratch::lane(scratch, n, systems, s);
  const bool keep = jac == StepJacobian::Frozen && count > 1;
  const double l = left ? left[s] : 0.0, r = right ? right[s] : 0.0;
  for (int k = 0; k < count; ++k)
    theta_step(n, ms, y + s * n, dt, theta, inv_dx, ends, eo, l, r, work, k == 0 ? StepJacobian::Exact : jac, keep);
}

__global__ void k_lift(index_t systems, index_t n, index_t centre, double dx, int ncoef, const double* coef,
                       double* y) {
  const index_t t = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (t >= systems * n) return;
  const index_t s = t / n, j = t % n;
  y[t] = lift_value(coef + s * ncoef, ncoef, static_cast<double>(j - centre) * dx);
}

// One block per tooth: strided partial sums, then a shared-memory tree.
__global__ void k_restrict(index_t n, index_t teeth, index_t start, index_t stride, index_t nq, const double* x,
                           double* out) {
  PL_SHARED(double, part, kBlock);
  const index_t st = blockIdx.x, s = st / teeth, t = st % teeth;
  const double* xs = x + s * n + start + t * stride;
  double acc = 0.0;
  for (index_t q = threadIdx.x; q < nq; q += blockDim.x) acc += simpson_weight(q, nq) * xs[q];
  part[threadIdx.x] = acc;
  __syncthreads();
  for (unsigned h = blockDim.x / 2; h > 0; h >>= 1) {
    if (threadIdx.x < h) part[threadIdx.x] += part[threadIdx.x + h];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[st] = part[0];
}

// A thread per value; only a bad value touches the record, and only while it would lower it (the
// plain read first keeps a field of NaNs from queueing one atomic per value).
__global__ void k_mark_bad_values(const double* x, index_t count, unsigned long long tag, double lo, double hi,
                                  unsigned long long* first) {
  const index_t i = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (i >= count) return;
  const int slot = bad_value_slot(x[i], lo, hi);
  const unsigned long long at = tag + static_cast<unsigned long long>(i);
  if (slot >= 0 && at < first[slot]) atomicMin(first + slot, at);
}

}  // namespace

void mark_bad_values(const double* x, index_t count, unsigned long long tag, double lo, double hi,
                     unsigned long long* first) {
  if (count == 0) return;
  PL_LAUNCH(k_mark_bad_values, blocks_for(count), kBlock, 0)(x, count, tag, lo, hi, first);
  check_launch("bad-value watch");
}

void assemble_diffusion(index_t mats, index_t n, const double* cond, double c, EndRows ends, double* l, double* d,
                        double* u) {
  PL_LAUNCH(k_assemble, blocks_for(mats * n), kBlock, 0)(mats, n, cond, c, ends, l, d, u);
  check_launch("assemble");
}

void factor(const TridiagFactors& f, const double* d, double* cp, double* inv, double* v, double* w, double* rlow,
            double* rcp, double* rinv, double* lanes) {
  PL_LAUNCH(k_factor_chunks, blocks_for(f.mats * f.P), kBlock, 0)(f, d, cp, inv, v, w, lanes);
  if (f.P + 1 <= kSerialReducedRows) {
    PL_LAUNCH(k_factor_reduced, blocks_for(f.mats), kBlock, 0)
    (f.mats, f.n, f.P, f.eo, f.l, d, f.u, v, w, rlow, rcp, rinv);
  } else {
    PL_LAUNCH(k_factor_reduced_scan, static_cast<unsigned>(f.mats), reduced_threads(f.P + 1), 0)
    (f.n, f.P, f.eo, f.l, d, f.u, v, w, rlow, rcp, rinv);
  }
  check_launch("factor");
}

void solve(index_t systems, const TridiagFactors& f, double* x) {
  if (systems < 1 || systems > 2147483647)
    throw RunError("CUDA tridiagonal solve of " + std::to_string(systems) + " systems: outside 1 .. 2^31-1");
  const index_t chunks = systems * f.P;
  if ((chunks + kSweepBlock - 1) / kSweepBlock > 2147483647)
    throw RunError("CUDA tridiagonal solve of " + std::to_string(chunks) + " chunks: more than 2^31-1 blocks");
  PL_LAUNCH(k_solve_chunks, static_cast<unsigned>((chunks + kSweepBlock - 1) / kSweepBlock), kSweepBlock, 0)
  (systems, f, x);
  PL_LAUNCH(k_solve_reduced, static_cast<unsigned>(systems), reduced_threads(f.P + 1), 0)(f, x);
  PL_LAUNCH(k_correct, blocks_for(systems * f.n), kBlock, 0)(systems, f, x);
  check_launch("tridiagonal solve");
}

std::size_t shared_bytes_per_block() {
  static const std::size_t bytes = [] {
    int device = 0, optin = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess)
      return std::size_t{48 << 10};
    return static_cast<std::size_t>(optin);
  }();
  return bytes;
}

index_t resident_threads() {
  static const index_t threads = [] {
    int device = 0, sms = 0, per_sm = 0;
    check(cudaGetDevice(&device), "current device");
    check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "multiprocessor count");
    check(cudaDeviceGetAttribute(&per_sm, cudaDevAttrMaxThreadsPerMultiProcessor, device),
          "threads per multiprocessor");
    return static_cast<index_t>(sms) * per_sm;
  }();
  return threads;
}

bool fused_steps_fit(index_t n) { return 2 * sizeof(double) * static_cast<std::size_t>(n) <= shared_bytes_per_block(); }

void fused_steps(index_t systems, const TridiagFactors& f, int count, const double* cond, double alpha, EndRows ends,
                 const double* left, const double* right, double* y) {
  const std::size_t bytes = 2 * sizeof(double) * static_cast<std::size_t>(f.n);
  if (!fused_steps_fit(f.n))
    throw RunError("fused steps: a system of " + std::to_string(f.n) + " points does not fit in shared memory");
  if (bytes > (48 << 10) && cudaFuncSetAttribute(k_fused_steps, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                 static_cast<int>(bytes)) != cudaSuccess)
    throw RunError("fused steps: cannot reserve " + std::to_string(bytes) + " bytes of shared memory");
  if (systems > 0 && count > 0) {
    PL_LAUNCH(k_fused_steps, static_cast<unsigned>(systems), kBlock, bytes)
    (f, count, cond, alpha, ends, left, right, y);
  }
  check_launch("fused steps");
}

void increment_rhs(index_t systems, index_t mats, index_t n, const double* cond, double alpha, EndRows ends, index_t eo,
                   const double* left, const double* right, const double* x, double* out) {
  PL_LAUNCH(k_increment_rhs, blocks_for(systems * n), kBlock, 0)
  (systems, mats, n, cond, alpha, ends, eo, left, right, x, out);
  check_launch("increment rhs");
}

void theta_steps(index_t systems, index_t n, const MediumTables& m, int count, double dt, double theta,
                 StepJacobian jac, double inv_dx, EndRows ends, index_t eo, const double* left, const double* right,
                 double* y, double* scratch) {
  PL_LAUNCH(k_theta_steps, blocks_for(systems), kBlock, 0)
  (systems, n, m, count, dt, theta, jac, inv_dx, ends, eo, left, right, y, scratch);
  check_launch("nonlinear theta steps");
}

void lift(index_t systems, index_t n, index_t centre, double dx, int ncoef, const double* coef, double* y) {
  PL_LAUNCH(k_lift, blocks_for(systems * n), kBlock, 0)(systems, n, centre, dx, ncoef, coef, y);
  check_launch("lift");
}

void restrict_teeth(index_t systems, index_t n, index_t teeth, index_t start, index_t stride, index_t nq,
                    const double* x, double* out) {
  PL_LAUNCH(k_restrict, static_cast<unsigned>(systems * teeth), kBlock, 0)(n, teeth, start, stride, nq, x, out);
  check_launch("restrict");
}

}  // namespace patchlearn::kernels::cuda
