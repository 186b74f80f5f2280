#pragma once
// The oracle of the 1D patch-dynamics estimate: the effective PDE's rate along the lift, averaged
// over the tooth. The lift through node i is the quadratic p whose tooth averages (width h) are
// U_{i-1}, U_i, U_{i+1} (exact for Simpson's averages); the estimate must be the tooth average of
// rate(x, p, p', p'') along it, to the scheme's biases (estimate_error). Also the graded u-dependent medium whose
// local coefficients have closed forms (test_graded, and test_nonlinear on every device).
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "patchlearn/coeff/field.hpp"
#include "patchlearn/core/buffer.hpp"
#include "patchlearn/micro/diffusion1d.hpp"
#include "patchlearn/patch/layout1d.hpp"
#include "patchlearn/schemes/patch_dynamics.hpp"

namespace patchlearn::testing_support {

/// The effective rate at x of a state with value p and derivatives p1, p2 there.
using LiftRate = std::function<double(double x, double p, double p1, double p2)>;

/// Tooth average (Simpson over 401 points) of rate along the lift through node i (at x = i dX) of
/// the macro state U.
inline double tooth_average_along_lift(const double* U, int i, double dX, double h, const LiftRate& rate) {
  const double c2 = (U[i + 1] - 2 * U[i] + U[i - 1]) / (2 * dX * dX), c1 = (U[i + 1] - U[i - 1]) / (2 * dX);
  const double c0 = U[i] - c2 * h * h / 12;
  const int n = 401;
  double acc = 0;
  for (int q = 0; q < n; ++q) {
    const double z = -0.5 * h + h * q / (n - 1);
    const double w = (q == 0 || q == n - 1) ? 1.0 : (q % 2 ? 4.0 : 2.0);
    acc += w * rate(i * dX + z, c0 + c1 * z + c2 * z * z, c1 + 2 * c2 * z, 2 * c2);
  }
  return acc / (3.0 * (n - 1));
}

// max |estimate - reference| / max |reference| of patch dynamics with `p` on `model` and `layout`
// (first node at x = 0), on `dev`, at the interior nodes of the macro states U[b][M]; the
// reference is the tooth average of `rate` along the lift (lift_oracle.hpp).
inline double estimate_error(const FineModel1D& model, const PatchLayout1D& layout, const PatchDynamicsParams& p,
                             const std::vector<double>& U, const LiftRate& rate, Device dev = Device::CPU) {
  const int M = layout.macro_nodes;
  const index_t batch = static_cast<index_t>(U.size()) / M;
  const Buffer<double> Ud(dev, U);
  Buffer<double> Rd(dev, U.size());
  PatchDynamics1D(model, layout, p, dev, batch).rhs(Ud.data(), Rd.data(), batch);
  const auto R = Rd.to_host();
  double err = 0, scale = 0;
  for (index_t b = 0; b < batch; ++b)
    for (int i = 1; i < M - 1; ++i) {
      const double ref = tooth_average_along_lift(U.data() + b * M, i, layout.macro_dx, layout.tooth_width, rate);
      err = std::max(err, std::abs(R[b * M + i] - ref));
      scale = std::max(scale, std::abs(ref));
    }
  return err / scale;
}

// The graded u-dependent medium, a = (1 + x)(1 + u^2/2)(1.1 + sin 2 pi y),
// c = u (0.5 + x)(2 + sin 2 pi y), r = (1 + x sin 2 pi y)(u - u^3):
//   a*(x, u) = (1 + x)(1 + u^2/2) sqrt(0.21),
//   c*(x, u) = a* <c/a> = u (0.5 + x) <(2 + sin)/(1.1 + sin)> / <1/(1.1 + sin)>,
//   r*(x, u) = u - u^3 (<sin> = 0).
// (A drift with cos instead would carry an O(eps) correction of 7e-5 of the rate here, which the
// effective PDE lacks: test_nonlinear, AHeterogeneousDriftCarriesAnOrderEpsilonCorrection...)
inline constexpr const char* kGradedU = "(1 + x) * (1 + 0.5*u^2) * (1.1 + sin(2*pi*y))";
inline constexpr const char* kGradedDrift = "u * (0.5 + x) * (2 + sin(2*pi*y))";
inline constexpr const char* kGradedReaction = "(1 + x*sin(2*pi*y)) * (u - u^3)";

inline double graded_a_closed(double x, double u) { return (1 + x) * (1 + 0.5 * u * u) * std::sqrt(0.21); }
// <(2 + sin)/(1.1 + sin)> / <1/(1.1 + sin)> by the midpoint rule, geometric for these smooth periodic
// integrands: round-off at 4000 points.
inline double graded_drift_ratio() {
  double num = 0, den = 0;
  const int n = 4000;
  for (int j = 0; j < n; ++j) {
    const double y = (j + 0.5) / n;
    num += (2 + std::sin(2 * M_PI * y)) / (1.1 + std::sin(2 * M_PI * y));
    den += 1 / (1.1 + std::sin(2 * M_PI * y));
  }
  return num / den;
}
inline double graded_c_closed(double x, double u) { return u * (0.5 + x) * graded_drift_ratio(); }
inline double graded_r_closed(double u) { return u - u * u * u; }

/// The medium on the unit domain, at eps = 1e-3.
inline CoefficientField graded_u_medium(URange r = {-2.5, 2.5}) {
  return CoefficientField::expression(kGradedU, r, "medium.u_range", 1e-3, 1.0)
      .with_terms(kGradedDrift, kGradedReaction, r);
}

/// The effective rate of the graded u-dependent medium along a state:
///   a*(x, p) p'' + d_u a*(x, p) p'^2 + d_x a*(x, p) p' + c*(x, p) p' + r*(x, p).
inline double graded_u_effective_rate(double x, double v, double v1, double v2) {
  const double s21 = std::sqrt(0.21);
  return graded_a_closed(x, v) * v2 + (1 + x) * v * s21 * v1 * v1 + (1 + 0.5 * v * v) * s21 * v1 +
         graded_c_closed(x, v) * v1 + graded_r_closed(v);
}

}  // namespace patchlearn::testing_support
