#pragma once
// Full-resolution fine simulation: the whole domain [0, L] on the fine lattice (N = L/dx + 1 points,
// Dirichlet ends at their initial values), stepped implicitly with adaptive steps of TR-BDF2
// (kernels/diffusion.hpp: second order, L-stable, both stages and the error filter solve with one
// tridiagonal matrix I - d h A, in increment form; the step keeps the filtered local-error
// estimate under rtol max|u(0)|). Steps are chosen freely (on a ladder of sqrt(2) rungs, so the
// matrix is refactored only when the step changes), not clipped to the sample times: after each step the state is
// restricted to the macro nodes with the same Simpson tooth average the patches use (U and its rate R(Au)),
// and samples inside the step are the cubic Hermite interpolant of U and its derivative. Full-resolution and patch data
// thus compare node for node. A nonlinear medium (a(y, u), drift, reaction) is integrated on the host by the
// extrapolated linearly implicit Euler of micro/lattice_ivp.hpp on the same lattice (its bonds and points carrying
// their Chebyshev series in u), with steps that end on the sample times; U and dU/dt are the tooth averages of u and of
// the fine rate F(u) there. No homogenization theory enters: this is the truth for media whose effective equation has
// no closed form.
#include <functional>
#include <vector>

#include "patchlearn/core/buffer.hpp"
#include "patchlearn/coeff/chebyshev.hpp"
#include "patchlearn/micro/diffusion1d.hpp"
#include "patchlearn/patch/layout1d.hpp"

namespace patchlearn {

struct FullResolutionParams {
  double rtol = 1e-6;      ///< local error tolerance relative to max |u(0)|
  double dt0 = 1e-9;       ///< first trial step
  index_t chunk_len = -1;  ///< tridiagonal partition (-1: backend default)
};

class FullResolution1D {
 public:
  /// `teeth` gives the macro grid and the tooth width used for restriction (its buffer is unused).
  FullResolution1D(const FineModel1D& model, const PatchLayout1D& teeth, const FullResolutionParams& params,
                   Device device);

  /// Simulate one initial condition; U and dUdt receive [time][macro node] at the sample times.
  /// `progress` (may be empty) gets the fraction of the time span done after every step. A run
  /// that fails is a TrajectoryError about trajectory 0, this one.
  void run(const std::function<double(double)>& ic, const std::vector<double>& times, double* U, double* dUdt,
           const std::function<void(double)>& progress = {});
  double point_steps() const { return point_steps_; }
  index_t accepted_steps() const { return accepted_; }

 private:
  /// Tooth averages of u and A u at the macro nodes (the ends: u, 0).
  struct Restricted {
    std::vector<double> U, rate;
  };
  Restricted restrict_state();
  /// Tooth averages of the host field x at the interior nodes into out[1 .. M-2].
  void restrict_host(const std::vector<double>& x, double* out) const;
  void run_nonlinear(const std::function<double(double)>& ic, const std::vector<double>& times, double* U, double* dUdt,
                     const std::function<void(double)>& progress);
  double dx_;
  bool nonlinear_;
  MediumSeries series_;  // nonlinear media: every bond's and point's series over the lattice
  URange u_range_;
  PatchLayout1D teeth_;
  FullResolutionParams params_;
  Device device_;
  index_t N_, stride_;
  Buffer<double> cond_, u_, f_, d1_, d2_, teeth_out_;
  double point_steps_ = 0.0;
  index_t accepted_ = 0;
};

}  // namespace patchlearn
