#include "patchlearn/homog/homogenized1d.hpp"

#include <exception>
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "patchlearn/core/error.hpp"
#include "patchlearn/micro/lattice_ivp.hpp"

namespace patchlearn {

HomogenizedSolution1D::HomogenizedSolution1D(double a_star, double length, index_t intervals,
                                             const std::function<double(double)>& ic)
    : a_(a_star), L_(length), N_(intervals) {
  const double dx = L_ / static_cast<double>(N_);
  left_ = ic(0.0);
  right_ = ic(L_);
  std::vector<double> W(N_ + 1);
  for (index_t j = 0; j <= N_; ++j) {
    const double x = static_cast<double>(j) * dx;
    W[j] = ic(x) - (left_ + (right_ - left_) * static_cast<double>(j) / static_cast<double>(N_));
  }
  // sin(pi m / N) for m in [0, 2N): every sine below is sin(pi (k j mod 2N) / N), an exact
  // argument reduction, so the transform costs N² table reads instead of N² sines.
  sine_.resize(2 * N_);
  for (index_t m = 0; m < 2 * N_; ++m) sine_[m] = std::sin(M_PI * static_cast<double>(m) / static_cast<double>(N_));
  b_.assign(N_, 0.0);
  lambda_.assign(N_, 0.0);
  for (index_t k = 1; k < N_; ++k) {
    double s = 0.0;
    index_t m = 0;  // k j mod 2N
    for (index_t j = 1; j < N_; ++j) {
      m += k;
      if (m >= 2 * N_) m -= 2 * N_;
      s += W[j] * sine_[m];
    }
    b_[k] = 2.0 * s / static_cast<double>(N_);
    const double sk = std::sin(M_PI * static_cast<double>(k) / (2.0 * static_cast<double>(N_)));
    lambda_[k] = -4.0 * a_ / (dx * dx) * sk * sk;
  }
}

void HomogenizedSolution1D::evaluate(double t, const std::vector<index_t>& nodes, double* U, double* dUdt) const {
  std::vector<double> e(N_);
  for (index_t k = 1; k < N_; ++k) e[k] = b_[k] * std::exp(lambda_[k] * t);
  for (std::size_t m = 0; m < nodes.size(); ++m) {
    const index_t j = nodes[m];
    double u = 0.0, r = 0.0;
    if (j > 0 && j < N_)
      for (index_t k = 1; k < N_; ++k) {
        const double s = sine_[(k * j) % (2 * N_)];
        u += e[k] * s;
        r += lambda_[k] * e[k] * s;
      }
    U[m] = u + left_ + (right_ - left_) * static_cast<double>(j) / static_cast<double>(N_);
    dUdt[m] = r;
  }
}

HomogenizedTruth homogenized_truth(double a_star, double length, int macro_nodes, index_t fine_per_macro,
                                   const std::vector<std::function<double(double)>>& ics,
                                   const std::vector<double>& times) {
  return homogenized_truth(std::vector<double>(ics.size(), a_star), length, macro_nodes, fine_per_macro, ics, times);
}

HomogenizedTruth homogenized_truth(const std::vector<double>& a_star, double length, int macro_nodes,
                                   index_t fine_per_macro, const std::vector<std::function<double(double)>>& ics,
                                   const std::vector<double>& times) {
  if (a_star.size() != ics.size()) throw std::logic_error("homogenized_truth: one a* per initial condition");
  const index_t nt = static_cast<index_t>(times.size()), M = macro_nodes;
  HomogenizedTruth out;
  out.U.resize(ics.size() * nt * M);
  out.dUdt.resize(out.U.size());
  std::vector<index_t> nodes(M);
  for (index_t i = 0; i < M; ++i) nodes[i] = i * fine_per_macro;
#pragma omp parallel for
  for (std::size_t tr = 0; tr < ics.size(); ++tr) {
    HomogenizedSolution1D sol(a_star[tr], length, (M - 1) * fine_per_macro, ics[tr]);
    for (index_t n = 0; n < nt; ++n) {
      const std::size_t o = (tr * nt + n) * M;
      sol.evaluate(times[n], nodes, out.U.data() + o, out.dUdt.data() + o);
    }
  }
  return out;
}

}  // namespace patchlearn

namespace patchlearn {

namespace {

// U and dU/dt at the macro nodes of the lattice model (conservative, kernels/nonlinear.hpp) on the
// fine grid of (macro_nodes - 1) fine_per_macro intervals, integrated by integrate_lattice: m[b] for
// ics[b], or m[0] for every one.
HomogenizedTruth lattice_truth(const std::vector<kernels::MediumTables>& media, URange range, double length,
                               int macro_nodes, index_t fine_per_macro,
                               const std::vector<std::function<double(double)>>& ics, const std::vector<double>& times,
                               double rtol) {
  const index_t nt = static_cast<index_t>(times.size()), M = macro_nodes, N = (M - 1) * fine_per_macro + 1;
  const double dx = length / static_cast<double>(N - 1), inv_dx = 1.0 / dx;
  HomogenizedTruth out;
  out.U.resize(ics.size() * nt * M);
  out.dUdt.resize(out.U.size());
  // The failure of the lowest trajectory that fails, whichever thread meets it first.
  std::exception_ptr failure;
  std::size_t failed = ics.size();
#pragma omp parallel for schedule(dynamic)
  for (std::size_t tr = 0; tr < ics.size(); ++tr) {
    std::vector<double> y(N), rate(N);
    const kernels::MediumTables& m = media[media.size() == 1 ? 0 : tr];
    for (index_t j = 0; j < N; ++j) y[j] = ics[tr](static_cast<double>(j) * dx);
    try {
      integrate_lattice(m, inv_dx, y, times, rtol, range, "the effective-PDE truth", static_cast<index_t>(tr),
                        [&](std::size_t n, const std::vector<double>& v) {
                          kernels::fine_rates_system(N, m, v.data(), inv_dx, rate.data());
                          const std::size_t o = (tr * nt + n) * M;
                          for (index_t i = 0; i < M; ++i) {
                            out.U[o + i] = v[i * fine_per_macro];
                            out.dUdt[o + i] = rate[i * fine_per_macro];
                          }
                        });
    } catch (...) {
#pragma omp critical
      if (tr < failed) failed = tr, failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
  return out;
}

}  // namespace

HomogenizedTruth effective_truth(const EffectiveMedium1D& medium, double length, int macro_nodes,
                                 index_t fine_per_macro, const std::vector<std::function<double(double)>>& ics,
                                 const std::vector<double>& times, double rtol) {
  return lattice_truth({medium.tables()}, {medium.a.lo, medium.a.hi}, length, macro_nodes, fine_per_macro, ics, times,
                       rtol);
}

HomogenizedTruth effective_truth(const std::vector<const EffectiveMedium1D*>& media, double length, int macro_nodes,
                                 index_t fine_per_macro, const std::vector<std::function<double(double)>>& ics,
                                 const std::vector<double>& times, double rtol) {
  if (media.size() != ics.size()) throw std::invalid_argument("effective_truth: one medium per initial condition");
  std::vector<kernels::MediumTables> tables;
  for (const auto* m : media) tables.push_back(m->tables());
  return lattice_truth(tables, {media.front()->a.lo, media.front()->a.hi}, length, macro_nodes, fine_per_macro, ics,
                       times, rtol);
}

HomogenizedTruth graded_truth(const CoefficientField& graded, int points_per_period, double length, int macro_nodes,
                              index_t fine_per_macro, const std::vector<std::function<double(double)>>& ics,
                              const std::vector<double>& times, double rtol, URange range) {
  return GradedTruth(graded, points_per_period, length, macro_nodes, fine_per_macro, rtol, range)(ics, times);
}

GradedTruth::GradedTruth(const CoefficientField& graded, int points_per_period, double length, int macro_nodes,
                         index_t fine_per_macro, double rtol, URange range)
    : length_(length), rtol_(rtol), macro_nodes_(macro_nodes), fine_per_macro_(fine_per_macro), range_(range) {
  const index_t bonds = (macro_nodes - 1) * fine_per_macro;
  const double dx = length / static_cast<double>(bonds);
  // a*(x, u) and c*(x, u) at every bond's midpoint, r*(x, u) at every point: one series per element.
  std::vector<double> x_bonds, x_points;
  for (index_t k = 0; k <= bonds; ++k) {
    if (k < bonds) x_bonds.push_back((static_cast<double>(k) + 0.5) * dx);
    x_points.push_back(std::min(length, static_cast<double>(k) * dx));
  }
  series_ = local_effective_series(graded, points_per_period, x_bonds, x_points);
}

HomogenizedTruth GradedTruth::operator()(const std::vector<std::function<double(double)>>& ics,
                                         const std::vector<double>& times) const {
  const MediumSeries& s = series_;
  return lattice_truth({s.view(s.a.coef.data(), s.c.coef.data(), s.r.coef.data(), 1, true)}, range_, length_,
                       macro_nodes_, fine_per_macro_, ics, times, rtol_);
}

}  // namespace patchlearn
