#pragma once
// `patchlearn bench` for people: the sweep's result (pipeline/bench.hpp) as a table.
#include <nlohmann/json.hpp>

#include <string>

namespace patchlearn::cli {

/// One row per sweep entry, then the exponents.
std::string bench_table(const nlohmann::json& result);

}  // namespace patchlearn::cli
