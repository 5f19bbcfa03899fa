#include "daemon/mount_command.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <tuple>
#include <utility>

#include "cache/block_cache.h"
#include "cache/fetcher.h"
#include "cache/metadata_cache.h"
#include "cache/remote_tree.h"
#include "common/log.h"
#include "daemon/byte_size.h"
#include "daemon/mount_table.h"
#include "fuse/filesystem.h"
#include "fuse/fuse_server.h"
#include "fuse/mount_namespace.h"
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

// The single-URL form as a table of one remote at the mount root (path "", remote id 0).
MountTable SingleRemoteTable(const MountArgs& a) {
  MountTableEntry e;
  e.url = a.url;
  e.remote_id = 0;
  e.attr_ttl = a.attr_ttl;
  e.dir_ttl = a.dir_ttl;
  e.negative_ttl = a.negative_ttl;
  e.remote_timeout = a.remote_timeout;
  e.remote_attempts = a.remote_attempts;
  e.remote_down_retry = a.remote_down_retry;
  e.remote_down_retry_max = a.remote_down_retry_max;
  e.names_first = a.names_first;
  e.s3_endpoint = a.s3_endpoint;
  e.s3_region = a.s3_region;
  e.s3_virtual_host = a.s3_virtual_host;
  e.s3_credentials_file = a.s3_credentials_file;
  e.bearer_token_file = a.bearer_token_file;
  e.token_to_other_hosts = a.token_to_other_hosts;
  e.x509_proxy = a.x509_proxy;
  e.ca_path = a.ca_path;
  e.ca_file = a.ca_file;
  MountTable t;
  t.mounts.push_back(std::move(e));
  return t;
}

RemoteOptions RemoteOptionsOf(const MountTableEntry& e) {
  RemoteOptions ro;
  ro.timeout = std::chrono::seconds(e.remote_timeout);
  ro.max_attempts = e.remote_attempts;
  ro.down_retry = std::chrono::seconds(e.remote_down_retry);
  ro.down_retry_max = std::chrono::seconds(e.remote_down_retry_max);
  ro.s3.endpoint = e.s3_endpoint;
  ro.s3.region = e.s3_region;
  ro.s3.virtual_host = e.s3_virtual_host;
  ro.s3.credentials_file = e.s3_credentials_file;
  ro.dav.bearer_token_file = e.bearer_token_file;
  ro.dav.token_to_other_hosts = e.token_to_other_hosts;
  ro.tls.client_cert_file = e.x509_proxy;
  ro.tls.ca_path = e.ca_path;
  ro.tls.ca_file = e.ca_file;
  if (ro.s3.credentials_file.empty()) {
    // The standard AWS variables; only daemon/ reads the environment.
    for (auto [name, field] : {std::pair{"AWS_ACCESS_KEY_ID", &ro.s3.access_key_id},
                               std::pair{"AWS_SECRET_ACCESS_KEY", &ro.s3.secret_access_key},
                               std::pair{"AWS_SESSION_TOKEN", &ro.s3.session_token}}) {
      const char* value = std::getenv(name);
      if (value != nullptr) *field = value;
    }
  }
  return ro;
}

// A window size given by `flag`, else by the table's [cache] `key`, else the flag's default, in
// [kMinReadaheadBytes, kMaxReadaheadBytes]; `label` says where it came from ("--readahead 64M").
Result<uint64_t> WindowSizeOf(const MountArgs& a, const std::string& flag,
                              const std::string& flag_value, const std::string& key,
                              const std::optional<std::string>& table_value, std::string* label) {
  const bool from_table = a.given_flags.count(flag) == 0 && table_value;
  const std::string text = from_table ? *table_value : flag_value;
  *label = (from_table ? "[cache] " + key + " " : flag + " ") + text;
  Result<uint64_t> bytes = ParseByteSize(text);
  if (!bytes.ok()) return bytes.status().WithContext(*label);
  if (*bytes < kMinReadaheadBytes || *bytes > kMaxReadaheadBytes) {
    return Status::InvalidArgument(*label + ": must be between 4M and 512M");
  }
  return bytes;
}

struct Readahead {
  uint64_t window = 0;  // FetcherOptions::readahead_max
  uint64_t limit = 0;   // FetcherOptions::readahead_limit (>= window)
};

// The FUSE side of the mount: -o options of ours (allow_other, io_uring, io_uring_depth=N), the
// rest passed to libfuse as they are.
Result<FuseOptions> FuseOptionsOf(const MountArgs& a) {
  FuseOptions fuse;
  fuse.mountpoint = a.mountpoint;
  fuse.fsname = "hoardfs";
  for (const std::string& o : a.fuse_options) {
    if (o == "allow_other") {
      fuse.allow_other = true;
    } else if (o == "io_uring") {
      fuse.io_uring = true;
    } else if (o.starts_with("io_uring_depth=")) {
      const std::string v = o.substr(std::string_view("io_uring_depth=").size());
      char* end = nullptr;
      const unsigned long depth = std::strtoul(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || depth < 1 || depth > 1024) {
        return Status::InvalidArgument("-o " + o + ": a depth of 1 to 1024");
      }
      fuse.io_uring_depth = static_cast<unsigned>(depth);
    } else {
      fuse.extra_options.push_back(o);
    }
  }
  fuse.debug = a.debug_fuse;
  return fuse;
}

// --readahead and --readahead-limit (or the table's readahead and readahead_limit). A limit given
// below the window is an error; the default limit below a larger window given is the window (no
// growth).
Result<Readahead> ReadaheadOf(const MountArgs& a, const MountTable& table) {
  Readahead r;
  std::string window_label, limit_label;
  HOARDFS_ASSIGN_OR_RETURN(r.window, WindowSizeOf(a, "--readahead", a.readahead, "readahead",
                                                  table.readahead, &window_label));
  HOARDFS_ASSIGN_OR_RETURN(
      r.limit, WindowSizeOf(a, "--readahead-limit", a.readahead_limit, "readahead_limit",
                            table.readahead_limit, &limit_label));
  const bool limit_given =
      a.given_flags.count("--readahead-limit") != 0 || table.readahead_limit.has_value();
  if (r.limit < r.window) {
    if (limit_given) {
      return Status::InvalidArgument(limit_label + " is below " + window_label +
                                     ": the limit of the window's growth must be at least the "
                                     "window");
    }
    r.limit = r.window;
  }
  return r;
}

// Checks that the root of `source` is a readable directory.
Status CheckRoot(ObjectSource& source) {
  Result<ObjectInfo> root = source.Stat("/");
  if (!root.ok()) return root.status().WithContext("cannot read the root of " + source.Describe());
  if (root->type != ObjectType::kDirectory) {
    return Status::InvalidArgument(source.Describe() + " is not a directory");
  }
  return Status::Ok();
}

// Everything after the fork: open, mount, report readiness on `ready_fd` (-1 in foreground), serve.
// `table` holds one remote at the root (path "") for the single-URL form.
int Serve(const MountArgs& a, const MountTable& table, int ready_fd) {
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
  const bool single = a.config_file.empty();
  // Checked before any remote is contacted: a bad value fails at once.
  auto readahead = ReadaheadOf(a, table);
  if (!readahead.ok()) return fail(readahead.status());
  auto fuse_options = FuseOptionsOf(a);
  if (!fuse_options.ok()) return fail(fuse_options.status());

  std::vector<std::unique_ptr<ObjectSource>> sources;
  for (const MountTableEntry& e : table.mounts) {
    auto source = OpenObjectSource(e.url, RemoteOptionsOf(e));
    if (!source.ok()) {
      return fail(single
                      ? source.status()
                      : source.status().WithContext(a.config_file + ":" + std::to_string(e.line) +
                                                    ": [mount " + e.path + "]"));
    }
    sources.push_back(std::move(*source));
  }
  // The roots are checked in parallel: with a table, one remote's timeout must not add to the
  // others'.
  std::vector<std::future<Status>> checks;
  for (auto& source : sources) {
    checks.push_back(std::async(std::launch::async, [&s = *source] { return CheckRoot(s); }));
  }
  for (size_t i = 0; i < checks.size(); ++i) {
    const Status s = checks[i].get();
    if (s.ok()) continue;
    if (single || s.code() == StatusCode::kInvalidArgument) return fail(s);
    Logger("daemon")->warn("/{}: {}; mounting it anyway, it fails with EIO until it answers",
                           table.mounts[i].path, s.ToString());
  }

  BlockCacheOptions co;
  auto pick = [&](const char* flag, const std::string& from_flag,
                  const std::optional<std::string>& from_table) {
    return a.given_flags.count(flag) != 0 || !from_table ? from_flag : *from_table;
  };
  co.dir = pick("--cache-dir", a.cache_dir, table.cache_dir);
  auto size = ParseByteSize(pick("--cache-size", a.cache_size, table.cache_size));
  if (!size.ok()) return fail(size.status());
  co.capacity_bytes = *size;
  auto bs = ParseByteSize(pick("--block-size", a.block_size, table.block_size));
  if (!bs.ok()) return fail(bs.status());
  co.block_size = static_cast<uint32_t>(*bs);
  co.dataset_depth = a.given_flags.count("--dataset-depth") != 0 || !table.dataset_depth
                         ? a.dataset_depth
                         : *table.dataset_depth;
  // Memory budget of the daemon (target: peak RSS <= 256 MiB on any workload with the default
  // readahead): blocks queued for the cache disk and one group commit, the fetcher's blocks in
  // flight and recent (below), the index's block cache and write buffers.
  co.max_pending_insert_bytes = 32ull << 20;
  co.max_insert_batch_bytes = 16ull << 20;
  // Twice the window: the blocks a stream has fetched ahead and not yet read count against the
  // budget, and a window as large as the budget drops them for the next step (measured: a 64 MiB
  // window in a 64 MiB budget read 850 of 1,024 blocks back from the cache disk).
  // A stream whose window grows past it (up to the limit) is lent the growth on top
  // (cache/readahead_budget.h): at most limit - window for all streams together.
  const uint64_t fetcher_memory_bytes = std::max<uint64_t>(64ull << 20, 2 * readahead->window);
  // Warm reads hold up to the fetcher's budget of cache-read blocks, and a few in replies.
  co.read_buffer_bytes = fetcher_memory_bytes + fetcher_memory_bytes / 4;
  auto cache = BlockCache::Open(co);
  if (!cache.ok()) return fail(cache.status());
  auto metadata = MetadataCache::Open((*cache)->index());
  if (!metadata.ok()) return fail(metadata.status());
  FetcherOptions fetch_options;
  fetch_options.max_memory_bytes = fetcher_memory_bytes;
  fetch_options.readahead_max = readahead->window;
  fetch_options.readahead_limit = readahead->limit;
  // Enough prefetch workers for a whole window of remote requests in flight at once; more once a
  // window has grown, for its limit.
  const auto workers_for = [&](uint64_t window) {
    return std::max<unsigned>(fetch_options.threads,
                              static_cast<unsigned>((window + fetch_options.max_request_bytes - 1) /
                                                    fetch_options.max_request_bytes));
  };
  fetch_options.threads = workers_for(readahead->window);
  fetch_options.grown_threads = workers_for(readahead->limit);
  Fetcher fetcher(cache->get(), fetch_options);

  std::vector<std::unique_ptr<RemoteTree>> trees;
  std::vector<MountedTree> mounted;
  FilesystemOptions fo;
  fo.attr_timeout = fo.entry_timeout = fo.negative_timeout = 1e9;
  for (size_t i = 0; i < table.mounts.size(); ++i) {
    const MountTableEntry& e = table.mounts[i];
    RemoteTreeOptions to;
    to.attr_ttl = std::chrono::seconds(e.attr_ttl);
    to.dir_ttl = std::chrono::seconds(e.dir_ttl);
    to.negative_ttl = std::chrono::seconds(e.negative_ttl);
    to.names_first_entries = e.names_first;
    trees.push_back(std::make_unique<RemoteTree>(metadata->get(), &fetcher, cache->get(),
                                                 sources[i].get(), e.remote_id, to));
    mounted.push_back({e.path, trees.back().get()});
    // The kernel's timeouts are one set for the mount: the shortest of the remotes'.
    fo.attr_timeout = std::min<double>(fo.attr_timeout, e.attr_ttl);
    fo.entry_timeout = std::min<double>(fo.entry_timeout, std::min(e.attr_ttl, e.dir_ttl));
    fo.negative_timeout = std::min<double>(fo.negative_timeout, e.negative_ttl);
  }
  fo.uid = ::getuid();
  fo.gid = ::getgid();
  std::unique_ptr<Filesystem> fs;
  if (single) {
    fs = std::make_unique<Filesystem>(trees.front().get(), cache->get(), fo);
  } else {
    auto names = MountNamespace::Table(mounted, metadata->get(), kSyntheticRemoteId);
    if (!names.ok()) return fail(names.status());
    fs = std::make_unique<Filesystem>(std::move(*names), cache->get(), fo);
  }

  auto server = FuseServer::Mount(fs.get(), *fuse_options);
  if (!server.ok()) return fail(server.status());
  for (size_t i = 0; i < table.mounts.size(); ++i) {
    Logger("daemon")->info("mounted {} at {}/{} (remote id {})", sources[i]->Describe(),
                           a.mountpoint, table.mounts[i].path, table.mounts[i].remote_id);
  }
  Logger("daemon")->info("cache {} , {}", co.dir, FormatByteSize(co.capacity_bytes));
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

// Reads and checks the mount table of --config: syntax and values (ParseMountTable), the files
// it names, and the flags given with it.
Result<MountTable> LoadMountTable(const MountArgs& a) {
  for (const char* flag :
       {"--attr-ttl", "--dir-ttl", "--negative-ttl", "--remote-timeout", "--remote-attempts",
        "--remote-down-retry", "--remote-down-retry-max", "--names-first", "--s3-endpoint",
        "--s3-region", "--s3-virtual-host", "--s3-credentials-file", "--bearer-token-file",
        "--bearer-token-to-other-hosts", "--x509-proxy", "--ca-path", "--ca-file"}) {
    if (a.given_flags.count(flag) != 0) {
      return Status::InvalidArgument(std::string(flag) +
                                     " applies to a single URL; with --config " +
                                     "set it per remote in " + a.config_file);
    }
  }
  std::ifstream in(a.config_file, std::ios::binary);
  if (!in) return Status::FromErrno(errno, "cannot read config " + a.config_file);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::FromErrno(errno, "cannot read config " + a.config_file);
  HOARDFS_ASSIGN_OR_RETURN(MountTable table, ParseMountTable(text.str(), a.config_file));
  for (const MountTableEntry& e : table.mounts) {
    for (auto [key, value, dir] :
         {std::tuple{"s3_credentials_file", &e.s3_credentials_file, false},
          std::tuple{"bearer_token_file", &e.bearer_token_file, false},
          std::tuple{"x509_proxy", &e.x509_proxy, false}, std::tuple{"ca_file", &e.ca_file, false},
          std::tuple{"ca_path", &e.ca_path, true}}) {
      if (value->empty()) continue;
      struct stat st {};
      const std::string where = a.config_file + ":" + std::to_string(e.line) + ": [mount " +
                                e.path + "] key '" + key + "': ";
      if (::stat(value->c_str(), &st) != 0) return Status::FromErrno(errno, where + *value);
      if (dir != S_ISDIR(st.st_mode)) {
        return Status::InvalidArgument(where + *value + " is " + (dir ? "not " : "") +
                                       "a directory");
      }
    }
  }
  return table;
}

}  // namespace

int RunMount(const MountArgs& a) {
  MountTable table;
  if (a.config_file.empty()) {
    table = SingleRemoteTable(a);
  } else {
    auto loaded = LoadMountTable(a);
    if (!loaded.ok()) {
      std::cerr << "hoardfs: " << loaded.status().ToString() << "\n";
      return loaded.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
    }
    table = std::move(*loaded);
  }
  if (Status s = CheckMountpoint(a.mountpoint); !s.ok()) {
    std::cerr << "hoardfs: " << s.ToString() << "\n";
    return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  if (a.foreground) return Serve(a, table, -1);

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
    ::_exit(Serve(a, table, pipefd[1]));
  }
  ::close(pipefd[1]);
  std::string msg;
  char buf[512];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof(buf))) > 0) msg.append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  if (msg == "ok") {
    const std::string what =
        a.config_file.empty()
            ? a.url
            : a.config_file + " (" + std::to_string(table.mounts.size()) + " remotes)";
    std::cout << "hoardfs: " << what << " mounted at " << a.mountpoint << " (pid " << pid << ")\n";
    return 0;
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::cerr << "hoardfs: " << (msg.empty() ? "the daemon exited before mounting" : msg) << "\n";
  return WIFEXITED(status) && WEXITSTATUS(status) != 0 ? WEXITSTATUS(status) : 1;
}

}  // namespace hoardfs
