#pragma once
// TOML configuration of a 2D lattice run (domain.dimension = 2), validated up front with the same
// rules as the 1D config: unknown keys (with a "did you mean"), wrong types, out-of-range and
// inconsistent values are ConfigErrors naming the key, the value and what is valid.
#include <string>
#include <vector>

#include "patchlearn/io/config.hpp"
#include "patchlearn/micro/initial_conditions.hpp"
#include "patchlearn/micro/lattice2d.hpp"
#include "patchlearn/schemes/lattice2d.hpp"

namespace patchlearn {

/// The 2D schemes that make coarse data (scheme.type).
enum class Scheme2D { GapTooth, FullLattice };
/// Its name in configs, data files and messages: gap_tooth, full_lattice.
const char* name_of(Scheme2D s);

struct Config2D : SharedConfig {
  Config2D();
  // [domain]
  double length = 6.283185307179586;
  int patches = 16;
  // [lattice]
  /// the bond tables and the u-dependence (lattice.conductance_factor, lattice.reaction,
  /// lattice.reaction_rate, lattice.u_range; default u range default_u_range(initial))
  KappaTables kappa = KappaTables::paper();
  std::string kappa_kind = "table";  ///< table | lognormal | random
  /// The law of a random lattice (kappa_kind "random"; its tables are the whole lattice's)
  std::optional<RandomMediumSpec> random;
  /// [cell] (random lattices): representative-volume windows of cell_window x cell_window sites,
  /// cell_samples of them, disjoint (0: not random)
  int cell_window = 0, cell_samples = 0;
  std::string placement = "reference";
  /// lattice.modulation = A(x, y) (issue 17): `kappa` is then the whole lattice's bonds, `period`'s
  /// tables tiled and multiplied by A at each bond (KappaTables::modulated), and the local effective
  /// tensor is A(x, y) D with D the period's.
  std::optional<MediumExpression> modulation;
  KappaTables period;
  // [patch]
  int points = 5;
  double ratio = 0.1;
  Coupling coupling = Coupling::Spectral;
  int order = 4;
  // [scheme]
  Scheme2D scheme = Scheme2D::GapTooth;
  // [fine]
  FineStepper stepper = FineStepper::Exponential;
  double fine_dt = 0.0;                                   ///< rk4 step; 0 = the largest stable step
  double fine_tolerance = exact_exponential_tolerance();  ///< exponential: propagator error bound
  // [time]
  double t_end = 1.0, sample_dt = 0.01;
  // [initial]
  InitialConditionParams2D initial;
  // [homogenized]
  int homogenized_grid = 32;
  // [learn], beside the shared keys (whose 2D defaults the constructor sets)
  double train_fraction = 0.85, train_t_min = 0.01;
  // [regression], beside the shared keys
  /// The Fourier modes the regression fits, |kx|, |ky| <= regression_modes (learn::regress_2d's
  /// `modes`; regression.modes, "auto" by default): on a u-dependent lattice without a position basis
  /// (patches - 1) / 4, the most whose cubic products alias onto none of them; otherwise patches / 2,
  /// every mode (a linear lattice's terms are not products, and a position factor is not band-limited).
  int regression_modes = 0;
  /// "auto" on a u-dependent lattice or with a Fourier basis: the modes above are the first tried,
  /// and the regression takes more where they do not tell its terms apart (learn::regress_2d's
  /// negative `modes`). A random linear lattice's fast modes hold only the medium's fluctuation, so
  /// its modes are not checked against them; given modes are taken as they are.
  bool regression_modes_chosen = false;

  index_t samples() const;  ///< t_end / sample_dt + 1
  int train_trajectories() const;
};

/// The default lattice.u_range: each initial condition of eq. (28) is a sum of `modes` products of
/// sines with |a_j| <= A = max(|amplitude_lo|, |amplitude_hi|), so |u(x, y, 0)| <= S = modes A;
/// the range is [-S, S] widened by 5% of its width (at least 0.05) at each end.
URange default_u_range(const InitialConditionParams2D& ic);

Config2D parse_config_2d(const std::string& text, const std::string& origin);
Config2D load_config_2d(const std::string& path);
/// The [bench] sweep against the rest of the config (only `bench` and `validate` need it).
void check_bench_sweep(const Config2D& cfg);

}  // namespace patchlearn
