#pragma once
// The homogenized macro model u_t = a* u_xx on [0, L] with the Dirichlet values fixed at their
// initial values (paper eqs. 3, 21, 22).
//
// HomogenizedSolution1D is the "truth" every comparison uses: second-order finite differences on
// a fine grid of spacing dx, integrated *exactly* in time. The semi-discrete system is linear with
// constant coefficients, so with the linear steady profile removed its solution is a discrete sine
// series, W_j(t) = sum_k b_k exp(lambda_k t) sin(k pi j / N), lambda_k = -4 a* / dx^2 sin^2(k pi / 2N).
// That is stiff-safe at any t and leaves only the O(dx^2) spatial error.
//
// The same 3-point scheme as a coarse operator on the macro grid (the "exact coarse scheme" that
// patch data represent) is learn::EffectiveTorchOperator, which covers every effective PDE.
#include <functional>
#include <vector>

#include "patchlearn/core/defs.hpp"
#include "patchlearn/homog/effective.hpp"

namespace patchlearn {

class HomogenizedSolution1D {
 public:
  /// intervals: N = L / dx; ic: the initial condition, sampled at the fine nodes.
  HomogenizedSolution1D(double a_star, double length, index_t intervals, const std::function<double(double)>& ic);
  /// U and dU/dt at fine nodes `nodes` (indices 0..N) at time t.
  void evaluate(double t, const std::vector<index_t>& nodes, double* U, double* dUdt) const;
  index_t intervals() const { return N_; }

 private:
  double a_, L_;
  index_t N_;
  double left_, right_;
  std::vector<double> b_, lambda_, sine_;
};

/// The most fine intervals a homogenized truth may have: its sine transform costs intervals² per
/// trajectory and its evaluation intervals per node and time. At this size on a unit domain the
/// scheme's relative error on a mode of frequency f, (2 pi f dx)²/12, is 1.3e-7 for f = 4 (the
/// default's highest): finer grids buy nothing the pipeline can measure.
inline constexpr index_t kMaxHomogenizedIntervals = 20000;

/// Homogenized U and dU/dt at the macro nodes (every `stride`-th fine node) for every initial
/// condition and time: arrays [trajectory][time][macro node].
struct HomogenizedTruth {
  std::vector<double> U, dUdt;
};
HomogenizedTruth homogenized_truth(double a_star, double length, int macro_nodes, index_t fine_per_macro,
                                   const std::vector<std::function<double(double)>>& ics,
                                   const std::vector<double>& times);
/// The same with each initial condition's own a* (a_star[b] for ics[b]: trajectories on different
/// realizations of a random medium).
HomogenizedTruth homogenized_truth(const std::vector<double>& a_star, double length, int macro_nodes,
                                   index_t fine_per_macro, const std::vector<std::function<double(double)>>& ics,
                                   const std::vector<double>& times);

}  // namespace patchlearn

namespace patchlearn {

/// The truth of a u-dependent medium: its effective PDE U_t = (a*(U) U_x)_x + c*(U) U_x + r*(U)
/// with Dirichlet ends held at their initial values, discretized like the fine model
/// (kernels/nonlinear.hpp: conservative, a* and c* at the bond's mean U) on the fine grid
/// of `fine_per_macro` intervals per macro interval, and integrated by extrapolated linearly
/// implicit Euler (two half steps against one whole step, combined to second order; the
/// difference is the error estimate of the step-size control, relative tolerance `rtol` on
/// max |U|): L-stable enough for the stiff grid, one tridiagonal solve per stage. Samples U and
/// dU/dt (the grid's rates) at the macro nodes, as homogenized_truth. A state that leaves
/// medium.u_range is a RunError naming the trajectory and time.
HomogenizedTruth effective_truth(const EffectiveMedium1D& medium, double length, int macro_nodes,
                                 index_t fine_per_macro, const std::vector<std::function<double(double)>>& ics,
                                 const std::vector<double>& times, double rtol);
/// The same with each initial condition's own medium (media[b] for ics[b]: trajectories on
/// different realizations of a nonlinear random medium), on the first one's u range.
HomogenizedTruth effective_truth(const std::vector<const EffectiveMedium1D*>& media, double length, int macro_nodes,
                                 index_t fine_per_macro, const std::vector<std::function<double(double)>>& ics,
                                 const std::vector<double>& times, double rtol);

/// The truth of a graded medium: U_t = (a*(x, U) U_x)_x + c*(x, U) U_x + r*(x, U) with Dirichlet ends
/// held, the local effective coefficients (homog/effective.hpp: local_effective_series on
/// `points_per_period` points; a*(x) alone on a linear medium) at every bond midpoint (a*, c*) and
/// point (r*) of the fine grid, discretized like the fine model and integrated as
/// effective_truth (the same lattice integrator, whose u-range check uses `range`).
HomogenizedTruth graded_truth(const CoefficientField& graded, int points_per_period, double length, int macro_nodes,
                              index_t fine_per_macro, const std::vector<std::function<double(double)>>& ics,
                              const std::vector<double>& times, double rtol, URange range);

/// graded_truth in two steps, for a truth computed piece by piece (a simulation's chunks): the
/// local effective coefficients on the fine grid once, then the truth of any initial conditions.
class GradedTruth {
 public:
  GradedTruth(const CoefficientField& graded, int points_per_period, double length, int macro_nodes,
              index_t fine_per_macro, double rtol, URange range);
  HomogenizedTruth operator()(const std::vector<std::function<double(double)>>& ics,
                              const std::vector<double>& times) const;

 private:
  MediumSeries series_;
  double length_, rtol_;
  int macro_nodes_;
  index_t fine_per_macro_;
  URange range_;
};

}  // namespace patchlearn
