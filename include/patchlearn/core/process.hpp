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

}  // namespace patchlearn
