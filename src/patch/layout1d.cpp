#include "patchlearn/patch/layout1d.hpp"

#include "patchlearn/core/format.hpp"

#include <cmath>

#include "patchlearn/core/error.hpp"
#include "patchlearn/kernels/diffusion.hpp"

namespace patchlearn {
namespace {

// n if x / dx is within 1e-6 of an integer n, else -1.
index_t lattice_count(double x, double dx) {
  const double r = x / dx;
  const double n = std::round(r);
  return std::abs(r - n) <= 1e-6 * std::max(1.0, n) ? static_cast<index_t>(n) : -1;
}

}  // namespace

PatchLayout1D::PatchLayout1D(double length_, int macro_nodes_, double dx_, double tooth_width_, double patch_width_)
    : length(length_),
      macro_dx(length_ / (macro_nodes_ - 1)),
      dx(dx_),
      tooth_width(tooth_width_),
      patch_width(patch_width_),
      macro_nodes(macro_nodes_) {
  const index_t nh = lattice_count(tooth_width, dx), nH = lattice_count(patch_width, dx);
  if (nh < 2 || nh % 2)
    throw ConfigError("patch.tooth_width", num(tooth_width) + " is " + num(tooth_width / dx) +
                                               " fine intervals; it must be an even number (>= 2) of micro.dx");
  if (nH < 2 || nH % 2)
    throw ConfigError("patch.buffer_width", num(patch_width) + " is " + num(patch_width / dx) +
                                                " fine intervals; it must be an even number of micro.dx");
  if (nH < nh)
    throw ConfigError("patch.buffer_width", num(patch_width) + " is smaller than the tooth width " + num(tooth_width) +
                                                "; the buffer must contain the tooth (H >= h)");
  if (lattice_count(macro_dx, dx) < 0)
    throw ConfigError("domain.macro_nodes",
                      "the macro spacing " + num(macro_dx) + " is not a whole number of micro.dx = " + num(dx));
  points = nH + 1;
  centre = nH / 2;
  tooth_points = nh + 1;
  tooth_start = centre - nh / 2;
}

index_t PatchLayout1D::global_start(int i) const {
  return (first_node + i) * static_cast<index_t>(std::llround(macro_dx / dx)) - centre;
}

std::vector<index_t> PatchLayout1D::patch_starts() const {
  std::vector<index_t> s(static_cast<std::size_t>(patches()));
  for (int p = 0; p < patches(); ++p) s[p] = global_start(p + 1);
  return s;
}

kernels::ToothMoments PatchLayout1D::tooth_moments() const {
  const int max_degree = 4;
  kernels::ToothMoments m{};
  double* mu = m.mu;
  for (index_t q = 0; q < tooth_points; ++q) {
    const double w = kernels::simpson_weight(q, tooth_points), z = tooth_offset(q);
    double zk = 1.0, fact = 1.0;
    for (int k = 0; k <= max_degree; ++k) {
      if (k > 0) {
        zk *= z;
        fact *= k;
      }
      mu[k] += w * zk / fact;
    }
  }
  return m;
}

}  // namespace patchlearn
