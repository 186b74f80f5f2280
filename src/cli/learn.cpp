#include "patchlearn/cli/learn.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "patchlearn/core/durable.hpp"
#include "patchlearn/core/error.hpp"
#include "patchlearn/core/timer.hpp"
#include "patchlearn/homog/homogenized1d.hpp"
#include "patchlearn/io/h5.hpp"
#include "patchlearn/learn/regression.hpp"
#include "patchlearn/learn/tensors.hpp"
#include "patchlearn/learn/trainer.hpp"
#include "patchlearn/micro/initial_conditions.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using torch::indexing::Slice;

namespace patchlearn {

void write_json_file(const std::string& path, const nlohmann::json& j) {
  const std::string text = j.dump(1) + "\n";
  write_file_durably(path + ".partial", path, text.data(), text.size());
}

LearningData learning_data(std::shared_ptr<const void> owner, const CoarseData& d) {
  LearningData out;
  out.U = learn::view(owner, d.U, {d.trajectories, d.times, d.nodes});
  out.dUdt = learn::view(owner, d.dUdt, {d.trajectories, d.times, d.nodes});
  out.t = d.t;
  return out;
}

LearningData read_learning_data(const std::string& path, std::size_t rank, const std::string& layout, index_t trajectories,
                                torch::Device device, std::vector<index_t>& dims) {
  std::vector<index_t> dims2;
  const auto U = h5_read_finite(path, "U", &dims);
  const auto R = h5_read_finite(path, "dUdt", &dims2);
  const auto t = h5_read_finite(path, "t");
  if (dims.size() != rank || dims != dims2) throw InputError("'" + path + "': U and dUdt must both be " + layout);
  if (dims[0] != trajectories)
    throw InputError("'" + path + "' holds " + std::to_string(dims[0]) + " trajectories but the config has initial.trajectories = " +
                     std::to_string(trajectories));
  if (static_cast<index_t>(t.size()) != dims[1]) throw InputError("'" + path + "': t does not match U's time axis");
  if (std::adjacent_find(t.begin(), t.end(), std::greater_equal<double>()) != t.end())
    throw InputError("'" + path + "': the times t are not increasing");
  index_t nodes = 1;
  for (std::size_t k = 2; k < rank; ++k) nodes *= dims[k];
  LearningData out;
  out.U = learn::to_tensor(U, {dims[0], dims[1], nodes}, device);
  out.dUdt = learn::to_tensor(R, {dims[0], dims[1], nodes}, device);
  out.t = t;
  return out;
}

LearningData load_learning_data(const std::string& path, const Config1D& cfg, torch::Device device) {
  std::vector<index_t> dims;
  auto out = read_learning_data(path, 3, "[trajectory, time, node]", cfg.initial.trajectories, device, dims);
  if (dims[2] != cfg.macro_nodes)
    throw InputError("'" + path + "' has " + std::to_string(dims[2]) + " macro nodes but the config has domain.macro_nodes = " +
                     std::to_string(cfg.macro_nodes));
  return out;
}

EvaluationSet evaluation_set(const Config1D& cfg, double a_star, const LearningData* data, torch::Device device) {
  EvaluationSet e;
  e.a_star = a_star;
  e.dX = cfg.length / (cfg.macro_nodes - 1);
  for (double t : cfg.sample_times())
    if (t <= cfg.rollout_t_end + 1e-12) e.times.push_back(t);
  const int ntest = cfg.initial.trajectories - cfg.train_trajectories, M = cfg.macro_nodes;
  if (ntest < 1) throw ConfigError("learn.train_trajectories", "no test trajectory is left; raise initial.trajectories");
  const auto ics = draw_initial_conditions(cfg.initial);
  std::vector<std::function<double(double)>> test(ics.begin() + cfg.train_trajectories, ics.end());
  std::vector<double> U0(ntest * M);
  for (int b = 0; b < ntest; ++b)
    for (int i = 0; i < M; ++i) U0[b * M + i] = test[b](i * e.dX);
  e.U0 = learn::to_tensor(U0, {ntest, M}, device);
  const auto per_macro = static_cast<index_t>(std::llround(e.dX / cfg.homogenized_dx));
  const auto truth = homogenized_truth(a_star, cfg.length, M, per_macro, test, e.times);
  e.truth = learn::to_tensor(truth.U, {ntest, static_cast<int64_t>(e.times.size()), M}, device);
  if (data) {
    e.test_states = data->U.index({Slice(cfg.train_trajectories)}).reshape({-1, M}).to(device);
  } else {
    e.test_states = e.truth.reshape({-1, M});
  }
  learn::HomogenizedTorchOperator coarse(a_star, e.dX);
  learn::RolloutParams rp{cfg.rollout_method, cfg.rollout_dt, cfg.rollout_rtol, cfg.rollout_atol};
  e.coarse = learn::rollout(coarse, e.U0, e.times, rp).U;
  return e;
}

namespace {

// Sine amplitudes of the interior part (values minus the linear Dirichlet interpolant) of
// trajectories Y[B, T, M]: [B, T, M-2].
torch::Tensor sine_amplitudes(const torch::Tensor& Y) {
  const auto M = Y.size(2);
  const auto x = torch::linspace(0, 1, M, Y.options());
  const auto lin = Y.index({Slice(), Slice(), Slice(0, 1)}) +
                   (Y.index({Slice(), Slice(), Slice(M - 1, M)}) - Y.index({Slice(), Slice(), Slice(0, 1)})) * x;
  const auto W = (Y - lin).index({Slice(), Slice(), Slice(1, M - 1)});
  const auto j = torch::arange(1, M - 1, Y.options());
  const auto S = torch::sin(M_PI * j.unsqueeze(1) * j.unsqueeze(0) / static_cast<double>(M - 1));  // [j, k]
  return torch::matmul(W, S) * (2.0 / static_cast<double>(M - 1));
}

std::vector<double> per_trajectory_rmse(const torch::Tensor& Y, const torch::Tensor& ref) {
  std::vector<double> out;
  for (int64_t b = 0; b < Y.size(0); ++b) out.push_back(learn::relative_mse(Y[b], ref[b]));
  return out;
}

}  // namespace

json evaluate_model(const learn::CoarseModel& model, const EvaluationSet& e, const Config1D& cfg, ModelPredictions* out) {
  torch::NoGradGuard g;
  learn::ModelOperator op(model);
  learn::HomogenizedTorchOperator coarse(e.a_star, e.dX);
  const auto pred = op.rhs(e.test_states);
  const auto exact = coarse.rhs(e.test_states);
  learn::RolloutParams rp{cfg.rollout_method, cfg.rollout_dt, cfg.rollout_rtol, cfg.rollout_atol};
  Stopwatch clock;
  const auto roll = learn::rollout(op, e.U0, e.times, rp);
  const double roll_s = clock.seconds();
  const auto& Y = roll.U;
  json j;
  j["rhs_rmse"] = learn::relative_mse(pred, exact);
  j["rollout_rmse"] = learn::relative_mse(Y, e.truth);
  j["rollout_rmse_vs_coarse"] = learn::relative_mse(Y, e.coarse);
  j["floor_rmse"] = learn::relative_mse(e.coarse, e.truth);
  j["rollout_rmse_per_trajectory"] = per_trajectory_rmse(Y, e.truth);
  j["floor_rmse_per_trajectory"] = per_trajectory_rmse(e.coarse, e.truth);
  j["rollout"] = {{"method", cfg.rollout_method}, {"steps", roll.steps}, {"rhs_evaluations", roll.rhs_evaluations},
                  {"wall_s", roll_s}, {"t_end", e.times.back()}};
  j["mse_over_time"] = learn::to_vector((Y - e.truth).pow(2).mean(at::IntArrayRef{0, 2}));
  j["floor_mse_over_time"] = learn::to_vector((e.coarse - e.truth).pow(2).mean(at::IntArrayRef{0, 2}));
  // Fourier-amplitude state space (paper Fig. 8b): the two sine modes of largest mean amplitude in
  // the truth, for every test trajectory.
  const torch::Tensor amp_truth = sine_amplitudes(e.truth), amp_model = sine_amplitudes(Y);
  const torch::Tensor top = std::get<1>(amp_truth.abs().mean(at::IntArrayRef{0, 1}).topk(std::min<int64_t>(2, amp_truth.size(2))));
  std::vector<int64_t> modes;
  for (int64_t k = 0; k < top.size(0); ++k) modes.push_back(top[k].item<int64_t>() + 1);
  json fourier = {{"modes", modes}};
  for (int64_t b = 0; b < Y.size(0); ++b)
    fourier["trajectories"].push_back(json{{"truth", learn::to_vector(amp_truth[b].index_select(1, top))},
                                           {"model", learn::to_vector(amp_model[b].index_select(1, top))}});
  j["fourier"] = fourier;
  if (out) *out = {pred, Y};
  return j;
}

void write_tensor(H5Writer& file, const std::string& name, const torch::Tensor& t) {
  file.dataset(name, std::vector<index_t>(t.sizes().begin(), t.sizes().end()), learn::to_vector(t));
}

TrainSplit split_states(const torch::Tensor& U, const torch::Tensor& R, const LearnOptions& o, torch::Device device) {
  const auto dtype = o.precision == "fp32" ? torch::kFloat32 : torch::kFloat64;
  const auto Ud = U.to(device, dtype), Rd = R.to(device, dtype);
  torch::manual_seed(o.seed);
  const auto perm = torch::randperm(Ud.size(0), torch::TensorOptions().dtype(torch::kLong).device(device));
  const auto nval = static_cast<int64_t>(std::floor(o.validation_fraction * static_cast<double>(Ud.size(0))));
  const auto val_idx = perm.index({Slice(0, nval)}), tr_idx = perm.index({Slice(nval)});
  return {Ud.index_select(0, tr_idx), Rd.index_select(0, tr_idx), Ud.index_select(0, val_idx), Rd.index_select(0, val_idx)};
}

learn::TrainLog train_model(const learn::CoarseModel& model, const std::string& name, const LearnOptions& o,
                            const TrainSplit& d, const std::string& path, bool quiet, json& record) {
  learn::TrainParams tp;
  tp.epochs = o.epochs;
  tp.batch = o.batch;
  tp.lr = o.lr;
  tp.lr_final = o.lr_final;
  tp.standardize = o.standardize;
  tp.seed = o.seed;
  tp.checkpoint_every = o.checkpoint_every;
  tp.lbfgs_iterations = o.lbfgs_iterations;
  tp.checkpoint_path = path;
  tp.resume = o.resume;
  Stopwatch clock;
  const auto log = learn::train(model, d.Utr, d.Rtr, d.Uval, d.Rval, tp, [&](int e, double tl, double vl) {
    if (!quiet && (e == 1 || e % std::max(1, o.epochs / 10) == 0 || e == o.epochs))
      std::fprintf(stderr, "%s: epoch %d/%d  train loss %.3e  val loss %.3e  (%.1f s, ETA %.0f s)\n", name.c_str(), e,
                   o.epochs, tl, vl, clock.seconds(), clock.seconds() / e * (o.epochs - e));
  });
  learn::save_model(model, path);
  if (!quiet && o.lbfgs_iterations > 0)
    std::fprintf(stderr, "%s: after %d L-BFGS iterations: train loss %.3e  val loss %.3e\n", name.c_str(),
                 o.lbfgs_iterations, log.final_train_loss, log.final_val_loss);
  record["train_loss"] = log.train_loss;
  record["val_loss"] = log.val_loss;
  record["train_wall_s"] = log.wall_s;
  record["final_train_loss"] = log.final_train_loss;
  record["final_val_loss"] = log.final_val_loss;
  record["model"] = path;
  return log;
}

json train_and_evaluate(const Config1D& cfg, const LearningData& data, double a_star_cell, Device device,
                        const std::string& out_dir, bool quiet) {
  const auto tdev = learn::torch_device(device);
  const auto dtype = cfg.learn.precision == "fp32" ? torch::kFloat32 : torch::kFloat64;
  const int M = cfg.macro_nodes, ntr = cfg.train_trajectories;
  if (data.U.size(0) <= ntr)
    throw ConfigError("learn.train_trajectories", std::to_string(ntr) + " leaves no test trajectory in the data");
  // Training states: the training trajectories' snapshots with t < train_t_max.
  int64_t nt = 0;
  while (nt < static_cast<int64_t>(data.t.size()) && data.t[nt] < cfg.train_t_max) ++nt;
  auto Uall = data.U.index({Slice(0, ntr), Slice(0, nt)}).reshape({-1, M}).to(tdev, dtype);
  auto Rall = data.dUdt.index({Slice(0, ntr), Slice(0, nt)}).reshape({-1, M}).to(tdev, dtype);
  const auto split = split_states(Uall, Rall, cfg.learn, tdev);

  json summary;
  summary["device"] = device_name(device);
  summary["a_star_cell"] = a_star_cell;
  summary["precision"] = cfg.learn.precision;
  summary["train"] = {{"trajectories", ntr}, {"states", split.Utr.size(0)}, {"validation_states", split.Uval.size(0)}};

  // Interpretable regression on the training states.
  {
    const auto U = learn::to_vector(Uall), R = learn::to_vector(Rall);
    const auto reg = learn::regress(U, R, M, cfg.length / (M - 1), cfg.stencil, cfg.regression_threshold);
    summary["a_star_regression"] = reg.a_star;
    summary["a_star_regression_relative_error"] = reg.a_star / a_star_cell - 1.0;
    summary["regression"] = {{"equation", reg.equation},
                             {"terms", reg.terms},
                             {"least_squares", reg.least_squares},
                             {"stlsq", reg.stlsq},
                             {"relative_residual", reg.relative_residual}};
    if (!quiet) std::fprintf(stderr, "regression: %s  (a* from the cell problem: %.10g)\n", reg.equation.c_str(), a_star_cell);
  }

  const auto eval = evaluation_set(cfg, a_star_cell, &data, tdev);
  fs::create_directories(fs::path(out_dir) / "models");
  H5Writer arrays((fs::path(out_dir) / "rollout.h5").string());
  const auto put = [&](const std::string& name, const torch::Tensor& t) { write_tensor(arrays, name, t); };
  put("truth", eval.truth);
  put("coarse", eval.coarse);
  put("test_states", eval.test_states);
  put("exact_rhs", learn::HomogenizedTorchOperator(a_star_cell, eval.dX).rhs(eval.test_states));
  arrays.dataset("t", {static_cast<index_t>(eval.times.size())}, eval.times);
  for (const auto& kind : cfg.learn.networks) {
    auto model = learn::make_model(kind, M, cfg.length / (M - 1), cfg.stencil);
    model->to(tdev, dtype);
    const std::string path = (fs::path(out_dir) / "models" / (kind + ".pt")).string();
    json r;
    const auto log = train_model(model, kind, cfg.learn, split, path, quiet, r);
    ModelPredictions pred;
    r.update(evaluate_model(model, eval, cfg, &pred));
    put(kind + "_rhs", pred.rhs);
    put(kind + "_rollout", pred.rollout);
    if (!quiet)
      std::fprintf(stderr, "%s: rhs rMSE %.3e, rollout rMSE %.3e (vs coarse %.3e, floor %.3e)\n", kind.c_str(),
                   r["rhs_rmse"].get<double>(), r["rollout_rmse"].get<double>(), r["rollout_rmse_vs_coarse"].get<double>(),
                   r["floor_rmse"].get<double>());
    summary[kind] = r;
  }
  summary["times"] = eval.times;
  arrays.commit();
  write_json_file((fs::path(out_dir) / "summary.json").string(), summary);
  return summary;
}

}  // namespace patchlearn
