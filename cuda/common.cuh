#pragma once
// What every cuda/*.cu file shares. Under nvcc: <cuda_runtime.h> and launches as <<<>>>. In the
// host-emulation build (PATCHLEARN_CUDA_EMU, compiled by the host compiler): the emulator of
// core/cuda_emu.hpp. Kernels are launched only through PL_LAUNCH(kernel, grid, block, shared
// bytes)(arguments...), and declare shared memory only with PL_SHARED / PL_DYNAMIC_SHARED, so that
// both builds run the same source.
#if defined(__CUDACC__)
#include <cuda_runtime.h>
#define PL_LAUNCH(kernel, grid, block, shmem) kernel<<<(grid), (block), (shmem)>>>
#define PL_SHARED(T, name, count) __shared__ T name[count]
#define PL_DYNAMIC_SHARED(T, name) extern __shared__ T name[]
#elif defined(PATCHLEARN_CUDA_EMU)
#include "patchlearn/core/cuda_emu.hpp"
#else
#error "cuda/*.cu is compiled by nvcc, or by the host compiler with PATCHLEARN_CUDA_EMU defined"
#endif

#include <cstdlib>
#include <cstring>
#include <string>

#include "patchlearn/core/defs.hpp"
#include "patchlearn/core/error.hpp"

namespace patchlearn::kernels::cuda {

constexpr int kBlock = 256;

/// Blocks of kBlock threads covering `count` elements (count >= 1: a grid of zero blocks is a
/// launch error; within the grid's 2^31 - 1 blocks).
inline unsigned blocks_for(index_t count) {
  const index_t blocks = (count + kBlock - 1) / kBlock;
  if (blocks < 1 || blocks > 2147483647)
    throw RunError("CUDA launch over " + std::to_string(count) + " elements: outside 1 .. 2^31-1 blocks");
  return static_cast<unsigned>(blocks);
}

/// Turns a failed CUDA call into a RunError naming what was being done.
inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw RunError(std::string("CUDA ") + what + ": " + cudaGetErrorString(e));
}

/// PATCHLEARN_CUDA_SYNC=1: wait for every kernel right after its launch, so that a fault is
/// reported under the name of the kernel that caused it (slower; for debugging).
inline bool sync_after_launch() {
  static const bool on = [] {
    const char* e = std::getenv("PATCHLEARN_CUDA_SYNC");
    return e && *e && std::strcmp(e, "0") != 0;
  }();
  return on;
}

/// After a launch: its configuration error, and with PATCHLEARN_CUDA_SYNC=1 its execution error.
inline void check_launch(const char* what) {
  const std::string kernel = std::string("kernel ") + what;
  check(cudaGetLastError(), kernel.c_str());
  if (sync_after_launch()) check(cudaDeviceSynchronize(), kernel.c_str());
}

}  // namespace patchlearn::kernels::cuda
