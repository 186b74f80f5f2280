#include "patchlearn/micro/diffusion1d.hpp"

#include <cmath>

#include <fmt/format.h>

#include "patchlearn/core/error.hpp"

namespace patchlearn {

FineModel1D::FineModel1D(CoefficientField field, double epsilon, double dx)
    : field_(std::move(field)), eps_(epsilon), dx_(dx), per_period_(0) {
  field_.require_linear();
  const double r = epsilon / dx;
  if (std::abs(r - std::round(r)) < 1e-9 * r) {
    per_period_ = static_cast<int>(std::lround(r));
    period_ = field_.sample_period(per_period_);
  }
}

std::vector<double> FineModel1D::conductances(index_t first, index_t count) const {
  std::vector<double> a(static_cast<std::size_t>(count));
  if (per_period_ > 0) {
    const index_t n = per_period_;
    index_t p = ((first % n) + n) % n;
    for (index_t j = 0; j < count; ++j) {
      a[j] = period_[p];
      if (++p == n) p = 0;
    }
  } else {
    for (index_t j = 0; j < count; ++j) a[j] = field_((static_cast<double>(first + j) + 0.5) * dx_ / eps_);
  }
  return a;
}

}  // namespace patchlearn
