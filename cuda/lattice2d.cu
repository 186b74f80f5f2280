// CUDA kernels of the 2D lattice operations (see kernels/batched.hpp). Each kernel applies the same
// per-element function of kernels/lattice2d.hpp as the matching OpenMP loop in src/kernels/batched.cpp.
#include "common.cuh"
#if defined(__CUDACC__)
#include <cublas_v2.h>
#else
#include "patchlearn/core/cublas_emu.hpp"
#endif

#include <algorithm>
#include <map>
#include <mutex>
#include <string>

#include "patchlearn/core/error.hpp"
#include "patchlearn/kernels/cuda_ops.hpp"
#include "patchlearn/kernels/lattice2d.hpp"

namespace patchlearn::kernels::cuda {
namespace {

// One thread per evolving point; consecutive threads walk the patches at one interior point (the
// point-major state), so the reads coalesce, a warp takes one branch (all its points on the same
// patch border or none), and the coupling sums of one patch row share their sources in cache.
__global__ void k_gap_tooth(index_t batch, int P, int m, ToothBonds bonds, const double* wp, const double* wm,
                            double inv_h2, const double* U, double* dUdt, LatticeNonlinearity nl, const double* edges) {
  const index_t t = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  const index_t PP = static_cast<index_t>(P) * P, per = PP * m * m;
  if (t >= batch * per) return;
  const index_t b = t / per, r = t % per, k = r / PP, patch = r % PP;
  const int I = static_cast<int>(patch % P), J = static_cast<int>(patch / P);
  const int p = static_cast<int>(k % m), q = static_cast<int>(k / m);
  dUdt[t] = gap_tooth_rate(U + b * per, P, m, I, J, p, q, bonds, wp, wm, inv_h2, nl,
                           edges ? edges + b * 4 * m * PP : nullptr);
}

// One thread per ghost value [b][side][k][J][I] of the teeth's periodic closure.
__global__ void k_closure_edges(index_t batch, int P, int m, ToothClosure c, const double* U, const double* M,
                                double* edges) {
  const index_t t = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  const index_t PP = static_cast<index_t>(P) * P, per = 4 * m * PP;
  if (t >= batch * per) return;
  const index_t b = t / per, r = t % per, patch = r % PP, sk = r / PP;
  const int side = static_cast<int>(sk / m), k = static_cast<int>(sk % m) + 1;
  edges[t] = closure_edge(U + b * PP * m * m, M + b * PP, P, m, side, k, static_cast<int>(patch % P),
                          static_cast<int>(patch / P), c);
}

// A whole sampling interval of the Chebyshev series for one trajectory per block, its three
// vectors (T_k-1, T_k, the sum) in shared memory: each term reads T_k there and writes T_k-1 and
// the sum at the thread's own points only, so one barrier per term orders it.
__global__ void __launch_bounds__(1024)
    k_gap_tooth_interval(int P, int m, ToothBonds bonds, const double* wp, const double* wm, double inv_h2, double a,
                         const double* c, int n, double* u) {
  PL_DYNAMIC_SHARED(double, vectors);
  const int PP = P * P, per = PP * m * m;
  double *Tkm1 = vectors, *Tk = vectors + per, *acc = vectors + 2 * per,
         *ub = u + blockIdx.x * static_cast<index_t>(per);
  const auto rate = [&](const double* T, int i) {
    const int patch = i % PP, k = i / PP;
    return gap_tooth_rate(T, P, m, patch % P, patch / P, k % m, k / m, bonds, wp, wm, inv_h2);
  };
  for (int i = threadIdx.x; i < per; i += blockDim.x) Tkm1[i] = ub[i];
  __syncthreads();
  for (int i = threadIdx.x; i < per; i += blockDim.x)
    kernels::chebyshev_start(a, rate(Tkm1, i), Tkm1[i], c[0], c[1], Tk[i], acc[i]);
  __syncthreads();
  for (int k = 1; k + 1 < n; ++k) {
    for (int i = threadIdx.x; i < per; i += blockDim.x)
      chebyshev_update(a, rate(Tk, i), Tk[i], Tkm1[i], c[k + 1], acc[i]);
    __syncthreads();
    double* t = Tk;
    Tk = Tkm1;
    Tkm1 = t;
  }
  for (int i = threadIdx.x; i < per; i += blockDim.x) ub[i] = acc[i];
}

// The trajectories b = b0, b0 + groups, ... < batch of one full-lattice thread, kInFlight at a
// time: `load` reads trajectory b's values and `store` writes them, and every load of the
// kInFlight trajectories comes before any of their stores. Written as one loop, each trajectory's
// loads waited for the last one's store (which may alias them): one trajectory in flight per
// thread, 1,024 threads per SM at the kernel's 64 registers, 8 KB of new data per SM in flight
// where HBM's ~4.8 TB/s x ~0.7 us of latency over 132 SMs asks for ~25 KB. BM_Lattice2D
// measured 52% of copy on the H200. Now four: ptxas (sm_90) gives the linear rates 56 registers,
// so 1,024 threads and 32 KB, and the Chebyshev term (24 B of new data a trajectory) 92, so 512
// threads and 48 KB; both without spills.
template <class Load, class Store>
__device__ __forceinline__ void over_trajectories(index_t b0, index_t batch, index_t groups, Load load, Store store) {
  constexpr int kInFlight = 4;
  for (index_t b = b0; b < batch; b += kInFlight * groups) {
    decltype(load(b)) v[kInFlight]{};
#pragma unroll
    for (int j = 0; j < kInFlight; ++j)
      if (b + j * groups < batch) v[j] = load(b + j * groups);
#pragma unroll
    for (int j = 0; j < kInFlight; ++j)
      if (b + j * groups < batch) store(b + j * groups, v[j]);
  }
}

// The full lattice: one thread per site and group of trajectories b = g, g + groups, ...: the
// site's four bonds are read once for its whole group (at 4800^2 the two bond tables, 368 MB, are
// far beyond L2, so a thread per trajectory and site read them from memory once per trajectory,
// half of the step's traffic). Consecutive threads take consecutive sites, so every access of a
// trajectory coalesces.
// Linear: the linear lattice alone, a kernel of its own, so that it holds the registers its four
// trajectories' loads need and no more (the u-dependent lattice's series take more).
template <bool Linear>
__global__ void k_lattice(index_t batch, index_t groups, index_t N, const double* kE, const double* kN, double inv_h2,
                          const double* u, double* dudt, LatticeNonlinearity nl) {
  const index_t t = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x, NN = N * N;
  if (t >= groups * NN) return;
  const index_t r = t % NN;
  const PeriodicSite s = periodic_site(kE, kN, N, r % N, r / N);
  over_trajectories(
      t / NN, batch, groups,
      [&](index_t b) {
        return Linear ? periodic_site_rate(u + b * NN, s, inv_h2) : periodic_site_rate(u + b * NN, s, inv_h2, nl);
      },
      [&](index_t b, double rate) { dudt[b * NN + r] = rate; });
}

// What one Chebyshev term reads at a site of one trajectory.
struct ChebyshevPoint {
  double rate, Tk, Tkm1, acc;
};

// One Chebyshev term on the full lattice, threads as in k_lattice.
__global__ void k_lattice_chebyshev(index_t batch, index_t groups, index_t N, const double* kE, const double* kN,
                                    double inv_h2, double a, const double* Tk, double* Tkm1, double c, double* acc) {
  const index_t t = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x, NN = N * N;
  if (t >= groups * NN) return;
  const index_t r = t % NN;
  const PeriodicSite s = periodic_site(kE, kN, N, r % N, r / N);
  over_trajectories(
      t / NN, batch, groups,
      [&](index_t b) {
        const index_t i = b * NN + r;
        return ChebyshevPoint{periodic_site_rate(Tk + b * NN, s, inv_h2), Tk[i], Tkm1[i], acc[i]};
      },
      [&](index_t b, ChebyshevPoint p) {
        chebyshev_update(a, p.rate, p.Tk, p.Tkm1, c, p.acc);
        Tkm1[b * NN + r] = p.Tkm1;
        acc[b * NN + r] = p.acc;
      });
}

__global__ void k_patch_means(index_t batch, index_t points, index_t patches, const double* x, double* out) {
  const index_t t = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (t >= batch * patches) return;
  const index_t b = t / patches, i = t % patches;
  double s = 0.0;
  for (index_t k = 0; k < points; ++k) s += x[(b * points + k) * patches + i];
  out[t] = s / static_cast<double>(points);
}

// The trajectory groups of the full-lattice kernels: as few as fill the device with one thread per
// site and group (one when the lattice alone fills it), so each thread serves the most trajectories.
index_t trajectory_groups(index_t batch, index_t N) {
  return std::clamp((resident_threads() + N * N - 1) / (N * N), index_t{1}, batch);
}

}  // namespace

void gap_tooth_rates(index_t batch, int P, int m, const ToothBonds& k, const double* wp, const double* wm,
                     double inv_h2, const double* U, double* dUdt, const LatticeNonlinearity& nl, const double* edges) {
  PL_LAUNCH(k_gap_tooth, blocks_for(batch * P * P * m * m), kBlock, 0)
  (batch, P, m, k, wp, wm, inv_h2, U, dUdt, nl, edges);
  check_launch("gap-tooth rates");
}

void closure_edges(index_t batch, int P, int m, const ToothClosure& c, const double* U, const double* M,
                   double* edges) {
  PL_LAUNCH(k_closure_edges, blocks_for(batch * 4 * m * P * P), kBlock, 0)(batch, P, m, c, U, M, edges);
  check_launch("gap-tooth closure edges");
}

namespace {

// One cuBLAS handle per device, made at its first use and kept for the process: the driver frees it
// at exit, where destroying it from a static destructor could run after the CUDA runtime's own
// teardown. Its stream is the default one, like every kernel here.
cublasHandle_t blas_handle() {
  static std::mutex lock;
  static auto* const handles = new std::map<int, cublasHandle_t>;  // never destroyed, like the handles
  int device = 0;
  check(cudaGetDevice(&device), "current device");
  const std::lock_guard<std::mutex> hold(lock);
  cublasHandle_t& h = (*handles)[device];
  if (!h) {
    const cublasStatus_t s = cublasCreate(&h);
    if (s != CUBLAS_STATUS_SUCCESS) {
      h = nullptr;
      const std::string what =
          std::string("cuBLAS: cannot start on device ") + std::to_string(device) + ": " + cublasGetStatusString(s);
      if (s == CUBLAS_STATUS_ALLOC_FAILED) throw OutOfMemory(what + "; reduce trajectories or patch count");
      throw RunError(what);
    }
  }
  return h;
}

}  // namespace

void coupling_edges(index_t batch, int P, int m, const double* wp, const double* wm, const double* U, double* edges) {
  // Row-major P x P planes: C = X Y is C^T = Y^T X^T in cuBLAS's column-major terms, so each product
  // passes its factors swapped, and a row-major Y^T is Y's storage read as not transposed.
  const long long PP = static_cast<long long>(P) * P, per = PP * m * m, out = 4LL * m * PP;
  constexpr double one = 1.0, zero = 0.0;
  const cublasHandle_t h = blas_handle();
  // cuBLAS takes the batch count as an int; 65535 entries per call keeps it inside any grid limit.
  for (index_t b0 = 0; b0 < batch; b0 += 65535) {
    const int count = static_cast<int>(std::min<index_t>(65535, batch - b0));
    const double* u = U + b0 * per;
    double* e = edges + b0 * out;
    const auto plane = [&](int p, int q) { return u + (static_cast<long long>(q) * m + p) * PP; };
    // plane_left: C = F W^T (east and west), that is C^T = W F^T; else C = W F (north and south),
    // that is C^T = F^T W^T.
    const auto gemm = [&](const char* side, bool plane_left, const double* W, const double* F, double* C) {
      const cublasStatus_t s = plane_left ? cublasDgemmStridedBatched(h, CUBLAS_OP_T, CUBLAS_OP_N, P, P, P, &one, W, P,
                                                                      0, F, P, per, &zero, C, P, out, count)
                                          : cublasDgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, P, P, P, &one, F, P,
                                                                      per, W, P, 0, &zero, C, P, out, count);
      if (s != CUBLAS_STATUS_SUCCESS)
        throw RunError(std::string("cuBLAS: the gap-tooth coupling's ") + side + " edges: " + cublasGetStatusString(s));
    };
    for (int k = 0; k < m; ++k) {
      gemm("east", true, wp, plane(0, k), e + (0LL * m + k) * PP);
      gemm("west", true, wm, plane(m - 1, k), e + (1LL * m + k) * PP);
      gemm("north", false, wp, plane(k, 0), e + (2LL * m + k) * PP);
      gemm("south", false, wm, plane(k, m - 1), e + (3LL * m + k) * PP);
    }
  }
  check_launch("gap-tooth coupling edges (cuBLAS)");
}

namespace {
std::size_t gap_tooth_interval_bytes(int P, int m) {
  return 3 * sizeof(double) * static_cast<std::size_t>(P * P * m * m);
}
}  // namespace

bool gap_tooth_interval_fits(int P, int m) { return gap_tooth_interval_bytes(P, m) <= shared_bytes_per_block(); }

void gap_tooth_chebyshev_interval(index_t batch, int P, int m, const ToothBonds& k, const double* wp, const double* wm,
                                  double inv_h2, double rho, const double* c, int n, double* u) {
  const std::size_t bytes = gap_tooth_interval_bytes(P, m);
  if (!gap_tooth_interval_fits(P, m))
    throw RunError("gap-tooth interval: " + std::to_string(P * P * m * m) +
                   " points per trajectory do not fit in shared memory");
  if (bytes > (48 << 10) && cudaFuncSetAttribute(k_gap_tooth_interval, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                 static_cast<int>(bytes)) != cudaSuccess)
    throw RunError("gap-tooth interval: cannot reserve " + std::to_string(bytes) + " bytes of shared memory");
  // Up to 1024 threads, a whole number of warps, each with as even a share of the points as that allows.
  const int per = P * P * m * m, rounds = (per + 1023) / 1024, threads = ((per + rounds - 1) / rounds + 31) / 32 * 32;
  if (batch > 0) {
    PL_LAUNCH(k_gap_tooth_interval, static_cast<unsigned>(batch), threads, bytes)
    (P, m, k, wp, wm, inv_h2, 4.0 / rho, c, n, u);
  }
  check_launch("gap-tooth interval");
}

void lattice_rates(index_t batch, index_t N, const double* kE, const double* kN, double inv_h2, const double* u,
                   double* dudt, const LatticeNonlinearity& nl) {
  const index_t groups = trajectory_groups(batch, N);
  if (nl.linear())
    PL_LAUNCH(k_lattice<true>, blocks_for(groups * N * N), kBlock, 0)(batch, groups, N, kE, kN, inv_h2, u, dudt, nl);
  else
    PL_LAUNCH(k_lattice<false>, blocks_for(groups * N * N), kBlock, 0)(batch, groups, N, kE, kN, inv_h2, u, dudt, nl);
  check_launch("lattice rates");
}

void lattice_chebyshev_step(index_t batch, index_t N, const double* kE, const double* kN, double inv_h2, double a,
                            const double* Tk, double* Tkm1, double c, double* acc) {
  const index_t groups = trajectory_groups(batch, N);
  PL_LAUNCH(k_lattice_chebyshev, blocks_for(groups * N * N), kBlock, 0)
  (batch, groups, N, kE, kN, inv_h2, a, Tk, Tkm1, c, acc);
  check_launch("lattice Chebyshev step");
}

void patch_means(index_t batch, index_t points, index_t patches, const double* x, double* out) {
  PL_LAUNCH(k_patch_means, blocks_for(batch * patches), kBlock, 0)(batch, points, patches, x, out);
  check_launch("patch means");
}

}  // namespace patchlearn::kernels::cuda
