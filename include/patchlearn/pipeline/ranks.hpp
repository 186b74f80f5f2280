#pragma once
// MPI ranks. Started by an MPI launcher (mpirun, srun) in a build with MPI (PATCHLEARN_MPI), the
// program is one of N ranks. `simulate` and `run` divide their trajectories among them by
// committed chunk (pipeline/chunks.hpp: chunk i is rank i mod N's), each rank on its own GPU
// (node-local rank modulo the visible devices) or its share of the node's CPU cores; rank 0 reads
// every chunk back into data.h5, bit-identical to a serial run's, and alone trains, evaluates and
// reports, while the others end after their share. A failure on any rank ends every rank: where
// the ranks meet (`together`) each learns whether one failed, and all throw the same RankFailure.
// Without MPI, or started without a launcher, there is one rank and nothing changes.
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>

namespace patchlearn {

/// Starts MPI when the process was started by an MPI launcher (and then takes this rank's GPU
/// and share of the CPU cores), and ends it when destroyed: one per program, held by main().
class RankSession {
 public:
  RankSession(int& argc, char**& argv);
  ~RankSession();
  RankSession(const RankSession&) = delete;
  RankSession& operator=(const RankSession&) = delete;
};

/// This process's rank, and how many there are (0 and 1 without MPI).
int rank();
int rank_count();

/// The failure of one rank, thrown on every rank: "rank R: its message" (the message alone when
/// every rank failed alike, as with a bad config); `kind` and `status` are what that rank's error
/// would have been alone ("config error", "input error" or "error"; exit status 2, 2 or 1).
struct RankFailure : std::runtime_error {
  RankFailure(const std::string& what, std::string kind, int status)
      : std::runtime_error(what), kind(std::move(kind)), status(status) {}
  std::string kind;
  int status;
};

/// Runs `work` on this rank and waits for every rank to have run its own: when any failed, every
/// rank throws the RankFailure of the lowest failed rank. With one rank, `work`'s own exception
/// passes unchanged.
void together(const std::function<void()>& work);

/// Ends every rank at once with exit `status` (MPI_Abort), for a failure away from the places
/// where the ranks meet, when the others may be waiting for this one. Nothing with one rank.
void abort_ranks(int status);

/// Thrown on ranks other than 0 once their share of the data is committed: their job ends there
/// (the jobs catch it and report nothing).
struct ShareCommitted {};

}  // namespace patchlearn
