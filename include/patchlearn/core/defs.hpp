#pragma once
// PL_HD marks per-element arithmetic shared by the CPU and CUDA backends: the same inline
// function is compiled by g++ for the OpenMP loops and by nvcc for the kernels, so the CPU
// tests exercise exactly the arithmetic the GPU runs.
#if defined(__CUDACC__)
#define PL_HD __host__ __device__ inline
#else
#define PL_HD inline
#endif

#include <cstdint>

namespace patchlearn {
using index_t = std::int64_t;
}
