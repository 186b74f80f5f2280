#pragma once
// Running a helper program (the report script) as a child that cannot outlive patchlearn: it is
// sent SIGTERM when patchlearn dies, and its failure (including "cannot start") is an exit status.
#include <string>
#include <vector>

namespace patchlearn {

/// Run argv[0] (looked up on PATH) with argv; its stdout goes to /dev/null when `discard_stdout`.
/// Returns its exit status, 128 + the signal when a signal ended it, 127 when it could not start.
int run_child(const std::vector<std::string>& argv, bool discard_stdout);

}  // namespace patchlearn
