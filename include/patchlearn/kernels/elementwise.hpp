#pragma once
// Element-wise work written once for both backends. Each functor below does the work of one index
// i (PL_HD operator()(index_t i)); kernels::for_each_index (src/kernels/cpu_support.hpp) runs it
// for every i < count as an OpenMP loop on the CPU, or on CUDA as one thread per index of the one
// generic kernel of cuda/elementwise.cu, which instantiates it for each functor here. So the CPU
// loop and the CUDA kernel cannot drift apart. The hand-tuned kernels (the chunked tridiagonal
// solve, the fused and on-chip steps, the lattice and gap-tooth rates, the reductions) are not
// element-wise in this sense and stay named kernels.
//
// Each functor also lists its pointers (pointers(), host only): the CUDA emulator checks that they
// are device memory at every launch, as it checks a kernel's plain pointer arguments. A functor
// whose index is a whole system (a row of thousands of points) says so (per_system), so that the
// CPU spreads even a few of them over its threads.
#include <array>
#include <type_traits>

#include "patchlearn/core/defs.hpp"
#include "patchlearn/kernels/coarse.hpp"
#include "patchlearn/kernels/dense.hpp"
#include "patchlearn/kernels/diffusion.hpp"
#include "patchlearn/kernels/lattice2d.hpp"
#include "patchlearn/kernels/nonlinear.hpp"

namespace patchlearn::kernels {

/// Whether a functor's index is a whole system (its per_system member; false without one).
template <class F, class = void>
struct is_per_system : std::false_type {};
template <class F>
struct is_per_system<F, std::void_t<decltype(F::per_system)>> : std::bool_constant<F::per_system> {};

namespace cuda {
/// f(i) for every i < count on the current GPU (cuda/elementwise.cu; instantiated for the functors
/// of this header only).
template <class F>
void for_each_index(index_t count, const F& f);
}  // namespace cuda

/// out = a x + b y.
struct Axpby {
  static constexpr const char* name = "axpby";
  double a;
  const double* x;
  double b;
  const double* y;
  double* out;
  PL_HD void operator()(index_t i) const { out[i] = a * x[i] + b * y[i]; }
  std::array<const void*, 3> pointers() const { return {x, y, out}; }
};

/// i = b * (M - 2) + p: the lift coefficients of interior node p + 1 of macro state b
/// (kernels/coarse.hpp: lift_coefficients), degree + 1 of them at coef + i (degree + 1).
struct LiftCoefficients {
  static constexpr const char* name = "lift coefficients";
  int M, degree;
  double dX;
  ToothMoments mu;
  const double* U;
  double* coef;
  PL_HD void operator()(index_t i) const {
    const index_t P = M - 2, b = i / P, p = i % P;
    lift_coefficients(U + b * M, M, static_cast<int>(p) + 1, degree, dX, mu, coef + i * (degree + 1));
  }
  std::array<const void*, 2> pointers() const { return {U, coef}; }
};

/// out[s] = the rise of system s's lift (ncoef coefficients at coef + s ncoef) from z0 to z1.
struct LiftRise {
  static constexpr const char* name = "lift rise";
  int ncoef;
  const double* coef;
  double z0, z1;
  double* out;
  PL_HD void operator()(index_t s) const {
    out[s] = lift_value(coef + s * ncoef, ncoef, z1) - lift_value(coef + s * ncoef, ncoef, z0);
  }
  std::array<const void*, 2> pointers() const { return {coef, out}; }
};

/// i = b M + j: dU/dt at node j of macro state b from its patch's restrictions (kernels/coarse.hpp:
/// patch_estimate; 0 at the two Dirichlet end nodes). R0 (or U where R0 is null) the start value.
struct PatchEstimates {
  static constexpr const char* name = "patch estimates";
  int M;
  const double *R, *U, *R0;  ///< R: [d][stride] restrictions; R0: the base's, or null for U
  index_t stride;            ///< the batch's patches, batch (M - 2)
  int d;
  double w[kMaxEstimateDegree];
  double* dUdt;
  PL_HD void operator()(index_t i) const {
    const index_t b = i / M, j = i % M, P = M - 2, r = b * P + j - 1;
    dUdt[i] = (j == 0 || j == M - 1) ? 0.0 : patch_estimate(R, stride, r, R0 ? R0[r] : U[i], d, w);
  }
  std::array<const void*, 4> pointers() const { return {R, U, R0, dUdt}; }
};

/// i = b M + j: dst[b][n][j] = src[b][j], snapshot n of `times` of a batch of M-node states.
struct StoreSnapshot {
  static constexpr const char* name = "store snapshot";
  index_t M, times, n;
  const double* src;
  double* dst;
  PL_HD void operator()(index_t i) const {
    const index_t b = i / M, j = i % M;
    dst[(b * times + n) * M + j] = src[i];
  }
  std::array<const void*, 2> pointers() const { return {src, dst}; }
};

/// System s's corrector lift (kernels/diffusion.hpp: lift_corrector_row) on window s mod windows.
struct LiftCorrector {
  static constexpr const char* name = "lift corrector";
  static constexpr bool per_system = true;
  index_t windows, n;
  const double *a, *a_star;
  MediumTables m;  ///< a u-dependent medium's series (m.na > 0): lift_slow_row; else lift_corrector_row
  double dx;
  index_t start, nq;
  double* y;
  PL_HD void operator()(index_t s) const {
    const index_t w = s % windows;
    if (m.na > 0)
      lift_slow_row(y + s * n, n, m.of_system(w, n), a + w * (n - 1), a_star[w], dx, start, nq);
    else
      lift_corrector_row(y + s * n, n, a + w * (n - 1), a_star[w], start, nq);
  }
  std::array<const void*, 5> pointers() const { return {a, a_star, y, m.a, m.c}; }
};

/// out = the TR-BDF2 local-error estimate at each point (kernels/diffusion.hpp: trbdf2_error; out
/// may alias F).
struct TrBdf2Error {
  static constexpr const char* name = "TR-BDF2 error estimate";
  const double *F, *d1, *d2;
  double h;
  double* out;
  PL_HD void operator()(index_t i) const { out[i] = trbdf2_error(F[i], d1[i], d2[i], h); }
  std::array<const void*, 4> pointers() const { return {F, d1, d2, out}; }
};

/// out = x + h (c[0] k[0] + ... + c[n-1] k[n-1]), the sum taken left to right (x null: out = h *
/// the sum): a Runge-Kutta stage's state, a step's update or its error estimate (schemes/integrators).
struct StageSum {
  static constexpr const char* name = "stage sum";
  static constexpr int kMax = 7;
  int n;
  double h;
  const double* x;
  double c[kMax];
  const double* k[kMax];
  double* out;
  PL_HD void operator()(index_t i) const {
    double s = c[0] * k[0][i];
    for (int j = 1; j < n; ++j) s += c[j] * k[j][i];
    out[i] = x ? x[i] + h * s : h * s;
  }
  std::array<const void*, kMax + 2> pointers() const { return {x, out, k[0], k[1], k[2], k[3], k[4], k[5], k[6]}; }
};

/// out = e / (atol + rtol max(|u|, |v|)): an adaptive step's error e, scaled by the mixed
/// tolerance at the step's start u and end v.
struct ScaledError {
  static constexpr const char* name = "scaled error";
  const double *e, *u, *v;
  double atol, rtol;
  double* out;
  PL_HD void operator()(index_t i) const {
    const double a = u[i] < 0 ? -u[i] : u[i], b = v[i] < 0 ? -v[i] : v[i];
    out[i] = e[i] / (atol + rtol * (a > b ? a : b));
  }
  std::array<const void*, 4> pointers() const { return {e, u, v, out}; }
};

/// i = (b n + r) n + c: A = I - g J for n x n blocks (a Newton iteration matrix of an implicit step).
struct ShiftedIdentity {
  static constexpr const char* name = "shifted identity";
  index_t n;
  double g;
  const double* J;
  double* A;
  PL_HD void operator()(index_t i) const {
    const index_t r = (i / n) % n, c = i % n;
    A[i] = (r == c ? 1.0 : 0.0) - g * J[i];
  }
  std::array<const void*, 2> pointers() const { return {J, A}; }
};

/// System s: the n x n block A[s] (row-major) becomes its LU factors with partial pivoting, the
/// row taken at step k in piv[s][k] (dense_lu_factor).
struct LuFactor {
  static constexpr const char* name = "LU factor";
  static constexpr bool per_system = true;
  index_t n;
  double* A;
  index_t* piv;
  PL_HD void operator()(index_t s) const { dense_lu_factor(A + s * n * n, n, piv + s * n); }
  std::array<const void*, 2> pointers() const { return {A, piv}; }
};

/// System s: b[s] becomes A[s]^-1 b[s] from LuFactor's factors (dense_lu_solve).
struct LuSolve {
  static constexpr const char* name = "LU solve";
  static constexpr bool per_system = true;
  index_t n;
  const double* LU;
  const index_t* piv;
  double* b;
  PL_HD void operator()(index_t s) const { dense_lu_solve(LU + s * n * n, n, piv + s * n, b + s * n); }
  std::array<const void*, 3> pointers() const { return {LU, piv, b}; }
};

/// i = b n + r: x = U with node j of every state moved by a forward-difference step,
/// max(1, |U|) * 1e-6 (coarse_difference_step).
struct PerturbNode {
  static constexpr const char* name = "perturb node";
  index_t n, j;
  const double* U;
  double* x;
  PL_HD void operator()(index_t i) const { x[i] = i % n == j ? U[i] + coarse_difference_step(U[i]) : U[i]; }
  std::array<const void*, 2> pointers() const { return {U, x}; }
};

/// i = b n + r: column j of state b's Jacobian, J[b][r][j] = (F1 - F0)[b][r] / (x - U)[b][j], from
/// the rates F0 at U and F1 at PerturbNode's x (the step as represented, not as asked for).
struct JacobianColumn {
  static constexpr const char* name = "Jacobian column";
  index_t n, j;
  const double *F0, *F1, *U, *x;
  double* J;
  PL_HD void operator()(index_t i) const {
    const index_t b = i / n, r = i % n;
    J[(b * n + r) * n + j] = (F1[i] - F0[i]) / (x[b * n + j] - U[b * n + j]);
  }
  std::array<const void*, 5> pointers() const { return {F0, F1, U, x, J}; }
};

/// The Chebyshev series' first term at each point (kernels/lattice2d.hpp: chebyshev_start).
struct ChebyshevStart {
  static constexpr const char* name = "Chebyshev start";
  double a;
  const double *Au, *u;
  double c0, c1;
  double *T1, *acc;
  PL_HD void operator()(index_t i) const { chebyshev_start(a, Au[i], u[i], c0, c1, T1[i], acc[i]); }
  std::array<const void*, 4> pointers() const { return {Au, u, T1, acc}; }
};

/// One term of the Chebyshev recurrence at each point (kernels/lattice2d.hpp: chebyshev_update).
struct ChebyshevStep {
  static constexpr const char* name = "Chebyshev step";
  double a;
  const double *AT, *Tk;
  double* Tkm1;
  double c;
  double* acc;
  PL_HD void operator()(index_t i) const { chebyshev_update(a, AT[i], Tk[i], Tkm1[i], c, acc[i]); }
  std::array<const void*, 4> pointers() const { return {AT, Tk, Tkm1, acc}; }
};

/// One RKC stage at each point: yjm2 <- the stage value (kernels/lattice2d.hpp: rkc_stage_value).
struct RkcStageUpdate {
  static constexpr const char* name = "RKC stage";
  RkcStage s;
  const double *y0, *yjm1, *f, *f0;
  double* yjm2;
  PL_HD void operator()(index_t i) const { yjm2[i] = rkc_stage_value(s, y0[i], yjm1[i], yjm2[i], f[i], f0[i]); }
  std::array<const void*, 5> pointers() const { return {y0, yjm1, f, f0, yjm2}; }
};

/// i = (b P + J) P + I: the mean of trajectory b's N x N lattice u over the m x m window of patch
/// (I, J), positions first + I|J spacing + 1 .. + m (wrapped).
struct WindowMeans {
  static constexpr const char* name = "window means";
  index_t N;
  int P;
  index_t first, spacing;
  int m;
  const double* u;
  double* U;
  PL_HD void operator()(index_t i) const {
    const index_t b = i / (static_cast<index_t>(P) * P), J = (i / P) % P, I = i % P;
    double s = 0.0;
    for (int q = 0; q < m; ++q)
      for (int p = 0; p < m; ++p) {
        const index_t y = (first + J * spacing + 1 + q) % N, x = (first + I * spacing + 1 + p) % N;
        s += u[(b * N + y) * N + x];
      }
    U[i] = s / (static_cast<double>(m) * m);
  }
  std::array<const void*, 2> pointers() const { return {u, U}; }
};

}  // namespace patchlearn::kernels
