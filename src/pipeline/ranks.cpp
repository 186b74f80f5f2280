#include "patchlearn/pipeline/ranks.hpp"

#ifdef PATCHLEARN_HAVE_MPI
#include <mpi.h>
#include <omp.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <new>

#include "patchlearn/core/device.hpp"
#include "patchlearn/core/error.hpp"
#ifdef PATCHLEARN_HAVE_CUDA
#include "patchlearn/core/cuda_runtime.hpp"
#endif
#endif

namespace patchlearn {
namespace {

int world_rank = 0, world_size = 1;

#ifdef PATCHLEARN_HAVE_MPI
// Whether an MPI launcher started this process (Open MPI's mpirun, MPICH's hydra, Slurm's srun
// with PMI or PMIx): without one, MPI is not started at all.
bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(v)) return true;
  return false;
}

// This rank's device and threads: GPU (node-local rank mod the visible GPUs); without
// OMP_NUM_THREADS, and when the launcher bound no cores to the rank, its share of the node's cores.
void take_share_of_node() {
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  int local_rank = 0, local_size = 1;
  MPI_Comm_rank(node, &local_rank);
  MPI_Comm_size(node, &local_size);
  MPI_Comm_free(&node);
#ifdef PATCHLEARN_HAVE_CUDA
  if (const int gpus = cuda::device_count(); gpus > 0) cuda::select_device(local_rank % gpus);
#endif
  cpu_set_t mask;
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  const bool unbound = sched_getaffinity(0, sizeof mask, &mask) == 0 && CPU_COUNT(&mask) == cores;
  if (!std::getenv("OMP_NUM_THREADS") && unbound)
    use_cpu_threads(static_cast<int>(std::max<long>(1, cores / local_size)));
}

// What a rank's failure would have been alone: its message, the CLI's kind and exit status.
struct Failure {
  std::string message, kind = "error";
  int status = 1;
};

Failure describe(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const RankFailure& f) {
    return {f.what(), f.kind, f.status};
  } catch (const ConfigError& f) {
    return {f.what(), "config error", 2};
  } catch (const InputError& f) {
    return {f.what(), "input error", 2};
  } catch (const std::bad_alloc&) {
    return {"out of memory"};
  } catch (const std::exception& f) {
    return {f.what()};
  } catch (...) {
    return {"unknown failure"};
  }
}

// together() among several ranks.
void together_ranks(const std::function<void()>& work) {
  Failure mine;
  bool failed = false;
  try {
    work();
  } catch (...) {
    mine = describe(std::current_exception());
    failed = true;
  }
  // The lowest failed rank (world_size: none); that rank then tells the others its message, kind
  // and status.
  const int candidate = failed ? world_rank : world_size;
  int lowest = 0;
  MPI_Allreduce(&candidate, &lowest, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (lowest == world_size) return;
  const auto share = [&](std::string& s) {
    int n = static_cast<int>(s.size());
    MPI_Bcast(&n, 1, MPI_INT, lowest, MPI_COMM_WORLD);
    s.resize(static_cast<std::size_t>(n));
    MPI_Bcast(s.data(), n, MPI_CHAR, lowest, MPI_COMM_WORLD);
  };
  Failure f = mine;
  share(f.message);
  share(f.kind);
  MPI_Bcast(&f.status, 1, MPI_INT, lowest, MPI_COMM_WORLD);
  // Did every rank fail with the same message (a bad config)? Then no rank is singled out.
  const int same = failed && mine.message == f.message ? 1 : 0;
  int all_same = 0;
  MPI_Allreduce(&same, &all_same, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  throw RankFailure(all_same ? f.message : "rank " + std::to_string(lowest) + ": " + f.message, f.kind, f.status);
}
#endif

}  // namespace

#ifdef PATCHLEARN_HAVE_MPI
RankSession::RankSession(int& argc, char**& argv) {
  if (!launched_by_mpi()) return;
  int provided = 0;
  // Only the main thread calls MPI; OpenMP and LibTorch threads never do.
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  if (world_size > 1) take_share_of_node();
}

RankSession::~RankSession() {
  int started = 0, ended = 0;
  MPI_Initialized(&started);
  MPI_Finalized(&ended);
  if (started && !ended) MPI_Finalize();
}
#else
RankSession::RankSession(int&, char**&) {}
RankSession::~RankSession() = default;
#endif

int rank() { return world_rank; }
int rank_count() { return world_size; }

void together(const std::function<void()>& work) {
#ifdef PATCHLEARN_HAVE_MPI
  if (world_size > 1) return together_ranks(work);
#endif
  work();
}

void abort_ranks(int status) {
#ifdef PATCHLEARN_HAVE_MPI
  if (world_size > 1) MPI_Abort(MPI_COMM_WORLD, status);
#endif
  (void)status;
}

}  // namespace patchlearn
