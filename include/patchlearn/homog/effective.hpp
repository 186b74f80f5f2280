#pragma once
// Effective coefficients of u-dependent media at a fixed u (issue 15), from the cell problem on the
// micro lattice and period means -- not from the closed forms below, which are the tests' oracle.
//
// 1D. The fine model u_t = (a(x/eps, u) u_x)_x + c(x/eps, u) u_x + r(x/eps, u), a, c, r of
// period 1 in y = x/eps. Two-scale expansion u = u0(x, t) + eps u1(x, y, t) + eps^2 u2 + ..., with
// d/dx -> d_x + eps^-1 d_y and a(y, u) = a(y, u0) + O(eps) (likewise c, r):
//   eps^-2:  d_y(a d_y u0) = 0                         => u0 = u0(x, t) does not depend on y;
//   eps^-1:  d_y(a (d_x u0 + d_y u1)) = 0              => u1 = chi(y; u0) d_x u0, chi the corrector of
//            the cell problem at fixed u = u0: d_y(a(y, u)(1 + chi_y)) = 0, chi periodic, so the flux
//            a (1 + chi_y) = a*(u) is constant and 1 + chi_y = a*(u) / a(y, u), <1 + chi_y> = 1 gives
//            a*(u) = <1/a(., u)>^-1. (The drift enters only at eps^0: c eps^-1 d_y u0 = 0.)
//   eps^0:   u0_t = d_y(...) + d_x(a (1 + chi_y) d_x u0) + c (1 + chi_y) d_x u0 + r(y, u0); the period
//            mean <.> over y removes d_y(...) (periodic), leaving
//   U_t = (a*(U) U_x)_x + c*(U) U_x + r*(U),
//   a*(u) = <a (1 + chi_y)> = <1/a(., u)>^-1,   c*(u) = <c (1 + chi_y)> = a*(u) <c(., u)/a(., u)>,
//   r*(u) = <r(., u)>.
// So the drift is weighted by the corrector's flux factor 1 + chi_y = a*/a, the reaction by 1.
// Discretely (n points per period, dy = 1/n): bond j joins points j and j+1 and carries
// a_j = a((j + 1/2) dy, u) and c_j = c((j + 1/2) dy, u) (the fine model's bond-midpoint sampling);
// solve_cell_problem_1d gives chi and a* = (1/n) sum a_j (1 + (chi_{j+1} - chi_j)/dy); then
// c* = (1/n) sum c_j (1 + (chi_{j+1} - chi_j)/dy) and r* = (1/n) sum r(j dy, u) at the points.
// These equal the midpoint / periodic-rectangle quadratures of the closed forms to round-off
// (the discrete flux is exactly constant), and for smooth periodic integrands those quadratures
// converge geometrically in n, so at n >= 100 they match the integrals to ~1e-15.
//
// 2D lattice (micro/lattice2d.hpp): at a fixed u every bond carries kappa g(u) (g at the mean of
// two equal values is g(u)) and every site the reaction rho(p, q) f(u). The cell problem of
// homog/cell2d.hpp is linear in the bond tables, so its tensor at u is D*(u) = g(u) D with D the
// tensor of the kappa tables; the reaction's period mean is r*(u) = <rho> f(u), <rho> the mean of
// the reaction-rate table (the corrector does not enter: the reaction has no gradient).
#include <optional>

#include "patchlearn/coeff/chebyshev.hpp"
#include "patchlearn/coeff/field.hpp"
#include "patchlearn/homog/cell2d.hpp"
#include "patchlearn/kernels/nonlinear.hpp"
#include "patchlearn/micro/lattice2d.hpp"

namespace patchlearn {

/// The relative accuracy of the coefficients of a 1D cell problem, as their tables in u take it: the
/// Thomas solve and the flux sum carry round-off of ~n eps (5e-15 to 1e-14 at n = 100 points per
/// period), which tabulated to 1e-14 came out as ~60 Chebyshev terms of noise on a linear a*(u).
inline constexpr double kCellProblemAccuracy = 1e-12;
/// The same round-off per bond of a larger volume (a random medium's whole realization, n = 1e5 bonds
/// and more), with room for its contrast: the effective medium's tables take
/// max(kCellProblemAccuracy, n kVolumeRoundOff). A lognormal medium of sigma 1.5 on 1e5 bonds (four
/// decades of conductance) carries ~1e-9 of round-off in each solve and left a tail of 3.1e-11 at
/// 257 points, above 1e-12: it was refused as "not smooth enough in u". The truth needs nothing near
/// that accuracy.
inline constexpr double kVolumeRoundOff = 1e-14;

struct EffectiveCoefficients1D {
  double a_star = 0;    ///< a*(u), the effective diffusivity
  double drift = 0;     ///< c*(u), 0 without medium.drift
  double reaction = 0;  ///< r*(u), 0 without medium.reaction
  /// The means of the sizes of the terms c* and r* average, the scale of their round-off: a drift
  /// or reaction of mean 0 leaves only that (tabulate_means_in_u).
  double drift_terms = 0, reaction_terms = 0;
};

/// a*(u), c*(u), r*(u) of `medium` from the cell problem on a lattice of `points_per_period`
/// (>= 2) points per period at the fixed value u. InputError (naming medium.u_range) when u is not
/// finite or lies outside the medium's u range.
EffectiveCoefficients1D effective_coefficients(const CoefficientField& medium, int points_per_period, double u);

/// The same on a representative volume of `bonds` (>= 2) lattice bonds of spacing dy in y, from
/// lattice point `first`, closed periodically: bond j at y = (first + j + 1/2) dy, point j at
/// y = (first + j) dy (a period is bonds = n, dy = 1/n, first = 0). A random medium has no period: its representative
/// volume is the whole realization's lattice (dy = micro.dx / eps), the volume the linear truth's a* comes from, and
/// the formulas above hold with <.> the mean over it (coeff/field.hpp: for its a_k g(u), c(u),
/// r(u) they give a*(u) = a*_cells g(u), c*(u) = c(u), r*(u) = r(u), the tests' oracle).
EffectiveCoefficients1D volume_coefficients(const CoefficientField& medium, index_t bonds, double dy, double u,
                                            index_t first = 0);

/// The effective medium of a u-dependent 1D medium over its whole u range: a*(u), c*(u), r*(u) as
/// Chebyshev series (coeff/chebyshev.hpp) through effective_coefficients at the Chebyshev points,
/// so the effective PDE U_t = (a*(U) U_x)_x + c*(U) U_x + r*(U) runs on the same per-element math
/// as the fine model (kernels/nonlinear.hpp) with one series shared by every element.
struct EffectiveMedium1D : MediumSeries {
  EffectiveCoefficients1D at(double u) const;
  /// The per-element view of the effective PDE (host pointers into this object, stride 0).
  kernels::MediumTables tables() const;
};
EffectiveMedium1D effective_medium(const CoefficientField& medium, int points_per_period);
/// volume_coefficients of media of one length in series (the realizations of a random medium's
/// ensemble, each `bonds` bonds from bond 0): their union's cell problem, a* = R / sum_r 1/a*_r, the
/// drift weighted by the flux factor a*/a, c* = a* mean_r(c*_r / a*_r), and r* = mean_r r*_r (in 1D the
/// corrector's flux factor on a volume is exactly its a* over the bond's a). One medium: volume_coefficients.
EffectiveCoefficients1D volume_coefficients_in_series(const std::vector<CoefficientField>& media, index_t bonds,
                                                      double dy, double u);
/// The effective medium through volume_coefficients: a random medium's, on its whole realization
/// (several realizations: in series, volume_coefficients_in_series).
EffectiveMedium1D volume_effective_medium(const std::vector<CoefficientField>& media, index_t bonds, double dy);
/// volume_effective_medium of the realizations in series and of each alone (what a simulation of
/// several realizations scores its trajectories against), each realization's volume coefficients
/// solved once at every u the tabulations visit: the same numbers as the separate calls.
struct VolumeEffectiveMedia {
  EffectiveMedium1D ensemble;
  std::vector<EffectiveMedium1D> each;
};
VolumeEffectiveMedia volume_effective_media(const std::vector<CoefficientField>& media, index_t bonds, double dy);

/// The local effective diffusivity a*(x) of a linear graded medium a(x, y) (coeff/field.hpp) at the macro
/// position x: the cell problem of the locally periodic medium y -> a(x, y) on `points_per_period`
/// (>= 2) points. The two-scale expansion above with a(x, y) keeps x as a parameter of the cell
/// problem (d/dx -> d_x + eps^-1 d_y acts on the slow x of a only at order eps^0, inside the
/// flux's d_x): u1 = chi(x, y) u0_x with d_y(a(x, y)(1 + chi_y)) = 0, and the period mean at eps^0
/// gives U_t = (a*(x) U_x)_x, a*(x) = <1/a(x, .)>^-1, exact in 1D up to O(eps) (the local harmonic
/// mean; the closed form is the tests' oracle). InputError when x lies outside the domain [0, L].
double local_a_star(const CoefficientField& graded, double x, int points_per_period);

/// The same with u: a*(x, u), c*(x, u), r*(x, u) of a graded medium (a, drift and reaction may
/// depend on x and u) at the macro position x and the value u, effective_coefficients of the
/// locally periodic medium at_position(x). The expansion above with x a parameter of the cell
/// problem gives U_t = (a*(x, U) U_x)_x + c*(x, U) U_x + r*(x, U), the local coefficients those of
/// the periodic u-dependent medium at x. InputError when x lies outside [0, L] or u outside the
/// medium's u range.
EffectiveCoefficients1D local_effective_coefficients(const CoefficientField& graded, double x, int points_per_period,
                                                     double u);

/// The local effective coefficients of a graded medium as per-element series in u
/// (kernels/nonlinear.hpp, each element its own series): a*(x, u) and c*(x, u) at the bond
/// positions `x_bonds`, r*(x, u) at the point positions `x_points` (empty tables without a drift /
/// reaction, or without points), tabulated on the medium's u range. A linear graded medium gives
/// one constant term a*(x) per bond. `drift` false leaves c* out (for a* alone, e.g. its x-slope).
MediumSeries local_effective_series(const CoefficientField& graded, int points_per_period,
                                    const std::vector<double>& x_bonds, const std::vector<double>& x_points,
                                    bool drift = true);

struct EffectiveCoefficients2D {
  EffectiveTensor D;    ///< D*(u): the cell problem's tensor of the bond tables times g(u)
  double reaction = 0;  ///< r*(u): f(u) times the period mean of rho; 0 without lattice.reaction
};

/// The effective PDE of a u-dependent lattice over its whole u range. Since D*(u) = g(u) D with one
/// tensor D, the flux g(U) D grad U is D grad G(U) with G' = g (the Kirchhoff transform), so
///     U_t = div(g(U) D grad U) + <rho> f(U) = D : grad grad G(U) + <rho> f(U),
/// a linear operator on G(U): spectral derivatives apply to it directly. G (the antiderivative of
/// g's Chebyshev series, term by term) and f are series on the lattice's u range; G is empty when
/// the lattice has no g (G(U) = U), f when it has no reaction.
struct EffectiveLattice2D {
  EffectiveTensor D;  ///< the tensor of the bond tables (D*(u) / g(u))
  ChebyshevTable G, f;
  double rho_mean = 1.0;  ///< <rho>, the period mean of the site reaction rates
  /// The standard errors of D's components where D is an estimate (a random lattice's
  /// representative volumes); none where it is the cell problem's.
  std::optional<EffectiveTensor> D_standard_error;
  /// A macro-modulated lattice's A(x, y) (lattice.modulation): the local tensor is A(x, y) D and
  /// the effective equation u_t = div(A D grad u); none otherwise.
  std::optional<MediumExpression> modulation;
  bool linear() const { return !G.terms && !f.terms; }
  /// The local tensor at the macro position (x, y): A(x, y) D on a modulated lattice, D otherwise.
  EffectiveTensor local(double x, double y) const;
};
EffectiveLattice2D effective_lattice(const Lattice2D& lattice);
/// The same with the tensor D of the lattice's bonds given: where it is an estimate (a random
/// lattice's representative volumes) rather than the cell problem of the lattice's tables.
EffectiveLattice2D effective_lattice(const Lattice2D& lattice, const EffectiveTensor& D);

/// D*(u) and r*(u) of `lattice` at the fixed value u, from the 2D cell problem (effective_tensor)
/// on its bond tables at that u and the period mean of its site reactions. InputError (naming
/// lattice.u_range) when u is not finite or lies outside the lattice's u range.
EffectiveCoefficients2D effective_coefficients(const Lattice2D& lattice, double u);
/// r*(u) = f(u) <rho> of `lattice` (0 without lattice.reaction).
double effective_reaction(const Lattice2D& lattice, double u);

}  // namespace patchlearn
