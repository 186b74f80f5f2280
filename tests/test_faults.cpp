// The program under faults a user can meet: a full disk while committing a chunk or saving a
// model, a report script that cannot run, an output path that is a file, --json on failure, and
// memory the allocator would map afresh at every training step (slow where page faults are).
// Each must end with a non-zero status and exactly one line on stderr, leave no ".partial" file
// and no report of an earlier run beside the new results. The full-disk cases mount a small tmpfs
// (root only; they skip where mounting is not allowed: test_durable injects ENOSPC portably).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>
#include <set>
#include <string>

#include "patchlearn/core/durable.hpp"
#include "patchlearn/core/process.hpp"
#include "patchlearn/io/h5.hpp"
#include "patchlearn/learn/networks.hpp"
#include "small_case.hpp"

namespace fs = std::filesystem;

namespace {

struct Result {
  int status;
  std::string out, err;
};

// Run the program with `args` (a shell fragment) and `env` prepended; stdout and stderr apart.
Result run(const std::string& args, const std::string& env = "") {
  // One file per test: ctest runs the tests of this file side by side.
  const fs::path err =
      fs::path(testing::TempDir()) /
      ("pl_faults_stderr_" + std::string(testing::UnitTest::GetInstance()->current_test_info()->name()) + ".txt");
  const std::string cmd = env + " " + std::string(PATCHLEARN_BINARY) + " " + args + " 2>'" + err.string() + "'";
  FILE* p = popen(cmd.c_str(), "r");
  Result r{-1, "", ""};
  if (!p) return r;
  std::array<char, 4096> buf{};
  while (fgets(buf.data(), buf.size(), p)) r.out += buf.data();
  const int status = pclose(p);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream in(err);
  r.err.assign(std::istreambuf_iterator<char>(in), {});
  return r;
}

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::path(testing::TempDir()) / name;
  if (fs::exists(d)) std::system(("umount '" + d.string() + "' 2>/dev/null").c_str());
  patchlearn::remove_tree_quietly(d);
  fs::create_directories(d);
  return d;
}

// A tmpfs of `size` at `dir`; false where mounting is not allowed.
bool mount_small_disk(const fs::path& dir, const std::string& size) {
  return std::system(("mount -t tmpfs -o size=" + size + " tmpfs '" + dir.string() + "' 2>/dev/null").c_str()) == 0;
}

struct Unmount {
  fs::path dir;
  ~Unmount() { std::system(("umount '" + dir.string() + "' 2>/dev/null").c_str()); }
};

std::size_t partial_files(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().extension() == ".partial") ++n;
  return n;
}

std::string tiny_config(const fs::path& dir, const std::string& extra = "") {
  const auto path = (dir / "tiny.toml").string();
  std::ofstream(path) << patchlearn::testing_support::kSmallCase
                      << "[macro]\nt_end = 0.02\n[initial]\ntrajectories = 3\n[run]\nchunk_trajectories = 1\n"
                      << "[learn]\nepochs = 2\nlbfgs_iterations = 2\ntrain_trajectories = 2\n[rollout]\nt_end = 0.02\n"
                      << extra;
  return path;
}

void expect_one_line(const Result& r, const std::string& piece) {
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("patchlearn: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(piece), std::string::npos) << r.err;
}

}  // namespace

TEST(Faults, FreedMemoryIsTakenAgainWithoutNewPageFaults) {
#if defined(__SANITIZE_ADDRESS__) || !defined(__GLIBC__)
  GTEST_SKIP() << "keep_freed_memory sets glibc's allocator, which ASan replaces";
#else
  // A policy the user set through glibc's variables stays.
  setenv("MALLOC_MMAP_MAX_", "65536", 1);
  EXPECT_FALSE(patchlearn::keep_freed_memory());
  unsetenv("MALLOC_MMAP_MAX_");
  unsetenv("GLIBC_TUNABLES");
  ASSERT_TRUE(patchlearn::keep_freed_memory());
  // A 64 MB block, freed and asked for again, is the same memory: touching it once more faults on
  // no page. (By glibc's default it is unmapped at the free and mapped afresh: 16,384 faults.)
  constexpr std::size_t bytes = std::size_t{64} << 20;
  const auto touch_and_free = [] {
    auto* p = static_cast<volatile char*>(std::malloc(bytes));
    ASSERT_NE(p, nullptr);
    for (std::size_t i = 0; i < bytes; i += 4096) p[i] = 1;
    std::free(const_cast<char*>(p));
  };
  const auto faults = [] {
    rusage r{};
    getrusage(RUSAGE_SELF, &r);
    return r.ru_minflt;
  };
  touch_and_free();
  const long before = faults();
  touch_and_free();
  EXPECT_LT(faults() - before, 100);
#endif
}

TEST(Faults, FullDiskWhileCommittingAChunk) {
  const auto root = fresh_dir("pl_fault_chunk");
  const auto config = tiny_config(root);
  const auto disk = root / "disk";
  fs::create_directories(disk);
  if (!mount_small_disk(disk, "12k")) GTEST_SKIP() << "cannot mount a tmpfs here";
  Unmount unmount{disk};
  const auto r = run("simulate '" + config + "' --quiet --out '" + (disk / "o").string() + "'");
  EXPECT_EQ(r.status, 1);  // a run-time failure, not a crash (139)
  expect_one_line(r, "(disk full?)");
  EXPECT_NE(r.err.find("chunk_"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(disk / "o" / "data.h5"));
  EXPECT_EQ(partial_files(disk), 0u);
}

TEST(Faults, FullDiskWhileTrainingLeavesNoPartialFiles) {
  const auto root = fresh_dir("pl_fault_train");
  const auto config = tiny_config(root);
  ASSERT_EQ(run("simulate '" + config + "' --quiet --out '" + (root / "sim").string() + "'").status, 0);
  const auto disk = root / "disk";
  fs::create_directories(disk);
  if (!mount_small_disk(disk, "40k")) GTEST_SKIP() << "cannot mount a tmpfs here";
  Unmount unmount{disk};
  const auto r = run("train '" + config + "' --quiet --data '" + (root / "sim" / "data.h5").string() + "' --out '" +
                     (disk / "t").string() + "'");
  EXPECT_EQ(r.status, 1);  // not an abort (134) on an uncaught LibTorch error
  expect_one_line(r, "(disk full?)");
  EXPECT_EQ(partial_files(disk), 0u);
}

TEST(Faults, AFailedReportFailsTheRunAndLeavesNoOldReport) {
  const auto root = fresh_dir("pl_fault_report");
  const auto config = tiny_config(root);
  const auto out = root / "run";
  fs::create_directories(out / "figures");
  std::ofstream(out / "report.md") << "# an earlier run\n";
  std::ofstream(out / "figures" / "loss.png") << "old";
  const auto r =
      run("run '" + config + "' --quiet --json --out '" + out.string() + "'", "PATCHLEARN_PYTHON=/nonexistent");
  EXPECT_EQ(r.status, 1);
  expect_one_line(r, "cannot run the report script with '/nonexistent'");
  EXPECT_TRUE(fs::exists(out / "summary.json"));  // the results are there
  EXPECT_FALSE(fs::exists(out / "report.md"));    // but nothing of the earlier run
  EXPECT_FALSE(fs::exists(out / "figures"));
  // --json: the last stdout line is a JSON object with the error.
  EXPECT_NE(r.out.find("{\"error\":\"cannot run the report script"), std::string::npos) << r.out;
}

TEST(Faults, AMovedProgramCarriesItsReportScript) {
  // The program reports from the copy of tools/report.py built into it, wherever it is.
  const auto root = fresh_dir("pl_fault_moved");
  const auto config = tiny_config(root);
  const auto out = root / "sim";
  ASSERT_EQ(run("simulate '" + config + "' --quiet --out '" + out.string() + "'").status, 0);
  fs::create_directories(root / "elsewhere");
  const auto moved = root / "elsewhere" / "patchlearn";
  fs::copy_file(PATCHLEARN_BINARY, moved);
  const std::string cmd = "'" + moved.string() + "' --log-level error report '" + out.string() + "' 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::array<char, 4096> buf{};
  std::string text;
  while (fgets(buf.data(), buf.size(), p)) text += buf.data();
  EXPECT_EQ(pclose(p), 0) << text;
  EXPECT_TRUE(fs::exists(out / "report.md")) << text;
}

TEST(Faults, OutputPathThatIsAFileIsRefusedAtOnce) {
  const auto root = fresh_dir("pl_fault_outfile");
  const auto config = tiny_config(root);
  std::ofstream(root / "afile") << "x";
  const auto r = run("simulate '" + config + "' --quiet --json --out '" + (root / "afile").string() + "'");
  EXPECT_EQ(r.status, 2);
  expect_one_line(r, "cannot create output directory");
  EXPECT_NE(r.out.find("\"error\""), std::string::npos) << r.out;
  // train too, before it reads or fits anything (no data.h5 exists: the folder is checked first).
  const auto t = run("train '" + config + "' --quiet --data '" + (root / "none.h5").string() + "' --out '" +
                     (root / "afile").string() + "'");
  EXPECT_EQ(t.status, 2);
  expect_one_line(t, "cannot create output directory");
}

TEST(Faults, TwoJobsNeverWriteIntoOneFolder) {
  const auto root = fresh_dir("pl_fault_lock");
  const auto config = tiny_config(root);
  const auto out = root / "o";
  fs::create_directories(out);
  // Another job holds the folder's lock.
  const int fd = open((out / ".patchlearn.lock").c_str(), O_RDWR | O_CREAT, 0666);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0);
  std::ofstream(out / "keep.txt") << "the other job's file";
  auto r = run("simulate '" + config + "' --quiet --out '" + out.string() + "'");
  EXPECT_EQ(r.status, 1);
  expect_one_line(r, "another patchlearn job is writing into " + out.string());
  EXPECT_FALSE(fs::exists(out / "data.h5"));
  close(fd);
  r = run("simulate '" + config + "' --quiet --out '" + out.string() + "'");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::exists(out / "data.h5"));
}

TEST(Faults, ErrorsAreOneLineEvenForHugeValues) {
  const auto root = fresh_dir("pl_fault_huge");
  const auto config = (root / "huge.toml").string();
  std::ofstream(config) << "[scheme]\ntype = \"" << std::string(1 << 20, 'x') << "\"\n";
  const auto r = run("validate '" + config + "'");
  EXPECT_EQ(r.status, 2);
  expect_one_line(r, "scheme.type");
  EXPECT_LT(r.err.size(), 1000u);
}

namespace {

// Flip one byte inside the stored bytes of `value` (its first occurrence in the file).
bool flip_value_bytes(const fs::path& file, const void* value, std::size_t n) {
  std::ifstream in(file, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), {});
  const auto at = s.find(std::string(static_cast<const char*>(value), n));
  if (at == std::string::npos) return false;
  s[at + n / 2] ^= 0x20;
  std::ofstream(file, std::ios::binary) << s;
  return true;
}

}  // namespace

TEST(Faults, DamagedDataAndModelFilesAreRefusedByName) {
  const auto root = fresh_dir("pl_fault_damaged");
  const auto config = tiny_config(root);
  const auto out = root / "o";
  ASSERT_EQ(run("run '" + config + "' --quiet --out '" + out.string() + "'", "PATCHLEARN_PYTHON=/bin/true").status, 0);
  const auto model = out / "models" / "functional.pt";
  ASSERT_TRUE(fs::exists(model));
  EXPECT_EQ(run("rollout '" + config + "' --model '" + model.string() + "'").status, 0);
  // Flipped bytes inside the data's U: train refuses the file by name.
  const auto data = out / "data.h5";
  const auto U = patchlearn::h5_read(data.string(), "U");
  ASSERT_TRUE(flip_value_bytes(data, &U[U.size() / 2], sizeof(double)));
  auto r = run("train '" + config + "' --quiet --data '" + data.string() + "' --out '" + (root / "t").string() + "'");
  EXPECT_EQ(r.status, 2);
  expect_one_line(r, "'" + data.string() + "': dataset 'U' does not match its checksum");
  // Flipped bytes inside a model's weights: rollout refuses it by name.
  const auto net = patchlearn::learn::load_model(model.string(), torch::kCPU);
  const auto w = net->parameters()[0].detach().contiguous();
  ASSERT_TRUE(flip_value_bytes(model, w.data_ptr(), 4 * w.element_size()));
  r = run("rollout '" + config + "' --model '" + model.string() + "'");
  EXPECT_EQ(r.status, 2);
  expect_one_line(r, "'" + model.string() + "' does not match its checksum");
}

TEST(Faults, TheDamagedFileCorpusIsRefusedFileByFile) {
  // tests/damaged_files/: committed damaged data, chunk and model files (make.sh), each given to
  // the command that reads it (cases.txt): exit 2 and one line naming the file and the damage.
  const fs::path corpus = fs::path(PATCHLEARN_SOURCE_DIR) / "tests" / "damaged_files";
  std::ifstream in(corpus / "cases.txt");
  std::set<std::string> covered, referenced;  // the damaged files; the commands (healthy inputs they name)
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f;  // file, where it goes, command, refusal
    std::size_t a = 0;
    for (std::size_t b; (b = line.find(" | ", a)) != std::string::npos; a = b + 3) f.push_back(line.substr(a, b - a));
    f.push_back(line.substr(a));
    ASSERT_EQ(f.size(), 4u) << line;
    SCOPED_TRACE(f[0]);
    covered.insert(f[0]);
    const auto dir = fresh_dir("pl_fault_corpus");
    const fs::path placed = dir / f[1];
    fs::create_directories(placed.parent_path());
    fs::copy_file(corpus / f[0], placed);
    std::string cmd = f[2];
    const auto put = [&](const std::string& key, const std::string& value) {
      for (auto k = cmd.find(key); k != std::string::npos; k = cmd.find(key, k + value.size()))
        cmd.replace(k, key.size(), value);
    };
    referenced.insert(f[2]);
    put("{config}", "'" + (corpus / "tiny.toml").string() + "'");
    put("{corpus}", corpus.string());
    put("{placed}", "'" + placed.string() + "'");
    put("{dir}", dir.string());
    const auto r = run(cmd);
    EXPECT_EQ(r.status, 2);
    expect_one_line(r, "'" + placed.string() + "'");
    EXPECT_NE(r.err.find(f[3]), std::string::npos) << r.err;
  }
  EXPECT_GE(covered.size(), 12u);
  // Every damaged file has its case; every other file of data, model or checkpoint is a healthy
  // input that some case names.
  for (const auto& e : fs::directory_iterator(corpus)) {
    const auto ext = e.path().extension();
    const auto name = e.path().filename().string();
    if (ext != ".h5" && ext != ".pt" && ext != ".state") continue;
    const bool named = std::any_of(referenced.begin(), referenced.end(), [&](const std::string& c) {
      return c.find("{corpus}/" + name) != std::string::npos;
    });
    EXPECT_TRUE(covered.count(name) == 1 || named) << e.path();
  }
}

TEST(Faults, AKilledJobTakesItsReportScriptWithIt) {
  // A report "script" that would write a file after 3 s; patchlearn is stopped after 1 s, by
  // SIGTERM to it alone or by a terminal's Ctrl-C (SIGINT to its whole process group), and the
  // script must not outlive it (no orphan writing into the run folder afterwards), the job must
  // fail, and no report may be left.
  for (const int sig : {SIGTERM, SIGINT}) {
    SCOPED_TRACE(sig == SIGTERM ? "SIGTERM" : "SIGINT to the group");
    const auto root = fresh_dir("pl_fault_orphan");
    const auto marker = root / "written_after_the_end";
    const auto script = root / "slow_python.sh";
    std::ofstream(script) << "#!/bin/sh\nexec python3 -c \"import time; time.sleep(3); open('" << marker.string()
                          << "', 'w').write('x')\"\n";
    fs::permissions(script, fs::perms::owner_all);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      setpgid(0, 0);  // its own group, as a shell's foreground job
      setenv("PATCHLEARN_PYTHON", script.c_str(), 1);
      execl(PATCHLEARN_BINARY, PATCHLEARN_BINARY, "report", root.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    sleep(1);
    kill(sig == SIGINT ? -pid : pid, sig);
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFSIGNALED(status) || WEXITSTATUS(status) != 0);
    sleep(4);
    EXPECT_FALSE(fs::exists(marker));
    EXPECT_FALSE(fs::exists(root / "report.md"));
  }
}
