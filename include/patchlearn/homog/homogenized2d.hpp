#pragma once
// The homogenized 2D equation u_t = Dxx u_xx + 2 Dxy u_xy + Dyy u_yy on the periodic [0, L)^2 with
// the full tensor of homog/cell2d.hpp, solved exactly in space and time: a state sampled on an
// N x N grid is read as its trigonometric interpolant (2D DFT, wavenumbers |k| < N/2), and every
// mode decays by exp(-(k.Dk) t). This is the truth of every 2D comparison.
//
// The truth is compared with patch data through the same restriction the patches use: the mean
// over the m x m evolving points (spacing h) around each patch centre. For a mode that mean is
// exp(i k.X) s(kx) s(ky), s(k) = patch_mean_factor(k, m, h) (patch/layout2d.hpp), so it is exact too.
#include <complex>
#include <vector>

#include "patchlearn/homog/cell2d.hpp"
#include "patchlearn/patch/layout2d.hpp"  // patch_mean_factor, wavenumber

namespace patchlearn {

/// The restriction of the trigonometric interpolant of an N-point grid on [0, L) to patch means:
/// E[i][I] = exp(i k_i X_I) s(k_i), k_i the physical wavenumber of index i (i <= N/2 positive).
/// A field with DFT coefficients c[ky][kx] (divided by N^2) has patch means
/// U[J][I] = Re sum_ky,kx E[ky][J] c[ky][kx] E[kx][I].
std::vector<std::complex<double>> patch_mean_modes(double L, int N, const std::vector<double>& centres, int m,
                                                   double h);

class HomogenizedSolution2D {
 public:
  /// samples: u(x_i, y_j) at x_i = i L / N, row-major [j][i]; N even and >= 4.
  HomogenizedSolution2D(EffectiveTensor D, double L, int N, const std::vector<double>& samples);
  /// Patch means U[J][I] and their rates dUdt[J][I] at time t, centres (centres[I], centres[J]).
  void patch_means(double t, const std::vector<double>& centres, int m, double h, double* U, double* dUdt) const;

 private:
  EffectiveTensor D_;
  double L_;
  int N_;
  std::vector<std::complex<double>> coef_;  ///< [ky][kx]
  std::vector<double> k_;                   ///< physical wavenumber of index i
};

}  // namespace patchlearn
