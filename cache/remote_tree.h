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
// Names first (names_first_entries, off by default): on a remote whose names alone are cheap
// (ObjectSource::lists_names_cheaply, i.e. XRootD, where a listing with attributes costs the
// server a stat per entry), ListNamesFirst() asks for a cold directory's names and, at the same
// time on a thread of its own, for its listing with attributes. A large directory is answered
// with its names as soon as they come; the listing with attributes is persisted when it lands,
// and a Stat() or List() that needs it in the meantime waits for that one request instead of
// asking the remote again.
//
// Thread-safety: all methods may be called concurrently. The destructor waits for the listings
// still in flight (each bounded by the remote's timeout).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
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
  // ListNamesFirst() answers a cold directory with its names alone when it has at least this many
  // entries and its listing with attributes has not landed yet; a smaller one waits for that
  // listing. 0 (the default): never names alone. Names alone are a bet that the reader wants no
  // attributes: `ls -f` of 20,000 entries over a local xrootd drops from ~0.59 s to ~0.10 s, but
  // `ls -l` (and an open of each file) then costs the kernel a FUSE lookup per entry instead of
  // none, which on a VM (~100-400 µs per round trip) took 2-8 s instead of ~0.75 s
  // (docs/benchmarks.md, "Names first").
  size_t names_first_entries = 0;
};

// Metadata requests a tree made of its remote, for the stats.
struct TreeStats {
  uint64_t stats = 0;        // Stat requests
  uint64_t lists = 0;        // listings with attributes (each may be several pages)
  uint64_t name_lists = 0;   // listings of names alone
  uint64_t names_first = 0;  // directories answered with their names first
};

// A directory as ListNamesFirst() answers it.
struct DirNames {
  std::vector<ObjectInfo> entries;  // with attributes, or (names_only) with only `name` set
  bool names_only = false;
  std::chrono::system_clock::time_point fetched_at;
};

class RemoteTree {
 public:
  // REQUIRES: every pointer outlives the RemoteTree.
  RemoteTree(MetadataCache* metadata, Fetcher* fetcher, BlockCache* cache, ObjectSource* source,
             uint32_t remote_id, const RemoteTreeOptions& options);
  ~RemoteTree();
  RemoteTree(const RemoteTree&) = delete;
  RemoteTree& operator=(const RemoteTree&) = delete;

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
  // A directory for a reader of names (readdir): its fresh listing; else, on a remote that lists
  // names cheaply, its names alone if it has at least names_first_entries and its listing with
  // attributes (started at the same time, see above) has not landed; else that listing, as List().
  Result<DirNames> ListNamesFirst(const std::string& dir);
  std::chrono::seconds dir_ttl() const { return options_.dir_ttl; }
  Result<std::vector<uint64_t>> InodesOf(std::span<const std::string> paths, bool durable = true) {
    return metadata_->InodesOf(remote_id_, paths, durable);
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
  std::unique_ptr<PendingSlice> PlanSlice(const RemoteFile& file, uint64_t offset, size_t length,
                                          ReadStream* stream) {
    return fetcher_->PlanSlice(file, offset, length, stream);
  }
  bool FinishSlice(PendingSlice& slice, const std::byte* buf, int64_t res) {
    return fetcher_->FinishSlice(slice, buf, res);
  }
  std::optional<FetchedSlice> MemorySlice(const RemoteFile& file, uint64_t offset, size_t length,
                                          ReadStream* stream) {
    return fetcher_->MemorySlice(file, offset, length, stream);
  }
  uint64_t CachedBytes(const RemoteFile& file) { return fetcher_->CachedBytes(file); }
  TreeStats Stats() const;
  FetcherStats FetchStats() const { return fetcher_->Stats(); }

 private:
  // A listing with attributes being fetched on a thread of its own.
  struct PendingListing {
    std::mutex mu;
    std::condition_variable landed;
    bool done = false;  // GUARDED_BY(mu)
    Result<std::vector<ObjectInfo>> result = Status::Unavailable("listing in flight");
    std::chrono::system_clock::time_point fetched_at;
    void WaitLanded();
    bool Landed();
    // The result, once landed: a copy, as other waiters may read it too.
    Result<std::vector<ObjectInfo>> Wait(std::chrono::system_clock::time_point* fetched_at);
  };
  using CachedListing = std::optional<Cached<std::vector<ObjectInfo>>>;

  // The listing of `dir` from the remote: cached (with the changed versions evicted) on success,
  // else the stale `cached` one if the remote is unreachable.
  Result<std::vector<ObjectInfo>> Refresh(const std::string& dir, CachedListing cached,
                                          std::chrono::system_clock::time_point* fetched_at);
  std::shared_ptr<PendingListing> PendingFor(const std::string& dir);
  // Starts Refresh(dir) on a thread of its own, unless one is in flight: returns it and whether
  // it was started here (nullptr if no thread could be started).
  std::pair<std::shared_ptr<PendingListing>, bool> StartRefresh(const std::string& dir,
                                                                CachedListing cached);
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
  std::atomic<uint64_t> stats_{0}, lists_{0}, name_lists_{0}, names_first_{0};

  std::mutex pending_mu_;
  // Listings in flight by directory, and their threads (joined once landed, or at destruction).
  std::unordered_map<std::string, std::shared_ptr<PendingListing>> pending_;    // GUARDED_BY
  std::list<std::pair<std::thread, std::shared_ptr<PendingListing>>> listers_;  // pending_mu_
};

}  // namespace hoardfs
