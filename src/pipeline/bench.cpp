#include "patchlearn/pipeline/bench.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <new>
#include <optional>

#include <fmt/format.h>

#include "patchlearn/core/error.hpp"
#include "patchlearn/core/memory_probe.hpp"
#include "patchlearn/pipeline/problem1d.hpp"
#include "patchlearn/pipeline/problem2d.hpp"
#include "patchlearn/patch/layout1d.hpp"
#include "patchlearn/schemes/lattice2d.hpp"

namespace patchlearn {

using nlohmann::json;

namespace {

std::string eps_label(double eps) { return fmt::format("{:.0e}", eps); }

/// The config at another eps: micro grid, tooth and buffer scale with eps, time steps with eps^2.
Config1D scaled_to(const Config1D& base, double eps) {
  Config1D c = base;
  const double s = eps / base.epsilon;
  c.epsilon = eps;
  c.micro_dx *= s;
  c.tooth_width *= s;
  c.buffer_width *= s;
  c.burst *= s * s;
  c.gap_tooth_dt *= s * s;
  c.full_dt0 *= s * s;
  return c;
}

/// What one way of producing the data cost: the fastest of `runs` runs.
struct Run {
  double wall_s = 0, point_steps = 0, rmse = 0, peak_bytes = 0;
  int runs = 0;
};

/// simulate() timed by fastest_run; the data, point-steps and rMSE are the same in every run.
template <class Sim>
Run measured(Device device, double repeat_s, const std::function<Sim()>& simulate) {
  MemoryProbe probe(device);
  Run r;
  r.wall_s = fastest_run(
      repeat_s,
      [&] {
        const Sim sim = simulate();
        r.point_steps = sim.data.point_steps;
        r.rmse = sim.rmse_vs_homogenized;
        return sim.wall_s;
      },
      r.runs);
  r.peak_bytes = probe.peak_bytes();
  return r;
}

/// One entry of the sweep; without `full` (it did not fit in memory) only the patch side.
json entry(double eps, const Run& patch, const Run* full, double rmse_target) {
  json e{{"eps", eps},
         {"patch_wall_s", patch.wall_s},
         {"patch_runs", patch.runs},
         {"patch_point_steps", patch.point_steps},
         {"patch_rmse", patch.rmse},
         {"patch_peak_bytes", patch.peak_bytes}};
  if (!full) return e;
  e["full_wall_s"] = full->wall_s;
  e["full_runs"] = full->runs;
  e["full_point_steps"] = full->point_steps;
  e["full_rmse"] = full->rmse;
  e["full_peak_bytes"] = full->peak_bytes;
  e["wall_ratio"] = full->wall_s / patch.wall_s;
  e["point_step_ratio"] = full->point_steps / patch.point_steps;
  e["matched"] = patch.rmse <= rmse_target && full->rmse <= rmse_target;
  e["full_faster"] = full->wall_s < patch.wall_s;
  return e;
}

/// One side ("patch" or "full") at the loosest tolerance of `ladder` (loosest first) whose data
/// meet `target`, from `rung` on: tighter ones are tried in turn until one meets it, the ladder
/// ends, or tightening no longer halves the error (a floor the tolerance cannot move: the
/// homogenization error, or round-off). `rung` is left at the one taken, where the next size of
/// the sweep starts. `fields` for the entry: <side>_<name> (the tolerance taken),
/// <side>_tolerances_tried ({<name>, rmse, wall_s} each) and <side>_rejected_wall_s.
struct Matched {
  Run run;
  json fields;
};
Matched loosest_matching(const std::vector<double>& ladder, std::size_t& rung, double target, const std::string& side,
                         const std::string& name, const std::function<Run(double)>& run_at) {
  Matched m;
  double rejected_s = 0.0;
  json tried = json::array();
  for (double previous = HUGE_VAL;; ++rung) {
    m.run = run_at(ladder[rung]);
    tried.push_back({{name, ladder[rung]}, {"rmse", m.run.rmse}, {"wall_s", m.run.wall_s}});
    if (m.run.rmse <= target || rung + 1 == ladder.size() || m.run.rmse > 0.5 * previous) break;
    previous = m.run.rmse;
    rejected_s += m.run.wall_s;
  }
  m.fields = {
      {side + "_" + name, ladder[rung]}, {side + "_rejected_wall_s", rejected_s}, {side + "_tolerances_tried", tried}};
  return m;
}

/// Exponents and the sizes at which full resolution is faster, from the finished sweep.
void summarize(json& out) {
  std::vector<double> eps, pw, fw, pp, fp;
  json faster = json::array();
  for (const auto& e : out["sweep"]) {
    if (e.contains("full_error")) continue;
    eps.push_back(e["eps"]);
    pw.push_back(e["patch_wall_s"]);
    fw.push_back(e["full_wall_s"]);
    pp.push_back(e["patch_point_steps"]);
    fp.push_back(e["full_point_steps"]);
    if (e["full_faster"].get<bool>()) faster.push_back(e["eps"]);
  }
  const auto finite_or_null = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
  out["exponents"] = {{"patch", finite_or_null(cost_exponent(eps, pw))},
                      {"full", finite_or_null(cost_exponent(eps, fw))}};
  out["point_step_exponents"] = {{"patch", finite_or_null(cost_exponent(eps, pp))},
                                 {"full", finite_or_null(cost_exponent(eps, fp))}};
  out["full_faster_at_eps"] = faster;
}

}  // namespace

double fastest_run(double repeat_s, const std::function<double()>& run, int& runs) {
  double fastest = run(), spent = fastest;
  for (runs = 1; spent < repeat_s && runs < 10; ++runs) {
    const double wall = run();
    spent += wall;
    fastest = std::min(fastest, wall);
  }
  return fastest;
}

double cost_exponent(const std::vector<double>& x, const std::vector<double>& cost) {
  const std::size_t n = std::min(x.size(), cost.size());
  if (n < 2) return std::numeric_limits<double>::quiet_NaN();
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double lx = std::log(x[i]), ly = std::log(cost[i]);
    sx += lx;
    sy += ly;
    sxx += lx * lx;
    sxy += lx * ly;
  }
  const double den = n * sxx - sx * sx;
  return den > 0 ? (n * sxy - sx * sy) / den : std::numeric_limits<double>::quiet_NaN();
}

json bench_sweep(const Config1D& cfg, Device device, Observer& observer, const SweepEntryHandler& on_entry) {
  if (cfg.field->random())
    throw ConfigError("medium.coefficient",
                      "bench scales the patches with epsilon, so on a random medium each patch keeps the same number "
                      "of cells and their sampling error, not epsilon, sets the data's error (no rung would meet "
                      "bench.rmse); measure a random medium with run (its summary's patch_cover)");
  if (cfg.field->graded())
    throw ConfigError("medium.expression",
                      "bench compares against the homogenized equation of one a*; a graded medium (x in the "
                      "expression) has a*(x): use run, whose truth is the local a*(x)");
  const auto& opt = cfg.bench;
  const index_t trajectories = cfg.initial.trajectories, steps = cfg.macro_steps();
  json out{{"dimension", 1},
           {"config", cfg.origin},
           {"device", device_description(device)},
           {"rmse_target", opt.rmse},
           {"trajectories", trajectories},
           {"macro_nodes", cfg.macro_nodes},
           {"times", cfg.sample_times().size()},
           {"patch_solver", "patch dynamics: " + std::to_string(cfg.substeps) + " " + cfg.burst_method +
                                " substeps per burst, " + std::string(name_of(cfg.integrator)) + " macro steps"},
           {"full_solver",
            "whole lattice, adaptive TR-BDF2 (one tridiagonal matrix, filtered error estimate), dense output"},
           {"sweep", json::array()}};
  std::size_t rung = 0;
  for (const double eps : opt.epsilon) {
    Config1D c = scaled_to(cfg, eps);
    StageObserver patch_stage(observer, "patch dynamics, eps = " + eps_label(eps)),
        full_stage(observer, "full resolution, eps = " + eps_label(eps));
    c.scheme = Scheme1D::PatchDynamics;
    const Run patch =
        measured<Simulation1D>(device, opt.repeat_s, [&] { return simulate_data(c, device, patch_stage); });
    c.scheme = Scheme1D::FullResolution;
    const Matched full = loosest_matching(opt.full_rtol, rung, opt.rmse, "full", "rtol", [&](double rtol) {
      c.full_rtol = rtol;
      return measured<Simulation1D>(device, opt.repeat_s, [&] { return simulate_data(c, device, full_stage); });
    });
    json e = entry(eps, patch, &full.run, opt.rmse);
    e.update(full.fields);
    // The paper's accounting: one micro step per burst in every patch, and the whole lattice
    // stepped at the burst length over the whole time.
    const PatchLayout1D layout(c.length, c.macro_nodes, c.micro_dx, c.tooth_width, c.buffer_width);
    const double lattice = std::llround(c.length / c.micro_dx) + 1.0;
    const double nominal_patch = double(trajectories) * double(steps) * layout.patches() * double(layout.points);
    const double nominal_full = double(trajectories) * lattice * std::ceil(c.t_end / c.burst - 1e-9);
    e["nominal"] = {{"patch_point_steps", nominal_patch},
                    {"full_point_steps", nominal_full},
                    {"ratio", nominal_full / nominal_patch},
                    {"patch_points", layout.patches() * layout.points},
                    {"full_points", lattice},
                    {"burst", c.burst}};
    if (on_entry) on_entry(e);
    out["sweep"].push_back(e);
  }
  summarize(out);
  return out;
}

json bench_sweep(const Config2D& cfg, Device device, Observer& observer, const SweepEntryHandler& on_entry) {
  const auto& opt = cfg.bench;
  const bool exponential = cfg.stepper == FineStepper::Exponential;
  json out{{"dimension", 2},
           {"config", cfg.origin},
           {"device", device_description(device)},
           {"rmse_target", opt.rmse},
           {"trajectories", cfg.initial.trajectories},
           {"patches", cfg.patches * cfg.patches},
           {"times", cfg.samples()},
           {"patch_solver", "gap-tooth, " + std::string(name_of(cfg.stepper)) + " fine stepper, " +
                                name_of(cfg.coupling) + " coupling"},
           {"full_solver", "full lattice, " + std::string(name_of(cfg.stepper)) + " fine stepper"},
           {"tolerances", exponential ? "each side at the loosest of bench.tolerance that meets bench.rmse"
                                      : "rk4 at the largest stable step"},
           {"sweep", json::array()}};
  // RK4 takes its largest stable step: no tolerance to loosen.
  const std::vector<double> ladder = exponential ? opt.tolerance : std::vector<double>{cfg.fine_tolerance};
  std::size_t patch_rung = 0, full_rung = 0;
  for (const int N : opt.lattice) {
    Config2D c = cfg;
    const int m = c.points - 2;
    c.ratio = static_cast<double>(c.patches * m) / N;
    if (c.stepper == FineStepper::RK4) c.fine_dt = 0.0;  // the largest stable step of this lattice
    const double eps = c.kappa.mx * c.length / N;
    // One side at the loosest tolerance that meets the target; `evaluations`: the taken run's
    // rate evaluations per sample interval.
    const auto side = [&](Scheme2D scheme, const std::string& label, std::size_t& rung, int& evaluations) {
      c.scheme = scheme;
      StageObserver stage(observer, label + ", " + std::to_string(N) + "^2");
      return loosest_matching(ladder, rung, opt.rmse, scheme == Scheme2D::GapTooth ? "patch" : "full", "tolerance",
                              [&](double tol) {
                                c.fine_tolerance = tol;
                                return measured<Simulation2D>(device, opt.repeat_s, [&] {
                                  auto sim = simulate_data(c, device, stage);
                                  evaluations = sim.fine_evaluations;
                                  return sim;
                                });
                              });
    };
    int patch_evaluations = 0, full_evaluations = 0;
    const Matched patch = side(Scheme2D::GapTooth, "gap-tooth", patch_rung, patch_evaluations);
    std::optional<Matched> full;
    std::string error;
    try {
      full = side(Scheme2D::FullLattice, "full lattice", full_rung, full_evaluations);
    } catch (const OutOfMemory& err) {
      error = err.what();
    } catch (const std::bad_alloc&) {
      error = "out of host memory";
    }
    json e = entry(eps, patch.run, full ? &full->run : nullptr, opt.rmse);
    e["patch_evaluations_per_sample"] = patch_evaluations;
    if (exponential) e.update(patch.fields);
    if (full) {
      e["full_evaluations_per_sample"] = full_evaluations;
      if (exponential) e.update(full->fields);
    } else {
      e["full_error"] = error;
    }
    const double lattice = double(N) * N, evolving = double(c.patches) * c.patches * m * m;
    e["lattice"] = N;
    e["nominal"] = {{"patch_points", evolving}, {"full_points", lattice}, {"ratio", lattice / evolving}};
    if (on_entry) on_entry(e);
    out["sweep"].push_back(e);
  }
  summarize(out);
  return out;
}

}  // namespace patchlearn
