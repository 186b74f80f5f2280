#include "patchlearn/io/effective.hpp"

#include <cmath>

#include "patchlearn/patch/layout2d.hpp"

namespace patchlearn {

int cell_points_per_period(const Config1D& cfg) {
  const double r = cfg.epsilon / cfg.micro_dx;
  return whole_number(r) ? static_cast<int>(std::lround(r)) : 1000;
}

index_t realization_bonds(const Config1D& cfg) { return static_cast<index_t>(std::llround(cfg.length / cfg.micro_dx)); }

CellVolume cell_volume(const Config1D& cfg) {
  if (cfg.random)  // no period: the representative volume is the whole realization's lattice
    return {realization_bonds(cfg), cfg.micro_dx / cfg.epsilon};
  const int n = cell_points_per_period(cfg);
  return {n, 1.0 / n};
}

EffectiveCoefficients1D effective_coefficients(const Config1D& cfg, double u) {
  const auto v = cell_volume(cfg);
  return volume_coefficients(*cfg.field, v.bonds, v.dy, u);
}

Lattice2D cell_lattice(const Config2D& cfg) {
  const auto g = make_layout_2d(cfg.length, cfg.patches, cfg.points, cfg.ratio, cfg.coupling, cfg.order);
  return Lattice2D(cfg.modulation ? cfg.period : cfg.kappa, parse_bond_placement(cfg.placement), g.h, g.first);
}

EffectiveCoefficients2D effective_coefficients(const Config2D& cfg, double u) {
  return effective_coefficients(cell_lattice(cfg), u);
}

}  // namespace patchlearn
