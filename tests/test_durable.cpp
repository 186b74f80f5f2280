// Artifacts on disk: durable commits, full disks, checksums, chunk identities and config identity.
// A full disk is injected portably by pointing the ".partial" file at /dev/full (every write there
// fails with ENOSPC), so these tests need neither root nor a small file system.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <unistd.h>

#include "patchlearn/core/durable.hpp"
#include "patchlearn/core/error.hpp"
#include "patchlearn/io/chunk_file.hpp"
#include "patchlearn/io/h5.hpp"
#include "patchlearn/io/identity.hpp"
#include "failure_support.hpp"

using namespace patchlearn;
using testing_support::dev_full_usable;
using testing_support::message_of;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::path(testing::TempDir()) / name;
  remove_tree_quietly(d);
  fs::create_directories(d);
  return d;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

// Flip one byte inside the first occurrence of `value`'s bytes in the file (a double stored there).
void flip_inside(const fs::path& p, double value) {
  std::string s = read_bytes(p);
  char pattern[sizeof value];
  std::memcpy(pattern, &value, sizeof value);
  const auto at = s.find(std::string(pattern, sizeof value));
  ASSERT_NE(at, std::string::npos);
  s[at + 3] ^= 0x10;
  write_bytes(p, s);
}

ChunkFile sample_chunk(index_t first) {
  ChunkFile c;
  c.first = first;
  c.count = 2;
  c.times = 3;
  c.nodes = 4;
  for (int i = 0; i < 24; ++i) {
    c.U.push_back(1.0 + 0.123456789 * i + first);
    c.dUdt.push_back(-0.5 * i - first);
    c.truth_U.push_back(1.0 + 0.1234 * i + first);
    c.truth_dUdt.push_back(-0.49 * i - first);
  }
  c.t = {0.0, 0.1, 0.2};
  c.point_steps = 1e6;
  c.wall_s = 0.5;
  return c;
}

}  // namespace

TEST(Durable, RemoveTreeTakesTheFolderAndWhatItHoldsButNotWhatALinkPointsTo) {
  const fs::path root = fs::temp_directory_path() / ("pl_remove_tree_" + std::to_string(::getpid()));
  const fs::path outside = root.string() + "_outside";
  fs::create_directories(root / "a" / "b");
  fs::create_directories(outside);
  std::ofstream(root / "a" / "b" / "f") << "x";
  std::ofstream(root / "g") << "y";
  std::ofstream(outside / "kept") << "z";
  fs::create_directory_symlink(outside, root / "a" / "link");
  remove_tree_quietly(root.string());
  EXPECT_FALSE(fs::exists(fs::symlink_status(root)));
  EXPECT_TRUE(fs::exists(outside / "kept"));  // the link itself went, not its target
  remove_tree_quietly(root.string());         // absent: nothing to do, no error
  remove_tree_quietly(outside.string());
  EXPECT_FALSE(fs::exists(outside));
}

TEST(Durable, ChecksumSeesEveryFlippedBit) {
  std::vector<double> v(1000);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.1 * static_cast<double>(i));
  const auto c = checksum64(v.data(), v.size() * sizeof(double));
  auto* bytes = reinterpret_cast<unsigned char*>(v.data());
  // Each step of the checksum is a bijection of its state, so no single changed word can be
  // missed; check a spread of bits and the tail byte path (odd length).
  for (std::size_t b = 0; b < v.size() * sizeof(double) * 8; b += 997) {
    bytes[b / 8] ^= static_cast<unsigned char>(1u << (b % 8));
    EXPECT_NE(checksum64(v.data(), v.size() * sizeof(double)), c) << b;
    bytes[b / 8] ^= static_cast<unsigned char>(1u << (b % 8));
  }
  EXPECT_EQ(checksum64(v.data(), v.size() * sizeof(double)), c);
  const auto odd = checksum64(v.data(), 13);
  bytes[12] ^= 1;
  EXPECT_NE(checksum64(v.data(), 13), odd);
}

TEST(Durable, FullDiskIsOneLineNamingTheFileAndLeavesNothing) {
  if (!dev_full_usable()) GTEST_SKIP() << "no /dev/full here";
  const auto dir = fresh_dir("pl_full");
  const auto path = (dir / "out.bin").string();
  fs::create_symlink("/dev/full", path + ".partial");
  const std::string data(100000, 'x');
  const auto msg = message_of([&] { write_file_durably(path + ".partial", path, data.data(), data.size()); });
  EXPECT_NE(msg.find("cannot write " + path), std::string::npos) << msg;
  EXPECT_NE(msg.find("disk full?"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);
  EXPECT_FALSE(fs::exists(fs::symlink_status(path + ".partial")));
  EXPECT_FALSE(fs::exists(path));
}

TEST(Durable, H5WriterOnAFullDiskThrowsAndItsDestructorIsQuiet) {
  if (!dev_full_usable()) GTEST_SKIP() << "no /dev/full here";
  const auto dir = fresh_dir("pl_h5full");
  const auto path = (dir / "data.h5").string();
  {
    H5Writer w(path);  // creates data.h5.partial; replace it by the full device
    fs::remove(path + ".partial");
    fs::create_symlink("/dev/full", path + ".partial");
    w.dataset("U", {1000}, std::vector<double>(1000, 1.5));
    w.attribute("config", "x = 1");
    try {
      w.commit();
      ADD_FAILURE() << "commit on a full disk succeeded";
    } catch (const RunError& e) {
      EXPECT_NE(std::string(e.what()).find("disk full?"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }  // the destructor after a failed commit neither throws nor crashes
  {
    H5Writer w(path);  // destroyed while an exception unwinds, before commit
    try {
      w.dataset("U", {3}, {1.0, 2.0, 3.0});
      throw RunError("simulated failure mid-write");
    } catch (const RunError&) {
    }
  }
  EXPECT_FALSE(fs::exists(fs::symlink_status(path + ".partial")));
  EXPECT_FALSE(fs::exists(path));
}

TEST(Durable, FlippedBytesInADatasetAreRefusedByName) {
  const auto dir = fresh_dir("pl_flip");
  const auto path = (dir / "d.h5").string();
  std::vector<double> U(64);
  for (std::size_t i = 0; i < U.size(); ++i) U[i] = 0.25 + 0.001 * static_cast<double>(i);
  {
    H5Writer w(path);
    w.dataset("U", {8, 8}, U);
    w.dataset("t", {2}, {0.0, 0.5});
    w.commit();
  }
  EXPECT_EQ(h5_read(path, "U"), U);
  flip_inside(path, U[37]);
  const auto msg = message_of([&] { h5_read(path, "U"); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("'U' does not match its checksum"), std::string::npos) << msg;
  EXPECT_NO_THROW(h5_read(path, "t"));  // the undamaged dataset is still readable
}

TEST(Durable, TruncatedFileIsCalledDamagedNotMissingAnAttribute) {
  const auto dir = fresh_dir("pl_trunc");
  const auto path = (dir / "c.h5").string();
  {
    H5Writer w(path);
    w.dataset("U", {4000}, std::vector<double>(4000, 2.0));
    w.attribute("config", "a = 1");
    w.commit();
  }
  const auto s = read_bytes(path);
  write_bytes(path, s.substr(0, s.size() / 2));
  const auto msg = message_of([&] { h5_read_string_attribute(path, "config"); });
  EXPECT_NE(msg.find("truncated or damaged"), std::string::npos) << msg;
  // The same damage to a chunk: the resume says it is damaged and what to do.
  const auto chunk = (dir / "chunk_0_2.h5").string();
  write_chunk_file(chunk, sample_chunk(0), "id", "x = 1");
  const auto c = read_bytes(chunk);
  write_bytes(chunk, c.substr(0, c.size() / 2));
  const auto cmsg = message_of([&] { read_chunk_file(chunk, 0, 2, "id", dir.string()); });
  EXPECT_NE(cmsg.find("truncated or damaged"), std::string::npos) << cmsg;
  EXPECT_NE(cmsg.find("delete it to simulate it again"), std::string::npos) << cmsg;
}

TEST(Durable, ChunksCarryTheirIdentityAndTrajectoryRange) {
  const auto dir = fresh_dir("pl_chunkid");
  const auto a = (dir / "chunk_0_2.h5").string(), b = (dir / "chunk_2_2.h5").string();
  write_chunk_file(a, sample_chunk(0), "id1", "x = 1");
  write_chunk_file(b, sample_chunk(2), "id1", "x = 1");
  const auto back = read_chunk_file(b, 2, 2, "id1", dir.string());
  EXPECT_EQ(back.U, sample_chunk(2).U);
  EXPECT_EQ(back.t, sample_chunk(2).t);
  EXPECT_EQ(back.truth_U, sample_chunk(2).truth_U);
  EXPECT_EQ(back.truth_dUdt, sample_chunk(2).truth_dUdt);
  EXPECT_EQ(back.nodes, 4);
  {  // A chunk of a patchlearn from before chunks held their truth: refused, with what to do.
    const auto old = (dir / "chunk_4_2.h5").string();
    const auto c = sample_chunk(4);
    H5Writer w(old);
    w.dataset("U", {2, 3, 4}, c.U);
    w.dataset("dUdt", {2, 3, 4}, c.dUdt);
    w.dataset("t", {3}, c.t);
    w.dataset("point_steps", {1}, {c.point_steps});
    w.dataset("wall_s", {1}, {c.wall_s});
    w.attribute("identity", "id1");
    w.attribute("first", 4.0);
    w.attribute("count", 2.0);
    w.commit();
    const auto msg = message_of([&] { read_chunk_file(old, 4, 2, "id1", dir.string()); });
    EXPECT_NE(msg.find("no dataset 'U_truth'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("delete it to simulate it again"), std::string::npos) << msg;
  }
  // Another config's chunk.
  auto msg = message_of([&] { read_chunk_file(b, 2, 2, "id2", dir.string()); });
  EXPECT_NE(msg.find("differs in a setting that affects the data"), std::string::npos) << msg;
  EXPECT_NE(msg.find(b), std::string::npos);
  // A chunk copied over another: it says which trajectories it holds.
  fs::copy_file(a, b, fs::copy_options::overwrite_existing);
  msg = message_of([&] { read_chunk_file(b, 2, 2, "id1", dir.string()); });
  EXPECT_NE(msg.find("holds trajectories 0..1, not 2..3"), std::string::npos) << msg;
  // Damaged data.
  flip_inside(a, sample_chunk(0).U[5]);
  msg = message_of([&] { read_chunk_file(a, 0, 2, "id1", dir.string()); });
  EXPECT_NE(msg.find("does not match its checksum"), std::string::npos) << msg;
  EXPECT_NE(msg.find(a), std::string::npos);
}

TEST(Durable, ConfigIdentityIgnoresCommentsLayoutAndUnrelatedTables) {
  const auto& skip = tables_not_affecting_simulation();
  const std::string base = "[medium]\nepsilon = 1e-3\n[macro]\nt_end = 0.2\n[learn]\nepochs = 5\n";
  const auto id = config_identity(base, "a", skip);
  EXPECT_EQ(config_identity("# a comment\n[macro]\nt_end   = 0.2 # end\n[medium]\nepsilon = 1e-3\n[learn]\nepochs = 7\n"
                            "[rollout]\nt_end = 0.1\n",
                            "b", skip),
            id);
  EXPECT_NE(config_identity("[medium]\nepsilon = 2e-3\n[macro]\nt_end = 0.2\n[learn]\nepochs = 5\n", "c", skip), id);
  EXPECT_NE(config_identity(base + "[initial]\nseed = 3\n", "d", skip), id);
}
