// Filesystem: the POSIX semantics of a read-only hoardfs mount, independent of libfuse. The FUSE
// trampolines (fuse/fuse_server.cc) decode a request, call one method here, and make the single
// reply; errors come back as Status and become errno only there.
//
// Names (fuse/mount_namespace.h): with one remote, inode 1 is the remote's root "/"; with a mount
// table, inode 1 is a synthetic read-only directory holding the mount paths (and intermediate
// synthetic directories for nested paths such as "a/b"), each leading into its remote's tree.
// Every (remote, path) and every synthetic directory has a persistent inode number from the
// MetadataCache, stable across restarts.
//
// A mount table's remotes are independent: one that is unreachable fails only the calls into its
// own tree (EIO, after its own timeout or at once while its circuit breaker holds it down); its
// directory still shows in the synthetic parent (with synthetic attributes when the remote cannot
// be asked and has nothing cached). Each tree applies its own TTLs in the daemon; the kernel's
// timeouts (FilesystemOptions) are one set for the whole mount, the daemon picks the shortest.
//
// Consistency (the trade-off, plainly): attributes and listings are cached for attr_ttl / dir_ttl
// and a missing name for negative_ttl, in the daemon (persisted) and in the kernel (the same
// timeouts). Within a TTL a changed or new remote file may not be seen. A file's version (size +
// mtime, or the remote's checksum/ETag) is fixed when it is opened: an open file never returns
// bytes of two versions. When revalidation finds a new version, the old version's blocks are
// evicted. When the remote is unreachable, stale attributes and listings are served (and logged),
// cached blocks stay readable, and reads of uncached blocks fail with EIO after the remote timeout.
//
// Thread-safety: all methods may be called concurrently (the FUSE loop is multi-threaded).
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/block_cache.h"
#include "cache/remote_tree.h"
#include "common/result.h"
#include "fuse/mount_namespace.h"
#include "fuse/read_sizes.h"
#include "fuse/transport_stats.h"

namespace hoardfs {

struct FilesystemOptions {
  double entry_timeout = 60;     // kernel caching of names (seconds); = the tree's dir/attr TTL
  double attr_timeout = 60;      // kernel caching of attributes (seconds)
  double negative_timeout = 10;  // kernel caching of missing names (seconds)
  uid_t uid = 0;                 // owner shown for every file
  gid_t gid = 0;
};

class Filesystem {
 public:
  static constexpr uint64_t kRootIno = 1;

  struct Entry {
    uint64_t ino = 0;
    struct stat attr {};
  };
  struct DirEntry {
    std::string name;
    uint64_t ino = 0;
    struct stat attr {};
  };
  // A directory's listing as the kernel is given it. Immutable once built; shared by the opendirs
  // made while the listing is fresh (younger than the dir TTL), so a warm opendir builds nothing.
  struct DirListing {
    std::vector<DirEntry> entries;  // ".", ".." first
    uint64_t hash = 0;              // of the names, inode numbers and types
    std::chrono::system_clock::time_point fetched_at;
    // A large cold directory's names before its attributes (RemoteTree::ListNamesFirst): each
    // entry has its inode number and no type or other attribute (attr.st_mode 0).
    bool names_only = false;
  };
  // An open directory: a stable snapshot for the readdir offsets.
  struct OpenDir {
    std::shared_ptr<const DirListing> listing;
    bool keep_cache = false;  // same listing as at the previous opendir: keep the kernel's copy
  };
  // A file as opened: its version is fixed for the life of the handle.
  struct OpenFile {
    uint64_t ino = 0;
    RemoteTree* tree = nullptr;  // the remote the file belongs to
    RemoteFile file;
    ReadStream stream;
    bool keep_cache = false;  // same version as the previous open: keep the kernel's pages
    bool direct_io = false;   // another version is open on this inode: bypass the page cache
  };

  // One remote at the mount root. REQUIRES: every pointer outlives the Filesystem.
  Filesystem(RemoteTree* tree, BlockCache* cache, const FilesystemOptions& options);
  // A mount table (MountNamespace::Table). REQUIRES: `cache` and the namespace's trees outlive
  // the Filesystem.
  Filesystem(std::unique_ptr<MountNamespace> names, BlockCache* cache,
             const FilesystemOptions& options);

  Result<Entry> Lookup(uint64_t parent, const std::string& name);
  Result<struct stat> GetAttr(uint64_t ino);
  Result<std::string> ReadLink(uint64_t ino);
  // The kernel caches listings (cache_readdir); keep_cache says whether its copy is still right.
  Result<std::unique_ptr<OpenDir>> OpenDirectory(uint64_t ino);
  // REQUIRES: read-only `flags` (the trampoline answers EROFS otherwise).
  // The kernel's page cache of an inode holds one version at a time. An open of the version the
  // page cache was last filled with keeps it (keep_cache); an open of another version drops it,
  // unless handles of the older version are still open: then the new handle bypasses the page
  // cache (direct_io), so neither handle can read the other's pages. The handle counts as open
  // until Drop(): give the result to Keep().
  Result<std::unique_ptr<OpenFile>> Open(uint64_t ino);
  // Bytes of the handle's version only; a short read (its end) of a handle whose inode has been
  // opened at a newer version since is kFailedPrecondition (EIO), see the body.
  Result<size_t> Read(OpenFile& file, uint64_t offset, std::span<std::byte> out);
  // The same without a copy when the range lies within one block (nullopt: use Read()).
  Result<std::optional<FetchedSlice>> ReadSlice(OpenFile& file, uint64_t offset, size_t size);
  // Read() split for the FUSE ring (fuse/uring_transport.h): a plan when the read is a warm
  // small read the ring can serve with its own io_uring read (Fetcher::PlanSlice), the range
  // inside the handle's file (no short read); nullptr: use ReadSlice()/Read(). Neither counts the
  // request (NoteReadRequest: the caller). `file` must outlive the plan.
  std::unique_ptr<PendingSlice> PlanRead(OpenFile& file, uint64_t offset, size_t size);
  // Completes a PlanRead() plan, as Fetcher::FinishSlice: true: the bytes are
  // [buf + slice.range->skip(), + slice.length); false: serve the request with ReadSlice()/Read().
  bool FinishRead(PendingSlice& slice, const std::byte* buf, int64_t res);
  // The read's bytes when its block is in the fetcher's memory (Fetcher::MemorySlice), never
  // waiting; nullopt: use PlanRead()/ReadSlice(). The range inside the handle's file.
  std::optional<FetchedSlice> MemoryRead(OpenFile& file, uint64_t offset, size_t size);
  // Counts one read request of the kernel (once per request, whichever of the two serves it)
  // for the stats' fuse_read_* counters, and logs it at debug level.
  void NoteReadRequest(uint64_t ino, uint64_t offset, size_t size);
  Result<struct statvfs> StatFs();
  // Extended attributes: user.hoardfs.{version,cached_bytes,remote} on files (remote: the URL of
  // the file's remote and its path there; on every node of a remote's tree) and
  // user.hoardfs.stats (JSON counters) on the mount root; for a mount table the remote counters
  // are summed (remote_down: how many are down) and listed per remote under "remotes".
  Result<std::string> GetXattr(uint64_t ino, const std::string& name);
  Result<std::vector<std::string>> ListXattr(uint64_t ino);

  const FilesystemOptions& options() const { return options_; }
  // How requests reach the daemon; the transport counts into it, the stats report it.
  TransportStats& transport_stats() { return transport_stats_; }

  // Handles given to the kernel. They are owned here, so handles the kernel never releases (the
  // session ended while files were open) are freed with the Filesystem.
  OpenFile* Keep(std::unique_ptr<OpenFile> file);
  void Drop(OpenFile* file);
  OpenDir* Keep(std::unique_ptr<OpenDir> dir);
  void Drop(OpenDir* dir);

 private:
  using Node = MountNamespace::Node;
  // A remote node, or kInvalidArgument naming the synthetic directory `ino` is.
  Result<Node> RemoteNode(uint64_t ino);
  Result<std::shared_ptr<const DirListing>> BuildListing(const Node& node, uint64_t ino);
  std::shared_ptr<const DirListing> SyntheticListing(const MountNamespace::SyntheticDir& dir);
  // Attributes of a node; a table's remote root that cannot be stat'ed looks synthetic.
  Result<struct stat> StatOf(const Node& node, uint64_t ino);
  // OK, or kFailedPrecondition when a short read must not be taken for the end of the file.
  Status CheckShortRead(const OpenFile& file);
  struct stat ToStat(uint64_t ino, const ObjectInfo& info) const;
  struct stat SyntheticStat(uint64_t ino) const;
  std::string StatsJson();

  std::unique_ptr<MountNamespace> names_;
  BlockCache* cache_;
  const FilesystemOptions options_;
  const int64_t started_ns_;  // mtime of the synthetic directories

  // Per inode: the version whose pages the kernel may hold, and the open handles per version.
  struct InodeVersions {
    std::string page_cache_version;
    std::string latest_version;                      // of the most recent open
    std::unordered_map<std::string, uint32_t> open;  // version -> open handles
  };

  ReadSizes read_sizes_;
  TransportStats transport_stats_;

  std::mutex mu_;
  std::unordered_map<uint64_t, InodeVersions> versions_;   // GUARDED_BY(mu_)
  std::unordered_map<uint64_t, uint64_t> listing_hashes_;  // GUARDED_BY(mu_): dir ino -> hash
  // Fresh listings by directory inode; expired ones are dropped as others are added.
  static constexpr size_t kMaxListings = 256;
  std::unordered_map<uint64_t, std::shared_ptr<const DirListing>> listings_;  // GUARDED_BY(mu_)
  std::unordered_map<const OpenFile*, std::unique_ptr<OpenFile>> files_;      // GUARDED_BY(mu_)
  std::unordered_map<const OpenDir*, std::unique_ptr<OpenDir>> dirs_;         // GUARDED_BY(mu_)
};

}  // namespace hoardfs
