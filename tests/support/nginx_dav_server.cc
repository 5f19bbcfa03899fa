#include "tests/support/nginx_dav_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/support/xrootd_server.h"

extern char** environ;

namespace hoardfs::testing {
namespace {

constexpr const char* kNginx = "/usr/sbin/nginx";
constexpr const char* kModule = "/usr/lib/nginx/modules/ngx_http_dav_ext_module.so";

bool CanConnect(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

bool NginxDavServer::Installed() {
  return ::access(kNginx, X_OK) == 0 && ::access(kModule, R_OK) == 0;
}

Result<std::unique_ptr<NginxDavServer>> NginxDavServer::Start(const std::string& data_dir,
                                                              const std::string& token) {
  std::unique_ptr<NginxDavServer> s(new NginxDavServer());
  char tmpl[] = "/tmp/hoardfs-nginx-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return Status::IOError("mkdtemp failed");
  s->work_dir_ = tmpl;
  HOARDFS_ASSIGN_OR_RETURN(s->port_, PickFreePort());
  const std::string w = s->work_dir_;
  {
    std::ofstream c(w + "/nginx.conf");
    c << "load_module " << kModule << ";\n"
      << "daemon off;\nworker_processes 2;\npid " << w << "/nginx.pid;\nerror_log " << w
      << "/error.log;\nevents { worker_connections 512; }\nhttp {\n  access_log off;\n"
      << "  client_body_temp_path " << w << "/body;\n"
      << "  map $http_authorization $hoardfs_auth_ok { \"Bearer " << token << "\" 1; default 0; }\n"
      << "  server {\n    listen 127.0.0.1:" << s->port_ << ";\n    root " << data_dir
      << ";\n    location / { dav_ext_methods PROPFIND OPTIONS; }\n"
      << "    location /auth/ {\n      alias " << data_dir << "/;\n"
      << "      dav_ext_methods PROPFIND OPTIONS;\n"
      << "      if ($hoardfs_auth_ok = 0) { return 401; }\n    }\n  }\n}\n";
    if (!c) return Status::IOError("cannot write " + w + "/nginx.conf");
  }
  HOARDFS_RETURN_IF_ERROR(s->Spawn());
  return s;
}

Status NginxDavServer::Spawn() {
  const std::string conf = work_dir_ + "/nginx.conf";
  std::vector<std::string> args = {kNginx, "-c", conf, "-p", work_dir_};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  const std::string out = work_dir_ + "/out.log";
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  const int rc = posix_spawn(&pid_, kNginx, &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    pid_ = -1;
    return Status::IOError("posix_spawn nginx failed");
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!CanConnect(port_)) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::Unavailable("nginx exited at start-up: " + LogTail());
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return Status::Unavailable("nginx not ready in 10 s: " + LogTail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::Ok();
}

Status NginxDavServer::Restart() {
  HOARDFS_RETURN_IF_ERROR(Stop());
  return Spawn();
}

NginxDavServer::~NginxDavServer() {
  (void)Stop();
  if (!work_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(work_dir_, ec);
  }
}

Status NginxDavServer::Stop() {
  if (pid_ <= 0) return Status::Ok();
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) != pid_) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid_ = -1;
  return Status::Ok();
}

std::string NginxDavServer::Url() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::string NginxDavServer::LogTail() const {
  std::string text;
  for (const char* f : {"/out.log", "/error.log"}) {
    std::ifstream in(work_dir_ + f);
    std::stringstream ss;
    ss << in.rdbuf();
    text += ss.str();
  }
  return text.size() > 2000 ? text.substr(text.size() - 2000) : text;
}

}  // namespace hoardfs::testing
