#pragma once
// PL_HD marks per-element arithmetic shared by the CPU and CUDA backends: the same inline
// function is compiled by g++ for the OpenMP loops and by nvcc for the kernels, so the CPU
// tests exercise exactly the arithmetic the GPU runs.
#if defined(__CUDACC__)
#define PL_HD __host__ __device__ inline
#else
#define PL_HD inline
#endif

#include <cmath>
#include <cstdint>

namespace patchlearn {
using index_t = std::int64_t;

/// Whether v is a whole number to the relative tolerance rel: ratios of lengths and times given in
/// decimal are whole only up to rounding (0.3 / 0.01 is 29.999999999999996).
inline bool whole_number(double v, double rel = 1e-9) { return std::abs(v - std::round(v)) <= rel * std::abs(v); }
}  // namespace patchlearn
