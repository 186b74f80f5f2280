#pragma once
// Tests written once for every device: a TEST_P over Device with a Cpu/ and a Cuda/ instance.
// The Cpu/ instances are unit tests, the Cuda/ ones gpu tests (tests/CMakeLists.txt:
// PATCHLEARN_DEVICE_TESTS), run on the emulated backend in CI and on a GPU by bench/gpu_check.sh,
// skipped where neither is. A suite is an alias of OnDevice (`using Suite = OnDevice;`) made
// for both devices by INSTANTIATE_ON_EVERY_DEVICE(Suite).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
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
