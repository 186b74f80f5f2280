#include "patchlearn/io/config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "patchlearn/core/error.hpp"

namespace patchlearn {
namespace {

std::string num(double v) {
  std::ostringstream s;
  s.precision(10);
  s << v;
  return s.str();
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
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

std::string suggestion(const std::string& key, const std::set<std::string>& valid) {
  std::string best;
  std::size_t bd = 1000;
  for (const auto& v : valid) {
    const auto d = edit_distance(key, v);
    if (d < bd) { bd = d; best = v; }
  }
  std::string list;
  for (const auto& v : valid) list += (list.empty() ? "" : ", ") + v;
  if (bd <= std::max<std::size_t>(2, key.size() / 3)) return "; did you mean '" + best + "'?";
  return "; valid keys here: " + list;
}

const std::map<std::string, std::set<std::string>>& schema() {
  static const std::map<std::string, std::set<std::string>> s = {
      {"medium", {"coefficient", "mean", "amplitude", "a1", "a2", "fraction", "expression", "table", "epsilon"}},
      {"domain", {"length", "macro_nodes"}},
      {"micro", {"dx"}},
      {"scheme", {"type"}},
      {"patch", {"tooth_width", "buffer_width", "lifting", "burst", "substeps", "method", "buffer_ends", "heal_substeps"}},
      {"gap_tooth", {"dt"}},
      {"full_resolution", {"rtol", "dt0"}},
      {"macro", {"dt", "integrator", "t_end", "sample_every"}},
      {"initial", {"trajectories", "modes", "amplitude", "frequency", "phase", "positivity_shift", "seed"}},
      {"homogenized", {"dx"}},
      {"learn", {"networks", "epochs", "batch", "lbfgs_iterations", "lr", "lr_final", "standardize", "precision", "train_trajectories",
                 "validation_fraction", "train_t_max", "stencil", "seed", "checkpoint_every"}},
      {"rollout", {"method", "t_end", "dt", "rtol", "atol"}},
      {"regression", {"threshold"}},
      {"run", {"device"}},
  };
  return s;
}

/// Typed access to one table, with errors that name the full key.
class Table {
 public:
  Table(const toml::table& root, const std::string& name) : name_(name) {
    if (auto* t = root.get(name)) tbl_ = t->as_table();
  }
  std::string key(const std::string& k) const { return name_ + "." + k; }
  bool has(const std::string& k) const { return tbl_ && tbl_->get(k); }

  double number(const std::string& k, double def) const {
    const toml::node* n = tbl_ ? tbl_->get(k) : nullptr;
    if (!n) return def;
    if (auto v = n->value<double>(); v && (n->is_floating_point() || n->is_integer())) {
      if (!std::isfinite(*v)) throw ConfigError(key(k), "must be a finite number");
      return *v;
    }
    throw ConfigError(key(k), "expected a number, got " + type_of(*n));
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
    if (v < lo || v > hi) throw ConfigError(key(k), std::to_string(v) + " is out of range; use " + std::to_string(lo) + ".." + std::to_string(hi));
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
  std::pair<double, double> range(const std::string& k, std::pair<double, double> def) const {
    const toml::node* n = tbl_ ? tbl_->get(k) : nullptr;
    if (!n) return def;
    const toml::array* a = n->as_array();
    if (!a || a->size() != 2 || !(*a)[0].value<double>() || !(*a)[1].value<double>())
      throw ConfigError(key(k), "expected a range [low, high] of two numbers");
    const double lo = *(*a)[0].value<double>(), hi = *(*a)[1].value<double>();
    if (!(lo <= hi)) throw ConfigError(key(k), "[" + num(lo) + ", " + num(hi) + "] must have low <= high");
    return {lo, hi};
  }

 private:
  static std::string type_of(const toml::node& n) {
    switch (n.type()) {
      case toml::node_type::string: return "a string";
      case toml::node_type::integer: return "an integer";
      case toml::node_type::floating_point: return "a number";
      case toml::node_type::boolean: return "a boolean";
      case toml::node_type::array: return "an array";
      case toml::node_type::table: return "a table";
      default: return "a date/time";
    }
  }
  std::string name_;
  const toml::table* tbl_ = nullptr;
};

void check_keys(const toml::table& root) {
  std::set<std::string> tables;
  for (const auto& [name, _] : schema()) tables.insert(name);
  for (const auto& [k, node] : root) {
    const std::string key(k.str());
    auto it = schema().find(key);
    if (it == schema().end()) throw ConfigError(key, "unknown table or key" + suggestion(key, tables));
    if (!node.is_table()) throw ConfigError(key, "expected a table [" + key + "]");
    for (const auto& [sk, _] : *node.as_table()) {
      const std::string sub(sk.str());
      if (!it->second.count(sub)) throw ConfigError(key + "." + sub, "unknown key" + suggestion(sub, it->second));
    }
  }
}

}  // namespace

index_t Config1D::macro_steps() const { return static_cast<index_t>(std::llround(t_end / macro_dt)); }

std::vector<double> Config1D::sample_times() const {
  const index_t n = macro_steps() / sample_every;
  std::vector<double> t(n + 1);
  for (index_t i = 0; i <= n; ++i) t[i] = static_cast<double>(i * sample_every) * macro_dt;
  return t;
}

Config1D parse_config_1d(const std::string& text, const std::string& origin, const std::string& base_dir) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw ConfigError(origin, "TOML syntax error at line " + std::to_string(b.line) + ", column " +
                                  std::to_string(b.column) + ": " + std::string(e.description()));
  }
  check_keys(root);
  Config1D c;
  c.text = text;
  c.origin = origin;

  Table medium(root, "medium"), domain(root, "domain"), micro(root, "micro"), scheme(root, "scheme"),
      patch(root, "patch"), gap(root, "gap_tooth"), full(root, "full_resolution"), macro(root, "macro"),
      initial(root, "initial"), homog(root, "homogenized"), run(root, "run");

  // --- medium
  const std::string kind = medium.choice("coefficient", "sinusoid", {"sinusoid", "laminate", "expression", "table"});
  if (kind == "sinusoid") {
    c.field = CoefficientField::sinusoid(medium.number("mean", 1.1), medium.number("amplitude", 1.0));
  } else if (kind == "laminate") {
    if (!medium.has("a1") || !medium.has("a2") || !medium.has("fraction"))
      throw ConfigError("medium", "a laminate needs a1, a2 and fraction");
    c.field = CoefficientField::laminate(medium.number("a1", 1), medium.number("a2", 1), medium.number("fraction", 0.5));
  } else if (kind == "expression") {
    if (!medium.has("expression")) throw ConfigError("medium.expression", "missing; give an expression in y, e.g. \"1.1 + sin(2*pi*y)\"");
    c.field = CoefficientField::expression(medium.choice("expression", "", {}));
  } else {
    if (!medium.has("table")) throw ConfigError("medium.table", "missing; give the path of a file of coefficient values");
    std::string path = medium.choice("table", "", {});
    if (!path.empty() && path[0] != '/') path = base_dir + "/" + path;
    c.field = CoefficientField::table_file(path);
  }
  c.epsilon = medium.positive("epsilon", c.epsilon);

  // --- grids
  c.length = domain.positive("length", c.length);
  c.macro_nodes = static_cast<int>(domain.integer("macro_nodes", c.macro_nodes, 3, 100000));
  c.micro_dx = micro.positive("dx", c.micro_dx);
  const double per_period = c.epsilon / c.micro_dx;
  if (per_period < 10)
    throw ConfigError("micro.dx", num(c.micro_dx) + " resolves medium.epsilon = " + num(c.epsilon) + " with only " +
                                      num(per_period) + " points per period; use micro.dx <= epsilon / 10");
  const double DX = c.length / (c.macro_nodes - 1);

  // --- scheme and patches
  c.scheme = scheme.choice("type", c.scheme, {"patch_dynamics", "gap_tooth", "full_resolution"});
  c.tooth_width = patch.positive("tooth_width", c.tooth_width);
  c.buffer_width = patch.positive("buffer_width", c.buffer_width);
  if (c.tooth_width >= DX)
    throw ConfigError("patch.tooth_width", num(c.tooth_width) + " must be smaller than the macro spacing " + num(DX) +
                                               " (domain.length / (domain.macro_nodes - 1))");
  if (c.buffer_width < c.tooth_width)
    throw ConfigError("patch.buffer_width", num(c.buffer_width) + " is smaller than patch.tooth_width = " +
                                                num(c.tooth_width) + "; the buffer must contain the tooth (H >= h)");
  if (c.tooth_width < c.epsilon)
    throw ConfigError("patch.tooth_width", num(c.tooth_width) + " is shorter than one period epsilon = " + num(c.epsilon) +
                                               "; a tooth must average over at least one period");
  const std::string lifting = patch.choice("lifting", "quadratic", {"quadratic", "quartic"});
  c.lifting_degree = lifting == "quadratic" ? 2 : 4;
  c.burst = patch.positive("burst", c.burst);
  c.substeps = static_cast<int>(patch.integer("substeps", c.substeps, 1, 1000000));
  c.burst_method = patch.choice("method", c.burst_method, {"backward_euler", "crank_nicolson"});
  c.buffer_ends = patch.choice("buffer_ends", c.buffer_ends, {"dirichlet", "averaged_gradient"});
  c.heal_substeps = static_cast<int>(patch.integer("heal_substeps", c.heal_substeps, 0, 1000000));
  if (c.heal_substeps >= c.substeps)
    throw ConfigError("patch.heal_substeps", std::to_string(c.heal_substeps) + " must be smaller than patch.substeps = " +
                                                 std::to_string(c.substeps));
  c.gap_tooth_dt = gap.positive("dt", c.gap_tooth_dt);
  c.full_rtol = full.positive("rtol", c.full_rtol);
  c.full_dt0 = full.positive("dt0", c.full_dt0);

  // --- macro time
  c.macro_dt = macro.positive("dt", c.macro_dt);
  c.integrator = macro.choice("integrator", c.integrator, {"euler", "rk2", "rk4"});
  c.t_end = macro.positive("t_end", c.t_end);
  c.sample_every = static_cast<int>(macro.integer("sample_every", c.sample_every, 1, 1000000000));
  const double steps = c.t_end / c.macro_dt;
  if (std::abs(steps - std::round(steps)) > 1e-6 * steps)
    throw ConfigError("macro.t_end", num(c.t_end) + " is not a whole number of macro.dt = " + num(c.macro_dt));
  if (c.macro_steps() % c.sample_every)
    throw ConfigError("macro.sample_every", std::to_string(c.sample_every) + " does not divide the " +
                                                std::to_string(c.macro_steps()) + " macro steps");
  if (c.burst > c.macro_dt)
    throw ConfigError("patch.burst", num(c.burst) + " is longer than macro.dt = " + num(c.macro_dt) +
                                         "; a projective step needs burst <= macro.dt");
  if (c.scheme == "patch_dynamics") {
    // Projective steps are explicit: the 3-point coarse scheme's fastest mode, lambda = 4 a*/dX^2
    // (a* = the harmonic mean, exact in 1D), must lie in the integrator's stability interval.
    const double lam_dt = 4.0 * c.field->harmonic_mean() * c.macro_dt / (DX * DX);
    const double limit = c.integrator == "rk4" ? 2.785 : 2.0;
    if (lam_dt > limit)
      throw ConfigError("macro.dt", num(c.macro_dt) + " is over the stability limit of " + c.integrator + " on this grid: 4 a* dt / dX^2 = " +
                                        num(lam_dt) + " > " + num(limit) + "; use macro.dt <= " +
                                        num(limit * DX * DX / (4.0 * c.field->harmonic_mean())));
  }
  if (c.scheme == "gap_tooth") {
    const double r = c.macro_dt * c.sample_every / c.gap_tooth_dt;
    if (std::abs(r - std::round(r)) > 1e-6 * r)
      throw ConfigError("gap_tooth.dt", num(c.gap_tooth_dt) + " must divide the sampling interval " +
                                            num(c.macro_dt * c.sample_every));
  }

  // --- initial conditions
  auto& ic = c.initial;
  ic.trajectories = static_cast<int>(initial.integer("trajectories", ic.trajectories, 1, 1000000));
  ic.modes = static_cast<int>(initial.integer("modes", ic.modes, 1, 100000));
  std::tie(ic.amplitude_lo, ic.amplitude_hi) = initial.range("amplitude", {ic.amplitude_lo, ic.amplitude_hi});
  std::tie(ic.frequency_lo, ic.frequency_hi) = initial.range("frequency", {ic.frequency_lo, ic.frequency_hi});
  std::tie(ic.phase_lo, ic.phase_hi) = initial.range("phase", {ic.phase_lo, ic.phase_hi});
  ic.positivity_shift = initial.boolean("positivity_shift", ic.positivity_shift);
  ic.seed = static_cast<std::uint64_t>(initial.integer("seed", 42, 0, 9223372036854775807LL));

  // --- homogenized truth
  c.homogenized_dx = homog.positive("dx", c.homogenized_dx);
  const double fine = DX / c.homogenized_dx;
  if (std::abs(fine - std::round(fine)) > 1e-6 * fine || fine < 1)
    throw ConfigError("homogenized.dx", num(c.homogenized_dx) + " must divide the macro spacing " + num(DX));

  c.device = run.choice("device", c.device, {"auto", "cpu", "cuda"});

  // --- learning, rollout, regression
  Table learn(root, "learn"), roll(root, "rollout"), reg(root, "regression");
  c.networks = learn.strings("networks", c.networks, {"functional", "discretized"});
  c.epochs = static_cast<int>(learn.integer("epochs", c.epochs, 1, 1000000));
  c.batch = static_cast<int>(learn.integer("batch", c.batch, 1, 1000000));
  c.lbfgs_iterations = static_cast<int>(learn.integer("lbfgs_iterations", c.lbfgs_iterations, 0, 1000000));
  c.lr = learn.positive("lr", c.lr);
  c.lr_final = learn.positive("lr_final", std::min(c.lr_final, c.lr));
  if (c.lr_final > c.lr) throw ConfigError("learn.lr_final", num(c.lr_final) + " must not exceed learn.lr = " + num(c.lr));
  c.standardize = learn.boolean("standardize", c.standardize);
  c.precision = learn.choice("precision", c.precision, {"fp64", "fp32"});
  // Default: 8 training trajectories (the paper's split) or all but one when there are fewer.
  c.train_trajectories = std::max(1, std::min(8, ic.trajectories - 1));
  c.train_trajectories = static_cast<int>(learn.integer("train_trajectories", c.train_trajectories, 1, 1000000));
  if (learn.has("train_trajectories") && c.train_trajectories >= ic.trajectories)
    throw ConfigError("learn.train_trajectories", std::to_string(c.train_trajectories) + " leaves no test trajectory out of initial.trajectories = " +
                                                      std::to_string(ic.trajectories));
  c.validation_fraction = learn.number("validation_fraction", c.validation_fraction);
  if (!(c.validation_fraction >= 0 && c.validation_fraction < 1))
    throw ConfigError("learn.validation_fraction", num(c.validation_fraction) + " must be in [0, 1)");
  c.train_t_max = learn.positive("train_t_max", c.train_t_max);
  c.stencil = static_cast<int>(learn.integer("stencil", c.stencil, 3, 5));
  if (c.stencil != 3 && c.stencil != 5) throw ConfigError("learn.stencil", std::to_string(c.stencil) + " must be 3 or 5");
  c.learn_seed = static_cast<std::uint64_t>(learn.integer("seed", 0, 0, 9223372036854775807LL));
  c.checkpoint_every = static_cast<int>(learn.integer("checkpoint_every", 0, 0, 1000000));
  c.rollout_method = roll.choice("method", c.rollout_method, {"dopri5", "bdf"});
  c.rollout_t_end = roll.positive("t_end", std::min(c.rollout_t_end, c.t_end));
  if (roll.has("t_end") && c.rollout_t_end > c.t_end + 1e-12)
    throw ConfigError("rollout.t_end", num(c.rollout_t_end) + " is past the data's macro.t_end = " + num(c.t_end));
  c.rollout_dt = roll.positive("dt", c.rollout_dt);
  c.rollout_rtol = roll.positive("rtol", c.rollout_rtol);
  c.rollout_atol = roll.positive("atol", c.rollout_atol);
  c.regression_threshold = reg.number("threshold", c.regression_threshold);

  // --- soft checks
  if (c.scheme == "patch_dynamics" && c.buffer_ends == "dirichlet") {
    const double reach = std::sqrt(2.0 * c.field->max_value() * c.burst), room = 0.5 * (c.buffer_width - c.tooth_width);
    if (reach > room)
      c.warnings.push_back("patch.buffer_width: the diffusion length sqrt(2 a_max burst) = " + num(reach) +
                           " exceeds the buffer (H - h)/2 = " + num(room) +
                           "; the buffer ends may disturb the tooth (widen the buffer or shorten the burst)");
  }
  return c;
}

Config1D load_config_1d(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError("cannot read config file '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  const auto slash = path.find_last_of('/');
  return parse_config_1d(ss.str(), path, slash == std::string::npos ? "." : path.substr(0, slash));
}

}  // namespace patchlearn
