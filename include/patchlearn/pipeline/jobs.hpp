#pragma once
// The jobs behind the commands, written once for every problem (pipeline/problem.hpp): each takes
// a problem, where to write and on which device, and an observer for its progress; each returns a
// Report (the JSON object `--json` prints, and the lines for people) and prints nothing.
#include <memory>
#include <optional>
#include <string>

#include "patchlearn/core/device.hpp"
#include "patchlearn/pipeline/observer.hpp"
#include "patchlearn/pipeline/problem.hpp"

namespace patchlearn {

struct JobOptions {
  std::string out = "out";  ///< the run directory
  std::string device;       ///< auto | cpu | cuda; empty: the config's run.device
  bool resume = false;      ///< continue from the committed chunks and the last training checkpoint
};

/// The device a job runs on: the request, or the config's run.device.
Device job_device(const Problem& problem, const JobOptions& options);

/// `cell`: the effective coefficients from the cell problem (at `u` for a u-dependent medium, at
/// `x` for a graded one).
Report cell(const Problem& problem, const CellQuery& query = {});
/// `validate`: every check of the config (the bench sweep's too); the warnings it found.
Report validate(const Problem& problem);
/// `simulate`: coarse data into OUT/data.h5 (resumable chunk by chunk).
Report simulate(const Problem& problem, const JobOptions& options, Observer& observer);
/// `train`: the configured networks, the regression and the evaluation on a saved data.h5.
Report train(Problem& problem, const std::string& data_path, const JobOptions& options, Observer& observer);
/// `rollout`: a saved model rolled out from the config's unseen initial conditions and scored.
Report rollout(const Problem& problem, const std::string& model_path, const JobOptions& options);
/// What `train` and `run` report of a learning summary: the problem's coefficients, the equation,
/// each network's headline scores and the discovered equation's, with its "coefficients" map.
Report learning_report(const Problem& problem, const nlohmann::json& summary);
/// `run`: simulate, train, regression, rollout, evaluation and the report, into OUT.
Report run(Problem& problem, const JobOptions& options, Observer& observer);
/// `bench`: the cost of patch against full-resolution data over the config's sweep, OUT/bench.json;
/// while it runs, OUT/bench.jsonl holds each size measured so far as one JSON line.
Report bench(const Problem& problem, const JobOptions& options, Observer& observer);
/// `report`: figures and DIR/report.md from a run directory (tools/report.py, its output passed to
/// the observer); RunError when the script fails, and then no report is left in DIR.
void make_report(const std::string& dir, Observer& observer);
/// The Python make_report runs the script with: PATCHLEARN_PYTHON where set, else Debian's
/// /usr/bin/python3 (whose site-packages hold python3-matplotlib and python3-h5py), else python3.
std::string report_python();

}  // namespace patchlearn
