#include "patchlearn/cli/run2d.hpp"
#include "patchlearn/cli/learn.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "patchlearn/core/error.hpp"
#include "patchlearn/core/timer.hpp"
#include "patchlearn/homog/homogenized2d.hpp"
#include "patchlearn/io/h5.hpp"
#include "patchlearn/learn/regression.hpp"
#include "patchlearn/learn/rollout.hpp"
#include "patchlearn/learn/tensors.hpp"
#include "patchlearn/learn/trainer.hpp"
#include "patchlearn/schemes/lattice2d.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using torch::indexing::Slice;

namespace patchlearn {

PatchLayout2D layout_2d(const Config2D& cfg) {
  return make_layout_2d(cfg.length, cfg.patches, cfg.points, cfg.ratio, cfg.coupling, cfg.order);
}

Lattice2D lattice_2d(const Config2D& cfg) {
  const auto g = layout_2d(cfg);
  return Lattice2D(cfg.kappa, parse_bond_placement(cfg.placement), g.h, g.first);
}

EffectiveTensor cell_tensor(const Config2D& cfg) { return effective_tensor(lattice_2d(cfg)); }

Truth2D homogenized_truth_2d(const Config2D& cfg, const EffectiveTensor& D, int first, int count,
                             const std::vector<double>& times) {
  const auto g = layout_2d(cfg);
  const auto ics = draw_initial_conditions_2d(cfg.initial);
  const int N = cfg.homogenized_grid, M = g.P * g.P, T = static_cast<int>(times.size());
  Truth2D tr;
  tr.U.resize(static_cast<std::size_t>(count) * T * M);
  tr.dUdt.resize(tr.U.size());
  std::vector<double> xs(static_cast<std::size_t>(N));
  for (int x = 0; x < N; ++x) xs[x] = x * cfg.length / N;
#pragma omp parallel for
  for (int b = 0; b < count; ++b) {
    std::vector<double> s(static_cast<std::size_t>(N) * N);
    ics[first + b].on_grid(xs, xs, s.data());
    const HomogenizedSolution2D sol(D, cfg.length, N, s);
    for (int k = 0; k < T; ++k) {
      const std::size_t off = (static_cast<std::size_t>(b) * T + k) * M;
      sol.patch_means(times[k], g.centres, g.m, g.h, tr.U.data() + off, tr.dUdt.data() + off);
    }
  }
  return tr;
}

Simulation2D simulate_2d(const Config2D& cfg, Device device, const std::function<void(double)>& progress,
                         const ChunkedRun* chunks) {
  const auto g = layout_2d(cfg);
  const auto lattice = Lattice2D(cfg.kappa, parse_bond_placement(cfg.placement), g.h, g.first);
  Simulation2D sim;
  sim.D = effective_tensor(lattice);
  const int B = cfg.initial.trajectories;
  const auto ics = draw_initial_conditions_2d(cfg.initial);
  const index_t samples = cfg.samples();
  // Trajectories [first, first + count) with the configured scheme.
  const auto compute = [&](index_t first, index_t count, const std::function<void(double)>& prog) -> CoarseData {
    const std::vector<InitialCondition2D> sub(ics.begin() + first, ics.begin() + first + count);
    std::unique_ptr<LatticeScheme2D> scheme;
    if (cfg.scheme == "gap_tooth")
      scheme = std::make_unique<GapTooth2D>(device, lattice, g, count);
    else
      scheme = std::make_unique<FullLattice2D>(device, lattice, g, count);
    Propagator2D prop(*scheme, cfg.sample_dt, parse_fine_stepper(cfg.stepper), cfg.fine_dt, cfg.fine_tolerance);
    sim.fine_evaluations = prop.evaluations();
    return simulate_lattice_2d(*scheme, prop, cfg.sample_dt, samples, sub, [&](index_t k) {
      if (prog) prog(static_cast<double>(k) / static_cast<double>(samples));
    });
  };
  sim.data = run_in_chunks(chunks, cfg.text, B, device, compute, progress, sim.wall_s);
  sim.truth = homogenized_truth_2d(cfg, sim.D, 0, B, sim.data.t);
  const auto U = sim.data.host_U();
  sim.rmse_vs_homogenized = relative_mse(U, sim.truth.U);
  // At the snapshot nearest t = 0.3, over all trajectories.
  const auto k03 = static_cast<index_t>(std::min<double>(static_cast<double>(samples - 1), std::round(0.3 / cfg.sample_dt)));
  const index_t M = sim.data.nodes;
  std::vector<double> a, b;
  for (int i = 0; i < B; ++i)
    for (index_t j = 0; j < M; ++j) {
      a.push_back(U[(i * samples + k03) * M + j]);
      b.push_back(sim.truth.U[(i * samples + k03) * M + j]);
    }
  sim.rmse_vs_homogenized_t03 = relative_mse(a, b);
  return sim;
}

void write_data_2d_h5(const std::string& path, const Config2D& cfg, const Simulation2D& sim, Device device) {
  const auto& d = sim.data;
  const auto g = layout_2d(cfg);
  H5Writer w(path);
  const std::vector<index_t> dims{d.trajectories, d.times, g.P, g.P};
  w.dataset("U", dims, d.host_U());
  w.dataset("dUdt", dims, d.host_dUdt());
  w.dataset("U_hom", dims, sim.truth.U);
  w.dataset("dUdt_hom", dims, sim.truth.dUdt);
  w.dataset("t", {d.times}, d.t);
  w.dataset("x", {g.P}, g.centres);
  w.dataset("D_cell", {2, 2}, {sim.D.xx, sim.D.xy, sim.D.xy, sim.D.yy});
  w.attribute("config", cfg.text);
  w.attribute("version", std::string(PATCHLEARN_VERSION));
  w.attribute("device", device_description(device));
  w.attribute("scheme", cfg.scheme);
  w.attribute("dimension", 2.0);
  w.attribute("wall_s", sim.wall_s);
  w.attribute("point_steps", d.point_steps);
  w.attribute("rmse_vs_homogenized", sim.rmse_vs_homogenized);
  w.commit();
}

LearningData load_learning_data_2d(const std::string& path, const Config2D& cfg, torch::Device device) {
  std::vector<index_t> dims;
  auto out = read_learning_data(path, 4, "[trajectory, time, patch y, patch x] for a 2D config", cfg.initial.trajectories,
                                device, dims);
  if (dims[2] != cfg.patches || dims[3] != cfg.patches)
    throw InputError("'" + path + "' has " + std::to_string(dims[3]) + " x " + std::to_string(dims[2]) +
                     " patches but the config has domain.patches = " + std::to_string(cfg.patches));
  return out;
}

namespace {

/// Test trajectories, their truth and the rollout times.
struct Evaluation2D {
  std::vector<double> times;
  torch::Tensor U0, truth, truth_rhs, states;  ///< [B, M], [B, T, M], [B, T, M], [B*T, M]
  int P = 0;
  double L = 0;
};

Evaluation2D evaluation_2d(const Config2D& cfg, const EffectiveTensor& D, torch::Device device) {
  Evaluation2D e;
  e.P = cfg.patches;
  e.L = cfg.length;
  for (index_t k = 0; k < cfg.samples(); ++k) {
    const double t = static_cast<double>(k) * cfg.sample_dt;
    if (t <= cfg.rollout_t_end + 1e-12) e.times.push_back(t);
  }
  const int ntr = cfg.train_trajectories(), nte = cfg.initial.trajectories - ntr, M = e.P * e.P;
  const auto tr = homogenized_truth_2d(cfg, D, ntr, nte, e.times);
  const int64_t T = static_cast<int64_t>(e.times.size());
  e.truth = learn::to_tensor(tr.U, {nte, T, M}, device);
  e.truth_rhs = learn::to_tensor(tr.dUdt, {nte, T, M}, device);
  e.U0 = e.truth.index({Slice(), 0}).contiguous();
  e.states = e.truth.reshape({-1, M});
  return e;
}

std::vector<double> per_trajectory(const torch::Tensor& Y, const torch::Tensor& ref) {
  std::vector<double> out;
  for (int64_t b = 0; b < Y.size(0); ++b) out.push_back(learn::relative_mse(Y[b], ref[b]));
  return out;
}

json evaluate_2d(const learn::CoarseModel& model, const Evaluation2D& e, const Config2D& cfg, torch::Tensor* rhs_out,
                 torch::Tensor* roll_out) {
  torch::NoGradGuard g;
  learn::ModelOperator op(model);
  const auto pred = op.rhs(e.states);
  learn::RolloutParams rp{cfg.rollout_method, cfg.rollout_dt, cfg.rollout_rtol, cfg.rollout_atol};
  Stopwatch clock;
  const auto roll = learn::rollout(op, e.U0, e.times, rp);
  const double roll_s = clock.seconds();
  const auto& Y = roll.U;
  json j;
  j["rhs_rmse"] = learn::relative_mse(pred, e.truth_rhs.reshape({-1, e.P * e.P}));
  j["rollout_rmse"] = learn::relative_mse(Y, e.truth);
  j["rollout_rmse_per_trajectory"] = per_trajectory(Y, e.truth);
  j["rollout"] = {{"method", cfg.rollout_method}, {"steps", roll.steps}, {"rhs_evaluations", roll.rhs_evaluations},
                  {"wall_s", roll_s}, {"t_end", e.times.back()}};
  j["mse_over_time"] = learn::to_vector((Y - e.truth).pow(2).mean(at::IntArrayRef{0, 2}));
  // Paper Fig. 8b: the 6 Fourier modes of largest mean amplitude in the truth; |coefficient| of
  // truth and model along every test trajectory.
  const auto amp = [&](const torch::Tensor& V) {
    return torch::abs(torch::fft::fft2(V.reshape({V.size(0), V.size(1), e.P, e.P}))).reshape({V.size(0), V.size(1), -1}) /
           static_cast<double>(e.P * e.P);
  };
  const auto at = amp(e.truth), am = amp(Y);
  // A real field has |c(k)| = |c(-k)|: rank only one of each pair (ky > 0, or ky = 0 and kx >= 0).
  const auto idx = torch::arange(e.P * e.P, torch::TensorOptions().dtype(torch::kLong).device(at.device()));
  const auto kx = idx.remainder(e.P), ky = idx.div(e.P, "floor");
  const auto kxs = torch::where(kx <= e.P / 2, kx, kx - e.P), kys = torch::where(ky <= e.P / 2, ky, ky - e.P);
  const auto half = (kys > 0).logical_or(kys.eq(0).logical_and(kxs >= 0));
  const auto score = torch::where(half, at.mean(at::IntArrayRef{0, 1}), torch::full_like(at.mean(at::IntArrayRef{0, 1}), -1.0));
  const auto top = std::get<1>(score.topk(6));
  json fourier;
  for (int64_t k = 0; k < top.size(0); ++k) {
    const int64_t idx = top[k].item<int64_t>(), ky = idx / e.P, kx = idx % e.P;
    fourier["modes"].push_back({kx <= e.P / 2 ? kx : kx - e.P, ky <= e.P / 2 ? ky : ky - e.P});
  }
  for (int64_t b = 0; b < Y.size(0); ++b)
    fourier["trajectories"].push_back(json{{"truth", learn::to_vector(at[b].index_select(1, top))},
                                           {"model", learn::to_vector(am[b].index_select(1, top))}});
  j["fourier"] = fourier;
  if (rhs_out) *rhs_out = pred;
  if (roll_out) *roll_out = Y;
  return j;
}

}  // namespace

json train_and_evaluate_2d(const Config2D& cfg, const LearningData& data, const EffectiveTensor& D, Device device,
                           const std::string& out_dir, bool quiet) {
  const auto tdev = learn::torch_device(device);
  const auto dtype = cfg.learn.precision == "fp32" ? torch::kFloat32 : torch::kFloat64;
  const int P = cfg.patches, M = P * P, ntr = cfg.train_trajectories();
  if (data.U.size(0) <= ntr) throw ConfigError("learn.train_fraction", "leaves no test trajectory in the data");
  // Training states: the training trajectories' snapshots with t >= train_t_min (the first
  // snapshot carries the lattice's initial layer, not the slow dynamics).
  int64_t t0 = 0;
  while (t0 < static_cast<int64_t>(data.t.size()) && data.t[t0] < cfg.train_t_min - 1e-12) ++t0;
  const auto Uall = data.U.index({Slice(0, ntr), Slice(t0)}).reshape({-1, M});
  const auto Rall = data.dUdt.index({Slice(0, ntr), Slice(t0)}).reshape({-1, M});
  const auto split = split_states(Uall, Rall, cfg.learn, tdev);

  json summary;
  summary["dimension"] = 2;
  summary["device"] = device_name(device);
  summary["precision"] = cfg.learn.precision;
  summary["D_cell"] = {{D.xx, D.xy}, {D.xy, D.yy}};
  summary["train"] = {{"trajectories", ntr}, {"states", split.Utr.size(0)}, {"validation_states", split.Uval.size(0)}};
  {
    const auto reg = learn::regress_2d(learn::to_vector(Uall), learn::to_vector(Rall), P, cfg.length, cfg.regression_threshold);
    const double dxx = reg.coefficient("U_xx"), dxy = 0.5 * reg.coefficient("U_xy"), dyy = reg.coefficient("U_yy");
    summary["D_regression"] = {{dxx, dxy}, {dxy, dyy}};
    summary["D_regression_max_abs_error"] =
        std::max({std::abs(dxx - D.xx), std::abs(dxy - D.xy), std::abs(dyy - D.yy)});
    summary["regression"] = {{"equation", reg.equation},
                             {"terms", reg.terms},
                             {"least_squares", reg.least_squares},
                             {"stlsq", reg.stlsq},
                             {"relative_residual", reg.relative_residual}};
    if (!quiet)
      std::fprintf(stderr, "regression: %s\n  D = [[%.6f, %.6f], [%.6f, %.6f]]  (cell problem [[%.6f, %.6f], [%.6f, %.6f]])\n",
                   reg.equation.c_str(), dxx, dxy, dxy, dyy, D.xx, D.xy, D.xy, D.yy);
  }
  const auto eval = evaluation_2d(cfg, D, tdev);
  fs::create_directories(fs::path(out_dir) / "models");
  H5Writer arrays((fs::path(out_dir) / "rollout.h5").string());
  const auto put = [&](const std::string& name, const torch::Tensor& t) { write_tensor(arrays, name, t); };
  put("truth", eval.truth);
  put("exact_rhs", eval.truth_rhs);
  arrays.dataset("t", {static_cast<index_t>(eval.times.size())}, eval.times);
  for (const auto& net : cfg.learn.networks) {
    const std::string kind = net + "2d";
    auto model = learn::make_model(kind, M, cfg.length / P, 0, P);
    model->to(tdev, dtype);
    const std::string path = (fs::path(out_dir) / "models" / (kind + ".pt")).string();
    json r;
    const auto log = train_model(model, kind, cfg.learn, split, path, quiet, r);
    torch::Tensor rhs, roll;
    r.update(evaluate_2d(model, eval, cfg, &rhs, &roll));
    put(kind + "_rhs", rhs);
    put(kind + "_rollout", roll);
    if (!quiet)
      std::fprintf(stderr, "%s: final train loss %.3e, val %.3e; rhs rMSE %.3e, rollout rMSE %.3e\n", kind.c_str(),
                   log.final_train_loss, log.final_val_loss, r["rhs_rmse"].get<double>(), r["rollout_rmse"].get<double>());
    summary[net] = r;
  }
  summary["times"] = eval.times;
  arrays.commit();
  write_json_file((fs::path(out_dir) / "summary.json").string(), summary);
  return summary;
}

json rollout_model_2d(const Config2D& cfg, const std::string& model_path, Device device) {
  const auto model = learn::load_model(model_path, learn::torch_device(device));
  if (model->grid() != cfg.patches)
    throw InputError("'" + model_path + "' is " + (model->grid() ? "a 2D model on " + std::to_string(model->grid()) + " x " +
                                                                       std::to_string(model->grid()) + " patches"
                                                                 : std::string("a 1D model")) +
                     " but the config has domain.patches = " + std::to_string(cfg.patches));
  const auto eval = evaluation_2d(cfg, cell_tensor(cfg), learn::torch_device(device));
  json r = evaluate_2d(model, eval, cfg, nullptr, nullptr);
  r["kind"] = model->kind();
  return r;
}

}  // namespace patchlearn
