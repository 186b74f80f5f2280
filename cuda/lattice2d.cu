// CUDA kernels of the 2D lattice operations (see kernels/batched.hpp). Each kernel applies the same
// per-element function of kernels/lattice2d.hpp as the matching OpenMP loop in src/kernels/batched.cpp.
#include <cuda_runtime.h>

#include <string>

#include "patchlearn/core/error.hpp"
#include "patchlearn/kernels/cuda_ops.hpp"
#include "patchlearn/kernels/lattice2d.hpp"

namespace patchlearn::kernels::cuda {
namespace {

constexpr int kBlock = 256;

unsigned blocks_for(index_t count) { return static_cast<unsigned>((count + kBlock - 1) / kBlock); }

void check_launch(const char* what) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw RunError(std::string("CUDA kernel ") + what + ": " + cudaGetErrorString(e));
}

// One thread per evolving point; consecutive threads walk the patches at one interior point (the
// point-major state), so the reads coalesce, a warp takes one branch (all its points on the same
// patch border or none), and the coupling sums of one patch row share their sources in cache.
__global__ void k_gap_tooth(index_t batch, int P, int m, const double* kE, const double* kN, const double* wp,
                            const double* wm, double inv_h2, const double* U, double* dUdt) {
  const index_t t = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  const index_t PP = static_cast<index_t>(P) * P, per = PP * m * m;
  if (t >= batch * per) return;
  const index_t b = t / per, r = t % per, k = r / PP, patch = r % PP;
  const int I = static_cast<int>(patch % P), J = static_cast<int>(patch / P);
  const int p = static_cast<int>(k % m), q = static_cast<int>(k / m);
  dUdt[t] = gap_tooth_rate(U + b * per, P, m, I, J, p, q, kE, kN, wp, wm, inv_h2);
}

__global__ void k_lattice(index_t batch, index_t N, const double* kE, const double* kN, double inv_h2, const double* u,
                          double* dudt) {
  const index_t t = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (t >= batch * N * N) return;
  const index_t b = t / (N * N), r = t % (N * N);
  dudt[t] = periodic_lattice_rate(u + b * N * N, kE, kN, N, r % N, r / N, inv_h2);
}

__global__ void k_lattice_chebyshev(index_t batch, index_t N, const double* kE, const double* kN, double inv_h2,
                                    double a, const double* Tk, double* Tkm1, double c, double* acc) {
  const index_t t = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (t >= batch * N * N) return;
  const index_t b = t / (N * N), r = t % (N * N);
  const double rate = periodic_lattice_rate(Tk + b * N * N, kE, kN, N, r % N, r / N, inv_h2);
  chebyshev_update(a, rate, Tk[t], Tkm1[t], c, acc[t]);
}

__global__ void k_chebyshev(index_t count, double a, const double* AT, const double* Tk, double* Tkm1, double c,
                            double* acc) {
  const index_t t = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (t < count) chebyshev_update(a, AT[t], Tk[t], Tkm1[t], c, acc[t]);
}

__global__ void k_patch_means(index_t batch, index_t points, index_t patches, const double* x, double* out) {
  const index_t t = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (t >= batch * patches) return;
  const index_t b = t / patches, i = t % patches;
  double s = 0.0;
  for (index_t k = 0; k < points; ++k) s += x[(b * points + k) * patches + i];
  out[t] = s / static_cast<double>(points);
}

__global__ void k_window_means(index_t batch, index_t N, int P, index_t first, index_t spacing, int m, const double* u,
                               double* U) {
  const index_t t = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (t >= batch * P * P) return;
  const index_t b = t / (static_cast<index_t>(P) * P), I = t % P, J = (t / P) % P;
  double s = 0.0;
  for (int q = 0; q < m; ++q)
    for (int p = 0; p < m; ++p) {
      const index_t y = (first + J * spacing + 1 + q) % N, x = (first + I * spacing + 1 + p) % N;
      s += u[(b * N + y) * N + x];
    }
  U[t] = s / (static_cast<double>(m) * m);
}

}  // namespace

void gap_tooth_rates(index_t batch, int P, int m, const double* kE, const double* kN, const double* wp,
                     const double* wm, double inv_h2, const double* U, double* dUdt) {
  k_gap_tooth<<<blocks_for(batch * P * P * m * m), kBlock>>>(batch, P, m, kE, kN, wp, wm, inv_h2, U, dUdt);
  check_launch("gap-tooth rates");
}

void lattice_rates(index_t batch, index_t N, const double* kE, const double* kN, double inv_h2, const double* u,
                   double* dudt) {
  k_lattice<<<blocks_for(batch * N * N), kBlock>>>(batch, N, kE, kN, inv_h2, u, dudt);
  check_launch("lattice rates");
}

void chebyshev_step(index_t count, double a, const double* AT, const double* Tk, double* Tkm1, double c, double* acc) {
  k_chebyshev<<<blocks_for(count), kBlock>>>(count, a, AT, Tk, Tkm1, c, acc);
  check_launch("Chebyshev step");
}

void lattice_chebyshev_step(index_t batch, index_t N, const double* kE, const double* kN, double inv_h2, double a,
                            const double* Tk, double* Tkm1, double c, double* acc) {
  k_lattice_chebyshev<<<blocks_for(batch * N * N), kBlock>>>(batch, N, kE, kN, inv_h2, a, Tk, Tkm1, c, acc);
  check_launch("lattice Chebyshev step");
}

void patch_means(index_t batch, index_t points, index_t patches, const double* x, double* out) {
  k_patch_means<<<blocks_for(batch * patches), kBlock>>>(batch, points, patches, x, out);
  check_launch("patch means");
}

void window_means(index_t batch, index_t N, int P, index_t first, index_t spacing, int m, const double* u, double* U) {
  k_window_means<<<blocks_for(batch * P * P), kBlock>>>(batch, N, P, first, spacing, m, u, U);
  check_launch("window means");
}

}  // namespace patchlearn::kernels::cuda
