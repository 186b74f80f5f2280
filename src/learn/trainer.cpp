#include "patchlearn/learn/trainer.hpp"

#include <cmath>
#include <filesystem>

#include "patchlearn/core/error.hpp"
#include "patchlearn/core/timer.hpp"

namespace patchlearn::learn {

using torch::indexing::Slice;

namespace {
torch::Tensor loss_of(const CoarseModel& model, const torch::Tensor& U, const torch::Tensor& R) {
  const auto d = model->interior(model->forward(U) - R) / model->output_scale();
  return d.pow(2).mean();
}
}  // namespace

TrainLog train(const CoarseModel& model, const torch::Tensor& Utr, const torch::Tensor& Rtr, const torch::Tensor& Uval,
               const torch::Tensor& Rval, const TrainParams& p, const std::function<void(int, double, double)>& on_epoch) {
  model->fit_standardization(Utr, Rtr, p.standardize);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(p.lr));
  const auto N = Utr.size(0);
  const auto gen_opts = torch::TensorOptions().dtype(torch::kLong).device(Utr.device());
  TrainLog log;
  Stopwatch clock;
  const std::string state_path = p.checkpoint_path + ".state";
  int start = 0;
  if (p.resume && p.checkpoint_every > 0 && std::filesystem::exists(state_path)) {
    // The model (parameters and standardization) and Adam's moments as they were after epoch
    // `start`, and the loss history so far.
    try {
      torch::serialize::InputArchive m, st;
      m.load_from(p.checkpoint_path, Utr.device());
      model->load(m);
      st.load_from(state_path, Utr.device());
      opt.load(st);
      c10::IValue epoch;
      torch::Tensor tl, vl;
      st.read("epoch", epoch);
      st.read("train_loss", tl);
      st.read("val_loss", vl);
      start = static_cast<int>(epoch.toInt());
      log.train_loss = std::vector<double>(tl.data_ptr<double>(), tl.data_ptr<double>() + tl.numel());
      log.val_loss = std::vector<double>(vl.data_ptr<double>(), vl.data_ptr<double>() + vl.numel());
    } catch (const c10::Error& e) {
      throw InputError("cannot resume training from '" + state_path + "' (" + std::string(e.what()).substr(0, 80) +
                       "); remove it to start afresh");
    }
    if (start > p.epochs) throw InputError("'" + state_path + "' is past learn.epochs = " + std::to_string(p.epochs));
  }
  for (int e = start; e < p.epochs; ++e) {
    // Each epoch's shuffle has its own seed, so a resumed run draws the same batches.
    torch::manual_seed(p.seed * 1000003ull + static_cast<std::uint64_t>(e));
    // Cosine decay of the learning rate over the epochs.
    const double lr = p.lr_final + 0.5 * (p.lr - p.lr_final) * (1 + std::cos(M_PI * e / std::max(1, p.epochs - 1)));
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
    model->train();
    const auto perm = torch::randperm(N, gen_opts);
    double sum = 0.0;
    int64_t count = 0;
    for (int64_t s = 0; s < N; s += p.batch) {
      const auto idx = perm.index({Slice(s, std::min<int64_t>(s + p.batch, N))});
      opt.zero_grad();
      auto loss = loss_of(model, Utr.index_select(0, idx), Rtr.index_select(0, idx));
      loss.backward();
      opt.step();
      sum += loss.item<double>() * static_cast<double>(idx.size(0));
      count += idx.size(0);
    }
    const double train_loss = sum / static_cast<double>(count);
    if (!std::isfinite(train_loss))
      throw RunError("non-finite training loss in epoch " + std::to_string(e + 1) + " of the " + model->kind() +
                     " network (lower learn.lr or check the data for NaN)");
    double val_loss = std::nan("");
    if (Uval.defined() && Uval.size(0) > 0) {
      torch::NoGradGuard g;
      model->eval();
      val_loss = loss_of(model, Uval, Rval).item<double>();
    }
    log.train_loss.push_back(train_loss);
    log.val_loss.push_back(val_loss);
    log.epochs_done = e + 1;
    if (p.checkpoint_every > 0 && (e + 1) % p.checkpoint_every == 0 && !p.checkpoint_path.empty()) {
      save_model(model, p.checkpoint_path);
      torch::serialize::OutputArchive st;
      opt.save(st);
      st.write("epoch", c10::IValue(static_cast<int64_t>(e + 1)));
      st.write("train_loss", torch::tensor(log.train_loss, torch::kFloat64));
      st.write("val_loss", torch::tensor(log.val_loss, torch::kFloat64));
      st.save_to(state_path + ".partial");
      std::filesystem::rename(state_path + ".partial", state_path);
    }
    if (on_epoch) on_epoch(e + 1, train_loss, val_loss);
  }
  if (p.lbfgs_iterations > 0) {
    torch::optim::LBFGS lbfgs(model->parameters(), torch::optim::LBFGSOptions(1.0)
                                                       .max_iter(p.lbfgs_iterations)
                                                       .history_size(50)
                                                       .tolerance_grad(1e-14)
                                                       .tolerance_change(1e-16)
                                                       .line_search_fn("strong_wolfe"));
    // The full-batch loss and gradient, accumulated over chunks of states: the same numbers as one
    // pass over all of them, without activations of the whole set in memory at once (on 2D data
    // that is ~10x faster per evaluation on a CPU).
    const int64_t chunk = 1024;
    lbfgs.step([&] {
      lbfgs.zero_grad();
      double total = 0.0;
      for (int64_t s = 0; s < N; s += chunk) {
        const auto n = std::min(chunk, N - s);
        auto loss = loss_of(model, Utr.narrow(0, s, n), Rtr.narrow(0, s, n)) * (static_cast<double>(n) / static_cast<double>(N));
        loss.backward();
        total += loss.item<double>();
      }
      return torch::tensor(total, Utr.options());
    });
  }
  model->eval();
  {
    torch::NoGradGuard g;
    log.final_train_loss = loss_of(model, Utr, Rtr).item<double>();
    log.final_val_loss = Uval.defined() && Uval.size(0) > 0 ? loss_of(model, Uval, Rval).item<double>() : std::nan("");
  }
  if (!std::isfinite(log.final_train_loss)) throw RunError("non-finite training loss after the L-BFGS polish of the " + model->kind() + " network");
  if (p.checkpoint_every > 0 && !p.checkpoint_path.empty()) {
    save_model(model, p.checkpoint_path);
    std::error_code ec;
    std::filesystem::remove(state_path, ec);  // finished: nothing left to resume
  }
  log.wall_s = clock.seconds();
  return log;
}

}  // namespace patchlearn::learn
