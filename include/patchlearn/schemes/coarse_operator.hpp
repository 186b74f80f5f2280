#pragma once
// The one abstraction every way of knowing the macro dynamics shares: a coarse operator maps macro
// states U[batch][M] (values at the macro nodes, in the memory of the operator's device) to
// dU/dt[batch][M]. The two end nodes carry fixed Dirichlet values, so their rate is 0. Patch
// dynamics, gap-tooth, the effective (homogenized) PDE, learned networks and the regression's
// discovered equation are coarse operators; the integrators of schemes/integrators.hpp serve them
// all alike, on the operator's device, so coarse data produced on a GPU stay there.
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "patchlearn/coeff/field.hpp"
#include "patchlearn/core/buffer.hpp"
#include "patchlearn/core/defs.hpp"

namespace patchlearn {

/// The macro states a coarse operator is defined on (a u-dependent medium's tabulated range) and
/// the config key that sets them; unbounded by default.
struct StateRange {
  URange range;
  std::string key;
  bool bounded() const {
    return range.lo > -std::numeric_limits<double>::infinity() || range.hi < std::numeric_limits<double>::infinity();
  }
};

class CoarseOperator {
 public:
  virtual ~CoarseOperator() = default;
  virtual int nodes() const = 0;
  /// Where rhs is defined. rhs does not check its input against it: integrate_coarse watches
  /// every state it evaluates on the device (BadValueWatch), without a host copy per call.
  virtual StateRange state_range() const { return {}; }
  /// The device whose memory U and dUdt live in.
  virtual Device device() const { return Device::CPU; }
  /// dUdt = F(U) for `batch` states; both arrays hold batch * nodes() values.
  virtual void rhs(const double* U, double* dUdt, index_t batch) = 0;
  /// J[b][i][j] = dF_i/dU_j at each of `batch` states (batch * nodes()^2 values on the device), for
  /// implicit integrators. By default forward differences: one batched rhs per node, each node
  /// moved by kernels::coarse_difference_step. Operators with an exact Jacobian override it.
  virtual void jacobian(const double* U, double* J, index_t batch);
  /// Fine point-steps spent so far (0 for operators without a fine model).
  virtual double point_steps() const { return 0.0; }
};

/// Coarse data on the macro grid: U and dU/dt as [trajectory][time][node], in one allocation each
/// on the device that produced them (t stays on the host).
struct CoarseData {
  index_t trajectories = 0, times = 0, nodes = 0;
  std::vector<double> t;
  Buffer<double> U, dUdt;
  double point_steps = 0.0;

  CoarseData() = default;
  CoarseData(Device dev, index_t trajectories, index_t times, index_t nodes);
  /// Wrap host arrays (moved onto `dev`).
  static CoarseData from_host(Device dev, index_t trajectories, std::vector<double> t, index_t nodes,
                              const std::vector<double>& U, const std::vector<double>& dUdt, double point_steps);
  Device device() const { return U.device(); }
  std::vector<double> host_U() const { return U.to_host(); }
  std::vector<double> host_dUdt() const { return dUdt.to_host(); }
};

/// A watch over batched values for the first that is not finite or lies outside a range, kept in
/// the values' device memory so that an integrator need not wait for the device at every step:
/// look() is one pass queued behind the work that made the values (kernels::mark_bad_values),
/// recording the earliest bad (look, index) of each kind; found() reads the record back, one
/// synchronisation, which the integrators do every `check_every` looks (run.check_every) and at
/// the end. Work after a bad value still runs until that check (NaNs propagate through the fixed
/// steps of the patch schemes; nothing loops on them) but is never returned.
class BadValueWatch {
 public:
  /// A watch over arrays of `count` values on `dev`.
  BadValueWatch(Device dev, index_t count);
  /// Looks at x[0 .. count) as look number n (n = 0, 1, ... in order; a later look never hides
  /// an earlier one's bad value), against [lo, hi] for the `outside` kind.
  void look(const double* x, index_t n, double lo = -std::numeric_limits<double>::infinity(),
            double hi = std::numeric_limits<double>::infinity());
  struct Found {
    index_t look = 0, index = 0;
    bool outside = false;  ///< finite but outside [lo, hi]; otherwise not finite
  };
  /// The earliest look's bad value, if any (an outside value before a non-finite one of the same
  /// look: the range is the cause there). Waits for the device.
  std::optional<Found> found() const;

 private:
  index_t count_;
  Buffer<unsigned long long> first_;  ///< [not finite, outside]: least look * count + index
};

}  // namespace patchlearn

namespace patchlearn {
/// Relative mean squared error of paper eq. (24): sum |v - ref|^2 / sum |ref - mean(ref)|^2.
double relative_mse(const std::vector<double>& v, const std::vector<double>& ref);
}  // namespace patchlearn
