#include "patchlearn/learn/tensors.hpp"

#include <c10/core/impl/DeviceGuardImplInterface.h>

#include <string>

#include "patchlearn/core/device.hpp"
#include "patchlearn/core/error.hpp"
#include "patchlearn/schemes/coarse_operator.hpp"

namespace patchlearn::learn {

torch::Device torch_device(Device d) {
  return d == Device::CUDA ? torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(current_gpu()))
                           : torch::Device(torch::kCPU);
}

void match_torch_threads() {
  const int threads = cpu_threads();
  if (torch::get_num_threads() != threads) torch::set_num_threads(threads);
}

void require_default_stream(torch::Device device) {
  // The device-generic guard interface: present in every LibTorch, CUDA build or not.
  if (!device.is_cuda() || !c10::impl::hasDeviceGuardImpl(c10::DeviceType::CUDA)) return;
  const auto* cuda = c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA);
  if (cuda->getStream(device) != cuda->getDefaultStream(device))
    throw RunError("LibTorch's current stream on " + device.str() +
                   " is not the default stream, which patchlearn's CUDA kernels use: call patchlearn outside "
                   "the stream guard");
}

torch::Tensor view(std::shared_ptr<const void> owner, const Buffer<double>& buf, at::IntArrayRef sizes) {
  require_default_stream(torch_device(buf.device()));
  auto keep = std::make_shared<std::shared_ptr<const void>>(std::move(owner));
  return torch::from_blob(
      const_cast<double*>(buf.data()), sizes, [keep](void*) mutable { keep->reset(); },
      torch::TensorOptions().dtype(torch::kFloat64).device(torch_device(buf.device())));
}

torch::Tensor to_tensor(const std::vector<double>& v, at::IntArrayRef sizes, torch::Device device, torch::Dtype dtype) {
  return torch::from_blob(const_cast<double*>(v.data()), sizes, torch::kFloat64).to(device, dtype, false, true);
}

std::vector<double> to_vector(const torch::Tensor& t) {
  auto c = t.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

double relative_mse(const torch::Tensor& v, const torch::Tensor& ref) {
  return patchlearn::relative_mse(to_vector(v), to_vector(ref));
}

}  // namespace patchlearn::learn
