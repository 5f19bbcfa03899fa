#include "remote/xrootd_source.h"

#include <pthread.h>

#include <XProtocol/XProtocol.hh>
#include <XrdCl/XrdClBuffer.hh>
#include <XrdCl/XrdClDefaultEnv.hh>
#include <XrdCl/XrdClEnv.hh>
#include <XrdCl/XrdClFile.hh>
#include <XrdCl/XrdClFileSystem.hh>
#include <XrdCl/XrdClLog.hh>
#include <XrdCl/XrdClURL.hh>
#include <XrdCl/XrdClXRootDResponses.hh>
#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "common/log.h"
#include "remote/handle_cache.h"
#include "remote/object_path.h"
#include "remote/retry.h"

namespace hoardfs {
namespace {

// XRootD's documented vector-read defaults (XrdClFile.hh), used until the server says otherwise.
constexpr size_t kDefaultReadVChunks = 1024;
constexpr size_t kDefaultReadVChunkSize = 2097136;
// One File::Read asks for at most this much (its length is 32-bit; smaller keeps one request's
// timeout meaningful).
constexpr size_t kMaxReadSize = size_t{64} << 20;

// ---- XrdCl process settings ------------------------------------------------------------------

// XrdCl's log lines, sent to our "remote" logger at debug: every failure that matters reaches
// the caller as a Status, and is logged once where it becomes an errno.
class LogToSpdlog final : public XrdCl::LogOut {
 public:
  LogToSpdlog() : logger_(Logger("remote")) {}
  void Write(const std::string& message) override {
    std::string_view line(message);
    while (!line.empty() && (line.back() == '\n')) line.remove_suffix(1);
    logger_->debug("xrdcl: {}", RedactCredentials(line));
  }

 private:
  std::shared_ptr<spdlog::logger> logger_;
};

void ConfigureXrdCl(int timeout_s) {
  static std::once_flag log_once;
  std::call_once(log_once, [] { XrdCl::DefaultEnv::GetLog()->SetOutput(new LogToSpdlog()); });
  XrdCl::Env* env = XrdCl::DefaultEnv::GetEnv();
  const std::pair<const char*, int> settings[] = {
      {"TimeoutResolution", 1},      {"ConnectionWindow", timeout_s}, {"ConnectionRetry", 1},
      {"RequestTimeout", timeout_s}, {"StreamErrorWindow", 0},        {"SubStreamsPerChannel", 4},
  };
  for (const auto& [key, value] : settings) {
    if (!env->PutInt(key, value)) {
      Logger("remote")->info("xrootd: {} comes from the environment (XRD_*), not from options",
                             key);
    }
  }
}

// ---- status mapping -----------------------------------------------------------------------------

Status ToStatus(const XrdCl::XRootDStatus& st, std::string_view context) {
  std::string msg(context);
  msg += ": ";
  msg += RedactCredentials(st.ToStr());  // a server may echo a URL or its query
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  if (st.code == XrdCl::errErrorResponse) {
    switch (st.errNo) {
      case kXR_NotFound:
        return Status::NotFound(std::move(msg));
      case kXR_NotAuthorized:
      case kXR_AuthFailed:
      case kXR_fsReadOnly:
      case kXR_TLSRequired:
        return Status::PermissionDenied(std::move(msg));
      case kXR_noserver:
      case kXR_Overloaded:
      case kXR_ReqTimedOut:
      case kXR_inProgress:
      case kXR_NoMemory:
      case kXR_noReplicas:
      case kXR_TooManyErrs:
        return Status::Unavailable(std::move(msg));
      case kXR_isDirectory:
      case kXR_NotFile:
      case kXR_ArgInvalid:
      case kXR_ArgMissing:
      case kXR_ArgTooLong:
      case kXR_InvalidRequest:
      case kXR_BadPayload:
        return Status::InvalidArgument(std::move(msg));
      case kXR_ChkSumErr:
        return Status::Corruption(std::move(msg));
      case kXR_FSError:
        // The protocol has no code for ENOTDIR: the server says it in words. A path through a
        // file does not exist, as for POSIX (and the file:// backend).
        if (st.GetErrorMessage().find("not a directory") != std::string::npos) {
          return Status::NotFound(std::move(msg));
        }
        return Status::IOError(std::move(msg));
      case kXR_Unsupported:
        return Status::NotSupported(std::move(msg));
      default:
        return Status::IOError(std::move(msg));
    }
  }
  switch (st.code) {
    case XrdCl::errRetry:
    case XrdCl::errInvalidAddr:
    case XrdCl::errSocketError:
    case XrdCl::errSocketTimeout:
    case XrdCl::errSocketDisconnected:
    case XrdCl::errPollerError:
    case XrdCl::errStreamDisconnect:
    case XrdCl::errConnectionError:
    case XrdCl::errInvalidSession:
    case XrdCl::errTlsError:
    case XrdCl::errHandShakeFailed:
    case XrdCl::errLoginFailed:
    case XrdCl::errOperationExpired:
    case XrdCl::errOperationInterrupted:
    case XrdCl::errThresholdExceeded:
    case XrdCl::errNoMoreFreeSIDs:
    case XrdCl::errRedirectLimit:
    case XrdCl::errNoMoreReplicas:
      return Status::Unavailable(std::move(msg));
    case XrdCl::errAuthFailed:
      return Status::PermissionDenied(std::move(msg));
    case XrdCl::errNotFound:
      return Status::NotFound(std::move(msg));
    case XrdCl::errDataError:
    case XrdCl::errCheckSumError:
    case XrdCl::errInvalidResponse:
    case XrdCl::errInvalidMessage:
    case XrdCl::errCorruptedHeader:
      return Status::Corruption(std::move(msg));
    case XrdCl::errInvalidArgs:
      return Status::InvalidArgument(std::move(msg));
    case XrdCl::errNotSupported:
    case XrdCl::errNotImplemented:
    case XrdCl::errQueryNotSupported:
      return Status::NotSupported(std::move(msg));
    default:
      break;
  }
  if (XrdCl::Status::IsSocketError(st.code)) return Status::Unavailable(std::move(msg));
  return Status::IOError(std::move(msg));
}

// ---- helpers ------------------------------------------------------------------------------------

std::string VersionOf(uint64_t size, uint64_t mtime_s) {
  return std::to_string(size) + "-" + std::to_string(static_cast<int64_t>(mtime_s) * 1000000000);
}

std::string VersionOf(const XrdCl::StatInfo& info) {
  return VersionOf(info.GetSize(), info.GetModTime());
}

// Permission bits: from the extended stat when the server sends one, else from the flags.
uint32_t ModeOf(const XrdCl::StatInfo& info) {
  if (info.ExtendedFormat()) {
    const std::string octal = info.GetModeAsOctString();
    unsigned mode = 0;
    const auto [end, ec] = std::from_chars(octal.data(), octal.data() + octal.size(), mode, 8);
    if (ec == std::errc() && end == octal.data() + octal.size()) return mode & 07777;
  }
  uint32_t mode = 0;
  if (info.TestFlags(XrdCl::StatInfo::IsReadable)) mode |= 0444;
  if (info.TestFlags(XrdCl::StatInfo::IsWritable)) mode |= 0200;
  if (info.TestFlags(XrdCl::StatInfo::XBitSet)) mode |= 0111;
  return mode;
}

// Null for entries that are neither files nor directories (not served).
std::optional<ObjectInfo> InfoFrom(const XrdCl::StatInfo& st, std::string name) {
  if (st.TestFlags(XrdCl::StatInfo::Other)) return std::nullopt;
  ObjectInfo info;
  info.name = std::move(name);
  info.mtime_ns = static_cast<int64_t>(st.GetModTime()) * 1000000000;
  info.mode = ModeOf(st);
  if (st.TestFlags(XrdCl::StatInfo::IsDir)) {
    info.type = ObjectType::kDirectory;
  } else {
    info.type = ObjectType::kFile;
    info.size = st.GetSize();
    info.version = VersionOf(st);
  }
  return info;
}

// A ResponseHandler one thread waits on. XrdCl calls HandleResponse exactly once for every
// asynchronous call that it accepted (on timeout too), so waiting is bounded by the call's timeout.
class Waiter final : public XrdCl::ResponseHandler {
 public:
  void HandleResponse(XrdCl::XRootDStatus* status, XrdCl::AnyObject* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    status_.reset(status);
    response_.reset(response);
    done_ = true;
    cv_.notify_all();
  }
  // Waits for the response; returns its status. `response()` is valid afterwards.
  XrdCl::XRootDStatus Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return done_; });
    return status_ ? *status_ : XrdCl::XRootDStatus(XrdCl::stError, XrdCl::errInternal);
  }
  XrdCl::AnyObject* response() { return response_.get(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;                            // GUARDED_BY(mu_)
  std::unique_ptr<XrdCl::XRootDStatus> status_;  // GUARDED_BY(mu_)
  std::unique_ptr<XrdCl::AnyObject> response_;   // GUARDED_BY(mu_)
};

// An open remote file, shared by the readers of one (path, version); closed by the last one.
struct OpenFile {
  explicit OpenFile(uint16_t t) : timeout(t) {}
  ~OpenFile() {
    if (file.IsOpen()) {
      XrdCl::XRootDStatus st = file.Close(timeout);
      if (!st.IsOK()) Logger("remote")->debug("xrootd: close failed: {}", st.ToStr());
    }
  }
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;

  XrdCl::File file;
  const uint16_t timeout;
  // Not yet read through: the open's own stat was the version check. Reads through a handle
  // that was used before check it again (PipelinedCheck).
  std::atomic<bool> fresh{true};
};

// Closes handles on its own thread. The last reference to an OpenFile may drop on a reading
// thread (an eviction, a handle that failed); closing there would add a round trip — a whole
// timeout on a hung server — to that read. Closes queued together are sent together.
class HandleCloser {
 public:
  explicit HandleCloser(uint16_t timeout) : timeout_(timeout), thread_([this] { Run(); }) {
    pthread_setname_np(thread_.native_handle(), "xrd-closer");
  }
  // Closes everything still queued, then joins.
  ~HandleCloser() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  HandleCloser(const HandleCloser&) = delete;
  HandleCloser& operator=(const HandleCloser&) = delete;

  // Returns once every handle queued before the call is closed.
  void Drain() {
    std::unique_lock<std::mutex> lock(mu_);
    const uint64_t target = enqueued_;
    drained_.wait(lock, [&] { return closed_ >= target; });
  }

  // A shared_ptr whose last owner hands the file to this closer instead of deleting it.
  // REQUIRES: this closer outlives every copy.
  std::shared_ptr<OpenFile> Own(std::unique_ptr<OpenFile> file) {
    return std::shared_ptr<OpenFile>(file.release(), [this](OpenFile* f) { Enqueue(f); });
  }

 private:
  void Enqueue(OpenFile* file) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(file);
      ++enqueued_;
    }
    cv_.notify_one();
  }

  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty() && stop_) return;
      std::vector<OpenFile*> batch;
      batch.swap(queue_);
      lock.unlock();
      std::vector<std::unique_ptr<Waiter>> waiters;
      for (OpenFile* f : batch) {
        if (!f->file.IsOpen()) continue;
        auto waiter = std::make_unique<Waiter>();
        if (f->file.Close(waiter.get(), timeout_).IsOK()) waiters.push_back(std::move(waiter));
      }
      for (const auto& waiter : waiters) (void)waiter->Wait();
      for (OpenFile* f : batch) delete f;  // closed (or failing to): ~OpenFile has little to do
      lock.lock();
      closed_ += batch.size();
      drained_.notify_all();
    }
  }

  const uint16_t timeout_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable drained_;
  std::vector<OpenFile*> queue_;  // GUARDED_BY(mu_)
  uint64_t enqueued_ = 0;         // GUARDED_BY(mu_)
  uint64_t closed_ = 0;           // GUARDED_BY(mu_)
  bool stop_ = false;             // GUARDED_BY(mu_)
  std::thread thread_;            // last: starts after the members it uses
};

class XRootDSourceImpl final : public ObjectSource {
 public:
  XRootDSourceImpl(const RemoteUrl& url, const RemoteOptions& options, uint16_t timeout_s)
      : server_(url.scheme + "://" + (url.user.empty() ? "" : url.user + "@") + url.host + ":" +
                std::to_string(url.EffectivePort())),
        root_(url.path),
        cgi_(url.query.empty() ? "" : "?" + url.query),
        describe_(url.Describe()),
        timeout_s_(timeout_s),
        retry_(RetryPolicy::From(options)),
        fs_(XrdCl::URL(server_ + "/")),
        closer_(timeout_s),
        handles_(options.max_open_files) {}

  // REQUIRES (ObjectSource): no call in flight. The cached handles go to the closer, which
  // closes them all at once (one timeout at most on a hung server) before it is destroyed.
  ~XRootDSourceImpl() override = default;

  Result<ObjectInfo> Stat(const std::string& path) override {
    HOARDFS_RETURN_IF_ERROR(ValidateObjectPath(path));
    return RetryTransient(retry_, "stat " + path, [&] { return StatOnce(path); });
  }

  Result<ListPage> List(const std::string& dir, const std::string& page_token) override {
    HOARDFS_RETURN_IF_ERROR(ValidateObjectPath(dir));
    if (!page_token.empty()) {
      return Status::InvalidArgument("list " + dir + ": XRootD listings have one page");
    }
    return RetryTransient(retry_, "list " + dir, [&] { return ListOnce(dir); });
  }

  bool lists_names_cheaply() const override { return true; }

  Result<std::vector<std::string>> ListNames(const std::string& dir) override {
    HOARDFS_RETURN_IF_ERROR(ValidateObjectPath(dir));
    return RetryTransient(retry_, "list names " + dir, [&] { return ListNamesOnce(dir); });
  }

  Result<size_t> Read(const ObjectRef& ref, uint64_t offset, std::span<std::byte> out) override {
    HOARDFS_RETURN_IF_ERROR(ValidateObjectPath(ref.path));
    if (offset >= ref.size || out.empty()) return size_t{0};
    const size_t want = static_cast<size_t>(std::min<uint64_t>(out.size(), ref.size - offset));
    return RetryTransient(retry_, "read " + ref.path,
                          [&] { return ReadOnce(ref, offset, out.first(want)); });
  }

  // All or nothing: a failure (after retries) gives every range the same status.
  Status ReadV(const ObjectRef& ref, std::span<ReadRange> ranges) override {
    bool tried = false;  // the file was opened: the failure is the ranges', not the call's
    Status status = ValidateObjectPath(ref.path);
    if (status.ok()) {
      status = RetryTransient(retry_, "readv " + ref.path,
                              [&] { return ReadVOnce(ref, ranges, &tried); });
    }
    if (status.ok()) return status;
    for (ReadRange& r : ranges) {
      r.bytes_read = 0;
      r.status = status;
    }
    return tried ? Status::Ok() : status;
  }

  std::string Describe() const override { return describe_; }

 private:
  std::string Full(std::string_view path) const {
    if (root_ == "/") return std::string(path);
    if (path == "/") return root_;
    return root_ + std::string(path);
  }
  std::string FsPath(std::string_view path) const { return Full(path) + cgi_; }
  std::string FileUrl(std::string_view path) const { return server_ + "/" + Full(path) + cgi_; }

  Result<ObjectInfo> StatOnce(const std::string& path) {
    XrdCl::StatInfo* raw = nullptr;
    const XrdCl::XRootDStatus st = fs_.Stat(FsPath(path), raw, timeout_s_);
    std::unique_ptr<XrdCl::StatInfo> info(raw);
    if (!st.IsOK()) return ToStatus(st, "stat " + path);
    if (!info) return Status::Corruption("stat " + path + ": no stat information in the answer");
    std::optional<ObjectInfo> out = InfoFrom(*info, std::string(BaseName(path)));
    if (!out) return Status::NotSupported("stat " + path + ": not a file or directory");
    return std::move(*out);
  }

  // One dirlist; `flags` Stat asks for every entry's attributes too. An empty answer is OK with
  // no list.
  Result<std::unique_ptr<XrdCl::DirectoryList>> DirListOnce(const std::string& dir,
                                                            XrdCl::DirListFlags::Flags flags) {
    XrdCl::DirectoryList* raw = nullptr;
    const XrdCl::XRootDStatus st = fs_.DirList(FsPath(dir), flags, raw, timeout_s_);
    std::unique_ptr<XrdCl::DirectoryList> list(raw);
    if (st.IsOK()) return list;
    Status status = ToStatus(st, "list " + dir);
    if (status.code() == StatusCode::kNotFound) {
      // Listing a file: say so, as the file:// backend does.
      Result<ObjectInfo> info = StatOnce(dir);
      if (info.ok() && info->type != ObjectType::kDirectory) {
        return Status::InvalidArgument("list " + dir + ": not a directory");
      }
    }
    return status;
  }

  static bool ListableName(const std::string& name) {
    return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos;
  }

  Result<std::vector<std::string>> ListNamesOnce(const std::string& dir) {
    HOARDFS_ASSIGN_OR_RETURN(std::unique_ptr<XrdCl::DirectoryList> list,
                             DirListOnce(dir, XrdCl::DirListFlags::None));
    std::vector<std::string> names;
    if (!list) return names;
    names.reserve(list->GetSize());
    for (auto it = list->Begin(); it != list->End(); ++it) {
      if (ListableName((*it)->GetName())) names.push_back((*it)->GetName());
    }
    return names;
  }

  Result<ListPage> ListOnce(const std::string& dir) {
    HOARDFS_ASSIGN_OR_RETURN(std::unique_ptr<XrdCl::DirectoryList> list,
                             DirListOnce(dir, XrdCl::DirListFlags::Stat));
    ListPage page;
    if (!list) return page;
    page.entries.reserve(list->GetSize());
    for (auto it = list->Begin(); it != list->End(); ++it) {
      const XrdCl::DirectoryList::ListEntry* entry = *it;
      const std::string& name = entry->GetName();
      if (!ListableName(name)) continue;
      if (entry->GetStatInfo() == nullptr) {
        // The server could not stat this entry (removed meanwhile, or a dangling symlink).
        Logger("remote")->debug("xrootd: list {}: no attributes for '{}', skipped", dir, name);
        continue;
      }
      if (auto info = InfoFrom(*entry->GetStatInfo(), name)) page.entries.push_back(*info);
    }
    return page;
  }

  static std::string HandleKey(const ObjectRef& ref) { return ref.path + '\0' + ref.version; }

  // A handle for ref: cached, or opened now and checked against ref with the open's stat.
  //
  // An xrootd server shares one server-side file among the opens of a path while any is open
  // (XrdOfs handle sharing): after the file was replaced by a rename, our open of the new version
  // is answered with the old file as long as we hold a handle of the old version. So when the
  // open finds another version and we hold handles of other versions of the path, they are closed
  // (waiting for the close to reach the server) and the open is tried once more.
  Result<std::shared_ptr<OpenFile>> Acquire(const ObjectRef& ref) {
    const std::string key = HandleKey(ref);
    if (auto cached = handles_.Get(key)) return cached;
    Result<std::shared_ptr<OpenFile>> file = OpenChecked(ref);
    if (file.ok() || file.status().code() != StatusCode::kFailedPrecondition) return file;
    std::vector<std::shared_ptr<OpenFile>> others = handles_.RemovePrefix(ref.path + '\0', key);
    if (others.empty()) return file;
    others.clear();  // to the closer, unless a reader still holds one
    closer_.Drain();
    Logger("remote")->debug("xrootd: reopening {} after closing handles of its other versions",
                            ref.path);
    return OpenChecked(ref);
  }

  Result<std::shared_ptr<OpenFile>> OpenChecked(const ObjectRef& ref) {
    const std::string key = HandleKey(ref);
    std::shared_ptr<OpenFile> file = closer_.Own(std::make_unique<OpenFile>(timeout_s_));
    XrdCl::XRootDStatus st =
        file->file.Open(FileUrl(ref.path), XrdCl::OpenFlags::Read, XrdCl::Access::None, timeout_s_);
    if (!st.IsOK()) return ToStatus(st, "open " + ref.path);
    XrdCl::StatInfo* raw = nullptr;
    st = file->file.Stat(false, raw, timeout_s_);  // the open's own stat: no round trip
    std::unique_ptr<XrdCl::StatInfo> info(raw);
    if (!st.IsOK()) return ToStatus(st, "stat " + ref.path);
    if (!info) return Status::Corruption("open " + ref.path + ": no stat information");
    if (info->TestFlags(XrdCl::StatInfo::IsDir)) {
      return Status::InvalidArgument("read " + ref.path + ": is a directory");
    }
    if (Status s = CheckVersion(ref, *info); !s.ok()) return s;
    auto evicted = handles_.Put(key, file);  // to the closer as this scope ends
    return file;
  }

  void Release(const ObjectRef& ref, const OpenFile* file) {
    auto removed = handles_.Remove(HandleKey(ref), file);
  }

  static Status CheckVersion(const ObjectRef& ref, const XrdCl::StatInfo& info) {
    const bool size_differs = info.GetSize() != ref.size;
    const bool version_differs = !ref.version.empty() && VersionOf(info) != ref.version;
    if (!size_differs && !version_differs) return Status::Ok();
    return Status::FailedPrecondition("read " + ref.path + ": now version " + VersionOf(info) +
                                      ", not " + ref.version);
  }

  // Sends a stat of the open file whose answer Wait() checks against ref; used by reused handles
  // so that their reads are validated without an extra round trip of latency.
  class PipelinedCheck {
   public:
    PipelinedCheck(OpenFile& file, uint16_t timeout) : active_(!file.fresh.exchange(false)) {
      if (!active_) return;
      const XrdCl::XRootDStatus st = file.file.Stat(true, &waiter_, timeout);
      if (!st.IsOK()) {
        active_ = false;
        send_error_ = st;
      }
    }
    PipelinedCheck(const PipelinedCheck&) = delete;
    PipelinedCheck& operator=(const PipelinedCheck&) = delete;
    // Always called before destruction when a request was sent (XrdCl owns the handler until it
    // answers).
    Status Wait(const ObjectRef& ref) {
      if (!send_error_.IsOK()) return ToStatus(send_error_, "stat " + ref.path);
      if (!active_) return Status::Ok();
      active_ = false;
      const XrdCl::XRootDStatus st = waiter_.Wait();
      if (!st.IsOK()) return ToStatus(st, "stat " + ref.path);
      XrdCl::StatInfo* info = nullptr;
      if (waiter_.response() != nullptr) waiter_.response()->Get(info);
      if (info == nullptr) return Status::Corruption("stat " + ref.path + ": no answer");
      return CheckVersion(ref, *info);
    }
    ~PipelinedCheck() {
      if (active_) (void)waiter_.Wait();
    }

   private:
    Waiter waiter_;
    bool active_;
    XrdCl::XRootDStatus send_error_;
  };

  // After a short read inside ref.size: a changed file, or a server that lies.
  Status ShortRead(const ObjectRef& ref, uint64_t offset, size_t got, size_t want) {
    Result<ObjectInfo> now = StatOnce(ref.path);
    if (!now.ok()) return now.status();
    if (now->version != ref.version || now->size != ref.size) {
      return Status::FailedPrecondition("read " + ref.path + ": now version " + now->version +
                                        ", not " + ref.version);
    }
    return Status::Corruption("read " + ref.path + ": server returned " + std::to_string(got) +
                              " of " + std::to_string(want) + " bytes at offset " +
                              std::to_string(offset) + " inside the file's size " +
                              std::to_string(ref.size));
  }

  Result<size_t> ReadOnce(const ObjectRef& ref, uint64_t offset, std::span<std::byte> out) {
    HOARDFS_ASSIGN_OR_RETURN(std::shared_ptr<OpenFile> file, Acquire(ref));
    PipelinedCheck check(*file, timeout_s_);
    size_t done = 0;
    Status status;
    while (done < out.size()) {
      const auto chunk = static_cast<uint32_t>(std::min(out.size() - done, kMaxReadSize));
      uint32_t n = 0;
      const XrdCl::XRootDStatus st =
          file->file.Read(offset + done, chunk, out.data() + done, n, timeout_s_);
      if (!st.IsOK()) {
        status = ToStatus(st, "read " + ref.path);
        break;
      }
      done += n;
      if (n < chunk) break;
    }
    const Status checked = check.Wait(ref);
    if (status.ok()) status = checked;
    if (status.ok() && done < out.size()) status = ShortRead(ref, offset, done, out.size());
    if (!status.ok()) {
      Release(ref, file.get());  // a failed handle is reopened by the next request
      return status;
    }
    return done;
  }

  // The server's vector-read limits, asked once (kXR_Qconfig); the defaults if it will not say.
  std::pair<size_t, size_t> ReadVLimits() {
    std::lock_guard<std::mutex> lock(limits_mu_);
    if (limits_known_) return limits_;
    XrdCl::Buffer query;
    query.FromString("readv_iov_max readv_ior_max");
    XrdCl::Buffer* raw = nullptr;
    const XrdCl::XRootDStatus st = fs_.Query(XrdCl::QueryCode::Config, query, raw, timeout_s_);
    std::unique_ptr<XrdCl::Buffer> answer(raw);
    if (!st.IsOK() || !answer) return limits_;  // ask again next time
    const std::string text = answer->ToString();
    const size_t nl = text.find('\n');
    size_t chunks = 0;
    size_t chunk_size = 0;
    const char* begin = text.data();
    std::from_chars(begin, begin + text.size(), chunks);
    if (nl != std::string::npos) {
      std::from_chars(begin + nl + 1, begin + text.size(), chunk_size);
    }
    if (chunks > 0 && chunks <= kDefaultReadVChunks * 64) limits_.first = chunks;
    if (chunk_size > 0 && chunk_size <= (size_t{1} << 31)) limits_.second = chunk_size;
    limits_known_ = true;
    Logger("remote")->debug("xrootd: {} vector reads: {} chunks of {} bytes", describe_,
                            limits_.first, limits_.second);
    return limits_;
  }

  Status ReadVOnce(const ObjectRef& ref, std::span<ReadRange> ranges, bool* tried) {
    HOARDFS_ASSIGN_OR_RETURN(std::shared_ptr<OpenFile> file, Acquire(ref));
    *tried = true;
    PipelinedCheck check(*file, timeout_s_);
    const auto [max_chunks, max_chunk_size] = ReadVLimits();

    // Ranges clamped to the version's size, split into chunks the server accepts.
    struct Piece {
      size_t range;
      size_t offset_in_range;
      uint32_t length;
    };
    std::vector<Piece> pieces;
    for (size_t i = 0; i < ranges.size(); ++i) {
      ReadRange& r = ranges[i];
      r.bytes_read = 0;
      r.status = Status::Ok();
      if (r.offset >= ref.size) continue;
      const size_t want =
          static_cast<size_t>(std::min<uint64_t>(r.out.size(), ref.size - r.offset));
      for (size_t at = 0; at < want; at += max_chunk_size) {
        pieces.push_back({i, at, static_cast<uint32_t>(std::min(max_chunk_size, want - at))});
      }
    }
    Status failure;
    for (size_t first = 0; first < pieces.size() && failure.ok(); first += max_chunks) {
      const size_t last = std::min(pieces.size(), first + max_chunks);
      XrdCl::ChunkList chunks;
      chunks.reserve(last - first);
      for (size_t p = first; p < last; ++p) {
        ReadRange& r = ranges[pieces[p].range];
        chunks.emplace_back(r.offset + pieces[p].offset_in_range, pieces[p].length,
                            r.out.data() + pieces[p].offset_in_range);
      }
      XrdCl::VectorReadInfo* raw = nullptr;
      const XrdCl::XRootDStatus st = file->file.VectorRead(chunks, nullptr, raw, timeout_s_);
      std::unique_ptr<XrdCl::VectorReadInfo> info(raw);
      if (!st.IsOK()) {
        failure = ToStatus(st, "readv " + ref.path);
        break;
      }
      const XrdCl::ChunkList* got = info ? &info->GetChunks() : nullptr;
      for (size_t p = first; p < last; ++p) {
        const size_t k = p - first;
        const uint32_t n = got != nullptr && k < got->size() ? (*got)[k].length : 0;
        ranges[pieces[p].range].bytes_read += n;
      }
    }
    const Status checked = check.Wait(ref);
    if (failure.ok()) failure = checked;
    if (failure.ok()) {
      for (ReadRange& r : ranges) {
        const uint64_t end = std::min<uint64_t>(r.offset + r.out.size(), ref.size);
        const size_t want = r.offset >= ref.size ? 0 : static_cast<size_t>(end - r.offset);
        if (r.bytes_read < want) {
          failure = ShortRead(ref, r.offset, r.bytes_read, want);
          break;
        }
      }
    }
    if (!failure.ok()) Release(ref, file.get());
    return failure;
  }

  const std::string server_;    // "root://[user@]host:port" (may hold credentials: never log)
  const std::string root_;      // the export path the URL names
  const std::string cgi_;       // "?query" from the URL, appended to every path (never log)
  const std::string describe_;  // the URL without credentials
  const uint16_t timeout_s_;
  const RetryPolicy retry_;
  XrdCl::FileSystem fs_;
  HandleCloser closer_;  // before handles_: outlives every handle
  HandleCache<OpenFile> handles_;
  std::mutex limits_mu_;
  bool limits_known_ = false;  // GUARDED_BY(limits_mu_)
  std::pair<size_t, size_t> limits_{kDefaultReadVChunks, kDefaultReadVChunkSize};  // GUARDED_BY
};

}  // namespace

Result<std::unique_ptr<ObjectSource>> XRootDSource::Open(const RemoteUrl& url,
                                                         const RemoteOptions& options) {
  if (!IsXRootDScheme(url.scheme)) {
    return Status::InvalidArgument(url.Describe() + ": not an XRootD URL");
  }
  const auto ms = std::max<int64_t>(options.timeout.count(), 1);
  const int timeout_s = static_cast<int>(std::min<int64_t>((ms + 999) / 1000, 65535));
  ConfigureXrdCl(timeout_s);
  Logger("remote")->debug("xrootd source {} (timeout {} s, {} attempts)", url.Describe(), timeout_s,
                          options.max_attempts);
  return std::unique_ptr<ObjectSource>(
      new XRootDSourceImpl(url, options, static_cast<uint16_t>(timeout_s)));
}

}  // namespace hoardfs
