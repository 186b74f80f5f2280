// CPU backend of the batched operations and the dispatch to CUDA. Each CPU loop calls the same
// per-element functions as the matching kernel in cuda/batched.cu.
#include "patchlearn/kernels/batched.hpp"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "patchlearn/core/error.hpp"
#ifdef PATCHLEARN_HAVE_CUDA
#include "patchlearn/kernels/cuda_ops.hpp"
#define PL_DISPATCH(dev, call) \
  if ((dev) == Device::CUDA) return cuda::call
#else
#define PL_DISPATCH(dev, call) \
  if ((dev) == Device::CUDA) throw RunError("this patchlearn was built without the CUDA backend")
#endif

namespace patchlearn::kernels {
namespace {

/// Size of the CPU's last-level cache: the largest-level data cache sysfs lists for cpu 0 (what
/// lscpu shows; glibc's sysconf may report the whole host's L3 inside a virtual machine), else
/// sysconf, else 32 MiB.
double last_level_cache_bytes() {
  static const double bytes = [] {
    double size = 0.0;
    int top = 0;
    for (int i = 0; i < 16; ++i) {
      const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
      std::ifstream level_file(dir + "level"), type_file(dir + "type"), size_file(dir + "size");
      int level = 0;
      std::string type, text;
      if (!(level_file >> level) || !(type_file >> type) || !(size_file >> text) || type == "Instruction" ||
          level < top)
        continue;
      char* end = nullptr;
      double v = std::strtod(text.c_str(), &end);
      if (*end == 'K') v *= 1024.0;
      if (*end == 'M') v *= 1024.0 * 1024.0;
      if (*end == 'G') v *= 1024.0 * 1024.0 * 1024.0;
      if (v > 0) size = v, top = level;
    }
    if (size > 0) return size;
    const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return static_cast<double>(l3 > 0 ? l3 : l2 > 0 ? l2 : 32L << 20);
  }();
  return bytes;
}

/// y[j0 + i] = value(j0, i) for j0 + i < n with non-temporal (cache-bypassing) stores where the CPU
/// has them. The values are computed a block at a time into a local array (a loop over the int i
/// that vectorizes), then streamed out in aligned pairs. The block is short enough that the
/// compiler unrolls it whole and streams the values straight from registers, with i a constant
/// (256 values through a stack array ran at a third of the store bandwidth).
template <class F>
void stream_row(double* y, index_t n, const F& value) {
  index_t j = 0;
#ifdef __SSE2__
  if (n > 0 && reinterpret_cast<std::uintptr_t>(y) % 16 != 0) {
    y[0] = value(0, 0);
    j = 1;
  }
  constexpr int kBlock = 32;
  alignas(16) double block[kBlock];
  for (; j + kBlock <= n; j += kBlock) {
    for (int i = 0; i < kBlock; ++i) block[i] = value(j, i);
    for (int i = 0; i < kBlock; i += 2) _mm_stream_pd(y + j + i, _mm_load_pd(block + i));
  }
#endif
  for (; j < n; ++j) y[j] = value(j, 0);
}

/// Whether the CPU loops that have an AVX2 version may run it: the CPU has AVX2 and the environment
/// does not set PATCHLEARN_CPU_BASELINE (which lets the tests run both versions on one machine).
bool cpu_avx2() {
#ifdef __x86_64__
  return __builtin_cpu_supports("avx2") && std::getenv("PATCHLEARN_CPU_BASELINE") == nullptr;
#else
  return false;
#endif
}

/// Vectors of GCC's vector extension, read and written at any double's alignment: two doubles
/// (one register of the x86-64 baseline, SSE2, or of NEON) and four (one AVX register; only used
/// in functions compiled for AVX2, elsewhere it would be split through memory).
using double2 = double __attribute__((vector_size(2 * sizeof(double)), aligned(sizeof(double))));
using double4 = double __attribute__((vector_size(4 * sizeof(double)), aligned(sizeof(double))));

/// Kernel::run<V>(args...) in a function compiled for AVX2 (V = double4) where `avx2`
/// (cpu_avx2()), else in one compiled for the baseline (V = double2): one binary that uses AVX2
/// where the CPU has it. Kernel::run must be always_inline, so that its loops are compiled for the
/// target of the function around it; that function is kept out of the caller's OpenMP region
/// (inlined there, the gap-tooth trajectory ran ~40 % slower). Neither version uses FMA, so both
/// give the same values.
template <class Kernel, class... Args>
[[gnu::noinline]] void run_baseline(Args... args) {
  Kernel::template run<double2>(args...);
}
#ifdef __x86_64__
template <class Kernel, class... Args>
[[gnu::noinline, gnu::target("avx2")]] void run_avx2(Args... args) {
  Kernel::template run<double4>(args...);
}
#endif
template <class Kernel, class... Args>
void run_vectorized(bool avx2, Args... args) {
#ifdef __x86_64__
  if (avx2) return run_avx2<Kernel>(args...);
#endif
  (void)avx2;
  run_baseline<Kernel>(args...);
}

/// Orders this thread's streaming stores before whatever reads them next.
void stream_fence() {
#ifdef __SSE2__
  _mm_sfence();
#endif
}

}  // namespace

BatchedTridiag::BatchedTridiag(Device dev, index_t mats, index_t n, index_t chunk_len, index_t end_offset)
    : dev_(dev), mats_(mats), n_(n), eo_(end_offset) {
  if (n < 3) throw std::invalid_argument("BatchedTridiag: a system needs at least 3 points");
  // Chunks at least chunk_len long (>= eo + 1 so the end rows couple into their own chunk).
  const index_t len = chunk_len <= 0 ? n - 1 : std::max<index_t>(chunk_len, eo_ + 1);
  chunks_ = std::max<index_t>(1, (n - 1) / len);
  if (eo_ < 1 || eo_ >= (n - 1) / chunks_)
    throw std::invalid_argument("BatchedTridiag: end offset does not fit in the first chunk");
  const std::size_t total = static_cast<std::size_t>(mats * n);
  const std::size_t red = static_cast<std::size_t>(mats * (chunks_ + 1));
  l_ = Buffer<double>(dev, total);
  d_ = Buffer<double>(dev, total);
  u_ = Buffer<double>(dev, total);
  cp_ = Buffer<double>(dev, total);
  inv_ = Buffer<double>(dev, total);
  v_ = Buffer<double>(dev, total);
  w_ = Buffer<double>(dev, total);
  rlow_ = Buffer<double>(dev, red);
  rcp_ = Buffer<double>(dev, red);
  rinv_ = Buffer<double>(dev, red);
}

void BatchedTridiag::set_matrices(const std::vector<double>& l, const std::vector<double>& d,
                                  const std::vector<double>& u) {
  l_.copy_from_host(l);
  d_.copy_from_host(d);
  u_.copy_from_host(u);
  factor();
}

void BatchedTridiag::assemble_diffusion(const Buffer<double>& cond, double c, EndRows ends) {
  [&] {
    PL_DISPATCH(dev_, assemble_diffusion(mats_, n_, cond.data(), c, ends, l_.data(), d_.data(), u_.data()));
    const double* a = cond.data();
#pragma omp parallel for
    for (index_t m = 0; m < mats_; ++m)
      for (index_t j = 0; j < n_; ++j)
        implicit_row(j, n_, a + m * (n_ - 1), c, ends, l_.data() + m * n_, d_.data() + m * n_, u_.data() + m * n_);
  }();
  factor();
}

void BatchedTridiag::factor() {
  PL_DISPATCH(dev_, factor(mats_, n_, chunks_, eo_, l_.data(), d_.data(), u_.data(), cp_.data(), inv_.data(), v_.data(),
                           w_.data(), rlow_.data(), rcp_.data(), rinv_.data()));
  const index_t P = chunks_, n = n_;
#pragma omp parallel for collapse(2)
  for (index_t m = 0; m < mats_; ++m)
    for (index_t k = 0; k < P; ++k) {
      const index_t o = m * n;
      factor_chunk(separator(k, n, P) + 1, separator(k + 1, n, P), l_.data() + o, d_.data() + o, u_.data() + o,
                   cp_.data() + o, inv_.data() + o, v_.data() + o, w_.data() + o);
    }
  for (index_t m = 0; m < mats_; ++m) {
    const index_t o = m * n, r = m * (P + 1);
    factor_reduced(n, P, eo_, l_.data() + o, d_.data() + o, u_.data() + o, v_.data() + o, w_.data() + o,
                   rlow_.data() + r, rcp_.data() + r, rinv_.data() + r);
  }
}

TridiagFactors BatchedTridiag::factors() const {
  return {mats_,       n_,        chunks_,   eo_,          l_.data(),   u_.data(),   cp_.data(),
          inv_.data(), v_.data(), w_.data(), rlow_.data(), rcp_.data(), rinv_.data()};
}

// Systems the CPU solves side by side in one thread (solve_systems): their Thomas recurrences
// interleave, so several are in flight at once.
constexpr int kBlockedLanes = 4;

namespace {

/// Group g of the systems taken kBlockedLanes at a time: the indices s[k] of its `lanes` systems
/// (fewer in the last group) and r[k] = first + k stride, where their values are.
struct LaneGroup {
  int lanes;
  index_t s[kBlockedLanes];
  double* r[kBlockedLanes];
  LaneGroup(index_t g, index_t systems, double* first, index_t stride)
      : lanes(static_cast<int>(std::min<index_t>(kBlockedLanes, systems - g * kBlockedLanes))) {
    for (int k = 0; k < lanes; ++k) {
      s[k] = g * kBlockedLanes + k;
      r[k] = first + k * stride;
    }
  }
  /// Solves the group's systems in place: side by side when there are kBlockedLanes of them, else
  /// one by one (the same values either way).
  void solve(const TridiagFactors& f) const {
    if (lanes == kBlockedLanes) return solve_systems<kBlockedLanes>(f, s, r);
    for (int k = 0; k < lanes; ++k) solve_system(f, s[k], r[k]);
  }
};

}  // namespace

void BatchedTridiag::solve(double* x, index_t systems) const {
  const TridiagFactors f = factors();
  PL_DISPATCH(dev_, solve(systems, f, x));
  // kBlockedLanes systems per thread at a time (one at a time: 1.65x slower on one core, 1.2x
  // on two, for the paper's 90 systems of 80,001 points).
  const index_t groups = (systems + kBlockedLanes - 1) / kBlockedLanes;
#pragma omp parallel for schedule(static, 1)
  for (index_t g = 0; g < groups; ++g) LaneGroup(g, systems, x + g * kBlockedLanes * f.n, f.n).solve(f);
}

bool BatchedTridiag::fits_on_chip() const {
#ifdef PATCHLEARN_HAVE_CUDA
  if (dev_ == Device::CUDA) return cuda::fused_steps_fit(n_);
#endif
  // Each thread's values and increments (2 arrays per lane) within half the last-level cache.
  return 2.0 * kBlockedLanes * sizeof(double) * static_cast<double>(n_) * omp_get_max_threads() <=
         0.5 * last_level_cache_bytes();
}

void BatchedTridiag::fused_steps(double* y, index_t systems, int count, const double* cond, double alpha, EndRows ends,
                                 const double* left, const double* right) const {
  const TridiagFactors f = factors();
  PL_DISPATCH(dev_, fused_steps(systems, f, count, cond, alpha, ends, left, right, y));
  // Each thread takes kBlockedLanes systems at a time and steps them together through all
  // `count` steps: their tridiagonal sweeps interleave (solve_systems), the rest runs lane by lane.
  const index_t n = n_, groups = (systems + kBlockedLanes - 1) / kBlockedLanes;
#pragma omp parallel
  {
    std::vector<double> work(kBlockedLanes * n);
#pragma omp for schedule(static, 1)
    for (index_t g = 0; g < groups; ++g) {
      const LaneGroup group(g, systems, work.data(), n);
      const int lanes = group.lanes;
      const index_t* s = group.s;
      double* const* r = group.r;
      for (int step = 0; step < count; ++step) {
        for (int k = 0; k < lanes; ++k)
          increment_rhs_system(n, cond + (s[k] % mats_) * (n - 1), y + s[k] * n, alpha, ends, eo_,
                               left ? left[s[k]] : 0.0, right ? right[s[k]] : 0.0, r[k]);
        group.solve(f);
        for (int k = 0; k < lanes; ++k) {
          double* ys = y + s[k] * n;
          for (index_t j = 0; j < n; ++j) ys[j] += r[k][j];
        }
      }
    }
  }
}

void increment_rhs(Device dev, index_t systems, index_t mats, index_t n, const double* cond, double alpha, EndRows ends,
                   index_t eo, const double* left, const double* right, const double* x, double* out) {
  PL_DISPATCH(dev, increment_rhs(systems, mats, n, cond, alpha, ends, eo, left, right, x, out));
#pragma omp parallel for
  for (index_t s = 0; s < systems; ++s)
    increment_rhs_system(n, cond + (s % mats) * (n - 1), x + s * n, alpha, ends, eo, left ? left[s] : 0.0,
                         right ? right[s] : 0.0, out + s * n);
}

void axpby(Device dev, index_t count, double a, const double* x, double b, const double* y, double* out) {
  PL_DISPATCH(dev, axpby(count, a, x, b, y, out));
#pragma omp parallel for
  for (index_t i = 0; i < count; ++i) out[i] = a * x[i] + b * y[i];
}

void lift_coefficients(Device dev, index_t batch, int M, int degree, double dX, const ToothMoments& mu, const double* U,
                       double* coef) {
  PL_DISPATCH(dev, lift_coefficients(batch, M, degree, dX, mu, U, coef));
  const int P = M - 2;
  for (index_t b = 0; b < batch; ++b)
    for (int p = 0; p < P; ++p)
      kernels::lift_coefficients(U + b * M, M, p + 1, degree, dX, mu, coef + (b * P + p) * (degree + 1));
}

void lift_rise(Device dev, index_t systems, int ncoef, const double* coef, double z0, double z1, double* out) {
  PL_DISPATCH(dev, lift_rise(systems, ncoef, coef, z0, z1, out));
  for (index_t s = 0; s < systems; ++s)
    out[s] = lift_value(coef + s * ncoef, ncoef, z1) - lift_value(coef + s * ncoef, ncoef, z0);
}

void patch_estimates(Device dev, index_t batch, int M, const double* R, const double* U, const double* R0, double span,
                     double* dUdt) {
  PL_DISPATCH(dev, patch_estimates(batch, M, R, U, R0, span, dUdt));
  const int P = M - 2;
  for (index_t b = 0; b < batch; ++b) {
    dUdt[b * M] = dUdt[b * M + M - 1] = 0.0;
    for (int p = 0; p < P; ++p)
      dUdt[b * M + p + 1] = patch_estimate(R[b * P + p], R0 ? R0[b * P + p] : U[b * M + p + 1], span);
  }
}

void store_snapshot(Device dev, index_t batch, index_t M, index_t times, index_t n, const double* src, double* dst) {
  PL_DISPATCH(dev, store_snapshot(batch, M, times, n, src, dst));
  for (index_t b = 0; b < batch; ++b)
    for (index_t j = 0; j < M; ++j) dst[(b * times + n) * M + j] = src[b * M + j];
}

void lift(Device dev, index_t systems, index_t n, index_t centre, double dx, int ncoef, const double* coef, double* y) {
  PL_DISPATCH(dev, lift(systems, n, centre, dx, ncoef, coef, y));
  // The degree as a compile-time constant, so that Horner unrolls and the loop over j vectorizes.
  // A lift larger than the last-level cache is read back from memory anyway, so it bypasses the
  // cache with streaming stores (no read-for-ownership of every line it overwrites).
  const bool stream = static_cast<double>(systems) * static_cast<double>(n) * sizeof(double) > last_level_cache_bytes();
  const auto fill = [&](auto nc) {
#pragma omp parallel
    {
#pragma omp for nowait
      for (index_t s = 0; s < systems; ++s) {
        const double* c = coef + s * nc();
        // z = (j0 + i - centre) dx: integers are exact in a double, so this is the CUDA kernel's value.
        const auto value = [&](index_t j0, int i) {
          return lift_value(c, nc(), (static_cast<double>(j0 - centre) + i) * dx);
        };
        if (stream)
          stream_row(y + s * n, n, value);
        else
          for (index_t j = 0; j < n; ++j) y[s * n + j] = value(j, 0);
      }
      if (stream) stream_fence();
    }
  };
  if (ncoef == 3) return fill(std::integral_constant<int, 3>{});
  if (ncoef == 5) return fill(std::integral_constant<int, 5>{});
  fill([ncoef] { return ncoef; });
}

void restrict_teeth(Device dev, index_t systems, index_t n, index_t teeth, index_t start, index_t stride, index_t nq,
                    const double* x, double* out) {
  PL_DISPATCH(dev, restrict_teeth(systems, n, teeth, start, stride, nq, x, out));
#pragma omp parallel for collapse(2)
  for (index_t s = 0; s < systems; ++s)
    for (index_t t = 0; t < teeth; ++t) {
      const double* xs = x + s * n + start + t * stride;
      double acc = 0.0;
      for (index_t q = 0; q < nq; ++q) acc += simpson_weight(q, nq) * xs[q];
      out[s * teeth + t] = acc;
    }
}

void trbdf2_error_estimate(Device dev, const double* F, const double* d1, const double* d2, double h, double* out,
                           index_t count) {
  PL_DISPATCH(dev, trbdf2_error_estimate(F, d1, d2, h, out, count));
#pragma omp parallel for
  for (index_t i = 0; i < count; ++i) out[i] = trbdf2_error(F[i], d1[i], d2[i], h);
}

double max_abs(Device dev, const double* x, index_t count) {
  PL_DISPATCH(dev, max_abs(x, count));
  double m = 0.0;
#pragma omp parallel for reduction(max : m)
  for (index_t i = 0; i < count; ++i) m = std::max(m, abs_or_inf(x[i]));
  return m;
}

index_t count_nonfinite(Device dev, const double* x, index_t count) {
  PL_DISPATCH(dev, count_nonfinite(x, count));
  index_t bad = 0;
#pragma omp parallel for reduction(+ : bad)
  for (index_t i = 0; i < count; ++i) bad += std::isfinite(x[i]) ? 0 : 1;
  return bad;
}

}  // namespace patchlearn::kernels

namespace patchlearn::kernels {

namespace {

/// out = L R for P x P row-major matrices, each value summed over K in ascending order (the order of
/// coupling_sum, so the values are the per-element function's), in register blocks of MR rows by
/// NV vectors V of columns: per K, MR values of L times NV vectors of R's row K.
template <class V, int MR, int NV>
[[gnu::always_inline]] inline void coupling_product_block(int P, const double* L, const double* R, double* out, int r0,
                                                          int c0) {
  constexpr int W = sizeof(V) / sizeof(double);
  V acc[MR][NV] = {};
  for (int K = 0; K < P; ++K) {
    const V* rv = reinterpret_cast<const V*>(R + K * P + c0);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const double l = L[(r0 + i) * P + K];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[i][v] += l * rv[v];
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) *reinterpret_cast<V*>(out + (r0 + i) * P + c0 + v * W) = acc[i][v];
}

template <class V>
[[gnu::always_inline]] inline void coupling_product(int P, const double* L, const double* R, double* out) {
  constexpr int MR = 4, NV = 2, NR = NV * sizeof(V) / sizeof(double);
  int c0 = 0;
  for (; c0 + NR <= P; c0 += NR) {
    int r0 = 0;
    for (; r0 + MR <= P; r0 += MR) coupling_product_block<V, MR, NV>(P, L, R, out, r0, c0);
    for (; r0 < P; ++r0) coupling_product_block<V, 1, NV>(P, L, R, out, r0, c0);
  }
  for (; c0 < P; ++c0)
    for (int r = 0; r < P; ++r) {
      double acc = 0.0;
      for (int K = 0; K < P; ++K) acc += L[r * P + K] * R[K * P + c0];
      out[r * P + c0] = acc;
    }
}

/// One gap-tooth rate evaluation: the batch's patch values U and rates dUdt (point-major,
/// [b][q][p][J][I]), the (m+2) x (m+2) bond tables of a patch, and both coupling matrices as
/// given (wp, wm) and transposed.
struct GapToothProblem {
  int P, m;
  const double *kE, *kN, *wp, *wm, *wpT, *wmT;
  double inv_h2;
  const double* U;
  double* dUdt;
};

/// The rates of trajectory b; `edges` holds 4 m P^2 values.
///
/// Frame position (x, y), 0 <= x, y <= m+1, of every patch at once is one P x P matrix [J][I]:
/// at the interior positions a plane of U, at the border one of the 4 m edge planes (corners
/// unused). The edges are matrix products: the east edge of patch (I, J) at height y is
///   sum_K Wp[I][K] U_(K,J)(0, y),  i.e.  F(m+1, y) = F(1, y) Wp^T,
/// the west edge F(0, y) = F(m, y) Wm^T, the north edge F(x, m+1) = Wp F(x, 1) and the south
/// edge F(x, 0) = Wm F(x, m). The rates at each interior position are then lattice_rate over
/// all patches (a unit-stride loop the compiler vectorizes), with the bond values of that
/// position, which every patch shares.
///
/// Mc > 0 fixes the patch size m at compile time (the small loops over a patch then unroll).
template <int Mc>
struct GapToothTrajectory {
  template <class V>
  [[gnu::always_inline]] static inline void run(const GapToothProblem& g, index_t b, double* edges) {
    const int P = g.P, m = Mc > 0 ? Mc : g.m, n = m + 2;
    const index_t PP = static_cast<index_t>(P) * P, per = PP * m * m;
    const double* Ub = g.U + b * per;
    // Edge planes: east (x = m+1), west (x = 0), north (y = m+1), south (y = 0), m of each.
    const auto edge = [edges, m, PP](int side, int k) { return edges + (static_cast<index_t>(side) * m + k - 1) * PP; };
    const auto F = [&](int x, int y) -> const double* {
      if (x == m + 1) return edge(0, y);
      if (x == 0) return edge(1, y);
      if (y == m + 1) return edge(2, x);
      if (y == 0) return edge(3, x);
      return Ub + (static_cast<index_t>(y - 1) * m + x - 1) * PP;
    };
    for (int k = 1; k <= m; ++k) {
      coupling_product<V>(P, F(1, k), g.wpT, edge(0, k));
      coupling_product<V>(P, F(m, k), g.wmT, edge(1, k));
      coupling_product<V>(P, g.wp, F(k, 1), edge(2, k));
      coupling_product<V>(P, g.wm, F(k, m), edge(3, k));
    }
    for (int y = 1; y <= m; ++y)
      for (int x = 1; x <= m; ++x) {
        const int c = y * n + x;
        const double kE = g.kE[c], kW = g.kE[c - 1], kN = g.kN[c], kS = g.kN[c - n];
        const double *u = F(x, y), *uE = F(x + 1, y), *uW = F(x - 1, y), *uN = F(x, y + 1), *uS = F(x, y - 1);
        double* out = g.dUdt + b * per + (static_cast<index_t>(y - 1) * m + x - 1) * PP;
#pragma omp simd
        for (index_t i = 0; i < PP; ++i)
          out[i] = lattice_rate(u[i], uE[i], uW[i], uN[i], uS[i], kE, kW, kN, kS, g.inv_h2);
      }
  }
};

/// A gap-tooth problem with its coupling matrices transposed (for GapToothTrajectory), U and dUdt
/// left to the caller. g points into the object itself, so it is not copied.
struct GapToothCoupling {
  std::vector<double> wpT, wmT;
  GapToothProblem g;
  GapToothCoupling(const GapToothCoupling&) = delete;
  GapToothCoupling& operator=(const GapToothCoupling&) = delete;
  GapToothCoupling(int P, int m, const double* kE, const double* kN, const double* wp, const double* wm, double inv_h2)
      : wpT(static_cast<std::size_t>(P) * P), wmT(wpT.size()) {
    for (int I = 0; I < P; ++I)
      for (int K = 0; K < P; ++K) {
        wpT[K * P + I] = wp[I * P + K];
        wmT[K * P + I] = wm[I * P + K];
      }
    g = GapToothProblem{P, m, kE, kN, wp, wm, wpT.data(), wmT.data(), inv_h2, nullptr, nullptr};
  }
};

/// gap_tooth_chebyshev_interval on the CPU: each thread carries one trajectory's series through
/// all n terms in its own three vectors (T_k-1, T_k, A T_k), the sum building up in u itself.
template <int Mc>
void gap_tooth_intervals_cpu(GapToothProblem g, index_t batch, double rho, const double* c, int n, double* u) {
  const bool avx2 = cpu_avx2();
  const index_t per = static_cast<index_t>(g.P) * g.P * g.m * g.m;
  const double a = 4.0 / rho;
#pragma omp parallel firstprivate(g)
  {
    std::vector<double> edges(static_cast<std::size_t>(4 * g.m * g.P * g.P)), work(static_cast<std::size_t>(3 * per));
#pragma omp for
    for (index_t b = 0; b < batch; ++b) {
      double *Tkm1 = work.data(), *Tk = Tkm1 + per, *AT = Tk + per, *acc = u + b * per;
      std::copy(acc, acc + per, Tkm1);
      g.dUdt = AT;
      g.U = Tkm1;
      run_vectorized<GapToothTrajectory<Mc>>(avx2, g, index_t{0}, edges.data());
      for (index_t i = 0; i < per; ++i) chebyshev_start(a, AT[i], Tkm1[i], c[0], c[1], Tk[i], acc[i]);
      for (int k = 1; k + 1 < n; ++k) {
        g.U = Tk;
        run_vectorized<GapToothTrajectory<Mc>>(avx2, g, index_t{0}, edges.data());
        for (index_t i = 0; i < per; ++i) chebyshev_update(a, AT[i], Tk[i], Tkm1[i], c[k + 1], acc[i]);
        std::swap(Tk, Tkm1);
      }
    }
  }
}

template <int Mc>
void gap_tooth_rates_cpu(const GapToothProblem& g, index_t batch) {
  const bool avx2 = cpu_avx2();
#pragma omp parallel
  {
    std::vector<double> edges(static_cast<std::size_t>(4 * g.m * g.P * g.P));
#pragma omp for
    for (index_t b = 0; b < batch; ++b) run_vectorized<GapToothTrajectory<Mc>>(avx2, g, b, edges.data());
  }
}

/// Rows first .. first + kLatticeBandRows - 1 of one trajectory's lattice rates, each handed to
/// sink(index, rate), which must not write what the band reads. Inside a row only the two end
/// columns wrap; the others take their neighbours from the row pointers directly, a loop
/// vectorized to the target's width (V is not needed). (Streaming the rates past the cache, as
/// the lift does, was slower here, whether value by value or a whole row at a time.)
constexpr index_t kLatticeBandRows = 32;
template <class Sink>
struct LatticeBand {
  template <class V>
  [[gnu::always_inline]] static void run(index_t N, const double* kE, const double* kN, double inv_h2, const double* u,
                                         Sink sink, index_t first) {
    for (index_t y = first; y < std::min(N, first + kLatticeBandRows); ++y) {
      const index_t yn = y + 1 == N ? 0 : y + 1, ys = y == 0 ? N - 1 : y - 1, row = y * N;
      const double *ke = kE + row, *kn = kN + row, *ks = kN + ys * N;
      const double *uc = u + row, *un = u + yn * N, *us = u + ys * N;
      sink(row, periodic_lattice_rate(u, kE, kN, N, 0, y, inv_h2));
#pragma omp simd
      for (index_t x = 1; x < N - 1; ++x)
        sink(row + x, lattice_rate(uc[x], uc[x + 1], uc[x - 1], un[x], us[x], ke[x], ke[x - 1], kn[x], ks[x], inv_h2));
      sink(row + N - 1, periodic_lattice_rate(u, kE, kN, N, N - 1, y, inv_h2));
    }
  }
};

/// The lattice rates of every trajectory b of u, handed to sink_for(b) (see LatticeBand).
///
/// In bands of kLatticeBandRows rows, every trajectory of the batch in turn: the bond-table rows
/// of a band stay in cache across the batch (the tables are read about once, not once per
/// trajectory), and each trajectory's band is one contiguous stretch that the prefetchers follow
/// (row by row across the batch, 3 streams per trajectory, was ~15 % slower). The loop is also
/// compiled for AVX2 (run_vectorized), another ~15 %.
template <class SinkFor>
void lattice_bands(index_t batch, index_t N, const double* kE, const double* kN, double inv_h2, const double* u,
                   const SinkFor& sink_for) {
  using Band = LatticeBand<decltype(sink_for(index_t{0}))>;
  const index_t bands = (N + kLatticeBandRows - 1) / kLatticeBandRows;
  const bool avx2 = cpu_avx2();
#pragma omp parallel for collapse(2) schedule(static)
  for (index_t k = 0; k < bands; ++k)
    for (index_t b = 0; b < batch; ++b)
      run_vectorized<Band>(avx2, N, kE, kN, inv_h2, u + b * N * N, sink_for(b), k * kLatticeBandRows);
}

/// Sinks of lattice_bands: store the rates, or take one Chebyshev step with them.
struct StoreRates {
  double* dudt;
  void operator()(index_t i, double rate) const { dudt[i] = rate; }
};
struct ChebyshevUpdate {
  double a, c;
  const double* Tk;
  double *Tkm1, *acc;
  void operator()(index_t i, double rate) const { chebyshev_update(a, rate, Tk[i], Tkm1[i], c, acc[i]); }
};

}  // namespace

void gap_tooth_rates(Device dev, index_t batch, int P, int m, const double* kE, const double* kN, const double* wp,
                     const double* wm, double inv_h2, const double* U, double* dUdt) {
  PL_DISPATCH(dev, gap_tooth_rates(batch, P, m, kE, kN, wp, wm, inv_h2, U, dUdt));
  GapToothCoupling coupling(P, m, kE, kN, wp, wm, inv_h2);
  GapToothProblem& g = coupling.g;
  g.U = U;
  g.dUdt = dUdt;
  if (m == 3) return gap_tooth_rates_cpu<3>(g, batch);  // the paper's 5 x 5 patches
  gap_tooth_rates_cpu<0>(g, batch);
}

void gap_tooth_chebyshev_interval(Device dev, index_t batch, int P, int m, const double* kE, const double* kN,
                                  const double* wp, const double* wm, double inv_h2, double rho, const double* c, int n,
                                  double* u) {
  if (n < 2) throw std::invalid_argument("gap_tooth_chebyshev_interval: at least two terms");
  PL_DISPATCH(dev, gap_tooth_chebyshev_interval(batch, P, m, kE, kN, wp, wm, inv_h2, rho, c, n, u));
  const GapToothCoupling coupling(P, m, kE, kN, wp, wm, inv_h2);
  if (m == 3) return gap_tooth_intervals_cpu<3>(coupling.g, batch, rho, c, n, u);
  gap_tooth_intervals_cpu<0>(coupling.g, batch, rho, c, n, u);
}

bool gap_tooth_interval_fits(Device dev, int P, int m) {
#ifdef PATCHLEARN_HAVE_CUDA
  if (dev == Device::CUDA) return cuda::gap_tooth_interval_fits(P, m);
#endif
  (void)P, (void)m;
  return dev == Device::CPU;
}

void lattice_rates(Device dev, index_t batch, index_t N, const double* kE, const double* kN, double inv_h2,
                   const double* u, double* dudt) {
  PL_DISPATCH(dev, lattice_rates(batch, N, kE, kN, inv_h2, u, dudt));
  lattice_bands(batch, N, kE, kN, inv_h2, u, [&](index_t b) { return StoreRates{dudt + b * N * N}; });
}

void lattice_chebyshev_step(Device dev, index_t batch, index_t N, const double* kE, const double* kN, double inv_h2,
                            double a, const double* Tk, double* Tkm1, double c, double* acc) {
  PL_DISPATCH(dev, lattice_chebyshev_step(batch, N, kE, kN, inv_h2, a, Tk, Tkm1, c, acc));
  lattice_bands(batch, N, kE, kN, inv_h2, Tk, [&](index_t b) {
    const index_t o = b * N * N;
    return ChebyshevUpdate{a, c, Tk + o, Tkm1 + o, acc + o};
  });
}

void chebyshev_start(Device dev, index_t count, double a, const double* Au, const double* u, double c0, double c1,
                     double* T1, double* acc) {
  PL_DISPATCH(dev, chebyshev_start(count, a, Au, u, c0, c1, T1, acc));
#pragma omp parallel for
  for (index_t i = 0; i < count; ++i) chebyshev_start(a, Au[i], u[i], c0, c1, T1[i], acc[i]);
}

void chebyshev_step(Device dev, index_t count, double a, const double* AT, const double* Tk, double* Tkm1, double c,
                    double* acc) {
  PL_DISPATCH(dev, chebyshev_step(count, a, AT, Tk, Tkm1, c, acc));
#pragma omp parallel for
  for (index_t i = 0; i < count; ++i) chebyshev_update(a, AT[i], Tk[i], Tkm1[i], c, acc[i]);
}

void patch_means(Device dev, index_t batch, index_t points, index_t patches, const double* x, double* out) {
  PL_DISPATCH(dev, patch_means(batch, points, patches, x, out));
  // Each patch's sum runs over its points in order (the CUDA kernel's), all patches side by side.
#pragma omp parallel for
  for (index_t b = 0; b < batch; ++b) {
    double* o = out + b * patches;
    std::fill(o, o + patches, 0.0);
    for (index_t k = 0; k < points; ++k) {
      const double* xk = x + (b * points + k) * patches;
      for (index_t i = 0; i < patches; ++i) o[i] += xk[i];
    }
    for (index_t i = 0; i < patches; ++i) o[i] /= static_cast<double>(points);
  }
}

void window_means(Device dev, index_t batch, index_t N, int P, index_t first, index_t spacing, int m, const double* u,
                  double* U) {
  PL_DISPATCH(dev, window_means(batch, N, P, first, spacing, m, u, U));
#pragma omp parallel for collapse(3)
  for (index_t b = 0; b < batch; ++b)
    for (int J = 0; J < P; ++J)
      for (int I = 0; I < P; ++I) {
        double s = 0.0;
        for (int q = 0; q < m; ++q)
          for (int p = 0; p < m; ++p) {
            const index_t y = (first + J * spacing + 1 + q) % N, x = (first + I * spacing + 1 + p) % N;
            s += u[(b * N + y) * N + x];
          }
        U[(b * P + J) * P + I] = s / (static_cast<double>(m) * m);
      }
}

}  // namespace patchlearn::kernels
