#pragma once
// Bridge between engine buffers and LibTorch tensors. Only the learn layer (and the CLI glue)
// includes LibTorch.
//
// Zero-copy: view() wraps a Buffer's memory as a tensor on the buffer's own device with
// torch::from_blob. Ownership is explicit: the tensor's deleter holds a shared_ptr to the owner of
// the buffer, so the memory lives as long as the last tensor (or view of it) that uses it.
#include <torch/torch.h>

#include <memory>

#include "patchlearn/core/buffer.hpp"

namespace patchlearn::learn {

torch::Device torch_device(Device d);

/// LibTorch's CPU work on cpu_threads() threads (core/device.hpp), the library's own OpenMP loops
/// too: without it LibTorch's first parallel operation would set both to its default (1 on a
/// 2-vCPU machine). Every job calls it first (pipeline/jobs.cpp), and so do train and
/// train_and_evaluate for a caller of the library.
void match_torch_threads();

/// LibTorch on one thread while it lives, and on as many as before afterwards. Its parallel
/// reductions split the work by the thread count, and an adaptive integrator's step follows the
/// last bits of its error norm: a result that must not depend on the share of cores a process
/// got (the truth in data.h5, bit for bit alike from a serial run and from any number of MPI
/// ranks) is computed on one.
class OneTorchThread {
 public:
  OneTorchThread() : was_(torch::get_num_threads()) { torch::set_num_threads(1); }
  ~OneTorchThread() { torch::set_num_threads(was_); }
  OneTorchThread(const OneTorchThread&) = delete;
  OneTorchThread& operator=(const OneTorchThread&) = delete;

 private:
  int was_;
};

/// patchlearn's CUDA kernels run on the default stream, in order with LibTorch's work only while
/// LibTorch's current stream on that device is the default one too (as it is unless a caller set
/// another, e.g. with a CUDAStreamGuard). Every hand-over of device memory between the two
/// (view(), TorchOperator's raw-array interface) checks it and stops with a RunError otherwise, rather than let one
/// read the other's memory before it is written. Nothing to check on the CPU.
void require_default_stream(torch::Device device);

/// A float64 tensor of shape `sizes` over buf's memory; `owner` must own buf.
torch::Tensor view(std::shared_ptr<const void> owner, const Buffer<double>& buf, at::IntArrayRef sizes);

/// Host vector -> tensor (copied) on a device with a dtype.
torch::Tensor to_tensor(const std::vector<double>& v, at::IntArrayRef sizes, torch::Device device,
                        torch::Dtype dtype = torch::kFloat64);
/// Tensor -> host vector of doubles.
std::vector<double> to_vector(const torch::Tensor& t);

/// Whether a tensor an operator keeps between calls (coefficients, a symbol) must be made again:
/// there is none yet, or the states U are on another device or dtype.
inline bool stale(const torch::Tensor& cache, const torch::Tensor& U) {
  return !cache.defined() || cache.device() != U.device() || cache.scalar_type() != U.scalar_type();
}

/// Relative MSE of paper eq. (24) (patchlearn::relative_mse) of two tensors, on the host.
double relative_mse(const torch::Tensor& v, const torch::Tensor& ref);

}  // namespace patchlearn::learn
