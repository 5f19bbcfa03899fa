#define FUSE_USE_VERSION 312
#include "fuse/uring_transport.h"

#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/log.h"
#include "fuse/filesystem.h"
#include "fuse/uring_abi.h"

namespace hoardfs {
namespace {

namespace abi = fuse_uring;

constexpr size_t kPage = 4096;

std::string ErrorText(int errno_value) {
  return std::error_code(errno_value, std::generic_category()).message();
}

// Possible CPUs (the kernel wants a queue for each: nr_cpu_ids), from "0-N" in sysfs.
unsigned PossibleCpus() {
  std::ifstream in("/sys/devices/system/cpu/possible");
  std::string ranges;
  unsigned count = 0;
  if (in >> ranges) {
    const size_t last = ranges.find_last_of("-,");
    try {
      count = static_cast<unsigned>(
                  std::stoul(ranges.substr(last == std::string::npos ? 0 : last + 1))) +
              1;
    } catch (const std::exception&) {
      count = 0;
    }
  }
  if (count == 0) count = static_cast<unsigned>(std::max(1L, ::sysconf(_SC_NPROCESSORS_CONF)));
  return count;
}

}  // namespace

class UringQueue;

// One request entry registered with the kernel. Owned, between a request's arrival and its
// commit, by exactly one of: its queue's thread, a worker.
struct RingEntry {
  UringQueue* queue = nullptr;
  abi::ReqHeader* header = nullptr;  // page-aligned
  std::byte* payload = nullptr;      // page-aligned, payload_bytes
  iovec iov[2]{};
  uint64_t commit_id = 0;
  std::unique_ptr<PendingSlice> fast;  // a read being served on the queue's thread
  bool dead = false;                   // the kernel ended its command
};

class UringTransport::Impl {
 public:
  Impl(fuse_session* session, int fuse_fd, Filesystem* fs, const UringTransportOptions& options)
      : session_(session), fuse_fd_(fuse_fd), fs_(fs), options_(options) {}
  ~Impl();

  // Hooks (any thread).
  void SawRequest(const void* buf, size_t size);
  ssize_t Write(int fd, iovec* iov, int count);

  // For the queues.
  Filesystem* fs() const { return fs_; }
  int fuse_fd() const { return fuse_fd_; }
  size_t payload_bytes() const { return payload_bytes_; }
  TransportStats& stats() { return fs_->transport_stats(); }
  void Work(RingEntry* e);  // hands a request to the workers
  void Register(uint64_t unique, RingEntry* e);
  RingEntry* Take(uint64_t unique);

 private:
  ssize_t WriteInitReply(int fd, iovec* iov, int count);
  void StartQueues();
  void StartWorkers();
  void ServeOnWorker(RingEntry* e);

  fuse_session* const session_;
  const int fuse_fd_;
  Filesystem* const fs_;
  const UringTransportOptions options_;

  std::atomic<uint64_t> init_unique_{0};
  std::atomic<bool> offered_{false};
  size_t payload_bytes_ = 0;  // set once, before the queues start

  std::mutex flight_mu_;
  std::unordered_map<uint64_t, RingEntry*> in_flight_;  // GUARDED_BY(flight_mu_): by unique

  std::mutex work_mu_;
  std::condition_variable work_cv_;
  std::deque<RingEntry*> work_;  // GUARDED_BY(work_mu_)
  bool stopping_ = false;        // GUARDED_BY(work_mu_)
  std::vector<std::thread> workers_;

  std::vector<std::unique_ptr<UringQueue>> queues_;
};

// One queue: its entries, its ring, its thread.
class UringQueue {
 public:
  UringQueue(UringTransport::Impl* t, uint16_t qid, unsigned depth)
      : t_(t), qid_(qid), depth_(depth) {}
  ~UringQueue();

  Status Start();
  void Stop();
  // From a worker: `e` holds its reply (header and payload); commit it on the queue's thread.
  void Done(RingEntry* e);
  // From a worker: the reply libfuse wrote for `e`'s request, into `e`.
  ssize_t CatchReply(RingEntry* e, const iovec* iov, int count);
  // From a worker: answer `e` with an error.
  void Fail(RingEntry* e, int error);

 private:
  static constexpr uint64_t kReadTag = 1;   // user_data low bit: an entry's cache read
  static constexpr uint64_t kEventTag = 2;  // user_data of the eventfd poll

  Status Setup();
  void Run();
  bool Serve();
  io_uring_sqe* Sqe();
  void SubmitCommand(RingEntry* e, uint32_t cmd);
  void ArmEventPoll();
  void Dispatch(RingEntry* e);
  bool TryMemoryRead(RingEntry* e);
  bool TryFastRead(RingEntry* e);
  void FinishFastRead(RingEntry* e, int res);
  void CommitDone();
  // Puts a reply of `size` payload bytes (error 0) or an error in `e`'s header.
  static void PutReply(RingEntry* e, int error, size_t size);

  UringTransport::Impl* const t_;
  const uint16_t qid_;
  const unsigned depth_;
  std::vector<RingEntry> entries_;
  void* memory_ = MAP_FAILED;
  size_t memory_bytes_ = 0;
  io_uring ring_{};
  bool ring_ready_ = false;
  int event_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;

  std::mutex done_mu_;
  std::vector<RingEntry*> done_;  // GUARDED_BY(done_mu_)
};

// --- the hooks ---

namespace {

// Sessions with a transport, by their /dev/fuse fd (libfuse's hooks are given the fd and the
// session's user data, which is the Filesystem's). A few at most per process.
struct HookedSession {
  std::atomic<int> fd{-1};
  std::atomic<UringTransport::Impl*> impl{nullptr};
};
std::array<HookedSession, 16> g_hooked;
std::mutex g_hooked_mu;

UringTransport::Impl* ImplOf(int fd) {
  for (HookedSession& s : g_hooked) {
    if (s.fd.load(std::memory_order_acquire) == fd) return s.impl.load(std::memory_order_acquire);
  }
  return nullptr;
}

bool Hook(int fd, UringTransport::Impl* impl) {
  std::lock_guard lock(g_hooked_mu);
  for (HookedSession& s : g_hooked) {
    if (s.fd.load() == -1) {
      s.impl.store(impl, std::memory_order_release);
      s.fd.store(fd, std::memory_order_release);
      return true;
    }
  }
  return false;
}

void Unhook(UringTransport::Impl* impl) {
  std::lock_guard lock(g_hooked_mu);
  for (HookedSession& s : g_hooked) {
    if (s.impl.load() == impl) {
      s.fd.store(-1, std::memory_order_release);
      s.impl.store(nullptr, std::memory_order_release);
    }
  }
}

ssize_t HookRead(int fd, void* buf, size_t size, void* /*userdata*/) {
  const ssize_t n = ::read(fd, buf, size);
  if (n >= static_cast<ssize_t>(sizeof(fuse_in_header))) {
    if (UringTransport::Impl* t = ImplOf(fd)) t->SawRequest(buf, static_cast<size_t>(n));
  }
  return n;
}

ssize_t HookWritev(int fd, iovec* iov, int count, void* /*userdata*/) {
  if (UringTransport::Impl* t = ImplOf(fd)) return t->Write(fd, iov, count);
  return ::writev(fd, iov, count);
}

}  // namespace

void UringTransport::Impl::SawRequest(const void* buf, size_t size) {
  fuse_in_header in;
  std::memcpy(&in, buf, sizeof(in));
  if (in.opcode != FUSE_INIT) return;
  fuse_init_in init{};
  std::memcpy(&init, static_cast<const char*>(buf) + sizeof(in),
              std::min(size - sizeof(in), sizeof(init)));
  uint64_t flags = init.flags;
  if ((init.flags & FUSE_INIT_EXT) != 0) flags |= static_cast<uint64_t>(init.flags2) << 32;
  offered_ = (flags & abi::kInitOverIoUring) != 0;
  init_unique_ = in.unique;
  if (!offered_) {
    Logger("fuse")->warn(
        "io_uring: the kernel does not offer FUSE-over-io_uring (Linux 6.14+ with the fuse "
        "module's enable_uring set); requests come by /dev/fuse");
  }
}

ssize_t UringTransport::Impl::Write(int fd, iovec* iov, int count) {
  if (count < 1 || iov[0].iov_len < sizeof(fuse_out_header)) return ::writev(fd, iov, count);
  fuse_out_header out;
  std::memcpy(&out, iov[0].iov_base, sizeof(out));
  if (out.unique != 0 && out.unique == init_unique_.load()) return WriteInitReply(fd, iov, count);
  RingEntry* e = Take(out.unique);
  if (e == nullptr) return ::writev(fd, iov, count);
  return e->queue->CatchReply(e, iov, count);
}

ssize_t UringTransport::Impl::WriteInitReply(int fd, iovec* iov, int count) {
  init_unique_ = 0;
  fuse_out_header out;
  std::memcpy(&out, iov[0].iov_base, sizeof(out));
  const bool take = offered_ && out.error == 0 && count >= 2 &&
                    iov[1].iov_len >= offsetof(fuse_init_out, flags2) + sizeof(uint32_t);
  if (take) {
    auto* r = static_cast<fuse_init_out*>(iov[1].iov_base);
    r->flags |= FUSE_INIT_EXT;  // flags2 is read only with it
    r->flags2 |= static_cast<uint32_t>(abi::kInitOverIoUring >> 32);
    const size_t pages = (r->flags & FUSE_MAX_PAGES) != 0 ? r->max_pages : 32;
    payload_bytes_ = std::max({abi::kMinPayloadBytes, size_t{r->max_write}, pages * kPage});
    payload_bytes_ = (payload_bytes_ + kPage - 1) / kPage * kPage;
  }
  const ssize_t n = ::writev(fd, iov, count);
  if (n >= 0 && take) StartQueues();
  return n;
}

void UringTransport::Impl::StartQueues() {
  // The kernel routes requests to the rings once every queue has entries; until then, and for
  // good if a queue cannot be set up, they come by /dev/fuse.
  try {
    StartWorkers();
    const unsigned cpus = PossibleCpus();
    for (unsigned q = 0; q < cpus; ++q) {
      queues_.push_back(
          std::make_unique<UringQueue>(this, static_cast<uint16_t>(q), options_.depth));
      if (Status s = queues_.back()->Start(); !s.ok()) {
        Logger("fuse")->warn("io_uring: queue {}: {}; requests stay on /dev/fuse", q, s.ToString());
        return;
      }
    }
    Logger("fuse")->info("io_uring: {} queues of {} entries ({} KiB payload each), {} workers",
                         cpus, options_.depth, payload_bytes_ / 1024, options_.workers);
  } catch (const std::exception& e) {
    Logger("fuse")->warn("io_uring: cannot start the queues ({}); requests stay on /dev/fuse",
                         e.what());
  }
}

void UringTransport::Impl::StartWorkers() {
  for (unsigned w = 0; w < options_.workers; ++w) {
    workers_.emplace_back([this] {
      for (;;) {
        RingEntry* e = nullptr;
        {
          std::unique_lock lock(work_mu_);
          work_cv_.wait(lock, [this] { return stopping_ || !work_.empty(); });
          if (stopping_) return;
          e = work_.front();
          work_.pop_front();
        }
        ServeOnWorker(e);
      }
    });
  }
}

void UringTransport::Impl::Work(RingEntry* e) {
  {
    std::lock_guard lock(work_mu_);
    work_.push_back(e);
  }
  work_cv_.notify_one();
}

void UringTransport::Impl::Register(uint64_t unique, RingEntry* e) {
  std::lock_guard lock(flight_mu_);
  in_flight_[unique] = e;
}

RingEntry* UringTransport::Impl::Take(uint64_t unique) {
  std::lock_guard lock(flight_mu_);
  auto it = in_flight_.find(unique);
  if (it == in_flight_.end()) return nullptr;
  RingEntry* e = it->second;
  in_flight_.erase(it);
  return e;
}

// A request in /dev/fuse form (header, per-op header, payload), run through libfuse; the
// handler's reply comes back by Write() into the entry. The kernel fills a ring request's
// fuse_in_header as for /dev/fuse, len included: the per-op header's size is what len leaves
// after the header and the payload.
void UringTransport::Impl::ServeOnWorker(RingEntry* e) {
  fuse_in_header in;
  std::memcpy(&in, e->header->in_out, sizeof(in));
  const size_t payload = e->header->ent.payload_sz;
  if (in.len < sizeof(in) + payload || in.len - sizeof(in) - payload > sizeof(e->header->op_in) ||
      payload > payload_bytes_) {
    Logger("fuse")->warn("io_uring: malformed request (opcode {}, len {}, payload {})", in.opcode,
                         in.len, payload);
    e->queue->Fail(e, EIO);
    return;
  }
  const size_t op = in.len - sizeof(in) - payload;
  thread_local std::vector<char> request;
  try {
    request.resize(in.len);
  } catch (const std::bad_alloc&) {
    e->queue->Fail(e, ENOMEM);
    return;
  }
  std::memcpy(request.data(), &in, sizeof(in));
  std::memcpy(request.data() + sizeof(in), e->header->op_in, op);
  std::memcpy(request.data() + sizeof(in) + op, e->payload, payload);
  Register(in.unique, e);
  fuse_buf buf{};
  buf.size = in.len;
  buf.mem = request.data();
  fuse_session_process_buf(session_, &buf);
  // Every handler of ours replies before it returns; an entry without a reply would be lost.
  if (Take(in.unique) == e) e->queue->Fail(e, EIO);
}

UringTransport::Impl::~Impl() {
  {
    std::lock_guard lock(work_mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& w : workers_) w.join();
  for (auto& q : queues_) q->Stop();
  Unhook(this);
  queues_.clear();
}

// --- a queue ---

Status UringQueue::Start() {
  if (Status s = Setup(); !s.ok()) return s;
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

Status UringQueue::Setup() {
  const size_t payload = t_->payload_bytes();
  memory_bytes_ = size_t{depth_} * (kPage + payload);
  memory_ = ::mmap(nullptr, memory_bytes_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (memory_ == MAP_FAILED) return Status::FromErrno(errno, "io_uring entry buffers");
  auto* base = static_cast<std::byte*>(memory_);
  entries_.resize(depth_);
  for (unsigned i = 0; i < depth_; ++i) {
    RingEntry& e = entries_[i];
    e.queue = this;
    e.header = reinterpret_cast<abi::ReqHeader*>(base + size_t{i} * kPage);
    e.payload = base + size_t{depth_} * kPage + size_t{i} * payload;
    e.iov[0] = {e.header, sizeof(abi::ReqHeader)};
    e.iov[1] = {e.payload, payload};
  }
  io_uring_params params{};
  params.flags = IORING_SETUP_SQE128 | IORING_SETUP_CQSIZE;
  params.cq_entries = 4 * depth_;
  if (const int rc = io_uring_queue_init_params(2 * depth_ + 2, &ring_, &params); rc < 0) {
    return Status::FromErrno(-rc, "io_uring_queue_init");
  }
  ring_ready_ = true;
  const int files[1] = {t_->fuse_fd()};
  if (const int rc = io_uring_register_files(&ring_, files, 1); rc < 0) {
    return Status::FromErrno(-rc, "io_uring_register_files(/dev/fuse)");
  }
  event_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (event_fd_ < 0) return Status::FromErrno(errno, "eventfd");
  return Status::Ok();
}

void UringQueue::Run() {
  // Not pinned to the queue's CPU: the kernel picks the queue by the CPU of the task that
  // reads, and a queue thread left free to run on another CPU serves it in parallel with the
  // reader (QD16 35-42k against 23-33k IOPS pinned, on 2 cores: docs/benchmarks.md).
  ArmEventPoll();
  for (RingEntry& e : entries_) SubmitCommand(&e, abi::kCmdRegister);
  if (!Serve()) {
    Logger("fuse")->warn("io_uring: queue {} stopped", qid_);
  }
}

io_uring_sqe* UringQueue::Sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {  // full: flush and retry
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  if (sqe != nullptr) std::memset(sqe, 0, 2 * sizeof(io_uring_sqe));  // SQE128
  return sqe;
}

void UringQueue::SubmitCommand(RingEntry* e, uint32_t cmd) {
  io_uring_sqe* sqe = Sqe();
  if (sqe == nullptr) {  // cannot happen: two SQEs per entry and one for the poll
    Logger("fuse")->error("io_uring: queue {} has no free SQE; entry lost", qid_);
    e->dead = true;
    return;
  }
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->flags = IOSQE_FIXED_FILE;
  sqe->fd = 0;
  sqe->cmd_op = cmd;
  if (cmd == abi::kCmdRegister) {
    sqe->addr = reinterpret_cast<uint64_t>(e->iov);
    sqe->len = 2;
  }
  abi::CmdReq req{};
  req.commit_id = cmd == abi::kCmdRegister ? 0 : e->commit_id;
  req.qid = qid_;
  std::memcpy(reinterpret_cast<char*>(sqe) + abi::kSqeCmdOffset, &req, sizeof(req));
  io_uring_sqe_set_data64(sqe, reinterpret_cast<uint64_t>(e));
}

void UringQueue::ArmEventPoll() {
  io_uring_sqe* sqe = Sqe();
  if (sqe == nullptr) return;
  io_uring_prep_poll_multishot(sqe, event_fd_, POLLIN);
  io_uring_sqe_set_data64(sqe, kEventTag);
}

bool UringQueue::Serve() {
  size_t dead = 0;
  for (;;) {
    io_uring_cqe* cqe = nullptr;
    const int rc = io_uring_submit_and_wait(&ring_, 1);
    if (rc == -EINTR || rc == -EAGAIN || rc == -EBUSY) continue;
    if (rc < 0) {
      Logger("fuse")->warn("io_uring: queue {}: {}", qid_, ErrorText(-rc));
      return false;
    }
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++seen;
      const uint64_t data = io_uring_cqe_get_data64(cqe);
      if (data == kEventTag) {
        if (stop_.load()) {
          io_uring_cq_advance(&ring_, seen);
          return true;
        }
        CommitDone();
        if ((cqe->flags & IORING_CQE_F_MORE) == 0) ArmEventPoll();
        continue;
      }
      auto* e = reinterpret_cast<RingEntry*>(data & ~kReadTag);
      if ((data & kReadTag) != 0) {
        FinishFastRead(e, cqe->res);
      } else if (cqe->res == 0) {
        Dispatch(e);
      } else if (cqe->res == -EINTR || cqe->res == -EAGAIN) {
        SubmitCommand(e, e->commit_id == 0 ? abi::kCmdRegister : abi::kCmdCommitAndFetch);
      } else {
        // The connection is gone (unmounted, aborted: ENOTCONN, ENODEV, ECANCELED), or the
        // kernel refused the entry (a registration it does not accept).
        if (cqe->res != -ENOTCONN && cqe->res != -ENODEV && cqe->res != -ECANCELED) {
          Logger("fuse")->warn("io_uring: queue {}: entry ended: {}", qid_, ErrorText(-cqe->res));
        }
        if (!e->dead) ++dead;
        e->dead = true;
      }
    }
    io_uring_cq_advance(&ring_, seen);
    if (dead == entries_.size()) return true;
  }
}

void UringQueue::Dispatch(RingEntry* e) {
  e->commit_id = e->header->ent.commit_id;
  TransportStats& stats = t_->stats();
  stats.ring_requests.fetch_add(1, std::memory_order_relaxed);
  stats.io_uring.store(true, std::memory_order_relaxed);
  fuse_in_header in;
  std::memcpy(&in, e->header->in_out, sizeof(in));
  if (in.opcode == FUSE_READ && (TryMemoryRead(e) || TryFastRead(e))) return;
  t_->Work(e);
}

// A read whose block the fetcher holds in memory (a stream's readahead): copied into the entry
// and answered at once.
bool UringQueue::TryMemoryRead(RingEntry* e) {
  fuse_read_in r;
  std::memcpy(&r, e->header->op_in, sizeof(r));
  auto* file = reinterpret_cast<Filesystem::OpenFile*>(r.fh);
  if (file == nullptr || r.size > t_->payload_bytes()) return false;
  std::optional<FetchedSlice> slice;
  try {
    slice = t_->fs()->MemoryRead(*file, r.offset, r.size);
  } catch (const std::exception&) {
    return false;
  }
  if (!slice.has_value()) return false;
  std::memcpy(e->payload, slice->data.get(), slice->size);
  fuse_in_header in;
  std::memcpy(&in, e->header->in_out, sizeof(in));
  t_->fs()->NoteReadRequest(in.nodeid, r.offset, r.size);
  t_->stats().ring_memory_reads.fetch_add(1, std::memory_order_relaxed);
  PutReply(e, 0, slice->size);
  SubmitCommand(e, abi::kCmdCommitAndFetch);
  return true;
}

bool UringQueue::TryFastRead(RingEntry* e) {
  fuse_read_in r;
  std::memcpy(&r, e->header->op_in, sizeof(r));
  auto* file = reinterpret_cast<Filesystem::OpenFile*>(r.fh);
  if (file == nullptr) return false;
  std::unique_ptr<PendingSlice> plan;
  try {
    plan = t_->fs()->PlanRead(*file, r.offset, r.size);
  } catch (const std::exception&) {
    return false;
  }
  if (plan == nullptr) return false;
  const StoreExtent& extent = plan->range->extent();
  if (extent.length > t_->payload_bytes() || plan->range->skip() + plan->length > extent.length) {
    return false;
  }
  io_uring_sqe* sqe = Sqe();
  if (sqe == nullptr) return false;
  io_uring_prep_read(sqe, extent.fd, e->payload, extent.length, extent.offset);
  io_uring_sqe_set_data64(sqe, reinterpret_cast<uint64_t>(e) | kReadTag);
  e->fast = std::move(plan);
  return true;
}

void UringQueue::FinishFastRead(RingEntry* e, int res) {
  std::unique_ptr<PendingSlice> plan = std::move(e->fast);
  bool ok = false;
  try {
    ok = t_->fs()->FinishRead(*plan, e->payload, res);
  } catch (const std::exception&) {
    ok = false;
  }
  TransportStats& stats = t_->stats();
  if (!ok) {  // a miss after all: the worker's read fetches it
    stats.ring_fast_fallbacks.fetch_add(1, std::memory_order_relaxed);
    plan.reset();
    t_->Work(e);
    return;
  }
  const uint32_t skip = plan->range->skip();
  const size_t length = plan->length;
  if (skip != 0) std::memmove(e->payload, e->payload + skip, length);
  fuse_in_header in;
  std::memcpy(&in, e->header->in_out, sizeof(in));
  fuse_read_in r;
  std::memcpy(&r, e->header->op_in, sizeof(r));
  t_->fs()->NoteReadRequest(in.nodeid, r.offset, r.size);
  stats.ring_fast_reads.fetch_add(1, std::memory_order_relaxed);
  PutReply(e, 0, length);
  SubmitCommand(e, abi::kCmdCommitAndFetch);
}

void UringQueue::PutReply(RingEntry* e, int error, size_t size) {
  fuse_in_header in;
  std::memcpy(&in, e->header->in_out, sizeof(in));
  fuse_out_header out{};
  out.unique = in.unique;
  out.error = error == 0 ? 0 : -error;
  out.len = static_cast<uint32_t>(sizeof(out) + (error == 0 ? size : 0));
  std::memcpy(e->header->in_out, &out, sizeof(out));
  e->header->ent.payload_sz = static_cast<uint32_t>(error == 0 ? size : 0);
}

ssize_t UringQueue::CatchReply(RingEntry* e, const iovec* iov, int count) {
  size_t total = 0;
  for (int i = 0; i < count; ++i) total += iov[i].iov_len;
  fuse_out_header out;
  std::memcpy(&out, iov[0].iov_base, sizeof(out));
  const size_t body = total - sizeof(out);
  if (body > t_->payload_bytes()) {
    Logger("fuse")->warn("io_uring: a reply of {} bytes does not fit the entry", body);
    Fail(e, EIO);
    return static_cast<ssize_t>(total);
  }
  std::byte* at = e->payload;
  for (int i = 0; i < count; ++i) {
    const auto* from = static_cast<const std::byte*>(iov[i].iov_base);
    size_t n = iov[i].iov_len;
    if (i == 0) {
      from += sizeof(out);
      n -= sizeof(out);
    }
    if (n != 0) std::memcpy(at, from, n);
    at += n;
  }
  out.len = static_cast<uint32_t>(total);
  std::memcpy(e->header->in_out, &out, sizeof(out));
  e->header->ent.payload_sz = static_cast<uint32_t>(body);
  Done(e);
  return static_cast<ssize_t>(total);
}

void UringQueue::Fail(RingEntry* e, int error) {
  PutReply(e, error, 0);
  Done(e);
}

void UringQueue::Done(RingEntry* e) {
  {
    std::lock_guard lock(done_mu_);
    done_.push_back(e);
  }
  const uint64_t one = 1;
  // Fails only when the counter would overflow; the queue's thread reads it down.
  [[maybe_unused]] const ssize_t written = ::write(event_fd_, &one, sizeof(one));
}

void UringQueue::CommitDone() {
  uint64_t count;
  [[maybe_unused]] const ssize_t got = ::read(event_fd_, &count, sizeof(count));
  std::vector<RingEntry*> done;
  {
    std::lock_guard lock(done_mu_);
    done.swap(done_);
  }
  for (RingEntry* e : done) SubmitCommand(e, abi::kCmdCommitAndFetch);
}

void UringQueue::Stop() {
  stop_ = true;
  if (event_fd_ >= 0) {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = ::write(event_fd_, &one, sizeof(one));
  }
  if (thread_.joinable()) thread_.join();
}

UringQueue::~UringQueue() {
  Stop();
  if (ring_ready_) io_uring_queue_exit(&ring_);  // ends the commands still registered
  for (RingEntry& e : entries_) e.fast.reset();
  if (event_fd_ >= 0) ::close(event_fd_);
  if (memory_ != MAP_FAILED) ::munmap(memory_, memory_bytes_);
}

// --- the transport ---

Result<std::unique_ptr<UringTransport>> UringTransport::Attach(
    fuse_session* session, int fuse_fd, Filesystem* fs, const UringTransportOptions& options) {
  if (options.depth == 0 || options.workers == 0) {
    return Status::InvalidArgument("io_uring: depth and workers must be at least 1");
  }
  auto impl = std::make_unique<Impl>(session, fuse_fd, fs, options);
  if (!Hook(fuse_fd, impl.get())) return Status::Internal("io_uring: too many sessions hooked");
  fuse_custom_io io{};
  io.read = HookRead;
  io.writev = HookWritev;
  if (const int rc = fuse_session_custom_io(session, &io, fuse_fd); rc != 0) {
    Unhook(impl.get());
    return Status::Internal("io_uring: libfuse refused the I/O hooks: " + ErrorText(-rc));
  }
  return std::unique_ptr<UringTransport>(new UringTransport(std::move(impl)));
}

UringTransport::UringTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
UringTransport::~UringTransport() = default;

}  // namespace hoardfs
