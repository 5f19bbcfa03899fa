// XRootDServer: a real `xrootd` for tests, started and stopped by the test itself (CI starts
// nothing). It exports a data directory as "/" over root:// and, optionally, over HTTP/WebDAV
// (XrdHttp) on a second port, both on free ports found by binding port 0.
//
// What the server needs (shared/testing/servers.md):
// - As root it runs with `-R nobody` (xrootd refuses to run as root); as another user, as that
//   user. The data directory, its parents and the files must be readable/traversable by the user
//   it runs as: Start() checks and says which directory is not (a mkdtemp() dir is 0700).
// - Its log, admin and pid files live in a private work directory (owned by nobody when root).
// - Ready when a TCP connect to the root:// port succeeds and `xrdfs root://... stat /` answers
//   (skipped if xrdfs is absent), within `ready_timeout`; otherwise Start() fails with the tail of
//   the server's log.
//
// Processes: the server is started with posix_spawn(). glibc implements it with
// clone(CLONE_VM | CLONE_VFORK) and runs no pthread_atfork handlers, and the child only execs, so
// starting (or restarting) a server is safe even after XrdCl objects exist in the test process —
// unlike fork(), which XrdCl does not survive (xrootd/xrootd #919, #1515). The child's descriptors
// above 2 are closed (no XrdCl socket leaks into the server). Stop() sends SIGTERM, then SIGKILL
// after 3 s, and reaps the child; only the process this object started is ever signalled.
//
// Thread-safety: none; one test thread drives a server.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"

namespace hoardfs::testing {

struct XRootDServerOptions {
  std::string data_dir;  // REQUIRED: absolute path, exported as "/" (oss.localroot)
  bool http = true;      // also serve HTTP/WebDAV (XrdHttp) on http_port()
  std::chrono::seconds ready_timeout{15};
};

class XRootDServer {
 public:
  // The xrootd binary found on $PATH, or "" if xrootd is not installed (the only reason a test
  // may skip).
  static std::string FindBinary();

  static Result<std::unique_ptr<XRootDServer>> Start(const XRootDServerOptions& options);
  // One attempt of Start(); Start() retries it: xrootd 5.5 occasionally dies at start-up under
  // load (seen: SIGSEGV).
  static Result<std::unique_ptr<XRootDServer>> StartOnce(const XRootDServerOptions& options);
  ~XRootDServer();  // Stop()s the server and removes the work directory
  XRootDServer(const XRootDServer&) = delete;
  XRootDServer& operator=(const XRootDServer&) = delete;

  // Stops the server (SIGTERM, SIGKILL after 3 s). OK if already stopped.
  Status Stop();
  // Stops (if running) and starts again on the same ports; waits until ready. For outage tests.
  Status Restart();
  // SIGSTOP / SIGCONT: a server that keeps its connections but answers nothing (a hung server).
  Status Pause();
  Status Resume();

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  uint16_t http_port() const { return http_port_; }
  // "root://127.0.0.1:PORT" (append "//path" for a path).
  std::string RootUrl() const;
  // "http://127.0.0.1:HTTP_PORT" (REQUIRES: options.http).
  std::string HttpUrl() const;
  const std::string& data_dir() const { return options_.data_dir; }
  // The last `lines` lines of the server's log and output, for failure messages.
  std::string LogTail(size_t lines = 30) const;

 private:
  XRootDServer(XRootDServerOptions options, std::string binary, std::string work_dir);
  Status WriteConfig() const;
  Status Spawn();
  Status WaitReady();

  XRootDServerOptions options_;
  std::string binary_;
  std::string work_dir_;  // config, log, admin files; removed by the destructor
  uint16_t port_ = 0;
  uint16_t http_port_ = 0;
  pid_t pid_ = -1;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
Result<uint16_t> PickFreePort();

}  // namespace hoardfs::testing
