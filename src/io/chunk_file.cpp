#include "patchlearn/io/chunk_file.hpp"

#include <cmath>

#include "patchlearn/core/error.hpp"
#include "patchlearn/io/h5.hpp"

namespace patchlearn {

void write_chunk_file(const std::string& path, const ChunkFile& c, const std::string& identity,
                      const std::string& config_text) {
  H5Writer out(path);
  out.dataset("U", {c.count, c.times, c.nodes}, c.U);
  out.dataset("dUdt", {c.count, c.times, c.nodes}, c.dUdt);
  if (!c.truth_U.empty()) {
    out.dataset("U_truth", {c.count, c.times, c.nodes}, c.truth_U);
    out.dataset("dUdt_truth", {c.count, c.times, c.nodes}, c.truth_dUdt);
    out.attribute("truth_identity", c.truth_identity);
  }
  out.dataset("t", {c.times}, c.t);
  out.dataset("point_steps", {1}, {c.point_steps});
  out.dataset("wall_s", {1}, {c.wall_s});
  out.attribute("identity", identity);
  out.attribute("first", static_cast<double>(c.first));
  out.attribute("count", static_cast<double>(c.count));
  out.attribute("config", config_text);
  out.commit();
}

ChunkFile read_chunk_file(const std::string& path, index_t first, index_t count, const std::string& identity,
                          const std::string& dir, bool truth) {
  const std::string remedy = "; delete it to simulate it again, or remove " + dir + " or drop --resume";
  ChunkFile c;
  std::string stored;
  try {
    stored = h5_read_string_attribute(path, "identity");
  } catch (const InputError& e) {
    // A truncated file says so (h5.hpp); a readable one without an identity is from an older patchlearn.
    throw InputError(std::string(e.what()) + " (not a usable chunk of this run)" + remedy);
  }
  if (stored != identity)
    throw InputError("'" + path + "' was simulated from a config that differs in a setting that affects the data" +
                     remedy);
  const double f = h5_read_number_attribute(path, "first"), n = h5_read_number_attribute(path, "count");
  if (f != static_cast<double>(first) || n != static_cast<double>(count))
    throw InputError("'" + path + "' holds trajectories " + std::to_string(std::llround(f)) + ".." +
                     std::to_string(std::llround(f + n) - 1) + ", not " + std::to_string(first) + ".." +
                     std::to_string(first + count - 1) + " as its name says (copied or renamed?)" + remedy);
  std::vector<index_t> dims, dims2, dims3, dims4;
  c.first = first;
  c.count = count;
  c.U = h5_read(path, "U", &dims);
  c.dUdt = h5_read(path, "dUdt", &dims2);
  c.t = h5_read(path, "t");
  if (truth) {
    try {
      c.truth_U = h5_read(path, "U_truth", &dims3);
      c.truth_dUdt = h5_read(path, "dUdt_truth", &dims4);
      c.truth_identity = h5_read_string_attribute(path, "truth_identity");
    } catch (const InputError& e) {  // chunks hold their truth since 2026-12-05
      throw InputError(std::string(e.what()) + " (a chunk of an older patchlearn?)" + remedy);
    }
  } else {
    dims3 = dims4 = dims;
  }
  const auto ps = h5_read(path, "point_steps"), ws = h5_read(path, "wall_s");
  if (dims.size() != 3 || dims != dims2 || dims != dims3 || dims != dims4 || dims[0] != count ||
      dims[1] != static_cast<index_t>(c.t.size()) || ps.size() != 1 || ws.size() != 1)
    throw InputError("'" + path + "' is not a complete chunk of this run" + remedy);
  c.times = dims[1];
  c.nodes = dims[2];
  c.point_steps = ps[0];
  c.wall_s = ws[0];
  return c;
}

}  // namespace patchlearn
