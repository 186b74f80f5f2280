#pragma once
// The CPU side of the batched kernels (internal to src/kernels): the dispatch to the CUDA backend,
// the cache size, streaming stores, and the run-time choice among the x86-64 baseline, AVX2 and
// AVX-512 versions of a loop. The kernel families are in tridiag_batched.cpp (the batched tridiagonal
// solver), patch1d.cpp (the 1D patch operations and element-wise work) and lattice2d.cpp (the 2D
// lattice and gap-tooth coupling).
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

#include "patchlearn/core/device.hpp"
#include "patchlearn/core/error.hpp"
#include "patchlearn/kernels/batched.hpp"
#include "patchlearn/kernels/elementwise.hpp"
// PL_RETURN_IF_CUDA(dev, op(args)): on a CUDA device, return cuda::op(args) (a build without the
// backend throws instead); otherwise go on to the CPU loop that follows.
#ifdef PATCHLEARN_HAVE_CUDA
#include "patchlearn/kernels/cuda_ops.hpp"
#define PL_RETURN_IF_CUDA(dev, call) \
  if ((dev) == Device::CUDA) return cuda::call
#else
#define PL_RETURN_IF_CUDA(dev, call) \
  if ((dev) == Device::CUDA) throw RunError("this patchlearn was built without the CUDA backend")
#endif

namespace patchlearn::kernels {

/// f(i) for every i < count (a functor of kernels/elementwise.hpp): on CUDA the generic kernel of
/// cuda/elementwise.cu, here an OpenMP loop, run by one thread below 4096 indices of one value each
/// (the small per-node and per-patch work of a macro step, where starting the threads costs more
/// than it); indices that are whole systems are always spread over the threads.
template <class F>
void for_each_index(Device dev, index_t count, const F& f) {
  PL_RETURN_IF_CUDA(dev, for_each_index(count, f));
#pragma omp parallel for if (count >= 4096 || is_per_system <F>::value)
  for (index_t i = 0; i < count; ++i) f(i);
}

}  // namespace patchlearn::kernels

namespace patchlearn::kernels::cpu {

/// Size of the CPU's last-level cache: the largest-level data cache sysfs lists for cpu 0 (what
/// lscpu shows; glibc's sysconf may report the whole host's L3 inside a virtual machine), else
/// sysconf, else 32 MiB.
inline double last_level_cache_bytes() {
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

/// The widest vectors the CPU loops that have vector versions run on, in doubles: 8 (AVX-512),
/// 4 (AVX2) or 2 (the x86-64 baseline's SSE2; also any other CPU, where GCC's vectors of 2 are what
/// the target has). The widest the CPU has, unless PATCHLEARN_CPU_ISA caps it (`baseline`, `avx2`
/// or `avx512`), which lets the tests run every version on one machine. Every version gives the
/// same values: the kernels are compiled without contracting multiply-adds (-ffp-contract=off),
/// and each lane does its system's operations in the same order.
inline int cpu_lanes() {
  int cap = 8;
  if (const char* isa = std::getenv("PATCHLEARN_CPU_ISA")) {
    const std::string name(isa);
    if (name == "baseline")
      cap = 2;
    else if (name == "avx2")
      cap = 4;
    else if (name != "avx512")
      throw RunError("PATCHLEARN_CPU_ISA='" + name + "': expected baseline, avx2 or avx512");
  }
  int lanes = 2;
  for (const CpuVersion& v : cpu_versions())
    if (v.lanes <= cap) lanes = v.lanes;
  return lanes;
}

/// Vectors of GCC's vector extension, read and written at any double's alignment: two doubles
/// (one register of the x86-64 baseline, SSE2, or of NEON), four (one AVX register) and eight (one
/// AVX-512 register); the wider ones only used in functions compiled for their instruction set,
/// elsewhere they would be split through memory.
using double2 = double __attribute__((vector_size(2 * sizeof(double)), aligned(sizeof(double))));
using double4 = double __attribute__((vector_size(4 * sizeof(double)), aligned(sizeof(double))));
using double8 = double __attribute__((vector_size(8 * sizeof(double)), aligned(sizeof(double))));

/// The lanes of run_vectorized's V (of `Bytes` bytes): a vector of as many doubles at its natural
/// alignment (as a template argument, V would lose its reduced one), for systems stepped side by
/// side, one in each lane.
template <std::size_t Bytes>
struct LanesOf;
template <>
struct LanesOf<16> {
  using type = double __attribute__((vector_size(16)));
};
template <>
struct LanesOf<32> {
  using type = double __attribute__((vector_size(32)));
};
template <>
struct LanesOf<64> {
  using type = double __attribute__((vector_size(64)));
};
/// The lane vector of run_vectorized's V, and how many systems it holds side by side.
template <class V>
using Lanes = typename LanesOf<sizeof(V)>::type;
template <class L>
constexpr int kLaneCount = sizeof(L) / sizeof(double);
/// The most lanes any version has (scratch sized for it serves every version).
constexpr int kMaxLanes = 8;

/// Kernel::run<V>(args...) in a function compiled for the instruction set of `lanes` (cpu_lanes()):
/// AVX-512 with V = double8, AVX2 with V = double4, else the baseline with V = double2. One binary
/// that uses the widest vectors the CPU has. Kernel::run must be always_inline, so that its loops
/// are compiled for the target of the function around it; that function is kept out of the
/// caller's OpenMP region (inlined there, the gap-tooth trajectory ran ~40 % slower). The AVX-512
/// version also vectorizes the plain loops (omp simd) 8 wide: GCC would otherwise prefer 4.
template <class Kernel, class... Args>
[[gnu::noinline]] void run_baseline(Args... args) {
  Kernel::template run<double2>(args...);
}
#ifdef __x86_64__
template <class Kernel, class... Args>
[[gnu::noinline, gnu::target("avx2")]] void run_avx2(Args... args) {
  Kernel::template run<double4>(args...);
}
template <class Kernel, class... Args>
[[gnu::noinline, gnu::target("avx512f,prefer-vector-width=512")]] void run_avx512(Args... args) {
  Kernel::template run<double8>(args...);
}
#endif
template <class Kernel, class... Args>
void run_vectorized(int lanes, Args... args) {
#ifdef __x86_64__
  if (lanes == 8) return run_avx512<Kernel>(args...);
  if (lanes == 4) return run_avx2<Kernel>(args...);
#endif
  (void)lanes;
  run_baseline<Kernel>(args...);
}

/// Orders this thread's streaming stores before whatever reads them next.
inline void stream_fence() {
#ifdef __SSE2__
  _mm_sfence();
#endif
}

}  // namespace patchlearn::kernels::cpu
