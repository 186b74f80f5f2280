// Config validation: every bad value is a ConfigError that names its key.
#include <gtest/gtest.h>

#include <vector>

#include <string>

#include <set>

#include <map>

#include <functional>

#include <fstream>

#include <cctype>

#include <algorithm>

#include "patchlearn/core/device.hpp"
#include "patchlearn/core/format.hpp"
#include "patchlearn/core/error.hpp"
#include "patchlearn/io/config.hpp"
#include "patchlearn/io/config2d.hpp"
#include "patchlearn/io/footprint.hpp"
#include "small_case.hpp"

using namespace patchlearn;

namespace {

const char* kBase = testing_support::kSmallCase;

// The key of the ConfigError that parsing `extra` appended to a valid base raises ("" if none).
std::string error_key(const std::string& text, std::string* message = nullptr) {
  try {
    parse_config_1d(text, "test.toml");
  } catch (const ConfigError& e) {
    if (message) *message = e.what();
    return e.key;
  }
  return "";
}

}  // namespace

TEST(Config, ShippedConfigsAreValid) {
  for (const char* name : {"paper1d.toml", "quick1d.toml", "dense1d.toml"}) {
    const auto c = load_config_1d(std::string(PATCHLEARN_SOURCE_DIR) + "/configs/" + name);
    EXPECT_EQ(c.macro_nodes, std::string(name) == "dense1d.toml" ? 41 : 11);
    EXPECT_EQ(c.macro_steps(), std::string(name) == "dense1d.toml" ? 1998 : 999);
    EXPECT_EQ(c.sample_times().size(), 1000u);
    EXPECT_TRUE(c.warnings.empty()) << c.warnings.front();
  }
  const auto p = load_config_1d(std::string(PATCHLEARN_SOURCE_DIR) + "/configs/paper1d.toml");
  EXPECT_DOUBLE_EQ(p.epsilon, 1e-5);
  EXPECT_DOUBLE_EQ(p.micro_dx, 1e-7);
  EXPECT_DOUBLE_EQ(p.buffer_width, 8e-3);
  EXPECT_EQ(p.initial.trajectories, 10);
}

TEST(Config, DeviceNames) {
  for (const char* ok : {"auto", "cpu", "cuda", "cuda:0", "cuda:15"}) EXPECT_TRUE(is_device_name(ok)) << ok;
  for (const char* bad : {"", "gpu", "cuda:", "cuda:x", "cuda:-1", "cuda 0", "CUDA", "cuda:99999"})
    EXPECT_FALSE(is_device_name(bad)) << bad;
  EXPECT_THROW(resolve_device("gpu"), ConfigError);
  if (!cuda_available()) {  // a GPU named on a machine without one: a one-line RunError naming it
    try {
      resolve_device("cuda:1");
      ADD_FAILURE() << "cuda:1 resolved without a GPU";
    } catch (const RunError& e) {
      EXPECT_NE(std::string(e.what()).find("--device cuda:1: "), std::string::npos) << e.what();
    }
  }
}

TEST(Config, NonPositiveCoefficient) {
  EXPECT_EQ(error_key(std::string(kBase) + "\n[medium]\n"), "test.toml");  // duplicate table: a TOML error
  EXPECT_EQ(error_key("[medium]\nmean = 0.5\namplitude = 1.0\n"), "medium.coefficient");
  EXPECT_EQ(error_key("[medium]\ncoefficient = \"expression\"\nexpression = \"sin(2*pi*y)\"\n"), "medium.coefficient");
  EXPECT_EQ(error_key("[medium]\ncoefficient = \"laminate\"\na1 = 1.0\na2 = -1.0\nfraction = 0.5\n"),
            "medium.coefficient");
}

TEST(Config, ToothWiderThanMacroSpacing) {
  std::string msg;
  EXPECT_EQ(error_key("[patch]\ntooth_width = 0.1\nbuffer_width = 0.2\n", &msg), "patch.tooth_width");
  EXPECT_NE(msg.find("macro spacing"), std::string::npos) << msg;
}

TEST(Config, BufferSmallerThanTooth) {
  EXPECT_EQ(error_key("[patch]\ntooth_width = 2e-3\nbuffer_width = 1e-3\n"), "patch.buffer_width");
  // Gap-tooth teeth have no buffer: a tooth wider than the default buffer is theirs to choose.
  const auto gap_tooth = parse_config_1d("[scheme]\ntype = \"gap_tooth\"\n[patch]\ntooth_width = 5e-2\n", "test");
  EXPECT_EQ(gap_tooth.tooth_width, 5e-2);
}

TEST(Config, MicroGridNotResolvingEpsilon) {
  std::string msg;
  EXPECT_EQ(error_key("[medium]\nepsilon = 1e-3\n[micro]\ndx = 5e-4\n", &msg), "micro.dx");
  EXPECT_NE(msg.find("points per period"), std::string::npos) << msg;
}

TEST(Config, UnknownKeysSuggestTheRightOne) {
  std::string msg;
  EXPECT_EQ(error_key("[patch]\ntooth_widht = 2e-3\n", &msg), "patch.tooth_widht");
  EXPECT_NE(msg.find("did you mean 'tooth_width'"), std::string::npos) << msg;
  EXPECT_EQ(error_key("[macor]\ndt = 1e-3\n", &msg), "macor");
  EXPECT_NE(msg.find("did you mean 'macro'"), std::string::npos) << msg;
  EXPECT_EQ(error_key("top_level = 1\n"), "top_level");
}

TEST(Config, WrongTypesAndRanges) {
  std::string msg;
  EXPECT_EQ(error_key("[macro]\ndt = \"fast\"\n", &msg), "macro.dt");
  EXPECT_NE(msg.find("expected a number"), std::string::npos) << msg;
  EXPECT_EQ(error_key("[initial]\ntrajectories = 2.5\n"), "initial.trajectories");
  EXPECT_EQ(error_key("[initial]\ntrajectories = 0\n"), "initial.trajectories");
  EXPECT_EQ(error_key("[macro]\ndt = -1e-3\n"), "macro.dt");
  EXPECT_EQ(error_key("[macro]\nintegrator = \"rk3\"\n"), "macro.integrator");
  EXPECT_EQ(error_key("[macro]\nt_end = 0.9995\n"), "macro.t_end");
  EXPECT_EQ(error_key("[patch]\nburst = 2e-3\n"), "patch.burst");
  EXPECT_EQ(error_key("[patch]\nheal_substeps = 10\n"), "patch.heal_substeps");
  EXPECT_EQ(error_key("[patch]\nestimate_degree = 4\n"), "patch.estimate_degree");
  EXPECT_EQ(error_key("[patch]\nestimate_degree = \"cubic\"\n"), "patch.estimate_degree");
  // A cubic needs three substeps after the healing (on a nonlinear medium, where it applies).
  EXPECT_EQ(error_key("[medium]\ncoefficient = \"expression\"\nexpression = \"1.1 + sin(2*pi*y) + u\"\n"
                      "u_range = [0, 2]\n[patch]\nsubsteps = 10\nheal_substeps = 8\nestimate_degree = 3\n"),
            "patch.estimate_degree");
  EXPECT_EQ(error_key("[initial]\namplitude = [1.0, -1.0]\n"), "initial.amplitude");
  EXPECT_EQ(error_key("[homogenized]\ndx = 3e-3\n"), "homogenized.dx");
  EXPECT_EQ(error_key("[scheme]\ntype = \"gap_tooth\"\n[gap_tooth]\ndt = 3e-4\n"), "gap_tooth.dt");
  EXPECT_EQ(error_key("[run]\ndevice = \"tpu\"\n"), "run.device");
  // Forward Euler on 41 nodes at dt = 1e-3: 4 a* dt / dX^2 = 2.93 > 2 (the projective step blows up).
  EXPECT_EQ(error_key("[domain]\nmacro_nodes = 41\n[patch]\ntooth_width = 2e-3\nbuffer_width = 4e-3\n"), "macro.dt");
  EXPECT_EQ(error_key("[domain]\nmacro_nodes = 41\n[patch]\ntooth_width = 2e-3\nbuffer_width = 4e-3\n[macro]\ndt = "
                      "5e-4\nt_end = 0.5\n"),
            "");
  EXPECT_EQ(error_key("[medium\n"), "test.toml");  // syntax error names the file
}

TEST(Config, ThinBufferIsInTheBudget) {
  // A burst whose diffusion length sqrt(2 a_max burst) = 6.5e-3 is twice the buffer's room: the
  // ends' disturbance dominates the measured budget (the `validate` warning names the key).
  const auto c = parse_config_1d("[patch]\ntooth_width = 2e-3\nbuffer_width = 8e-3\nburst = 1e-5\n", "t");
  const auto b = patch_error_budget(c);
  EXPECT_GT(b.buffer, c.rate_tolerance);
  EXPECT_GT(b.buffer, b.corrector);
}

TEST(Config, AutoPatchKeys) {
  const std::string geometry = "[medium]\nmean = 3.0\namplitude = 2.5\n[patch]\ntooth_width = 2e-3\n";
  const auto c = parse_config_1d(geometry +
                                     "burst = \"auto\"\nbuffer_width = \"auto\"\nsubsteps = \"auto\"\n"
                                     "heal_substeps = \"auto\"\nrate_tolerance = 1e-7\n",
                                 "t");
  ASSERT_TRUE(c.patch_budget);
  EXPECT_LE(c.patch_budget->total(), 1e-7);
  EXPECT_LT(c.heal_substeps, c.substeps);
  EXPECT_GT(c.buffer_width, c.tooth_width);
  EXPECT_EQ(c.notes.size(), 1u);
  EXPECT_EQ(error_key("[patch]\nburst = \"automatic\"\n"), "patch.burst");
  EXPECT_EQ(error_key("[patch]\nrate_tolerance = 0\n"), "patch.rate_tolerance");
  // An explicit key stays as given.
  const auto d = parse_config_1d(geometry + "burst = 2e-6\nbuffer_width = \"auto\"\n", "t");
  EXPECT_DOUBLE_EQ(d.burst, 2e-6);
  EXPECT_EQ(d.substeps, 10);
}

TEST(Config, MissingFile) { EXPECT_THROW(load_config_1d("/nonexistent/x.toml"), InputError); }

TEST(Config, BenchRepeatTime) {
  EXPECT_EQ(error_key(std::string(kBase) + "\n[bench]\nrepeat_s = -1\n"), "bench.repeat_s");
  EXPECT_EQ(parse_config_1d(std::string(kBase) + "\n[bench]\nrepeat_s = 0\n", "test.toml").bench.repeat_s, 0.0);
  EXPECT_EQ(parse_config_1d(kBase, "test.toml").bench.repeat_s, 1.0);
}

TEST(Config, EachCommandChecksTheSectionsItUses) {
  // A 2D lattice of period 4 with a 4 x 4 patch interior and patch centres 32 points apart: the default bench sweep
  // (480, 1440, 4800 on 16 patches, centres 30, 90, 300 apart) does not fit its period, which only `bench` and
  // `validate` need to know.
  const auto c = parse_config_2d(R"(
[domain]
dimension = 2
[lattice]
kappa = "lognormal"
period = 4
[patch]
points = 6
ratio = 0.125
)",
                                 "period4");
  try {
    check_bench_sweep(c);
    ADD_FAILURE() << "the default sweep was accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key, "bench.lattice");
  }
  // One trajectory is a valid simulation in 1D and 2D (training then says it needs a test one).
  EXPECT_EQ(parse_config_1d("[initial]\ntrajectories = 1\n", "t").initial.trajectories, 1);
  EXPECT_EQ(parse_config_2d("[domain]\ndimension = 2\n[initial]\ntrajectories = 1\n", "t").initial.trajectories, 1);
}

TEST(Config, GapToothAndFullResolutionDataTrainFromTheirSecondSnapshot) {
  // Their t = 0 snapshot is the initial condition's layer (learn.train_t_min in config.cpp); patch
  // dynamics heals every snapshot.
  const std::string sampled = std::string(kBase) + "[macro]\ndt = 2e-3\nt_end = 0.12\nsample_every = 3\n";
  EXPECT_EQ(parse_config_1d(sampled, "t").train_t_min, 0.0);
  for (const char* scheme : {"gap_tooth", "full_resolution"})
    EXPECT_DOUBLE_EQ(parse_config_1d(sampled + "[scheme]\ntype = \"" + scheme + "\"\n", "t").train_t_min, 6e-3);
  EXPECT_EQ(parse_config_1d(sampled + "[learn]\ntrain_t_min = 0.05\n", "t").train_t_min, 0.05);
  EXPECT_EQ(error_key(sampled + "[learn]\ntrain_t_min = 0.12\n"), "learn.train_t_min");
  EXPECT_EQ(error_key(sampled + "[learn]\ntrain_t_min = 0.05\ntrain_t_max = 0.04\n"), "learn.train_t_min");
  EXPECT_EQ(error_key(sampled + "[learn]\ntrain_t_min = -1\n"), "learn.train_t_min");
}

TEST(Config, DefaultChunksOfThePatchSchemesHoldAtLeastEightTrajectoriesOnTheCpu) {
  // A tenth of the trajectories, but at least kCpuChunkFloor in the patch schemes (their lanes and
  // threads), 1 at full resolution (one trajectory can fill the memory); all at once on a GPU; an
  // explicit size as asked.
  using Spans = std::vector<std::pair<index_t, index_t>>;
  for (const char* scheme : {"patch_dynamics", "gap_tooth"})
    EXPECT_EQ(parse_config_1d(std::string(kBase) + "[scheme]\ntype = \"" + scheme + "\"\n", "t").chunk_floor, 8);
  EXPECT_EQ(parse_config_1d(std::string(kBase) + "[scheme]\ntype = \"full_resolution\"\n", "t").chunk_floor, 1);
  EXPECT_EQ(chunk_spans(10, 0, 1, 8, Device::CPU), (Spans{{0, 8}, {8, 2}}));
  EXPECT_EQ(chunk_spans(24, 0, 1, 8, Device::CPU), (Spans{{0, 8}, {8, 8}, {16, 8}}));
  EXPECT_EQ(chunk_spans(3, 0, 1, 8, Device::CPU), (Spans{{0, 3}}));
  EXPECT_EQ(chunk_spans(100, 0, 1, 8, Device::CPU).size(), 10u);
  EXPECT_EQ(chunk_spans(10, 0, 1, 1, Device::CPU).size(), 10u);
  EXPECT_EQ(chunk_spans(10, 0, 3, 1, Device::CPU), (Spans{{0, 3}, {3, 3}, {6, 4}}));
  EXPECT_EQ(chunk_spans(10, 0, 1, 8, Device::CUDA), (Spans{{0, 10}}));
  EXPECT_EQ(chunk_spans(10, 1, 1, 8, Device::CPU).size(), 10u);
}

TEST(Config, AToothOverPartOfAPeriodIsWarnedAbout) {
  const auto warned = [](const Config1D& c) {
    return std::any_of(c.warnings.begin(), c.warnings.end(),
                       [](const std::string& w) { return w.rfind("patch.tooth_width", 0) == 0; });
  };
  EXPECT_FALSE(warned(parse_config_1d(kBase, "t")));  // 2 periods
  EXPECT_TRUE(warned(parse_config_1d(                 // 2.5 periods
      "[medium]\nepsilon = 8e-4\n[patch]\ntooth_width = 2e-3\nbuffer_width = 1.2e-2\nrate_tolerance = 0.1\n", "t")));
}

TEST(Config, SizesBeyondMemoryAreRefusedUpFront) {
  // A micro grid of 1e-15 gives 1.2e13 points per patch: one fine state of a single trajectory
  // needs ~1e15 bytes, beyond any machine; the coarse data are tiny. Without a GPU (which might
  // hold the fine state) validation refuses it under micro.dx.
  const std::string text = "[medium]\nepsilon = 1e-3\n[micro]\ndx = 1e-15\n[initial]\ntrajectories = 10\n";
  const auto need = footprint_1d(parse_config_1d("[medium]\nepsilon = 1e-3\n", "ok"));
  EXPECT_LT(need.total(), 1e8);  // the default run: ~ 10 x 1000 x 11 coarse values x 4 arrays
  if (cuda_available()) GTEST_SKIP() << "a GPU could hold the fine state";
  try {
    parse_config_1d(text, "huge.toml");
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key, "micro.dx");
    EXPECT_NE(std::string(e.what()).find("one fine state"), std::string::npos) << e.what();
  }
}

TEST(Config, TheLibrarysDegreeInUIsChosenUnlessGiven) {
  EXPECT_EQ(parse_config_1d("", "t").u_degree, learn::kChosenDegree);
  EXPECT_EQ(parse_config_1d("[regression]\nu_degree = 4\n", "t").u_degree, 4);
  EXPECT_EQ(parse_config_1d("[regression]\nu_degree = \"auto\"\n", "t").u_degree, learn::kChosenDegree);
  for (const char* bad : {"0", "11", "2.5", "\"two\""}) {
    try {
      parse_config_1d(std::string("[regression]\nu_degree = ") + bad + "\n", "t");
      ADD_FAILURE() << "regression.u_degree = " << bad << " was taken";
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.key, "regression.u_degree") << e.what();
    }
  }
}

TEST(Config, RegressionWeightsByResidualsExceptOnRandomMedia) {
  // A random medium's rate errors are its patches' scatter, whatever the rates or residuals:
  // unweighted rows (learn/regression.hpp, "Weights").
  const std::string dir = std::string(PATCHLEARN_SOURCE_DIR) + "/configs/";
  EXPECT_EQ(load_config_1d(dir + "nonlinear1d.toml").regression_weights, learn::Weights::Residuals);
  EXPECT_EQ(load_config_1d(dir + "random1d.toml").regression_weights, learn::Weights::None);
  EXPECT_EQ(load_config_2d(dir + "graded2d.toml").regression_weights, learn::Weights::Residuals);
  EXPECT_EQ(load_config_2d(dir + "random2d.toml").regression_weights, learn::Weights::None);
  EXPECT_EQ(parse_config_1d("[regression]\nweights = \"none\"\n", "t").regression_weights, learn::Weights::None);
  EXPECT_EQ(parse_config_1d("[regression]\nweights = \"rates\"\n", "t").regression_weights, learn::Weights::Rates);
  try {
    parse_config_1d("[regression]\nweights = \"rate\"\n", "t");
    FAIL() << "regression.weights = \"rate\" was taken";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("regression.weights"), std::string::npos) << e.what();
  }
}

TEST(Config, ReadmeDefaultsAreTheBuiltInOnes) {
  // The README's configuration table states each key's built-in default (what a config without
  // the key gets): read it back and compare with an empty config's values, key by key.
  const auto c = parse_config_1d("", "empty");
  using Get = std::function<std::string(const Config1D&)>;
  const auto n = [](double v) { return num(v); };
  const std::map<std::string, Get> value = {
      {"medium.epsilon", [&](const Config1D& x) { return n(x.epsilon); }},
      {"domain.length", [&](const Config1D& x) { return n(x.length); }},
      {"domain.macro_nodes", [&](const Config1D& x) { return n(x.macro_nodes); }},
      {"micro.dx", [&](const Config1D& x) { return n(x.micro_dx); }},
      {"scheme.type", [](const Config1D& x) { return std::string(name_of(x.scheme)); }},
      {"patch.tooth_width", [&](const Config1D& x) { return n(x.tooth_width); }},
      {"patch.buffer_width", [&](const Config1D& x) { return n(x.buffer_width); }},
      {"patch.lifting", [](const Config1D& x) { return std::string(x.lifting_degree == 2 ? "quadratic" : "quartic"); }},
      {"patch.burst", [&](const Config1D& x) { return n(x.burst); }},
      {"patch.substeps", [&](const Config1D& x) { return n(x.substeps); }},
      {"patch.method", [](const Config1D& x) { return x.burst_method; }},
      {"patch.buffer_ends", [](const Config1D& x) { return x.buffer_ends; }},
      {"patch.heal_substeps", [&](const Config1D& x) { return n(x.heal_substeps); }},
      {"patch.estimate_degree",
       [&](const Config1D& x) { return x.estimate_degree == 0 ? std::string("auto") : n(x.estimate_degree); }},
      {"gap_tooth.dt", [&](const Config1D& x) { return n(x.gap_tooth_dt); }},
      {"full_resolution.rtol", [&](const Config1D& x) { return n(x.full_rtol); }},
      {"full_resolution.dt0", [&](const Config1D& x) { return n(x.full_dt0); }},
      {"macro.dt", [&](const Config1D& x) { return n(x.macro_dt); }},
      {"macro.integrator", [](const Config1D& x) { return std::string(name_of(x.integrator)); }},
      {"macro.t_end", [&](const Config1D& x) { return n(x.t_end); }},
      {"macro.sample_every", [&](const Config1D& x) { return n(x.sample_every); }},
      {"initial.trajectories", [&](const Config1D& x) { return n(x.initial.trajectories); }},
      {"initial.modes", [&](const Config1D& x) { return n(x.initial.modes); }},
      {"initial.positivity_shift",
       [](const Config1D& x) { return std::string(x.initial.positivity_shift ? "true" : "false"); }},
      {"initial.seed", [&](const Config1D& x) { return n(static_cast<double>(x.initial.seed)); }},
      {"homogenized.dx", [&](const Config1D& x) { return n(x.homogenized_dx); }},
      {"learn.epochs", [&](const Config1D& x) { return n(x.learn.epochs); }},
      {"learn.batch", [&](const Config1D& x) { return n(x.learn.batch); }},
      {"learn.lr", [&](const Config1D& x) { return n(x.learn.lr); }},
      {"learn.lr_final", [&](const Config1D& x) { return n(x.learn.lr_final); }},
      {"learn.lbfgs_iterations", [&](const Config1D& x) { return n(x.learn.lbfgs_iterations); }},
      {"learn.standardize", [](const Config1D& x) { return std::string(x.learn.standardize ? "true" : "false"); }},
      {"learn.precision", [](const Config1D& x) { return std::string(name_of(x.learn.precision)); }},
      {"learn.train_trajectories", [&](const Config1D& x) { return n(x.train_trajectories); }},
      {"learn.validation_fraction", [&](const Config1D& x) { return n(x.learn.validation_fraction); }},
      {"learn.validation_split", [](const Config1D& x) { return std::string(name_of(x.learn.validation_split)); }},
      {"learn.train_t_min", [&](const Config1D& x) { return n(x.train_t_min); }},
      {"learn.stencil", [&](const Config1D& x) { return n(x.stencil); }},
      {"learn.seed", [&](const Config1D& x) { return n(static_cast<double>(x.learn.seed)); }},
      {"learn.checkpoint_every", [&](const Config1D& x) { return n(x.learn.checkpoint_every); }},
      {"rollout.method", [](const Config1D& x) { return std::string(name_of(x.rollout.method)); }},
      {"rollout.t_end", [&](const Config1D& x) { return n(x.rollout.t_end); }},
      {"rollout.dt", [&](const Config1D& x) { return n(x.rollout.dt); }},
      {"rollout.rtol", [&](const Config1D& x) { return n(x.rollout.rtol); }},
      {"rollout.atol", [&](const Config1D& x) { return n(x.rollout.atol); }},
      {"regression.threshold", [&](const Config1D& x) { return n(x.regression_threshold); }},
      {"regression.position_basis", [](const Config1D& x) { return std::string(name_of(x.position_basis)); }},
      {"regression.weights", [](const Config1D& x) { return std::string(name_of(x.regression_weights)); }},
      {"regression.position_degree",
       [&](const Config1D& x) {
         return x.position_degree == learn::kChosenDegree ? std::string("auto") : n(x.position_degree);
       }},
      {"regression.u_degree",
       [&](const Config1D& x) { return x.u_degree == learn::kChosenDegree ? std::string("auto") : n(x.u_degree); }},
      {"learn.position_input",
       [](const Config1D& x) { return std::string(x.learn.position_input ? "true" : "false"); }},
      {"run.device", [](const Config1D& x) { return x.device; }},
      {"run.chunk_trajectories", [&](const Config1D& x) { return n(x.chunk_trajectories); }},
      {"bench.rmse", [&](const Config1D& x) { return n(x.bench.rmse); }},
      {"bench.repeat_s", [&](const Config1D& x) { return n(x.bench.repeat_s); }},
  };
  std::ifstream readme(std::string(PATCHLEARN_SOURCE_DIR) + "/README.md");
  std::string line;
  std::set<std::string> seen;
  const auto cells = [](const std::string& row) {
    std::vector<std::string> out;
    std::size_t a = 1, b;
    while ((b = row.find(" | ", a)) != std::string::npos) out.push_back(row.substr(a, b - a)), a = b + 3;
    return out;
  };
  const auto strip = [](std::string s) {
    s = s.substr(0, s.find(" ("));
    s.erase(std::remove_if(s.begin(), s.end(), [](char ch) { return ch == '`' || ch == '"' || ch == ' '; }), s.end());
    return s;
  };
  while (std::getline(readme, line)) {
    if (line.rfind("| `", 0) != 0) continue;
    const auto cell = cells(line);
    if (cell.size() < 2) continue;
    // "`a.x`, `a.y`" with defaults "1, 2": pair them up.
    std::vector<std::string> keys, defaults;
    for (std::size_t a = 0, b; (a = cell[0].find('`', a)) != std::string::npos; a = b + 1) {
      b = cell[0].find('`', a + 1);
      keys.push_back(cell[0].substr(a + 1, b - a - 1));
    }
    std::string d = cell[1].substr(0, cell[1].find(" ("));
    for (std::size_t a = 0, b; a <= d.size(); a = b + 2) {
      b = d.find(", ", a);
      if (b == std::string::npos) b = d.size();
      defaults.push_back(strip(d.substr(a, b - a)));
    }
    for (std::size_t k = 0; k < keys.size(); ++k) {
      const auto it = value.find(keys[k]);
      if (it == value.end()) continue;
      seen.insert(keys[k]);
      ASSERT_LT(k, defaults.size()) << line;
      const std::string actual = it->second(c), stated = defaults[k];
      if (!stated.empty() && (std::isdigit(static_cast<unsigned char>(stated[0])) || stated[0] == '-'))
        EXPECT_EQ(std::stod(stated), std::stod(actual)) << keys[k] << ": the README says " << stated;
      else
        EXPECT_EQ(stated, actual) << keys[k];
    }
  }
  for (const auto& [key, get] : value) EXPECT_TRUE(seen.count(key)) << key << " has no row in the README's table";
}
