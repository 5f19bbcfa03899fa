#include "remote/fake_source.h"

#include <algorithm>
#include <cstring>
#include <thread>
#include <utility>

#include "remote/object_path.h"

namespace hoardfs {
namespace {

// The logical clock starts at a plausible wall-clock time (2024-01-01) so mtimes look real.
constexpr int64_t kClockStartNs = int64_t{1704067200} * 1000000000;
constexpr int64_t kClockTickNs = 1000000000;

std::string VersionOf(uint64_t size, int64_t mtime_ns) {
  return std::to_string(size) + "-" + std::to_string(mtime_ns);
}

}  // namespace

FakeSource::FakeSource(Options options) : options_(std::move(options)), clock_ns_(kClockStartNs) {
  Node root;
  root.type = ObjectType::kDirectory;
  root.mode = 0555;
  root.mtime_ns = clock_ns_;
  nodes_["/"] = root;
}

FakeSource::~FakeSource() = default;

int64_t FakeSource::TickLocked() { return clock_ns_ += kClockTickNs; }

void FakeSource::MakeParentsLocked(const std::string& path) {
  std::string parent(ParentPath(path));
  if (parent == "/") return;
  auto it = nodes_.find(parent);
  if (it != nodes_.end() && it->second.type == ObjectType::kDirectory) return;
  if (it != nodes_.end()) RemoveLocked(parent);  // a file in the way becomes a directory
  MakeParentsLocked(parent);
  Node dir;
  dir.type = ObjectType::kDirectory;
  dir.mode = 0555;
  dir.mtime_ns = TickLocked();
  nodes_[parent] = dir;
}

void FakeSource::RemoveLocked(const std::string& path) {
  nodes_.erase(path);
  const std::string prefix = path == "/" ? "/" : path + "/";
  auto it = nodes_.lower_bound(prefix);
  while (it != nodes_.end() && it->first.compare(0, prefix.size(), prefix) == 0) {
    it = nodes_.erase(it);
  }
}

void FakeSource::AddFile(const std::string& path, std::string contents, int64_t mtime_ns,
                         uint32_t mode) {
  std::lock_guard<std::mutex> lock(mu_);
  RemoveLocked(path);
  MakeParentsLocked(path);
  Node node;
  node.type = ObjectType::kFile;
  node.data = std::make_shared<const std::string>(std::move(contents));
  node.mtime_ns = mtime_ns != 0 ? mtime_ns : TickLocked();
  node.mode = mode;
  nodes_[path] = std::move(node);
}

void FakeSource::AddDirectory(const std::string& path, uint32_t mode) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = nodes_.find(path);
  if (it != nodes_.end() && it->second.type == ObjectType::kDirectory) return;
  if (it != nodes_.end()) RemoveLocked(path);
  MakeParentsLocked(path);
  Node node;
  node.type = ObjectType::kDirectory;
  node.mtime_ns = TickLocked();
  node.mode = mode;
  nodes_[path] = std::move(node);
}

void FakeSource::AddSymlink(const std::string& path, const std::string& target) {
  std::lock_guard<std::mutex> lock(mu_);
  RemoveLocked(path);
  MakeParentsLocked(path);
  Node node;
  node.type = ObjectType::kSymlink;
  node.mtime_ns = TickLocked();
  node.mode = 0777;
  node.target = target;
  nodes_[path] = std::move(node);
}

bool FakeSource::Remove(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  if (path == "/" || nodes_.count(path) == 0) return false;
  RemoveLocked(path);
  return true;
}

ObjectInfo FakeSource::InfoLocked(const std::string& path, const Node& node) const {
  ObjectInfo info;
  info.name = std::string(BaseName(path));
  info.type = node.type;
  info.mtime_ns = node.mtime_ns;
  info.mode = node.mode;
  if (node.type == ObjectType::kFile) {
    const uint64_t real = node.data->size();
    info.version = VersionOf(real, node.mtime_ns);
    int64_t size = static_cast<int64_t>(real);
    if (auto lie = size_lies_.find(path); lie != size_lies_.end()) size += lie->second;
    info.size = static_cast<uint64_t>(std::max<int64_t>(size, 0));
  } else if (node.type == ObjectType::kSymlink) {
    info.symlink_target = node.target;
    info.size = node.target.size();
  }
  return info;
}

Result<ObjectInfo> FakeSource::Peek(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = nodes_.find(path);
  if (it == nodes_.end()) return Status::NotFound("fake: " + path);
  return InfoLocked(path, it->second);
}

// ---- faults and counters ----

void FakeSource::FailNext(unsigned n, Status status, unsigned ops) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_next_ = n;
  fail_status_ = std::move(status);
  fail_ops_ = ops;
}

void FakeSource::SetDropped(bool dropped) {
  std::lock_guard<std::mutex> lock(mu_);
  dropped_ = dropped;
}

void FakeSource::SetDelay(std::chrono::milliseconds delay) {
  std::lock_guard<std::mutex> lock(mu_);
  delay_ = delay;
}

void FakeSource::SetReadsPaused(bool paused) {
  std::lock_guard<std::mutex> lock(mu_);
  paused_ = paused;
  if (!paused) unpaused_.notify_all();
}

void FakeSource::SetListsPaused(bool paused) {
  std::lock_guard<std::mutex> lock(mu_);
  lists_paused_ = paused;
  if (!paused) unpaused_.notify_all();
}

void FakeSource::SetHung(bool hung, std::chrono::milliseconds timeout) {
  std::lock_guard<std::mutex> lock(mu_);
  hung_ = hung;
  hang_timeout_ = timeout;
  if (!hung) unhung_.notify_all();
}

void FakeSource::SetSizeLie(const std::string& path, int64_t delta) {
  std::lock_guard<std::mutex> lock(mu_);
  if (delta == 0) {
    size_lies_.erase(path);
  } else {
    size_lies_[path] = delta;
  }
}

void FakeSource::SetGarbage(const std::string& path, bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  if (path.empty()) {
    garbage_all_ = on;
  } else if (on) {
    garbage_[path] = true;
  } else {
    garbage_.erase(path);
  }
}

void FakeSource::ClearFaults() {
  std::lock_guard<std::mutex> lock(mu_);
  fail_next_ = 0;
  dropped_ = false;
  delay_ = std::chrono::milliseconds(0);
  paused_ = false;
  lists_paused_ = false;
  unpaused_.notify_all();
  hung_ = false;
  unhung_.notify_all();
  size_lies_.clear();
  garbage_.clear();
  garbage_all_ = false;
}

FakeSource::Counters FakeSource::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counters_;
}

uint64_t FakeSource::ReadCount(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = reads_by_path_.find(path);
  return it == reads_by_path_.end() ? 0 : it->second;
}

void FakeSource::ResetCounters() {
  std::lock_guard<std::mutex> lock(mu_);
  counters_ = Counters{};
  reads_by_path_.clear();
}

Status FakeSource::Admit(Op op) {
  std::chrono::milliseconds delay{0};
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (op == kReadOp || op == kReadVOp) unpaused_.wait(lock, [this] { return !paused_; });
    if (op == kListOp) unpaused_.wait(lock, [this] { return !lists_paused_; });
    delay = delay_;
  }
  if (delay.count() > 0) std::this_thread::sleep_for(delay);
  std::unique_lock<std::mutex> lock(mu_);
  Status status;
  if (hung_ && !unhung_.wait_for(lock, hang_timeout_, [this] { return !hung_; })) {
    status = Status::Unavailable("fake: timed out after " + std::to_string(hang_timeout_.count()) +
                                 " ms (server hung)");
  } else if (dropped_) {
    status = Status::Unavailable("fake: connection dropped");
  } else if (fail_next_ > 0 && (fail_ops_ & op) != 0) {
    --fail_next_;
    status = fail_status_;
  }
  if (!status.ok()) ++counters_.failures;
  return status;
}

// ---- ObjectSource ----

Result<ObjectInfo> FakeSource::Stat(const std::string& path) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counters_.stats;
  }
  HOARDFS_RETURN_IF_ERROR(ValidateObjectPath(path));
  HOARDFS_RETURN_IF_ERROR(Admit(kStatOp));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = nodes_.find(path);
  if (it == nodes_.end()) {
    ++counters_.failures;
    return Status::NotFound("fake: stat " + path + ": no such object");
  }
  return InfoLocked(path, it->second);
}

Status FakeSource::ListableLocked(const std::string& dir) {
  auto it = nodes_.find(dir);
  if (it != nodes_.end() && it->second.type == ObjectType::kDirectory) return Status::Ok();
  ++counters_.failures;
  if (it == nodes_.end()) return Status::NotFound("fake: list " + dir + ": no such directory");
  return Status::InvalidArgument("fake: list " + dir + ": not a directory");
}

void FakeSource::ForEachChildLocked(
    const std::string& dir, const std::string& after,
    const std::function<bool(std::string_view, const std::string&, const Node&)>& fn) const {
  // Children are the keys under "dir/" without a further '/'; in key order they come in name
  // order (a deeper key may sit between two children and is skipped).
  const std::string prefix = dir == "/" ? "/" : dir + "/";
  for (auto child = nodes_.lower_bound(prefix + after);
       child != nodes_.end() && child->first.compare(0, prefix.size(), prefix) == 0; ++child) {
    const std::string_view name = std::string_view(child->first).substr(prefix.size());
    if (name.empty() || name.find('/') != std::string_view::npos) continue;
    if (!after.empty() && name <= after) continue;
    if (!fn(name, child->first, child->second)) break;
  }
}

Result<ListPage> FakeSource::List(const std::string& dir, const std::string& page_token) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counters_.lists;
  }
  HOARDFS_RETURN_IF_ERROR(ValidateObjectPath(dir));
  HOARDFS_RETURN_IF_ERROR(Admit(kListOp));
  std::lock_guard<std::mutex> lock(mu_);
  HOARDFS_RETURN_IF_ERROR(ListableLocked(dir));
  ListPage page;
  const size_t page_size = std::max(1u, options_.list_page_size);
  ForEachChildLocked(dir, page_token, [&](std::string_view, const std::string& key, const Node& n) {
    if (page.entries.size() == page_size) {
      page.next_token = page.entries.back().name;
      return false;
    }
    page.entries.push_back(InfoLocked(key, n));
    return true;
  });
  return page;
}

Result<std::vector<std::string>> FakeSource::ListNames(const std::string& dir) {
  if (!options_.lists_names) return ObjectSource::ListNames(dir);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counters_.name_lists;
  }
  HOARDFS_RETURN_IF_ERROR(ValidateObjectPath(dir));
  HOARDFS_RETURN_IF_ERROR(Admit(kNamesOp));
  std::lock_guard<std::mutex> lock(mu_);
  HOARDFS_RETURN_IF_ERROR(ListableLocked(dir));
  std::vector<std::string> names;
  ForEachChildLocked(dir, "", [&](std::string_view name, const std::string&, const Node&) {
    names.emplace_back(name);
    return true;
  });
  return names;
}

Result<std::shared_ptr<const std::string>> FakeSource::FileFor(const ObjectRef& ref,
                                                               bool* garbage) {
  std::lock_guard<std::mutex> lock(mu_);
  ++reads_by_path_[ref.path];
  auto it = nodes_.find(ref.path);
  Status status;
  if (it == nodes_.end()) {
    status = Status::NotFound("fake: read " + ref.path + ": no such file");
  } else if (it->second.type != ObjectType::kFile) {
    status = Status::InvalidArgument("fake: read " + ref.path + ": not a file");
  } else {
    const std::string now = VersionOf(it->second.data->size(), it->second.mtime_ns);
    if (!ref.version.empty() && now != ref.version) {
      status = Status::FailedPrecondition("fake: read " + ref.path + ": now version " + now +
                                          ", not " + ref.version);
    }
  }
  if (!status.ok()) {
    ++counters_.failures;
    return status;
  }
  *garbage = garbage_all_ || garbage_.count(ref.path) != 0;
  return it->second.data;
}

Result<size_t> FakeSource::Copy(const ObjectRef& ref, const std::string& data, bool garbage,
                                uint64_t offset, std::span<std::byte> out) {
  if (offset >= ref.size || out.empty()) return size_t{0};
  const size_t want = static_cast<size_t>(std::min<uint64_t>(out.size(), ref.size - offset));
  const size_t have = offset >= data.size() ? 0 : std::min(want, data.size() - offset);
  if (have < want) {
    return Status::Corruption("fake: read " + ref.path + ": short body (" + std::to_string(have) +
                              " of " + std::to_string(want) + " bytes inside the reported size)");
  }
  std::memcpy(out.data(), data.data() + offset, have);
  if (garbage) {
    for (size_t i = 0; i < have; ++i) out[i] ^= std::byte{0x5A};
  }
  return have;
}

Result<size_t> FakeSource::Read(const ObjectRef& ref, uint64_t offset, std::span<std::byte> out) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counters_.reads;
  }
  HOARDFS_RETURN_IF_ERROR(ValidateObjectPath(ref.path));
  HOARDFS_RETURN_IF_ERROR(Admit(kReadOp));
  bool garbage = false;
  HOARDFS_ASSIGN_OR_RETURN(std::shared_ptr<const std::string> data, FileFor(ref, &garbage));
  Result<size_t> n = Copy(ref, *data, garbage, offset, out);
  std::lock_guard<std::mutex> lock(mu_);
  if (n.ok()) {
    counters_.bytes_read += *n;
  } else {
    ++counters_.failures;
  }
  return n;
}

Status FakeSource::ReadV(const ObjectRef& ref, std::span<ReadRange> ranges) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counters_.readvs;
    counters_.readv_ranges += ranges.size();
  }
  auto fail_all = [&](const Status& status) {
    for (ReadRange& r : ranges) {
      r.bytes_read = 0;
      r.status = status;
    }
    return status;
  };
  if (Status s = ValidateObjectPath(ref.path); !s.ok()) return fail_all(s);
  if (Status s = Admit(kReadVOp); !s.ok()) return fail_all(s);
  bool garbage = false;
  Result<std::shared_ptr<const std::string>> data = FileFor(ref, &garbage);
  if (!data.ok()) return fail_all(data.status());
  uint64_t served = 0;
  bool failed = false;
  for (ReadRange& r : ranges) {
    Result<size_t> n = Copy(ref, **data, garbage, r.offset, r.out);
    r.bytes_read = n.ok() ? *n : 0;
    r.status = n.ok() ? Status::Ok() : n.status();
    served += r.bytes_read;
    failed = failed || !n.ok();
  }
  std::lock_guard<std::mutex> lock(mu_);
  counters_.bytes_read += served;
  if (failed) ++counters_.failures;
  return Status::Ok();
}

}  // namespace hoardfs
