#include "cache/metadata_cache.h"

#include <algorithm>

#include "cache/block_key.h"
#include "common/log.h"

namespace hoardfs {
namespace {

constexpr uint64_t kFirstIno = 2;  // FUSE's root inode is 1; the filesystem maps it itself

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && !in->empty(); shift += 7) {
    const auto byte = static_cast<unsigned char>(in->front());
    in->remove_prefix(1);
    result |= uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

void PutString(std::string* out, std::string_view s) {
  PutVarint(out, s.size());
  out->append(s);
}

bool GetString(std::string_view* in, std::string* s) {
  uint64_t n = 0;
  if (!GetVarint(in, &n) || n > in->size()) return false;
  s->assign(in->substr(0, n));
  in->remove_prefix(n);
  return true;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string RemotePathKey(char tag, uint32_t remote_id, std::string_view path) {
  std::string k(1, tag);
  AppendBigEndian32(&k, remote_id);
  k.append(path);
  return k;
}

std::string InoKey(uint64_t ino) {
  std::string k(1, 'I');
  AppendBigEndian64(&k, ino);
  return k;
}

template <typename T>
std::optional<Cached<T>> Freshness(T value, int64_t fetched_ns, std::chrono::seconds max_age) {
  Cached<T> c;
  c.value = std::move(value);
  c.fetched_at = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(fetched_ns)));
  const int64_t age = NowNs() - fetched_ns;
  c.fresh = age >= 0 && age < std::chrono::duration_cast<std::chrono::nanoseconds>(max_age).count();
  return c;
}

}  // namespace

std::string JoinPath(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

std::string ParentPath(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

void EncodeObjectInfo(const ObjectInfo& info, std::string* out) {
  out->push_back(static_cast<char>(info.type));
  PutVarint(out, info.size);
  PutVarint(out, static_cast<uint64_t>(info.mtime_ns));
  PutVarint(out, info.mode);
  PutString(out, info.name);
  PutString(out, info.version);
  PutString(out, info.symlink_target);
}

bool DecodeObjectInfo(std::string_view* in, ObjectInfo* info) {
  if (in->empty()) return false;
  const auto type = static_cast<uint8_t>(in->front());
  if (type > static_cast<uint8_t>(ObjectType::kSymlink)) return false;
  info->type = static_cast<ObjectType>(type);
  in->remove_prefix(1);
  uint64_t mtime = 0, mode = 0;
  if (!GetVarint(in, &info->size) || !GetVarint(in, &mtime) || !GetVarint(in, &mode)) return false;
  info->mtime_ns = static_cast<int64_t>(mtime);
  info->mode = static_cast<uint32_t>(mode);
  return GetString(in, &info->name) && GetString(in, &info->version) &&
         GetString(in, &info->symlink_target);
}

Result<std::unique_ptr<MetadataCache>> MetadataCache::Open(BlockIndex* index) {
  std::unique_ptr<MetadataCache> m(new MetadataCache(index));
  HOARDFS_ASSIGN_OR_RETURN(std::optional<std::string> next,
                           index->Get(BlockIndex::Table::kFiles, "N"));
  m->next_ino_ = kFirstIno;
  if (next.has_value() && next->size() == 8) m->next_ino_ = ReadBigEndian64(next->data());
  m->stored_next_ino_ = m->next_ino_;
  return m;
}

MetadataCache::~MetadataCache() {
  std::lock_guard<std::mutex> lock(mu_);
  Status s = FlushLocked();
  if (!s.ok()) Logger("cache")->warn("inode numbers not stored: {}", s.ToString());
}

Result<uint64_t> MetadataCache::InodeOf(uint32_t remote_id, const std::string& path) {
  std::string pkey = RemotePathKey('P', remote_id, path);
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t ino = 0;
  if (auto it = by_path_.find(pkey); it != by_path_.end()) {
    ino = it->second;
  } else {
    HOARDFS_ASSIGN_OR_RETURN(std::optional<std::string> stored,
                             index_->Get(BlockIndex::Table::kFiles, pkey));
    if (stored.has_value() && stored->size() == 8) {
      ino = ReadBigEndian64(stored->data());
      by_path_.emplace(std::move(pkey), ino);
      by_ino_.emplace(ino, InodePath{remote_id, path});
    } else {
      ino = AssignLocked(std::move(pkey), remote_id, path);
    }
  }
  // The kernel may hold this number as a node id: it must be stored first.
  if (ino >= stored_next_ino_) HOARDFS_RETURN_IF_ERROR(FlushLocked());
  return ino;
}

uint64_t MetadataCache::AssignLocked(std::string pkey, uint32_t remote_id,
                                     const std::string& path) {
  const uint64_t ino = next_ino_++;
  std::string ino_value, path_value;
  AppendBigEndian64(&ino_value, ino);
  AppendBigEndian32(&path_value, remote_id);
  path_value += path;
  unstored_paths_.emplace_back(pkey, std::move(ino_value));
  unstored_inodes_.emplace_back(InoKey(ino), std::move(path_value));
  by_path_.emplace(std::move(pkey), ino);
  by_ino_.emplace(ino, InodePath{remote_id, path});
  return ino;
}

Status MetadataCache::FlushLocked() {
  if (unstored_paths_.empty()) return Status::Ok();
  // Sorted keys go into the memtable as neighbours.
  std::sort(unstored_paths_.begin(), unstored_paths_.end());
  BlockIndex::Batch b(index_);
  for (const auto& [key, value] : unstored_paths_) b.Put(BlockIndex::Table::kFiles, key, value);
  for (const auto& [key, value] : unstored_inodes_) b.Put(BlockIndex::Table::kFiles, key, value);
  std::string next_value;
  AppendBigEndian64(&next_value, next_ino_);
  b.Put(BlockIndex::Table::kFiles, "N", next_value);
  // A failed write keeps the numbers in memory only, to be written by the next flush; they are
  // never reused (next_ino_ moved on), and a restart before that assigns them again.
  HOARDFS_RETURN_IF_ERROR(index_->Commit(&b, /*sync=*/false));
  unstored_paths_.clear();
  unstored_inodes_.clear();
  stored_next_ino_ = next_ino_;
  return Status::Ok();
}

Status MetadataCache::FlushInodes() {
  std::lock_guard<std::mutex> lock(mu_);
  return FlushLocked();
}

bool MetadataCache::NoneStored(uint32_t remote_id, std::span<const std::string> paths) {
  const size_t slash = paths[0].rfind('/');
  if (slash == std::string::npos) return false;
  const std::string_view dir(paths[0].data(), slash + 1);  // "/a/b/"
  for (const std::string& p : paths) {
    if (p.size() <= dir.size() || p.compare(0, dir.size(), dir) != 0 ||
        p.find('/', dir.size()) != std::string::npos) {
      return false;
    }
  }
  Result<bool> any =
      index_->HasPrefix(BlockIndex::Table::kFiles, RemotePathKey('P', remote_id, dir));
  return any.ok() && !*any;
}

Result<std::vector<uint64_t>> MetadataCache::InodesOf(uint32_t remote_id,
                                                      std::span<const std::string> paths,
                                                      bool durable) {
  std::vector<uint64_t> out(paths.size(), 0);
  if (paths.empty()) return out;
  std::lock_guard<std::mutex> lock(mu_);
  // A directory never seen before (the common cold listing) costs one seek, not a lookup per
  // entry. Numbers assigned in memory only are in by_path_, looked up first either way.
  const bool none_stored = paths.size() >= 8 && NoneStored(remote_id, paths);
  uint64_t max_ino = 0;
  std::string pkey;
  for (size_t i = 0; i < paths.size(); ++i) {
    pkey = RemotePathKey('P', remote_id, paths[i]);
    uint64_t ino = 0;
    if (auto it = by_path_.find(pkey); it != by_path_.end()) {
      ino = it->second;
    } else {
      std::optional<std::string> stored;
      if (!none_stored) {
        HOARDFS_ASSIGN_OR_RETURN(stored, index_->Get(BlockIndex::Table::kFiles, pkey));
      }
      if (stored.has_value() && stored->size() == 8) {
        ino = ReadBigEndian64(stored->data());
        by_path_.emplace(pkey, ino);
        by_ino_.emplace(ino, InodePath{remote_id, paths[i]});
      } else {
        ino = AssignLocked(pkey, remote_id, paths[i]);
      }
    }
    out[i] = ino;
    max_ino = std::max(max_ino, ino);
  }
  if (durable && max_ino >= stored_next_ino_) HOARDFS_RETURN_IF_ERROR(FlushLocked());
  return out;
}

std::optional<InodePath> MetadataCache::PathOf(uint64_t ino) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = by_ino_.find(ino); it != by_ino_.end()) return it->second;
  }
  auto stored = index_->Get(BlockIndex::Table::kFiles, InoKey(ino));
  if (!stored.ok() || !stored->has_value() || (*stored)->size() < 4) return std::nullopt;
  InodePath p{ReadBigEndian32((*stored)->data()), (*stored)->substr(4)};
  std::lock_guard<std::mutex> lock(mu_);
  by_ino_.emplace(ino, p);
  by_path_.emplace(RemotePathKey('P', p.remote_id, p.path), ino);
  return p;
}

std::optional<Cached<std::optional<ObjectInfo>>> MetadataCache::LookupAttr(
    uint32_t remote_id, const std::string& path, std::chrono::seconds max_age) {
  auto stored = index_->Get(BlockIndex::Table::kFiles, RemotePathKey('A', remote_id, path));
  if (!stored.ok() || !stored->has_value()) return std::nullopt;
  std::string_view in(**stored);
  uint64_t fetched = 0;
  if (!GetVarint(&in, &fetched) || in.empty()) return std::nullopt;
  const bool negative = in.front() == 'n';
  in.remove_prefix(1);
  if (negative) {
    return Freshness<std::optional<ObjectInfo>>(std::nullopt, static_cast<int64_t>(fetched),
                                                max_age);
  }
  ObjectInfo info;
  if (!DecodeObjectInfo(&in, &info)) return std::nullopt;
  return Freshness<std::optional<ObjectInfo>>(std::move(info), static_cast<int64_t>(fetched),
                                              max_age);
}

Status MetadataCache::PutAttr(uint32_t remote_id, const std::string& path, const ObjectInfo& info) {
  std::string v;
  PutVarint(&v, static_cast<uint64_t>(NowNs()));
  v.push_back('a');
  EncodeObjectInfo(info, &v);
  BlockIndex::Batch b(index_);
  b.Put(BlockIndex::Table::kFiles, RemotePathKey('A', remote_id, path), v);
  return index_->Commit(&b, /*sync=*/false);
}

Status MetadataCache::PutNegative(uint32_t remote_id, const std::string& path) {
  std::string v;
  PutVarint(&v, static_cast<uint64_t>(NowNs()));
  v.push_back('n');
  BlockIndex::Batch b(index_);
  b.Put(BlockIndex::Table::kFiles, RemotePathKey('A', remote_id, path), v);
  return index_->Commit(&b, /*sync=*/false);
}

std::optional<Cached<std::vector<ObjectInfo>>> MetadataCache::LookupListing(
    uint32_t remote_id, const std::string& dir, std::chrono::seconds max_age) {
  auto stored = index_->Get(BlockIndex::Table::kFiles, RemotePathKey('L', remote_id, dir));
  if (!stored.ok() || !stored->has_value()) return std::nullopt;
  std::string_view in(**stored);
  uint64_t fetched = 0, count = 0;
  if (!GetVarint(&in, &fetched) || !GetVarint(&in, &count)) return std::nullopt;
  std::vector<ObjectInfo> entries;
  entries.reserve(std::min<uint64_t>(count, 1 << 20));
  for (uint64_t i = 0; i < count; ++i) {
    ObjectInfo info;
    if (!DecodeObjectInfo(&in, &info)) return std::nullopt;
    entries.push_back(std::move(info));
  }
  return Freshness(std::move(entries), static_cast<int64_t>(fetched), max_age);
}

Status MetadataCache::PutListing(uint32_t remote_id, const std::string& dir,
                                 const std::vector<ObjectInfo>& entries) {
  const uint64_t now = static_cast<uint64_t>(NowNs());
  std::string v;
  PutVarint(&v, now);
  PutVarint(&v, entries.size());
  BlockIndex::Batch b(index_);
  std::vector<std::pair<std::string, std::string>> attrs;  // sorted: adjacent memtable inserts
  attrs.reserve(entries.size());
  for (const ObjectInfo& e : entries) {
    EncodeObjectInfo(e, &v);
    std::string attr;
    PutVarint(&attr, now);
    attr.push_back('a');
    EncodeObjectInfo(e, &attr);
    attrs.emplace_back(RemotePathKey('A', remote_id, JoinPath(dir, e.name)), std::move(attr));
  }
  std::sort(attrs.begin(), attrs.end());
  for (const auto& [key, attr] : attrs) b.Put(BlockIndex::Table::kFiles, key, attr);
  b.Put(BlockIndex::Table::kFiles, RemotePathKey('L', remote_id, dir), v);
  return index_->Commit(&b, /*sync=*/false);
}

bool MetadataCache::MayHaveAttrsBelow(uint32_t remote_id, const std::string& dir) {
  const std::string below = dir.ends_with('/') ? dir : dir + "/";
  Result<bool> any =
      index_->HasPrefix(BlockIndex::Table::kFiles, RemotePathKey('A', remote_id, below));
  return !any.ok() || *any;  // a failed seek may hide one
}

Status MetadataCache::Forget(uint32_t remote_id, const std::string& path) {
  BlockIndex::Batch b(index_);
  b.Delete(BlockIndex::Table::kFiles, RemotePathKey('A', remote_id, path));
  b.Delete(BlockIndex::Table::kFiles, RemotePathKey('L', remote_id, path));
  return index_->Commit(&b, /*sync=*/false);
}

}  // namespace hoardfs
