#pragma once
// The nonlinear lattice model (kernels/nonlinear.hpp) on a whole Dirichlet domain as an initial-
// value problem: y' = F(y), integrated by extrapolated linearly implicit Euler. One step of length
// h is compared with two of h/2; their Richardson combination 2 y_{h/2} - y_h is second order and
// L-stable (its stability function 2/(1 - z/2)^2 - 1/(1 - z) vanishes at z -> -inf, so the stiff
// micro-scale modes are damped, not kept), and their difference is the local error estimate that
// sets the step (relative to max |y|). Steps end on every sample time. Used for the effective-PDE
// truth on a coarse grid (homog/homogenized1d.hpp) and for the full-resolution fine run of a
// nonlinear medium (schemes/full_resolution.hpp), each with its own medium tables.
#include <functional>
#include <string>
#include <vector>

#include "patchlearn/coeff/field.hpp"
#include "patchlearn/kernels/nonlinear.hpp"

namespace patchlearn {

struct LatticeIvpStats {
  index_t accepted = 0;      ///< accepted steps
  double point_steps = 0.0;  ///< lattice points times linearly implicit steps
};

/// Integrate y[n] (ends held) from t = 0 through `times` (increasing, >= 0) with relative local
/// error `rtol`; after reaching times[k], sample(k, y). RunError naming `what` when the state
/// leaves `range` (where the tables hold) or the step collapses.
LatticeIvpStats integrate_lattice(const kernels::MediumTables& m, double inv_dx, std::vector<double>& y,
                                  const std::vector<double>& times, double rtol, URange range, const std::string& what,
                                  const std::function<void(std::size_t, const std::vector<double>&)>& sample);

}  // namespace patchlearn
