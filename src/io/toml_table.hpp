#pragma once
// Shared by the 1D and 2D config parsers (internal to src/io): typed access to one TOML table with
// errors that name the full key, and the unknown-key check with its "did you mean".
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "patchlearn/core/device.hpp"
#include "patchlearn/core/error.hpp"
#include "patchlearn/core/format.hpp"
#include "patchlearn/io/config.hpp"

namespace patchlearn::config_detail {

inline std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

inline std::string suggestion(const std::string& key, const std::set<std::string>& valid) {
  std::string best;
  std::size_t bd = 1000;
  for (const auto& v : valid) {
    const auto d = edit_distance(key, v);
    if (d < bd) {
      bd = d;
      best = v;
    }
  }
  std::string list;
  for (const auto& v : valid) list += (list.empty() ? "" : ", ") + v;
  if (bd <= std::max<std::size_t>(2, key.size() / 3)) return "; did you mean '" + best + "'?";
  return "; valid keys here: " + list;
}

/// Typed access to one table, with errors that name the full key.
class Table {
 public:
  Table(const toml::table& root, const std::string& name) : name_(name) {
    if (auto* t = root.get(name)) tbl_ = t->as_table();
  }
  std::string key(const std::string& k) const { return name_ + "." + k; }
  bool has(const std::string& k) const { return tbl_ && tbl_->get(k); }
  /// Whether a key that takes a number may be, and is, the string "auto" (ConfigError for any
  /// other string).
  bool is_auto(const std::string& k) const {
    const toml::node* n = tbl_ ? tbl_->get(k) : nullptr;
    if (!n || !n->is_string()) return false;
    if (*n->value<std::string>() != "auto")
      throw ConfigError(key(k), "expected a number or \"auto\", got \"" + *n->value<std::string>() + "\"");
    return true;
  }

  double number(const std::string& k, double def) const {
    const toml::node* n = tbl_ ? tbl_->get(k) : nullptr;
    if (!n) return def;
    if (auto v = n->value<double>(); v && (n->is_floating_point() || n->is_integer())) {
      if (!std::isfinite(*v)) throw ConfigError(key(k), "must be a finite number");
      return *v;
    }
    throw ConfigError(key(k), "expected a number, got " + type_of(*n));
  }
  double non_negative(const std::string& k, double def) const {
    const double v = number(k, def);
    if (!(v >= 0)) throw ConfigError(key(k), num(v) + " must be >= 0");
    return v;
  }
  double positive(const std::string& k, double def) const {
    const double v = number(k, def);
    if (!(v > 0)) throw ConfigError(key(k), num(v) + " must be > 0");
    return v;
  }
  long long integer(const std::string& k, long long def, long long lo, long long hi) const {
    const toml::node* n = tbl_ ? tbl_->get(k) : nullptr;
    if (!n) return def;
    if (!n->is_integer()) throw ConfigError(key(k), "expected an integer, got " + type_of(*n));
    const long long v = *n->value<long long>();
    if (v < lo || v > hi)
      throw ConfigError(key(k),
                        std::to_string(v) + " is out of range; use " + std::to_string(lo) + ".." + std::to_string(hi));
    return v;
  }
  bool boolean(const std::string& k, bool def) const {
    const toml::node* n = tbl_ ? tbl_->get(k) : nullptr;
    if (!n) return def;
    if (!n->is_boolean()) throw ConfigError(key(k), "expected true or false, got " + type_of(*n));
    return *n->value<bool>();
  }
  std::string choice(const std::string& k, const std::string& def, const std::vector<std::string>& options) const {
    const toml::node* n = tbl_ ? tbl_->get(k) : nullptr;
    if (!n) return def;
    if (!n->is_string()) throw ConfigError(key(k), "expected a string, got " + type_of(*n));
    const std::string v = *n->value<std::string>();
    if (!options.empty() && std::find(options.begin(), options.end(), v) == options.end()) {
      std::string list;
      for (const auto& o : options) list += (list.empty() ? "" : ", ") + o;
      throw ConfigError(key(k), "'" + v + "' is not valid; use one of " + list);
    }
    return v;
  }
  /// An enum value by its name_of(), one of `all` (the choices the message lists).
  template <class E>
  E enumerated(const std::string& k, E def, std::initializer_list<E> all) const {
    std::vector<std::string> names;
    for (E e : all) names.emplace_back(name_of(e));
    const std::string v = choice(k, name_of(def), names);
    for (E e : all)
      if (v == name_of(e)) return e;
    return def;
  }
  std::vector<std::string> strings(const std::string& k, std::vector<std::string> def,
                                   const std::vector<std::string>& options) const {
    const toml::node* n = tbl_ ? tbl_->get(k) : nullptr;
    if (!n) return def;
    const toml::array* a = n->as_array();
    if (!a || a->empty()) throw ConfigError(key(k), "expected a non-empty array of strings");
    std::vector<std::string> out;
    for (const auto& e : *a) {
      if (!e.is_string()) throw ConfigError(key(k), "expected an array of strings");
      const std::string v = *e.value<std::string>();
      if (std::find(options.begin(), options.end(), v) == options.end())
        throw ConfigError(key(k), "'" + v + "' is not valid; use " + options.front() + " and/or " + options.back());
      out.push_back(v);
    }
    return out;
  }
  /// A non-empty array of numbers, each > 0.
  std::vector<double> positives(const std::string& k, std::vector<double> def) const {
    const toml::node* n = tbl_ ? tbl_->get(k) : nullptr;
    if (!n) return def;
    const toml::array* a = n->as_array();
    if (!a || a->empty()) throw ConfigError(key(k), "expected a non-empty array of numbers, got " + type_of(*n));
    std::vector<double> out;
    for (const auto& e : *a) {
      const auto v = e.value<double>();
      if (!v || !(e.is_floating_point() || e.is_integer())) throw ConfigError(key(k), "expected an array of numbers");
      if (!(*v > 0) || !std::isfinite(*v)) throw ConfigError(key(k), num(*v) + " must be a finite number > 0");
      out.push_back(*v);
    }
    return out;
  }
  /// Tolerances to try in turn, loosest first: positives() that never increase.
  std::vector<double> ladder(const std::string& k, std::vector<double> def) const {
    std::vector<double> v = positives(k, std::move(def));
    if (!std::is_sorted(v.rbegin(), v.rend()))
      throw ConfigError(key(k), "the tolerances must be listed loosest first (decreasing)");
    return v;
  }
  std::pair<double, double> range(const std::string& k, std::pair<double, double> def) const {
    const toml::node* n = tbl_ ? tbl_->get(k) : nullptr;
    if (!n) return def;
    const toml::array* a = n->as_array();
    if (!a || a->size() != 2 || !(*a)[0].value<double>() || !(*a)[1].value<double>())
      throw ConfigError(key(k), "expected a range [low, high] of two numbers");
    const double lo = *(*a)[0].value<double>(), hi = *(*a)[1].value<double>();
    // Finite, and small enough that squares summed over every sample of a run (the rMSE of
    // eq. 24, ~1e9 terms) stay finite in float64: |v| <= 1e100 leaves 1e100 of headroom.
    if (!std::isfinite(lo) || !std::isfinite(hi) || std::abs(lo) > 1e100 || std::abs(hi) > 1e100)
      throw ConfigError(key(k),
                        "[" + num(lo) + ", " + num(hi) + "] must hold finite numbers of magnitude at most 1e100");
    if (!(lo <= hi)) throw ConfigError(key(k), "[" + num(lo) + ", " + num(hi) + "] must have low <= high");
    return {lo, hi};
  }

 private:
  static std::string type_of(const toml::node& n) {
    switch (n.type()) {
      case toml::node_type::string:
        return "a string";
      case toml::node_type::integer:
        return "an integer";
      case toml::node_type::floating_point:
        return "a number";
      case toml::node_type::boolean:
        return "a boolean";
      case toml::node_type::array:
        return "an array";
      case toml::node_type::table:
        return "a table";
      default:
        return "a date/time";
    }
  }
  std::string name_;
  const toml::table* tbl_ = nullptr;
};

inline void check_keys(const toml::table& root, const std::map<std::string, std::set<std::string>>& schema) {
  std::set<std::string> tables;
  for (const auto& [name, _] : schema) tables.insert(name);
  for (const auto& [k, node] : root) {
    const std::string key(k.str());
    auto it = schema.find(key);
    if (it == schema.end()) throw ConfigError(key, "unknown table or key" + suggestion(key, tables));
    if (!node.is_table()) throw ConfigError(key, "expected a table [" + key + "]");
    for (const auto& [sk, _] : *node.as_table()) {
      const std::string sub(sk.str());
      if (!it->second.count(sub)) throw ConfigError(key + "." + sub, "unknown key" + suggestion(sub, it->second));
    }
  }
}

/// The shared [learn] keys (io/config.hpp: LearnOptions); `o` holds the defaults.
inline LearnOptions parse_learn_options(const Table& learn, LearnOptions o) {
  o.networks = learn.strings("networks", o.networks, {"functional", "discretized"});
  o.epochs = static_cast<int>(learn.integer("epochs", o.epochs, 1, 1000000));
  o.batch = static_cast<int>(learn.integer("batch", o.batch, 1, 1000000));
  o.lbfgs_iterations = static_cast<int>(learn.integer("lbfgs_iterations", o.lbfgs_iterations, 0, 1000000));
  o.lr = learn.positive("lr", o.lr);
  o.lr_final = learn.positive("lr_final", std::min(o.lr_final, o.lr));
  if (o.lr_final > o.lr)
    throw ConfigError("learn.lr_final", num(o.lr_final) + " must not exceed learn.lr = " + num(o.lr));
  o.growth_penalty = learn.non_negative("growth_penalty", o.growth_penalty);
  o.standardize = learn.boolean("standardize", o.standardize);
  o.precision = learn.enumerated("precision", o.precision, {Precision::FP64, Precision::FP32});
  o.activation = learn.enumerated("activation", o.activation, {Activation::ReLU, Activation::SiLU, Activation::Tanh});
  o.validation_fraction = learn.number("validation_fraction", o.validation_fraction);
  if (!(o.validation_fraction >= 0 && o.validation_fraction < 1))
    throw ConfigError("learn.validation_fraction", num(o.validation_fraction) + " must be in [0, 1)");
  o.validation_split = learn.enumerated("validation_split", o.validation_split,
                                        {ValidationSplit::States, ValidationSplit::Trajectories});
  o.seed = static_cast<std::uint64_t>(learn.integer("seed", 0, 0, 9223372036854775807LL));
  o.checkpoint_every = static_cast<int>(learn.integer("checkpoint_every", 0, 0, 1000000));
  o.position_input = learn.boolean("position_input", o.position_input);
  o.patch_scales = learn.boolean("patch_scales", o.patch_scales);
  return o;
}

/// A BDF rollout takes t_end / dt fixed steps, each a Newton solve: at most 1e6 of them (200x the
/// default's 5000), so that a mistyped rollout.dt is refused up front instead of running for days.
inline void check_rollout_steps(RolloutMethod method, double t_end, double dt) {
  constexpr double max_steps = 1e6;
  if (method == RolloutMethod::BDF && t_end / dt > max_steps)
    throw ConfigError("rollout.dt", num(dt) + " takes " + num(t_end / dt) +
                                        " BDF steps to rollout.t_end = " + num(t_end) +
                                        "; at most 1e6 are allowed (use rollout.dt >= " + num(t_end / max_steps) + ")");
}

/// A random law from a config section (medium, lattice): `distribution`, one of `distributions`,
/// its parameters under the section's names (`keys`), all required and none of another
/// distribution's, and `seed`; checked (RandomMediumSpec::validate).
inline RandomMediumSpec parse_random_law(const Table& t, const std::vector<std::string>& distributions,
                                         const RandomMediumSpec::Keys& keys) {
  std::string options;
  for (const auto& d : distributions) options += (options.empty() ? "\"" : " or \"") + d + "\"";
  if (!t.has("distribution")) throw ConfigError(keys("distribution"), "missing; it takes " + options);
  const std::string dist = t.choice("distribution", "", distributions);
  const auto name = [&](const std::string& p) {
    const auto it = keys.renamed.find(p);
    return it == keys.renamed.end() ? p : it->second;
  };
  const auto& mine = RandomMediumSpec::keys(dist);
  for (const std::string other : {"lognormal", "uniform", "two_phase"}) {
    if (other == dist) continue;
    for (const auto& p : RandomMediumSpec::keys(other))
      if (t.has(name(p)) && std::find(mine.begin(), mine.end(), p) == mine.end())
        throw ConfigError(t.key(name(p)), "is a parameter of the " + other + " distribution, not of " + dist);
  }
  for (const auto& p : mine)
    if (!t.has(name(p))) throw ConfigError(t.key(name(p)), "missing; the " + dist + " distribution needs it");
  if (!t.has("seed")) throw ConfigError(keys("seed"), "missing; a random medium needs the seed of its realization");
  RandomMediumSpec spec;
  spec.distribution = dist == "lognormal" ? RandomMediumSpec::Distribution::lognormal
                      : dist == "uniform" ? RandomMediumSpec::Distribution::uniform
                                          : RandomMediumSpec::Distribution::two_phase;
  spec.mu = t.number(name("mu"), 0);
  spec.sigma = t.number(name("sigma"), 0);
  spec.lo = t.number(name("lo"), 0);
  spec.hi = t.number(name("hi"), 0);
  spec.a1 = t.number(name("a1"), 0);
  spec.a2 = t.number(name("a2"), 0);
  spec.fraction = t.number(name("fraction"), 0);
  spec.seed = static_cast<std::uint64_t>(t.integer("seed", 0, 0, 9223372036854775807LL));
  spec.validate(keys);
  return spec;
}

/// The [cell] keys of a problem's random media: representative-volume windows of `window` units per
/// side (cells of a 1D medium, sites of a 2D lattice), `samples` of them, disjoint in the
/// realization of `extent` units per side (0: the medium is not random, and the keys are refused).
struct CellWindowRules {
  std::string random_is;  ///< how a config selects a random medium, for the refusal
  std::string unit;       ///< what a window's side counts: "periods" (1D), "sites" (2D)
  long long extent = 0;   ///< the realization's cells (sites) per side; 0: not random
  int dims = 1;           ///< windows of W (1D) or W x W (2D)
  int default_window = 0;
  long long max_default_samples = 0;  ///< the default is every disjoint window that fits, at most this
};

/// cell.window W (>= 4, for the trend over W/4, W/2, W; at most the extent) and cell.samples
/// (>= 2, for a standard error; at most the (extent / W)^dims disjoint windows).
inline void parse_cell_windows(const Table& cell, const CellWindowRules& r, int& window, int& samples) {
  if (r.extent == 0) {
    for (const char* k : {"window", "samples"})
      if (cell.has(k))
        throw ConfigError(cell.key(k), "representative-volume windows are for " + r.random_is +
                                           "; a periodic medium's cell is one period");
    return;
  }
  const std::string e = std::to_string(r.extent), realization = r.dims == 1 ? e + " cells" : e + " x " + e + " sites";
  window = static_cast<int>(cell.integer("window", std::min<long long>(r.default_window, r.extent), 1, 1000000000));
  const std::string w = std::to_string(window), side = r.dims == 1 ? w : w + " x " + w;
  if (window < 4)
    throw ConfigError("cell.window", w + " " + r.unit +
                                         " leave no room for the trend over the window sizes W/4, W/2, W; "
                                         "use at least 4");
  if (window > r.extent)
    throw ConfigError("cell.window", w + " " + r.unit + " are larger than the realization's " + realization);
  long long fit = 1;
  for (int d = 0; d < r.dims; ++d) fit *= r.extent / window;
  samples = static_cast<int>(cell.integer("samples", std::min(fit, r.max_default_samples), 2, 1000000000));
  if (samples > fit)
    throw ConfigError("cell.samples", std::to_string(samples) + " windows of " + side + " " + r.unit +
                                          " do not fit in the realization's " + realization +
                                          " without overlap (independent windows); use at most " + std::to_string(fit));
}

/// The keys of the sections every problem shares, added to a problem's own schema (which lists
/// its own [learn] and [bench] keys beside these).
inline std::map<std::string, std::set<std::string>> with_shared_keys(std::map<std::string, std::set<std::string>> s) {
  s["learn"].insert({"networks", "epochs", "batch", "lbfgs_iterations", "growth_penalty", "lr", "lr_final",
                     "standardize", "activation", "precision", "validation_fraction", "validation_split", "seed",
                     "checkpoint_every", "position_input", "patch_scales"});
  s["rollout"] = {"method", "t_end", "dt", "rtol", "atol"};
  s["regression"].insert({"threshold", "position_basis", "position_degree", "weights", "u_degree"});
  s["run"] = {"device", "chunk_trajectories"};
  s["bench"].insert({"rmse", "repeat_s"});
  return s;
}

/// The shared sections ([learn], [rollout], [regression], [run], the common [bench] keys), with
/// c's values as the defaults. The rollout cannot run past the data: `data_t_end` is the data's
/// final time, set by the key `t_end_key`. On a random medium (`random_medium`) the regression's
/// threshold defaults to "auto": the patches' scatter passes a fixed threshold with terms the
/// effective equation does not have (a two-phase lattice at 3e-3: U, U^3 and fourth-order terms,
/// D ~10 standard errors off), and "auto" leaves only the diffusion (README, "regression.threshold");
/// and its regression.weights to "none" (learn/regression.hpp, "Weights").
inline void parse_shared_sections(const toml::table& root, SharedConfig& c, double data_t_end,
                                  const std::string& t_end_key, bool random_medium) {
  const Table learn(root, "learn"), roll(root, "rollout"), reg(root, "regression"), run(root, "run"),
      bench(root, "bench");
  c.learn = parse_learn_options(learn, c.learn);
  auto& r = c.rollout;
  r.method = roll.enumerated("method", r.method, {RolloutMethod::Dopri5, RolloutMethod::BDF});
  r.t_end = roll.positive("t_end", std::min(r.t_end, data_t_end));
  if (r.t_end > data_t_end + 1e-12)
    throw ConfigError("rollout.t_end", num(r.t_end) + " is past the data's " + t_end_key + " = " + num(data_t_end));
  r.dt = roll.positive("dt", r.dt);
  check_rollout_steps(r.method, r.t_end, r.dt);
  r.rtol = roll.positive("rtol", r.rtol);
  r.atol = roll.positive("atol", r.atol);
  if (reg.is_auto("threshold") || (random_medium && !reg.has("threshold"))) {
    c.regression_threshold = SharedConfig::kChosenThreshold;
  } else {
    c.regression_threshold = reg.number("threshold", c.regression_threshold);
    if (!(c.regression_threshold >= 0))
      throw ConfigError("regression.threshold", num(c.regression_threshold) + " must be >= 0, or \"auto\"");
  }
  using learn::PositionKind, learn::Weights;
  c.regression_weights = reg.enumerated("weights", random_medium ? Weights::None : Weights::Residuals,
                                        {Weights::Residuals, Weights::Rates, Weights::None});
  c.position_basis = reg.enumerated("position_basis", c.position_basis,
                                    {PositionKind::None, PositionKind::Polynomial, PositionKind::Fourier});
  c.position_degree = reg.is_auto("position_degree")
                          ? learn::kChosenDegree
                          : static_cast<int>(reg.integer("position_degree", c.position_degree, 1, 8));
  c.u_degree = reg.is_auto("u_degree") ? learn::kChosenDegree
                                       : static_cast<int>(reg.integer("u_degree", c.u_degree, 1, learn::kMaxUDegree));
  if (reg.has("position_degree") && c.position_basis == PositionKind::None)
    throw ConfigError("regression.position_degree",
                      "is set but regression.position_basis is \"none\"; choose \"polynomial\" or \"fourier\"");
  c.device = run.choice("device", c.device, {});
  if (!is_device_name(c.device)) throw ConfigError("run.device", not_a_device(c.device));
  c.chunk_trajectories = static_cast<int>(run.integer("chunk_trajectories", 0, 0, 1000000));
  c.check_every = static_cast<int>(run.integer("check_every", c.check_every, 1, 1000000));
  c.bench.rmse = bench.positive("rmse", c.bench.rmse);
  c.bench.repeat_s = bench.non_negative("repeat_s", c.bench.repeat_s);
}

/// The position basis's degree against the `positions` distinct macro positions along each axis
/// (`what`: "interior macro nodes", "patch centres per side"): they must tell its factors apart.
inline void check_position_degree(const SharedConfig& c, int positions, const std::string& what) {
  const int d = c.position_degree;
  if (d == learn::kChosenDegree) return;  // "auto" stays within what the positions tell apart
  if (c.position_basis == learn::PositionKind::Polynomial && d > positions - 1)
    throw ConfigError("regression.position_degree",
                      std::to_string(d) + " needs more than the " + std::to_string(positions) + " " + what +
                          " to tell the powers apart; use at most " + std::to_string(positions - 1));
  if (c.position_basis == learn::PositionKind::Fourier && 2 * d > positions - 1)
    throw ConfigError("regression.position_degree",
                      std::to_string(d) + " gives " + std::to_string(2 * d) +
                          " sine and cosine factors, more than the " + std::to_string(positions) + " " + what +
                          " tell apart; use at most " + std::to_string((positions - 1) / 2));
}

/// Parse TOML text; a syntax error is a ConfigError naming the line and column.
inline toml::table parse_toml(const std::string& text, const std::string& origin) {
  try {
    return toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw ConfigError(origin, "TOML syntax error at line " + std::to_string(b.line) + ", column " +
                                  std::to_string(b.column) + ": " + std::string(e.description()));
  }
}

}  // namespace patchlearn::config_detail
