#pragma once
// Errors a user can cause. Each carries one line that names what was wrong, the bad value and
// what would be valid; the CLI prints it and exits with status 2 (ConfigError, InputError) or 1.
#include <stdexcept>
#include <string>

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
