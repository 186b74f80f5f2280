#pragma once
// Peak working memory of one run: the most its Buffers held at once on the device (above what was
// live when the probe started) and, on the CPU, the rise of the process's resident high-water mark
// (reset through /proc/self/clear_refs), which also sees host temporaries.
#include <cstddef>

#include "patchlearn/core/device.hpp"

namespace patchlearn {

class MemoryProbe {
 public:
  explicit MemoryProbe(Device d);
  /// Bytes at the peak since the probe started.
  double peak_bytes() const;

 private:
  Device dev_;
  std::size_t live_;
  double rss_ = -1.0;
};

}  // namespace patchlearn
