#include "patchlearn/pipeline/problem2d.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <map>
#include <optional>
#include <tuple>

#include <fmt/format.h>

#include "patchlearn/core/error.hpp"
#include "patchlearn/homog/homogenized2d.hpp"
#include "patchlearn/io/effective.hpp"
#include "patchlearn/io/h5.hpp"
#include "patchlearn/learn/discovered.hpp"
#include "patchlearn/learn/regression.hpp"
#include "patchlearn/learn/rollout.hpp"
#include "patchlearn/learn/tensors.hpp"
#include "patchlearn/pipeline/bench.hpp"
#include "patchlearn/schemes/lattice2d.hpp"

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

EffectiveLattice2D effective_lattice(const Config2D& cfg) {
  if (cfg.modulation) {
    // The period's own tensor; the local one is A(x, y) times it.
    auto e = effective_lattice(cell_lattice(cfg));
    e.modulation = cfg.modulation;
    return e;
  }
  if (!cfg.random) return effective_lattice(lattice_2d(cfg));
  // A random lattice: the representative-volume estimate at the largest window (the realization's
  // own cell problem, `cell`'s "D_realization", is a CG solve over all N^2 sites).
  const auto big = representative_volume(cfg, cfg.cell_window);
  EffectiveLattice2D e = effective_lattice(lattice_2d(cfg), big.mean());
  e.D_standard_error = EffectiveTensor{big.xx.standard_error, big.xy.standard_error, big.yy.standard_error, 0.0};
  return e;
}

EffectiveTensor cell_tensor(const Config2D& cfg) { return effective_lattice(cfg).D; }

namespace {

json tensor_json(const EffectiveTensor& D) { return json::array({{D.xx, D.xy}, {D.xy, D.yy}}); }

/// The statistics of a sample of tensors, each from a window of `window` x `window` sites.
RveTensorEstimate tensor_sample(int window, const std::vector<EffectiveTensor>& D) {
  std::vector<double> xx, xy, yy;
  for (const auto& d : D) {
    xx.push_back(d.xx);
    xy.push_back(d.xy);
    yy.push_back(d.yy);
  }
  return {window, static_cast<int>(D.size()), sample_stats(xx), sample_stats(xy), sample_stats(yy), D};
}

}  // namespace

RveTensorEstimate representative_volume(const Config2D& cfg, int w, std::optional<double> u) {
  if (!cfg.random) throw std::logic_error("representative_volume: the lattice is not random");
  const int N = cfg.kappa.mx, W = cfg.cell_window, per_row = N / w;
  const double h = layout_2d(cfg).h;
  const auto samples = static_cast<int>(static_cast<long long>(cfg.cell_samples) * W * W / (w * w));
  // The windows share the threads: each is too small for its own solve's (CellLevel::threads).
  std::vector<EffectiveTensor> D(static_cast<std::size_t>(samples));
  std::exception_ptr failure;  // the first, rethrown as it is (a u outside u_range: an InputError)
#pragma omp parallel for schedule(dynamic)
  for (int k = 0; k < samples; ++k) {
    try {
      const auto t = cfg.kappa.window((k % per_row) * w, (k / per_row) * w, w);
      D[k] = effective_tensor(Lattice2D(u ? t.at(*u) : t.linear_part(), BondPlacement::Aligned, h, 0));
    } catch (...) {
#pragma omp critical
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
  return tensor_sample(w, D);
}

std::vector<RveTensorEstimate> representative_volumes(const Config2D& cfg, std::optional<double> u) {
  const int W = cfg.cell_window;
  return {representative_volume(cfg, W / 4, u), representative_volume(cfg, W / 2, u), representative_volume(cfg, W, u)};
}

namespace {

/// The configured scheme's closed teeth on this lattice (GapTooth2D::closed_teeth), solved; none
/// for any other scheme or lattice.
std::optional<ClosedTeeth> closed_teeth_of(const Config2D& cfg, const Lattice2D& lattice, const PatchLayout2D& g) {
  if (cfg.scheme != Scheme2D::GapTooth || !GapTooth2D::closed_teeth(lattice, g)) return std::nullopt;
  return ClosedTeeth::solve(lattice, g);
}

}  // namespace

std::optional<RveTensorEstimate> closed_teeth_sample(const Config2D& cfg) {
  if (cfg.scheme != Scheme2D::GapTooth || cfg.kappa.has_period()) return std::nullopt;  // without copying tables
  const auto g = layout_2d(cfg);
  const auto closed = closed_teeth_of(cfg, lattice_2d(cfg), g);
  if (!closed) return std::nullopt;
  return tensor_sample(g.m, closed->tensors);
}

namespace {

/// The truth of a u-dependent or modulated lattice: the effective PDE (SpectralHomogenizedOperator2D) on the
/// N x N grid of homogenized.grid, integrated by Dormand-Prince at rtol 1e-10, restricted to patch
/// means through the trigonometric interpolant (patch_mean_modes).
HomogenizedTruth effective_pde_truth_2d(const Config2D& cfg, const EffectiveLattice2D& e,
                                        const std::vector<std::vector<double>>& samples,
                                        const std::vector<double>& times) {
  const learn::OneTorchThread same_bits_for_any_ranks;
  const auto g = layout_2d(cfg);
  const int N = cfg.homogenized_grid, P = g.P;
  const auto count = static_cast<int64_t>(samples.size()), T = static_cast<int64_t>(times.size());
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  auto U0 = torch::empty({count, N * N}, f64);
  for (int64_t b = 0; b < count; ++b)
    std::copy(samples[b].begin(), samples[b].end(), U0.data_ptr<double>() + b * N * N);
  learn::SpectralHomogenizedOperator2D op(e, N, cfg.length);
  // From t = 0, where the initial conditions are, to every one of `times`.
  const bool from_zero = !times.empty() && times.front() == 0.0;
  std::vector<double> span = times;
  if (!from_zero) span.insert(span.begin(), 0.0);
  auto Y = learn::rollout(op, U0, span, {RolloutMethod::Dopri5, 0.0, 1e-10, 1e-12}).U;
  if (!from_zero) Y = Y.index({Slice(), Slice(1)});
  Y = Y.reshape({-1, N * N});
  const auto R = op.rhs(Y);
  auto E = patch_mean_modes(cfg.length, N, g.centres, g.m, g.h);
  const auto Et = torch::from_blob(E.data(), {N, P}, torch::TensorOptions().dtype(torch::kComplexDouble)).clone();
  const auto restrict = [&](const torch::Tensor& V) {
    const auto C = torch::fft::fft2(V.reshape({-1, N, N})) / static_cast<double>(N * N);
    return torch::real(torch::matmul(Et.t(), torch::matmul(C, Et))).reshape({count * T * P * P}).contiguous();
  };
  return {learn::to_vector(restrict(Y)), learn::to_vector(restrict(R))};
}

}  // namespace

HomogenizedTruth homogenized_truth_2d(const Config2D& cfg, const EffectiveLattice2D& e, int first, int count,
                                      const std::vector<double>& times) {
  const auto g = layout_2d(cfg);
  const auto ics = draw_initial_conditions_2d(cfg.initial);
  const int N = cfg.homogenized_grid, M = g.P * g.P, T = static_cast<int>(times.size());
  std::vector<double> xs(static_cast<std::size_t>(N));
  for (int x = 0; x < N; ++x) xs[x] = x * cfg.length / N;
  std::vector<std::vector<double>> samples(count, std::vector<double>(static_cast<std::size_t>(N) * N));
  for (int b = 0; b < count; ++b) ics[first + b].on_grid(xs, xs, samples[b].data());
  if (!e.linear() || e.modulation) return effective_pde_truth_2d(cfg, e, samples, times);
  HomogenizedTruth tr;
  tr.U.resize(static_cast<std::size_t>(count) * T * M);
  tr.dUdt.resize(tr.U.size());
#pragma omp parallel for
  for (int b = 0; b < count; ++b) {
    const HomogenizedSolution2D sol(e.D, cfg.length, N, samples[b]);
    for (int k = 0; k < T; ++k) {
      const std::size_t off = (static_cast<std::size_t>(b) * T + k) * M;
      sol.patch_means(times[k], g.centres, g.m, g.h, tr.U.data() + off, tr.dUdt.data() + off);
    }
  }
  return tr;
}

Simulation2D simulate_data(const Config2D& cfg, Device device, Observer& observer, const ChunkedRun* chunks) {
  const auto g = layout_2d(cfg);
  const auto lattice = lattice_2d(cfg);
  Simulation2D sim;
  const EffectiveLattice2D effective = effective_lattice(cfg);
  sim.D = effective.D;
  // The fastest coarse decay the rkc stepper must follow: under the largest local tensor, A(x, y) D
  // at the lattice's sites on a modulated lattice.
  EffectiveTensor fastest = sim.D;
  if (effective.modulation) {
    const index_t N = g.lattice_points();
    double a = 0.0;
    for (index_t j = 0; j < N; ++j)
      for (index_t i = 0; i < N; ++i) a = std::max(a, effective.modulation->at(i * g.h, j * g.h, 0.0));
    fastest = {a * sim.D.xx, a * sim.D.xy, a * sim.D.yy, 0.0};
  }
  const int B = cfg.initial.trajectories;
  const auto ics = draw_initial_conditions_2d(cfg.initial);
  const index_t samples = cfg.samples();
  // Closed teeth: their cell problems once, for every chunk and for the sample they hold.
  const std::optional<ClosedTeeth> closed = closed_teeth_of(cfg, lattice, g);
  if (closed) sim.teeth = tensor_sample(g.m, closed->tensors);
  // Trajectories [first, first + count) with the configured scheme.
  const auto compute = [&](index_t first, index_t count, const std::function<void(double)>& prog) -> CoarseData {
    const std::vector<InitialCondition2D> sub(ics.begin() + first, ics.begin() + first + count);
    std::unique_ptr<LatticeScheme2D> scheme;
    if (cfg.scheme == Scheme2D::GapTooth)
      scheme = std::make_unique<GapTooth2D>(device, lattice, g, count, closed ? &*closed : nullptr);
    else
      scheme = std::make_unique<FullLattice2D>(device, lattice, g, count);
    Propagator2D prop(*scheme, cfg.sample_dt, cfg.stepper, cfg.fine_dt, cfg.fine_tolerance, scheme->slow_rate(fastest));
    sim.fine_evaluations = prop.evaluations();
    return simulate_lattice_2d(
        *scheme, prop, cfg.sample_dt, samples, sub,
        [&](index_t k) {
          if (prog) prog(static_cast<double>(k) / static_cast<double>(samples));
        },
        cfg.check_every);
  };
  const std::string stage = "simulate (" + std::string(name_of(cfg.scheme)) + ", 2D)";
  // The truth of a linear lattice is each trajectory's closed form, computed with its chunk on the
  // rank that simulates it; a u-dependent or modulated lattice's is one adaptive integration of all
  // trajectories (effective_pde_truth_2d), whose cost hardly depends on how many (its steps are set
  // by the grid's stiffness, each pass over them is small), so it runs once here for the whole set.
  const bool batched_truth = !effective.linear() || effective.modulation;
  TruthOfChunk truth;
  if (!batched_truth)
    truth = [&](index_t first, index_t count, const std::vector<double>& t) {
      return homogenized_truth_2d(cfg, effective, static_cast<int>(first), static_cast<int>(count), t);
    };
  auto chunked = run_in_chunks(chunks, cfg.text, B, device, compute, truth, observer, stage, sim.wall_s);
  sim.data = std::move(chunked.data);
  sim.truth = batched_truth ? homogenized_truth_2d(cfg, effective, 0, B, sim.data.t) : std::move(chunked.truth);
  const auto U = sim.data.host_U();
  sim.rmse_vs_homogenized = relative_mse(U, sim.truth.U);
  // At the snapshot nearest t = 0.3, over all trajectories.
  const auto k03 =
      static_cast<index_t>(std::min<double>(static_cast<double>(samples - 1), std::round(0.3 / cfg.sample_dt)));
  const index_t M = sim.data.nodes;
  std::vector<double> a, b;
  for (int i = 0; i < B; ++i)
    for (index_t j = 0; j < M; ++j) {
      a.push_back(U[(i * samples + k03) * M + j]);
      b.push_back(sim.truth.U[(i * samples + k03) * M + j]);
    }
  sim.rmse_vs_homogenized_t03 = relative_mse(a, b);
  sim.t03 = sim.data.t[static_cast<std::size_t>(k03)];
  return sim;
}

void write_data_h5(const std::string& path, const Config2D& cfg, const Simulation2D& sim, Device device) {
  const auto g = layout_2d(cfg);
  H5Writer w(path);
  write_common_data(w, {g.P, g.P}, cfg, name_of(cfg.scheme), sim, device);
  w.dataset("x", {g.P}, g.centres);
  w.dataset("D_cell", {2, 2}, {sim.D.xx, sim.D.xy, sim.D.xy, sim.D.yy});
  w.attribute("dimension", 2.0);
  if (cfg.kappa.whole_lattice) {
    // The medium over the whole lattice (a random realization, a modulated lattice) for the report's
    // figure: the x-bonds [y][x] at every `stride`-th site in each direction, at most 512 x 512, with
    // where the patches' evolving (restricted) m x m points start and repeat.
    const Lattice2D lat = lattice_2d(cfg);
    const index_t N = g.lattice_points(), stride = (N + 511) / 512, n = (N + stride - 1) / stride;
    std::vector<double> kx(static_cast<std::size_t>(n * n));
    for (index_t y = 0; y < n; ++y)
      for (index_t x = 0; x < n; ++x) kx[y * n + x] = lat.kx(x * stride, y * stride);
    w.dataset("medium_kx", {n, n}, kx);
    w.attribute("medium_stride", static_cast<double>(stride));
    w.attribute("lattice_points", static_cast<double>(N));
    w.attribute("patch_first", static_cast<double>(g.first + 1));
    w.attribute("patch_spacing", static_cast<double>(g.spacing));
    w.attribute("patch_points", static_cast<double>(g.m));
    w.attribute("medium", cfg.random ? "random lattice: " + cfg.random->description()
                                     : "modulated lattice: A(x, y) = " + cfg.modulation->text());
  }
  w.commit();
}

LearningData load_learning_data_2d(const std::string& path, const Config2D& cfg, torch::Device device) {
  std::vector<index_t> dims;
  auto out = read_learning_data(path, 4, "[trajectory, time, patch y, patch x] for a 2D config",
                                cfg.initial.trajectories, device, dims);
  if (dims[2] != cfg.patches || dims[3] != cfg.patches)
    throw InputError("'" + path + "' has " + std::to_string(dims[3]) + " x " + std::to_string(dims[2]) +
                     " patches but the config has domain.patches = " + std::to_string(cfg.patches));
  return out;
}

namespace {

/// D*(u) and r*(u) of a u-dependent lattice from its cell problems at 33 values of u over its u
/// range: of cell_lattice(cfg), or on a random lattice of the truth's representative volumes (the
/// windows of cell.window at each u).
json effective_curves_json(const Config2D& cfg) {
  const Lattice2D lattice = cell_lattice(cfg);
  const auto at = [&](double u) {
    if (!cfg.random) return effective_coefficients(lattice, u);
    const auto rve = representative_volume(cfg, cfg.cell_window, u);
    return EffectiveCoefficients2D{rve.mean(), effective_reaction(lattice, u)};
  };
  const URange r = lattice.tables().u_range;
  json out = {{"u", json::array()},
              {"D_xx", json::array()},
              {"D_xy", json::array()},
              {"D_yy", json::array()},
              {"reaction", json::array()}};
  constexpr int kPoints = 33;
  for (int k = 0; k < kPoints; ++k) {
    const double u = r.lo + (r.hi - r.lo) * k / (kPoints - 1);
    const auto e = at(u);
    out["u"].push_back(u);
    out["D_xx"].push_back(e.D.xx);
    out["D_xy"].push_back(e.D.xy);
    out["D_yy"].push_back(e.D.yy);
    out["reaction"].push_back(e.reaction);
  }
  return out;
}

/// The 2D learning task: states with t >= learn.train_t_min (the first snapshot carries the
/// lattice's initial layer, not the slow dynamics), the 2D regression library, the unseen test
/// trajectories with their tensor-homogenized truth (whose exact rates score the right-hand side),
/// and the spectral tensor operator on the patch means as the exact coarse operator.
class LearningTask2D : public LearningTask {
 public:
  LearningTask2D(const Config2D& cfg, EffectiveLattice2D e, std::optional<RveTensorEstimate> teeth)
      : cfg_(cfg),
        e_(std::move(e)),
        curves_(e_.linear() ? json() : effective_curves_json(cfg)),
        rollout_{cfg.rollout.method, cfg.rollout.dt, cfg.rollout.rtol, cfg.rollout.atol},
        basis_(position_basis(cfg, cfg.length, 2)),
        layout_(layout_2d(cfg)),
        teeth_(std::move(teeth)) {}

  const LearnOptions& options() const override { return cfg_.learn; }
  int train_trajectories() const override { return cfg_.train_trajectories(); }
  const RolloutParams& rollout_params() const override { return rollout_; }

  std::pair<torch::Tensor, torch::Tensor> training_states(const LearningData& data) const override {
    const int M = cfg_.patches * cfg_.patches, ntr = cfg_.train_trajectories();
    if (data.U.size(0) <= ntr) throw ConfigError("learn.train_fraction", "leaves no test trajectory in the data");
    int64_t t0 = 0;
    while (t0 < static_cast<int64_t>(data.t.size()) && data.t[t0] < cfg_.train_t_min - 1e-12) ++t0;
    return {data.U.index({Slice(0, ntr), Slice(t0)}).reshape({-1, M}),
            data.dUdt.index({Slice(0, ntr), Slice(t0)}).reshape({-1, M})};
  }

  FittedRegression regression(const torch::Tensor& U, const torch::Tensor& R, Observer& observer,
                              const learn::TermScales* scales) const override {
    if (scales) throw std::logic_error("Problem2D::regression: known term scales are 1D's");
    const auto reg = learn::regress_2d(learn::to_vector(U), learn::to_vector(R), cfg_.patches, cfg_.length,
                                       cfg_.regression_threshold, basis_, layout_.centres, patch_means(),
                                       cfg_.regression_modes_chosen ? -cfg_.regression_modes : cfg_.regression_modes,
                                       e_.linear(), cfg_.regression_weights, cfg_.u_degree, cfg_.train_trajectories());
    json extra = {{"regression_modes", reg.modes > 0 ? reg.modes : cfg_.patches / 2}};
    if (!reg.slow_mode_errors.empty()) {
      // The slow modes' check (learn::regress_2d): each tried K's held-out error on every mode.
      json tried = json::object();
      for (const auto& [k, e] : reg.slow_mode_errors) tried[std::to_string(k)] = e;
      extra["regression_modes_check"] = {{"slow_mode_errors", tried}, {"every_mode_error", reg.every_mode_error}};
      const auto& [first, error] = reg.slow_mode_errors.front();
      if (reg.modes != first)
        observer.info(fmt::format(
            "regression.modes = \"auto\": the modes |kx|, |ky| <= {} do not tell the library's terms apart (their "
            "fit's held-out error on every mode {:.3g}, the every-mode fit's {:.3g}); fitted on {}",
            first, error, reg.every_mode_error,
            reg.modes > 0 ? fmt::format("|kx|, |ky| <= {}", reg.modes) : std::string("every mode")));
    }
    const double dxx = reg.coefficient("U_xx"), dxy = 0.5 * reg.coefficient("U_xy"), dyy = reg.coefficient("U_yy");
    observer.info(
        fmt::format("regression{}: {}\n  D = [[{:.6f}, {:.6f}], [{:.6f}, {:.6f}]]  (cell problem [[{:.6f}, {:.6f}], "
                    "[{:.6f}, {:.6f}]])",
                    reg.modes > 0 ? fmt::format(" (on the modes |kx|, |ky| <= {})", reg.modes) : "", reg.equation, dxx,
                    dxy, dxy, dyy, e_.D.xx, e_.D.xy, e_.D.xy, e_.D.yy));
    extra.update(json{{"D_regression", {{dxx, dxy}, {dxy, dyy}}},
                      {"D_regression_max_abs_error",
                       std::max({std::abs(dxx - e_.D.xx), std::abs(dxy - e_.D.xy), std::abs(dyy - e_.D.yy)})},
                      {"regression", regression_json(reg)}});
    // A u-dependent lattice: D*(u) and r*(u) as the equation has them (D*_xy is half the U_xy curve,
    // its error relative to the tensor's size: a nearly isotropic D has a D*_xy near 0).
    if (!e_.linear()) {
      const std::vector<CoefficientCurve> curves = {
          {"D_xx", learn::u_series("U_xx", reg.u_degree)},
          {"D_xy", learn::u_series("U_xy", reg.u_degree), 0.5, {"D_xx", "D_yy"}},
          {"D_yy", learn::u_series("U_yy", reg.u_degree)},
          {"reaction", learn::u_series("1", reg.u_degree + 1)}};
      const json truth = with_data_range(curves_, U);
      extra["regression_effective"] =
          e_.modulation ? modulated_curves(reg, truth, curves) : regression_curves(reg, truth, curves);
    }
    if (e_.modulation) extra["regression_modulated"] = local_tensors(reg, observer);
    return {reg, extra};
  }

  // learn.patch_scales on a lattice: each tooth's own piece of the medium scales the diffusion in x
  // and in y by its own factors (its cell tensor's diagonal against the mean's), in every
  // trajectory alike; the off-diagonal and fourth-order terms and the reaction stay unscaled.
  PatchScaling patch_scaling() const override {
    PatchScaling p;
    p.groups = 2;
    p.group = [](const std::string& term) {
      const auto [x, y] = learn::derivative_counts(term);
      return x == 2 && y == 0 ? 0 : x == 0 && y == 2 ? 1 : -1;
    };
    p.per_node = true;
    p.harmonic = false;
    return p;
  }

  // A modulated u-dependent lattice: the equation's D(x, y, u) / A(x, y) and r*(x, y, u) at every
  // patch centre against the period's D*(u) = g(u) D and r*(u) (`truth`; A multiplies the bonds,
  // not the sites' reactions). The curves are their mean over the centres, each error the worst
  // centre's; "centres" says how many. (At one position the equation's D*(u) is A there times the
  // period's: scored against the period's alone, a perfect fit of graded2d's A with g(u) read 20%
  // off, A(0, 0) = 1.2.)
  json modulated_curves(const learn::RegressionResult& reg, const json& truth,
                        const std::vector<CoefficientCurve>& curves) const {
    const std::vector<std::string> tensor = {"D_xx", "D_xy", "D_yy"};
    json out = {{"u", truth["u"]}, {"centres", layout_.centres.size() * layout_.centres.size()}};
    if (truth.contains("u_data")) out["u_data"] = truth["u_data"];
    const std::size_t n = truth["u"].size();
    std::map<std::string, std::vector<double>> sum;
    for (const auto& c : curves) sum[c.key].assign(n, 0.0);
    for (const double y : layout_.centres)
      for (const double x : layout_.centres) {
        const double A = e_.modulation->at(x, y, 0.0);
        json local = truth;
        for (const auto& key : tensor)
          for (auto& v : local[key]) v = A * v.get<double>();
        const json c = regression_curves(reg, local, curves, x, y);
        for (auto& [key, values] : sum) {
          const double scale = std::find(tensor.begin(), tensor.end(), key) != tensor.end() ? 1.0 / A : 1.0;
          for (std::size_t k = 0; k < n; ++k) values[k] += scale * c[key][k].get<double>();
          for (const char* over : {"_max_error", "_max_error_on_data"})
            if (c.contains(key + over))
              out[key + over] = std::max(out.value(key + over, 0.0), c[key + over].get<double>());
        }
      }
    for (auto& [key, values] : sum) {
      for (double& v : values) v /= static_cast<double>(out["centres"].get<std::size_t>());
      out[key] = values;
    }
    return out;
  }

  // A modulated lattice: D(x, y) as the equation has it (each coefficient with its position
  // factors; D_xy half that of U_xy) at every patch centre, against A(x, y) g(0) D of the period's
  // cell problem (g(0): the u-free part of the terms D g(U) : grad grad U, g = 1 on a linear
  // lattice). The error of a centre is the largest component error over the largest diagonal entry.
  json local_tensors(const learn::RegressionResult& reg, Observer& observer) const {
    const int P = cfg_.patches;
    const auto& g_of_u = cfg_.kappa.conductance_factor;
    const double g0 = g_of_u ? (*g_of_u)(0.0, 0.0) : 1.0;
    json g = {{"centres", layout_.centres}, {"g0", g0}};
    double worst = 0;
    for (int J = 0; J < P; ++J)
      for (int I = 0; I < P; ++I) {
        const double x = layout_.centres[I], y = layout_.centres[J];
        auto cell = e_.local(x, y);
        cell.xx *= g0, cell.xy *= g0, cell.yy *= g0;
        const double xx = reg.coefficient_at("U_xx", x, y), xy = 0.5 * reg.coefficient_at("U_xy", x, y),
                     yy = reg.coefficient_at("U_yy", x, y);
        g["D_xx"].push_back(xx), g["D_xy"].push_back(xy), g["D_yy"].push_back(yy);
        g["D_xx_cell"].push_back(cell.xx), g["D_xy_cell"].push_back(cell.xy), g["D_yy_cell"].push_back(cell.yy);
        const double err = std::max({std::abs(xx - cell.xx), std::abs(xy - cell.xy), std::abs(yy - cell.yy)});
        worst = std::max(worst, err / std::max(cell.xx, cell.yy));
      }
    g["max_relative_error"] = worst;
    observer.info(
        fmt::format("  D(x, y) at the {} patch centres against A(x, y) {}D of the cell problem: max relative "
                    "error {:.2e}",
                    P * P, g_of_u ? "g(0) " : "", worst));
    return g;
  }

  std::unique_ptr<learn::TorchOperator> discovered(const learn::RegressionResult& fit) const override {
    const int P = cfg_.patches;
    const double L = cfg_.length;
    auto field = std::make_unique<learn::DiscoveredOperator>(
        fit,
        [P, L, basis = fit.position, centres = layout_.centres](const torch::Tensor& U) {
          return learn::with_position_2d(learn::spectral_derivatives_2d(U, P, L), basis, centres);
        },
        false);
    return std::make_unique<learn::PatchMeanOperator>(std::move(field), P, L, patch_means());
  }

  // The models are scored where they were trained: from the first snapshot at or after
  // learn.train_t_min (the rollouts start from the truth there) to rollout.t_end.
  EvaluationSet evaluation(const LearningData*, torch::Device device) const override {
    EvaluationSet e;
    for (index_t k = 0; k < cfg_.samples(); ++k) {
      const double t = static_cast<double>(k) * cfg_.sample_dt;
      if (t >= cfg_.train_t_min - 1e-12 && t <= cfg_.rollout.t_end + 1e-12) e.times.push_back(t);
    }

    const int ntr = cfg_.train_trajectories(), nte = cfg_.initial.trajectories - ntr, M = cfg_.patches * cfg_.patches;
    const auto tr = homogenized_truth_2d(cfg_, e_, ntr, nte, e.times);
    const int64_t T = static_cast<int64_t>(e.times.size());
    e.truth = learn::to_tensor(tr.U, {nte, T, M}, device);
    e.exact_rhs = learn::to_tensor(tr.dUdt, {nte * T, M}, device);
    e.U0 = e.truth.index({Slice(), 0}).contiguous();
    e.test_states = e.truth.reshape({-1, M});
    // The exact coarse operator of patch means (on a linear lattice every mode below P/2 decays as
    // the truth's own), rolled out with the same integrator: its distance to the truth is the
    // integrator's alone there, and the coarse grid's aliasing of G(U) and f(U) beside.
    e.coarse = learn::rollout(*exact_coarse(), e.U0, e.times, rollout_).U;
    return e;
  }

  std::unique_ptr<learn::TorchOperator> exact_coarse() const override {
    return std::make_unique<learn::SpectralHomogenizedOperator2D>(e_, cfg_.patches, cfg_.length, layout_.centres[0]);
  }

  // The patch means' rates against the exact coarse operator's, as in 1D: data the P x P grid does
  // not resolve (a u-dependent lattice's products of modes past P/2, which the spectral operator
  // aliases) are said before any fit. Not on a random lattice, whose teeth each see their own
  // bonds (the difference is their scatter: reported, not warned).
  double tolerated_data_rhs_rmse() const override {
    return cfg_.random ? LearningTask::tolerated_data_rhs_rmse() : kUnresolvedDataRates;
  }

  learn::CoarseModel make_model(const std::string& net) const override {
    return learn::make_model(model_name(net), cfg_.patches * cfg_.patches, cfg_.length / cfg_.patches, 0, cfg_.patches,
                             name_of(cfg_.learn.activation), cfg_.learn.position_input);
  }
  std::string model_name(const std::string& net) const override { return net + "2d"; }

  // Paper Fig. 8b: the 6 Fourier modes of largest mean amplitude in the truth; |coefficient| of
  // truth and model along every test trajectory.
  json trajectory_views(const torch::Tensor& truth, const torch::Tensor& Y, const std::vector<double>&) const override {
    const int P = cfg_.patches;
    const auto amp = [&](const torch::Tensor& V) {
      return torch::abs(torch::fft::fft2(V.reshape({V.size(0), V.size(1), P, P}))).reshape({V.size(0), V.size(1), -1}) /
             static_cast<double>(P * P);
    };
    const auto at = amp(truth), am = amp(Y);
    // A real field has |c(k)| = |c(-k)|: rank only one of each pair (ky > 0, or ky = 0 and kx >= 0).
    const auto idx = torch::arange(P * P, torch::TensorOptions().dtype(torch::kLong).device(at.device()));
    const auto kx = idx.remainder(P), ky = idx.div(P, "floor");
    const auto kxs = torch::where(kx <= P / 2, kx, kx - P), kys = torch::where(ky <= P / 2, ky, ky - P);
    const auto half = (kys > 0).logical_or(kys.eq(0).logical_and(kxs >= 0));
    const auto mean = at.mean(at::IntArrayRef{0, 1});
    const auto top = std::get<1>(torch::where(half, mean, torch::full_like(mean, -1.0)).topk(6));
    json f;
    for (int64_t k = 0; k < top.size(0); ++k) {
      const int64_t i = top[k].item<int64_t>(), y = i / P, x = i % P;
      f["modes"].push_back({x <= P / 2 ? x : x - P, y <= P / 2 ? y : y - P});
    }
    for (int64_t b = 0; b < Y.size(0); ++b)
      f["trajectories"].push_back(json{{"truth", learn::to_vector(at[b].index_select(1, top))},
                                       {"model", learn::to_vector(am[b].index_select(1, top))}});
    return {{"fourier", f}};
  }

  json describe() const override {
    json d = {{"dimension", 2}, {"D_cell", tensor_json(e_.D)}};
    if (!e_.linear()) d["effective"] = curves_;
    if (const auto& se = e_.D_standard_error) {
      // D_cell is the representative-volume estimate: its standard errors, by which the
      // regression's D is judged (learning_report).
      d["D_cell_stderr"] = tensor_json(*se);
    }
    if (teeth_) {
      // What the closed teeth sample: the regression's D follows their mean, not the medium's.
      const auto& t = *teeth_;
      d["D_teeth"] = tensor_json(t.mean());
      d["D_teeth_stderr"] = tensor_json(t.standard_error());
      // Each tooth's [xx, xy, yy], against which the regression's patch scales are read.
      json each = json::array();
      for (const auto& D : t.each) each.push_back({D.xx, D.xy, D.yy});
      d["D_teeth_each"] = each;
    }
    return d;
  }

  void describe_fit(json& summary) const override {
    if (!summary.contains("D_teeth_each") || !summary.contains("regression_patch_scales") ||
        !summary["regression_patch_scales"].contains("scales"))
      return;
    // The scales the data gave each closed tooth, against what its own cell problem says: its
    // tensor's diagonal over the teeth's mean (the scales' arithmetic mean is 1 too).
    const json& each = summary["D_teeth_each"];
    const json& scales = summary["regression_patch_scales"]["scales"];
    if (each.size() != scales.size() || each.empty() || scales[0].size() != 2) return;
    json cmp;
    for (const auto& [k, name, component] : {std::tuple{0, "x", 0}, std::tuple{1, "y", 2}}) {
      std::vector<double> ratio, scale;
      for (std::size_t i = 0; i < each.size(); ++i) {
        ratio.push_back(each[i][component].get<double>());
        scale.push_back(scales[i][k].get<double>());
      }
      const auto rs = sample_stats(ratio);
      for (double& v : ratio) v /= rs.mean;
      const auto rr = sample_stats(ratio), ss = sample_stats(scale);
      double cov = 0, diff = 0;
      for (std::size_t i = 0; i < ratio.size(); ++i) {
        cov += (ratio[i] - rr.mean) * (scale[i] - ss.mean);
        diff += std::pow(scale[i] - ratio[i], 2);
      }
      const double n = static_cast<double>(ratio.size());
      cmp[name] = {{"correlation", cov / (n - 1) / (rr.scatter * ss.scatter)},
                   {"rms_difference", std::sqrt(diff / n)},
                   {"teeth_spread", rr.scatter}};
    }
    summary["patch_scales_vs_teeth"] = cmp;
  }

 private:
  /// What a datum is: the mean of the m x m evolving points of a patch.
  learn::PatchMeans patch_means() const { return {layout_.m, layout_.h}; }

  const Config2D& cfg_;
  EffectiveLattice2D e_;
  json curves_;  ///< D*(u), r*(u) from the cell problems (effective_curves_json); null when linear
  RolloutParams rollout_;
  learn::PositionBasis basis_;              ///< regression.position_basis on [0, L)^2
  PatchLayout2D layout_;                    ///< the patches: centres X_I along each axis, the m x m means of spacing h
  std::optional<RveTensorEstimate> teeth_;  ///< closed teeth: their own cell tensors (closed_teeth_sample)
};

std::string tensor_text(const json& D) {
  return fmt::format("[[{:.6f}, {:.6f}], [{:.6f}, {:.6f}]]", D[0][0].get<double>(), D[0][1].get<double>(),
                     D[1][0].get<double>(), D[1][1].get<double>());
}

}  // namespace

std::unique_ptr<LearningTask> learning_task_2d(const Config2D& cfg, const EffectiveLattice2D& e,
                                               std::optional<RveTensorEstimate> teeth) {
  return std::make_unique<LearningTask2D>(cfg, e, std::move(teeth));
}

// --- the problem

std::vector<std::string> Problem2D::check_simulable() const {
  if (cfg_.kappa.conductance_factor || cfg_.kappa.reaction) {
    const auto g = layout_2d(cfg_);
    const std::size_t per = g.centres.size() * g.centres.size();
    std::vector<double> start;
    for (const auto& u0 : draw_initial_conditions_2d(cfg_.initial)) {
      start.resize(start.size() + per);
      u0.on_grid(g.centres, g.centres, start.data() + start.size() - per);
    }
    check_initial_values_in_range(start, per, cfg_.kappa.u_range, "lattice.u_range");
  }
  return {};
}

Report Problem2D::cell(const CellQuery& query) const {
  if ((query.x || query.y) && !cfg_.modulation)
    throw InputError(std::string(query.x ? "--x" : "--y") +
                     ": the lattice is not modulated (lattice.modulation); run cell without it");
  if (cfg_.modulation) return modulated_cell(query);
  const std::optional<double>& u = query.u;
  const std::string key = cfg_.kappa.nonlinear_key();
  if (!u && !key.empty()) throw InputError("the lattice depends on u (" + key + "): give the value with --u VALUE");
  if (cfg_.random) return random_cell(u);
  if (u) {
    const auto e = effective_coefficients(cfg_, *u);
    const auto& D = e.D;
    return {{{"u", *u}, {"D", tensor_json(D)}, {"reaction", e.reaction}},
            {fmt::format("at u = {:.15g}: D* = [[{:.10f}, {:.10f}], [{:.10f}, {:.10f}]], reaction r* = {:.15g}", *u,
                         D.xx, D.xy, D.xy, D.yy, e.reaction)}};
  }
  const auto D = cell_tensor(cfg_);
  return {
      {{"D", tensor_json(D)}},
      {fmt::format("lattice: {} x {} diffusivity tables, placement {}", cfg_.kappa.mx, cfg_.kappa.my, cfg_.placement),
       fmt::format("D (cell problem on the lattice) = [[{:.10f}, {:.10f}], [{:.10f}, {:.10f}]]", D.xx, D.xy, D.xy,
                   D.yy),
       fmt::format("u_t = {:.6f} u_xx + {:.6f} u_xy + {:.6f} u_yy", D.xx, 2 * D.xy, D.yy)}};
}

Report Problem2D::modulated_cell(const CellQuery& query) const {
  if (query.x.has_value() != query.y.has_value())
    throw InputError(std::string(query.x ? "--y" : "--x") + ": give both --x and --y, the macro position");
  const std::string key = cfg_.kappa.nonlinear_key();
  if (!query.u && !key.empty())
    throw InputError("the lattice depends on u (" + key + "): give the value with --u VALUE");
  auto e = effective_lattice(cfg_);
  double reaction = 0.0;
  if (query.u) {
    // The period's cell problem at that u: D*(u) (g(u) D) and r*(u); A(x, y) scales the bonds only.
    const auto at_u = effective_coefficients(cfg_, *query.u);
    e.D = at_u.D;
    reaction = at_u.reaction;
  }
  const auto& D = e.D;
  const MediumExpression& A = *cfg_.modulation;
  const std::string medium =
      fmt::format("lattice: {} x {} diffusivity tables, aligned, modulated by A(x, y) = {}{}", cfg_.period.mx,
                  cfg_.period.my, A.text(), query.u ? fmt::format(", at u = {:.15g}", *query.u) : "");
  if (query.x) {
    const double x = *query.x, y = *query.y;
    for (const auto& [v, flag] : {std::pair{x, "--x"}, std::pair{y, "--y"}})
      if (!(v >= 0 && v <= cfg_.length))
        throw InputError(fmt::format("{} {}: outside the domain [0, {}]", flag, v, cfg_.length));
    const auto Dl = e.local(x, y);
    json j = {{"x", x}, {"y", y}, {"A", A.at(x, y, 0.0)}, {"D", tensor_json(Dl)}, {"D_period", tensor_json(D)}};
    if (query.u) j["u"] = *query.u, j["reaction"] = reaction;
    return {j,
            {medium, fmt::format("at (x, y) = ({:.10g}, {:.10g}): D = A(x, y) D_period = [[{:.10f}, {:.10f}], "
                                 "[{:.10f}, {:.10f}]]{}",
                                 x, y, Dl.xx, Dl.xy, Dl.xy, Dl.yy,
                                 query.u ? fmt::format(", reaction r* = {:.15g}", reaction) : "")}};
  }
  // The local tensor at every patch centre (X_I, Y_J), [J][I].
  const auto g = layout_2d(cfg_);
  json xs = json::array(), Dxx = json::array(), Dxy = json::array(), Dyy = json::array();
  double lo = 1e300, hi = -1e300;
  for (int J = 0; J < g.P; ++J)
    for (int I = 0; I < g.P; ++I) {
      const auto Dl = e.local(g.centres[I], g.centres[J]);
      Dxx.push_back(Dl.xx), Dxy.push_back(Dl.xy), Dyy.push_back(Dl.yy);
      lo = std::min(lo, Dl.xx / D.xx), hi = std::max(hi, Dl.xx / D.xx);
    }
  for (const double c : g.centres) xs.push_back(c);
  json j = {{"D_period", tensor_json(D)}, {"centres", xs}, {"D_xx", Dxx}, {"D_xy", Dxy}, {"D_yy", Dyy}};
  if (query.u) j["u"] = *query.u, j["reaction"] = reaction;
  return {j,
          {medium,
           fmt::format("D_period (cell problem of one period) = [[{:.10f}, {:.10f}], [{:.10f}, {:.10f}]]", D.xx, D.xy,
                       D.xy, D.yy),
           fmt::format("local D(x, y) = A(x, y) D_period; at the {} patch centres A = {:.6g} .. {:.6g} (JSON: D_xx, "
                       "D_xy, D_yy [J][I] at (centres[I], centres[J])); --x X --y Y for one point",
                       g.P * g.P, lo, hi)}};
}

Report Problem2D::random_cell(std::optional<double> u) const {
  const auto rve = representative_volumes(cfg_, u);
  const auto& big = rve.back();
  const auto& half = rve[1];
  // The realization's own cell problem, of its bonds at u (of the kappa alone without u).
  const auto lattice = lattice_2d(cfg_);
  const auto whole = effective_tensor(
      Lattice2D(u ? cfg_.kappa.at(*u) : cfg_.kappa.linear_part(), lattice.placement(), lattice.h(), lattice.origin()));
  const double g = u ? cfg_.kappa.factor(*u) : 1.0;
  // The ergodic value where theory has it: independent bonds whose log is symmetric about its mean
  // have D = exp(<log k>) I on the square lattice, exactly (Keller's duality): lognormal exp(mu),
  // two-phase at fraction 1/2 sqrt(k1 k2).
  const auto& law = *cfg_.random;
  std::optional<double> ergodic;
  // (At a value u, g(u) times it.)
  if (law.distribution == RandomMediumSpec::Distribution::lognormal) ergodic = g * std::exp(law.mu);
  if (law.distribution == RandomMediumSpec::Distribution::two_phase && law.fraction == 0.5)
    ergodic = g * std::sqrt(law.a1 * law.a2);
  // Converged: every component of the two largest windows agrees.
  const bool converged =
      estimates_agree(big.xx, half.xx) && estimates_agree(big.xy, half.xy) && estimates_agree(big.yy, half.yy);
  Report r{{{"D", tensor_json(big.mean())},
            {"D_stderr", tensor_json(big.standard_error())},
            {"D_realization", tensor_json(whole)},
            {"D_realization_iterations", whole.iterations},
            {"ergodic", ergodic ? json(*ergodic) : json(nullptr)},
            {"representative_volume", "windows"},
            {"converged", converged}},
           {fmt::format("lattice: one random realization of {} x {} sites ({}, seed {})", cfg_.kappa.mx, cfg_.kappa.my,
                        cfg_.random->description(), cfg_.random->seed),
            fmt::format("representative volumes: disjoint W x W windows of the realization, each cell problem closed "
                        "periodically{}:",
                        u ? fmt::format(" at u = {:.15g}", *u) : std::string())}};
  if (u) {
    const double reaction = effective_reaction(lattice, *u);
    r.json["u"] = *u;
    r.json["reaction"] = reaction;
    r.lines.push_back(fmt::format("  the sites' reaction r* = <rho> f(u) = {:.15g}", reaction));
  }
  for (const auto& e : rve) {
    r.json["windows"].push_back({{"window", e.window},
                                 {"samples", e.samples},
                                 {"D", tensor_json(e.mean())},
                                 {"D_stderr", tensor_json(e.standard_error())},
                                 {"scatter", json::array({e.xx.scatter, e.xy.scatter, e.yy.scatter})}});
    r.lines.push_back(
        fmt::format("  window {:>5} x {:<5} x {:>5} samples: Dxx {:.6f} +- {:.2g}, Dxy {:+.6f} +- {:.2g}, "
                    "Dyy {:.6f} +- {:.2g} (scatter of Dxx {:.3g})",
                    e.window, e.window, e.samples, e.xx.mean, e.xx.standard_error, e.xy.mean, e.xy.standard_error,
                    e.yy.mean, e.yy.standard_error, e.xx.scatter));
  }
  r.lines.push_back(fmt::format("D = [[{:.6f}, {:.6f}], [{:.6f}, {:.6f}]] (windows of {} x {}; {})", big.xx.mean,
                                big.xy.mean, big.xy.mean, big.yy.mean, big.window, big.window,
                                converged ? "converged: the two largest windows agree within their standard errors"
                                          : "not converged: the two largest windows differ; use a larger cell.window"));
  r.lines.push_back(fmt::format(
      "the whole realization's cell problem = [[{:.6f}, {:.6f}], [{:.6f}, {:.6f}]] ({} conjugate-gradient iterations)",
      whole.xx, whole.xy, whole.xy, whole.yy, whole.iterations));
  if (ergodic)
    r.lines.push_back(
        fmt::format("ergodic D = {:.6f} I (exact for independent log-symmetric bonds{}): Dxx {:+.2f}, Dyy "
                    "{:+.2f} standard errors away",
                    *ergodic, u ? ", times g(u)" : "", (*ergodic - big.xx.mean) / big.xx.standard_error,
                    (*ergodic - big.yy.mean) / big.yy.standard_error));
  return r;
}

Report Problem2D::simulation_report(const Simulation& s, Device device) const {
  const auto& sim = dynamic_cast<const Simulation2D&>(s);
  Report r;
  r.json = common_simulation_json(sim, name_of(cfg_.scheme), device);
  r.json["fine_evaluations_per_sample"] = sim.fine_evaluations;
  r.json["D_cell"] = tensor_json(sim.D);
  r.json["gap_tooth_vs_homogenized_rmse"] = sim.rmse_vs_homogenized_t03;
  r.lines = {
      fmt::format("{} trajectories x {} times x {} x {} patches", sim.data.trajectories, sim.data.times, cfg_.patches,
                  cfg_.patches),
      fmt::format(
          "wall {:.3f} s, {:.4g} micro point-steps; rMSE vs the tensor-homogenized truth {:.3e} (t = {:g}: {:.3e})",
          sim.wall_s, sim.data.point_steps, sim.rmse_vs_homogenized, sim.t03, sim.rmse_vs_homogenized_t03)};
  return r;
}

json Problem2D::run_extras(const Simulation& s) const {
  return {{"gap_tooth_vs_homogenized_rmse", dynamic_cast<const Simulation2D&>(s).rmse_vs_homogenized_t03}};
}

std::unique_ptr<LearningTask> Problem2D::learning_task(const Simulation* sim) const {
  return learning_task_2d(cfg_, effective_lattice(cfg_),
                          sim ? dynamic_cast<const Simulation2D&>(*sim).teeth : closed_teeth_sample(cfg_));
}

LearningData Problem2D::load_data(const std::string& path, torch::Device device) const {
  return load_learning_data_2d(path, cfg_, device);
}

void check_model(const Config2D& cfg, const learn::CoarseModelImpl& model, const std::string& path) {
  if (model.grid() != cfg.patches)
    throw InputError(
        "'" + path + "' is " +
        (model.grid() ? fmt::format("a 2D model on {0} x {0} patches", model.grid()) : std::string("a 1D model")) +
        " but the config has domain.patches = " + std::to_string(cfg.patches));
}

Report Problem2D::learning_report(const json& summary) const {
  Report r{
      {{"D_cell", summary["D_cell"]}, {"D_regression", summary["D_regression"]}},
      {"D cell problem " + tensor_text(summary["D_cell"]), "D regression   " + tensor_text(summary["D_regression"])}};
  // The distance of the regression's D from `ref` in standard errors, component by component (xx,
  // xy, yy): the root sum of squares of those in `errors`. Stored under `key` and printed as `line`.
  const auto distance = [&](const json& ref, const std::vector<json>& errors, const char* key, const char* line) {
    const json& g = summary["D_regression"];
    json z = json::array();
    for (const auto& [i, j] : {std::pair{0, 0}, std::pair{0, 1}, std::pair{1, 1}}) {
      double se2 = 0.0;
      for (const json& e : errors) se2 += std::pow(e[i][j].get<double>(), 2);
      z.push_back((g[i][j].get<double>() - ref[i][j].get<double>()) / std::sqrt(se2));
    }
    r.json[key] = z;
    r.lines.push_back(fmt::format("{}: {:+.2f} (xx), {:+.2f} (xy), {:+.2f} (yy) standard errors", line,
                                  z[0].get<double>(), z[1].get<double>(), z[2].get<double>()));
  };
  if (summary.contains("D_cell_stderr")) {
    // A random lattice: the regression's distance from the representative-volume estimate.
    r.json["D_cell_stderr"] = summary["D_cell_stderr"];
    distance(summary["D_cell"], {summary["D_cell_stderr"]}, "D_regression_standard_errors",
             "D regression - representative volumes");
  }
  if (summary.contains("D_teeth")) {
    // Closed teeth: their mean cell tensor is what the patch means follow, so the regression is
    // judged against it in its own standard errors, and against the representative volumes in
    // both estimates' errors (the teeth are a sample of the medium too).
    for (const char* k : {"D_teeth", "D_teeth_stderr"}) r.json[k] = summary[k];
    r.lines.push_back("D teeth' cells " + tensor_text(summary["D_teeth"]));
    distance(summary["D_teeth"], {summary["D_teeth_stderr"]}, "D_regression_teeth_standard_errors",
             "D regression - teeth' cells");
    if (summary.contains("D_cell_stderr"))
      distance(summary["D_cell"], {summary["D_cell_stderr"], summary["D_teeth_stderr"]},
               "D_regression_combined_standard_errors",
               "D regression - representative volumes, in both estimates' errors");
  }
  if (summary.contains("regression_effective")) {
    // A u-dependent lattice: D*(u) and r*(u) as the equation has them against the cell problems'.
    const json& c = summary["regression_effective"];
    r.json["regression_effective"] = c;
    r.lines.push_back(
        "regression vs cell problems" +
        (c.contains("centres") ? fmt::format(" (D(x, y, u) / A(x, y) at the {} patch centres, the worst centre's)",
                                             c["centres"].get<std::size_t>())
                               : std::string()) +
        ": " +
        curve_errors_text(c,
                          {{"D_xx", "D*_xx(u)"}, {"D_xy", "D*_xy(u)"}, {"D_yy", "D*_yy(u)"}, {"reaction", "r*(u)"}}));
  }
  r = with_patch_scales(r, summary);
  if (summary.contains("patch_scales_vs_teeth")) {
    const json& cmp = summary["patch_scales_vs_teeth"];
    r.json["patch_scales_vs_teeth"] = cmp;
    std::string line = "patch scales against the teeth's own cell tensors D_i / their mean:";
    for (const char* axis : {"x", "y"})
      line += fmt::format(" {} correlation {:.3f}, rms difference {:.2e} (the teeth's spread {:.2e}){}", axis,
                          cmp[axis]["correlation"].get<double>(), cmp[axis]["rms_difference"].get<double>(),
                          cmp[axis]["teeth_spread"].get<double>(), axis[0] == 'x' ? ";" : "");
    r.lines.push_back(line);
  }
  return r;
}

}  // namespace patchlearn
