// BlockCache: the node-local block cache. Blocks of remote files, keyed by (remote, path, version,
// block index), live in fixed slots of a BlockStore (io_uring, O_DIRECT) and are indexed by a
// BlockIndex (RocksDB). This is the only class the layers above use.
//
// Contracts (docs/architecture.md, "Contracts of the cache"):
//  - Commit point: a block's index entry is written only after its bytes are durable in the store.
//    A crash at any moment leaves entries whose bytes verify; slots no entry references are free
//    again at the next open, found from the index alone (the data files are not read).
//  - Verification: every hit is checked by CRC32C (the whole block, or each 16 KiB chunk read
//    against the block's chunk record, cache/block_checksum.h); a mismatch, an I/O error or a
//    truncated data file is a miss (counted, the bad entry dropped), never bad bytes and never an
//    error.
//  - A slot is never reused while an entry points to it or a reader is reading it: the entry is
//    deleted (and synced) before the slot is freed, and each slot carries a generation that a
//    reader checks after pinning it.
//  - Capacity: a hard limit on bytes. Each block takes a slot of its size class (powers of two
//    from 4 KiB to the block size, cache/size_classes.h), and the class sizes of the slots in use
//    never add up to more than the limit: inserts reserve their slot before writing, so concurrent
//    inserts never exceed it. Between the high and low watermarks (fractions of the limit) the
//    writer evicts in the background. The data files' allocated space is bounded by the limit too
//    (slots with disk space behind them, used or free, add up to at most the limit: free slots of
//    one class are punched out when another class needs the space), and files grow only while the
//    disk keeps its free-space floor. Pinned prefixes are never evicted. SetCapacity() changes the
//    limit at run time.
//  - Eviction: S3-FIFO (scan-resistant; see cache/eviction_policy.h). A hit costs one relaxed
//    atomic increment.
//  - Per-dataset usage (cache/dataset_map.h) is updated in the same atomic index batch as the
//    entries it counts, so it is exact after any crash; Usage() is O(number of datasets).
//
// Threads: Read() runs on the caller's thread: one MultiGet (none, or fewer keys, for a file the
// index held nothing of when first looked up: cache/new_files.h), one io_uring batch, CRC checks
// overlapping the I/O, no lock held across I/O; LookUp() + ReadInto() split it in two (the
// MultiGet; the batch, into the caller's memory). ReadRange() likewise: one Get, one chunk-record
// pread (page cache, usually), one read of the chunks it needs. Mutations (inserts, evictions,
// pins, capacity) are queued to one writer thread ("hoardfs-writer"), which group-commits inserts:
// one store write batch + one fdatasync + one index batch for many blocks. At open, that thread
// first runs the recovery (named "hoardfs-recover" meanwhile): one scan of the index rebuilds slot
// ownership and eviction order; lookups are served meanwhile, inserts wait until it is done
// (WaitUntilReady()).
//
// Thread-safety: all public methods may be called from any thread concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cache/block_entry.h"
#include "cache/block_key.h"
#include "cache/block_store.h"
#include "common/aligned_buffer.h"
#include "common/result.h"

namespace hoardfs {

struct BlockCacheOptions {
  std::string dir;                           // REQUIRED: cache directory (created if missing)
  uint64_t capacity_bytes = 0;               // REQUIRED: hard limit on block bytes held
  uint32_t block_size = 1u << 20;            // multiple of 4096; fixed for the life of a cache
                                             // (the largest size class)
  double high_watermark = 0.95;              // start background eviction above this fraction
  double low_watermark = 0.90;               // ... and evict down to this fraction
  uint64_t free_space_floor_bytes = 1ull << 30;  // leave this much free on the cache disk
  bool use_direct_io = true;                 // O_DIRECT on the data files (falls back on tmpfs)
  uint64_t slots_per_file = 16384;           // data file size, in block-size slots
  uint64_t grow_step_slots = 256;            // data files grow by this many slots of a class
  unsigned queue_depth = 64;                 // io_uring depth per ring
  std::vector<std::string> dataset_prefixes; // usage is kept per dataset (cache/dataset_map.h)
  unsigned dataset_depth = 3;
  size_t index_block_cache_bytes = 64ull << 20;
  size_t index_write_buffer_bytes = 32ull << 20;
  size_t index_memo_keys = 65536;  // block keys the index remembers in memory (0: none)
  size_t max_pending_insert_bytes = 64ull << 20;   // queued, not yet written blocks
  size_t max_insert_batch_bytes = 32ull << 20;     // one group commit
  // Block buffers of reads and copied inserts, kept for reuse in a slab backed by huge pages
  // (common/aligned_buffer_pool.h). Size it to the blocks readers hold at once (the fetcher's
  // memory budget): beyond it buffers come from the heap. What was ever used stays resident.
  size_t read_buffer_bytes = 32ull << 20;
  bool reset_if_corrupt = true;       // corrupt index: log, delete, start empty (else fail)
  bool reset_if_incompatible = false; // other format or block size: fail (else start empty)
  std::string eviction_policy = "s3fifo";  // or "lru"
  // Tests: wraps or replaces the store (fault injection). Default: BlockStore::Open.
  std::function<Result<std::unique_ptr<BlockStore>>(const BlockStoreOptions&)> store_factory;
};

// A verified cached block. Owns its buffer (returned to the cache's pool when destroyed).
class CachedBlock {
 public:
  CachedBlock(AlignedBuffer buffer, std::function<void(AlignedBuffer)> recycle);
  ~CachedBlock();
  CachedBlock(CachedBlock&&) noexcept;
  CachedBlock& operator=(CachedBlock&&) noexcept;
  CachedBlock(const CachedBlock&) = delete;
  CachedBlock& operator=(const CachedBlock&) = delete;

  std::span<const std::byte> bytes() const { return buffer_.span(); }
  size_t size() const { return buffer_.size(); }

 private:
  AlignedBuffer buffer_;
  std::function<void(AlignedBuffer)> recycle_;
};

// A verified part of a cached block: the chunks (cache/block_checksum.h) covering a requested
// range. The requested bytes are bytes().subspan(skip, length).
struct CachedRange {
  CachedBlock chunks;
  uint32_t skip = 0;    // offset of the first requested byte in `chunks`
  uint32_t length = 0;  // requested bytes present (clamped to the block's end)
  std::span<const std::byte> bytes() const { return chunks.bytes().subspan(skip, length); }
};

// A ReadRange() whose store read the caller does (BlockCache::PlanRangeRead): the FUSE ring reads
// extent() on its own io_uring and hands the result to Finish(). Holds the slot's reader pin (the
// slot is not reused meanwhile) until Finish() or destruction; destroying it unfinished unpins
// and counts nothing. REQUIRES: finished or destroyed before its BlockCache. One thread at a time.
class PendingRangeRead {
 public:
  virtual ~PendingRangeRead() = default;
  virtual const StoreExtent& extent() const = 0;  // read these bytes into a 4096-aligned buffer
  virtual uint32_t skip() const = 0;    // offset of the first requested byte in that buffer
  virtual uint32_t length() const = 0;  // requested bytes (== the length asked: see PlanRangeRead)
  // `res`: the read's result as io_uring gives it (bytes read, or -errno); fewer bytes than the
  // chunks take is a read error. Verifies the chunks (CRC32C against the chunk record), unpins,
  // counts the lookup and a hit (hits, partial_reads, partial_read_bytes, the eviction policy's
  // Touch) or a miss (read_errors or crc_failures; the bad entry dropped), as ReadRange() does.
  // True: bytes [buf + skip(), + length()) are the verified bytes. Call at most once (a second
  // call returns false and counts nothing).
  virtual bool Finish(const std::byte* buf, int64_t res) = 0;
};

struct DatasetUsage {
  uint32_t remote_id = 0;
  std::string prefix;
  uint64_t bytes = 0;   // data bytes held
  uint64_t blocks = 0;
};

struct PinnedPrefix {
  uint32_t remote_id = 0;
  std::string prefix;
};

struct SizeClassStats {
  uint32_t slot_size = 0;
  uint64_t used_slots = 0;    // slots holding a block (or quarantined for a reader)
  uint64_t backed_slots = 0;  // slots with disk space behind them (used or free)
};

struct BlockCacheStats {
  // Capacity (bytes of slots: each block counts the size of its size class unless noted).
  uint64_t capacity_bytes = 0;
  uint64_t used_bytes = 0;         // sum of the class sizes of the slots in use
  uint64_t data_bytes = 0;         // sum of block lengths held
  uint64_t pinned_bytes = 0;       // class sizes of the slots of pinned blocks
  uint64_t block_size = 0;
  uint64_t store_bytes = 0;  // data file space allocated on disk (slots with space behind
                             // them; an upper bound after a restart)
  std::vector<SizeClassStats> classes;  // per size class, largest first
  bool direct_io = false;
  bool ready = false;              // recovery finished; inserts admitted
  // Counters since open.
  uint64_t lookups = 0, hits = 0, misses = 0;
  uint64_t crc_failures = 0;       // hits that failed verification (served as misses)
  uint64_t read_errors = 0;        // store read errors (served as misses)
  uint64_t stale_reads = 0;        // slot reused between lookup and read (served as misses)
  uint64_t partial_reads = 0;      // ReadRange() hits served from their chunks alone
  uint64_t partial_read_bytes = 0;  // bytes of chunks those read from the store
  uint64_t record_misses = 0;       // ReadRange() found no valid chunk record: read whole
  uint64_t record_memo_hits = 0;    // chunk records found in memory (no pread)
  uint64_t inserts = 0, insert_bytes = 0;
  uint64_t insert_duplicates = 0;  // block already cached
  uint64_t inserts_rejected = 0;   // dropped: queue full, cache full of pinned data, not ready
  uint64_t inserts_shared = 0;     // InsertShared() calls queued without a copy
  uint64_t insert_waits = 0;       // kWaitForRoom inserts that found the queue full and waited
  uint64_t insert_wait_ns = 0;     // ... for this long in all: the fetches waited for the disk
  uint64_t pending_insert_bytes = 0;  // gauge: queued or being written, not yet committed
  uint64_t store_writes = 0;       // write transfers to the data files (adjacent slots: one)
  uint64_t store_reads = 0;        // read transfers from the data files (adjacent slots: one)
  uint64_t write_errors = 0;
  uint64_t evictions = 0, evicted_bytes = 0;
  uint64_t index_disk_bytes = 0, index_memory_bytes = 0;
  uint64_t index_memo_hits = 0;  // block keys looked up from the index's memo (no RocksDB read)
  uint64_t index_memo_keys = 0;  // gauge: keys the memo holds
  // Block keys of files the index held nothing of when first asked, answered "not cached"
  // without the index (cache/new_files.h).
  uint64_t new_file_skips = 0;
};

// What the open-time recovery found and did.
struct RecoveryReport {
  uint64_t entries = 0;                 // valid entries kept
  uint64_t dropped_undecodable = 0;     // values that did not decode
  uint64_t dropped_out_of_range = 0;    // slot beyond the data files (truncated behind our back)
  uint64_t dropped_duplicate_slot = 0;  // two entries on one slot: all but the newest dropped
  bool usage_repaired = false;          // persisted usage differed from the entries and was rewritten
  bool index_reset = false;             // the index was corrupt/incompatible and started empty
  double seconds = 0;
};

// The outcome of Verify(): every entry read back and checked.
struct VerifyReport {
  uint64_t entries = 0;
  uint64_t verified = 0;
  uint64_t crc_failures = 0;
  uint64_t read_errors = 0;
  uint64_t duplicate_slots = 0;
  uint64_t out_of_range = 0;
  bool usage_matches = true;  // persisted usage counters == sum over entries
  uint64_t dropped = 0;       // bad entries removed (repair only)
};

class BlockCache {
 public:
  static Result<std::unique_ptr<BlockCache>> Open(const BlockCacheOptions& options);

  BlockCache() = default;
  virtual ~BlockCache() = default;
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;

  // Looks up and reads blocks `blocks` of `file`. Result i is the verified block blocks[i], or
  // nullopt (miss). Never an error: a cache fault is a miss.
  virtual std::vector<std::optional<CachedBlock>> Read(const FileKey& file,
                                                       std::span<const uint32_t> blocks) = 0;
  // Read() in two steps, into the caller's memory: LookUp() finds the index entries of `blocks`
  // (one MultiGet; nullopt: not cached), the caller picks among them, and ReadInto() reads the
  // picked ones, each straight into its `dest`, in one io_uring batch, verified as Read() does.
  // Result i of ReadInto(): target i's bytes are in its dest; false is a miss (a fault, as in
  // Read(), or a slot reused since the lookup), and that dest's bytes are then unspecified.
  struct ReadTarget {
    uint32_t block = 0;
    BlockEntry entry;           // from LookUp()
    std::byte* dest = nullptr;  // 4096-aligned, room for entry.length rounded up to 4096
  };
  virtual std::vector<std::optional<BlockEntry>> LookUp(const FileKey& file,
                                                        std::span<const uint32_t> blocks) = 0;
  virtual std::vector<bool> ReadInto(const FileKey& file, std::span<const ReadTarget> targets) = 0;
  // Reads bytes [offset, offset + length) of block `block` of `file` (clamped to the block's
  // length), reading and verifying only the 16 KiB chunks they touch when the block has a valid
  // chunk record, the whole block otherwise. nullopt: a miss (as Read(); also when `offset` is
  // at or beyond the block's end). Never an error.
  virtual std::optional<CachedRange> ReadRange(const FileKey& file, uint32_t block, uint32_t offset,
                                               uint32_t length) = 0;
  // ReadRange() for a caller that reads the store itself (on its own io_uring: the FUSE ring's
  // warm reads). Does ReadRange()'s lookup (the index, usually its memo; the chunk record, usually
  // in memory) and pins the slot; no data is read. nullptr where ReadRange() would not do one
  // chunk-range read: not cached, `length` 0, offset at or after the block's end, a range the
  // block's end would shorten (offset + length > its length), no chunk record or an invalid one,
  // most of the block wanted (ReadRange reads it whole then), the slot stale, or a store that
  // cannot Locate(). A nullptr counts nothing (the caller goes on to ReadRange(), which counts);
  // the lookup is counted at Finish() (lookups, and hits or misses, as ReadRange() counts them).
  virtual std::unique_ptr<PendingRangeRead> PlanRangeRead(const FileKey& /*file*/,
                                                          uint32_t /*block*/, uint32_t /*offset*/,
                                                          uint32_t /*length*/) {
    return nullptr;
  }
  // Which of `blocks` are cached (index only, no data read).
  virtual std::vector<bool> Contains(const FileKey& file, std::span<const uint32_t> blocks) = 0;

  enum class InsertMode { kWaitForRoom, kDropIfBusy };
  // Queues block `block` of `file` for writing; `data` is the block's bytes (1..block_size; only
  // the last block of a file may be short). Returns once queued (kWaitForRoom waits while the queue
  // is full; kDropIfBusy drops instead and returns kResourceExhausted). A block already cached is
  // ignored. Errors: kInvalidArgument (bad path/size), kAborted (closing).
  virtual Status Insert(const FileKey& file, uint32_t block, std::span<const std::byte> data,
                        InsertMode mode = InsertMode::kWaitForRoom) = 0;
  // Insert() of `size` bytes at `data` that the caller shares instead of handing over a copy:
  // when `data` is 4096-aligned and `size` a multiple of 4096 (nothing to pad for O_DIRECT), the
  // queue keeps `data` alive and the writer writes from it; otherwise the bytes are copied, as by
  // Insert(). The bytes must not change afterwards. Same contract otherwise.
  virtual Status InsertShared(const FileKey& file, uint32_t block,
                              std::shared_ptr<const std::byte> data, size_t size,
                              InsertMode mode = InsertMode::kWaitForRoom) {
    return Insert(file, block, std::span<const std::byte>(data.get(), size), mode);
  }
  // Waits until everything queued before the call has been committed or dropped.
  virtual Status Flush() = 0;

  // Removes every block under `path_prefix` (a file, all its versions, or a directory tree).
  // With `keep_version`, blocks of that version of exactly `path_prefix` stay (drops stale
  // versions of one file). Pinned blocks are removed too. Returns the number of blocks removed.
  virtual Result<uint64_t> Evict(uint32_t remote_id, const std::string& path_prefix,
                                 std::optional<uint64_t> keep_version = std::nullopt) = 0;

  // Pins a prefix: its blocks (present and future) are never evicted. Persisted.
  virtual Status Pin(uint32_t remote_id, const std::string& path_prefix) = 0;
  virtual Status Unpin(uint32_t remote_id, const std::string& path_prefix) = 0;
  virtual std::vector<PinnedPrefix> Pins() = 0;

  // Changes the hard limit; shrinking evicts down before returning.
  virtual Status SetCapacity(uint64_t capacity_bytes) = 0;

  // Bytes held per dataset, O(number of datasets).
  virtual std::vector<DatasetUsage> Usage() = 0;
  virtual BlockCacheStats Stats() = 0;
  virtual RecoveryReport Recovery() = 0;

  // Blocks until the open-time recovery is done (inserts are admitted after it).
  virtual Status WaitUntilReady() = 0;

  // The index database, shared with the metadata cache (cache/metadata_cache.h). Valid for the
  // life of the BlockCache.
  virtual class BlockIndex* index() = 0;

  // Reads and checks every entry (fsck). With `repair`, bad entries are dropped and usage
  // rewritten. Runs on the writer thread: inserts wait meanwhile.
  virtual Result<VerifyReport> Verify(bool repair) = 0;
};

}  // namespace hoardfs
