#pragma once
// The fine medium of the windows a patch scheme simulates (the patches of patch dynamics, the
// teeth of gap-tooth), on the scheme's device, window after window: the bond conductances of a
// linear medium, or, for a nonlinear one (a(y, u), drift, reaction), every bond's and point's
// Chebyshev series in u with their per-element view (kernels/nonlinear.hpp) and the scratch the
// batched linearly implicit step needs. A batch of systems uses window s % windows for system s.
#include <vector>

#include "patchlearn/core/buffer.hpp"
#include "patchlearn/kernels/nonlinear.hpp"
#include "patchlearn/micro/diffusion1d.hpp"

namespace patchlearn {

class PatchMedium1D {
 public:
  /// Windows of n lattice points starting at `firsts`; `max_systems` bounds the systems stepped at
  /// once (the nonlinear scratch).
  PatchMedium1D(const FineModel1D& model, const std::vector<index_t>& firsts, index_t n, Device device,
                index_t max_systems);
  bool nonlinear() const { return nonlinear_; }
  /// Nonlinear media: the u range the medium's series are tabulated on (medium.u_range).
  URange u_range() const { return u_range_; }
  /// Linear media: the conductances [window][n - 1]; a nonlinear random medium: its cells' alone
  /// (CoefficientField::linear_part), which carry its corrector at every u; empty otherwise.
  const Buffer<double>& conductances() const { return cond_; }
  /// A random medium (not periodic, so each window has its own corrector): the windows'
  /// harmonic means of those conductances [window] (kernels::lift_corrector, the gap-tooth
  /// edges); empty otherwise.
  const Buffer<double>& harmonic_means() const { return harmonic_; }
  /// A random medium: lift rows y [systems][n] (system s on window s % windows) with their window's
  /// own corrector, onto the patch's slow manifold where the medium depends on u or has a drift
  /// (kernels::lift_corrector), keeping each row's Simpson average over [start, start + nq).
  void lift_corrector(index_t systems, index_t start, index_t nq, double* y);
  /// Nonlinear media: `count` linearly implicit theta steps of dt of `systems` systems y, the
  /// Jacobian factored at every step or at the first only (kernels::theta_steps).
  void theta_steps(index_t systems, int count, double dt, double theta, kernels::StepJacobian jac,
                   kernels::EndRows ends, index_t eo, const double* left, const double* right, double* y);
  /// TrajectoryError unless every value of the host array v lies in the u range: value i is of
  /// trajectory i / per_trajectory, at the place in it that `where(i)` names.
  void check_u_range(const std::vector<double>& v, index_t per_trajectory,
                     const std::function<std::string(std::size_t)>& where) const;

 private:
  Device device_;
  index_t n_;
  double inv_dx_;
  bool nonlinear_;
  URange u_range_;
  Buffer<double> cond_, harmonic_, series_a_, series_c_, series_r_, scratch_;
  kernels::MediumTables tables_;
};

}  // namespace patchlearn
