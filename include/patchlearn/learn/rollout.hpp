#pragma once
// Coarse operators written in tensor ops: a learned network, the effective PDE of a 1D medium or a
// 2D lattice (Jacobians by autograd). Each is a CoarseOperator, so the integrators of
// schemes/integrators.hpp roll it out like any other; rollout() below is their tensor front end.
#include <torch/torch.h>

#include <array>
#include <vector>

#include "patchlearn/homog/effective.hpp"
#include "patchlearn/learn/networks.hpp"
#include "patchlearn/schemes/integrators.hpp"

namespace patchlearn::learn {

/// A coarse operator on tensors: rhs(U) maps states U[B, M] to their rates on U's device and in
/// U's dtype. As a CoarseOperator it works on raw float64 arrays of on_grid()'s node count and
/// device, viewed as tensors without a copy (torch::from_blob), the rates copied once into dUdt.
class TorchOperator : public CoarseOperator {
 public:
  virtual torch::Tensor rhs(const torch::Tensor& U) = 0;
  /// dF/dU for each state: [B, M, M]. Default: autograd through rhs().
  virtual torch::Tensor jacobian(const torch::Tensor& U);

  /// The node count and device the raw-array interface works on (rollout() sets them from its
  /// initial states). A tensor operator is defined on any grid; the raw interface needs one.
  TorchOperator& on_grid(int nodes, Device device);
  int nodes() const override { return nodes_; }
  Device device() const override { return device_; }
  void rhs(const double* U, double* dUdt, index_t batch) override;
  void jacobian(const double* U, double* J, index_t batch) override;

 private:
  int nodes_ = 0;
  Device device_ = Device::CPU;
};

/// A trained network.
class ModelOperator : public TorchOperator {
 public:
  explicit ModelOperator(CoarseModel model) : model_(std::move(model)) {}
  torch::Tensor rhs(const torch::Tensor& U) override;

 private:
  CoarseModel model_;
};

/// The effective PDE U_t = (a*(U) U_x)_x + c*(U) U_x + r*(U) of a u-dependent medium on the macro
/// grid as patch dynamics represents it: the effective rate of the quadratic lift through each
/// node and its neighbours, a*(U) D2 U + a*'(U) (D1 U)^2 + c*(U) D1 U + r*(U) with the 3-point
/// differences D1, D2 (Dirichlet ends). That, not the conservative 3-point form, is what the
/// patch estimates converge to (up to their tooth average: O(w^2), 1e-6 to 2e-5 of the rates on
/// steep profiles, which the regression's columns take into account (discovered.hpp: ToothAverage);
/// the conservative form differs from both by a*' dX^2 (D2 U)^2 / 4 + ..., percent-level on the
/// shipped configs), so it is the exact coarse operator of nonlinear patch data. The series are
/// evaluated by Clenshaw's recurrence in tensor ops, so the Jacobian comes from autograd.
/// On a graded medium the coefficients are a*(x, U), c*(x, U), r*(x, U), one series per interior
/// node, and the lift's rate gains d_x a*(x, U) D1 U (`a_slope`, one series per interior node):
/// with one constant term per node (a linear graded medium) that is a*(x) D2 U + a*'(x) D1 U.
/// A linear periodic medium is the homogenized 3-point scheme a* D2 U.
class EffectiveTorchOperator : public TorchOperator {
 public:
  /// A constant a* (a linear periodic medium).
  EffectiveTorchOperator(double a_star, double dX) : dX_(dX) { m_.a = {{a_star}, 1}; }
  /// `medium`: one series per coefficient shared by every node, or one per interior node with the
  /// x-slope of a* in `a_slope` (a graded medium).
  EffectiveTorchOperator(MediumSeries medium, double dX, ChebyshevTable a_slope = {})
      : m_(std::move(medium)), slope_(std::move(a_slope)), dX_(dX) {}
  torch::Tensor rhs(const torch::Tensor& U) override;
  /// The rate's parts at the interior nodes ([N, M - 2]; undefined where absent), which rhs sums:
  /// a*(U) D2 U, a*'(U) (D1 U)^2, a graded medium's slope d_x a*(x, U) D1 U, c*(U) D1 U and r*(U).
  /// A random medium's patch sees them times its own piece's factors (the data check of
  /// Problem1D: LearningTask::coarse_data_rates).
  struct Parts {
    torch::Tensor diffusion, gradient_squared, slope, drift, reaction;
  };
  Parts parts(const torch::Tensor& U);

 private:
  MediumSeries m_;
  ChebyshevTable slope_;
  double dX_;
  std::array<torch::Tensor, 4> series_;  ///< a, slope, c, r as tensors on the last rhs' device and dtype
};

/// The effective equation of a 2D lattice (homog/effective.hpp: EffectiveLattice2D) on a periodic
/// P x P grid, pseudo-spectrally:
///     dU/dt = IFFT(-(Dxx kx^2 + 2 Dxy kx ky + Dyy ky^2) FFT(G(U))) + <rho> f(U)
/// (Nyquist dropped from the cross term; G(U) = U and no reaction on a linear lattice). On a linear
/// lattice it is exact for patch means of modes below P/2: the exact coarse operator of 2D
/// gap-tooth data. On the truth's fine grid it is the method of lines of the effective PDE.
/// A modulated lattice (e.modulation = A) takes the flux form instead,
///     dU/dt = d_x(A (Dxx U_x + Dxy U_y)) + d_y(A (Dxy U_x + Dyy U_y)),
/// every derivative spectral (Nyquist dropped) and A sampled at the grid's nodes, node (i, j) at
/// (origin + i L / P, origin + j L / P).
class SpectralHomogenizedOperator2D : public TorchOperator {
 public:
  SpectralHomogenizedOperator2D(EffectiveLattice2D e, int P, double L, double origin = 0.0)
      : e_(std::move(e)), P_(P), L_(L), origin_(origin) {}
  torch::Tensor rhs(const torch::Tensor& U) override;

 private:
  EffectiveLattice2D e_;
  int P_;
  double L_, origin_;
  torch::Tensor A_;                      // the modulation at the nodes [j][i], on the device and dtype of the last rhs
  std::array<torch::Tensor, 2> series_;  ///< G and f as tensors, likewise
};

struct RolloutResult {
  torch::Tensor U;  ///< [B, T, M] at the sample times, on U0's device
  int64_t steps = 0, rhs_evaluations = 0;
};

/// rollout_coarse (schemes/integrators.hpp) of a tensor operator from U0 [B, M] (float64), on
/// U0's device: U0 is the state at times[0], the result holds the states at every one of `times`.
RolloutResult rollout(TorchOperator& op, const torch::Tensor& U0, const std::vector<double>& times,
                      const RolloutParams& params);

}  // namespace patchlearn::learn
