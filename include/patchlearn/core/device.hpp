#pragma once
// Backend selection. Every batched operation runs on one Device: the OpenMP CPU backend, which is
// always built, or the CUDA backend, built when nvcc is found. `auto` takes CUDA when a GPU is
// usable and says which it took.
#include <string>

namespace patchlearn {

enum class Device { CPU, CUDA };

/// Whether this build contains the CUDA backend.
bool cuda_built();
/// Whether a CUDA device can be used right now (false in CPU-only builds and without a GPU).
bool cuda_available();
/// Parse "auto" | "cpu" | "cuda" and resolve it; "cuda" without a usable GPU is a RunError.
Device resolve_device(const std::string& request);
const char* device_name(Device d);
/// A short description of the device actually used (GPU model, or CPU with thread count).
std::string device_description(Device d);

}  // namespace patchlearn
