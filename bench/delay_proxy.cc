// delay_proxy: a wide-area link in front of a local server, for benchmarks on a machine without
// netem (bench/sparse_ab.sh --rtt-ms). A TCP relay on 127.0.0.1 that holds every byte it relays
// for a fixed one-way delay, in each direction, and that lets at most a window of bytes be in
// flight per direction and connection: a byte counts against the window from the moment the relay
// reads it until one round trip later (its delivery after the one-way delay, then the
// acknowledgement's way back), so one connection carries at most window ÷ round trip, as one TCP
// connection over a long link does. A new connection reaches the server one round trip after the
// client connected (the handshake). Each connection is relayed by its own threads.
//
//   delay_proxy --to HOST:PORT --delay-ms D [--window-kib W] [--port P]
//
//   --to HOST:PORT   the server (numeric or resolvable host)
//   --delay-ms D     the one-way delay in milliseconds (the round trip is 2 D); 0 relays at once
//   --window-kib W   bytes in flight per direction and connection, in KiB (default 0: unbounded)
//   --port P         the port to listen on, on 127.0.0.1 (default 0: any free one)
//
// Prints "port=N" on stdout once it listens, then relays until SIGINT or SIGTERM; on stderr, one
// line per direction of each connection as it ends (bytes relayed, seconds open). Exit status 2
// on a bad argument, 1 on a set-up error (one line on stderr).
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string host;
  std::string port;
  std::chrono::microseconds delay{0};
  size_t window_bytes = 0;  // 0: unbounded
  uint16_t listen_port = 0;
};

// One socket, closed when the last of its users (both directions' threads) lets go.
class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() { ::close(fd_); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

// One direction of one connection: a reader thread takes bytes from `src` as the window allows
// and stamps them; a writer thread hands each piece to `dst` once its delay has passed.
class Direction {
 public:
  Direction(std::shared_ptr<Socket> src, std::shared_ptr<Socket> dst, const Options& o,
            std::string name)
      : src_(std::move(src)),
        dst_(std::move(dst)),
        delay_(o.delay),
        window_(o.window_bytes),
        name_(std::move(name)),
        started_(Clock::now()) {}
  ~Direction() {
    const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    std::fprintf(stderr, "delay_proxy: %s: %zu bytes in %.3f s\n", name_.c_str(), relayed_,
                 seconds);
  }

  void Start(const std::shared_ptr<Direction>& self) {
    std::thread([self] { self->ReadLoop(); }).detach();
    std::thread([self] { self->WriteLoop(); }).detach();
  }

 private:
  struct Piece {
    Clock::time_point due;
    std::vector<char> bytes;  // empty: the end of the stream
  };
  static constexpr size_t kMaxPiece = 256 << 10;

  // Waits until the window has room; returns how many bytes may be read now.
  size_t WaitForRoom(std::unique_lock<std::mutex>& lock) {
    if (window_ == 0) return kMaxPiece;
    for (;;) {
      const Clock::time_point now = Clock::now();
      while (!credits_.empty() && credits_.front().first <= now) {
        in_flight_ -= credits_.front().second;
        credits_.pop_front();
      }
      if (in_flight_ < window_) return std::min(kMaxPiece, window_ - in_flight_);
      room_.wait_until(lock, credits_.front().first);  // credits come back with time alone
    }
  }

  void ReadLoop() {
    std::vector<char> buffer(kMaxPiece);
    for (;;) {
      size_t room;
      {
        std::unique_lock<std::mutex> lock(mu_);
        room = WaitForRoom(lock);
      }
      const ssize_t n = ::read(src_->fd(), buffer.data(), room);
      if (n < 0 && errno == EINTR) continue;
      const Clock::time_point now = Clock::now();
      std::lock_guard<std::mutex> lock(mu_);
      if (n <= 0) {  // the end of the stream (or a reset): passed on after the same delay
        queue_.push_back({now + delay_, {}});
        ready_.notify_one();
        return;
      }
      queue_.push_back({now + delay_, std::vector<char>(buffer.data(), buffer.data() + n)});
      if (window_ != 0) {
        credits_.emplace_back(now + 2 * delay_, static_cast<size_t>(n));
        in_flight_ += static_cast<size_t>(n);
      }
      ready_.notify_one();
    }
  }

  void WriteLoop() {
    for (;;) {
      Piece piece;
      {
        std::unique_lock<std::mutex> lock(mu_);
        ready_.wait(lock, [this] { return !queue_.empty(); });
        piece = std::move(queue_.front());
        queue_.pop_front();
      }
      std::this_thread::sleep_until(piece.due);
      if (piece.bytes.empty()) {
        ::shutdown(dst_->fd(), SHUT_WR);
        return;
      }
      size_t done = 0;
      while (done < piece.bytes.size()) {
        const ssize_t n =
            ::send(dst_->fd(), piece.bytes.data() + done, piece.bytes.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {  // the receiver is gone: stop the sender too
          ::shutdown(src_->fd(), SHUT_RDWR);
          ::shutdown(dst_->fd(), SHUT_RDWR);
          return;
        }
        done += static_cast<size_t>(n);
      }
      relayed_ += done;
    }
  }

  std::shared_ptr<Socket> src_, dst_;
  const std::chrono::microseconds delay_;
  const size_t window_;
  std::mutex mu_;
  std::condition_variable ready_, room_;
  std::deque<Piece> queue_;
  std::deque<std::pair<Clock::time_point, size_t>> credits_;  // (returned at, bytes)
  size_t in_flight_ = 0;
  const std::string name_;
  const Clock::time_point started_;
  size_t relayed_ = 0;  // by the writer
};

std::optional<int> ConnectTo(const Options& o) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(o.host.c_str(), o.port.c_str(), &hints, &found) != 0) return std::nullopt;
  std::optional<int> result;
  for (addrinfo* a = found; a != nullptr && !result; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      result = fd;
    } else {
      ::close(fd);
    }
  }
  ::freeaddrinfo(found);
  return result;
}

void SetNoDelay(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Relays one accepted connection. The connection to the server is made one round trip late and
// the client's first bytes read only then, as a TCP handshake over the link would delay them.
void Relay(int client, const Options& options, unsigned id) {
  std::this_thread::sleep_for(2 * options.delay);
  const std::optional<int> server = ConnectTo(options);
  if (!server) {  // the client sees its connection closed, as when the server refuses it
    std::fprintf(stderr, "delay_proxy: cannot connect to %s:%s\n", options.host.c_str(),
                 options.port.c_str());
    ::close(client);
    return;
  }
  SetNoDelay(client);
  SetNoDelay(*server);
  auto a = std::make_shared<Socket>(client);
  auto b = std::make_shared<Socket>(*server);
  auto up = std::make_shared<Direction>(a, b, options, "connection " + std::to_string(id) + " up");
  auto down =
      std::make_shared<Direction>(b, a, options, "connection " + std::to_string(id) + " down");
  up->Start(up);
  down->Start(down);
}

template <typename T>
bool ParseNumber(std::string_view text, T* out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end;
}

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr,
               "delay_proxy: %s\nusage: delay_proxy --to HOST:PORT --delay-ms D [--window-kib W] "
               "[--port P]\n",
               why);
  std::exit(2);
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  bool have_to = false, have_delay = false;
  for (int i = 1; i < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) Usage("an option without its value");
    const std::string_view value = argv[i + 1];
    if (flag == "--to") {
      const size_t colon = value.rfind(':');
      if (colon == std::string_view::npos || colon == 0 || colon + 1 == value.size())
        Usage("--to needs HOST:PORT");
      o.host = std::string(value.substr(0, colon));
      o.port = std::string(value.substr(colon + 1));
      have_to = true;
    } else if (flag == "--delay-ms") {
      double ms = 0;
      if (!ParseNumber(value, &ms) || ms < 0 || ms > 10000)
        Usage("--delay-ms needs milliseconds, 0 to 10000");
      o.delay = std::chrono::microseconds(static_cast<int64_t>(ms * 1000));
      have_delay = true;
    } else if (flag == "--window-kib") {
      size_t kib = 0;
      if (!ParseNumber(value, &kib) || kib > (size_t{1} << 30)) Usage("--window-kib needs KiB");
      o.window_bytes = kib << 10;
    } else if (flag == "--port") {
      if (!ParseNumber(value, &o.listen_port)) Usage("--port needs a port number");
    } else {
      Usage("unknown option");
    }
  }
  if (!have_to || !have_delay) Usage("--to and --delay-ms are required");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = ParseArgs(argc, argv);
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(options.listen_port);
  socklen_t length = sizeof address;
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::listen(listener, 128) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    std::fprintf(stderr, "delay_proxy: cannot listen: %s\n", std::strerror(errno));
    return 1;
  }
  std::printf("port=%u\n", ntohs(address.sin_port));
  std::fflush(stdout);
  // SIGINT and SIGTERM end the process by default; the relays die with it.
  for (unsigned id = 1;; ++id) {
    const int client = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      std::fprintf(stderr, "delay_proxy: accept: %s\n", std::strerror(errno));
      return 1;
    }
    std::thread([client, options, id] { Relay(client, options, id); }).detach();
  }
}
