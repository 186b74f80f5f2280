#pragma once
// The 1D fine-scale model u_t = (a(x/eps) u_x)_x, discretised conservatively on the global
// lattice x_g = g dx of the domain [0, L]:
//     du_g/dt = [ a_g (u_{g+1} - u_g) - a_{g-1} (u_g - u_{g-1}) ] / dx^2,
// with the conductance of bond g (between x_g and x_{g+1}) sampled at the bond midpoint:
//     a_g = a( (g + 1/2) dx / eps ).
// (The reference samples at x_{g+1}; that is a phase shift of a and changes no effective
// coefficient.) Patches, teeth and the full domain are all windows of this one lattice, so every
// scheme sees the same fine-scale medium. A medium that depends on u or has a drift or a reaction
// (CoefficientField::nonlinear_key) is refused with a ConfigError naming its key: this linear model
// cannot represent it, and the schemes built on it must not silently simulate the linear part.
#include <vector>

#include "patchlearn/coeff/field.hpp"
#include "patchlearn/core/defs.hpp"

namespace patchlearn {

class FineModel1D {
 public:
  FineModel1D(CoefficientField field, double epsilon, double dx);

  /// Conductances of bonds first .. first+count-1.
  std::vector<double> conductances(index_t first, index_t count) const;
  /// eps/dx when it is an integer (the lattice repeats every period), else 0.
  int points_per_period() const { return per_period_; }

  const CoefficientField& field() const { return field_; }
  double epsilon() const { return eps_; }
  double dx() const { return dx_; }

 private:
  CoefficientField field_;
  double eps_, dx_;
  int per_period_;
  std::vector<double> period_;  // a over one period when per_period_ > 0
};

}  // namespace patchlearn
