// patchlearn: the command-line program. It parses the arguments, calls the pipeline
// (pipeline/jobs.hpp) and prints: the only layer that prints for people. Every subcommand takes
// --json and then prints exactly one JSON object as its last stdout line.
#include <CLI/CLI.hpp>
#include <omp.h>

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <thread>
#include <memory>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "bench_table.hpp"
#include "patchlearn/core/device.hpp"
#include "patchlearn/core/error.hpp"
#include "patchlearn/core/process.hpp"
#include "patchlearn/core/timer.hpp"
#include "patchlearn/pipeline/jobs.hpp"
#include "patchlearn/pipeline/ranks.hpp"

using nlohmann::json;
using namespace patchlearn;

namespace {

/// Progress on stderr: per stage, a live line with rate and ETA on a terminal, periodic lines
/// otherwise; info lines unless quiet, warnings unless only errors are wanted. A stage that reports
/// rarely (one sampling interval of a large 2D run can take minutes) still shows it is alive: a
/// heartbeat thread repeats the stage's line, with its elapsed time, whenever the period has
/// passed without one (on a terminal every second; otherwise every PATCHLEARN_PROGRESS_SECONDS,
/// default 10).
class TerminalObserver : public Observer {
 public:
  TerminalObserver(bool quiet, bool warnings)
      : quiet_(quiet), warnings_(warnings), tty_(isatty(2)), period_(tty_ ? 1.0 : line_period()) {
    if (!quiet_) heartbeat_ = std::thread([this] { beat(); });
  }
  TerminalObserver(const TerminalObserver&) = delete;
  TerminalObserver& operator=(const TerminalObserver&) = delete;
  ~TerminalObserver() override {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    if (heartbeat_.joinable()) heartbeat_.join();
  }
  void progress(const std::string& stage, double fraction) override {
    if (quiet_) return;
    const std::lock_guard<std::mutex> lock(mutex_);
    if (stage != stage_) {
      stage_ = stage;
      clock_ = Stopwatch();
      last_ = -1e9;
    }
    fraction_ = fraction;
    const double t = clock_.seconds();
    if (fraction < 1.0 && t - last_ < (tty_ ? 0.2 : period_)) return;
    line(t);
  }
  void info(const std::string& line) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (!quiet_) fmt::print(stderr, "{}\n", line);
  }
  void warning(const std::string& line) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (warnings_) fmt::print(stderr, "warning: {}\n", line);
  }

 private:
  static double line_period() {
    const char* v = std::getenv("PATCHLEARN_PROGRESS_SECONDS");
    const double s = v ? std::atof(v) : 10.0;
    return s > 0 ? s : 10.0;
  }
  // The stage's line at elapsed time t (mutex_ held).
  void line(double t) {
    last_ = t;
    const std::string eta = fraction_ > 0 ? fmt::format("{:.1f} s", t * (1.0 - fraction_) / fraction_) : "unknown";
    fmt::print(stderr, "{}{}: {:5.1f}%  {:.1f} s elapsed  ETA {}{}", tty_ ? "\r" : "", stage_, 100.0 * fraction_, t,
               eta, tty_ ? "   " : "\n");
    if (tty_ && fraction_ >= 1.0) std::fputc('\n', stderr);
  }
  void beat() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!wake_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stop_; })) {
      if (stage_.empty() || fraction_ >= 1.0) continue;
      if (const double t = clock_.seconds(); t - last_ >= period_) line(t);
    }
  }

  bool quiet_, warnings_, tty_;
  double period_;
  std::string stage_;
  double fraction_ = 0.0;
  Stopwatch clock_;
  double last_ = -1e9;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread heartbeat_;  // last: it starts once every other member is set
};

void print(const Report& r, bool as_json) {
  if (rank() != 0) return;
  if (as_json) {
    std::cout << r.json.dump() << std::endl;
  } else {
    for (const auto& l : r.lines) std::cout << l << "\n";
  }
}

// A failure: one line on stderr and, with --json, a JSON object with the error on stdout.
int fail(const std::string& kind, const std::string& what, int status, bool as_json) {
  const std::string line = one_line(what);
  std::cerr << "patchlearn: " << kind << ": " << line << "\n";
  if (as_json) std::cout << json{{"error", line}, {"kind", kind}, {"exit_status", status}}.dump() << std::endl;
  return status;
}

// A failure of this rank alone (away from the places where the ranks meet): its line, naming the
// rank when there are several, then every rank ends (the others may be waiting for this one).
int fail_alone(const std::string& kind, const std::string& what, int status, bool as_json) {
  fail(kind, rank_count() > 1 ? fmt::format("rank {}: {}", rank(), what) : what, status, as_json);
  abort_ranks(status);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();
  // Under mpirun or srun, one of several ranks (pipeline/ranks.hpp): rank 0 alone prints.
  const RankSession ranks(argc, argv);
  const bool root = rank() == 0;
  CLI::App app{"patchlearn: discover effective PDEs of heterogeneous media from patch simulations"};
  app.set_version_flag("--version", std::string(PATCHLEARN_VERSION));
  app.require_subcommand(1);
  bool as_json = false, quiet = false, resume = false;
  // --log-level: error (only errors), warning (errors and warnings), info (also progress; the
  // default). --quiet on a subcommand is --log-level warning.
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "error | warning | info (default info: progress, ETA and results on stderr)")
      ->check(CLI::IsMember({"error", "warning", "info"}));
  std::string config, out = "out", device;
  const CLI::Validator device_name_check(
      [](std::string& v) { return is_device_name(v) ? std::string() : not_a_device(v); }, "DEVICE");

  auto* cell = app.add_subcommand("cell", "solve the cell problem: the effective diffusivity a* (1D) or tensor D (2D)");
  cell->add_option("config", config, "TOML config")->required();
  cell->add_flag("--json", as_json, "print one JSON object");
  double u_value = 0.0;
  auto* u_option = cell->add_option("--u", u_value, "the value of u at which a u-dependent medium is homogenized");
  double x_value = 0.0;
  auto* x_option = cell->add_option("--x", x_value, "the macro position at which a graded medium is homogenized");
  double y_value = 0.0;
  auto* y_option =
      cell->add_option("--y", y_value, "with --x, the macro position at which a modulated 2D lattice is homogenized");

  auto* validate = app.add_subcommand("validate", "check a config and report every problem");
  validate->add_option("config", config, "TOML config")->required();
  validate->add_flag("--json", as_json, "print one JSON object");

  auto* sim = app.add_subcommand("simulate", "generate coarse data with the configured scheme into DIR/data.h5");
  sim->add_option("config", config, "TOML config")->required();
  sim->add_option("--out", out, "output directory")->capture_default_str();
  sim->add_option("--device", device, "auto | cpu | cuda | cuda:N (default: the config's run.device)")
      ->check(device_name_check);
  sim->add_flag("--json", as_json, "print one JSON object as the last line");
  sim->add_flag("--quiet", quiet, "no progress output");
  sim->add_flag("--resume", resume,
                "continue an interrupted run from the trajectories it committed (DIR/data.h5.chunks)");

  std::string data_path, model_path;
  auto* train = app.add_subcommand("train", "train the networks on DIR/data.h5, with regression and evaluation");
  train->add_option("config", config, "TOML config")->required();
  train->add_option("--data", data_path, "data.h5 written by simulate")->required();
  train->add_option("--out", out, "output directory (models/, summary.json)")->capture_default_str();
  train->add_option("--device", device, "auto | cpu | cuda | cuda:N")->check(device_name_check);
  train->add_flag("--json", as_json, "print one JSON object as the last line");
  train->add_flag("--quiet", quiet, "no progress output");
  train->add_flag("--resume", resume, "continue from the last training checkpoint (learn.checkpoint_every)");

  auto* roll = app.add_subcommand("rollout", "roll a trained model out from the config's unseen initial conditions");
  roll->add_option("config", config, "TOML config")->required();
  roll->add_option("--model", model_path, "checkpoint DIR/models/NAME.pt")->required();
  roll->add_option("--device", device, "auto | cpu | cuda | cuda:N")->check(device_name_check);
  roll->add_flag("--json", as_json, "print one JSON object");

  auto* run =
      app.add_subcommand("run", "the whole pipeline: simulate, train both networks, regression, rollout, evaluation");
  run->add_option("config", config, "TOML config (default: the embedded quick 1D case)");
  run->add_option("--out", out, "output directory")->capture_default_str();
  run->add_option("--device", device, "auto | cpu | cuda | cuda:N")->check(device_name_check);
  run->add_flag("--json", as_json, "print one JSON object as the last line");
  run->add_flag("--quiet", quiet, "no progress output");
  run->add_flag(
      "--resume", resume,
      "continue an interrupted run: the simulation's committed trajectories, then training from its last checkpoint");

  std::string report_dir;
  auto* report = app.add_subcommand("report", "figures (PNG) and report.md for a run directory");
  report->add_option("dir", report_dir, "directory with data.h5 (and rollout.h5, summary.json)")->required();

  auto* bench = app.add_subcommand(
      "bench", "cost of patch data against full-resolution data of matched accuracy, over the config's [bench] sweep");
  bench->add_option("config", config, "TOML config with a [bench] section (configs/bench1d.toml, configs/bench2d.toml)")
      ->required();
  bench->add_option("--out", out, "output directory (bench.json, figures/fig_cost_scaling.png)")->capture_default_str();
  bench->add_option("--device", device, "auto | cpu | cuda | cuda:N")->check(device_name_check);
  bench->add_flag("--json", as_json, "print one JSON object as the last line");
  bench->add_flag("--quiet", quiet, "no progress output");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    if (root) std::cerr << "patchlearn: usage error: " << e.what() << " (see patchlearn --help)\n";
    return 2;
  }
  if (log_level != "info" || !root) quiet = true;
  TerminalObserver observer(quiet, root && log_level != "error");
  const JobOptions options{out, device, resume};
  // One process alone on a shared machine takes the idle cores only (core/device.hpp); ranks
  // take their share of the node instead (pipeline/ranks.hpp).
  if (rank_count() == 1 && (*sim || *train || *roll || *run || *bench))
    if (const int busy = fit_threads_to_idle_cores())
      observer.info(
          fmt::format("{} of the {} cores are busy: {} OpenMP threads (OMP_NUM_THREADS overrides; a net "
                      "trained on other thread counts differs in its last digits)",
                      busy, omp_get_num_procs(), omp_get_max_threads()));
  try {
    if (*report) {
      make_report(report_dir, observer);
      return 0;
    }
    std::unique_ptr<Problem> problem;
    together([&] { problem = config.empty() ? default_problem() : load_problem(config); });
    if (*cell) {
      patchlearn::CellQuery q;
      if (*u_option) q.u = u_value;
      if (*x_option) q.x = x_value;
      if (*y_option) q.y = y_value;
      print(patchlearn::cell(*problem, q), as_json);
    }
    if (*validate) print(patchlearn::validate(*problem), as_json);
    if (*sim) print(patchlearn::simulate(*problem, options, observer), as_json);
    if (*train) print(patchlearn::train(*problem, data_path, options, observer), as_json);
    if (*roll) print(patchlearn::rollout(*problem, model_path, options), as_json);
    if (*run) print(patchlearn::run(*problem, options, observer), as_json);
    if (*bench) {
      const Report r = patchlearn::bench(*problem, options, observer);
      if (as_json)
        print(r, true);
      else if (root)
        std::cout << cli::bench_table(r.json) << r.lines.back() << "\n";
    }
  } catch (const RankFailure& e) {  // known to every rank: rank 0 says it
    return root ? fail(e.kind, e.what(), e.status, as_json) : e.status;
  } catch (const ConfigError& e) {
    return fail_alone("config error", e.what(), 2, as_json);
  } catch (const InputError& e) {
    return fail_alone("input error", e.what(), 2, as_json);
  } catch (const std::bad_alloc&) {
    return fail_alone("error", "out of memory", 1, as_json);
  } catch (const std::exception& e) {
    return fail_alone("error", e.what(), 1, as_json);
  }
  return 0;
}
