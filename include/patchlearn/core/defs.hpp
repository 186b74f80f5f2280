#pragma once
// PL_HD marks per-element arithmetic shared by the CPU and CUDA backends: the same inline
// function is compiled by g++ for the OpenMP loops and by nvcc for the kernels, so the CPU
// tests exercise exactly the arithmetic the GPU runs.
//
// In the host-emulation build the emulated device code (cuda/*.cu through the host compiler, with
// PATCHLEARN_EMULATED_DEVICE_CODE) and the CPU backend instantiate the same inline functions, and
// the linker keeps one out-of-line copy of each: the device code could then run the CPU's copy,
// compiled without the multiply-add contraction the device code gets. Forcing PL_HD functions
// inline there keeps every one the device code calls in its own compilation.
#if defined(__CUDACC__)
#define PL_HD __host__ __device__ inline
#elif defined(PATCHLEARN_EMULATED_DEVICE_CODE)
#define PL_HD inline __attribute__((always_inline))
#else
#define PL_HD inline
#endif

// PL_HDI: a PL_HD function that the host compiler always inlines. The per-element functions the
// CPU also runs on its lane vectors (kernels/nonlinear.hpp) are PL_HDI: inlined, they take the
// instruction set of the function around them (AVX2 in a cpu::run_vectorized kernel), and no
// vector crosses a call.
#if defined(__CUDACC__)
#define PL_HDI PL_HD
#else
#define PL_HDI inline __attribute__((always_inline))
#endif

#include <cmath>
#include <cstdint>

namespace patchlearn {
using index_t = std::int64_t;

/// Whether v is a whole number to the relative tolerance rel: ratios of lengths and times given in
/// decimal are whole only up to rounding (0.3 / 0.01 is 29.999999999999996).
inline bool whole_number(double v, double rel = 1e-9) { return std::abs(v - std::round(v)) <= rel * std::abs(v); }
}  // namespace patchlearn
