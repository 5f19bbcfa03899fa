// Dataset: a deterministic test tree written into a directory, with a manifest, so a test can
// serve it through any backend (file://, a real XRootD server, later S3/WebDAV) and check every
// listing and every byte. Shared by the remote conformance tests and later end-to-end tests.
//
// Layout (object paths; all content is a pure function of the seed and the path):
//   /large.bin                 options.large_file_size bytes (default 64 MiB)
//   /empty.dat                 0 bytes
//   /emptydir/                 an empty directory
//   /with space.txt            a name with a space
//   /ünïcødé/ファイル.dat        non-ASCII names (UTF-8)
//   /small/dX/eY/fNNN.dat      options.small_files files in 3 levels (sizes 1 B .. 20 KB,
//                              including exact 4096 and 1-byte files)
//   /bigdir/eNNNNN             options.big_dir_entries tiny files (1..16 bytes)
//   /links/...                 only with options.symlinks (XRootD serves no symlinks):
//                              to_large -> ../large.bin, dangling -> nowhere
// Files are 0644 and directories 0755, so a server running as `nobody` can read them.
// Generation writes each file once with one write(); 64 MiB + 20,000 entries take about 1 s.
//
// Thread-safety: a generated Dataset is immutable; its const methods may run on any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "remote/object_source.h"

namespace hoardfs::testing {

struct DatasetOptions {
  uint64_t seed = 42;
  uint64_t large_file_size = uint64_t{64} << 20;
  unsigned small_files = 200;
  unsigned big_dir_entries = 20000;
  bool symlinks = false;
};

struct DatasetEntry {
  std::string path;  // object path: "/small/d0/e0/f000.dat"
  ObjectType type = ObjectType::kFile;
  uint64_t size = 0;           // files only
  std::string sha256;          // files only: lower-case hex
  std::string symlink_target;  // symlinks only
};

class Dataset {
 public:
  static constexpr const char* kLargeFile = "/large.bin";
  static constexpr const char* kEmptyFile = "/empty.dat";
  static constexpr const char* kEmptyDir = "/emptydir";
  static constexpr const char* kSpaceFile = "/with space.txt";
  static constexpr const char* kUnicodeDir = "/ünïcødé";
  static constexpr const char* kUnicodeFile = "/ünïcødé/ファイル.dat";
  static constexpr const char* kSmallDir = "/small";
  static constexpr const char* kBigDir = "/bigdir";

  // Writes the tree into `dir` (created if missing; must not already hold the tree's names).
  static Result<Dataset> Generate(const std::string& dir, const DatasetOptions& options);

  const std::string& dir() const { return dir_; }
  const DatasetOptions& options() const { return options_; }
  // Every file, directory and symlink except the root, sorted by path.
  const std::vector<DatasetEntry>& entries() const { return entries_; }
  // The entry at `path`, or null ("/" has no entry).
  const DatasetEntry* Find(const std::string& path) const;
  // The entries directly inside directory `dir` ("/" for the top level), sorted by name.
  std::vector<const DatasetEntry*> Children(const std::string& dir) const;
  // Directory paths, "/" first, then sorted.
  std::vector<std::string> Directories() const;
  // The bytes of file `path` in [offset, offset + length), clamped to its size.
  // REQUIRES: `path` is a file of this dataset.
  std::string Bytes(const std::string& path, uint64_t offset, uint64_t length) const;
  // Seconds the generation took.
  double generation_seconds() const { return generation_seconds_; }

 private:
  std::string dir_;
  DatasetOptions options_;
  std::vector<DatasetEntry> entries_;
  std::map<std::string, size_t> index_;  // path → position in entries_
  double generation_seconds_ = 0;
};

// SHA-256 of `data` as lower-case hex (OpenSSL libcrypto, EVP interface).
std::string Sha256Hex(std::span<const std::byte> data);
std::string Sha256Hex(std::string_view data);

// Fills `out` with the deterministic content stream `key` from byte `offset` on. The content at
// any offset is computable without the bytes before it (counter-based, splitmix64).
void FillContent(uint64_t key, uint64_t offset, std::span<std::byte> out);

}  // namespace hoardfs::testing
