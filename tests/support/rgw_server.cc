#include "tests/support/rgw_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "tests/support/child_process.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/xrootd_server.h"  // PickFreePort()

extern char** environ;

namespace hoardfs::testing {
namespace {

using Clock = std::chrono::steady_clock;

// SpawnChild() of `argv` (argv[0] looked up on $PATH) with our environment, output appended to
// `output`.
Result<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& output) {
  const std::string binary = FindOnPath(argv[0]);
  if (binary.empty()) return Status::NotFound(argv[0] + " is not on $PATH");
  std::vector<std::string> args = argv;
  args[0] = binary;
  return SpawnChild(args, environ, output);
}

// An anonymous GET / on the gateway: true once it lists buckets.
bool GatewayAnswers(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string req = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      std::string in;
      char buf[4096];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof(buf))) > 0) in.append(buf, static_cast<size_t>(n));
      ok = in.find("ListAllMyBucketsResult") != std::string::npos;
    }
  }
  ::close(fd);
  return ok;
}

std::string NewUuid() {
  std::random_device rd;
  std::mt19937_64 rng((uint64_t{rd()} << 32) ^ rd());
  const uint64_t a = rng(), b = rng();
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-4%03x-a%03x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(b >> 52),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

}  // namespace

bool RgwServer::Installed() {
  for (const char* b : {"ceph-mon", "ceph-osd", "radosgw", "ceph", "radosgw-admin", "monmaptool",
                        "ceph-authtool"}) {
    if (FindOnPath(b).empty()) return false;
  }
  return true;
}

RgwServer::RgwServer(RgwServerOptions options, std::string work_dir)
    : options_(std::move(options)), work_dir_(std::move(work_dir)) {
  conf_ = work_dir_ + "/ceph.conf";
}

RgwServer::~RgwServer() {
  (void)Stop();
  if (!work_dir_.empty()) (void)RemoveTree(work_dir_);
}

std::string RgwServer::Endpoint() const { return "http://127.0.0.1:" + std::to_string(rgw_port_); }

Result<std::unique_ptr<RgwServer>> RgwServer::Start(const RgwServerOptions& options) {
  if (!Installed()) {
    return Status::NotFound(
        "Ceph is not installed (ceph-mon, ceph-osd, radosgw: "
        "scripts/install-deps.sh)");
  }
  HOARDFS_ASSIGN_OR_RETURN(ScratchDir scratch, ScratchDir::Create("hoardfs-rgw-"));
  std::unique_ptr<RgwServer> server(new RgwServer(options, scratch.Release()));
  Status s = server->Bootstrap();
  if (!s.ok()) {
    const std::string tail = server->LogTail();
    (void)server->Stop();
    return Status(s.code(), s.message() + "\n" + tail);
  }
  return server;
}

Status RgwServer::RunCommand(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  HOARDFS_ASSIGN_OR_RETURN(const pid_t pid, Spawn(argv, work_dir_ + "/log/commands.log"));
  std::optional<int> status = WaitForChild(pid, timeout);
  if (!status) {
    ::kill(pid, SIGKILL);
    (void)WaitForChild(pid, std::chrono::seconds(5));
    return Status::Unavailable(argv[0] + " " + (argv.size() > 1 ? argv[1] : "") +
                               " did not finish within " + std::to_string(timeout.count()) + " s");
  }
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    return Status::Internal(argv[0] + " " + (argv.size() > 1 ? argv[1] : "") + " failed (status " +
                            std::to_string(*status) + ")");
  }
  return Status::Ok();
}

Status RgwServer::Bootstrap() {
  const std::string d = work_dir_;
  for (const char* sub : {"/mon", "/osd", "/run", "/log", "/rgw"}) {
    if (::mkdir((d + sub).c_str(), 0755) != 0) return Status::FromErrno(errno, "mkdir " + d + sub);
  }
  HOARDFS_ASSIGN_OR_RETURN(mon_port_, PickFreePort());
  HOARDFS_ASSIGN_OR_RETURN(rgw_port_, PickFreePort());
  const std::string fsid = NewUuid();
  {
    std::ofstream c(conf_);
    c << "# written by hoardfs tests/support/rgw_server.cc\n"
      << "[global]\n"
      << "fsid = " << fsid << "\n"
      << "mon_host = v1:127.0.0.1:" << mon_port_ << "\n"
      << "ms_bind_msgr2 = false\n"
      << "auth_cluster_required = none\nauth_service_required = none\n"
      << "auth_client_required = none\n"
      << "run_dir = " << d << "/run\n"
      << "log_file = " << d << "/log/$name.log\n"
      << "admin_socket = " << d << "/run/$name.asok\n"
      << "pid_file = " << d << "/run/$name.pid\n"
      << "mon_data = " << d << "/mon\n"
      << "osd_data = " << d << "/osd\n"
      << "osd_objectstore = memstore\n"
      << "memstore_device_bytes = " << options_.memstore_bytes << "\n"
      << "mon_allow_pool_size_one = true\n"
      << "osd_pool_default_size = 1\nosd_pool_default_min_size = 1\n"
      << "osd_pool_default_pg_num = 8\nosd_pool_default_pgp_num = 8\n"
      << "osd_pool_default_pg_autoscale_mode = off\n"
      << "mon_max_pg_per_osd = 1000\n"
      << "mon_warn_on_pool_no_redundancy = false\n"
      << "paxos_propose_interval = 0.1\n"
      << "osd_crush_update_on_start = false\nosd_class_update_on_start = false\n"
      << "osd_crush_chooseleaf_type = 0\n"
      << "mon_data_avail_crit = 1\n"
      << "[client.rgw.a]\n"
      // tcp_nodelay: radosgw turns Nagle on and writes headers and body separately, so without
      // it every small GET waits ~40 ms for the client's delayed ACK (measured: 50 ms per 4 KiB
      // GET from curl and from our client alike, 3 ms with it).
      << "rgw_frontends = beast endpoint=127.0.0.1:" << rgw_port_ << " tcp_nodelay=1\n"
      << "rgw_data = " << d << "/rgw\n";
    if (!c) return Status::IOError("write " + conf_);
  }
  const auto short_cmd = std::chrono::seconds(60);
  HOARDFS_RETURN_IF_ERROR(RunCommand({"ceph-authtool", "--create-keyring", d + "/mon.keyring",
                                      "--gen-key", "-n", "mon.", "--cap", "mon", "allow *"},
                                     short_cmd));
  HOARDFS_RETURN_IF_ERROR(
      RunCommand({"monmaptool", "--create", "--fsid", fsid, d + "/monmap"}, short_cmd));
  HOARDFS_RETURN_IF_ERROR(
      RunCommand({"monmaptool", "--addv", "a", "[v1:127.0.0.1:" + std::to_string(mon_port_) + "]",
                  d + "/monmap"},
                 short_cmd));
  HOARDFS_RETURN_IF_ERROR(RunCommand({"ceph-mon", "-c", conf_, "--mkfs", "-i", "a", "--monmap",
                                      d + "/monmap", "--keyring", d + "/mon.keyring"},
                                     short_cmd));
  HOARDFS_ASSIGN_OR_RETURN(mon_pid_,
                           Spawn({"ceph-mon", "-c", conf_, "-i", "a", "-f"}, d + "/log/mon.out"));
  const std::string osd_uuid = NewUuid();
  // The monitor may refuse commands for a moment after it starts, before it has formed its
  // quorum of one (seen in CI: "Error EPERM: problem getting command descriptions from mon"), so
  // the first command is retried. `osd new` with the same uuid is idempotent.
  Status osd_new;
  for (int attempt = 0; attempt < 20; ++attempt) {
    osd_new = RunCommand({"ceph", "-c", conf_, "--connect-timeout", "30", "osd", "new", osd_uuid},
                         short_cmd);
    if (osd_new.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  HOARDFS_RETURN_IF_ERROR(osd_new);
  HOARDFS_RETURN_IF_ERROR(RunCommand(
      {"ceph", "-c", conf_, "osd", "crush", "add", "osd.0", "1.0", "root=default"}, short_cmd));
  HOARDFS_RETURN_IF_ERROR(RunCommand(
      {"ceph-osd", "-c", conf_, "-i", "0", "--mkfs", "--osd-uuid", osd_uuid}, short_cmd));
  HOARDFS_ASSIGN_OR_RETURN(osd_pid_,
                           Spawn({"ceph-osd", "-c", conf_, "-i", "0", "-f"}, d + "/log/osd.out"));
  HOARDFS_RETURN_IF_ERROR(StartGateway());
  return RunCommand({"radosgw-admin", "-c", conf_, "user", "create", "--uid=hoardfs-test",
                     "--display-name=hoardfs test", "--access-key=" + options_.access_key,
                     "--secret-key=" + options_.secret_key},
                    short_cmd);
}

Status RgwServer::StartGateway() {
  if (rgw_pid_ > 0) return Status::Ok();
  HOARDFS_ASSIGN_OR_RETURN(rgw_pid_, Spawn({"radosgw", "-c", conf_, "-n", "client.rgw.a", "-f"},
                                           work_dir_ + "/log/rgw.out"));
  return WaitForGateway(options_.ready_timeout);
}

Status RgwServer::WaitForGateway(std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    for (pid_t* pid : {&mon_pid_, &osd_pid_, &rgw_pid_}) {
      if (*pid > 0) {
        if (auto exited = WaitForChild(*pid, std::chrono::milliseconds(0))) {
          *pid = -1;
          return Status::Unavailable("a Ceph daemon exited during start-up (status " +
                                     std::to_string(*exited) + ")");
        }
      }
    }
    if (GatewayAnswers(rgw_port_)) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return Status::Unavailable("radosgw did not answer on port " + std::to_string(rgw_port_) +
                             " within " + std::to_string(timeout.count()) + " s");
}

Status RgwServer::StopProcess(pid_t* pid, const char* what) {
  if (*pid <= 0) return Status::Ok();
  return StopChild(std::exchange(*pid, -1), what);
}

Status RgwServer::StopGateway() { return StopProcess(&rgw_pid_, "radosgw"); }

Status RgwServer::Stop() {
  Status s = StopProcess(&rgw_pid_, "radosgw");
  Status o = StopProcess(&osd_pid_, "ceph-osd");
  Status m = StopProcess(&mon_pid_, "ceph-mon");
  if (!s.ok()) return s;
  if (!o.ok()) return o;
  return m;
}

std::string RgwServer::LogTail(size_t lines) const {
  std::string out;
  for (const char* name : {"/log/commands.log", "/log/mon.out", "/log/osd.out", "/log/rgw.out",
                           "/log/client.rgw.a.log"}) {
    std::ifstream in(work_dir_ + name);
    if (!in) continue;
    std::deque<std::string> tail;
    std::string line;
    while (std::getline(in, line)) {
      tail.push_back(line);
      if (tail.size() > lines) tail.pop_front();
    }
    out += std::string("--- ") + name + "\n";
    for (const std::string& l : tail) out += l + "\n";
  }
  return out;
}

}  // namespace hoardfs::testing
