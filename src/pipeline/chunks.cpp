#include "patchlearn/pipeline/chunks.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <utility>

#include "patchlearn/core/durable.hpp"
#include "patchlearn/core/error.hpp"
#include "patchlearn/core/timer.hpp"
#include "patchlearn/io/chunk_file.hpp"
#include "patchlearn/io/footprint.hpp"
#include "patchlearn/io/identity.hpp"
#include "patchlearn/pipeline/ranks.hpp"

namespace fs = std::filesystem;

namespace patchlearn {
namespace {

// How far a chunked simulation has come, for its progress: the trajectories committed by this
// rank or, with several ranks, by all of them (counted from the chunk files in the folder, looked
// at no more than once a second), and the part of the chunk in flight.
class Committed {
 public:
  Committed(std::string dir, int ranks) : dir_(std::move(dir)), ranks_(ranks) {}
  void add(index_t count) { own_ += count; }
  double fraction(double in_flight, index_t trajectories) {
    if (ranks_ > 1 && clock_.seconds() >= next_look_) {
      next_look_ = clock_.seconds() + 1.0;
      all_ = 0;
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(dir_, ec)) {
        const std::string name = e.path().filename().string();
        if (name.rfind("chunk_", 0) == 0 && e.path().extension() == ".h5")
          all_ += std::strtoll(name.c_str() + name.rfind('_') + 1, nullptr, 10);
      }
    }
    const double done = static_cast<double>(std::max(own_, all_));
    return std::min(1.0, (done + in_flight) / static_cast<double>(trajectories));
  }

 private:
  std::string dir_;
  int ranks_;
  index_t own_ = 0, all_ = 0;
  Stopwatch clock_;
  double next_look_ = 0.0;
};

}  // namespace

ChunkedData run_in_chunks(const ChunkedRun* chunks, const std::string& config_text, index_t B, Device device,
                          const SimulateChunk& compute, const TruthOfChunk& truth_of, Observer& observer,
                          const std::string& stage, double& wall_s) {
  const auto progress = [&](double f) { observer.progress(stage, f); };
  progress(0.0);  // the stage starts now, though its first step may take long
  // compute(first, ...) and truth_of(first, ...) number a trajectory that fails within their batch;
  // the message names it in the run.
  const SimulateChunk simulate = [&](index_t first, index_t count, const std::function<void(double)>& prog) {
    return numbered_from(first, [&] { return compute(first, count, prog); });
  };
  TruthOfChunk truth;  // none where there is no truth_of
  if (truth_of)
    truth = [&](index_t first, index_t count, const std::vector<double>& t) {
      return numbered_from(first, [&] { return truth_of(first, count, t); });
    };
  if (!chunks) {
    Stopwatch clock;
    ChunkedData out{simulate(0, B, progress), {}};
    wall_s = clock.seconds();
    if (truth) out.truth = truth(0, B, out.data.t);
    return out;
  }
  const ChunkedRun& run = *chunks;
  const int ranks = rank_count(), me = rank();
  // Rank 0 clears (without resume) and creates the folder; the others wait for it.
  together([&] {
    if (me != 0) return;
    std::error_code ec;
    if (!run.resume) remove_tree_quietly(run.dir);
    fs::create_directories(run.dir, ec);
    if (ec) throw InputError("cannot create '" + run.dir + "': " + ec.message());
  });
  const std::string identity = config_identity(config_text, run.dir, tables_not_affecting_simulation()),
                    truth_identity = config_identity(config_text, run.dir, tables_not_affecting_truth());
  const auto spans = chunk_spans(B, run.chunk, run.least, run.floor, device);
  const index_t chunk = spans.empty() ? 0 : spans.front().second;
  if (const auto count = static_cast<index_t>(spans.size()); count < ranks && me == 0)
    observer.warning(
        fmt::format("{} trajectories make {} chunk{} of {} for {} ranks, so {} rank{} will have nothing to "
                    "simulate: set run.chunk_trajectories to at most {}",
                    B, count, count == 1 ? "" : "s", chunk, ranks, ranks - count, ranks - count == 1 ? "" : "s",
                    (B + ranks - 1) / ranks));
  const auto chunk_path = [&](index_t first, index_t count) {
    return (fs::path(run.dir) / ("chunk_" + std::to_string(first) + "_" + std::to_string(count) + ".h5")).string();
  };
  // Each chunk's U and dU/dt: computed ones stay on the device (and are copied into the whole set
  // there, so the data of a fresh run never leave the device on their way to training); read-back
  // ones come from the host.
  struct Part {
    index_t first, count;
    CoarseData computed;
    ChunkFile read;
  };
  // A chunk whose truth was computed under other truth settings (the homogenized grid, the
  // rollout's tolerance) keeps its data, and its truth is computed again.
  const auto read_back = [&](index_t first, index_t count) {
    Part p{first, count, {}, read_chunk_file(chunk_path(first, count), first, count, identity, run.dir, bool(truth))};
    if (truth && p.read.truth_identity != truth_identity) {
      auto tr = truth(first, count, p.read.t);
      p.read.truth_U = std::move(tr.U);
      p.read.truth_dUdt = std::move(tr.dUdt);
    }
    return p;
  };
  Committed committed(run.dir, ranks);
  // This rank's chunks (chunk i is rank i mod N's), each simulated and committed, or on resume
  // read back (and so checked); rank 0 keeps its own for the whole set.
  std::vector<Part> parts;
  const auto keep = [&](Part&& part) {
    if (me == 0) parts.push_back(std::move(part));
  };
  together([&] {
    for (std::size_t i = 0; i < spans.size(); ++i) {
      if (static_cast<int>(i % ranks) != me) continue;
      const auto [first, count] = spans[i];
      const std::string path = chunk_path(first, count);
      if (run.resume && fs::exists(path)) {
        keep(read_back(first, count));
      } else {
        Stopwatch clock;
        Part part{first, count, {}, {}};
        part.computed =
            simulate(first, count, [&](double f) { progress(committed.fraction(f * static_cast<double>(count), B)); });
        const auto& d = part.computed;
        const double wall = clock.seconds();
        auto tr = truth ? truth(first, count, d.t) : HomogenizedTruth{};
        part.read = ChunkFile{first,
                              count,
                              d.times,
                              d.nodes,
                              d.host_U(),
                              d.host_dUdt(),
                              d.t,
                              std::move(tr.U),
                              std::move(tr.dUdt),
                              truth ? truth_identity : std::string(),
                              d.point_steps,
                              wall};
        write_chunk_file(path, part.read, identity, config_text);
        part.read.U = {};  // the data stay on the device, in `computed`
        part.read.dUdt = {};
        keep(std::move(part));
      }
      committed.add(count);
      progress(committed.fraction(0.0, B));
    }
  });
  if (me != 0) throw ShareCommitted{};
  // Rank 0: the other ranks' chunks, read back; every chunk in order.
  std::vector<Part> all_parts;
  {
    auto own = parts.begin();
    for (std::size_t i = 0; i < spans.size(); ++i)
      all_parts.push_back(i % ranks == 0 ? std::move(*own++) : read_back(spans[i].first, spans[i].second));
  }
  std::vector<double> t = all_parts.front().read.t;
  double point_steps = 0.0;
  wall_s = 0.0;
  const index_t T = static_cast<index_t>(t.size()), M = all_parts.front().read.nodes;
  for (const auto& p : all_parts) {
    if (p.read.t != t || p.read.nodes != M)
      throw InputError("'" + chunk_path(p.first, p.count) + "' does not match the other chunks; remove " + run.dir +
                       " or drop --resume");
    point_steps += p.read.point_steps;
    wall_s += p.read.wall_s;
  }
  ChunkedData out{CoarseData(device, B, T, M), {}};
  CoarseData& all = out.data;
  all.t = t;
  all.point_steps = point_steps;
  if (truth) {
    out.truth.U.reserve(static_cast<std::size_t>(B * T * M));
    out.truth.dUdt.reserve(out.truth.U.capacity());
  }
  for (const auto& p : all_parts) {
    const std::size_t n = static_cast<std::size_t>(p.count * T * M), off = static_cast<std::size_t>(p.first * T * M);
    if (truth && (p.read.truth_U.size() != n || p.read.truth_dUdt.size() != n))
      throw std::logic_error("run_in_chunks: a chunk's truth is not the shape of its data");
    out.truth.U.insert(out.truth.U.end(), p.read.truth_U.begin(), p.read.truth_U.end());
    out.truth.dUdt.insert(out.truth.dUdt.end(), p.read.truth_dUdt.begin(), p.read.truth_dUdt.end());
    if (p.read.U.empty()) {
      detail::copy_bytes(device, all.U.data() + off, device, p.computed.U.data(), n * sizeof(double));
      detail::copy_bytes(device, all.dUdt.data() + off, device, p.computed.dUdt.data(), n * sizeof(double));
    } else {
      all.U.copy_from_host(p.read.U.data(), n, off);
      all.dUdt.copy_from_host(p.read.dUdt.data(), n, off);
    }
  }
  return out;
}

void remove_chunks(const ChunkedRun& run) { remove_tree_quietly(run.dir); }

}  // namespace patchlearn
