#include "tests/support/s3rver_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>

#include "tests/support/child_process.h"
#include "tests/support/xrootd_server.h"  // PickFreePort()

extern char** environ;

namespace hoardfs::testing {
namespace {

using Clock = std::chrono::steady_clock;

// True if an HTTP/1.1 GET / to 127.0.0.1:port answers 200 within a second.
bool AnswersHttp(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
    const std::string req = "GET / HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                            "\r\nConnection: close\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[64] = {};
      const ssize_t n = ::recv(fd, buf, sizeof(buf) - 1, 0);
      ok = n > 12 && std::strncmp(buf, "HTTP/1.1 200", 12) == 0;
    }
  }
  ::close(fd);
  return ok;
}

}  // namespace

bool S3rverServer::Installed() {
  return !FindOnPath("s3rver").empty() && !FindOnPath("node").empty();
}

S3rverServer::S3rverServer(S3rverServerOptions options, std::string work_dir)
    : options_(std::move(options)), work_dir_(std::move(work_dir)) {}

Result<std::unique_ptr<S3rverServer>> S3rverServer::Start(const S3rverServerOptions& options) {
  char tmpl[] = "/tmp/hoardfs-s3rver-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return Status::FromErrno(errno, "mkdtemp");
  std::unique_ptr<S3rverServer> s(new S3rverServer(options, tmpl));
  const std::string data = s->work_dir_ + "/data";
  if (::mkdir(data.c_str(), 0700) != 0) return Status::FromErrno(errno, "mkdir " + data);
  HOARDFS_ASSIGN_OR_RETURN(s->port_, PickFreePort());
  HOARDFS_RETURN_IF_ERROR(s->Spawn());
  return s;
}

Status S3rverServer::Spawn() {
  if (pid_ > 0) return Status::FailedPrecondition("s3rver is already running");
  const std::string binary = FindOnPath("s3rver");
  if (binary.empty()) return Status::NotFound("s3rver is not on $PATH");
  std::vector<std::string> argv = {binary,      "--directory", work_dir_ + "/data",   "--address",
                                   "127.0.0.1", "--port",      std::to_string(port_), "--silent"};
  for (const std::string& b : options_.buckets) {
    argv.push_back("--configure-bucket");
    argv.push_back(b);
  }
  // The caller's environment with NODE_OPTIONS replaced (see the header).
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "NODE_OPTIONS=", 13) != 0) env.emplace_back(*e);
  }
  env.emplace_back("NODE_OPTIONS=--openssl-legacy-provider");

  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  HOARDFS_ASSIGN_OR_RETURN(pid_, SpawnChild(argv, envp.data(), work_dir_ + "/s3rver.log"));

  const auto deadline = Clock::now() + options_.ready_timeout;
  while (!AnswersHttp(port_)) {
    if (std::optional<int> status = WaitForChild(pid_, std::chrono::milliseconds(0))) {
      pid_ = -1;
      return Status::Unavailable("s3rver exited at start-up (wait status " +
                                 std::to_string(*status) + "): " + LogTail());
    }
    if (Clock::now() > deadline) {
      const std::string tail = LogTail();
      (void)Stop();
      return Status::Unavailable("s3rver did not answer on port " + std::to_string(port_) +
                                 " within " + std::to_string(options_.ready_timeout.count()) +
                                 " s: " + tail);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::Ok();
}

Status S3rverServer::Restart() { return Spawn(); }

S3rverServer::~S3rverServer() {
  (void)Stop();
  if (!work_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(work_dir_, ec);
  }
}

Status S3rverServer::Stop() {
  if (pid_ <= 0) return Status::Ok();
  return StopChild(std::exchange(pid_, -1), "s3rver");
}

std::string S3rverServer::Endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::string S3rverServer::LogTail(size_t bytes) const {
  std::ifstream in(work_dir_ + "/s3rver.log");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

}  // namespace hoardfs::testing
