#include "patchlearn/schemes/gap_tooth.hpp"

#include <array>
#include <cmath>

#include <fmt/format.h>

#include "patchlearn/core/error.hpp"
#include "patchlearn/schemes/patch_dynamics.hpp"

namespace patchlearn {

GapTooth1D::GapTooth1D(const FineModel1D& model, const PatchLayout1D& teeth, const GapToothParams& params,
                       Device device, index_t batch)
    : teeth_(teeth.length, teeth.macro_nodes, teeth.dx, teeth.tooth_width, teeth.tooth_width),
      params_(params),
      device_(device),
      batch_(batch),
      m_(model.points_per_period()),
      medium_(model, teeth_.patch_starts(), teeth_.points, device, batch * teeth_.patches()) {
  if (m_ < 1)
    throw ConfigError(
        "micro.dx",
        "the gap-tooth edge condition averages over one period, so medium.epsilon / micro.dx must be a whole number");
  const index_t P = teeth_.patches(), N = teeth_.points;
  if (2 * m_ > N - 1)
    throw ConfigError("patch.tooth_width", "a gap-tooth tooth must span at least two periods of the medium (got " +
                                               std::to_string(static_cast<double>(N - 1) / m_) + ")");
  dx2_ = model.dx() * model.dx();
  y_ = Buffer<double>(device_, static_cast<std::size_t>(batch * P * N));
  left_ = Buffer<double>(device_, static_cast<std::size_t>(batch * P));
  right_ = Buffer<double>(device_, static_cast<std::size_t>(batch * P));
  out_ = Buffer<double>(device_, static_cast<std::size_t>(batch * P));
  // Each tooth's edge means. Fixed where the medium holds the teeth's windows' conductances
  // ([tooth][N - 1] bonds: a linear medium, or a nonlinear random one's cells, whose corrector is
  // its own at every u), with their harmonic means on a random medium, whose flux factors they
  // give; a nonlinear periodic medium's a(y, u) gives the corrector's term as series in u, read at
  // the tooth's average.
  const auto windows = medium_.conductances().to_host(), a_star = medium_.harmonic_means().to_host();
  if (!windows.empty()) {
    edge_chi_.terms = 1;
    for (index_t p = 0; p < P; ++p) {
      const auto e = edge_means(windows.data() + p * (N - 1), a_star.empty() ? 0.0 : a_star[p]);
      if (!a_star.empty()) {
        edge_left_.push_back(e.flux[0]);
        edge_right_.push_back(e.flux[1]);
      }
      edge_chi_.coef.insert(edge_chi_.coef.end(), e.chi.begin(), e.chi.end());
    }
  } else {
    const auto tables = model.medium_tables(teeth_.patch_starts(), N);
    std::vector<double> a(static_cast<std::size_t>(N - 1));
    // The corrector's term is at most half a period (|x - x_e| <= w / 2, a*<1/a> = 1).
    const double half_period = 0.5 * static_cast<double>(m_) * teeth_.dx;
    edge_chi_ = tabulate_means_in_u(
        2 * P,
        [&](index_t k, double u) {
          for (index_t g = 0; g + 1 < N; ++g) a[g] = tables.a.value((k / 2) * (N - 1) + g, u);
          return std::array<double, 2>{edge_means(a.data(), 0.0).chi[k % 2], half_period};
        },
        medium_.u_range(), "medium.expression", 1e-12);
    tabulate_nonlinear_edges(tables);
  }
  if (medium_.nonlinear()) return;
  work_ = Buffer<double>(device_, y_.size());
  const index_t chunk = params_.chunk_len >= 0 ? params_.chunk_len : default_chunk_len(device_, batch * P, N);
  solver_ = std::make_unique<kernels::BatchedTridiag>(device_, P, N, chunk == 0 ? 0 : std::max(chunk, m_ + 1), m_);
  solver_->assemble_diffusion(medium_.conductances(), params_.dt / dx2_, kernels::EndRows::AveragedGradient);
}

void GapTooth1D::tabulate_nonlinear_edges(const MediumSeries& tables) {
  const index_t N = teeth_.points, P = teeth_.patches(), m = m_;
  const double dx = teeth_.dx, mm = static_cast<double>(m);
  const URange range = medium_.u_range();
  // Bond g of edge period k (its first point j0 = the bond's index at g = 0) in the windows' tables.
  const auto first = [&](index_t k) { return (k % 2 ? N - 1 - m : 0); };
  const auto bond = [&](index_t k, index_t g) { return (k / 2) * (N - 1) + first(k) + g; };
  const auto inv_mean = [&](index_t k, double u) {
    double inv = 0.0;
    for (index_t g = 0; g < m; ++g) inv += 1.0 / tables.a.value(bond(k, g), u);
    return inv / mm;
  };
  // The sum of `n` terms over the period and the sum of their sizes (tabulate_means_in_u, to 1e-12 of the terms).
  const auto sum_and_size = [&](index_t n, const auto& term) {
    double sum = 0.0, size = 0.0;
    for (index_t j = 0; j < n; ++j) {
      const double t = term(j);
      sum += t, size += std::abs(t);
    }
    return std::array<double, 2>{sum, size};
  };
  edge_nl_.inv_a_star = tabulate_in_u(2 * P, inv_mean, range, "medium.expression", 1e-12);
  edge_nl_.conductance_shift = tabulate_means_in_u(
      2 * P,
      [&](index_t k, double u) {
        // psi at the bonds' midpoints: a* times the resistance from the period's start, less its mean.
        const double a_star = 1.0 / inv_mean(k, u);
        std::vector<double> psi(static_cast<std::size_t>(m));
        double resistance = 0.0, mean = 0.0;
        for (index_t g = 0; g < m; ++g) {
          const double a = tables.a.value(bond(k, g), u);
          psi[g] = a_star * (resistance + 0.5 * dx / a);
          resistance += dx / a;
          mean += psi[g] / mm;
        }
        double shift = 0.0, size = 0.0;
        for (index_t g = 0; g < m; ++g) {
          const double a = tables.a.value(bond(k, g), u), term = tables.a.slope(bond(k, g), u) / (a * a);
          shift += term * (psi[g] - mean);
          size += std::abs(term) * (std::abs(psi[g]) + std::abs(mean));
        }
        return std::array<double, 2>{a_star * shift / mm, a_star * size / mm};
      },
      range, "medium.expression", 1e-12);
  if (!tables.c.coef.empty())
    edge_nl_.drift = tabulate_means_in_u(
        2 * P,
        [&](index_t k, double u) {
          const auto [c, size] =
              sum_and_size(m, [&](index_t g) { return tables.c.value(bond(k, g), u) / tables.a.value(bond(k, g), u); });
          const double a_star = 1.0 / inv_mean(k, u);
          return std::array<double, 2>{a_star * c / mm, a_star * size / mm};
        },
        range, "medium.drift", 1e-12);
  if (!tables.r.coef.empty())
    edge_nl_.reaction = tabulate_means_in_u(
        2 * P,
        [&](index_t k, double u) {
          // The trapezoid over the period's m + 1 points.
          const index_t j0 = (k / 2) * N + first(k);
          const auto [r, size] = sum_and_size(
              m + 1, [&](index_t j) { return (j == 0 || j == m ? 0.5 : 1.0) * tables.r.value(j0 + j, u); });
          return std::array<double, 2>{r / mm, size / mm};
        },
        range, "medium.reaction", 1e-12);
}

double GapTooth1D::nonlinear_rise(index_t k, int side, double u, const double* D, double rho, double rho_x) const {
  const double w = static_cast<double>(m_) * teeth_.dx, zr = 0.5 * teeth_.tooth_width - 0.5 * w;
  const double s = D[1] + side * D[2] * zr, ue = u + side * D[1] * zr;
  const auto mean = [&](const ChebyshevTable& t) { return t.coef.empty() ? 0.0 : t.value(k, ue); };
  const double q = rho + side * zr * rho_x - mean(edge_nl_.drift) * s - mean(edge_nl_.reaction);
  return w * (s - mean(edge_nl_.conductance_shift) * s * s + edge_chi_.value(k, ue) * q * mean(edge_nl_.inv_a_star));
}

double GapTooth1D::curvature_slope(const double* U, int M, int i) const {
  const auto curvature = [&](int j) {
    if (j == 0 || j == M - 1) return 0.0;  // a held value: its rate is 0
    double D[3];
    kernels::macro_differences(U, M, j, 2, teeth_.macro_dx, D);
    return D[2];
  };
  return (curvature(i + 1) - curvature(i - 1)) / (2 * teeth_.macro_dx);
}

GapTooth1D::EdgeMeans GapTooth1D::edge_means(const double* a, double a_star) const {
  const index_t N = teeth_.points;
  const double m = static_cast<double>(m_);
  // Over the m bonds of each edge period, x_e its centre: sums of 1/a and of (x - x_e)/a.
  double inv_l = 0.0, inv_r = 0.0, z_l = 0.0, z_r = 0.0;
  for (index_t g = 0; g < m_; ++g) {
    const double z = (static_cast<double>(g) + 0.5 - 0.5 * m) * teeth_.dx;
    inv_l += 1.0 / a[g], inv_r += 1.0 / a[N - 2 - g];
    z_l += z / a[g], z_r += z / a[N - 1 - m_ + g];
  }
  if (a_star == 0.0) a_star = m / inv_l;  // a periodic medium's a*: the harmonic mean over one period
  return {{a_star * inv_l / m, a_star * inv_r / m}, {a_star * z_l / m, a_star * z_r / m}};
}

std::vector<double> GapTooth1D::tooth_averages() {
  const index_t systems = batch_ * teeth_.patches();
  kernels::restrict_teeth(device_, systems, teeth_.points, 1, 0, 0, teeth_.points, y_.data(), out_.data());
  std::vector<double> R(static_cast<std::size_t>(systems));
  out_.copy_to_host(R.data(), R.size());
  if (medium_.nonlinear()) {
    const index_t P = teeth_.patches();
    medium_.check_u_range(R, P, [&](std::size_t i) { return fmt::format("node {} (t = {:.6g})", i % P + 1, t_); });
  }
  return R;
}

void GapTooth1D::step(const std::vector<double>& Umacro, const std::vector<double>& rates) {
  const int M = teeth_.macro_nodes, P = teeth_.patches();
  const double w = static_cast<double>(m_) * teeth_.dx, zr = 0.5 * teeth_.tooth_width - 0.5 * w;
  std::vector<double> L(static_cast<std::size_t>(batch_ * P)), R(L.size());
  // A u-dependent medium's edge rows take the teeth's rates over the last step (none before the first).
  const bool rated = !edge_nl_.inv_a_star.coef.empty() && !rates.empty();
  double D[3];
  for (index_t b = 0; b < batch_; ++b)
    for (int p = 0; p < P; ++p) {
      const double* U = Umacro.data() + b * M;
      kernels::macro_differences(U, M, p + 1, 2, teeth_.macro_dx, D);
      if (rated) {
        const auto rate = [&](int i) { return rates[b * M + i]; };
        // The rate's slope between the neighbours (a boundary's pinned value has rate 0).
        const double slope = (rate(p + 2) - rate(p)) / (2 * teeth_.macro_dx);
        L[b * P + p] = nonlinear_rise(2 * p, -1, U[p + 1], D, rate(p + 1), slope);
        R[b * P + p] = nonlinear_rise(2 * p + 1, 1, U[p + 1], D, rate(p + 1), slope);
        continue;
      }
      // The field's curvature at each edge period's centre, for the corrector's term.
      const double u = U[p + 1], U3 = curvature_slope(U, M, p + 1);
      L[b * P + p] = w * ((D[1] - D[2] * zr) * (edge_left_.empty() ? 1.0 : edge_left_[p]) +
                          (D[2] - U3 * zr) * edge_chi_.value(2 * p, u));
      R[b * P + p] = w * ((D[1] + D[2] * zr) * (edge_right_.empty() ? 1.0 : edge_right_[p]) +
                          (D[2] + U3 * zr) * edge_chi_.value(2 * p + 1, u));
    }
  left_.copy_from_host(L);
  right_.copy_from_host(R);
  const index_t systems = batch_ * P, N = teeth_.points;
  if (medium_.nonlinear()) {  // one linearly implicit Euler step (kernels/nonlinear.hpp)
    medium_.theta_steps(systems, 1, params_.dt, 1.0, kernels::StepJacobian::Exact, kernels::EndRows::AveragedGradient,
                        m_, left_.data(), right_.data(), y_.data());
  } else {
    kernels::increment_rhs(device_, systems, P, N, medium_.conductances().data(), params_.dt / dx2_,
                           kernels::EndRows::AveragedGradient, m_, left_.data(), right_.data(), y_.data(),
                           work_.data());
    solver_->solve(work_.data(), systems);
    kernels::axpby(device_, systems * N, 1.0, y_.data(), 1.0, work_.data(), y_.data());
  }
  point_steps_ += static_cast<double>(systems * teeth_.points);
}

CoarseData GapTooth1D::run(const std::vector<std::function<double(double)>>& ics, const std::vector<double>& times,
                           const std::function<void(double)>& progress) {
  if (static_cast<index_t>(ics.size()) != batch_) throw std::invalid_argument("GapTooth1D: batch size mismatch");
  const int M = teeth_.macro_nodes, P = teeth_.patches();
  const index_t N = teeth_.points;
  // Teeth start from the initial condition sampled at their fine points.
  std::vector<double> y0(static_cast<std::size_t>(batch_ * P * N));
  std::vector<double> Umacro(static_cast<std::size_t>(batch_ * M));
  for (index_t b = 0; b < batch_; ++b) {
    for (int p = 0; p < P; ++p)
      for (index_t j = 0; j < N; ++j)
        y0[(b * P + p) * N + j] = ics[b](static_cast<double>(teeth_.global_start(p + 1) + j) * teeth_.dx);
    Umacro[b * M] = ics[b](0.0);
    Umacro[b * M + M - 1] = ics[b](teeth_.length);
  }
  y_.copy_from_host(y0);
  if (medium_.harmonic_means().size() > 0) medium_.lift_corrector(batch_ * P, 0, N, y_.data());
  const auto nt = static_cast<index_t>(times.size());
  std::vector<double> hU(static_cast<std::size_t>(batch_ * nt * M), 0.0), hR(hU.size(), 0.0);
  auto load = [&](const std::vector<double>& avg) {
    for (index_t b = 0; b < batch_; ++b)
      for (int p = 0; p < P; ++p) Umacro[b * M + p + 1] = avg[b * P + p];
  };
  t_ = 0.0;
  auto avg = tooth_averages();
  load(avg);
  // Each step sets the edges from the macro state extrapolated to its end, 2 U^k - U^(k-1), and the
  // rate over it is recorded with the state it ends on (header); the first step (t = 0) has no
  // earlier state and is recorded with the state it starts from.
  // The state the last step started from, the rates over it and the state the next one's edges take, [batch][M].
  std::vector<double> before, rates, edges;
  const auto advance = [&] {
    edges = Umacro;
    if (!before.empty())
      for (std::size_t i = 0; i < edges.size(); ++i) edges[i] = 2 * Umacro[i] - before[i];
    before = Umacro;
    step(edges, rates);
    const auto next = tooth_averages();
    rates.assign(Umacro.size(), 0.0);  // 0 at the held boundary values
    for (index_t b = 0; b < batch_; ++b)
      for (int p = 0; p < P; ++p) {
        const double r = (next[b * P + p] - avg[b * P + p]) / params_.dt;
        if (!std::isfinite(r))
          throw TrajectoryError(fmt::format("non-finite gap-tooth rate at t = {:.6g}, ", t_), b, "");
        rates[b * M + p + 1] = r;
      }
    load(avg = next);
    t_ += params_.dt;
  };
  for (index_t n = 0; n < nt; ++n) {
    const auto steps = static_cast<index_t>(std::llround((times[n] - t_) / params_.dt));
    for (index_t s = 0; s < steps; ++s) advance();
    t_ = times[n];
    const std::vector<double> at = Umacro;
    if (rates.empty()) advance();  // the rate over the first step, recorded with the state it starts from
    for (index_t b = 0; b < batch_; ++b)
      for (int j = 0; j < M; ++j) {
        const std::size_t o = static_cast<std::size_t>((b * nt + n) * M + j);
        hU[o] = at[b * M + j];
        hR[o] = rates[b * M + j];
      }
    if (progress) progress(t_);
  }
  return CoarseData::from_host(device_, batch_, times, M, hU, hR, point_steps_);
}

}  // namespace patchlearn
