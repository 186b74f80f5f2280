#pragma once
// Errors a user can cause. Each carries one line that names what was wrong, the bad value and
// what would be valid; the CLI prints it and exits with status 2 (ConfigError, InputError) or 1.
#include <stdexcept>
#include <string>
#include <utility>

#include "patchlearn/core/defs.hpp"

namespace patchlearn {

/// A configuration value is missing, unknown, of the wrong type, out of range or inconsistent.
struct ConfigError : std::runtime_error {
  ConfigError(const std::string& key, const std::string& what) : std::runtime_error(key + ": " + what), key(key) {}
  std::string key;
};

/// An input file is missing, unreadable, corrupt or does not match what is expected.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// A run went wrong at run time: no GPU, out of memory, a NaN in a simulation.
struct RunError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// A RunError in one trajectory of a batch, numbered within the batch that met it. Whoever ran
/// that batch as a piece of a larger run (a chunk of the trajectories, one realization's
/// trajectories, the test set) renumbers it, so that the message names the run's trajectory.
struct TrajectoryError : RunError {
  /// The message `before` + "trajectory N" + `after`.
  TrajectoryError(std::string before, index_t trajectory, std::string after)
      : RunError(before + "trajectory " + std::to_string(trajectory) + after),
        trajectory(trajectory),
        before_(std::move(before)),
        after_(std::move(after)) {}
  /// The same error about trajectory `run_index` instead.
  TrajectoryError renumbered(index_t run_index) const { return {before_, run_index, after_}; }
  /// The same error with `more` appended to its message.
  TrajectoryError extended(const std::string& more) const { return {before_, trajectory, after_ + more}; }

  index_t trajectory;

 private:
  std::string before_, after_;
};

/// f(), where f runs the batch of a run's trajectories [first, ...): its TrajectoryError is
/// renumbered to the run's trajectory first + N.
template <class F>
decltype(auto) numbered_from(index_t first, F&& f) {
  try {
    return f();
  } catch (const TrajectoryError& e) {
    throw e.renumbered(first + e.trajectory);
  }
}

/// An allocation failed on the host or the GPU (benchmarks then report the size as out of reach).
struct OutOfMemory : RunError {
  using RunError::RunError;
};

/// A message as one line of at most `max` characters: line breaks become spaces, and a longer
/// message (a huge value echoed back) is cut with " …".
inline std::string one_line(const std::string& message, std::size_t max = 400) {
  std::string s;
  for (const char c : message) s += (c == '\n' || c == '\r') ? ' ' : c;
  if (s.size() > max) s = s.substr(0, max) + " …";
  return s;
}

}  // namespace patchlearn
