// IoUringBlockStore: the BlockStore on data files, read and written through pooled io_urings.
//
// Concurrency design. The hot path (Read) takes exactly one mutex, briefly, to lease a ring from
// the pool and to give it back; everything else it touches is lock-free: each size class's capacity
// is an atomic, and file descriptors live in per-class fixed arrays of atomics sized at Open for
// the largest number of files the class may ever have (files are never closed or removed while the
// store lives). Allocation (rare) is serialised by grow_mu_, which publishes a new fd (release)
// before the capacity that makes it reachable (release), so a reader that sees a slot in capacity
// also sees its fd. Deallocate (hole punching) takes no lock: it only needs fds already published.
//
// Lock order: grow_mu_ and pool_mu_ are never held together. No lock is held during I/O.
#include "cache/block_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <liburing.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
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

// Bounds the fd array of a class. 4096 files of 16 GiB (the default) is 64 TiB of cache.
constexpr uint64_t kMaxDataFiles = 4096;
// -EAGAIN/-EINTR completions are retried this many times per op before giving up.
constexpr unsigned kMaxRetries = 1000;

// Format v1 data files: their index is gone once a v2 store opens the directory.
bool IsLegacyDataFile(std::string_view name) {
  return name.size() == 13 && name.starts_with("data-") && name.ends_with(".blk");
}

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

// Writes to adjacent slots of one data file go to the kernel as one transfer (writev) of at most
// this many ops and bytes: one request, one trip through the filesystem's direct-I/O path (extent
// lookup, unwritten-extent conversion, bio) instead of one per op. A sparse read caches ~10 small
// pieces per basket, and the writer gives them consecutive slots.
constexpr uint32_t kMaxOpsPerWrite = 64;
constexpr uint64_t kMaxBytesPerWrite = 8u << 20;

// Reads of ops that follow each other in a batch and sit side by side in one data file go to
// the kernel as one transfer (readv) of at most this many ops and bytes. The pieces of a sparse
// read's basket were written to consecutive slots, so reading them back is one or two transfers
// instead of ~10. Whole blocks stay one transfer each (two do not fit in the byte bound), so that
// each block's checksum still overlaps the reads of the next ones.
constexpr uint32_t kMaxOpsPerRead = 64;
constexpr uint64_t kMaxBytesPerRead = 1u << 20;

// One transfer in flight on a ring; user_data of its SQE points here: one op, or several ops of
// adjacent places in one data file (`ops`, in file order, `count` of them).
struct Request {
  BlockIo* const* ops = nullptr;
  uint32_t count = 0;
  int fd = -1;
  uint64_t offset = 0;  // where the transfer starts in the file
  uint32_t want = 0;    // bytes to transfer in all (each op: AlignUp(length) when direct)
  uint32_t done = 0;    // bytes transferred so far
  unsigned retries = 0;
  std::vector<iovec> iov;  // several ops: the buffers of what is left to transfer

  BlockIo& first() const { return *ops[0]; }
  BlockIo& last() const { return *ops[count - 1]; }
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
  std::vector<BlockIo*> order;          // RunBatch scratch: the ops to submit, in order
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

// One size class: its slot size, file geometry and descriptors.
struct ClassFiles {
  uint32_t size = 0;            // slot size
  uint64_t slots_per_file = 0;  // spf_c
  uint64_t max_files = 0;
  uint64_t max_slots = 0;
  // fds[k] is data file k's descriptor, -1 until opened; written under grow_mu_, read lock-free.
  std::unique_ptr<std::atomic<int>[]> fds;
  std::atomic<uint64_t> capacity{0};
  std::vector<uint64_t> file_slots;  // GUARDED_BY(grow_mu_): whole slots allocated per file
};

class IoUringBlockStore final : public BlockStore {
 public:
  IoUringBlockStore(const BlockStoreOptions& options, bool direct)
      : BlockStore(options.block_size), options_(options), direct_(direct), log_(Logger("store")) {
    const uint64_t file_bytes = options.slots_per_file * options.block_size;
    for (unsigned c = 0; c < classes().count(); ++c) {
      ClassFiles& cf = classes_[c];
      cf.size = classes().size(c);
      cf.slots_per_file = std::max<uint64_t>(1, file_bytes / cf.size);
      cf.max_files =
          std::min(kMaxDataFiles, (kMaxSlotsPerClass + cf.slots_per_file - 1) / cf.slots_per_file);
      cf.max_slots = std::min(kMaxSlotsPerClass, cf.max_files * cf.slots_per_file);
      cf.fds = std::make_unique<std::atomic<int>[]>(cf.max_files);
      for (uint64_t i = 0; i < cf.max_files; ++i) cf.fds[i].store(-1, std::memory_order_relaxed);
    }
  }

  ~IoUringBlockStore() override {
    for (unsigned c = 0; c < classes().count(); ++c) {
      for (uint64_t i = 0; i < classes_[c].max_files; ++i) {
        int fd = classes_[c].fds[i].load(std::memory_order_relaxed);
        if (fd >= 0) close(fd);
      }
    }
    // Idle rings are destroyed with idle_rings_ (io_uring_queue_exit in ~Ring).
  }

  // Opens existing data files (and class 0's first file if there is none) with `direct` flags.
  // Returns EINVAL-coded InvalidArgument if a data file refuses O_DIRECT.
  Status OpenFiles() {
    std::lock_guard<std::mutex> lock(grow_mu_);
    uint64_t total = 0;
    for (unsigned c = 0; c < classes().count(); ++c) {
      ClassFiles& cf = classes_[c];
      for (uint64_t k = 0; k < cf.max_files; ++k) {
        std::string path = Path(c, k);
        int flags = OpenFlags() | (c == 0 && k == 0 ? O_CREAT : 0);
        int fd = RetryOnEintr([&] { return open(path.c_str(), flags, 0644); });
        if (fd < 0) {
          int err = errno;
          if (err == ENOENT) break;
          return Status::FromErrno(err, "open " + path);
        }
        cf.fds[k].store(fd, std::memory_order_release);
        struct stat st {};
        if (fstat(fd, &st) != 0) return Status::FromErrno(errno, "fstat " + path);
        cf.file_slots.push_back(
            std::min(static_cast<uint64_t>(st.st_size) / cf.size, cf.slots_per_file));
      }
      cf.capacity.store(ContiguousCapacity(cf), std::memory_order_release);
      total += cf.capacity.load() * cf.size;
    }
    log_->info("block store {}: {} size classes ({}..{} bytes), {} bytes in data files, {} I/O",
               options_.dir, classes().count(), classes().smallest(), options_.block_size, total,
               direct_ ? "direct" : "buffered");
    return Status::Ok();
  }

  uint64_t class_slots(unsigned size_class) const override {
    return size_class < classes().count()
               ? classes_[size_class].capacity.load(std::memory_order_acquire)
               : 0;
  }
  bool direct_io() const override { return direct_; }
  uint64_t write_transfers() const override { return write_transfers_.load(); }
  uint64_t read_transfers() const override { return read_transfers_.load(); }
  uint32_t block_size() const override { return options_.block_size; }

  Status Allocate(unsigned size_class, uint64_t first, uint64_t count) override;
  Status Grow(unsigned size_class, uint64_t slots) override;
  Status Deallocate(std::span<const uint32_t> slots) override;
  void Read(std::span<BlockIo> ops, const std::function<void(BlockIo&)>& on_complete) override;
  void Write(std::span<BlockIo> ops) override;
  Result<StoreExtent> Locate(uint32_t slot, uint32_t offset, uint32_t length) const override;

 private:
  int OpenFlags() const { return O_RDWR | O_CLOEXEC | (direct_ ? O_DIRECT : 0); }
  std::string Path(unsigned size_class, uint64_t file) const {
    return options_.dir + "/" + FileName(classes_[size_class].size, file);
  }

  // REQUIRES: grow_mu_ held.
  static uint64_t ContiguousCapacity(const ClassFiles& cf) {
    uint64_t total = 0;
    for (uint64_t s : cf.file_slots) {
      total += s;
      if (s < cf.slots_per_file) break;
    }
    return std::min(total, cf.max_slots);
  }

  struct Step {
    uint64_t file, from, to;  // slots within the file
  };
  // Runs `plan` (allocating with fallocate, creating files in order): REQUIRES grow_mu_ held.
  Status RunPlan(unsigned size_class, const std::vector<Step>& plan);
  Status CheckFloor(uint64_t growth_bytes) const;
  Status GrowFile(unsigned size_class, uint64_t file, uint64_t from_slots, uint64_t to_slots);

  std::unique_ptr<Ring> AcquireRing(Status* status);
  void ReleaseRing(std::unique_ptr<Ring> ring);

  // Runs one batch of reads or writes on `ring`; calls on_complete (if any) per op as it finishes.
  // noexcept: the buffers are in flight until the loop ends, so nothing may unwind out of it.
  void RunBatch(Ring& ring, std::span<BlockIo> ops, bool write,
                const std::function<void(BlockIo&)>* on_complete) noexcept;
  void PrepSqe(Ring& ring, Request* req, bool write) noexcept;
  // Whether `op` keeps the contract of Read/Write (else its status says why; no I/O).
  bool CheckOp(BlockIo& op, bool write) const;
  struct Place {
    int fd;
    uint64_t offset;
  };
  Place PlaceOf(const BlockIo& op) const;  // REQUIRES: CheckOp(op)
  // Bytes an op transfers: AlignUp(length) with O_DIRECT (the tail of a short block is padding).
  uint32_t OpBytes(const BlockIo& op) const {
    return direct_ ? static_cast<uint32_t>(AlignUp(op.length)) : op.length;
  }
  // Whether a read has every byte its ops asked for: all but the last op's O_DIRECT padding,
  // which end of file may cut short.
  bool ReadIsWhole(const Request& req) const {
    return req.done >= req.want - (OpBytes(req.last()) - req.last().length);
  }
  // Submits what is queued; with `and_wait`, also waits for at least one completion.
  void Submit(Ring& ring, unsigned& inflight, const std::function<void(BlockIo&)>* on_complete,
              bool and_wait) noexcept;
  std::string OpContext(const BlockIo& op, bool write) const;

  const BlockStoreOptions options_;
  const bool direct_;
  std::array<ClassFiles, kMaxSizeClasses> classes_;
  const std::shared_ptr<spdlog::logger> log_;

  std::atomic<uint64_t> write_transfers_{0};
  std::atomic<uint64_t> read_transfers_{0};

  std::mutex grow_mu_;
  bool warned_ftruncate_ = false;     // GUARDED_BY(grow_mu_)

  std::mutex pool_mu_;
  std::vector<std::unique_ptr<Ring>> idle_rings_;  // GUARDED_BY(pool_mu_)
};

// ---------------------------------------------------------------------------------------------
// Growth

Status IoUringBlockStore::GrowFile(unsigned size_class, uint64_t file, uint64_t from_slots,
                                   uint64_t to_slots) {
  const ClassFiles& cf = classes_[size_class];
  const std::string path = Path(size_class, file);
  const int fd = cf.fds[file].load(std::memory_order_relaxed);
  const auto off = static_cast<off_t>(from_slots * cf.size);
  const auto len = static_cast<off_t>((to_slots - from_slots) * cf.size);
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

Status IoUringBlockStore::CheckFloor(uint64_t growth_bytes) const {
  struct statvfs vfs {};
  if (RetryOnEintr([&] { return statvfs(options_.dir.c_str(), &vfs); }) != 0) {
    return Status::FromErrno(errno, "statvfs " + options_.dir);
  }
  const uint64_t free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  if (free_bytes < SaturatingAdd(growth_bytes, options_.free_space_floor_bytes)) {
    return Status::ResourceExhausted(fmt::format(
        "block store {}: allocating {} bytes would leave less than the free-space floor of {} "
        "bytes ({} bytes free)",
        options_.dir, growth_bytes, options_.free_space_floor_bytes, free_bytes));
  }
  return Status::Ok();
}

Status IoUringBlockStore::RunPlan(unsigned size_class, const std::vector<Step>& plan) {
  ClassFiles& cf = classes_[size_class];
  Status status;
  bool created = false;
  for (const Step& step : plan) {
    while (step.file >= cf.file_slots.size()) {  // files are created in order
      const uint64_t k = cf.file_slots.size();
      const std::string path = Path(size_class, k);
      int fd = RetryOnEintr([&] { return open(path.c_str(), OpenFlags() | O_CREAT, 0644); });
      if (fd < 0) {
        status = Status::FromErrno(errno, "create " + path);
        break;
      }
      cf.fds[k].store(fd, std::memory_order_release);
      cf.file_slots.push_back(0);
      created = true;
    }
    if (!status.ok()) break;
    status = GrowFile(size_class, step.file, step.from, step.to);
    if (!status.ok()) break;
    cf.file_slots[step.file] = std::max(cf.file_slots[step.file], step.to);
  }
  if (created) {
    // Make the new files' names durable, or a crash could lose blocks the index refers to.
    int dfd = open(options_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || RetryOnEintr([&] { return fsync(dfd); }) != 0) {
      if (status.ok()) status = Status::FromErrno(errno, "fsync " + options_.dir);
    }
    if (dfd >= 0) close(dfd);
  }
  cf.capacity.store(ContiguousCapacity(cf), std::memory_order_release);
  return status;
}

Status IoUringBlockStore::Allocate(unsigned size_class, uint64_t first, uint64_t count) {
  if (size_class >= classes().count()) {
    return Status::InvalidArgument(fmt::format("block store: no size class {}", size_class));
  }
  if (count == 0) return Status::Ok();
  ClassFiles& cf = classes_[size_class];
  if (first + count > cf.max_slots) {
    return Status::InvalidArgument(
        fmt::format("block store {}: slots up to {} of class {} requested, at most {} exist",
                    options_.dir, first + count, cf.size, cf.max_slots));
  }
  std::lock_guard<std::mutex> lock(grow_mu_);
  if (first > cf.capacity.load(std::memory_order_relaxed)) {
    return Status::InvalidArgument(fmt::format(
        "block store {}: allocation at slot {} of class {} would leave a gap (capacity {})",
        options_.dir, first, cf.size, cf.capacity.load()));
  }
  HOARDFS_RETURN_IF_ERROR(CheckFloor(count * cf.size));
  std::vector<Step> plan;
  const uint64_t spf = cf.slots_per_file;
  for (uint64_t s = first; s < first + count;) {
    const uint64_t file = s / spf;
    const uint64_t end = std::min(first + count, (file + 1) * spf);
    plan.push_back({file, s - file * spf, end - file * spf});
    s = end;
  }
  return RunPlan(size_class, plan);
}

Status IoUringBlockStore::Grow(unsigned size_class, uint64_t slots) {
  if (size_class >= classes().count()) {
    return Status::InvalidArgument(fmt::format("block store: no size class {}", size_class));
  }
  ClassFiles& cf = classes_[size_class];
  if (slots <= cf.capacity.load(std::memory_order_acquire)) return Status::Ok();
  if (slots > cf.max_slots) {
    return Status::InvalidArgument(
        fmt::format("block store {}: {} slots requested, at most {} are addressable", options_.dir,
                    slots, cf.max_slots));
  }
  std::lock_guard<std::mutex> lock(grow_mu_);
  if (slots <= cf.capacity.load(std::memory_order_relaxed)) return Status::Ok();

  // Plan: every file before the last one needed becomes full; the last grows to its need
  // rounded up to the grow step (capped at the file's end).
  std::vector<Step> plan;
  uint64_t growth_bytes = 0;
  const uint64_t spf = cf.slots_per_file;
  const uint64_t step_slots = options_.grow_step_slots;
  for (uint64_t k = 0; k * spf < slots; ++k) {
    const uint64_t need = std::min(spf, slots - k * spf);
    const uint64_t cur = k < cf.file_slots.size() ? cf.file_slots[k] : 0;
    if (cur >= need) continue;
    const uint64_t to = std::min(spf, (need + step_slots - 1) / step_slots * step_slots);
    plan.push_back({k, cur, to});
    growth_bytes += (to - cur) * cf.size;
  }
  HOARDFS_RETURN_IF_ERROR(CheckFloor(growth_bytes));
  return RunPlan(size_class, plan);
}

Status IoUringBlockStore::Deallocate(std::span<const uint32_t> slots) {
  std::vector<uint32_t> sorted(slots.begin(), slots.end());
  std::sort(sorted.begin(), sorted.end());
  Status status;
  for (size_t i = 0; i < sorted.size();) {
    const unsigned c = SlotClass(sorted[i]);
    if (c >= classes().count()) {
      ++i;
      continue;
    }
    const ClassFiles& cf = classes_[c];
    const uint64_t index = SlotIndex(sorted[i]);
    const uint64_t file = index / cf.slots_per_file;
    // The run of consecutive ids in the same file.
    size_t j = i + 1;
    while (j < sorted.size() && sorted[j] == sorted[j - 1] + 1 &&
           SlotIndex(sorted[j]) / cf.slots_per_file == file) {
      ++j;
    }
    const int fd = file < cf.max_files ? cf.fds[file].load(std::memory_order_acquire) : -1;
    if (fd >= 0) {
      const auto off = static_cast<off_t>(index % cf.slots_per_file * cf.size);
      const auto len = static_cast<off_t>((j - i) * cf.size);
      if (RetryOnEintr([&] {
            return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
          }) != 0) {
        const int err = errno;
        if (err == EOPNOTSUPP) {
          return Status::NotSupported("block store " + options_.dir +
                                      ": the filesystem cannot punch holes");
        }
        if (status.ok()) status = Status::FromErrno(err, "punch hole in " + Path(c, file));
      }
    }
    i = j;
  }
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
  const unsigned c = SlotClass(op.slot);
  if (c >= classes().count()) {
    return fmt::format("{} slot {} (no size class {})", write ? "write" : "read", op.slot, c);
  }
  const ClassFiles& cf = classes_[c];
  const uint64_t index = SlotIndex(op.slot);
  return fmt::format("{} slot {} ({}/{} offset {})", write ? "write" : "read", op.slot,
                     options_.dir, FileName(cf.size, index / cf.slots_per_file),
                     index % cf.slots_per_file * cf.size);
}

void IoUringBlockStore::PrepSqe(Ring& ring, Request* req, bool write) noexcept {
  // Never null: each request owns at most one SQE and depth <= the SQ size.
  io_uring_sqe* sqe = io_uring_get_sqe(&ring.ring);
  const uint32_t len = req->want - req->done;
  const uint64_t at = req->offset + req->done;
  if (req->count == 1) {
    auto* buf = static_cast<std::byte*>(req->first().buf) + req->done;
    if (write) {
      io_uring_prep_write(sqe, req->fd, buf, len, at);
    } else {
      io_uring_prep_read(sqe, req->fd, buf, len, at);
    }
  } else {
    // The buffers of the ops not yet (wholly) transferred; the vector's capacity is reserved, so
    // the iovecs stay put until the completion (the kernel uses them until then).
    req->iov.clear();
    uint32_t skip = req->done;
    for (uint32_t k = 0; k < req->count; ++k) {
      const BlockIo& op = *req->ops[k];
      const uint32_t n = OpBytes(op);
      if (skip >= n) {
        skip -= n;
        continue;
      }
      req->iov.push_back({static_cast<std::byte*>(op.buf) + skip, n - skip});
      skip = 0;
    }
    const auto n = static_cast<unsigned>(req->iov.size());
    if (write) {
      io_uring_prep_writev(sqe, req->fd, req->iov.data(), n, at);
    } else {
      io_uring_prep_readv(sqe, req->fd, req->iov.data(), n, at);
    }
  }
  io_uring_sqe_set_data(sqe, req);
  ring.queued.push_back(req);
}

void IoUringBlockStore::Submit(Ring& ring, unsigned& inflight,
                               const std::function<void(BlockIo&)>* on_complete,
                               bool and_wait) noexcept {
  unsigned busy_retries = 0;
  while (ring.queued_head < ring.queued.size()) {
    // With nothing left to queue, one io_uring_enter both submits and waits for a completion
    // (a syscall saved per batch: a warm 4 KiB read is one batch of one op).
    int ret = and_wait ? io_uring_submit_and_wait(&ring.ring, 1) : io_uring_submit(&ring.ring);
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
      --inflight;
      ring.free_requests.push_back(req);
      for (uint32_t k = 0; k < req->count; ++k) {
        req->ops[k]->status = failed;
        if (on_complete != nullptr && *on_complete) (*on_complete)(*req->ops[k]);
      }
    }
    break;
  }
  ring.queued.clear();
  ring.queued_head = 0;
}

bool IoUringBlockStore::CheckOp(BlockIo& op, bool write) const {
  const unsigned c = SlotClass(op.slot);
  const uint64_t index = SlotIndex(op.slot);
  const uint64_t capacity = class_slots(c);  // 0 for a class that does not exist
  if (index >= capacity) {
    op.status = Status::InvalidArgument(
        fmt::format("{}: beyond capacity of {} slots", OpContext(op, write), capacity));
  } else if (op.length == 0 || op.length > classes_[c].size ||
             op.offset > classes_[c].size - op.length) {
    op.status = Status::InvalidArgument(fmt::format("{}: length {} at {} not in 1..{}",
                                                    OpContext(op, write), op.length, op.offset,
                                                    classes_[c].size));
  } else if (op.offset % kDirectIoAlignment != 0 || (write && op.offset != 0)) {
    op.status = Status::InvalidArgument(
        fmt::format("{}: offset {} is not 4096-aligned", OpContext(op, write), op.offset));
  } else if (op.buf == nullptr || reinterpret_cast<uintptr_t>(op.buf) % kDirectIoAlignment != 0) {
    op.status = Status::InvalidArgument(OpContext(op, write) + ": buffer is not 4096-aligned");
  } else {
    return true;
  }
  return false;
}

IoUringBlockStore::Place IoUringBlockStore::PlaceOf(const BlockIo& op) const {
  const ClassFiles& cf = classes_[SlotClass(op.slot)];
  const uint64_t index = SlotIndex(op.slot);
  return {cf.fds[index / cf.slots_per_file].load(std::memory_order_acquire),
          index % cf.slots_per_file * cf.size + op.offset};
}

Result<StoreExtent> IoUringBlockStore::Locate(uint32_t slot, uint32_t offset,
                                              uint32_t length) const {
  // The checks of CheckOp() for a read (no buffer: the caller's), then PlaceOf(): the capacity is
  // loaded (acquire) before the fd, which was published before it, so a slot inside the capacity
  // has its fd. Files are never closed while the store lives.
  BlockIo op;
  op.slot = slot;
  op.offset = offset;
  op.length = length;
  op.buf = reinterpret_cast<void*>(uintptr_t{kDirectIoAlignment});  // any aligned address
  if (!CheckOp(op, /*write=*/false)) return op.status;
  const Place place = PlaceOf(op);
  if (place.fd < 0) return Status::Internal(OpContext(op, false) + ": data file not open");
  return StoreExtent{place.fd, place.offset, static_cast<uint32_t>(AlignUp(length))};
}

void IoUringBlockStore::RunBatch(Ring& ring, std::span<BlockIo> ops, bool write,
                                 const std::function<void(BlockIo&)>* on_complete) noexcept {
  auto finish = [&](BlockIo& op) {
    if (on_complete != nullptr && *on_complete) (*on_complete)(op);
  };
  auto finish_all = [&](Request* req, const Status& status) {
    for (uint32_t k = 0; k < req->count; ++k) {
      req->ops[k]->status = status;
      finish(*req->ops[k]);
    }
  };

  // The ops that pass the contract, in submission order: reads as given; writes by file and
  // offset, so that adjacent slots become one transfer.
  std::vector<BlockIo*>& order = ring.order;
  order.clear();
  for (BlockIo& op : ops) {
    if (CheckOp(op, write)) {
      order.push_back(&op);
    } else {
      finish(op);
    }
  }
  if (write) {
    std::stable_sort(order.begin(), order.end(), [&](const BlockIo* a, const BlockIo* b) {
      const Place pa = PlaceOf(*a), pb = PlaceOf(*b);
      return pa.fd != pb.fd ? pa.fd < pb.fd : pa.offset < pb.offset;
    });
  }

  size_t next = 0;
  unsigned inflight = 0;
  for (;;) {
    // Refill the ring with pending ops.
    while (!ring.broken && inflight < ring.depth && next < order.size()) {
      Request* req = ring.free_requests.back();
      ring.free_requests.pop_back();
      const Place place = PlaceOf(*order[next]);
      req->ops = &order[next];
      req->count = 1;
      req->fd = place.fd;
      req->offset = place.offset;
      req->want = OpBytes(*order[next]);
      req->done = 0;
      req->retries = 0;
      ++next;
      const uint32_t max_ops = write ? kMaxOpsPerWrite : kMaxOpsPerRead;
      const uint64_t max_bytes = write ? kMaxBytesPerWrite : kMaxBytesPerRead;
      while (next < order.size() && req->count < max_ops) {
        const Place p = PlaceOf(*order[next]);
        const uint32_t n = OpBytes(*order[next]);
        if (p.fd != req->fd || p.offset != req->offset + req->want ||
            req->want + uint64_t{n} > max_bytes) {
          break;
        }
        req->want += n;
        ++req->count;
        ++next;
      }
      if (req->count > 1) req->iov.reserve(max_ops);
      PrepSqe(ring, req, write);
      ++inflight;
      (write ? write_transfers_ : read_transfers_).fetch_add(1, std::memory_order_relaxed);
    }
    if (ring.broken) {
      for (; next < order.size(); ++next) {
        order[next]->status = Status::Aborted(OpContext(*order[next], write) + ": io_uring failed");
        finish(*order[next]);
      }
    }
    Submit(ring, inflight, on_complete, /*and_wait=*/next >= order.size());
    if (inflight == 0) {
      if (next >= order.size()) return;
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
      const BlockIo& op = req->first();
      const std::string_view what = req->count > 1 ? " (and adjacent slots)" : "";
      bool resubmit = false;
      Status status;
      if (res < 0) {
        if ((res == -EAGAIN || res == -EINTR) && ++req->retries < kMaxRetries) {
          resubmit = true;
        } else {
          status = Status::FromErrno(-res, OpContext(op, write).append(what));
        }
      } else if (res == 0) {
        if (write) {
          status = Status::IOError(OpContext(op, write).append(what) + ": write made no progress");
        } else if (ReadIsWhole(*req)) {
          status = Status::Ok();  // end of file inside the padding of a short block
        } else {
          status = Status::Corruption(
              fmt::format("data file truncated: slot {} ({})", op.slot, OpContext(op, write)));
        }
      } else {
        req->done += static_cast<uint32_t>(res);
        if (req->done >= req->want) {
          status = Status::Ok();
        } else if (direct_ && req->done % kDirectIoAlignment != 0) {
          // A direct transfer stops off-alignment only at end of file; the remainder cannot be
          // resubmitted (it would be misaligned).
          if (!write && ReadIsWhole(*req)) {
            status = Status::Ok();
          } else if (!write) {
            status = Status::Corruption(
                fmt::format("data file truncated: slot {} ({})", op.slot, OpContext(op, write)));
          } else {
            status = Status::IOError(OpContext(op, write).append(what) + ": unaligned short write");
          }
        } else {
          resubmit = true;  // the rest, from req->done on
        }
      }
      if (resubmit && ring.broken) {
        status = Status::Aborted(OpContext(op, write) + ": io_uring failed");
        resubmit = false;
      }
      if (resubmit) {
        PrepSqe(ring, req, write);
      } else {
        --inflight;
        ring.free_requests.push_back(req);
        finish_all(req, status);
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

  // Durability: fdatasync each file that received a complete write. Usually one or two files.
  // A file is named by its descriptor.
  std::vector<uint64_t>& touched = ring->touched_files;
  std::vector<Status>& synced = ring->sync_status;
  auto fd_of = [&](const BlockIo& op) { return static_cast<uint64_t>(PlaceOf(op).fd); };
  touched.clear();
  for (const BlockIo& op : ops) {
    if (!op.status.ok()) continue;
    const uint64_t fd = fd_of(op);
    if (std::find(touched.begin(), touched.end(), fd) == touched.end()) touched.push_back(fd);
  }
  synced.assign(touched.size(), Status::Ok());
  for (size_t i = 0; i < touched.size(); ++i) {
    const int fd = static_cast<int>(touched[i]);
    if (RetryOnEintr([&] { return fdatasync(fd); }) != 0) {
      synced[i] = Status::FromErrno(errno, "fdatasync " + options_.dir + " data file");
    }
  }
  for (BlockIo& op : ops) {
    if (!op.status.ok()) continue;
    const size_t i =
        static_cast<size_t>(std::find(touched.begin(), touched.end(), fd_of(op)) - touched.begin());
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

// Deletes format-v1 data files (`data-NNNN.blk`): a v2 index never refers to them, and left alone
// they would hold disk space the limit no longer counts.
void RemoveLegacyFiles(const std::string& dir, spdlog::logger& log) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  uint64_t removed = 0;
  while (const dirent* e = readdir(d)) {
    if (IsLegacyDataFile(e->d_name) && unlinkat(dirfd(d), e->d_name, 0) == 0) ++removed;
  }
  closedir(d);
  if (removed > 0) log.warn("block store {}: removed {} format-v1 data file(s)", dir, removed);
}

}  // namespace

Result<StoreExtent> BlockStore::Locate(uint32_t slot, uint32_t /*offset*/,
                                       uint32_t /*length*/) const {
  return Status::NotSupported(fmt::format("this block store cannot locate slot {}", slot));
}

std::string BlockStore::FileName(uint32_t class_size, uint64_t file) {
  return fmt::format("c{}k-{:04d}.blk", class_size / 1024, file);
}

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

  RemoveLegacyFiles(options.dir, *log);
  auto store = std::make_unique<IoUringBlockStore>(options, direct);
  Status status = store->OpenFiles();
  if (direct && status.code() == StatusCode::kInvalidArgument) {
    // The probe passed but a data file refuses O_DIRECT (EINVAL at open): go buffered.
    log->warn("block store {}: O_DIRECT refused on a data file ({}); using buffered I/O",
              options.dir, status.ToString());
    store = std::make_unique<IoUringBlockStore>(options, false);
    status = store->OpenFiles();
  }
  if (!status.ok()) return status;
  return std::unique_ptr<BlockStore>(std::move(store));
}

}  // namespace hoardfs
