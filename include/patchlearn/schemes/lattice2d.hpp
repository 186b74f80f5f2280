#pragma once
// Schemes for the 2D lattice model (micro/lattice2d.hpp), batched over trajectories on one device:
//   GapTooth2D    P x P patches of m x m evolving points, edges from the EdgyInt coupling
//                 (patch/layout2d.hpp), or on a random lattice with gaps from each tooth's
//                 periodic closure (kernels::ToothClosure); state point-major, [trajectory][q][p][J][I]
//   FullLattice2D the whole periodic N x N lattice; state [trajectory][y][x]
// Both restrict to the same patch means (the m x m points of each patch), so their coarse data
// compare directly. On a linear lattice du/dt = A u; a u-dependent one (g(u) on the bonds, a
// reaction rho f(u) on the sites, micro/lattice2d.hpp) runs on the same loops with its g and f as
// Chebyshev series in u (LatticeNonlinearityTables).
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
//   rkc          the second-order Runge-Kutta-Chebyshev method (Sommeijer, Shampine & Verwer 1998),
//                for the u-dependent lattice, where exp(dt A) no longer applies: an explicit
//                s-stage step whose stability interval [-beta(s), 0], beta ~ 0.65 s^2, grows with the
//                square of the stages, so a step of rate bound rho costs ~ sqrt(dt rho / 0.65) rate
//                evaluations, as the Chebyshev series of the exponential does. Why this one: the rates
//                are all it needs (no Jacobian, no linear solve: the gap-tooth Jacobian with its
//                interpolated edges is neither banded nor symmetric), it runs on the same batched
//                kernels on either backend, and its damping (eps = 2/13) keeps the stiff
//                intra-patch modes decaying. It is second order and not exact, so the step is chosen
//                from a tolerance: the fewest steps per sampling interval whose propagator differs
//                from exp(-lambda interval) by <= tolerance on every coarse mode, lambda in
//                [0, slow rate] (the fastest decay of the macro modes the patch means carry,
//                LatticeScheme2D::slow_rate). Faster modes are damped, not followed.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "patchlearn/coeff/chebyshev.hpp"
#include "patchlearn/core/buffer.hpp"
#include "patchlearn/homog/cell2d.hpp"
#include "patchlearn/kernels/lattice2d.hpp"
#include "patchlearn/micro/initial_conditions.hpp"
#include "patchlearn/micro/lattice2d.hpp"
#include "patchlearn/patch/layout2d.hpp"
#include "patchlearn/schemes/coarse_operator.hpp"

namespace patchlearn {

/// The u-dependence of a lattice on a device (kernels/lattice2d.hpp: LatticeNonlinearity): g and f
/// as Chebyshev series, or ratios of two (fit_in_u), on the lattice's u range and the site reaction
/// rates of an n x n window from lattice point (x0, x0). Empty (the linear view) for a linear lattice.
class LatticeNonlinearityTables {
 public:
  LatticeNonlinearityTables() = default;
  LatticeNonlinearityTables(Device dev, const Lattice2D& lattice, index_t x0, index_t n);
  bool linear() const { return !g_.p.terms && !f_.p.terms; }
  kernels::LatticeNonlinearity view() const;
  /// max g and max |rho f'| over the u range (sampled at 1025 points; 1 and 0 when absent).
  double max_factor() const { return max_factor_; }
  double max_reaction_slope() const { return max_slope_; }
  /// The u range the series (and the stability bound) hold on.
  URange u_range() const { return range_; }

 private:
  URange range_;
  SeriesRatio g_, f_;
  Buffer<double> g_dev_, f_dev_, rho_dev_;  ///< g's p then q, likewise f's
  double max_factor_ = 1.0, max_slope_ = 0.0;
};

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
  /// u <- `steps` steps of the rkc method (stage[0..s) with the step folded in, host array) in one
  /// call where the scheme can carry each trajectory through on its own; false (u untouched)
  /// where it cannot, and the caller goes stage by stage.
  virtual bool rkc_interval(const kernels::RkcStage* stage, int s, int steps, double* u);
  /// Patch means U[b][J][I] of a state.
  virtual void restrict_means(const double* u, double* U) = 0;
  /// Upper bound of the spectral radius of A (of the rates' Jacobian on the u range, for a
  /// u-dependent lattice: the linear bound times max g, plus max |rho f'|, with 10% to spare for
  /// the g' terms, which scale with the difference of neighbouring values).
  virtual double spectral_bound() const = 0;
  /// Whether A is symmetric (the exponential stepper needs a real spectrum; a u-dependent lattice
  /// has no A).
  virtual bool symmetric() const = 0;
  /// The fastest decay rate of a coarse mode on this layout: the macro modes of the P x P patch
  /// means (wavenumbers up to P/2 in x and y) under the effective tensor D of the bond tables, times
  /// max g, plus max |rho f'|. The rkc stepper follows the modes up to this rate.
  double slow_rate(const EffectiveTensor& D) const;
  bool linear() const { return nl_.linear(); }
  const LatticeNonlinearityTables& nonlinearity() const { return nl_; }
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
  LatticeNonlinearityTables nl_;
  double point_steps_ = 0.0;
};

/// A random lattice's teeth with gaps, each closed as a periodic cell of its own m x m points
/// (GapTooth2D::closed_teeth): from every tooth's cell correctors, the ghost factors of its closure
/// (kernels::ToothClosure) and its cell tensor D_tooth. A closed tooth's patch mean's rate is
/// D_tooth : grad grad U, so the tensors are the sample of the medium the teeth hold. Solved once
/// per realization and layout, and shared by every GapTooth2D built on it (a simulate's chunks) and
/// by the learning task's sample of the teeth.
struct ClosedTeeth {
  std::vector<double> factors;           ///< [side][k][component][tooth]: 8 m P^2 ghost factors
  std::vector<EffectiveTensor> tensors;  ///< D_tooth, tooth (I, J) at J P + I
  static ClosedTeeth solve(const Lattice2D& lattice, const PatchLayout2D& layout);
};

class GapTooth2D : public LatticeScheme2D {
 public:
  /// `closed`: the teeth's closure solved beforehand on the same lattice and layout, where the teeth
  /// are closed (closed_teeth); solved here when null.
  GapTooth2D(Device dev, const Lattice2D& lattice, const PatchLayout2D& layout, index_t batch,
             const ClosedTeeth* closed = nullptr);
  index_t state_size() const override { return static_cast<index_t>(layout_.P) * layout_.P * layout_.m * layout_.m; }
  void rates(const double* u, double* dudt) override;
  /// kernels::gap_tooth_chebyshev_interval: on the CPU always, on CUDA where a trajectory's
  /// series fits in shared memory.
  bool chebyshev_interval(const double* c, int n, double rho, double* u) override;
  /// kernels::gap_tooth_rkc_interval: on the CPU.
  bool rkc_interval(const kernels::RkcStage* stage, int s, int steps, double* u) override;
  void restrict_means(const double* u, double* U) override;
  double spectral_bound() const override { return rho_; }
  /// The spectral coupling is symmetric (EdgyInt) where the teeth share one bond table; with a table
  /// per tooth the bond on one side of an edge is not the one on the other.
  bool symmetric() const override { return layout_.coupling == Coupling::Spectral && linear() && !bonds_.per_patch(); }
  std::vector<double> sample(const std::vector<InitialCondition2D>& ics) const override;
  /// Whether the teeth are closed periodically and driven by the means' gradient
  /// (kernels::ToothClosure) instead of the EdgyInt coupling: a random lattice with gaps.
  static bool closed_teeth(const Lattice2D& lattice, const PatchLayout2D& layout);
  /// Views of the teeth's bond tables and of their closure (inactive unless closed_teeth), on the
  /// scheme's device.
  const kernels::ToothBonds& bonds() const { return bonds_; }
  const kernels::ToothClosure& closure() const { return bonds_.closure; }

 private:
  Buffer<double> kE_, kN_, wp_, wm_;
  kernels::ToothBonds bonds_;  ///< views of kE_, kN_
  double rho_ = 0.0;
  // The periodic closure (closed_teeth): its factors and matrices (viewed by bonds_.closure), and on
  // CUDA the means and the ghost planes; or, without a closure where kernels::coupling_edges_pay,
  // the EdgyInt coupling's edge planes from the library. edges_ is empty where each pass computes
  // its own.
  void close_teeth(const ClosedTeeth& closed);
  Buffer<double> closure_factors_, closure_matrices_, means_, edges_;
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
  bool symmetric() const override { return linear(); }
  std::vector<double> sample(const std::vector<InitialCondition2D>& ics) const override;

 private:
  index_t N_;
  Buffer<double> kE_, kN_;
  double rho_ = 0.0;
};

/// ConfigError unless every patch sees the same phase of the medium (centre spacing a multiple of
/// the diffusivity period, for a modulated lattice the period it tiles); a random lattice has no
/// phase to share.
void check_patch_phase(const Lattice2D& lattice, const PatchLayout2D& layout);
/// check_patch_phase, and a ConfigError for a random lattice with gaps unless the coupling is
/// spectral (its teeth are closed periodically and driven through the means' interpolant).
void check_gap_tooth_medium(const Lattice2D& lattice, const PatchLayout2D& layout);
/// Gershgorin bounds of the spectral radius of A (the same the schemes use).
double gap_tooth_spectral_bound(const Lattice2D& lattice, const PatchLayout2D& layout);
double full_lattice_spectral_bound(const Lattice2D& lattice, const PatchLayout2D& layout);
/// RK4's stability interval on the negative real axis: dt rho <= 2.785.
double rk4_stability_limit();

enum class FineStepper { Exponential, RK4, RKC };
/// The exponential stepper's default tolerance, 1e-14: exact to round-off.
constexpr double exact_exponential_tolerance() { return 1e-14; }
/// The rkc stepper's default tolerance on each interval's coarse-mode propagator (see above):
/// 1e-4. On nonlinear2d.toml its states stay within 2.1e-5 (max, relative to max |U|) of a run at
/// 1e-6, rMSE 5e-11, far below the gap-tooth scheme's own error against the effective PDE
/// (~1e-7), at 435 rate evaluations per 0.01 instead of 1626 (bench/RESULTS.md). The rates
/// recorded with the states are exact at them whatever the tolerance.
constexpr double rkc_default_tolerance() { return 1e-4; }

/// The second-order Runge-Kutta-Chebyshev method with s stages (damping eps = 2/13): stage j >= 1
/// is kernels::rkc_stage_value with stage[j - 1] (mu_dt and gamma_dt per unit step), stable for
/// dt rho <= beta.
struct RkcMethod {
  int s = 0;
  double beta = 0;
  std::vector<kernels::RkcStage> stage;
  /// The fewest stages (>= 2) stable for dt rho.
  static RkcMethod for_step(double dt_rho);
  /// The stability polynomial R_s(z): one step of y' = lambda y from y = 1, z = lambda dt.
  double amplification(double z) const;
};
/// Its name in configs and messages: exponential, rk4, rkc.
const char* name_of(FineStepper s);

/// Advances a scheme's state over a fixed interval, again and again.
/// The rkc stepper over one sampling interval: `steps` steps of dt, each `method` with its stage
/// coefficients scaled by dt.
struct RkcPlan {
  RkcMethod method;
  int steps = 0;
  double dt = 0.0;
  static RkcPlan with_steps(double interval, double rho, int steps);
};

class Propagator2D {
 public:
  /// dt: the rk4 or rkc step (<= 0: rk4 the largest stable step that divides the interval, rkc the
  /// step from the tolerance); tolerance: the exponential stepper's bound on each interval's
  /// propagator error, or rkc's on its coarse modes, those of rates up to slow_rate (> 0 for rkc
  /// without a step).
  ///
  /// rkc settles the interval that starts from the sampled initial condition: that state is not on
  /// the slow manifold, and its fast intra-patch modes, which rkc damps by only ~0.95 per step, would
  /// otherwise carry into the rates recorded at the next samples (5% of dU/dt at t = 0.01 on
  /// graded2d's gap-tooth teeth at the default tolerance). That interval takes the fewest steps
  /// whose propagator is within the tolerance of exp(-lambda interval) on the whole spectrum,
  /// lambda in [0, rho], not only on the coarse modes (with a given fine.dt, that step as well).
  Propagator2D(LatticeScheme2D& scheme, double interval, FineStepper stepper, double dt = 0.0,
               double tolerance = exact_exponential_tolerance(), double slow_rate = 0.0);
  /// u <- u one interval later; from_initial_condition: the interval from the sampled initial
  /// condition (see above).
  void advance(Buffer<double>& u, bool from_initial_condition = false);
  /// Steps of the interval from the initial condition (rkc; steps() otherwise).
  int settling_steps() const { return stepper_ == FineStepper::RKC ? settle_.steps : steps_; }
  /// Rate evaluations per interval (after the first, for rkc).
  int evaluations() const { return evaluations_; }
  /// Steps per interval (rk4, rkc; 1 for the exponential).
  int steps() const { return steps_; }

 private:
  LatticeScheme2D& s_;
  FineStepper stepper_;
  double dt_ = 0.0;
  int steps_ = 1, evaluations_ = 0;
  RkcPlan rkc_, settle_;  ///< rkc: every interval; the one from the initial condition
  void rkc_steps(double interval, double rho, double dt, double tolerance, double slow_rate);
  std::vector<double> cheb_;  ///< Chebyshev coefficients of exp(interval A)
  Buffer<double> cheb_dev_;   ///< the same on the scheme's device
  Buffer<double> a_, b_, c_, d_;
};

/// Integrate from the sampled initial conditions, recording the patch means and their rates at
/// t = 0, interval, 2 interval, ... (samples values). NaN/Inf stop the run naming the time,
/// trajectory and patch where they first appeared; so does a patch mean of a u-dependent lattice
/// outside lattice.u_range (where g and f are tabulated and the stepper's stability bound holds).
/// Both are looked for on the device at every sample and read back every `check_every` samples
/// (BadValueWatch, schemes/coarse_operator.hpp) and at the end.
CoarseData simulate_lattice_2d(LatticeScheme2D& scheme, Propagator2D& prop, double interval, index_t samples,
                               const std::vector<InitialCondition2D>& ics,
                               const std::function<void(index_t)>& progress = {}, index_t check_every = 1);

}  // namespace patchlearn
