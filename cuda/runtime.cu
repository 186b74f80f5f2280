// CUDA runtime services for the host code (see core/cuda_runtime.hpp).
#include "common.cuh"

#include <string>

#include "patchlearn/core/cuda_runtime.hpp"
#include "patchlearn/core/error.hpp"

namespace patchlearn::cuda {
using kernels::cuda::check;

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

std::string device_name() {
  int d = 0;
  check(cudaGetDevice(&d), "current device");
  cudaDeviceProp p{};
  check(cudaGetDeviceProperties(&p, d), "device query");
  return p.name + (d > 0 ? " #" + std::to_string(d) : std::string());
}

void select_device(int index) { check(cudaSetDevice(index), "select device"); }

int current_device() {
  int d = 0;
  check(cudaGetDevice(&d), "current device");
  return d;
}

void* malloc_bytes(std::size_t bytes) {
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, bytes);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    throw OutOfMemory("out of GPU memory allocating " + std::to_string(bytes >> 20) +
                      " MiB; reduce trajectories or patch size, or use --device cpu");
  }
  check(e, "malloc");
  return p;
}

void free_bytes(void* p) { cudaFree(p); }
void memcpy_h2d(void* d, const void* s, std::size_t n) {
  check(cudaMemcpy(d, s, n, cudaMemcpyHostToDevice), "copy to device");
}
void memcpy_d2h(void* d, const void* s, std::size_t n) {
  check(cudaMemcpy(d, s, n, cudaMemcpyDeviceToHost), "copy to host");
}
void memcpy_d2d(void* d, const void* s, std::size_t n) {
  check(cudaMemcpy(d, s, n, cudaMemcpyDeviceToDevice), "copy on device");
}
void memset_zero(void* p, std::size_t n) { check(cudaMemset(p, 0, n), "memset"); }
void synchronize() {
  check(cudaGetLastError(), "kernel launch");
  check(cudaDeviceSynchronize(), "kernel");
}

}  // namespace patchlearn::cuda
