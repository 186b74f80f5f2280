#pragma once
// Shared by the tests of failures: the key of a config's error, the message an action throws, and
// whether /dev/full can stand in for a full disk (every write to it fails with ENOSPC).
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "patchlearn/core/error.hpp"

namespace patchlearn::testing_support {

/// The key of the ConfigError that `parse` (parsing a config) throws, or "accepted".
inline std::string config_error_key(const std::function<void()>& parse) {
  try {
    parse();
  } catch (const ConfigError& e) {
    return e.key;
  }
  return "accepted";
}

/// what() of the exception `f` throws, or "" when it throws none.
inline std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

inline bool dev_full_usable() {
  std::ofstream f("/dev/full");
  f << "x";
  f.flush();
  return std::filesystem::exists("/dev/full") && !f;
}

}  // namespace patchlearn::testing_support
