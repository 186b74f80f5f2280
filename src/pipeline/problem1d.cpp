#include "patchlearn/pipeline/problem1d.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "patchlearn/core/error.hpp"
#include "patchlearn/homog/cell1d.hpp"
#include "patchlearn/io/effective.hpp"
#include "patchlearn/io/h5.hpp"
#include "patchlearn/learn/discovered.hpp"
#include "patchlearn/learn/regression.hpp"
#include "patchlearn/learn/tensors.hpp"
#include "patchlearn/micro/diffusion1d.hpp"
#include "patchlearn/micro/initial_conditions.hpp"
#include "patchlearn/schemes/full_resolution.hpp"
#include "patchlearn/schemes/gap_tooth.hpp"
#include "patchlearn/schemes/patch_dynamics.hpp"
#include "patchlearn/pipeline/bench.hpp"

using nlohmann::json;
using torch::indexing::Slice;

namespace patchlearn {

namespace {

/// The errors of the regression's a*, c*, r* curves `c` against the cell problems' (curve_errors_text);
/// `graded`: the worst over the interior nodes of a*(x, u), c*(x, u) + da*/dx (the coefficient of U_x
/// in the expanded rate) and r*(x, u).
std::string effective_curve_errors(const json& c, bool graded) {
  const std::string xu = graded ? "(x, u)" : "(u)";
  return curve_errors_text(
      c, {{"a_star", "a*" + xu}, {"drift", graded ? "c*(x, u) + da*/dx" : "c*(u)"}, {"reaction", "r*" + xu}});
}

// Realization `r` of the config's random medium, translated by `shift` cells, with its terms.
CoefficientField random_field(const Config1D& cfg, std::uint64_t r, long long shift) {
  return random_medium(*cfg.random, cfg.length, cfg.epsilon, r, shift).with_terms_of(*cfg.field);
}

// The realizations some trajectory lives on (trajectory b on realization b mod R): the others of
// medium.realizations serve only cell's representative volumes.
int used_realizations(const Config1D& cfg) { return std::min(cfg.realizations, std::max(1, cfg.initial.trajectories)); }

// Their fields, realization 0 (the configured medium) first.
std::vector<CoefficientField> used_realization_fields(const Config1D& cfg) {
  std::vector<CoefficientField> fields;
  for (int r = 0; r < (cfg.random ? used_realizations(cfg) : 1); ++r) fields.push_back(realization_field(cfg, r));
  return fields;
}

// Realizations of one length in series, from their own a*: their bonds' harmonic mean, R / sum_r 1 / a*_r.
double in_series(const std::vector<double>& a_stars) {
  double inverse = 0;
  for (const double a : a_stars) inverse += 1.0 / a;
  return static_cast<double>(a_stars.size()) / inverse;
}

// trajectory_media's media in order: which realization each is, translated by how many cells.
// Medium k is realization k mod R translated by floor(k / R) N / T cells, so that trajectory b
// (on medium b mod R T) lives on realization b mod R.
struct Translate {
  int realization;
  long long shift;
};
// Only the media some trajectory lives on: at most initial.trajectories of them.
std::vector<Translate> translates(const Config1D& cfg) {
  std::vector<Translate> out;
  const auto cells = std::llround(cfg.length / cfg.epsilon);
  const int R = used_realizations(cfg);
  const long long media =
      std::min<long long>(static_cast<long long>(R) * cfg.translations, std::max(1, cfg.initial.trajectories));
  for (long long k = 0; k < media; ++k) out.push_back({static_cast<int>(k % R), k / R * cells / cfg.translations});
  return out;
}

// The patch geometry of a scheme: patches of patch.buffer_width in patch dynamics, teeth alone in
// the gap-tooth scheme and at full resolution.
PatchLayout1D patch_layout(const Config1D& cfg) {
  return PatchLayout1D(cfg.length, cfg.macro_nodes, cfg.micro_dx, cfg.tooth_width,
                       cfg.scheme == Scheme1D::PatchDynamics ? cfg.buffer_width : cfg.tooth_width);
}

// The a*_p of the piece of a medium that patch i (1 .. patches) sees: the harmonic mean of the
// patch's bonds (its periodic cell problem).
double piece_a_star(const FineModel1D& medium, const PatchLayout1D& layout, int i) {
  const index_t bonds = layout.points - 1;
  double inverse = 0;
  for (const double v : medium.cell_conductances(layout.global_start(i), bonds)) inverse += 1 / v;
  return static_cast<double>(bonds) / inverse;
}
}  // namespace

CoefficientField realization_field(const Config1D& cfg, int r) {
  if (r == 0) return *cfg.field;
  if (!cfg.random || r >= cfg.realizations)
    throw std::logic_error("realization_field: no realization " + std::to_string(r));
  return random_field(cfg, static_cast<std::uint64_t>(r), 0);
}

std::vector<FineModel1D> trajectory_media(const Config1D& cfg) {
  std::vector<FineModel1D> media;
  for (const auto [r, shift] : translates(cfg))
    media.emplace_back(shift == 0 ? realization_field(cfg, r) : random_field(cfg, static_cast<std::uint64_t>(r), shift),
                       cfg.epsilon, cfg.micro_dx);
  return media;
}

std::optional<PatchCover> patch_cover(const Config1D& cfg) {
  if (!cfg.random || cfg.scheme == Scheme1D::FullResolution) return std::nullopt;
  const auto media = trajectory_media(cfg);
  const auto where = translates(cfg);
  const PatchLayout1D layout = patch_layout(cfg);
  const auto cells = std::llround(cfg.length / cfg.epsilon);
  // The training trajectories' pieces: the ones the patch scales and the regression see.
  const auto K = static_cast<index_t>(media.size()), B = static_cast<index_t>(cfg.train_trajectories);
  const index_t bonds = layout.points - 1;
  // How much of each cell of every realization the pieces hold, in cell lengths: a piece whose end
  // splits a cell holds part of it (its bonds there, each a bond's length).
  std::vector<double> seen(static_cast<std::size_t>(cells * used_realizations(cfg)), 0.0);
  double inverse_sum = 0, count = 0;
  const double bond_share = cfg.micro_dx / cfg.epsilon;
  for (index_t k = 0; k < std::min(K, B); ++k) {
    const double trajectories = static_cast<double>((B - k + K - 1) / K);  // b = k, k + K, ... < B
    const auto [realization, shift] = where[static_cast<std::size_t>(k)];
    for (int i = 1; i <= layout.patches(); ++i) {
      const index_t first = layout.global_start(i);
      inverse_sum += trajectories / piece_a_star(media[k], layout, i);
      count += trajectories;
      for (index_t j = first; j < first + bonds; ++j) {  // a bond's cell: the one its midpoint lies in
        const auto c = static_cast<long long>(std::floor((static_cast<double>(j) + 0.5) * bond_share));
        seen[static_cast<std::size_t>(realization * cells + (c + shift) % cells)] += bond_share;
      }
    }
  }
  PatchCover out;
  out.a_star_pieces = count / inverse_sum;
  out.a_star = cell_a_star(cfg);
  out.deviation = out.a_star_pieces / out.a_star - 1;
  out.least_seen = std::numeric_limits<double>::infinity();
  for (const double n : seen) {
    if (n > 0) out.least_seen = std::min(out.least_seen, n);
    out.most_seen = std::max(out.most_seen, n);
  }
  out.unseen_fraction = static_cast<double>(std::count(seen.begin(), seen.end(), 0)) / static_cast<double>(seen.size());
  return out;
}

std::vector<double> patch_a_stars(const Config1D& cfg) {
  const auto media = trajectory_media(cfg);
  const PatchLayout1D layout = patch_layout(cfg);
  const index_t G = cfg.train_trajectories, M = cfg.macro_nodes;
  std::vector<double> out(static_cast<std::size_t>(G * M), 1.0);
  for (index_t g = 0; g < G; ++g)
    for (int i = 1; i <= layout.patches(); ++i)
      out[static_cast<std::size_t>(g * M + i)] =
          piece_a_star(media[static_cast<std::size_t>(g) % media.size()], layout, i);
  return out;
}

double realization_a_star(const Config1D& cfg, int r) {
  // A random medium has no period: the truth's representative volume is the whole realization, the
  // domain's lattice bonds closed periodically (in 1D the harmonic mean of the conductances, the
  // finite-sample value of 1/E[1/a]); of its cells alone when it is nonlinear (a*(u) = that g(u)).
  return solve_cell_problem_1d(FineModel1D(realization_field(cfg, r), cfg.epsilon, cfg.micro_dx)
                                   .cell_conductances(0, realization_bonds(cfg)))
      .a_star;
}

double cell_a_star(const Config1D& cfg) {
  if (const int R = cfg.random ? used_realizations(cfg) : 1; R > 1) {
    std::vector<double> a_stars;
    for (int r = 0; r < R; ++r) a_stars.push_back(realization_a_star(cfg, r));
    return in_series(a_stars);
  }
  if (!cfg.field->periodic()) return realization_a_star(cfg, 0);
  const int n = cell_points_per_period(cfg);
  return solve_cell_problem_1d(FineModel1D(*cfg.field, 1.0, 1.0 / n).conductances(0, n)).a_star;
}

EffectiveMedium1D effective_medium(const Config1D& cfg) {
  const auto v = cell_volume(cfg);
  return volume_effective_medium(used_realization_fields(cfg), v.bonds, v.dy);
}

std::vector<RveEstimate> representative_volumes(const Config1D& cfg, std::optional<double> u) {
  if (!cfg.random) throw std::logic_error("representative_volumes: the medium is not random");
  const double bonds_per_cell = cfg.epsilon / cfg.micro_dx;
  const int W = cfg.cell_window;
  const std::array<int, 3> windows{W / 4, W / 2, W};
  std::array<std::vector<double>, 3> a;  // each window size's estimates
  // One realization at a time: a realization is the whole domain's lattice.
  for (int r = 0; r < cfg.realizations; ++r) {
    const FineModel1D model(realization_field(cfg, r), cfg.epsilon, cfg.micro_dx);
    for (std::size_t i = 0; i < windows.size(); ++i) {
      const int w = windows[i], per = static_cast<int>(static_cast<long long>(cfg.cell_samples) * W / w);
      for (int k = 0; k < per; ++k) {
        const auto first = static_cast<index_t>(std::llround(static_cast<double>(k) * w * bonds_per_cell));
        const auto last = static_cast<index_t>(std::llround(static_cast<double>(k + 1) * w * bonds_per_cell));
        a[i].push_back(
            u ? volume_coefficients(model.field(), last - first, cfg.micro_dx / cfg.epsilon, *u, first).a_star
              : solve_cell_problem_1d(model.cell_conductances(first, last - first)).a_star);
      }
    }
  }
  std::vector<RveEstimate> out;
  for (std::size_t i = 0; i < windows.size(); ++i) {
    RveEstimate e;
    e.window = windows[i];
    e.samples = static_cast<int>(a[i].size());
    e.a_star = sample_stats(a[i]);
    out.push_back(e);
  }
  return out;
}

GradedCoefficients graded_coefficients(const Config1D& cfg, const std::vector<double>& xs) {
  const int n = cell_points_per_period(cfg);
  const double h = 1e-5 * cfg.length;
  GradedCoefficients g;
  g.x = xs;
  g.local = local_effective_series(*cfg.field, n, xs, xs);
  // a*(x -+ h, u) in one table (one length for all), then differenced term by term.
  std::vector<double> steps;
  for (const double x : xs) steps.push_back(std::max(0.0, x - h));
  for (const double x : xs) steps.push_back(std::min(cfg.length, x + h));
  const ChebyshevTable d = local_effective_series(*cfg.field, n, steps, {}, false).a;
  g.slope = d;
  const std::size_t T = d.terms, count = xs.size();
  g.slope.coef.resize(count * T);
  for (std::size_t k = 0; k < count; ++k)
    for (std::size_t i = 0; i < T; ++i)
      g.slope.coef[k * T + i] = (d.coef[(count + k) * T + i] - d.coef[k * T + i]) / (steps[count + k] - steps[k]);
  return g;
}

EffectiveCoefficients1D GradedCoefficients::at(std::size_t k, double u) const {
  EffectiveCoefficients1D e;
  e.a_star = local.a.value(static_cast<index_t>(k), u);
  if (local.c.terms) e.drift = local.c.value(static_cast<index_t>(k), u);
  if (local.r.terms) e.reaction = local.r.value(static_cast<index_t>(k), u);
  return e;
}

std::vector<double> GradedCoefficients::a_star() const {
  std::vector<double> a;
  for (std::size_t k = 0; k < x.size(); ++k) a.push_back(at(k).a_star);
  return a;
}

std::vector<double> macro_positions(const Config1D& cfg, bool interior) {
  std::vector<double> x;
  for (int i = interior ? 1 : 0; i < cfg.macro_nodes - (interior ? 1 : 0); ++i)
    x.push_back(cfg.length * i / (cfg.macro_nodes - 1));
  return x;
}

json effective_curves_json(const EffectiveMedium1D& m) {
  return effective_curves_json(m.a.lo, m.a.hi, [&m](double u) { return m.at(u); });
}

json effective_curves_json(double lo, double hi, const std::function<EffectiveCoefficients1D(double)>& at) {
  json out = {{"u", json::array()}, {"a_star", json::array()}, {"drift", json::array()}, {"reaction", json::array()}};
  constexpr int kPoints = 33;
  for (int k = 0; k < kPoints; ++k) {
    const double u = lo + (hi - lo) * k / (kPoints - 1);
    const auto e = at(u);
    out["u"].push_back(u);
    out["a_star"].push_back(e.a_star);
    out["drift"].push_back(e.drift);
    out["reaction"].push_back(e.reaction);
  }
  return out;
}

void Problem1D::check_learnable() const {
  if (cfg_.field->random() && cfg_.scheme == Scheme1D::FullResolution)
    throw ConfigError(
        "scheme.type",
        "learning from full-resolution data of a random medium is not supported: the tooth averages carry "
        "the corrector's random walk (an O(sqrt(eps)) shift of every node), which the translation-invariant "
        "models cannot hold (README, \"Random media\"); learn from \"patch_dynamics\" data");
}

namespace {
// A patch cover in words: how the patches see the medium's cells and what that leaves of its a*.
std::string cover_line(const PatchCover& c) {
  return fmt::format(
      "the patches see {:.4g}% of the medium's cells, each {:.3g} to {:.3g} times; the harmonic mean of the "
      "pieces they see is {:+.3g}% from the medium's a*",
      100 * (1 - c.unseen_fraction), c.least_seen, c.most_seen, 100 * c.deviation);
}
nlohmann::json cover_json(const PatchCover& c) {
  return {{"a_star_pieces", c.a_star_pieces}, {"a_star", c.a_star},       {"deviation", c.deviation},
          {"least_seen", c.least_seen},       {"most_seen", c.most_seen}, {"unseen_fraction", c.unseen_fraction}};
}
}  // namespace

std::vector<std::string> Problem1D::check_simulable() const {
  if (!cfg_.field->nonlinear_key().empty())
    check_initial_values_in_range(initial_node_values(cfg_, cfg_.initial.trajectories),
                                  static_cast<std::size_t>(cfg_.macro_nodes), cfg_.u_range, "medium.u_range");
  // What the data can hold of a random medium's a* (PatchCover): past 0.1% it shows in the
  // rollouts against the floor (random1d: 1% is 1.18x it).
  // The cover is even where the translates' shift s = N / T cells divides the node spacing and the
  // patch width, and every translate of every realization carries as many training trajectories:
  // the pieces then start at every multiple of s (offset alike) equally often in every realization.
  if (const auto cover = patch_cover(cfg_); cover && std::abs(cover->deviation) > 1e-3) {
    const PatchLayout1D layout = patch_layout(cfg_);
    return {
        fmt::format("medium.translations: {}, which no model learned from these data can remove; an even cover "
                    "takes T translates of each realization whose shift ({} now) divides the node spacing ({:g} "
                    "cells) and the patch width ({:g} cells), and a multiple of T x medium.realizations = {} training "
                    "trajectories (learn.train_trajectories = {} now) (README, \"Random media\")",
                    cover_line(*cover),
                    cfg_.translations > 1
                        ? fmt::format("N/T = {:g} cells", std::floor(cfg_.length / cfg_.epsilon / cfg_.translations))
                        : std::string("none: T = 1"),
                    layout.macro_dx / cfg_.epsilon, layout.patch_width / cfg_.epsilon,
                    static_cast<long long>(cfg_.translations) * cfg_.realizations, cfg_.train_trajectories)};
  }
  // (On a random medium the budget is not defined: its probes compare patches of other widths,
  // which sample other cells, so they measure the medium's scatter, not the patch's error.)
  if (cfg_.scheme != Scheme1D::PatchDynamics || cfg_.field->random()) return {};
  // The patch parameters against patch.rate_tolerance: each error over a third of it is named with
  // the key that owns it, when together they exceed it.
  const auto b = patch_error_budget(cfg_);
  const double tol = cfg_.rate_tolerance;
  std::vector<std::string> w;
  if (b.total() <= tol) return w;
  const auto line = [&](const char* key, bool chosen, double err, const char* what, const char* remedy) {
    if (err > tol / 3.0)
      w.push_back(
          fmt::format("{}: {}: {:.2g} relative error in dU/dt, of {:.2g} in all, over "
                      "patch.rate_tolerance = {:g} ({}{})",
                      key, what, err, b.total(), tol, remedy,
                      chosen ? fmt::format("; \"auto\" found no change that shrinks it within the fixed keys "
                                           "(a longer or shorter burst, a longer healing, up to {} substeps)",
                                           kMaxSubsteps)
                             : std::string(", or \"auto\"")));
  };
  const auto& a = cfg_.patch_auto;
  line("patch.buffer_width", a.buffer_width, b.buffer,
       "the buffer ends' disturbance reaches the tooth within the burst", "widen the buffer or shorten the burst");
  line("patch.burst", a.burst, b.corrector,
       "the micro-scale corrector is still forming when the estimate starts (or, on a graded or u-dependent medium, "
       "the lifted profile's rate drifts within the burst)",
       "lengthen the burst or patch.heal_substeps, unless it is the drift, which a shorter burst or "
       "patch.estimate_degree = 3 shrinks");
  line("patch.substeps", a.substeps, b.time, "the implicit substeps' time error", "more substeps");
  return w;
}

namespace {

// The full-resolution run of the initial conditions `ics` at `times` on the host arrays of a
// CoarseData on `device`.
// Trajectory `first` + b lives on models[(first + b) mod models.size()] (trajectory_media).
CoarseData full_resolution_data(const Config1D& cfg, const std::vector<FineModel1D>& models,
                                const PatchLayout1D& layout, Device device,
                                const std::vector<std::function<double(double)>>& ics, index_t first,
                                const std::vector<double>& times, const std::function<void(double)>& prog) {
  FullResolutionParams p;
  p.rtol = cfg.full_rtol;
  p.dt0 = cfg.full_dt0;
  std::vector<FullResolution1D> fr;
  for (const auto& model : models) fr.emplace_back(model, layout, p, device);
  const auto nt = static_cast<index_t>(times.size()), count = static_cast<index_t>(ics.size()),
             M = static_cast<index_t>(cfg.macro_nodes);
  std::vector<double> U(count * nt * M), R(U.size());
  for (index_t b = 0; b < count; ++b) {
    numbered_from(b, [&] {
      fr[(first + b) % static_cast<index_t>(fr.size())].run(ics[b], times, U.data() + b * nt * M, R.data() + b * nt * M,
                                                            [&](double f) {
                                                              if (prog) prog((double(b) + f) / double(count));
                                                            });
    });
  }
  double steps = 0;
  for (const auto& f : fr) steps += f.point_steps();
  return CoarseData::from_host(device, count, times, M, U, R, steps);
}

using InitialConditions = std::vector<std::function<double(double)>>;
/// A patch scheme's run of some trajectories on one medium, with its progress in [0, 1].
using SchemeRun =
    std::function<CoarseData(const FineModel1D&, const InitialConditions&, const std::function<void(double)>&)>;

// Trajectories [first, first + ics.size()) of a patch scheme, trajectory first + b on
// media[(first + b) mod media.size()]: one batched run per medium, merged in trajectory order.
CoarseData on_their_media(const std::vector<FineModel1D>& media, index_t first, const InitialConditions& ics,
                          Device device, const SchemeRun& run, const std::function<void(double)>& prog) {
  if (media.size() == 1) return run(media.front(), ics, prog);
  const auto count = static_cast<index_t>(ics.size()), R = static_cast<index_t>(media.size());
  std::vector<double> U, dUdt, t;
  index_t nt = 0, M = 0, done = 0;
  double steps = 0;
  for (index_t r = 0; r < R; ++r) {
    std::vector<index_t> own;
    for (index_t b = 0; b < count; ++b)
      if ((first + b) % R == r) own.push_back(b);
    if (own.empty()) continue;
    InitialConditions sub;
    for (const index_t b : own) sub.push_back(ics[b]);
    const auto part = [&] {
      try {
        return run(media[r], sub, [&](double f) {
          if (prog) prog((double(done) + f * double(own.size())) / double(count));
        });
      } catch (const TrajectoryError& e) {  // about sub[k], trajectory own[k] of the batch
        throw e.renumbered(own[static_cast<std::size_t>(e.trajectory)]);
      }
    }();
    if (U.empty()) {
      nt = part.times, M = part.nodes, t = part.t;
      U.resize(count * nt * M), dUdt.resize(U.size());
    }
    const auto pU = part.host_U(), pR = part.host_dUdt();
    for (std::size_t k = 0; k < own.size(); ++k) {
      std::copy_n(pU.begin() + k * nt * M, nt * M, U.begin() + own[k] * nt * M);
      std::copy_n(pR.begin() + k * nt * M, nt * M, dUdt.begin() + own[k] * nt * M);
    }
    steps += part.point_steps;
    done += static_cast<index_t>(own.size());
  }
  return CoarseData::from_host(device, count, t, M, U, dUdt, steps);
}

}  // namespace

Simulation1D simulate_data(const Config1D& cfg, Device device, Observer& observer, const ChunkedRun* chunks) {
  // The media of the trajectories (trajectory_media); the first is the configured medium.
  const auto models = trajectory_media(cfg);
  const FineModel1D& model = models.front();
  const PatchLayout1D layout = patch_layout(cfg);
  const auto ics = draw_initial_conditions(cfg.initial);
  InitialConditions icf(ics.begin(), ics.end());
  const index_t B = cfg.initial.trajectories, M = cfg.macro_nodes;
  const auto times = cfg.sample_times();
  // Trajectories [first, first + count) with the configured scheme.
  const auto compute = [&](index_t first, index_t count, const std::function<void(double)>& prog) -> CoarseData {
    const InitialConditions sub(icf.begin() + first, icf.begin() + first + count);
    if (cfg.scheme == Scheme1D::FullResolution)
      return full_resolution_data(cfg, models, layout, device, sub, first, times, prog);
    const SchemeRun run = [&](const FineModel1D& medium, const InitialConditions& group,
                              const std::function<void(double)>& progress) -> CoarseData {
      const auto n = static_cast<index_t>(group.size());
      if (cfg.scheme == Scheme1D::GapTooth) {
        GapToothParams p;
        p.dt = cfg.gap_tooth_dt;
        GapTooth1D gt(medium, layout, p, device, n);
        return gt.run(group, times, [&](double t) {
          if (progress) progress(t / cfg.t_end);
        });
      }
      PatchDynamics1D op(medium, layout, cfg.patch_setting().params, device, n);
      std::vector<double> U0(n * M);
      for (index_t b = 0; b < n; ++b)
        for (index_t i = 0; i < M; ++i) U0[b * M + i] = group[b](layout.node_x(static_cast<int>(i)));
      const index_t steps = cfg.macro_steps();
      return integrate_coarse(
          op, cfg.integrator, cfg.macro_dt, steps, cfg.sample_every, U0, n,
          [&](index_t s) {
            if (progress) progress(double(s) / double(steps));
          },
          cfg.check_every);
    };
    return on_their_media(models, first, sub, device, run, prog);
  };
  Simulation1D sim;
  const auto per_macro = static_cast<index_t>(std::llround(layout.macro_dx / cfg.homogenized_dx));
  // What the data are scored against, on the rank that simulates them: a graded medium's local
  // effective PDE, a nonlinear medium's effective PDE (each realization's: trajectory b is on
  // realization b mod R), each realization's homogenized solution, or the medium's.
  std::vector<EffectiveMedium1D> realization_media;
  if (model.nonlinear() && !cfg.field->graded()) {
    if (cfg.random && used_realizations(cfg) > 1) {
      const auto v = cell_volume(cfg);
      auto media = volume_effective_media(used_realization_fields(cfg), v.bonds, v.dy);
      sim.effective = std::move(media.ensemble);  // effective_medium(cfg)'s
      realization_media = std::move(media.each);
    } else {
      sim.effective = effective_medium(cfg);
    }
  }
  std::optional<GradedTruth> graded;
  if (cfg.field->graded())
    graded.emplace(*cfg.field, cell_points_per_period(cfg), cfg.length, cfg.macro_nodes, per_macro, cfg.rollout.rtol,
                   cfg.u_range);
  std::vector<double> a_stars;  // each realization's, or the one medium's
  if (!cfg.field->graded() && !model.nonlinear())
    for (int r = 0; r < used_realizations(cfg); ++r)
      a_stars.push_back(cfg.realizations > 1 ? realization_a_star(cfg, r) : cell_a_star(cfg));
  const auto truth = [&](index_t first, index_t count, const std::vector<double>& t) -> HomogenizedTruth {
    const InitialConditions sub(icf.begin() + first, icf.begin() + first + count);
    if (graded) return (*graded)(sub, t);
    if (!realization_media.empty()) {
      std::vector<const EffectiveMedium1D*> own;  // trajectory b's realization's
      for (index_t k = 0; k < count; ++k)
        own.push_back(&realization_media[static_cast<std::size_t>(first + k) % realization_media.size()]);
      return effective_truth(own, cfg.length, cfg.macro_nodes, per_macro, sub, t, cfg.rollout.rtol);
    }
    if (sim.effective)
      return effective_truth(*sim.effective, cfg.length, cfg.macro_nodes, per_macro, sub, t, cfg.rollout.rtol);
    std::vector<double> a(static_cast<std::size_t>(count));
    for (index_t k = 0; k < count; ++k) a[k] = a_stars[(first + k) % static_cast<index_t>(a_stars.size())];
    return homogenized_truth(a, cfg.length, cfg.macro_nodes, per_macro, sub, t);
  };
  const std::string stage = "simulate (" + std::string(name_of(cfg.scheme)) + ")";
  auto chunked = run_in_chunks(chunks, cfg.text, B, device, compute, truth, observer, stage, sim.wall_s);
  sim.data = std::move(chunked.data);
  sim.truth = std::move(chunked.truth);
  if (cfg.scheme == Scheme1D::PatchDynamics) {
    // One more burst from trajectory 0's data at the sample nearest t = 0.05: the fine field the
    // coarse data come from (for the figures; not part of the timed run).
    index_t n = 0;
    for (index_t k = 0; k < sim.data.times; ++k)
      if (std::abs(sim.data.t[k] - 0.05) < std::abs(sim.data.t[n] - 0.05)) n = k;
    PatchDynamics1D op(model, layout, cfg.patch_setting().params, device, 1);
    Buffer<double> U(device, M), R(device, M);
    detail::copy_bytes(device, U.data(), device, sim.data.U.data() + n * M, M * sizeof(double));
    op.rhs(U.data(), R.data(), 1);
    sim.fine_t = sim.data.t[n];
    sim.fine_u = op.patch_field(0);
    sim.fine_x.resize(sim.fine_u.size());
    for (int p = 0; p < layout.patches(); ++p)
      for (index_t j = 0; j < layout.points; ++j)
        sim.fine_x[p * layout.points + j] = static_cast<double>(layout.global_start(p + 1) + j) * cfg.micro_dx;
  }
  if (cfg.field->graded() && !model.nonlinear())
    for (const double x : macro_positions(cfg, false))
      sim.a_star_x.push_back(local_a_star(*cfg.field, x, cell_points_per_period(cfg)));
  if (!a_stars.empty()) sim.a_star = a_stars.size() > 1 ? in_series(a_stars) : a_stars.front();
  if (cfg.realizations > 1) sim.a_star_realizations = a_stars;
  sim.rmse_vs_homogenized = relative_mse(sim.data.host_U(), sim.truth.U);
  if (cfg.full_compare > 0 && cfg.scheme != Scheme1D::FullResolution) {
    const index_t n = std::min<index_t>(cfg.full_compare, B);
    const auto full =
        full_resolution_data(cfg, models, layout, Device::CPU, {icf.begin(), icf.begin() + n}, 0, sim.data.t,
                             [&](double f) { observer.progress("full resolution (compare)", f); });
    const auto U = sim.data.host_U();
    const auto values = static_cast<std::ptrdiff_t>(n * sim.data.times * M);
    const std::vector<double> data(U.begin(), U.begin() + values),
        truth(sim.truth.U.begin(), sim.truth.U.begin() + values), full_U = full.host_U();
    sim.rmse_vs_full_resolution = relative_mse(data, full_U);
    sim.rmse_vs_homogenized_compared = relative_mse(data, truth);
    sim.full_resolution_vs_homogenized = relative_mse(full_U, truth);
    sim.full_resolution_trajectories = n;
  }
  return sim;
}

void write_data_h5(const std::string& path, const Config1D& cfg, const Simulation1D& sim, Device device) {
  const auto& d = sim.data;
  H5Writer w(path);
  write_common_data(w, {d.nodes}, cfg, name_of(cfg.scheme), sim, device);
  std::vector<double> x(d.nodes);
  for (index_t i = 0; i < d.nodes; ++i) x[i] = cfg.length * static_cast<double>(i) / static_cast<double>(d.nodes - 1);
  w.dataset("x", {d.nodes}, x);
  if (!sim.fine_u.empty()) {
    const index_t patches = cfg.macro_nodes - 2, points = static_cast<index_t>(sim.fine_u.size()) / patches;
    w.dataset("fine_u", {patches, points}, sim.fine_u);
    w.dataset("fine_x", {patches, points}, sim.fine_x);
    w.attribute("fine_t", sim.fine_t);
    w.attribute("epsilon", cfg.epsilon);
    w.attribute("tooth_width", cfg.tooth_width);
  }
  if (!cfg.field->periodic()) {
    // The medium over the whole domain (a random realization, a graded medium): its bond
    // conductances (FineModel1D's bond-midpoint samples), every `stride`-th one, at most ~20,000,
    // for the report's figure; a u-dependent one at the middle of its u range.
    const auto bonds = static_cast<index_t>(std::llround(cfg.length / cfg.micro_dx));
    const index_t stride = std::max<index_t>(1, bonds / 20000);
    const bool in_u = cfg.field->depends_on_u();
    const double u_mid = in_u ? 0.5 * (cfg.u_range.lo + cfg.u_range.hi) : 0.0;
    std::vector<double> mx, ma;
    for (index_t g = 0; g < bonds; g += stride) {
      mx.push_back((static_cast<double>(g) + 0.5) * cfg.micro_dx);
      ma.push_back((*cfg.field)((static_cast<double>(g) + 0.5) * cfg.micro_dx / cfg.epsilon, u_mid));
    }
    w.dataset("medium_x", {static_cast<index_t>(mx.size())}, mx);
    w.dataset("medium_a", {static_cast<index_t>(ma.size())}, ma);
    if (in_u) w.attribute("medium_a_u", u_mid);
    w.attribute("medium", cfg.field->description());
    w.attribute("medium_kind", cfg.field->graded() ? "graded" : "random");
    if (cfg.scheme != Scheme1D::FullResolution && sim.fine_u.empty()) w.attribute("tooth_width", cfg.tooth_width);
  }
  if (sim.effective) {
    const json c = effective_curves_json(*sim.effective);
    const auto n = static_cast<index_t>(c["u"].size());
    for (const char* key : {"u", "a_star", "drift", "reaction"})
      w.dataset(std::string("effective_") + key, {n}, c[key].get<std::vector<double>>());
  } else if (!sim.a_star_x.empty()) {
    w.dataset("a_star_x", {d.nodes}, sim.a_star_x);
  } else if (!cfg.field->graded()) {
    w.attribute("a_star_cell", sim.a_star);
    if (!sim.a_star_realizations.empty())
      w.dataset("a_star_realizations", {static_cast<index_t>(sim.a_star_realizations.size())}, sim.a_star_realizations);
  }
  w.commit();
}

LearningData load_learning_data(const std::string& path, const Config1D& cfg, torch::Device device) {
  std::vector<index_t> dims;
  auto out = read_learning_data(path, 3, "[trajectory, time, node]", cfg.initial.trajectories, device, dims);
  if (dims[2] != cfg.macro_nodes)
    throw InputError(fmt::format("'{}' has {} macro nodes but the config has domain.macro_nodes = {}", path, dims[2],
                                 cfg.macro_nodes));
  return out;
}

namespace {

// Sine amplitudes of the interior part (values minus the linear Dirichlet interpolant) of
// trajectories Y[B, T, M]: [B, T, M-2].
torch::Tensor sine_amplitudes(const torch::Tensor& Y) {
  const auto M = Y.size(2);
  const auto x = torch::linspace(0, 1, M, Y.options());
  const auto lin = Y.index({Slice(), Slice(), Slice(0, 1)}) +
                   (Y.index({Slice(), Slice(), Slice(M - 1, M)}) - Y.index({Slice(), Slice(), Slice(0, 1)})) * x;
  const auto W = (Y - lin).index({Slice(), Slice(), Slice(1, M - 1)});
  const auto j = torch::arange(1, M - 1, Y.options());
  const auto S = torch::sin(M_PI * j.unsqueeze(1) * j.unsqueeze(0) / static_cast<double>(M - 1));  // [j, k]
  return torch::matmul(W, S) * (2.0 / static_cast<double>(M - 1));
}

/// The 1D learning task: states with learn.train_t_min <= t < learn.train_t_max, the 1D regression library, the unseen
/// test trajectories with their homogenized truth, and the 3-point scheme a* D2 as the exact
/// coarse operator.
class LearningTask1D : public LearningTask {
 public:
  LearningTask1D(const Config1D& cfg, double a_star, std::optional<EffectiveMedium1D> effective)
      : cfg_(cfg),
        a_star_(a_star),
        effective_(std::move(effective)),
        dX_(cfg.length / (cfg.macro_nodes - 1)),
        rollout_{cfg.rollout.method, cfg.rollout.dt, cfg.rollout.rtol, cfg.rollout.atol},
        basis_(position_basis(cfg, cfg.length, 1)) {
    if (cfg.field->graded()) graded_ = graded_coefficients(cfg, macro_positions(cfg, true));
    if (cfg.random && !effective_) {
      const RveEstimate big = representative_volumes(cfg).back();
      random_ = RandomTruth{big.a_star.mean, big.a_star.standard_error, cfg.random->ergodic_a_star()};
    }
  }

  const LearnOptions& options() const override { return cfg_.learn; }
  int train_trajectories() const override { return cfg_.train_trajectories; }
  const RolloutParams& rollout_params() const override { return rollout_; }

  std::pair<torch::Tensor, torch::Tensor> training_states(const LearningData& data) const override {
    const int ntr = cfg_.train_trajectories, M = cfg_.macro_nodes;
    if (data.U.size(0) <= ntr)
      throw ConfigError("learn.train_trajectories", std::to_string(ntr) + " leaves no test trajectory in the data");
    int64_t t0 = 0, nt = 0;
    while (t0 < static_cast<int64_t>(data.t.size()) && data.t[t0] < cfg_.train_t_min - 1e-12) ++t0;
    while (nt < static_cast<int64_t>(data.t.size()) && data.t[nt] < cfg_.train_t_max) ++nt;
    return {data.U.index({Slice(0, ntr), Slice(t0, nt)}).reshape({-1, M}),
            data.dUdt.index({Slice(0, ntr), Slice(t0, nt)}).reshape({-1, M})};
  }

  FittedRegression regression(const torch::Tensor& U, const torch::Tensor& R, Observer& observer,
                              const learn::TermScales* scales) const override {
    const int M = cfg_.macro_nodes;
    const auto reg = learn::regress(learn::to_vector(U), learn::to_vector(R), M, dX_, cfg_.stencil,
                                    cfg_.regression_threshold, basis_, cfg_.tooth_width, cfg_.regression_weights,
                                    cfg_.u_degree, cfg_.train_trajectories, scales);
    if (graded_ && !cfg_.field->nonlinear_key().empty()) {
      // a*(x, u), c*(x, u) + d a*/dx, r*(x, u) as the equation has them, node by node against the
      // local cell problems there; the worst of each over the nodes.
      json g = {{"x", graded_->x}, {"nodes", json::array()}};
      const URange r = cfg_.field->u_range();
      for (std::size_t i = 0; i < graded_->x.size(); ++i) {
        // The coefficient of U_x in the expanded rate is c* + d a*/dx (the conservative form's
        // d_x a*(x, U) U_x), so that is the "drift" the regression's U^k*U_x terms are scored against.
        const json truth = effective_curves_json(r.lo, r.hi, [&](double u) {
          auto e = graded_->at(i, u);
          e.drift += graded_->slope.value(static_cast<index_t>(i), u);
          return e;
        });
        g["nodes"].push_back(regression_curves(reg, with_data_range(truth, U), graded_->x[i]));
        g["nodes"].back()["cell"] = truth;
        for (const char* key : {"a_star", "drift", "reaction"})
          for (const char* over : {"_max_error", "_max_error_on_data"}) {
            const std::string k = std::string(key) + over;
            g[k] = std::max(g.value(k, 0.0), g["nodes"].back()[k].get<double>());
          }
      }
      g["u_data"] = g["nodes"][0]["u_data"];
      observer.info(fmt::format("regression: {}  (against the local cell problems at the interior nodes: {})",
                                reg.equation, effective_curve_errors(g, true)));
      return {reg, {{"regression", regression_json(reg)}, {"regression_graded_effective", g}}};
    }
    if (graded_) {
      // a*(x) as the equation has it: the coefficient of U_xx with its position factors, at the
      // interior macro nodes, against the local cell problems there.
      const auto cell = graded_->a_star();
      json g = {{"x", graded_->x}, {"a_star_cell", cell}};
      double worst = 0;
      for (std::size_t i = 0; i < graded_->x.size(); ++i) {
        const double a = reg.coefficient_at("U_xx", graded_->x[i]);
        g["a_star_regression"].push_back(a);
        worst = std::max(worst, std::abs(a / cell[i] - 1.0));
      }
      g["max_relative_error"] = worst;
      observer.info(fmt::format("regression: {}  (a*(x) against the local cell problems: max relative error {:.2e})",
                                reg.equation, worst));
      return {reg, {{"regression", regression_json(reg)}, {"regression_graded", g}}};
    }
    if (effective_) {
      observer.info("regression: " + reg.equation);
      return {
          reg,
          {{"regression", regression_json(reg)},
           {"regression_effective", regression_curves(reg, with_data_range(effective_curves_json(*effective_), U))}}};
    }
    observer.info(fmt::format("regression: {}  (a* from the cell problem: {:.10g})", reg.equation, a_star_));
    json out = {{"a_star_regression", reg.a_star},
                {"a_star_regression_relative_error", reg.a_star / a_star_ - 1.0},
                {"regression", regression_json(reg)}};
    if (random_) out["a_star_regression_standard_errors"] = (reg.a_star - random_->ergodic) / random_->stderr;
    return {reg, out};
  }

  std::unique_ptr<learn::TorchOperator> discovered(const learn::RegressionResult& fit) const override {
    const double dX = dX_;
    const int stencil = cfg_.stencil;
    const learn::PositionBasis basis = fit.position;
    return std::make_unique<learn::DiscoveredOperator>(
        fit,
        [dX, stencil, basis](const torch::Tensor& U) {
          return learn::with_position(learn::macro_derivatives_1d(U, dX, stencil), basis, dX);
        },
        true, learn::ToothAverage{cfg_.tooth_width});
  }

  EvaluationSet evaluation(const LearningData* data, torch::Device device) const override {
    EvaluationSet e;
    for (double t : cfg_.sample_times())
      if (t <= cfg_.rollout.t_end + 1e-12) e.times.push_back(t);
    const int ntest = cfg_.initial.trajectories - cfg_.train_trajectories, M = cfg_.macro_nodes;
    if (ntest < 1)
      throw ConfigError("learn.train_trajectories", "no test trajectory is left; raise initial.trajectories");
    const auto ics = draw_initial_conditions(cfg_.initial);
    std::vector<std::function<double(double)>> test(ics.begin() + cfg_.train_trajectories, ics.end());
    std::vector<double> U0(ntest * M);
    for (int b = 0; b < ntest; ++b)
      for (int i = 0; i < M; ++i) U0[b * M + i] = test[b](i * dX_);
    e.U0 = learn::to_tensor(U0, {ntest, M}, device);
    const auto per_macro = static_cast<index_t>(std::llround(dX_ / cfg_.homogenized_dx));
    const auto truth = effective_
                           ? effective_truth(*effective_, cfg_.length, M, per_macro, test, e.times, cfg_.rollout.rtol)
                       : graded_ ? graded_truth(*cfg_.field, cell_points_per_period(cfg_), cfg_.length, M, per_macro,
                                                test, e.times, cfg_.rollout.rtol, cfg_.u_range)
                                 : homogenized_truth(a_star_, cfg_.length, M, per_macro, test, e.times);
    e.truth = learn::to_tensor(truth.U, {ntest, static_cast<int64_t>(e.times.size()), M}, device);
    e.test_states =
        data ? data->U.index({Slice(cfg_.train_trajectories)}).reshape({-1, M}).to(device) : e.truth.reshape({-1, M});
    const auto coarse = exact_coarse();
    e.exact_rhs = coarse->rhs(e.test_states);
    e.coarse = learn::rollout(*coarse, e.U0, e.times, rollout_).U;
    return e;
  }

  std::unique_ptr<learn::TorchOperator> exact_coarse() const override {
    if (effective_) return std::make_unique<learn::EffectiveTorchOperator>(*effective_, dX_);
    if (graded_) return std::make_unique<learn::EffectiveTorchOperator>(graded_->local, dX_, graded_->slope);
    return std::make_unique<learn::EffectiveTorchOperator>(a_star_, dX_);
  }

  // A random medium that depends on u or has a drift or a reaction: each patch's rates are its own
  // piece's, known from its cells (patch_a_stars): its diffusion terms (U_xx, U_x^2) scale with
  // s_p = a*_p over the training patches' harmonic mean, its drift and reaction not at all. Scales
  // fitted to the rates instead confound a patch's own a*_p with the U-dependence where the pieces
  // scatter (a correlated medium: a*(u) 7.9e-2 off on the data's range, against 1.1e-4 with these;
  // bench/RESULTS.md, "Patch scales from the medium").
  PatchScaling patch_scaling() const override {
    PatchScaling p;
    if (!cfg_.random || cfg_.field->nonlinear_key().empty()) return p;
    p.group = [](const std::string& term) {
      return term.find("U_xx") != std::string::npos || term.find("U_x^2") != std::string::npos ? 0 : -1;
    };
    p.groups = 1;
    const int G = cfg_.train_trajectories, M = cfg_.macro_nodes;
    const auto a = learn::to_tensor(pieces(), {G, M}, torch::kCPU, torch::kFloat64);
    const auto interior = torch::zeros({G, M}, torch::kBool).index_put_({Slice(), Slice(1, M - 1)}, true);
    const auto s = a * (1.0 / a.masked_select(interior)).mean();  // harmonic mean 1 over the patches
    p.known = torch::where(interior, s, torch::ones_like(s)).unsqueeze(-1);
    return p;
  }

  // A random medium's patch p sees its own piece of it: its rates are the exact coarse operator's
  // parts with s_p = a*_p / a* (a* the medium's, of its cells) on the diffusion terms a*(U) D2 U and
  // a*'(U) (D1 U)^2 (patch_a_stars, as patch_scaling), the drift and the reaction as they are. On a
  // linear medium that is the lift's rate itself (a*_p D2 U); on a u-dependent one it leaves the
  // model's own error (bench/RESULTS.md, "A data check on random media's patches").
  torch::Tensor coarse_data_rates(const torch::Tensor& U) const override {
    if (!cfg_.random || cfg_.scheme == Scheme1D::FullResolution) return LearningTask::coarse_data_rates(U);
    auto op =
        effective_ ? learn::EffectiveTorchOperator(*effective_, dX_) : learn::EffectiveTorchOperator(a_star_, dX_);
    const auto parts = op.parts(U);
    const int64_t G = cfg_.train_trajectories, M = cfg_.macro_nodes, per = U.size(0) / G;
    const auto s = learn::to_tensor(pieces(), {G, 1, M}, torch::kCPU, torch::kFloat64)  // [G, M] -> [N, M - 2]
                       .expand({G, per, M})
                       .reshape({G * per, M})
                       .index({Slice(), Slice(1, M - 1)})
                       .to(U.device(), U.scalar_type()) /
                   (effective_ ? cell_a_star(cfg_) : a_star_);
    auto diffusion = parts.diffusion;
    if (parts.gradient_squared.defined()) diffusion = diffusion + parts.gradient_squared;
    auto inner = s * diffusion;
    if (parts.drift.defined()) inner = inner + parts.drift;
    if (parts.reaction.defined()) inner = inner + parts.reaction;
    return torch::constant_pad_nd(inner, {1, 1}, 0.0);
  }

  std::string coarse_data_reference() const override {
    return cfg_.random && cfg_.scheme != Scheme1D::FullResolution
               ? "each patch's own rates (the exact coarse operator's parts times its piece's factors)"
               : LearningTask::coarse_data_reference();
  }

  double tolerated_data_rhs_rmse() const override {
    if (cfg_.random && cfg_.scheme == Scheme1D::FullResolution) return LearningTask::tolerated_data_rhs_rmse();
    const double patch = cfg_.scheme == Scheme1D::PatchDynamics ? cfg_.rate_tolerance * cfg_.rate_tolerance : 0.0;
    return std::max(kUnresolvedDataRates, patch);
  }

  learn::CoarseModel make_model(const std::string& net) const override {
    return learn::make_model(net, cfg_.macro_nodes, dX_, cfg_.stencil, 0, name_of(cfg_.learn.activation),
                             cfg_.learn.position_input);
  }

  // Fourier-amplitude state space (paper Fig. 8b): the two sine modes of largest mean amplitude in
  // the truth, for every test trajectory. Front-shaped data (initial.kind = "front") also get the
  // front speeds.
  json trajectory_views(const torch::Tensor& truth, const torch::Tensor& Y,
                        const std::vector<double>& times) const override {
    const torch::Tensor amp_truth = sine_amplitudes(truth), amp_model = sine_amplitudes(Y);
    const torch::Tensor top =
        std::get<1>(amp_truth.abs().mean(at::IntArrayRef{0, 1}).topk(std::min<int64_t>(2, amp_truth.size(2))));
    std::vector<int64_t> modes;
    for (int64_t k = 0; k < top.size(0); ++k) modes.push_back(top[k].item<int64_t>() + 1);
    json f = {{"modes", modes}};
    for (int64_t b = 0; b < Y.size(0); ++b)
      f["trajectories"].push_back(json{{"truth", learn::to_vector(amp_truth[b].index_select(1, top))},
                                       {"model", learn::to_vector(amp_model[b].index_select(1, top))}});
    json views = {{"fourier", f}};
    if (cfg_.initial.front) views["front"] = front_speeds(truth, Y, times);
    return views;
  }

  // The speed of each test trajectory's front (where U falls through 1/2, between macro nodes by
  // linear interpolation) in truth and model: the least-squares slope of its position against time
  // over the samples where the truth's front lies in the middle of the domain, [0.3 L, 0.7 L] (away
  // from the initial layer and from the Dirichlet end that slows it); the largest relative error.
  json front_speeds(const torch::Tensor& truth, const torch::Tensor& Y, const std::vector<double>& times) const {
    const auto position = [&](const torch::Tensor& V, int64_t b, int64_t n) {
      const auto u = learn::to_vector(V[b][n]);
      for (std::size_t i = 0; i + 1 < u.size(); ++i)
        if (u[i] >= 0.5 && u[i + 1] < 0.5) return dX_ * (static_cast<double>(i) + (u[i] - 0.5) / (u[i] - u[i + 1]));
      return std::numeric_limits<double>::quiet_NaN();
    };
    json out = {{"truth", json::array()}, {"model", json::array()}};
    double worst = 0;
    for (int64_t b = 0; b < truth.size(0); ++b) {
      double st = 0, sx = 0, sm = 0, stt = 0, stx = 0, stm = 0, count = 0;
      for (std::size_t n = 0; n < times.size(); ++n) {
        const double xt = position(truth, b, static_cast<int64_t>(n)), xm = position(Y, b, static_cast<int64_t>(n));
        if (!(xt >= 0.3 * cfg_.length && xt <= 0.7 * cfg_.length) || !std::isfinite(xm)) continue;
        const double t = times[n];
        st += t, sx += xt, sm += xm, stt += t * t, stx += t * xt, stm += t * xm, count += 1;
      }
      const double den = count * stt - st * st;
      if (count < 3 || den <= 0) continue;
      const double vt = (count * stx - st * sx) / den, vm = (count * stm - st * sm) / den;
      out["truth"].push_back(vt);
      out["model"].push_back(vm);
      worst = std::max(worst, std::abs(vm / vt - 1.0));
    }
    out["max_relative_error"] = worst;
    return out;
  }

  json describe() const override {
    if (effective_) return {{"effective", effective_curves_json(*effective_)}};
    if (graded_ && !cfg_.field->nonlinear_key().empty()) {
      json nodes = json::array();
      const URange r = cfg_.field->u_range();
      for (std::size_t i = 0; i < graded_->x.size(); ++i)
        nodes.push_back(effective_curves_json(r.lo, r.hi, [&](double u) { return graded_->at(i, u); }));
      return {{"graded", {{"x", graded_->x}, {"effective", nodes}}}};
    }
    if (graded_) return {{"graded", {{"x", graded_->x}, {"a_star_cell", graded_->a_star()}}}};
    json d = {{"a_star_cell", a_star_}};
    if (random_) {
      // The regression is judged against the distribution's a* in the representative volumes'
      // standard error (learning_report); a_star_cell is the realization's, which the truth uses
      // (of several realizations their ensemble's, the realizations in series: cell_a_star).
      if (cfg_.realizations > 1) {
        d["a_star_realizations"] = json::array();
        for (int r = 0; r < used_realizations(cfg_); ++r)
          d["a_star_realizations"].push_back(realization_a_star(cfg_, r));
      }
      d["a_star_rve"] = random_->rve;
      d["a_star_rve_stderr"] = random_->stderr;
      d["ergodic"] = random_->ergodic;
    }
    return d;
  }

  // The functional net is a function f(U, U_x, U_xx) of the derivative features; the effective
  // PDE's rate a*(U) U_xx + a*'(U) U_x^2 + c*(U) U_x + r*(U) makes a*(u) its slope in U_xx and
  // c*(u) its slope in U_x (central differences, exact for that form: U_x^2 is even) and r*(u) its
  // value at U_x = U_xx = 0. The net is probed at the middle node of quadratic macro states, whose
  // 3- and 5-point differences are exactly (u, p, q), over the effective medium's curve points,
  // with steps of the size of the data's derivatives (dq = 1, dp = 0.1). Its errors are scored over
  // u_range and over the training states' range of U (with_data_range), beyond which it extrapolates.
  json model_views(learn::CoarseModelImpl& model, const torch::Tensor& Udata) const override {
    if (!effective_ || model.kind() != "functional") return json::object();
    torch::NoGradGuard no_grad;
    const json truth = with_data_range(effective_curves_json(*effective_), Udata);
    const int M = cfg_.macro_nodes, i = M / 2;
    const double dq = 1.0, dp = 0.1;
    const std::vector<std::pair<double, double>> probes = {{0, 0}, {0, dq}, {0, -dq}, {dp, 0}, {-dp, 0}};
    const auto n = static_cast<int64_t>(truth["u"].size());
    std::vector<double> U(static_cast<std::size_t>(n) * probes.size() * M);
    for (int64_t k = 0; k < n; ++k)
      for (std::size_t s = 0; s < probes.size(); ++s)
        for (int j = 0; j < M; ++j) {
          const auto [p, q] = probes[s];
          const double z = (j - i) * dX_;
          U[(k * probes.size() + s) * M + j] = truth["u"][k].get<double>() + p * z + 0.5 * q * z * z;
        }
    const auto param = model.parameters().front();
    const auto X = torch::tensor(U, torch::kFloat64).reshape({-1, M}).to(param.device(), param.scalar_type());
    const auto f = model.forward(X).index({Slice(), i}).to(torch::kCPU, torch::kFloat64).reshape({n, 5});
    const auto at = [&](int64_t k, int s) { return f[k][s].item<double>(); };
    json out = {{"u", truth["u"]}};
    for (int64_t k = 0; k < n; ++k) {
      out["a_star"].push_back((at(k, 1) - at(k, 2)) / (2 * dq));
      out["drift"].push_back((at(k, 3) - at(k, 4)) / (2 * dp));
      out["reaction"].push_back(at(k, 0));
    }
    add_curve_errors(out, truth);
    return {{"effective", out}};
  }

 private:
  // a*(u), c*(u), r*(u) as the regression's equation has them (the coefficients of the terms
  // U^k*U_xx, U^k*U_x and U^k up to the library's degree, with their position factors at x on a
  // graded medium), on the u points of the cell problems' curves `truth`, with their errors.
  json regression_curves(const learn::RegressionResult& reg, const json& truth, double x = 0.0) const {
    const int d = reg.u_degree;
    return patchlearn::regression_curves(reg, truth,
                                         {{"a_star", learn::u_series("U_xx", d)},
                                          {"drift", learn::u_series("U_x", d)},
                                          {"reaction", learn::u_series("1", d + 1)}},
                                         x);
  }

  const Config1D& cfg_;
  /// The training patches' pieces of a random medium (patch_a_stars), made once on first use: the
  /// patch scales and the data check both read them, and each making builds every trajectory's
  /// medium.
  const std::vector<double>& pieces() const {
    if (!pieces_) pieces_ = patch_a_stars(cfg_);
    return *pieces_;
  }

  double a_star_;
  std::optional<EffectiveMedium1D> effective_;
  mutable std::optional<std::vector<double>> pieces_;
  std::optional<GradedCoefficients> graded_;  ///< the local coefficients at the interior nodes (a graded medium)
  double dX_;
  RolloutParams rollout_;
  learn::PositionBasis basis_;
  /// A random medium's representative-volume estimate of a* (cell.window), its standard error
  /// (window-to-window scatter / sqrt(windows): the uncertainty of the realizations' a* about the
  /// distribution's), and the distribution's exact 1/E[1/a].
  struct RandomTruth {
    double rve, stderr, ergodic;
  };
  std::optional<RandomTruth> random_;
};

}  // namespace

std::unique_ptr<LearningTask> learning_task_1d(const Config1D& cfg, double a_star,
                                               std::optional<EffectiveMedium1D> effective) {
  return std::make_unique<LearningTask1D>(cfg, a_star, std::move(effective));
}

// --- the problem

Report Problem1D::cell(const CellQuery& query) const {
  const std::optional<double>& u = query.u;
  if (query.y) throw InputError("--y: a 1D medium has no y; run cell without it");
  if (query.x && !cfg_.field->graded())
    throw InputError("--x: the medium is not graded (medium.expression does not use x); run cell without it");
  // key: the first term the linear model lacks (drift, reaction or a u in a); u_key: the first
  // that depends on u, which only --u can fix. A drift or reaction of y (and x) alone has the same
  // period means at every u.
  const std::string key = cfg_.field->nonlinear_key(), u_key = cfg_.field->u_key();
  if (!u && !u_key.empty()) throw InputError("the medium depends on u (" + u_key + "): give the value with --u VALUE");
  const std::string at_u_text = u ? fmt::format("u = {:.15g}", *u) : std::string("every u");
  const auto with_u = [&](json j) {
    if (u) j["u"] = *u;
    return j;
  };
  if (cfg_.field->graded()) {
    if (u && key.empty())
      throw InputError("--u: this graded medium is linear (no u, drift or reaction); run cell without it");
    const double at_u = u.value_or(0.0);
    if (query.x) {
      const double x = *query.x;
      const auto e = local_effective_coefficients(*cfg_.field, x, cell_points_per_period(cfg_), at_u);
      if (!key.empty())
        return {with_u({{"x", x}, {"a_star", e.a_star}, {"drift", e.drift}, {"reaction", e.reaction}}),
                {"medium: " + cfg_.field->description(),
                 fmt::format("at x = {:.15g}, {} (cell problem of the local period): a* = {:.15g}, drift c* "
                             "= {:.15g}, reaction r* = {:.15g}",
                             x, at_u_text, e.a_star, e.drift, e.reaction),
                 "U_t = (a*(x, U) U_x)_x + c*(x, U) U_x + r*(x, U)"}};
      const double hm = cfg_.field->at_position(x).harmonic_mean();
      return {{{"x", x}, {"a_star", e.a_star}, {"harmonic_mean", hm}},
              {"medium: " + cfg_.field->description(),
               fmt::format("at x = {:.15g}: a* (cell problem of the local period) = {:.15g}", x, e.a_star),
               fmt::format("local harmonic mean 1/<1/a(x, .)> = {:.15g}", hm)}};
    }
    const auto g = graded_coefficients(cfg_, macro_positions(cfg_, false));
    std::vector<double> a, slope, drift, reaction;
    for (std::size_t i = 0; i < g.x.size(); ++i) {
      const auto e = g.at(i, at_u);
      a.push_back(e.a_star);
      drift.push_back(e.drift);
      reaction.push_back(e.reaction);
      slope.push_back(g.slope.value(static_cast<index_t>(i), at_u));
    }
    Report r{
        {{"x", g.x}, {"a_star", a}, {"slope", slope}},
        {"medium: " + cfg_.field->description(),
         !key.empty() ? fmt::format("the local a*(x, u), a*' = d a*/dx, c*(x, u), r*(x, u) at the macro nodes and {} "
                                    "(cell problems):",
                                    at_u_text)
                      : "the local a*(x) at the macro nodes (cell problems):"}};
    if (!key.empty()) r.json = with_u(r.json), r.json["drift"] = drift, r.json["reaction"] = reaction;
    for (std::size_t i = 0; i < g.x.size(); ++i)
      r.lines.push_back(
          fmt::format("  x = {:<10.6g} a* = {:.12g}   a*' = {:.6g}{}", g.x[i], a[i], slope[i],
                      !key.empty() ? fmt::format("   c* = {:.12g}   r* = {:.12g}", drift[i], reaction[i]) : ""));
    return r;
  }
  if (cfg_.random) {
    if (u && key.empty())
      throw InputError(
          "--u: this random medium is linear (no conductance factor, drift or reaction); run cell without it");
    return random_cell(key.empty() ? std::nullopt : std::optional<double>(u.value_or(0.0)));
  }
  if (!key.empty()) {
    const auto e = effective_coefficients(cfg_, u.value_or(0.0));
    return {with_u({{"a_star", e.a_star}, {"drift", e.drift}, {"reaction", e.reaction}}),
            {"medium: " + cfg_.field->description(),
             fmt::format("at {}: a* = {:.15g}, drift c* = {:.15g}, reaction r* = {:.15g}", at_u_text, e.a_star, e.drift,
                         e.reaction),
             "U_t = (a*(U) U_x)_x + c*(U) U_x + r*(U)"}};
  }
  const double a = cell_a_star(cfg_), hm = cfg_.field->harmonic_mean();
  return {{{"a_star", a}, {"harmonic_mean", hm}},
          {"medium: " + cfg_.field->description(), fmt::format("a* (cell problem on the micro lattice) = {:.15g}", a),
           fmt::format("harmonic mean 1/<1/a> = {:.15g}", hm)}};
}

Report Problem1D::random_cell(std::optional<double> u) const {
  // The representative-volume estimates at three window sizes, the whole realization's cell
  // problem (what the truth uses) and the distribution's exact ergodic value; of a nonlinear medium
  // all at the value u, with the drift and reaction of the whole realization there.
  const auto rve = representative_volumes(cfg_, u);
  const RveEstimate& big = rve.back();
  const RveEstimate& half = rve[1];
  const EffectiveCoefficients1D at_u = u ? effective_coefficients(cfg_, *u) : EffectiveCoefficients1D{};
  const double g = u ? cfg_.field->factor(*u) : 1.0;
  const double whole = u ? at_u.a_star : realization_a_star(cfg_, 0), ergodic = cfg_.random->ergodic_a_star() * g;
  std::vector<double> wholes{whole};
  const auto v = cell_volume(cfg_);
  for (int r = 1; r < cfg_.realizations; ++r)
    wholes.push_back(u ? volume_coefficients(realization_field(cfg_, r), v.bonds, v.dy, *u).a_star
                       : realization_a_star(cfg_, r));
  const bool converged = estimates_agree(big.a_star, half.a_star);
  Report r{{{"a_star", big.a_star.mean},
            {"a_star_stderr", big.a_star.standard_error},
            {"ergodic", ergodic},
            {"a_star_realization", whole},
            {"a_star_realizations", wholes},
            {"harmonic_mean", u ? cfg_.field->linear_part().harmonic_mean() * g : cfg_.field->harmonic_mean()},
            {"representative_volume", "windows"},
            {"converged", converged}},
           {"medium: " + cfg_.field->description() +
                (cfg_.realizations > 1 ? fmt::format(" (the first of {} realizations)", cfg_.realizations) : ""),
            fmt::format("representative volumes{}: disjoint windows of the {}, each cell problem closed "
                        "periodically:",
                        u ? fmt::format(" at u = {:.15g}", *u) : std::string(),
                        cfg_.realizations > 1 ? "realizations" : "realization")}};
  if (u) {
    r.json["u"] = *u;
    r.json["drift"] = at_u.drift;
    r.json["reaction"] = at_u.reaction;
  }
  for (const auto& e : rve) {
    r.json["windows"].push_back({{"window", e.window},
                                 {"samples", e.samples},
                                 {"a_star", e.a_star.mean},
                                 {"a_star_stderr", e.a_star.standard_error},
                                 {"scatter", e.a_star.scatter}});
    r.lines.push_back(
        fmt::format("  window {:>8} periods x {:>6} samples: a* = {:.10g} +- {:.3g} (window-to-window scatter {:.3g})",
                    e.window, e.samples, e.a_star.mean, e.a_star.standard_error, e.a_star.scatter));
  }
  r.lines.push_back(fmt::format("a* = {:.10g} +- {:.3g} (windows of {} periods; {})", big.a_star.mean,
                                big.a_star.standard_error, big.window,
                                converged ? "converged: the two largest windows agree within their standard errors"
                                          : "not converged: the two largest windows differ; use a larger cell.window"));
  r.lines.push_back(fmt::format("ergodic {} of the distribution = {:.10g} ({:+.2f} standard errors)",
                                u ? "g(u) / E[1/a]" : "1/E[1/a]", ergodic,
                                (ergodic - big.a_star.mean) / big.a_star.standard_error));
  r.lines.push_back(fmt::format("the whole realization's cell problem (the truth's a*) = {:.10g}", whole));
  if (u)
    r.lines.push_back(
        fmt::format("the whole realization's drift c* = {:.15g}, reaction r* = {:.15g}; U_t = (a*(U) "
                    "U_x)_x + c*(U) U_x + r*(U)",
                    at_u.drift, at_u.reaction));
  if (cfg_.realizations > 1) {
    std::string all;
    for (const double v : wholes) all += (all.empty() ? "" : ", ") + fmt::format("{:.6g}", v);
    r.lines.back() = fmt::format(
        "the {} realizations' cell problems (their trajectories' truth): {}; windows from "
        "every realization",
        cfg_.realizations, all);
    // What a model learned from all of them holds (cell_a_star, patch_cover): the realizations in series.
    r.json["a_star_ensemble"] = in_series({wholes.begin(), wholes.begin() + used_realizations(cfg_)});
    r.lines.push_back(
        fmt::format("their ensemble, the realizations in series (the learned models' truth): a* = {:.10g}",
                    r.json["a_star_ensemble"].get<double>()));
  }
  if (const double c = cfg_.random->correlation; c > 0 && big.window < 10 * c) {
    // Disjoint windows of a correlated field are independent only when much longer than its
    // correlation length: s / sqrt(n) then understates the standard error.
    r.json["windows_correlated"] = true;
    r.lines.push_back(
        fmt::format("note: windows of {} periods are shorter than 10 correlation lengths ({} periods): "
                    "their estimates are correlated and the standard error is too small; raise "
                    "cell.window",
                    big.window, c));
  }
  if (const auto cover = patch_cover(cfg_)) {
    r.json["patch_cover"] = cover_json(*cover);
    r.lines.push_back(cover_line(*cover));
  }
  return r;
}

Report Problem1D::simulation_report(const Simulation& s, Device device) const {
  const auto& sim = dynamic_cast<const Simulation1D&>(s);
  Report r;
  r.json = common_simulation_json(sim, name_of(cfg_.scheme), device);
  r.lines = {
      fmt::format("{} trajectories x {} times x {} nodes", sim.data.trajectories, sim.data.times, sim.data.nodes)};
  if (sim.effective) {
    r.json["effective"] = effective_curves_json(*sim.effective);
    r.lines.push_back(fmt::format("wall {:.3f} s, {:.4g} micro point-steps, rMSE vs the effective PDE {:.3e}",
                                  sim.wall_s, sim.data.point_steps, sim.rmse_vs_homogenized));
  } else if (cfg_.field->graded()) {
    if (!sim.a_star_x.empty()) r.json["a_star_x"] = sim.a_star_x;
    r.lines.push_back(
        fmt::format("wall {:.3f} s, {:.4g} micro point-steps, rMSE vs the effective PDE of the local {} {:.3e}",
                    sim.wall_s, sim.data.point_steps, sim.a_star_x.empty() ? "a*(x, u), c*(x, u), r*(x, u)" : "a*(x)",
                    sim.rmse_vs_homogenized));
  } else {
    r.json["a_star_cell"] = sim.a_star;
    if (!sim.a_star_realizations.empty()) r.json["a_star_realizations"] = sim.a_star_realizations;
    r.lines.push_back(
        fmt::format("wall {:.3f} s, {:.4g} micro point-steps, rMSE vs homogenized {:.3e} (a* = {:.12g}{})", sim.wall_s,
                    sim.data.point_steps, sim.rmse_vs_homogenized, sim.a_star,
                    sim.a_star_realizations.empty()
                        ? ""
                        : ", the realizations' ensemble; each trajectory against its own realization's"));
    if (const auto cover = patch_cover(cfg_)) {
      r.json["patch_cover"] = cover_json(*cover);
      r.lines.insert(r.lines.end() - 1, cover_line(*cover));  // the wall line stays last: `run` prints it
    }
  }
  if (sim.full_resolution_trajectories > 0) {
    r.json["rmse_vs_full_resolution"] = sim.rmse_vs_full_resolution;
    r.json["full_resolution_trajectories"] = sim.full_resolution_trajectories;
    r.json["rmse_vs_homogenized_compared"] = sim.rmse_vs_homogenized_compared;
    r.json["full_resolution_vs_homogenized"] = sim.full_resolution_vs_homogenized;
    r.lines.back() += fmt::format(
        "; on the first {} trajectories: vs full resolution {:.3e}, vs the effective PDE {:.3e}, full "
        "resolution vs the effective PDE {:.3e}",
        sim.full_resolution_trajectories, sim.rmse_vs_full_resolution, sim.rmse_vs_homogenized_compared,
        sim.full_resolution_vs_homogenized);
  }
  if (cfg_.scheme == Scheme1D::PatchDynamics)  // the patch parameters the data were made with ("auto" resolved)
    r.json["patch"] = {{"method", cfg_.burst_method},
                       {"burst", cfg_.burst},
                       {"substeps", cfg_.substeps},
                       {"heal_substeps", cfg_.heal_substeps},
                       {"estimate_degree", cfg_.patch_setting().params.degree_on(!cfg_.field->nonlinear_key().empty())},
                       {"buffer_width", cfg_.buffer_width}};
  return r;
}

std::unique_ptr<LearningTask> Problem1D::learning_task(const Simulation* sim) const {
  if (cfg_.field->graded()) return learning_task_1d(cfg_, 0.0);  // its a*(x, u) comes from the cell problems
  if (!cfg_.field->nonlinear_key().empty())
    return learning_task_1d(cfg_, 0.0,
                            sim ? *dynamic_cast<const Simulation1D&>(*sim).effective : effective_medium(cfg_));
  return learning_task_1d(cfg_, sim ? dynamic_cast<const Simulation1D&>(*sim).a_star : cell_a_star(cfg_));
}

LearningData Problem1D::load_data(const std::string& path, torch::Device device) const {
  return load_learning_data(path, cfg_, device);
}

void check_model(const Config1D& cfg, const learn::CoarseModelImpl& model, const std::string& path) {
  if (model.grid() != 0 || model.nodes() != cfg.macro_nodes)
    throw InputError(fmt::format(
        "'{}' was trained on {} but the config has domain.macro_nodes = {}", path,
        model.grid() ? fmt::format("{0} x {0} patches", model.grid()) : fmt::format("{} macro nodes", model.nodes()),
        cfg.macro_nodes));
}

Report Problem1D::learning_report(const json& summary) const {
  if (summary.contains("regression_graded")) {
    const json& g = summary["regression_graded"];
    return {{{"regression_graded", g}},
            {fmt::format("regression vs cell problems: a*(x) max relative error {:.2e} at the interior macro nodes",
                         g["max_relative_error"].get<double>())}};
  }
  for (const char* key : {"regression_effective", "regression_graded_effective"}) {
    if (!summary.contains(key)) continue;
    const json& c = summary[key];
    const bool graded = std::string(key) == "regression_graded_effective";
    return with_patch_scales({{{key, c}},
                              {fmt::format("regression vs cell problems{}: {}", graded ? " at the interior nodes" : "",
                                           effective_curve_errors(c, graded))}},
                             summary);
  }
  Report r{{{"a_star_cell", summary["a_star_cell"]}, {"a_star_regression", summary["a_star_regression"]}},
           {fmt::format("a* cell problem {:.10g}, regression {:.10g}", summary["a_star_cell"].get<double>(),
                        summary["a_star_regression"].get<double>())}};
  if (summary.contains("a_star_regression_standard_errors")) {
    // A random medium: the regression's a* against the distribution's exact 1/E[1/a], in the
    // representative volumes' standard error.
    for (const char* k : {"ergodic", "a_star_rve", "a_star_rve_stderr", "a_star_regression_standard_errors"})
      r.json[k] = summary[k];
    r.lines.push_back(
        fmt::format("a* regression - ergodic 1/E[1/a] ({:.10g}): {:+.2f} standard errors ({:.3g}: the scatter of the "
                    "representative volumes' a* ({:.10g}) / sqrt(windows), as `cell` gives it)",
                    summary["ergodic"].get<double>(), summary["a_star_regression_standard_errors"].get<double>(),
                    summary["a_star_rve_stderr"].get<double>(), summary["a_star_rve"].get<double>()));
  }
  return with_patch_scales(r, summary);
}

}  // namespace patchlearn
