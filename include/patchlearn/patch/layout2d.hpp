#pragma once
// Gap-tooth patches on the bi-periodic square [0, L)^2 (REFERENCE §4.2; the Equation-Free
// toolbox's EdgyInt patches, notes/equation-free-toolbox.md §2).
//   P x P patches, spacing DX = L / P; each has n x n lattice points of which the m x m interior
//   (m = n - 2) evolves; the lattice spacing is h = ratio DX / m, and s = DX / h = m / ratio must
//   be a whole number of lattice points.
//   Patch I has its first (edge) point on lattice point I s + first, first = floor(s / 2) -
//   floor((n - 1) / 2), and its centre X_I (the mean of its interior points' positions) (n - 1) / 2
//   points further: on a lattice point for odd n, halfway between two for even n (which a medium of
//   even period needs: m must be a whole number of periods, below). The global lattice has N = P s
//   points per side.
// Coupling (EdgyInt): the right edge of patch I takes the value at X_I + r DX of the field
// interpolated through the neighbours' first interior column, r = m h / DX = ratio; the left edge
// the value at X_I - r DX of the field through their last interior column (and likewise in y).
// On a periodic medium an edge and the neighbours' points it takes its value from sit at the same
// phase only when m is a whole number of periods; otherwise each edge carries the wrong phase of
// the micro-scale corrector, an offset of order h |grad U| that the patch's own diffusion turns into
// a spurious drift of order 1 / h (config2d.cpp refuses such a gap-tooth layout).
// Interpolation is along the patch index, as a circulant kernel w[(I - J) mod P]:
//   spectral     trigonometric interpolation (ordCC = 0; the Nyquist mode as +P/2, real part)
//   polynomial   Lagrange through the `order` + 1 patches centred on I (order even)
#include <string>
#include <vector>

#include "patchlearn/core/defs.hpp"

namespace patchlearn {

/// How an edge value is interpolated along the patch index (above).
enum class Coupling { Spectral, Polynomial };
/// Its name in configs and messages: spectral, polynomial.
const char* name_of(Coupling c);

struct PatchLayout2D {
  double L = 0, DX = 0, h = 0, ratio = 0;
  int P = 0, n = 0, m = 0;
  index_t spacing = 0;          ///< s, lattice points between patch centres
  index_t first = 0;            ///< lattice index of the first point of patch 0 (the tables' origin)
  std::vector<double> centres;  ///< X_I, the patch centres (above)
  std::vector<double> wp, wm;   ///< coupling kernels for the shifts +r and -r
  Coupling coupling = Coupling::Spectral;
  int order = 0;

  index_t lattice_points() const { return P * spacing; }
};

/// Validates the geometry (ConfigErrors name the keys patch.* / domain.*).
PatchLayout2D make_layout_2d(double L, int P, int n, double ratio, Coupling coupling, int order);

/// Circulant interpolation kernel at a shift of `r` patch spacings (see above).
std::vector<double> coupling_kernel(int P, double r, Coupling coupling, int order);

/// The patch mean of the mode exp(i k x) over m points of spacing h centred on x = 0:
/// s(k) = mean_j cos(k (j - (m - 1) / 2) h) (real, and >= 2 / pi for k m h <= pi).
double patch_mean_factor(double k, int m, double h);

/// The physical wavenumber of DFT index i of an N-point grid on [0, L): 2 pi / L times i for
/// i <= N / 2, i - N above.
double wavenumber(double L, int N, int i);

}  // namespace patchlearn
