#include "patchlearn/pipeline/chunks.hpp"

#include <algorithm>
#include <filesystem>

#include "patchlearn/core/error.hpp"
#include "patchlearn/core/timer.hpp"
#include "patchlearn/io/chunk_file.hpp"
#include "patchlearn/io/identity.hpp"

namespace fs = std::filesystem;

namespace patchlearn {

CoarseData run_in_chunks(const ChunkedRun* chunks, const std::string& config_text, index_t B, Device device,
                         const std::function<CoarseData(index_t, index_t, const std::function<void(double)>&)>& compute,
                         const std::function<void(double)>& progress, double& wall_s) {
  if (!chunks) {
    Stopwatch clock;
    auto d = compute(0, B, progress);
    wall_s = clock.seconds();
    return d;
  }
  const ChunkedRun& run = *chunks;
  std::error_code ec;
  if (!run.resume) fs::remove_all(run.dir, ec);
  fs::create_directories(run.dir, ec);
  if (ec) throw InputError("cannot create '" + run.dir + "': " + ec.message());
  const std::string identity = config_identity(config_text, run.dir, tables_not_affecting_simulation());
  // By default a tenth of the trajectories per chunk on the CPU (whose cost is linear in them, so
  // that an interruption loses little), all of them at once on a GPU (which needs the whole batch
  // to fill the chip: a tenth would leave it mostly idle).
  const index_t chunk = run.chunk > 0 ? run.chunk : device == Device::CUDA ? B : std::max<index_t>(1, (B + 9) / 10);
  // Each chunk's U and dU/dt: computed ones stay on the device (and are copied into the whole set
  // there, so the data of a fresh run never leave the device on their way to training); read-back
  // ones come from the host.
  struct Part {
    index_t first, count;
    CoarseData computed;
    std::vector<double> U, R;
  };
  std::vector<Part> parts;
  std::vector<double> t;
  double point_steps = 0.0;
  wall_s = 0.0;
  index_t T = 0, M = 0;
  for (index_t first = 0; first < B; first += chunk) {
    const index_t count = std::min(chunk, B - first);
    const std::string path =
        (fs::path(run.dir) / ("chunk_" + std::to_string(first) + "_" + std::to_string(count) + ".h5")).string();
    Part part{first, count, {}, {}, {}};
    std::vector<double> ct;
    double steps = 0.0, wall = 0.0;
    index_t nodes = 0;
    if (run.resume && fs::exists(path)) {
      auto c = read_chunk_file(path, first, count, identity, run.dir);
      part.U = std::move(c.U);
      part.R = std::move(c.dUdt);
      ct = std::move(c.t);
      steps = c.point_steps;
      wall = c.wall_s;
      nodes = c.nodes;
    } else {
      Stopwatch clock;
      part.computed = compute(first, count, [&](double f) {
        if (progress) progress((static_cast<double>(first) + f * static_cast<double>(count)) / static_cast<double>(B));
      });
      const auto& d = part.computed;
      ct = d.t;
      steps = d.point_steps;
      wall = clock.seconds();
      nodes = d.nodes;
      write_chunk_file(path, ChunkFile{first, count, d.times, d.nodes, d.host_U(), d.host_dUdt(), ct, steps, wall},
                       identity, config_text);
    }
    if (first == 0) {
      t = ct;
      T = static_cast<index_t>(t.size());
      M = nodes;
    } else if (ct != t || nodes != M) {
      throw InputError("'" + path + "' does not match the other chunks; remove " + run.dir + " or drop --resume");
    }
    point_steps += steps;
    wall_s += wall;
    parts.push_back(std::move(part));
    if (progress) progress(static_cast<double>(first + count) / static_cast<double>(B));
  }
  CoarseData all(device, B, T, M);
  all.t = t;
  all.point_steps = point_steps;
  for (const auto& p : parts) {
    const std::size_t n = static_cast<std::size_t>(p.count * T * M), off = static_cast<std::size_t>(p.first * T * M);
    if (p.U.empty()) {
      detail::copy_bytes(device, all.U.data() + off, device, p.computed.U.data(), n * sizeof(double));
      detail::copy_bytes(device, all.dUdt.data() + off, device, p.computed.dUdt.data(), n * sizeof(double));
    } else {
      all.U.copy_from_host(p.U.data(), n, off);
      all.dUdt.copy_from_host(p.R.data(), n, off);
    }
  }
  return all;
}

void remove_chunks(const ChunkedRun& run) {
  std::error_code ec;
  fs::remove_all(run.dir, ec);
}

}  // namespace patchlearn
