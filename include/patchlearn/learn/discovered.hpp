#pragma once
// The discovered equation as a model: dU/dt = sum_j xi_j theta_j(U), the regression's sparse
// coefficients xi_j times its library terms theta_j, evaluated on a batch of macro states like a
// network, so that it is rolled out and scored with the same metrics.
//
// A term is named by its factors joined by '*', each a derivative with an optional power:
// "U_xx", "U*U_x", "U^2*U_xx", "U_x^2", "1" (the regression library's names, regression.hpp). The derivatives come from
// the problem's own discretization (1D: the finite differences of the regression's stencil on the interior nodes, the
// Dirichlet ends held; 2D: spectral derivatives of the periodic patch means).
#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "patchlearn/learn/regression.hpp"
#include "patchlearn/learn/rollout.hpp"

namespace patchlearn::learn {

/// The named derivatives of a batch of states U [B, M], each [B, K] (K: the nodes the terms live on).
using DerivativeMap = std::map<std::string, torch::Tensor>;

/// sum_j coefficients[j] * term_j over the derivatives (terms with a zero coefficient skipped);
/// std::invalid_argument for a factor that is not among them.
torch::Tensor evaluate_terms(const DerivativeMap& derivatives, const std::vector<std::string>& terms,
                             const std::vector<double>& coefficients);

/// 1D: U, U_x, U_xx on the interior nodes of U [B, M] by the 3- or 5-point differences of
/// kernels::macro_differences (5-point falls back to 3-point next to a boundary).
DerivativeMap macro_derivatives_1d(const torch::Tensor& U, double dX, int stencil);

/// 1D macro data are tooth averages, not point values: U_i and dU_i/dt are the averages over the
/// tooth of width w about node i (the Simpson average the patches, the gap-tooth scheme and the
/// full-resolution restriction all use), and the average of a nonlinear term is not the term of the
/// averages: on a quadratic, U_x^2 averages to U_x^2 + w^2 U_xx^2 / 12 and U^2*U_xx to U^2 U_xx +
/// w^2 U_x^2 U_xx / 12 + O(w^4). A term's tooth average is taken on the node's local quadratic
///   q(z) = U_i + U_x z + U_xx (z^2 - w^2/12) / 2,   z the offset from the node,
/// whose tooth average is U_i (U_x, U_xx the stencil's differences: the lift's profile, kernels/
/// coarse.hpp), by 4-point Gauss-Legendre over the tooth, exact for terms of degree at most 7 in z
/// (the library's at its degree 2 in U; a higher degree's U^k*U_xx is of degree 2k in z, and the rule
/// misses its O(w^8) part, ~(w U_x / U)^8 of the term). Linear terms are their centre values, so a linear equation's
/// fit is unchanged. Width 0: point values.
struct ToothAverage {
  double width = 0.0;
  /// sum_j coefficients[j] * (the tooth average of term j) at every node of `centre` (U, U_x, U_xx
  /// at the nodes; other entries, such as position factors, are taken as constant over the tooth).
  torch::Tensor evaluate(const DerivativeMap& centre, const std::vector<std::string>& terms,
                         const std::vector<double>& coefficients) const;
};
/// The derivatives with the position factors of `basis` (regression.hpp) beside them, so that
/// terms such as "x^2*U_xx" evaluate: column k of U at (x[k], y[k]) (y empty in 1D).
DerivativeMap with_position(DerivativeMap d, const PositionBasis& basis, const std::vector<double>& x,
                            const std::vector<double>& y = {});
/// 1D: the interior nodes i = 1 .. M - 2 of the macro grid, at x_i = i dX.
DerivativeMap with_position(DerivativeMap d, const PositionBasis& basis, double dX);
/// 2D: the P x P patch means [J][I] at (centres[I], centres[J]).
DerivativeMap with_position_2d(DerivativeMap d, const PositionBasis& basis, const std::vector<double>& centres);
/// 2D: U and its spectral derivatives up to fourth order on the periodic P x P grid, [B, P*P].
DerivativeMap spectral_derivatives_2d(const torch::Tensor& U, int P, double L);

/// The regression's equation as a coarse operator.
class DiscoveredOperator : public TorchOperator {
 public:
  /// `derivatives` maps U [B, M] to the derivatives on the nodes the equation lives on, and
  /// `interior` says whether those are the interior nodes 1..M-2 (1D, Dirichlet ends held) or all.
  /// `tooth`: the terms' averages over the 1D teeth (ToothAverage) rather than their centre values.
  DiscoveredOperator(RegressionResult fit, std::function<DerivativeMap(const torch::Tensor&)> derivatives,
                     bool interior, ToothAverage tooth = {})
      : fit_(std::move(fit)), derivatives_(std::move(derivatives)), interior_(interior), tooth_(tooth) {}
  torch::Tensor rhs(const torch::Tensor& U) override;

 private:
  RegressionResult fit_;
  std::function<DerivativeMap(const torch::Tensor&)> derivatives_;
  bool interior_;
  ToothAverage tooth_;
};

/// A 2D equation of the field seen through its patch means: rhs(U) = M field(M^-1 U), M the
/// patch mean of every mode of the P x P grid (regress_2d, which fits the field's equation).
class PatchMeanOperator : public TorchOperator {
 public:
  PatchMeanOperator(std::unique_ptr<TorchOperator> field, int P, double L, PatchMeans means)
      : field_(std::move(field)), map_(P, L, means) {}
  torch::Tensor rhs(const torch::Tensor& U) override { return map_.means(field_->rhs(map_.values(U))); }

 private:
  std::unique_ptr<TorchOperator> field_;
  PatchMeanMap map_;
};

}  // namespace patchlearn::learn
