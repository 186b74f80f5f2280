#pragma once
// One committed chunk of a resumable simulation (pipeline/chunks.hpp): trajectories
// [first, first + count) of a run and their truth, with the identity of the config that made them
// and a checksum of every dataset, so that a chunk from another config, a chunk copied over another
// or a damaged chunk is refused on resume with a message naming the file.
#include <string>
#include <vector>

#include "patchlearn/core/defs.hpp"

namespace patchlearn {

struct ChunkFile {
  index_t first = 0, count = 0, times = 0, nodes = 0;
  std::vector<double> U, dUdt, t;           ///< U, dUdt: [count, times, nodes]
  std::vector<double> truth_U, truth_dUdt;  ///< the same trajectories' truth, like U (or none)
  std::string truth_identity;               ///< config_identity of the truth's settings (io/identity.hpp)
  double point_steps = 0.0, wall_s = 0.0;
};

/// Write `c` durably to `path`; `identity` is config_identity() of the run's config and
/// `config_text` is stored beside it for people.
void write_chunk_file(const std::string& path, const ChunkFile& c, const std::string& identity,
                      const std::string& config_text);

/// Read the chunk at `path` that should hold trajectories [first, first + count) of a run with
/// `identity`, and their truth where `truth`; InputError naming the file (and `dir`, the chunk
/// folder, in the remedy) when it is damaged, incomplete, from another config or holds other
/// trajectories.
ChunkFile read_chunk_file(const std::string& path, index_t first, index_t count, const std::string& identity,
                          const std::string& dir, bool truth = true);

}  // namespace patchlearn
