// uring_fuse: the FUSE ceiling over each of this kernel's two FUSE transports. A read-only FUSE
// filesystem written on the kernel protocol itself (linux/fuse.h), without libfuse, that shows
// one local file and serves each read request with one O_DIRECT read of it, as bench/bare_fuse
// does, over either
//
//   --transport dev    /dev/fuse read() and writev() by N threads (--threads, 16 as bare_fuse),
//                      one synchronous pread() per read request: the classic transport, the one
//                      libfuse 3.14 (Debian 12) and so hoardfs use;
//   --transport uring  FUSE-over-io_uring (Linux 6.14+, the kernel's
//                      Documentation/filesystems/fuse-io-uring.rst): one ring per possible CPU,
//                      served by one thread pinned to that CPU, --depth request entries
//                      registered on each. A read request's file read is an IORING_OP_READ on
//                      the same ring; when it completes, its reply is committed together with
//                      the fetch of the entry's next request (one SQE). Requests the kernel does
//                      not route through the rings (forgets, interrupts) still come by /dev/fuse.
//                      With --workers N, the queue threads hand each request to N worker threads
//                      that serve it synchronously (one pread) and hand the reply back to the
//                      queue's thread (an eventfd it polls), which commits it: how a filesystem
//                      whose handlers block (as libfuse's loop runs them, and hoardfs's do) would
//                      use the rings.
//
// So uring_fuse dev ÷ bare_fuse shows this program matches libfuse's transport; uring ÷ dev is
// what the other transport buys a FUSE filesystem whose reads are asynchronous on the queue's
// ring, and uring --workers ÷ dev what it buys one whose handlers block (QD16 and psync random
// 4 KiB are bound by FUSE's round trip: docs/benchmarks.md, "The FUSE ceiling").
//
// Mounted as bare_fuse and hoardfs mount: read-only, max_read and max_readahead 1 MiB,
// keep_cache, attributes and entries cached 3600 s; the caller raises the bdi read_ahead_kb.
// Needs root (mount(2)); uring needs the fuse module's enable_uring (set it: echo Y >
// /sys/module/fuse/parameters/enable_uring), else it exits with that message.
//
//   uring_fuse [--transport dev|uring] [--threads N] [--depth N] [--workers N] FILE MOUNTPOINT
//
// Runs in the foreground until the mount goes away (umount) or SIGINT/SIGTERM (it then detaches
// the mount); then prints how many requests each transport carried. Exit status 0 after an
// unmount, 1 on a set-up error (one line on stderr).
#include <dirent.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/fuse.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "fuse/uring_abi.h"

namespace {

using hoardfs::fuse_uring::kCmdCommitAndFetch;
using hoardfs::fuse_uring::kCmdRegister;
using hoardfs::fuse_uring::kInitOverIoUring;
using hoardfs::fuse_uring::kSqeCmdOffset;
using UringCmdReq = hoardfs::fuse_uring::CmdReq;
using UringReqHeader = hoardfs::fuse_uring::ReqHeader;

constexpr uint64_t kFileIno = 2;
constexpr uint32_t kMaxRead = 1u << 20;
constexpr uint32_t kMaxWrite = 128u << 10;  // read-only; sizes the /dev/fuse request buffer
constexpr size_t kAlign = 4096;
constexpr uint64_t kValidSeconds = 3600;

std::atomic<uint64_t> g_device_requests{0}, g_ring_requests{0};  // reported at exit

// strerror() is not thread-safe; the queues and workers report errors concurrently.
std::string ErrorText(int errno_value) {
  return std::error_code(errno_value, std::generic_category()).message();
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "uring_fuse: %s\n", message.c_str());
  return 1;
}

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<char, AlignedFree>;
AlignedBuffer Allocate(size_t bytes) {
  return AlignedBuffer(static_cast<char*>(std::aligned_alloc(kAlign, bytes)));
}

// What a request asks of the transport: a reply of `size` bytes already in its payload buffer
// (or an error), no reply at all, or a read of the file into the payload buffer, then its reply.
struct Action {
  enum Kind { kReply, kNoReply, kRead } kind = kReply;
  int error = 0;  // negative errno of the reply
  size_t size = 0;
  uint64_t offset = 0;  // kRead
};

// The one-file filesystem, transport-independent. `op` is the request's per-op header, `rest`
// what follows it (a name); replies are built in `out` (at least kMaxRead bytes).
class OneFileFs {
 public:
  OneFileFs(std::string name, const struct stat& st, int direct_fd, int buffered_fd)
      : name_(std::move(name)), st_(st), direct_fd_(direct_fd), buffered_fd_(buffered_fd) {}

  int direct_fd() const { return direct_fd_; }

  // A kRead done synchronously: one O_DIRECT pread into `out`, and the reply it makes.
  Action ReadNow(const Action& read, char* out) const {
    const ssize_t got = ::pread(direct_fd_, out, read.size, static_cast<off_t>(read.offset));
    return got < 0 ? Error(errno) : Action{Action::kReply, 0, static_cast<size_t>(got), 0};
  }

  // The per-op header size of the opcodes handled below (/dev/fuse gives it inline).
  static size_t OpHeaderSize(uint32_t opcode) {
    switch (opcode) {
      case FUSE_GETATTR:
        return sizeof(fuse_getattr_in);
      case FUSE_OPEN:
      case FUSE_OPENDIR:
        return sizeof(fuse_open_in);
      case FUSE_READ:
      case FUSE_READDIR:
        return sizeof(fuse_read_in);
      case FUSE_RELEASE:
      case FUSE_RELEASEDIR:
        return sizeof(fuse_release_in);
      case FUSE_FLUSH:
        return sizeof(fuse_flush_in);
      case FUSE_FORGET:
        return sizeof(fuse_forget_in);
      default:
        return 0;  // LOOKUP (the name is all), STATFS, and everything refused
    }
  }

  Action Handle(const fuse_in_header& in, const char* op, const char* rest, size_t rest_len,
                char* out) const {
    switch (in.opcode) {
      case FUSE_LOOKUP: {
        const std::string name(rest, strnlen(rest, rest_len));
        if (in.nodeid != FUSE_ROOT_ID || name != name_) return Error(ENOENT);
        fuse_entry_out e{};
        e.nodeid = kFileIno;
        e.generation = 1;
        e.entry_valid = e.attr_valid = kValidSeconds;
        FillAttr(kFileIno, &e.attr);
        return Put(out, e);
      }
      case FUSE_GETATTR: {
        if (in.nodeid != FUSE_ROOT_ID && in.nodeid != kFileIno) return Error(ENOENT);
        fuse_attr_out a{};
        a.attr_valid = kValidSeconds;
        FillAttr(in.nodeid, &a.attr);
        return Put(out, a);
      }
      case FUSE_OPEN: {
        const auto* o = reinterpret_cast<const fuse_open_in*>(op);
        if (in.nodeid != kFileIno) return Error(EISDIR);
        if ((o->flags & O_ACCMODE) != O_RDONLY) return Error(EROFS);
        fuse_open_out r{};
        r.open_flags = FOPEN_KEEP_CACHE;
        return Put(out, r);
      }
      case FUSE_OPENDIR: {
        if (in.nodeid != FUSE_ROOT_ID) return Error(ENOTDIR);
        return Put(out, fuse_open_out{});
      }
      case FUSE_READ: {
        const auto* r = reinterpret_cast<const fuse_read_in*>(op);
        const uint32_t size = r->size < kMaxRead ? r->size : kMaxRead;
        if (r->offset % kAlign == 0 && size % kAlign == 0) {
          return Action{Action::kRead, 0, size, r->offset};
        }
        const ssize_t got = ::pread(buffered_fd_, out, size, static_cast<off_t>(r->offset));
        if (got < 0) return Error(errno);
        return Action{Action::kReply, 0, static_cast<size_t>(got), 0};
      }
      case FUSE_READDIR:
        return ReadDir(*reinterpret_cast<const fuse_read_in*>(op), out);
      case FUSE_RELEASE:
      case FUSE_RELEASEDIR:
      case FUSE_FLUSH:
        return Action{};
      case FUSE_STATFS: {
        fuse_statfs_out s{};
        s.st.bsize = s.st.frsize = kAlign;
        s.st.namelen = 255;
        return Put(out, s);
      }
      case FUSE_FORGET:
      case FUSE_BATCH_FORGET:
      case FUSE_INTERRUPT:
        return Action{Action::kNoReply, 0, 0, 0};
      default:
        return Error(ENOSYS);  // xattrs, access, ...: the kernel stops asking
    }
  }

 private:
  static Action Error(int errno_value) { return Action{Action::kReply, -errno_value, 0, 0}; }
  template <typename T>
  static Action Put(char* out, const T& value) {
    std::memcpy(out, &value, sizeof(T));
    return Action{Action::kReply, 0, sizeof(T), 0};
  }

  void FillAttr(uint64_t ino, fuse_attr* a) const {
    a->ino = ino;
    if (ino == FUSE_ROOT_ID) {
      a->mode = S_IFDIR | 0555;
      a->nlink = 2;
      return;
    }
    a->mode = S_IFREG | 0444;
    a->nlink = 1;
    a->size = static_cast<uint64_t>(st_.st_size);
    a->blocks = static_cast<uint64_t>(st_.st_blocks);
    a->blksize = kAlign;
    a->mtime = a->ctime = a->atime = static_cast<uint64_t>(st_.st_mtime);
  }

  Action ReadDir(const fuse_read_in& r, char* out) const {
    const struct {
      uint64_t ino;
      uint32_t type;
      const char* name;
    } entries[] = {{FUSE_ROOT_ID, DT_DIR, "."},
                   {FUSE_ROOT_ID, DT_DIR, ".."},
                   {kFileIno, DT_REG, name_.c_str()}};
    size_t used = 0;
    for (uint64_t i = r.offset; i < std::size(entries); ++i) {
      const size_t len = std::strlen(entries[i].name);
      const size_t record = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + len);
      if (used + record > r.size) break;
      auto* d = reinterpret_cast<fuse_dirent*>(out + used);
      std::memset(d, 0, record);
      d->ino = entries[i].ino;
      d->off = i + 1;
      d->namelen = static_cast<uint32_t>(len);
      d->type = entries[i].type;
      std::memcpy(d->name, entries[i].name, len);
      used += record;
    }
    return Action{Action::kReply, 0, used, 0};
  }

  std::string name_;
  struct stat st_;
  int direct_fd_;
  int buffered_fd_;
};

// --- the /dev/fuse transport ---

// Serves requests from /dev/fuse until the connection goes away. Returns false on an error.
bool ServeDevice(int fuse_fd, const OneFileFs& fs) {
  const size_t request_bytes = kMaxWrite + 64 * 1024;
  std::vector<char> request(request_bytes);
  AlignedBuffer reply = Allocate(kMaxRead);
  for (;;) {
    const ssize_t n = ::read(fuse_fd, request.data(), request.size());
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == ENOENT) continue;  // ENOENT: interrupted
      if (errno == ENODEV) return true;                                    // unmounted
      std::fprintf(stderr, "uring_fuse: read /dev/fuse: %s\n", ErrorText(errno).c_str());
      return false;
    }
    if (static_cast<size_t>(n) < sizeof(fuse_in_header)) continue;
    g_device_requests.fetch_add(1, std::memory_order_relaxed);
    const auto& in = *reinterpret_cast<const fuse_in_header*>(request.data());
    const char* op = request.data() + sizeof(fuse_in_header);
    const size_t op_size = OneFileFs::OpHeaderSize(in.opcode);
    const size_t after = sizeof(fuse_in_header) + op_size;
    const char* rest = request.data() + after;
    const size_t rest_len = static_cast<size_t>(n) > after ? static_cast<size_t>(n) - after : 0;
    Action a = fs.Handle(in, op, rest, rest_len, reply.get());
    if (a.kind == Action::kNoReply) continue;
    if (a.kind == Action::kRead) a = fs.ReadNow(a, reply.get());
    fuse_out_header out{};
    out.unique = in.unique;
    out.error = a.error;
    out.len = static_cast<uint32_t>(sizeof(out) + (a.error == 0 ? a.size : 0));
    iovec iov[2] = {{&out, sizeof(out)}, {reply.get(), a.error == 0 ? a.size : 0}};
    if (::writev(fuse_fd, iov, 2) < 0 && errno != ENOENT) {  // ENOENT: the request was aborted
      if (errno == ENODEV) return true;
      std::fprintf(stderr, "uring_fuse: write /dev/fuse: %s\n", ErrorText(errno).c_str());
      return false;
    }
  }
}

// Answers the first request, FUSE_INIT, on /dev/fuse.
bool Init(int fuse_fd, bool over_io_uring) {
  std::vector<char> request(kMaxWrite + 64 * 1024);
  const ssize_t n = ::read(fuse_fd, request.data(), request.size());
  const auto& in = *reinterpret_cast<const fuse_in_header*>(request.data());
  if (n < static_cast<ssize_t>(sizeof(fuse_in_header) + 16) || in.opcode != FUSE_INIT) {
    std::fprintf(stderr, "uring_fuse: no FUSE_INIT first\n");
    return false;
  }
  const auto& init = *reinterpret_cast<const fuse_init_in*>(request.data() + sizeof(in));
  uint64_t kernel_flags = init.flags;
  if ((init.flags & FUSE_INIT_EXT) != 0) kernel_flags |= static_cast<uint64_t>(init.flags2) << 32;
  if (over_io_uring && (kernel_flags & kInitOverIoUring) == 0) {
    std::fprintf(stderr, "uring_fuse: the kernel does not offer FUSE-over-io_uring\n");
    return false;
  }
  fuse_init_out r{};
  r.major = FUSE_KERNEL_VERSION;
  r.minor = init.minor;
  r.max_readahead = kMaxRead;
  // The flags of libfuse 3.14's defaults that bear on reads (ASYNC_DIO: an O_DIRECT read of an
  // io_uring or aio submitter is sent without blocking it).
  uint64_t flags = FUSE_ASYNC_READ | FUSE_ASYNC_DIO | FUSE_PARALLEL_DIROPS | FUSE_BIG_WRITES |
                   FUSE_MAX_PAGES | FUSE_INIT_EXT;
  if (over_io_uring) flags |= kInitOverIoUring;
  flags &= kernel_flags | FUSE_INIT_EXT;
  r.flags = static_cast<uint32_t>(flags);
  r.flags2 = static_cast<uint32_t>(flags >> 32);
  r.max_write = kMaxWrite;
  r.max_pages = kMaxRead / kAlign;
  r.time_gran = 1;
  fuse_out_header out{};
  out.unique = in.unique;
  out.len = sizeof(out) + sizeof(r);
  iovec iov[2] = {{&out, sizeof(out)}, {&r, sizeof(r)}};
  if (::writev(fuse_fd, iov, 2) < 0) {
    std::fprintf(stderr, "uring_fuse: FUSE_INIT reply: %s\n", ErrorText(errno).c_str());
    return false;
  }
  return true;
}

// --- the io_uring transport ---

// --workers N: N threads that serve the rings' requests in turn.
class WorkPool {
 public:
  explicit WorkPool(int threads) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this] {
        for (;;) {
          std::function<void()> job;
          {
            std::unique_lock lock(mutex_);
            ready_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
            if (jobs_.empty()) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
          }
          job();
        }
      });
    }
  }
  ~WorkPool() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    ready_.notify_all();
    for (std::thread& t : threads_) t.join();
  }
  void Push(std::function<void()> job) {
    {
      std::lock_guard lock(mutex_);
      jobs_.push_back(std::move(job));
    }
    ready_.notify_one();
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

class RingQueue {
 public:
  RingQueue(int fuse_fd, const OneFileFs& fs, uint16_t qid, unsigned depth, WorkPool* pool)
      : fuse_fd_(fuse_fd), fs_(fs), qid_(qid), pool_(pool), entries_(depth) {}

  // On the queue's pinned thread: registers the entries, then serves until the connection goes.
  bool Run() {
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    CPU_SET(qid_, &cpus);
    if (::sched_setaffinity(0, sizeof(cpus), &cpus) != 0) {
      std::fprintf(stderr, "uring_fuse: pin queue %u: %s\n", qid_, ErrorText(errno).c_str());
    }
    io_uring_params params{};
    params.flags = IORING_SETUP_SQE128 | IORING_SETUP_CQSIZE;
    params.cq_entries = 4 * static_cast<unsigned>(entries_.size());
    if (const int rc =
            io_uring_queue_init_params(2 * static_cast<unsigned>(entries_.size()), &ring_, &params);
        rc < 0) {
      std::fprintf(stderr, "uring_fuse: io_uring queue %u: %s\n", qid_, ErrorText(-rc).c_str());
      return false;
    }
    const int files[1] = {fuse_fd_};
    if (const int rc = io_uring_register_files(&ring_, files, 1); rc < 0) {
      std::fprintf(stderr, "uring_fuse: register /dev/fuse: %s\n", ErrorText(-rc).c_str());
      return false;
    }
    if (pool_ != nullptr) {
      event_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (event_fd_ < 0) {
        std::fprintf(stderr, "uring_fuse: eventfd: %s\n", ErrorText(errno).c_str());
        return false;
      }
      ArmEventPoll();
    }
    for (Entry& e : entries_) {
      e.header = Allocate(kAlign);
      e.payload = Allocate(kMaxRead);
      std::memset(e.header.get(), 0, kAlign);
      e.iov[0] = {e.header.get(), sizeof(UringReqHeader)};
      e.iov[1] = {e.payload.get(), kMaxRead};
      SubmitCommand(&e, kCmdRegister);
    }
    const bool ok = Serve();
    io_uring_queue_exit(&ring_);
    if (event_fd_ >= 0) ::close(event_fd_);
    return ok;
  }

 private:
  struct Entry {
    AlignedBuffer header;
    AlignedBuffer payload;
    iovec iov[2];
    uint64_t commit_id = 0;
    int done_error = 0;  // --workers: the reply a worker made
    size_t done_size = 0;
    UringReqHeader* h() { return reinterpret_cast<UringReqHeader*>(header.get()); }
  };
  static constexpr uint64_t kReadTag = 1;   // user_data low bit: the file read of an entry
  static constexpr uint64_t kEventTag = 2;  // user_data of the workers' eventfd poll

  io_uring_sqe* Sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {  // the ring holds two SQEs per entry; flush and retry once
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    if (sqe != nullptr) std::memset(sqe, 0, 2 * sizeof(io_uring_sqe));
    return sqe;
  }

  void SubmitCommand(Entry* e, uint32_t cmd) {
    io_uring_sqe* sqe = Sqe();
    if (sqe == nullptr) std::abort();  // two SQEs per entry: cannot happen
    sqe->opcode = IORING_OP_URING_CMD;
    sqe->flags = IOSQE_FIXED_FILE;
    sqe->fd = 0;
    sqe->cmd_op = cmd;
    if (cmd == kCmdRegister) {
      sqe->addr = reinterpret_cast<uint64_t>(e->iov);
      sqe->len = 2;
    }
    UringCmdReq req{};
    req.commit_id = cmd == kCmdRegister ? 0 : e->commit_id;
    req.qid = qid_;
    std::memcpy(reinterpret_cast<char*>(sqe) + kSqeCmdOffset, &req, sizeof(req));
    io_uring_sqe_set_data64(sqe, reinterpret_cast<uint64_t>(e));
  }

  // Replies to the request in `e` (its fuse_in_header is still in in_out) and fetches the next.
  void Commit(Entry* e, int error, size_t size) {
    fuse_in_header in;
    std::memcpy(&in, e->h()->in_out, sizeof(in));
    fuse_out_header out{};
    out.unique = in.unique;
    out.error = error;
    out.len = static_cast<uint32_t>(sizeof(out) + (error == 0 ? size : 0));
    std::memcpy(e->h()->in_out, &out, sizeof(out));
    e->h()->ent.payload_sz = static_cast<uint32_t>(error == 0 ? size : 0);
    SubmitCommand(e, kCmdCommitAndFetch);
  }

  // A request arrived in `e`: served on the queue's thread, its file read on the ring.
  void Dispatch(Entry* e) {
    UringReqHeader* h = e->h();
    fuse_in_header in;
    std::memcpy(&in, h->in_out, sizeof(in));
    const Action a =
        fs_.Handle(in, h->op_in, e->payload.get(), h->ent.payload_sz, e->payload.get());
    if (a.kind == Action::kRead) {
      io_uring_sqe* sqe = Sqe();
      if (sqe == nullptr) std::abort();
      io_uring_prep_read(sqe, fs_.direct_fd(), e->payload.get(), static_cast<unsigned>(a.size),
                         a.offset);
      io_uring_sqe_set_data64(sqe, reinterpret_cast<uint64_t>(e) | kReadTag);
      return;
    }
    // A request that wants no reply should not come by a ring; answer it so the entry returns.
    Commit(e, a.kind == Action::kNoReply ? -ENOSYS : a.error, a.size);
  }

  bool Serve() {
    for (;;) {
      io_uring_submit(&ring_);
      io_uring_cqe* cqe = nullptr;
      const int rc = io_uring_wait_cqe(&ring_, &cqe);
      if (rc == -EINTR || rc == -EAGAIN) continue;
      if (rc < 0) {
        std::fprintf(stderr, "uring_fuse: queue %u wait: %s\n", qid_, ErrorText(-rc).c_str());
        return false;
      }
      unsigned head, seen = 0;
      bool done = false, ok = true;
      io_uring_for_each_cqe(&ring_, head, cqe) {
        ++seen;
        const uint64_t data = io_uring_cqe_get_data64(cqe);
        auto* e = reinterpret_cast<Entry*>(data & ~kReadTag);
        if (data == kEventTag) {
          CommitDone(*cqe);
        } else if ((data & kReadTag) != 0) {
          Commit(e, cqe->res < 0 ? cqe->res : 0, cqe->res < 0 ? 0 : cqe->res);
        } else if (cqe->res == 0) {
          g_ring_requests.fetch_add(1, std::memory_order_relaxed);
          e->commit_id = e->h()->ent.commit_id;
          if (pool_ != nullptr) {
            pool_->Push([this, e] { ServeOnWorker(e); });
          } else {
            Dispatch(e);
          }
        } else if (cqe->res == -ENOTCONN || cqe->res == -ENODEV || cqe->res == -ECANCELED) {
          done = true;  // the connection is gone: unmounted
        } else if (cqe->res == -EINTR || cqe->res == -EAGAIN) {
          SubmitCommand(e, e->commit_id == 0 ? kCmdRegister : kCmdCommitAndFetch);
        } else {
          std::fprintf(stderr, "uring_fuse: queue %u: %s\n", qid_, ErrorText(-cqe->res).c_str());
          done = true;
          ok = false;
        }
      }
      io_uring_cq_advance(&ring_, seen);
      if (done) return ok;
    }
  }

  // --workers: a request served on a worker thread, as a libfuse loop serves it (a synchronous
  // read of the file). Its reply goes back to the queue's thread, which alone submits to the
  // ring. A first cut in which workers committed their replies themselves ran at about half the
  // rate (one pass, not kept); the likely cause, not profiled: a worker's submission makes it
  // the issuer of the entry's next fetch, whose completion the kernel then runs on the worker.
  void ServeOnWorker(Entry* e) {
    UringReqHeader* h = e->h();
    fuse_in_header in;
    std::memcpy(&in, h->in_out, sizeof(in));
    Action a = fs_.Handle(in, h->op_in, e->payload.get(), h->ent.payload_sz, e->payload.get());
    if (a.kind == Action::kRead) a = fs_.ReadNow(a, e->payload.get());
    e->done_error = a.kind == Action::kNoReply ? -ENOSYS : a.error;
    e->done_size = a.size;
    {
      std::lock_guard lock(done_mutex_);
      done_.push_back(e);
    }
    const uint64_t one = 1;
    // Fails only after the queue has stopped listening (unmounted): nothing left to answer.
    [[maybe_unused]] const ssize_t written = ::write(event_fd_, &one, sizeof(one));
  }

  void ArmEventPoll() {
    io_uring_sqe* sqe = Sqe();
    if (sqe == nullptr) std::abort();
    io_uring_prep_poll_multishot(sqe, event_fd_, POLLIN);
    io_uring_sqe_set_data64(sqe, kEventTag);
  }

  // On the queue's thread: commits the replies the workers finished.
  void CommitDone(const io_uring_cqe& cqe) {
    uint64_t count;
    if (::read(event_fd_, &count, sizeof(count)) < 0 && errno != EAGAIN) std::abort();
    std::vector<Entry*> done;
    {
      std::lock_guard lock(done_mutex_);
      done.swap(done_);
    }
    for (Entry* e : done) Commit(e, e->done_error, e->done_size);
    if ((cqe.flags & IORING_CQE_F_MORE) == 0) ArmEventPoll();
  }

  int fuse_fd_;
  const OneFileFs& fs_;
  uint16_t qid_;
  WorkPool* pool_;
  std::vector<Entry> entries_;
  io_uring ring_{};
  int event_fd_ = -1;  // --workers: a worker finished a request
  std::mutex done_mutex_;
  std::vector<Entry*> done_;
};

std::string g_mountpoint;
void DetachOnSignal(int) { ::umount2(g_mountpoint.c_str(), MNT_DETACH); }

int Mount(const std::string& mountpoint) {
  const int fd = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) return -1;
  const std::string options =
      "fd=" + std::to_string(fd) +
      ",rootmode=40555,user_id=0,group_id=0,allow_other,max_read=" + std::to_string(kMaxRead);
  if (::mount("uring_fuse", mountpoint.c_str(), "fuse.uring_fuse", MS_NOSUID | MS_NODEV | MS_RDONLY,
              options.c_str()) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  const char* const usage =
      "usage: uring_fuse [--transport dev|uring] [--threads N] [--depth N] [--workers N] FILE "
      "MOUNTPOINT";
  std::string transport = "dev";
  int threads = 16, depth = 16, workers = 0;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--transport" || arg == "--threads" || arg == "--depth" || arg == "--workers") &&
        i + 1 < argc) {
      const std::string value = argv[++i];
      if (arg == "--transport") {
        transport = value;
      } else {
        char* end = nullptr;
        const long n = std::strtol(value.c_str(), &end, 10);
        if (*end != '\0' || n < 1 || n > 256) return Fail(arg + ": 1 to 256");
        (arg == "--threads" ? threads : arg == "--depth" ? depth : workers) = static_cast<int>(n);
      }
    } else if (arg.starts_with("--")) {
      return Fail(usage);
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 2 || (transport != "dev" && transport != "uring")) return Fail(usage);
  const bool over_io_uring = transport == "uring";
  if (over_io_uring) {
    char enabled = 'N';
    if (FILE* f = std::fopen("/sys/module/fuse/parameters/enable_uring", "r")) {
      if (std::fscanf(f, " %c", &enabled) != 1) enabled = 'N';
      std::fclose(f);
    }
    if (enabled != 'Y') {
      return Fail("FUSE-over-io_uring is off: echo Y > /sys/module/fuse/parameters/enable_uring");
    }
  }

  const std::string& file = positional[0];
  const int direct_fd = ::open(file.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  const int buffered_fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (direct_fd < 0 || buffered_fd < 0 || ::fstat(direct_fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return Fail(file + ": not a readable regular file");
  }
  const size_t slash = file.find_last_of('/');
  const OneFileFs fs(slash == std::string::npos ? file : file.substr(slash + 1), st, direct_fd,
                     buffered_fd);

  g_mountpoint = positional[1];
  const int fuse_fd = Mount(g_mountpoint);
  if (fuse_fd < 0) return Fail("mount on " + g_mountpoint + ": " + ErrorText(errno));
  struct sigaction sa {};
  sa.sa_handler = DetachOnSignal;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  if (!Init(fuse_fd, over_io_uring)) {
    ::umount2(g_mountpoint.c_str(), MNT_DETACH);
    return 1;
  }

  std::atomic<bool> ok = true;
  std::vector<std::thread> serving;
  std::vector<std::unique_ptr<RingQueue>> queues;
  std::unique_ptr<WorkPool> pool;
  if (over_io_uring && workers > 0) pool = std::make_unique<WorkPool>(workers);
  if (over_io_uring) {
    const long cpus = ::sysconf(_SC_NPROCESSORS_CONF);  // the kernel wants a queue per possible CPU
    for (long q = 0; q < cpus; ++q) {
      queues.push_back(std::make_unique<RingQueue>(fuse_fd, fs, static_cast<uint16_t>(q),
                                                   static_cast<unsigned>(depth), pool.get()));
      serving.emplace_back([&ok, queue = queues.back().get()] {
        if (!queue->Run()) {
          ok = false;
          ::umount2(g_mountpoint.c_str(), MNT_DETACH);  // fail visibly, not over /dev/fuse alone
        }
      });
    }
    threads = 1;  // forgets and interrupts still come by /dev/fuse
  }
  for (int t = 1; t < threads; ++t) {
    serving.emplace_back([&] {
      if (!ServeDevice(fuse_fd, fs)) ok = false;
    });
  }
  if (!ServeDevice(fuse_fd, fs)) ok = false;
  if (!ok) ::umount2(g_mountpoint.c_str(), MNT_DETACH);
  ::close(fuse_fd);  // a queue still waiting sees the connection end
  for (std::thread& w : serving) w.join();
  std::fprintf(stderr, "uring_fuse: %llu requests by /dev/fuse, %llu by the rings\n",
               static_cast<unsigned long long>(g_device_requests.load()),
               static_cast<unsigned long long>(g_ring_requests.load()));
  return ok ? 0 : 1;
}
