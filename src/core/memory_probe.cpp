#include "patchlearn/core/memory_probe.hpp"

#include <algorithm>
#include <fstream>
#include <string>

#include "patchlearn/core/buffer.hpp"

namespace patchlearn {
namespace {

/// A field of /proc/self/status in bytes (-1 when unreadable).
double proc_status_bytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return 1024.0 * std::stod(line.substr(field.size() + 1));
  return -1.0;
}

}  // namespace

MemoryProbe::MemoryProbe(Device d) : dev_(d), live_(buffer_bytes(d)) {
  reset_buffer_peak(d);
  if (d == Device::CPU) {
    std::ofstream("/proc/self/clear_refs") << "5";
    rss_ = proc_status_bytes("VmRSS");
  }
}

double MemoryProbe::peak_bytes() const {
  double peak = static_cast<double>(buffer_peak_bytes(dev_) - live_);
  const double hwm = proc_status_bytes("VmHWM");
  if (dev_ == Device::CPU && rss_ >= 0 && hwm >= 0) peak = std::max(peak, hwm - rss_);
  return peak;
}

}  // namespace patchlearn
