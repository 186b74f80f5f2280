#pragma once
// Wall-clock stopwatch for the cost counters the CLI and benchmarks report.
#include <chrono>

namespace patchlearn {

class Stopwatch {
 public:
  Stopwatch() : t0_(std::chrono::steady_clock::now()) {}
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }

 private:
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace patchlearn
