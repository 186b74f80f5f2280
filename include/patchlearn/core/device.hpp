#pragma once
// Backend selection. Every batched operation runs on one Device: the OpenMP CPU backend, which is
// always built, or the CUDA backend, built when nvcc is found. `auto` takes CUDA when a GPU is
// usable and says which it took.
#include <string>
#include <vector>

namespace patchlearn {

enum class Device { CPU, CUDA };

/// Whether this build contains the CUDA backend.
bool cuda_built();
/// Whether a CUDA device can be used right now (false in CPU-only builds and without a GPU).
bool cuda_available();
/// Whether `name` names a device: "auto", "cpu", "cuda" or "cuda:N" (GPU N of the visible ones).
bool is_device_name(const std::string& name);
/// Why `name` is not a device name, for every place that refuses one.
std::string not_a_device(const std::string& name);
/// Parse a device name and resolve it; "cuda" or "cuda:N" without that usable GPU is a RunError.
/// "cuda:N" makes GPU N the current device of the process; "cuda" keeps the current one (GPU 0,
/// or the one an MPI rank took).
Device resolve_device(const std::string& request);
/// The index of the current GPU (0 without the CUDA backend).
int current_gpu();
const char* device_name(Device d);
/// A short description of the device actually used (GPU model, or CPU with thread count).
std::string device_description(Device d);

/// The CPU backend's threads on a shared machine. OpenMP threads wait for each other at every
/// barrier by spinning; when another process holds a core, the thread that lands on it stalls every
/// barrier (a quick1d simulate beside one busy process on 2 cores: 49 s with 2 threads, 9.5 s with
/// 1; idle: 6.2 s with 2). Without OMP_NUM_THREADS, and when no affinity mask restricts the
/// process, this samples the cores' idle time over ~50 ms (/proc/stat) and sets as many threads as
/// cores are idle (at least 1). Returns the number of busy cores it left alone (0 when it changed
/// nothing).
int fit_threads_to_idle_cores();

/// The OpenMP threads the library's CPU work runs on: the count last given to use_cpu_threads (by
/// fit_threads_to_idle_cores, or an MPI rank's share of its node), else omp_get_max_threads() as
/// the first call finds it. LibTorch's first parallel operation sets the process's OpenMP threads
/// to LibTorch's own default, the physical cores as it counts them (1 on this project's 2-vCPU
/// machines, where 2 threads train 1.42x faster), unless it was given a count before: the jobs
/// and the learning entry points hand it this one (learn::match_torch_threads).
int cpu_threads();
/// Run the library's CPU work on n threads (omp_set_num_threads), and remember n for cpu_threads().
void use_cpu_threads(int n);

/// A vector version of the CPU kernels' hot loops: its name in PATCHLEARN_CPU_ISA and its lanes
/// (doubles per vector).
struct CpuVersion {
  std::string name;
  int lanes;
};
/// The versions this CPU runs, narrowest first: "baseline" (2 lanes: SSE2, or any other CPU's
/// vectors of two), then "avx2" (4) and "avx512" (8) where the x86-64 CPU has them.
std::vector<CpuVersion> cpu_versions();

}  // namespace patchlearn
