#include "patchlearn/homog/cell1d.hpp"

#include <stdexcept>

namespace patchlearn {

CellSolution1D solve_cell_problem_1d(const std::vector<double>& a) {
  const int n = static_cast<int>(a.size());
  if (n < 2) throw std::invalid_argument("cell problem needs at least 2 bonds per period");
  const double dy = 1.0 / n;
  // Pin chi_0 = 0 (the gauge) and drop equation 0 (the equations sum to zero): equations
  // j = 1..n-1 are tridiagonal in chi_1..chi_{n-1}, since chi_n = chi_0 = 0.
  const int m = n - 1;
  std::vector<double> lo(m), di(m), up(m), rhs(m);
  for (int r = 0; r < m; ++r) {
    const int j = r + 1;
    lo[r] = a[j - 1];
    di[r] = -(a[j - 1] + a[j % n]);
    up[r] = a[j % n];
    rhs[r] = -(a[j % n] - a[j - 1]) * dy;
  }
  // Thomas (the matrix is weakly diagonally dominant and irreducible).
  for (int r = 1; r < m; ++r) {
    const double f = lo[r] / di[r - 1];
    di[r] -= f * up[r - 1];
    rhs[r] -= f * rhs[r - 1];
  }
  std::vector<double> chi(n, 0.0);
  for (int r = m - 1; r >= 0; --r) chi[r + 1] = (rhs[r] - (r + 1 < m ? up[r] * chi[r + 2] : 0.0)) / di[r];
  double mean = 0;
  for (double c : chi) mean += c;
  mean /= n;
  for (double& c : chi) c -= mean;
  double flux = 0;
  for (int j = 0; j < n; ++j) flux += a[j] * (1.0 + (chi[(j + 1) % n] - chi[j]) / dy);
  return {flux / n, chi};
}

}  // namespace patchlearn
