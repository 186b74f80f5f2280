#pragma once
// The `simulate` job: coarse data from the configured scheme (patch dynamics, gap-tooth or full
// resolution), the homogenized truth on the same nodes and times, and the data.h5 that stores both.
#include <functional>
#include <string>

#include "patchlearn/cli/chunks.hpp"
#include "patchlearn/core/device.hpp"
#include "patchlearn/homog/homogenized1d.hpp"
#include "patchlearn/io/config.hpp"
#include "patchlearn/schemes/coarse_operator.hpp"

namespace patchlearn {

struct Simulation1D {
  CoarseData data;          ///< the scheme's U and dU/dt
  HomogenizedTruth truth;   ///< U_hom, dUdt_hom on the same nodes and times
  double a_star = 0.0;      ///< from the cell problem on the micro lattice
  double wall_s = 0.0;      ///< wall time of the scheme alone
  double rmse_vs_homogenized = 0.0;
  /// Patch dynamics only: the fine field in every patch of trajectory 0 after the burst that starts
  /// at the sample time fine_t nearest 0.05 (paper Fig. 2), and its positions: [patch][point].
  double fine_t = 0.0;
  std::vector<double> fine_x, fine_u;
};

/// The cell-problem a* for the configured medium on its micro lattice (eps/dx points per period,
/// or 1000 when eps/dx is not a whole number).
double cell_a_star(const Config1D& cfg);

/// Run the configured scheme; `progress(fraction)` is called as it goes (may be empty). With
/// `chunks`, trajectories run chunk by chunk, each committed to disk (cli/chunks.hpp: resumable).
Simulation1D simulate_1d(const Config1D& cfg, Device device, const std::function<void(double)>& progress = {},
                         const ChunkedRun* chunks = nullptr);

/// Write DIR/data.h5 (atomically).
void write_data_h5(const std::string& path, const Config1D& cfg, const Simulation1D& sim, Device device);

}  // namespace patchlearn
