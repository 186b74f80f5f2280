#include "patchlearn/io/json_file.hpp"

#include "patchlearn/core/durable.hpp"

namespace patchlearn {

void write_json_file(const std::string& path, const nlohmann::json& j) {
  const std::string text = j.dump(1) + "\n";
  write_file_durably(path + ".partial", path, text.data(), text.size());
}

}  // namespace patchlearn
