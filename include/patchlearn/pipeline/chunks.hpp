#pragma once
// Resumable simulations. Trajectories are simulated in chunks and each finished chunk, with its
// trajectories' truth, is committed to DIR/data.h5.chunks/ as its own HDF5 file (written as
// .partial and renamed, so a killed run leaves only whole chunks). With `resume`, chunks already there are read back
// instead of simulated, after checking (io/chunk_file.hpp) that they are undamaged, hold the trajectories their names
// say and were made from a config with the same settings that affect the data; data.h5 is assembled at the end and the
// folder removed. Chunks are computed independently of each other, so a resumed run's data are bit-identical to an
// uninterrupted run's. With several MPI ranks (pipeline/ranks.hpp) chunk i is rank i mod N's; the chunk size never
// depends on N, so the chunks, and the data, are the same for any N, and any rank count resumes any other's chunks.
#include <functional>
#include <string>

#include "patchlearn/homog/homogenized1d.hpp"
#include "patchlearn/pipeline/observer.hpp"
#include "patchlearn/schemes/coarse_operator.hpp"

namespace patchlearn {

/// Trajectories [first, first + count) simulated (CoarseData: U, dU/dt at the sample times t) and
/// what they are scored against (the homogenized or effective-PDE truth at the same times).
using SimulateChunk =
    std::function<CoarseData(index_t first, index_t count, const std::function<void(double)>& progress)>;
using TruthOfChunk = std::function<HomogenizedTruth(index_t first, index_t count, const std::vector<double>& t)>;

/// The whole data set and its truth, [trajectories, times, nodes] like the data.
struct ChunkedData {
  CoarseData data;
  HomogenizedTruth truth;
};

struct ChunkedRun {
  std::string dir;  ///< DIR/data.h5.chunks
  bool resume = false;
  int chunk = 0;  ///< trajectories per chunk (0: the default of io/footprint.hpp: chunk_spans)
  int least = 1;  ///< SharedConfig::chunk_least: with the default size no chunk, not even the last, holds fewer
  int floor = 1;  ///< SharedConfig::chunk_floor: the fewest of a default chunk on the CPU
};

/// compute(first, count, progress) simulates trajectories [first, first + count) and truth(first,
/// count, t) gives their truth, on the rank that simulates them (so the truth of an ensemble is
/// spread over the ranks like its simulation, and a resumed run reads it back); the result is the
/// whole data set on `device` (t from the chunks, point_steps summed) and its truth on the host.
/// An empty `truth` gives no truth (for one whose cost does not shrink with the trajectories, which
/// the caller computes for the whole set at once). A TrajectoryError that either numbers within its
/// batch is renumbered to the run's trajectory.
/// `wall_s` receives the summed simulation time of all chunks (the truth not included), including
/// those read back. Without `chunks`: one compute(0, trajectories), its truth, and nothing on disk.
/// With several ranks, rank 0 returns the whole set once every rank has committed its chunks, and
/// the others throw ShareCommitted; a failure on any rank is a RankFailure on all. The progress
/// over all ranks is reported as `stage`; with fewer chunks than ranks, a warning says which
/// setting gives every rank work.
ChunkedData run_in_chunks(const ChunkedRun* chunks, const std::string& config_text, index_t trajectories, Device device,
                          const SimulateChunk& compute, const TruthOfChunk& truth, Observer& observer,
                          const std::string& stage, double& wall_s);

/// Remove the chunk folder (after data.h5 is committed).
void remove_chunks(const ChunkedRun& run);

}  // namespace patchlearn
