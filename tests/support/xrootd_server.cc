#include "tests/support/xrootd_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <deque>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/child_process.h"
#include "tests/support/scratch_dir.h"

extern char** environ;

namespace hoardfs::testing {
namespace {

using Clock = std::chrono::steady_clock;

bool TcpConnects(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

// Every directory from `dir` up to "/" must be traversable by others (the server runs as
// nobody), and `dir` itself readable.
Status CheckTraversable(const std::string& dir) {
  std::string d = dir;
  while (!d.empty()) {
    struct stat st {};
    if (::stat(d.c_str(), &st) != 0) return Status::FromErrno(errno, "stat " + d);
    if ((st.st_mode & S_IXOTH) == 0 || (d == dir && (st.st_mode & S_IROTH) == 0)) {
      std::ostringstream msg;
      msg << "xrootd runs as nobody and cannot read or traverse " << d << " (mode " << std::oct
          << (st.st_mode & 07777) << "): chmod 755 it";
      return Status::FailedPrecondition(msg.str());
    }
    if (d == "/") break;
    const size_t slash = d.rfind('/');
    d = slash == 0 ? "/" : d.substr(0, slash);
  }
  return Status::Ok();
}

}  // namespace

Result<uint16_t> PickFreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::FromErrno(err, "bind port 0");
  }
  ::close(fd);
  return static_cast<uint16_t>(ntohs(addr.sin_port));
}

std::string XRootDServer::FindBinary() { return FindOnPath("xrootd"); }

XRootDServer::XRootDServer(XRootDServerOptions options, std::string binary, std::string work_dir)
    : options_(std::move(options)), binary_(std::move(binary)), work_dir_(std::move(work_dir)) {}

XRootDServer::~XRootDServer() {
  (void)Stop();
  if (!work_dir_.empty()) (void)RemoveTree(work_dir_);
}

std::string XRootDServer::RootUrl() const { return "root://127.0.0.1:" + std::to_string(port_); }

std::string XRootDServer::HttpUrl() const {
  return "http://127.0.0.1:" + std::to_string(http_port_);
}

Result<std::unique_ptr<XRootDServer>> XRootDServer::Start(const XRootDServerOptions& options) {
  Result<std::unique_ptr<XRootDServer>> server = StartOnce(options);
  for (int attempt = 1;
       attempt < 3 && !server.ok() && server.status().code() == StatusCode::kUnavailable;
       ++attempt) {
    server = StartOnce(options);
  }
  return server;
}

Result<std::unique_ptr<XRootDServer>> XRootDServer::StartOnce(const XRootDServerOptions& options) {
  const std::string binary = FindBinary();
  if (binary.empty()) return Status::NotFound("xrootd is not installed (no xrootd on $PATH)");
  if (options.data_dir.empty() || options.data_dir.front() != '/') {
    return Status::InvalidArgument("XRootDServer: data_dir must be an absolute path");
  }
  const bool root = ::geteuid() == 0;
  if (root) HOARDFS_RETURN_IF_ERROR(CheckTraversable(options.data_dir));

  HOARDFS_ASSIGN_OR_RETURN(ScratchDir scratch, ScratchDir::Create("hoardfs-xrootd-"));
  // The server's own files go in var/, which it must be able to write (it runs as nobody).
  const std::string var = scratch.Sub("var");
  if (::mkdir(var.c_str(), 0755) != 0) return Status::FromErrno(errno, "mkdir " + var);
  if (root) {
    const passwd* nobody = ::getpwnam("nobody");
    if (nobody == nullptr) return Status::NotFound("no user 'nobody' to run xrootd as");
    if (::chown(var.c_str(), nobody->pw_uid, nobody->pw_gid) != 0) {
      return Status::FromErrno(errno, "chown nobody " + var);
    }
  }
  // From here the server object owns (and finally removes) the work directory.
  std::unique_ptr<XRootDServer> server(new XRootDServer(options, binary, scratch.Release()));

  // A port picked by bind(0) can be taken by someone else before xrootd binds it: try again.
  Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    HOARDFS_ASSIGN_OR_RETURN(server->port_, PickFreePort());
    if (options.http) {
      HOARDFS_ASSIGN_OR_RETURN(server->http_port_, PickFreePort());
      if (server->http_port_ == server->port_) continue;
    }
    HOARDFS_RETURN_IF_ERROR(server->WriteConfig());
    last = server->Spawn();
    if (last.ok()) last = server->WaitReady();
    if (last.ok()) return server;
    const bool port_taken = server->LogTail(200).find("in use") != std::string::npos;
    (void)server->Stop();
    if (!port_taken) break;
  }
  return last;
}

Status XRootDServer::WriteConfig() const {
  std::ofstream cfg(work_dir_ + "/xrootd.cfg");
  cfg << "# written by hoardfs tests/support/xrootd_server.cc\n"
      << "xrd.port " << port_ << "\n"
      << "all.export /\n"
      << "oss.localroot " << options_.data_dir << "\n"
      << "all.adminpath " << work_dir_ << "/var/admin\n"
      << "all.pidpath " << work_dir_ << "/var/run\n";
  if (options_.http) {
    cfg << "xrd.protocol XrdHttp:" << http_port_ << " libXrdHttp.so\n"
        << "http.listingdeny no\n"
        << "http.desthttps false\n";
  }
  cfg.close();
  if (!cfg) return Status::IOError("write " + work_dir_ + "/xrootd.cfg");
  return Status::Ok();
}

Status XRootDServer::Spawn() {
  std::vector<std::string> argv = {binary_};
  if (::geteuid() == 0) argv.insert(argv.end(), {"-R", "nobody"});
  argv.insert(argv.end(), {"-c", work_dir_ + "/xrootd.cfg", "-l", work_dir_ + "/var/xrootd.log"});
  HOARDFS_ASSIGN_OR_RETURN(
      pid_, SpawnChild(argv, environ, work_dir_ + "/output.log", work_dir_ + "/var"));
  return Status::Ok();
}

Status XRootDServer::WaitReady() {
  const auto deadline = Clock::now() + options_.ready_timeout;
  const std::string xrdfs = FindOnPath("xrdfs");
  // xrdfs must not hang on a server that is not up yet: fail fast, we poll.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  for (const char* s : {"XRD_CONNECTIONRETRY=1", "XRD_REQUESTTIMEOUT=3", "XRD_CONNECTIONWINDOW=3",
                        "XRD_TIMEOUTRESOLUTION=1"}) {
    env_strings.emplace_back(s);
  }
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  bool tcp_ready = false;
  while (Clock::now() < deadline) {
    if (auto exited = WaitForChild(pid_, std::chrono::milliseconds(0))) {
      pid_ = -1;
      return Status::Unavailable("xrootd exited during start-up (status " +
                                 std::to_string(*exited) + "):\n" + LogTail());
    }
    if (!tcp_ready) {
      tcp_ready = TcpConnects(port_) && (!options_.http || TcpConnects(http_port_));
    }
    if (tcp_ready) {
      if (xrdfs.empty()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        return Status::Ok();
      }
      Result<pid_t> probe = SpawnChild({xrdfs, RootUrl(), "stat", "/"}, envp.data(), "", "");
      if (!probe.ok()) return probe.status();
      std::optional<int> status = WaitForChild(*probe, std::chrono::seconds(5));
      if (!status) {
        ::kill(*probe, SIGKILL);
        (void)WaitForChild(*probe, std::chrono::seconds(5));
      } else if (WIFEXITED(*status) && WEXITSTATUS(*status) == 0) {
        return Status::Ok();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Status::Unavailable("xrootd not ready on port " + std::to_string(port_) + " within " +
                             std::to_string(options_.ready_timeout.count()) + " s:\n" + LogTail());
}

Status XRootDServer::Stop() {
  if (pid_ <= 0) return Status::Ok();
  return StopChild(std::exchange(pid_, -1), "xrootd", std::chrono::seconds(3));
}

Status XRootDServer::Restart() {
  HOARDFS_RETURN_IF_ERROR(Stop());
  Status status;
  // The old listening socket may linger for a moment: retry a bind failure briefly.
  for (int attempt = 0; attempt < 5; ++attempt) {
    HOARDFS_RETURN_IF_ERROR(Spawn());
    status = WaitReady();
    if (status.ok()) return status;
    (void)Stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return status;
}

Status XRootDServer::Pause() {
  if (pid_ <= 0) return Status::FailedPrecondition("xrootd is not running");
  if (::kill(pid_, SIGSTOP) != 0) return Status::FromErrno(errno, "SIGSTOP xrootd");
  // The stop reaches each thread when it is next scheduled: on a loaded machine a thread may still
  // answer a request sent right after kill(). Return once every thread shows state T.
  const std::string tasks = "/proc/" + std::to_string(pid_) + "/task";
  for (int i = 0; i < 400; ++i) {
    bool all_stopped = true;
    if (DIR* d = ::opendir(tasks.c_str())) {
      while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::ifstream stat(tasks + "/" + e->d_name + "/stat");
        std::string line;
        std::getline(stat, line);
        const size_t paren = line.rfind(')');
        if (paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] != 'T' &&
            line[paren + 2] != 't') {
          all_stopped = false;
        }
      }
      ::closedir(d);
    }
    if (all_stopped) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return Status::Internal("xrootd (pid " + std::to_string(pid_) + ") did not stop within 2 s");
}

Status XRootDServer::Resume() {
  if (pid_ <= 0) return Status::FailedPrecondition("xrootd is not running");
  if (::kill(pid_, SIGCONT) != 0) return Status::FromErrno(errno, "SIGCONT xrootd");
  return Status::Ok();
}

std::string XRootDServer::LogTail(size_t lines) const {
  std::string out;
  for (const char* name : {"/var/xrootd.log", "/output.log"}) {
    std::ifstream in(work_dir_ + name);
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
