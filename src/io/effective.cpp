#include "patchlearn/io/effective.hpp"

#include <cmath>

#include "patchlearn/patch/layout2d.hpp"

namespace patchlearn {

int cell_points_per_period(const Config1D& cfg) {
  const double r = cfg.epsilon / cfg.micro_dx;
  return whole_number(r) ? static_cast<int>(std::lround(r)) : 1000;
}

index_t realization_bonds(const Config1D& cfg) { return static_cast<index_t>(std::llround(cfg.length / cfg.micro_dx)); }

EffectiveCoefficients1D effective_coefficients(const Config1D& cfg, double u) {
  if (cfg.random)  // no period: the representative volume is the whole realization's lattice
    return volume_coefficients(*cfg.field, realization_bonds(cfg), cfg.micro_dx / cfg.epsilon, u);
  return effective_coefficients(*cfg.field, cell_points_per_period(cfg), u);
}

Lattice2D cell_lattice(const Config2D& cfg) {
  const auto g = make_layout_2d(cfg.length, cfg.patches, cfg.points, cfg.ratio, cfg.coupling, cfg.order);
  return Lattice2D(cfg.modulation ? cfg.period : cfg.kappa, parse_bond_placement(cfg.placement), g.h, g.first);
}

EffectiveCoefficients2D effective_coefficients(const Config2D& cfg, double u) {
  return effective_coefficients(cell_lattice(cfg), u);
}

}  // namespace patchlearn
