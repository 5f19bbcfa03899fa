// RgwServer: a real, throwaway Ceph cluster with an S3 gateway for tests, started and stopped by
// the test itself (CI starts nothing): one monitor, one memstore OSD and one radosgw, all on
// 127.0.0.1 ports found free by binding port 0, with every file (config, mon store, logs,
// sockets) under one private work directory. RGW verifies SigV4 signatures like AWS does.
//
// Recipe and pitfalls (shared/testing/servers.md, Debian's Ceph 16.2 packages ceph-mon,
// ceph-osd, radosgw):
// - msgr v1 only (ms_bind_msgr2 = false; the mon added with `monmaptool --addv a
//   [v1:127.0.0.1:PORT]`), cephx off for the cluster (RGW still checks S3 signatures);
// - size-1 pools (mon_allow_pool_size_one, pool default size/min_size 1, pg_num 8), and
//   osd_crush_chooseleaf_type = 0 so the default CRUSH rule places replicas on OSDs, not hosts
//   (the OSD sits directly under root=default; with the default "host" failure domain the
//   gateway's first pool never leaves "creating" and radosgw never answers);
// - osd_crush_update_on_start/osd_class_update_on_start = false (the OSD otherwise exits about
//   one start in three with auth none): the OSD is put into CRUSH from the CLI;
// - paxos_propose_interval = 0.1 (readiness in seconds, not tens of seconds).
// Ready when an anonymous GET / answers with ListAllMyBucketsResult; then a user with the
// options' keys is created with radosgw-admin.
//
// Processes are started with posix_spawn() (safe with XrdCl in the process), each in its own
// process group; Stop() stops them in the order rgw → osd → mon (radosgw can hang on SIGTERM
// when the OSD is gone first), SIGTERM then SIGKILL after 5 s, and reaps them. Only processes
// this object started are ever signalled.
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

struct RgwServerOptions {
  std::string access_key = "HOARDFSTESTKEY000001";
  std::string secret_key = "hoardfs+test/secret=KEY0123456789abcdefgh";  // '+', '/', '='
  uint64_t memstore_bytes = uint64_t{3} << 30;  // RAM the OSD may use for objects
  std::chrono::seconds ready_timeout{90};
};

class RgwServer {
 public:
  // True if every binary the cluster needs is on $PATH (the only reason a test may skip).
  static bool Installed();

  static Result<std::unique_ptr<RgwServer>> Start(const RgwServerOptions& options);
  ~RgwServer();  // Stop()s everything and removes the work directory
  RgwServer(const RgwServer&) = delete;
  RgwServer& operator=(const RgwServer&) = delete;

  // Stops radosgw, then the OSD, then the monitor. OK if already stopped.
  Status Stop();
  // The gateway alone, for outage tests: the cluster stays up.
  Status StopGateway();
  Status StartGateway();  // on the same port; waits until it answers

  // "http://127.0.0.1:PORT"
  std::string Endpoint() const;
  const std::string& access_key() const { return options_.access_key; }
  const std::string& secret_key() const { return options_.secret_key; }
  const std::string& work_dir() const { return work_dir_; }
  // The last lines of the daemons' logs, for failure messages.
  std::string LogTail(size_t lines = 20) const;

 private:
  RgwServer(RgwServerOptions options, std::string work_dir);
  Status Bootstrap();
  Status WaitForGateway(std::chrono::seconds timeout);
  // Runs a short command to completion (output to log/commands.log); non-zero exit is an error.
  Status RunCommand(const std::vector<std::string>& argv, std::chrono::seconds timeout);
  Status StopProcess(pid_t* pid, const char* what);

  RgwServerOptions options_;
  std::string work_dir_;
  std::string conf_;
  uint16_t mon_port_ = 0;
  uint16_t rgw_port_ = 0;
  pid_t mon_pid_ = -1;
  pid_t osd_pid_ = -1;
  pid_t rgw_pid_ = -1;
};

}  // namespace hoardfs::testing
