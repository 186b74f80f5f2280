#pragma once
// The discrete cell problem of the 2D lattice (micro/lattice2d.hpp), giving the full effective
// tensor D = [[Dxx, Dxy], [Dxy, Dyy]] of u_t = Dxx u_xx + 2 Dxy u_xy + Dyy u_yy.
// For a unit macro gradient e, u = e.x + h phi with phi periodic on one mx x my period is the
// lattice-harmonic function (zero net flux at every point):
//     (-L) phi = e_x (kx(x,y) - kx(x-1,y)) + e_y (ky(x,y) - ky(x,y-1)),
// L the periodic lattice Laplacian of eq. (25) in units of h. The effective flux is the mean bond
// flux, (D e)_x = mean_x,y kx(x,y) (e_x + phi(x+1,y) - phi(x,y)), likewise along y. The problem is
// independent of h; phi is found by conjugate gradients on the mean-zero subspace to a residual of
// 1e-15 of the right-hand side's. Plain CG takes O(n) iterations on an n x n table (3234 on a
// 480 x 480 random lattice, log k ~ N(0, 0.5^2)); tables of more than 4096 sites whose sides
// halve at least once to >= 4 (a random lattice's whole realization) are preconditioned by an
// aggregation-multigrid V-cycle (2 x 2 aggregates, Galerkin coarse operators, damped Jacobi), whose
// count grows like sqrt(n) (90 there).
#include <vector>

#include "patchlearn/micro/lattice2d.hpp"

namespace patchlearn {

struct EffectiveTensor {
  double xx = 0, xy = 0, yy = 0;
  double asymmetry = 0;  ///< |D(x,y) - D(y,x)| before symmetrizing: a check of the solve (~1e-15)
  int iterations = 0;    ///< conjugate-gradient iterations of the slower of the two solves
};

/// How the cell problem's conjugate gradients are preconditioned: by the multigrid V-cycle where
/// the table's sides allow it (the default), or not at all (the reference the tests compare with).
enum class CellSolver { Multigrid, Plain };

/// The cell problem's whole solution: D and the two correctors phi_x, phi_y on the period ([y][x],
/// in units of h, each up to a constant that no bond increment sees).
struct CellSolution {
  EffectiveTensor D;
  std::vector<double> phi[2];
};

CellSolution cell_solution(const Lattice2D& lattice, CellSolver solver = CellSolver::Multigrid);
EffectiveTensor effective_tensor(const Lattice2D& lattice, CellSolver solver = CellSolver::Multigrid);

}  // namespace patchlearn
