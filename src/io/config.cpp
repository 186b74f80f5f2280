#include "patchlearn/io/config.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "patchlearn/coeff/random_medium.hpp"
#include "patchlearn/core/error.hpp"
#include "patchlearn/schemes/lattice2d.hpp"
#include "patchlearn/homog/homogenized1d.hpp"
#include "patchlearn/io/footprint.hpp"
#include "toml_table.hpp"

namespace patchlearn {
namespace {

using namespace config_detail;

const std::map<std::string, std::set<std::string>>& schema() {
  static const std::map<std::string, std::set<std::string>> s = with_shared_keys({
      {"medium", {"coefficient",  "mean",
                  "amplitude",    "a1",
                  "a2",           "fraction",
                  "expression",   "table",
                  "epsilon",      "drift",
                  "reaction",     "u_range",
                  "distribution", "mu",
                  "sigma",        "lo",
                  "hi",           "seed",
                  "correlation",  "realizations",
                  "translations", "conductance_factor"}},
      {"domain", {"dimension", "length", "macro_nodes"}},
      {"micro", {"dx"}},
      {"scheme", {"type"}},
      {"patch",
       {"tooth_width", "buffer_width", "lifting", "burst", "substeps", "method", "jacobian", "buffer_ends",
        "heal_substeps", "estimate_degree", "rate_tolerance"}},
      {"gap_tooth", {"dt"}},
      {"full_resolution", {"rtol", "dt0", "compare"}},
      {"macro", {"dt", "integrator", "t_end", "sample_every"}},
      {"initial",
       {"trajectories", "modes", "amplitude", "frequency", "phase", "positivity_shift", "seed", "kind",
        "front_position", "front_width"}},
      {"homogenized", {"dx"}},
      {"learn", {"train_trajectories", "train_t_min", "train_t_max", "stencil"}},
      {"cell", {"window", "samples"}},
      {"bench", {"epsilon", "full_rtol"}},
  });
  return s;
}

/// The random medium's law (parse_random_law) in [medium], whose other coefficient keys it refuses.
RandomMediumSpec parse_random_medium(const Table& medium) {
  for (const std::string k : {"mean", "amplitude", "expression", "table"})
    if (medium.has(k)) throw ConfigError(medium.key(k), "is not a parameter of a random medium");
  RandomMediumSpec spec = parse_random_law(medium, {"lognormal", "uniform", "two_phase"}, {});
  if (medium.has("correlation")) {
    if (spec.distribution != RandomMediumSpec::Distribution::lognormal)
      throw ConfigError("medium.correlation", "is for the lognormal distribution (a log-Gaussian field)");
    spec.correlation = medium.number("correlation", 0);
    spec.validate();
  }
  return spec;
}

/// How the errors of a medium checked on its u range name that range.
std::string u_range_key(const Table& medium) {
  return medium.has("u_range") ? "medium.u_range" : "medium.u_range (default: the initial conditions' bound)";
}

}  // namespace

URange default_u_range(const InitialConditionParams& ic) {
  const double s = ic.modes * std::max(std::abs(ic.amplitude_lo), std::abs(ic.amplitude_hi));
  const double lo = -s, hi = ic.front ? 1.0 + s : (ic.positivity_shift ? 2.0 * s + 0.1 : s);
  const double margin = std::max(0.05, 0.05 * (hi - lo));
  return {lo - margin, hi + margin};
}

const char* name_of(Activation a) {
  static const char* const names[] = {"relu", "silu", "tanh"};  // in the enum's order
  return names[static_cast<int>(a)];
}

const char* name_of(Precision p) {
  static const char* const names[] = {"fp64", "fp32"};  // in the enum's order
  return names[static_cast<int>(p)];
}

const char* name_of(ValidationSplit s) {
  static const char* const names[] = {"states", "trajectories"};  // in the enum's order
  return names[static_cast<int>(s)];
}

int held_out_trajectories(const LearnOptions& o, int trajectories) {
  const int n = static_cast<int>(std::floor(o.validation_fraction * trajectories));
  return o.validation_fraction > 0 ? std::max(n, 1) : n;
}

void check_validation_split(const LearnOptions& o, int trajectories) {
  if (o.validation_split != ValidationSplit::Trajectories) return;
  const int held = held_out_trajectories(o, trajectories);
  if (held >= trajectories)
    throw ConfigError("learn.validation_split",
                      fmt::format("\"trajectories\" holds out {} of the {} training trajectories and leaves none to "
                                  "train on; use \"states\" or more trajectories",
                                  held, trajectories));
}

void check_initial_values_in_range(const std::vector<double>& values, std::size_t per, URange range,
                                   const std::string& key) {
  for (std::size_t k = 0; k < values.size(); ++k)
    if (!range.contains(values[k]))
      throw ConfigError(key, fmt::format("[{:.6g}, {:.6g}] does not hold the initial conditions: trajectory {} "
                                         "starts at u = {:.6g}; widen it (or leave it out: its default holds them)",
                                         range.lo, range.hi, k / per, values[k]));
}

const char* name_of(Scheme1D s) {
  static const char* const names[] = {"patch_dynamics", "gap_tooth", "full_resolution"};  // in the enum's order
  return names[static_cast<int>(s)];
}

index_t Config1D::macro_steps() const { return static_cast<index_t>(std::llround(t_end / macro_dt)); }

std::vector<double> Config1D::sample_times() const {
  const index_t n = macro_steps() / sample_every;
  std::vector<double> t(n + 1);
  for (index_t i = 0; i <= n; ++i) t[i] = static_cast<double>(i * sample_every) * macro_dt;
  return t;
}

PatchSetting Config1D::patch_setting() const {
  PatchSetting s;
  s.buffer_width = buffer_width;
  s.params.burst = burst;
  s.params.substeps = substeps;
  s.params.method = parse_burst_method(burst_method);
  s.params.jacobian = burst_jacobian;
  s.params.lifting_degree = lifting_degree;
  s.params.buffer_ends = parse_buffer_ends(buffer_ends);
  s.params.heal_substeps = heal_substeps;
  if (estimate_degree > 0) s.params.estimate_degree = estimate_degree;  // "auto" unresolved: the params' default
  return s;
}

std::vector<double> initial_node_values(const Config1D& cfg, int trajectories) {
  InitialConditionParams ic = cfg.initial;
  ic.trajectories = std::min(ic.trajectories, trajectories);
  const double DX = cfg.length / (cfg.macro_nodes - 1);
  std::vector<double> U;
  for (const auto& u0 : draw_initial_conditions(ic))
    for (int i = 0; i < cfg.macro_nodes; ++i) U.push_back(u0(i * DX));
  return U;
}

PatchProbe patch_probe(const Config1D& cfg) {
  const auto U = initial_node_values(cfg, 2);
  const auto batch = static_cast<index_t>(U.size() / static_cast<std::size_t>(cfg.macro_nodes));
  return probe_windows({cfg.length, cfg.macro_nodes, cfg.tooth_width}, cfg.lifting_degree, U, batch);
}

PatchErrorBudget patch_error_budget(const Config1D& cfg) {
  if (cfg.patch_budget) return *cfg.patch_budget;
  return measure_patch_errors(FineModel1D(*cfg.field, cfg.epsilon, cfg.micro_dx), patch_probe(cfg),
                              cfg.patch_setting());
}

namespace {

// The "auto" patch keys, chosen for patch.rate_tolerance (schemes/patch_budget.hpp).
void choose_patch_parameters(Config1D& c) {
  const auto t = tune_patch_parameters(FineModel1D(*c.field, c.epsilon, c.micro_dx), patch_probe(c), c.patch_setting(),
                                       c.patch_auto, c.rate_tolerance, c.macro_dt);
  c.buffer_width = t.setting.buffer_width;
  c.burst = t.setting.params.burst;
  c.substeps = t.setting.params.substeps;
  c.heal_substeps = t.setting.params.heal_substeps;
  c.burst_method = name_of(t.setting.params.method);
  c.estimate_degree = t.setting.params.estimate_degree;
  c.patch_budget = t.budget;
  const auto& b = t.budget;
  c.notes.push_back("patch: \"auto\" chose " + (c.patch_auto.method ? "method = " + c.burst_method + ", " : "") +
                    "burst = " + num(c.burst) + ", substeps = " + std::to_string(c.substeps) +
                    ", heal_substeps = " + std::to_string(c.heal_substeps) + ", buffer_width = " + num(c.buffer_width) +
                    (c.patch_auto.estimate_degree && !c.field->nonlinear_key().empty()
                         ? ", estimate_degree = " + std::to_string(c.estimate_degree)
                         : "") +
                    "; dU/dt error " + num(b.total()) + " (buffer " + num(b.buffer) + ", corrector " +
                    num(b.corrector) + ", time " + num(b.time) +
                    ") for patch.rate_tolerance = " + num(c.rate_tolerance));
}

}  // namespace

Config1D parse_config_1d(const std::string& text, const std::string& origin, const std::string& base_dir) {
  const toml::table root = parse_toml(text, origin);
  check_keys(root, schema());
  Config1D c;
  c.text = text;
  c.origin = origin;

  Table medium(root, "medium"), domain(root, "domain"), micro(root, "micro"), scheme(root, "scheme"),
      patch(root, "patch"), gap(root, "gap_tooth"), full(root, "full_resolution"), macro(root, "macro"),
      initial(root, "initial"), homog(root, "homogenized");

  // --- initial conditions (first: the medium's default u range is theirs)
  auto& ic = c.initial;
  ic.trajectories = static_cast<int>(initial.integer("trajectories", ic.trajectories, 1, 1000000));
  ic.modes = static_cast<int>(initial.integer("modes", ic.modes, 1, 100000));
  std::tie(ic.amplitude_lo, ic.amplitude_hi) = initial.range("amplitude", {ic.amplitude_lo, ic.amplitude_hi});
  std::tie(ic.frequency_lo, ic.frequency_hi) = initial.range("frequency", {ic.frequency_lo, ic.frequency_hi});
  std::tie(ic.phase_lo, ic.phase_hi) = initial.range("phase", {ic.phase_lo, ic.phase_hi});
  ic.positivity_shift = initial.boolean("positivity_shift", ic.positivity_shift);
  ic.seed = static_cast<std::uint64_t>(initial.integer("seed", 42, 0, 9223372036854775807LL));
  ic.front = initial.choice("kind", "sines", {"sines", "front"}) == "front";
  std::tie(ic.front_position_lo, ic.front_position_hi) =
      initial.range("front_position", {ic.front_position_lo, ic.front_position_hi});
  std::tie(ic.front_width_lo, ic.front_width_hi) = initial.range("front_width", {ic.front_width_lo, ic.front_width_hi});
  if (ic.front_width_lo <= 0) throw ConfigError("initial.front_width", "the front widths must be > 0");

  // --- medium: a(y) or a(y, u), the optional drift and reaction, all checked on the u range
  if (medium.has("u_range")) {
    const auto r = medium.range("u_range", {0, 0});
    c.u_range = {r.first, r.second};
  } else {
    c.u_range = default_u_range(ic);
  }
  // The cells of a random medium cover the domain, so its length and epsilon come first.
  if (domain.integer("dimension", 1, 1, 2) != 1)
    throw ConfigError("domain.dimension", "2 selects the 2D lattice problem, whose config is read by the 2D parser");
  c.length = domain.positive("length", c.length);
  c.epsilon = medium.positive("epsilon", c.epsilon);
  const std::string kind =
      medium.choice("coefficient", "sinusoid", {"sinusoid", "laminate", "expression", "table", "random"});
  if (kind != "random")
    for (const std::string k :
         {"distribution", "mu", "sigma", "lo", "hi", "seed", "correlation", "realizations", "translations"})
      if (medium.has(k)) throw ConfigError(medium.key(k), "is a key of random media (medium.coefficient = \"random\")");
  if (kind == "random") {
    c.random = parse_random_medium(medium);
    c.field = random_medium(*c.random, c.length, c.epsilon);
    c.realizations = static_cast<int>(medium.integer("realizations", 1, 1, 1000000));
    if (c.realizations > ic.trajectories)
      c.warnings.push_back("medium.realizations: " + std::to_string(c.realizations) +
                           " realizations for initial.trajectories = " + std::to_string(ic.trajectories) +
                           "; trajectory b lives on realization b mod " + std::to_string(c.realizations) +
                           ", so the realizations from " + std::to_string(ic.trajectories) + " on are unused");
    c.translations = static_cast<int>(medium.integer("translations", 1, 1, 1000000));
    if (const long long media = static_cast<long long>(c.translations) * c.realizations;
        c.translations > 1 && media > ic.trajectories)
      c.warnings.push_back("medium.translations: " + std::to_string(c.translations) + " translates of " +
                           std::to_string(c.realizations) +
                           " realization(s) for initial.trajectories = " + std::to_string(ic.trajectories) +
                           "; trajectory b lives on medium b mod " + std::to_string(media) + ", so the media from " +
                           std::to_string(ic.trajectories) + " on are unused");
  } else if (kind == "sinusoid") {
    c.field = CoefficientField::sinusoid(medium.number("mean", 1.1), medium.number("amplitude", 1.0));
  } else if (kind == "laminate") {
    if (!medium.has("a1") || !medium.has("a2") || !medium.has("fraction"))
      throw ConfigError("medium", "a laminate needs a1, a2 and fraction");
    c.field =
        CoefficientField::laminate(medium.number("a1", 1), medium.number("a2", 1), medium.number("fraction", 0.5));
  } else if (kind == "expression") {
    if (!medium.has("expression"))
      throw ConfigError("medium.expression", "missing; give an expression in y (and u), e.g. \"1.1 + sin(2*pi*y)\"");
    c.field = CoefficientField::expression(medium.choice("expression", "", {}), c.u_range, u_range_key(medium),
                                           c.epsilon, c.length);
  } else {
    if (!medium.has("table"))
      throw ConfigError("medium.table", "missing; give the path of a file of coefficient values");
    std::string path = medium.choice("table", "", {});
    if (!path.empty() && path[0] != '/') path = base_dir + "/" + path;
    c.field = CoefficientField::table_file(path);
  }
  if (medium.has("conductance_factor"))
    c.field = c.field->with_factor(medium.choice("conductance_factor", "", {}), c.u_range, u_range_key(medium));
  c.field = c.field->with_terms(medium.choice("drift", "", {}), medium.choice("reaction", "", {}), c.u_range,
                                u_range_key(medium));

  // --- grids
  c.macro_nodes = static_cast<int>(domain.integer("macro_nodes", c.macro_nodes, 3, 100000));
  c.micro_dx = micro.positive("dx", c.micro_dx);
  const double per_period = c.epsilon / c.micro_dx;
  if (per_period < 10)
    throw ConfigError("micro.dx", num(c.micro_dx) + " resolves medium.epsilon = " + num(c.epsilon) + " with only " +
                                      num(per_period) + " points per period; use micro.dx <= epsilon / 10");
  if (c.translations > 1) {
    // A translate by whole cells has the same bonds, so the same a*, only on whole cells of whole bonds.
    const double cells = c.length / c.epsilon;
    if (!whole_number(cells))
      throw ConfigError("medium.translations",
                        "translates by whole cells need a domain of whole cells: domain.length / "
                        "medium.epsilon = " +
                            num(cells));
    if (!whole_number(per_period))
      throw ConfigError("medium.translations",
                        "translates by whole cells need whole bonds per cell: medium.epsilon / "
                        "micro.dx = " +
                            num(per_period));
    if (c.translations > std::llround(cells))
      throw ConfigError("medium.translations", std::to_string(c.translations) + " translates of a realization of " +
                                                   num(std::round(cells)) + " cells; at most one per cell");
  }
  const double DX = c.length / (c.macro_nodes - 1);

  // --- scheme and patches
  c.scheme =
      scheme.enumerated("type", c.scheme, {Scheme1D::PatchDynamics, Scheme1D::GapTooth, Scheme1D::FullResolution});
  c.tooth_width = patch.positive("tooth_width", c.tooth_width);
  c.patch_auto = {patch.is_auto("burst"), patch.is_auto("buffer_width"), patch.is_auto("substeps"),
                  patch.is_auto("heal_substeps")};
  if (!c.patch_auto.buffer_width) c.buffer_width = patch.positive("buffer_width", c.buffer_width);
  if (c.tooth_width >= DX)
    throw ConfigError("patch.tooth_width", num(c.tooth_width) + " must be smaller than the macro spacing " + num(DX) +
                                               " (domain.length / (domain.macro_nodes - 1))");
  if (c.scheme == Scheme1D::PatchDynamics && !c.patch_auto.buffer_width && c.buffer_width < c.tooth_width)
    throw ConfigError("patch.buffer_width", num(c.buffer_width) + " is smaller than patch.tooth_width = " +
                                                num(c.tooth_width) + "; the buffer must contain the tooth (H >= h)");
  if (c.tooth_width < c.epsilon)
    throw ConfigError("patch.tooth_width", num(c.tooth_width) + " is shorter than one period epsilon = " +
                                               num(c.epsilon) + "; a tooth must average over at least one period");
  // A tooth of a fractional number of periods keeps part of a period of the micro-scale corrector
  // eps chi(x/eps) U_x in its average: a bias of order eps/h in U and dU/dt. Measured on
  // a = (2 + cos 2 pi y) exp(-0.3 u) with drift and reaction, teeth of 2.5 periods against 2: gap-tooth
  // 3.8e-4 from the effective PDE against 3.9e-5, patch dynamics 2.7e-5 against 1.2e-5.
  if (!c.field->random() && !whole_number(c.tooth_width / c.epsilon, 1e-6))
    c.warnings.push_back(fmt::format(
        "patch.tooth_width: {:g} is {:.4g} periods of the medium; a tooth average over part of a period keeps part of "
        "the micro-scale corrector, a bias of order epsilon / tooth_width in U and dU/dt (use a whole number of "
        "periods)",
        c.tooth_width, c.tooth_width / c.epsilon));
  const std::string lifting = patch.choice("lifting", "quadratic", {"quadratic", "quartic"});
  c.lifting_degree = lifting == "quadratic" ? 2 : 4;
  if (!c.patch_auto.burst) c.burst = patch.positive("burst", c.burst);
  if (!c.patch_auto.substeps) c.substeps = static_cast<int>(patch.integer("substeps", c.substeps, 1, 1000000));
  const std::string method = patch.choice("method", c.burst_method, {"backward_euler", "crank_nicolson", "auto"});
  c.patch_auto.method = method == "auto";  // then the tuner chooses (schemes/patch_budget.hpp)
  if (!c.patch_auto.method) c.burst_method = method;
  c.burst_jacobian =
      patch.enumerated("jacobian", c.burst_jacobian, {kernels::StepJacobian::Frozen, kernels::StepJacobian::Exact});
  c.buffer_ends = patch.choice("buffer_ends", c.buffer_ends, {"dirichlet", "averaged_gradient"});
  if (c.field->random() && c.scheme == Scheme1D::PatchDynamics)
    for (const auto& [k, chosen] : {std::pair{"burst", c.patch_auto.burst},
                                    {"buffer_width", c.patch_auto.buffer_width},
                                    {"substeps", c.patch_auto.substeps},
                                    {"heal_substeps", c.patch_auto.heal_substeps},
                                    {"method", c.patch_auto.method}})
      if (chosen)
        throw ConfigError(patch.key(k),
                          "\"auto\" tunes against wider patches, which on a random medium sample other "
                          "cells; give the value (README, random media)");
  if (c.field->random() && c.scheme == Scheme1D::PatchDynamics && c.buffer_ends == "averaged_gradient")
    throw ConfigError("patch.buffer_ends",
                      "\"averaged_gradient\" keeps a gradient averaged over one period, which a random medium has not; "
                      "use \"dirichlet\"");
  if (!c.patch_auto.heal_substeps)
    c.heal_substeps = static_cast<int>(patch.integer("heal_substeps", c.heal_substeps, 0, 1000000));
  // The estimate's degree in time: "auto" lets the tuner choose it; absent, it is chosen with the
  // other "auto" keys, and is 2 where none is "auto".
  const bool degree_auto = patch.is_auto("estimate_degree");
  c.estimate_degree = degree_auto ? 0 : static_cast<int>(patch.integer("estimate_degree", 0, 1, 3));
  c.patch_auto.estimate_degree = c.estimate_degree == 0 && (degree_auto || c.patch_auto.any());
  if (!c.patch_auto.substeps && !c.patch_auto.heal_substeps && c.heal_substeps >= c.substeps)
    throw ConfigError(
        "patch.heal_substeps",
        std::to_string(c.heal_substeps) + " must be smaller than patch.substeps = " + std::to_string(c.substeps));
  if (!c.field->nonlinear_key().empty() && c.estimate_degree > 0 && !c.patch_auto.substeps &&
      !c.patch_auto.heal_substeps && c.estimate_degree > c.substeps - c.heal_substeps)
    throw ConfigError(
        "patch.estimate_degree",
        std::to_string(c.estimate_degree) + " needs as many substeps after the " +
            "healing; patch.substeps - patch.heal_substeps = " + std::to_string(c.substeps - c.heal_substeps));
  c.rate_tolerance = patch.positive("rate_tolerance", c.rate_tolerance);
  c.gap_tooth_dt = gap.positive("dt", c.gap_tooth_dt);
  c.full_rtol = full.positive("rtol", c.full_rtol);
  c.full_dt0 = full.positive("dt0", c.full_dt0);
  c.full_compare = static_cast<int>(full.integer("compare", c.full_compare, 0, 1000000));

  // --- macro time
  c.macro_dt = macro.positive("dt", c.macro_dt);
  c.integrator = macro.enumerated("integrator", c.integrator, {MacroMethod::Euler, MacroMethod::RK2, MacroMethod::RK4});
  c.t_end = macro.positive("t_end", c.t_end);
  c.sample_every = static_cast<int>(macro.integer("sample_every", c.sample_every, 1, 1000000000));
  const double steps = c.t_end / c.macro_dt;
  if (!whole_number(steps, 1e-6))
    throw ConfigError("macro.t_end", num(c.t_end) + " is not a whole number of macro.dt = " + num(c.macro_dt));
  if (c.macro_steps() % c.sample_every)
    throw ConfigError("macro.sample_every", std::to_string(c.sample_every) + " does not divide the " +
                                                std::to_string(c.macro_steps()) + " macro steps");
  if (!c.patch_auto.burst && c.burst > c.macro_dt)
    throw ConfigError("patch.burst", num(c.burst) + " is longer than macro.dt = " + num(c.macro_dt) +
                                         "; a projective step needs burst <= macro.dt");
  if (c.scheme == Scheme1D::PatchDynamics) {
    // Projective steps are explicit: the 3-point coarse scheme's fastest mode, lambda = 4 a*/dX^2
    // (a* = the harmonic mean, exact in 1D), must lie in the integrator's stability interval.
    const double lam_dt = 4.0 * c.field->harmonic_mean() * c.macro_dt / (DX * DX);
    const double limit = c.integrator == MacroMethod::RK4 ? rk4_stability_limit() : 2.0;
    if (lam_dt > limit)
      throw ConfigError("macro.dt", num(c.macro_dt) + " is over the stability limit of " + name_of(c.integrator) +
                                        " on this grid: 4 a* dt / dX^2 = " + num(lam_dt) + " > " + num(limit) +
                                        "; use macro.dt <= " + num(limit * DX * DX / (4.0 * c.field->harmonic_mean())));
  }
  if (c.scheme == Scheme1D::GapTooth) {
    const double r = c.macro_dt * c.sample_every / c.gap_tooth_dt;
    if (!whole_number(r, 1e-6))
      throw ConfigError("gap_tooth.dt",
                        num(c.gap_tooth_dt) + " must divide the sampling interval " + num(c.macro_dt * c.sample_every));
  }

  // --- homogenized truth
  c.homogenized_dx = homog.positive("dx", c.homogenized_dx);
  const double fine = DX / c.homogenized_dx;
  if (!whole_number(fine, 1e-6) || fine < 1)
    throw ConfigError("homogenized.dx", num(c.homogenized_dx) + " must divide the macro spacing " + num(DX));
  if (c.length / c.homogenized_dx > kMaxHomogenizedIntervals + 0.5)
    throw ConfigError("homogenized.dx",
                      num(c.homogenized_dx) + " gives " + num(c.length / c.homogenized_dx) +
                          " intervals over domain.length; at most " + std::to_string(kMaxHomogenizedIntervals) +
                          " are supported (use dx >= " + num(c.length / kMaxHomogenizedIntervals) + ")");

  // --- the shared sections, then the 1D [learn] keys. The patches of a random medium each see their
  // own piece of it, whose a* scales their diffusion: patch scales by default.
  c.learn.patch_scales = c.field->random() && c.scheme != Scheme1D::FullResolution;
  parse_shared_sections(root, c, c.t_end, "macro.t_end", c.random.has_value());
  const Table learn(root, "learn");
  // Default: 8 training trajectories (the paper's split) or all but one when there are fewer.
  c.train_trajectories = std::max(1, std::min(8, ic.trajectories - 1));
  c.train_trajectories = static_cast<int>(learn.integer("train_trajectories", c.train_trajectories, 1, 1000000));
  if (learn.has("train_trajectories") && c.train_trajectories >= ic.trajectories)
    throw ConfigError("learn.train_trajectories", std::to_string(c.train_trajectories) +
                                                      " leaves no test trajectory out of initial.trajectories = " +
                                                      std::to_string(ic.trajectories));
  check_validation_split(c.learn, c.train_trajectories);
  c.train_t_max = learn.positive("train_t_max", c.train_t_max);
  // The t = 0 snapshot of a gap-tooth or full-resolution run is the sampled initial condition,
  // whose micro-structure has not formed, and its dU/dt is that layer's: full resolution on
  // a = 2 + cos 2 pi y 73% off the effective PDE's rate at t = 0 and 7e-4 one snapshot later;
  // gap-tooth teeth hold the initial profile against edge gradients from the coarse interpolant
  // (a = 2 exp(-0.3 u): 3.5% off the coarse operator at t = 0, 6.8e-5 one snapshot later; the
  // regression trained on it found a spurious drift of 0.2 U_x). The layers last ~eps^2 / a and ~h^2 / a, far
  // shorter than a snapshot interval, so by default those schemes start training at the first
  // snapshot after t = 0. Patch dynamics lifts and heals every snapshot: 0.
  const double interval = c.macro_dt * c.sample_every;
  c.train_t_min = learn.number("train_t_min", c.scheme == Scheme1D::PatchDynamics ? 0.0 : interval);
  if (!(c.train_t_min >= 0 && c.train_t_min < std::min(c.t_end, c.train_t_max)))
    throw ConfigError("learn.train_t_min", num(c.train_t_min) +
                                               " must be in [0, min(macro.t_end, learn.train_t_max)): it leaves no "
                                               "snapshot to train on");
  c.stencil = static_cast<int>(learn.integer("stencil", c.stencil, 3, 5));
  if (c.stencil != 3 && c.stencil != 5)
    throw ConfigError("learn.stencil", std::to_string(c.stencil) + " must be 3 or 5");
  check_position_degree(c, c.macro_nodes - 2, "interior macro nodes");
  if (c.field->graded() && c.position_basis == learn::PositionKind::None)
    c.warnings.push_back(
        "regression.position_basis: the medium is graded (x in medium.expression), but the regression's library is "
        "translation invariant and can find only one average a*; set position_basis = \"polynomial\" or "
        "\"fourier\"");

  // --- cell: representative-volume windows of a random medium
  parse_cell_windows(
      Table(root, "cell"),
      {"random media (medium.coefficient = \"random\")", "periods",
       c.random ? static_cast<long long>(c.field->extent()) : 0, 1, 100, std::numeric_limits<long long>::max()},
      c.cell_window, c.cell_samples);

  // --- bench (its consistency with the rest: check_bench)
  const Table bench(root, "bench");
  c.bench.epsilon = bench.positives("epsilon", c.bench.epsilon);
  c.bench.full_rtol = bench.ladder("full_rtol", c.bench.full_rtol);

  if (c.scheme == Scheme1D::PatchDynamics && c.patch_auto.any()) choose_patch_parameters(c);
  c.chunk_floor = c.scheme == Scheme1D::FullResolution ? 1 : kCpuChunkFloor;
  check_fits_in_memory(footprint_1d(c), "initial.trajectories", "micro.dx");
  return c;
}

void check_bench_sweep(const Config1D& c) {
  // Every eps of the sweep scales the micro grid by eps / medium.epsilon, which must keep a whole
  // number of micro intervals per macro interval.
  const double DX = c.length / (c.macro_nodes - 1);
  for (const double e : c.bench.epsilon) {
    const double per = DX / (c.micro_dx * e / c.epsilon);
    if (!whole_number(per, 1e-6))
      throw ConfigError("bench.epsilon", num(e) + " scales micro.dx to " + num(c.micro_dx * e / c.epsilon) +
                                             ", which does not divide the macro spacing " + num(DX));
  }
}

int config_dimension(const std::string& text, const std::string& origin) {
  const toml::table root = parse_toml(text, origin);
  const Table domain(root, "domain");
  return static_cast<int>(domain.integer("dimension", 1, 1, 2));
}

std::string read_config_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError("cannot read config file '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Config1D load_config_1d(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return parse_config_1d(read_config_text(path), path, slash == std::string::npos ? "." : path.substr(0, slash));
}

}  // namespace patchlearn
