// S3rverServer: s3rver (npm `s3rver` 3.7.1, a fake S3 written in Node.js) for tests, started and
// stopped by the test itself (CI starts nothing): a second S3 implementation beside the real Ceph
// RGW of rgw_server.h, so the S3 client is not tuned to one server's quirks. It stores objects as
// files in a private work directory (removed by the destructor) and listens on a free port of
// 127.0.0.1.
//
// What it is and is not (shared/testing/servers.md):
// - It does NOT verify signatures: any access key and secret are accepted (its defaults are
//   S3RVER / S3RVER, given by access_key()/secret_key()). Never the only server of an auth test.
// - It requires the x-amz-content-sha256 header on requests it authenticates (S3Request sends it).
// - Under Node 20 a truncated ListObjectsV2 page answers InternalError unless node runs with
//   --openssl-legacy-provider (its continuation tokens use a cipher OpenSSL 3 moved there): the
//   server is started with NODE_OPTIONS=--openssl-legacy-provider.
// Buckets in options.buckets are created at start (--configure-bucket). Start() returns once an
// HTTP GET / answers 200.
//
// The process is started with posix_spawn() (safe with XrdCl in the process) in its own process
// group; Stop() sends SIGTERM to that one process (SIGKILL after 5 s) and reaps it. Only the
// process this object started is ever signalled.
//
// Thread-safety: none; one test thread drives a server.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace hoardfs::testing {

struct S3rverServerOptions {
  std::vector<std::string> buckets;  // created at start
  std::chrono::seconds ready_timeout{30};
};

class S3rverServer {
 public:
  // True if `s3rver` and `node` are on $PATH (the only reason a test may skip).
  static bool Installed();

  static Result<std::unique_ptr<S3rverServer>> Start(const S3rverServerOptions& options);
  ~S3rverServer();  // Stop()s the server and removes the work directory
  S3rverServer(const S3rverServer&) = delete;
  S3rverServer& operator=(const S3rverServer&) = delete;

  // OK if already stopped.
  Status Stop();
  // Starts it again on the same port over the same directory (the objects are kept); waits until
  // it answers. REQUIRES: stopped.
  Status Restart();

  bool running() const { return pid_ > 0; }
  uint16_t port() const { return port_; }
  // "http://127.0.0.1:PORT"
  std::string Endpoint() const;
  // s3rver's fixed default credentials (any would do: it does not check signatures).
  static std::string access_key() { return "S3RVER"; }
  static std::string secret_key() { return "S3RVER"; }
  const std::string& work_dir() const { return work_dir_; }
  // The end of the server's output, for failure messages.
  std::string LogTail(size_t bytes = 2000) const;

 private:
  S3rverServer(S3rverServerOptions options, std::string work_dir);
  Status Spawn();

  S3rverServerOptions options_;
  std::string work_dir_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace hoardfs::testing
