#include "cache/remote_tree.h"

#include <string_view>
#include <system_error>
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

TreeStats RemoteTree::Stats() const {
  return {stats_.load(std::memory_order_relaxed), lists_.load(std::memory_order_relaxed),
          name_lists_.load(std::memory_order_relaxed),
          names_first_.load(std::memory_order_relaxed)};
}

RemoteTree::~RemoteTree() {
  std::list<std::pair<std::thread, std::shared_ptr<PendingListing>>> listers;
  {
    std::lock_guard<std::mutex> lock(pending_mu_);
    listers.swap(listers_);
  }
  for (auto& [thread, pending] : listers) thread.join();
}

void RemoteTree::PendingListing::WaitLanded() {
  std::unique_lock<std::mutex> lock(mu);
  landed.wait(lock, [this] { return done; });
}

bool RemoteTree::PendingListing::Landed() {
  std::lock_guard<std::mutex> lock(mu);
  return done;
}

Result<std::vector<ObjectInfo>> RemoteTree::PendingListing::Wait(
    std::chrono::system_clock::time_point* when) {
  std::unique_lock<std::mutex> lock(mu);
  landed.wait(lock, [this] { return done; });
  if (when != nullptr) *when = fetched_at;
  return result;
}

std::shared_ptr<RemoteTree::PendingListing> RemoteTree::PendingFor(const std::string& dir) {
  std::lock_guard<std::mutex> lock(pending_mu_);
  auto it = pending_.find(dir);
  return it == pending_.end() ? nullptr : it->second;
}

std::pair<std::shared_ptr<RemoteTree::PendingListing>, bool> RemoteTree::StartRefresh(
    const std::string& dir, CachedListing cached) {
  std::lock_guard<std::mutex> lock(pending_mu_);
  // A landed listing's thread has nothing left to do but return: joining it is immediate.
  for (auto it = listers_.begin(); it != listers_.end();) {
    if (it->second->Landed()) {
      it->first.join();
      it = listers_.erase(it);
    } else {
      ++it;
    }
  }
  if (auto it = pending_.find(dir); it != pending_.end()) return {it->second, false};
  auto pending = std::make_shared<PendingListing>();
  auto lister = [this, dir, pending, cached = std::move(cached)]() mutable {
    std::chrono::system_clock::time_point fetched_at;
    Result<std::vector<ObjectInfo>> r = Refresh(dir, std::move(cached), &fetched_at);
    // The numbers of a names-first answer, if assigned by now (else their next lookup stores them).
    if (Status s = metadata_->FlushInodes(); !s.ok()) {
      Logger("cache")->warn("{}{}: inode numbers not stored yet: {}", source_->Describe(), dir,
                            s.ToString());
    }
    {
      // Out of the registry first: a Stat() that finds no pending listing finds it persisted.
      std::lock_guard<std::mutex> registry(pending_mu_);
      pending_.erase(dir);
    }
    std::lock_guard<std::mutex> landed(pending->mu);
    pending->result = std::move(r);
    pending->fetched_at = fetched_at;
    pending->done = true;
    pending->landed.notify_all();
  };
  try {
    listers_.emplace_back(std::thread(std::move(lister)), pending);
  } catch (const std::system_error& e) {
    Logger("cache")->warn("{}{}: no thread for the listing ({}): listed without names first",
                          source_->Describe(), dir, e.what());
    return {nullptr, false};
  }
  pending_.emplace(dir, pending);
  return {pending, true};
}

RemoteFile RemoteTree::MakeFile(const std::string& path, const ObjectInfo& info) const {
  RemoteFile f;
  f.source = source_;
  f.ref = ObjectRef{path, info.version, info.size};
  f.key = FileKey{remote_id_, path, Hash64(info.version)};
  return f;
}

Result<ObjectInfo> RemoteTree::Revalidate(const std::string& path,
                                          const std::optional<ObjectInfo>& previous) {
  stats_.fetch_add(1, std::memory_order_relaxed);
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
  if ((!cached || !cached->fresh) && path != "/") {
    // The parent's listing with attributes is on its way (names first): one request for all.
    if (std::shared_ptr<PendingListing> pending = PendingFor(std::string(ParentPath(path)))) {
      pending->WaitLanded();
      cached = metadata_->LookupAttr(remote_id_, path, options_.attr_ttl);
    }
  }
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
  CachedListing cached = metadata_->LookupListing(remote_id_, dir, options_.dir_ttl);
  if (cached && cached->fresh) {
    if (fetched_at != nullptr) *fetched_at = cached->fetched_at;
    return std::move(cached->value);
  }
  if (std::shared_ptr<PendingListing> pending = PendingFor(dir)) return pending->Wait(fetched_at);
  return Refresh(dir, std::move(cached), fetched_at);
}

Result<DirNames> RemoteTree::ListNamesFirst(const std::string& dir) {
  DirNames out;
  CachedListing cached = metadata_->LookupListing(remote_id_, dir, options_.dir_ttl);
  if (cached && cached->fresh) {
    out.entries = std::move(cached->value);
    out.fetched_at = cached->fetched_at;
    return out;
  }
  if (options_.names_first_entries == 0 || !source_->lists_names_cheaply()) {
    HOARDFS_ASSIGN_OR_RETURN(out.entries, List(dir, &out.fetched_at));
    return out;
  }
  auto [pending, started] = StartRefresh(dir, std::move(cached));
  if (pending == nullptr) {
    HOARDFS_ASSIGN_OR_RETURN(out.entries, List(dir, &out.fetched_at));
    return out;
  }
  if (started) {
    const auto asked = std::chrono::system_clock::now();
    name_lists_.fetch_add(1, std::memory_order_relaxed);
    Result<std::vector<std::string>> names = source_->ListNames(dir);
    // Not ok (unreachable, say): the listing decides, stale or not.
    if (names.ok() && names->size() >= options_.names_first_entries && !pending->Landed()) {
      names_first_.fetch_add(1, std::memory_order_relaxed);
      out.names_only = true;
      out.fetched_at = asked;
      out.entries.resize(names->size());
      for (size_t i = 0; i < names->size(); ++i) out.entries[i].name = std::move((*names)[i]);
      return out;
    }
  }
  HOARDFS_ASSIGN_OR_RETURN(out.entries, pending->Wait(&out.fetched_at));
  return out;
}

Result<std::vector<ObjectInfo>> RemoteTree::Refresh(
    const std::string& dir, CachedListing cached,
    std::chrono::system_clock::time_point* fetched_at) {
  lists_.fetch_add(1, std::memory_order_relaxed);
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
  // What each file's version was: the previous listing, else each file's cached attributes (one
  // seek first: a directory whose entries were never looked up has none to look up one by one).
  if (previous == nullptr && !metadata_->MayHaveAttrsBelow(remote_id_, dir)) return;
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
