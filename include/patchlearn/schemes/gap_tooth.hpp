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
// A nonlinear medium steps by linearly implicit Euler (kernels/nonlinear.hpp) with the same edge
// rows; its tooth averages must stay inside medium.u_range (a RunError naming trajectory, node
// and time otherwise).
#include <functional>
#include <memory>
#include <vector>

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
  void step(const std::vector<double>& Umacro);
  PatchLayout1D teeth_;
  GapToothParams params_;
  Device device_;
  index_t batch_, m_;
  PatchMedium1D medium_;
  Buffer<double> y_, work_, left_, right_, out_;
  /// A random medium: a*_t <1/a> at the left and right edges of each tooth (above); empty otherwise.
  std::vector<double> edge_left_, edge_right_;
  double t_ = 0.0;  ///< the time of the teeth's state
  double dx2_;
  std::unique_ptr<kernels::BatchedTridiag> solver_;
  double point_steps_ = 0.0;
};

}  // namespace patchlearn
