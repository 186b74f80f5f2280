#pragma once
// `patchlearn bench`: the same coarse data (trajectories, macro nodes or patches, sample times)
// produced two ways, by patches and by a full-resolution simulation, each with the best solver we
// have, matched in accuracy against the homogenized truth (bench.rmse, eq. 24 over all
// trajectories and times), and what each costs: wall time, micro point-steps, peak working memory.
//
// 1D, a sweep of eps (bench.epsilon): patch dynamics against the whole fine lattice. The micro grid,
//   tooth and buffer scale with eps and the burst with eps^2, so every patch problem is the same in
//   units of the period and the patch cost stays flat, while the full lattice has L/dx ~ 1/eps
//   points. Both sides are implicit: the patch bursts in backward-Euler or Crank-Nicolson substeps,
//   the full domain in adaptive TR-BDF2 with dense output (schemes/full_resolution.hpp) at the
//   loosest tolerance of bench.full_rtol whose data meet bench.rmse (tighter ones are tried in
//   turn, until one meets it or tightening no longer halves the error; the time spent on the
//   rejected ones is reported apart, not in full_wall_s).
// 2D, a sweep of lattice sizes N (bench.lattice): gap-tooth against the full N x N lattice, with
//   the same patches (patch.ratio = patches (points - 2) / N, so eps = period L / N), both
//   propagated over each sample interval by the same exponential (Chebyshev) stepper, each side
//   at the loosest tolerance of bench.tolerance (fine.tolerance) whose data meet bench.rmse, by
//   the same ladder rule as the 1D full side.
// The cost exponents are least-squares slopes of log(wall time) against log(eps). Beside the
// measured cost each entry carries the paper's nominal accounting (one micro step per burst, the
// full lattice stepped at the burst's step; REFERENCE sec. 8).
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "patchlearn/core/device.hpp"
#include "patchlearn/io/config.hpp"
#include "patchlearn/io/config2d.hpp"
#include "patchlearn/pipeline/observer.hpp"

namespace patchlearn {

/// Hears each size's entry of the sweep as soon as it is measured (the `bench` job appends it to
/// OUT/bench.jsonl, so a sweep cut short by a crash or a time limit keeps its finished sizes).
using SweepEntryHandler = std::function<void(const nlohmann::json& entry)>;

/// The observer hears each stage (say "full resolution, eps = 1e-05") and its fraction.
nlohmann::json bench_sweep(const Config1D& cfg, Device device, Observer& observer,
                           const SweepEntryHandler& on_entry = {});
nlohmann::json bench_sweep(const Config2D& cfg, Device device, Observer& observer,
                           const SweepEntryHandler& on_entry = {});

/// The exponent p of cost ~ C x^p fitted by least squares in log-log (NaN for fewer than 2 points).
double cost_exponent(const std::vector<double>& x, const std::vector<double>& cost);

/// How every measurement of the sweep is timed: run() (one run; it returns its wall time) once,
/// and again while the runs so far took less than repeat_s in all, at most 10 times, since a run
/// of milliseconds is at the mercy of the machine's noise. The fastest wall time; `runs` counts.
double fastest_run(double repeat_s, const std::function<double()>& run, int& runs);

}  // namespace patchlearn
