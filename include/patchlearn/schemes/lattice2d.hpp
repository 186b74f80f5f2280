#pragma once
// Schemes for the 2D lattice model (micro/lattice2d.hpp), batched over trajectories on one device:
//   GapTooth2D    P x P patches of m x m evolving points, edges from the EdgyInt coupling
//                 (patch/layout2d.hpp); state point-major, [trajectory][q][p][J][I]
//   FullLattice2D the whole periodic N x N lattice; state [trajectory][y][x]
// Both are linear, du/dt = A u, and both restrict to the same patch means (the m x m points of
// each patch), so their coarse data compare directly.
//
// Fine time stepping over one sampling interval (FineStepper):
//   exponential  u <- exp(dt A) u by its Chebyshev expansion on [-rho, 0] (rho a Gershgorin bound
//                of the spectral radius), for the symmetric (spectral EdgyInt) patch system and
//                the full lattice. The series stops once the dropped terms sum to <= a tolerance,
//                which bounds the error of each interval's propagator in the 2-norm: the default
//                1e-14 is exact to round-off, with ~10x fewer rate evaluations than RK4 at its
//                stability limit; a looser one takes fewer terms (degree ~ sqrt(dt rho ln(1/tol))).
//                The gap-tooth patches carry each trajectory's whole series through on chip in one
//                call (chebyshev_interval); the full lattice goes term by term, each term's rates
//                computed inside its update (chebyshev_step).
//   rk4          classical RK4 with a fixed step, checked against the stability limit 2.785 / rho
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "patchlearn/core/buffer.hpp"
#include "patchlearn/micro/initial_conditions.hpp"
#include "patchlearn/micro/lattice2d.hpp"
#include "patchlearn/patch/layout2d.hpp"
#include "patchlearn/schemes/coarse_operator.hpp"

namespace patchlearn {

class LatticeScheme2D {
 public:
  virtual ~LatticeScheme2D() = default;
  Device device() const { return dev_; }
  index_t batch() const { return batch_; }
  /// Evolving values per trajectory.
  virtual index_t state_size() const = 0;
  /// dudt = A u for the whole batch (device arrays of batch * state_size()).
  virtual void rates(const double* u, double* dudt) = 0;
  /// One step of the Chebyshev recurrence of exp(dt A) (kernels/lattice2d.hpp: chebyshev_update)
  /// over the batch: Tkm1 <- a A Tk + 2 Tk - Tkm1, acc += c Tkm1. This one puts A Tk in scratch
  /// (batch * state_size()) first.
  virtual void chebyshev_step(const double* Tk, double* Tkm1, double a, double c, double* acc, double* scratch);
  /// u <- the whole Chebyshev series c[0..n) (a device array) of exp(dt A) on [-rho, 0] in one
  /// call, where the scheme can carry every trajectory's series through on chip; false (and u
  /// untouched) where it cannot, and the caller goes term by term.
  virtual bool chebyshev_interval(const double* c, int n, double rho, double* u);
  /// Patch means U[b][J][I] of a state.
  virtual void restrict_means(const double* u, double* U) = 0;
  /// Upper bound of the spectral radius of A.
  virtual double spectral_bound() const = 0;
  /// Whether A is symmetric (the exponential stepper needs a real spectrum).
  virtual bool symmetric() const = 0;
  /// The initial conditions sampled pointwise at every evolving point (host, batch * state_size()).
  virtual std::vector<double> sample(const std::vector<InitialCondition2D>& ics) const = 0;
  const PatchLayout2D& layout() const { return layout_; }
  /// Rate evaluations times evolving points so far.
  double point_steps() const { return point_steps_; }

 protected:
  LatticeScheme2D(Device dev, PatchLayout2D layout, index_t batch)
      : dev_(dev), batch_(batch), layout_(std::move(layout)) {}
  Device dev_;
  index_t batch_;
  PatchLayout2D layout_;
  double point_steps_ = 0.0;
};

class GapTooth2D : public LatticeScheme2D {
 public:
  GapTooth2D(Device dev, const Lattice2D& lattice, const PatchLayout2D& layout, index_t batch);
  index_t state_size() const override { return static_cast<index_t>(layout_.P) * layout_.P * layout_.m * layout_.m; }
  void rates(const double* u, double* dudt) override;
  /// kernels::gap_tooth_chebyshev_interval: on the CPU always, on CUDA where a trajectory's
  /// series fits in shared memory.
  bool chebyshev_interval(const double* c, int n, double rho, double* u) override;
  void restrict_means(const double* u, double* U) override;
  double spectral_bound() const override { return rho_; }
  bool symmetric() const override { return layout_.coupling == "spectral"; }
  std::vector<double> sample(const std::vector<InitialCondition2D>& ics) const override;

 private:
  Buffer<double> kE_, kN_, wp_, wm_;
  double rho_ = 0.0;
};

class FullLattice2D : public LatticeScheme2D {
 public:
  FullLattice2D(Device dev, const Lattice2D& lattice, const PatchLayout2D& layout, index_t batch);
  index_t state_size() const override { return N_ * N_; }
  void rates(const double* u, double* dudt) override;
  /// In one pass over the lattice, the rates never stored (scratch unused).
  void chebyshev_step(const double* Tk, double* Tkm1, double a, double c, double* acc, double* scratch) override;
  void restrict_means(const double* u, double* U) override;
  double spectral_bound() const override { return rho_; }
  bool symmetric() const override { return true; }
  std::vector<double> sample(const std::vector<InitialCondition2D>& ics) const override;

 private:
  index_t N_;
  Buffer<double> kE_, kN_;
  double rho_ = 0.0;
};

/// ConfigError unless every patch sees the same phase of the medium (centre spacing a multiple of
/// the diffusivity period).
void check_patch_phase(const Lattice2D& lattice, const PatchLayout2D& layout);
/// Gershgorin bounds of the spectral radius of A (the same the schemes use).
double gap_tooth_spectral_bound(const Lattice2D& lattice, const PatchLayout2D& layout);
double full_lattice_spectral_bound(const Lattice2D& lattice, const PatchLayout2D& layout);
/// RK4's stability interval on the negative real axis: dt rho <= 2.785.
double rk4_stability_limit();

enum class FineStepper { Exponential, RK4 };
/// The exponential stepper's default tolerance, 1e-14: exact to round-off.
constexpr double exact_exponential_tolerance() { return 1e-14; }
FineStepper parse_fine_stepper(const std::string& name);

/// Advances a scheme's state over a fixed interval, again and again.
class Propagator2D {
 public:
  /// rk4_dt: the RK4 step (<= 0: the largest stable step that divides the interval);
  /// tolerance: the exponential stepper's bound on each interval's propagator error.
  Propagator2D(LatticeScheme2D& scheme, double interval, FineStepper stepper, double rk4_dt = 0.0,
               double tolerance = exact_exponential_tolerance());
  void advance(Buffer<double>& u);
  /// Rate evaluations per interval.
  int evaluations() const { return evaluations_; }

 private:
  LatticeScheme2D& s_;
  FineStepper stepper_;
  double dt_ = 0.0;
  int steps_ = 0, evaluations_ = 0;
  std::vector<double> cheb_;  ///< Chebyshev coefficients of exp(interval A)
  Buffer<double> cheb_dev_;   ///< the same on the scheme's device
  Buffer<double> a_, b_, c_, d_;
};

/// Integrate from the sampled initial conditions, recording the patch means and their rates at
/// t = 0, interval, 2 interval, ... (samples values). NaN/Inf stop the run naming the time,
/// trajectory and patch.
CoarseData simulate_lattice_2d(LatticeScheme2D& scheme, Propagator2D& prop, double interval, index_t samples,
                               const std::vector<InitialCondition2D>& ics,
                               const std::function<void(index_t)>& progress = {});

}  // namespace patchlearn
