#pragma once
// The 2D lattice micro model of paper eq. (25) on the bi-periodic square [0, L)^2:
//     du/dt(x,y) = [ kx(x,y)(u(x+1,y) - u) + kx(x-1,y)(u(x-1,y) - u)
//                  + ky(x,y)(u(x,y+1) - u) + ky(x,y-1)(u(x,y-1) - u) ] / h^2,
// in lattice indices; kx(x,y) is the bond between (x,y) and (x+1,y), ky(x,y) the one between (x,y)
// and (x,y+1). The diffusivities are periodic tables cx, cy of mx x my entries, written with the
// row index along x as the paper prints them (eq. 26). Where the tables sit on the lattice:
//   reference  as the authors' code (REFERENCE §4.1), tiled from the first point of every patch:
//              kx(o+p, o+q) = cx[p mod mx][(q-1) mod my],  ky(o+p, o+q) = cy[(p-1) mod mx][q mod my]
//   aligned    the same-index reading of eq. (25): kx = cx[p][q], ky = cy[p][q]  (indices mod m)
// with o the origin (the first point of a patch). The relative offset of the two tables changes
// the effective tensor (REFERENCE §4.5), so it is a named option, not an accident.
//
// u-dependent lattices (issue 15): every bond's kappa is multiplied by g(u) at the mean u of its two
// sites (lattice.conductance_factor, an expression in u) and each site gains a reaction
// rho(p, q) f(u) (lattice.reaction = f(u); lattice.reaction_rate = rho, a table with the period of
// the kappa tables, [p][q] with p along x, tiled from the origin like the tables; default all 1).
// g must be finite and > 0 and f finite on the lattice's u range (lattice.u_range).
//
// Random lattices (issue 17, lattice.kappa = "random"): every bond of the whole N x N lattice drawn
// independently (coeff/random_medium.hpp's laws), no period. The tables are then N x N with
// whole_lattice set, read with the aligned placement from the lattice's origin, so every window
// (the full lattice, a patch) is its own piece of the one realization.
//
// Macro-modulated lattices (issue 17, lattice.modulation = A(x, y), an expression in the macro
// position): one period of tables tiled over the whole lattice (aligned, from its origin) with every
// bond multiplied by A at its midpoint, again whole_lattice tables. To leading order in the period
// over the macro scale the local effective tensor is A(x, y) D, D the period's own: the local cell
// problem has every bond scaled by the same constant. A u-dependence combines with it: g(u) on the
// modulated bonds, the reaction rates tiled with the period (tile_mx x tile_my), so locally
// A(x, y) g(u) D and <rho> f(u).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "patchlearn/coeff/field.hpp"
#include "patchlearn/coeff/random_medium.hpp"
#include "patchlearn/core/defs.hpp"

namespace patchlearn {

struct KappaTables {
  int mx = 0, my = 0;
  std::vector<double> cx, cy;  ///< [i][j], i along x (mx rows), j along y (my columns)
  // The u-dependence (above); none by default: the linear lattice of eq. (25).
  std::optional<MediumExpression> conductance_factor, reaction;  ///< g(u), f(u)
  std::vector<double> reaction_rate;                             ///< rho, mx x my like cx; empty: all 1
  URange u_range;                                                ///< where g and f were checked
  /// The tables are one random realization of the whole lattice, not a period (random_lattice).
  bool whole_lattice = false;
  /// Whole-lattice tables that tile one period up to a smooth factor (modulated): that period, which
  /// the gap-tooth patches must share the phase of; 0 x 0 for a random lattice, which has none.
  int tile_mx = 0, tile_my = 0;
  /// Whether the tables repeat with a period the patches can share (all but a random lattice).
  bool has_period() const { return !whole_lattice || tile_mx; }
  /// The period the tables (and the reaction rates) repeat with: mx x my, a modulated lattice's
  /// tiled one, the whole lattice for a random one.
  int period_x() const { return tile_mx ? tile_mx : mx; }
  int period_y() const { return tile_my ? tile_my : my; }
  /// The key of the first u-dependent term (lattice.conductance_factor, lattice.reaction), ""
  /// when the lattice is linear.
  std::string nonlinear_key() const;
  /// ConfigError naming that key when the lattice is u-dependent: the caller (a 2D scheme, the
  /// linear cell problem) models the linear lattice only and must not silently drop g and f.
  void require_linear() const;
  /// These tables without their u-dependence: the linear lattice of the kappa alone.
  KappaTables linear_part() const;
  /// The linear lattice of these tables at the value u: every bond kappa g(u), the bonds whose cell
  /// problem gives D*(u) (the kappa alone without a conductance factor). InputError naming
  /// lattice.u_range when u is not finite or lies outside it.
  KappaTables at(double u) const;
  /// g(u), 1 without a conductance factor.
  double factor(double u) const { return conductance_factor ? (*conductance_factor)(0.0, u) : 1.0; }

  /// The paper's 3 x 3 tables (C3x3.mat at full precision, REFERENCE §4.1).
  static KappaTables paper();
  /// Independent log-normal entries exp(sigma N(0,1)) from a seed.
  static KappaTables lognormal(int mx, int my, double sigma, std::uint64_t seed);
  /// A random lattice of N x N sites: the x-bonds' N^2 values, then the y-bonds', in order from
  /// one stream of `law` (RandomMediumSpec::draw), whole_lattice set.
  static KappaTables random_lattice(int N, const RandomMediumSpec& law);
  /// These periodic tables tiled over the whole N x N lattice of spacing h whose tables start at site
  /// `origin` (table entry (i, j) is site (p, q) = (origin + i, origin + j) mod N, at (p h, q h)), the
  /// x-bond multiplied by A((p + 1/2) h, q h) and the y-bond by A(p h, (q + 1/2) h): whole_lattice set.
  /// ConfigError naming A's key at the first bond where A is not finite and > 0.
  KappaTables modulated(int N, double h, index_t origin, const MediumExpression& A) const;
  /// The W x W sub-tables from site (x0, y0) (indices mod the tables' size), a period of their own
  /// with the same u-dependence: a representative-volume window closed periodically.
  KappaTables window(int x0, int y0, int W) const;
};

enum class BondPlacement { Reference, Aligned };
BondPlacement parse_bond_placement(const std::string& name);

class Lattice2D {
 public:
  /// h: lattice spacing; origin: lattice index (in x and in y) where the tables start.
  Lattice2D(KappaTables tables, BondPlacement placement, double h, index_t origin = 0);
  double kx(index_t x, index_t y) const;
  double ky(index_t x, index_t y) const;
  /// The reaction rate rho of site (x, y) (1 without lattice.reaction_rate).
  double rho(index_t x, index_t y) const;
  /// <rho>, the mean of the reaction rates over one period of the tables (1 without them).
  double mean_rho() const;
  double h() const { return h_; }
  const KappaTables& tables() const { return t_; }
  BondPlacement placement() const { return placement_; }
  index_t origin() const { return origin_; }
  /// Bond tables kE, kN ([y][x], n x n) of the window of points x0.., y0.. .
  void window(index_t x0, index_t y0, index_t n, std::vector<double>& kE, std::vector<double>& kN) const;

 private:
  KappaTables t_;
  BondPlacement placement_;
  double h_;
  index_t origin_;
};

}  // namespace patchlearn
