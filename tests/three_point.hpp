#pragma once
// The homogenized 3-point scheme a D2 U on M equispaced nodes of [0, 1] (Dirichlet ends): the
// coarse operator patch data represent, as the numerics tests' reference (the library's is
// learn::EffectiveTorchOperator, which they do not link). Written with the library's vector
// kernels on its device, so that it runs on either backend: the interior rates of the whole batch
// as one stage sum over shifted views (right, middle, left), then each state's two end rates 0.
#include "patchlearn/core/buffer.hpp"
#include "patchlearn/kernels/batched.hpp"
#include "patchlearn/schemes/coarse_operator.hpp"

class ThreePoint : public patchlearn::CoarseOperator {
 public:
  ThreePoint(patchlearn::Device dev, double a, int M) : dev_(dev), c_(a * (M - 1) * (M - 1)), M_(M) {}
  int nodes() const override { return M_; }
  patchlearn::Device device() const override { return dev_; }
  void rhs(const double* U, double* dUdt, patchlearn::index_t batch) override {
    const double coef[3] = {1.0, -2.0, 1.0};
    const double* k[3] = {U + 2, U + 1, U};
    patchlearn::kernels::stage_sum(dev_, batch * M_ - 2, c_, nullptr, 3, coef, k, dUdt + 1);
    for (patchlearn::index_t b = 0; b < batch; ++b) {
      patchlearn::detail::fill_zero(dev_, dUdt + b * M_, sizeof(double));
      patchlearn::detail::fill_zero(dev_, dUdt + b * M_ + M_ - 1, sizeof(double));
    }
  }
  /// a / dX^2, the scheme's coupling.
  double c() const { return c_; }

 private:
  patchlearn::Device dev_;
  double c_;
  int M_;
};
