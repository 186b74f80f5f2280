#include "patchlearn/schemes/patch_budget.hpp"

#include <algorithm>
#include <cmath>

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

TunedPatch tune_patch_parameters(const FineModel1D& model, const PatchProbe& probe, const PatchSetting& start,
                                 const PatchFreedom& free, double tolerance, double max_burst) {
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
  // The burst (healing) before the last lengthening (extension), and whether that has stopped helping.
  double shorter_burst = p.burst, shorter_room = room, last_corrector = 0.0;
  int shorter_heal = p.heal_substeps;
  bool lengthened = false, burst_stalled = false, healed_more = false, heal_stalled = false;
  // Each round lengthens the burst or the healing, doubles the substeps or widens the room by half;
  // 40 rounds reach any tolerance the arithmetic allows.
  for (int round = 0;; ++round) {
    if (free.buffer_width) t.setting.buffer_width = patch_width(model, geometry.tooth_width, room);
    t.budget = measure_patch_errors(model, probe, t.setting);
    const auto& b = t.budget;
    if (b.buffer <= target && b.corrector <= target && b.time <= target) {
      t.met = true;
      break;
    }
    if (round == 39) break;
    if (lengthened && b.corrector >= last_corrector) {
      // A corrector still forming decays with the healed time; an error that a longer burst does
      // not shrink is the lifted profile's own drift over the burst (a graded or u-dependent
      // medium, whose quadratic lift is not steady: its rate changes like burst x U_tt), which
      // grows with it. Keep the shorter burst, stop lengthening it, and measure it again.
      p.burst = shorter_burst;
      room = shorter_room;
      burst_stalled = true;
      lengthened = false;
      continue;
    }
    if (healed_more && b.corrector >= last_corrector) {
      // Likewise for the healing: healing longer leaves a shorter span for the estimate, which
      // the drift and the round-off of the tooth averages (divided by the span) then dominate.
      // Unchecked, extending it took the span of an unseen drifting and reacting medium down to
      // 4 of 32768 substeps, where the error had grown to 3e-3 (bench/RESULTS.md).
      p.heal_substeps = shorter_heal;
      heal_stalled = true;
      healed_more = false;
      continue;
    }
    lengthened = healed_more = false;
    last_corrector = b.corrector;
    // The corrector's residual decays exponentially with the healed time, and backward Euler's
    // damping of it also shows as a time error: the burst grows first (by half, since each step
    // multiplies the decay), and the substeps double only once the corrector has formed.
    bool changed = false;
    if (b.corrector > target) {
      if (free.burst && !burst_stalled && p.burst < max_burst) {
        const double f = std::min(1.5, max_burst / p.burst);
        shorter_burst = p.burst;
        shorter_room = room;
        p.burst *= f;
        room *= std::sqrt(f);  // the same attenuation of the ends' disturbance
        lengthened = changed = true;
      } else if (free.heal_substeps && !heal_stalled && p.heal_substeps + 2 < p.substeps) {
        shorter_heal = p.heal_substeps;
        p.heal_substeps += std::max(1, (p.substeps - p.heal_substeps - 2) / 2);
        healed_more = changed = true;
      }
    }
    if (!changed && b.time > target && free.substeps) {
      p.substeps *= 2;
      if (free.heal_substeps) p.heal_substeps *= 2;
      changed = true;
    }
    if (b.buffer > target && free.buffer_width) {
      room *= 1.5;
      changed = true;
    }
    if (!changed) break;
  }
  return t;
}

}  // namespace patchlearn
