// BlockStore: the bytes of cached blocks, on the cache disk, read and written through io_uring.
//
// Layout (cache format v2): data files per size class (cache/size_classes.h) in one directory.
// Class c (slot size S_c: the block size, then powers of two down to 4096) has files
// `c<S_c in KiB>k-NNNN.blk` (`c1024k-0000.blk`, `c4k-0000.blk`), each carved into fixed slots of
// S_c bytes: a file is `slots_per_file * block_size` bytes, so it holds that many full-size slots
// or proportionally more small ones. Slot id SlotId(c, i) lives in file i / spf_c at offset (i %
// spf_c) * S_c, where spf_c = slots_per_file * block_size / S_c. No file per block. Space is
// allocated with fallocate() (Allocate(), Grow()) never past the free-space floor of the disk, and
// given back with FALLOC_FL_PUNCH_HOLE (Deallocate()). A store opened on a directory holding
// format-v1 files (`data-NNNN.blk`) deletes them: the index that referred to them is gone.
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

#include "cache/size_classes.h"
#include "common/result.h"
#include "common/status.h"

namespace hoardfs {

struct BlockStoreOptions {
  std::string dir;                               // REQUIRED: existing, writable directory
  uint32_t block_size = 1u << 20;                // largest slot (class 0); multiple of 4096
  uint64_t slots_per_file = 16384;               // file size in full-size slots (16 GiB at 1 MiB)
  uint64_t grow_step_slots = 256;                // Grow() granularity, in slots of the class
  uint64_t free_space_floor_bytes = 1ull << 30;  // never grow files if the disk would drop below
  bool use_direct_io = true;                     // false: buffered I/O (tests, tmpfs)
  unsigned queue_depth = 64;                     // io_uring entries per ring; >= 1
};

// One block read or write (or, for reads, the part of a block from `offset` on). `buf` must be
// 4096-aligned and hold AlignUp(length) bytes.
struct BlockIo {
  uint32_t slot = 0;    // SlotId(class, index)
  uint32_t length = 0;  // 1 .. size of the slot's class - offset
  void* buf = nullptr;
  Status status;        // set by the store when the operation completes
  uint32_t offset = 0;  // reads: first byte within the slot (a multiple of 4096); writes: 0
};

// Where bytes of a slot lie on disk, for a caller that reads them on its own io_uring.
struct StoreExtent {
  int fd = -1;          // the data file; open for the life of the store
  uint64_t offset = 0;  // byte offset in it
  uint32_t length = 0;  // bytes to read: the asked length rounded up to 4096 (O_DIRECT)
};

class BlockStore {
 public:
  // Opens (creating if needed) the data files in options.dir. Existing files keep their size.
  static Result<std::unique_ptr<BlockStore>> Open(const BlockStoreOptions& options);

  virtual ~BlockStore() = default;
  BlockStore(const BlockStore&) = delete;
  BlockStore& operator=(const BlockStore&) = delete;

  // The data file name of file `file` of the class of `class_size` bytes ("c1024k-0003.blk").
  static std::string FileName(uint32_t class_size, uint64_t file);

  // Slots of class `size_class` inside the data files (all files of the class together; a file
  // truncated behind our back counts only its remaining whole slots). Contiguous from index 0: at
  // Open, file k counts min(size / class size, spf_c) slots, and files after the first one that is
  // not full count nothing (their slots come back when the short file is grown again). A
  // truncation while the store is open is not noticed until reopen; reads of the vanished slots
  // fail with kCorruption. Slots inside this range may be holes (Deallocate()): reading one gives
  // zeros, writing one allocates disk space again.
  virtual uint64_t class_slots(unsigned size_class) const = 0;
  uint64_t capacity_slots() const { return class_slots(0); }

  // Allocates disk space for slots [first, first + count) of `size_class` (fallocate), creating or
  // extending its data files as needed; slots inside the files that were holes get their space
  // back. Fails with kResourceExhausted (nothing allocated beyond what was done) when this could
  // leave less than free_space_floor_bytes free on the disk (count * class size is the charge,
  // whether or not some of the range was already allocated), or the disk is full; with
  // kInvalidArgument beyond kMaxSlotsPerClass or the class's file limit.
  // REQUIRES: first <= class_slots(size_class) (no gap is left below the range).
  virtual Status Allocate(unsigned size_class, uint64_t first, uint64_t count) = 0;

  // Makes slots [0, slots) of `size_class` exist, growing its files from their end in steps of
  // grow_step_slots slots (capped at each file's end). Same errors as Allocate().
  virtual Status Grow(unsigned size_class, uint64_t slots) = 0;
  Status EnsureCapacity(uint64_t slots) { return Grow(0, slots); }

  // Gives the disk space of `slots` back (FALLOC_FL_PUNCH_HOLE | KEEP_SIZE; contiguous slots go in
  // one call). The slots stay addressable (class_slots() does not change). kUnimplemented if the
  // filesystem cannot punch holes; other errors as errno statuses. Slots beyond the files are
  // ignored. REQUIRES: no I/O on these slots is in flight.
  virtual Status Deallocate(std::span<const uint32_t> slots) = 0;

  // Reads every op in one io_uring batch (split only if larger than the queue depth). Ops that
  // follow each other in `ops` and lie side by side in one data file are read by one transfer
  // (readv) of at most 1 MiB, whose failure fails each of them. As each transfer completes, its
  // ops' statuses are set and `on_complete(op)` runs for each on the calling thread while the
  // others may still be in flight (so checksums overlap I/O). Returns when all are done.
  // REQUIRES: op.slot < capacity_slots() for a successful read (else kInvalidArgument, no I/O).
  // REQUIRES: on_complete does not throw (buffers are still in flight: a throw terminates).
  virtual void Read(std::span<BlockIo> ops,
                    const std::function<void(BlockIo&)>& on_complete = nullptr) = 0;

  // Writes every op in one batch, then makes the written bytes durable (fdatasync of each data
  // file touched). Ops to adjacent slots of one file are written by one transfer (writev); its
  // failure fails each of them. An op's status is OK only if its bytes are durable.
  virtual void Write(std::span<BlockIo> ops) = 0;

  // Where bytes [offset, offset + length) of `slot` are, for a caller that reads them itself
  // (BlockCache::PlanRangeRead: the FUSE ring's own io_uring): `offset` a multiple of 4096; read
  // extent.length bytes into a 4096-aligned buffer when direct_io(). The descriptor stays open
  // (and the place valid) for the life of the store; such reads are not counted in
  // read_transfers(). kInvalidArgument for a slot beyond the data files (class_slots()), a range
  // past the slot's class size, an empty range or an unaligned offset. The default (stores that
  // cannot tell, such as test wrappers) is kNotSupported.
  virtual Result<StoreExtent> Locate(uint32_t slot, uint32_t offset, uint32_t length) const;

  // Write transfers submitted so far: a write of ops to adjacent slots of one data file is one
  // transfer (writev), so this is below the number of ops when pieces land side by side.
  virtual uint64_t write_transfers() const = 0;
  // Read transfers submitted so far (ops read side by side by one readv count once).
  virtual uint64_t read_transfers() const = 0;

  virtual bool direct_io() const = 0;
  virtual uint32_t block_size() const = 0;
  const SizeClasses& classes() const { return classes_; }

 protected:
  explicit BlockStore(uint32_t block_size) : classes_(block_size) {}

 private:
  const SizeClasses classes_;
};

namespace internal {
// For tests only: while set, stores opened afterwards behave as if the filesystem refused
// O_DIRECT (as tmpfs did before Linux 6.6), so the buffered fallback can be exercised on machines
// where every filesystem accepts O_DIRECT. Process-wide; thread-safe.
void SimulateODirectRefusalForTesting(bool on);
}  // namespace internal

}  // namespace hoardfs
