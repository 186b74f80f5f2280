#pragma once
// Files that are either complete or absent. Every artifact is written as "<path>.partial" and then
// committed: the partial file's data are flushed to the disk (fsync), it is renamed over <path>
// and the rename itself is made durable (fsync of the folder). A failure at any step removes the
// partial file and throws a one-line RunError naming <path> ("disk full?" where the system said
// so). A checksum over the bytes of what a file holds lets a reader refuse a damaged file.
#include <cstddef>
#include <cstdint>
#include <string>

namespace patchlearn {

/// fsync `partial`, rename it to `path`, fsync the folder. On failure `partial` is removed and a
/// RunError thrown.
void commit_partial(const std::string& partial, const std::string& path);

/// Write `bytes` to `partial` (created or truncated), checked, then commit_partial(partial, path).
void write_file_durably(const std::string& partial, const std::string& path, const void* bytes, std::size_t n);

/// Append `line` and a newline to `path` (created if absent) and fsync it: a log whose every
/// finished line survives a crash or a kill. A failure throws a one-line RunError naming `path`.
void append_line_durably(const std::string& path, const std::string& line);

/// "cannot write PATH: REASON" with "(disk full?)" appended for ENOSPC/EDQUOT; errno_value is errno.
std::string write_failure(const std::string& path, int errno_value);

/// Remove a file, ignoring every error (for cleanup in destructors and catch blocks).
void remove_quietly(const std::string& path) noexcept;

/// Remove a folder and everything in it (or a file; nothing if absent), ignoring every error, without
/// following links. POSIX nftw rather than std::filesystem::remove_all: the LibTorch of PyTorch's
/// wheels (2.11+cu130 on the H200 machine) exports its own copy of remove_all, which a program
/// linked to it binds to and which calls through a null pointer there.
void remove_tree_quietly(const std::string& path) noexcept;

/// A 64-bit checksum of bytes (FNV-1a over 64-bit words, then a final avalanche): any flipped bit
/// changes it; `seed` chains several buffers into one checksum.
std::uint64_t checksum64(const void* bytes, std::size_t n, std::uint64_t seed = 0xcbf29ce484222325ull);
/// The checksum as 16 hex digits.
std::string checksum_hex(std::uint64_t c);

}  // namespace patchlearn
