// BlockStore: the bytes of cached blocks, on the cache disk, read and written through io_uring.
//
// Layout: a few large data files `data-NNNN.blk` in one directory, each carved into fixed slots of
// `block_size` bytes (slot s lives in file s / slots_per_file at offset (s % slots_per_file) *
// block_size). No file per block. Files are extended with fallocate() in steps of
// `grow_step_slots` as the cache fills, never past the free-space floor of the disk.
//
// I/O: O_DIRECT with 4096-aligned buffers, lengths rounded up to 4096 (the tail of a short block
// is padding). Where the filesystem refuses O_DIRECT (tmpfs), the store falls back to buffered I/O
// and says so once in the log; direct_io() reports which mode is in use. Short reads/writes are
// resubmitted for the remainder, -EAGAIN is retried, and a read that reaches end-of-file before
// `length` (a data file truncated behind our back) fails with kCorruption.
//
// The store knows nothing of keys, checksums or which slots are in use: that is the index's job.
//
// Thread-safety: every method may be called from any number of threads at once. Each batch takes
// an io_uring from an internal pool for its duration (one ring per submitting thread at a time);
// no lock is held while I/O is in flight.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "common/result.h"
#include "common/status.h"

namespace hoardfs {

struct BlockStoreOptions {
  std::string dir;                               // REQUIRED: existing, writable directory
  uint32_t block_size = 1u << 20;                // bytes per slot; multiple of 4096
  uint64_t slots_per_file = 16384;               // 16 GiB data files at 1 MiB blocks
  uint64_t grow_step_slots = 256;                // fallocate granularity (256 MiB at 1 MiB)
  uint64_t free_space_floor_bytes = 1ull << 30;  // never grow files if the disk would drop below
  bool use_direct_io = true;                     // false: buffered I/O (tests, tmpfs)
  unsigned queue_depth = 64;                     // io_uring entries per ring; >= 1
};

// One block read or write. `buf` must be 4096-aligned and hold AlignUp(length) bytes.
struct BlockIo {
  uint32_t slot = 0;
  uint32_t length = 0;  // 1 .. block_size
  void* buf = nullptr;
  Status status;  // set by the store when the operation completes
};

class BlockStore {
 public:
  // Opens (creating if needed) the data files in options.dir. Existing files keep their size.
  static Result<std::unique_ptr<BlockStore>> Open(const BlockStoreOptions& options);

  BlockStore() = default;
  virtual ~BlockStore() = default;
  BlockStore(const BlockStore&) = delete;
  BlockStore& operator=(const BlockStore&) = delete;

  // Number of slots currently backed by allocated space in the data files (all files together;
  // a file truncated behind our back counts only its remaining whole slots).
  // Capacity is contiguous from slot 0: at Open, file k counts min(size / block_size,
  // slots_per_file) slots, and files after the first one that is not full count nothing (their
  // slots are reused when EnsureCapacity grows the short file). A truncation while the store is
  // open is not noticed until reopen; reads of the vanished slots fail with kCorruption.
  virtual uint64_t capacity_slots() const = 0;

  // Makes slots [0, slots) backed by disk space, growing data files with fallocate in steps.
  // Fails with kResourceExhausted (store unchanged beyond what was grown) when growing would leave
  // less than free_space_floor_bytes free on the disk, or the disk is full.
  virtual Status EnsureCapacity(uint64_t slots) = 0;

  // Reads every op in one io_uring batch (split only if larger than the queue depth). As each op
  // completes, its status is set and `on_complete(op)` runs on the calling thread while the
  // other ops may still be in flight (so checksums overlap I/O). Returns when all are done.
  // REQUIRES: op.slot < capacity_slots() for a successful read (else kInvalidArgument, no I/O).
  // REQUIRES: on_complete does not throw (buffers are still in flight: a throw terminates).
  virtual void Read(std::span<BlockIo> ops,
                    const std::function<void(BlockIo&)>& on_complete = nullptr) = 0;

  // Writes every op in one batch, then makes the written bytes durable (fdatasync of each data
  // file touched). An op's status is OK only if its bytes are durable.
  virtual void Write(std::span<BlockIo> ops) = 0;

  virtual bool direct_io() const = 0;
  virtual uint32_t block_size() const = 0;
};

namespace internal {
// For tests only: while set, stores opened afterwards behave as if the filesystem refused
// O_DIRECT (as tmpfs did before Linux 6.6), so the buffered fallback can be exercised on machines
// where every filesystem accepts O_DIRECT. Process-wide; thread-safe.
void SimulateODirectRefusalForTesting(bool on);
}  // namespace internal

}  // namespace hoardfs
