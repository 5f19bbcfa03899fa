#include "tests/support/nginx_dav_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <tuple>
#include <vector>

#include "tests/support/child_process.h"
#include "tests/support/xrootd_server.h"

extern char** environ;

namespace hoardfs::testing {
namespace {

constexpr const char* kNginx = "/usr/sbin/nginx";
constexpr const char* kModule = "/usr/lib/nginx/modules/ngx_http_dav_ext_module.so";
constexpr const char* kOpenssl = "/usr/bin/openssl";

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs argv (argv[0] an absolute path) to completion, output appended to `log`; an error names
// the command and quotes the log's tail. Killed after 30 s.
Status RunTool(const std::vector<std::string>& argv, const std::string& log) {
  HOARDFS_ASSIGN_OR_RETURN(const pid_t pid, SpawnChild(argv, environ, log));
  const std::optional<int> exited = WaitForChild(pid, std::chrono::seconds(30));
  if (!exited) {
    ::kill(pid, SIGKILL);
    (void)WaitForChild(pid, std::chrono::seconds(5));
    return Status::Unavailable(argv[0] + " " + argv[1] + " did not finish in 30 s");
  }
  const int status = *exited;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string text = Slurp(log);
    if (text.size() > 1500) text = text.substr(text.size() - 1500);
    return Status::Internal(argv[0] + " " + argv[1] + " failed (wait status " +
                            std::to_string(status) + "): " + text);
  }
  return Status::Ok();
}

// The state letter of /proc/PID/stat ('T' stopped), or 0 if the process is gone.
char ProcessState(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  const size_t paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 >= line.size()) return 0;
  return line[paren + 2];
}

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

bool NginxDavServer::OpensslInstalled() { return ::access(kOpenssl, X_OK) == 0; }

Result<std::unique_ptr<NginxDavServer>> NginxDavServer::Start(const std::string& data_dir,
                                                              const std::string& token) {
  NginxDavServerOptions o;
  o.data_dir = data_dir;
  o.token = token;
  return Start(o);
}

Result<std::unique_ptr<NginxDavServer>> NginxDavServer::Start(
    const NginxDavServerOptions& options) {
  std::unique_ptr<NginxDavServer> s(new NginxDavServer());
  s->options_ = options;
  char tmpl[] = "/tmp/hoardfs-nginx-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return Status::IOError("mkdtemp failed");
  s->work_dir_ = tmpl;
  HOARDFS_ASSIGN_OR_RETURN(s->port_, PickFreePort());
  if (options.tls) {
    HOARDFS_ASSIGN_OR_RETURN(s->tls_port_, PickFreePort());
    HOARDFS_RETURN_IF_ERROR(s->MakePki());
  }
  if (options.redirects) {
    HOARDFS_ASSIGN_OR_RETURN(s->pool_port_, PickFreePort());
  }
  HOARDFS_RETURN_IF_ERROR(s->WriteConfig());
  HOARDFS_RETURN_IF_ERROR(s->Spawn());
  return s;
}

Status NginxDavServer::MakePki() const {
  const std::string d = work_dir_ + "/pki";
  if (::mkdir(d.c_str(), 0700) != 0) return Status::FromErrno(errno, "mkdir " + d);
  const std::string log = work_dir_ + "/openssl.log";
  const std::vector<std::string> ec = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                       "-nodes"};
  auto req = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {kOpenssl, "req"};
    argv.insert(argv.end(), ec.begin(), ec.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return RunTool(argv, log);
  };
  HOARDFS_RETURN_IF_ERROR(
      req({"-x509", "-days", "2", "-subj", "/CN=hoardfs test CA", "-keyout", d + "/ca.key", "-out",
           d + "/ca.pem", "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
           "keyUsage=critical,keyCertSign,cRLSign"}));
  // An end-entity certificate of that CA: `name` ("server", "client") with `extensions`.
  auto issue = [&](const std::string& name, const std::string& subject,
                   const std::string& extensions, int serial) -> Status {
    HOARDFS_RETURN_IF_ERROR(req(
        {"-subj", subject, "-keyout", d + "/" + name + ".key", "-out", d + "/" + name + ".csr"}));
    const std::string ext = d + "/" + name + ".ext";
    {
      std::ofstream e(ext);
      e << extensions;
      if (!e) return Status::IOError("cannot write " + ext);
    }
    return RunTool({kOpenssl, "x509", "-req", "-in", d + "/" + name + ".csr", "-CA", d + "/ca.pem",
                    "-CAkey", d + "/ca.key", "-set_serial", std::to_string(serial), "-days", "2",
                    "-extfile", ext, "-out", d + "/" + name + ".pem"},
                   log);
  };
  HOARDFS_RETURN_IF_ERROR(issue("server", "/CN=127.0.0.1",
                                "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\n"
                                "extendedKeyUsage=serverAuth\n",
                                2));
  HOARDFS_RETURN_IF_ERROR(issue("client", "/O=hoardfs/CN=test user",
                                "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n", 3));
  // The proxy file: certificate, then key, mode 0600.
  const std::string proxy = client_proxy_file();
  const int fd = ::open(proxy.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "open " + proxy);
  const std::string pem = Slurp(d + "/client.pem") + Slurp(d + "/client.key");
  const bool written = ::write(fd, pem.data(), pem.size()) == static_cast<ssize_t>(pem.size());
  ::close(fd);
  if (!written || pem.find("PRIVATE KEY") == std::string::npos) {
    return Status::IOError("cannot write " + proxy);
  }
  return Status::Ok();
}

Status NginxDavServer::WriteConfig() const {
  const std::string& w = work_dir_;
  const std::string& data = options_.data_dir;
  std::ofstream c(w + "/nginx.conf");
  c << "load_module " << kModule << ";\n"
    << "daemon off;\nworker_processes 2;\npid " << w << "/nginx.pid;\nerror_log " << w
    << "/error.log;\nevents { worker_connections 512; }\nhttp {\n  access_log off;\n"
    << "  client_body_temp_path " << w << "/body;\n"
    << "  map $http_authorization $hoardfs_auth_ok { \"Bearer " << options_.token
    << "\" 1; default 0; }\n"
    << "  map $http_authorization $hoardfs_auth_sent { \"\" no; default yes; }\n"
    << "  log_format hoardfs_auth '$request_method $request_uri auth=$hoardfs_auth_sent "
       "status=$status';\n"
    // The raw (still encoded) path after "/to-xxx", for the Location of a redirect.
    << "  map $request_uri $hoardfs_rest { \"~^/to-[a-z0-9-]+(?<rest>/[^?]*)\" $rest; "
       "default /; }\n"
    << "  server {\n    listen 127.0.0.1:" << port_ << ";\n    root " << data << ";\n";
  if (options_.redirects) c << "    access_log " << w << "/door.log hoardfs_auth;\n";
  c << "    location / { dav_ext_methods PROPFIND OPTIONS; }\n"
    << "    location /auth/ {\n      alias " << data << "/;\n"
    << "      dav_ext_methods PROPFIND OPTIONS;\n"
    << "      if ($hoardfs_auth_ok = 0) { return 401; }\n    }\n";
  if (options_.redirects) {
    const std::string pool = "http://127.0.0.1:" + std::to_string(pool_port_);
    for (const auto& [name, code, to] :
         {std::tuple("to-open-302", 302, "open"), std::tuple("to-open-307", 307, "open"),
          std::tuple("to-auth-302", 302, "auth")}) {
      c << "    location /" << name << "/ {\n      alias " << data << "/;\n"
        << "      dav_ext_methods PROPFIND OPTIONS;\n"
        << "      if ($hoardfs_auth_ok = 0) { return 401; }\n"
        << "      if ($request_method = GET) { return " << code << " " << pool << "/" << to
        << "$hoardfs_rest; }\n    }\n";
    }
    // Every method (PROPFIND too) sent on, as an XRootD redirector does.
    c << "    location /to-dav-307/ {\n"
      << "      if ($hoardfs_auth_ok = 0) { return 401; }\n"
      << "      return 307 " << pool << "/dav$hoardfs_rest;\n    }\n";
  }
  c << "  }\n";
  if (options_.redirects) {
    c << "  server {\n    listen 127.0.0.1:" << pool_port_ << ";\n    access_log " << w
      << "/pool.log hoardfs_auth;\n"
      << "    location /open/ { alias " << data << "/; }\n"
      << "    location /dav/ { alias " << data << "/; dav_ext_methods PROPFIND OPTIONS; }\n"
      << "    location /auth/ {\n      alias " << data << "/;\n"
      << "      if ($hoardfs_auth_ok = 0) { return 401; }\n    }\n  }\n";
  }
  if (options_.tls) {
    const std::string pki = w + "/pki";
    c << "  server {\n    listen 127.0.0.1:" << tls_port_ << " ssl http2;\n"
      << "    ssl_certificate " << pki << "/server.pem;\n"
      << "    ssl_certificate_key " << pki << "/server.key;\n"
      << "    ssl_client_certificate " << pki << "/ca.pem;\n"
      << "    ssl_verify_client on;\n    ssl_verify_depth 3;\n"
      << "    root " << data << ";\n    location / { dav_ext_methods PROPFIND OPTIONS; }\n  }\n";
  }
  c << "}\n";
  if (!c) return Status::IOError("cannot write " + w + "/nginx.conf");
  return Status::Ok();
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
  auto ready = [&] {
    return CanConnect(port_) && (tls_port_ == 0 || CanConnect(tls_port_)) &&
           (pool_port_ == 0 || CanConnect(pool_port_));
  };
  while (!ready()) {
    if (WaitForChild(pid_, std::chrono::milliseconds(0))) {
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
  const std::vector<pid_t> workers = Workers();
  (void)Resume();  // a paused server could not act on SIGTERM
  ::kill(pid_, SIGTERM);
  if (!WaitForChild(pid_, std::chrono::seconds(3))) {
    ::kill(pid_, SIGKILL);
    (void)WaitForChild(pid_, std::chrono::seconds(5));
    // Workers outlive a SIGKILLed master; they were its children (now nobody's).
    for (pid_t w : workers) {
      if (ProcessState(w) != 0) ::kill(w, SIGKILL);
    }
  }
  pid_ = -1;
  return Status::Ok();
}

std::vector<pid_t> NginxDavServer::Workers() const {
  std::vector<pid_t> out;
  if (pid_ <= 0) return out;
  // /proc/PID/task/TID/children lists the children of each thread (nginx: one thread).
  std::ifstream in("/proc/" + std::to_string(pid_) + "/task/" + std::to_string(pid_) + "/children");
  long child = 0;
  while (in >> child) out.push_back(static_cast<pid_t>(child));
  return out;
}

Status NginxDavServer::Pause() {
  if (pid_ <= 0) return Status::FailedPrecondition("nginx is not running");
  // The master listens before it forks its workers (worker_processes 2): wait for them.
  std::vector<pid_t> all = Workers();
  for (int i = 0; i < 200 && all.size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    all = Workers();
  }
  if (all.size() < 2) {
    return Status::Internal("nginx (pid " + std::to_string(pid_) + ") has " +
                            std::to_string(all.size()) + " workers, not 2");
  }
  all.push_back(pid_);
  for (pid_t p : all) {
    if (::kill(p, SIGSTOP) != 0) return Status::FromErrno(errno, "SIGSTOP nginx");
  }
  // A stop takes effect when the process is next scheduled: wait until each one shows 'T'.
  for (int i = 0; i < 400; ++i) {
    if (std::all_of(all.begin(), all.end(), [](pid_t p) {
          const char st = ProcessState(p);
          return st == 'T' || st == 't';
        })) {
      return Status::Ok();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return Status::Internal("nginx (pid " + std::to_string(pid_) + ") did not stop within 2 s");
}

Status NginxDavServer::Resume() {
  if (pid_ <= 0) return Status::FailedPrecondition("nginx is not running");
  ::kill(pid_, SIGCONT);
  for (pid_t p : Workers()) ::kill(p, SIGCONT);
  return Status::Ok();
}

std::string NginxDavServer::Url() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::string NginxDavServer::TlsUrl() const {
  return "https://127.0.0.1:" + std::to_string(tls_port_);
}

std::string NginxDavServer::PoolUrl() const {
  return "http://127.0.0.1:" + std::to_string(pool_port_);
}

std::string NginxDavServer::DoorLog() const { return Slurp(work_dir_ + "/door.log"); }

std::string NginxDavServer::PoolLog() const { return Slurp(work_dir_ + "/pool.log"); }

std::string NginxDavServer::LogTail() const {
  std::string text;
  for (const char* f : {"/out.log", "/error.log"}) text += Slurp(work_dir_ + f);
  return text.size() > 2000 ? text.substr(text.size() - 2000) : text;
}

}  // namespace hoardfs::testing
