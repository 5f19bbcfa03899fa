#include "cache/remote_tree.h"

#include <string_view>
#include <unordered_map>

#include "common/hash.h"
#include "common/log.h"

namespace hoardfs {
namespace {

bool Transient(const Status& s) {
  return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kIOError ||
         s.code() == StatusCode::kCorruption;
}

}  // namespace

RemoteTree::RemoteTree(MetadataCache* metadata, Fetcher* fetcher, BlockCache* cache,
                       ObjectSource* source, uint32_t remote_id, const RemoteTreeOptions& options)
    : metadata_(metadata),
      fetcher_(fetcher),
      cache_(cache),
      source_(source),
      remote_id_(remote_id),
      options_(options) {}

RemoteFile RemoteTree::MakeFile(const std::string& path, const ObjectInfo& info) const {
  RemoteFile f;
  f.source = source_;
  f.ref = ObjectRef{path, info.version, info.size};
  f.key = FileKey{remote_id_, path, Hash64(info.version)};
  return f;
}

Result<ObjectInfo> RemoteTree::Revalidate(const std::string& path,
                                          const std::optional<ObjectInfo>& previous) {
  Result<ObjectInfo> fresh = source_->Stat(path);
  if (fresh.ok()) {
    fresh->name = path == "/" ? "" : path.substr(path.rfind('/') + 1);
    (void)metadata_->PutAttr(remote_id_, path, *fresh);
    if (previous && previous->type == ObjectType::kFile && fresh->type == ObjectType::kFile &&
        previous->version != fresh->version) {
      // A new version: blocks of the old ones can never be read again.
      Logger("cache")->info("{}{} changed (version {} -> {}); evicting the old blocks",
                            source_->Describe(), path, previous->version, fresh->version);
      (void)cache_->Evict(remote_id_, path, Hash64(fresh->version));
    }
    return fresh;
  }
  if (fresh.status().code() == StatusCode::kNotFound) {
    (void)metadata_->PutNegative(remote_id_, path);
  }
  return fresh.status();
}

Result<ObjectInfo> RemoteTree::Stat(const std::string& path) {
  auto cached = metadata_->LookupAttr(remote_id_, path, options_.attr_ttl);
  if (cached) {
    if (!cached->value) {  // negative entry: its own TTL
      const auto age = std::chrono::system_clock::now() - cached->fetched_at;
      if (age < options_.negative_ttl) return Status::NotFound(path);
    } else if (cached->fresh) {
      return *cached->value;
    }
  }
  std::optional<ObjectInfo> previous;
  if (cached && cached->value) previous = *cached->value;
  Result<ObjectInfo> r = Revalidate(path, previous);
  if (!r.ok() && Transient(r.status()) && previous) {
    Logger("cache")->debug("{}{}: remote unavailable ({}); serving cached attributes",
                           source_->Describe(), path, r.status().ToString());
    return *previous;
  }
  return r;
}

Result<std::vector<ObjectInfo>> RemoteTree::List(
    const std::string& dir, std::chrono::system_clock::time_point* fetched_at) {
  auto cached = metadata_->LookupListing(remote_id_, dir, options_.dir_ttl);
  if (cached && cached->fresh) {
    if (fetched_at != nullptr) *fetched_at = cached->fetched_at;
    return std::move(cached->value);
  }
  const auto started = std::chrono::system_clock::now();
  std::vector<ObjectInfo> all;
  std::string token;
  Status status;
  do {
    Result<ListPage> page = source_->List(dir, token);
    if (!page.ok()) {
      status = page.status();
      break;
    }
    if (all.empty()) {
      all = std::move(page->entries);  // one page: no copy
    } else {
      all.insert(all.end(), std::make_move_iterator(page->entries.begin()),
                 std::make_move_iterator(page->entries.end()));
    }
    token = std::move(page->next_token);
  } while (!token.empty());
  if (status.ok()) {
    EvictChangedVersions(dir, cached ? &cached->value : nullptr, all);
    (void)metadata_->PutListing(remote_id_, dir, all);
    if (fetched_at != nullptr) *fetched_at = started;
    return all;
  }
  if (cached && Transient(status)) {
    Logger("cache")->debug("{}{}: remote unavailable ({}); serving the cached listing",
                           source_->Describe(), dir, status.ToString());
    if (fetched_at != nullptr) *fetched_at = cached->fetched_at;
    return std::move(cached->value);
  }
  return status;
}

void RemoteTree::EvictChangedVersions(const std::string& dir,
                                      const std::vector<ObjectInfo>* previous,
                                      const std::vector<ObjectInfo>& listing) {
  // What each file's version was: the previous listing, else each file's cached attributes.
  std::unordered_map<std::string_view, std::string_view> before;
  if (previous != nullptr) {
    for (const ObjectInfo& e : *previous) {
      if (e.type == ObjectType::kFile) before.emplace(e.name, e.version);
    }
  }
  for (const ObjectInfo& e : listing) {
    if (e.type != ObjectType::kFile) continue;
    const std::string path = JoinPath(dir, e.name);
    std::string old_version;
    if (previous != nullptr) {
      auto it = before.find(e.name);
      if (it == before.end()) continue;
      old_version = it->second;
    } else {
      auto attr = metadata_->LookupAttr(remote_id_, path, options_.attr_ttl);
      if (!attr || !attr->value || attr->value->type != ObjectType::kFile) continue;
      old_version = attr->value->version;
    }
    if (old_version != e.version) {
      Logger("cache")->info("{}{} changed (version {} -> {}); evicting the old blocks",
                            source_->Describe(), path, old_version, e.version);
      (void)cache_->Evict(remote_id_, path, Hash64(e.version));
    }
  }
}

Result<RemoteFile> RemoteTree::Open(const std::string& path) {
  HOARDFS_ASSIGN_OR_RETURN(ObjectInfo info, Stat(path));
  if (info.type == ObjectType::kDirectory) return Status::InvalidArgument(path + " is a directory");
  return MakeFile(path, info);
}

}  // namespace hoardfs
