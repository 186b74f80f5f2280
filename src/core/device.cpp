#include "patchlearn/core/device.hpp"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <thread>

#include <fmt/format.h>

#include "patchlearn/core/buffer.hpp"
#include "patchlearn/core/error.hpp"
#ifdef PATCHLEARN_HAVE_CUDA
#include "patchlearn/core/cuda_runtime.hpp"
#endif

namespace patchlearn {

bool cuda_built() {
#ifdef PATCHLEARN_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

bool cuda_available() {
#ifdef PATCHLEARN_HAVE_CUDA
  return cuda::device_count() > 0;
#else
  return false;
#endif
}

namespace {

// N of "cuda:N" (-1 when `name` is not of that form).
int gpu_index(const std::string& name) {
  if (name.size() < 6 || name.compare(0, 5, "cuda:") != 0 || name.size() > 9) return -1;
  int n = 0;
  for (std::size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    n = 10 * n + (name[i] - '0');
  }
  return n;
}

}  // namespace

bool is_device_name(const std::string& name) {
  return name == "auto" || name == "cpu" || name == "cuda" || gpu_index(name) >= 0;
}

std::string not_a_device(const std::string& name) {
  return "'" + name + "' is not a device; use auto, cpu, cuda or cuda:N";
}

Device resolve_device(const std::string& request) {
  if (request == "cpu") return Device::CPU;
  const int index = gpu_index(request);
  if (request == "cuda" || index >= 0) {
    if (!cuda_built())
      throw RunError("--device " + request +
                     ": this patchlearn was built without the CUDA backend (rebuild with nvcc present, "
                     "PATCHLEARN_CUDA=ON)");
    if (!cuda_available())
      throw RunError("--device " + request + ": no usable CUDA GPU was found (check the driver and --gpus)");
#ifdef PATCHLEARN_HAVE_CUDA
    if (index >= 0) {
      const int count = cuda::device_count();
      if (index >= count)
        throw RunError(fmt::format("--device {}: {} CUDA GPU{} visible (cuda:0{})", request, count,
                                   count == 1 ? " is" : "s are",
                                   count > 1 ? fmt::format(" .. cuda:{}", count - 1) : ""));
      cuda::select_device(index);
    }
#endif
    return Device::CUDA;
  }
  if (request == "auto") return cuda_available() ? Device::CUDA : Device::CPU;
  throw ConfigError("device", not_a_device(request));
}

int current_gpu() {
#ifdef PATCHLEARN_HAVE_CUDA
  if (cuda_available()) return cuda::current_device();
#endif
  return 0;
}

const char* device_name(Device d) { return d == Device::CUDA ? "cuda" : "cpu"; }

std::string device_description(Device d) {
#ifdef PATCHLEARN_HAVE_CUDA
  if (d == Device::CUDA) return "cuda (" + cuda::device_name() + ")";
#endif
  (void)d;
  return "cpu (" + std::to_string(omp_get_max_threads()) + " OpenMP threads)";
}

namespace detail {

namespace {
struct MemoryCount {
  std::atomic<std::size_t> live{0}, peak{0};
};
MemoryCount& memory_count(Device d) {
  static MemoryCount counts[2];
  return counts[d == Device::CUDA ? 1 : 0];
}
}  // namespace

void* device_alloc(Device d, std::size_t bytes) {
  void* p = nullptr;
#ifdef PATCHLEARN_HAVE_CUDA
  if (d == Device::CUDA) p = cuda::malloc_bytes(bytes);
#endif
  if (d == Device::CPU) {
    p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) throw OutOfMemory("out of host memory allocating " + std::to_string(bytes >> 20) + " MiB");
  }
  auto& c = memory_count(d);
  const std::size_t now = c.live += bytes;
  for (std::size_t peak = c.peak; now > peak && !c.peak.compare_exchange_weak(peak, now);) {
  }
  return p;
}

void device_free(Device d, void* p, std::size_t bytes) {
  memory_count(d).live -= bytes;
#ifdef PATCHLEARN_HAVE_CUDA
  if (d == Device::CUDA) return cuda::free_bytes(p);
#endif
  std::free(p);
}

}  // namespace detail

std::size_t buffer_bytes(Device d) { return detail::memory_count(d).live; }
std::size_t buffer_peak_bytes(Device d) { return detail::memory_count(d).peak; }
void reset_buffer_peak(Device d) { detail::memory_count(d).peak = detail::memory_count(d).live.load(); }

namespace detail {

void copy_bytes(Device dst_dev, void* dst, Device src_dev, const void* src, std::size_t bytes) {
  if (!bytes) return;
#ifdef PATCHLEARN_HAVE_CUDA
  if (dst_dev == Device::CUDA && src_dev == Device::CUDA) return cuda::memcpy_d2d(dst, src, bytes);
  if (dst_dev == Device::CUDA) return cuda::memcpy_h2d(dst, src, bytes);
  if (src_dev == Device::CUDA) return cuda::memcpy_d2h(dst, src, bytes);
#endif
  (void)dst_dev;
  (void)src_dev;
  std::memcpy(dst, src, bytes);
}

void fill_zero(Device d, void* p, std::size_t bytes) {
#ifdef PATCHLEARN_HAVE_CUDA
  if (d == Device::CUDA) return cuda::memset_zero(p, bytes);
#endif
  (void)d;
  std::memset(p, 0, bytes);
}

}  // namespace detail
namespace {

// Total and idle jiffies of all CPUs (the first line of /proc/stat); false when unreadable.
bool cpu_times(double& total, double& idle) {
  std::ifstream in("/proc/stat");
  std::string cpu;
  if (!(in >> cpu) || cpu != "cpu") return false;
  total = idle = 0;
  double v = 0;
  for (int k = 0; k < 8 && in >> v; ++k) {
    total += v;
    if (k == 3 || k == 4) idle += v;  // idle and iowait
  }
  return total > 0;
}

std::atomic<int> chosen_cpu_threads{0};  // 0: none chosen yet

}  // namespace

void use_cpu_threads(int n) {
  omp_set_num_threads(n);
  chosen_cpu_threads = n;
}

int cpu_threads() {
  int none = 0;  // the first call without a chosen count takes OpenMP's
  chosen_cpu_threads.compare_exchange_strong(none, omp_get_max_threads());
  return chosen_cpu_threads;
}

int fit_threads_to_idle_cores() {
  if (std::getenv("OMP_NUM_THREADS")) return 0;
  const int cores = omp_get_num_procs();  // the cores this process may run on
  if (cores < 2 || cores != static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN))) return 0;
  double t0 = 0, i0 = 0, t1 = 0, i1 = 0;
  if (!cpu_times(t0, i0)) return 0;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (!cpu_times(t1, i1) || t1 <= t0) return 0;
  const int busy = std::clamp(static_cast<int>(std::lround((1.0 - (i1 - i0) / (t1 - t0)) * cores)), 0, cores - 1);
  if (busy > 0) use_cpu_threads(cores - busy);
  return busy;
}

std::vector<CpuVersion> cpu_versions() {
  std::vector<CpuVersion> v{{"baseline", 2}};
#ifdef __x86_64__
  if (__builtin_cpu_supports("avx2")) v.push_back({"avx2", 4});
  if (__builtin_cpu_supports("avx512f")) v.push_back({"avx512", 8});
#endif
  return v;
}

}  // namespace patchlearn
