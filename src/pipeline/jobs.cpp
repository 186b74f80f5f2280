#include "patchlearn/pipeline/jobs.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "patchlearn/core/durable.hpp"
#include "patchlearn/core/error.hpp"
#include "patchlearn/core/process.hpp"
#include "patchlearn/core/timer.hpp"
#include "patchlearn/io/json_file.hpp"
#include "patchlearn/learn/tensors.hpp"
#include "patchlearn/pipeline/ranks.hpp"
#include "report_py.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace patchlearn {
namespace {

// report.md and figures/ of an earlier run: removed when a job starts writing into DIR and before
// the script runs, so that a failed or interrupted job never leaves them beside its results.
void discard_report(const std::string& dir) {
  std::error_code ec;
  fs::remove(fs::path(dir) / "report.md", ec);
  remove_tree_quietly((fs::path(dir) / "figures").string());
}

// How a job that writes into `out` starts: `plain` (train), `checked` (bench: the simulation
// checks, on rank 0 alone) or `divided` (simulate, run: run by every rank, each making the checks,
// while rank 0 makes, locks and clears the folder and the others wait).
enum class Start { plain, checked, divided };

// The common start of a job that writes into `out`: the config's warnings (and those of the
// simulation checks), the device it takes, the folder.
Device prepare_job(const Problem& problem, const JobOptions& o, Observer& observer, Start kind = Start::plain) {
  learn::match_torch_threads();
  std::vector<std::string> more;
  Device dev = Device::CPU;
  const auto start = [&] {
    if (kind != Start::plain) more = problem.check_simulable();
    dev = job_device(problem, o);
    if (rank() != 0) return;
    std::error_code ec;
    fs::create_directories(o.out, ec);
    if (ec || !fs::is_directory(o.out))
      throw InputError("cannot create output directory '" + o.out + "'" +
                       (ec ? ": " + ec.message() : ": a file of that name exists"));
    lock_output_directory(o.out);
    discard_report(o.out);
  };
  if (kind == Start::divided)
    together(start);
  else
    start();
  for (const auto& w : problem.shared().warnings) observer.warning(w);
  for (const auto& w : more) observer.warning(w);
  for (const auto& n : problem.shared().notes) observer.info(n);
  const int ranks = kind == Start::divided ? rank_count() : 1;
  observer.info("device: " + device_description(dev) + (ranks > 1 ? fmt::format(" on each of {} ranks", ranks) : ""));
  return dev;
}

std::string data_path(const JobOptions& o) { return (fs::path(o.out) / "data.h5").string(); }

// Simulate into OUT/data.h5, chunk by chunk; on ranks other than 0, nullptr once their share of
// the chunks is committed.
std::shared_ptr<Simulation> simulate_into(const Problem& problem, const JobOptions& o, Device dev, Observer& observer) {
  const std::string path = data_path(o);
  const ChunkedRun chunks{path + ".chunks", o.resume, problem.shared().chunk_trajectories, problem.shared().chunk_least,
                          problem.shared().chunk_floor};
  std::shared_ptr<Simulation> sim;
  try {
    sim = problem.simulate(dev, &chunks, observer);
  } catch (const ShareCommitted&) {
    return nullptr;
  }
  problem.write_data(path, *sim, dev);
  remove_chunks(chunks);
  return sim;
}

// tools/report.py: $PATCHLEARN_TOOLS_DIR/report.py when that is set (a script being edited), else
// the copy built into the program (so an installed, copied or moved program has the script it was
// built with), written to a temporary file that the ReportScript removes.
class ReportScript {
 public:
  ReportScript();
  ReportScript(const ReportScript&) = delete;
  ReportScript& operator=(const ReportScript&) = delete;
  ~ReportScript() {
    std::error_code ec;
    if (temporary_) fs::remove(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool temporary_ = false;
};

ReportScript::ReportScript() {
  if (const char* env = std::getenv("PATCHLEARN_TOOLS_DIR")) {
    path_ = (fs::path(env) / "report.py").string();
    if (!fs::exists(path_)) throw InputError("PATCHLEARN_TOOLS_DIR has no report.py: '" + path_ + "'");
    return;
  }
  path_ = (fs::temp_directory_path() / ("patchlearn-report-" + std::to_string(getpid()) + ".py")).string();
  temporary_ = true;
  std::ofstream out(path_, std::ios::binary);
  out.write(reinterpret_cast<const char*>(kReportPy), sizeof kReportPy);
  if (!out.flush()) throw RunError("cannot write the report script to '" + path_ + "'");
}

/// The problem's report of its data, with the ranks: their chunks' simulation times add up across
/// them (wall_s), so the line says so where there are several.
Report simulation_report(const Problem& problem, const Simulation& sim, Device dev) {
  Report r = problem.simulation_report(sim, dev);
  const int ranks = rank_count();
  r.json["ranks"] = ranks;
  std::string& line = r.lines.back();
  if (ranks > 1 && line.rfind("wall ", 0) == 0)
    line.replace(0, 5, fmt::format("simulation time summed over {} ranks ", ranks));
  return r;
}

}  // namespace

Report learning_report(const Problem& problem, const json& summary) {
  Report r = problem.learning_report(summary);
  if (summary.contains("data_rhs_rmse")) {
    r.json["data_rhs_rmse"] = summary["data_rhs_rmse"];
    r.json["data_rhs_unresolved"] = summary.value("data_rhs_unresolved", false);
    // Said again where the results are, since the training's warning has scrolled away by now.
    if (r.json["data_rhs_unresolved"].get<bool>())
      r.lines.push_back(fmt::format(
          "data {:.3e} off {} (eq. 24): the macro grid does not resolve them, and every model below fits the "
          "difference",
          summary["data_rhs_rmse"].get<double>(), summary.value("data_rhs_reference", "the exact coarse operator's")));
  }
  r.json["equation"] = summary["regression"]["equation"];
  r.lines.push_back(summary["regression"]["equation"].get<std::string>());
  for (const auto& k : problem.shared().learn.networks) {
    r.json[k] = headline_scores(summary[k]);
    r.lines.push_back(score_line(k, summary[k]));
  }
  // The discovered equation, scored like the networks, with its coefficient of every term.
  r.json["regression"] = headline_scores(summary["regression"]);
  r.json["regression"]["coefficients"] = summary["regression"]["coefficients"];
  r.lines.push_back(score_line("regression", summary["regression"]));
  return r;
}

std::string report_python() {
  if (const char* env = std::getenv("PATCHLEARN_PYTHON")) return env;
  return fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

void make_report(const std::string& dir, Observer& observer) {
  if (rank() != 0) return;
  if (!fs::is_directory(dir)) throw InputError("'" + dir + "' is not a run directory");
  // A report is made whole or not at all: the previous one goes first, so that a failed script
  // never leaves an old report beside new results.
  discard_report(dir);
  const std::string python = report_python();
  // A child that dies with patchlearn (core/process.hpp); its errors go to stderr.
  const ReportScript script;
  const int rc = run_child({python, script.path(), dir}, true);
  if (rc == 127)
    throw RunError("cannot run the report script with '" + python + "' (set PATCHLEARN_PYTHON); the results are in " +
                   dir + " without figures");
  if (rc != 0) {
    discard_report(dir);
    throw RunError(
        fmt::format("the report script failed (exit {}); the results are in {} without figures (patchlearn "
                    "report {} retries)",
                    rc, dir, dir));
  }
  observer.info("report: " + (fs::path(dir) / "report.md").string());
}

Device job_device(const Problem& problem, const JobOptions& o) {
  return resolve_device(o.device.empty() ? problem.shared().device : o.device);
}

Report cell(const Problem& problem, const CellQuery& query) { return problem.cell(query); }

Report validate(const Problem& problem) {
  auto warnings = problem.shared().warnings;
  // A bad [bench] key makes the config invalid; a medium that bench cannot sweep (a random or a
  // modulated lattice: tables of one size) does not, since every other command runs it.
  try {
    problem.check_bench();
  } catch (const ConfigError& e) {
    if (e.key.rfind("bench.", 0) == 0) throw;
    warnings.push_back(std::string("bench is not available: ") + e.what());
  }
  for (auto& w : problem.check_simulable()) warnings.push_back(std::move(w));
  Report r;
  r.json = {{"valid", true}, {"warnings", warnings}, {"notes", problem.shared().notes}};
  for (const auto& w : warnings) r.lines.push_back("warning: " + w);
  r.lines.insert(r.lines.end(), problem.shared().notes.begin(), problem.shared().notes.end());
  r.lines.push_back(problem.shared().origin + ": valid");
  return r;
}

Report simulate(const Problem& problem, const JobOptions& o, Observer& observer) {
  const Device dev = prepare_job(problem, o, observer, Start::divided);
  Stopwatch clock;
  const auto sim = simulate_into(problem, o, dev, observer);
  if (!sim) return {};
  Report r = simulation_report(problem, *sim, dev);
  r.json["data"] = data_path(o);
  // wall_s is the data's alone (what bench compares with full resolution); the job also computed
  // the truth (and any full_resolution.compare run) and wrote the file.
  const double elapsed = clock.seconds();
  r.json["elapsed_s"] = elapsed;
  r.lines.back() += fmt::format(" ({:.1f} s in all, with the truth and the file)", elapsed);
  r.lines.front() = "wrote " + data_path(o) + ": " + r.lines.front();
  return r;
}

Report train(Problem& problem, const std::string& data, const JobOptions& o, Observer& observer) {
  if (rank() != 0) return {};
  problem.check_learnable();
  problem.shared().learn.resume = o.resume;
  const Device dev = prepare_job(problem, o, observer);
  const auto task = problem.learning_task(nullptr);
  const auto learning = problem.load_data(data, learn::torch_device(dev));
  Stopwatch clock;
  const auto summary = train_and_evaluate(*task, learning, dev, o.out, observer);
  Report r = learning_report(problem, summary);
  r.json["wall_s"] = clock.seconds();
  r.json["device"] = device_name(dev);
  return r;
}

Report rollout(const Problem& problem, const std::string& model_path, const JobOptions& o) {
  if (rank() != 0) return {};
  problem.check_learnable();
  const Device dev = job_device(problem, o);
  const auto model = problem.load_model(model_path, learn::torch_device(dev));
  const auto result = rollout_saved_model(*problem.learning_task(nullptr), model, dev);
  Report r;
  r.json = headline_scores(result);
  r.json["kind"] = model->kind();
  r.json["rollout_rmse_per_trajectory"] = result["rollout_rmse_per_trajectory"];
  r.json["device"] = device_name(dev);
  r.lines.push_back(score_line(model->kind(), result));
  return r;
}

Report run(Problem& problem, const JobOptions& o, Observer& observer) {
  problem.check_learnable();
  problem.shared().learn.resume = o.resume;
  const Device dev = prepare_job(problem, o, observer, Start::divided);
  Stopwatch clock;
  const auto sim = simulate_into(problem, o, dev, observer);
  if (!sim) return {};  // this rank's share is done; rank 0 trains
  const Report simulated = simulation_report(problem, *sim, dev);
  const json extras = problem.run_extras(*sim);
  observer.info(simulated.lines.back());
  const auto task = problem.learning_task(sim.get());
  const auto summary = train_and_evaluate(*task, learning_data(sim, sim->data), dev, o.out, observer, [&](json& s) {
    s["simulate"] = simulated.json;
    s.update(extras);
    s["wall_s"] = clock.seconds();
  });
  const std::string summary_path = (fs::path(o.out) / "summary.json").string();
  Report r = learning_report(problem, summary);
  r.json.update(extras);
  r.json["wall_s"] = summary["wall_s"];
  r.json["device"] = device_name(dev);
  r.json["summary"] = summary_path;
  r.lines.push_back(fmt::format("wall {:.1f} s; outputs in {}", summary["wall_s"].get<double>(), o.out));
  make_report(o.out, observer);
  return r;
}

Report bench(const Problem& problem, const JobOptions& o, Observer& observer) {
  if (rank() != 0) return {};  // the sweep times one device (see README, "Several ranks")
  problem.check_bench();
  const Device dev = prepare_job(problem, o, observer, Start::checked);
  // bench.jsonl holds the sizes measured so far, one line each, until bench.json (the whole sweep
  // with its exponents) replaces it; an earlier run's files go first, so that neither can pass
  // for this run's.
  const std::string path = (fs::path(o.out) / "bench.json").string(), lines = path + "l";
  remove_quietly(path);
  remove_quietly(lines);
  Report r;
  r.json = problem.bench(dev, observer, [&](const json& entry) { append_line_durably(lines, entry.dump()); });
  write_json_file(path, r.json);
  remove_quietly(lines);
  make_report(o.out, observer);
  r.lines.push_back("wrote " + path);
  return r;
}

}  // namespace patchlearn
