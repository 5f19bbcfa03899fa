#include "remote/file_source.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <utility>
#include <vector>

#include "common/log.h"
#include "remote/handle_cache.h"
#include "remote/object_path.h"
#include "remote/retry.h"

namespace hoardfs {
namespace {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

std::string Version(const struct stat& st) {
  const int64_t mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  return std::to_string(st.st_size) + "-" + std::to_string(mtime_ns);
}

// The path relative to the root descriptor: "." for "/", else without the leading '/'.
std::string Relative(std::string_view path) {
  return path == "/" ? std::string(".") : std::string(path.substr(1));
}

// An open file kept for reuse; the descriptor closes when the last reader drops it.
struct OpenFile {
  UniqueFd fd;
};

std::atomic<bool> g_force_walk{false};

class FileSourceImpl final : public ObjectSource {
 public:
  FileSourceImpl(UniqueFd root, std::string root_path, const RemoteOptions& options)
      : root_(std::move(root)),
        root_path_(std::move(root_path)),
        options_(options),
        retry_(RetryPolicy::From(options)),
        handles_(options.max_open_files) {}

  Result<ObjectInfo> Stat(const std::string& path) override {
    HOARDFS_RETURN_IF_ERROR(ValidateObjectPath(path));
    return RetryTransient(retry_, "stat " + path, [&] { return StatOnce(path); });
  }

  Result<ListPage> List(const std::string& dir, const std::string& page_token) override {
    HOARDFS_RETURN_IF_ERROR(ValidateObjectPath(dir));
    if (page_token.find('/') != std::string::npos || page_token == "." || page_token == "..") {
      return Status::InvalidArgument("list " + dir + ": invalid page token");
    }
    return RetryTransient(retry_, "list " + dir, [&] { return ListOnce(dir, page_token); });
  }

  Result<size_t> Read(const ObjectRef& ref, uint64_t offset, std::span<std::byte> out) override {
    HOARDFS_RETURN_IF_ERROR(ValidateObjectPath(ref.path));
    if (offset >= ref.size || out.empty()) return size_t{0};
    const size_t want = static_cast<size_t>(std::min<uint64_t>(out.size(), ref.size - offset));
    return RetryTransient(retry_, "read " + ref.path, [&]() -> Result<size_t> {
      HOARDFS_ASSIGN_OR_RETURN(std::shared_ptr<OpenFile> file, Acquire(ref));
      Result<size_t> n = ReadAt(*file, ref, offset, out.first(want));
      Status status = n.ok() ? CheckUnchanged(*file, ref) : n.status();
      if (!status.ok()) {
        Release(ref, file.get());
        return status;
      }
      return n;
    });
  }

  Status ReadV(const ObjectRef& ref, std::span<ReadRange> ranges) override {
    Status status = ValidateObjectPath(ref.path);
    std::shared_ptr<OpenFile> file;
    if (status.ok()) {
      auto acquired = RetryTransient(retry_, "open " + ref.path, [&] { return Acquire(ref); });
      if (acquired.ok()) {
        file = std::move(acquired).value();
      } else {
        status = acquired.status();
      }
    }
    if (!status.ok()) {
      for (ReadRange& r : ranges) {
        r.bytes_read = 0;
        r.status = status;
      }
      return status;
    }
    for (ReadRange& r : ranges) {
      r.bytes_read = 0;
      r.status = Status::Ok();
      if (r.offset >= ref.size || r.out.empty()) continue;
      const size_t want =
          static_cast<size_t>(std::min<uint64_t>(r.out.size(), ref.size - r.offset));
      Result<size_t> n = ReadAt(*file, ref, r.offset, r.out.first(want));
      if (n.ok()) {
        r.bytes_read = *n;
      } else {
        r.status = n.status();
      }
    }
    // One check after all ranges: if the file changed while we read, no range can be trusted.
    if (Status unchanged = CheckUnchanged(*file, ref); !unchanged.ok()) {
      Release(ref, file.get());
      for (ReadRange& r : ranges) {
        r.bytes_read = 0;
        r.status = unchanged;
      }
    }
    return Status::Ok();
  }

  std::string Describe() const override { return "file://" + root_path_; }

 private:
  // Opens `path` (relative, from Relative()) beneath the root without following any symlink.
  Result<UniqueFd> OpenBeneath(const std::string& rel, int flags, std::string_view display) const {
    if (!no_openat2_.load(std::memory_order_relaxed)) {
      struct open_how how {};
      how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
      how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
      const long fd = ::syscall(SYS_openat2, root_.get(), rel.c_str(), &how, sizeof(how));
      if (fd >= 0) return UniqueFd(static_cast<int>(fd));
      const int err = errno;
      if (err != ENOSYS && err != EPERM) return OpenError(err, display);
      // ENOSYS: a kernel before 5.6; EPERM: a seccomp filter that does not know openat2.
      no_openat2_.store(true, std::memory_order_relaxed);
    }
    // Fallback: walk one component at a time, refusing symlinks at every step.
    UniqueFd dir(::fcntl(root_.get(), F_DUPFD_CLOEXEC, 0));
    if (dir.get() < 0) return Status::FromErrno(errno, "dup root");
    size_t begin = 0;
    while (true) {
      const size_t slash = rel.find('/', begin);
      const std::string part = rel.substr(begin, slash - begin);
      const bool last = slash == std::string::npos;
      const int part_flags = last ? flags : O_PATH | O_DIRECTORY;
      UniqueFd next(::openat(dir.get(), part.c_str(), part_flags | O_NOFOLLOW | O_CLOEXEC));
      if (next.get() < 0) {
        int err = errno;
        // O_DIRECTORY | O_NOFOLLOW on a symlink says ENOTDIR; openat2 says ELOOP: be openat2.
        struct stat st {};
        if (err == ENOTDIR && ::fstatat(dir.get(), part.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(st.st_mode)) {
          err = ELOOP;
        }
        return OpenError(err, display);
      }
      if (last) return next;
      dir = std::move(next);
      begin = slash + 1;
    }
  }

  static Status OpenError(int err, std::string_view display) {
    const std::string context = "open " + std::string(display);
    if (err == ELOOP) return Status::InvalidArgument(context + ": the path crosses a symlink");
    if (err == EXDEV) return Status::PermissionDenied(context + ": outside the source's root");
    return Status::FromErrno(err, context);
  }

  static ObjectInfo InfoFrom(const struct stat& st, std::string name) {
    ObjectInfo info;
    info.name = std::move(name);
    info.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
    info.mode = st.st_mode & 07777;
    if (S_ISDIR(st.st_mode)) {
      info.type = ObjectType::kDirectory;
    } else if (S_ISLNK(st.st_mode)) {
      info.type = ObjectType::kSymlink;
      info.size = static_cast<uint64_t>(st.st_size);
    } else {
      info.type = ObjectType::kFile;
      info.size = static_cast<uint64_t>(st.st_size);
      info.version = Version(st);
    }
    return info;
  }

  static bool Served(const struct stat& st) {
    return S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode);
  }

  // Stat of `name` inside the open directory `dir_fd`, not following a symlink.
  static Result<ObjectInfo> StatAt(int dir_fd, const std::string& name, std::string_view display) {
    struct stat st {};
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Status::FromErrno(errno, "stat " + std::string(display));
    }
    if (!Served(st)) {
      return Status::NotSupported("stat " + std::string(display) +
                                  ": not a file, directory or symlink");
    }
    ObjectInfo info = InfoFrom(st, name);
    if (info.type == ObjectType::kSymlink) {
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      const ssize_t n = ::readlinkat(dir_fd, name.c_str(), target.data(), target.size());
      if (n < 0) return Status::FromErrno(errno, "readlink " + std::string(display));
      target.resize(static_cast<size_t>(n));
      info.symlink_target = std::move(target);
    }
    return info;
  }

  Result<ObjectInfo> StatOnce(const std::string& path) const {
    if (path == "/") {
      struct stat st {};
      if (::fstat(root_.get(), &st) != 0) return Status::FromErrno(errno, "stat /");
      return InfoFrom(st, "");
    }
    const std::string_view parent = ParentPath(path);
    HOARDFS_ASSIGN_OR_RETURN(UniqueFd dir,
                             OpenBeneath(Relative(parent), O_PATH | O_DIRECTORY, parent));
    return StatAt(dir.get(), std::string(BaseName(path)), path);
  }

  Result<ListPage> ListOnce(const std::string& path, const std::string& token) const {
    Result<UniqueFd> fd = OpenBeneath(Relative(path), O_RDONLY | O_DIRECTORY, path);
    if (!fd.ok()) {
      if (fd.status().code() == StatusCode::kNotFound) {
        // ENOTDIR on the last component means the path is a file: say so.
        Result<ObjectInfo> info = StatOnce(path);
        if (info.ok() && info->type != ObjectType::kDirectory) {
          return Status::InvalidArgument("list " + path + ": not a directory");
        }
      }
      return fd.status();
    }
    DIR* dir = ::fdopendir(fd->get());
    if (dir == nullptr) return Status::FromErrno(errno, "opendir " + path);
    fd->Release();  // now owned by `dir`
    std::vector<std::string> names;
    errno = 0;
    while (const struct dirent* ent = ::readdir(dir)) {
      const std::string_view name(ent->d_name);
      if (name == "." || name == "..") continue;
      if (!token.empty() && name <= token) continue;
      names.emplace_back(name);
    }
    const int readdir_errno = errno;
    ListPage page;
    const size_t page_size = std::max(1u, options_.list_page_size);
    if (readdir_errno == 0) {
      if (names.size() > page_size) {
        std::nth_element(names.begin(), names.begin() + static_cast<ptrdiff_t>(page_size),
                         names.end());
        names.resize(page_size);
        std::sort(names.begin(), names.end());
        page.next_token = names.back();
      } else {
        std::sort(names.begin(), names.end());
      }
      page.entries.reserve(names.size());
      for (const std::string& name : names) {
        Result<ObjectInfo> info = StatAt(::dirfd(dir), name, name);
        if (info.ok()) {
          page.entries.push_back(std::move(info).value());
        } else if (info.status().code() != StatusCode::kNotFound &&
                   info.status().code() != StatusCode::kNotSupported) {
          ::closedir(dir);
          return info.status().WithContext("list " + path);
        }  // else removed since readdir, or a FIFO/socket/device: not served.
      }
    }
    ::closedir(dir);
    if (readdir_errno != 0) return Status::FromErrno(readdir_errno, "readdir " + path);
    return page;
  }

  static std::string HandleKey(const ObjectRef& ref) { return ref.path + '\0' + ref.version; }

  // The open descriptor for `ref`, from the cache or freshly opened and checked against ref.
  Result<std::shared_ptr<OpenFile>> Acquire(const ObjectRef& ref) {
    const std::string key = HandleKey(ref);
    if (auto cached = handles_.Get(key)) return cached;
    HOARDFS_ASSIGN_OR_RETURN(UniqueFd fd, OpenBeneath(Relative(ref.path), O_RDONLY, ref.path));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, "fstat " + ref.path);
    if (!S_ISREG(st.st_mode)) return Status::InvalidArgument("read " + ref.path + ": not a file");
    if (!ref.version.empty() && Version(st) != ref.version) {
      return Status::FailedPrecondition("read " + ref.path + ": version " + Version(st) +
                                        " is not " + ref.version);
    }
    auto file = std::make_shared<OpenFile>();
    file->fd = std::move(fd);
    auto evicted = handles_.Put(key, file);  // released (closed) when this scope ends
    return file;
  }

  void Release(const ObjectRef& ref, const OpenFile* file) {
    auto removed = handles_.Remove(HandleKey(ref), file);
  }

  static Result<size_t> ReadAt(const OpenFile& file, const ObjectRef& ref, uint64_t offset,
                               std::span<std::byte> out) {
    size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::pread(file.fd.get(), out.data() + done, out.size() - done,
                                static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno(errno, "read " + ref.path);
      }
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    if (done < out.size()) {
      // Shorter than the version's size: the file shrank under us.
      return Status::FailedPrecondition("read " + ref.path + ": file is shorter than version " +
                                        ref.version);
    }
    return done;
  }

  // After a read: the bytes belong to ref's version only if the file still has its size and mtime.
  static Status CheckUnchanged(const OpenFile& file, const ObjectRef& ref) {
    if (ref.version.empty()) return Status::Ok();
    struct stat st {};
    if (::fstat(file.fd.get(), &st) != 0) return Status::FromErrno(errno, "fstat " + ref.path);
    if (Version(st) != ref.version) {
      return Status::FailedPrecondition("read " + ref.path + ": changed from version " +
                                        ref.version + " to " + Version(st));
    }
    return Status::Ok();
  }

  const UniqueFd root_;
  const std::string root_path_;
  const RemoteOptions options_;
  const RetryPolicy retry_;
  HandleCache<OpenFile> handles_;
  mutable std::atomic<bool> no_openat2_{g_force_walk.load()};
};

}  // namespace

void FileSource::ForceWalkForTesting(bool on) { g_force_walk.store(on); }

Result<std::unique_ptr<ObjectSource>> FileSource::Open(const std::string& root,
                                                       const RemoteOptions& options) {
  if (root.empty() || root.front() != '/') {
    return Status::InvalidArgument("file source root '" + root + "' is not absolute");
  }
  UniqueFd fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == ENOTDIR)
      return Status::InvalidArgument("file source root " + root + ": not a directory");
    return Status::FromErrno(err, "open file source root " + root);
  }
  Logger("remote")->debug("file source at {}", root);
  return std::unique_ptr<ObjectSource>(new FileSourceImpl(std::move(fd), root, options));
}

}  // namespace hoardfs
