#include "daemon/mount_command.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <utility>

#include "cache/block_cache.h"
#include "cache/fetcher.h"
#include "cache/metadata_cache.h"
#include "cache/remote_tree.h"
#include "common/log.h"
#include "daemon/byte_size.h"
#include "fuse/filesystem.h"
#include "fuse/fuse_server.h"
#include "remote/object_source.h"

namespace hoardfs {
namespace {

// True if `path` is a mount point listed in /proc/self/mountinfo.
bool IsMountPoint(const std::string& path) {
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr) return false;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, mnt;
    fields >> id >> parent >> dev >> root >> mnt;
    if (mnt == resolved) return true;
  }
  return false;
}

Status CheckMountpoint(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOTCONN) {
      return Status::FailedPrecondition(path +
                                        " is a stale mount (transport endpoint not "
                                        "connected); run: fusermount3 -u " +
                                        path);
    }
    return Status::FromErrno(errno, "mount point " + path);
  }
  if (!S_ISDIR(st.st_mode))
    return Status::InvalidArgument("mount point " + path + " is not a directory");
  if (IsMountPoint(path)) return Status::FailedPrecondition(path + " is already mounted");
  return Status::Ok();
}

// Everything after the fork: open, mount, report readiness on `ready_fd` (-1 in foreground), serve.
int Serve(const MountArgs& a, int ready_fd) {
  auto report = [&](const Status& s) {
    if (ready_fd >= 0) {
      const std::string msg = s.ok() ? "ok" : s.ToString();
      (void)!::write(ready_fd, msg.data(), msg.size());
      ::close(ready_fd);
      ready_fd = -1;
    } else if (!s.ok()) {
      std::cerr << "hoardfs: " << s.ToString() << "\n";
    }
  };
  auto fail = [&](const Status& s) {
    report(s);
    return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
  };

  RemoteOptions ro;
  ro.timeout = std::chrono::seconds(a.remote_timeout);
  ro.max_attempts = a.remote_attempts;
  ro.down_retry = std::chrono::seconds(a.remote_down_retry);
  ro.down_retry_max = std::chrono::seconds(a.remote_down_retry_max);
  ro.s3.endpoint = a.s3_endpoint;
  ro.s3.region = a.s3_region;
  ro.s3.virtual_host = a.s3_virtual_host;
  ro.s3.credentials_file = a.s3_credentials_file;
  ro.dav.bearer_token_file = a.bearer_token_file;
  ro.dav.token_to_other_hosts = a.token_to_other_hosts;
  ro.tls.client_cert_file = a.x509_proxy;
  ro.tls.ca_path = a.ca_path;
  ro.tls.ca_file = a.ca_file;
  if (ro.s3.credentials_file.empty()) {
    // The standard AWS variables; only daemon/ reads the environment.
    for (auto [name, field] : {std::pair{"AWS_ACCESS_KEY_ID", &ro.s3.access_key_id},
                               std::pair{"AWS_SECRET_ACCESS_KEY", &ro.s3.secret_access_key},
                               std::pair{"AWS_SESSION_TOKEN", &ro.s3.session_token}}) {
      const char* value = std::getenv(name);
      if (value != nullptr) *field = value;
    }
  }
  auto source = OpenObjectSource(a.url, ro);
  if (!source.ok()) return fail(source.status());
  Result<ObjectInfo> root = (*source)->Stat("/");
  if (!root.ok()) {
    return fail(root.status().WithContext("cannot read the root of " + (*source)->Describe()));
  }
  if (root->type != ObjectType::kDirectory) {
    return fail(Status::InvalidArgument((*source)->Describe() + " is not a directory"));
  }

  BlockCacheOptions co;
  co.dir = a.cache_dir;
  auto size = ParseByteSize(a.cache_size);
  if (!size.ok()) return fail(size.status());
  co.capacity_bytes = *size;
  auto bs = ParseByteSize(a.block_size);
  if (!bs.ok()) return fail(bs.status());
  co.block_size = static_cast<uint32_t>(*bs);
  co.dataset_depth = a.dataset_depth;
  // Memory budget of the daemon (target: peak RSS <= 256 MiB on any workload): blocks queued for
  // the cache disk and one group commit, the fetcher's blocks in flight and recent, the index's
  // block cache and write buffers.
  co.max_pending_insert_bytes = 32ull << 20;
  co.max_insert_batch_bytes = 16ull << 20;
  auto cache = BlockCache::Open(co);
  if (!cache.ok()) return fail(cache.status());
  auto metadata = MetadataCache::Open((*cache)->index());
  if (!metadata.ok()) return fail(metadata.status());
  FetcherOptions fetch_options;
  fetch_options.max_memory_bytes = 64ull << 20;
  Fetcher fetcher(cache->get(), fetch_options);
  RemoteTreeOptions to;
  to.attr_ttl = std::chrono::seconds(a.attr_ttl);
  to.dir_ttl = std::chrono::seconds(a.dir_ttl);
  to.negative_ttl = std::chrono::seconds(a.negative_ttl);
  RemoteTree tree(metadata->get(), &fetcher, cache->get(), source->get(), /*remote_id=*/0, to);
  FilesystemOptions fo;
  fo.attr_timeout = a.attr_ttl;
  fo.entry_timeout = std::min(a.attr_ttl, a.dir_ttl);
  fo.negative_timeout = a.negative_ttl;
  fo.uid = ::getuid();
  fo.gid = ::getgid();
  Filesystem fs(&tree, cache->get(), fo);

  FuseOptions fuse;
  fuse.mountpoint = a.mountpoint;
  fuse.fsname = "hoardfs";
  for (const std::string& o : a.fuse_options) {
    if (o == "allow_other") {
      fuse.allow_other = true;
    } else {
      fuse.extra_options.push_back(o);
    }
  }
  fuse.debug = a.debug_fuse;
  auto server = FuseServer::Mount(&fs, fuse);
  if (!server.ok()) return fail(server.status());
  Logger("daemon")->info("mounted {} at {} (cache {} , {})", (*source)->Describe(), a.mountpoint,
                         a.cache_dir, FormatByteSize(co.capacity_bytes));
  report(Status::Ok());
  Status run = (*server)->Run();
  server->reset();  // unmount before the caches close
  Logger("daemon")->info("unmounted {}", a.mountpoint);
  if (!run.ok()) {
    Logger("daemon")->error("{}", run.ToString());
    return 1;
  }
  return 0;
}

}  // namespace

int RunMount(const MountArgs& a) {
  if (Status s = CheckMountpoint(a.mountpoint); !s.ok()) {
    std::cerr << "hoardfs: " << s.ToString() << "\n";
    return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  if (a.foreground) return Serve(a, -1);

  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    std::perror("hoardfs: pipe");
    return 1;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("hoardfs: fork");
    return 1;
  }
  if (pid == 0) {
    ::close(pipefd[0]);
    // A daemon keeps no descriptor of its caller's (a pipe held open would block a shell reading
    // our output), only stdio (redirected below) and the readiness pipe.
    if (pipefd[1] > 3) ::close_range(3, static_cast<unsigned>(pipefd[1]) - 1, 0);
    ::close_range(static_cast<unsigned>(pipefd[1]) + 1, ~0U, 0);
    ::setsid();
    if (!a.log_file.empty()) {
      spdlog::set_default_logger(spdlog::basic_logger_mt("hoardfs", a.log_file));
    }
    // Detach stdio (logs go to stderr until here; after, to the log file or nowhere).
    const int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      ::dup2(devnull, STDIN_FILENO);
      ::dup2(devnull, STDOUT_FILENO);
      if (a.log_file.empty()) ::dup2(devnull, STDERR_FILENO);
      ::close(devnull);
    }
    if (!a.log_file.empty()) {
      const int fd = ::open(a.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
      if (fd >= 0) {
        ::dup2(fd, STDERR_FILENO);
        ::close(fd);
      }
    }
    ::_exit(Serve(a, pipefd[1]));
  }
  ::close(pipefd[1]);
  std::string msg;
  char buf[512];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof(buf))) > 0) msg.append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  if (msg == "ok") {
    std::cout << "hoardfs: " << a.url << " mounted at " << a.mountpoint << " (pid " << pid << ")\n";
    return 0;
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::cerr << "hoardfs: " << (msg.empty() ? "the daemon exited before mounting" : msg) << "\n";
  return WIFEXITED(status) && WEXITSTATUS(status) != 0 ? WEXITSTATUS(status) : 1;
}

}  // namespace hoardfs
