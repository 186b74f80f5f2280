#pragma once
// Memory a run needs, estimated from its config before anything is allocated, so that `validate`
// refuses a size that can only end in an out-of-memory failure (hours in, or at once with a
// std::bad_alloc). The estimate is a lower bound: the arrays named here are certainly allocated
// together, and the solvers' work arrays come on top.
#include <string>
#include <utility>
#include <vector>

#include "patchlearn/core/device.hpp"

#include "patchlearn/io/config.hpp"
#include "patchlearn/io/config2d.hpp"

namespace patchlearn {

/// The chunks (first, count) a resumable simulation of `trajectories` commits (pipeline/chunks.hpp):
/// `chunk` each where given (> 0), kept as asked; by default a tenth of them on the CPU (its cost is
/// linear in them, so an interruption loses little) but at least `floor` (SharedConfig::chunk_floor)
/// and at least `least` (SharedConfig::chunk_least), all at once on a GPU (which needs the whole
/// batch to fill the chip), the last chunk taking any remainder smaller than `least`. Never
/// dependent on the rank or thread count.
std::vector<std::pair<index_t, index_t>> chunk_spans(index_t trajectories, int chunk, int least, int floor,
                                                     Device device);
/// The fewest trajectories of a default chunk of the patch schemes on the CPU (SharedConfig::chunk_floor):
/// fewer leave its lanes and threads idle.
/// 1D patch dynamics steps the patches of one matrix eight trajectories at a time in the lanes of an
/// AVX-512 vector, four with AVX2 (kernels::BatchedTridiag::fused_steps: quick1d's simulate took
/// 3.5 s in chunks of one trajectory, 2.0 s in one chunk with AVX2; with AVX-512 3.4-3.5 s in
/// chunks of 4, 2.2-2.6 s in chunks of 8); 2D gap-tooth shares a chunk's trajectories among the
/// threads (nonlinear2d's medium at the paper's geometry, 10 trajectories: 7.9 s in chunks of one,
/// 4.4 s in one). One floor for every CPU, so that a run's chunks do not depend on the machine.
constexpr int kCpuChunkFloor = 8;

/// Bytes of the coarse data set (U, dU/dt and the homogenized truth's U and dU/dt, all
/// trajectories) and of one fine state of the trajectories simulated together (a chunk).
struct Footprint {
  double coarse_bytes = 0.0, fine_bytes = 0.0;
  double total() const { return coarse_bytes + fine_bytes; }
};
Footprint footprint_1d(const Config1D& c);
Footprint footprint_2d(const Config2D& c);

/// Physical memory of this machine in bytes (0 when unknown).
double physical_memory_bytes();

/// ConfigError when the coarse data exceed this machine's physical memory, or (without a GPU,
/// which could hold the fine state) coarse data and fine state together do; under `coarse_key`
/// or `fine_key` for whichever part is larger.
void check_fits_in_memory(const Footprint& need, const std::string& coarse_key, const std::string& fine_key);

}  // namespace patchlearn
