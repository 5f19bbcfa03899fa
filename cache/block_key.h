// Keys of the block index (RocksDB), and the identity of a cached file version.
//
//   block key = remote_id (u32 BE) | path bytes | 0x00 | version hash (u64 BE) | block (u32 BE)
//
// Big-endian integers and a NUL after the path (POSIX paths never contain NUL) make the byte order
// of keys the order we need: one file version's blocks are contiguous and ascending, all versions
// of one path are contiguous, and every file under a directory prefix "/a/b/" is contiguous, so
// evicting or measuring a file, a path or a dataset is one range scan. The path is kept whole
// rather than hashed: a hash cannot keep a prefix contiguous, and RocksDB's key delta encoding makes
// the repeated path cost a few bytes per block on disk (docs/cache-format.md has the figures).
// Thread-safety: pure functions and values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace hoardfs {

// One version of one remote file: the unit the cache stores blocks of.
struct FileKey {
  uint32_t remote_id = 0;     // which remote (mount table entry), assigned by the daemon
  std::string path;           // absolute, '/'-separated, no NUL, no trailing '/' (except "/")
  uint64_t version_hash = 0;  // Hash64 of the remote's version string (ETag, size+mtime, ...)
};

// OK if `path` is usable in a key: starts with '/', has no NUL, no trailing '/' unless it is "/".
Status ValidatePath(std::string_view path);

// remote | path | 0x00 | version: the common prefix of all block keys of one file version.
std::string FilePrefix(const FileKey& file);
// FilePrefix(file) followed by the block index.
std::string BlockKey(const FileKey& file, uint32_t block);
// Replaces the trailing block index of a key built by BlockKey() (fast path for batches).
void SetBlockIndex(std::string* key, uint32_t block);

struct DecodedBlockKey {
  uint32_t remote_id;
  std::string_view path;  // points into the decoded key
  uint64_t version_hash;
  uint32_t block;
};
// nullopt if `key` is not a well-formed block key.
std::optional<DecodedBlockKey> DecodeBlockKey(std::string_view key);

// Block indices with the top bit set name *pieces*: parts of a block stored on their own (a sparse
// read fetched just them, cache/fetcher.h). Two kinds, told apart by the next bit:
//  - chunk pieces, 16 KiB chunks: piece c of block b is kPieceIndexBit | (b * chunks per block + c)
//    (below kPagePieceBit: files under 16 TiB at 1 MiB blocks);
//  - page pieces, the 4 KiB pages of a chunk that a read touches only in part (its edges): page p
//    of block b is kPieceIndexBit | kPagePieceBit | (b * pages per block + p) (files under 4 TiB
//    at 1 MiB blocks).
// Whole blocks keep indices below kPieceIndexBit (files under 2 PiB at 1 MiB blocks). Pieces sort
// after the file's blocks, inside the same file prefix.
inline constexpr uint32_t kPieceIndexBit = uint32_t{1} << 31;
inline constexpr uint32_t kPagePieceBit = uint32_t{1} << 30;
inline constexpr uint32_t kPiecePageSize = 4096;

// Length of the file prefix inside a block key (everything but the block index).
inline constexpr size_t kBlockIndexBytes = 4;

// Half-open key ranges [begin, end) covering every block under `path_prefix` of `remote_id`:
// the file at exactly that path (all versions) and everything below it as a directory. For "/"
// this is the whole remote. Segment-aware: "/a/b" does not cover "/a/bc".
std::vector<std::pair<std::string, std::string>> PathRanges(uint32_t remote_id,
                                                            std::string_view path_prefix);

// True if `path` equals `prefix` or lies below it as a directory (segment-aware; "/" covers all).
bool PathHasPrefix(std::string_view path, std::string_view prefix);

void AppendBigEndian32(std::string* out, uint32_t v);
void AppendBigEndian64(std::string* out, uint64_t v);
uint32_t ReadBigEndian32(const char* p);
uint64_t ReadBigEndian64(const char* p);

}  // namespace hoardfs
