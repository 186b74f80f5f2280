#include "patchlearn/learn/trainer.hpp"

#include "patchlearn/core/format.hpp"

#include <ATen/CPUGeneratorImpl.h>
#ifdef PATCHLEARN_TORCH_CUDA_GRAPHS
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "patchlearn/core/durable.hpp"
#include "patchlearn/core/error.hpp"
#include "patchlearn/core/timer.hpp"
#include "patchlearn/learn/flat_adam.hpp"
#include "patchlearn/learn/tensors.hpp"

namespace patchlearn::learn {

namespace {

// The fit of rates f to the targets R: their mean squared difference at the interior nodes, in
// units of the targets' standard deviation.
torch::Tensor fit_of(const CoarseModel& model, const torch::Tensor& f, const torch::Tensor& R) {
  return (model->interior(f - R) / model->output_scale()).pow(2).mean();
}

// With patch scales s [N, M] (undefined: none), the fit of s N(U).
torch::Tensor loss_of(const CoarseModel& model, const torch::Tensor& U, const torch::Tensor& R,
                      const torch::Tensor& scale = {}) {
  const auto f = model->forward(U);
  return fit_of(model, scale.defined() ? f * scale : f, R);
}

// The patch scales of TrainParams (trainer.hpp): delta [G, M], one per group and node, trained with
// the net; s = exp(delta) / mean(exp(-delta)) over the interior nodes, so that mean(1/s) = 1.
struct PatchScales {
  torch::Tensor delta;  ///< undefined without groups
  int64_t groups = 0;
  PatchScales(const CoarseModel& model, const torch::Tensor& train_groups, const torch::TensorOptions& opts) {
    if (!train_groups.defined()) return;
    groups = train_groups.numel() > 0 ? train_groups.max().item<int64_t>() + 1 : 0;
    delta = torch::zeros({groups, model->nodes()}, opts).requires_grad_(true);
  }
  bool on() const { return delta.defined(); }
  /// Every group's scales [G, M] (the nodes the fit does not see included).
  torch::Tensor table(const CoarseModel& model) const {
    return torch::exp(delta) * torch::exp(-model->interior(delta)).mean();
  }
  /// The scales of states of groups g [n] (-1: a group not trained, scale 1); undefined without.
  torch::Tensor of(const CoarseModel& model, const torch::Tensor& g) const {
    if (!on() || !g.defined()) return {};
    const auto all = torch::cat({table(model), torch::ones({1, delta.size(1)}, delta.options())});
    return all.index_select(0, torch::where(g < 0, torch::full_like(g, groups), g));
  }
  /// The net's parameters, and the scales where they are fitted.
  std::vector<torch::Tensor> trainables(const CoarseModel& model) const {
    auto v = model->parameters();
    if (on()) v.push_back(delta);
    return v;
  }
};

// The growth probes (TrainParams::growth_penalty): the phases theta[N, M] of one plane wave per
// state. In 2D theta = 2 pi (kx I + ky J) / P, the wavenumbers uniform over the P x P grid; in 1D
// theta = pi k i / (M - 1), k uniform in 1..M-2. Drawn from their own generator, so the shuffles
// and the next network's initialization do not depend on them.
torch::Tensor wave_phases(const CoarseModel& model, int64_t count, std::uint64_t seed,
                          const torch::TensorOptions& opts) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  torch::Tensor theta;
  if (const int P = model->grid(); P > 0) {
    const auto k = torch::randint(0, P, {count, 2}, gen, f64);
    const auto I = torch::arange(P, f64).repeat({P}), J = torch::arange(P, f64).repeat_interleave(P);
    theta = (2 * M_PI / P) * (k.narrow(1, 0, 1) * I + k.narrow(1, 1, 1) * J);
  } else {
    const int M = model->nodes();
    theta = (M_PI / (M - 1)) * torch::randint(1, M - 1, {count, 1}, gen, f64) * torch::arange(M, f64);
  }
  return theta.to(opts);
}

// The model's Jacobian's local symbol at every interior node x for the waves of phases theta (the
// frozen-coefficient growth rate of that wave there), from its responses f = N(U),
// fc = N(U + A cos theta) and fs = N(U + A sin theta):
//   Re sigma_x = (cos theta_x (fc - f)_x + sin theta_x (fs - f)_x) / A.
torch::Tensor local_growth(const CoarseModel& model, const torch::Tensor& f, const torch::Tensor& fc,
                           const torch::Tensor& fs, const torch::Tensor& theta, double amplitude) {
  return model->interior(torch::cos(theta) * (fc - f) + torch::sin(theta) * (fs - f)) / amplitude;
}

// N(U) and the responses on the first p states to the waves of phases theta and to a uniform
// shift, in one forward pass: [N(U); N(U_p + A cos theta); N(U_p + A sin theta); N(U_p + A)].
torch::Tensor responses(const CoarseModel& model, const torch::Tensor& U, const torch::Tensor& theta,
                        double amplitude) {
  const auto p = theta.size(0);
  const auto Up = U.narrow(0, 0, p);
  return model->forward(
      torch::cat({U, Up + amplitude * torch::cos(theta), Up + amplitude * torch::sin(theta), Up + amplitude}));
}

// The local growth rates sigma [p, interior] of the first p states' waves, and the bound each is
// held to: the data's rate scale mu, or the model's own growth rate of a uniform shift at that node
// where that is larger (detached: the fit, not the penalty, sets it). `all` is responses(...).
struct LocalGrowth {
  torch::Tensor sigma, bound;
  LocalGrowth(const CoarseModel& model, const torch::Tensor& all, int64_t n, const torch::Tensor& theta, double mu,
              double amplitude) {
    const auto p = theta.size(0);
    const auto f = all.narrow(0, 0, p);
    sigma = local_growth(model, f, all.narrow(0, n, p), all.narrow(0, n + p, p), theta, amplitude);
    bound = torch::clamp_min(model->interior(all.narrow(0, n + 2 * p, p) - f).detach() / amplitude, mu);
  }
};

// The fit, plus, with growth probes, the growth penalty: the local growth rates of the first
// quarter of the states, each above its bound penalized as (Re sigma_x / bound_x - 1)^2.
torch::Tensor objective(const CoarseModel& model, const torch::Tensor& U, const torch::Tensor& R,
                        const torch::Tensor& theta, double weight, double mu, double amplitude,
                        const torch::Tensor& scale) {
  if (!theta.defined() || weight == 0.0) return loss_of(model, U, R, scale);
  const auto n = U.size(0), p = (n + 3) / 4;
  const auto all = responses(model, U, theta.narrow(0, 0, p), amplitude);
  const LocalGrowth g(model, all, n, theta.narrow(0, 0, p), mu, amplitude);
  const auto f = all.narrow(0, 0, n);
  return fit_of(model, scale.defined() ? f * scale : f, R) + weight * torch::relu(g.sigma / g.bound - 1).pow(2).mean();
}

// The largest local growth rate over every state of U, each with its wave of phases theta, and the
// largest bound it was held to (above mu only where a uniform shift grows faster).
std::pair<double, double> largest_local_growth(const CoarseModel& model, const torch::Tensor& U,
                                               const torch::Tensor& theta, double mu, double amplitude) {
  torch::NoGradGuard guard;
  double largest = -std::numeric_limits<double>::infinity(), bound = mu;
  const int64_t chunk = 1024;
  for (int64_t s = 0; s < U.size(0); s += chunk) {
    const auto n = std::min(chunk, U.size(0) - s);
    const auto th = theta.narrow(0, s, n);
    const LocalGrowth g(model, responses(model, U.narrow(0, s, n), th, amplitude), n, th, mu, amplitude);
    largest = std::max(largest, g.sigma.max().item<double>());
    bound = std::max(bound, g.bound.max().item<double>());
  }
  return {largest, bound};
}

std::string text(double v) { return fmt::format("{}", v); }  // the shortest form that reads back exactly

// What an Adam checkpoint's continuation depends on, as "key=value" lines with the config's own
// key names: a resumed run must reach the parameters of an uninterrupted one, so any of these
// changed since the checkpoint is refused. (L-BFGS iterations and the checkpoint interval only act
// after or between the saved epochs; changing them is fine.)
std::map<std::string, std::string> identity_of(const CoarseModel& model, const torch::Tensor& Utr,
                                               const torch::Tensor& Rtr, const TrainParams& p) {
  std::map<std::string, std::string> id{
      {"network", model->kind()},
      {"learn.activation", model->activation()},
      {"learn.epochs", std::to_string(p.epochs)},
      {"learn.batch", std::to_string(p.batch)},
      {"learn.lr", text(p.lr)},
      {"learn.lr_final", text(p.lr_final)},
      {"learn.growth_penalty", text(p.growth_penalty)},
      {"learn.standardize", p.standardize ? "true" : "false"},
      {"learn.seed", std::to_string(p.seed)},
      {"learn.precision", Utr.scalar_type() == torch::kFloat32 ? "fp32" : "fp64"},
      {"training data", checksum_hex(tensor_checksum(
                            p.source_rates.defined() ? p.source_rates : Rtr,
                            tensor_checksum(Utr, p.train_groups.defined() ? tensor_checksum(p.train_groups, Utr.size(0))
                                                                          : Utr.size(0))))}};
  // Only where it is on, so that a checkpoint written before patch scales existed still resumes.
  if (p.train_groups.defined()) id["learn.patch_scales"] = "true";
  if (p.source_rates.defined()) id["targets"] = "derived from the data's rates";
  return id;
}

std::string serialize(const std::map<std::string, std::string>& m) {
  std::string s;
  for (const auto& [k, v] : m) s += k + "=" + v + "\n";
  return s;
}

std::map<std::string, std::string> parse(const std::string& s) {
  std::map<std::string, std::string> m;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) m[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return m;
}

std::uint64_t state_checksum(const CoarseModel& model, const PatchScales& scales, std::uint64_t adam, int64_t epoch,
                             const std::string& identity, const TrainLog& log) {
  std::uint64_t h = checksum64(&epoch, sizeof epoch, model_checksum(model));
  if (scales.on()) h = tensor_checksum(scales.delta, h);
  h = checksum64(identity.data(), identity.size(), h);
  h = checksum64(log.train_loss.data(), log.train_loss.size() * sizeof(double), h);
  h = checksum64(log.val_loss.data(), log.val_loss.size() * sizeof(double), h);
  return checksum64(&h, sizeof h, adam);
}

// The resume checkpoint PATH.state holds everything a continuation needs in one file, written
// atomically: the model (parameters and standardization), Adam's moments and step count, the epoch,
// the loss history, the identity of the run, the patch scales and a checksum over all of it. (PATH
// itself is the exported model; a resume never reads it, so the two can never be from different
// epochs.)
void save_checkpoint(const CoarseModel& model, const PatchScales& scales, const FlatAdam& adam, int epoch,
                     const std::string& identity, const TrainLog& log, const std::string& state_path) {
  torch::serialize::OutputArchive st, m;
  model->save(m);
  st.write("model", m);
  if (scales.on()) st.write("patch_scales", scales.delta.detach());
  adam.state().save(st);
  st.write("epoch", c10::IValue(static_cast<int64_t>(epoch)));
  st.write("identity", c10::IValue(identity));
  st.write("train_loss", torch::tensor(log.train_loss, torch::kFloat64));
  st.write("val_loss", torch::tensor(log.val_loss, torch::kFloat64));
  st.write("checksum",
           c10::IValue(checksum_hex(state_checksum(model, scales, adam.state().checksum(0), epoch, identity, log))));
  write_archive(st, state_path);
}

// Continue from PATH.state: returns the epoch it was saved after, with the model and the loss
// history restored and Adam's state in `adam`. InputError naming the file when it is damaged or
// from other settings.
int resume_checkpoint(const CoarseModel& model, const PatchScales& scales, AdamState& adam, const std::string& identity,
                      const TrainParams& p, const torch::Device& device, TrainLog& log, const std::string& state_path) {
  const std::string afresh = "; delete " + state_path + " to train afresh";
  torch::serialize::InputArchive st;
  c10::IValue epoch, stored_identity, stored_checksum;
  try {
    st.load_from(state_path, device);
  } catch (const c10::Error& e) {
    throw InputError("cannot resume training from '" + state_path + "': not a readable checkpoint (" +
                     first_line(e.what()) + ")" + afresh);
  }
  if (!st.try_read("identity", stored_identity) || !stored_identity.isString() ||
      !st.try_read("checksum", stored_checksum) || !stored_checksum.isString() || !st.try_read("adam_t", adam.t))
    throw InputError("cannot resume training from '" + state_path + "': written by an older patchlearn or damaged" +
                     afresh);
  // Settings first: a changed precision must be refused before any tensor of the other dtype is
  // loaded into the model.
  const auto was = parse(stored_identity.toStringRef());
  auto now = parse(identity);
  for (const auto& kv : was) now.emplace(kv.first, "unset");  // a setting the checkpoint has and this run has not
  for (const auto& [key, value] : now) {
    const auto it = was.find(key);
    const std::string before = it == was.end() ? "unset" : it->second;
    if (before == value) continue;
    if (key == "training data")
      throw InputError("cannot resume training from '" + state_path +
                       "': the training data differ from the checkpoint's (another data.h5, or a changed split)" +
                       afresh);
    throw InputError("cannot resume training from '" + state_path + "': " + key + " was " + before + " there and is " +
                     value + " now; restore it, or" + afresh.substr(1));
  }
  torch::Tensor tl, vl;
  try {
    torch::serialize::InputArchive m;
    st.read("model", m);
    model->load(m);
    if (scales.on()) {
      torch::Tensor delta;
      st.read("patch_scales", delta);
      TORCH_CHECK(delta.sizes().equals(scales.delta.sizes()), "the patch scales' shape differs");
      torch::NoGradGuard g;
      scales.delta.copy_(delta);
    }
    st.read("adam_m", adam.m);
    st.read("adam_v", adam.v);
    int64_t size = 0;
    for (const auto& q : scales.trainables(model)) size += q.numel();
    TORCH_CHECK(adam.m.numel() == size && adam.v.numel() == size && adam.t.numel() == 1,
                "its optimizer state does not fit the model");
    st.read("epoch", epoch);
    st.read("train_loss", tl);
    st.read("val_loss", vl);
  } catch (const c10::Error& e) {
    throw InputError("cannot resume training from '" + state_path + "': " + first_line(e.what()) + afresh);
  }
  if (!epoch.isInt() || epoch.toInt() < 0 || epoch.toInt() > p.epochs || tl.numel() != epoch.toInt() ||
      vl.numel() != epoch.toInt())
    throw InputError("cannot resume training from '" + state_path + "': its epoch count is damaged" + afresh);
  tl = tl.to(torch::kCPU, torch::kFloat64).contiguous();
  vl = vl.to(torch::kCPU, torch::kFloat64).contiguous();
  log.train_loss.assign(tl.data_ptr<double>(), tl.data_ptr<double>() + tl.numel());
  log.val_loss.assign(vl.data_ptr<double>(), vl.data_ptr<double>() + vl.numel());
  const int start = static_cast<int>(epoch.toInt());
  if (stored_checksum.toStringRef() !=
      checksum_hex(state_checksum(model, scales, adam.checksum(0), start, identity, log)))
    throw InputError("cannot resume training from '" + state_path +
                     "': it does not match its checksum (the file is damaged)" + afresh);
  return start;
}

// The growth penalty's settings for one training: the weight, the data's rate scale mu =
// std(dU/dt) / std(U) over the interior nodes, and the probes' amplitude, 1% of std(U).
struct Growth {
  double weight = 0.0, mu = 1.0, amplitude = 0.0;
  std::uint64_t seed = 0;
  Growth(const CoarseModel& model, const torch::Tensor& Utr, const torch::Tensor& Rtr, const TrainParams& p)
      : weight(p.growth_penalty), seed(p.seed) {
    if (weight == 0.0 || Utr.size(0) == 0) return;
    torch::NoGradGuard g;
    const double su = model->interior(Utr).std().item<double>(), sr = model->interior(Rtr).std().item<double>();
    if (!(su > 0) || !(sr > 0)) {
      weight = 0.0;  // constant states or rates: no rate scale to bound the growth by
      return;
    }
    mu = sr / su;
    amplitude = 1e-2 * su;
  }
  /// The waves' phases for one pass over the states (Adam epoch e draws pass 2 e, the L-BFGS
  /// polish 2 epochs + 1); undefined without the penalty.
  torch::Tensor probes(const CoarseModel& model, const torch::Tensor& U, std::uint64_t pass) const {
    if (weight == 0.0) return {};
    return wave_phases(model, U.size(0), seed * 1000003ull + 7919ull * (pass + 1), U.options());
  }
};

// The Adam epochs over shuffled mini-batches (each epoch's shuffle seeded by (seed, epoch), so a
// resumed run draws the same batches). A mini-batch step reads no host value: the epoch's
// permutation (and growth probes) are copied into fixed tensors, the batch is gathered at a
// position held in a tensor, FlatAdam updates, and the loss is summed into a tensor read once an
// epoch. On a CPU the step runs as it is. On a GPU, LibTorch's eager mode spends more time
// dispatching the step's ~150 small kernels than the GPU spends running them (paper1d: 1.9 and
// 3.3 ms a step on an H200, slower than 2 CPU cores), so each batch size's step is captured once
// into a CUDA graph, after a few eager steps have initialized the libraries, and replayed: one
// launch a step. Capture and eager steps do the same arithmetic. Should a capture fail, the
// training goes on eagerly and the log says why.
class AdamEpochs {
 public:
  AdamEpochs(const CoarseModel& model, FlatAdam& adam, const torch::Tensor& Utr, const torch::Tensor& Rtr,
             const TrainParams& p, const Growth& growth, const PatchScales& scales)
      : model_(model), adam_(adam), Utr_(Utr), Rtr_(Rtr), p_(p), growth_(growth), scales_(scales) {
    const auto longs = torch::TensorOptions().dtype(torch::kLong).device(Utr.device());
    perm_ = torch::empty({Utr.size(0)}, longs);
    at_ = torch::zeros({}, longs);
    loss_sum_ = torch::zeros({}, Utr.options().dtype(torch::kFloat64));
    if (growth.weight != 0.0) waves_ = torch::empty_like(Utr);  // one wave phase per state and node (Growth::probes)
#ifdef PATCHLEARN_TORCH_CUDA_GRAPHS
    if (Utr.is_cuda() && p.cuda_graphs) {
      // Graphs are captured on a stream of their own; it starts after the work queued so far.
      c10::cuda::getCurrentCUDAStream().synchronize();
      stream_.emplace(c10::cuda::getStreamFromPool(false, Utr.device().index()));
      mode_ = "cuda_graphs";
    }
#endif
  }
  AdamEpochs(const AdamEpochs&) = delete;
  AdamEpochs& operator=(const AdamEpochs&) = delete;
#ifdef PATCHLEARN_TORCH_CUDA_GRAPHS
  ~AdamEpochs() {
    try {
      if (stream_) stream_->synchronize();  // the parameters' last updates, before anyone else reads them
    } catch (const c10::Error&) {
      // A device fault while unwinding: the error that is unwinding says what happened.
    }
  }
#endif

  /// Epoch e; returns its mean training loss.
  double run(int e) {
#ifdef PATCHLEARN_TORCH_CUDA_GRAPHS
    std::optional<c10::cuda::CUDAStreamGuard> on_stream;
    if (stream_) on_stream.emplace(*stream_);
#endif
    const auto N = Utr_.size(0);
    torch::manual_seed(p_.seed * 1000003ull + static_cast<std::uint64_t>(e));
    // Cosine decay of the learning rate over the epochs.
    adam_.set_lr(p_.lr_final + 0.5 * (p_.lr - p_.lr_final) * (1 + std::cos(M_PI * e / std::max(1, p_.epochs - 1))));
    model_->train();
    perm_.copy_(torch::randperm(N, torch::kLong));  // the CPU's generator: the same batches on every device
    if (waves_.defined()) waves_.copy_(growth_.probes(model_, Utr_, 2 * static_cast<std::uint64_t>(e)));
    at_.zero_();
    loss_sum_.zero_();
    for (int64_t s = 0; s < N; s += p_.batch) batch(std::min<int64_t>(p_.batch, N - s));
    const double train_loss = loss_sum_.item<double>() / static_cast<double>(N);
    if (!std::isfinite(train_loss))
      throw RunError("non-finite training loss in epoch " + std::to_string(e + 1) + " of the " + model_->kind() +
                     " network (lower learn.lr or check the data for NaN)");
    return train_loss;
  }

  /// "eager", "cuda_graphs", or "eager" with the reason a capture failed.
  const std::string& mode() const { return mode_; }

 private:
  // The next n states of the permutation: forward, backward, update, loss summed.
  void step(int64_t n) {
    const auto idx = perm_.index_select(0, torch::arange(n, perm_.options()) + at_);
    at_.add_(n);
    const auto loss = objective(
        model_, Utr_.index_select(0, idx), Rtr_.index_select(0, idx),
        waves_.defined() ? waves_.index_select(0, idx) : waves_, growth_.weight, growth_.mu, growth_.amplitude,
        scales_.of(model_, scales_.on() ? p_.train_groups.index_select(0, idx) : torch::Tensor()));
    adam_.step(torch::autograd::grad({loss}, adam_.params(), {}, false, false, true));
    torch::NoGradGuard g;
    loss_sum_.add_(loss.detach().to(torch::kFloat64) * static_cast<double>(n));
  }

#ifdef PATCHLEARN_TORCH_CUDA_GRAPHS
  void batch(int64_t n) {
    if (!stream_) return step(n);
    auto& graph = graphs_[n];
    if (!graph) {
      // Eager steps first (cuBLAS's and cuDNN's handles and workspaces are made outside a capture).
      if (++eager_[n] <= (n == p_.batch ? 3 : 1)) return step(n);
      graph = std::make_unique<at::cuda::CUDAGraph>();
      try {
        graph->capture_begin();
        step(n);
        graph->capture_end();
      } catch (const c10::Error& e) {
        try {
          graph->capture_end();  // ends the stream's capture and the graph's memory pool
        } catch (const c10::Error&) {
        }
        graphs_.clear();
        stream_->synchronize();
        stream_.reset();
        mode_ = "eager (CUDA graph capture failed: " + first_line(e.what()) + ")";
        return step(n);  // nothing of the capture ran
      }
    }
    graph->replay();
  }
  std::optional<c10::cuda::CUDAStream> stream_;
  std::map<int64_t, std::unique_ptr<at::cuda::CUDAGraph>> graphs_;
  std::map<int64_t, int> eager_;
#else
  void batch(int64_t n) { step(n); }
#endif

  const CoarseModel& model_;
  FlatAdam& adam_;
  const torch::Tensor &Utr_, &Rtr_;
  const TrainParams& p_;
  const Growth& growth_;
  const PatchScales& scales_;
  torch::Tensor perm_, waves_, at_, loss_sum_;
  std::string mode_ = "eager";
};

// Full-batch L-BFGS with a strong Wolfe line search, run in blocks of 50 iterations (the optimizer
// keeps its curvature history across them). With a validation set it keeps the iterate of lowest
// validation loss, checked after every block, and stops after five blocks without a new lowest:
// where the targets carry scatter that no function of the state can hold (the patches of a random
// medium, each its own harmonic mean), the full-batch polish fits the scatter instead (random1d:
// train loss 3.0e-3 -> 1.6e-3 while the validation loss rose 2.9e-3 -> 5.9e-3, and the rollouts
// 1.7x the floor). On clean data the validation loss falls with the training loss and the last
// iterate is kept. Returns the iterations that produced the kept iterate; `history` gets the loss
// the choice is made on before the polish and after each block.
int lbfgs_polish(const CoarseModel& model, const torch::Tensor& Utr, const torch::Tensor& Rtr,
                 const torch::Tensor& Uval, const torch::Tensor& Rval, const Growth& growth, const PatchScales& scales,
                 const TrainParams& p, std::vector<double>& history) {
  constexpr int block = 50, patience = 5;
  const int epochs = p.epochs, iterations = p.lbfgs_iterations;
  torch::optim::LBFGS lbfgs(
      scales.trainables(model),
      torch::optim::LBFGSOptions(1.0).history_size(50).tolerance_grad(1e-14).tolerance_change(1e-16).line_search_fn(
          "strong_wolfe"));
  // The full-batch loss and gradient, accumulated over chunks of states: the same numbers as one
  // pass over all of them, without activations of the whole set in memory at once (on 2D data
  // that is ~10x faster per evaluation on a CPU). A GPU takes chunks of up to 2^20 node values
  // (32 MB a hidden layer in fp64): fewer, larger launches.
  const auto N = Utr.size(0);
  const int64_t chunk =
      Utr.is_cuda() ? std::max<int64_t>(1024, (int64_t{1} << 20) / std::max<int64_t>(1, Utr.size(1))) : 1024;
  // One fixed set of waves: the objective must not change between the line search's evaluations.
  const auto waves = growth.probes(model, Utr, 2 * static_cast<std::uint64_t>(epochs) + 1);
  const auto closure = [&] {
    lbfgs.zero_grad();
    double total = 0.0;
    for (int64_t s = 0; s < N; s += chunk) {
      const auto n = std::min(chunk, N - s);
      auto loss = objective(model, Utr.narrow(0, s, n), Rtr.narrow(0, s, n),
                            waves.defined() ? waves.narrow(0, s, n) : waves, growth.weight, growth.mu, growth.amplitude,
                            scales.of(model, scales.on() ? p.train_groups.narrow(0, s, n) : torch::Tensor())) *
                  (static_cast<double>(n) / static_cast<double>(N));
      loss.backward();
      total += loss.item<double>();
    }
    return torch::tensor(total, Utr.options());
  };
  const bool validate = Uval.defined() && Uval.size(0) > 0;
  // The loss the kept iterate is chosen on (and `history` records): the validation loss, or the
  // training loss without a validation set.
  const auto chosen_loss = [&] {
    torch::NoGradGuard g;
    return (validate ? loss_of(model, Uval, Rval, scales.of(model, p.val_groups))
                     : loss_of(model, Utr, Rtr, scales.of(model, p.train_groups)))
        .item<double>();
  };
  double best = chosen_loss();
  history.assign(1, best);
  std::vector<torch::Tensor> kept;
  int done = 0, kept_at = 0, since = 0;
  const auto keep = [&] {
    torch::NoGradGuard g;
    kept.clear();
    for (const auto& q : scales.trainables(model)) kept.push_back(q.detach().clone());
    kept_at = done;
  };
  if (validate) keep();
  auto& options = static_cast<torch::optim::LBFGSOptions&>(lbfgs.param_groups()[0].options());
  while (done < iterations) {
    const int n = std::min(block, iterations - done);
    options.max_iter(n).max_eval(n * 5 / 4);
    lbfgs.step(closure);
    done += n;
    const double v = chosen_loss();
    history.push_back(v);
    if (!validate) continue;
    if (v < best) {
      best = v;
      keep();
      since = 0;
    } else if (++since == patience) {
      break;
    }
  }
  if (!validate) return done;
  torch::NoGradGuard g;
  const auto params = scales.trainables(model);
  for (std::size_t k = 0; k < params.size(); ++k) params[k].copy_(kept[k]);
  return kept_at;
}

}  // namespace

bool TrainLog::lbfgs_still_improving() const {
  // The last block's iterate is the one kept (a polish stopped by its patience ends on blocks that
  // were not), and that block still gained.
  const auto n = lbfgs_loss.size();
  return n >= 2 && lbfgs_loss[n - 1] == *std::min_element(lbfgs_loss.begin(), lbfgs_loss.end()) &&
         lbfgs_loss[n - 1] < (1.0 - kStillImproving) * lbfgs_loss[n - 2];
}

bool cuda_graphs_built() {
#ifdef PATCHLEARN_TORCH_CUDA_GRAPHS
  return true;
#else
  return false;
#endif
}

TrainLog train(const CoarseModel& model, const torch::Tensor& Utr, const torch::Tensor& Rtr, const torch::Tensor& Uval,
               const torch::Tensor& Rval, const TrainParams& p,
               const std::function<void(int, double, double)>& on_epoch) {
  match_torch_threads();
  if (Rtr.numel() > 0 && (Rtr.max() - Rtr.min()).item<double>() == 0.0)
    throw InputError("the training targets dU/dt of the " + model->kind() + " network are all " +
                     text(Rtr.flatten()[0].item<double>()) +
                     ": there is nothing to learn (check the data or initial.amplitude)");
  const int64_t validation_states = Uval.defined() ? Uval.size(0) : 0;
  if (p.train_groups.defined() && (p.train_groups.numel() != Utr.size(0) ||
                                   (p.val_groups.defined() ? p.val_groups.numel() : 0) != validation_states))
    throw std::invalid_argument("learn::train: the patch groups do not match the training and validation states");
  model->fit_standardization(Utr, Rtr, p.standardize);
  const PatchScales scales(model, p.train_groups, Utr.options());
  const Growth growth(model, Utr, Rtr, p);
  TrainLog log;
  Stopwatch clock;
  const bool checkpoints = p.checkpoint_every > 0 && !p.checkpoint_path.empty();
  const std::string state_path = p.checkpoint_path + ".state";
  const std::string identity = serialize(identity_of(model, Utr, Rtr, p));
  int start = 0;
  AdamState resumed;
  if (p.resume && checkpoints && std::filesystem::exists(state_path))
    start = resume_checkpoint(model, scales, resumed, identity, p, Utr.device(), log, state_path);
  const bool validate = validation_states > 0;
  {
    FlatAdam adam(scales.trainables(model), p.lr, resumed);
    AdamEpochs epochs(model, adam, Utr, Rtr, p, growth, scales);
    for (int e = start; e < p.epochs; ++e) {
      const double train_loss = epochs.run(e);
      double val_loss = std::nan("");
      if (validate) {
        torch::NoGradGuard g;
        model->eval();
        val_loss = loss_of(model, Uval, Rval, scales.of(model, p.val_groups)).item<double>();
      }
      log.train_loss.push_back(train_loss);
      log.val_loss.push_back(val_loss);
      log.epochs_done = e + 1;
      if (checkpoints && (e + 1) % p.checkpoint_every == 0) {
        save_model(model, p.checkpoint_path);
        save_checkpoint(model, scales, adam, e + 1, identity, log, state_path);
      }
      if (on_epoch) on_epoch(e + 1, train_loss, val_loss);
    }
    log.adam_steps = epochs.mode();
  }
  log.adam_wall_s = clock.seconds();
  log.epochs_done = p.epochs;
  // Leave the random generator as the last epoch leaves it whether or not this run was resumed
  // after it (its seed, then its shuffle: the only draw of an epoch), so that whatever draws next
  // (the next network's initialization) is the same as in an uninterrupted run, and as before
  // resuming existed.
  torch::manual_seed(p.seed * 1000003ull + static_cast<std::uint64_t>(p.epochs - 1));
  (void)torch::randperm(Utr.size(0), torch::kLong);
  if (p.lbfgs_iterations > 0)
    log.lbfgs_kept = lbfgs_polish(model, Utr, Rtr, Uval, Rval, growth, scales, p, log.lbfgs_loss);
  log.lbfgs_wall_s = clock.seconds() - log.adam_wall_s;
  model->eval();
  {
    torch::NoGradGuard g;
    log.final_train_loss = loss_of(model, Utr, Rtr, scales.of(model, p.train_groups)).item<double>();
    log.final_val_loss =
        validate ? loss_of(model, Uval, Rval, scales.of(model, p.val_groups)).item<double>() : std::nan("");
    if (scales.on()) {
      const auto fitted = model->interior(scales.table(model));
      log.patch_scales = static_cast<int>(fitted.numel());
      log.patch_scale_spread = fitted.std().item<double>();
    }
  }
  if (!std::isfinite(log.final_train_loss))
    throw RunError("non-finite training loss after the L-BFGS polish of the " + model->kind() + " network");
  if (growth.weight > 0) {
    log.rate_scale = growth.mu;
    std::tie(log.largest_growth, log.largest_bound) =
        largest_local_growth(model, Utr, growth.probes(model, Utr, 2 * static_cast<std::uint64_t>(p.epochs) + 1),
                             growth.mu, growth.amplitude);
  }
  if (checkpoints) {
    save_model(model, p.checkpoint_path);
    remove_quietly(state_path);  // finished: nothing left to resume
  }
  log.wall_s = clock.seconds();
  return log;
}

}  // namespace patchlearn::learn
