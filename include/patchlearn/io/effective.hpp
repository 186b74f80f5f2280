#pragma once
// The effective coefficients at a fixed u of a config's medium (homog/effective.hpp on the micro
// lattice the config describes): what `patchlearn cell CONFIG --u VALUE` reports.
#include "patchlearn/homog/effective.hpp"
#include "patchlearn/io/config.hpp"
#include "patchlearn/io/config2d.hpp"

namespace patchlearn {

/// Points per period of the 1D cell problem: medium.epsilon / micro.dx when that is a whole
/// number (the micro lattice repeats every period), else 1000.
int cell_points_per_period(const Config1D& cfg);

/// The bonds of the whole domain's lattice, L / micro.dx: a random realization's representative
/// volume (its a*, the effective medium of a nonlinear one).
index_t realization_bonds(const Config1D& cfg);

/// The lattice whose cell problem gives a 1D config's effective medium: one period on
/// cell_points_per_period(cfg) points, or a random medium's whole realization (realization_bonds),
/// as bonds of dy periods each.
struct CellVolume {
  index_t bonds;
  double dy;
};
CellVolume cell_volume(const Config1D& cfg);

/// a*(u), c*(u), r*(u) of the medium on its cell_volume(cfg); InputError naming medium.u_range when
/// u is outside it.
EffectiveCoefficients1D effective_coefficients(const Config1D& cfg, double u);

/// The lattice whose cell problem gives the effective coefficients, placed as the 2D schemes place
/// it (the patch layout's spacing and origin): a modulated lattice's period (the local coefficients
/// are A(x, y) times its), the configured lattice otherwise.
Lattice2D cell_lattice(const Config2D& cfg);

/// D*(u), r*(u) of cell_lattice(cfg); InputError naming lattice.u_range when u is outside it.
EffectiveCoefficients2D effective_coefficients(const Config2D& cfg, double u);

}  // namespace patchlearn
