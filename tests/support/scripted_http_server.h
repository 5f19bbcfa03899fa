// ScriptedHttpServer: a loopback HTTP "server" that misbehaves on purpose, for the fault tests of
// the HTTP client and the backends over it. For each connection it reads one request (headers up
// to the blank line, then a body of the Content-Length they give), writes the same scripted
// `reply` bytes verbatim (any status, lying headers, garbage), and closes the connection; or,
// with answer = false, never answers (silence until destroyed). Counts the requests it read.
// Header-only (GoogleTest: a failed bind or listen fails the test).
// Thread-safety: one accepting thread of its own; requests() may be read from any thread.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>
#include <utility>

namespace hoardfs::testing {

class ScriptedHttpServer {
 public:
  explicit ScriptedHttpServer(std::string reply, bool answer = true)
      : reply_(std::move(reply)), answer_(answer) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~ScriptedHttpServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  ScriptedHttpServer(const ScriptedHttpServer&) = delete;
  ScriptedHttpServer& operator=(const ScriptedHttpServer&) = delete;

  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int requests() const { return requests_; }

 private:
  // The body length the request's headers announce (0 without Content-Length).
  static size_t BodyLength(const std::string& headers) {
    static constexpr char kName[] = "\r\ncontent-length:";
    for (size_t at = 0; at + sizeof(kName) - 1 <= headers.size(); ++at) {
      if (::strncasecmp(headers.c_str() + at, kName, sizeof(kName) - 1) == 0) {
        return std::strtoull(headers.c_str() + at + sizeof(kName) - 1, nullptr, 10);
      }
    }
    return 0;
  }

  void Run() {
    while (!stop_) {
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      std::string in;
      char buf[4096];
      size_t end = std::string::npos;
      while ((end = in.find("\r\n\r\n")) == std::string::npos) {
        const ssize_t n = ::read(c, buf, sizeof(buf));
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
      }
      if (end != std::string::npos) {  // read the body too: unread bytes would reset the reply
        const size_t want = end + 4 + BodyLength(in.substr(0, end + 2));
        while (in.size() < want) {
          const ssize_t n = ::read(c, buf, sizeof(buf));
          if (n <= 0) break;
          in.append(buf, static_cast<size_t>(n));
        }
      }
      ++requests_;
      if (answer_) {
        (void)!::write(c, reply_.data(), reply_.size());
      } else {
        while (!stop_) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      ::close(c);
    }
  }

  std::string reply_;
  bool answer_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

}  // namespace hoardfs::testing
