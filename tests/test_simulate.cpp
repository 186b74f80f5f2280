// The simulate job end to end on small cases: data.h5 layout, attributes and the cost counters.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "patchlearn/core/durable.hpp"
#include "patchlearn/pipeline/chunks.hpp"
#include "patchlearn/pipeline/jobs.hpp"
#include "patchlearn/pipeline/problem1d.hpp"
#include "patchlearn/core/error.hpp"
#include "patchlearn/io/h5.hpp"
#include "small_case.hpp"

using namespace patchlearn;

namespace {
Config1D tiny(const std::string& scheme_block) {
  return parse_config_1d(std::string(testing_support::kSmallCase) + R"(
[macro]
dt = 1e-3
t_end = 0.02
[initial]
trajectories = 2
)" + scheme_block,
                         "tiny.toml");
}
}  // namespace

TEST(Simulate, PatchDynamicsDataFile) {
  const auto cfg = tiny("");
  const auto sim = simulate_data(cfg, Device::CPU);
  const auto& d = sim.data;
  ASSERT_EQ(d.times, 21);
  EXPECT_NEAR(sim.a_star, std::sqrt(0.21), 1e-12);
  // One burst per recorded state: 21 states x 2 trajectories x 9 patches x 1201 points x 10 substeps.
  EXPECT_DOUBLE_EQ(d.point_steps, 21.0 * 2 * 9 * 1201 * 10);
  // Forward Euler: consecutive snapshots are exactly one projective step apart (REFERENCE 2.3).
  const auto U = d.host_U(), R = d.host_dUdt();
  auto at = [&](const std::vector<double>& a, int tr, int n, int j) { return a[(tr * d.times + n) * d.nodes + j]; };
  for (int j = 1; j < 10; ++j) EXPECT_NEAR(at(U, 1, 5, j) + 1e-3 * at(R, 1, 5, j), at(U, 1, 6, j), 1e-13);
  EXPECT_GT(sim.rmse_vs_homogenized, 0.0);
  EXPECT_LT(sim.rmse_vs_homogenized, 1e-2);

  const std::string dir = testing::TempDir() + "/pl_sim";
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/data.h5";
  write_data_h5(path, cfg, sim, Device::CPU);
  EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
  std::vector<index_t> dims;
  EXPECT_EQ(h5_read(path, "U", &dims), U);
  EXPECT_EQ(dims, (std::vector<index_t>{2, 21, 11}));
  EXPECT_EQ(h5_read(path, "dUdt_hom", &dims), sim.truth.dUdt);
  EXPECT_EQ(h5_read(path, "x").size(), 11u);
  EXPECT_EQ(h5_read(path, "t").size(), 21u);
  EXPECT_EQ(h5_read_string_attribute(path, "config"), cfg.text);
  EXPECT_THROW(h5_read(path, "nope"), InputError);
  EXPECT_THROW(h5_read(dir + "/missing.h5", "U"), InputError);
}

TEST(Simulate, AllSchemesAgreeWithTheHomogenizedTruth) {
  // Patch dynamics, gap-tooth and full resolution see the same medium and ICs; each stays within
  // the coarse-grid floor of the homogenized truth (3-point scheme on dX = 0.1 vs dx = 5e-3).
  for (const char* block : {"", "[scheme]\ntype = \"gap_tooth\"\n", "[scheme]\ntype = \"full_resolution\"\n"}) {
    const auto sim = simulate_data(tiny(block), Device::CPU);
    std::printf("%-40s rMSE vs homogenized %.3e, %.3g point-steps\n", block, sim.rmse_vs_homogenized,
                sim.data.point_steps);
    EXPECT_LT(sim.rmse_vs_homogenized, 1e-2) << block;
    EXPECT_GT(sim.data.point_steps, 0.0);
  }
}

TEST(Simulate, AllSchemesAgreeOnANonlinearMedium) {
  // A concentration-dependent diffusivity with a heterogeneous reaction (issue 15): every scheme
  // within the coarse-grid floor of the effective-PDE truth, and patch dynamics and gap-tooth
  // within it of full resolution (full_resolution.compare, the truth without theory).
  const std::string base = R"toml(
[medium]
coefficient = "expression"
expression = "(1.1 + sin(2*pi*y)) * (1 + 0.5*u)"
reaction = "2 * (1 + 0.5*sin(2*pi*y)) * u * (1 - u/2)"
epsilon = 1e-3
[micro]
dx = 1e-5
[patch]
tooth_width = 2e-3
buffer_width = 2.4e-2
burst = 4e-6
substeps = 16
heal_substeps = 8
buffer_ends = "averaged_gradient"
rate_tolerance = 1e-4
[macro]
dt = 1e-3
t_end = 0.02
[initial]
trajectories = 2
modes = 2
amplitude = [-0.3, 0.3]
)toml";
  for (const char* block : {"", "[scheme]\ntype = \"gap_tooth\"\n", "[scheme]\ntype = \"full_resolution\"\n"}) {
    const std::string compare = std::string(block).empty() || std::string(block).find("gap") != std::string::npos
                                    ? "[full_resolution]\ncompare = 1\n"
                                    : "";
    const auto sim = simulate_data(parse_config_1d(base + block + compare, "nonlinear.toml"), Device::CPU);
    std::printf("%-40s rMSE vs the effective PDE %.3e, vs full resolution %.3e\n", block, sim.rmse_vs_homogenized,
                sim.rmse_vs_full_resolution);
    EXPECT_LT(sim.rmse_vs_homogenized, 1e-2) << block;
    EXPECT_LT(sim.rmse_vs_full_resolution, 1e-2) << block;
    EXPECT_EQ(sim.full_resolution_trajectories, compare.empty() ? 0 : 1) << block;
    if (compare.empty()) continue;
    // Beside it, on the same trajectory: the data against the effective PDE (eq. 24 over trajectory
    // 0 alone, whose variance differs from the whole set's), and the full-resolution run against the
    // effective PDE, homogenization's own error, which the patch data cannot beat: the data's error
    // against full resolution is within it of their error against the effective PDE (triangle
    // inequality on the root errors; the two eq. (24) denominators are the full run's and the
    // truth's variances, equal to that error's order).
    const auto U = sim.data.host_U();
    const auto n = static_cast<std::ptrdiff_t>(sim.data.times * sim.data.nodes);
    EXPECT_EQ(sim.rmse_vs_homogenized_compared,
              relative_mse(std::vector<double>(U.begin(), U.begin() + n),
                           std::vector<double>(sim.truth.U.begin(), sim.truth.U.begin() + n)))
        << block;
    std::printf("  on trajectory 0: vs the effective PDE %.3e, full resolution vs it %.3e\n",
                sim.rmse_vs_homogenized_compared, sim.full_resolution_vs_homogenized);
    EXPECT_NEAR(std::sqrt(sim.rmse_vs_full_resolution), std::sqrt(sim.rmse_vs_homogenized_compared),
                1.01 * std::sqrt(sim.full_resolution_vs_homogenized))
        << block;
  }
}

TEST(Simulate, AStageThatReportsRarelyStillShowsItIsAlive) {
  // 1000 x 1000 patches: the first sampling interval takes minutes on 2 cores. With lines due every
  // 0.5 s, the heartbeat repeats the stage's 0% line with a growing elapsed time. The test stops
  // reading after three such lines (closing the pipe ends the run at its next line); the 10 s
  // timeout only bounds a run whose setup a loaded machine slows (a 3 s one failed under ctest -j2).
  // Pinned to the CPU: the test is about the heartbeat, and on a GPU the interval may end first.
  const auto dir = std::filesystem::temp_directory_path() / ("pl_heartbeat_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream((dir / "c.toml").string()) << "[domain]\ndimension = 2\npatches = 1000\n[initial]\ntrajectories = 1\n"
                                              "wavenumbers = [1, 2]\n[time]\nt_end = 0.02\n";
  const std::string cmd = "PATCHLEARN_PROGRESS_SECONDS=0.5 timeout -s INT 10 " + std::string(PATCHLEARN_BINARY) +
                          " simulate '" + (dir / "c.toml").string() + "' --device cpu --out '" +
                          (dir / "out").string() + "' 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::vector<double> elapsed;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) {
    double t = 0;
    if (std::sscanf(buf, "simulate (gap_tooth, 2D): 0.0%% %lf s elapsed", &t) == 1) elapsed.push_back(t);
    if (elapsed.size() == 3) break;
  }
  pclose(p);
  remove_tree_quietly(dir);
  ASSERT_GE(elapsed.size(), 3u) << "the stage's line was not repeated";
  for (std::size_t i = 1; i < elapsed.size(); ++i) EXPECT_GT(elapsed[i], elapsed[i - 1]);
}

TEST(Simulate, CudaWithoutGpuIsAClearError) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present";
  EXPECT_THROW(resolve_device("cuda"), RunError);
  EXPECT_EQ(resolve_device("auto"), Device::CPU);
  EXPECT_THROW(resolve_device("gpu"), ConfigError);
}

namespace {

// Start `patchlearn simulate CONFIG --out DIR --quiet [--resume]`; returns the child's pid.
pid_t start_simulate(const std::string& config, const std::string& dir, bool resume) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    if (resume)
      execl(PATCHLEARN_BINARY, PATCHLEARN_BINARY, "simulate", config.c_str(), "--out", dir.c_str(), "--quiet",
            "--resume", static_cast<char*>(nullptr));
    else
      execl(PATCHLEARN_BINARY, PATCHLEARN_BINARY, "simulate", config.c_str(), "--out", dir.c_str(), "--quiet",
            static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

TEST(Simulate, InterruptedRunsResumeToBitIdenticalData) {
  // Four trajectories committed one by one; a run killed (SIGKILL, then SIGINT) after its first
  // commit leaves no data.h5, and --resume completes it with exactly the uninterrupted run's data
  // (a chunk the resumed config did not accept would be an error, exit 2, not a re-simulation).
  namespace fs = std::filesystem;
  const fs::path root = fs::path(testing::TempDir()) / "pl_resume";
  remove_tree_quietly(root);
  fs::create_directories(root);
  const std::string config = (root / "case.toml").string();
  std::ofstream(config) << testing_support::kSmallCase << "[macro]\nt_end = 0.2\n[initial]\ntrajectories = 4\n"
                        << "[run]\nchunk_trajectories = 1\n";
  // The resumed runs' config differs only in a comment and a table that cannot change the data:
  // the committed chunks are still used.
  const std::string edited = (root / "edited.toml").string();
  std::ofstream(edited)
      << "# resumed with other learning settings\n"
      << testing_support::kSmallCase
      << "[macro]\nt_end = 0.2\n[initial]\ntrajectories = 4\n[run]\nchunk_trajectories = 1\n[learn]\nepochs = 7\n";
  ASSERT_EQ(wait_exit(start_simulate(config, (root / "whole").string(), false)), 0);
  const auto U = h5_read((root / "whole" / "data.h5").string(), "U"),
             R = h5_read((root / "whole" / "data.h5").string(), "dUdt");
  for (int sig : {SIGKILL, SIGINT}) {
    SCOPED_TRACE(sig);
    const fs::path dir = root / ("cut" + std::to_string(sig));
    const pid_t pid = start_simulate(config, dir.string(), false);
    const auto first_chunk = dir / "data.h5.chunks" / "chunk_0_1.h5";
    for (int i = 0; i < 60000 && !fs::exists(first_chunk); ++i) usleep(1000);
    kill(pid, sig);
    wait_exit(pid);
    ASSERT_TRUE(fs::exists(first_chunk));
    EXPECT_FALSE(fs::exists(dir / "data.h5"));  // nothing that looks complete
    ASSERT_EQ(wait_exit(start_simulate(edited, dir.string(), true)), 0);
    EXPECT_EQ(h5_read((dir / "data.h5").string(), "U"), U);  // bit-identical
    EXPECT_EQ(h5_read((dir / "data.h5").string(), "dUdt"), R);
    EXPECT_FALSE(fs::exists(dir / "data.h5.chunks"));
  }
}

TEST(Validate, PatchParametersThatMissTheRateToleranceWarnAndAutoMeetsIt) {
  // quick1d with a = 3 + 2.5 sin: its buffer, sized for a_max = 2.1, lets the ends' disturbance
  // reach the tooth (8.7e-5 relative, test_nonlinear). validate names the key; with "auto" the
  // parameters are chosen instead, with no warning.
  std::string text = read_config_text(std::string(PATCHLEARN_SOURCE_DIR) + "/configs/quick1d.toml");
  text.replace(text.find("mean = 1.1"), 10, "mean = 3.0");
  text.replace(text.find("amplitude = 1.0"), 15, "amplitude = 2.5");
  const auto r = validate(*parse_problem(text, "wide.toml"));
  ASSERT_EQ(r.json["warnings"].size(), 1u) << r.json.dump();
  EXPECT_EQ(r.json["warnings"][0].get<std::string>().rfind("patch.buffer_width: ", 0), 0u);
  text.replace(text.find("buffer_width = 2.4e-2"), 21, "buffer_width = \"auto\"");
  text.replace(text.find("burst = 5e-6"), 12, "burst = \"auto\"");
  const auto a = validate(*parse_problem(text, "auto.toml"));
  EXPECT_TRUE(a.json["warnings"].empty()) << a.json.dump();
  ASSERT_EQ(a.json["notes"].size(), 1u);
}

TEST(Chunks, EachChunkCarriesItsTruthAndAResumeReadsItBack) {
  // The truth of trajectories [first, first + count) is computed with their chunk (on the rank that
  // simulates it, pipeline/chunks.hpp), committed in the chunk file and read back on resume rather
  // than computed again, unless the truth's own settings changed; without a truth function the
  // chunks hold none.
  const std::string dir = (std::filesystem::temp_directory_path() / "pl_chunk_truth").string();
  remove_tree_quietly(dir);
  const index_t B = 5, T = 2, M = 3;
  const auto value = [](index_t b, index_t k, index_t i, double scale) { return scale * (100.0 * b + 10.0 * k + i); };
  const auto compute = [&](index_t first, index_t count, const std::function<void(double)>&) {
    std::vector<double> U, R;
    for (index_t b = first; b < first + count; ++b)
      for (index_t k = 0; k < T; ++k)
        for (index_t i = 0; i < M; ++i) U.push_back(value(b, k, i, 1.0)), R.push_back(value(b, k, i, -1.0));
    return CoarseData::from_host(Device::CPU, count, {0.0, 0.5}, M, U, R, 1.0);
  };
  std::vector<std::pair<index_t, index_t>> asked;
  const TruthOfChunk truth = [&](index_t first, index_t count, const std::vector<double>& t) {
    EXPECT_EQ(t, (std::vector<double>{0.0, 0.5}));
    asked.emplace_back(first, count);
    HomogenizedTruth h;
    for (index_t b = first; b < first + count; ++b)
      for (index_t k = 0; k < T; ++k)
        for (index_t i = 0; i < M; ++i) h.U.push_back(value(b, k, i, 2.0)), h.dUdt.push_back(value(b, k, i, -2.0));
    return h;
  };
  std::vector<double> want_U, want_R;
  for (index_t b = 0; b < B; ++b)
    for (index_t k = 0; k < T; ++k)
      for (index_t i = 0; i < M; ++i) want_U.push_back(value(b, k, i, 2.0)), want_R.push_back(value(b, k, i, -2.0));
  Observer quiet;
  double wall = 0.0;
  ChunkedRun run{dir, false, 2, 1};
  auto first_run = run_in_chunks(&run, "x = 1", B, Device::CPU, compute, truth, quiet, "simulate", wall);
  EXPECT_EQ(asked, (std::vector<std::pair<index_t, index_t>>{{0, 2}, {2, 2}, {4, 1}}));
  EXPECT_EQ(first_run.truth.U, want_U);
  EXPECT_EQ(first_run.truth.dUdt, want_R);
  asked.clear();
  run.resume = true;
  const auto resumed = run_in_chunks(&run, "x = 1", B, Device::CPU, compute, truth, quiet, "simulate", wall);
  EXPECT_TRUE(asked.empty());
  EXPECT_EQ(resumed.truth.U, want_U);
  EXPECT_EQ(resumed.truth.dUdt, want_R);
  EXPECT_EQ(resumed.data.host_U(), first_run.data.host_U());
  // The truth's settings changed (its grid), the data's did not: the chunks' data are read back and
  // their truth is computed again.
  int simulated = 0;
  const SimulateChunk counting = [&](index_t first, index_t count, const std::function<void(double)>& p) {
    ++simulated;
    return compute(first, count, p);
  };
  const auto regridded = run_in_chunks(&run, "x = 1\n[homogenized]\ndx = 1e-4\n", B, Device::CPU, counting, truth,
                                       quiet, "simulate", wall);
  EXPECT_EQ(simulated, 0);
  EXPECT_EQ(asked, (std::vector<std::pair<index_t, index_t>>{{0, 2}, {2, 2}, {4, 1}}));
  EXPECT_EQ(regridded.truth.U, want_U);
  // No truth function: chunks without truth, and none returned; a resume with one refuses them.
  run.resume = false;
  const auto none = run_in_chunks(&run, "x = 1", B, Device::CPU, compute, {}, quiet, "simulate", wall);
  EXPECT_TRUE(none.truth.U.empty());
  run.resume = true;
  EXPECT_THROW(run_in_chunks(&run, "x = 1", B, Device::CPU, compute, truth, quiet, "simulate", wall), InputError);
  remove_tree_quietly(dir);
}
