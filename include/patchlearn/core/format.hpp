#pragma once
// Numbers in messages: one style everywhere (fmt), so that a value reads the same in every error
// and warning.
#include <fmt/format.h>

#include <string>

namespace patchlearn {

/// A number as messages show it: up to 10 significant digits, no trailing zeros (0.1, 1e-05).
inline std::string num(double v) { return fmt::format("{:.10g}", v); }

}  // namespace patchlearn
