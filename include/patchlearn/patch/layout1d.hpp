#pragma once
// Geometry of 1D patches on the macro grid x_i = i dX, i = 0..M-1, of the domain [0, L].
// A patch sits at every interior macro node (the two end nodes carry the fixed Dirichlet values):
//
//   |<-------------------- patch (buffer) width H -------------------->|
//   |   buffer   |<--- tooth width h --->|   buffer                    |
//   x_i - H/2          x_i (centre)                              x_i + H/2
//
// Every patch is a window of the global fine lattice x_g = g dx: N = H/dx + 1 points, centre
// index c = H/(2 dx), tooth points c - h/(2dx) .. c + h/(2dx) (an odd count, so the composite
// Simpson rule restricts exactly for the lifted polynomials and is aligned with the tooth).
// For gap-tooth schemes the patch is the tooth itself (H = h).
#include <vector>

#include "patchlearn/core/defs.hpp"
#include "patchlearn/kernels/coarse.hpp"

namespace patchlearn {

struct PatchLayout1D {
  /// Throws ConfigError when a width is not an even number of fine intervals, a centre is off the
  /// fine lattice, or the tooth does not fit inside the patch.
  PatchLayout1D(double length, int macro_nodes, double dx, double tooth_width, double patch_width);

  double length, macro_dx, dx, tooth_width, patch_width;
  int macro_nodes;
  /// The node of the medium's macro grid that this grid's node 0 sits on: a layout over a window
  /// of the grid (the patch-parameter probe) keeps each patch on its own piece of a medium that
  /// is not periodic. 0 for a layout of the whole domain.
  int first_node = 0;
  index_t points;        // N, fine points per patch
  index_t centre;        // c, index of the patch centre
  index_t tooth_points;  // nq, odd
  index_t tooth_start;   // c - (nq-1)/2

  int patches() const { return macro_nodes - 2; }
  /// Position of node i in the medium (first_node's place plus i dX).
  double node_x(int i) const { return (first_node + i) * macro_dx; }
  /// Global lattice index of point 0 of the patch at macro node i (1 <= i <= M-2).
  index_t global_start(int i) const;
  /// global_start of every patch, in order (nodes 1 .. M-2).
  std::vector<index_t> patch_starts() const;
  /// Offset z = x - x_i of tooth quadrature point q.
  double tooth_offset(index_t q) const { return static_cast<double>(q - (tooth_points - 1) / 2) * dx; }
  /// mu_k = sum_q w_q z_q^k / k!, k <= 4: the discrete tooth moments of the lifting correction
  /// (kernels/coarse.hpp), with which the tooth average of the lift is exactly U_i.
  kernels::ToothMoments tooth_moments() const;
};

}  // namespace patchlearn
