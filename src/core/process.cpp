#include "patchlearn/core/process.hpp"

#include <cstdlib>
#include <filesystem>
#include <limits>
#include <mutex>
#include <set>

#include <fcntl.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "patchlearn/core/error.hpp"

namespace patchlearn {

int run_child(const std::vector<std::string>& argv, bool discard_stdout) {
  if (argv.empty()) return 127;
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return 127;
  if (pid == 0) {
    // The child dies with its parent: a killed patchlearn leaves no report script writing into
    // the run folder afterwards.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    if (discard_stdout) {
      const int null = ::open("/dev/null", O_WRONLY);
      if (null >= 0) ::dup2(null, STDOUT_FILENO);
    }
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return 127;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 127;
}

void lock_output_directory(const std::string& dir) {
  // One lock per folder and process: a library user's second job into the same folder (simulate,
  // then train) already holds it.
  static std::mutex mutex;
  static std::set<std::string> held;
  std::error_code ec;
  const std::string canonical = std::filesystem::weakly_canonical(dir, ec).string();
  const std::lock_guard<std::mutex> guard(mutex);
  if (held.count(canonical)) return;
  const std::string path = dir + "/.patchlearn.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) throw RunError("cannot create " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK)
      throw RunError("another patchlearn job is writing into " + dir + "; wait for it to end or use another --out");
    throw RunError("cannot lock " + path + ": " + std::strerror(err));
  }
  // The descriptor stays open (and the lock held) until the process ends; the system releases it
  // however the process ends.
  held.insert(canonical);
}

bool keep_freed_memory() {
#if defined(__GLIBC__)
  if (std::getenv("MALLOC_MMAP_MAX_") || std::getenv("GLIBC_TUNABLES")) return false;
  // Every block from the heap (a thread's arena that cannot hold one falls back to the main
  // arena), the heap grown 64 MB at a time and never trimmed.
  return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max()) == 1 &&
         mallopt(M_TOP_PAD, 64 << 20) == 1;
#else
  return false;
#endif
}

}  // namespace patchlearn
