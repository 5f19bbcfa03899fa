// NginxDavServer: a real nginx with the WebDAV PROPFIND module (libnginx-mod-http-dav-ext) for
// tests, started and stopped by the test itself. It serves `data_dir` read-only at "/" to
// anyone, and the same tree at "/auth/" only to requests with "Authorization: Bearer <token>"
// (401 otherwise), on a free port of 127.0.0.1. Config, pid and logs live in a private work
// directory removed by the destructor. Started with posix_spawn (safe after XrdCl exists);
// Stop() sends SIGTERM (then SIGKILL after 3 s) to the process it started, and reaps it.
//
// Thread-safety: none; one test thread drives a server.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"

namespace hoardfs::testing {

class NginxDavServer {
 public:
  // True if nginx and the dav-ext module are installed (the only reason a test may skip).
  static bool Installed();
  static Result<std::unique_ptr<NginxDavServer>> Start(const std::string& data_dir,
                                                       const std::string& token);
  ~NginxDavServer();
  NginxDavServer(const NginxDavServer&) = delete;
  NginxDavServer& operator=(const NginxDavServer&) = delete;

  Status Stop();
  // Stops (if running) and starts again with the same config on the same port; waits until it
  // accepts connections. For outage tests.
  Status Restart();
  uint16_t port() const { return port_; }
  // "http://127.0.0.1:PORT"
  std::string Url() const;
  std::string LogTail() const;

 private:
  NginxDavServer() = default;
  // Starts nginx with the config in work_dir_ and waits until port_ accepts connections.
  Status Spawn();
  std::string work_dir_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace hoardfs::testing
