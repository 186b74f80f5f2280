#pragma once
// Interpretable regression of dU/dt on a library of candidate terms built from (U, U_x, U_xx):
//   {1, U, U_x, U_xx, U^2, U U_x, U U_xx, U_x^2, U_x U_xx, U_xx^2}
// (in 2D from the spectral derivatives (U, U_x, U_y, U_xx, U_xy, U_yy), see regress_2d)
// by least squares and by sequentially thresholded least squares (STLSQ, as PDE-FIND/SINDy): fit,
// drop the terms whose standardized coefficient |xi_j| std(theta_j) / std(dU/dt) is below the
// threshold, refit on the rest, repeat. Solved by Householder QR in double precision on the host.
#include <string>
#include <vector>

namespace patchlearn::learn {

struct RegressionResult {
  std::vector<std::string> terms;
  std::vector<double> least_squares;  ///< all terms
  std::vector<double> stlsq;          ///< sparse (0 for dropped terms)
  std::string equation;               ///< e.g. "dU/dt = 0.4582576 U_xx"
  double a_star = 0.0;                ///< coefficient of U_xx in the sparse fit (1D)
  double relative_residual = 0.0;     ///< eq.-(24) rMSE of the sparse fit on the data
  /// The sparse coefficient of a term (0 when it is not in the library or was dropped).
  double coefficient(const std::string& term) const;
};

/// STLSQ of y on the columns of theta [rows][terms.size()] (the engine of both regressions).
RegressionResult stlsq(const std::vector<double>& theta, const std::vector<double>& y, std::vector<std::string> terms,
                       double threshold);

/// U and dUdt: [N][M] macro states and rates (row-major); the interior nodes are the samples.
RegressionResult regress(const std::vector<double>& U, const std::vector<double>& dUdt, int M, double dX, int stencil,
                         double threshold);

/// 2D: dU/dt on {1, U, U_x, U_y, U_xx, U_xy, U_yy, U_xxxx, U_xxyy, U_yyyy, U^2, U U_x, U U_y} with
/// spectral derivatives of the periodic P x P states U[N][P*P] on [0, L)^2. The fourth-order terms
/// take up the lattice's next-order (O(h^2 k^4)) correction of the rates, which would otherwise
/// bias D by ~5e-4 through the fast modes. D = [[c(U_xx), c(U_xy)/2], [c(U_xy)/2, c(U_yy)]].
RegressionResult regress_2d(const std::vector<double>& U, const std::vector<double>& dUdt, int P, double L,
                            double threshold);

/// Least squares min |A x - b| for a tall A [rows][cols] (row-major), by Householder QR.
std::vector<double> least_squares(std::vector<double> A, std::vector<double> b, int rows, int cols);

}  // namespace patchlearn::learn
