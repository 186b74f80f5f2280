#pragma once
// Tests written once for every device: a TEST_P over Device with a Cpu/ and a Cuda/ instance.
// The Cpu/ instances are unit tests, the Cuda/ ones gpu tests (tests/CMakeLists.txt:
// PATCHLEARN_DEVICE_TESTS), run on the emulated backend in CI and on a GPU by bench/gpu_check.sh,
// skipped where neither is. A suite is an alias of OnDevice (`using Suite = OnDevice;`) made
// for both devices by INSTANTIATE_ON_EVERY_DEVICE(Suite).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "patchlearn/core/device.hpp"

/// Skips the test when `dev` is CUDA and no GPU can run it (a CPU-only build, or no device).
#define SKIP_UNLESS_USABLE(dev)                                           \
  if ((dev) == patchlearn::Device::CUDA && !patchlearn::cuda_available()) \
  GTEST_SKIP() << "no usable CUDA GPU (or a CPU-only build)"

class OnDevice : public testing::TestWithParam<patchlearn::Device> {
 protected:
  void SetUp() override { SKIP_UNLESS_USABLE(GetParam()); }
};

#define INSTANTIATE_ON_EVERY_DEVICE(suite)                                        \
  INSTANTIATE_TEST_SUITE_P(Cpu, suite, testing::Values(patchlearn::Device::CPU)); \
  INSTANTIATE_TEST_SUITE_P(Cuda, suite, testing::Values(patchlearn::Device::CUDA))

/// max |a - b| over two results of equal size; any NaN makes it infinite (in the emulated backend a
/// value no kernel wrote reads as NaN, and must fail a comparison wherever it sits).
inline double max_difference(const std::vector<double>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    const double d = std::abs(a[i] - b[i]);
    if (std::isnan(d)) return std::numeric_limits<double>::infinity();
    worst = std::max(worst, d);
  }
  return worst;
}

/// max |v|, NaN if v holds one (a tolerance scaled by it then fails every comparison).
inline double max_magnitude(const std::vector<double>& v) {
  double m = 0;
  for (const double x : v) {
    if (std::isnan(x)) return x;
    m = std::max(m, std::abs(x));
  }
  return m;
}

/// The vector versions of the CPU kernels this machine runs (patchlearn::cpu_versions), as values
/// of PATCHLEARN_CPU_ISA: the baseline always, avx2 and avx512 where the CPU has them. On CUDA
/// one, "" (the environment left as it is).
inline std::vector<std::string> cpu_isas(patchlearn::Device dev) {
  if (dev != patchlearn::Device::CPU) return {""};
  std::vector<std::string> isas;
  for (const auto& v : patchlearn::cpu_versions()) isas.push_back(v.name);
  return isas;
}

/// ", CPU <isa>" for a failure message, "" for cpu_isas' CUDA entry.
inline std::string isa_label(const std::string& isa) { return isa.empty() ? "" : ", CPU " + isa; }

/// Runs the CPU kernels in version `isa` (PATCHLEARN_CPU_ISA; "" changes nothing) while it lives.
class CpuIsa {
 public:
  explicit CpuIsa(const std::string& isa) : set_(!isa.empty()) {
    if (set_) setenv("PATCHLEARN_CPU_ISA", isa.c_str(), 1);
  }
  ~CpuIsa() {
    if (set_) unsetenv("PATCHLEARN_CPU_ISA");
  }
  CpuIsa(const CpuIsa&) = delete;
  CpuIsa& operator=(const CpuIsa&) = delete;

 private:
  bool set_;
};
