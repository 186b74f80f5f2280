#pragma once
// Processes: one job per output folder, and running a helper program (the report script) as a child that cannot outlive
// patchlearn: it is sent SIGTERM when patchlearn dies, and its failure (including "cannot start") is an exit status.
#include <string>
#include <vector>

namespace patchlearn {

/// Run argv[0] (looked up on PATH) with argv; its stdout goes to /dev/null when `discard_stdout`.
/// Returns its exit status, 128 + the signal when a signal ended it, 127 when it could not start.
int run_child(const std::vector<std::string>& argv, bool discard_stdout);

/// Take the lock of an output folder (an flock on DIR/.patchlearn.lock) for the rest of this
/// process: RunError when another process holds it, so two jobs never write into one folder (a
/// second job of the same process into the same folder keeps the lock it has).
void lock_output_directory(const std::string& dir);

/// Keep freed memory in the process for reuse (glibc: no mmap for large blocks, no trimming of the
/// heap) instead of returning it to the system. Training allocates and frees tensors of tens to
/// hundreds of MB at every step; by default glibc maps each afresh, so every page faults again:
/// nonlinear2d's functional net took 15M page faults and 200-280 s, 35 s with this (the same
/// numbers; peak memory unchanged, 1.07 GB), on a VM where a fault costs ~12 us. Freed memory is
/// then held until exit, the right trade for a batch job. Call it first thing in main (the CLI
/// does); it does nothing if MALLOC_MMAP_MAX_ or GLIBC_TUNABLES is set (the user's own choice) or
/// without glibc. Returns whether it changed the policy.
bool keep_freed_memory();

}  // namespace patchlearn
