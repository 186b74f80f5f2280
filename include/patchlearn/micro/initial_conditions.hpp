#pragma once
// Random initial conditions of paper eq. (23):
//     u(x, 0) = sum_{k < modes} A_k sin(2 pi l_k x + phi_k),
// with A_k, l_k, phi_k uniform on configurable ranges (drawn in the reference's order: all A,
// then all phi, then all l). The reference's positivity shift is optional: with rho the sum
// evaluated on linspace(0, 2 pi, 128) (the reference's grid, not [0, 1]), if min rho < 0.05 the IC
// becomes rho + |min rho| + 0.1. Trajectory i draws from its own stream of the seed.
//
// kind = "front" (fronts of reaction-diffusion media, issue 15): a front from 1 on the left to 0
// on the right, 0.5 (1 - tanh((x - x0) / w)), with x0 and w uniform on initial.front_position and
// initial.front_width, plus the sine series above (no positivity shift). Each trajectory draws its
// series first, then x0, then w, from its own stream.
#include <cstdint>
#include <vector>

namespace patchlearn {

struct InitialConditionParams {
  int trajectories = 10;
  int modes = 20;
  double amplitude_lo = -0.5, amplitude_hi = 0.5;
  double frequency_lo = 0.0, frequency_hi = 4.0;
  double phase_lo = 0.0, phase_hi = 6.283185307179586;
  bool positivity_shift = true;
  std::uint64_t seed = 42;
  bool front = false;  ///< kind = "front"
  double front_position_lo = 0.2, front_position_hi = 0.4;
  double front_width_lo = 0.05, front_width_hi = 0.1;
};

class InitialCondition {
 public:
  InitialCondition(std::vector<double> amplitude, std::vector<double> frequency, std::vector<double> phase,
                   bool positivity_shift);
  /// The same series on a front at x0 of width w (no positivity shift).
  InitialCondition with_front(double x0, double w) const;
  double operator()(double x) const;

 private:
  double series(double x) const;
  std::vector<double> a_, l_, phi_;
  double shift_ = 0.0;
  double front_x0_ = 0.0, front_w_ = 0.0;  // w = 0: no front
};

std::vector<InitialCondition> draw_initial_conditions(const InitialConditionParams& p);

}  // namespace patchlearn

namespace patchlearn {

/// Random initial conditions of paper eq. (28) on the periodic [0, L)^2 (the paper's L = 2 pi):
///     u(x, y, 0) = sum_{j < modes} a_j sin(2 pi (lx_j x / L) + px_j) sin(2 pi (ly_j y / L) + py_j),
/// a_j uniform on [amplitude], lx_j, ly_j integers uniform on [k_lo, k_hi] (whole periods of the
/// domain, so every condition is periodic on it), phases uniform on [0, 2 pi) (the paper) or drawn
/// from {0, pi} (the reference's code, REFERENCE §4.4).
struct InitialConditionParams2D {
  double length = 6.283185307179586;  ///< L, the domain's side (domain.length; 2 pi)
  int trajectories = 100;
  int modes = 10;
  int k_lo = 1, k_hi = 5;
  double amplitude_lo = -1.0, amplitude_hi = 1.0;
  bool reference_phases = false;
  std::uint64_t seed = 42;
};

struct InitialCondition2D {
  std::vector<double> a, lx, ly, px, py;  ///< lx, ly: the angular wavenumbers 2 pi l / L
  double operator()(double x, double y) const;
  /// The condition at every (xs[i], ys[k]) into out[k * xs.size() + i]: the values of
  /// operator(), bit for bit, with each mode's sines taken once per coordinate instead of once
  /// per point (a lattice of 4800^2 points then costs 10 products per point, not 20 sines).
  void on_grid(const std::vector<double>& xs, const std::vector<double>& ys, double* out) const;
};

std::vector<InitialCondition2D> draw_initial_conditions_2d(const InitialConditionParams2D& p);

}  // namespace patchlearn
