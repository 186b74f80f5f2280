#pragma once
// The 1D fine-scale model u_t = (a(x/eps) u_x)_x, discretised conservatively on the global
// lattice x_g = g dx of the domain [0, L]:
//     du_g/dt = [ a_g (u_{g+1} - u_g) - a_{g-1} (u_g - u_{g-1}) ] / dx^2,
// with the conductance of bond g (between x_g and x_{g+1}) sampled at the bond midpoint:
//     a_g = a( (g + 1/2) dx / eps ).
// (The reference samples at x_{g+1}; that is a phase shift of a and changes no effective
// coefficient.) Patches, teeth and the full domain are all windows of this one lattice, so every
// scheme sees the same fine-scale medium.
//
// A medium that depends on u or has a drift or a reaction (CoefficientField::nonlinear_key) is the
// nonlinear model of kernels/nonlinear.hpp on the same lattice: its bonds and points carry Chebyshev
// series in u (medium_tables) instead of numbers. conductances() exists only for a linear medium
// (a ConfigError naming the nonlinear key otherwise), so a scheme that has only the linear model
// cannot silently simulate the linear part of a nonlinear medium.
#include <vector>

#include "patchlearn/coeff/chebyshev.hpp"
#include "patchlearn/coeff/field.hpp"
#include "patchlearn/core/defs.hpp"

namespace patchlearn {

class FineModel1D {
 public:
  FineModel1D(CoefficientField field, double epsilon, double dx);

  /// Conductances of bonds first .. first+count-1 (linear media only). A periodic medium repeats
  /// one period's table when eps/dx is whole; a random one (not periodic) is sampled at every
  /// bond of its one realization, so each window gets its own piece (std::out_of_range for a
  /// window that reaches outside the realization's domain).
  std::vector<double> conductances(index_t first, index_t count) const;
  /// The conductances of a random medium's cells alone (CoefficientField::linear_part), whose
  /// corrector and harmonic means are the medium's at every u; conductances() on any other medium.
  std::vector<double> cell_conductances(index_t first, index_t count) const;
  /// Whether the medium depends on u or has a drift or a reaction.
  bool nonlinear() const { return !field_.nonlinear_key().empty(); }
  /// The nonlinear medium on windows of n points starting at each of `firsts`, window after
  /// window: a and the drift c on the n - 1 bonds, the reaction r on the n points (empty tables
  /// without them), Chebyshev series in u on the medium's u range with one length per table.
  using Tables = MediumSeries;
  Tables medium_tables(const std::vector<index_t>& firsts, index_t n) const;
  /// eps/dx when it is an integer, else 0: the lattice points of one period (of a periodic
  /// medium) or of one cell (of a random one), over which averaged gradients are taken.
  int points_per_period() const { return per_period_; }

  const CoefficientField& field() const { return field_; }
  double epsilon() const { return eps_; }
  double dx() const { return dx_; }

 private:
  CoefficientField field_;
  double eps_, dx_;
  int per_period_;
  std::vector<double> period_;  // a over one period when per_period_ > 0 (linear periodic media)
  Tables phase_;                // one period's series when per_period_ > 0 (nonlinear periodic media)
};

}  // namespace patchlearn
