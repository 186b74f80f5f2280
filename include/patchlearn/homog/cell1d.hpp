#pragma once
// The 1D cell problem (paper eqs. 4-6) on the micro lattice. With conductances a_j on the n bonds
// of one period (spacing dy = 1/n), the discrete corrector chi solves
//     a_j (dy + chi_{j+1} - chi_j) - a_{j-1} (dy + chi_j - chi_{j-1}) = 0,   chi periodic, sum chi = 0,
// and the effective diffusivity is the period average of the flux,
//     a* = (1/n) sum_j a_j (1 + (chi_{j+1} - chi_j) / dy).
// In 1D the exact answer is the (discrete) harmonic mean; solving the cell problem checks the
// route that generalises to 2D.
#include <vector>

namespace patchlearn {

struct CellSolution1D {
  double a_star;
  std::vector<double> chi;  ///< the corrector at the n lattice points of one period
};

CellSolution1D solve_cell_problem_1d(const std::vector<double>& bond_conductances);

}  // namespace patchlearn
