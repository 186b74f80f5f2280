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
// Steps are backward Euler of length dt. The teeth are quasi-steady, so they end a step on the
// profile its edges set: before every step the edges are recomputed from the tooth averages
// extrapolated to the step's end, 2 U^k - U^(k-1), and the reported dU/dt is the rate of the tooth
// averages over the step that ends at the sample time (at t = 0, over the first step, from U^0).
// With the edges from U^k instead, the rate pairs the level at the step's end with slopes of its
// start: exact on a linear medium, whose flux ignores the level, first order in dt on a
// u-dependent one (dt a*(U) a*'(U) U_xx^2 + ...: 1e-5 of the rates at dt = 1e-5 on the laminate
// times 1 - 0.2u + 0.05u^2 below).
// A random medium (no period) has no period to average over: there the teeth start from the
// initial condition lifted with each tooth's own corrector (kernels::lift_corrector), and the edge
// condition prescribes the rise over the m points next to each edge that this corrector gives,
//     u_m - u_0 = p_i' m dx a*_t <1/a>_edge,
// a*_t the tooth's harmonic mean and <1/a>_edge the mean of 1/a over those m bonds, so the edge
// flux is a*_t p_i' (on a periodic medium the factor a*_t <1/a> over one period is 1: eq. 9).
// Inside a tooth the field settles to the profile whose bond fluxes are a*_t p' (a u_x = a* p'
// at every bond, the quasi-steady state of a rate uniform over the tooth). The flux q = a u_x
// still varies over an edge period [x0, x1] of centre x_e, by q' = u_t there, so the rise is
//     (x1 - x0) [p'(x_e) a*<1/a> + (q'(x_e) / a*) a*<(x - x_e)/a>]        (means over its m bonds).
// The edge rows hold both terms; on a periodic medium a*<(x - x_e)/a> is (chi(x0) + chi(x1)) / 2
// of the corrector chi (chi' = a*/a - 1, period mean 0), on one of constant cells 0. Without the
// second term the teeth's rates carry a spurious s a* U_xxx, s that term: on an asymmetric laminate
// (a = 0.6 on 17 of a period's 50 bonds, 2.2 on the rest, eps = 1e-3) s = 0.157 eps, every node's
// rate 1e-3 off the exact coarse operator's (eq. 24 1.3e-6) and a drift of 0.2 fitted as 0.196.
// What u_t is at x_e follows from how the teeth move: each tooth follows the quadratic through its
// neighbours, whose slope changes as the neighbours' rates differ, so u_t(x_e) = rate -+ (h - eps)
// / 2 (rate_{i+1} - rate_{i-1}) / 2 DX, a held boundary value's rate being 0. On a linear medium
// the rates are a* D2 (3-point), and q'(x_e) / a* = D2 -+ (h - eps) / 2 (D2_{i+1} - D2_{i-1}) / 2 DX,
// the 5-point U_xxx between teeth; next to a boundary D2_0 = 0 (any difference through the held
// value instead, or none, left those teeth 1e-3 of their rates off).
// A u-dependent medium (a(y, u) from series, periodic or graded) needs more: q' = u_t - c u_x - r
// and a(y, u) varies over the period, u = u_e + s psi (u_e the period's mean, s = p'(x_e), psi the
// ramp and corrector: psi' = a*/a, period mean 0), so the period conducts with a*(u_e) (1 + s
// a*<(a_u / a^2) psi>). Its rates hold 3 a*' U_x U_xx + a*'' U_x^3 besides a* U_xxx, which
// differences of the state do not give as the rates themselves do: its edge rows take the teeth's
// rates over the last step, each period's rise
//     (x1 - x0) [s - a*<(a_u / a^2) psi> s^2 + a*<(x - x_e)/a> (u_t(x_e) - c* s - r*) / a*],
// c* and r* the drift's and reaction's period means, every mean at u_e from series in u per edge
// (the first step, without rates yet, takes the linear form). Without them the teeth's rates carry
// 3 a*<(x - x_e)/a> a*'(U) U_x U_xx: on the laminate above times 1 - 0.2u + 0.05u^2, 1e-4 of the
// rates at the interior nodes.
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
  /// The slope at node i of a macro state U[M] of the teeth's curvatures D2 (3-point), 0 at a
  /// boundary: how fast tooth i's slope changes, the teeth's rates being a* D2 and a held
  /// boundary's 0 (header). The 5-point U_xxx between teeth.
  double curvature_slope(const double* U, int M, int i) const;
  /// One step of the teeth, their edges set from the macro state Umacro ([batch][M]); `rates`: the
  /// teeth's rates over the last step ([batch][M], 0 at the boundaries; empty before the first).
  void step(const std::vector<double>& Umacro, const std::vector<double>& rates);
  /// edge_nl_ from the nonlinear medium's tables on the teeth's windows.
  void tabulate_nonlinear_edges(const MediumSeries& tables);
  /// The rise over edge period k (2p left, 2p + 1 right of tooth p, side -1 or +1) of a u-dependent
  /// medium (above), for a tooth with average u, 3-point differences D and rate rho with slope rho_x.
  double nonlinear_rise(index_t k, int side, double u, const double* D, double rho, double rho_x) const;
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
  /// A u-dependent medium's other edge means (above), per edge period as edge_chi_, series in u:
  /// 1/a*, the conductance's shift with the slope a*<(a_u / a^2) psi>, and with a drift or a
  /// reaction their means c* = a*<c/a> and r* (empty tables without them). Empty otherwise.
  struct NonlinearEdges {
    ChebyshevTable inv_a_star, conductance_shift, drift, reaction;
  };
  NonlinearEdges edge_nl_;
  double t_ = 0.0;  ///< the time of the teeth's state
  double dx2_;
  std::unique_ptr<kernels::BatchedTridiag> solver_;
  double point_steps_ = 0.0;
};

}  // namespace patchlearn
