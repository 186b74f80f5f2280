#pragma once
// Per-element math of the nonlinear 1D fine-scale model (issue 15), shared by both backends:
//     du_j/dt = F_j(u) = [ A_j (u_{j+1} - u_j) - A_{j-1} (u_j - u_{j-1}) ] / dx^2
//                        + C_j (u_{j+1} - u_{j-1}) / (2 dx) + R_j,
//     A_j = a_j((u_j + u_{j+1}) / 2),   C_j = c_j(u_j),   R_j = r_j(u_j).
// Bond j (between points j and j+1) carries a at its midpoint in y and at the mean u of its two
// points: the flux A_j (u_{j+1} - u_j) is then antisymmetric in the two points, so the scheme is
// conservative (the fluxes telescope), and it reduces to the linear model's a((g + 1/2) dx / eps)
// when a does not depend on u. Drift and reaction sit on the points, the drift on the centred
// difference (second order, like the diffusion). Each a_j, c_j, r_j is a Chebyshev series in u
// over the medium's u range (MediumTables), so one element's value and slope cost a Clenshaw sum
// of a few terms on either backend, with no expression parser on the device.
//
// Time step (linearly implicit theta method, a one-stage Rosenbrock method): with the tridiagonal
// Jacobian J = dF/du at the current u,
//     (I - theta dt J) D = dt F(u),     u <- u + D.
// theta = 1 is linearly implicit Euler (first order, L-stable like backward Euler, whose Newton
// iteration it starts), theta = 1/2 the linearly implicit trapezoid (second order with the exact
// Jacobian). For a linear medium J = L and this is the linear model's increment form
// (kernels/diffusion.hpp) exactly, so a burst does not change scheme when a medium gains a u.
// It needs one factorization per step instead of the linear model's one per run.
#include "patchlearn/core/defs.hpp"
#include "patchlearn/kernels/diffusion.hpp"
#include "patchlearn/kernels/tridiag.hpp"

namespace patchlearn::kernels {

/// f(t) = sum_k c_k T_k(t) and f'(t) for t in [-1, 1] (Clenshaw, with its derivative recurrence).
PL_HD void chebyshev_value_slope(const double* c, int n, double t, double* f, double* df) {
  double b1 = 0, b2 = 0, d1 = 0, d2 = 0;
  for (int k = n - 1; k >= 1; --k) {
    const double b = c[k] + 2.0 * t * b1 - b2, d = 2.0 * b1 + 2.0 * t * d1 - d2;
    b2 = b1;
    b1 = b;
    d2 = d1;
    d1 = d;
  }
  *f = (n > 0 ? c[0] : 0.0) + t * b1 - b2;
  *df = b1 + t * d1 - d2;
}

/// The medium of a batch of systems of n points, as Chebyshev series in u on [lo, hi]:
/// a[(m (n-1) + j) * a_stride .. + na) is bond j of medium m (likewise c and r on the n points;
/// nc = 0 or nr = 0: no drift / no reaction). A stride of 0 shares one series by every element
/// (a homogeneous medium such as the effective PDE's). System s uses medium s % mats.
struct MediumTables {
  const double *a = nullptr, *c = nullptr, *r = nullptr;
  int na = 0, nc = 0, nr = 0;
  index_t a_stride = 0, c_stride = 0, r_stride = 0;
  index_t mats = 1;
  double u_mid = 0, u_scale = 1;  ///< t = (u - u_mid) u_scale maps [lo, hi] onto [-1, 1]

  /// Value and du-slope of series k of table `tab` (n_terms terms, `stride` apart) at u.
  PL_HD void eval(const double* tab, int n_terms, index_t stride, index_t k, double u, double* f, double* df) const {
    chebyshev_value_slope(tab + k * stride, n_terms, (u - u_mid) * u_scale, f, df);
    *df *= u_scale;
  }
  /// This batch's tables restricted to system s's medium (element indices then start at 0).
  PL_HD MediumTables of_system(index_t s, index_t n) const {
    MediumTables t = *this;
    const index_t m = s % mats;
    t.a += m * (n - 1) * a_stride;
    if (nc) t.c += m * n * c_stride;
    if (nr) t.r += m * n * r_stride;
    t.mats = 1;
    return t;
  }
};

/// Row j (interior) of the fine model at u: the rate F_j and the Jacobian entries J_{j,j-1},
/// J_{j,j}, J_{j,j+1}; inv_dx = 1 / dx.
PL_HD void fine_row(index_t j, const MediumTables& m, const double* u, double inv_dx, double* F, double* jl, double* jd,
                    double* ju) {
  const double ul = u[j - 1], u0 = u[j], ur = u[j + 1], h2 = inv_dx * inv_dx;
  double Al, dAl, Ar, dAr;
  m.eval(m.a, m.na, m.a_stride, j - 1, 0.5 * (ul + u0), &Al, &dAl);
  m.eval(m.a, m.na, m.a_stride, j, 0.5 * (u0 + ur), &Ar, &dAr);
  const double gl = u0 - ul, gr = ur - u0;
  *F = (Ar * gr - Al * gl) * h2;
  // d(flux_j)/du_{j+1} = A_j + A_j' g_j / 2, d(flux_j)/du_j = -A_j + A_j' g_j / 2.
  *ju = (Ar + 0.5 * dAr * gr) * h2;
  *jl = (Al - 0.5 * dAl * gl) * h2;
  *jd = (-Ar + 0.5 * dAr * gr - Al - 0.5 * dAl * gl) * h2;
  if (m.nc) {
    double C, dC;
    m.eval(m.c, m.nc, m.c_stride, j, u0, &C, &dC);
    const double half = 0.5 * inv_dx, cd = (ur - ul) * half;
    *F += C * cd;
    *ju += C * half;
    *jl -= C * half;
    *jd += dC * cd;
  }
  if (m.nr) {
    double R, dR;
    m.eval(m.r, m.nr, m.r_stride, j, u0, &R, &dR);
    *F += R;
    *jd += dR;
  }
}

/// The rates F_j of one system (0 at the two end points, which are held).
PL_HD void fine_rates_system(index_t n, const MediumTables& m, const double* u, double inv_dx, double* out) {
  out[0] = out[n - 1] = 0.0;
  for (index_t j = 1; j < n - 1; ++j) {
    double jl, jd, ju;
    fine_row(j, m, u, inv_dx, &out[j], &jl, &jd, &ju);
  }
}

/// Scratch of one system's step: eight arrays of n values.
struct StepScratch {
  double *l, *d, *u, *cp, *inv, *v, *w, *b;
  PL_HD static StepScratch at(double* base, index_t n) {
    return {base, base + n, base + 2 * n, base + 3 * n, base + 4 * n, base + 5 * n, base + 6 * n, base + 7 * n};
  }
};

/// One linearly implicit theta step of one system y[n] in place (see the header comment); the
/// end rows are closed as in the linear model (EndRows, with edge targets left / right). The
/// tridiagonal solve is the partitioned one of kernels/tridiag.hpp with one chunk (P = 1: Thomas
/// on the interior, the two end rows as separators), so the averaged-gradient rows' coupling to
/// column eo is handled as in the linear solver.
PL_HD void theta_step_system(index_t n, const MediumTables& m, double* y, double dt, double theta, double inv_dx,
                             EndRows ends, index_t eo, double left, double right, StepScratch s) {
  const double c = theta * dt;
  for (index_t j = 0; j < n; ++j) {
    if (j == 0 || j == n - 1) {
      implicit_row(j, n, nullptr, 0.0, ends, s.l, s.d, s.u);
      s.b[j] = increment_rhs(j, n, nullptr, y, 0.0, ends, eo, left, right);
      continue;
    }
    double F, jl, jd, ju;
    fine_row(j, m, y, inv_dx, &F, &jl, &jd, &ju);
    s.l[j] = -c * jl;
    s.d[j] = 1.0 - c * jd;
    s.u[j] = -c * ju;
    s.b[j] = dt * F;
  }
  double rlow[2], rcp[2], rinv[2];
  factor_chunk(1, n - 1, s.l, s.d, s.u, s.cp, s.inv, s.v, s.w);
  factor_reduced(n, 1, eo, s.l, s.d, s.u, s.v, s.w, rlow, rcp, rinv);
  solve_chunk(1, n - 1, s.l, s.cp, s.inv, s.b);
  solve_reduced(n, 1, eo, s.l, s.u, rlow, rcp, rinv, s.b);
  const double b0 = s.b[0], bn = s.b[n - 1];
  y[0] += b0;
  for (index_t j = 1; j < n - 1; ++j) {
    spike_correct(&s.b[j], b0, bn, s.v[j], s.w[j]);
    y[j] += s.b[j];
  }
  y[n - 1] += bn;
}

}  // namespace patchlearn::kernels
