#include "patchlearn/pipeline/problem.hpp"

#include <map>

#include "patchlearn/core/error.hpp"
#include "patchlearn/pipeline/problem1d.hpp"
#include "patchlearn/pipeline/problem2d.hpp"

namespace patchlearn {
namespace {

using Factory = std::unique_ptr<Problem> (*)(const std::string& text, const std::string& origin,
                                             const std::string& base_dir);

/// The registry of problem kinds, by domain.dimension: a new kind is one line here.
const std::map<int, Factory>& registry() {
  static const std::map<int, Factory> kinds = {
      {1,
       [](const std::string& text, const std::string& origin, const std::string& base_dir) -> std::unique_ptr<Problem> {
         return std::make_unique<Problem1D>(parse_config_1d(text, origin, base_dir));
       }},
      {2,
       [](const std::string& text, const std::string& origin, const std::string&) -> std::unique_ptr<Problem> {
         return std::make_unique<Problem2D>(parse_config_2d(text, origin));
       }},
  };
  return kinds;
}

}  // namespace

std::unique_ptr<Problem> parse_problem(const std::string& text, const std::string& origin,
                                       const std::string& base_dir) {
  const int dimension = config_dimension(text, origin);
  const auto kind = registry().find(dimension);
  if (kind == registry().end())
    throw ConfigError("domain.dimension", std::to_string(dimension) + " is not a problem kind");
  return kind->second(text, origin, base_dir);
}

std::unique_ptr<Problem> load_problem(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return parse_problem(read_config_text(path), path, slash == std::string::npos ? "." : path.substr(0, slash));
}

std::unique_ptr<Problem> default_problem() {
  return parse_problem(embedded_default_config(), "<embedded default: configs/quick1d.toml>");
}

}  // namespace patchlearn
