// MetadataCache: what the filesystem knows about remote names, persisted in the cache's RocksDB
// (the `files` table of BlockIndex) so a restarted daemon keeps its inode numbers and can list and
// stat a large tree without the remote.
//
//  - Inode numbers: one per (remote, path), assigned once, never reused, persisted; the root of
//    remote r is path "/" (the filesystem maps FUSE's root inode onto it). A number is persisted
//    before it is returned for the kernel to hold (InodeOf, InodesOf): only numbers the kernel
//    sees as readdir's d_ino alone may be written later (InodesOf with durable false), so a
//    crash before that write loses nothing anyone holds.
//  - Attributes, directory listings and negative lookups, each with the wall-clock time it was
//    fetched. Freshness is decided by the caller's TTLs (Lookup* take `max_age`); a stale entry is
//    still returned (flagged) so the caller can serve it when the remote is down.
//  - A listing stores every entry's attributes too, so a `stat` of each file of a listed
//    directory costs no remote request.
//
// Keys (files table): "I" ino u64 BE -> remote u32 BE | path;  "P" remote | path -> ino;
// "N" -> next ino;  "A" remote | path -> attr record;  "L" remote | dir -> listing.
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/block_index.h"
#include "common/result.h"
#include "remote/object_source.h"

namespace hoardfs {

struct InodePath {
  uint32_t remote_id = 0;
  std::string path;
};

template <typename T>
struct Cached {
  T value;
  bool fresh = false;  // younger than the max_age asked for
  std::chrono::system_clock::time_point fetched_at;
};

class MetadataCache {
 public:
  // REQUIRES: index outlives the MetadataCache.
  static Result<std::unique_ptr<MetadataCache>> Open(BlockIndex* index);
  ~MetadataCache();
  MetadataCache(const MetadataCache&) = delete;
  MetadataCache& operator=(const MetadataCache&) = delete;

  // The inode of (remote, path), assigned and persisted on first use.
  Result<uint64_t> InodeOf(uint32_t remote_id, const std::string& path);
  // The inodes of many paths of one remote (a directory's entries), assigning the missing ones in
  // one index batch. With `durable` false the new numbers are only assigned in memory and written
  // by the next FlushInodes(), InodeOf() or durable InodesOf() (whichever comes first): for a
  // listing whose entries the kernel gets without node ids (names first).
  Result<std::vector<uint64_t>> InodesOf(uint32_t remote_id, std::span<const std::string> paths,
                                         bool durable = true);
  // Writes the numbers assigned in memory only.
  Status FlushInodes();
  // nullopt for an inode never assigned.
  std::optional<InodePath> PathOf(uint64_t ino);

  // Attributes. A negative entry (the path does not exist) is a Cached with value nullopt.
  std::optional<Cached<std::optional<ObjectInfo>>> LookupAttr(uint32_t remote_id,
                                                              const std::string& path,
                                                              std::chrono::seconds max_age);
  Status PutAttr(uint32_t remote_id, const std::string& path, const ObjectInfo& info);
  Status PutNegative(uint32_t remote_id, const std::string& path);

  // Listings (every entry's attributes are stored as attributes of dir/name as well).
  std::optional<Cached<std::vector<ObjectInfo>>> LookupListing(uint32_t remote_id,
                                                               const std::string& dir,
                                                               std::chrono::seconds max_age);
  Status PutListing(uint32_t remote_id, const std::string& dir,
                    const std::vector<ObjectInfo>& entries);

  // Whether attributes (or a negative entry) of any path below directory `dir` may be stored: one
  // seek. False only when none is, as for a directory never listed whose entries were never
  // looked up: then no entry has a version to compare a listing with.
  bool MayHaveAttrsBelow(uint32_t remote_id, const std::string& dir);

  // Drops cached attributes and listing of one path (e.g. after a failed open).
  Status Forget(uint32_t remote_id, const std::string& path);

 private:
  explicit MetadataCache(BlockIndex* index) : index_(index) {}
  // Whether none of `paths` (paths of one remote) can have a stored number: they are all entries
  // of one directory, and no stored path key lies under it. Saves a lookup per path.
  bool NoneStored(uint32_t remote_id, std::span<const std::string> paths);
  // Assigns the next number to `pkey` (remote | path) in memory; written by FlushLocked().
  uint64_t AssignLocked(std::string pkey, uint32_t remote_id, const std::string& path);
  Status FlushLocked();

  BlockIndex* index_;
  std::mutex mu_;  // guards the maps and inode assignment
  uint64_t next_ino_ = 0;
  uint64_t stored_next_ino_ = 0;  // numbers below it are stored; above, in memory only
  // Keys and values of the numbers assigned in memory only: path keys, and inode keys (ascending,
  // as numbers are assigned).
  std::vector<std::pair<std::string, std::string>> unstored_paths_, unstored_inodes_;
  std::unordered_map<uint64_t, InodePath> by_ino_;
  std::unordered_map<std::string, uint64_t> by_path_;  // remote | path -> ino
};

// Joins a directory path and an entry name ("/" + "a" = "/a", "/x" + "a" = "/x/a").
std::string JoinPath(const std::string& dir, const std::string& name);
// The parent of an absolute path ("/a/b" -> "/a", "/a" -> "/").
std::string ParentPath(const std::string& path);

// Binary encoding of ObjectInfo (exposed for tests).
void EncodeObjectInfo(const ObjectInfo& info, std::string* out);
bool DecodeObjectInfo(std::string_view* in, ObjectInfo* info);

}  // namespace hoardfs
