#include "patchlearn/io/footprint.hpp"

#include "patchlearn/core/format.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "patchlearn/core/device.hpp"
#include "patchlearn/core/error.hpp"

namespace patchlearn {
namespace {

std::string gib(double bytes) { return fmt::format("{:.3g} GiB", bytes / (1024.0 * 1024.0 * 1024.0)); }

}  // namespace

std::vector<std::pair<index_t, index_t>> chunk_spans(index_t B, int chunk, int least_default, int floor,
                                                     Device device) {
  const index_t size = chunk > 0 ? chunk
                       : device == Device::CUDA
                           ? B
                           : std::min<index_t>(B, std::max<index_t>({least_default, floor, (B + 9) / 10}));
  const index_t least = chunk > 0 ? 1 : least_default;
  std::vector<std::pair<index_t, index_t>> spans;
  for (index_t first = 0; first < B;) {
    const index_t rest = B - first, count = rest - size < least ? rest : size;
    spans.emplace_back(first, count);
    first += count;
  }
  return spans;
}

namespace {
/// The most trajectories one chunk simulates together on the CPU.
double largest_chunk(int trajectories, int chunk, int least, int floor) {
  index_t most = 0;
  for (const auto& span : chunk_spans(trajectories, chunk, least, floor, Device::CPU))
    most = std::max(most, span.second);
  return static_cast<double>(most);
}
}  // namespace

Footprint footprint_1d(const Config1D& c) {
  const double B = c.initial.trajectories, M = c.macro_nodes;
  const double T = static_cast<double>(c.sample_times().size());
  const double together = largest_chunk(c.initial.trajectories, c.chunk_trajectories, c.chunk_least, c.chunk_floor);
  double points = 0.0;  // fine points per trajectory
  if (c.scheme == Scheme1D::FullResolution)
    points = std::floor(c.length / c.micro_dx) + 1.0;
  else if (c.scheme == Scheme1D::GapTooth)
    points = (M - 2.0) * (std::floor(c.tooth_width / c.micro_dx) + 1.0);
  else
    points = (M - 2.0) * (std::floor(c.buffer_width / c.micro_dx) + 1.0);
  Footprint f;
  f.coarse_bytes = 4.0 * B * T * M * sizeof(double);
  f.fine_bytes = together * points * sizeof(double);
  return f;
}

Footprint footprint_2d(const Config2D& c) {
  const double B = c.initial.trajectories, P = c.patches, T = static_cast<double>(c.samples());
  const double together = largest_chunk(c.initial.trajectories, c.chunk_trajectories, c.chunk_least, c.chunk_floor);
  // Lattice sites per trajectory: n x n in each of the P x P patches, or the whole N x N lattice
  // (N = P s, s = (n - 2) / ratio points between patch centres).
  const double n = c.points, s = std::round((n - 2.0) / c.ratio);
  const double sites = c.scheme == Scheme2D::FullLattice ? (P * s) * (P * s) : P * P * n * n;
  Footprint f;
  f.coarse_bytes = 4.0 * B * T * P * P * sizeof(double);
  f.fine_bytes = together * sites * sizeof(double);
  return f;
}

double physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), size = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && size > 0 ? static_cast<double>(pages) * static_cast<double>(size) : 0.0;
}

void check_fits_in_memory(const Footprint& need, const std::string& coarse_key, const std::string& fine_key) {
  const double have = physical_memory_bytes();
  if (have <= 0.0) return;
  const std::string sizes = "this run needs at least " + gib(need.total()) + " (coarse data " + gib(need.coarse_bytes) +
                            ", one fine state " + gib(need.fine_bytes) + ") but this machine has " + gib(have) +
                            " of memory";
  // The coarse data always pass through the host (data.h5 is written from there); the fine state
  // may live on a GPU instead, whose memory is not known here, so it counts only without one.
  if (need.coarse_bytes > have) throw ConfigError(coarse_key, sizes + "; use fewer trajectories, times or patches");
  if (need.total() > have && !cuda_available())
    throw ConfigError(need.coarse_bytes >= need.fine_bytes ? coarse_key : fine_key,
                      sizes + "; use fewer trajectories or a smaller fine grid");
}

}  // namespace patchlearn
