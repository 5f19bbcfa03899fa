// RemoteTree: one remote storage tree as the filesystem sees it, through the caches: names and
// attributes through the MetadataCache (TTLs, negative entries, stale-if-unreachable), file bytes
// through the Fetcher and the BlockCache. The filesystem never calls the remote itself.
//
// Consistency: Stat/List answer from the metadata cache while younger than the TTLs, else ask the
// remote and cache the answer; if the remote is unreachable, a stale answer is served (logged) and
// only a name never seen fails. Open() always revalidates an attribute older than attr_ttl, so the
// version an open file reads is at most attr_ttl old; when it differs from the version seen
// before, the old version's blocks are evicted.
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cache/block_cache.h"
#include "cache/fetcher.h"
#include "cache/metadata_cache.h"
#include "common/result.h"
#include "remote/object_source.h"

namespace hoardfs {

struct RemoteTreeOptions {
  std::chrono::seconds attr_ttl{60};
  std::chrono::seconds dir_ttl{60};
  std::chrono::seconds negative_ttl{10};
};

class RemoteTree {
 public:
  // REQUIRES: every pointer outlives the RemoteTree.
  RemoteTree(MetadataCache* metadata, Fetcher* fetcher, BlockCache* cache, ObjectSource* source,
             uint32_t remote_id, const RemoteTreeOptions& options);

  uint32_t remote_id() const { return remote_id_; }
  std::string Describe() const { return source_->Describe(); }
  RemoteHealth Health() const { return source_->Health(); }

  // Persistent inode numbers (see MetadataCache).
  Result<uint64_t> InodeOf(const std::string& path) { return metadata_->InodeOf(remote_id_, path); }
  // The path of an inode of this tree; nullopt if unknown or of another remote.
  std::optional<std::string> PathOf(uint64_t ino) {
    auto p = metadata_->PathOf(ino);
    if (!p || p->remote_id != remote_id_) return std::nullopt;
    return std::move(p->path);
  }

  Result<ObjectInfo> Stat(const std::string& path);
  // `fetched_at`, if given, is set to when the listing was fetched from the remote.
  Result<std::vector<ObjectInfo>> List(const std::string& dir,
                                       std::chrono::system_clock::time_point* fetched_at = nullptr);
  std::chrono::seconds dir_ttl() const { return options_.dir_ttl; }
  Result<std::vector<uint64_t>> InodesOf(std::span<const std::string> paths) {
    return metadata_->InodesOf(remote_id_, paths);
  }

  // Fixes the version of a file for reading.
  Result<RemoteFile> Open(const std::string& path);
  Result<size_t> Read(const RemoteFile& file, uint64_t offset, std::span<std::byte> out,
                      ReadStream* stream) {
    return fetcher_->Read(file, offset, out, stream);
  }
  Result<std::optional<FetchedSlice>> ReadSlice(const RemoteFile& file, uint64_t offset,
                                                size_t length, ReadStream* stream) {
    return fetcher_->ReadSlice(file, offset, length, stream);
  }
  uint64_t CachedBytes(const RemoteFile& file) { return fetcher_->CachedBytes(file); }
  FetcherStats FetchStats() const { return fetcher_->Stats(); }

 private:
  Result<ObjectInfo> Revalidate(const std::string& path, const std::optional<ObjectInfo>& previous);
  RemoteFile MakeFile(const std::string& path, const ObjectInfo& info) const;
  // A fresh listing may show new versions of files: evict the blocks of the old ones.
  void EvictChangedVersions(const std::string& dir, const std::vector<ObjectInfo>* previous,
                            const std::vector<ObjectInfo>& listing);

  MetadataCache* metadata_;
  Fetcher* fetcher_;
  BlockCache* cache_;
  ObjectSource* source_;
  const uint32_t remote_id_;
  const RemoteTreeOptions options_;
};

}  // namespace hoardfs
