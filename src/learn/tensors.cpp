#include "patchlearn/learn/tensors.hpp"

#include "patchlearn/schemes/coarse_operator.hpp"

namespace patchlearn::learn {

torch::Device torch_device(Device d) {
  return d == Device::CUDA ? torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(current_gpu()))
                           : torch::Device(torch::kCPU);
}

torch::Tensor view(std::shared_ptr<const void> owner, const Buffer<double>& buf, at::IntArrayRef sizes) {
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
