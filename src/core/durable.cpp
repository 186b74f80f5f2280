#include "patchlearn/core/durable.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <ftw.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "patchlearn/core/error.hpp"

namespace patchlearn {
namespace {

std::string folder_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// fsync an open descriptor or the file at `path`; returns errno (0 on success).
int sync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return errno;
  int err = ::fsync(fd) == 0 ? 0 : errno;
  // Folders on some file systems do not support fsync; that is not a failure of the data.
  if (err == EINVAL || err == EROFS) err = 0;
  if (::close(fd) != 0 && err == 0) err = errno;
  return err;
}

// Write all n bytes to fd, retrying interrupted and short writes; returns errno (0 on success).
int write_all(int fd, const void* bytes, std::size_t n) {
  const char* p = static_cast<const char*>(bytes);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return 0;
}

}  // namespace

std::string write_failure(const std::string& path, int errno_value) {
  std::string msg = "cannot write " + path + ": " + std::strerror(errno_value);
  if (errno_value == ENOSPC || errno_value == EDQUOT) msg += " (disk full?)";
  return msg;
}

void remove_quietly(const std::string& path) noexcept { ::unlink(path.c_str()); }

void remove_tree_quietly(const std::string& path) noexcept {
  // Depth first (a folder after what it holds), links removed rather than followed.
  ::nftw(
      path.c_str(), [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p), 0; }, 16,
      FTW_DEPTH | FTW_PHYS);
}

void commit_partial(const std::string& partial, const std::string& path) {
  if (const int err = sync_path(partial, O_RDONLY)) {
    remove_quietly(partial);
    throw RunError(write_failure(path, err));
  }
  if (std::rename(partial.c_str(), path.c_str()) != 0) {
    const int err = errno;
    remove_quietly(partial);
    throw RunError("cannot move " + partial + " to " + path + ": " + std::strerror(err));
  }
  if (const int err = sync_path(folder_of(path), O_RDONLY | O_DIRECTORY)) throw RunError(write_failure(path, err));
}

void write_file_durably(const std::string& partial, const std::string& path, const void* bytes, std::size_t n) {
  const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) throw RunError(write_failure(path, errno));
  int err = write_all(fd, bytes, n);
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err) {
    remove_quietly(partial);
    throw RunError(write_failure(path, err));
  }
  commit_partial(partial, path);
}

void append_line_durably(const std::string& path, const std::string& line) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  if (fd < 0) throw RunError(write_failure(path, errno));
  const std::string text = line + "\n";
  int err = write_all(fd, text.data(), text.size());
  if (err == 0 && ::fsync(fd) != 0 && errno != EINVAL) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err) throw RunError(write_failure(path, err));
}

std::uint64_t checksum64(const void* bytes, std::size_t n, std::uint64_t seed) {
  constexpr std::uint64_t prime = 0x100000001b3ull;
  const auto* p = static_cast<const unsigned char*>(bytes);
  std::uint64_t h = seed ^ (static_cast<std::uint64_t>(n) * prime);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * prime;
    h ^= h >> 29;
  }
  for (; i < n; ++i) h = (h ^ p[i]) * prime;
  // Final avalanche (splitmix64's), so that nearby inputs give unrelated checksums.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

std::string checksum_hex(std::uint64_t c) { return fmt::format("{:016x}", c); }

}  // namespace patchlearn
