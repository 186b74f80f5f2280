#pragma once
// Owning, typed, contiguous memory on one device. Buffer<T> is move-only; view() hands out raw
// pointers for kernels. Host<->device copies are explicit (to_host / copy_from_host).
#include <cstddef>
#include <vector>

#include "patchlearn/core/device.hpp"

namespace patchlearn {

namespace detail {
void* device_alloc(Device d, std::size_t bytes);
void device_free(Device d, void* p, std::size_t bytes);
void copy_bytes(Device dst_dev, void* dst, Device src_dev, const void* src, std::size_t bytes);
void fill_zero(Device d, void* p, std::size_t bytes);
}  // namespace detail

/// Bytes held by live Buffers on `d`, and the most held at once since the last reset: the working
/// memory of a solver, on the GPU as on the host (benchmarks report it per run).
std::size_t buffer_bytes(Device d);
std::size_t buffer_peak_bytes(Device d);
void reset_buffer_peak(Device d);

template <class T>
class Buffer {
 public:
  Buffer() = default;
  Buffer(Device dev, std::size_t n) : dev_(dev), n_(n) {
    if (n_) data_ = static_cast<T*>(detail::device_alloc(dev_, n_ * sizeof(T)));
  }
  Buffer(Device dev, const std::vector<T>& host) : Buffer(dev, host.size()) { copy_from_host(host); }
  ~Buffer() { release(); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept : dev_(o.dev_), n_(o.n_), data_(o.data_) {
    o.data_ = nullptr;
    o.n_ = 0;
  }
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      release();
      dev_ = o.dev_;
      n_ = o.n_;
      data_ = o.data_;
      o.data_ = nullptr;
      o.n_ = 0;
    }
    return *this;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return n_; }
  Device device() const { return dev_; }

  void copy_from_host(const std::vector<T>& host) { copy_from_host(host.data(), host.size()); }
  void copy_from_host(const T* src, std::size_t n, std::size_t offset = 0) {
    detail::copy_bytes(dev_, data_ + offset, Device::CPU, src, n * sizeof(T));
  }
  /// Copy n values from memory on this buffer's own device.
  void copy_from_device(const T* src, std::size_t n) { detail::copy_bytes(dev_, data_, dev_, src, n * sizeof(T)); }
  void copy_to_host(T* dst, std::size_t n, std::size_t offset = 0) const {
    detail::copy_bytes(Device::CPU, dst, dev_, data_ + offset, n * sizeof(T));
  }
  std::vector<T> to_host() const {
    std::vector<T> h(n_);
    copy_to_host(h.data(), n_);
    return h;
  }
  void zero() {
    if (n_) detail::fill_zero(dev_, data_, n_ * sizeof(T));
  }

 private:
  void release() {
    if (data_) detail::device_free(dev_, data_, n_ * sizeof(T));
    data_ = nullptr;
  }
  Device dev_ = Device::CPU;
  std::size_t n_ = 0;
  T* data_ = nullptr;
};

}  // namespace patchlearn
