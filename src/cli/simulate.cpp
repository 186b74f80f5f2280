#include "patchlearn/cli/simulate.hpp"

#include <cmath>

#include "patchlearn/homog/cell1d.hpp"
#include "patchlearn/io/h5.hpp"
#include "patchlearn/micro/diffusion1d.hpp"
#include "patchlearn/micro/initial_conditions.hpp"
#include "patchlearn/schemes/full_resolution.hpp"
#include "patchlearn/schemes/gap_tooth.hpp"
#include "patchlearn/schemes/patch_dynamics.hpp"

namespace patchlearn {

namespace {
PatchDynamicsParams patch_params(const Config1D& cfg) {
  PatchDynamicsParams p;
  p.burst = cfg.burst;
  p.substeps = cfg.substeps;
  p.method = parse_burst_method(cfg.burst_method);
  p.lifting_degree = cfg.lifting_degree;
  p.buffer_ends = parse_buffer_ends(cfg.buffer_ends);
  p.heal_substeps = cfg.heal_substeps;
  return p;
}
}  // namespace

double cell_a_star(const Config1D& cfg) {
  const FineModel1D model(*cfg.field, cfg.epsilon, cfg.micro_dx);
  const int n = model.points_per_period() > 0 ? model.points_per_period() : 1000;
  return solve_cell_problem_1d(FineModel1D(*cfg.field, 1.0, 1.0 / n).conductances(0, n)).a_star;
}

Simulation1D simulate_1d(const Config1D& cfg, Device device, const std::function<void(double)>& progress,
                         const ChunkedRun* chunks) {
  const FineModel1D model(*cfg.field, cfg.epsilon, cfg.micro_dx);
  const PatchLayout1D layout(cfg.length, cfg.macro_nodes, cfg.micro_dx, cfg.tooth_width,
                             cfg.scheme == "patch_dynamics" ? cfg.buffer_width : cfg.tooth_width);
  const auto ics = draw_initial_conditions(cfg.initial);
  std::vector<std::function<double(double)>> icf(ics.begin(), ics.end());
  const index_t B = cfg.initial.trajectories, M = cfg.macro_nodes;
  const auto times = cfg.sample_times();
  // Trajectories [first, first + count) with the configured scheme.
  const auto compute = [&](index_t first, index_t count, const std::function<void(double)>& prog) -> CoarseData {
    const std::vector<std::function<double(double)>> sub(icf.begin() + first, icf.begin() + first + count);
    if (cfg.scheme == "patch_dynamics") {
      PatchDynamics1D op(model, layout, patch_params(cfg), device, count);
      std::vector<double> U0(count * M);
      for (index_t b = 0; b < count; ++b)
        for (index_t i = 0; i < M; ++i) U0[b * M + i] = sub[b](layout.node_x(static_cast<int>(i)));
      const index_t steps = cfg.macro_steps();
      return integrate_coarse(op, parse_macro_method(cfg.integrator), cfg.macro_dt, steps, cfg.sample_every, U0, count,
                              [&](index_t s) { if (prog) prog(double(s) / double(steps)); });
    }
    if (cfg.scheme == "gap_tooth") {
      GapToothParams p;
      p.dt = cfg.gap_tooth_dt;
      GapTooth1D gt(model, layout, p, device, count);
      return gt.run(sub, times, [&](double t) { if (prog) prog(t / cfg.t_end); });
    }
    FullResolutionParams p;
    p.rtol = cfg.full_rtol;
    p.dt0 = cfg.full_dt0;
    FullResolution1D fr(model, layout, p, device);
    const auto nt = static_cast<index_t>(times.size());
    std::vector<double> U(count * nt * M), R(U.size());
    for (index_t b = 0; b < count; ++b) {
      fr.run(sub[b], times, U.data() + b * nt * M, R.data() + b * nt * M, [&](double f) {
        if (prog) prog((double(b) + f) / double(count));
      });
    }
    return CoarseData::from_host(device, count, times, M, U, R, fr.point_steps());
  };
  Simulation1D sim;
  sim.data = run_in_chunks(chunks, cfg.text, B, device, compute, progress, sim.wall_s);
  if (cfg.scheme == "patch_dynamics") {
    // One more burst from trajectory 0's data at the sample nearest t = 0.05: the fine field the
    // coarse data come from (for the figures; not part of the timed run).
    index_t n = 0;
    for (index_t k = 0; k < sim.data.times; ++k)
      if (std::abs(sim.data.t[k] - 0.05) < std::abs(sim.data.t[n] - 0.05)) n = k;
    PatchDynamics1D op(model, layout, patch_params(cfg), device, 1);
    Buffer<double> U(device, M), R(device, M);
    detail::copy_bytes(device, U.data(), device, sim.data.U.data() + n * M, M * sizeof(double));
    op.rhs(U.data(), R.data(), 1);
    sim.fine_t = sim.data.t[n];
    sim.fine_u = op.patch_field(0);
    sim.fine_x.resize(sim.fine_u.size());
    for (int p = 0; p < layout.patches(); ++p)
      for (index_t j = 0; j < layout.points; ++j)
        sim.fine_x[p * layout.points + j] = static_cast<double>(layout.global_start(p + 1) + j) * cfg.micro_dx;
  }
  sim.a_star = cell_a_star(cfg);
  const auto per_macro = static_cast<index_t>(std::llround(layout.macro_dx / cfg.homogenized_dx));
  sim.truth = homogenized_truth(sim.a_star, cfg.length, cfg.macro_nodes, per_macro, icf, sim.data.t);
  sim.rmse_vs_homogenized = relative_mse(sim.data.host_U(), sim.truth.U);
  return sim;
}

void write_data_h5(const std::string& path, const Config1D& cfg, const Simulation1D& sim, Device device) {
  const auto& d = sim.data;
  H5Writer w(path);
  const std::vector<index_t> dims{d.trajectories, d.times, d.nodes};
  w.dataset("U", dims, d.host_U());
  w.dataset("dUdt", dims, d.host_dUdt());
  w.dataset("U_hom", dims, sim.truth.U);
  w.dataset("dUdt_hom", dims, sim.truth.dUdt);
  w.dataset("t", {d.times}, d.t);
  std::vector<double> x(d.nodes);
  for (index_t i = 0; i < d.nodes; ++i) x[i] = cfg.length * static_cast<double>(i) / static_cast<double>(d.nodes - 1);
  w.dataset("x", {d.nodes}, x);
  if (!sim.fine_u.empty()) {
    const index_t patches = cfg.macro_nodes - 2, points = static_cast<index_t>(sim.fine_u.size()) / patches;
    w.dataset("fine_u", {patches, points}, sim.fine_u);
    w.dataset("fine_x", {patches, points}, sim.fine_x);
    w.attribute("fine_t", sim.fine_t);
    w.attribute("epsilon", cfg.epsilon);
    w.attribute("tooth_width", cfg.tooth_width);
  }
  w.attribute("config", cfg.text);
  w.attribute("version", std::string(PATCHLEARN_VERSION));
  w.attribute("device", device_description(device));
  w.attribute("scheme", cfg.scheme);
  w.attribute("wall_s", sim.wall_s);
  w.attribute("point_steps", d.point_steps);
  w.attribute("a_star_cell", sim.a_star);
  w.attribute("rmse_vs_homogenized", sim.rmse_vs_homogenized);
  w.commit();
}

}  // namespace patchlearn
