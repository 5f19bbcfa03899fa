#include "fuse/filesystem.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/hash.h"
#include "common/log.h"

namespace hoardfs {
namespace {

constexpr const char* kXattrVersion = "user.hoardfs.version";
constexpr const char* kXattrCachedBytes = "user.hoardfs.cached_bytes";
constexpr const char* kXattrRemote = "user.hoardfs.remote";
constexpr const char* kXattrStats = "user.hoardfs.stats";

}  // namespace

static int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Filesystem::Filesystem(RemoteTree* tree, BlockCache* cache, const FilesystemOptions& options)
    : Filesystem(MountNamespace::Single(tree), cache, options) {}

Filesystem::Filesystem(std::unique_ptr<MountNamespace> names, BlockCache* cache,
                       const FilesystemOptions& options)
    : names_(std::move(names)), cache_(cache), options_(options), started_ns_(NowNs()) {}

Result<Filesystem::Node> Filesystem::RemoteNode(uint64_t ino) {
  HOARDFS_ASSIGN_OR_RETURN(Node node, names_->Resolve(ino));
  if (node.dir != nullptr) {
    return Status::InvalidArgument(node.dir->path + " is a directory of the mount table");
  }
  return node;
}

struct stat Filesystem::SyntheticStat(uint64_t ino) const {
  struct stat st {};
  st.st_ino = ino;
  st.st_uid = options_.uid;
  st.st_gid = options_.gid;
  st.st_blksize = 1 << 20;
  st.st_mode = S_IFDIR | 0555;
  st.st_nlink = 2;
  st.st_mtim.tv_sec = started_ns_ / 1000000000;
  st.st_mtim.tv_nsec = started_ns_ % 1000000000;
  st.st_ctim = st.st_mtim;
  st.st_atim = st.st_mtim;
  return st;
}

Result<struct stat> Filesystem::StatOf(const Node& node, uint64_t ino) {
  if (node.dir != nullptr) return SyntheticStat(ino);
  Result<ObjectInfo> info = node.remote->tree->Stat(node.path);
  if (!info.ok()) {
    // A table's remote that is down still shows its directory; the calls into it fail.
    if (names_->is_table() && node.path == "/") return SyntheticStat(ino);
    return info.status();
  }
  return ToStat(ino, *info);
}

struct stat Filesystem::ToStat(uint64_t ino, const ObjectInfo& info) const {
  struct stat st {};
  st.st_ino = ino;
  st.st_uid = options_.uid;
  st.st_gid = options_.gid;
  st.st_blksize = 1 << 20;
  const uint32_t perms = info.mode & 0555;
  switch (info.type) {
    case ObjectType::kDirectory:
      st.st_mode = S_IFDIR | (perms != 0 ? perms : 0555);
      st.st_nlink = 2;
      break;
    case ObjectType::kSymlink:
      st.st_mode = S_IFLNK | 0777;
      st.st_nlink = 1;
      st.st_size = static_cast<off_t>(info.symlink_target.size());
      break;
    case ObjectType::kFile:
      st.st_mode = S_IFREG | (perms != 0 ? perms : 0444);
      st.st_nlink = 1;
      st.st_size = static_cast<off_t>(info.size);
      break;
  }
  st.st_blocks = (st.st_size + 511) / 512;
  st.st_mtim.tv_sec = info.mtime_ns / 1000000000;
  st.st_mtim.tv_nsec = info.mtime_ns % 1000000000;
  st.st_ctim = st.st_mtim;
  st.st_atim = st.st_mtim;
  return st;
}

Result<Filesystem::Entry> Filesystem::Lookup(uint64_t parent, const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos || name.size() > 255) {
    return Status::InvalidArgument("bad name");
  }
  HOARDFS_ASSIGN_OR_RETURN(Node dir, names_->Resolve(parent));
  if (dir.dir != nullptr) {
    for (const auto& [child_name, child_ino] : dir.dir->children) {
      if (child_name != name) continue;
      HOARDFS_ASSIGN_OR_RETURN(Node child, names_->Resolve(child_ino));
      HOARDFS_ASSIGN_OR_RETURN(struct stat st, StatOf(child, child_ino));
      return Entry{child_ino, st};
    }
    return Status::NotFound(JoinPath(dir.dir->path, name) + " is not in the mount table");
  }
  const std::string path = JoinPath(dir.path, name);
  HOARDFS_ASSIGN_OR_RETURN(ObjectInfo info, dir.remote->tree->Stat(path));
  HOARDFS_ASSIGN_OR_RETURN(uint64_t ino, names_->InodeOf(*dir.remote, path));
  return Entry{ino, ToStat(ino, info)};
}

Result<struct stat> Filesystem::GetAttr(uint64_t ino) {
  HOARDFS_ASSIGN_OR_RETURN(Node node, names_->Resolve(ino));
  return StatOf(node, ino);
}

Result<std::string> Filesystem::ReadLink(uint64_t ino) {
  HOARDFS_ASSIGN_OR_RETURN(Node node, RemoteNode(ino));
  HOARDFS_ASSIGN_OR_RETURN(ObjectInfo info, node.remote->tree->Stat(node.path));
  if (info.type != ObjectType::kSymlink) {
    return Status::InvalidArgument(node.path + " is not a link");
  }
  return info.symlink_target;
}

std::shared_ptr<const Filesystem::DirListing> Filesystem::SyntheticListing(
    const MountNamespace::SyntheticDir& dir) {
  auto out = std::make_shared<DirListing>();
  out->fetched_at = std::chrono::system_clock::now();
  out->entries.push_back({".", dir.ino, SyntheticStat(dir.ino)});
  out->entries.push_back({"..", dir.parent_ino, SyntheticStat(dir.parent_ino)});
  for (const auto& [name, ino] : dir.children)
    out->entries.push_back({name, ino, SyntheticStat(ino)});
  uint64_t hash = Hash64(dir.path);
  for (const DirEntry& e : out->entries) hash = Mix64(hash ^ Hash64(e.name)) ^ Mix64(e.ino);
  out->hash = hash;
  return out;
}

Result<std::shared_ptr<const Filesystem::DirListing>> Filesystem::BuildListing(const Node& node,
                                                                               uint64_t ino) {
  if (node.dir != nullptr) return SyntheticListing(*node.dir);
  const std::string& dir = node.path;
  RemoteTree* tree = node.remote->tree;
  auto out = std::make_shared<DirListing>();
  HOARDFS_ASSIGN_OR_RETURN(DirNames names, tree->ListNamesFirst(dir));
  out->fetched_at = names.fetched_at;
  out->names_only = names.names_only;
  std::vector<ObjectInfo>& listing = names.entries;
  std::erase_if(listing, [](const ObjectInfo& e) {
    return e.name.empty() || e.name == "." || e.name == "..";
  });
  std::vector<std::string> paths;
  paths.reserve(listing.size());
  for (const ObjectInfo& e : listing) paths.push_back(JoinPath(dir, e.name));
  // Names alone give the kernel no node ids: their numbers may be stored later.
  HOARDFS_ASSIGN_OR_RETURN(std::vector<uint64_t> inodes,
                           tree->InodesOf(paths, /*durable=*/!out->names_only));
  out->entries.reserve(listing.size() + 2);
  ObjectInfo dot;
  dot.type = ObjectType::kDirectory;
  out->entries.push_back({".", ino, ToStat(ino, dot)});
  uint64_t parent_ino = node.remote->parent_ino;
  if (dir != "/") {
    HOARDFS_ASSIGN_OR_RETURN(parent_ino, names_->InodeOf(*node.remote, ParentPath(dir)));
  }
  out->entries.push_back({"..", parent_ino, ToStat(parent_ino, dot)});
  for (size_t i = 0; i < listing.size(); ++i) {
    struct stat st {};
    if (out->names_only) {
      st.st_ino = inodes[i];  // and no type: the kernel looks the name up when it needs more
    } else {
      st = ToStat(inodes[i], listing[i]);
    }
    out->entries.push_back({std::move(listing[i].name), inodes[i], st});
  }
  // What the kernel keeps of a listing: names, inode numbers, types.
  uint64_t hash = Hash64(dir) ^ (out->names_only ? 1 : 0);
  for (const DirEntry& e : out->entries) {
    hash =
        Mix64(hash ^ Hash64(e.name)) ^ Mix64(e.ino + (static_cast<uint64_t>(e.attr.st_mode) << 48));
  }
  out->hash = hash;
  return std::shared_ptr<const DirListing>(std::move(out));
}

Result<std::unique_ptr<Filesystem::OpenDir>> Filesystem::OpenDirectory(uint64_t ino) {
  HOARDFS_ASSIGN_OR_RETURN(Node node, names_->Resolve(ino));
  const auto now = std::chrono::system_clock::now();
  // Synthetic listings never change: always fresh.
  const bool synthetic = node.dir != nullptr;
  const std::chrono::seconds ttl =
      synthetic ? std::chrono::seconds(0) : node.remote->tree->dir_ttl();
  const auto fresh = [&](const DirListing& l) { return synthetic || now - l.fetched_at < ttl; };
  auto open = std::make_unique<OpenDir>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = listings_.find(ino); it != listings_.end() && fresh(*it->second)) {
      open->listing = it->second;
      open->keep_cache = listing_hashes_[ino] == open->listing->hash;
      return open;
    }
  }
  HOARDFS_ASSIGN_OR_RETURN(open->listing, BuildListing(node, ino));
  std::lock_guard<std::mutex> lock(mu_);
  auto [hash, inserted] = listing_hashes_.try_emplace(ino, open->listing->hash);
  open->keep_cache = !inserted && hash->second == open->listing->hash;
  hash->second = open->listing->hash;
  if (listings_.size() >= kMaxListings) {
    std::erase_if(listings_, [&](const auto& e) {
      return now - e.second->fetched_at >= std::chrono::seconds(3600) || !fresh(*e.second);
    });
    if (listings_.size() >= kMaxListings) listings_.clear();
  }
  // Names alone are for this opendir: the next one finds the listing with attributes.
  if (fresh(*open->listing) && !open->listing->names_only) listings_[ino] = open->listing;
  return open;
}

Result<std::unique_ptr<Filesystem::OpenFile>> Filesystem::Open(uint64_t ino) {
  HOARDFS_ASSIGN_OR_RETURN(Node node, RemoteNode(ino));
  HOARDFS_ASSIGN_OR_RETURN(RemoteFile file, node.remote->tree->Open(node.path));
  auto open = std::make_unique<OpenFile>();
  open->ino = ino;
  open->tree = node.remote->tree;
  open->file = std::move(file);
  const std::string& version = open->file.ref.version;
  std::lock_guard<std::mutex> lock(mu_);
  InodeVersions& v = versions_[ino];
  v.latest_version = version;
  const bool other_version_open =
      std::any_of(v.open.begin(), v.open.end(), [&](const auto& e) { return e.first != version; });
  if (other_version_open) {
    open->direct_io = true;
  } else {
    open->keep_cache = v.page_cache_version == version;
    v.page_cache_version = version;
  }
  ++v.open[version];  // until Drop()
  return open;
}

Filesystem::OpenFile* Filesystem::Keep(std::unique_ptr<OpenFile> file) {
  OpenFile* raw = file.get();
  std::lock_guard<std::mutex> lock(mu_);
  files_.emplace(raw, std::move(file));
  return raw;
}

void Filesystem::Drop(OpenFile* file) {
  std::unique_ptr<OpenFile> dropped;  // destroyed outside the lock
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(file);
  if (it == files_.end()) return;
  dropped = std::move(it->second);
  files_.erase(it);
  auto v = versions_.find(dropped->ino);
  if (v == versions_.end()) return;
  auto count = v->second.open.find(dropped->file.ref.version);
  if (count != v->second.open.end() && --count->second == 0) v->second.open.erase(count);
}

Filesystem::OpenDir* Filesystem::Keep(std::unique_ptr<OpenDir> dir) {
  OpenDir* raw = dir.get();
  std::lock_guard<std::mutex> lock(mu_);
  dirs_.emplace(raw, std::move(dir));
  return raw;
}

void Filesystem::Drop(OpenDir* dir) {
  std::lock_guard<std::mutex> lock(mu_);
  dirs_.erase(dir);
}

Result<size_t> Filesystem::Read(OpenFile& file, uint64_t offset, std::span<std::byte> out) {
  HOARDFS_ASSIGN_OR_RETURN(size_t n, file.tree->Read(file.file, offset, out, &file.stream));
  if (n < out.size()) HOARDFS_RETURN_IF_ERROR(CheckShortRead(file));
  return n;
}

Result<std::optional<FetchedSlice>> Filesystem::ReadSlice(OpenFile& file, uint64_t offset,
                                                          size_t size) {
  HOARDFS_ASSIGN_OR_RETURN(std::optional<FetchedSlice> slice,
                           file.tree->ReadSlice(file.file, offset, size, &file.stream));
  if (slice && slice->size < size) HOARDFS_RETURN_IF_ERROR(CheckShortRead(file));
  return slice;
}

std::unique_ptr<PendingSlice> Filesystem::PlanRead(OpenFile& file, uint64_t offset, size_t size) {
  return file.tree->PlanSlice(file.file, offset, size, &file.stream);
}

std::optional<FetchedSlice> Filesystem::MemoryRead(OpenFile& file, uint64_t offset, size_t size) {
  return file.tree->MemorySlice(file.file, offset, size, &file.stream);
}

bool Filesystem::FinishRead(PendingSlice& slice, const std::byte* buf, int64_t res) {
  return slice.fetcher != nullptr && slice.fetcher->FinishSlice(slice, buf, res);
}

void Filesystem::NoteReadRequest(uint64_t ino, uint64_t offset, size_t size) {
  read_sizes_.Record(size);
  // spdlog's default level is the process-wide one SetLogLevel() sets: no registry lookup per
  // request unless debug logging is on.
  if (spdlog::should_log(spdlog::level::debug))
    Logger("fuse")->debug("read ino {} offset {} size {}", ino, offset, size);
}

Status Filesystem::CheckShortRead(const OpenFile& file) {
  // A short read is the end of this handle's version. If a newer version was opened since, the
  // kernel may already hold that version's (larger) size and would fill the rest of the request
  // with zeros: an error is the only answer that cannot be taken for the old version's bytes.
  std::lock_guard<std::mutex> lock(mu_);
  auto v = versions_.find(file.ino);
  if (v != versions_.end() && v->second.latest_version != file.file.ref.version) {
    return Status::FailedPrecondition(file.file.ref.path +
                                      " changed since it was opened (version " +
                                      file.file.ref.version + "): no read past its end");
  }
  return Status::Ok();
}

Result<struct statvfs> Filesystem::StatFs() {
  const BlockCacheStats s = cache_->Stats();
  struct statvfs v {};
  v.f_bsize = s.block_size;
  v.f_frsize = s.block_size;
  v.f_blocks = s.capacity_bytes / s.block_size;
  v.f_bfree =
      s.capacity_bytes > s.used_bytes ? (s.capacity_bytes - s.used_bytes) / s.block_size : 0;
  v.f_bavail = v.f_bfree;
  v.f_files = 1u << 30;
  v.f_ffree = 1u << 29;
  v.f_favail = v.f_ffree;
  v.f_namemax = 255;
  v.f_flag = ST_RDONLY;
  return v;
}

std::string Filesystem::StatsJson() {
  const BlockCacheStats s = cache_->Stats();
  // One Fetcher serves every remote of a mount: its counters are the mount's.
  const FetcherStats f = names_->remotes().front().tree->FetchStats();
  RemoteHealth sum;
  TreeStats meta;
  uint64_t down = 0;
  std::string per_remote;
  for (const MountNamespace::Remote& r : names_->remotes()) {
    const RemoteHealth b = r.tree->Health();
    const TreeStats t = r.tree->Stats();
    meta.stats += t.stats;
    meta.lists += t.lists;
    meta.name_lists += t.name_lists;
    meta.names_first += t.names_first;
    down += b.down ? 1 : 0;
    sum.down_seconds = std::max(sum.down_seconds, b.down_seconds);
    sum.trips += b.trips;
    sum.fast_failures += b.fast_failures;
    if (!names_->is_table()) continue;
    per_remote += std::string(per_remote.empty() ? "" : ",") + "{\"path\":\"" +
                  r.mount_path.substr(1) +
                  "\",\"remote_id\":" + std::to_string(r.tree->remote_id()) +
                  ",\"down\":" + (b.down ? "1" : "0") +
                  ",\"down_seconds\":" + std::to_string(b.down_seconds) +
                  ",\"trips\":" + std::to_string(b.trips) +
                  ",\"fast_failures\":" + std::to_string(b.fast_failures) + "}";
  }
  std::string json = "{\"remote_requests\":" + std::to_string(f.remote_requests) +
                     ",\"remote_bytes\":" + std::to_string(f.remote_bytes) +
                     ",\"remote_errors\":" + std::to_string(f.remote_errors) +
                     ",\"cache_hit_bytes\":" + std::to_string(f.cache_hit_bytes) +
                     ",\"memory_hit_bytes\":" + std::to_string(f.memory_hit_bytes) +
                     ",\"partial_hit_bytes\":" + std::to_string(f.partial_hit_bytes) +
                     ",\"piece_hit_bytes\":" + std::to_string(f.piece_hit_bytes) +
                     ",\"sparse_fetches\":" + std::to_string(f.sparse_fetches) +
                     ",\"prefetch_requests\":" + std::to_string(f.prefetch_requests) +
                     ",\"readahead_max_bytes\":" + std::to_string(f.readahead_max_bytes) +
                     ",\"fetch_memory_bytes\":" + std::to_string(f.max_memory_bytes) +
                     ",\"readahead_limit_bytes\":" + std::to_string(f.readahead_limit_bytes) +
                     ",\"readahead_grows\":" + std::to_string(f.readahead_grows) +
                     ",\"readahead_kept\":" + std::to_string(f.readahead_kept) +
                     ",\"readahead_shrinks\":" + std::to_string(f.readahead_shrinks) +
                     ",\"readahead_refused\":" + std::to_string(f.readahead_refused) +
                     ",\"readahead_retests\":" + std::to_string(f.readahead_retests) +
                     ",\"readahead_released\":" + std::to_string(f.readahead_released) +
                     ",\"readahead_resets\":" + std::to_string(f.readahead_resets) +
                     ",\"readahead_lent_bytes\":" + std::to_string(f.readahead_lent_bytes) +
                     ",\"fetch_buffer_in_use_bytes\":" + std::to_string(f.buffer_in_use_bytes) +
                     ",\"fetch_buffer_idle_bytes\":" + std::to_string(f.buffer_idle_bytes) +
                     ",\"fetch_buffer_maps\":" + std::to_string(f.buffer_maps) +
                     ",\"fetch_buffer_reuses\":" + std::to_string(f.buffer_reuses) +
                     ",\"partial_reads\":" + std::to_string(s.partial_reads) +
                     ",\"partial_read_bytes\":" + std::to_string(s.partial_read_bytes) +
                     ",\"record_misses\":" + std::to_string(s.record_misses) +
                     ",\"record_memo_hits\":" + std::to_string(s.record_memo_hits) +
                     ",\"index_memo_hits\":" + std::to_string(s.index_memo_hits) +
                     ",\"new_file_skips\":" + std::to_string(s.new_file_skips) +
                     ",\"inserts_shared\":" + std::to_string(s.inserts_shared) +
                     ",\"inserts\":" + std::to_string(s.inserts) +
                     ",\"store_writes\":" + std::to_string(s.store_writes) +
                     ",\"store_reads\":" + std::to_string(s.store_reads) +
                     ",\"insert_waits\":" + std::to_string(s.insert_waits) +
                     ",\"insert_wait_seconds\":" + std::to_string(s.insert_wait_ns / 1e9) +
                     ",\"pending_insert_bytes\":" + std::to_string(s.pending_insert_bytes) +
                     ",\"used_bytes\":" + std::to_string(s.used_bytes) +
                     ",\"data_bytes\":" + std::to_string(s.data_bytes) +
                     ",\"capacity_bytes\":" + std::to_string(s.capacity_bytes) +
                     ",\"crc_failures\":" + std::to_string(s.crc_failures) +
                     ",\"remote_down\":" + std::to_string(down) +
                     ",\"remote_down_seconds\":" + std::to_string(sum.down_seconds) +
                     ",\"remote_trips\":" + std::to_string(sum.trips) +
                     ",\"remote_fast_failures\":" + std::to_string(sum.fast_failures) +
                     ",\"remote_stats\":" + std::to_string(meta.stats) +
                     ",\"remote_lists\":" + std::to_string(meta.lists) +
                     ",\"remote_name_lists\":" + std::to_string(meta.name_lists) +
                     ",\"names_first_listings\":" + std::to_string(meta.names_first) + "," +
                     read_sizes_.JsonMembers() + "," + transport_stats_.JsonMembers();
  if (names_->is_table()) json += ",\"remotes\":[" + per_remote + "]";
  return json + "}";
}

Result<std::string> Filesystem::GetXattr(uint64_t ino, const std::string& name) {
  HOARDFS_ASSIGN_OR_RETURN(Node node, names_->Resolve(ino));
  if (name == kXattrStats && ino == kRootIno) return StatsJson();
  if (node.dir != nullptr) return Status::NotFound("no such attribute");
  RemoteTree* tree = node.remote->tree;
  const std::string& path = node.path;
  if (name == kXattrRemote) return tree->Describe() + (path == "/" ? "" : path);
  if (name == kXattrVersion || name == kXattrCachedBytes) {
    HOARDFS_ASSIGN_OR_RETURN(ObjectInfo info, tree->Stat(path));
    if (info.type != ObjectType::kFile) return Status::NotFound("no such attribute");
    if (name == kXattrVersion) return info.version;
    HOARDFS_ASSIGN_OR_RETURN(RemoteFile file, tree->Open(path));
    return std::to_string(tree->CachedBytes(file));
  }
  return Status::NotFound("no such attribute");
}

Result<std::vector<std::string>> Filesystem::ListXattr(uint64_t ino) {
  HOARDFS_ASSIGN_OR_RETURN(Node node, names_->Resolve(ino));
  std::vector<std::string> names;
  if (node.dir == nullptr) names.emplace_back(kXattrRemote);
  if (ino == kRootIno) names.emplace_back(kXattrStats);
  if (node.dir != nullptr) return names;
  HOARDFS_ASSIGN_OR_RETURN(ObjectInfo info, node.remote->tree->Stat(node.path));
  if (info.type == ObjectType::kFile) {
    names.emplace_back(kXattrVersion);
    names.emplace_back(kXattrCachedBytes);
  }
  return names;
}

}  // namespace hoardfs
