#include "patchlearn/schemes/lattice2d.hpp"

#include <algorithm>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "patchlearn/core/format.hpp"

#include "patchlearn/core/error.hpp"
#include "patchlearn/kernels/batched.hpp"

namespace patchlearn {
namespace {

/// Scaled modified Bessel coefficients of exp(z (x - 1)) = sum_k c_k T_k(x): c_0 = e^-z I_0(z),
/// c_k = 2 e^-z I_k(z), by Miller's backward recurrence normalized with I_0 + 2 sum I_k = e^z,
/// started at K0 = 40 + 20 sqrt(z), where c_k ~ exp(-k^2 / 2z) is below 1e-80.
/// All c_k are positive and |T_k| <= 1 on [-1, 1], so dropping the terms past K changes the
/// propagator by at most their sum in the 2-norm: the series ends at the first K whose tail sum
/// is <= tolerance.
std::vector<double> exp_chebyshev_coefficients(double z, double tolerance) {
  const int K0 = static_cast<int>(std::ceil(40.0 + 20.0 * std::sqrt(z)));
  std::vector<double> I(K0 + 2, 0.0);
  I[K0] = 1e-300;
  for (int k = K0; k >= 1; --k) {
    I[k - 1] = I[k + 1] + (2.0 * k / z) * I[k];
    if (I[k - 1] > 1e200)
      for (int j = k - 1; j <= K0; ++j) I[j] *= 1e-200;
  }
  double S = I[0];
  for (int k = 1; k <= K0; ++k) S += 2.0 * I[k];
  std::vector<double> c(K0 + 1);
  for (int k = 0; k <= K0; ++k) c[k] = (k == 0 ? 1.0 : 2.0) * I[k] / S;
  // Keep at least c_0 and c_1 (the propagation's first rate evaluation).
  double tail = 0.0;
  std::size_t K = c.size();
  while (K > 2 && tail + c[K - 1] <= tolerance) tail += c[--K];
  c.resize(K);
  return c;
}

/// The number of steps dt in the interval (ConfigError naming fine.dt unless dt divides it).
int steps_dividing(double interval, double dt) {
  const double r = interval / dt;
  if (r < 0.5 || !whole_number(r))
    throw ConfigError("fine.dt", num(dt) + " does not divide the sampling interval " + num(interval));
  return static_cast<int>(std::llround(r));
}

/// Calls visit(tooth, kE, kN) with the (m+2) x (m+2) bond window of every tooth (tooth = J P + I) of
/// a whole-lattice table (random, modulated), or once, tooth 0, when the teeth share one window.
template <class Visit>
void for_each_tooth_window(const Lattice2D& lattice, const PatchLayout2D& g, Visit visit) {
  const int teeth = lattice.tables().whole_lattice ? g.P : 1;
  std::vector<double> kE, kN;
  for (int J = 0; J < teeth; ++J)
    for (int I = 0; I < teeth; ++I) {
      lattice.window(g.first + I * g.spacing, g.first + J * g.spacing, g.n, kE, kN);
      visit(static_cast<index_t>(J) * g.P + I, kE, kN);
    }
}

/// Every tooth closed as a periodic cell of its own m x m points (GapTooth2D::closed_teeth): its
/// window's bonds, the east and north boundary bonds as the cell's wrap bonds, and the cell
/// problem's solution, visited as (tooth, solution, window's east bonds, window's north bonds).
template <class Visit>
void for_each_tooth_cell(const Lattice2D& lattice, const PatchLayout2D& g, Visit visit) {
  // The cells' correctors are the linear lattice's: at a fixed u, g(u) multiplies every bond of a
  // cell and cancels from its cell problem (the tables below are the kappa alone).
  const int m = g.m, n = g.n;
  for_each_tooth_window(lattice, g, [&](index_t tooth, const std::vector<double>& wE, const std::vector<double>& wN) {
    KappaTables cell;
    cell.mx = cell.my = m;
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < m; ++j) {
        cell.cx.push_back(wE[static_cast<std::size_t>(j + 1) * n + i + 1]);
        cell.cy.push_back(wN[static_cast<std::size_t>(j + 1) * n + i + 1]);
      }
    visit(tooth, cell_solution(Lattice2D(std::move(cell), BondPlacement::Aligned, g.h)), wE, wN);
  });
}

/// The patch means' trigonometric interpolant at offset r from every patch centre, its value or its
/// x-derivative, as a circulant kernel over d = I - K: each mode exp(i k x) of the means divided by
/// the mean's factor s(k) (patch/layout2d.hpp), the Nyquist mode as its real part (like the
/// coupling kernel, patch/layout2d.hpp).
std::vector<double> mean_interpolant_kernel(const PatchLayout2D& g, double r, bool derivative) {
  std::vector<double> w(g.P, 0.0);
  for (int d = 0; d < g.P; ++d) {
    const double x = d * g.DX + r;
    double s = derivative ? 0.0 : 1.0;
    for (int j = 1; 2 * j <= g.P; ++j) {
      const double k = wavenumber(g.L, g.P, j), weight = (2 * j == g.P ? 1.0 : 2.0) / patch_mean_factor(k, g.m, g.h);
      s += weight * (derivative ? -k * std::sin(k * x) : std::cos(k * x));
    }
    w[d] = s / g.P;
  }
  return w;
}

/// A linear lattice's spectral bound raised for its u-dependence (LatticeScheme2D::spectral_bound).
double with_nonlinearity(const Lattice2D& lattice, double linear_bound) {
  const LatticeNonlinearityTables nl(Device::CPU, lattice, 0, 0);
  if (nl.linear()) return linear_bound;
  return 1.1 * (linear_bound * nl.max_factor() + nl.max_reaction_slope());
}

}  // namespace

LatticeNonlinearityTables::LatticeNonlinearityTables(Device dev, const Lattice2D& lattice, index_t x0, index_t n)
    : range_(lattice.tables().u_range) {
  const KappaTables& t = lattice.tables();
  // p's coefficients then q's, on the device.
  const auto on_device = [dev](const SeriesRatio& s) {
    std::vector<double> c = s.p.coef;
    c.insert(c.end(), s.q.coef.begin(), s.q.coef.end());
    return Buffer<double>(dev, c);
  };
  if (t.conductance_factor) {
    g_ = fit_in_u(*t.conductance_factor, t.u_range);
    g_dev_ = on_device(g_);
  }
  double rho_max = 0.0;
  if (t.reaction) {
    f_ = fit_in_u(*t.reaction, t.u_range);
    f_dev_ = on_device(f_);
    std::vector<double> rho(static_cast<std::size_t>(n * n));
    for (index_t y = 0; y < n; ++y)
      for (index_t x = 0; x < n; ++x) rho[y * n + x] = lattice.rho(x0 + x, x0 + y);
    rho_dev_ = Buffer<double>(dev, rho);
    for (index_t y = 0; y < t.my; ++y)
      for (index_t x = 0; x < t.mx; ++x) rho_max = std::max(rho_max, std::abs(lattice.rho(x, y)));
  }
  if (g_.p.terms) max_factor_ = 0.0;
  for (int k = 0; k <= 1024 && !linear(); ++k) {
    const double u = t.u_range.lo + k * (t.u_range.hi - t.u_range.lo) / 1024;
    if (g_.p.terms) max_factor_ = std::max(max_factor_, g_.value(u));
    if (f_.p.terms) max_slope_ = std::max(max_slope_, rho_max * std::abs(f_.slope(u)));
  }
}

kernels::LatticeNonlinearity LatticeNonlinearityTables::view() const {
  kernels::LatticeNonlinearity nl;
  if (g_.p.terms) nl.g = g_.view(g_dev_.data(), g_dev_.data() + g_.p.terms);
  if (f_.p.terms) {
    nl.f = f_.view(f_dev_.data(), f_dev_.data() + f_.p.terms);
    nl.rho = rho_dev_.data();
  }
  const ChebyshevTable& any = g_.p.terms ? g_.p : f_.p;
  nl.u_mid = any.mid();
  nl.u_scale = any.scale();
  return nl;
}

double LatticeScheme2D::slow_rate(const EffectiveTensor& D) const {
  // k.Dk <= lambda_max(D) |k|^2, |k|^2 <= 2 (pi P / L)^2 at the Nyquist wavenumber of both axes.
  const double lam = 0.5 * (D.xx + D.yy) + std::sqrt(0.25 * (D.xx - D.yy) * (D.xx - D.yy) + D.xy * D.xy);
  const double k = M_PI * layout_.P / layout_.L;
  return nl_.max_factor() * lam * 2.0 * k * k + nl_.max_reaction_slope();
}

void check_patch_phase(const Lattice2D& lattice, const PatchLayout2D& g) {
  const KappaTables& t = lattice.tables();
  if (!t.has_period()) return;  // a random realization has no phase to share
  const int mx = t.period_x(), my = t.period_y();
  if (g.spacing % mx || g.spacing % my)
    throw ConfigError("patch.ratio", "the patch centres are " + std::to_string(g.spacing) +
                                         " lattice points apart, not a multiple of the diffusivity period " +
                                         std::to_string(mx) + " x " + std::to_string(my) +
                                         "; every patch must see the same phase of the medium");
}

void check_gap_tooth_medium(const Lattice2D& lattice, const PatchLayout2D& g) {
  if (GapTooth2D::closed_teeth(lattice, g) && g.coupling != Coupling::Spectral)
    throw ConfigError("patch.coupling",
                      "the teeth of a random lattice with gaps are driven by the patch means' trigonometric "
                      "interpolant (their periodic closure); use \"spectral\"");
  check_patch_phase(lattice, g);
}

double gap_tooth_spectral_bound(const Lattice2D& lattice, const PatchLayout2D& g) {
  // Gershgorin: |diagonal| + the absolute row sum; an edge neighbour spreads its bond over the
  // coupling kernel, sum |w| = Lambda; over every tooth's own window where the teeth have one.
  double lp = 0.0, lm = 0.0;
  for (int k = 0; k < g.P; ++k) {
    lp += std::abs(g.wp[k]);
    lm += std::abs(g.wm[k]);
  }
  const double lam = std::max(lp, lm);
  const int n = g.n;
  double rho = 0.0;
  for_each_tooth_window(lattice, g, [&](index_t, const std::vector<double>& kE, const std::vector<double>& kN) {
    for (int q = 1; q <= g.m; ++q)
      for (int p = 1; p <= g.m; ++p) {
        const double bonds[4] = {kE[q * n + p], kE[q * n + p - 1], kN[q * n + p], kN[(q - 1) * n + p]};
        const bool edge[4] = {p == g.m, p == 1, q == g.m, q == 1};
        double row = 0.0;
        for (int b = 0; b < 4; ++b) row += bonds[b] * (1.0 + (edge[b] ? lam : 1.0));
        rho = std::max(rho, row / (g.h * g.h));
      }
  });
  return with_nonlinearity(lattice, rho);
}

double full_lattice_spectral_bound(const Lattice2D& lattice, const PatchLayout2D& g) {
  // One period of the tables covers every distinct row sum.
  double rho = 0.0;
  for (index_t y = 0; y < lattice.tables().my; ++y)
    for (index_t x = 0; x < lattice.tables().mx; ++x) {
      const double s = lattice.kx(x, y) + lattice.kx(x - 1, y) + lattice.ky(x, y) + lattice.ky(x, y - 1);
      rho = std::max(rho, 2.0 * s / (g.h * g.h));
    }
  return with_nonlinearity(lattice, rho);
}

double rk4_stability_limit() { return 2.785; }

const char* name_of(FineStepper s) {
  static const char* const names[] = {"exponential", "rk4", "rkc"};  // in the enum's order
  return names[static_cast<int>(s)];
}

RkcMethod RkcMethod::for_step(double dt_rho) {
  // Sommeijer, Shampine & Verwer (1998): with w0 = 1 + eps / s^2, w1 = T_s'(w0) / T_s''(w0),
  // b_j = T_j''(w0) / T_j'(w0)^2 (b_0 = b_1 = b_2), a_j = 1 - b_j T_j(w0):
  //   mu~_1 = b_1 w1;  mu_j = 2 b_j w0 / b_j-1,  nu_j = -b_j / b_j-2,  mu~_j = 2 b_j w1 / b_j-1,
  //   gamma~_j = -a_j-1 mu~_j  (j >= 2);  stable on [-(1 + w0) / w1, 0].
  const double eps = 2.0 / 13.0;
  for (int s = 2;; ++s) {
    const double w0 = 1.0 + eps / (static_cast<double>(s) * s);
    std::vector<double> T(s + 1), dT(s + 1), ddT(s + 1), b(s + 1), a(s + 1);
    T[0] = 1, T[1] = w0, dT[0] = 0, dT[1] = 1, ddT[0] = ddT[1] = 0;
    for (int j = 2; j <= s; ++j) {
      T[j] = 2 * w0 * T[j - 1] - T[j - 2];
      dT[j] = 2 * T[j - 1] + 2 * w0 * dT[j - 1] - dT[j - 2];
      ddT[j] = 4 * dT[j - 1] + 2 * w0 * ddT[j - 1] - ddT[j - 2];
    }
    const double w1 = dT[s] / ddT[s], beta = (1 + w0) / w1;
    if (beta < dt_rho && s < 100000) continue;
    for (int j = 2; j <= s; ++j) b[j] = ddT[j] / (dT[j] * dT[j]);
    b[0] = b[1] = b[2];
    for (int j = 0; j <= s; ++j) a[j] = 1 - b[j] * T[j];
    RkcMethod m;
    m.s = s;
    m.beta = beta;
    m.stage.push_back({0, 0, 0, b[1] * w1});
    for (int j = 2; j <= s; ++j) {
      const double mut = 2 * b[j] * w1 / b[j - 1];
      m.stage.push_back({2 * b[j] * w0 / b[j - 1], -b[j] / b[j - 2], mut, -a[j - 1] * mut});
    }
    return m;
  }
}

double RkcMethod::amplification(double z) const {
  const double y0 = 1.0;
  double yjm2 = y0, yjm1 = y0 + stage[0].gamma_dt * z * y0;
  for (int j = 1; j < s; ++j) {
    const auto& c = stage[j];
    // F(Y) = z Y per unit step.
    const double y = kernels::rkc_stage_value({c.mu, c.nu, c.mu_dt * z, c.gamma_dt * z}, y0, yjm1, yjm2, yjm1, y0);
    yjm2 = yjm1;
    yjm1 = y;
  }
  return yjm1;
}

void LatticeScheme2D::chebyshev_step(const double* Tk, double* Tkm1, double a, double c, double* acc, double* scratch) {
  rates(Tk, scratch);
  kernels::chebyshev_step(dev_, batch_ * state_size(), a, scratch, Tk, Tkm1, c, acc);
}

bool LatticeScheme2D::chebyshev_interval(const double*, int, double, double*) { return false; }

bool LatticeScheme2D::rkc_interval(const kernels::RkcStage*, int, int, double*) { return false; }

GapTooth2D::GapTooth2D(Device dev, const Lattice2D& lattice, const PatchLayout2D& g, index_t batch,
                       const ClosedTeeth* closed)
    : LatticeScheme2D(dev, g, batch) {
  check_gap_tooth_medium(lattice, g);
  nl_ = LatticeNonlinearityTables(dev, lattice, g.first, g.n);
  // Every tooth its own window of a whole-lattice table, plane-major [plane][J][I], the bonds its
  // interior uses (ToothBonds); a shared table is the whole frame.
  if (lattice.tables().whole_lattice) {
    bonds_.stride = static_cast<index_t>(g.P) * g.P;
    bonds_.patch_step = 1;
  }
  std::vector<double> kE(
      static_cast<std::size_t>(kernels::ToothBonds::planes(g.m, bonds_.per_patch()) * bonds_.stride)),
      kN(kE.size());
  for_each_tooth_window(lattice, g, [&](index_t tooth, const std::vector<double>& wE, const std::vector<double>& wN) {
    for (int y = 0; y < g.n; ++y)
      for (int x = 0; x < g.n; ++x) {
        const double e = wE[static_cast<std::size_t>(y) * g.n + x], nb = wN[static_cast<std::size_t>(y) * g.n + x];
        if (!bonds_.per_patch()) {
          kE[bonds_.east(x, y, g.m, tooth)] = e;
          kN[bonds_.north(x, y, g.m, tooth)] = nb;
          continue;
        }
        if (x <= g.m && y >= 1 && y <= g.m) kE[bonds_.east(x, y, g.m, tooth)] = e;
        if (x >= 1 && x <= g.m && y <= g.m) kN[bonds_.north(x, y, g.m, tooth)] = nb;
      }
  });
  kE_ = Buffer<double>(dev, kE);
  kN_ = Buffer<double>(dev, kN);
  bonds_.kE = kE_.data();
  bonds_.kN = kN_.data();
  wp_ = Buffer<double>(dev, kernels::circulant(g.wp));
  wm_ = Buffer<double>(dev, kernels::circulant(g.wm));
  rho_ = gap_tooth_spectral_bound(lattice, g);
  if (closed_teeth(lattice, g)) {
    std::optional<ClosedTeeth> own;
    close_teeth(closed ? *closed : own.emplace(ClosedTeeth::solve(lattice, g)));
  } else if (kernels::coupling_edges_pay(dev, g.P)) {
    edges_ = Buffer<double>(dev, static_cast<std::size_t>(batch_ * 4 * g.m * g.P * g.P));
  }
}

bool GapTooth2D::closed_teeth(const Lattice2D& lattice, const PatchLayout2D& g) {
  return !lattice.tables().has_period() && g.spacing > g.m;
}

ClosedTeeth ClosedTeeth::solve(const Lattice2D& lattice, const PatchLayout2D& g) {
  if (!GapTooth2D::closed_teeth(lattice, g)) throw std::logic_error("ClosedTeeth::solve: the teeth are not closed");
  check_gap_tooth_medium(lattice, g);
  const int m = g.m, n = g.n;
  const index_t PP = static_cast<index_t>(g.P) * g.P;
  ClosedTeeth out;
  out.tensors.resize(static_cast<std::size_t>(PP));
  out.factors.resize(static_cast<std::size_t>(8 * m * PP));
  const auto factor = [&](int side, int k, int comp, index_t tooth) -> double& {
    return out.factors[((static_cast<std::size_t>(side) * m + k - 1) * 2 + comp) * PP + tooth];
  };
  // Every tooth's cell correctors on its own m x m points, and the ghost factors from them.
  for_each_tooth_cell(
      lattice, g,
      [&](index_t tooth, const CellSolution& sol, const std::vector<double>& wE, const std::vector<double>& wN) {
        out.tensors[static_cast<std::size_t>(tooth)] = sol.D;
        const auto phi = [&](int e, int x, int y) { return sol.phi[e][static_cast<std::size_t>(y) * m + x]; };
        for (int k = 1; k <= m; ++k) {
          // Across the wrap x-bond of row k (local row k - 1), and the wrap y-bond of column k.
          const int j = k - 1;
          const double ex = 1.0 + phi(0, 0, j) - phi(0, m - 1, j), ey = phi(1, 0, j) - phi(1, m - 1, j);
          const double west = wE[static_cast<std::size_t>(k) * n + m] / wE[static_cast<std::size_t>(k) * n];
          factor(0, k, 0, tooth) = ex, factor(0, k, 1, tooth) = ey;
          factor(1, k, 0, tooth) = -west * ex, factor(1, k, 1, tooth) = -west * ey;
          const double nx = phi(0, j, 0) - phi(0, j, m - 1), ny = 1.0 + phi(1, j, 0) - phi(1, j, m - 1);
          const double south = wN[static_cast<std::size_t>(m) * n + k] / wN[k];
          factor(2, k, 0, tooth) = nx, factor(2, k, 1, tooth) = ny;
          factor(3, k, 0, tooth) = -south * nx, factor(3, k, 1, tooth) = -south * ny;
        }
      });
  return out;
}

void GapTooth2D::close_teeth(const ClosedTeeth& closed) {
  const auto& g = layout_;
  const int P = g.P, m = g.m;
  const index_t PP = static_cast<index_t>(P) * P;
  if (closed.factors.size() != static_cast<std::size_t>(8 * m * PP))
    throw std::logic_error("GapTooth2D: the closed teeth were solved on another layout");
  // The circulant matrices of kernels::ToothClosure, then their transposes.
  std::vector<std::vector<double>> w;
  for (const double r : {0.5 * m * g.h, -0.5 * m * g.h})
    for (const bool derivative : {false, true}) w.push_back(mean_interpolant_kernel(g, r, derivative));
  for (int k = 1; k <= m; ++k)
    for (const bool derivative : {false, true})
      w.push_back(mean_interpolant_kernel(g, (k - 0.5 * (m + 1)) * g.h, derivative));
  const std::size_t count = w.size();
  std::vector<double> mats(2 * count * PP);
  for (std::size_t i = 0; i < count; ++i)
    for (int I = 0; I < P; ++I)
      for (int K = 0; K < P; ++K) {
        mats[i * PP + I * P + K] = w[i][(I - K + P) % P];
        mats[(count + i) * PP + K * P + I] = w[i][(I - K + P) % P];
      }
  closure_factors_ = Buffer<double>(dev_, closed.factors);
  closure_matrices_ = Buffer<double>(dev_, mats);
  bonds_.closure = kernels::ToothClosure{closure_factors_.data(), closure_matrices_.data(), g.h};
  if (dev_ == Device::CUDA) {  // the CPU computes each trajectory's ghosts within its own pass
    means_ = Buffer<double>(dev_, static_cast<std::size_t>(batch_ * PP));
    edges_ = Buffer<double>(dev_, static_cast<std::size_t>(batch_ * 4 * m * PP));
  }
}

void GapTooth2D::rates(const double* u, double* dudt) {
  const auto& g = layout_;
  // Where the edge planes are kept (edges_, CUDA only), all of them first: closed teeth's ghosts
  // from all the means, or the coupling's edges by the library's GEMMs for many patches. Otherwise
  // each point's pass computes its own.
  const bool precompute = edges_.size() > 0;
  if (precompute && bonds_.closure.active()) {
    restrict_means(u, means_.data());
    kernels::closure_edges(dev_, batch_, g.P, g.m, bonds_.closure, u, means_.data(), edges_.data());
  } else if (precompute) {
    kernels::coupling_edges(dev_, batch_, g.P, g.m, wp_.data(), wm_.data(), u, edges_.data());
  }
  kernels::gap_tooth_rates(dev_, batch_, g.P, g.m, bonds_, wp_.data(), wm_.data(), 1.0 / (g.h * g.h), u, dudt,
                           nl_.view(), precompute ? edges_.data() : nullptr);
  point_steps_ += static_cast<double>(batch_ * state_size());
}

bool GapTooth2D::chebyshev_interval(const double* c, int n, double rho, double* u) {
  const auto& g = layout_;
  if (!linear() || bonds_.closure.active() || !kernels::gap_tooth_interval_fits(dev_, g.P, g.m)) return false;
  kernels::gap_tooth_chebyshev_interval(dev_, batch_, g.P, g.m, bonds_, wp_.data(), wm_.data(), 1.0 / (g.h * g.h), rho,
                                        c, n, u);
  point_steps_ += static_cast<double>(n - 1) * static_cast<double>(batch_ * state_size());
  return true;
}

bool GapTooth2D::rkc_interval(const kernels::RkcStage* stage, int s, int steps, double* u) {
  const auto& g = layout_;
  if (!kernels::gap_tooth_rkc_interval(dev_, batch_, g.P, g.m, bonds_, wp_.data(), wm_.data(), 1.0 / (g.h * g.h),
                                       nl_.view(), stage, s, steps, u))
    return false;
  point_steps_ += static_cast<double>(steps) * s * static_cast<double>(batch_ * state_size());
  return true;
}

void GapTooth2D::restrict_means(const double* u, double* U) {
  kernels::patch_means(dev_, batch_, static_cast<index_t>(layout_.m) * layout_.m,
                       static_cast<index_t>(layout_.P) * layout_.P, u, U);
}

std::vector<double> GapTooth2D::sample(const std::vector<InitialCondition2D>& ics) const {
  const auto& g = layout_;
  // Coordinate p * P + I: point p of the patches in column I (the same list serves y).
  std::vector<double> xs;
  for (int p = 0; p < g.m; ++p)
    for (int I = 0; I < g.P; ++I) xs.push_back(static_cast<double>(g.first + I * g.spacing + 1 + p) * g.h);
  const std::size_t n = xs.size(), per = static_cast<std::size_t>(state_size());
  std::vector<double> u(static_cast<std::size_t>(batch_) * per), grid(n * n);
  for (index_t b = 0; b < batch_; ++b) {
    ics[b].on_grid(xs, xs, grid.data());
    double* ub = u.data() + b * per;
    for (int q = 0; q < g.m; ++q)
      for (int p = 0; p < g.m; ++p)
        for (int J = 0; J < g.P; ++J)
          for (int I = 0; I < g.P; ++I) *ub++ = grid[(q * g.P + J) * n + p * g.P + I];
  }
  return u;
}

FullLattice2D::FullLattice2D(Device dev, const Lattice2D& lattice, const PatchLayout2D& g, index_t batch)
    : LatticeScheme2D(dev, g, batch), N_(g.lattice_points()) {
  check_patch_phase(lattice, g);
  nl_ = LatticeNonlinearityTables(dev, lattice, 0, N_);
  std::vector<double> kE, kN;
  lattice.window(0, 0, N_, kE, kN);
  kE_ = Buffer<double>(dev, kE);
  kN_ = Buffer<double>(dev, kN);
  rho_ = full_lattice_spectral_bound(lattice, g);
}

void FullLattice2D::rates(const double* u, double* dudt) {
  kernels::lattice_rates(dev_, batch_, N_, kE_.data(), kN_.data(), 1.0 / (layout_.h * layout_.h), u, dudt, nl_.view());
  point_steps_ += static_cast<double>(batch_ * state_size());
}

void FullLattice2D::chebyshev_step(const double* Tk, double* Tkm1, double a, double c, double* acc, double* scratch) {
  if (!linear()) return LatticeScheme2D::chebyshev_step(Tk, Tkm1, a, c, acc, scratch);
  kernels::lattice_chebyshev_step(dev_, batch_, N_, kE_.data(), kN_.data(), 1.0 / (layout_.h * layout_.h), a, Tk, Tkm1,
                                  c, acc);
  point_steps_ += static_cast<double>(batch_ * state_size());
}

void FullLattice2D::restrict_means(const double* u, double* U) {
  kernels::window_means(dev_, batch_, N_, layout_.P, layout_.first, layout_.spacing, layout_.m, u, U);
}

std::vector<double> FullLattice2D::sample(const std::vector<InitialCondition2D>& ics) const {
  std::vector<double> xs(static_cast<std::size_t>(N_));
  for (index_t x = 0; x < N_; ++x) xs[x] = static_cast<double>(x) * layout_.h;
  const std::size_t per = static_cast<std::size_t>(state_size());
  std::vector<double> u(static_cast<std::size_t>(batch_) * per);
  for (index_t b = 0; b < batch_; ++b) ics[b].on_grid(xs, xs, u.data() + b * per);
  return u;
}

Propagator2D::Propagator2D(LatticeScheme2D& scheme, double interval, FineStepper stepper, double dt, double tolerance,
                           double slow_rate)
    : s_(scheme), stepper_(stepper) {
  const double rho = scheme.spectral_bound();
  const std::size_t size = static_cast<std::size_t>(scheme.batch() * scheme.state_size());
  a_ = Buffer<double>(scheme.device(), size);
  c_ = Buffer<double>(scheme.device(), size);
  if (stepper == FineStepper::Exponential) {
    if (!scheme.linear())
      throw ConfigError("fine.stepper",
                        "exponential needs a linear lattice (exp(dt A)); use rkc for a u-dependent one");
    if (!scheme.symmetric())
      throw ConfigError("fine.stepper",
                        "exponential needs a symmetric patch system (patch.coupling = \"spectral\" on teeth that "
                        "share one bond table, not a random or modulated lattice's); use rkc or rk4");
    cheb_ = exp_chebyshev_coefficients(0.5 * interval * rho, tolerance);
    cheb_dev_ = Buffer<double>(scheme.device(), cheb_);
    evaluations_ = static_cast<int>(cheb_.size()) - 1;
    d_ = Buffer<double>(scheme.device(), size);
    return;
  }
  b_ = Buffer<double>(scheme.device(), size);
  if (stepper == FineStepper::RKC) {
    d_ = Buffer<double>(scheme.device(), size);
    rkc_steps(interval, rho, dt, tolerance, slow_rate);
    return;
  }
  const double limit = rk4_stability_limit();
  if (dt <= 0) {
    steps_ = static_cast<int>(std::ceil(interval * rho / (0.98 * limit)));
  } else {
    if (dt * rho > limit)
      throw ConfigError("fine.dt", num(dt) + " is over the RK4 stability limit 2.785 / rho = " + num(limit / rho) +
                                       " (rho = " + num(rho) +
                                       ", a bound of the fastest lattice rate); use fine.dt <= " + num(limit / rho) +
                                       " or fine.stepper = \"exponential\"");
    steps_ = steps_dividing(interval, dt);
  }
  dt_ = interval / steps_;
  evaluations_ = 4 * steps_;
}

void Propagator2D::advance(Buffer<double>& u, bool from_initial_condition) {
  const Device dev = s_.device();
  const index_t n = static_cast<index_t>(u.size());
  auto axpby = [&](double a, const double* x, double b, const double* y, double* out) {
    kernels::axpby(dev, n, a, x, b, y, out);
  };
  if (stepper_ == FineStepper::Exponential) {
    const double rho = s_.spectral_bound();
    const int terms = static_cast<int>(cheb_.size());
    if (s_.chebyshev_interval(cheb_dev_.data(), terms, rho, u.data())) return;
    // Term by term: T_0 = u, then T_k-1 overwritten in place; T_1 in d_, the sum in a_, A u in c_.
    s_.rates(u.data(), c_.data());
    kernels::chebyshev_start(dev, n, 4.0 / rho, c_.data(), u.data(), cheb_[0], cheb_[1], d_.data(), a_.data());
    for (int k = 1; k + 1 < terms; ++k) {
      s_.chebyshev_step(d_.data(), u.data(), 4.0 / rho, cheb_[k + 1], a_.data(), c_.data());
      std::swap(u, d_);
    }
    std::swap(u, a_);
    return;
  }
  if (stepper_ == FineStepper::RKC) {
    const RkcPlan& plan = from_initial_condition ? settle_ : rkc_;
    const RkcMethod& m = plan.method;
    if (s_.rkc_interval(m.stage.data(), m.s, plan.steps, u.data())) return;
    // Stage by stage: a_ F(Y_0), b_ Y_j-1, c_ Y_j-2 (overwritten by Y_j), d_ F(Y_j-1); Y_0 = u.
    for (int step = 0; step < plan.steps; ++step) {
      s_.rates(u.data(), a_.data());
      axpby(1.0, u.data(), m.stage[0].gamma_dt, a_.data(), b_.data());
      axpby(1.0, u.data(), 0.0, u.data(), c_.data());
      for (int j = 1; j < m.s; ++j) {
        s_.rates(b_.data(), d_.data());
        kernels::rkc_stage(dev, n, m.stage[j], u.data(), b_.data(), d_.data(), a_.data(), c_.data());
        std::swap(b_, c_);
      }
      std::swap(u, b_);
    }
    return;
  }
  // RK4: a_ stage rates, b_ stage state, c_ accumulated result.
  for (int s = 0; s < steps_; ++s) {
    s_.rates(u.data(), a_.data());
    axpby(1.0, u.data(), dt_ / 6, a_.data(), c_.data());
    axpby(1.0, u.data(), dt_ / 2, a_.data(), b_.data());
    s_.rates(b_.data(), a_.data());
    axpby(1.0, c_.data(), dt_ / 3, a_.data(), c_.data());
    axpby(1.0, u.data(), dt_ / 2, a_.data(), b_.data());
    s_.rates(b_.data(), a_.data());
    axpby(1.0, c_.data(), dt_ / 3, a_.data(), c_.data());
    axpby(1.0, u.data(), dt_, a_.data(), b_.data());
    s_.rates(b_.data(), a_.data());
    axpby(1.0, c_.data(), dt_ / 6, a_.data(), u.data());
  }
}

RkcPlan RkcPlan::with_steps(double interval, double rho, int steps) {
  RkcPlan p;
  p.steps = steps;
  p.dt = interval / steps;
  p.method = RkcMethod::for_step(p.dt * rho);
  for (auto& st : p.method.stage) {
    st.mu_dt *= p.dt;
    st.gamma_dt *= p.dt;
  }
  return p;
}

void Propagator2D::rkc_steps(double interval, double rho, double dt, double tolerance, double slow_rate) {
  if (dt > 0) {
    rkc_ = RkcPlan::with_steps(interval, rho, steps_dividing(interval, dt));
    settle_ = rkc_;
  } else {
    if (!(slow_rate > 0)) throw std::invalid_argument("Propagator2D: rkc without a step needs the slow rate");
    // The largest error of n steps over the interval on the modes of rate lambda <= lam_max: 64
    // samples for the coarse modes, where the stability polynomial is monotone, and 64 per stage for
    // the whole spectrum, enough to resolve its ripples (one per stage) in the damped range.
    const auto error = [&](int n, double lam_max) {
      const double h = interval / n;
      const RkcMethod m = RkcMethod::for_step(h * rho);
      const int points = lam_max > slow_rate ? 64 * m.s : 64;
      double worst = 0.0;
      for (int k = 1; k <= points; ++k) {
        const double lam = lam_max * k / points;
        worst = std::max(worst, std::abs(std::pow(m.amplification(-lam * h), n) - std::exp(-lam * interval)));
      }
      return worst;
    };
    // The fewest steps, at least `from`, whose error on [0, lam_max] is <= tolerance.
    const auto fewest = [&](double lam_max, int from) {
      int hi = from;
      while (error(hi, lam_max) > tolerance && hi < (1 << 20)) hi *= 2;
      int lo = hi == from ? from - 1 : hi / 2;  // error(lo) > tolerance (or lo below from)
      while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        (error(mid, lam_max) > tolerance ? lo : hi) = mid;
      }
      return hi;
    };
    rkc_ = RkcPlan::with_steps(interval, rho, fewest(slow_rate, 1));
    settle_ = RkcPlan::with_steps(interval, rho, fewest(rho, rkc_.steps));
  }
  steps_ = rkc_.steps;
  dt_ = rkc_.dt;
  evaluations_ = steps_ * rkc_.method.s;
}

CoarseData simulate_lattice_2d(LatticeScheme2D& scheme, Propagator2D& prop, double interval, index_t samples,
                               const std::vector<InitialCondition2D>& ics, const std::function<void(index_t)>& progress,
                               index_t check_every) {
  const Device dev = scheme.device();
  const int P = scheme.layout().P;
  const index_t B = scheme.batch(), M = static_cast<index_t>(P) * P;
  if (static_cast<index_t>(ics.size()) != B)
    throw std::invalid_argument("simulate_lattice_2d: one initial condition per trajectory");
  if (check_every < 1) throw std::invalid_argument("simulate_lattice_2d: check_every must be at least 1");
  CoarseData d(dev, B, samples, M);
  Buffer<double> u(dev, scheme.sample(ics)), du(dev, u.size()), U(dev, static_cast<std::size_t>(B * M)),
      R(dev, static_cast<std::size_t>(B * M));
  // Sample k's means are look 2k (against lattice.u_range on a u-dependent lattice), their rates
  // look 2k + 1; the values named in a message are read from the stored snapshots.
  BadValueWatch watch(dev, B * M);
  const URange range = scheme.linear() ? URange{} : scheme.nonlinearity().u_range();
  const auto stop_at_bad_value = [&] {
    const auto f = watch.found();
    if (!f) return;
    const index_t k = f->look / 2, b = f->index / M, patch = f->index % M;
    const std::string when = fmt::format("t = {} (sample {}), ", num(d.t[k]), k),
                      at = fmt::format(", patch ({}, {})", patch % P, patch / P);
    if (f->outside) {
      double v = 0;
      d.U.copy_to_host(&v, 1, static_cast<std::size_t>((b * samples + k) * M + patch));
      throw TrajectoryError(fmt::format("U = {:.6g} at {}", v, when), b,
                            fmt::format("{} is outside lattice.u_range [{:.6g}, {:.6g}], where g and f are "
                                        "tabulated; widen lattice.u_range",
                                        at, range.lo, range.hi));
    }
    throw TrajectoryError(fmt::format("non-finite {} at {}", f->look % 2 ? "dU/dt" : "U", when), b, at);
  };
  for (index_t k = 0; k < samples; ++k) {
    d.t[k] = static_cast<double>(k) * interval;
    scheme.restrict_means(u.data(), U.data());
    scheme.rates(u.data(), du.data());
    scheme.restrict_means(du.data(), R.data());
    watch.look(U.data(), 2 * k, range.lo, range.hi);
    watch.look(R.data(), 2 * k + 1);
    kernels::store_snapshot(dev, B, M, samples, k, U.data(), d.U.data());
    kernels::store_snapshot(dev, B, M, samples, k, R.data(), d.dUdt.data());
    if ((k + 1) % check_every == 0 || k + 1 == samples) stop_at_bad_value();
    if (k + 1 < samples) prop.advance(u, k == 0);
    if (progress) progress(k + 1);
  }
  d.point_steps = scheme.point_steps();
  return d;
}

}  // namespace patchlearn
