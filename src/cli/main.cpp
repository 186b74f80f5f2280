// patchlearn: the command-line program. The only layer that prints for people; every subcommand
// takes --json and then prints exactly one JSON object as its last stdout line.
#include <CLI/CLI.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "patchlearn/cli/bench.hpp"
#include "patchlearn/cli/learn.hpp"
#include "patchlearn/cli/run2d.hpp"
#include "patchlearn/cli/simulate.hpp"
#include "patchlearn/learn/tensors.hpp"
#include "patchlearn/core/error.hpp"
#include "patchlearn/core/process.hpp"
#include "patchlearn/core/timer.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace patchlearn;

namespace {

/// Progress on stderr: a live line with rate and ETA on a terminal, periodic lines otherwise.
class Progress {
 public:
  Progress(std::string what, bool quiet) : what_(std::move(what)), quiet_(quiet), tty_(isatty(2)) {}
  void operator()(double fraction) {
    if (quiet_) return;
    const double t = clock_.seconds();
    if (fraction < 1.0 && t - last_ < (tty_ ? 0.2 : 10.0)) return;
    last_ = t;
    const double eta = fraction > 0 ? t * (1.0 - fraction) / fraction : 0.0;
    std::fprintf(stderr, "%s%s: %5.1f%%  %.1f s elapsed  ETA %.1f s%s", tty_ ? "\r" : "", what_.c_str(),
                 100.0 * fraction, t, eta, tty_ ? "   " : "\n");
    if (tty_ && fraction >= 1.0) std::fputc('\n', stderr);
  }

 private:
  std::string what_;
  bool quiet_, tty_;
  Stopwatch clock_;
  double last_ = -1e9;
};

// report.md and figures/ of an earlier run: removed when a job starts writing into DIR and before
// the script runs, so that a failed or interrupted job never leaves them beside its results.
void discard_report(const std::string& dir) {
  std::error_code ec;
  fs::remove(fs::path(dir) / "report.md", ec);
  fs::remove_all(fs::path(dir) / "figures", ec);
}

// The common start of a job that writes into `out`: warnings, the device it takes, the folder.
bool g_show_warnings = true;  // --log-level error hides warnings

template <class Config>
Device prepare_job(const Config& cfg, const std::string& device_req, const std::string& out, bool quiet) {
  if (g_show_warnings)
    for (const auto& w : cfg.warnings) std::cerr << "warning: " << w << "\n";
  const Device dev = resolve_device(device_req.empty() ? cfg.device : device_req);
  if (!quiet) std::cerr << "device: " << device_description(dev) << "\n";
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec || !fs::is_directory(out)) throw InputError("cannot create output directory '" + out + "'" + (ec ? ": " + ec.message() : ": a file of that name exists"));
  lock_output_directory(out);
  discard_report(out);
  return dev;
}

// tools/report.py: $PATCHLEARN_TOOLS_DIR, the installed share folder next to the program, or the
// source tree the program was built from.
std::string report_script() {
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("PATCHLEARN_TOOLS_DIR")) dirs.emplace_back(env);
  std::error_code ec;
  const auto exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back(exe.parent_path().parent_path() / "share" / "patchlearn" / "tools");
  dirs.emplace_back(PATCHLEARN_TOOLS_DIR);
  for (const auto& d : dirs)
    if (fs::exists(d / "report.py")) return (d / "report.py").string();
  throw InputError("cannot find tools/report.py (set PATCHLEARN_TOOLS_DIR)");
}

// Figures and report.md for DIR; RunError when the script fails or cannot start.
void make_report(const std::string& dir, bool quiet) {
  // Debian's python3-matplotlib and python3-h5py live in /usr/bin/python3's site-packages.
  std::string python = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  if (const char* env = std::getenv("PATCHLEARN_PYTHON")) python = env;
  discard_report(dir);
  const int rc = run_child({python, report_script(), dir}, quiet);
  if (rc == 127) throw RunError("cannot run the report script with '" + python + "' (set PATCHLEARN_PYTHON); the results are in " + dir + " without figures");
  if (rc != 0) {
    discard_report(dir);
    throw RunError("the report script failed (exit " + std::to_string(rc) + "); the results are in " + dir +
                   " without figures (patchlearn report " + dir + " retries)");
  }
}

int cmd_report(const std::string& dir) {
  if (!fs::is_directory(dir)) throw InputError("'" + dir + "' is not a run directory");
  make_report(dir, false);
  return 0;
}

/// Whether a config file is a 2D lattice config (domain.dimension = 2).
bool is_2d(const std::string& config) {
  return !config.empty() && config_dimension(read_config_text(config), config) == 2;
}

json tensor_json(const EffectiveTensor& D) { return json::array({{D.xx, D.xy}, {D.xy, D.yy}}); }

int cmd_cell_2d(const std::string& config, bool as_json) {
  const auto cfg = load_config_2d(config);
  const auto D = cell_tensor(cfg);
  if (as_json) {
    std::cout << json{{"D", tensor_json(D)}}.dump() << std::endl;
  } else {
    std::printf("lattice: %d x %d diffusivity tables, placement %s\n", cfg.kappa.mx, cfg.kappa.my, cfg.placement.c_str());
    std::printf("D (cell problem on the lattice) = [[%.10f, %.10f], [%.10f, %.10f]]\n", D.xx, D.xy, D.xy, D.yy);
    std::printf("u_t = %.6f u_xx + %.6f u_xy + %.6f u_yy\n", D.xx, 2 * D.xy, D.yy);
  }
  return 0;
}

json simulate_json_2d(const Config2D& cfg, const Simulation2D& sim, Device dev) {
  return json{{"wall_s", sim.wall_s},
              {"point_steps", sim.data.point_steps},
              {"device", device_name(dev)},
              {"scheme", cfg.scheme},
              {"fine_evaluations_per_sample", sim.fine_evaluations},
              {"D_cell", tensor_json(sim.D)},
              {"rmse_vs_homogenized", sim.rmse_vs_homogenized},
              {"gap_tooth_vs_homogenized_rmse", sim.rmse_vs_homogenized_t03}};
}

int cmd_simulate_2d(const std::string& config, const std::string& out, const std::string& device_req, bool as_json,
                    bool quiet, bool resume) {
  const auto cfg = load_config_2d(config);
  const Device dev = prepare_job(cfg, device_req, out, quiet);
  Progress progress("simulate (" + cfg.scheme + ", 2D)", quiet);
  const std::string path = (fs::path(out) / "data.h5").string();
  const ChunkedRun chunks{path + ".chunks", resume, cfg.chunk_trajectories};
  const auto sim = simulate_2d(cfg, dev, std::ref(progress), &chunks);
  write_data_2d_h5(path, cfg, sim, dev);
  remove_chunks(chunks);
  auto j = simulate_json_2d(cfg, sim, dev);
  j["data"] = path;
  if (as_json) {
    std::cout << j.dump() << std::endl;
  } else {
    std::printf("wrote %s: %lld trajectories x %lld times x %d x %d patches\n", path.c_str(),
                static_cast<long long>(sim.data.trajectories), static_cast<long long>(sim.data.times), cfg.patches, cfg.patches);
    std::printf("wall %.3f s, %.4g micro point-steps; rMSE vs the tensor-homogenized truth %.3e (t = 0.3: %.3e)\n",
                sim.wall_s, sim.data.point_steps, sim.rmse_vs_homogenized, sim.rmse_vs_homogenized_t03);
  }
  return 0;
}

json headline_2d(const json& r) { return json{{"rhs_rmse", r.at("rhs_rmse")}, {"rollout_rmse", r.at("rollout_rmse")}}; }

void print_model_2d(const std::string& kind, const json& r) {
  std::printf("%-12s rhs rMSE %.3e | rollout rMSE %.3e\n", kind.c_str(), r["rhs_rmse"].get<double>(),
              r["rollout_rmse"].get<double>());
}

json learning_json_2d(const Config2D& cfg, const json& summary) {
  json j{{"D_cell", summary["D_cell"]}, {"D_regression", summary["D_regression"]},
         {"equation", summary["regression"]["equation"]}};
  for (const auto& k : cfg.learn.networks) j[k] = headline_2d(summary[k]);
  return j;
}

void print_learning_2d(const Config2D& cfg, const json& summary) {
  const auto& Dc = summary["D_cell"];
  const auto& Dr = summary["D_regression"];
  std::printf("D cell problem [[%.6f, %.6f], [%.6f, %.6f]]\nD regression   [[%.6f, %.6f], [%.6f, %.6f]]\n%s\n",
              Dc[0][0].get<double>(), Dc[0][1].get<double>(), Dc[1][0].get<double>(), Dc[1][1].get<double>(),
              Dr[0][0].get<double>(), Dr[0][1].get<double>(), Dr[1][0].get<double>(), Dr[1][1].get<double>(),
              summary["regression"]["equation"].get<std::string>().c_str());
  for (const auto& k : cfg.learn.networks) print_model_2d(k, summary[k]);
}

int cmd_train_2d(const std::string& config, const std::string& data_path, const std::string& out,
                 const std::string& device_req, bool as_json, bool quiet, bool resume) {
  auto cfg = load_config_2d(config);
  cfg.learn.resume = resume;
  const Device dev = prepare_job(cfg, device_req, out, quiet);
  const auto data = load_learning_data_2d(data_path, cfg, learn::torch_device(dev));
  Stopwatch clock;
  auto summary = train_and_evaluate_2d(cfg, data, cell_tensor(cfg), dev, out, quiet);
  auto j = learning_json_2d(cfg, summary);
  j["wall_s"] = clock.seconds();
  j["device"] = device_name(dev);
  if (as_json)
    std::cout << j.dump() << std::endl;
  else
    print_learning_2d(cfg, summary);
  return 0;
}

int cmd_run_2d(const std::string& config, const std::string& out, const std::string& device_req, bool as_json, bool quiet,
               bool resume) {
  auto cfg = load_config_2d(config);
  cfg.learn.resume = resume;
  const Device dev = prepare_job(cfg, device_req, out, quiet);
  Stopwatch clock;
  Progress progress("simulate (" + cfg.scheme + ", 2D)", quiet);
  const std::string path = (fs::path(out) / "data.h5").string();
  const ChunkedRun chunks{path + ".chunks", resume, cfg.chunk_trajectories};
  auto sim = std::make_shared<Simulation2D>(simulate_2d(cfg, dev, std::ref(progress), &chunks));
  write_data_2d_h5(path, cfg, *sim, dev);
  remove_chunks(chunks);
  if (!quiet)
    std::fprintf(stderr, "%s vs the tensor-homogenized truth: rMSE %.3e at t = 0.3 (%.3e over all times)\n",
                 cfg.scheme.c_str(), sim->rmse_vs_homogenized_t03, sim->rmse_vs_homogenized);
  auto summary = train_and_evaluate_2d(cfg, learning_data(sim, sim->data), sim->D, dev, out, quiet);
  summary["simulate"] = simulate_json_2d(cfg, *sim, dev);
  summary["gap_tooth_vs_homogenized_rmse"] = sim->rmse_vs_homogenized_t03;
  summary["wall_s"] = clock.seconds();
  write_json_file((fs::path(out) / "summary.json").string(), summary);
  make_report(out, quiet);
  auto j = learning_json_2d(cfg, summary);
  j["gap_tooth_vs_homogenized_rmse"] = sim->rmse_vs_homogenized_t03;
  j["wall_s"] = summary["wall_s"];
  j["device"] = device_name(dev);
  j["summary"] = (fs::path(out) / "summary.json").string();
  if (as_json) {
    std::cout << j.dump() << std::endl;
  } else {
    print_learning_2d(cfg, summary);
    std::printf("%s vs homogenized at t = 0.3: rMSE %.3e\nwall %.1f s; outputs in %s\n", cfg.scheme.c_str(),
                sim->rmse_vs_homogenized_t03, summary["wall_s"].get<double>(), out.c_str());
  }
  return 0;
}

int cmd_cell(const std::string& config, bool as_json) {
  if (is_2d(config)) return cmd_cell_2d(config, as_json);
  const auto cfg = load_config_1d(config);
  const double a = cell_a_star(cfg), hm = cfg.field->harmonic_mean();
  if (as_json) {
    std::cout << json{{"a_star", a}, {"harmonic_mean", hm}}.dump() << std::endl;
  } else {
    std::printf("medium: %s\n", cfg.field->description().c_str());
    std::printf("a* (cell problem on the micro lattice) = %.15g\n", a);
    std::printf("harmonic mean 1/<1/a>                  = %.15g\n", hm);
  }
  return 0;
}

int cmd_validate(const std::string& config, bool as_json) {
  const auto warnings = is_2d(config) ? load_config_2d(config).warnings : load_config_1d(config).warnings;
  if (as_json) {
    std::cout << json{{"valid", true}, {"warnings", warnings}}.dump() << std::endl;
  } else {
    for (const auto& w : warnings) std::cout << "warning: " << w << "\n";
    std::cout << config << ": valid\n";
  }
  return 0;
}

int cmd_simulate(const std::string& config, const std::string& out, const std::string& device_req, bool as_json,
                 bool quiet, bool resume) {
  if (is_2d(config)) return cmd_simulate_2d(config, out, device_req, as_json, quiet, resume);
  const auto cfg = load_config_1d(config);
  const Device dev = prepare_job(cfg, device_req, out, quiet);
  Progress progress("simulate (" + cfg.scheme + ")", quiet);
  const std::string path = (fs::path(out) / "data.h5").string();
  const ChunkedRun chunks{path + ".chunks", resume, cfg.chunk_trajectories};
  const auto sim = simulate_1d(cfg, dev, std::ref(progress), &chunks);
  write_data_h5(path, cfg, sim, dev);
  remove_chunks(chunks);
  const json j{{"wall_s", sim.wall_s},
               {"point_steps", sim.data.point_steps},
               {"device", device_name(dev)},
               {"scheme", cfg.scheme},
               {"a_star_cell", sim.a_star},
               {"rmse_vs_homogenized", sim.rmse_vs_homogenized},
               {"data", path}};
  if (as_json) {
    std::cout << j.dump() << std::endl;
  } else {
    std::printf("wrote %s: %lld trajectories x %lld times x %lld nodes\n", path.c_str(),
                static_cast<long long>(sim.data.trajectories), static_cast<long long>(sim.data.times),
                static_cast<long long>(sim.data.nodes));
    std::printf("wall %.3f s, %.4g micro point-steps, rMSE vs homogenized %.3e (a* = %.12g)\n", sim.wall_s,
                sim.data.point_steps, sim.rmse_vs_homogenized, sim.a_star);
  }
  return 0;
}

// The headline numbers of a model's evaluation.
json headline(const json& r) {
  json h;
  for (const char* k : {"rhs_rmse", "rollout_rmse", "rollout_rmse_vs_coarse", "floor_rmse"}) h[k] = r.at(k);
  return h;
}

void print_model(const std::string& kind, const json& r) {
  std::printf("%-12s rhs rMSE %.3e | rollout rMSE %.3e | vs coarse operator %.3e | floor %.3e\n", kind.c_str(),
              r["rhs_rmse"].get<double>(), r["rollout_rmse"].get<double>(), r["rollout_rmse_vs_coarse"].get<double>(),
              r["floor_rmse"].get<double>());
}

int cmd_train(const std::string& config, const std::string& data_path, const std::string& out,
              const std::string& device_req, bool as_json, bool quiet, bool resume) {
  if (is_2d(config)) return cmd_train_2d(config, data_path, out, device_req, as_json, quiet, resume);
  auto cfg = load_config_1d(config);
  cfg.learn.resume = resume;
  const Device dev = prepare_job(cfg, device_req, out, quiet);
  const auto data = load_learning_data(data_path, cfg, learn::torch_device(dev));
  Stopwatch clock;
  auto summary = train_and_evaluate(cfg, data, cell_a_star(cfg), dev, out, quiet);
  summary["wall_s"] = clock.seconds();
  if (as_json) {
    json j{{"a_star_cell", summary["a_star_cell"]}, {"a_star_regression", summary["a_star_regression"]},
           {"wall_s", summary["wall_s"]}, {"device", device_name(dev)}};
    for (const auto& k : cfg.learn.networks) j[k] = headline(summary[k]);
    std::cout << j.dump() << std::endl;
  } else {
    std::printf("%s\n", summary["regression"]["equation"].get<std::string>().c_str());
    for (const auto& k : cfg.learn.networks) print_model(k, summary[k]);
  }
  return 0;
}

int cmd_rollout_2d(const std::string& config, const std::string& model_path, const std::string& device_req, bool as_json) {
  const auto cfg = load_config_2d(config);
  const Device dev = resolve_device(device_req.empty() ? cfg.device : device_req);
  auto r = rollout_model_2d(cfg, model_path, dev);
  if (as_json) {
    json j = headline_2d(r);
    j["kind"] = r["kind"];
    j["rollout_rmse_per_trajectory"] = r["rollout_rmse_per_trajectory"];
    j["device"] = device_name(dev);
    std::cout << j.dump() << std::endl;
  } else {
    print_model_2d(r["kind"].get<std::string>(), r);
  }
  return 0;
}

int cmd_rollout(const std::string& config, const std::string& model_path, const std::string& device_req, bool as_json) {
  if (is_2d(config)) return cmd_rollout_2d(config, model_path, device_req, as_json);
  const auto cfg = load_config_1d(config);
  const Device dev = resolve_device(device_req.empty() ? cfg.device : device_req);
  const auto model = learn::load_model(model_path, learn::torch_device(dev));
  if (model->nodes() != cfg.macro_nodes)
    throw InputError("'" + model_path + "' was trained on " + std::to_string(model->nodes()) +
                     " macro nodes but the config has domain.macro_nodes = " + std::to_string(cfg.macro_nodes));
  const auto eval = evaluation_set(cfg, cell_a_star(cfg), nullptr, learn::torch_device(dev));
  const auto r = evaluate_model(model, eval, cfg);
  if (as_json) {
    json j = headline(r);
    j["kind"] = model->kind();
    j["rollout_rmse_per_trajectory"] = r["rollout_rmse_per_trajectory"];
    j["device"] = device_name(dev);
    std::cout << j.dump() << std::endl;
  } else {
    print_model(model->kind(), r);
  }
  return 0;
}

int cmd_run(const std::string& config, const std::string& out, const std::string& device_req, bool as_json, bool quiet,
            bool resume) {
  if (is_2d(config)) return cmd_run_2d(config, out, device_req, as_json, quiet, resume);
  auto cfg = config.empty() ? parse_config_1d(embedded_default_config(), "<embedded default: configs/quick1d.toml>")
                            : load_config_1d(config);
  cfg.learn.resume = resume;
  const Device dev = prepare_job(cfg, device_req, out, quiet);
  Stopwatch clock;
  Progress progress("simulate (" + cfg.scheme + ")", quiet);
  const std::string path = (fs::path(out) / "data.h5").string();
  const ChunkedRun chunks{path + ".chunks", resume, cfg.chunk_trajectories};
  auto sim = std::make_shared<Simulation1D>(simulate_1d(cfg, dev, std::ref(progress), &chunks));
  write_data_h5(path, cfg, *sim, dev);
  remove_chunks(chunks);
  auto summary = train_and_evaluate(cfg, learning_data(sim, sim->data), sim->a_star, dev, out, quiet);
  summary["simulate"] = {{"wall_s", sim->wall_s}, {"point_steps", sim->data.point_steps},
                         {"rmse_vs_homogenized", sim->rmse_vs_homogenized}, {"scheme", cfg.scheme}};
  summary["wall_s"] = clock.seconds();
  write_json_file((fs::path(out) / "summary.json").string(), summary);
  make_report(out, quiet);
  json j{{"a_star_cell", summary["a_star_cell"]}, {"a_star_regression", summary["a_star_regression"]},
         {"equation", summary["regression"]["equation"]}, {"wall_s", summary["wall_s"]}, {"device", device_name(dev)},
         {"summary", (fs::path(out) / "summary.json").string()}};
  for (const auto& k : cfg.learn.networks) j[k] = headline(summary[k]);
  if (as_json) {
    std::cout << j.dump() << std::endl;
  } else {
    std::printf("a* cell problem %.10g, regression %.10g\n%s\n", summary["a_star_cell"].get<double>(),
                summary["a_star_regression"].get<double>(), summary["regression"]["equation"].get<std::string>().c_str());
    for (const auto& k : cfg.learn.networks) print_model(k, summary[k]);
    std::printf("wall %.1f s; outputs in %s\n", summary["wall_s"].get<double>(), out.c_str());
  }
  return 0;
}

int cmd_bench(const std::string& config, const std::string& out, const std::string& device_req, bool as_json,
              bool quiet) {
  std::unique_ptr<Progress> bar;
  std::string stage;
  const BenchProgress progress = [&](const std::string& what, double f) {
    if (what != stage) bar = std::make_unique<Progress>("bench: " + (stage = what), quiet);
    (*bar)(f);
  };
  json result;
  if (is_2d(config)) {
    const auto cfg = load_config_2d(config);
    result = bench_2d(cfg, prepare_job(cfg, device_req, out, quiet), progress);
  } else {
    const auto cfg = load_config_1d(config);
    result = bench_1d(cfg, prepare_job(cfg, device_req, out, quiet), progress);
  }
  const fs::path path = fs::path(out) / "bench.json";
  write_json_file(path.string(), result);
  make_report(out, quiet);
  if (as_json)
    std::cout << result.dump() << std::endl;
  else
    std::cout << bench_table(result) << "wrote " << path.string() << "\n";
  return 0;
}

}  // namespace

// A failure: one line on stderr and, with --json, a JSON object with the error on stdout.
int fail(const std::string& kind, const std::string& what, int status, bool as_json) {
  const std::string line = one_line(what);
  std::cerr << "patchlearn: " << kind << ": " << line << "\n";
  if (as_json) std::cout << json{{"error", line}, {"kind", kind}, {"exit_status", status}}.dump() << std::endl;
  return status;
}

int main(int argc, char** argv) {
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

  auto* cell = app.add_subcommand("cell", "solve the cell problem: the effective diffusivity a* (1D) or tensor D (2D)");
  cell->add_option("config", config, "TOML config")->required();
  cell->add_flag("--json", as_json, "print one JSON object");

  auto* validate = app.add_subcommand("validate", "check a config and report every problem");
  validate->add_option("config", config, "TOML config")->required();
  validate->add_flag("--json", as_json, "print one JSON object");

  auto* sim = app.add_subcommand("simulate", "generate coarse data with the configured scheme into DIR/data.h5");
  sim->add_option("config", config, "TOML config")->required();
  sim->add_option("--out", out, "output directory")->capture_default_str();
  sim->add_option("--device", device, "auto | cpu | cuda (default: the config's run.device)")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  sim->add_flag("--json", as_json, "print one JSON object as the last line");
  sim->add_flag("--quiet", quiet, "no progress output");
  sim->add_flag("--resume", resume, "continue an interrupted run from the trajectories it committed (DIR/data.h5.chunks)");

  std::string data_path, model_path;
  auto* train = app.add_subcommand("train", "train the networks on DIR/data.h5, with regression and evaluation");
  train->add_option("config", config, "TOML config")->required();
  train->add_option("--data", data_path, "data.h5 written by simulate")->required();
  train->add_option("--out", out, "output directory (models/, summary.json)")->capture_default_str();
  train->add_option("--device", device, "auto | cpu | cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  train->add_flag("--json", as_json, "print one JSON object as the last line");
  train->add_flag("--quiet", quiet, "no progress output");
  train->add_flag("--resume", resume, "continue from the last training checkpoint (learn.checkpoint_every)");

  auto* roll = app.add_subcommand("rollout", "roll a trained model out from the config's unseen initial conditions");
  roll->add_option("config", config, "TOML config")->required();
  roll->add_option("--model", model_path, "checkpoint DIR/models/NAME.pt")->required();
  roll->add_option("--device", device, "auto | cpu | cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  roll->add_flag("--json", as_json, "print one JSON object");

  auto* run = app.add_subcommand("run", "the whole pipeline: simulate, train both networks, regression, rollout, evaluation");
  run->add_option("config", config, "TOML config (default: the embedded quick 1D case)");
  run->add_option("--out", out, "output directory")->capture_default_str();
  run->add_option("--device", device, "auto | cpu | cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  run->add_flag("--json", as_json, "print one JSON object as the last line");
  run->add_flag("--quiet", quiet, "no progress output");
  run->add_flag("--resume", resume, "continue an interrupted run: the simulation's committed trajectories, then training from its last checkpoint");

  std::string report_dir;
  auto* report = app.add_subcommand("report", "figures (PNG) and report.md for a run directory");
  report->add_option("dir", report_dir, "directory with data.h5 (and rollout.h5, summary.json)")->required();

  auto* bench = app.add_subcommand(
      "bench", "cost of patch data against full-resolution data of matched accuracy, over the config's [bench] sweep");
  bench->add_option("config", config, "TOML config with a [bench] section (configs/bench1d.toml, configs/bench2d.toml)")
      ->required();
  bench->add_option("--out", out, "output directory (bench.json, figures/fig_cost_scaling.png)")->capture_default_str();
  bench->add_option("--device", device, "auto | cpu | cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  bench->add_flag("--json", as_json, "print one JSON object as the last line");
  bench->add_flag("--quiet", quiet, "no progress output");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "patchlearn: usage error: " << e.what() << " (see patchlearn --help)\n";
    return 2;
  }
  if (log_level != "info") quiet = true;
  g_show_warnings = log_level != "error";
  try {
    if (*cell) return cmd_cell(config, as_json);
    if (*validate) return cmd_validate(config, as_json);
    if (*sim) return cmd_simulate(config, out, device, as_json, quiet, resume);
    if (*train) return cmd_train(config, data_path, out, device, as_json, quiet, resume);
    if (*roll) return cmd_rollout(config, model_path, device, as_json);
    if (*run) return cmd_run(config, out, device, as_json, quiet, resume);
    if (*report) return cmd_report(report_dir);
    if (*bench) return cmd_bench(config, out, device, as_json, quiet);
  } catch (const ConfigError& e) {
    return fail("config error", e.what(), 2, as_json);
  } catch (const InputError& e) {
    return fail("input error", e.what(), 2, as_json);
  } catch (const std::bad_alloc&) {
    return fail("error", "out of memory", 1, as_json);
  } catch (const std::exception& e) {
    return fail("error", e.what(), 1, as_json);
  }
  return 0;
}
