#pragma once
// Partitioned (spike) tridiagonal solve, per-element math shared by both backends.
//
// A system of n unknowns is cut by P+1 separators s_k = floor(k (n-1) / P), k = 0..P, into P
// chunks. With the separator values y_s known, the interior of chunk k solves independently:
//     y_i = g_i - y[s_k] v_i - y[s_{k+1}] w_i,     g = A_kk^{-1} b,
// where the spikes v = A_kk^{-1} (l_lo e_lo) and w = A_kk^{-1} (u_hi e_hi) depend only on the
// matrix. Substituting into the separator rows gives a tridiagonal "reduced" system of P+1
// unknowns. Our matrices are fixed for many right-hand sides, so Thomas factors, spikes and the
// reduced factors are computed once; a solve is then: chunk sweeps (parallel over systems x
// chunks) -> reduced Thomas (per system) -> spike correction (per element). P = 1 is plain Thomas
// on the interior with the two end rows as separators, which is what the CPU backend uses.
//
// End rows may couple to a column `eo` away instead of their neighbour (row 0 to column eo,
// row n-1 to column n-1-eo). This carries the gap-tooth averaged-gradient condition without
// leaving the tridiagonal framework; eo = 1 is an ordinary tridiagonal matrix.
#include <cmath>

#include "patchlearn/core/defs.hpp"

namespace patchlearn::kernels {

PL_HD index_t separator(index_t k, index_t n, index_t P) { return k * (n - 1) / P; }

/// Chunk k whose interior holds i (s_k < i < s_{k+1}); i must not be a separator.
PL_HD index_t chunk_of(index_t i, index_t n, index_t P) {
  index_t k = i * P / (n - 1);
  if (k >= P) k = P - 1;
  while (separator(k + 1, n, P) <= i) ++k;
  while (separator(k, n, P) >= i) --k;
  return k;
}

/// Thomas factors and spikes for the interior rows lo..hi-1 of one chunk.
PL_HD void factor_chunk(index_t lo, index_t hi, const double* l, const double* d, const double* u, double* cp,
                        double* inv, double* v, double* w) {
  if (lo >= hi) return;
  inv[lo] = 1.0 / d[lo];
  cp[lo] = u[lo] * inv[lo];
  for (index_t i = lo + 1; i < hi; ++i) {
    inv[i] = 1.0 / (d[i] - l[i] * cp[i - 1]);
    cp[i] = u[i] * inv[i];
  }
  // v: forward sweep of l_lo e_lo, then back substitution.
  double p = l[lo] * inv[lo];
  v[lo] = p;
  for (index_t i = lo + 1; i < hi; ++i) v[i] = p = -l[i] * p * inv[i];
  for (index_t i = hi - 2; i >= lo; --i) v[i] -= cp[i] * v[i + 1];
  // w: the forward sweep is zero until the last row.
  w[hi - 1] = u[hi - 1] * inv[hi - 1];
  for (index_t i = hi - 2; i >= lo; --i) w[i] = -cp[i] * w[i + 1];
}

/// g = A_kk^{-1} b on rows lo..hi-1 of K independent systems side by side (lane k: factors l[k],
/// cp[k], inv[k], values x[k]; x holds b on entry, g on exit). The sweeps are recurrences, bound
/// by the latency of each step; K > 1 interleaves K of them so that a core overlaps their steps.
/// T is a double, or on the CPU a vector of several systems' values in its lanes (each operation
/// the scalar one, lane by lane: the same values); F, the factors' type, is T or, for lanes that
/// share one matrix, a double that each operation broadcasts to them.
template <int K, class F, class T>
PL_HDI void solve_chunk_lanes(index_t lo, index_t hi, const F* const* l, const F* const* cp, const F* const* inv,
                              T* const* x) {
  if (lo >= hi) return;
  T p[K];
  for (int k = 0; k < K; ++k) p[k] = T{};
  for (index_t i = lo; i < hi; ++i)
    for (int k = 0; k < K; ++k) x[k][i] = p[k] = (x[k][i] - l[k][i] * p[k]) * inv[k][i];
  for (index_t i = hi - 2; i >= lo; --i)
    for (int k = 0; k < K; ++k) x[k][i] -= cp[k][i] * x[k][i + 1];
}

/// g = A_kk^{-1} b on rows lo..hi-1 of one system, in place.
PL_HD void solve_chunk(index_t lo, index_t hi, const double* l, const double* cp, const double* inv, double* x) {
  solve_chunk_lanes<1>(lo, hi, &l, &cp, &inv, &x);
}

/// Columns the separator row k couples to, on its left and right (-1 when none).
PL_HD void reduced_neighbours(index_t k, index_t n, index_t P, index_t eo, index_t* jl, index_t* ju) {
  const index_t s = separator(k, n, P);
  *jl = k == 0 ? -1 : (k == P ? s - eo : s - 1);
  *ju = k == P ? -1 : (k == 0 ? eo : s + 1);
}

/// Coefficients of reduced row k: lower (x[s_{k-1}]), diagonal (x[s_k]), upper (x[s_{k+1}]).
PL_HD void reduced_row(index_t k, index_t n, index_t P, index_t eo, const double* l, const double* d, const double* u,
                       const double* v, const double* w, double* lo, double* di, double* up) {
  const index_t s = separator(k, n, P);
  index_t jl, ju;
  reduced_neighbours(k, n, P, eo, &jl, &ju);
  *lo = 0.0;
  *up = 0.0;
  *di = d[s];
  if (jl >= 0) {
    if (jl == separator(k - 1, n, P)) {
      *lo = l[s];
    } else {
      *lo = -l[s] * v[jl];
      *di -= l[s] * w[jl];
    }
  }
  if (ju >= 0) {
    if (ju == separator(k + 1, n, P)) {
      *up = u[s];
    } else {
      *di -= u[s] * v[ju];
      *up = -u[s] * w[ju];
    }
  }
}

/// Right-hand side of reduced row k, from b at the separator and g in the neighbouring chunks.
template <class F, class T>
PL_HDI T reduced_rhs(index_t k, index_t n, index_t P, index_t eo, const F* l, const F* u, const T* x) {
  const index_t s = separator(k, n, P);
  index_t jl, ju;
  reduced_neighbours(k, n, P, eo, &jl, &ju);
  T r = x[s];
  if (jl >= 0 && jl != separator(k - 1, n, P)) r -= l[s] * x[jl];
  if (ju >= 0 && ju != separator(k + 1, n, P)) r -= u[s] * x[ju];
  return r;
}

/// Row k of the reduced system's Thomas factors (rlow_k, rinv_k, rcp_k) from the previous row's
/// rcp (0 before row 0); returns rcp_k.
PL_HD double factor_reduced_row(index_t k, index_t n, index_t P, index_t eo, const double* l, const double* d,
                                const double* u, const double* v, const double* w, double prev_cp, double* rlow,
                                double* rcp, double* rinv) {
  double lo, di, up;
  reduced_row(k, n, P, eo, l, d, u, v, w, &lo, &di, &up);
  rlow[k] = lo;
  rinv[k] = 1.0 / (di - lo * prev_cp);
  return rcp[k] = up * rinv[k];
}

/// Thomas factors of the reduced system of one matrix: rlow (lower coefficients), rcp, rinv.
PL_HD void factor_reduced(index_t n, index_t P, index_t eo, const double* l, const double* d, const double* u,
                          const double* v, const double* w, double* rlow, double* rcp, double* rinv) {
  double prev_cp = 0.0;
  for (index_t k = 0; k <= P; ++k) prev_cp = factor_reduced_row(k, n, P, eo, l, d, u, v, w, prev_cp, rlow, rcp, rinv);
}

/// Solve the reduced system of one system in place: x at the separators receives the solution.
/// x holds g in the chunk interiors and b at the separators on entry.
template <class F, class T>
PL_HDI void solve_reduced(index_t n, index_t P, index_t eo, const F* l, const F* u, const F* rlow, const F* rcp,
                          const F* rinv, T* x) {
  // The right-hand sides read g next to the separators, which the sweep does not touch, so each
  // separator slot can hold its forward-swept value.
  T prev{};
  for (index_t k = 0; k <= P; ++k) {
    const T r = reduced_rhs(k, n, P, eo, l, u, x);
    x[separator(k, n, P)] = prev = (r - rlow[k] * prev) * rinv[k];
  }
  for (index_t k = P - 1; k >= 0; --k) x[separator(k, n, P)] -= rcp[k] * x[separator(k + 1, n, P)];
}

/// An affine map z -> a + b z. Each row of a Thomas sweep of the reduced system is one: the
/// forward sweep maps y_{k-1} to y_k = (r_k - rlow_k y_{k-1}) rinv_k, the back substitution maps
/// x_{k+1} to x_k = y_k - rcp_k x_{k+1} (rcp_P = 0, so x_P = y_P from any x_{P+1}). Composition is
/// associative, so a GPU block solves a long reduced system as two scans: each thread composes
/// the maps of its run of rows, a scan over the threads gives every run its incoming value, and
/// each thread then sweeps its run from it with the rows' own formulas.
struct AffineMap {
  double a, b;
};
PL_HD AffineMap identity_map() { return {0.0, 1.0}; }
/// `first`, then `second`.
PL_HD AffineMap then(AffineMap first, AffineMap second) { return {second.a + second.b * first.a, second.b * first.b}; }
PL_HD AffineMap reduced_forward_row(double r, double rlow, double rinv) { return {r * rinv, -rlow * rinv}; }
PL_HD AffineMap reduced_backward_row(double y, double rcp) { return {y, -rcp}; }

/// A linear fractional map z -> (a z + b) / (c z + d). The factorization of the reduced system is a
/// chain of them: row k maps rcp_{k-1} to rcp_k = up_k / (di_k - lo_k rcp_{k-1}). They compose as
/// the 2 x 2 matrices [[a, b], [c, d]] multiply, so a GPU block factors a long reduced system as a
/// scan (as it solves one), each thread then factoring its run of rows from its incoming rcp with
/// factor_reduced_row. A map is the same after scaling all four entries, so each composition is
/// scaled by a power of two (exactly) to keep the largest near 1: products of thousands of rows
/// would otherwise overflow.
struct FractionalMap {
  double a, b, c, d;
};
PL_HD FractionalMap identity_fractional_map() { return {1.0, 0.0, 0.0, 1.0}; }
/// `first`, then `second`.
PL_HD FractionalMap then(FractionalMap first, FractionalMap second) {
  FractionalMap m{second.a * first.a + second.b * first.c, second.a * first.b + second.b * first.d,
                  second.c * first.a + second.d * first.c, second.c * first.b + second.d * first.d};
  const double big = std::fmax(std::fmax(std::fabs(m.a), std::fabs(m.b)), std::fmax(std::fabs(m.c), std::fabs(m.d)));
  if (big > 0.0 && std::isfinite(big)) {
    const int e = std::ilogb(big);
    m = {std::scalbn(m.a, -e), std::scalbn(m.b, -e), std::scalbn(m.c, -e), std::scalbn(m.d, -e)};
  }
  return m;
}
PL_HD FractionalMap reduced_factor_row(double lo, double di, double up) { return {0.0, up, -lo, di}; }
/// The map's value at z = 0 (the rcp before row 0).
PL_HD double at_zero(FractionalMap m) { return m.b / m.d; }

/// Whether point i is one of the separators.
PL_HD bool is_separator(index_t i, index_t n, index_t P) { return separator((i * P + n - 2) / (n - 1), n, P) == i; }

/// Spike correction of one interior value, given the separator values xl, xr of its chunk.
template <class F, class T>
PL_HDI void spike_correct(T* xi, const T& xl, const T& xr, const F& vi, const F& wi) {
  *xi -= xl * vi + xr * wi;
}

/// Spike correction of interior element i (not a separator), locating its chunk.
PL_HD void correct_element(index_t i, index_t n, index_t P, const double* v, const double* w, double* x) {
  const index_t k = chunk_of(i, n, P);
  spike_correct(&x[i], x[separator(k, n, P)], x[separator(k + 1, n, P)], v[i], w[i]);
}

/// The most interior rows of any chunk: separators lie floor or ceil((n - 1) / P) apart, so
/// ceil((n - 1) / P) - 1 = floor((n - 2) / P).
PL_HD index_t chunk_rows(index_t n, index_t P) { return (n - 2) / P; }

/// Which of the chunk sweep's factors a lane-major copy holds (TridiagFactors::lanes).
enum class SweepFactor : index_t { l = 0, inv = 1, cp = 2 };

/// The factors of `mats` prefactored matrices of size n, cut into P chunks (device pointers of
/// the backend that uses them). System s uses matrix s % mats.
///
/// Lane-major copies (CUDA): the chunk sweeps of consecutive chunks run on consecutive threads,
/// which step through their rows together. In the natural layout their factors at one step lie a
/// chunk apart (512 B for 64-row chunks), so a warp's load touches 32 cache lines; `lanes` holds
/// l, inv and cp again with row j of chunk k at (.. + j) * P + k, so that the same load is one
/// contiguous run. `rows` = chunk_rows(n, P); null and 0 where the backend does not use them.
///
/// T: a double, or on the CPU a vector whose lanes hold the factors of several matrices side by
/// side (BatchedTridiag::fused_steps), which solve_systems then solves as one.
template <class T>
struct TridiagFactorsOf {
  index_t mats, n, P, eo;
  const T *l, *u, *cp, *inv, *v, *w, *rlow, *rcp, *rinv;
  index_t rows = 0;
  const double* lanes = nullptr;
  /// Offset of system s's matrix in l, u, cp, inv, v, w.
  PL_HD index_t at(index_t s) const { return (s % mats) * n; }
  /// Offset of system s's matrix in the reduced factors rlow, rcp, rinv.
  PL_HD index_t reduced_at(index_t s) const { return (s % mats) * (P + 1); }
  /// Where factor `which` of row j (counted from the chunk's first interior row) of chunk k of
  /// matrix m lies in `lanes`.
  PL_HD index_t lane_at(index_t m, SweepFactor which, index_t j, index_t k) const {
    return ((m * 3 + static_cast<index_t>(which)) * rows + j) * P + k;
  }
};
using TridiagFactors = TridiagFactorsOf<double>;

/// The whole solve of K systems s[k] in place (values x[k]), by one thread: chunk sweeps (the K
/// side by side), reduced system, spike correction, in that order.
template <int K, class F, class T>
PL_HDI void solve_systems(const TridiagFactorsOf<F>& f, const index_t* s, T* const* x) {
  const index_t n = f.n, P = f.P;
  const F *l[K], *cp[K], *inv[K];
  for (int k = 0; k < K; ++k) {
    const index_t o = f.at(s[k]);
    l[k] = f.l + o;
    cp[k] = f.cp + o;
    inv[k] = f.inv + o;
  }
  for (index_t c = 0; c < P; ++c) solve_chunk_lanes<K>(separator(c, n, P) + 1, separator(c + 1, n, P), l, cp, inv, x);
  for (int k = 0; k < K; ++k) {
    const index_t o = f.at(s[k]), r = f.reduced_at(s[k]);
    T* xs = x[k];
    solve_reduced(n, P, f.eo, f.l + o, f.u + o, f.rlow + r, f.rcp + r, f.rinv + r, xs);
    for (index_t c = 0; c < P; ++c) {
      const index_t lo = separator(c, n, P), hi = separator(c + 1, n, P);
      const T xl = xs[lo], xr = xs[hi];
      for (index_t i = lo + 1; i < hi; ++i) spike_correct(&xs[i], xl, xr, f.v[o + i], f.w[o + i]);
    }
  }
}

/// The whole solve of system s in place.
PL_HD void solve_system(const TridiagFactors& f, index_t s, double* x) { solve_systems<1>(f, &s, &x); }

}  // namespace patchlearn::kernels
