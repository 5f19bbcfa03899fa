// IoUringBlockStore: the BlockStore on data files, read and written through pooled io_urings.
//
// Concurrency design. The hot path (Read) takes exactly one mutex, briefly, to lease a ring from
// the pool and to give it back; everything else it touches is lock-free: capacity is an atomic,
// and file descriptors live in a fixed array of atomics sized at Open for the largest number of
// files the store may ever have (files are never closed or removed while the store lives). Growth
// (rare) is serialised by grow_mu_, which publishes a new fd (release) before the capacity that
// makes it reachable (release), so a reader that sees a slot in capacity also sees its fd.
//
// Lock order: grow_mu_ and pool_mu_ are never held together. No lock is held during I/O.
#include "cache/block_store.h"

#include <fcntl.h>
#include <liburing.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "common/aligned_buffer.h"
#include "common/log.h"

namespace hoardfs {
namespace internal {
namespace {
std::atomic<bool> g_simulate_odirect_refusal{false};
}  // namespace

void SimulateODirectRefusalForTesting(bool on) { g_simulate_odirect_refusal.store(on); }
}  // namespace internal

namespace {

// Bounds the fd array. 4096 files of 16 GiB (the default) is 64 TiB of cache.
constexpr uint64_t kMaxDataFiles = 4096;
// BlockIo::slot is 32 bits.
constexpr uint64_t kMaxSlots = uint64_t{1} << 32;
// -EAGAIN/-EINTR completions are retried this many times per op before giving up.
constexpr unsigned kMaxRetries = 1000;

std::string DataFileName(uint64_t index) { return fmt::format("data-{:04d}.blk", index); }

int RetryOnEintr(auto fn) {
  int ret;
  do {
    ret = fn();
  } while (ret < 0 && errno == EINTR);
  return ret;
}

uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max()
                                                      : a + b;
}

Status ValidateOptions(const BlockStoreOptions& o) {
  if (o.dir.empty()) return Status::InvalidArgument("block store: options.dir is empty");
  if (o.block_size < kDirectIoAlignment || o.block_size % kDirectIoAlignment != 0) {
    return Status::InvalidArgument(fmt::format(
        "block store: block_size {} must be a positive multiple of 4096", o.block_size));
  }
  if (o.slots_per_file < 1) {
    return Status::InvalidArgument("block store: slots_per_file must be >= 1");
  }
  if (o.grow_step_slots < 1) {
    return Status::InvalidArgument("block store: grow_step_slots must be >= 1");
  }
  if (o.queue_depth < 1) return Status::InvalidArgument("block store: queue_depth must be >= 1");
  return Status::Ok();
}

// One op in flight on a ring; user_data of its SQE points here.
struct Request {
  BlockIo* op = nullptr;
  int fd = -1;
  uint64_t offset = 0;  // of the next transfer
  std::byte* buf = nullptr;
  uint32_t want = 0;  // bytes to transfer in all (AlignUp(length) when direct)
  uint32_t done = 0;  // bytes transferred so far
  unsigned retries = 0;
};

// A ring plus the per-op state it needs, reused across batches (no allocation per op).
// Used by one thread at a time (leased from the pool).
struct Ring {
  io_uring ring{};
  unsigned depth = 0;  // most ops in flight at once
  std::vector<Request> requests;
  std::vector<Request*> free_requests;
  std::vector<Request*> queued;  // prepared SQEs not yet accepted by the kernel, in order
  size_t queued_head = 0;
  std::vector<uint64_t> touched_files;  // Write scratch
  std::vector<Status> sync_status;      // Write scratch, parallel to touched_files
  bool broken = false;  // a fatal submit error: drained, then destroyed instead of pooled
  bool initialized = false;

  ~Ring() {
    if (initialized) io_uring_queue_exit(&ring);
  }

  static Result<std::unique_ptr<Ring>> Create(unsigned queue_depth) {
    auto r = std::make_unique<Ring>();
    io_uring_params params{};
    // SUBMIT_ALL: a bad SQE does not stop the rest of the batch. COOP_TASKRUN: completions are
    // run when we enter the kernel anyway (we always do, to submit or wait). CLAMP: huge depths.
    params.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CLAMP;
    int ret = io_uring_queue_init_params(queue_depth, &r->ring, &params);
    if (ret == -EINVAL) {  // kernel older than 5.19
      params = io_uring_params{};
      params.flags = IORING_SETUP_CLAMP;
      ret = io_uring_queue_init_params(queue_depth, &r->ring, &params);
    }
    if (ret < 0) return Status::FromErrno(-ret, "io_uring_queue_init");
    r->initialized = true;
    r->depth = std::min(queue_depth, r->ring.sq.ring_entries);
    r->requests.resize(r->depth);
    r->free_requests.reserve(r->depth);
    for (auto& req : r->requests) r->free_requests.push_back(&req);
    r->queued.reserve(r->depth);
    return r;
  }
};

class IoUringBlockStore final : public BlockStore {
 public:
  IoUringBlockStore(const BlockStoreOptions& options, bool direct, uint64_t max_files)
      : options_(options),
        direct_(direct),
        max_files_(max_files),
        max_slots_(std::min(kMaxSlots, max_files * options.slots_per_file)),
        fds_(std::make_unique<std::atomic<int>[]>(max_files)),
        log_(Logger("store")) {
    for (uint64_t i = 0; i < max_files_; ++i) fds_[i].store(-1, std::memory_order_relaxed);
  }

  ~IoUringBlockStore() override {
    for (uint64_t i = 0; i < max_files_; ++i) {
      int fd = fds_[i].load(std::memory_order_relaxed);
      if (fd >= 0) close(fd);
    }
    // Idle rings are destroyed with idle_rings_ (io_uring_queue_exit in ~Ring).
  }

  // Opens existing data files (and data-0000.blk if there is none) with `direct` flags.
  // Returns EINVAL-coded InvalidArgument if a data file refuses O_DIRECT.
  Status OpenFiles() {
    std::lock_guard<std::mutex> lock(grow_mu_);
    for (uint64_t k = 0; k < max_files_; ++k) {
      std::string path = Path(k);
      int flags = OpenFlags() | (k == 0 ? O_CREAT : 0);
      int fd = RetryOnEintr([&] { return open(path.c_str(), flags, 0644); });
      if (fd < 0) {
        int err = errno;
        if (err == ENOENT && k > 0) break;
        return Status::FromErrno(err, "open " + path);
      }
      fds_[k].store(fd, std::memory_order_release);
      struct stat st {};
      if (fstat(fd, &st) != 0) return Status::FromErrno(errno, "fstat " + path);
      file_slots_.push_back(std::min(static_cast<uint64_t>(st.st_size) / options_.block_size,
                                     options_.slots_per_file));
    }
    capacity_.store(ContiguousCapacity(), std::memory_order_release);
    log_->info("block store {}: {} data file(s), {} slots of {} bytes, {} I/O", options_.dir,
               file_slots_.size(), capacity_.load(), options_.block_size,
               direct_ ? "direct" : "buffered");
    return Status::Ok();
  }

  uint64_t capacity_slots() const override { return capacity_.load(std::memory_order_acquire); }
  bool direct_io() const override { return direct_; }
  uint32_t block_size() const override { return options_.block_size; }

  Status EnsureCapacity(uint64_t slots) override;
  void Read(std::span<BlockIo> ops, const std::function<void(BlockIo&)>& on_complete) override;
  void Write(std::span<BlockIo> ops) override;

 private:
  int OpenFlags() const { return O_RDWR | O_CLOEXEC | (direct_ ? O_DIRECT : 0); }
  std::string Path(uint64_t file) const { return options_.dir + "/" + DataFileName(file); }

  // REQUIRES: grow_mu_ held.
  uint64_t ContiguousCapacity() const {
    uint64_t total = 0;
    for (uint64_t s : file_slots_) {
      total += s;
      if (s < options_.slots_per_file) break;
    }
    return std::min(total, max_slots_);
  }

  Status GrowFile(uint64_t file, uint64_t from_slots, uint64_t to_slots);

  std::unique_ptr<Ring> AcquireRing(Status* status);
  void ReleaseRing(std::unique_ptr<Ring> ring);

  // Runs one batch of reads or writes on `ring`; calls on_complete (if any) per op as it finishes.
  // noexcept: the buffers are in flight until the loop ends, so nothing may unwind out of it.
  void RunBatch(Ring& ring, std::span<BlockIo> ops, bool write,
                const std::function<void(BlockIo&)>* on_complete) noexcept;
  void PrepSqe(Ring& ring, Request* req, bool write) noexcept;
  void Submit(Ring& ring, unsigned& inflight,
              const std::function<void(BlockIo&)>* on_complete) noexcept;
  std::string OpContext(const BlockIo& op, bool write) const;

  const BlockStoreOptions options_;
  const bool direct_;
  const uint64_t max_files_;
  const uint64_t max_slots_;
  // fds_[k] is data file k's descriptor, -1 until opened; written under grow_mu_, read lock-free.
  const std::unique_ptr<std::atomic<int>[]> fds_;
  std::atomic<uint64_t> capacity_{0};
  const std::shared_ptr<spdlog::logger> log_;

  std::mutex grow_mu_;
  std::vector<uint64_t> file_slots_;  // GUARDED_BY(grow_mu_): whole slots allocated per file
  bool warned_ftruncate_ = false;     // GUARDED_BY(grow_mu_)

  std::mutex pool_mu_;
  std::vector<std::unique_ptr<Ring>> idle_rings_;  // GUARDED_BY(pool_mu_)
};

// ---------------------------------------------------------------------------------------------
// Growth

Status IoUringBlockStore::GrowFile(uint64_t file, uint64_t from_slots, uint64_t to_slots) {
  const std::string path = Path(file);
  const int fd = fds_[file].load(std::memory_order_relaxed);
  const auto off = static_cast<off_t>(from_slots * options_.block_size);
  const auto len = static_cast<off_t>((to_slots - from_slots) * options_.block_size);
  if (RetryOnEintr([&] { return fallocate(fd, 0, off, len); }) == 0) return Status::Ok();
  const int err = errno;
  if (err != EOPNOTSUPP) return Status::FromErrno(err, "fallocate " + path);
  // The filesystem cannot preallocate: extend the file sparsely instead (a full disk then shows
  // up as ENOSPC on a later write, which fails that write).
  if (!warned_ftruncate_) {
    warned_ftruncate_ = true;
    log_->warn("fallocate not supported in {}; growing data files with ftruncate", options_.dir);
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) return Status::FromErrno(errno, "fstat " + path);
  if (st.st_size < off + len && RetryOnEintr([&] { return ftruncate(fd, off + len); }) != 0) {
    return Status::FromErrno(errno, "ftruncate " + path);
  }
  return Status::Ok();
}

Status IoUringBlockStore::EnsureCapacity(uint64_t slots) {
  if (slots <= capacity_.load(std::memory_order_acquire)) return Status::Ok();
  if (slots > max_slots_) {
    return Status::InvalidArgument(
        fmt::format("block store {}: {} slots requested, at most {} are addressable", options_.dir,
                    slots, max_slots_));
  }
  std::lock_guard<std::mutex> lock(grow_mu_);
  if (slots <= capacity_.load(std::memory_order_relaxed)) return Status::Ok();

  // Plan: every file before the last one needed becomes full; the last grows to its need
  // rounded up to the grow step (capped at the file's end).
  struct Step {
    uint64_t file, from, to;
  };
  std::vector<Step> plan;
  uint64_t growth_bytes = 0;
  const uint64_t spf = options_.slots_per_file;
  for (uint64_t k = 0; k * spf < slots; ++k) {
    const uint64_t need = std::min(spf, slots - k * spf);
    const uint64_t cur = k < file_slots_.size() ? file_slots_[k] : 0;
    if (cur >= need) continue;
    const uint64_t to = std::min(spf, (need + options_.grow_step_slots - 1) /
                                          options_.grow_step_slots * options_.grow_step_slots);
    plan.push_back({k, cur, to});
    growth_bytes += (to - cur) * options_.block_size;
  }

  struct statvfs vfs {};
  if (RetryOnEintr([&] { return statvfs(options_.dir.c_str(), &vfs); }) != 0) {
    return Status::FromErrno(errno, "statvfs " + options_.dir);
  }
  const uint64_t free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  if (free_bytes < SaturatingAdd(growth_bytes, options_.free_space_floor_bytes)) {
    return Status::ResourceExhausted(fmt::format(
        "block store {}: growing by {} bytes would leave less than the free-space floor of {} "
        "bytes ({} bytes free)",
        options_.dir, growth_bytes, options_.free_space_floor_bytes, free_bytes));
  }

  Status status;
  bool created = false;
  for (const Step& step : plan) {
    if (step.file >= file_slots_.size()) {  // files are created in order: step.file == size()
      const std::string path = Path(step.file);
      int fd = RetryOnEintr([&] { return open(path.c_str(), OpenFlags() | O_CREAT, 0644); });
      if (fd < 0) {
        status = Status::FromErrno(errno, "create " + path);
        break;
      }
      fds_[step.file].store(fd, std::memory_order_release);
      file_slots_.push_back(0);
      created = true;
    }
    status = GrowFile(step.file, step.from, step.to);
    if (!status.ok()) break;
    file_slots_[step.file] = step.to;
  }
  if (created) {
    // Make the new files' names durable, or a crash could lose blocks the index refers to.
    int dfd = open(options_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || RetryOnEintr([&] { return fsync(dfd); }) != 0) {
      if (status.ok()) status = Status::FromErrno(errno, "fsync " + options_.dir);
    }
    if (dfd >= 0) close(dfd);
  }
  capacity_.store(ContiguousCapacity(), std::memory_order_release);
  return status;
}

// ---------------------------------------------------------------------------------------------
// Ring pool

std::unique_ptr<Ring> IoUringBlockStore::AcquireRing(Status* status) {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (!idle_rings_.empty()) {
      std::unique_ptr<Ring> ring = std::move(idle_rings_.back());
      idle_rings_.pop_back();
      return ring;
    }
  }
  auto created = Ring::Create(options_.queue_depth);
  if (!created.ok()) {
    *status = created.status();
    log_->error("block store {}: {}", options_.dir, status->ToString());
    return nullptr;
  }
  return std::move(created).value();
}

void IoUringBlockStore::ReleaseRing(std::unique_ptr<Ring> ring) {
  if (ring->broken) return;  // destroyed here; nothing is in flight on it
  std::lock_guard<std::mutex> lock(pool_mu_);
  idle_rings_.push_back(std::move(ring));
}

// ---------------------------------------------------------------------------------------------
// I/O

std::string IoUringBlockStore::OpContext(const BlockIo& op, bool write) const {
  return fmt::format("{} slot {} ({}/{} offset {})", write ? "write" : "read", op.slot,
                     options_.dir, DataFileName(op.slot / options_.slots_per_file),
                     op.slot % options_.slots_per_file * options_.block_size);
}

void IoUringBlockStore::PrepSqe(Ring& ring, Request* req, bool write) noexcept {
  // Never null: each request owns at most one SQE and depth <= the SQ size.
  io_uring_sqe* sqe = io_uring_get_sqe(&ring.ring);
  const uint32_t len = req->want - req->done;
  if (write) {
    io_uring_prep_write(sqe, req->fd, req->buf, len, req->offset);
  } else {
    io_uring_prep_read(sqe, req->fd, req->buf, len, req->offset);
  }
  io_uring_sqe_set_data(sqe, req);
  ring.queued.push_back(req);
}

void IoUringBlockStore::Submit(Ring& ring, unsigned& inflight,
                               const std::function<void(BlockIo&)>* on_complete) noexcept {
  unsigned busy_retries = 0;
  while (ring.queued_head < ring.queued.size()) {
    int ret = io_uring_submit(&ring.ring);
    if (ret > 0) {
      ring.queued_head += static_cast<size_t>(ret);
      continue;
    }
    if (ret == -EINTR) continue;
    const bool transient = ret == 0 || ret == -EAGAIN || ret == -EBUSY;
    const size_t unsubmitted = ring.queued.size() - ring.queued_head;
    if (transient && inflight > unsubmitted) {
      // Reap completions, then submit the rest on the next call.
      ring.queued.erase(ring.queued.begin(),
                        ring.queued.begin() + static_cast<std::ptrdiff_t>(ring.queued_head));
      ring.queued_head = 0;
      return;
    }
    if (transient && ++busy_retries < kMaxRetries) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    // Fatal: the kernel will never see the queued SQEs. Fail their ops; the caller drains what is
    // in flight and the ring is then destroyed rather than reused.
    ring.broken = true;
    const Status failed = Status::FromErrno(ret == 0 ? EAGAIN : -ret, "io_uring_submit");
    log_->error("block store {}: {}; retiring the ring", options_.dir, failed.ToString());
    for (size_t i = ring.queued_head; i < ring.queued.size(); ++i) {
      Request* req = ring.queued[i];
      req->op->status = failed;
      --inflight;
      ring.free_requests.push_back(req);
      if (on_complete != nullptr && *on_complete) (*on_complete)(*req->op);
    }
    break;
  }
  ring.queued.clear();
  ring.queued_head = 0;
}

void IoUringBlockStore::RunBatch(Ring& ring, std::span<BlockIo> ops, bool write,
                                 const std::function<void(BlockIo&)>* on_complete) noexcept {
  const uint64_t capacity = capacity_.load(std::memory_order_acquire);
  const uint64_t spf = options_.slots_per_file;
  auto finish = [&](BlockIo& op) {
    if (on_complete != nullptr && *on_complete) (*on_complete)(op);
  };

  size_t next = 0;
  unsigned inflight = 0;
  for (;;) {
    // Refill the ring with pending ops.
    while (!ring.broken && inflight < ring.depth && next < ops.size()) {
      BlockIo& op = ops[next++];
      if (op.slot >= capacity) {
        op.status = Status::InvalidArgument(
            fmt::format("{}: beyond capacity of {} slots", OpContext(op, write), capacity));
      } else if (op.length == 0 || op.length > options_.block_size) {
        op.status = Status::InvalidArgument(fmt::format(
            "{}: length {} not in 1..{}", OpContext(op, write), op.length, options_.block_size));
      } else if (op.buf == nullptr ||
                 reinterpret_cast<uintptr_t>(op.buf) % kDirectIoAlignment != 0) {
        op.status = Status::InvalidArgument(OpContext(op, write) + ": buffer is not 4096-aligned");
      } else {
        Request* req = ring.free_requests.back();
        ring.free_requests.pop_back();
        req->op = &op;
        req->fd = fds_[op.slot / spf].load(std::memory_order_acquire);
        req->offset = op.slot % spf * options_.block_size;
        req->buf = static_cast<std::byte*>(op.buf);
        req->want = direct_ ? static_cast<uint32_t>(AlignUp(op.length)) : op.length;
        req->done = 0;
        req->retries = 0;
        PrepSqe(ring, req, write);
        ++inflight;
        continue;
      }
      finish(op);
    }
    if (ring.broken) {
      for (; next < ops.size(); ++next) {
        ops[next].status = Status::Aborted(OpContext(ops[next], write) + ": io_uring failed");
        finish(ops[next]);
      }
    }
    Submit(ring, inflight, on_complete);
    if (inflight == 0) {
      if (next >= ops.size()) return;
      continue;
    }

    io_uring_cqe* cqe = nullptr;
    int ret = io_uring_wait_cqe(&ring.ring, &cqe);
    if (ret < 0) {
      if (ret == -EINTR || ret == -EAGAIN || ret == -ETIME) continue;
      // Buffers are in flight and we cannot learn when the kernel is done with them: returning
      // would hand the caller memory the kernel may still write. This cannot happen with a sane
      // ring; do not pretend to recover.
      log_->critical("block store {}: io_uring_wait_cqe failed ({}); aborting", options_.dir, ret);
      std::abort();
    }
    do {
      Request* req = static_cast<Request*>(io_uring_cqe_get_data(cqe));
      const int res = cqe->res;
      io_uring_cqe_seen(&ring.ring, cqe);
      BlockIo& op = *req->op;
      bool resubmit = false;
      if (res < 0) {
        if ((res == -EAGAIN || res == -EINTR) && ++req->retries < kMaxRetries) {
          resubmit = true;
        } else {
          op.status = Status::FromErrno(-res, OpContext(op, write));
        }
      } else if (res == 0) {
        if (write) {
          op.status = Status::IOError(OpContext(op, write) + ": write made no progress");
        } else if (req->done >= op.length) {
          op.status = Status::Ok();  // end of file inside the padding of a short block
        } else {
          op.status = Status::Corruption(
              fmt::format("data file truncated: slot {} ({})", op.slot, OpContext(op, write)));
        }
      } else {
        req->done += static_cast<uint32_t>(res);
        if (req->done >= req->want) {
          op.status = Status::Ok();
        } else if (direct_ && req->done % kDirectIoAlignment != 0) {
          // A direct transfer stops off-alignment only at end of file; the remainder cannot be
          // resubmitted (it would be misaligned).
          if (!write && req->done >= op.length) {
            op.status = Status::Ok();
          } else if (!write) {
            op.status = Status::Corruption(
                fmt::format("data file truncated: slot {} ({})", op.slot, OpContext(op, write)));
          } else {
            op.status = Status::IOError(OpContext(op, write) + ": unaligned short write");
          }
        } else {
          req->offset += static_cast<uint64_t>(res);
          req->buf += res;
          resubmit = true;
        }
      }
      if (resubmit && ring.broken) {
        op.status = Status::Aborted(OpContext(op, write) + ": io_uring failed");
        resubmit = false;
      }
      if (resubmit) {
        PrepSqe(ring, req, write);
      } else {
        --inflight;
        ring.free_requests.push_back(req);
        finish(op);
      }
    } while (io_uring_peek_cqe(&ring.ring, &cqe) == 0);
  }
}

void IoUringBlockStore::Read(std::span<BlockIo> ops,
                             const std::function<void(BlockIo&)>& on_complete) {
  if (ops.empty()) return;
  Status status;
  std::unique_ptr<Ring> ring = AcquireRing(&status);
  if (ring == nullptr) {
    for (BlockIo& op : ops) {
      op.status = status;
      if (on_complete) on_complete(op);
    }
    return;
  }
  RunBatch(*ring, ops, /*write=*/false, &on_complete);
  ReleaseRing(std::move(ring));
}

void IoUringBlockStore::Write(std::span<BlockIo> ops) {
  if (ops.empty()) return;
  Status status;
  std::unique_ptr<Ring> ring = AcquireRing(&status);
  if (ring == nullptr) {
    for (BlockIo& op : ops) op.status = status;
    return;
  }
  RunBatch(*ring, ops, /*write=*/true, nullptr);

  // Durability: fdatasync each file that received a complete write. Usually one file.
  std::vector<uint64_t>& touched = ring->touched_files;
  std::vector<Status>& synced = ring->sync_status;
  touched.clear();
  for (const BlockIo& op : ops) {
    const uint64_t file = op.slot / options_.slots_per_file;
    if (op.status.ok() && std::find(touched.begin(), touched.end(), file) == touched.end()) {
      touched.push_back(file);
    }
  }
  synced.assign(touched.size(), Status::Ok());
  for (size_t i = 0; i < touched.size(); ++i) {
    const int fd = fds_[touched[i]].load(std::memory_order_acquire);
    if (RetryOnEintr([&] { return fdatasync(fd); }) != 0) {
      synced[i] = Status::FromErrno(errno, "fdatasync " + Path(touched[i]));
    }
  }
  for (BlockIo& op : ops) {
    if (!op.status.ok()) continue;
    const uint64_t file = op.slot / options_.slots_per_file;
    const size_t i =
        static_cast<size_t>(std::find(touched.begin(), touched.end(), file) - touched.begin());
    op.status = synced[i];
  }
  ReleaseRing(std::move(ring));
}

// Decides whether O_DIRECT works in `dir` by writing and reading one aligned page in a probe file.
// Returns false (and a reason) only for EINVAL, the way filesystems refuse O_DIRECT; other errors
// are returned as a Status (an unwritable directory fails Open here, with the errno's code).
Result<bool> ProbeDirectIo(const std::string& dir, std::string* reason) {
  if (internal::g_simulate_odirect_refusal.load()) {
    *reason = "simulated for testing";
    return false;
  }
  const std::string path = dir + "/.direct-io-probe";
  int fd = RetryOnEintr(
      [&] { return open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0600); });
  if (fd < 0) {
    const int err = errno;
    if (err == EINVAL) {
      *reason = "open with O_DIRECT: EINVAL";
      return false;
    }
    return Status::FromErrno(err, "create " + path);
  }
  bool direct = true;
  AlignedBuffer page(kDirectIoAlignment);
  std::fill(page.data(), page.data() + page.capacity(), std::byte{0});
  ssize_t n = pwrite(fd, page.data(), kDirectIoAlignment, 0);
  if (n < 0 && errno == EINVAL) {
    *reason = "O_DIRECT write: EINVAL";
    direct = false;
  } else if (n == static_cast<ssize_t>(kDirectIoAlignment)) {
    n = pread(fd, page.data(), kDirectIoAlignment, 0);
    if (n < 0 && errno == EINVAL) {
      *reason = "O_DIRECT read: EINVAL";
      direct = false;
    }
  }
  close(fd);
  unlink(path.c_str());
  return direct;
}

}  // namespace

Result<std::unique_ptr<BlockStore>> BlockStore::Open(const BlockStoreOptions& options) {
  HOARDFS_RETURN_IF_ERROR(ValidateOptions(options));
  struct stat st {};
  if (stat(options.dir.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) {
      return Status::NotFound("block store directory does not exist: " + options.dir);
    }
    return Status::FromErrno(err, "stat " + options.dir);
  }
  if (!S_ISDIR(st.st_mode)) {
    return Status::FromErrno(ENOTDIR, "block store directory " + options.dir);
  }

  auto log = Logger("store");
  bool direct = false;
  if (options.use_direct_io) {
    std::string reason;
    HOARDFS_ASSIGN_OR_RETURN(direct, ProbeDirectIo(options.dir, &reason));
    if (!direct) {
      log->warn("block store {}: O_DIRECT refused ({}); using buffered I/O", options.dir, reason);
    }
  }

  const uint64_t max_files =
      std::min(kMaxDataFiles, (kMaxSlots + options.slots_per_file - 1) / options.slots_per_file);
  auto store = std::make_unique<IoUringBlockStore>(options, direct, max_files);
  Status status = store->OpenFiles();
  if (direct && status.code() == StatusCode::kInvalidArgument) {
    // The probe passed but a data file refuses O_DIRECT (EINVAL at open): go buffered.
    log->warn("block store {}: O_DIRECT refused on a data file ({}); using buffered I/O",
              options.dir, status.ToString());
    store = std::make_unique<IoUringBlockStore>(options, false, max_files);
    status = store->OpenFiles();
  }
  if (!status.ok()) return status;
  return std::unique_ptr<BlockStore>(std::move(store));
}

}  // namespace hoardfs
