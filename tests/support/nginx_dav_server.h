// NginxDavServer: a real nginx with the WebDAV PROPFIND module (libnginx-mod-http-dav-ext) for
// tests, started and stopped by the test itself. It serves `data_dir` read-only at "/" to
// anyone, and the same tree at "/auth/" only to requests with "Authorization: Bearer <token>"
// (401 otherwise), on a free port of 127.0.0.1. Config, pid and logs live in a private work
// directory removed by the destructor. Started with posix_spawn (safe after XrdCl exists);
// Stop() sends SIGTERM (then SIGKILL after 3 s) to the process it started, and reaps it.
//
// Optional parts (NginxDavServerOptions):
// - tls: a throw-away PKI made at start with the `openssl` CLI (an EC CA, a server certificate
//   for 127.0.0.1 with subjectAltName IP:127.0.0.1, a client certificate), and an https server
//   block on tls_port() (HTTP/2 offered) serving data_dir at "/" only to clients presenting a
//   certificate of that CA (`ssl_verify_client on`; without one nginx answers HTTP 400 "No
//   required SSL certificate was sent"). ca_file() is the CA's PEM; client_proxy_file() holds
//   the client certificate followed by its key, one PEM file, mode 0600, as an X.509 proxy
//   (/tmp/x509up_u0) looks.
// - redirects: a storage door and a pool. The door (the main port) gets locations
//   "/to-open-302/", "/to-open-307/" and "/to-auth-302/": each answers PROPFIND itself over
//   data_dir, requires the bearer token (401 otherwise), and answers a GET with 302 / 307 to
//   the same path on the pool (pool_port(), another port of 127.0.0.1): under "/open/" (anyone)
//   or "/auth/" (bearer token required, 401 otherwise). "/to-dav-307/" (token required) sends
//   every method, PROPFIND included, on to "/dav/" of the pool with 307, as an XRootD redirector
//   does; the pool answers PROPFIND there (anyone). Every request to the door and the pool
//   is logged, one line each ("METHOD URI auth=yes|no status=N", auth = whether an
//   Authorization header came), in DoorLog() / PoolLog().
//
// Pause()/Resume(): SIGSTOP/SIGCONT of the master and its workers (a hung server: connections
// are accepted by the kernel, nothing answers). Stop() resumes a paused server first.
//
// Thread-safety: none; one test thread drives a server.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace hoardfs::testing {

struct NginxDavServerOptions {
  std::string data_dir;    // REQUIRED: absolute path, served at "/"
  std::string token;       // the bearer token the server accepts
  bool tls = false;        // the https server block with client certificates (see above)
  bool redirects = false;  // the door's redirecting locations and the pool (see above)
};

class NginxDavServer {
 public:
  // True if nginx and the dav-ext module are installed (the only reason a test may skip).
  static bool Installed();
  // True if the `openssl` CLI is installed (needed by options.tls).
  static bool OpensslInstalled();
  static Result<std::unique_ptr<NginxDavServer>> Start(const NginxDavServerOptions& options);
  static Result<std::unique_ptr<NginxDavServer>> Start(const std::string& data_dir,
                                                       const std::string& token);
  ~NginxDavServer();
  NginxDavServer(const NginxDavServer&) = delete;
  NginxDavServer& operator=(const NginxDavServer&) = delete;

  Status Stop();
  // Stops (if running) and starts again with the same config on the same port; waits until it
  // accepts connections. For outage tests.
  Status Restart();
  // SIGSTOP of the master and every worker; returns once all of them are stopped.
  // REQUIRES: running.
  Status Pause();
  // SIGCONT of the master and its workers.
  Status Resume();

  bool running() const { return pid_ > 0; }
  uint16_t port() const { return port_; }
  // "http://127.0.0.1:PORT"
  std::string Url() const;
  // REQUIRES: options.tls. "https://127.0.0.1:TLS_PORT"; the CA's PEM file; the client
  // certificate + key PEM file.
  uint16_t tls_port() const { return tls_port_; }
  std::string TlsUrl() const;
  std::string ca_file() const { return work_dir_ + "/pki/ca.pem"; }
  std::string client_proxy_file() const { return work_dir_ + "/pki/x509up"; }
  // REQUIRES: options.redirects. "http://127.0.0.1:POOL_PORT"; the access logs' contents.
  uint16_t pool_port() const { return pool_port_; }
  std::string PoolUrl() const;
  std::string DoorLog() const;
  std::string PoolLog() const;
  std::string LogTail() const;

 private:
  NginxDavServer() = default;
  // The throw-away CA, server and client certificates (options_.tls) under work_dir_/pki.
  Status MakePki() const;
  Status WriteConfig() const;
  // Starts nginx with the config in work_dir_ and waits until its ports accept connections.
  Status Spawn();
  // The master's children (its workers), from /proc.
  std::vector<pid_t> Workers() const;

  NginxDavServerOptions options_;
  std::string work_dir_;
  uint16_t port_ = 0;
  uint16_t tls_port_ = 0;
  uint16_t pool_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace hoardfs::testing
