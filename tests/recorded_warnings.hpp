#pragma once
// An observer that keeps the warnings a job gives, for tests that check what it said.
#include <algorithm>
#include <string>
#include <vector>

#include "patchlearn/pipeline/observer.hpp"

namespace patchlearn::testing_support {

struct RecordedWarnings : Observer {
  std::vector<std::string> lines;
  void warning(const std::string& line) override { lines.push_back(line); }
  /// Whether a warning contains `fragment`.
  bool said(const std::string& fragment) const {
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& l) { return l.find(fragment) != std::string::npos; });
  }
};

}  // namespace patchlearn::testing_support
