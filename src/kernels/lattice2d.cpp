// The 2D lattice on the CPU (and its dispatch to CUDA): the gap-tooth coupling as register-blocked
// P x P products, the gap-tooth and full-lattice rates, the Chebyshev steps, patch and window
// means. Each CPU loop calls the same per-element functions (kernels/lattice2d.hpp) as
// cuda/lattice2d.cu.
#include "cpu_support.hpp"

namespace patchlearn::kernels {

using namespace cpu;

namespace {

/// out = L R for P x P row-major matrices, each value summed over K in ascending order (the order of
/// coupling_sum, so the values are the per-element function's), in register blocks of MR rows by
/// NV vectors V of columns: per K, MR values of L times NV vectors of R's row K.
template <class V, int MR, int NV>
[[gnu::always_inline]] inline void coupling_product_block(int P, const double* L, const double* R, double* out, int r0,
                                                          int c0) {
  constexpr int W = sizeof(V) / sizeof(double);
  V acc[MR][NV] = {};
  for (int K = 0; K < P; ++K) {
    const V* rv = reinterpret_cast<const V*>(R + K * P + c0);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const double l = L[(r0 + i) * P + K];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[i][v] += l * rv[v];
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) *reinterpret_cast<V*>(out + (r0 + i) * P + c0 + v * W) = acc[i][v];
}

template <class V>
[[gnu::always_inline]] inline void coupling_product(int P, const double* L, const double* R, double* out) {
  // Blocks of 4 rows by 8 columns (two vectors of 4, one of 8), 4 by 4 with the baseline's vectors
  // of 2: the paper's P = 10 has one block of 8 columns and two columns left.
  constexpr int W = sizeof(V) / sizeof(double), MR = 4, NV = W >= 8 ? 1 : 2, NR = NV * W;
  int c0 = 0;
  for (; c0 + NR <= P; c0 += NR) {
    int r0 = 0;
    for (; r0 + MR <= P; r0 += MR) coupling_product_block<V, MR, NV>(P, L, R, out, r0, c0);
    for (; r0 < P; ++r0) coupling_product_block<V, 1, NV>(P, L, R, out, r0, c0);
  }
  for (; c0 < P; ++c0)
    for (int r = 0; r < P; ++r) {
      double acc = 0.0;
      for (int K = 0; K < P; ++K) acc += L[r * P + K] * R[K * P + c0];
      out[r * P + c0] = acc;
    }
}

/// One gap-tooth rate evaluation: the batch's patch values U and rates dUdt (point-major,
/// [b][q][p][J][I]), the teeth's bond tables (ToothBonds), and both coupling matrices as given
/// (wp, wm) and transposed.
struct GapToothProblem {
  int P, m;
  ToothBonds k;
  const double *wp, *wm, *wpT, *wmT;
  double inv_h2;
  const double* U;
  double* dUdt;
  LatticeNonlinearity nl;
  const double* edges = nullptr;  ///< given edge planes [b][side][k] (ToothClosure), or computed here
};

/// The scratch of one trajectory's rates: 4 m edge planes, for a u-dependent lattice the
/// 2 m (m+1) planes of bond factors g(u_mean) and 4 for their series behind them, and for closed
/// teeth (ToothClosure) the means and ClosureTrajectory's 4 planes last.
index_t nonlinear_planes(int m, const LatticeNonlinearity& nl) { return nl.linear() ? 0 : 2 * m * (m + 1) + 4; }
index_t gap_tooth_scratch(int P, int m, const LatticeNonlinearity& nl, const ToothClosure& closure) {
  return static_cast<index_t>(P) * P * (4 * m + nonlinear_planes(m, nl) + (closure.active() ? 5 : 0));
}

/// out[i] = sum_k c_k T_k(t[i]) over a plane of `count` values by Clenshaw's recurrence
/// (kernels::chebyshev_value, the same operations) run term by term across the plane, so every
/// step is one unit-stride loop; b1, b2 are scratch planes of `count` values. The first steps,
/// where the partial sums are still 0 and c_n-1, are folded into the first pass.
[[gnu::always_inline]] inline void chebyshev_plane(const double* c, int n, const double* t, index_t count, double* b1,
                                                   double* b2, double* out) {
  const double c0 = n > 0 ? c[0] : 0.0;
  if (n <= 1) return std::fill(out, out + count, c0);
  // k = n - 1: b1 = c_n-1 (from b1 = b2 = 0), b2 = 0; then k = n - 2 .. 1.
  const double top = c[n - 1];
  if (n == 2) {
#pragma omp simd
    for (index_t i = 0; i < count; ++i) out[i] = c0 + t[i] * top - 0.0;
    return;
  }
  const double next = c[n - 2];
#pragma omp simd
  for (index_t i = 0; i < count; ++i) {
    b1[i] = next + 2.0 * t[i] * top - 0.0;
    b2[i] = top;
  }
  for (int k = n - 3; k >= 1; --k) {
    const double ck = c[k];
#pragma omp simd
    for (index_t i = 0; i < count; ++i) {
      const double v = ck + 2.0 * t[i] * b1[i] - b2[i];
      b2[i] = b1[i];
      b1[i] = v;
    }
  }
#pragma omp simd
  for (index_t i = 0; i < count; ++i) out[i] = c0 + t[i] * b1[i] - b2[i];
}

/// out[i] = sum_k c_k t[i]^k over a plane of `count` values by Horner's rule (kernels::monomial_value,
/// the same operations), term by term across the plane.
[[gnu::always_inline]] inline void monomial_plane(const double* c, int n, const double* t, index_t count, double* out) {
  if (n <= 1) return std::fill(out, out + count, n > 0 ? c[0] : 0.0);
  const double top = c[n - 1], next = c[n - 2];
#pragma omp simd
  for (index_t i = 0; i < count; ++i) out[i] = next + t[i] * top;
  for (int k = n - 3; k >= 0; --k) {
    const double ck = c[k];
#pragma omp simd
    for (index_t i = 0; i < count; ++i) out[i] = ck + t[i] * out[i];
  }
}

/// out[i] = s(t[i]) (kernels::SeriesRatioView: p, or p / q) over a plane of `count` values,
/// t[i] = ((a[i] + b[i]) / 2 - mid) scale (b == nullptr: (a[i] - mid) scale); t, b1, b2 and qv
/// are scratch planes of `count` values (qv for a ratio's q).
[[gnu::always_inline]] inline void series_plane(const SeriesRatioView& s, double mid, double scale, const double* a,
                                                const double* b, index_t count, double* t, double* b1, double* b2,
                                                double* qv, double* out) {
  if (b) {
#pragma omp simd
    for (index_t i = 0; i < count; ++i) t[i] = (0.5 * (a[i] + b[i]) - mid) * scale;
  } else {
#pragma omp simd
    for (index_t i = 0; i < count; ++i) t[i] = (a[i] - mid) * scale;
  }
  const auto polynomial = [&](const double* c, int n, double* dst) __attribute__((always_inline)) {
    if (s.monomial)
      monomial_plane(c, n, t, count, dst);
    else
      chebyshev_plane(c, n, t, count, b1, b2, dst);
  };
  polynomial(s.p, s.np, out);
  if (!s.q) return;
  polynomial(s.q, s.nq, qv);
#pragma omp simd
  for (index_t i = 0; i < count; ++i) out[i] = out[i] / qv[i];
}

/// closure_edges for one trajectory, its G planes as matrix products (coupling_product: each sum
/// in closure_gradient's order): on E and W sides A = M X^T once per side and component, then
/// Y A for every point k; on N and S A = Y M, then A X^T. X^T is the transposed matrix stored
/// after the others (ToothClosure). scratch: 4 P^2.
struct ClosureTrajectory {
  template <class V>
  [[gnu::always_inline]] static inline void run(int P, int m, const ToothClosure& c, const double* U, const double* M,
                                                double* edges, double* scratch) {
    const index_t PP = static_cast<index_t>(P) * P;
    const int transposed = 4 + 2 * m;
    const auto T = [&](const double* X) { return X + transposed * PP; };
    double *A[2] = {scratch, scratch + PP}, *G[2] = {scratch + 2 * PP, scratch + 3 * PP};
    for (int side = 0; side < 4; ++side) {
      const bool y_first = side >= 2;
      // The border's matrices do not depend on k: the side's products with M once.
      for (int comp = 0; comp < 2; ++comp) {
        const double *Y, *X;
        c.gradient_matrices(side, 1, comp, P, Y, X);
        if (y_first)
          coupling_product<V>(P, Y, M, A[comp]);
        else
          coupling_product<V>(P, M, T(X), A[comp]);
      }
      for (int k = 1; k <= m; ++k) {
        for (int comp = 0; comp < 2; ++comp) {
          const double *Y, *X;
          c.gradient_matrices(side, k, comp, P, Y, X);
          if (y_first)
            coupling_product<V>(P, A[comp], T(X), G[comp]);
          else
            coupling_product<V>(P, Y, A[comp], G[comp]);
        }
        const int x = side == 0 ? m : side == 1 ? 1 : k, y = side == 2 ? m : side == 3 ? 1 : k;
        const double* inner = U + (static_cast<index_t>(y - 1) * m + x - 1) * PP;
        const double *fx = c.factor(side, k, 0, m, P), *fy = c.factor(side, k, 1, m, P);
        double* out = edges + (static_cast<index_t>(side) * m + k - 1) * PP;
        const double h = c.h, *gx = G[0], *gy = G[1];
#pragma omp simd
        for (index_t i = 0; i < PP; ++i) out[i] = closure_ghost(inner[i], h, fx[i], gx[i], fy[i], gy[i]);
      }
    }
  }
};

/// The rates of trajectory b; `edges` holds gap_tooth_scratch values.
///
/// Frame position (x, y), 0 <= x, y <= m+1, of every patch at once is one P x P matrix [J][I]:
/// at the interior positions a plane of U, at the border one of the 4 m edge planes (corners
/// unused). The edges are matrix products: the east edge of patch (I, J) at height y is
///   sum_K Wp[I][K] U_(K,J)(0, y),  i.e.  F(m+1, y) = F(1, y) Wp^T,
/// the west edge F(0, y) = F(m, y) Wm^T, the north edge F(x, m+1) = Wp F(x, 1) and the south
/// edge F(x, 0) = Wm F(x, m). The rates at each interior position are then lattice_rate over
/// all patches (a unit-stride loop the compiler vectorizes), with the bond values of that
/// position: one value that every patch shares, or a plane of them, one per tooth (ToothBonds).
/// On a u-dependent lattice each bond's factor g is computed once per evaluation into a plane
/// (x-bonds between frame positions (x, y) and (x+1, y), y-bonds between (x, y) and (x, y+1)),
/// not once from either end: the values site_rate gives, at half the series evaluations.
///
/// Mc > 0 fixes the patch size m at compile time (the small loops over a patch then unroll).
template <int Mc>
struct GapToothTrajectory {
  template <class V>
  [[gnu::always_inline]] static inline void run(const GapToothProblem& g, index_t b, double* edges) {
    const int P = g.P, m = Mc > 0 ? Mc : g.m, n = m + 2;
    const index_t PP = static_cast<index_t>(P) * P, per = PP * m * m;
    const double* Ub = g.U + b * per;
    // Edge planes: east (x = m+1), west (x = 0), north (y = m+1), south (y = 0), m of each; given
    // (the closure of a random lattice's teeth) or interpolated here into the scratch.
    const double* planes = g.edges ? g.edges + b * 4 * m * PP : edges;
    const auto edge = [planes, m, PP](int side, int k) {
      return planes + (static_cast<index_t>(side) * m + k - 1) * PP;
    };
    const auto F = [&](int x, int y) __attribute__((always_inline))->const double* {
      if (x == m + 1) return edge(0, y);
      if (x == 0) return edge(1, y);
      if (y == m + 1) return edge(2, x);
      if (y == 0) return edge(3, x);
      return Ub + (static_cast<index_t>(y - 1) * m + x - 1) * PP;
    };
    if (!g.edges && g.k.closure.active()) {
      // Closed teeth: the trajectory's means (in kernels::patch_means' order), then the ghosts.
      double* M = edges + (4 * m + nonlinear_planes(m, g.nl)) * PP;
      std::fill(M, M + PP, 0.0);
      for (index_t k = 0; k < static_cast<index_t>(m) * m; ++k) {
        const double* plane = Ub + k * PP;
#pragma omp simd
        for (index_t i = 0; i < PP; ++i) M[i] += plane[i];
      }
      for (index_t i = 0; i < PP; ++i) M[i] /= static_cast<double>(m * m);
      ClosureTrajectory::run<V>(P, m, g.k.closure, Ub, M, edges, M + PP);
    }
    for (int k = 1; k <= m && !g.edges && !g.k.closure.active(); ++k) {
      coupling_product<V>(P, F(1, k), g.wpT, edges + (0 * static_cast<index_t>(m) + k - 1) * PP);
      coupling_product<V>(P, F(m, k), g.wmT, edges + (1 * static_cast<index_t>(m) + k - 1) * PP);
      coupling_product<V>(P, g.wp, F(k, 1), edges + (2 * static_cast<index_t>(m) + k - 1) * PP);
      coupling_product<V>(P, g.wm, F(k, m), edges + (3 * static_cast<index_t>(m) + k - 1) * PP);
    }
    const LatticeNonlinearity& nl = g.nl;
    double* bonds = edges + 4 * static_cast<index_t>(m) * PP;
    const auto bx = [bonds, m, PP](int x, int y) { return bonds + (static_cast<index_t>(y - 1) * (m + 1) + x) * PP; };
    const auto by = [bonds, m, PP](int x, int y) {
      return bonds + (static_cast<index_t>(m) * (m + 1) + static_cast<index_t>(x - 1) * (m + 1) + y) * PP;
    };
    // Four planes for the series: its argument, Clenshaw's two partial sums and a ratio's q.
    double *arg = bonds + 2 * static_cast<index_t>(m) * (m + 1) * PP, *b1 = arg + PP, *b2 = b1 + PP, *qv = b2 + PP;
    // The lambdas with loops are always_inline, as the run_avx2 or run_avx512 around them needs: compiled apart,
    // they had the baseline's target (SSE2) and the series ran at half width (vector_kernels_inline).
    if (!nl.linear()) {
      const auto factors =
          [&nl, PP, arg, b1, b2, qv ](const double* a, const double* c, double* out) __attribute__((always_inline)) {
        if (!nl.g) return std::fill(out, out + PP, 1.0);
        series_plane(nl.g, nl.u_mid, nl.u_scale, a, c, PP, arg, b1, b2, qv, out);
      };
      for (int y = 1; y <= m; ++y)
        for (int x = 0; x <= m; ++x) factors(F(x, y), F(x + 1, y), bx(x, y));
      for (int x = 1; x <= m; ++x)
        for (int y = 0; y <= m; ++y) factors(F(x, y), F(x, y + 1), by(x, y));
    }
    // The reaction rho f(u) of frame position c into out (zero without one), the bonds go on top:
    // rho times the series (the site rates are the period's, shared by the teeth).
    const auto reaction = [&](const double* u, int c, double* out) __attribute__((always_inline)) {
      if (!nl.f) return std::fill(out, out + PP, 0.0);
      series_plane(nl.f, nl.u_mid, nl.u_scale, u, nullptr, PP, arg, b1, b2, qv, out);
      const double rho = nl.rho[c];
#pragma omp simd
      for (index_t i = 0; i < PP; ++i) out[i] = rho * out[i];
    };
    for (int y = 1; y <= m; ++y)
      for (int x = 1; x <= m; ++x) {
        const int c = y * n + x;
        const double *u = F(x, y), *uE = F(x + 1, y), *uW = F(x - 1, y), *uN = F(x, y + 1), *uS = F(x, y - 1);
        double* out = g.dUdt + b * per + (static_cast<index_t>(y - 1) * m + x - 1) * PP;
        if (g.k.per_patch()) {
          // Every tooth its own bonds: one plane per bond (ToothBonds' compact per-tooth planes).
          const double *kE = g.k.kE + g.k.east_plane(x, y, m) * PP, *kW = g.k.kE + g.k.east_plane(x - 1, y, m) * PP,
                       *kN = g.k.kN + g.k.north_plane(x, y, m) * PP, *kS = g.k.kN + g.k.north_plane(x, y - 1, m) * PP;
          if (nl.linear()) {
#pragma omp simd
            for (index_t i = 0; i < PP; ++i)
              out[i] = lattice_rate(u[i], uE[i], uW[i], uN[i], uS[i], kE[i], kW[i], kN[i], kS[i], g.inv_h2);
          } else {
            const double *gE = bx(x, y), *gW = bx(x - 1, y), *gN = by(x, y), *gS = by(x, y - 1);
            reaction(u, c, out);
#pragma omp simd
            for (index_t i = 0; i < PP; ++i)
              out[i] = lattice_rate(u[i], uE[i], uW[i], uN[i], uS[i], kE[i] * gE[i], kW[i] * gW[i], kN[i] * gN[i],
                                    kS[i] * gS[i], g.inv_h2) +
                       out[i];
          }
          continue;
        }
        const double kE = g.k.kE[c], kW = g.k.kE[c - 1], kN = g.k.kN[c], kS = g.k.kN[c - n];
        if (nl.linear()) {
#pragma omp simd
          for (index_t i = 0; i < PP; ++i)
            out[i] = lattice_rate(u[i], uE[i], uW[i], uN[i], uS[i], kE, kW, kN, kS, g.inv_h2);
        } else {
          const double *gE = bx(x, y), *gW = bx(x - 1, y), *gN = by(x, y), *gS = by(x, y - 1);
          reaction(u, c, out);
#pragma omp simd
          for (index_t i = 0; i < PP; ++i)
            out[i] = lattice_rate(u[i], uE[i], uW[i], uN[i], uS[i], kE * gE[i], kW * gW[i], kN * gN[i], kS * gS[i],
                                  g.inv_h2) +
                     out[i];
        }
      }
  }
};

/// A gap-tooth problem with its coupling matrices transposed (for GapToothTrajectory), U and dUdt
/// left to the caller. g points into the object itself, so it is not copied.
struct GapToothCoupling {
  std::vector<double> wpT, wmT;
  GapToothProblem g;
  GapToothCoupling(const GapToothCoupling&) = delete;
  GapToothCoupling& operator=(const GapToothCoupling&) = delete;
  GapToothCoupling(int P, int m, const ToothBonds& k, const double* wp, const double* wm, double inv_h2,
                   const LatticeNonlinearity& nl = {})
      : wpT(static_cast<std::size_t>(P) * P), wmT(wpT.size()) {
    for (int I = 0; I < P; ++I)
      for (int K = 0; K < P; ++K) {
        wpT[K * P + I] = wp[I * P + K];
        wmT[K * P + I] = wm[I * P + K];
      }
    g = GapToothProblem{P, m, k, wp, wm, wpT.data(), wmT.data(), inv_h2, nullptr, nullptr, nl};
  }
};

/// gap_tooth_chebyshev_interval on the CPU: each thread carries one trajectory's series through
/// all n terms in its own three vectors (T_k-1, T_k, A T_k), the sum building up in u itself.
template <int Mc>
void gap_tooth_intervals_cpu(GapToothProblem g, index_t batch, double rho, const double* c, int n, double* u) {
  const int lanes = cpu_lanes();
  const index_t per = static_cast<index_t>(g.P) * g.P * g.m * g.m;
  const double a = 4.0 / rho;
#pragma omp parallel firstprivate(g)
  {
    std::vector<double> edges(static_cast<std::size_t>(gap_tooth_scratch(g.P, g.m, g.nl, g.k.closure))),
        work(static_cast<std::size_t>(3 * per));
#pragma omp for
    for (index_t b = 0; b < batch; ++b) {
      double *Tkm1 = work.data(), *Tk = Tkm1 + per, *AT = Tk + per, *acc = u + b * per;
      std::copy(acc, acc + per, Tkm1);
      g.dUdt = AT;
      g.U = Tkm1;
      run_vectorized<GapToothTrajectory<Mc>>(lanes, g, index_t{0}, edges.data());
      for (index_t i = 0; i < per; ++i) chebyshev_start(a, AT[i], Tkm1[i], c[0], c[1], Tk[i], acc[i]);
      for (int k = 1; k + 1 < n; ++k) {
        g.U = Tk;
        run_vectorized<GapToothTrajectory<Mc>>(lanes, g, index_t{0}, edges.data());
        for (index_t i = 0; i < per; ++i) chebyshev_update(a, AT[i], Tk[i], Tkm1[i], c[k + 1], acc[i]);
        std::swap(Tk, Tkm1);
      }
    }
  }
}

/// gap_tooth_rkc_interval on the CPU: each thread carries one trajectory through all the steps
/// and stages in its own four vectors (F(Y_0), Y_j-1, Y_j-2, F(Y_j-1)), Y_0 being u itself.
template <int Mc>
void gap_tooth_rkc_intervals_cpu(GapToothProblem g, index_t batch, const RkcStage* stage, int s, int steps, double* u) {
  const int lanes = cpu_lanes();
  const index_t per = static_cast<index_t>(g.P) * g.P * g.m * g.m;
#pragma omp parallel firstprivate(g)
  {
    std::vector<double> edges(static_cast<std::size_t>(gap_tooth_scratch(g.P, g.m, g.nl, g.k.closure))),
        work(static_cast<std::size_t>(4 * per));
#pragma omp for
    for (index_t b = 0; b < batch; ++b) {
      double *F0 = work.data(), *Yjm1 = F0 + per, *Yjm2 = Yjm1 + per, *F = Yjm2 + per, *y0 = u + b * per;
      for (int step = 0; step < steps; ++step) {
        g.U = y0;
        g.dUdt = F0;
        run_vectorized<GapToothTrajectory<Mc>>(lanes, g, index_t{0}, edges.data());
        for (index_t i = 0; i < per; ++i) {
          Yjm1[i] = y0[i] + stage[0].gamma_dt * F0[i];
          Yjm2[i] = y0[i];
        }
        g.dUdt = F;
        for (int j = 1; j < s; ++j) {
          g.U = Yjm1;
          run_vectorized<GapToothTrajectory<Mc>>(lanes, g, index_t{0}, edges.data());
          for (index_t i = 0; i < per; ++i) Yjm2[i] = rkc_stage_value(stage[j], y0[i], Yjm1[i], Yjm2[i], F[i], F0[i]);
          std::swap(Yjm1, Yjm2);
        }
        std::copy(Yjm1, Yjm1 + per, y0);
      }
    }
  }
}

template <int Mc>
void gap_tooth_rates_cpu(const GapToothProblem& g, index_t batch) {
  const int lanes = cpu_lanes();
#pragma omp parallel
  {
    std::vector<double> edges(static_cast<std::size_t>(gap_tooth_scratch(g.P, g.m, g.nl, g.k.closure)));
#pragma omp for
    for (index_t b = 0; b < batch; ++b) run_vectorized<GapToothTrajectory<Mc>>(lanes, g, b, edges.data());
  }
}

/// Rows first .. first + kLatticeBandRows - 1 of one trajectory's lattice rates, each handed to
/// sink(index, rate), which must not write what the band reads. Inside a row only the two end
/// columns wrap; the others take their neighbours from the row pointers directly, a loop
/// vectorized to the target's width (V is not needed). (Streaming the rates past the cache, as
/// the lift does, was slower here, whether value by value or a whole row at a time.)
constexpr index_t kLatticeBandRows = 32;
template <class Sink>
struct LatticeBand {
  template <class V>
  [[gnu::always_inline]] static void run(index_t N, const double* kE, const double* kN, double inv_h2,
                                         const LatticeNonlinearity& nl, const double* u, Sink sink, index_t first) {
    for (index_t y = first; y < std::min(N, first + kLatticeBandRows); ++y) {
      const index_t yn = y + 1 == N ? 0 : y + 1, ys = y == 0 ? N - 1 : y - 1, row = y * N;
      const double *ke = kE + row, *kn = kN + row, *ks = kN + ys * N;
      const double *uc = u + row, *un = u + yn * N, *us = u + ys * N;
      sink(row, periodic_lattice_rate(u, kE, kN, N, 0, y, inv_h2, nl));
      if (nl.linear()) {
#pragma omp simd
        for (index_t x = 1; x < N - 1; ++x)
          sink(row + x,
               lattice_rate(uc[x], uc[x + 1], uc[x - 1], un[x], us[x], ke[x], ke[x - 1], kn[x], ks[x], inv_h2));
      } else {
#pragma omp simd
        for (index_t x = 1; x < N - 1; ++x)
          sink(row + x, site_rate(uc[x], uc[x + 1], uc[x - 1], un[x], us[x], ke[x], ke[x - 1], kn[x], ks[x], inv_h2, nl,
                                  row + x));
      }
      sink(row + N - 1, periodic_lattice_rate(u, kE, kN, N, N - 1, y, inv_h2, nl));
    }
  }
};

/// The lattice rates of every trajectory b of u, handed to sink_for(b) (see LatticeBand).
///
/// In bands of kLatticeBandRows rows, every trajectory of the batch in turn: the bond-table rows
/// of a band stay in cache across the batch (the tables are read about once, not once per
/// trajectory), and each trajectory's band is one contiguous stretch that the prefetchers follow
/// (row by row across the batch, 3 streams per trajectory, was ~15 % slower). The loop is also
/// compiled for AVX2 (run_vectorized), another ~15 %, but not for AVX-512, which was slower
/// (BM_Lattice2D/Cpu 2.1-2.3 ms with AVX2, 2.4-2.9 with AVX-512): a row's interior starts one value
/// past a cache line, so every load of 8 values straddles two lines, against one in two of AVX2's.
template <class SinkFor>
void lattice_bands(index_t batch, index_t N, const double* kE, const double* kN, double inv_h2,
                   const LatticeNonlinearity& nl, const double* u, const SinkFor& sink_for) {
  using Band = LatticeBand<decltype(sink_for(index_t{0}))>;
  const index_t bands = (N + kLatticeBandRows - 1) / kLatticeBandRows;
  const int lanes = std::min(cpu_lanes(), 4);
#pragma omp parallel for collapse(2) schedule(static)
  for (index_t k = 0; k < bands; ++k)
    for (index_t b = 0; b < batch; ++b)
      run_vectorized<Band>(lanes, N, kE, kN, inv_h2, nl, u + b * N * N, sink_for(b), k * kLatticeBandRows);
}

/// Sinks of lattice_bands: store the rates, or take one Chebyshev step with them.
struct StoreRates {
  double* dudt;
  void operator()(index_t i, double rate) const { dudt[i] = rate; }
};
struct ChebyshevUpdate {
  double a, c;
  const double* Tk;
  double *Tkm1, *acc;
  void operator()(index_t i, double rate) const { chebyshev_update(a, rate, Tk[i], Tkm1[i], c, acc[i]); }
};

}  // namespace

void gap_tooth_rates(Device dev, index_t batch, int P, int m, const ToothBonds& k, const double* wp, const double* wm,
                     double inv_h2, const double* U, double* dUdt, const LatticeNonlinearity& nl, const double* edges) {
  if (dev == Device::CUDA && k.closure.active() && !edges)
    throw std::logic_error("gap_tooth_rates: closed teeth on CUDA need their edges (closure_edges)");
  PL_RETURN_IF_CUDA(dev, gap_tooth_rates(batch, P, m, k, wp, wm, inv_h2, U, dUdt, nl, edges));
  GapToothCoupling coupling(P, m, k, wp, wm, inv_h2, nl);
  GapToothProblem& g = coupling.g;
  g.U = U;
  g.dUdt = dUdt;
  g.edges = edges;
  if (m == 3) return gap_tooth_rates_cpu<3>(g, batch);  // the paper's 5 x 5 patches
  gap_tooth_rates_cpu<0>(g, batch);
}

void closure_edges(Device dev, index_t batch, int P, int m, const ToothClosure& c, const double* U, const double* M,
                   double* edges) {
  PL_RETURN_IF_CUDA(dev, closure_edges(batch, P, m, c, U, M, edges));
  const int lanes = cpu_lanes();
  const index_t PP = static_cast<index_t>(P) * P, per = PP * m * m;
#pragma omp parallel
  {
    std::vector<double> scratch(static_cast<std::size_t>(4 * PP));
#pragma omp for
    for (index_t b = 0; b < batch; ++b)
      run_vectorized<ClosureTrajectory>(lanes, P, m, c, U + b * per, M + b * PP, edges + b * 4 * m * PP,
                                        scratch.data());
  }
}

void gap_tooth_chebyshev_interval(Device dev, index_t batch, int P, int m, const ToothBonds& k, const double* wp,
                                  const double* wm, double inv_h2, double rho, const double* c, int n, double* u) {
  if (n < 2) throw std::invalid_argument("gap_tooth_chebyshev_interval: at least two terms");
  PL_RETURN_IF_CUDA(dev, gap_tooth_chebyshev_interval(batch, P, m, k, wp, wm, inv_h2, rho, c, n, u));
  const GapToothCoupling coupling(P, m, k, wp, wm, inv_h2);
  if (m == 3) return gap_tooth_intervals_cpu<3>(coupling.g, batch, rho, c, n, u);
  gap_tooth_intervals_cpu<0>(coupling.g, batch, rho, c, n, u);
}

bool gap_tooth_rkc_interval(Device dev, index_t batch, int P, int m, const ToothBonds& k, const double* wp,
                            const double* wm, double inv_h2, const LatticeNonlinearity& nl, const RkcStage* stage,
                            int s, int steps, double* u) {
  if (dev != Device::CPU) return false;
  const GapToothCoupling coupling(P, m, k, wp, wm, inv_h2, nl);
  if (m == 3)
    gap_tooth_rkc_intervals_cpu<3>(coupling.g, batch, stage, s, steps, u);
  else
    gap_tooth_rkc_intervals_cpu<0>(coupling.g, batch, stage, s, steps, u);
  return true;
}

void coupling_edges(Device dev, index_t batch, int P, int m, const double* wp, const double* wm, const double* U,
                    double* edges) {
  PL_RETURN_IF_CUDA(dev, coupling_edges(batch, P, m, wp, wm, U, edges));
  throw std::logic_error("coupling_edges: the library's edge planes are a CUDA path; the CPU forms them in its pass");
}

bool coupling_edges_pay(Device dev, int P) {
  // BM_GapToothCoupling on the H200, our kernel / cuBLAS + the same rates (ms, 100 trajectories of
  // the paper's m = 3, two device runs): P = 16 0.018 / 0.098 and 0.019 / 0.134; P = 32 0.045 /
  // 0.109 and 0.047 / 0.162; P = 64 0.217 / 0.177 and 0.219 / 0.214; P = 128 1.412 / 0.466 and
  // 1.412 / 0.476 (bench/RESULTS.md). From 64 the library ties or wins, and its lead grows as P.
  constexpr int kLibraryFrom = 64;
  return dev == Device::CUDA && P >= kLibraryFrom;
}

bool gap_tooth_interval_fits(Device dev, int P, int m) {
#ifdef PATCHLEARN_HAVE_CUDA
  if (dev == Device::CUDA) return cuda::gap_tooth_interval_fits(P, m);
#endif
  (void)P, (void)m;
  return dev == Device::CPU;
}

void lattice_rates(Device dev, index_t batch, index_t N, const double* kE, const double* kN, double inv_h2,
                   const double* u, double* dudt, const LatticeNonlinearity& nl) {
  PL_RETURN_IF_CUDA(dev, lattice_rates(batch, N, kE, kN, inv_h2, u, dudt, nl));
  lattice_bands(batch, N, kE, kN, inv_h2, nl, u, [&](index_t b) { return StoreRates{dudt + b * N * N}; });
}

void rkc_stage(Device dev, index_t count, const RkcStage& s, const double* y0, const double* yjm1, const double* f,
               const double* f0, double* yjm2) {
  for_each_index(dev, count, RkcStageUpdate{s, y0, yjm1, f, f0, yjm2});
}

void lattice_chebyshev_step(Device dev, index_t batch, index_t N, const double* kE, const double* kN, double inv_h2,
                            double a, const double* Tk, double* Tkm1, double c, double* acc) {
  PL_RETURN_IF_CUDA(dev, lattice_chebyshev_step(batch, N, kE, kN, inv_h2, a, Tk, Tkm1, c, acc));
  lattice_bands(batch, N, kE, kN, inv_h2, LatticeNonlinearity{}, Tk, [&](index_t b) {
    const index_t o = b * N * N;
    return ChebyshevUpdate{a, c, Tk + o, Tkm1 + o, acc + o};
  });
}

void chebyshev_start(Device dev, index_t count, double a, const double* Au, const double* u, double c0, double c1,
                     double* T1, double* acc) {
  for_each_index(dev, count, ChebyshevStart{a, Au, u, c0, c1, T1, acc});
}

void chebyshev_step(Device dev, index_t count, double a, const double* AT, const double* Tk, double* Tkm1, double c,
                    double* acc) {
  for_each_index(dev, count, ChebyshevStep{a, AT, Tk, Tkm1, c, acc});
}

void patch_means(Device dev, index_t batch, index_t points, index_t patches, const double* x, double* out) {
  PL_RETURN_IF_CUDA(dev, patch_means(batch, points, patches, x, out));
  // Each patch's sum runs over its points in order (the CUDA kernel's), all patches side by side.
#pragma omp parallel for
  for (index_t b = 0; b < batch; ++b) {
    double* o = out + b * patches;
    std::fill(o, o + patches, 0.0);
    for (index_t k = 0; k < points; ++k) {
      const double* xk = x + (b * points + k) * patches;
      for (index_t i = 0; i < patches; ++i) o[i] += xk[i];
    }
    for (index_t i = 0; i < patches; ++i) o[i] /= static_cast<double>(points);
  }
}

void window_means(Device dev, index_t batch, index_t N, int P, index_t first, index_t spacing, int m, const double* u,
                  double* U) {
  for_each_index(dev, batch * P * P, WindowMeans{N, P, first, spacing, m, u, U});
}

}  // namespace patchlearn::kernels
