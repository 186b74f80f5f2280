#include "patchlearn/homog/cell2d.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "patchlearn/core/error.hpp"

namespace patchlearn {

namespace {

// f(i) for i in [0, n), shared among threads where `threads`. A parallel region costs microseconds
// even when `if` keeps it on one thread, which is most of a small RVE window's solve.
template <class F>
void each(bool threads, int n, const F& f) {
  if (!threads) {
    for (int i = 0; i < n; ++i) f(i);
    return;
  }
#pragma omp parallel for
  for (int i = 0; i < n; ++i) f(i);
}

// The sum of f(i) over [0, n), likewise.
template <class F>
double sum(bool threads, int n, const F& f) {
  double s = 0;
  if (!threads) {
    for (int i = 0; i < n; ++i) s += f(i);
    return s;
  }
#pragma omp parallel for reduction(+ : s)
  for (int i = 0; i < n; ++i) s += f(i);
  return s;
}

// One level of the cell problem's operator (-L): bonds [y][x], KX between sites (x, y) and
// (x+1, y), KY between (x, y) and (x, y+1), periodic; D its diagonal.
struct CellLevel {
  int mx = 0, my = 0;
  std::vector<double> KX, KY, D;
  std::vector<int> east, west;
  // Large levels (random lattices, RVE windows) share the loops among threads; the paper's 3 x 3
  // tables stay serial.
  bool threads() const { return mx * my > 4096; }

  CellLevel(int mx_, int my_, std::vector<double> kx, std::vector<double> ky)
      : mx(mx_),
        my(my_),
        KX(std::move(kx)),
        KY(std::move(ky)),
        D(static_cast<std::size_t>(mx_) * my_),
        east(mx_),
        west(mx_) {
    for (int x = 0; x < mx; ++x) {
      east[x] = x + 1 == mx ? 0 : x + 1;
      west[x] = x == 0 ? mx - 1 : x - 1;
    }
    for (int y = 0; y < my; ++y)
      for (int x = 0; x < mx; ++x) {
        const int i = y * mx + x, south = (y == 0 ? my - 1 : y - 1) * mx + x;
        D[i] = KX[i] + KX[y * mx + west[x]] + KY[i] + KY[south];
      }
  }

  // out = (-L) v.
  void apply(const std::vector<double>& v, std::vector<double>& out) const {
    each(threads(), my, [&](int y) {
      const int row = y * mx, north = (y + 1 == my ? 0 : y + 1) * mx, south = (y == 0 ? my - 1 : y - 1) * mx;
      for (int x = 0; x < mx; ++x) {
        const double u = v[row + x];
        out[row + x] = -(KX[row + x] * (v[row + east[x]] - u) + KX[row + west[x]] * (v[row + west[x]] - u) +
                         KY[row + x] * (v[north + x] - u) + KY[south + x] * (v[south + x] - u));
      }
    });
  }

  // The next coarser level: sites aggregated 2 x 2, each coarse bond the sum of the two fine bonds
  // that cross between two aggregates: the Galerkin operator P^T (-L) P of the piecewise-constant
  // prolongation P. On smooth errors it is twice the coarse lattice's own operator, so each level
  // corrects half of what it should and the count grows like sqrt(n). Half of it corrects the
  // right amount (24 iterations instead of 90 at 480 x 480), but a V-cycle of such
  // over-corrections is not positive definite in general: at log k ~ N(0, 4^2) it diverged. With
  // the Galerkin operator, symmetric smoothing and Jacobi sweeps from zero it is, at any contrast.
  CellLevel coarser() const {
    const int cx = mx / 2, cy = my / 2;
    std::vector<double> kx(static_cast<std::size_t>(cx) * cy), ky(kx.size());
    for (int Y = 0; Y < cy; ++Y)
      for (int X = 0; X < cx; ++X) {
        const int y = 2 * Y, x = 2 * X;
        kx[Y * cx + X] = KX[y * mx + x + 1] + KX[(y + 1) * mx + x + 1];
        ky[Y * cx + X] = KY[(y + 1) * mx + x] + KY[(y + 1) * mx + x + 1];
      }
    return {cx, cy, std::move(kx), std::move(ky)};
  }
};

// The preconditioner of the cell problem's conjugate gradients: one V-cycle of aggregation
// multigrid on the levels (2 damped-Jacobi sweeps before and after each coarse correction, a fixed
// number of sweeps on the coarsest level), a fixed linear and symmetric map, so the iteration stays
// conjugate gradients. Why: unpreconditioned CG on an n x n random lattice takes O(n) iterations
// (3234 at 480 x 480, log k ~ N(0, 0.5^2): 3.2-3.6 s on 2 cores); with the V-cycle 90 (0.76 s), and
// the count grows like sqrt(n) (49, 68, 90, 124 at n = 80, 160, 480, 960).
class CellMultigrid {
 public:
  explicit CellMultigrid(CellLevel fine) {
    // Only a table large enough to share among threads is coarsened: below that plain CG is about
    // as fast (80 x 80: 37 ms, with the V-cycle 23 ms), and RVE windows are small and many.
    const bool large = fine.threads();
    levels_.push_back(std::move(fine));
    while (large && levels_.back().mx % 2 == 0 && levels_.back().my % 2 == 0 && levels_.back().mx >= 8 &&
           levels_.back().my >= 8)
      levels_.push_back(levels_.back().coarser());
    if (!active()) return;  // plain CG: no V-cycle, no scratch
    for (const auto& l : levels_) {
      const std::size_t n = static_cast<std::size_t>(l.mx) * l.my;
      x_.emplace_back(n);
      r_.emplace_back(n);
      t_.emplace_back(n);
    }
  }
  const CellLevel& fine() const { return levels_.front(); }
  /// Whether there is a coarser level to precondition with (more than 4096 sites, both sides even
  /// and >= 8).
  bool active() const { return levels_.size() > 1; }
  /// z = the V-cycle's approximation of (-L)^-1 r.
  void apply(const std::vector<double>& r, std::vector<double>& z) {
    r_[0] = r;
    cycle(0);
    z = x_[0];
  }

 private:
  static constexpr double omega = 0.8;
  static constexpr int sweeps = 2, coarsest_sweeps = 60;

  void jacobi(std::size_t l, int count) {
    const auto& L = levels_[l];
    auto &x = x_[l], &r = r_[l], &t = t_[l];
    const int n = L.mx * L.my;
    for (int k = 0; k < count; ++k) {
      L.apply(x, t);
      each(L.threads(), n, [&](int i) { x[i] += omega * (r[i] - t[i]) / L.D[i]; });
    }
  }

  void cycle(std::size_t l) {
    std::fill(x_[l].begin(), x_[l].end(), 0.0);
    if (l + 1 == levels_.size()) {
      jacobi(l, coarsest_sweeps);
      return;
    }
    jacobi(l, sweeps);
    const auto& L = levels_[l];
    const auto& C = levels_[l + 1];
    L.apply(x_[l], t_[l]);
    // The residual summed over each aggregate (P^T), the coarse correction added to its sites (P).
    each(L.threads(), C.my, [&](int Y) {
      for (int X = 0; X < C.mx; ++X) {
        double s = 0;
        for (int dy = 0; dy < 2; ++dy)
          for (int dx = 0; dx < 2; ++dx) {
            const int i = (2 * Y + dy) * L.mx + 2 * X + dx;
            s += r_[l][i] - t_[l][i];
          }
        r_[l + 1][Y * C.mx + X] = s;
      }
    });
    cycle(l + 1);
    each(L.threads(), L.my, [&](int y) {
      for (int x = 0; x < L.mx; ++x) x_[l][y * L.mx + x] += x_[l + 1][(y / 2) * C.mx + x / 2];
    });
    jacobi(l, sweeps);
  }

  std::vector<CellLevel> levels_;
  std::vector<std::vector<double>> x_, r_, t_;  // per level: iterate, right-hand side, scratch
};

}  // namespace

CellSolution cell_solution(const Lattice2D& lat, CellSolver solver) {
  lat.tables().require_linear();
  const int mx = lat.tables().mx, my = lat.tables().my, n = mx * my;
  // The bonds once (Lattice2D::kx and ky wrap and place them on every call).
  std::vector<double> KX(n), KY(n);
  for (int y = 0; y < my; ++y)
    for (int x = 0; x < mx; ++x) {
      KX[y * mx + x] = lat.kx(x, y);
      KY[y * mx + x] = lat.ky(x, y);
    }
  CellMultigrid mg(CellLevel(mx, my, std::move(KX), std::move(KY)));
  const auto& L = mg.fine();
  const bool threads = L.threads(), precondition = solver == CellSolver::Multigrid && mg.active();
  CellSolution out;
  EffectiveTensor& D = out.D;
  double flux[2][2];  // flux[e][direction]
  for (int e = 0; e < 2; ++e) {
    const double ex = e == 0 ? 1.0 : 0.0, ey = 1.0 - ex;
    std::vector<double> b(n), phi(n, 0.0), r(n), z(precondition ? n : 0), p(n), Ap(n);
    for (int y = 0; y < my; ++y)
      for (int x = 0; x < mx; ++x) {
        const int i = y * mx + x, south = (y == 0 ? my - 1 : y - 1) * mx + x;
        b[i] = ex * (L.KX[i] - L.KX[y * mx + L.west[x]]) + ey * (L.KY[i] - L.KY[south]);
      }
    // (Preconditioned) conjugate gradients from phi = 0 to a residual of 1e-15 of b's. b sums to
    // zero, so the residuals stay mean-free; the preconditioner may add a constant to phi, which no
    // flux sees. Without one, z is r itself and r'r is summed in the update's pass.
    r = b;
    if (precondition) mg.apply(r, z);
    const std::vector<double>& Z = precondition ? z : r;
    p = Z;
    const double bb = sum(threads, n, [&](int i) { return b[i] * b[i]; });
    double rr = bb, rz = precondition ? sum(threads, n, [&](int i) { return r[i] * z[i]; }) : bb;
    int it = 0;
    for (; it < 10 * n + 100 && rr > 1e-30 * bb && rr > 0; ++it) {
      L.apply(p, Ap);
      const double pAp = sum(threads, n, [&](int i) { return p[i] * Ap[i]; });
      if (!(pAp > 0))
        throw RunError("the 2D cell problem's conjugate gradients broke down (p'Ap = " + std::to_string(pAp) + ")");
      const double alpha = rz / pAp;
      rr = sum(threads, n, [&](int i) {
        phi[i] += alpha * p[i];
        r[i] -= alpha * Ap[i];
        return r[i] * r[i];
      });
      double rz_new = rr;
      if (precondition) {
        mg.apply(r, z);
        rz_new = sum(threads, n, [&](int i) { return r[i] * z[i]; });
      }
      const double beta = rz_new / rz;
      each(threads, n, [&](int i) { p[i] = Z[i] + beta * p[i]; });
      rz = rz_new;
    }
    D.iterations = std::max(D.iterations, it);
    // The true residual, not the recurrence's: 1e-15 to 1e-12 of b's where CG converged (bonds
    // spanning 1e9 included); where it did not, 1.3e-7 (log k ~ N(0, 5^2) on 128 x 128, plain CG at
    // its cap of 10 n iterations) up to 227 (N(0, 6^2) on 16 x 16 windows, whose recurrence had
    // reached 1e-15 in round-off). What looks finished must not be wrong.
    L.apply(phi, Ap);
    const double left = sum(threads, n, [&](int i) { return (b[i] - Ap[i]) * (b[i] - Ap[i]); });
    const double res = bb > 0 ? std::sqrt(left / bb) : std::sqrt(left);  // b = 0: a laminate across e
    if (!(res <= 1e-8)) {
      const auto [lo, hi] = std::minmax_element(L.KX.begin(), L.KX.end());
      throw RunError(
          fmt::format("the 2D cell problem's conjugate gradients did not converge: residual {:.3g} of the "
                      "right-hand side's after {} iterations (x-bonds from {:.3g} to {:.3g})",
                      res, it, *lo, *hi));
    }
    double fx = 0, fy = 0;
    for (int y = 0; y < my; ++y)
      for (int x = 0; x < mx; ++x) {
        const int i = y * mx + x, north = (y + 1 == my ? 0 : y + 1) * mx + x;
        fx += L.KX[i] * (ex + phi[y * mx + L.east[x]] - phi[i]);
        fy += L.KY[i] * (ey + phi[north] - phi[i]);
      }
    flux[e][0] = fx / n;
    flux[e][1] = fy / n;
    out.phi[e] = std::move(phi);
  }
  D.xx = flux[0][0];
  D.yy = flux[1][1];
  D.xy = 0.5 * (flux[1][0] + flux[0][1]);
  D.asymmetry = std::abs(flux[1][0] - flux[0][1]);
  if (!(D.xx > 0 && D.yy > 0 && D.xx * D.yy > D.xy * D.xy))
    throw RunError("the 2D cell problem gave a tensor that is not positive definite");
  return out;
}

EffectiveTensor effective_tensor(const Lattice2D& lat, CellSolver solver) { return cell_solution(lat, solver).D; }

}  // namespace patchlearn
