// The corpus of bad configs in tests/bad_configs/: each file names the key its error must carry and
// a piece of the message. Through the library each is a ConfigError (or an InputError for a missing
// file) with that key and text; through the program, `patchlearn validate` exits with status 2 and
// prints exactly one line, and nothing crashes.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "patchlearn/core/durable.hpp"
#include "patchlearn/core/error.hpp"
#include "patchlearn/io/config.hpp"
#include "patchlearn/io/config2d.hpp"
#include "patchlearn/micro/initial_conditions.hpp"

using namespace patchlearn;
namespace fs = std::filesystem;

namespace {

struct Case {
  std::string path, key, message;
};

std::vector<Case> corpus() {
  std::vector<Case> out;
  for (const auto& e : fs::directory_iterator(fs::path(PATCHLEARN_SOURCE_DIR) / "tests" / "bad_configs")) {
    std::ifstream in(e.path());
    std::string l1, l2;
    std::getline(in, l1);
    std::getline(in, l2);
    Case c{e.path().string(), l1.substr(l1.find(':') + 2), l2.substr(l2.find(':') + 2)};
    if (l1.find(':') + 2 > l1.size()) c.key.clear();
    if (c.key == "<file>") c.key = c.path;
    out.push_back(c);
  }
  std::sort(out.begin(), out.end(), [](const Case& a, const Case& b) { return a.path < b.path; });
  return out;
}

/// The exit status and the output (stdout and stderr) of a shell command.
std::pair<int, std::string> run_program(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return {-1, "popen failed"};
  std::string out;
  std::array<char, 512> buf{};
  while (fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int status = pclose(p);
  return {WEXITSTATUS(status), out};
}

}  // namespace

TEST(BadInputs, CorpusHasAtLeastThirtyCases) { EXPECT_GE(corpus().size(), 30u); }

TEST(BadInputs, EveryConfigErrorNamesItsKeyAndReason) {
  for (const auto& c : corpus()) {
    SCOPED_TRACE(c.path);
    try {
      if (config_dimension(read_config_text(c.path), c.path) == 2)
        check_bench_sweep(load_config_2d(c.path));
      else
        check_bench_sweep(load_config_1d(c.path));
      ADD_FAILURE() << "accepted";
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.key, c.key);
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
    } catch (const InputError& e) {
      EXPECT_TRUE(c.key.empty()) << "InputError for a ConfigError case: " << e.what();
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
    }
  }
}

TEST(BadInputs, ProgramExitsWithStatusTwoAndOneLine) {
  if (std::string(PATCHLEARN_BINARY).empty()) GTEST_SKIP() << "the sanitizer build has no program";
  // Every 5th case through the program (each start loads LibTorch, ~1 s); all through the library above.
  const auto cases = corpus();
  for (std::size_t i = 0; i < cases.size(); i += 5) {
    const auto& c = cases[i];
    SCOPED_TRACE(c.path);
    const auto [status, out] = run_program(std::string(PATCHLEARN_BINARY) + " validate '" + c.path + "'");
    EXPECT_EQ(status, 2) << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
    EXPECT_EQ(out.rfind("patchlearn: ", 0), 0u) << out;
    EXPECT_NE(out.find(c.message), std::string::npos) << out;
  }
}

TEST(BadInputs, MissingConfigFile) {
  if (std::string(PATCHLEARN_BINARY).empty()) GTEST_SKIP() << "the sanitizer build has no program";
  const std::string cmd = std::string(PATCHLEARN_BINARY) + " validate /nonexistent/config.toml 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 512> buf{};
  std::string out;
  while (fgets(buf.data(), buf.size(), p)) out += buf.data();
  EXPECT_EQ(WEXITSTATUS(pclose(p)), 2);
  EXPECT_NE(out.find("cannot read config file"), std::string::npos) << out;
}

TEST(BadInputs, AURangeThatMissesTheInitialConditionsIsRefusedBeforeAnySimulation) {
  // An explicit u range of a u-dependent medium that the initial conditions leave at t = 0: the
  // run would stop at its first step. `validate` and `simulate` say so first (exit 2, one line
  // naming the key, no data), in 1D (quick1d's positivity-shifted sums of 20 sines against
  // [-0.3, 0.3]) and on the 2D lattice (10 modes of amplitude up to 1 against [-1, 1]); `cell`,
  // which starts from no initial condition, still answers.
  if (std::string(PATCHLEARN_BINARY).empty()) GTEST_SKIP() << "the sanitizer build has no program";
  const fs::path dir = fs::path(testing::TempDir()) / "u_range_start";
  patchlearn::remove_tree_quietly(dir);
  fs::create_directories(dir);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"medium.u_range",
       "[medium]\ncoefficient = \"expression\"\nexpression = \"(1.1 + sin(2*pi*y)) * (1 + u)\"\n"
       "u_range = [-0.3, 0.3]\n"},
      {"lattice.u_range",
       "[domain]\ndimension = 2\n[lattice]\nconductance_factor = \"1 + 0.1*u^2\"\nu_range = [-1, 1]\n"}};
  for (const auto& [key, text] : cases) {
    SCOPED_TRACE(key);
    const fs::path cfg = dir / "c.toml", out = dir / "out";
    std::ofstream(cfg) << text;
    for (const std::string job : {"validate", "simulate"}) {
      const auto [status, printed] =
          run_program(std::string(PATCHLEARN_BINARY) + " --log-level error " + job + " '" + cfg.string() + "'" +
                      (job == "simulate" ? " --out '" + out.string() + "'" : ""));
      EXPECT_EQ(status, 2) << printed;
      EXPECT_EQ(std::count(printed.begin(), printed.end(), '\n'), 1) << printed;
      EXPECT_NE(printed.find(key + ": "), std::string::npos) << printed;
      EXPECT_NE(printed.find("does not hold the initial conditions: trajectory "), std::string::npos) << printed;
    }
    EXPECT_FALSE(fs::exists(out / "data.h5"));
    const auto [status, printed] =
        run_program(std::string(PATCHLEARN_BINARY) + " cell '" + cfg.string() + "' --u 0.2 --json");
    EXPECT_EQ(status, 0) << printed;
  }
}

TEST(BadInputs, AReactionThatBlowsUpStopsTheRunNamingTrajectoryAndTime) {
  // u_t = (a u_x)_x + 20 u^2 blows up in finite time (~1 / (20 u0)) and leaves medium.u_range
  // [0, 3] before: simulate stops there with exit 1 and one line naming the trajectory, the node
  // and the time, and writes no data.h5.
  if (std::string(PATCHLEARN_BINARY).empty()) GTEST_SKIP() << "the sanitizer build has no program";
  const fs::path dir = fs::path(testing::TempDir()) / "blow_up";
  patchlearn::remove_tree_quietly(dir);
  fs::create_directories(dir);
  const fs::path cfg = dir / "c.toml", out = dir / "out";
  std::ofstream(cfg) << "[medium]\nreaction = \"20 * u^2\"\nu_range = [0, 3]\n[patch]\nbuffer_ends = "
                        "\"averaged_gradient\"\n[initial]\ntrajectories = 2\nmodes = 2\namplitude = [-0.2, 0.2]\n"
                        "[learn]\ntrain_trajectories = 1\n[macro]\nt_end = 0.2\n[rollout]\nt_end = 0.2\n";
  const auto [status, text] = run_program(std::string(PATCHLEARN_BINARY) + " --log-level error simulate '" +
                                          cfg.string() + "' --out '" + out.string() + "' --device cpu");
  EXPECT_EQ(status, 1) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_NE(text.find("outside medium.u_range"), std::string::npos) << text;
  EXPECT_NE(text.find("trajectory"), std::string::npos) << text;
  EXPECT_NE(text.find("at macro step "), std::string::npos) << text;
  EXPECT_NE(text.find("(t = "), std::string::npos) << text;
  EXPECT_FALSE(fs::exists(out / "data.h5")) << text;
}

TEST(BadInputs, TheTrajectoryThatBlowsUpIsNamedAsInTheRunWhateverChunkAndRealizationItIsOn) {
  // u_t = (a u_x)_x + 30 u^2 on two realizations of a random medium, in chunks of two trajectories:
  // the trajectory that starts highest blows up first (~1 / (30 u0)), and by t = 0.005 it alone
  // leaves medium.u_range. It is not in the first chunk, and its realization runs it alone in
  // its chunk, so a message that numbered it within its chunk or its realization's group would
  // name another trajectory. Every scheme names the run's.
  if (std::string(PATCHLEARN_BINARY).empty()) GTEST_SKIP() << "the sanitizer build has no program";
  const fs::path dir = fs::path(testing::TempDir()) / "blow_up_named";
  patchlearn::remove_tree_quietly(dir);
  fs::create_directories(dir);
  const auto text = [](const std::string& scheme) {
    return "[medium]\ncoefficient = \"random\"\ndistribution = \"uniform\"\nlo = 0.5\nhi = 1.5\nseed = 11\n"
           "realizations = 2\nreaction = \"30 * u^2\"\nu_range = [-4, 4]\n[micro]\ndx = 1e-4\n[scheme]\ntype = \"" +
           scheme +
           "\"\n[patch]\nbuffer_width = 2e-2\nburst = 4e-6\nsubsteps = 16\nheal_substeps = 8\n[macro]\n"
           "integrator = \"euler\"\nt_end = 0.005\nsample_every = 1\n[initial]\ntrajectories = 6\nmodes = 2\n"
           "amplitude = [0.0, 1.0]\nseed = 3\n[learn]\ntrain_trajectories = 4\n[rollout]\nt_end = 0.005\n"
           "[run]\nchunk_trajectories = 2\n";
  };
  const Config1D cfg = parse_config_1d(text("patch_dynamics"), "test");
  const auto ics = draw_initial_conditions(cfg.initial);
  std::size_t hot = 0;
  double top = -1.0;
  for (std::size_t b = 0; b < ics.size(); ++b)
    for (int i = 0; i <= 1000; ++i)
      if (const double u = ics[b](i * 1e-3); u > top) top = u, hot = b;
  ASSERT_GE(hot, 2u) << "the highest start must lie beyond the first chunk";
  const std::string named = "trajectory " + std::to_string(hot);
  for (const std::string scheme : {"patch_dynamics", "gap_tooth", "full_resolution"}) {
    SCOPED_TRACE(scheme);
    const fs::path file = dir / (scheme + ".toml"), out = dir / scheme;
    std::ofstream(file) << text(scheme);
    const auto [status, printed] = run_program(std::string(PATCHLEARN_BINARY) + " --log-level error simulate '" +
                                               file.string() + "' --out '" + out.string() + "' --device cpu");
    EXPECT_EQ(status, 1) << printed;
    EXPECT_EQ(std::count(printed.begin(), printed.end(), '\n'), 1) << printed;
    EXPECT_NE(printed.find("outside medium.u_range"), std::string::npos) << printed;
    const auto at = printed.find("trajectory ");
    ASSERT_NE(at, std::string::npos) << printed;
    EXPECT_EQ(printed.substr(at, named.size() + 1), named + (scheme == "full_resolution" ? " " : ",")) << printed;
    EXPECT_FALSE(fs::exists(out / "data.h5")) << printed;
  }
}

TEST(BadInputs, ALatticeLeavingItsURangeOrBlowingUpStopsTheRun) {
  // Two u-dependent lattices that cannot finish, each stopped with exit 1 and one error line naming
  // the time and the trajectory, no data.h5 that looks finished:
  //  - u_t = 20 u^2 from u >= 0.5 blows up before t = 0.1 (the NaN guard, or the u-range check where
  //    a sample's patch means leave lattice.u_range before they overflow);
  //  - u_t = 8 u + diffusion (wavenumber 1) from |u| <= 0.3 grows past lattice.u_range = [-0.5, 0.5]
  //    near t = 0.1, where f is no longer tabulated: the u-range check names it.
  if (std::string(PATCHLEARN_BINARY).empty()) GTEST_SKIP() << "the sanitizer build has no program";
  const std::string head = "[domain]\ndimension = 2\npatches = 8\n[initial]\ntrajectories = 2\n";
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases{
      {head + "wavenumbers = [1, 3]\namplitude = [0.5, 1.0]\n[lattice]\nreaction = \"20*u^2\"\n",
       {"non-finite U", "is outside lattice.u_range"}},
      {head + "wavenumbers = [1, 1]\nmodes = 1\namplitude = [0.3, 0.3]\n[lattice]\nreaction = \"8*u\"\nu_range = "
              "[-0.5, 0.5]\n",
       {"is outside lattice.u_range [-0.5, 0.5]"}}};
  for (std::size_t c = 0; c < cases.size(); ++c) {
    const fs::path dir = fs::path(testing::TempDir()) / ("lattice_stop" + std::to_string(c));
    patchlearn::remove_tree_quietly(dir);
    fs::create_directories(dir);
    std::ofstream(dir / "c.toml") << cases[c].first;
    const auto [status, text] = run_program(std::string(PATCHLEARN_BINARY) + " simulate '" + (dir / "c.toml").string() +
                                            "' --out '" + (dir / "out").string() + "' --device cpu");
    EXPECT_EQ(status, 1) << text;
    const auto at = text.find("patchlearn: error: ");
    ASSERT_NE(at, std::string::npos) << text;
    const std::string line = text.substr(at);
    bool named = false;
    for (const auto& what : cases[c].second) named = named || line.find(what) != std::string::npos;
    EXPECT_TRUE(named) << text;
    EXPECT_NE(line.find(" at t = "), std::string::npos) << text;
    EXPECT_NE(line.find("trajectory"), std::string::npos) << text;
    EXPECT_EQ(text.find('\n', at), text.size() - 1) << text;  // the error is the last line, and one line
    EXPECT_FALSE(fs::exists(dir / "out" / "data.h5")) << text;
  }
}

TEST(BadInputs, LearningRefusesFullResolutionDataOfARandomMediumAtOnce) {
  // The tooth averages of a random medium at full resolution carry the corrector's random walk
  // (README, "Random media"): run stops before it simulates, with one line naming the key, and
  // writes nothing. (Patch dynamics data of a random medium are learned: configs/random1d.toml.)
  if (std::string(PATCHLEARN_BINARY).empty()) GTEST_SKIP() << "the sanitizer build has no program";
  const fs::path out = fs::path(testing::TempDir()) / "random_run";
  const fs::path cfg = fs::path(testing::TempDir()) / "random_full.toml";
  patchlearn::remove_tree_quietly(out);
  std::ofstream(cfg) << "[medium]\ncoefficient = \"random\"\ndistribution = \"lognormal\"\nmu = 0.0\nsigma = 0.5\n"
                     << "seed = 1\n[scheme]\ntype = \"full_resolution\"\n";
  const auto [status, text] = run_program(std::string(PATCHLEARN_BINARY) + " run '" + cfg.string() + "' --out '" +
                                          out.string() + "' --device cpu");
  EXPECT_EQ(status, 2) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_NE(text.find("patchlearn: config error: scheme.type:"), std::string::npos) << text;
  EXPECT_FALSE(fs::exists(out / "data.h5")) << text;
}

TEST(BadInputs, CellOfAUDependentMediumNeedsU) {
  // `cell` on a medium that depends on u: without --u one line saying so (exit 2); with it the
  // effective coefficients at that u; outside medium.u_range one line naming it (exit 2).
  if (std::string(PATCHLEARN_BINARY).empty()) GTEST_SKIP() << "the sanitizer build has no program";
  const fs::path cfg = fs::path(testing::TempDir()) / "cell_u.toml";
  std::ofstream(cfg) << "[medium]\ncoefficient = \"expression\"\nexpression = \"(1 + u^2) * (1.1 + sin(2*pi*y))\"\n"
                     << "reaction = \"u*(1-u)\"\nu_range = [0, 1]\n";
  const std::string cell = std::string(PATCHLEARN_BINARY) + " cell '" + cfg.string() + "'";
  auto [status, text] = run_program(cell);
  EXPECT_EQ(status, 2) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_NE(text.find("--u"), std::string::npos) << text;
  std::tie(status, text) = run_program(cell + " --u 0.5 --json");
  EXPECT_EQ(status, 0) << text;
  // a*(u) = (1 + u^2) sqrt(1.1^2 - 1) (the harmonic mean of 1.1 + sin), r*(u) = u (1 - u).
  const auto j = text.substr(text.rfind('{'));
  const double a = std::stod(j.substr(j.find("\"a_star\":") + 9)),
               r = std::stod(j.substr(j.find("\"reaction\":") + 11));
  EXPECT_NEAR(a, 1.25 * std::sqrt(0.21), 1e-10 * a) << text;
  EXPECT_NEAR(r, 0.25, 1e-12) << text;
  std::tie(status, text) = run_program(cell + " --u 2");
  EXPECT_EQ(status, 2) << text;
  EXPECT_NE(text.find("medium.u_range"), std::string::npos) << text;
  // A drift and a reaction of y alone: the same period means at every u, no --u needed.
  // c* = a* <c / a> = 2 (<cos / (1.1 + sin)> = 0), r* = <1 + sin> = 1.
  std::ofstream(cfg) << "[medium]\ncoefficient = \"expression\"\nexpression = \"1.1 + sin(2*pi*y)\"\n"
                     << "drift = \"2 + cos(2*pi*y)\"\nreaction = \"1 + sin(2*pi*y)\"\n";
  std::tie(status, text) = run_program(cell + " --json");
  EXPECT_EQ(status, 0) << text;
  const auto k = text.substr(text.rfind('{'));
  EXPECT_NEAR(std::stod(k.substr(k.find("\"drift\":") + 8)), 2.0, 1e-9) << text;
  EXPECT_NEAR(std::stod(k.substr(k.find("\"reaction\":") + 11)), 1.0, 1e-12) << text;
  EXPECT_EQ(k.find("\"u\""), std::string::npos) << text;
}
