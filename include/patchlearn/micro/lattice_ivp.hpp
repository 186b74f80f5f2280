#pragma once
// The nonlinear lattice model (kernels/nonlinear.hpp) on a whole Dirichlet domain as an initial-
// value problem: y' = F(y), integrated by extrapolated linearly implicit Euler (Deuflhard's LIMEX).
// A step of length h is taken by members k = 1, 2, ...: k substeps of h/k, each solving with
// I - (h/k) J, J the Jacobian at the step's start (factored once per member, kept over its
// substeps). Their error expansions hold every power of h, so row k of the Aitken-Neville table is
// of order k. Every member damps the stiff micro-scale modes (linearly implicit Euler's stability
// function vanishes at z -> -inf, and so does any combination of them). The row's last correction
// T_kk - T_k,k-1 estimates the error of the order k - 1 value, relative to max |y|: the first row
// within rtol gives the step its order k value. The next step's order and length are those of
// least work (k (k + 1) / 2 substeps) per unit time among the orders this step estimated, one
// higher when the highest is the cheapest (Hairer and Wanner's order control for extrapolation),
// so free steps run at high order and steps cut short by a sample time at low order. Steps end on
// every sample time. Used for the effective-PDE truth on a coarse grid (homog/homogenized1d.hpp)
// and for the full-resolution fine run of a nonlinear medium (schemes/full_resolution.hpp), each
// with its own medium tables.
#include <functional>
#include <string>
#include <vector>

#include "patchlearn/coeff/field.hpp"
#include "patchlearn/kernels/nonlinear.hpp"

namespace patchlearn {

/// The most members a step takes (order 5). Against Richardson's 2 y_{h/2} - y_h (the order 2
/// scheme before), on one core: a nonlinear effective-PDE truth at rtol 1e-9 (BM_EffectiveTruth/9)
/// 1010 ms -> 67 ms at the same error; on 2 cores, nonlinear1d.toml at full resolution (24
/// trajectories of 1e5 points, rtol 1e-6) 155 s -> 67 s (bench/RESULTS.md).
inline constexpr int kMaxExtrapolationLevels = 5;

struct LatticeIvpStats {
  index_t accepted = 0;      ///< accepted steps
  double point_steps = 0.0;  ///< lattice points times linearly implicit steps
};

/// Integrate y[n] (ends held) from t = 0 through `times` (increasing, >= 0) with relative local
/// error `rtol`; after reaching times[k], sample(k, y). A TrajectoryError naming `what` (a run "of
/// trajectory N", N = `trajectory` in the caller's batch) when the state leaves `range` (where the
/// tables hold) or the step collapses.
LatticeIvpStats integrate_lattice(const kernels::MediumTables& m, double inv_dx, std::vector<double>& y,
                                  const std::vector<double>& times, double rtol, URange range, const std::string& what,
                                  index_t trajectory,
                                  const std::function<void(std::size_t, const std::vector<double>&)>& sample);

}  // namespace patchlearn
