#include "patchlearn/io/json_file.hpp"

#include <filesystem>
#include <fstream>

#include "patchlearn/core/error.hpp"

namespace fs = std::filesystem;

namespace patchlearn {

void write_json_file(const std::string& path, const nlohmann::json& j) {
  const std::string partial = path + ".partial";
  {
    std::ofstream f(partial);
    f << j.dump(1) << "\n";
    if (!f.flush()) {
      std::error_code ignored;
      fs::remove(partial, ignored);
      throw RunError("cannot write " + path);
    }
  }
  std::error_code e;
  fs::rename(partial, path, e);
  if (e) throw RunError("cannot write " + path + ": " + e.message());
}

}  // namespace patchlearn
