#pragma once
// Per-element math of the nonlinear 1D fine-scale model (issue 15), shared by both backends:
//     du_j/dt = F_j(u) = [ A_j (u_{j+1} - u_j) - A_{j-1} (u_j - u_{j-1}) ] / dx^2
//                        + [ C_{j-1} (u_j - u_{j-1}) + C_j (u_{j+1} - u_j) ] / (2 dx) + R_j,
//     A_j = a_j((u_j + u_{j+1}) / 2),   C_j = c_j((u_j + u_{j+1}) / 2),   R_j = r_j(u_j).
// Bond j (between points j and j+1) carries a at its midpoint in y and at the mean u of its two
// points: the flux A_j (u_{j+1} - u_j) is then antisymmetric in the two points, so the scheme is
// conservative (the fluxes telescope), and it reduces to the linear model's a((g + 1/2) dx / eps)
// when a does not depend on u. The drift sits on the bonds too, each point taking the mean of its
// two bonds' C (u_{j+1} - u_j) / dx (second order, like the diffusion; the centred difference when
// c is constant). Why on the bonds: the drift then meets the gradient where the corrector sets it,
// a_j (1 + chi'_j) = a* on every bond, so the lattice's homogenized drift is exactly
// a* <c/a> over the bond midpoints, the midpoint rule of the closed form (geometric in the points
// per period). On the points, with C_j (u_{j+1} - u_{j-1}) / 2dx, it would be a* <c (1/a_l + 1/a_r)/2>,
// O(dy^2) off (2.3e-4 of c* at 100 points per period for c = 2 + sin 2 pi y on a = 1.1 + sin 2 pi y;
// 0 for 2 + cos 2 pi y, by symmetry). The reaction sits on the points (it has no gradient, so the
// corrector does not weight it). Each a_j, c_j, r_j
// is a Chebyshev series in u over the medium's u range (MediumTables), so one element's value and
// slope cost a Clenshaw sum of a few terms on either backend, with no expression parser on the device.
//
// Time step (linearly implicit theta method, a one-stage Rosenbrock method): with the tridiagonal
// Jacobian J = dF/du at the current u,
//     (I - theta dt J) D = dt F(u),     u <- u + D.
// theta = 1 is linearly implicit Euler (first order, L-stable like backward Euler, whose Newton
// iteration it starts), theta = 1/2 the linearly implicit trapezoid (second order with the exact
// Jacobian). For a linear medium J = L and this is the linear model's increment form
// (kernels/diffusion.hpp) exactly, so a burst does not change scheme when a medium gains a u.
//
// Frozen Jacobian (a W-method): a run of steps may keep the factors of I - theta dt W with
// W = J at the run's first state, and only evaluate F(u) (series values, no slopes) and
// substitute at the later steps. Any W keeps the step consistent: u + (I - theta dt W)^{-1} dt F
// = u + dt F + theta dt^2 W F + O(dt^3), so linearly implicit Euler stays first order, with a
// local error changed by theta dt^2 (J(u) - W) F = O(dt^3 k) at the run's k-th step; the
// trapezoid (theta = 1/2) drops to first order. Exact J costs a factorization per step (a
// division in the elimination's dependency chain per point); frozen W costs one per run.
#include "patchlearn/core/defs.hpp"
#include "patchlearn/kernels/diffusion.hpp"

namespace patchlearn::kernels {

// Every function below is written for a value type T: a double (one system: CUDA's threads, the
// CPU's full-resolution lattice), or on the CPU a GCC vector of the same element of several
// systems, side by side in lanes (kernels/patch1d.cpp). The lanes do each system's operations in
// its own order, so a system's values do not depend on which lane, or whether any, it ran in.

// Clenshaw's recurrence b_k = c_k + 2t b_k+1 - b_k+2 from b_n = b_n+1 = 0, and the derivative's
// d_k = 2 b_k+1 + 2t d_k+1 - d_k+2. Its first steps are written out: b_n-1 = c_n-1 and d_n-1 = 0,
// then b_n-2 = c_n-2 + 2t c_n-1 and d_n-2 = 2 c_n-1, the values the loop gives there (x - 0 = x, and
// a product with 0 adds a zero) without its operations on zeros, which are most of a short
// series': 24 operations for the value and slope of 3 terms, 9 written out.

/// f(t) = sum_k c_k T_k(t) and f'(t) for t in [-1, 1] (Clenshaw, with its derivative recurrence).
template <class T>
PL_HDI void chebyshev_value_slope(const T* c, int n, T t, T* f, T* df) {
  if (n <= 1) {
    *f = n > 0 ? c[0] : T{};
    *df = T{};
    return;
  }
  T b1 = c[n - 1], b2{}, d1{}, d2{};
  if (n > 2) {
    b2 = b1;
    b1 = c[n - 2] + 2.0 * t * b2;
    d1 = 2.0 * b2;
  }
  for (int k = n - 3; k >= 1; --k) {
    const T b = c[k] + 2.0 * t * b1 - b2, d = 2.0 * b1 + 2.0 * t * d1 - d2;
    b2 = b1;
    b1 = b;
    d2 = d1;
    d1 = d;
  }
  *f = c[0] + t * b1 - b2;
  *df = b1 + t * d1 - d2;
}

/// f(t) = sum_k c_k T_k(t) for t in [-1, 1] (Clenshaw).
template <class T>
PL_HDI T chebyshev_value(const T* c, int n, T t) {
  if (n <= 1) return n > 0 ? c[0] : T{};
  T b1 = c[n - 1], b2{};
  if (n > 2) {
    b2 = b1;
    b1 = c[n - 2] + 2.0 * t * b2;
  }
  for (int k = n - 3; k >= 1; --k) {
    const T b = c[k] + 2.0 * t * b1 - b2;
    b2 = b1;
    b1 = b;
  }
  return c[0] + t * b1 - b2;
}

/// f(t) = sum_k c_k t^k (Horner: two operations a term, against Clenshaw's three or four).
template <class T>
PL_HDI T monomial_value(const T* c, int n, T t) {
  if (n <= 0) return T{};
  T acc = c[n - 1];
  for (int k = n - 2; k >= 0; --k) acc = c[k] + t * acc;
  return acc;
}

/// A function of u alone (a 2D lattice's g or f) as two polynomials in t = (u - mid) scale:
/// p(t) / q(t), or p(t) alone when q is null, each a Chebyshev series or, when `monomial`, in
/// powers of t (coeff/chebyshev.hpp: SeriesRatio, which chooses).
struct SeriesRatioView {
  const double *p = nullptr, *q = nullptr;
  int np = 0, nq = 0;
  bool monomial = false;
  PL_HD explicit operator bool() const { return p != nullptr; }
  PL_HD double polynomial(const double* c, int n, double t) const {
    return monomial ? monomial_value(c, n, t) : chebyshev_value(c, n, t);
  }
  PL_HD double operator()(double t) const {
    const double v = polynomial(p, np, t);
    return q ? v / polynomial(q, nq, t) : v;
  }
};

/// The medium of a batch of systems of n points, as Chebyshev series in u on [lo, hi]:
/// a[(m (n-1) + j) * a_stride .. + na) is bond j of medium m (likewise c on the n - 1 bonds and r
/// on the n points; nc = 0 or nr = 0: no drift / no reaction). A stride of 0 shares one series by every element
/// (a homogeneous medium such as the effective PDE's). System s uses medium s % mats.
/// T = a lane vector: the series of one system's medium in each lane (the CPU packs them so).
template <class T>
struct MediumTablesOf {
  const T *a = nullptr, *c = nullptr, *r = nullptr;
  int na = 0, nc = 0, nr = 0;
  index_t a_stride = 0, c_stride = 0, r_stride = 0;
  index_t mats = 1;
  double u_mid = 0, u_scale = 1;  ///< t = (u - u_mid) u_scale maps [lo, hi] onto [-1, 1]

  /// Value and du-slope of series k of table `tab` (n_terms terms, `stride` apart) at u.
  PL_HDI void eval(const T* tab, int n_terms, index_t stride, index_t k, const T& u, T* f, T* df) const {
    chebyshev_value_slope(tab + k * stride, n_terms, (u - u_mid) * u_scale, f, df);
    *df *= u_scale;
  }
  /// Value alone of series k of table `tab` at u.
  PL_HDI T value(const T* tab, int n_terms, index_t stride, index_t k, const T& u) const {
    return chebyshev_value(tab + k * stride, n_terms, (u - u_mid) * u_scale);
  }
  /// This batch's tables restricted to system s's medium (element indices then start at 0).
  PL_HDI MediumTablesOf of_system(index_t s, index_t n) const {
    MediumTablesOf t = *this;
    const index_t m = s % mats;
    t.a += m * (n - 1) * a_stride;
    if (nc) t.c += m * (n - 1) * c_stride;
    if (nr) t.r += m * n * r_stride;
    t.mats = 1;
    return t;
  }
};
using MediumTables = MediumTablesOf<double>;

/// Bond j's series at the mean of its two points' values u[j], u[j+1]: A_j and C_j (0 without a
/// drift) with their u-slopes.
template <class T>
PL_HDI void bond_series(const MediumTablesOf<T>& m, index_t j, const T* u, T* A, T* dA, T* C, T* dC) {
  const T ub = 0.5 * (u[j] + u[j + 1]);
  m.eval(m.a, m.na, m.a_stride, j, ub, A, dA);
  if (m.nc)
    m.eval(m.c, m.nc, m.c_stride, j, ub, C, dC);
  else
    *C = *dC = T{};
}

/// bond_series without the slopes.
template <class T>
PL_HDI void bond_value(const MediumTablesOf<T>& m, index_t j, const T* u, T* A, T* C) {
  const T ub = 0.5 * (u[j] + u[j + 1]);
  *A = m.value(m.a, m.na, m.a_stride, j, ub);
  *C = m.nc ? m.value(m.c, m.nc, m.c_stride, j, ub) : T{};
}

/// The rate F_j of interior row j at u, given its two bonds' values (Al, Cl: bond j-1; Ar, Cr: bond j).
template <class T>
PL_HDI T fine_rate(index_t j, const MediumTablesOf<T>& m, const T* u, double inv_dx, const T& Al, const T& Cl,
                   const T& Ar, const T& Cr) {
  const T gl = u[j] - u[j - 1], gr = u[j + 1] - u[j];
  T F = (Ar * gr - Al * gl) * (inv_dx * inv_dx);
  if (m.nc) F += (Cl * gl + Cr * gr) * (0.5 * inv_dx);
  if (m.nr) F += m.value(m.r, m.nr, m.r_stride, j, u[j]);
  return F;
}

/// Row j (interior) of the fine model at u, given its two bonds' series with their slopes (l: bond
/// j-1, r: bond j): the rate F_j and the Jacobian entries J_{j,j-1}, J_{j,j}, J_{j,j+1};
/// inv_dx = 1 / dx.
template <class T>
PL_HDI void fine_row(index_t j, const MediumTablesOf<T>& m, const T* u, double inv_dx, const T& Al, const T& dAl,
                     const T& Cl, const T& dCl, const T& Ar, const T& dAr, const T& Cr, const T& dCr, T* F, T* jl,
                     T* jd, T* ju) {
  const T gl = u[j] - u[j - 1], gr = u[j + 1] - u[j];
  const double h2 = inv_dx * inv_dx;
  *F = (Ar * gr - Al * gl) * h2;
  // d(flux_j)/du_{j+1} = A_j + A_j' g_j / 2, d(flux_j)/du_j = -A_j + A_j' g_j / 2.
  *ju = (Ar + 0.5 * dAr * gr) * h2;
  *jl = (Al - 0.5 * dAl * gl) * h2;
  *jd = (-Ar + 0.5 * dAr * gr - Al - 0.5 * dAl * gl) * h2;
  if (m.nc) {
    // The drift's bond terms C_b g_b / 2dx, with the same derivatives as the fluxes'.
    const double half = 0.5 * inv_dx;
    *F += (Cl * gl + Cr * gr) * half;
    *ju += (Cr + 0.5 * dCr * gr) * half;
    *jl += (-Cl + 0.5 * dCl * gl) * half;
    *jd += (Cl + 0.5 * dCl * gl - Cr + 0.5 * dCr * gr) * half;
  }
  if (m.nr) {
    T R, dR;
    m.eval(m.r, m.nr, m.r_stride, j, u[j], &R, &dR);
    *F += R;
    *jd += dR;
  }
}

/// The rates F_j of one system (0 at the two end points, which are held).
PL_HD void fine_rates_system(index_t n, const MediumTables& m, const double* u, double inv_dx, double* out) {
  out[0] = out[n - 1] = 0.0;
  double Al, Cl, Ar, Cr;
  bond_value(m, 0, u, &Al, &Cl);
  for (index_t j = 1; j < n - 1; ++j) {
    bond_value(m, j, u, &Ar, &Cr);
    out[j] = fine_rate(j, m, u, inv_dx, Al, Cl, Ar, Cr);
    Al = Ar;
    Cl = Cr;
  }
}

/// Point j's Simpson weight over the tooth [start, start + nq) of lift_slow_row, 0 outside it.
PL_HDI double tooth_weight(index_t j, index_t start, index_t nq) {
  return j >= start && j < start + nq ? simpson_weight(j - start, nq) : 0.0;
}

/// A march's Simpson average of u over the tooth and its derivative in u_0 (lift_march).
template <class T>
struct LiftAverage {
  T value, slope;
};

/// One march of lift_slow_row from u_0, writing u over y when `write` (y_{j+1} read before it is
/// overwritten; without writing it ends with the tooth, as no later point moves its average), with
/// the forward sensitivities of u to u_0.
template <class T>
PL_HDI LiftAverage<T> lift_march(T* y, index_t n, const MediumTablesOf<T>& m, const T* cond, const T& a_star, double dx,
                                 index_t start, index_t nq, const T& u0, bool write) {
  const double inv_dx = 1.0 / dx;
  T yj = y[0], uj = u0, Ey{}, Eu{}, py{}, pu{};
  T s = T{} + 1.0, dEu{}, dpu{};  // du_j / du_0, dE^u_{j-1} / du_0, dp_{j-1} / du_0
  LiftAverage<T> avg{tooth_weight(0, start, nq) * uj, T{} + tooth_weight(0, start, nq)};
  if (write) y[0] = uj;
  const index_t end = write ? n : start + nq;
  for (index_t j = 0; j + 1 < end; ++j) {
    const T yn = y[j + 1], dy = yn - yj, yb = 0.5 * (yj + yn);
    const double k = j > 0 ? 0.5 : 0.0;
    const T Ay = m.value(m.a, m.na, m.a_stride, j, yb);
    const T Cy = m.nc ? m.value(m.c, m.nc, m.c_stride, j, yb) : T{};
    const T py_new = Cy * dy * inv_dx;
    if (j > 0) Ey += 0.5 * dx * (py_new + py);
    // Phi(D) = (A_j(ubar) / dx + k C_j(ubar)) D - rhs = 0, ubar = u_j + D / 2 (bond 0: no drift sum).
    const T rhs = a_star / cond[j] * Ay * dy * inv_dx + Ey - (j > 0 ? Eu + 0.5 * dx * pu : T{});
    T D = rhs / (Ay * inv_dx + k * Cy), A{}, dA{}, C{}, dC{}, inv_phi_D{};
    for (int it = 0; it < 2; ++it) {
      const T ub = uj + 0.5 * D;
      m.eval(m.a, m.na, m.a_stride, j, ub, &A, &dA);
      if (m.nc) m.eval(m.c, m.nc, m.c_stride, j, ub, &C, &dC);
      inv_phi_D = 1.0 / (A * inv_dx + k * C + (dA * inv_dx + k * dC) * 0.5 * D);
      D -= ((A * inv_dx + k * C) * D - rhs) * inv_phi_D;
    }
    const T pu_new = C * D * inv_dx;
    // dD / du_0 from Phi = 0: u_j moves ubar, the drift sums move rhs.
    const T dD = (-(j > 0 ? dEu + 0.5 * dx * dpu : T{}) - (dA * inv_dx + k * dC) * D * s) * inv_phi_D;
    const T dpu_new = (dC * (s + 0.5 * dD) * D + C * dD) * inv_dx;
    if (j > 0) {
      Eu += 0.5 * dx * (pu_new + pu);
      dEu += 0.5 * dx * (dpu_new + dpu);
    }
    py = py_new, pu = pu_new, dpu = dpu_new, yj = yn, uj += D, s += dD;
    if (write) y[j + 1] = uj;
    avg.value += tooth_weight(j + 1, start, nq) * uj, avg.slope += tooth_weight(j + 1, start, nq) * s;
  }
  return avg;
}

/// One patch's lift onto its slow manifold on a u-dependent random medium, in place on a row of n
/// points: bond j's conductance A_j(u) = a_j g(u) (a_j = cond[j], the cells'; g the conductance
/// factor), its drift C_j(u), a_star the harmonic mean of the a_j. The corrector lift alone
/// (lift_corrector_row) makes every bond's flux a_star g(u) y_x, but g(u) and the drift then meet
/// the corrector's fluctuation u - y, so the rate still varies from cell to cell. Those parts relax
/// only as the fluctuation diffuses across the tooth, on the burst's own time scale: a tooth's drift
/// rate moved from its instantaneous c t_p U_x (t_p = a_star <1/a>_tooth) by 3% rms between a
/// burst of 2.5e-6 and one four times as long (lognormal cells sigma 0.5, 10-cell teeth; 25% at
/// sigma 1.5, bench/RESULTS.md, "Random media's patches lifted onto their slow manifold").
/// Here each bond's flux q_j = A_j(ubar_j) (u_{j+1} - u_j) / dx is chosen so that every point's rate
///     (q_j - q_{j-1}) / dx + (p_{j-1} + p_j) / 2,   p_j = C_j(ubar_j) (u_{j+1} - u_j) / dx
/// (the fine model's, reaction aside) equals (J_j - J_{j-1}) / dx for the flux of the lift itself,
///     J_j = a_star g(ybar_j) (y_{j+1} - y_j) / dx + E^y_j,   E_j = E_{j-1} + dx (p_j + p_{j-1}) / 2,
/// E^y the same sum over y's own drift terms: q_j = J_j - E^u_j, solved bond after bond for u_{j+1}
/// (a scalar equation: two Newton steps from rhs / (A_j(ybar) / dx), whose error, A_j's change from
/// ybar to ubar, is at most ~0.3 of it; Newton's error falls like (A' D / 2A) e^2, A' D / A < 1e-3
/// over a bond, so two steps reach round-off). The rate is
/// then a_star (G(y))_xx + c(y) y_x at every point, G' = g: the continuum's total flux
/// a g(u) u_x + C(u) (C' = c) is uniform across the cells, so the tooth's drift carries no t_p and
/// its U_x^2 term a_star, not a_star t_p. Where g = 1 and there is no drift it is lift_corrector_row.
/// The march starts from the u_0 that keeps the row's Simpson average over the tooth
/// [start, start + nq): a constant shift afterwards would move g(u) and C(u) on every bond (a shift
/// of 3.7e-4, one march's miss on a sigma = 1.5 medium, put rates 3e-4 off). Written for a value
/// type T like theta_step: a double (one row), or on the CPU a lane vector of rows side by side
/// (kernels/patch1d.cpp), whose lanes take the same steps.
template <class T>
PL_HDI void lift_slow_row(T* y, index_t n, const MediumTablesOf<T>& m, const T* cond, const T& a_star, double dx,
                          index_t start, index_t nq) {
  const T before = tooth_average(y, start, nq);
  // u_0 from the corrector lift's own tooth average (no series: its increments a_star / a_j dy),
  // then one Newton step on the march's (which differs by g's and the drift's change over the
  // corrector: 3.7e-2 on sigma = 1.5 cells, then ~1e-9), then the march that writes the row.
  T v = y[0], linear = tooth_weight(0, start, nq) * v;
  for (index_t j = 0; j + 1 < n; ++j) {
    v += a_star / cond[j] * (y[j + 1] - y[j]);
    linear += tooth_weight(j + 1, start, nq) * v;
  }
  const T u0 = y[0] + before - linear;
  const LiftAverage<T> first = lift_march(y, n, m, cond, a_star, dx, start, nq, u0, false);
  lift_march(y, n, m, cond, a_star, dx, start, nq, u0 + (before - first.value) / first.slope, true);
  const T shift = before - tooth_average(y, start, nq);
  for (index_t j = 0; j < n; ++j) y[j] += shift;
}

/// The scratch of a theta step: kArrays arrays of n rows, row j of a system at [j row]. On CUDA
/// every system of the batch is a lane of one scratch (row = systems, base offset by the system),
/// so that a warp's threads touch consecutive addresses; one system alone, or the CPU's lane
/// vectors, have row = 1. cp, li, di hold the elimination's factors (row j, pivot d_j:
/// cp_j = superdiagonal / d_j, li_j = sub-diagonal / d_j, di_j = dt / d_j), li and di kept for
/// frozen-Jacobian steps, whose forward sweep is then g_j = di_j F_j - li_j g_{j-1}; v, w the
/// spikes of averaged-gradient ends; g the increment.
template <class T>
struct StepScratchOf {
  static constexpr int kArrays = 6;
  T *cp, *g, *v, *w, *li, *di;
  index_t row;
  /// The scratch of `lanes` lanes at base (kArrays n lanes values).
  PL_HDI static StepScratchOf at(T* base, index_t n, index_t lanes = 1) {
    const index_t a = n * lanes;
    return {base, base + a, base + 2 * a, base + 3 * a, base + 4 * a, base + 5 * a, lanes};
  }
  /// Lane `lane` of the scratch of `lanes` lanes at base, alone.
  PL_HDI static StepScratchOf lane(T* base, index_t n, index_t lanes, index_t lane) {
    return at(base + lane, n, lanes);  // every array shifted by the lane, the row kept
  }
};
using StepScratch = StepScratchOf<double>;

/// The Jacobian a theta step uses: Exact assembles and factors J at the step's own state; Frozen
/// reuses the factors an Exact step left in the scratch (the W-method of the header comment).
enum class StepJacobian { Exact, Frozen };

/// One linearly implicit theta step of a system y[n] in place (see the header comment), the end
/// rows closed as in the linear model (kernels/diffusion.hpp: implicit_row, increment_rhs; edge
/// targets left, right). The system is assembled and eliminated in one forward sweep (each bond's
/// series evaluated once) and back-substituted in one backward sweep, on the scratch s: the
/// interior solve with zero end increments (g) and, for averaged-gradient ends, the responses
/// v, w to unit end increments (the spikes of kernels/tridiag.hpp with one chunk); the end
/// increments p, q then solve the 2 x 2 system of the end rows, which couple to columns eo and
/// n-1-eo:
///     -p + (g - p v - q w)[eo] = b_0,     q - (g - p v - q w)[n-1-eo] = b_{n-1}.
/// Dirichlet ends have p = q = 0 and need neither spike. The forward sweep is a recurrence with a
/// division in it, bound by latency: the CPU's lanes interleave several.
/// An Exact step stores its factors when `keep` (a Frozen step follows); a Frozen step's forward
/// sweep only evaluates F and substitutes with them, and its spikes v, w (which depend on the
/// matrix alone) are the Exact step's. Row > 0 fixes s.row at compile time.
template <class T, int Row = 0>
PL_HDI void theta_step(index_t n, const MediumTablesOf<T>& m, T* y, double dt, double theta, double inv_dx,
                       EndRows ends, index_t eo, const T& left, const T& right, const StepScratchOf<T>& s,
                       StepJacobian jac = StepJacobian::Exact, bool keep = false) {
  const double c = theta * dt;
  const bool grad = ends == EndRows::AveragedGradient, exact = jac == StepJacobian::Exact;
  const index_t row = Row > 0 ? Row : s.row;
  T Al, dAl, Cl, dCl;  // A, C of bond j - 1
  if (exact)
    bond_series(m, 0, y, &Al, &dAl, &Cl, &dCl);
  else
    bond_value(m, 0, y, &Al, &Cl);
  T cp{}, g{}, v{};
  if (exact) {
    for (index_t j = 1; j < n - 1; ++j) {
      const index_t e = j * row;
      T Ar, dAr, Cr, dCr, F, jl, jd, ju;
      bond_series(m, j, y, &Ar, &dAr, &Cr, &dCr);
      fine_row(j, m, y, inv_dx, Al, dAl, Cl, dCl, Ar, dAr, Cr, dCr, &F, &jl, &jd, &ju);
      Al = Ar;
      dAl = dAr;
      Cl = Cr;
      dCl = dCr;
      const T l = -c * jl, u = -c * ju, inv = 1.0 / (1.0 - c * jd - l * cp);
      if (keep) {
        s.li[e] = l * inv;
        s.di[e] = dt * inv;
      }
      s.cp[e] = cp = u * inv;
      s.g[e] = g = (dt * F - l * g) * inv;
      if (grad) s.v[e] = v = (j == 1 ? l : -l * v) * inv;
    }
  } else {
    for (index_t j = 1; j < n - 1; ++j) {
      const index_t e = j * row;
      T Ar, Cr;
      bond_value(m, j, y, &Ar, &Cr);
      const T F = fine_rate(j, m, y, inv_dx, Al, Cl, Ar, Cr);
      Al = Ar;
      Cl = Cr;
      s.g[e] = g = s.di[e] * F - s.li[e] * g;
    }
  }
  if (!grad) {
    T next{};
    for (index_t j = n - 2; j >= 1; --j) {
      next = s.g[j * row] - s.cp[j * row] * next;
      y[j] += next;
    }
    return;
  }
  if (exact) {
    // w's forward sweep is zero but for the last interior row: w_{n-2} = u_{n-2} / den_{n-2} = cp_{n-2}.
    s.w[(n - 2) * row] = s.cp[(n - 2) * row];
    for (index_t j = n - 3; j >= 1; --j) {
      const index_t e = j * row;
      s.g[e] -= s.cp[e] * s.g[e + row];
      s.v[e] -= s.cp[e] * s.v[e + row];
      s.w[e] = -s.cp[e] * s.w[e + row];
    }
  } else {
    for (index_t j = n - 3; j >= 1; --j) s.g[j * row] -= s.cp[j * row] * s.g[(j + 1) * row];
  }
  const index_t a = eo, b = n - 1 - eo;
  const auto at = [&](const T* arr, index_t j) -> const T& { return arr[j * row]; };
  const T b0 = end_increment_rhs(false, n, y, ends, eo, left), bn = end_increment_rhs(true, n, y, ends, eo, right);
  // [-(1 + v_a)  -w_a   ] [p]   [b0 - g_a]
  // [  v_b      1 + w_b ] [q] = [bn + g_b]
  const T m00 = -(1.0 + at(s.v, a)), m01 = -at(s.w, a), m10 = at(s.v, b), m11 = 1.0 + at(s.w, b);
  const T r0 = b0 - at(s.g, a), r1 = bn + at(s.g, b), det = m00 * m11 - m01 * m10;
  const T p = (r0 * m11 - m01 * r1) / det, q = (m00 * r1 - m10 * r0) / det;
  y[0] += p;
  for (index_t j = 1; j < n - 1; ++j) y[j] += at(s.g, j) - p * at(s.v, j) - q * at(s.w, j);
  y[n - 1] += q;
}

}  // namespace patchlearn::kernels
