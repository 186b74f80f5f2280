#pragma once
// The few CUDA runtime services the host code needs, implemented in cuda/runtime.cu so that only
// nvcc-compiled files include CUDA headers. Declared only in builds with the CUDA backend.
#include <cstddef>
#include <string>

namespace patchlearn::cuda {

int device_count();                     // 0 when no driver or device is usable
std::string device_name();              // name of the current device
void select_device(int index);          // make device `index` the current one (RunError when it cannot be)
int current_device();                   // the index of the current device
void* malloc_bytes(std::size_t bytes);  // throws RunError("out of GPU memory ...")
void free_bytes(void* p);
void memcpy_h2d(void* dst, const void* src, std::size_t bytes);
void memcpy_d2h(void* dst, const void* src, std::size_t bytes);
void memcpy_d2d(void* dst, const void* src, std::size_t bytes);
void memset_zero(void* p, std::size_t bytes);
void synchronize();  // waits and turns any pending kernel error into a RunError

}  // namespace patchlearn::cuda
