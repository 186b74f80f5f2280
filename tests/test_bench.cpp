// `patchlearn bench` on CI-sized sweeps (tests/bench_configs/): the output's form only, never
// timings. What is checked besides the form is deterministic: micro point-step counts (the 1D
// patch problem is self-similar in eps, so its count must not change across the sweep, while the
// full lattice grows like 1/eps), and that bench.json, the JSON line and the figure agree.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "patchlearn/core/durable.hpp"
#include "patchlearn/pipeline/bench.hpp"
#include "patchlearn/pipeline/jobs.hpp"
#include "patchlearn/pipeline/problem.hpp"
#include "report_check.hpp"

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

/// Run `patchlearn bench CONFIG --out DIR --json --quiet`; the exit status and the last stdout line.
std::pair<int, std::string> run_bench(const std::string& config, const std::string& dir) {
  const std::string cmd = std::string(PATCHLEARN_BINARY) + " bench " + config + " --out " + dir + " --json --quiet";
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 1 << 16> buf{};
  std::string last;
  while (fgets(buf.data(), buf.size(), p)) last = buf.data();
  return {WEXITSTATUS(pclose(p)), last};
}

json checked_bench(const std::string& name, std::size_t entries) {
  const std::string dir = (fs::temp_directory_path() / ("patchlearn_bench_" + name)).string();
  patchlearn::remove_tree_quietly(dir);
  const auto [status, line] =
      run_bench(std::string(PATCHLEARN_SOURCE_DIR) + "/tests/bench_configs/" + name + ".toml", dir);
  EXPECT_EQ(status, 0);
  const json j = json::parse(line);
  std::ifstream in(fs::path(dir) / "bench.json");
  EXPECT_EQ(json::parse(in), j) << "bench.json differs from the printed JSON";
  EXPECT_FALSE(fs::exists(fs::path(dir) / "bench.json.partial"));
  EXPECT_EQ(j.at("sweep").size(), entries);
  for (const auto& e : j.at("sweep")) {
    for (const char* k : {"eps", "patch_wall_s", "full_wall_s", "patch_point_steps", "full_point_steps", "patch_rmse",
                          "full_rmse", "patch_peak_bytes", "full_peak_bytes", "wall_ratio"}) {
      EXPECT_TRUE(e.contains(k)) << k;
      if (!e.contains(k)) continue;
      const double v = e[k];
      EXPECT_TRUE(std::isfinite(v) && v >= 0) << k << " = " << v;
    }
    EXPECT_GT(e["patch_point_steps"].get<double>(), 0);
    EXPECT_GT(e["full_point_steps"].get<double>(), 0);
    EXPECT_TRUE(e.at("matched").is_boolean());
    for (const char* k : {"patch_runs", "full_runs"}) {
      EXPECT_GE(e.at(k).get<int>(), 1) << k;
      EXPECT_LE(e.at(k).get<int>(), 10) << k;
    }
    EXPECT_GT(e.at("nominal").at("ratio").get<double>(), 0);
  }
  for (const char* k : {"patch", "full"}) {
    EXPECT_TRUE(j.at("exponents").at(k).is_number()) << k;
    EXPECT_TRUE(j.at("point_step_exponents").at(k).is_number()) << k;
  }
  patchlearn::testing_support::expect_report_figures(dir, {"fig_cost_scaling.png"});
  return j;
}

}  // namespace

TEST(Bench, EpsSweep1DIsWellFormed) {
  const json j = checked_bench("tiny1d", 2);
  EXPECT_EQ(j["dimension"], 1);
  const auto& s = j["sweep"];
  EXPECT_DOUBLE_EQ(s[0]["eps"].get<double>(), 1e-2);
  EXPECT_DOUBLE_EQ(s[1]["eps"].get<double>(), 5e-3);
  // The patch problem scales with eps: the same count of micro point-steps at every eps.
  EXPECT_EQ(s[0]["patch_point_steps"], s[1]["patch_point_steps"]);
  EXPECT_NEAR(j["point_step_exponents"]["patch"].get<double>(), 0.0, 1e-12);
  // The full lattice doubles with 1/eps; its adaptive step count barely moves.
  EXPECT_LT(j["point_step_exponents"]["full"].get<double>(), -0.7);
  // The tolerance ladder: the rtol taken is one of those listed, and it was tried.
  for (const auto& e : s) EXPECT_EQ(e["full_tolerances_tried"].back()["rtol"], e["full_rtol"]);
  EXPECT_GT(s[1]["nominal"]["ratio"].get<double>(), s[0]["nominal"]["ratio"].get<double>());
}

TEST(Bench, LatticeSweep2DIsWellFormed) {
  const json j = checked_bench("tiny2d", 2);
  EXPECT_EQ(j["dimension"], 2);
  EXPECT_EQ(j["sweep"][0]["lattice"], 24);
  EXPECT_EQ(j["sweep"][1]["lattice"], 48);
  // Same patches at both sizes: 4 x 4 patches of 3 x 3 evolving points against N^2.
  EXPECT_DOUBLE_EQ(j["sweep"][1]["nominal"]["ratio"].get<double>(), 48.0 * 48 / 144);
  // Each side's exponential-stepper tolerance comes from the ladder, and its run was the last tried.
  for (const auto& e : j["sweep"])
    for (const std::string side : {"patch", "full"}) {
      EXPECT_EQ(e[side + "_tolerances_tried"].back()["tolerance"], e[side + "_tolerance"]) << side;
      EXPECT_GT(e[side + "_evaluations_per_sample"].get<int>(), 0) << side;
    }
}

TEST(Bench, EachSizeIsOnDiskAsSoonAsItIsMeasured) {
  // A sweep cut short (a crash, a device lease's time limit) keeps the sizes it finished: when the
  // second size starts, bench.jsonl holds the first one's entry, exactly as bench.json will; an
  // earlier run's bench.json and bench.jsonl are gone by then, and bench.jsonl once bench.json is
  // written.
  const std::string dir = (fs::temp_directory_path() / "patchlearn_bench_lines").string();
  patchlearn::remove_tree_quietly(dir);
  fs::create_directories(dir);
  for (const char* stale : {"bench.json", "bench.jsonl"}) std::ofstream(fs::path(dir) / stale) << "{\"stale\": 1}\n";
  const auto problem =
      patchlearn::load_problem(std::string(PATCHLEARN_SOURCE_DIR) + "/tests/bench_configs/tiny2d.toml");
  struct Probe : patchlearn::Observer {
    fs::path lines, whole;
    std::vector<std::string> seen;
    bool probed = false, whole_seen = false;
    void progress(const std::string& stage, double) override {
      if (probed || stage.find("48^2") == std::string::npos) return;
      probed = true;
      whole_seen = fs::exists(whole);
      std::ifstream in(lines);
      for (std::string l; std::getline(in, l);) seen.push_back(l);
    }
  } probe;
  probe.lines = fs::path(dir) / "bench.jsonl";
  probe.whole = fs::path(dir) / "bench.json";
  patchlearn::JobOptions o;
  o.out = dir;
  o.device = "cpu";
  const auto report = patchlearn::bench(*problem, o, probe);
  ASSERT_TRUE(probe.probed);
  EXPECT_FALSE(probe.whole_seen);
  ASSERT_EQ(probe.seen.size(), 1u);
  EXPECT_EQ(json::parse(probe.seen[0]), report.json.at("sweep").at(0));
  EXPECT_FALSE(fs::exists(probe.lines));
  std::ifstream in(probe.whole);
  EXPECT_EQ(json::parse(in), report.json);
}

TEST(Bench, ShortRunsAreRepeatedAndTheFastestKept) {
  // Runs of 0.3, 0.2, 0.4, 0.5, ... s against 1 s: four runs (1.4 s in all), the fastest 0.2 s.
  const std::vector<double> walls{0.3, 0.2, 0.4, 0.5, 0.1};
  std::size_t next = 0;
  int runs = 0;
  EXPECT_EQ(patchlearn::fastest_run(
                1.0, [&] { return walls.at(next++); }, runs),
            0.2);
  EXPECT_EQ(runs, 4);
  next = 0;  // repeat_s = 0: one run
  EXPECT_EQ(patchlearn::fastest_run(
                0.0, [&] { return walls.at(next++); }, runs),
            0.3);
  EXPECT_EQ(runs, 1);
  // Millisecond runs stop at ten.
  EXPECT_EQ(patchlearn::fastest_run(
                1.0, [] { return 1e-3; }, runs),
            1e-3);
  EXPECT_EQ(runs, 10);
}

TEST(Bench, CostExponentFitsAPowerLaw) {
  EXPECT_NEAR(patchlearn::cost_exponent({1e-3, 1e-4, 1e-5}, {2.0, 20.0, 200.0}), -1.0, 1e-12);
  EXPECT_NEAR(patchlearn::cost_exponent({1e-3, 1e-4}, {5.0, 5.0}), 0.0, 1e-12);
  EXPECT_TRUE(std::isnan(patchlearn::cost_exponent({1e-3}, {1.0})));
}
