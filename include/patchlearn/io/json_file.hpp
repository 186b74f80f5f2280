#pragma once
// JSON results on disk (summary.json, bench.json), written so that a killed or failed job never
// leaves a truncated file.
#include <nlohmann/json.hpp>

#include <string>

namespace patchlearn {

/// Write j to `path` (indented) through "<path>.partial", fsync and a rename (core/durable.hpp);
/// RunError naming the file (and "disk full?" where so) when it cannot be written.
void write_json_file(const std::string& path, const nlohmann::json& j);

}  // namespace patchlearn
