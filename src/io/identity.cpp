#include "patchlearn/io/identity.hpp"

#include <sstream>

#include "patchlearn/core/durable.hpp"
#include "toml_table.hpp"

namespace patchlearn {

std::string config_identity(const std::string& text, const std::string& origin, const std::set<std::string>& ignored) {
  toml::table root = config_detail::parse_toml(text, origin);
  for (const auto& name : ignored) root.erase(name);
  std::ostringstream canonical;  // toml++ keeps keys sorted and drops comments and layout
  canonical << toml::toml_formatter(root);
  const std::string s = canonical.str();
  return checksum_hex(checksum64(s.data(), s.size()));
}

const std::set<std::string>& tables_not_affecting_simulation() {
  static const std::set<std::string> tables{"learn", "rollout", "regression", "bench", "run", "homogenized"};
  return tables;
}

const std::set<std::string>& tables_not_affecting_truth() {
  static const std::set<std::string> tables{"learn", "regression", "bench", "run"};
  return tables;
}

}  // namespace patchlearn
