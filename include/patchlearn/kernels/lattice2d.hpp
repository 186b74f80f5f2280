#pragma once
// Per-element arithmetic of the 2D lattice model (paper eq. 25) and its gap-tooth patches, shared
// by the CPU loops and the CUDA kernels. Arrays are [row y][column x], x fastest. kE[y][x] is the
// x-bond diffusivity between (x, y) and (x+1, y); kN[y][x] the y-bond between (x, y) and (x, y+1).
//
// Gap-tooth state: only the m x m evolving interior of each patch is stored, point-major, as
// [trajectory][q][p][patch J (y)][patch I (x)]: for each interior point, the P x P values of all
// patches side by side (so the batched loops run over patches in unit stride). The patch edges
// are never stored: each edge value is a circulant sum over the neighbours' interior values along
// the patch row or column (the coupling kernel of patch/layout2d.hpp), computed where the one
// interior point next to it needs it.
//
// A u-dependent lattice (micro/lattice2d.hpp: g(u) on every bond, rho f(u) on every site) enters
// through LatticeNonlinearity: g and f as Chebyshev series in u, or ratios of two
// (coeff/chebyshev.hpp), the site rates rho laid out like the bond tables. Its default is the
// linear lattice, whose rates are then lattice_rate's to the bit.
#include <vector>

#include "patchlearn/core/defs.hpp"
#include "patchlearn/kernels/nonlinear.hpp"

namespace patchlearn::kernels {

struct LatticeNonlinearity {
  SeriesRatioView g;              ///< empty: every bond keeps its kappa
  SeriesRatioView f;              ///< empty: no reaction
  const double* rho = nullptr;    ///< site reaction rates, indexed like the bond tables
  double u_mid = 0, u_scale = 1;  ///< t = (u - u_mid) u_scale maps the u range onto [-1, 1]
  PL_HD bool linear() const { return !g && !f; }
  /// g at the mean of a bond's two values (1 without g).
  PL_HD double factor(double ua, double ub) const { return g ? g((0.5 * (ua + ub) - u_mid) * u_scale) : 1.0; }
  /// rho f(u) at site `site` (0 without f).
  PL_HD double source(double u, index_t site) const { return f ? rho[site] * f((u - u_mid) * u_scale) : 0.0; }
};

/// du/dt at a point from its four neighbours and the four bond diffusivities (paper eq. 25).
PL_HD double lattice_rate(double u, double uE, double uW, double uN, double uS, double kE, double kW, double kN,
                          double kS, double inv_h2) {
  return (kE * (uE - u) + kW * (uW - u) + kN * (uN - u) + kS * (uS - u)) * inv_h2;
}

/// lattice_rate of a u-dependent lattice: each bond's diffusivity times g at the mean u of its two
/// sites, plus the reaction of site `site` (lattice_rate itself when nl is linear).
PL_HD double site_rate(double u, double uE, double uW, double uN, double uS, double kE, double kW, double kN, double kS,
                       double inv_h2, const LatticeNonlinearity& nl, index_t site) {
  if (nl.linear()) return lattice_rate(u, uE, uW, uN, uS, kE, kW, kN, kS, inv_h2);
  return lattice_rate(u, uE, uW, uN, uS, kE * nl.factor(u, uE), kW * nl.factor(u, uW), kN * nl.factor(u, uN),
                      kS * nl.factor(u, uS), inv_h2) +
         nl.source(u, site);
}

/// Site (x, y) of a periodic N x N lattice with full bond tables kE[y][x], kN[y][x]: the offsets
/// of it and its four neighbours and its four bond diffusivities, read once to serve every
/// trajectory of a batch (the tables are one for the whole batch).
struct PeriodicSite {
  index_t c, e, w, n, s;
  double kE, kW, kN, kS;
};

PL_HD PeriodicSite periodic_site(const double* kE, const double* kN, index_t N, index_t x, index_t y) {
  const index_t xe = x + 1 == N ? 0 : x + 1, xw = x == 0 ? N - 1 : x - 1;
  const index_t yn = y + 1 == N ? 0 : y + 1, ys = y == 0 ? N - 1 : y - 1;
  return {y * N + x,     y * N + xe,     y * N + xw,    yn * N + x,    ys * N + x,
          kE[y * N + x], kE[y * N + xw], kN[y * N + x], kN[ys * N + x]};
}

/// du/dt at a site of one trajectory's state u[y][x] (site rates nl.rho[y][x]).
PL_HD double periodic_site_rate(const double* u, const PeriodicSite& s, double inv_h2,
                                const LatticeNonlinearity& nl = {}) {
  return site_rate(u[s.c], u[s.e], u[s.w], u[s.n], u[s.s], s.kE, s.kW, s.kN, s.kS, inv_h2, nl, s.c);
}

/// du/dt at global point (x, y) of a periodic N x N lattice u[y][x] with full bond tables (and
/// site rates nl.rho[y][x]).
PL_HD double periodic_lattice_rate(const double* u, const double* kE, const double* kN, index_t N, index_t x, index_t y,
                                   double inv_h2, const LatticeNonlinearity& nl = {}) {
  return periodic_site_rate(u, periodic_site(kE, kN, N, x, y), inv_h2, nl);
}

/// The P x P circulant matrix W[I][K] = w[(I - K) mod P] of a coupling vector w of P entries:
/// the coupling of patch I to patch K depends on their distance around the period only.
inline std::vector<double> circulant(const std::vector<double>& w) {
  const int P = static_cast<int>(w.size());
  std::vector<double> W(w.size() * w.size());
  for (int I = 0; I < P; ++I)
    for (int K = 0; K < P; ++K) W[static_cast<std::size_t>(I) * P + K] = w[(I - K + P) % P];
  return W;
}

/// sum_L W[row][L] src[L * stride]: one interpolated edge value, W the P x P circulant coupling
/// matrix and `row` the patch whose edge it is. A circulant's rows are its first row shifted,
/// W[row][L] = W[0][(L - row) mod P], so the sum reads the first row only: the threads of
/// consecutive patches then read consecutive entries of one short row (on a GPU one cache line),
/// where the row of each would lie P entries apart. The values and their order are W's own.
PL_HD double coupling_sum(const double* W, int P, int row, const double* src, index_t stride) {
  double s = 0.0;
  for (int L = 0, d = row == 0 ? 0 : P - row; L < P; ++L, d = d + 1 == P ? 0 : d + 1) s += W[d] * src[L * stride];
  return s;
}

/// The periodic closure of the gap-tooth teeth of a random lattice with gaps (GapTooth2D). Where
/// the lattice is random, the interior values next to a neighbour's edge carry that neighbour's own
/// corrector, so the EdgyInt coupling would put an O(sigma) error into every edge flux. Instead
/// each tooth is closed as a periodic cell of its own m x m points, its wrap bonds its east and
/// north boundary bonds, and driven by the macro gradient G of the patch means' trigonometric
/// interpolant (deconvolved by the mean's factor s(k), patch/layout2d.hpp) at its borders:
/// the ghost value beyond interior point k of side E, W, N, S (frame positions (m+1, k), (0, k),
/// (k, m+1), (k, 0)) is
///     ghost = inner + h (fx Gx + fy Gy),
/// inner the interior value next to it and (fx, fy) from the tooth's own cell correctors
/// (homog/cell2d.hpp): the increment of u = e.x + h phi_e across the wrap bond of that row or
/// column, times the ratio of the wrap bond to the boundary bond on the west and south sides
/// (negated there), so that every boundary bond carries the flux the wrap bond carries in the
/// periodic cell. Under a uniform gradient the tooth's state is then exactly its cell solution
/// (no net flux), and its mean's rate is D_tooth : grad grad U to leading order, D_tooth the
/// tooth's own periodic cell tensor, whose scatter over the teeth shrinks with the tooth width.
///
/// matrices holds P x P circulant matrices W[I][K] = w[(I - K) mod P] (the coupling's orientation),
/// and after them the same transposed: matrix(0..3) the interpolant's value and derivative at the
/// border offsets +m h / 2 and -m h / 2 from the patch centre (+value, +derivative, -value,
/// -derivative); matrix(4 + 2 (k - 1)) and matrix(5 + 2 (k - 1)) its value and derivative at the
/// offset (k - (m + 1) / 2) h of interior point k = 1 .. m.
struct ToothClosure {
  const double* factors = nullptr;   ///< [side][k][component x, y] planes of P^2 (fx, fy)
  const double* matrices = nullptr;  ///< (4 + 2 m) matrices, then their transposes
  double h = 0;
  PL_HD bool active() const { return factors != nullptr; }
  PL_HD const double* matrix(int i, int P) const { return matrices + static_cast<index_t>(i) * P * P; }
  PL_HD const double* factor(int side, int k, int component, int m, int P) const {
    return factors + ((static_cast<index_t>(side) * m + k - 1) * 2 + component) * P * P;
  }
  /// The y and x matrices of G's component (0: x, 1: y) at point k of a side: on E and W the
  /// x-derivative or x-value at the border offset, times the y-value or y-derivative at point k;
  /// on N and S the y-value or y-derivative at the border offset, times the x-derivative or x-value
  /// at point k.
  PL_HD void gradient_matrices(int side, int k, int component, int P, const double*& Y, const double*& X) const {
    const int border = side == 0 || side == 2 ? 0 : 2, at = 4 + 2 * (k - 1);
    if (side < 2) {
      X = matrix(border + (component == 0 ? 1 : 0), P);
      Y = matrix(at + (component == 0 ? 0 : 1), P);
    } else {
      Y = matrix(border + (component == 0 ? 0 : 1), P);
      X = matrix(at + (component == 0 ? 1 : 0), P);
    }
  }
};

/// The bond tables of the gap-tooth teeth, over the positions (x, y) of a patch frame, edges
/// included (0 <= x, y <= m+1). Either one table that every tooth shares (a periodic medium with
/// every patch at the same phase: stride 1, patch_step 0), the whole frame [y][x], or one per tooth
/// (a random or modulated lattice, each tooth its own piece of it: stride P^2, patch_step 1,
/// plane-major [plane][patch] with patch = J P + I) holding only the bonds the m x m interior
/// points use: m (m+1) x-bonds (x = 0..m, y = 1..m) and m (m+1) y-bonds (x = 1..m, y = 0..m),
/// 2 m (m+1) / m^2 patch states per tooth instead of 2 (m+2)^2 / m^2. In both layouts the west
/// bond's plane is the east one's minus 1 and the south bond's the north one's minus its step.
struct ToothBonds {
  const double* kE = nullptr;  ///< x-bond between positions (x, y) and (x+1, y)
  const double* kN = nullptr;  ///< y-bond between positions (x, y) and (x, y+1)
  index_t stride = 1, patch_step = 0;
  ToothClosure closure;  ///< a random lattice's teeth with gaps: their periodic closure (inactive otherwise)
  PL_HD bool per_patch() const { return patch_step != 0; }
  /// The planes of the x-bond east of position (x, y) and of the y-bond north of it, for teeth of
  /// m x m interior points.
  PL_HD index_t east_plane(int x, int y, int m) const {
    return per_patch() ? static_cast<index_t>(y - 1) * (m + 1) + x : static_cast<index_t>(y) * (m + 2) + x;
  }
  PL_HD index_t north_plane(int x, int y, int m) const {
    return per_patch() ? static_cast<index_t>(x - 1) * (m + 1) + y : static_cast<index_t>(y) * (m + 2) + x;
  }
  PL_HD index_t east(int x, int y, int m, index_t patch) const {
    return east_plane(x, y, m) * stride + patch * patch_step;
  }
  PL_HD index_t north(int x, int y, int m, index_t patch) const {
    return north_plane(x, y, m) * stride + patch * patch_step;
  }
  /// Planes in each of kE, kN: (m+2)^2 shared, m (m+1) per tooth.
  PL_HD static index_t planes(int m, bool per_patch) {
    return per_patch ? static_cast<index_t>(m) * (m + 1) : static_cast<index_t>(m + 2) * (m + 2);
  }
};

/// du/dt at interior point (p, q) of tooth `tooth`, its m x m values patch[(q m + p) stride], given
/// the edge values next to it (eE, eW, eN, eS; only those on the patch border are read), with the
/// tooth's bonds k (nl.rho indexed by the frame position: u-dependent lattices share one table).
PL_HD double patch_point_rate(const double* patch, index_t stride, int m, int p, int q, double eE, double eW, double eN,
                              double eS, const ToothBonds& k, index_t tooth, double inv_h2,
                              const LatticeNonlinearity& nl = {}) {
  const auto at = [patch, stride, m](int pp, int qq) { return patch[(static_cast<index_t>(qq) * m + pp) * stride]; };
  const double u = at(p, q);
  const double uE = p + 1 < m ? at(p + 1, q) : eE;
  const double uW = p > 0 ? at(p - 1, q) : eW;
  const double uN = q + 1 < m ? at(p, q + 1) : eN;
  const double uS = q > 0 ? at(p, q - 1) : eS;
  const int x = p + 1, y = q + 1, c = y * (m + 2) + x;
  return site_rate(u, uE, uW, uN, uS, k.kE[k.east(x, y, m, tooth)], k.kE[k.east(x - 1, y, m, tooth)],
                   k.kN[k.north(x, y, m, tooth)], k.kN[k.north(x, y - 1, m, tooth)], inv_h2, nl, c);
}

/// du/dt at interior point (p, q) of patch (I, J) of one trajectory's patch values, stored
/// point-major: U[q][p][J][I], the P x P patches' values at one interior point side by side (m x m
/// such planes). The edge values it needs are interpolated on the spot: Wp / Wm are the P x P
/// circulant coupling matrices that give the right/top edge from the neighbours' first interior
/// column/row (shift +r) and the left/bottom edge from their last (shift -r). Or, where `edges` is
/// given (the periodic closure of a random lattice's teeth, ToothClosure), they are read from its
/// 4 m planes [side E, W, N, S][k][J][I].
PL_HD double gap_tooth_rate(const double* U, int P, int m, int I, int J, int p, int q, const ToothBonds& k,
                            const double* Wp, const double* Wm, double inv_h2, const LatticeNonlinearity& nl = {},
                            const double* edges = nullptr) {
  const index_t PP = static_cast<index_t>(P) * P, patch = static_cast<index_t>(J) * P + I;
  const auto plane = [U, m, PP](int pp, int qq) { return U + (static_cast<index_t>(qq) * m + pp) * PP; };
  const auto given = [edges, m, PP, patch](int side, int i) {
    return edges[(static_cast<index_t>(side) * m + i) * PP + patch];
  };
  const double eE = p + 1 < m ? 0.0 : edges ? given(0, q) : coupling_sum(Wp, P, I, plane(0, q) + J * P, 1);
  const double eW = p > 0 ? 0.0 : edges ? given(1, q) : coupling_sum(Wm, P, I, plane(m - 1, q) + J * P, 1);
  const double eN = q + 1 < m ? 0.0 : edges ? given(2, p) : coupling_sum(Wp, P, J, plane(p, 0) + I, P);
  const double eS = q > 0 ? 0.0 : edges ? given(3, p) : coupling_sum(Wm, P, J, plane(p, m - 1) + I, P);
  return patch_point_rate(U + static_cast<index_t>(J) * P + I, PP, m, p, q, eE, eW, eN, eS, k,
                          static_cast<index_t>(J) * P + I, inv_h2, nl);
}

/// One component of G at a border point of patch (I, J) from the means M[L][K] (P x P): on E and
/// W sides sum_L Y[J][L] (sum_K M[L][K] X[I][K]), on N and S sum_K (sum_L Y[J][L] M[L][K]) X[I][K]
/// (the order of the CPU's matrix products, so both give the same sums).
PL_HD double closure_gradient(const double* M, int P, const double* Y, const double* X, int I, int J, bool y_first) {
  double s = 0.0;
  if (!y_first) {
    for (int L = 0; L < P; ++L) {
      double inner = 0.0;
      for (int K = 0; K < P; ++K) inner += M[L * P + K] * X[I * P + K];
      s += Y[J * P + L] * inner;
    }
  } else {
    for (int K = 0; K < P; ++K) {
      double inner = 0.0;
      for (int L = 0; L < P; ++L) inner += Y[J * P + L] * M[L * P + K];
      s += inner * X[I * P + K];
    }
  }
  return s;
}

/// The ghost value of ToothClosure from the interior value next to it and G there.
PL_HD double closure_ghost(double inner, double h, double fx, double gx, double fy, double gy) {
  return inner + h * (fx * gx + fy * gy);
}

/// The ghost value at point k (1..m) of side `side` of patch (I, J) of one trajectory (U point-major,
/// M its P x P patch means): the per-element form of kernels::closure_edges.
PL_HD double closure_edge(const double* U, const double* M, int P, int m, int side, int k, int I, int J,
                          const ToothClosure& c) {
  const index_t PP = static_cast<index_t>(P) * P, patch = static_cast<index_t>(J) * P + I;
  // The interior point next to the ghost: (m, k), (1, k), (k, m), (k, 1) in frame positions.
  const int x = side == 0 ? m : side == 1 ? 1 : k, y = side == 2 ? m : side == 3 ? 1 : k;
  const double inner = U[(static_cast<index_t>(y - 1) * m + x - 1) * PP + patch];
  double g[2];
  for (int comp = 0; comp < 2; ++comp) {
    const double *Y, *X;
    c.gradient_matrices(side, k, comp, P, Y, X);
    g[comp] = closure_gradient(M, P, Y, X, I, J, side >= 2);
  }
  return closure_ghost(inner, c.h, c.factor(side, k, 0, m, P)[patch], g[0], c.factor(side, k, 1, m, P)[patch], g[1]);
}

/// The first two terms of the Chebyshev series for exp(dt A) u at one point, T_0 = u and
/// T_1 = (a/2) A u + u, summed: acc = c0 T_0 + c1 T_1 (a = 4/rho as below).
PL_HD void chebyshev_start(double a, double Au, double u, double c0, double c1, double& T1, double& acc) {
  T1 = 0.5 * a * Au + u;
  acc = c0 * u + c1 * T1;
}

/// One step of the Chebyshev recurrence for exp(dt A): T_{k+1} = a A T_k + 2 T_k - T_{k-1}, written
/// over T_{k-1}, and acc += c T_{k+1}. (a = 4/rho maps the spectrum [-rho, 0] onto [-1, 1].)
PL_HD void chebyshev_update(double a, double AT, double Tk, double& Tkm1, double c, double& acc) {
  Tkm1 = a * AT + 2.0 * Tk - Tkm1;
  acc += c * Tkm1;
}

/// One stage of the second-order Runge-Kutta-Chebyshev method (schemes/lattice2d.hpp: the rkc
/// stepper) at one value: Y_j = (1 - mu - nu) Y_0 + mu Y_j-1 + nu Y_j-2 + mu_dt F(Y_j-1) + gamma_dt F(Y_0).
struct RkcStage {
  double mu = 0, nu = 0, mu_dt = 0, gamma_dt = 0;
};
PL_HD double rkc_stage_value(const RkcStage& s, double y0, double yjm1, double yjm2, double f, double f0) {
  return (1.0 - s.mu - s.nu) * y0 + s.mu * yjm1 + s.nu * yjm2 + s.mu_dt * f + s.gamma_dt * f0;
}

}  // namespace patchlearn::kernels
