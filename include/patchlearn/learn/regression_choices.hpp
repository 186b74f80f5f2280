#pragma once
// The regression's choices as a config names them (the [regression] table), without LibTorch: the
// configuration (io/config.hpp) holds these types themselves and the regression (regression.hpp)
// takes them, so one enum and one name table serve both.

namespace patchlearn::learn {

/// How the states (one trajectory at one time) weigh in the fits (regression.weights;
/// regression.hpp, "Weights").
enum class Weights { None, Rates, Residuals };
/// Its name in configs and summaries: none, rates, residuals.
inline const char* name_of(Weights w) {
  constexpr const char* names[] = {"none", "rates", "residuals"};  // in the enum's order
  return names[static_cast<int>(w)];
}

/// The basis of x (and y) that a position-aware regression expands every coefficient in
/// (regression.position_basis; regression.hpp, PositionBasis).
enum class PositionKind { None, Polynomial, Fourier };
/// Its name in configs and summaries: none, polynomial, fourier.
inline const char* name_of(PositionKind k) {
  constexpr const char* names[] = {"none", "polynomial", "fourier"};  // in the enum's order
  return names[static_cast<int>(k)];
}

/// A degree given as "auto" (regression.position_degree, regression.u_degree): chosen from the data.
inline constexpr int kChosenDegree = 0;

/// The library's highest degree in U (regression.u_degree; regression.hpp, "The library"):
/// a*(U) and c*(U) up to U^kMaxUDegree, r*(U) up to one more. An a*(u) with a branch point near
/// the data's range of u needs more than 6: a(y, u) = 2 + (1 + u/2) sin 2 pi y, whose a*(u) =
/// sqrt(4 - (1 + u/2)^2) branches at u = 2, chose 7 from the data, a*(u) 1.3e-4 -> 3.3e-5 off on
/// the data's range against the earlier cap of 6 (bench/RESULTS.md, "Past degree 6"); "auto"
/// stops where the next two degrees no longer halve the held-out error, so the cap binds only there.
inline constexpr int kMaxUDegree = 10;

}  // namespace patchlearn::learn
