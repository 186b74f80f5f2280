#pragma once
// Gap-tooth scheme in 1D (paper eqs. 7-9): the fine model runs continuously in teeth of width h
// at the interior macro nodes, without buffers. The macro field is taken to be the quadratic
// p_i(x) whose box averages over teeth i-1, i, i+1 equal the tooth averages U (paper eq. 8); its
// slope couples the teeth. Following eq. (9) the tooth-edge condition prescribes the fine gradient
// averaged over one period of the medium next to each edge:
//     (u_{n-1} - u_{n-1-m}) / (m dx) = p_i'(x_i + h/2 - m dx/2),
//     (u_m - u_0) / (m dx)           = p_i'(x_i - h/2 + m dx/2),        m = eps / dx,
// (exact for the quadratic p, whose slope is linear). Averaging over a whole period is what makes
// the condition consistent with the homogenized flux a* p' instead of the local a(edge) p'.
// The edge rows are algebraic and enter the implicit matrix as rows coupled m columns away.
// Steps are backward Euler of length dt; the slopes are recomputed from the current tooth
// averages before every step. The reported dU/dt is the rate of the tooth averages over the
// step that starts at the sample time.
// A random medium (no period) has no period to average over: there the teeth start from the
// initial condition lifted with each tooth's own corrector (kernels::lift_corrector), and the edge
// condition prescribes the rise over the m points next to each edge that this corrector gives,
//     u_m - u_0 = p_i' m dx a*_t <1/a>_edge,
// a*_t the tooth's harmonic mean and <1/a>_edge the mean of 1/a over those m bonds, so the edge
// flux is a*_t p_i' (on a periodic medium the factor a*_t <1/a> over one period is 1: eq. 9).
// Inside a tooth the field settles to the profile whose bond fluxes are a*_t p' (a u_x = a* p'
// at every bond, the quasi-steady state of a rate uniform over the tooth), whose rise over an edge
// period [x0, x1] of centre x_e is
//     (x1 - x0) [p'(x_e) a*<1/a> + p''(x_e) a*<(x - x_e)/a>]        (means over its m bonds),
// p''(x_e) = p_i'' -+ (h - eps) / 2 U_xxx (U_xxx from the five nearest nodes, none next to a
// boundary). The edge rows hold both terms; on a periodic medium a*<(x - x_e)/a> is (chi(x0) +
// chi(x1)) / 2 of the corrector chi (chi' = a*/a - 1, period mean 0), on one of constant cells
// 0 (a nonlinear medium's is a(y, u)'s at the tooth's average, from series in u). Without the
// second term the teeth's rates carry a spurious s a* U_xxx, s that term: on an asymmetric laminate
// (a = 0.6 on 17 of a period's 50 bonds, 2.2 on the rest, eps = 1e-3) s = 0.157 eps, every node's
// rate 1e-3 off the exact coarse operator's (eq. 24 1.3e-6) and a drift of 0.2 fitted as 0.196.
// A nonlinear medium steps by linearly implicit Euler (kernels/nonlinear.hpp) with the same edge
// rows; its tooth averages must stay inside medium.u_range (a RunError naming trajectory, node and
// time otherwise).
#include <array>
#include <functional>
#include <memory>
#include <vector>

#include "patchlearn/coeff/chebyshev.hpp"
#include "patchlearn/core/buffer.hpp"
#include "patchlearn/kernels/batched.hpp"
#include "patchlearn/micro/diffusion1d.hpp"
#include "patchlearn/patch/layout1d.hpp"
#include "patchlearn/schemes/coarse_operator.hpp"
#include "patchlearn/schemes/patch_medium.hpp"

namespace patchlearn {

struct GapToothParams {
  double dt = 1e-5;        ///< fine (and coupling) step
  index_t chunk_len = -1;  ///< tridiagonal partition (-1: backend default)
};

class GapTooth1D {
 public:
  /// `teeth` gives the macro grid and tooth width; its buffer width is ignored (teeth only).
  GapTooth1D(const FineModel1D& model, const PatchLayout1D& teeth, const GapToothParams& params, Device device,
             index_t batch);

  /// Simulate the initial conditions to the sample times (multiples of dt).
  CoarseData run(const std::vector<std::function<double(double)>>& ics, const std::vector<double>& times,
                 const std::function<void(double)>& progress = {});
  double point_steps() const { return point_steps_; }

 private:
  std::vector<double> tooth_averages();
  /// Means over the m bonds of a tooth's left and right edge periods (x_e each one's centre): the
  /// flux factor a* <1/a> and the corrector's term a* <(x - x_e)/a> (above), for a tooth with bonds
  /// a[0 .. n-2] and harmonic mean a_star (0: a periodic medium's, over one period).
  struct EdgeMeans {
    std::array<double, 2> flux, chi;
  };
  EdgeMeans edge_means(const double* a, double a_star) const;
  /// U_xxx at node i of a macro state U[M] by the 5-point difference; 0 next to a boundary, whose
  /// pinned value the corrected tooth averages beside it do not continue (a one-sided difference
  /// through it doubled those teeth's error on the laminate of the header).
  double third_difference(const double* U, int M, int i) const;
  void step(const std::vector<double>& Umacro);
  PatchLayout1D teeth_;
  GapToothParams params_;
  Device device_;
  index_t batch_, m_;
  PatchMedium1D medium_;
  Buffer<double> y_, work_, left_, right_, out_;
  /// A random medium: a*_t <1/a> at the left and right edges of each tooth (above); empty otherwise.
  std::vector<double> edge_left_, edge_right_;
  /// Each tooth's a*<(x - x_e)/a> over its left (series 2p) and right (2p + 1) edge periods
  /// (above), series in u of one term where it does not depend on u.
  ChebyshevTable edge_chi_;
  double t_ = 0.0;  ///< the time of the teeth's state
  double dx2_;
  std::unique_ptr<kernels::BatchedTridiag> solver_;
  double point_steps_ = 0.0;
};

}  // namespace patchlearn
