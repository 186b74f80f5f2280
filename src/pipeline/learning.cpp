#include "patchlearn/pipeline/learning.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <functional>
#include <filesystem>

#include <fmt/format.h>

#include "patchlearn/core/error.hpp"
#include "patchlearn/core/timer.hpp"
#include "patchlearn/io/json_file.hpp"
#include "patchlearn/learn/tensors.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using torch::indexing::Slice;

namespace patchlearn {

LearningData learning_data(std::shared_ptr<const void> owner, const CoarseData& d) {
  LearningData out;
  out.U = learn::view(owner, d.U, {d.trajectories, d.times, d.nodes});
  out.dUdt = learn::view(owner, d.dUdt, {d.trajectories, d.times, d.nodes});
  out.t = d.t;
  return out;
}

LearningData read_learning_data(const std::string& path, std::size_t rank, const std::string& layout,
                                index_t trajectories, torch::Device device, std::vector<index_t>& dims) {
  std::vector<index_t> dims2;
  const auto U = h5_read_finite(path, "U", &dims);
  const auto R = h5_read_finite(path, "dUdt", &dims2);
  const auto t = h5_read_finite(path, "t");
  if (dims.size() != rank || dims != dims2) throw InputError("'" + path + "': U and dUdt must both be " + layout);
  if (dims[0] != trajectories)
    throw InputError(fmt::format("'{}' holds {} trajectories but the config has initial.trajectories = {}", path,
                                 dims[0], trajectories));
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

std::vector<double> per_trajectory_rmse(const torch::Tensor& Y, const torch::Tensor& ref) {
  std::vector<double> out;
  for (int64_t b = 0; b < Y.size(0); ++b) out.push_back(learn::relative_mse(Y[b], ref[b]));
  return out;
}

json evaluate_model(learn::TorchOperator& op, const EvaluationSet& e, const RolloutParams& rp,
                    const TrajectoryViews& views, ModelPredictions* out) {
  torch::NoGradGuard g;
  const auto pred = op.rhs(e.test_states);
  json j;
  j["rhs_rmse"] = learn::relative_mse(pred, e.exact_rhs);
  if (out) *out = {pred, {}};
  Stopwatch clock;
  learn::RolloutResult roll;
  // A rollout a thousand times larger than the truth has failed; integrating its blow-up to the
  // end would only cost time (an unstable 2D net took 40 s to reach 6e87).
  auto bounded = rp;
  if (const double top = e.truth.abs().max().item<double>(); top > 0) bounded.bound = 1e3 * top;
  try {
    roll = numbered_from(e.first_trajectory, [&] { return learn::rollout(op, e.U0, e.times, bounded); });
  } catch (const RunError& err) {
    // A model that is unstable on the test states is a result too: it is scored on its
    // right-hand side and its rollout is reported as failed.
    j["rollout_error"] = err.what();
    return j;
  }
  const double roll_s = clock.seconds();
  const auto& Y = roll.U;
  j["rollout_rmse"] = learn::relative_mse(Y, e.truth);
  j["rollout_rmse_per_trajectory"] = per_trajectory_rmse(Y, e.truth);
  j["rollout"] = {{"method", name_of(rp.method)},
                  {"steps", roll.steps},
                  {"rhs_evaluations", roll.rhs_evaluations},
                  {"wall_s", roll_s},
                  {"t_end", e.times.back()}};
  j["mse_over_time"] = learn::to_vector((Y - e.truth).pow(2).mean(at::IntArrayRef{0, 2}));
  if (e.coarse.defined()) {
    j["rollout_rmse_vs_coarse"] = learn::relative_mse(Y, e.coarse);
    j["floor_rmse"] = learn::relative_mse(e.coarse, e.truth);
    j["floor_rmse_per_trajectory"] = per_trajectory_rmse(e.coarse, e.truth);
    j["floor_mse_over_time"] = learn::to_vector((e.coarse - e.truth).pow(2).mean(at::IntArrayRef{0, 2}));
  }
  j.update(views(e.truth, Y, e.times));
  // The front speeds of the exact coarse operator: the grid's own error, which no model on it
  // can remove (as floor_rmse is for the rollout).
  if (j.contains("front") && e.coarse.defined())
    j["front"]["floor_relative_error"] = views(e.truth, e.coarse, e.times)["front"]["max_relative_error"];
  if (out) out->rollout = Y;
  return j;
}

void write_tensor(H5Writer& file, const std::string& name, const torch::Tensor& t) {
  file.dataset(name, std::vector<index_t>(t.sizes().begin(), t.sizes().end()), learn::to_vector(t));
}

namespace {

// The states of each of `trajectories` trajectories among `states` trajectory-major training states.
int64_t states_per_trajectory(int64_t states, int64_t trajectories) {
  if (trajectories < 1 || states % trajectories != 0)
    throw RunError(fmt::format("{} training states are not {} trajectories of equal length", states, trajectories));
  return states / trajectories;
}

}  // namespace

TrainSplit split_states(const torch::Tensor& U, const torch::Tensor& R, int trajectories, const LearnOptions& o,
                        torch::Device device, const torch::Tensor& source) {
  const auto dtype = o.precision == Precision::FP32 ? torch::kFloat32 : torch::kFloat64;
  const auto Ud = U.to(device, dtype), Rd = R.to(device, dtype);
  const auto longs = torch::TensorOptions().dtype(torch::kLong).device(device);
  // The split is drawn by the CPU's generator on every device: the same split on a CPU and a GPU
  // (the training data a checkpoint is resumed with are the same on both).
  torch::manual_seed(o.seed);
  torch::Tensor val_idx, tr_idx, groups;  // groups: each state's patch group, by trajectory
  if (o.validation_split == ValidationSplit::States) {
    const auto perm = torch::randperm(Ud.size(0), torch::kLong).to(device);
    const auto nval = static_cast<int64_t>(std::floor(o.validation_fraction * static_cast<double>(Ud.size(0))));
    val_idx = perm.index({Slice(0, nval)});
    tr_idx = perm.index({Slice(nval)});
    if (o.patch_scales)
      groups = torch::arange(Ud.size(0), longs).div(states_per_trajectory(Ud.size(0), trajectories), "floor");
  } else {
    // Whole trajectories (held_out_trajectories).
    check_validation_split(o, trajectories);
    const int64_t per = states_per_trajectory(Ud.size(0), trajectories);
    const int64_t nval = held_out_trajectories(o, trajectories);
    const auto perm = torch::randperm(trajectories, torch::kLong).to(device);
    const auto states = [&](const torch::Tensor& which) {
      return (which.unsqueeze(1) * per + torch::arange(per, longs).unsqueeze(0)).reshape({-1});
    };
    const auto trained = std::get<0>(perm.index({Slice(nval)}).sort());
    val_idx = states(std::get<0>(perm.index({Slice(0, nval)}).sort()));
    tr_idx = states(trained);
    if (o.patch_scales) {  // the trained trajectories numbered 0 .. G - 1 in order, the held-out ones -1
      const auto rank = torch::full({trajectories}, -1, longs);
      rank.index_put_({trained}, torch::arange(trained.numel(), longs));
      groups = rank.repeat_interleave(per);
    }
  }
  TrainSplit split{Ud.index_select(0, tr_idx),
                   Rd.index_select(0, tr_idx),
                   Ud.index_select(0, val_idx),
                   Rd.index_select(0, val_idx),
                   {},
                   {}};
  if (source.defined()) split.Rtr_source = source.to(device, dtype).index_select(0, tr_idx);
  if (groups.defined()) {
    split.Gtr = groups.index_select(0, tr_idx);
    split.Gval = groups.index_select(0, val_idx);
  }
  return split;
}

learn::TrainLog train_model(const learn::CoarseModel& model, const std::string& name, const LearnOptions& o,
                            const TrainSplit& d, const std::string& path, Observer& observer, json& record) {
  learn::TrainParams tp;
  tp.epochs = o.epochs;
  tp.batch = o.batch;
  tp.lr = o.lr;
  tp.lr_final = o.lr_final;
  tp.standardize = o.standardize;
  tp.seed = o.seed;
  tp.checkpoint_every = o.checkpoint_every;
  tp.lbfgs_iterations = o.lbfgs_iterations;
  // The discretized nets' whitened windows are what amplifies the waves the data never carry
  // (learn/trainer.hpp); the functional nets see derivatives, which tie the short waves to the
  // fitted coefficients, and train as before.
  tp.growth_penalty = model->kind().rfind("discretized", 0) == 0 ? o.growth_penalty : 0.0;
  tp.checkpoint_path = path;
  tp.resume = o.resume;
  tp.train_groups = d.Gtr;
  tp.val_groups = d.Gval;
  tp.source_rates = d.Rtr_source;
  Stopwatch clock;
  const auto log = learn::train(model, d.Utr, d.Rtr, d.Uval, d.Rval, tp, [&](int e, double tl, double vl) {
    observer.progress(name + ": training", static_cast<double>(e) / o.epochs);
    if (e == 1 || e % std::max(1, o.epochs / 10) == 0 || e == o.epochs)
      observer.info(fmt::format("{}: epoch {}/{}  train loss {:.3e}  val loss {:.3e}  ({:.1f} s, ETA {:.0f} s)", name,
                                e, o.epochs, tl, vl, clock.seconds(), clock.seconds() / e * (o.epochs - e)));
  });
  learn::save_model(model, path);
  if (o.lbfgs_iterations > 0) {
    // The polish's note: whether it kept an earlier iterate, or ran out while still gaining.
    std::string note;
    if (log.lbfgs_still_improving()) {
      const auto n = log.lbfgs_loss.size();
      note = fmt::format(" (still improving at the end: {} loss {:.3e} -> {:.3e} over the last 50)",
                         std::isfinite(log.final_val_loss) ? "validation" : "training", log.lbfgs_loss[n - 2],
                         log.lbfgs_loss[n - 1]);
    } else if (log.lbfgs_kept < o.lbfgs_iterations) {
      note = " (the lowest validation loss)";
    }
    observer.info(fmt::format("{}: after {} L-BFGS iterations{}: train loss {:.3e}  val loss {:.3e}", name,
                              log.lbfgs_kept, note, log.final_train_loss, log.final_val_loss));
  }
  record["train_loss"] = log.train_loss;
  record["val_loss"] = log.val_loss;
  record["train_wall_s"] = log.wall_s;
  record["adam_wall_s"] = log.adam_wall_s;
  record["lbfgs_wall_s"] = log.lbfgs_wall_s;
  record["adam_steps"] = log.adam_steps;
  record["final_train_loss"] = log.final_train_loss;
  record["final_val_loss"] = log.final_val_loss;
  record["lbfgs_iterations"] = log.lbfgs_kept;
  record["lbfgs_loss"] = log.lbfgs_loss;
  record["lbfgs_still_improving"] = log.lbfgs_still_improving();
  if (std::isfinite(log.largest_growth)) {
    observer.info(
        fmt::format("{}: largest local growth rate {:.3g} on its probe waves (the data's rate scale {:.3g}, the "
                    "largest bound {:.3g})",
                    name, log.largest_growth, log.rate_scale, log.largest_bound));
    record["largest_growth"] = log.largest_growth;
    record["rate_scale"] = log.rate_scale;
    record["largest_bound"] = log.largest_bound;
  }
  if (log.patch_scales > 0) {
    observer.info(fmt::format("{}: {} patch scales fitted beside it, spread {:.3g} (their harmonic mean 1)", name,
                              log.patch_scales, log.patch_scale_spread));
    record["patch_scales"] = log.patch_scales;
    record["patch_scale_spread"] = log.patch_scale_spread;
  }
  record["model"] = path;
  return log;
}

namespace {

// The task's evaluation set, whose failures name the run's trajectories.
EvaluationSet evaluation_of(const LearningTask& task, const LearningData* data, torch::Device device) {
  const index_t first = task.train_trajectories();
  auto e = numbered_from(first, [&] { return task.evaluation(data, device); });
  e.first_trajectory = first;
  return e;
}

// evaluate_model with the task's rollout and Fourier projection.
json score(const LearningTask& task, learn::TorchOperator& op, const EvaluationSet& eval, ModelPredictions* out) {
  return evaluate_model(
      op, eval, task.rollout_params(),
      [&](const torch::Tensor& truth, const torch::Tensor& Y, const std::vector<double>& t) {
        return task.trajectory_views(truth, Y, t);
      },
      out);
}

}  // namespace

learn::PositionBasis position_basis(const SharedConfig& cfg, double length, int dimensions) {
  learn::PositionBasis b;
  b.kind = cfg.position_basis;
  b.degree = cfg.position_degree;
  b.length = length;
  b.dimensions = dimensions;
  return b;
}

json regression_json(const learn::RegressionResult& fit) {
  json coefficients = json::object();
  for (std::size_t j = 0; j < fit.terms.size(); ++j) coefficients[fit.terms[j]] = fit.stlsq[j];
  json r = {{"equation", fit.equation},   {"coefficients", coefficients},
            {"terms", fit.terms},         {"least_squares", fit.least_squares},
            {"stlsq", fit.stlsq},         {"relative_residual", fit.relative_residual},
            {"threshold", fit.threshold}, {"weights", learn::name_of(fit.weights)},
            {"u_degree", fit.u_degree}};
  if (fit.position.kind != learn::PositionBasis::Kind::None) r["position_degree"] = fit.position.degree;
  return r;
}

json headline_scores(const json& r) {
  json h;
  for (const char* k : {"rhs_rmse", "rollout_rmse", "rollout_rmse_vs_coarse", "floor_rmse"})
    if (r.contains(k)) h[k] = r.at(k);
  return h;
}

std::string score_line(const std::string& name, const json& r) {
  if (!r.contains("rollout_rmse"))
    return fmt::format("{:<12} rhs rMSE {:.3e} | rollout failed: {}", name, r["rhs_rmse"].get<double>(),
                       r.value("rollout_error", std::string("?")));
  std::string s = fmt::format("{:<12} rhs rMSE {:.3e} | rollout rMSE {:.3e}", name, r["rhs_rmse"].get<double>(),
                              r["rollout_rmse"].get<double>());
  if (r.contains("floor_rmse"))
    s += fmt::format(" | vs coarse operator {:.3e} | floor {:.3e}", r["rollout_rmse_vs_coarse"].get<double>(),
                     r["floor_rmse"].get<double>());
  if (r.contains("front")) {
    s += fmt::format(" | front speed error {:.2e}", r["front"]["max_relative_error"].get<double>());
    if (r["front"].contains("floor_relative_error"))
      s += fmt::format(" (floor {:.2e})", r["front"]["floor_relative_error"].get<double>());
  }
  return s;
}

json regression_curves(const learn::RegressionResult& fit, const json& truth,
                       const std::vector<CoefficientCurve>& curves, double x, double y) {
  json out = {{"u", truth["u"]}};
  for (const auto& c : curves)
    for (const auto& point : truth["u"]) {
      const double u = point.get<double>();
      double v = 0, p = 1;
      for (const auto& term : c.terms) v += fit.coefficient_at(term, x, y) * p, p *= u;
      out[c.key].push_back(c.scale * v);
    }
  std::map<std::string, std::vector<std::string>> relative_to;
  for (const auto& c : curves)
    if (!c.relative_to.empty()) relative_to[c.key] = c.relative_to;
  add_curve_errors(out, truth, relative_to);
  return out;
}

void add_curve_errors(json& out, const json& truth,
                      const std::map<std::string, std::vector<std::string>>& relative_to) {
  // The largest error of `key` relative to the largest magnitude of the curves `sizes`, over the
  // points with lo <= u <= hi.
  const auto worst = [&](const std::string& key, const std::vector<std::string>& sizes, double lo, double hi) {
    double err = 0, size = 0;
    for (std::size_t k = 0; k < truth["u"].size(); ++k) {
      const double u = truth["u"][k].get<double>();
      if (u < lo || u > hi) continue;
      err = std::max(err, std::abs(out[key][k].get<double>() - truth[key][k].get<double>()));
      for (const auto& s : sizes) size = std::max(size, std::abs(truth[s][k].get<double>()));
    }
    return size > 0 ? err / size : err;
  };
  constexpr double kAll = std::numeric_limits<double>::infinity();
  for (const auto& [key, ref] : truth.items()) {
    if (key == "u" || key == "u_data" || !out.contains(key)) continue;
    const auto other = relative_to.find(key);
    const std::vector<std::string> sizes = other == relative_to.end() ? std::vector<std::string>{key} : other->second;
    out[key + "_max_error"] = worst(key, sizes, -kAll, kAll);
    if (truth.contains("u_data"))  // the same on the range of U the data visit
      out[key + "_max_error_on_data"] =
          worst(key, sizes, truth["u_data"][0].get<double>(), truth["u_data"][1].get<double>());
  }
  if (truth.contains("u_data")) out["u_data"] = truth["u_data"];
}

std::string curve_errors_text(const json& curves, const std::vector<std::pair<std::string, std::string>>& labels) {
  // The labelled errors KEY + suffix, joined by ", ".
  const auto errors = [&](const std::string& suffix) {
    std::string text;
    for (const auto& [key, label] : labels)
      text += fmt::format("{}{} {:.2e}", text.empty() ? "" : ", ", label, curves[key + suffix].get<double>());
    return text;
  };
  std::string text = errors("_max_error") + " (max error / max size";
  if (curves.contains("u_data"))
    text += fmt::format("; on the data's u in [{:.3g}, {:.3g}]: {}", curves["u_data"][0].get<double>(),
                        curves["u_data"][1].get<double>(), errors("_max_error_on_data"));
  return text + ")";
}

json with_data_range(json truth, const torch::Tensor& U) {
  truth["u_data"] = {U.min().item<double>(), U.max().item<double>()};
  return truth;
}

namespace {

/// The lines a fit says, held until it is known whether that fit is the one kept.
class HeldLines : public Observer {
 public:
  void info(const std::string& line) override { lines_.emplace_back(false, line); }
  void warning(const std::string& line) override { lines_.emplace_back(true, line); }
  void say(Observer& to) const {
    for (const auto& [warn, line] : lines_) warn ? to.warning(line) : to.info(line);
  }

 private:
  std::vector<std::pair<bool, std::string>> lines_;
};

/// Each patch's least-squares scales [..., K] of its rates r on the groups' rates f[k] (sums over
/// its states by `over_patch`), with which of them have rates there (`rated`, [..., K]) and the
/// groups' sizes sum f_k^2 (`size`). A group without rates at a patch (the Dirichlet ends) gets 1;
/// groups nearly collinear there (kCollinearScales) one common scale.
struct PatchLeastSquares {
  torch::Tensor scales, rated, size;
};
template <class OverPatch>
PatchLeastSquares patch_least_squares(const std::vector<torch::Tensor>& f, const torch::Tensor& r,
                                      const OverPatch& over_patch) {
  const auto K = static_cast<int64_t>(f.size());
  std::vector<torch::Tensor> rows, rhs;
  for (int64_t k = 0; k < K; ++k) {
    std::vector<torch::Tensor> row;
    for (int64_t l = 0; l < K; ++l) row.push_back(over_patch(f[k] * f[l]));
    rows.push_back(torch::stack(row, -1));
    rhs.push_back(over_patch(r * f[k]));
  }
  const auto A = torch::stack(rows, -2), b = torch::stack(rhs, -1);
  const auto size = A.diagonal(0, -2, -1);
  const auto rated = size > 0, empty = rated.logical_not().to(A.dtype());
  const auto A1 = A + torch::diag_embed(empty), b1 = b + empty;  // s_k = 1 where group k has no rates
  auto s = torch::linalg_solve(A1, b1);
  if (K > 1) {
    const auto d = A1.diagonal(0, -2, -1).sqrt();
    const auto C = A1 / (d.unsqueeze(-1) * d.unsqueeze(-2));
    const auto collinear = std::get<0>(torch::linalg_eigh(C)).select(-1, 0) < kCollinearScales;
    const auto on = rated.to(A.dtype()), any = rated.any(-1);
    const auto common = (b * on).sum(-1) / ((A * on.unsqueeze(-1) * on.unsqueeze(-2)).sum(at::IntArrayRef{-2, -1}) +
                                            any.logical_not().to(A.dtype()));
    s = torch::where(collinear.unsqueeze(-1), torch::where(rated, common.unsqueeze(-1), torch::ones_like(s)), s);
  }
  return {s, rated, size};
}

}  // namespace

FittedRegression regression_with_patch_scales(const LearningTask& task, const torch::Tensor& U, const torch::Tensor& R,
                                              Observer& observer, const PatchScaling* given) {
  const int64_t G = task.train_trajectories(), per = states_per_trajectory(U.size(0), G);
  const auto rates = [&](const learn::RegressionResult& fit) {
    return task.discovered(fit)->rhs(U).to(R.dtype()).reshape({G, per, -1});
  };
  const PatchScaling scaling = given ? *given : task.patch_scaling();
  const int64_t K = scaling.group ? scaling.groups : 1;
  // A sum over each patch's states: [M] for a node of every trajectory, else [G, M].
  const auto over_patch = [&](const torch::Tensor& t) {
    return scaling.per_node ? t.sum(at::IntArrayRef{0, 1}) : t.sum(1);
  };
  // A patch's value [M] or [G, M] against the rates [G, per, M].
  const auto spread_out = [&](const torch::Tensor& v) { return scaling.per_node ? v : v.unsqueeze(1); };
  const auto R3 = R.reshape({G, per, -1});
  // A fit and what it says, said only once it is the one kept.
  struct HeldFit {
    FittedRegression fit;
    HeldLines lines;
  };
  const auto fit_to = [&](const torch::Tensor& dUdt) {
    HeldFit h;
    h.fit = task.regression(U, dUdt, h.lines);
    return h;
  };
  // The groups' rates of a fit [G, per, M] each, and the rest n.
  const auto split = [&](const learn::RegressionResult& fit, torch::Tensor& n) {
    std::vector<torch::Tensor> f;
    n = rates(fit);
    for (int64_t k = 0; k < K; ++k) {
      learn::RegressionResult part = fit;
      for (std::size_t j = 0; j < part.terms.size(); ++j)
        if (scaling.group(part.terms[j]) != k) part.stlsq[j] = 0.0;
      f.push_back(rates(part));
      n = n - f.back();
    }
    return f;
  };
  if (scaling.known.defined()) {
    // One regression with the known factors on the terms, state by state (learn::TermScales), whose
    // coefficients are the common operator's. The nets' rates: the common operator's plus each
    // state's residual over its patch's rate-weighted mean factor. The equation is then fitted to
    // those rates with the plain library, as the nets take them, and the rates are put back once
    // more with that fit: the scaled library's threshold, chosen on rows of scattered factors, can
    // drop a term the plain one keeps (a correlated medium's U*U_x^2: rollout 3.0x the floor from
    // the scaled fit alone, 1.00x after the two passes; bench/RESULTS.md, "Patch scales from the
    // medium").
    const auto factors = scaling.known.unsqueeze(1).expand({G, per, -1, K}).reshape({G * per, -1, K}).contiguous();
    const learn::TermScales term_scales{scaling.group, factors};
    const auto s = scaling.known.to(R.dtype());
    torch::Tensor weight_sum;
    const auto descale = [&](const learn::RegressionResult& fit) {
      torch::Tensor n;
      const auto f = split(fit, n);
      torch::Tensor scaled = n, common = n, weighted = torch::zeros_like(s.select(-1, 0));
      weight_sum = torch::zeros_like(weighted);
      for (int64_t k = 0; k < K; ++k) {
        const auto sk = s.select(-1, k), size = over_patch(f[k] * f[k]);
        scaled = scaled + spread_out(sk) * f[k];
        common = common + f[k];
        weighted = weighted + sk * size, weight_sum = weight_sum + size;
      }
      const auto mean_scale =
          torch::where(weight_sum > 0, weighted / weight_sum.clamp_min(1e-300), torch::ones_like(weighted));
      return (common + (R3 - scaled) / spread_out(mean_scale)).reshape_as(R);
    };
    HeldLines unsaid;
    auto descaled = descale(task.regression(U, R, unsaid, &term_scales).result);
    HeldLines lines;
    FittedRegression fitted = task.regression(U, descaled, lines);
    descaled = descale(fitted.result);
    lines = HeldLines();
    fitted = task.regression(U, descaled, lines);
    lines.say(observer);
    fitted.descaled_rates = descaled;
    fitted.summary["regression_patch_scales"] = {
        {"patches", (weight_sum > 0).sum().item<int64_t>()},
        {"scales_per_patch", K},
        {"mean", "harmonic"},
        {"known", true},
        {"spread", s.select(-1, 0).masked_select(weight_sum > 0).std().item<double>()}};
    return fitted;
  }
  HeldFit held = fit_to(R);
  torch::Tensor held_rates = R;    // the rates the kept fit was fitted on
  torch::Tensor scale, has_rates;  // the kept fit's scales [..., K], and which of them have rates
  int rounds = 0;
  double change = 1.0;  // the largest relative move of a scale in the last round
  for (; rounds < kPatchScaleRounds && change > kPatchScaleChange; ++rounds) {
    // f[k]: the fit's rates that scale k multiplies; n: the rest (none on a diffusion).
    std::vector<torch::Tensor> f;
    torch::Tensor n = torch::zeros_like(R3);
    if (scaling.group)
      f = split(held.fit.result, n);
    else
      f.push_back(rates(held.fit.result));
    const auto r = R3 - n;
    auto [s, rated_k, size] = patch_least_squares(f, r, over_patch);
    const auto rated = rated_k.any(-1);
    const auto fitted = s.masked_select(rated_k);
    if (fitted.numel() == 0 || !torch::isfinite(fitted).all().item<bool>() || fitted.min().item<double>() <= 0) {
      observer.warning(fmt::format(
          "learn.patch_scales: some patch's rates are not a positive multiple of the regression's (kept the fit "
          "{})",
          rounds == 0 ? "without scales" : "of the last positive scales"));
      break;
    }
    // Each group's scales normalized over the patches with its rates.
    std::vector<torch::Tensor> normalized;
    for (int64_t k = 0; k < K; ++k) {
      const auto sk = s.select(-1, k), on = rated_k.select(-1, k);
      const auto chosen = sk.masked_select(on);
      const auto factor = scaling.harmonic ? (1.0 / chosen).mean() : 1.0 / chosen.mean();
      normalized.push_back(torch::where(on, sk * factor, sk));
    }
    s = torch::stack(normalized, -1);
    change = scale.defined() ? (s / scale - 1.0).abs().max().item<double>() : 1.0;
    scale = s, has_rates = rated_k;
    // Each patch's rate-weighted mean scale s, and its rates as at the mean: the groups' scales
    // apart from s taken out with the fit's f_k, the rest divided by s as the data have it.
    auto mean_scale = s.select(-1, 0), target = r;
    if (K > 1) {
      const auto weight = size * rated_k, one = torch::ones_like(mean_scale);
      mean_scale = torch::where(rated, (s * weight).sum(-1) / torch::where(rated, weight.sum(-1), one), one);
      for (int64_t k = 0; k < K; ++k) target = target - spread_out(s.select(-1, k) - mean_scale) * f[k];
    }
    held_rates = (n + target / spread_out(mean_scale)).reshape_as(R);
    held = fit_to(held_rates);
  }
  held.lines.say(observer);
  if (scale.defined() && scaling.group) held.fit.descaled_rates = held_rates;
  if (scale.defined())
    held.fit.summary["regression_patch_scales"] = {{"patches", has_rates.any(-1).sum().item<int64_t>()},
                                                   {"scales_per_patch", K},
                                                   {"mean", scaling.harmonic ? "harmonic" : "arithmetic"},
                                                   {"spread", scale.masked_select(has_rates).std().item<double>()},
                                                   {"rounds", rounds},
                                                   {"settled", change <= kPatchScaleChange}};
  if (scale.defined() && scaling.per_node) {  // a lattice's teeth: their scales [M][K], to read against the medium
    json each = json::array();
    const auto host = scale.to(torch::kCPU, torch::kFloat64).contiguous();
    for (int64_t i = 0; i < host.size(0); ++i) each.push_back(learn::to_vector(host[i]));
    held.fit.summary["regression_patch_scales"]["scales"] = each;
  }
  return held.fit;
}

torch::Tensor LearningTask::coarse_data_rates(const torch::Tensor& U) const {
  const auto coarse = exact_coarse();
  return coarse ? coarse->rhs(U) : torch::Tensor();
}

json train_and_evaluate(const LearningTask& task, const LearningData& data, Device device, const std::string& out_dir,
                        Observer& observer, const std::function<void(json&)>& complete) {
  learn::match_torch_threads();
  const auto& o = task.options();
  const auto tdev = learn::torch_device(device);
  const auto dtype = o.precision == Precision::FP32 ? torch::kFloat32 : torch::kFloat64;
  const auto [Uall, Rall] = task.training_states(data);
  // The nets' scales multiply their whole rate: not where the task scales only some terms.
  const PatchScaling scaling = o.patch_scales ? task.patch_scaling() : PatchScaling{};
  LearnOptions net_options = o;
  net_options.patch_scales = o.patch_scales && !scaling.group;

  json summary = task.describe();
  summary["device"] = device_name(device);
  summary["precision"] = name_of(o.precision);
  // The training states' rates against the exact coarse operator's: a grid that does not resolve
  // the data (full-resolution rates are the PDE's own, not a 3-point scheme's) is said before any
  // model is fitted to the difference.
  torch::Tensor expected;
  {
    torch::NoGradGuard g;
    expected = task.coarse_data_rates(Uall);
  }
  if (expected.defined()) {
    const double d = learn::relative_mse(Rall, expected);
    const std::string reference = task.coarse_data_reference();
    summary["data_rhs_rmse"] = d;
    summary["data_rhs_reference"] = reference;
    observer.info(fmt::format("data: dU/dt of the training states against {} {:.3e} (eq. 24)", reference, d));
    const double bound = task.tolerated_data_rhs_rmse();
    const bool unresolved = !(d <= bound);
    summary["data_rhs_unresolved"] = unresolved;
    if (unresolved)
      observer.warning(fmt::format(
          "the data's dU/dt are {:.3g} (eq. 24) off {} on the training states, above {:g}, "
          "and every model on this grid fits the difference: the macro grid does not resolve the data "
          "(full-resolution rates are the PDE's own, not the 3-point scheme's; on a u-dependent 2D lattice, products "
          "of modes past the P x P grid's P/2), the patch parameters miss patch.rate_tolerance, or 1D gap-tooth "
          "teeth step too long (their backward-Euler rates are first order in gap_tooth.dt on a u-dependent "
          "medium); use a finer macro grid (domain.macro_nodes, domain.patches), slower initial conditions, a later "
          "learn.train_t_min, patch data or a shorter gap_tooth.dt",
          d, reference, bound));
  }
  const auto fitted = o.patch_scales ? regression_with_patch_scales(task, Uall, Rall, observer, &scaling)
                                     : task.regression(Uall, Rall, observer);
  summary.update(fitted.summary);
  task.describe_fit(summary);
  // Where the regression scaled some terms alone, the nets train on its rates at each patch's mean
  // scale (FittedRegression::descaled_rates).
  const bool descaled = fitted.descaled_rates.defined();
  const auto split = split_states(Uall, descaled ? fitted.descaled_rates : Rall, task.train_trajectories(), net_options,
                                  tdev, descaled ? Rall : torch::Tensor());
  summary["train"] = {{"trajectories", task.train_trajectories()},
                      {"states", split.Utr.size(0)},
                      {"validation_states", split.Uval.size(0)},
                      {"validation_split", name_of(o.validation_split)},
                      {"patch_scales", o.patch_scales},
                      {"net_patch_scales", net_options.patch_scales},
                      {"net_rates_descaled", descaled}};
  if (descaled)
    observer.info(
        "learn.patch_scales: the regression scales each patch's diffusion terms alone (on a lattice, each "
        "direction's); the nets, whose rate has no such split, train on its rates put back at each patch's "
        "mean scale");

  const auto eval = evaluation_of(task, &data, tdev);
  std::error_code ec;
  fs::create_directories(fs::path(out_dir) / "models", ec);
  if (ec) throw InputError("cannot create '" + (fs::path(out_dir) / "models").string() + "': " + ec.message());
  H5Writer arrays((fs::path(out_dir) / "rollout.h5").string());
  const auto put = [&](const std::string& name, const torch::Tensor& t) { write_tensor(arrays, name, t); };
  put("truth", eval.truth);
  if (eval.coarse.defined()) put("coarse", eval.coarse);
  put("test_states", eval.test_states);
  put("exact_rhs", eval.exact_rhs);
  arrays.dataset("t", {static_cast<index_t>(eval.times.size())}, eval.times);
  // A model's scores, its predictions into rollout.h5 and its line for people, alike for the
  // networks and the discovered equation.
  const auto scored = [&](const std::string& name, learn::TorchOperator& op) {
    ModelPredictions pred;
    const json r = score(task, op, eval, &pred);
    put(name + "_rhs", pred.rhs);
    if (pred.rollout.defined()) put(name + "_rollout", pred.rollout);
    observer.info(score_line(name, r));
    if (r.contains("rollout_error")) observer.warning(name + ": " + r["rollout_error"].get<std::string>());
    // Eq. (24) of 1: the rates' own spread about their mean, which a constant would match.
    if (const double e = r["rhs_rmse"].get<double>(); !(e < 1.0))
      observer.warning(
          fmt::format("{}: its dU/dt on the unseen test states miss the exact ones by more than their own "
                      "spread (rhs rMSE {:.3g}, eq. 24): it describes none of these data",
                      name, e));
    return r;
  };
  for (const auto& net : o.networks) {
    auto model = task.make_model(net);
    model->to(tdev, dtype);
    const std::string name = task.model_name(net);
    const std::string path = (fs::path(out_dir) / "models" / (name + ".pt")).string();
    json r;
    train_model(model, name, o, split, path, observer, r);
    learn::ModelOperator op(model);
    r.update(scored(name, op));
    r.update(task.model_views(*model, Uall));
    summary[net] = r;
  }
  // The discovered equation, scored like a network.
  summary["regression"].update(scored("regression", *task.discovered(fitted.result)));
  summary["times"] = eval.times;
  arrays.commit();
  if (complete) complete(summary);
  write_json_file((fs::path(out_dir) / "summary.json").string(), summary);
  return summary;
}

json rollout_saved_model(const LearningTask& task, const learn::CoarseModel& model, Device device) {
  learn::ModelOperator op(model);
  json r = score(task, op, evaluation_of(task, nullptr, learn::torch_device(device)), nullptr);
  r["kind"] = model->kind();
  return r;
}

}  // namespace patchlearn
