#include "patchlearn/io/config2d.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "patchlearn/core/error.hpp"
#include "patchlearn/io/config.hpp"
#include "patchlearn/io/footprint.hpp"
#include "patchlearn/patch/layout2d.hpp"
#include "patchlearn/schemes/lattice2d.hpp"
#include "toml_table.hpp"

namespace patchlearn {
namespace {

using namespace config_detail;

const std::map<std::string, std::set<std::string>>& schema() {
  static const std::map<std::string, std::set<std::string>> s = with_shared_keys({
      {"domain", {"dimension", "length", "patches"}},
      {"lattice",
       {"kappa", "kappa_x", "kappa_y", "placement", "period", "sigma", "seed", "conductance_factor", "reaction",
        "reaction_rate", "u_range", "distribution", "mu", "k1", "k2", "fraction", "modulation"}},
      {"cell", {"window", "samples"}},
      {"patch", {"points", "ratio", "coupling", "order"}},
      {"scheme", {"type"}},
      {"fine", {"stepper", "dt", "tolerance"}},
      {"time", {"t_end", "sample_dt"}},
      {"initial", {"trajectories", "modes", "wavenumbers", "amplitude", "phases", "seed"}},
      {"homogenized", {"grid"}},
      {"learn", {"train_fraction", "train_t_min"}},
      {"regression", {"modes"}},
      {"bench", {"lattice", "tolerance"}},
  });
  return s;
}

/// The law of a random lattice (parse_random_law): lognormal (lattice.mu, lattice.sigma) or
/// two-phase (lattice.k1, lattice.k2, lattice.fraction), and lattice.seed.
RandomMediumSpec parse_random_lattice(const Table& lattice) {
  return parse_random_law(lattice, {"lognormal", "two_phase"}, {"lattice", {{"a1", "k1"}, {"a2", "k2"}}});
}

/// A rectangular table of positive numbers (non-negative with `allow_zero`) given as an array of
/// rows (row index along x).
std::vector<double> kappa_table(const toml::table& root, const std::string& k, int& rows, int& cols,
                                bool allow_zero = false) {
  const std::string key = "lattice." + k;
  const toml::node* n = toml::at_path(root, key).node();
  const toml::array* a = n ? n->as_array() : nullptr;
  if (!a || a->empty())
    throw ConfigError(key, "expected an array of rows of positive numbers, e.g. [[1.0, 2.0], [3.0, 4.0]]");
  std::vector<double> out;
  rows = static_cast<int>(a->size());
  cols = -1;
  for (std::size_t i = 0; i < a->size(); ++i) {
    const toml::array* r = (*a)[i].as_array();
    if (!r || r->empty())
      throw ConfigError(key, "row " + std::to_string(i + 1) + " is not a non-empty array of numbers");
    if (cols >= 0 && static_cast<int>(r->size()) != cols)
      throw ConfigError(key, "row " + std::to_string(i + 1) + " has " + std::to_string(r->size()) +
                                 " entries, row 1 has " + std::to_string(cols) + "; the table must be rectangular");
    cols = static_cast<int>(r->size());
    for (const auto& e : *r) {
      const auto v = e.value<double>();
      if (!v) throw ConfigError(key, "row " + std::to_string(i + 1) + " holds a non-number");
      if (!(*v > 0 || (allow_zero && *v == 0)) || !std::isfinite(*v))
        throw ConfigError(key, "entry " + num(*v) + " in row " + std::to_string(i + 1) +
                                   (allow_zero ? " must be a finite rate >= 0" : " must be a finite diffusivity > 0"));
      out.push_back(*v);
    }
  }
  return out;
}

}  // namespace

URange default_u_range(const InitialConditionParams2D& ic) {
  const double s = ic.modes * std::max(std::abs(ic.amplitude_lo), std::abs(ic.amplitude_hi));
  const double margin = std::max(0.05, 0.1 * s);
  return {-s - margin, s + margin};
}

const char* name_of(Scheme2D s) {
  static const char* const names[] = {"gap_tooth", "full_lattice"};  // in the enum's order
  return names[static_cast<int>(s)];
}

Config2D::Config2D() {
  learn.epochs = 10;
  learn.lbfgs_iterations = 50;
  learn.precision = Precision::FP32;
  rollout.t_end = 1.0;
  rollout.dt = 1e-3;
  rollout.rtol = 1e-7;
  rollout.atol = 1e-10;
  bench.rmse = 1e-5;
}

index_t Config2D::samples() const { return static_cast<index_t>(std::llround(t_end / sample_dt)) + 1; }

int Config2D::train_trajectories() const {
  const int n = initial.trajectories;
  return std::max(1, std::min(n - 1, static_cast<int>(std::lround(train_fraction * n))));
}

Config2D parse_config_2d(const std::string& text, const std::string& origin) {
  const toml::table root = parse_toml(text, origin);
  check_keys(root, schema());
  Config2D c;
  c.text = text;
  c.origin = origin;
  Table domain(root, "domain"), lattice(root, "lattice"), patch(root, "patch"), scheme(root, "scheme"),
      fine(root, "fine"), time(root, "time"), initial(root, "initial"), homog(root, "homogenized"),
      learn(root, "learn");
  if (domain.integer("dimension", 1, 1, 2) != 2)
    throw ConfigError("domain.dimension", "must be 2 for a 2D lattice config");
  c.length = domain.positive("length", c.length);
  c.patches = static_cast<int>(domain.integer("patches", c.patches, 3, 4096));

  // --- initial conditions (first: the lattice's default u range is theirs)
  auto& ic = c.initial;
  ic.length = c.length;
  ic.trajectories = static_cast<int>(initial.integer("trajectories", ic.trajectories, 1, 1000000));
  ic.modes = static_cast<int>(initial.integer("modes", ic.modes, 1, 10000));
  const auto kr = initial.range("wavenumbers", {ic.k_lo, ic.k_hi});
  if (kr.first != std::floor(kr.first) || kr.second != std::floor(kr.second) || kr.first < 0)
    throw ConfigError("initial.wavenumbers", "expected two whole numbers >= 0, e.g. [1, 5]");
  ic.k_lo = static_cast<int>(kr.first);
  ic.k_hi = static_cast<int>(kr.second);
  std::tie(ic.amplitude_lo, ic.amplitude_hi) = initial.range("amplitude", {ic.amplitude_lo, ic.amplitude_hi});
  ic.reference_phases = initial.choice("phases", "continuous", {"continuous", "reference"}) == "reference";
  ic.seed = static_cast<std::uint64_t>(initial.integer("seed", 42, 0, 9223372036854775807LL));
  if (2 * ic.k_hi >= c.patches)
    c.warnings.push_back("initial.wavenumbers: modes up to " + std::to_string(ic.k_hi) + " are not resolved by " +
                         std::to_string(c.patches) + " patches per side (need wavenumber < patches / 2)");

  // --- lattice
  c.kappa_kind = lattice.choice("kappa", c.kappa_kind, {"table", "lognormal", "random"});
  if (c.kappa_kind != "random")
    for (const char* k : {"distribution", "mu", "k1", "k2", "fraction"})
      if (lattice.has(k)) throw ConfigError(lattice.key(k), "is a key of random lattices (lattice.kappa = \"random\")");
  if (c.kappa_kind == "random") {
    c.random = parse_random_lattice(lattice);
    // The tables are drawn once the lattice's size is known (below, with the patches).
  } else if (c.kappa_kind == "table") {
    if (lattice.has("kappa_x") != lattice.has("kappa_y"))
      throw ConfigError(lattice.has("kappa_x") ? "lattice.kappa_y" : "lattice.kappa_x",
                        "missing; give both kappa_x and kappa_y (or neither, for the paper's 3 x 3 tables)");
    if (lattice.has("kappa_x")) {
      int rx, cx, ry, cy;
      c.kappa.cx = kappa_table(root, "kappa_x", rx, cx);
      c.kappa.cy = kappa_table(root, "kappa_y", ry, cy);
      if (rx != ry || cx != cy)
        throw ConfigError("lattice.kappa_y", std::to_string(ry) + " x " + std::to_string(cy) +
                                                 " does not match kappa_x, " + std::to_string(rx) + " x " +
                                                 std::to_string(cx));
      c.kappa.mx = rx;
      c.kappa.my = cx;
    }
  } else {
    if (lattice.has("kappa_x") || lattice.has("kappa_y"))
      throw ConfigError("lattice.kappa",
                        "\"lognormal\" draws the tables; remove kappa_x / kappa_y or use kappa = \"table\"");
    const int period = static_cast<int>(lattice.integer("period", 3, 1, 64));
    c.kappa = KappaTables::lognormal(period, period, lattice.number("sigma", 1.0),
                                     static_cast<std::uint64_t>(lattice.integer("seed", 1, 0, 9223372036854775807LL)));
  }
  if (lattice.has("modulation")) {
    if (c.random)
      throw ConfigError("lattice.modulation",
                        "modulates a periodic lattice; a random one (lattice.kappa = \"random\") "
                        "is not supported with it");
    c.modulation.emplace("lattice.modulation", lattice.choice("modulation", "", {}),
                         std::vector<std::string>{"x", "y"});
  }
  const bool whole = c.random || c.modulation;
  c.placement = lattice.choice("placement", whole ? "aligned" : c.placement, {"reference", "aligned"});
  if (whole && c.placement != "aligned")
    throw ConfigError("lattice.placement",
                      std::string("\"reference\" tiles one period from every patch's first point; ") +
                          (c.random ? "a random lattice has no period"
                                    : "a modulated lattice's "
                                      "bonds differ from patch "
                                      "to patch") +
                          ": use \"aligned\" (its default)");
  if (c.random && lattice.has("reaction_rate"))
    throw ConfigError("lattice.reaction_rate",
                      "is a table with the diffusivity tables' period, and a random lattice has none: its sites all "
                      "react at f(u) (lattice.reaction)");
  // The u-dependence: g(u) on every bond, rho(p, q) f(u) at every site, checked on the u range.
  if (lattice.has("u_range")) {
    const auto r = lattice.range("u_range", {0, 0});
    c.kappa.u_range = {r.first, r.second};
  } else {
    c.kappa.u_range = default_u_range(ic);
  }
  const std::string range_key =
      lattice.has("u_range") ? "lattice.u_range" : "lattice.u_range (default: the initial conditions' bound)";
  if (lattice.has("conductance_factor")) {
    c.kappa.conductance_factor.emplace("lattice.conductance_factor", lattice.choice("conductance_factor", "", {}),
                                       std::vector<std::string>{"u"});
    c.kappa.conductance_factor->check(c.kappa.u_range, true, range_key);
  }
  if (lattice.has("reaction")) {
    c.kappa.reaction.emplace("lattice.reaction", lattice.choice("reaction", "", {}), std::vector<std::string>{"u"});
    c.kappa.reaction->check(c.kappa.u_range, false, range_key);
  }
  if (lattice.has("reaction_rate")) {
    if (!lattice.has("reaction"))
      throw ConfigError("lattice.reaction_rate", "is given without lattice.reaction = f(u)");
    int rows, cols;
    c.kappa.reaction_rate = kappa_table(root, "reaction_rate", rows, cols, true);
    if (rows != c.kappa.mx || cols != c.kappa.my)
      throw ConfigError("lattice.reaction_rate", std::to_string(rows) + " x " + std::to_string(cols) +
                                                     " does not match the period of the diffusivity tables, " +
                                                     std::to_string(c.kappa.mx) + " x " + std::to_string(c.kappa.my));
  }

  // --- patches
  c.points = static_cast<int>(patch.integer("points", c.points, 3, 101));
  c.ratio = patch.positive("ratio", c.ratio);
  c.coupling = patch.enumerated("coupling", c.coupling, {Coupling::Spectral, Coupling::Polynomial});
  c.order = static_cast<int>(patch.integer("order", c.order, 2, 64));
  c.scheme = scheme.enumerated("type", c.scheme, {Scheme2D::GapTooth, Scheme2D::FullLattice});
  if (whole) {
    const auto g = make_layout_2d(c.length, c.patches, c.points, c.ratio, c.coupling, c.order);
    const auto N = static_cast<int>(g.lattice_points());
    if (c.random) {
      KappaTables drawn = KappaTables::random_lattice(N, *c.random);
      drawn.conductance_factor = c.kappa.conductance_factor;
      drawn.reaction = c.kappa.reaction;
      drawn.u_range = c.kappa.u_range;
      c.kappa = std::move(drawn);
    } else {
      c.period = c.kappa;
      c.kappa = c.period.modulated(N, g.h, g.first, *c.modulation);
    }
    if (c.scheme == Scheme2D::GapTooth)
      check_gap_tooth_medium(Lattice2D(c.kappa, parse_bond_placement(c.placement), g.h, g.first), g);
  }
  parse_cell_windows(Table(root, "cell"),
                     {"random lattices (lattice.kappa = \"random\")", "sites", c.random ? c.kappa.mx : 0, 2, 32, 100},
                     c.cell_window, c.cell_samples);
  // EdgyInt's edges and their sources at the same phase of a periodic medium (patch/layout2d.hpp):
  // otherwise the patches drift. Measured on paper2d's tables with points = 7 (m = 5, period 3):
  // the patch means 50% off the homogenized field within one sample and rMSE 1.2 over the run,
  // against 7.7e-8 with points = 5; u-dependent bonds then leave lattice.u_range.
  const int m = c.points - 2;
  const int tile_x = c.kappa.period_x(), tile_y = c.kappa.period_y(), tile = std::lcm(tile_x, tile_y);
  if (c.scheme == Scheme2D::GapTooth && c.kappa.has_period() && m % tile)
    throw ConfigError("patch.points",
                      fmt::format("{} puts {} evolving points per side in each patch, not a whole number of the "
                                  "medium's period ({} x {}): the EdgyInt edges would take their values from the "
                                  "neighbours' points at another phase of the medium, which drives a spurious drift "
                                  "of order 1/h; use points = 2 + a multiple of {} ({}, {}, ...)",
                                  c.points, m, tile_x, tile_y, tile, 2 + tile, 2 + 2 * tile));

  // --- time stepping
  // A u-dependent lattice has no exp(dt A): its default stepper is rkc, with rkc's tolerance.
  // So have gap-tooth teeth with bonds of their own (a random or modulated lattice): their patch
  // system is not symmetric.
  const bool linear = c.kappa.nonlinear_key().empty(), own_bonds = whole && c.scheme == Scheme2D::GapTooth;
  int tooth_values = 0;  // the teeth's own tables, per tooth (below)
  c.stepper = fine.enumerated("stepper", linear && !own_bonds ? c.stepper : FineStepper::RKC,
                              {FineStepper::Exponential, FineStepper::RK4, FineStepper::RKC});
  c.fine_dt = fine.number("dt", c.fine_dt);
  if (c.fine_dt < 0) throw ConfigError("fine.dt", num(c.fine_dt) + " must be >= 0 (0: the largest stable step)");
  c.fine_tolerance = fine.positive(
      "tolerance", c.stepper == FineStepper::RKC ? rkc_default_tolerance() : exact_exponential_tolerance());
  if (c.fine_tolerance >= 1) throw ConfigError("fine.tolerance", num(c.fine_tolerance) + " must be < 1");
  if (c.stepper == FineStepper::Exponential && !linear)
    throw ConfigError("fine.stepper", "exponential needs a linear lattice, and " + c.kappa.nonlinear_key() +
                                          " makes it u-dependent; use rkc");
  if (c.stepper == FineStepper::Exponential && own_bonds)
    throw ConfigError("fine.stepper", std::string("exponential needs a symmetric patch system, and the teeth of a ") +
                                          (c.random ? "random" : "modulated") +
                                          " lattice each have their own bonds; use rkc (the default here) or rk4");
  if (c.stepper == FineStepper::Exponential && c.coupling != Coupling::Spectral)
    throw ConfigError(
        "fine.stepper",
        "exponential needs the symmetric spectral coupling; use rk4 with patch.coupling = \"polynomial\"");
  {
    // The geometry and the medium together: phase alignment and, for RK4, the stability limit.
    const auto g = make_layout_2d(c.length, c.patches, c.points, c.ratio, c.coupling, c.order);
    const Lattice2D lat(c.kappa, parse_bond_placement(c.placement), g.h, g.first);
    check_patch_phase(lat, g);
    // Teeth with bonds of their own hold 2 m (m + 1) of them, closed teeth (GapTooth2D::closed_teeth)
    // also 8 m ghost factors, beside a state of m^2 per trajectory: chunks of chunk_least
    // trajectories keep them within the chunk's state.
    if (own_bonds) {
      tooth_values = 2 * m * (m + 1) + (GapTooth2D::closed_teeth(lat, g) ? 8 * m : 0);
      c.chunk_least = (tooth_values + m * m - 1) / (m * m);
    }
    const double rho =
        c.scheme == Scheme2D::GapTooth ? gap_tooth_spectral_bound(lat, g) : full_lattice_spectral_bound(lat, g);
    if (c.stepper == FineStepper::RK4 && c.fine_dt * rho > rk4_stability_limit())
      throw ConfigError("fine.dt", num(c.fine_dt) + " is over the RK4 stability limit " + num(rk4_stability_limit()) +
                                       " / rho = " + num(rk4_stability_limit() / rho) +
                                       " of this lattice (rho = " + num(rho) +
                                       "); use a smaller fine.dt, 0 (automatic) or fine.stepper = \"exponential\"");
  }
  c.t_end = time.positive("t_end", c.t_end);
  c.sample_dt = time.positive("sample_dt", c.sample_dt);
  const double steps = c.t_end / c.sample_dt;
  if (!whole_number(steps, 1e-6))
    throw ConfigError("time.t_end", num(c.t_end) + " is not a whole number of time.sample_dt = " + num(c.sample_dt));

  c.homogenized_grid = static_cast<int>(homog.integer("grid", c.homogenized_grid, 4, 4096));
  if (c.homogenized_grid % 2 || c.homogenized_grid <= 2 * ic.k_hi)
    throw ConfigError("homogenized.grid",
                      std::to_string(c.homogenized_grid) + " must be even and above twice the largest wavenumber " +
                          std::to_string(ic.k_hi) + " so the initial conditions are represented exactly");

  // --- the shared sections, then the 2D [learn] keys
  parse_shared_sections(root, c, c.t_end, "time.t_end", c.random.has_value());
  // learn.patch_scales: a scale per tooth and direction for the regression's diffusion terms
  // (LearningTask2D::patch_scaling), which would take up a modulation's position dependence too. On
  // by default where the teeth's scatter hides the equation's shape: a u-dependent random lattice
  // (random_nonlinear2d.toml: g'(u) 5-20% off without, 1-2% with; README "Patch scales on a lattice"). A
  // linear one's shape is D alone, which they only move from the fit's pooled mean to the teeth's.
  const bool position_dependent = c.modulation || c.position_basis != learn::PositionKind::None;
  if (!Table(root, "learn").has("patch_scales"))
    c.learn.patch_scales = c.random && !c.kappa.nonlinear_key().empty() && !position_dependent;
  else if (c.learn.patch_scales && position_dependent)
    throw ConfigError("learn.patch_scales",
                      "would take up the position dependence that regression.position_basis is to find; set false");
  check_position_degree(c, c.patches, "patch centres per side");
  if (c.chunk_trajectories > 0 && c.chunk_trajectories < std::min(c.chunk_least, ic.trajectories))
    c.warnings.push_back(
        fmt::format("run.chunk_trajectories: the teeth's own tables ({} values per tooth) outweigh the state "
                    "of a chunk of {} trajector{} ({} values per tooth each); {} or more keep them within it",
                    tooth_values, c.chunk_trajectories, c.chunk_trajectories == 1 ? "y" : "ies", m * m, c.chunk_least));
  if (c.modulation && c.position_basis == learn::PositionKind::None)
    c.warnings.push_back(
        "regression.position_basis: the lattice is modulated (lattice.modulation), but the regression's library is "
        "translation invariant and can find only one average D; set position_basis = \"polynomial\" or "
        "\"fourier\"");
  const Table regression(root, "regression");
  // "auto": a u-dependent lattice (without a position basis) or a Fourier position basis puts
  // aliases of the library's products on the fast modes: (P - 1) / 4. A random lattice puts its
  // fluctuation on every mode, and beyond the initial conditions' wavenumbers that is all those
  // modes hold; divided by the patch means' factor, they pull the fourth-order terms and D with
  // them (a two-phase 0.2 / 3 lattice: D 1.151 with all 8 modes, 1.087 with the conditions' 5,
  // against the representative volumes' 1.096 +- 0.005): the conditions' modes. (P - 1) / 4 is
  // where the regression starts: it takes more where those do not tell its terms apart.
  if (!regression.has("modes") || regression.is_auto("modes")) {
    if ((!c.kappa.nonlinear_key().empty() && c.position_basis == learn::PositionKind::None) ||
        c.position_basis == learn::PositionKind::Fourier) {
      c.regression_modes = std::max(1, (c.patches - 1) / 4);
      c.regression_modes_chosen = true;
    } else if (c.random)
      c.regression_modes = std::min(c.patches / 2, std::max(1, ic.k_hi));
    else
      c.regression_modes = c.patches / 2;
  } else {
    c.regression_modes = static_cast<int>(regression.integer("modes", 0, 1, 1 << 20));
  }
  if (c.regression_modes > c.patches / 2)
    throw ConfigError("regression.modes",
                      std::to_string(c.regression_modes) +
                          " is past the grid's last mode, domain.patches / 2 = " + std::to_string(c.patches / 2));
  c.train_fraction = learn.number("train_fraction", c.train_fraction);
  if (!(c.train_fraction > 0 && c.train_fraction < 1))
    throw ConfigError("learn.train_fraction", num(c.train_fraction) + " must be in (0, 1)");
  check_validation_split(c.learn, c.train_trajectories());
  c.train_t_min = learn.number("train_t_min", c.train_t_min);
  if (!(c.train_t_min >= 0 && c.train_t_min < c.t_end))
    throw ConfigError("learn.train_t_min", num(c.train_t_min) + " must be in [0, time.t_end)");
  // The models are scored from the first snapshot at or after train_t_min to rollout.t_end.
  const double first = std::ceil(c.train_t_min / c.sample_dt - 1e-9) * c.sample_dt;
  if (c.rollout.t_end < first + c.sample_dt - 1e-9 * c.sample_dt)
    throw ConfigError("rollout.t_end", num(c.rollout.t_end) +
                                           " leaves no interval after learn.train_t_min = " + num(c.train_t_min) +
                                           " to score the models on; use at least " + num(first + c.sample_dt));

  // --- bench: lattice sizes N (their consistency with the patches: check_bench)
  const Table bench(root, "bench");
  c.bench.tolerance = bench.ladder("tolerance", c.bench.tolerance);
  for (const double t : c.bench.tolerance)
    if (t >= 1) throw ConfigError("bench.tolerance", num(t) + " must be < 1");
  std::vector<double> sizes(c.bench.lattice.begin(), c.bench.lattice.end());
  sizes = bench.positives("lattice", sizes);
  c.bench.lattice.clear();
  for (const double n : sizes) {
    if (n != std::floor(n) || n > 1e6) throw ConfigError("bench.lattice", num(n) + " must be a whole number up to 1e6");
    c.bench.lattice.push_back(static_cast<int>(n));
  }
  c.chunk_floor = c.scheme == Scheme2D::FullLattice ? 1 : kCpuChunkFloor;
  check_fits_in_memory(footprint_2d(c), "domain.patches",
                       c.scheme == Scheme2D::FullLattice ? "patch.ratio" : "patch.points");
  return c;
}

void check_bench_sweep(const Config2D& c) {
  if (c.random)
    throw ConfigError("lattice.kappa",
                      "bench sweeps the lattice size, and a random lattice is one realization of "
                      "one size (its tables would be tiled on the others); bench a periodic lattice");
  if (c.modulation)
    throw ConfigError("lattice.modulation",
                      "bench sweeps the lattice size, and a modulated lattice's tables are those of one size; bench "
                      "an unmodulated lattice");
  // Each lattice size N sets patch.ratio = patches (points - 2) / N.
  for (const int N : c.bench.lattice) {
    const double n = N;
    const int span = c.patches * (c.points - 2);
    if (N % c.patches || N < span)
      throw ConfigError("bench.lattice",
                        num(n) + " must be a whole multiple of domain.patches = " + std::to_string(c.patches) +
                            ", at least patches x (points - 2) = " + std::to_string(span) + ", up to 1e6");
    try {
      const auto g = make_layout_2d(c.length, c.patches, c.points, span / n, c.coupling, c.order);
      check_patch_phase(Lattice2D(c.kappa, parse_bond_placement(c.placement), g.h, g.first), g);
    } catch (const ConfigError& e) {
      throw ConfigError("bench.lattice", num(n) + ": " + e.what());
    }
  }
}

Config2D load_config_2d(const std::string& path) { return parse_config_2d(read_config_text(path), path); }

}  // namespace patchlearn
