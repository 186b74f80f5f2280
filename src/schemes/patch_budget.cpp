#include "patchlearn/schemes/patch_budget.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace patchlearn {
namespace {

// The narrowest patch width of an even number of fine intervals that holds the tooth and a room
// of `room` on either side.
double patch_width(const FineModel1D& model, double tooth_width, double room) {
  auto n = static_cast<index_t>(std::ceil((tooth_width + 2.0 * room) / model.dx() - 1e-9));
  n += n % 2;
  return static_cast<double>(n) * model.dx();
}

std::vector<double> estimate(const FineModel1D& model, const PatchProbe& probe, double width,
                             const PatchDynamicsParams& p) {
  const PatchGeometry& g = probe.geometry;
  PatchLayout1D layout(g.length, g.macro_nodes, model.dx(), g.tooth_width, width);
  std::vector<double> R(probe.U.size());
  // One state at a time, each with its patches on its own piece of the medium.
  for (index_t b = 0; b < probe.batch; ++b) {
    layout.first_node = probe.first_nodes.empty() ? 0 : probe.first_nodes[static_cast<std::size_t>(b)];
    const index_t at = b * g.macro_nodes;
    PatchDynamics1D(model, layout, p, Device::CPU, 1).rhs(probe.U.data() + at, R.data() + at, 1);
  }
  return R;
}

double largest_gap(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0.0;
  for (std::size_t k = 0; k < a.size(); ++k) d = std::max(d, std::abs(a[k] - b[k]));
  return d;
}

}  // namespace

PatchProbe probe_windows(const PatchGeometry& g, int lifting_degree, const std::vector<double>& U, index_t batch,
                         int count) {
  const int M = g.macro_nodes, half = lifting_degree / 2, n = 2 * half + 1;
  if (M <= n) return {g, U, batch, {}};  // the grid is no larger than a window
  // Candidate windows (state, centre node) and their first and second differences.
  struct Window {
    index_t b;
    int i;
    double d1, d2;
  };
  std::vector<Window> all;
  for (index_t b = 0; b < batch; ++b)
    for (int i = half; i < M - half; ++i) {
      const double* u = U.data() + b * M + i;
      all.push_back({b, i, std::abs(u[1] - u[-1]), std::abs(u[1] - 2.0 * u[0] + u[-1])});
    }
  std::vector<Window> chosen;
  const auto take = [&](double Window::*key, std::size_t upto) {
    std::stable_sort(all.begin(), all.end(), [&](const Window& a, const Window& b) { return a.*key > b.*key; });
    for (const auto& w : all) {
      if (chosen.size() >= upto) break;
      if (std::none_of(chosen.begin(), chosen.end(), [&](const Window& c) { return c.b == w.b && c.i == w.i; }))
        chosen.push_back(w);
    }
  };
  take(&Window::d2, static_cast<std::size_t>((count + 1) / 2));
  take(&Window::d1, static_cast<std::size_t>(count));
  PatchProbe p{{g.length * (n - 1) / (M - 1), n, g.tooth_width}, {}, static_cast<index_t>(chosen.size()), {}};
  for (const auto& w : chosen) {
    for (int k = -half; k <= half; ++k) p.U.push_back(U[w.b * M + w.i + k]);
    p.first_nodes.push_back(w.i - half);
  }
  return p;
}

PatchErrorBudget measure_patch_errors(const FineModel1D& model, const PatchProbe& probe, const PatchSetting& setting) {
  const PatchGeometry& geometry = probe.geometry;
  const PatchDynamicsParams& p = setting.params;
  // The corrector probe heals `extra` more substeps of the same length before the same estimate.
  const int extra = std::max(1, p.substeps / 2);
  PatchDynamicsParams healed = p, refined = p;
  healed.burst = p.burst * static_cast<double>(p.substeps + extra) / p.substeps;
  healed.substeps = p.substeps + extra;
  healed.heal_substeps = p.heal_substeps + extra;
  refined.substeps = 2 * p.substeps;
  refined.heal_substeps = 2 * p.heal_substeps;
  // A room of 8 diffusion lengths of the longest probe burst: the ends' disturbance reaches the
  // tooth attenuated by erfc(8 / sqrt(2)) ~ 1e-15.
  const double room = 0.5 * (setting.buffer_width - geometry.tooth_width);
  const double reach = std::sqrt(2.0 * model.field().max_value() * healed.burst);
  const double wide = patch_width(model, geometry.tooth_width, std::max(2.0 * room, 8.0 * reach));

  const auto R = estimate(model, probe, setting.buffer_width, p);
  const auto Rw = estimate(model, probe, wide, p);
  double scale = 0.0;
  for (const double r : Rw) scale = std::max(scale, std::abs(r));
  if (!(scale > 0.0)) scale = 1.0;  // steady probe states: absolute errors
  PatchErrorBudget b;
  b.buffer = largest_gap(R, Rw) / scale;
  b.corrector = largest_gap(Rw, estimate(model, probe, wide, healed)) / scale;
  b.time = largest_gap(Rw, estimate(model, probe, wide, refined)) / scale;
  return b;
}

namespace {

// The tuning for the burst method of `start` (tune_patch_parameters without the method's freedom);
// `shorter`: a corrector error shortens the burst instead of lengthening it.
TunedPatch tune_for_method(const FineModel1D& model, const PatchProbe& probe, const PatchSetting& start,
                           const PatchFreedom& free, double tolerance, double max_burst, bool shorter) {
  const PatchGeometry& geometry = probe.geometry;
  const double eps = model.epsilon(), a_hi = model.field().max_value();
  TunedPatch t{start, {}, false};
  PatchDynamicsParams& p = t.setting.params;
  if (free.burst) p.burst = std::min(max_burst, 4.0 * eps * eps / a_hi);
  if (free.substeps) p.substeps = std::max(16, free.heal_substeps ? 0 : 2 * p.heal_substeps + 2);
  if (free.heal_substeps) p.heal_substeps = p.substeps / 2;
  double room = 0.5 * (start.buffer_width - geometry.tooth_width);
  if (free.buffer_width) room = 3.0 * std::sqrt(2.0 * a_hi * p.burst);
  const double target = tolerance / 3.0;

  // Each change must shrink the error it is made for. One that did not is undone and not tried
  // again: that error is not the change's to remove. A corrector error that a longer burst does
  // not shrink is the lifted profile's own drift over the burst (a graded or u-dependent medium,
  // whose quadratic lift is not steady: its rate changes like burst x U_tt), which grows with it;
  // healing longer leaves a shorter span for the estimate, which the drift and the round-off of
  // the tooth averages (divided by the span) then dominate (unchecked, it took the span of an
  // unseen drifting and reacting medium down to 4 of 32768 substeps, error 3e-3: bench/RESULTS.md);
  // the substeps' error is first order, so a doubling that does not shrink it by a fifth has met
  // the round-off, as has a buffer error that a wider room (an erfc attenuation) does not shrink.
  struct Change {
    bool made = false, stalled = false;
    double before = 0.0;  // its error before the change
  } burst, heal, steps, widen;
  double burst_factor = 1.0;
  int heal_before = p.heal_substeps, steps_heal_before = p.heal_substeps;
  bool steps_by_total = false;  // the last doubling judged by the whole budget (the corrector stuck)
  const auto make = [](Change& c, double error) {
    c.made = true;
    c.before = error;
  };
  const auto failed = [](Change& c, double error, double shrink) {
    const bool undo = c.made && !(error < shrink * c.before);
    c.made = false;
    if (undo) c.stalled = true;
    return undo;
  };
  // 40 rounds reach any tolerance the arithmetic allows; kMaxSubsteps bounds the cost (README).
  for (int round = 0;; ++round) {
    if (free.buffer_width) t.setting.buffer_width = patch_width(model, geometry.tooth_width, room);
    t.budget = measure_patch_errors(model, probe, t.setting);
    const auto& b = t.budget;
    if (b.buffer <= target && b.corrector <= target && b.time <= target) {
      t.met = true;
      break;
    }
    if (round == 39) break;
    bool undone = false;
    if (failed(burst, b.corrector, 1.0)) {
      p.burst /= burst_factor;
      room /= std::sqrt(burst_factor);
      undone = true;
    }
    const bool healed_longer = heal.made;
    if (failed(heal, b.corrector, 1.0)) {
      p.heal_substeps = heal_before;
      undone = true;
    } else if (healed_longer && shorter) {
      burst.stalled = false;  // the longer healing may let a shorter burst form its corrector
    }
    if (failed(steps, steps_by_total ? b.total() : b.time, 0.8)) {
      p.substeps /= 2;
      p.heal_substeps = steps_heal_before;
      undone = true;
    }
    if (failed(widen, b.buffer, 0.8)) {
      room /= 1.5;
      undone = true;
    }
    if (undone) continue;  // measure the parameters that helped again
    // The corrector's residual decays exponentially with the healed time, and backward Euler's
    // damping of it also shows as a time error: the burst grows first (by half, since each step
    // multiplies the decay), and the substeps double only once the corrector has formed.
    bool changed = false;
    const bool burst_can_change = free.burst && !burst.stalled && (shorter || p.burst < max_burst);
    const bool heal_can_change = free.heal_substeps && !heal.stalled && p.heal_substeps + 2 < p.substeps;
    if (b.corrector > target) {
      if (burst_can_change) {
        burst_factor = shorter ? 2.0 / 3.0 : std::min(1.5, max_burst / p.burst);
        p.burst *= burst_factor;
        room *= std::sqrt(burst_factor);  // the same attenuation of the ends' disturbance
        make(burst, b.corrector);
        changed = true;
      } else if (heal_can_change) {
        heal_before = p.heal_substeps;
        p.heal_substeps += std::max(1, (p.substeps - p.heal_substeps - 2) / 2);
        make(heal, b.corrector);
        changed = true;
      }
    }
    // Once the burst and the healing can shrink the corrector error no further, it bounds the
    // budget: the substeps then double only while that shrinks the whole budget by a fifth (finer
    // substeps also heal better, Crank-Nicolson's most), and the room widens only while the buffer
    // error exceeds a third of the corrector's. Unchecked, the drift of an unseen Burgers-like
    // medium at eps = 5e-3 took backward Euler to 4096 substeps for a budget of 5.5e-5, where 32
    // Crank-Nicolson substeps on a shorter burst now reach 1.9e-5 (bench/RESULTS.md).
    const bool stuck = b.corrector > target && !burst_can_change && !heal_can_change;
    if (!changed && (b.time > target || stuck) && free.substeps && !steps.stalled && 2 * p.substeps <= kMaxSubsteps) {
      steps_heal_before = p.heal_substeps;
      p.substeps *= 2;
      if (free.heal_substeps) p.heal_substeps *= 2;
      steps_by_total = stuck;
      make(steps, stuck ? b.total() : b.time);
      changed = true;
    }
    if (b.buffer > (stuck ? std::max(target, b.corrector / 3.0) : target) && free.buffer_width && !widen.stalled) {
      room *= 1.5;
      make(widen, b.buffer);
      changed = true;
    }
    if (!changed) break;
  }
  return t;
}

}  // namespace

double TunedPatch::cost() const {
  return static_cast<double>(setting.params.substeps) * setting.buffer_width;  // fine point-steps per unit length
}

TunedPatch tune_patch_parameters(const FineModel1D& model, const PatchProbe& probe, const PatchSetting& start,
                                 const PatchFreedom& free, double tolerance, double max_burst) {
  // Each method free to be chosen is tuned; where a tuning that lengthens the burst misses the
  // tolerance, one that shortens it is tried too. The cheapest of those that meet the tolerance
  // is kept, else the smallest budget.
  std::vector<TunedPatch> tuned;
  std::vector<BurstMethod> methods{start.params.method};
  if (free.method) methods = {BurstMethod::BackwardEuler, BurstMethod::CrankNicolson};
  const auto tune_degree = [&](int degree) {
    for (const BurstMethod m : methods) {
      PatchSetting s = start;
      s.params.method = m;
      s.params.estimate_degree = degree;
      tuned.push_back(tune_for_method(model, probe, s, free, tolerance, max_burst, false));
      if (!tuned.back().met && free.burst)
        tuned.push_back(tune_for_method(model, probe, s, free, tolerance, max_burst, true));
    }
  };
  tune_degree(start.params.estimate_degree);
  // A nonlinear medium's estimate may also take a cubic in time where the start's degree misses.
  const bool met = std::any_of(tuned.begin(), tuned.end(), [](const TunedPatch& t) { return t.met; });
  if (free.estimate_degree && model.nonlinear() && !met && start.params.estimate_degree < kernels::kMaxEstimateDegree)
    tune_degree(kernels::kMaxEstimateDegree);
  const auto better = [](const TunedPatch& a, const TunedPatch& b) {
    if (a.met != b.met) return a.met;
    return a.met ? a.cost() < b.cost() : a.budget.total() < b.budget.total();
  };
  return *std::min_element(tuned.begin(), tuned.end(), better);
}

}  // namespace patchlearn
