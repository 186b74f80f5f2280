#pragma once
// A small valid 1D case shared by the tests: eps = 1e-3 with 100 points per period, 2-period
// teeth in 12-period patches. Its patch dynamics keeps the default burst, the paper's estimator,
// biased by ~6% at this eps (the corrector forms within the burst): cheap, and none of the tests
// that use it measures the estimate, so its rate tolerance admits that bias (no warning).
namespace patchlearn::testing_support {
inline constexpr const char* kSmallCase = R"(
[medium]
epsilon = 1e-3
[micro]
dx = 1e-5
[patch]
tooth_width = 2e-3
buffer_width = 1.2e-2
rate_tolerance = 0.1
)";
}  // namespace patchlearn::testing_support
