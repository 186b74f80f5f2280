#pragma once
// What a stored artifact was made from. A config's identity is a checksum of its parsed TOML with
// the tables that cannot change the artifact left out: comments, spacing, key order and
// unrelated tables do not change it, while any value that can change the result does.
#include <set>
#include <string>

namespace patchlearn {

/// 16 hex digits identifying `text` (TOML from `origin`) without the tables in `ignored`.
std::string config_identity(const std::string& text, const std::string& origin, const std::set<std::string>& ignored);

/// The tables that do not change simulated coarse data (U, dU/dt, t): learning, rollout,
/// regression, benchmark, run and homogenized-truth settings.
const std::set<std::string>& tables_not_affecting_simulation();
/// The tables that do not change the truth of the coarse data (U_hom, dU/dt_hom): those of
/// tables_not_affecting_simulation but `rollout` (its rtol is the 1D effective-PDE truth's
/// tolerance) and `homogenized` (the truth's grid).
const std::set<std::string>& tables_not_affecting_truth();

}  // namespace patchlearn
