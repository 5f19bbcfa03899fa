// FuseServer: mounts a Filesystem with the libfuse3 low-level API and runs its multi-threaded
// loop. The callbacks (fuse_server.cc) are thin trampolines: decode, one Filesystem call, one
// fuse_reply_*; errno is made here from the Status (ToErrno), and nowhere else.
//
// Mount: read-only ("ro"), fsname "hoardfs", 1 MiB max_read, readdirplus, kernel entry/attribute
// caching with the Filesystem's timeouts, keep_cache for files whose version did not change. After
// mounting, the FUSE device's bdi read_ahead_kb is raised (the kernel otherwise caps readahead at
// 128 KiB whatever max_readahead says: measured in ../docs/benchmarks.md).
//
// With FuseOptions::io_uring the session's requests come by FUSE-over-io_uring where the kernel
// offers it (fuse/uring_transport.h); the handlers are the same.
//
// Thread-safety: Run() is called once, from one thread; Exit() may be called from any thread or a
// signal-safe context (it only flags the session).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "fuse/filesystem.h"

struct fuse_session;

namespace hoardfs {

class UringTransport;

struct FuseOptions {
  std::string mountpoint;                  // REQUIRED: an existing, empty directory
  std::string fsname = "hoardfs";          // shown in /proc/mounts
  bool allow_other = false;                // let other users (containers) read the mount
  std::vector<std::string> extra_options;  // more "-o" options, passed to libfuse as they are
  unsigned max_threads = 16;
  unsigned read_ahead_kb = 1024;           // 0: leave the kernel's default
  bool debug = false;                      // libfuse request tracing
  // FUSE-over-io_uring where the kernel offers it (fuse/uring_transport.h), else /dev/fuse.
  bool io_uring = false;
  unsigned io_uring_depth = 16;  // request entries per queue (one queue per CPU)
};

class FuseServer {
 public:
  // Creates the session and mounts. kInvalidArgument for a bad mount point (missing, not a
  // directory, already a mount point of ours), kIOError/kPermissionDenied when the kernel refuses.
  static Result<std::unique_ptr<FuseServer>> Mount(Filesystem* fs, const FuseOptions& options);
  ~FuseServer();  // unmounts if still mounted
  FuseServer(const FuseServer&) = delete;
  FuseServer& operator=(const FuseServer&) = delete;

  // Serves requests until the file system is unmounted (umount, fusermount3 -u) or a signal
  // (SIGINT, SIGTERM, SIGHUP) ends the session.
  Status Run();

 private:
  FuseServer() = default;
  struct fuse_session* session_ = nullptr;
  bool mounted_ = false;
  FuseOptions options_;
  std::unique_ptr<UringTransport> transport_;  // with options_.io_uring
};

}  // namespace hoardfs
