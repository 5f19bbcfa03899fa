#include "cache/block_cache.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include "cache/block_checksum.h"
#include "cache/block_entry.h"
#include "cache/block_index.h"
#include "cache/chunk_sums.h"
#include "cache/dataset_map.h"
#include "cache/eviction_policy.h"
#include "cache/new_files.h"
#include "cache/size_classes.h"
#include "cache/slot_allocator.h"
#include "common/aligned_buffer_pool.h"
#include "common/chunked_array.h"
#include "common/crc32c.h"
#include "common/hash.h"
#include "common/log.h"

namespace hoardfs {

CachedBlock::CachedBlock(AlignedBuffer buffer, std::function<void(AlignedBuffer)> recycle)
    : buffer_(std::move(buffer)), recycle_(std::move(recycle)) {}
CachedBlock::~CachedBlock() {
  if (recycle_ && buffer_.data() != nullptr) recycle_(std::move(buffer_));
}
CachedBlock::CachedBlock(CachedBlock&& other) noexcept
    : buffer_(std::move(other.buffer_)), recycle_(std::move(other.recycle_)) {}
CachedBlock& CachedBlock::operator=(CachedBlock&& other) noexcept {
  if (this != &other) {
    if (recycle_ && buffer_.data() != nullptr) recycle_(std::move(buffer_));
    buffer_ = std::move(other.buffer_);
    recycle_ = std::move(other.recycle_);
  }
  return *this;
}

namespace {

constexpr uint32_t kNoFile = UINT32_MAX;
constexpr size_t kEvictBatch = 256;  // victims deleted per synced index batch
// How long the writer waits for more when it holds less than a block of inserts.
constexpr auto kWriterLinger = std::chrono::milliseconds(2);
// NewFiles' bounds: files (~100 bytes each), and blocks remembered (~40 bytes each: ~5 MiB).
constexpr size_t kNewFilesMax = 4096;
constexpr size_t kNewFileBlocksMax = size_t{128} << 10;
// Idle buffers smaller than a block kept for reuse (pieces, partial reads, small files).
constexpr size_t kMaxKeptSmallBufferBytes = size_t{8} << 20;
constexpr char kPinMetaPrefix[] = "pin/";

// Per-slot state. `generation` and `readers` are shared with readers (atomics); the rest is owned
// by the writer thread.
struct SlotState {
  std::atomic<uint32_t> generation{0};
  std::atomic<uint32_t> readers{0};
  uint32_t file_id = kNoFile;
  uint32_t block = 0;
  uint32_t length = 0;
  bool pinned = false;
};

struct FileInfo {
  std::string prefix;     // FilePrefix(): remote | path | NUL | version
  std::string usage_key;  // remote | dataset
  uint32_t blocks = 0;
  bool pinned = false;
  std::string_view path() const { return {prefix.data() + 4, prefix.size() - 4 - 1 - 8}; }
  uint32_t remote() const { return ReadBigEndian32(prefix.data()); }
};

// The usage deltas of one index batch, summed per usage key: one merge operand per dataset and
// batch instead of one per block (the counters are sums, so the result is the same).
class UsageDeltas {
 public:
  void Add(const std::string& usage_key, int64_t bytes, int64_t blocks) {
    for (auto& [key, u] : deltas_) {
      if (key == usage_key) {
        u.bytes += bytes;
        u.blocks += blocks;
        return;
      }
    }
    deltas_.push_back({usage_key, DatasetUsageCounter{bytes, blocks}});
  }
  const std::vector<std::pair<std::string, DatasetUsageCounter>>& deltas() const { return deltas_; }

 private:
  std::vector<std::pair<std::string, DatasetUsageCounter>> deltas_;  // few: one per dataset
};

std::string UsageKey(uint32_t remote_id, const std::string& dataset) {
  std::string k;
  AppendBigEndian32(&k, remote_id);
  k += dataset;
  return k;
}

std::string PinKey(uint32_t remote_id, std::string_view prefix) {
  std::string k = kPinMetaPrefix;
  AppendBigEndian32(&k, remote_id);
  k += prefix;
  return k;
}

// The bytes of a queued block: a copy in a buffer of the cache's own (O_DIRECT padding zeroed), or
// the caller's buffer, shared (InsertShared: aligned and a whole number of pages, nothing to pad).
struct InsertData {
  AlignedBuffer own;
  std::shared_ptr<const std::byte> shared;
  size_t shared_size = 0;

  const std::byte* data() const { return shared != nullptr ? shared.get() : own.data(); }
  size_t size() const { return shared != nullptr ? shared_size : own.size(); }
  // What the queue holds in memory for it.
  size_t capacity() const { return shared != nullptr ? shared_size : own.capacity(); }
};
struct InsertCmd {
  std::string key;  // BlockKey()
  uint32_t remote_id;
  uint32_t block;
  uint32_t crc;                  // BlockChecksum(data, chunked)
  std::vector<uint32_t> record;  // the chunk record
  InsertData data;
  NewFiles::Pending pending;  // ends (destroyed) once the entry is committed or the insert dropped
};
struct ControlCmd {
  std::function<void()> fn;
};
using Command = std::variant<InsertCmd, ControlCmd>;

class BlockCacheImpl final : public BlockCache {
 public:
  explicit BlockCacheImpl(const BlockCacheOptions& o)
      : options_(o),
        classes_(o.block_size % 4096 == 0 && o.block_size > 0 ? o.block_size : 4096),
        datasets_(o.dataset_prefixes, o.dataset_depth),
        pool_(std::make_shared<AlignedBufferPool>(
            o.block_size,
            std::max<size_t>(1, o.read_buffer_bytes / AlignUp(std::max<size_t>(o.block_size, 1))),
            kMaxKeptSmallBufferBytes)),
        log_(Logger("cache")) {}
  ~BlockCacheImpl() override;

  Status Init();

  std::vector<std::optional<CachedBlock>> Read(const FileKey& file,
                                               std::span<const uint32_t> blocks) override;
  std::vector<std::optional<BlockEntry>> LookUp(const FileKey& file,
                                                std::span<const uint32_t> blocks) override;
  std::vector<bool> ReadInto(const FileKey& file, std::span<const ReadTarget> targets) override;
  std::optional<CachedRange> ReadRange(const FileKey& file, uint32_t block, uint32_t offset,
                                       uint32_t length) override;
  std::unique_ptr<PendingRangeRead> PlanRangeRead(const FileKey& file, uint32_t block,
                                                  uint32_t offset, uint32_t length) override;
  std::vector<bool> Contains(const FileKey& file, std::span<const uint32_t> blocks) override;
  Status Insert(const FileKey& file, uint32_t block, std::span<const std::byte> data,
                InsertMode mode) override;
  Status InsertShared(const FileKey& file, uint32_t block, std::shared_ptr<const std::byte> data,
                      size_t size, InsertMode mode) override;
  Status Flush() override;
  Result<uint64_t> Evict(uint32_t remote_id, const std::string& path_prefix,
                         std::optional<uint64_t> keep_version) override;
  Status Pin(uint32_t remote_id, const std::string& path_prefix) override;
  Status Unpin(uint32_t remote_id, const std::string& path_prefix) override;
  std::vector<PinnedPrefix> Pins() override;
  Status SetCapacity(uint64_t capacity_bytes) override;
  std::vector<DatasetUsage> Usage() override;
  BlockCacheStats Stats() override;
  RecoveryReport Recovery() override;
  Status WaitUntilReady() override;
  Result<VerifyReport> Verify(bool repair) override;
  BlockIndex* index() override { return index_.get(); }

 private:
  // --- reads (any thread) ---
  // The index entries of `blocks` (one MultiGet; not counted).
  std::vector<std::optional<BlockEntry>> EntriesOf(const FileKey& file,
                                                   std::span<const uint32_t> blocks);
  // Reads and verifies each target into its dest (one batch); a fault drops the entry. Counts
  // no hits or misses.
  std::vector<bool> ReadTargets(const FileKey& file, std::span<const ReadTarget> targets);

  // One chunk-range read of a cached block (ReadRange, PlanRangeRead): the chunks to read and
  // the record to check them against, with the slot pinned (a reader) until Unpin() or
  // destruction.
  struct RangeRead {
    std::string key;  // BlockKey(): the entry dropped if the chunks fail
    BlockEntry entry;
    std::vector<uint32_t> record;     // the block's chunk record (checked against entry.crc)
    uint32_t first = 0, last = 0;     // the chunks read
    uint32_t from = 0, to = 0;        // the bytes of the block read: [from, to)
    uint32_t offset = 0, length = 0;  // the bytes asked for, inside [from, to)
    SlotState* pinned = nullptr;      // the slot, while pinned

    RangeRead() = default;
    RangeRead(const RangeRead&) = delete;
    RangeRead& operator=(const RangeRead&) = delete;
    ~RangeRead() { Unpin(); }
    void Unpin() {
      if (pinned != nullptr) pinned->readers.fetch_sub(1);
      pinned = nullptr;
    }
  };
  enum class RangeStep {
    kReady,     // *r is set and its slot pinned: read [from, to), then CompleteRange()
    kWhole,     // no chunk record to use (none kept, not chunked), or most of the block wanted
    kMiss,      // the entry names no valid slot
    kStale,     // the slot was reused since the lookup
    kNoRecord,  // the record is missing, torn or another occupant's: read whole, then repair
  };
  // Prepares the chunk-range read of bytes [offset, offset + length) of the block of entry `e`
  // (key `key`). Counts nothing. REQUIRES: 0 < length, offset + length <= e.length.
  RangeStep PrepareRange(std::string key, const BlockEntry& e, uint32_t offset, uint32_t length,
                         RangeRead* r);
  // Verifies the chunks `buf` holds (bytes [r.from, r.to) of the block; `read`: the store read's
  // status), unpins, and counts a hit (policy Touch) or a miss (read error or CRC failure; the
  // entry dropped). Counts no lookup. True: a hit.
  bool CompleteRange(RangeRead& r, const std::byte* buf, const Status& read);
  class PlannedRange;  // PlanRangeRead()'s

  // --- inserts (any thread) ---
  // The arguments of an insert of `size` bytes are valid (kInvalidArgument otherwise).
  Status CheckInsert(const FileKey& file, size_t size) const;
  // Queues `cmd` for the writer, waiting for room or dropping it as `mode` says.
  Status Enqueue(InsertCmd cmd, InsertMode mode);

  // --- writer thread ---
  void WriterMain();
  void Recover();
  struct Admitted {
    InsertCmd* cmd;
    uint32_t slot;
    uint32_t file_id;
  };
  // Slot bookkeeping: the allocator of the slot's class plus the byte and per-class counters.
  std::optional<uint32_t> TakeFreeSlot(unsigned size_class);
  void FreeSlotNow(uint32_t slot);
  // Gives class `size_class` more slots with disk space behind them, within the disk budget
  // (backed bytes <= limit), punching free slots of other classes out if needed.
  Status BackSlots(unsigned size_class);
  // Punches free backed slots (of classes other than `except`) until `want` bytes (at least
  // `need`) are released or none is left; returns the bytes released.
  uint64_t ReleaseBacked(uint64_t want, uint64_t need, int except);
  // Keeps the data files' space within the limit (after a shrink, at open).
  void TrimBacked();
  void ProcessInserts(std::vector<InsertCmd>& batch);
  // Writes the admitted blocks (durably), then commits their entries in one index batch.
  void WriteAndCommit(const std::vector<Admitted>& admitted);
  std::optional<uint32_t> AllocateSlot(uint32_t length);
  // Evicts policy victims (one synced index batch, at most kEvictBatch blocks) until their slots
  // add up to `bytes`; returns the slot bytes released or quarantined (0: nothing evictable).
  uint64_t EvictBytes(uint64_t bytes);
  // Deletes the given entries (index first, synced), then releases their slots.
  void RemoveEntries(const std::vector<std::pair<std::string, BlockEntry>>& victims,
                     bool from_policy);
  void ReleaseSlot(uint32_t slot);
  void RetryQuarantine();
  void EvictToWatermark();
  uint64_t LimitBytes() const { return capacity_bytes_.load(); }
  uint32_t FileIdFor(std::string_view prefix, uint32_t remote_id, std::string_view path);
  void DropFileBlock(uint32_t file_id);
  bool CoveredByPin(uint32_t remote_id, std::string_view path) const;
  Status DoEvict(uint32_t remote_id, const std::string& prefix, std::optional<uint64_t> keep,
                 uint64_t* removed);
  Status DoPin(uint32_t remote_id, const std::string& prefix, bool pin);
  Result<VerifyReport> DoVerify(bool repair);
  // Queues the removal of entries a reader found bad (if they are still what it read).
  void DropBadEntries(std::vector<std::pair<std::string, BlockEntry>> bad);
  // Queues a rewrite of `entry`'s chunk record (a reader found it invalid), if the entry is still
  // the slot's occupant when the writer gets to it.
  void RepairRecord(const BlockEntry& entry, std::vector<uint32_t> record);
  std::string KeyOfSlot(uint32_t slot) const;
  void AddUsageMirror(const std::string& usage_key, int64_t bytes, int64_t blocks);

  // Runs fn on the writer thread and waits for it.
  template <typename T>
  T RunOnWriter(std::function<T()> fn);

  const BlockCacheOptions options_;
  const SizeClasses classes_;
  const DatasetMap datasets_;
  std::shared_ptr<AlignedBufferPool> pool_;
  std::shared_ptr<spdlog::logger> log_;
  std::unique_ptr<BlockIndex> index_;
  std::unique_ptr<BlockStore> store_;
  std::unique_ptr<ChunkSums> sums_;
  std::unique_ptr<EvictionPolicy> policy_;
  SlotTable<SlotState> slots_;  // per slot of every class; grown by the writer only

  // Queue to the writer. Lock order: mu_ before usage_mu_/pins_mu_ (never held together now) and
  // before new_files_'s own (Enqueue reports an insert under mu_).
  std::mutex mu_;
  std::condition_variable work_cv_;      // writer waits for commands
  std::condition_variable room_cv_;      // inserters wait for queue room
  std::condition_variable ready_cv_;
  // The files the index held nothing of when first looked up, with the blocks inserted since.
  // Declared before the queue: queued inserts hold tokens of it.
  NewFiles new_files_{kNewFilesMax, kNewFileBlocksMax};
  std::deque<Command> queue_;            // GUARDED_BY(mu_)
  size_t pending_bytes_ = 0;             // GUARDED_BY(mu_)
  bool stopping_ = false;                // GUARDED_BY(mu_)
  RecoveryReport recovery_;              // GUARDED_BY(mu_)
  std::atomic<bool> ready_{false};
  std::thread writer_;

  // Writer-owned state.
  std::array<SlotAllocator, kMaxSizeClasses> alloc_;  // per size class
  std::vector<FileInfo> files_;
  std::vector<uint32_t> free_file_ids_;
  std::unordered_map<std::string, uint32_t> file_ids_;  // prefix -> id
  std::vector<uint32_t> quarantine_;    // freed slots still being read
  uint64_t next_sequence_ = 1;
  bool disk_limited_logged_ = false;
  bool punch_unsupported_ = false;  // the filesystem cannot punch holes: the disk budget is soft

  std::atomic<uint64_t> capacity_bytes_{0};
  // Byte counters (class sizes of slots), written by the writer, read by Stats().
  std::atomic<uint64_t> used_bytes_{0};    // slots in use (including quarantined ones)
  std::atomic<uint64_t> pinned_bytes_{0};  // slots of pinned blocks
  std::atomic<uint64_t> backed_bytes_{0};  // slots with disk space behind them
  std::atomic<uint64_t> data_bytes_{0};    // block lengths
  std::array<std::atomic<uint64_t>, kMaxSizeClasses> class_used_{};
  std::array<std::atomic<uint64_t>, kMaxSizeClasses> class_backed_{};

  mutable std::mutex pins_mu_;
  std::vector<PinnedPrefix> pins_;  // GUARDED_BY(pins_mu_); written by the writer only
  std::mutex usage_mu_;
  std::map<std::string, DatasetUsageCounter> usage_;  // GUARDED_BY(usage_mu_)

  struct Counters {
    std::atomic<uint64_t> lookups{0}, hits{0}, misses{0}, crc_failures{0}, read_errors{0},
        stale_reads{0}, partial_reads{0}, partial_read_bytes{0}, record_misses{0}, inserts{0},
        insert_bytes{0}, insert_duplicates{0}, inserts_rejected{0}, inserts_shared{0},
        insert_waits{0}, insert_wait_ns{0}, write_errors{0}, evictions{0}, evicted_bytes{0},
        new_file_skips{0};
  } counters_;
};

template <typename T>
T BlockCacheImpl::RunOnWriter(std::function<T()> fn) {
  std::promise<T> promise;
  std::future<T> future = promise.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return T(Status::Aborted("cache is closing"));
    queue_.push_back(ControlCmd{[&] { promise.set_value(fn()); }});
  }
  work_cv_.notify_one();
  return future.get();
}

// A PrepareRange() whose store read the caller does, completed by CompleteRange().
class BlockCacheImpl::PlannedRange final : public PendingRangeRead {
 public:
  explicit PlannedRange(BlockCacheImpl* cache) : cache_(cache) {}
  const StoreExtent& extent() const override { return extent_; }
  uint32_t skip() const override { return range_.offset - range_.from; }
  uint32_t length() const override { return range_.length; }
  bool Finish(const std::byte* buf, int64_t res) override;

  RangeRead range_;
  StoreExtent extent_;

 private:
  BlockCacheImpl* const cache_;
  bool finished_ = false;
};

bool BlockCacheImpl::PlannedRange::Finish(const std::byte* buf, int64_t res) {
  if (finished_) return false;
  finished_ = true;
  cache_->counters_.lookups.fetch_add(1, std::memory_order_relaxed);
  // The chunks' bytes must all be there; the O_DIRECT padding past them may be cut short.
  const uint32_t need = range_.to - range_.from;
  Status read;
  if (res < 0) {
    read =
        Status::FromErrno(static_cast<int>(-res), fmt::format("read slot {}", range_.entry.slot));
  } else if (buf == nullptr || res < int64_t{need}) {
    read = Status::IOError(
        fmt::format("short read of slot {}: {} of {} bytes", range_.entry.slot, res, need));
  }
  return cache_->CompleteRange(range_, buf, read);
}

Status BlockCacheImpl::Init() {
  const BlockCacheOptions& o = options_;
  if (o.dir.empty()) return Status::InvalidArgument("cache directory is not set");
  if (o.block_size < 4096 || o.block_size % 4096 != 0) {
    return Status::InvalidArgument("block size must be a multiple of 4096, got " +
                                   std::to_string(o.block_size));
  }
  if (o.capacity_bytes < o.block_size) {
    return Status::InvalidArgument("cache size " + std::to_string(o.capacity_bytes) +
                                   " is smaller than one block (" + std::to_string(o.block_size) +
                                   ")");
  }
  if (!(o.low_watermark > 0 && o.low_watermark <= o.high_watermark && o.high_watermark <= 1)) {
    return Status::InvalidArgument("watermarks must satisfy 0 < low <= high <= 1");
  }
  if (o.eviction_policy != "s3fifo" && o.eviction_policy != "lru") {
    return Status::InvalidArgument("unknown eviction policy '" + o.eviction_policy +
                                   "' (s3fifo or lru)");
  }
  std::error_code ec;
  std::filesystem::create_directories(o.dir + "/data", ec);
  if (ec) {
    return Status::FromErrno(ec.value(), "create cache directory " + o.dir + "/data");
  }

  BlockIndexOptions io;
  io.dir = o.dir + "/index";
  io.block_size = o.block_size;
  io.block_cache_bytes = o.index_block_cache_bytes;
  io.write_buffer_bytes = o.index_write_buffer_bytes;
  io.memo_keys = o.index_memo_keys;
  io.reset_if_corrupt = o.reset_if_corrupt;
  io.reset_if_incompatible = o.reset_if_incompatible;
  HOARDFS_ASSIGN_OR_RETURN(index_, BlockIndex::Open(io));

  BlockStoreOptions so;
  so.dir = o.dir + "/data";
  so.block_size = o.block_size;
  so.slots_per_file = o.slots_per_file;
  so.grow_step_slots = o.grow_step_slots;
  so.free_space_floor_bytes = o.free_space_floor_bytes;
  so.use_direct_io = o.use_direct_io;
  so.queue_depth = o.queue_depth;
  auto store = o.store_factory ? o.store_factory(so) : BlockStore::Open(so);
  if (!store.ok()) return store.status();
  store_ = std::move(store).value();
  HOARDFS_ASSIGN_OR_RETURN(sums_, ChunkSums::Open(so.dir, classes_));

  // The limit must fit on the disk: what the data files hold already plus what is free above the
  // floor. (A cache may be smaller than its files after a shrink; never larger than the disk.)
  struct statvfs vfs {};
  if (statvfs(so.dir.c_str(), &vfs) != 0) return Status::FromErrno(errno, "statvfs " + so.dir);
  const uint64_t free_bytes = uint64_t{vfs.f_bavail} * vfs.f_frsize;
  uint64_t have = 0;
  for (unsigned c = 0; c < classes_.count(); ++c) have += store_->class_slots(c) * classes_.size(c);
  const uint64_t room = have + (free_bytes > o.free_space_floor_bytes
                                    ? free_bytes - o.free_space_floor_bytes
                                    : 0);
  if (o.capacity_bytes > room) {
    return Status::InvalidArgument(
        "cache size " + std::to_string(o.capacity_bytes >> 20) + " MiB does not fit in " + o.dir +
        ": the disk has " + std::to_string(free_bytes >> 20) + " MiB free, the cache files hold " +
        std::to_string(have >> 20) + " MiB, and " + std::to_string(o.free_space_floor_bytes >> 20) +
        " MiB must stay free");
  }
  capacity_bytes_ = o.capacity_bytes;
  std::vector<uint32_t> sizes;
  for (unsigned c = 0; c < classes_.count(); ++c) sizes.push_back(classes_.size(c));
  policy_ = o.eviction_policy == "lru" ? NewLruPolicy(o.capacity_bytes, sizes)
                                       : NewS3FifoPolicy(o.capacity_bytes, sizes);
  // Every slot inside the data files counts as backed until proven otherwise: some may be holes
  // (punched before a restart), so the disk holds at most what we count.
  for (unsigned c = 0; c < classes_.count(); ++c) {
    const uint64_t n = store_->class_slots(c);
    slots_.Grow(c, n);
    alloc_[c].Grow(n, /*backed=*/true);
    class_backed_[c] = n;
  }
  backed_bytes_ = have;

  HOARDFS_ASSIGN_OR_RETURN(auto pins, index_->ScanMeta(kPinMetaPrefix));
  for (const auto& [key, value] : pins) {
    const size_t skip = sizeof(kPinMetaPrefix) - 1;
    if (key.size() < skip + 5) continue;
    pins_.push_back({ReadBigEndian32(key.data() + skip), key.substr(skip + 4)});
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    recovery_.index_reset = index_->was_reset();
  }
  writer_ = std::thread([this] { WriterMain(); });
  return Status::Ok();
}

BlockCacheImpl::~BlockCacheImpl() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  room_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

// ---------------------------------------------------------------------------------------------
// Reads (any thread)

std::vector<std::optional<BlockEntry>> BlockCacheImpl::EntriesOf(const FileKey& file,
                                                                 std::span<const uint32_t> blocks) {
  std::vector<std::optional<BlockEntry>> out(blocks.size());
  if (blocks.empty()) return out;
  const std::string prefix = FilePrefix(file);
  std::vector<bool> may_hold;
  uint64_t ticket = 0;
  const NewFiles::State state = new_files_.Filter(prefix, blocks, &may_hold, &ticket);
  if (state == NewFiles::State::kUnknown) {
    Result<bool> any = index_->HasBlocks(prefix);
    if (any.ok()) {  // else look the blocks up
      new_files_.Learn(prefix, *any, ticket);
      if (!*any) {
        counters_.new_file_skips.fetch_add(blocks.size(), std::memory_order_relaxed);
        return out;  // nothing of the file is cached
      }
    }
  }
  // Every block, or of a new file only those inserted since it was found new.
  std::vector<size_t> at;
  std::vector<std::string> keys;
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (state == NewFiles::State::kNew && !may_hold[i]) continue;
    at.push_back(i);
    keys.push_back(prefix);
    AppendBigEndian32(&keys.back(), blocks[i]);
  }
  counters_.new_file_skips.fetch_add(blocks.size() - at.size(), std::memory_order_relaxed);
  if (at.empty()) return out;
  std::vector<std::optional<BlockEntry>> found = index_->MultiGet(keys);
  for (size_t j = 0; j < at.size(); ++j) out[at[j]] = std::move(found[j]);
  return out;
}

std::vector<bool> BlockCacheImpl::ReadTargets(const FileKey& file,
                                              std::span<const ReadTarget> targets) {
  std::vector<bool> ok(targets.size(), false);
  // Pin each target's slot, then check the generation: the writer bumps the generation before it
  // looks at `readers`, so either it sees our pin or we see its bump (both seq_cst). Before
  // recovery is done no slot is ever reused, and generations are still being loaded.
  std::vector<size_t> pinned;  // targets being read
  pinned.reserve(targets.size());
  for (size_t i = 0; i < targets.size(); ++i) {
    const BlockEntry& e = targets[i].entry;
    if (!slots_.Contains(e.slot) || e.length > classes_.SizeOfSlot(e.slot)) continue;
    SlotState& s = slots_.at(e.slot);
    s.readers.fetch_add(1);
    if (ready_.load() && s.generation.load() != e.generation) {
      s.readers.fetch_sub(1);
      counters_.stale_reads.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    pinned.push_back(i);
  }
  // In slot order: targets side by side in a data file (a sparse read's edge pages, inserted
  // together) are then neighbours in the batch, which the store reads by one transfer.
  std::sort(pinned.begin(), pinned.end(),
            [&](size_t a, size_t b) { return targets[a].entry.slot < targets[b].entry.slot; });

  std::vector<BlockIo> ops(pinned.size());
  for (size_t j = 0; j < pinned.size(); ++j) {
    const ReadTarget& t = targets[pinned[j]];
    ops[j].slot = t.entry.slot;
    ops[j].length = t.entry.length;
    ops[j].buf = t.dest;
  }
  std::vector<std::pair<std::string, BlockEntry>> bad;
  store_->Read(ops, [&](BlockIo& op) {
    const ReadTarget& t = targets[pinned[static_cast<size_t>(&op - ops.data())]];
    if (!op.status.ok()) {
      counters_.read_errors.fetch_add(1, std::memory_order_relaxed);
      log_->warn("cache read of slot {} failed ({}); serving as a miss", op.slot,
                 op.status.ToString());
      bad.emplace_back(BlockKey(file, t.block), t.entry);
      return;
    }
    const bool chunked = (t.entry.flags & BlockEntry::kFlagChunkSums) != 0;
    if (BlockChecksum({t.dest, op.length}, chunked) != t.entry.crc) {
      counters_.crc_failures.fetch_add(1, std::memory_order_relaxed);
      log_->warn("checksum mismatch in slot {}; dropping the block and serving as a miss",
                 op.slot);
      bad.emplace_back(BlockKey(file, t.block), t.entry);
      return;
    }
    policy_->Touch(op.slot);
    ok[pinned[static_cast<size_t>(&op - ops.data())]] = true;
  });
  for (size_t i : pinned) slots_.at(targets[i].entry.slot).readers.fetch_sub(1);
  if (!bad.empty()) DropBadEntries(std::move(bad));
  return ok;
}

std::vector<std::optional<CachedBlock>> BlockCacheImpl::Read(const FileKey& file,
                                                             std::span<const uint32_t> blocks) {
  const size_t n = blocks.size();
  std::vector<std::optional<CachedBlock>> out(n);
  if (n == 0) return out;
  counters_.lookups.fetch_add(n, std::memory_order_relaxed);
  std::vector<std::optional<BlockEntry>> entries = EntriesOf(file, blocks);
  // Each found block into a buffer of its own; small blocks get one of their own size (a
  // block-sized one per 4 KiB block would hold 256 times the bytes read).
  std::vector<ReadTarget> targets;
  std::vector<std::pair<size_t, AlignedBuffer>> buffers;  // (result index, buffer) per target
  targets.reserve(n);
  buffers.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (!entries[i].has_value()) continue;
    buffers.emplace_back(i, pool_->Get(entries[i]->length));
    targets.push_back({blocks[i], *entries[i], buffers.back().second.data()});
  }
  const std::vector<bool> ok = ReadTargets(file, targets);
  auto pool = pool_;
  size_t hits = 0;
  for (size_t j = 0; j < targets.size(); ++j) {
    auto& [i, buffer] = buffers[j];
    if (ok[j]) {
      out[i].emplace(std::move(buffer), [pool](AlignedBuffer b) { pool->Put(std::move(b)); });
      ++hits;
    } else {
      pool_->Put(std::move(buffer));
    }
  }
  counters_.hits.fetch_add(hits, std::memory_order_relaxed);
  counters_.misses.fetch_add(n - hits, std::memory_order_relaxed);
  return out;
}

std::vector<std::optional<BlockEntry>> BlockCacheImpl::LookUp(const FileKey& file,
                                                              std::span<const uint32_t> blocks) {
  counters_.lookups.fetch_add(blocks.size(), std::memory_order_relaxed);
  std::vector<std::optional<BlockEntry>> entries = EntriesOf(file, blocks);
  size_t found = 0;
  for (const auto& e : entries) found += e.has_value() ? 1 : 0;
  counters_.misses.fetch_add(blocks.size() - found, std::memory_order_relaxed);
  return entries;
}

std::vector<bool> BlockCacheImpl::ReadInto(const FileKey& file,
                                           std::span<const ReadTarget> targets) {
  std::vector<bool> ok = ReadTargets(file, targets);
  size_t hits = 0;
  for (bool b : ok) hits += b ? 1 : 0;
  counters_.hits.fetch_add(hits, std::memory_order_relaxed);
  counters_.misses.fetch_add(targets.size() - hits, std::memory_order_relaxed);
  return ok;
}

void BlockCacheImpl::DropBadEntries(std::vector<std::pair<std::string, BlockEntry>> bad) {
  // Drop the bad entries on the writer, if they still are what we read (asynchronously).
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return;
  queue_.push_back(ControlCmd{[this, bad = std::move(bad)] {
    std::vector<std::pair<std::string, BlockEntry>> still;
    for (const auto& [key, entry] : bad) {
      auto current = index_->Get(key);
      if (current.ok() && current->has_value() && (*current)->generation == entry.generation &&
          (*current)->slot == entry.slot) {
        still.emplace_back(key, entry);
      }
    }
    if (!still.empty()) RemoveEntries(still, /*from_policy=*/false);
  }});
  work_cv_.notify_one();
}

void BlockCacheImpl::RepairRecord(const BlockEntry& entry, std::vector<uint32_t> record) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return;
  queue_.push_back(ControlCmd{[this, entry, record = std::move(record)] {
    // Writer-owned slot state: still occupied by this entry (same generation, same length)?
    if (!slots_.Contains(entry.slot)) return;
    const SlotState& s = slots_.at(entry.slot);
    if (s.file_id == kNoFile || s.generation.load() != entry.generation ||
        s.length != entry.length) {
      return;
    }
    sums_->Write(entry.slot, record);
  }});
  work_cv_.notify_one();
}

BlockCacheImpl::RangeStep BlockCacheImpl::PrepareRange(std::string key, const BlockEntry& e,
                                                       uint32_t offset, uint32_t length,
                                                       RangeRead* r) {
  const bool chunked = (e.flags & BlockEntry::kFlagChunkSums) != 0;
  const uint32_t first = offset / kChunkSize;
  const uint32_t last = (offset + length - 1) / kChunkSize;
  const uint32_t chunks = ChunkCount(e.length);
  // Whole-block reads when there is no record, or most of the block is wanted anyway.
  if (!chunked || !sums_->HasRecords(e.slot) || 2 * (last - first + 1) > chunks) {
    return RangeStep::kWhole;
  }
  if (!slots_.Contains(e.slot) || e.length > classes_.SizeOfSlot(e.slot)) return RangeStep::kMiss;

  SlotState& slot = slots_.at(e.slot);
  slot.readers.fetch_add(1);  // pin, then check the generation (see ReadTargets())
  r->pinned = &slot;
  if (ready_.load() && slot.generation.load() != e.generation) {
    r->Unpin();
    return RangeStep::kStale;
  }
  r->record.resize(chunks);
  if (!sums_->Read(e.slot, r->record) || RecordChecksum(r->record) != e.crc) {
    r->Unpin();
    return RangeStep::kNoRecord;
  }
  r->key = std::move(key);
  r->entry = e;
  r->first = first;
  r->last = last;
  r->from = first * kChunkSize;
  r->to = std::min(e.length, (last + 1) * kChunkSize);
  r->offset = offset;
  r->length = length;
  return RangeStep::kReady;
}

bool BlockCacheImpl::CompleteRange(RangeRead& r, const std::byte* buf, const Status& read) {
  const uint32_t slot = r.entry.slot;
  bool ok = read.ok();
  if (!ok) {
    counters_.read_errors.fetch_add(1, std::memory_order_relaxed);
    log_->warn("cache read of slot {} failed ({}); serving as a miss", slot, read.ToString());
  } else {
    for (uint32_t c = r.first; c <= r.last && ok; ++c) {
      const uint32_t at = c * kChunkSize - r.from;
      const uint32_t n = std::min(kChunkSize, r.to - r.from - at);
      ok = Crc32c(buf + at, n) == r.record[c];
    }
    if (!ok) {
      counters_.crc_failures.fetch_add(1, std::memory_order_relaxed);
      log_->warn("checksum mismatch in slot {}; dropping the block and serving as a miss", slot);
    }
  }
  r.Unpin();
  if (!ok) {
    DropBadEntries({{std::move(r.key), r.entry}});
    counters_.misses.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  policy_->Touch(slot);
  counters_.hits.fetch_add(1, std::memory_order_relaxed);
  counters_.partial_reads.fetch_add(1, std::memory_order_relaxed);
  counters_.partial_read_bytes.fetch_add(r.to - r.from, std::memory_order_relaxed);
  return true;
}

std::optional<CachedRange> BlockCacheImpl::ReadRange(const FileKey& file, uint32_t block,
                                                     uint32_t offset, uint32_t length) {
  counters_.lookups.fetch_add(1, std::memory_order_relaxed);
  auto miss = [&]() -> std::optional<CachedRange> {
    counters_.misses.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  };
  std::string key = BlockKey(file, block);
  std::vector<std::optional<BlockEntry>> entries = index_->MultiGet(std::span(&key, 1));
  if (!entries[0].has_value()) return miss();
  const BlockEntry e = *entries[0];
  if (offset >= e.length || length == 0) return miss();
  length = std::min(length, e.length - offset);

  auto whole = [&]() -> std::optional<CachedRange> {
    counters_.lookups.fetch_sub(1, std::memory_order_relaxed);  // Read() counts it again
    std::vector<std::optional<CachedBlock>> got = Read(file, std::span(&block, 1));
    if (!got[0].has_value()) return std::nullopt;
    return CachedRange{std::move(*got[0]), offset, length};
  };
  RangeRead r;
  switch (PrepareRange(std::move(key), e, offset, length, &r)) {
    case RangeStep::kReady:
      break;
    case RangeStep::kWhole:
      return whole();
    case RangeStep::kMiss:
      return miss();
    case RangeStep::kStale:
      counters_.stale_reads.fetch_add(1, std::memory_order_relaxed);
      return miss();
    case RangeStep::kNoRecord: {
      // Not there, torn, or another occupant's: read the block whole (verified against the
      // entry) and write its record again.
      counters_.record_misses.fetch_add(1, std::memory_order_relaxed);
      std::optional<CachedRange> got = whole();
      if (got.has_value()) {
        std::vector<uint32_t> fresh;
        ComputeChunkRecord(got->chunks.bytes(), &fresh);
        RepairRecord(e, std::move(fresh));
      }
      return got;
    }
  }

  AlignedBuffer buffer = pool_->Get(r.to - r.from);
  BlockIo op;
  op.slot = e.slot;
  op.offset = r.from;
  op.length = r.to - r.from;
  op.buf = buffer.data();
  store_->Read(std::span(&op, 1));
  if (!CompleteRange(r, buffer.data(), op.status)) {
    pool_->Put(std::move(buffer));
    return std::nullopt;
  }
  auto pool = pool_;
  return CachedRange{
      CachedBlock(std::move(buffer), [pool](AlignedBuffer b) { pool->Put(std::move(b)); }),
      offset - r.from, length};
}

std::unique_ptr<PendingRangeRead> BlockCacheImpl::PlanRangeRead(const FileKey& file, uint32_t block,
                                                                uint32_t offset, uint32_t length) {
  if (length == 0) return nullptr;
  std::string key = BlockKey(file, block);
  std::vector<std::optional<BlockEntry>> entries = index_->MultiGet(std::span(&key, 1));
  if (!entries[0].has_value()) return nullptr;
  const BlockEntry& e = *entries[0];
  // ReadRange() would shorten a range past the block's end: the caller's answer would be short.
  if (offset >= e.length || length > e.length - offset) return nullptr;
  auto plan = std::make_unique<PlannedRange>(this);
  if (PrepareRange(std::move(key), e, offset, length, &plan->range_) != RangeStep::kReady) {
    return nullptr;
  }
  const RangeRead& r = plan->range_;
  Result<StoreExtent> extent = store_->Locate(e.slot, r.from, r.to - r.from);
  if (!extent.ok()) return nullptr;  // destroying the plan unpins the slot
  plan->extent_ = *extent;
  return plan;
}

std::vector<bool> BlockCacheImpl::Contains(const FileKey& file, std::span<const uint32_t> blocks) {
  std::vector<std::optional<BlockEntry>> entries = EntriesOf(file, blocks);
  std::vector<bool> out(blocks.size());
  for (size_t i = 0; i < blocks.size(); ++i) out[i] = entries[i].has_value();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Inserts (any thread -> writer)

Status BlockCacheImpl::Insert(const FileKey& file, uint32_t block, std::span<const std::byte> data,
                              InsertMode mode) {
  HOARDFS_RETURN_IF_ERROR(CheckInsert(file, data.size()));
  std::vector<uint32_t> record;
  const uint32_t checksum = BlockChecksum(data, /*chunked=*/true, &record);
  // Small blocks (pieces, small files, file tails) get a buffer of their own size: a block-sized
  // buffer per 4 KiB file would hold 256 times the queued bytes.
  InsertCmd cmd{BlockKey(file, block), file.remote_id, block, checksum, std::move(record), {}};
  cmd.data.own = pool_->Get(data.size());
  std::memcpy(cmd.data.own.data(), data.data(), data.size());
  // Zero the O_DIRECT padding so no stale memory reaches the disk.
  std::memset(cmd.data.own.data() + data.size(), 0, cmd.data.own.capacity() - data.size());
  return Enqueue(std::move(cmd), mode);
}

Status BlockCacheImpl::InsertShared(const FileKey& file, uint32_t block,
                                    std::shared_ptr<const std::byte> data, size_t size,
                                    InsertMode mode) {
  if (reinterpret_cast<uintptr_t>(data.get()) % kDirectIoAlignment != 0 ||
      size % kDirectIoAlignment != 0) {
    return Insert(file, block, std::span<const std::byte>(data.get(), size), mode);
  }
  HOARDFS_RETURN_IF_ERROR(CheckInsert(file, size));
  std::vector<uint32_t> record;
  const uint32_t checksum =
      BlockChecksum(std::span<const std::byte>(data.get(), size), /*chunked=*/true, &record);
  InsertCmd cmd{BlockKey(file, block), file.remote_id, block, checksum, std::move(record), {}};
  cmd.data.shared = std::move(data);
  cmd.data.shared_size = size;
  HOARDFS_RETURN_IF_ERROR(Enqueue(std::move(cmd), mode));
  counters_.inserts_shared.fetch_add(1, std::memory_order_relaxed);
  return Status::Ok();
}

Status BlockCacheImpl::CheckInsert(const FileKey& file, size_t size) const {
  HOARDFS_RETURN_IF_ERROR(ValidatePath(file.path));
  if (size == 0 || size > options_.block_size) {
    return Status::InvalidArgument("block of " + std::to_string(size) + " bytes; must be 1.." +
                                   std::to_string(options_.block_size));
  }
  return Status::Ok();
}

Status BlockCacheImpl::Enqueue(InsertCmd cmd, InsertMode mode) {
  const size_t queued = cmd.data.capacity();  // what the queue holds in memory
  bool wake = false;
  {
    std::unique_lock<std::mutex> lock(mu_);
    auto has_room = [&] {
      return stopping_ || pending_bytes_ + queued <= options_.max_pending_insert_bytes ||
             pending_bytes_ == 0;
    };
    if (mode == InsertMode::kDropIfBusy && !has_room()) {
      counters_.inserts_rejected.fetch_add(1, std::memory_order_relaxed);
      lock.unlock();
      pool_->Put(std::move(cmd.data.own));
      return Status::ResourceExhausted("cache insert queue is full");
    }
    if (!has_room()) {  // backpressure: the writer is behind (the disk is slower than the fetches)
      const auto waited_from = std::chrono::steady_clock::now();
      room_cv_.wait(lock, has_room);
      counters_.insert_waits.fetch_add(1, std::memory_order_relaxed);
      counters_.insert_wait_ns.fetch_add(
          static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                    std::chrono::steady_clock::now() - waited_from)
                                    .count()),
          std::memory_order_relaxed);
    }
    if (stopping_) return Status::Aborted("cache is closing");
    // The writer needs waking only when it may be idle (an empty queue) or is lingering for
    // more bytes than it had (WriterMain): not once per piece of a sparse read.
    wake = queue_.empty() || pending_bytes_ + queued >= options_.block_size;
    pending_bytes_ += queued;
    // Reported before the entry can be committed (the writer takes it from the queue).
    cmd.pending = new_files_.Inserted(
        std::string_view(cmd.key).substr(0, cmd.key.size() - sizeof(uint32_t)), cmd.block);
    queue_.push_back(std::move(cmd));
  }
  if (wake) work_cv_.notify_one();
  return Status::Ok();
}

Status BlockCacheImpl::Flush() {
  return RunOnWriter<Status>([] { return Status::Ok(); });
}

Status BlockCacheImpl::WaitUntilReady() {
  std::unique_lock<std::mutex> lock(mu_);
  ready_cv_.wait(lock, [&] { return ready_.load() || stopping_; });
  return ready_.load() ? Status::Ok() : Status::Aborted("cache is closing");
}

void BlockCacheImpl::WriterMain() {
  try {
    Recover();
  } catch (const std::exception& e) {
    log_->critical("cache recovery failed: {}", e.what());
  }
  pthread_setname_np(pthread_self(), "hoardfs-writer");
  {
    std::lock_guard<std::mutex> lock(mu_);
    ready_.store(true);
  }
  ready_cv_.notify_all();

  std::vector<InsertCmd> batch;
  for (;;) {
    std::optional<ControlCmd> control;
    size_t batch_bytes = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;  // stopping, everything drained
      // Less than a block of inserts (a sparse read's pieces, small files) and nothing else:
      // wait a moment for more, so that one data sync and one index commit serve several reads
      // (the sparse ROOT-like read synced once per basket: a fifth of the daemon's CPU).
      auto only_small_inserts = [&] {
        return std::holds_alternative<InsertCmd>(queue_.back()) &&
               pending_bytes_ < options_.block_size;
      };
      if (only_small_inserts()) {
        work_cv_.wait_for(lock, kWriterLinger, [&] { return stopping_ || !only_small_inserts(); });
      }
      while (!queue_.empty() && batch_bytes < options_.max_insert_batch_bytes) {
        if (auto* ins = std::get_if<InsertCmd>(&queue_.front())) {
          batch_bytes += ins->data.capacity();
          batch.push_back(std::move(*ins));
          queue_.pop_front();
        } else {
          if (batch.empty()) {
            control = std::move(std::get<ControlCmd>(queue_.front()));
            queue_.pop_front();
          }
          break;
        }
      }
    }
    try {
      if (!batch.empty()) ProcessInserts(batch);
      if (control) control->fn();
      RetryQuarantine();
      EvictToWatermark();
      TrimBacked();
    } catch (const std::exception& e) {  // bad_alloc: drop this batch, keep serving
      log_->error("cache writer: {}", e.what());
    }
    for (InsertCmd& cmd : batch) pool_->Put(std::move(cmd.data.own));  // shared ones: released
    batch.clear();
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending_bytes_ -= std::min(pending_bytes_, batch_bytes);
    }
    room_cv_.notify_all();
  }
}

uint32_t BlockCacheImpl::FileIdFor(std::string_view prefix, uint32_t remote_id,
                                   std::string_view path) {
  auto it = file_ids_.find(std::string(prefix));
  if (it != file_ids_.end()) return it->second;
  uint32_t id;
  if (!free_file_ids_.empty()) {
    id = free_file_ids_.back();
    free_file_ids_.pop_back();
  } else {
    id = static_cast<uint32_t>(files_.size());
    files_.emplace_back();
  }
  FileInfo& f = files_[id];
  f.prefix = std::string(prefix);
  f.usage_key = UsageKey(remote_id, datasets_.Resolve(path));
  f.blocks = 0;
  f.pinned = CoveredByPin(remote_id, path);
  file_ids_.emplace(f.prefix, id);
  return id;
}

void BlockCacheImpl::DropFileBlock(uint32_t file_id) {
  FileInfo& f = files_[file_id];
  if (--f.blocks == 0) {
    file_ids_.erase(f.prefix);
    f.prefix.clear();
    f.usage_key.clear();
    free_file_ids_.push_back(file_id);
  }
}

bool BlockCacheImpl::CoveredByPin(uint32_t remote_id, std::string_view path) const {
  std::lock_guard<std::mutex> lock(pins_mu_);
  for (const PinnedPrefix& p : pins_) {
    if (p.remote_id == remote_id && PathHasPrefix(path, p.prefix)) return true;
  }
  return false;
}

std::string BlockCacheImpl::KeyOfSlot(uint32_t slot) const {
  const SlotState& s = slots_.at(slot);
  std::string key = files_[s.file_id].prefix;
  AppendBigEndian32(&key, s.block);
  return key;
}

void BlockCacheImpl::AddUsageMirror(const std::string& usage_key, int64_t bytes, int64_t blocks) {
  std::lock_guard<std::mutex> lock(usage_mu_);
  DatasetUsageCounter& u = usage_[usage_key];
  u.bytes += bytes;
  u.blocks += blocks;
  if (u.blocks <= 0) usage_.erase(usage_key);
}

std::optional<uint32_t> BlockCacheImpl::TakeFreeSlot(unsigned size_class) {
  std::optional<uint32_t> index = alloc_[size_class].Allocate();
  if (!index) return std::nullopt;
  used_bytes_.fetch_add(classes_.size(size_class));
  class_used_[size_class].fetch_add(1);
  return SlotId(size_class, *index);
}

void BlockCacheImpl::FreeSlotNow(uint32_t slot) {
  const unsigned c = SlotClass(slot);
  if (!alloc_[c].IsUsed(SlotIndex(slot))) return;
  alloc_[c].Free(SlotIndex(slot));
  used_bytes_.fetch_sub(classes_.size(c));
  class_used_[c].fetch_sub(1);
}

uint64_t BlockCacheImpl::ReleaseBacked(uint64_t want, uint64_t need, int except) {
  if (punch_unsupported_) return 0;
  std::vector<uint32_t> punch;
  uint64_t released = 0;
  // Smallest classes first: their free slots are the most numerous and the least useful.
  for (int c = static_cast<int>(classes_.count()) - 1; c >= 0 && released < want; --c) {
    if (c == except) continue;
    const uint64_t size = classes_.size(static_cast<unsigned>(c));
    for (uint32_t index : alloc_[c].FreeBacked((want - released + size - 1) / size)) {
      punch.push_back(SlotId(static_cast<unsigned>(c), index));
      released += size;
    }
  }
  if (punch.empty() || released < need) return 0;
  Status st = store_->Deallocate(punch);
  if (st.code() == StatusCode::kNotSupported) {
    punch_unsupported_ = true;
    log_->warn(
        "cache: {}; freed slots keep their disk space, so the data files may hold more "
        "than the limit when block sizes shift",
        st.ToString());
    return 0;
  }
  if (!st.ok()) {
    // Some runs may be punched, others not: keep counting them all as backed (an overestimate).
    log_->warn("cache: punching freed slots failed: {}", st.ToString());
    return 0;
  }
  for (uint32_t slot : punch) {
    alloc_[SlotClass(slot)].MarkUnbacked(SlotIndex(slot));
    class_backed_[SlotClass(slot)].fetch_sub(1);
  }
  backed_bytes_.fetch_sub(released);
  return released;
}

void BlockCacheImpl::TrimBacked() {
  const uint64_t limit = LimitBytes();
  if (backed_bytes_.load() > limit) {
    const uint64_t excess = backed_bytes_.load() - limit;
    ReleaseBacked(excess, 0, /*except=*/-1);
  }
}

Status BlockCacheImpl::BackSlots(unsigned size_class) {
  const uint64_t size = classes_.size(size_class);
  // A step is grow_step_slots slots of the class: small classes grow in small steps, so a few
  // small blocks do not preallocate a large share of the budget.
  const uint64_t step_bytes = std::max<uint64_t>(1, options_.grow_step_slots) * size;
  auto [first, run] = alloc_[size_class].FindUnbacked(step_bytes / size);
  if (first >= kMaxSlotsPerClass) {
    return Status::InvalidArgument("size class " + std::to_string(size) + " has no more slots");
  }
  run = std::min(run, kMaxSlotsPerClass - first);
  // Disk budget: the slots with space behind them never add up to more than the limit, so the data
  // files stay within it whatever the mix of sizes. Take the space from free slots of other
  // classes (a step's worth, to amortise the system calls) when there is no room left.
  const uint64_t limit = LimitBytes();
  if (backed_bytes_.load() + size > limit) {
    const uint64_t need = backed_bytes_.load() + size - limit;
    ReleaseBacked(std::max(need, std::min(step_bytes, run * size)), need,
                  static_cast<int>(size_class));
  }
  if (backed_bytes_.load() + size > limit && !punch_unsupported_) {
    return Status::ResourceExhausted("no disk budget left for size class " + std::to_string(size));
  }
  const uint64_t budget = backed_bytes_.load() < limit ? limit - backed_bytes_.load() : 0;
  run = std::max<uint64_t>(1, std::min(run, budget / size));
  Status st = store_->Allocate(size_class, first, run);
  if (!st.ok() && run > 1) {
    run = 1;
    st = store_->Allocate(size_class, first, run);
  }
  if (st.code() == StatusCode::kResourceExhausted &&
      ReleaseBacked(size, size, static_cast<int>(size_class)) > 0) {
    // The disk is at its floor: move space over from free slots of other classes.
    st = store_->Allocate(size_class, first, run);
  }
  if (!st.ok()) {
    if (!disk_limited_logged_) {
      log_->warn(
          "cache cannot allocate disk space for its data files ({}); holding {} MiB "
          "instead of {} MiB",
          st.ToString(), used_bytes_.load() >> 20, limit >> 20);
      disk_limited_logged_ = true;
    }
    return st;
  }
  slots_.Grow(size_class, first + run);
  const uint64_t before = alloc_[size_class].backed();
  alloc_[size_class].MarkBacked(first, run);
  const uint64_t added = alloc_[size_class].backed() - before;
  class_backed_[size_class].fetch_add(added);
  backed_bytes_.fetch_add(added * size);
  return Status::Ok();
}

std::optional<uint32_t> BlockCacheImpl::AllocateSlot(uint32_t length) {
  const unsigned want = classes_.For(length);
  for (int attempt = 0; attempt < 4; ++attempt) {
    const uint64_t limit = LimitBytes();
    // The block's class; a larger one only if the class ran out of addressable slots.
    for (int c = static_cast<int>(want); c >= 0; --c) {
      const auto uc = static_cast<unsigned>(c);
      if (used_bytes_.load() + classes_.size(uc) > limit) break;  // reserve within the limit
      if (auto slot = TakeFreeSlot(uc)) return slot;
      Status st = BackSlots(uc);
      if (st.ok()) {
        if (auto slot = TakeFreeSlot(uc)) return slot;
        break;
      }
      if (st.code() != StatusCode::kInvalidArgument) break;
    }
    // Full (by the limit, the disk budget or the disk): evict, then retry.
    RetryQuarantine();
    const uint64_t need = used_bytes_.load() + classes_.size(want) > limit
                              ? used_bytes_.load() + classes_.size(want) - limit
                              : classes_.size(want);
    // Evict a little more than needed (a synced index batch per block would be slow), but never
    // much of the cache: the rest of the batch is about to be admitted.
    const uint64_t some = std::min<uint64_t>(kEvictBatch / 4 * classes_.size(want),
                                             std::max<uint64_t>(limit / 32, classes_.size(want)));
    if (EvictBytes(std::max(need, some)) == 0 && quarantine_.empty()) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

void BlockCacheImpl::ProcessInserts(std::vector<InsertCmd>& batch) {
  // Skip blocks already cached (or repeated in this batch).
  std::vector<std::string_view> keys;
  keys.reserve(batch.size());
  for (const InsertCmd& c : batch) keys.push_back(c.key);
  std::vector<std::optional<BlockEntry>> existing =
      index_->MultiGet(std::span<const std::string_view>(keys));
  std::unordered_set<std::string_view> seen;
  seen.reserve(batch.size());

  // Admit in chunks: when no slot can be had, the blocks admitted so far are written and
  // committed first, so they become evictable by the rest of a batch larger than the cache.
  size_t i = 0;
  std::vector<Admitted> admitted;
  admitted.reserve(batch.size());
  while (i < batch.size()) {
    admitted.clear();
    for (; i < batch.size(); ++i) {
      InsertCmd& c = batch[i];
      if (existing[i].has_value() || seen.contains(c.key)) {
        counters_.insert_duplicates.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      auto d = DecodeBlockKey(c.key);
      const size_t prefix_len = c.key.size() - kBlockIndexBytes;
      const uint32_t file_id =
          FileIdFor(std::string_view(c.key).substr(0, prefix_len), c.remote_id, d->path);
      files_[file_id].blocks++;  // hold the file while we work on it
      std::optional<uint32_t> slot = AllocateSlot(static_cast<uint32_t>(c.data.size()));
      if (!slot) {
        DropFileBlock(file_id);
        if (!admitted.empty()) break;  // commit these, then retry block i
        counters_.inserts_rejected.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      seen.insert(c.key);
      admitted.push_back({&c, *slot, file_id});
    }
    if (!admitted.empty()) WriteAndCommit(admitted);
  }
}

void BlockCacheImpl::WriteAndCommit(const std::vector<Admitted>& admitted) {
  std::vector<BlockIo> ops(admitted.size());
  for (size_t i = 0; i < admitted.size(); ++i) {
    ops[i].slot = admitted[i].slot;
    ops[i].length = static_cast<uint32_t>(admitted[i].cmd->data.size());
    // A write only reads the buffer (a shared one is the caller's, const to us).
    ops[i].buf = const_cast<std::byte*>(admitted[i].cmd->data.data());
  }
  store_->Write(ops);  // returns when the written bytes are durable
  // Chunk records are hints checked against the entry (cache/chunk_sums.h): not synced.
  for (size_t i = 0; i < admitted.size(); ++i) {
    if (ops[i].status.ok() && sums_->HasRecords(ops[i].slot)) {
      sums_->Write(ops[i].slot, admitted[i].cmd->record);
    }
  }

  BlockIndex::Batch ib(index_.get());
  UsageDeltas usage;
  std::vector<BlockEntry> entries(admitted.size());
  for (size_t i = 0; i < admitted.size(); ++i) {
    if (!ops[i].status.ok()) continue;
    BlockEntry& e = entries[i];
    e.slot = admitted[i].slot;
    e.length = ops[i].length;
    e.crc = admitted[i].cmd->crc;
    e.flags = BlockEntry::kFlagChunkSums;
    e.generation = slots_.at(e.slot).generation.load();
    e.sequence = next_sequence_++;
    // Enter the policy now (nothing can evict before we return: eviction runs on this thread)
    // so a ghost hit's admission to the main queue is persisted with the entry.
    if (!files_[admitted[i].file_id].pinned) {
      policy_->Insert(e.slot, Hash64(admitted[i].cmd->key));
      if (policy_->InMain(e.slot)) e.flags |= BlockEntry::kFlagInMain;
    }
    ib.PutBlock(admitted[i].cmd->key, e);
    usage.Add(files_[admitted[i].file_id].usage_key, e.length, 1);
  }
  for (const auto& [key, u] : usage.deltas()) ib.AddUsage(key, u.bytes, u.blocks);
  Status committed = ib.count() > 0 ? index_->Commit(&ib, /*sync=*/false) : Status::Ok();
  if (!committed.ok()) log_->error("cache index commit failed: {}", committed.ToString());

  for (size_t i = 0; i < admitted.size(); ++i) {
    const Admitted& a = admitted[i];
    if (!ops[i].status.ok() || !committed.ok()) {
      if (!ops[i].status.ok()) {
        counters_.write_errors.fetch_add(1, std::memory_order_relaxed);
        log_->warn("cache write of slot {} failed: {}", a.slot, ops[i].status.ToString());
      }
      if (ops[i].status.ok() && !files_[a.file_id].pinned) policy_->Remove(a.slot);
      FreeSlotNow(a.slot);  // nothing references it
      DropFileBlock(a.file_id);
      continue;
    }
    SlotState& s = slots_.at(a.slot);
    s.file_id = a.file_id;
    s.block = a.cmd->block;
    s.length = entries[i].length;
    s.pinned = files_[a.file_id].pinned;
    if (s.pinned) pinned_bytes_.fetch_add(classes_.SizeOfSlot(a.slot));
    data_bytes_.fetch_add(s.length);
    counters_.inserts.fetch_add(1, std::memory_order_relaxed);
    counters_.insert_bytes.fetch_add(s.length, std::memory_order_relaxed);
  }
  if (committed.ok()) {  // the blocks whose write failed were left out of `usage` above
    for (const auto& [key, u] : usage.deltas()) AddUsageMirror(key, u.bytes, u.blocks);
  }
}

uint64_t BlockCacheImpl::EvictBytes(uint64_t bytes) {
  std::vector<std::pair<std::string, BlockEntry>> victims;
  uint64_t freed = 0;
  while (freed < bytes && victims.size() < kEvictBatch) {
    std::optional<uint32_t> slot = policy_->Evict();
    if (!slot) break;
    if (!slots_.Contains(*slot)) continue;
    const SlotState& s = slots_.at(*slot);
    if (s.file_id == kNoFile || s.pinned) continue;  // stale policy entry
    BlockEntry e;
    e.slot = *slot;
    e.length = s.length;
    e.generation = s.generation.load();
    victims.emplace_back(KeyOfSlot(*slot), e);
    freed += classes_.SizeOfSlot(*slot);
  }
  if (victims.empty()) return 0;
  RemoveEntries(victims, /*from_policy=*/true);
  counters_.evictions.fetch_add(victims.size(), std::memory_order_relaxed);
  for (const auto& v : victims) {
    counters_.evicted_bytes.fetch_add(v.second.length, std::memory_order_relaxed);
  }
  return freed;
}

void BlockCacheImpl::RemoveEntries(const std::vector<std::pair<std::string, BlockEntry>>& victims,
                                   bool from_policy) {
  // 1. Delete the entries (and their usage) in one synced batch: after this no crash or power
  //    loss can resurrect an entry pointing at a slot we are about to reuse.
  BlockIndex::Batch ib(index_.get());
  UsageDeltas usage;
  for (const auto& [key, entry] : victims) {
    const SlotState& s = slots_.at(entry.slot);
    ib.DeleteBlock(key);
    if (s.file_id != kNoFile) usage.Add(files_[s.file_id].usage_key, -int64_t{s.length}, -1);
  }
  for (const auto& [key, u] : usage.deltas()) ib.AddUsage(key, u.bytes, u.blocks);
  Status st = index_->Commit(&ib, /*sync=*/true);
  if (!st.ok()) {
    // The entries are still in the index: keep the slots, they stay valid.
    log_->error("cache index delete failed: {}; keeping {} blocks", st.ToString(), victims.size());
    for (const auto& v : victims) {
      SlotState& s = slots_.at(v.second.slot);
      if (from_policy && !s.pinned && s.file_id != kNoFile) {
        policy_->Insert(v.second.slot, Hash64(v.first));
      }
    }
    return;
  }
  // 2. Forget them in memory and release the slots.
  for (const auto& [key, entry] : victims) {
    SlotState& s = slots_.at(entry.slot);
    if (s.file_id == kNoFile) continue;
    if (!from_policy) {
      if (s.pinned) {
        pinned_bytes_.fetch_sub(classes_.SizeOfSlot(entry.slot));
      } else {
        policy_->Remove(entry.slot);
      }
    } else if (s.pinned) {
      pinned_bytes_.fetch_sub(classes_.SizeOfSlot(entry.slot));
    }
    data_bytes_.fetch_sub(s.length);
    DropFileBlock(s.file_id);
    s.file_id = kNoFile;
    s.pinned = false;
    s.length = 0;
    ReleaseSlot(entry.slot);
  }
  for (const auto& [key, u] : usage.deltas()) AddUsageMirror(key, u.bytes, u.blocks);
}

void BlockCacheImpl::ReleaseSlot(uint32_t slot) {
  SlotState& s = slots_.at(slot);
  s.generation.fetch_add(1);  // readers that looked the old entry up now miss
  if (s.readers.load() == 0) {
    FreeSlotNow(slot);
  } else {
    quarantine_.push_back(slot);  // a reader is still copying the old bytes out
  }
}

void BlockCacheImpl::RetryQuarantine() {
  if (quarantine_.empty()) return;
  std::vector<uint32_t> still;
  for (uint32_t slot : quarantine_) {
    if (slots_.at(slot).readers.load() == 0) {
      FreeSlotNow(slot);
    } else {
      still.push_back(slot);
    }
  }
  quarantine_.swap(still);
}

void BlockCacheImpl::EvictToWatermark() {
  const auto limit = static_cast<double>(LimitBytes());
  const auto high = static_cast<uint64_t>(limit * options_.high_watermark);
  const auto low = static_cast<uint64_t>(limit * options_.low_watermark);
  if (used_bytes_.load() <= high) return;
  while (used_bytes_.load() > low) {
    if (EvictBytes(used_bytes_.load() - low) == 0) break;
    RetryQuarantine();
  }
}

// ---------------------------------------------------------------------------------------------
// Recovery: rebuild slot ownership, eviction order and usage from the index alone.

void BlockCacheImpl::Recover() {
  pthread_setname_np(pthread_self(), "hoardfs-recover");
  const auto t0 = std::chrono::steady_clock::now();
  RecoveryReport report;
  struct Restored {
    uint64_t sequence;
    uint64_t key_hash;
    uint32_t slot;
    bool in_main;
  };
  // Consecutive keys mostly belong to one file: remember the last one to skip the map lookup.
  std::string last_prefix;
  uint32_t last_file_id = kNoFile;
  std::vector<Restored> restored;
  // Per class: the insert sequence of the entry holding each slot (8 B per slot, during the scan).
  std::array<std::vector<uint64_t>, kMaxSizeClasses> slot_sequence;
  for (unsigned c = 0; c < classes_.count(); ++c)
    slot_sequence[c].assign(store_->class_slots(c), 0);
  auto sequence_of = [&](uint32_t slot) -> uint64_t& {
    return slot_sequence[SlotClass(slot)][SlotIndex(slot)];
  };
  std::vector<std::string> drop;
  std::map<std::string, DatasetUsageCounter> usage;

  Status scanned = index_->ScanBlocks("", "", [&](std::string_view key,
                                                  std::optional<BlockEntry> entry) {
    auto d = DecodeBlockKey(key);
    if (!d || !entry || entry->length > classes_.SizeOfSlot(entry->slot)) {
      report.dropped_undecodable++;
      drop.emplace_back(key);
      return true;
    }
    const unsigned size_class = SlotClass(entry->slot);
    const uint32_t index = SlotIndex(entry->slot);
    if (index >= store_->class_slots(size_class)) {
      report.dropped_out_of_range++;
      drop.emplace_back(key);
      return true;
    }
    SlotState& s = slots_.at(entry->slot);
    if (alloc_[size_class].IsUsed(index)) {
      report.dropped_duplicate_slot++;
      if (sequence_of(entry->slot) >= entry->sequence) {
        drop.emplace_back(key);
        return true;
      }
      // The newer entry wins the slot (its bytes were written last); drop the older one.
      drop.push_back(KeyOfSlot(entry->slot));
      report.entries--;
      FileInfo& old = files_[s.file_id];
      usage[old.usage_key].bytes -= s.length;
      usage[old.usage_key].blocks -= 1;
      data_bytes_.fetch_sub(s.length);
      DropFileBlock(s.file_id);
    }
    const std::string_view prefix = key.substr(0, key.size() - kBlockIndexBytes);
    if (last_file_id == kNoFile || prefix != last_prefix || files_[last_file_id].prefix != prefix) {
      last_file_id = FileIdFor(prefix, d->remote_id, d->path);
      last_prefix.assign(prefix);
    }
    const uint32_t file_id = last_file_id;
    FileInfo& f = files_[file_id];
    f.blocks++;
    alloc_[size_class].MarkUsed(index);
    s.generation.store(entry->generation);
    s.file_id = file_id;
    s.block = d->block;
    s.length = entry->length;
    s.pinned = f.pinned;
    sequence_of(entry->slot) = entry->sequence;
    next_sequence_ = std::max(next_sequence_, entry->sequence + 1);
    data_bytes_.fetch_add(entry->length);
    usage[f.usage_key].bytes += entry->length;
    usage[f.usage_key].blocks += 1;
    restored.push_back({entry->sequence, Hash64(key), entry->slot,
                        (entry->flags & BlockEntry::kFlagInMain) != 0});
    report.entries++;
    return true;
  });
  if (!scanned.ok()) log_->error("cache recovery scan failed: {}", scanned.ToString());

  if (!drop.empty()) {
    BlockIndex::Batch ib(index_.get());
    for (const std::string& key : drop) ib.DeleteBlock(key);
    Status st = index_->Commit(&ib, /*sync=*/true);
    log_->warn("cache recovery dropped {} index entries ({} undecodable, {} beyond the data files, "
               "{} on a shared slot){}",
               drop.size(), report.dropped_undecodable, report.dropped_out_of_range,
               report.dropped_duplicate_slot, st.ok() ? "" : ": " + st.ToString());
  }

  // Eviction order: FIFO by original insert sequence. Pinned blocks stay out of the policy.
  std::sort(restored.begin(), restored.end(),
            [](const Restored& a, const Restored& b) { return a.sequence < b.sequence; });
  uint64_t pinned = 0;
  for (const Restored& r : restored) {
    SlotState& s = slots_.at(r.slot);
    if (s.file_id == kNoFile || sequence_of(r.slot) != r.sequence) continue;  // lost its slot
    if (s.pinned) {
      pinned += classes_.SizeOfSlot(r.slot);
    } else {
      policy_->Restore(r.slot, r.key_hash, r.in_main);
    }
  }
  pinned_bytes_.store(pinned);
  uint64_t used = 0;
  uint64_t used_slots = 0;
  for (unsigned c = 0; c < classes_.count(); ++c) {
    class_used_[c].store(alloc_[c].used());
    used += alloc_[c].used() * classes_.size(c);
    used_slots += alloc_[c].used();
  }
  used_bytes_.store(used);
  // Slots freed before the restart may still hold disk space beyond the limit (a shrink, a
  // smaller limit in the options): give it back now.
  TrimBacked();

  // Usage: the persisted counters must equal what the entries add up to.
  for (auto it = usage.begin(); it != usage.end();) {
    it = it->second.blocks == 0 ? usage.erase(it) : std::next(it);
  }
  auto persisted = index_->ReadUsage();
  std::map<std::string, DatasetUsageCounter> persisted_nonzero;
  if (persisted.ok()) {
    for (const auto& [k, v] : *persisted) {
      if (v.blocks != 0 || v.bytes != 0) persisted_nonzero[k] = v;
    }
  }
  auto same = [](const std::map<std::string, DatasetUsageCounter>& a,
                 const std::map<std::string, DatasetUsageCounter>& b) {
    if (a.size() != b.size()) return false;
    for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
      if (ia->first != ib->first || ia->second.bytes != ib->second.bytes ||
          ia->second.blocks != ib->second.blocks) {
        return false;
      }
    }
    return true;
  };
  if (!persisted.ok() || !same(usage, persisted_nonzero)) {
    report.usage_repaired = true;
    BlockIndex::Batch ib(index_.get());
    if (persisted.ok()) {
      for (const auto& kv : *persisted) ib.DeleteUsage(kv.first);
    }
    for (const auto& [k, v] : usage) ib.AddUsage(k, v.bytes, v.blocks);
    Status st = index_->Commit(&ib, /*sync=*/true);
    log_->warn("cache usage counters did not match the index entries (dropped entries or "
               "changed dataset settings); rewritten{}",
               st.ok() ? "" : ": " + st.ToString());
  }
  {
    std::lock_guard<std::mutex> lock(usage_mu_);
    usage_ = std::move(usage);
  }
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  report.index_reset = index_->was_reset();
  log_->info("cache ready: {} blocks in {} slots ({} MiB, {} MiB pinned), recovered in {:.3f} s",
             report.entries, used_slots, used >> 20, pinned >> 20, report.seconds);
  std::lock_guard<std::mutex> lock(mu_);
  recovery_ = report;
}

// ---------------------------------------------------------------------------------------------
// Administration (writer thread)

Status BlockCacheImpl::DoEvict(uint32_t remote_id, const std::string& prefix,
                               std::optional<uint64_t> keep, uint64_t* removed) {
  std::vector<std::pair<std::string, BlockEntry>> victims;
  Status scan_status;
  for (const auto& [begin, end] : PathRanges(remote_id, prefix)) {
    Status st = index_->ScanBlocks(begin, end, [&](std::string_view key,
                                                   std::optional<BlockEntry> entry) {
      auto d = DecodeBlockKey(key);
      if (!d || !entry) return true;
      if (keep && d->path == prefix && d->version_hash == *keep) return true;
      if (!slots_.Contains(entry->slot)) return true;
      const SlotState& s = slots_.at(entry->slot);
      if (s.generation.load() != entry->generation || s.file_id == kNoFile) return true;
      victims.emplace_back(std::string(key), *entry);
      return true;
    });
    if (!st.ok()) scan_status = st;
  }
  for (size_t i = 0; i < victims.size(); i += 4096) {
    std::vector<std::pair<std::string, BlockEntry>> chunk(
        victims.begin() + static_cast<ptrdiff_t>(i),
        victims.begin() + static_cast<ptrdiff_t>(std::min(victims.size(), i + 4096)));
    RemoveEntries(chunk, /*from_policy=*/false);
  }
  *removed = victims.size();
  return scan_status;
}

Result<uint64_t> BlockCacheImpl::Evict(uint32_t remote_id, const std::string& path_prefix,
                                       std::optional<uint64_t> keep_version) {
  HOARDFS_RETURN_IF_ERROR(ValidatePath(path_prefix));
  return RunOnWriter<Result<uint64_t>>([&]() -> Result<uint64_t> {
    uint64_t removed = 0;
    HOARDFS_RETURN_IF_ERROR(DoEvict(remote_id, path_prefix, keep_version, &removed));
    return removed;
  });
}

Status BlockCacheImpl::DoPin(uint32_t remote_id, const std::string& prefix, bool pin) {
  BlockIndex::Batch ib(index_.get());
  if (pin) {
    ib.PutMeta(PinKey(remote_id, prefix), "");
  } else {
    ib.DeleteMeta(PinKey(remote_id, prefix));
  }
  HOARDFS_RETURN_IF_ERROR(index_->Commit(&ib, /*sync=*/true));
  {
    std::lock_guard<std::mutex> lock(pins_mu_);
    auto same = [&](const PinnedPrefix& p) { return p.remote_id == remote_id && p.prefix == prefix; };
    pins_.erase(std::remove_if(pins_.begin(), pins_.end(), same), pins_.end());
    if (pin) pins_.push_back({remote_id, prefix});
  }
  for (FileInfo& f : files_) {
    if (!f.prefix.empty() && f.remote() == remote_id && PathHasPrefix(f.path(), prefix)) {
      f.pinned = CoveredByPin(remote_id, f.path());
    }
  }
  Status status;
  for (const auto& [begin, end] : PathRanges(remote_id, prefix)) {
    Status st = index_->ScanBlocks(begin, end, [&](std::string_view key,
                                                   std::optional<BlockEntry> entry) {
      if (!entry || !slots_.Contains(entry->slot)) return true;
      SlotState& s = slots_.at(entry->slot);
      if (s.file_id == kNoFile || s.generation.load() != entry->generation) return true;
      const bool want = files_[s.file_id].pinned;
      if (want == s.pinned) return true;
      s.pinned = want;
      if (want) {
        policy_->Remove(entry->slot);
        pinned_bytes_.fetch_add(classes_.SizeOfSlot(entry->slot));
      } else {
        policy_->Insert(entry->slot, Hash64(key));
        pinned_bytes_.fetch_sub(classes_.SizeOfSlot(entry->slot));
      }
      return true;
    });
    if (!st.ok()) status = st;
  }
  return status;
}

Status BlockCacheImpl::Pin(uint32_t remote_id, const std::string& path_prefix) {
  HOARDFS_RETURN_IF_ERROR(ValidatePath(path_prefix));
  return RunOnWriter<Status>([&] { return DoPin(remote_id, path_prefix, true); });
}

Status BlockCacheImpl::Unpin(uint32_t remote_id, const std::string& path_prefix) {
  HOARDFS_RETURN_IF_ERROR(ValidatePath(path_prefix));
  return RunOnWriter<Status>([&] { return DoPin(remote_id, path_prefix, false); });
}

std::vector<PinnedPrefix> BlockCacheImpl::Pins() {
  std::lock_guard<std::mutex> lock(pins_mu_);
  return pins_;
}

Status BlockCacheImpl::SetCapacity(uint64_t capacity_bytes) {
  if (capacity_bytes < options_.block_size) {
    return Status::InvalidArgument("cache size must hold at least one block");
  }
  return RunOnWriter<Status>([&]() -> Status {
    capacity_bytes_.store(capacity_bytes);
    policy_->SetCapacity(capacity_bytes);
    while (used_bytes_.load() > capacity_bytes) {
      RetryQuarantine();
      if (used_bytes_.load() <= capacity_bytes) break;
      if (EvictBytes(used_bytes_.load() - capacity_bytes) == 0) {
        if (quarantine_.empty()) {
          return Status::ResourceExhausted(
              "cache shrunk, but pinned blocks keep it above the new limit");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    EvictToWatermark();
    TrimBacked();
    log_->info("cache limit set to {} MiB", capacity_bytes >> 20);
    return Status::Ok();
  });
}

std::vector<DatasetUsage> BlockCacheImpl::Usage() {
  std::lock_guard<std::mutex> lock(usage_mu_);
  std::vector<DatasetUsage> out;
  out.reserve(usage_.size());
  for (const auto& [key, u] : usage_) {
    if (key.size() < 4 || u.blocks <= 0) continue;
    out.push_back({ReadBigEndian32(key.data()), key.substr(4), static_cast<uint64_t>(u.bytes),
                   static_cast<uint64_t>(u.blocks)});
  }
  return out;
}

BlockCacheStats BlockCacheImpl::Stats() {
  BlockCacheStats s;
  s.block_size = options_.block_size;
  s.capacity_bytes = capacity_bytes_.load();
  s.used_bytes = used_bytes_.load();
  s.data_bytes = data_bytes_.load();
  s.pinned_bytes = pinned_bytes_.load();
  s.store_bytes = backed_bytes_.load();
  for (unsigned c = 0; c < classes_.count(); ++c) {
    s.classes.push_back({classes_.size(c), class_used_[c].load(), class_backed_[c].load()});
  }
  s.direct_io = store_->direct_io();
  s.ready = ready_.load();
  s.lookups = counters_.lookups.load();
  s.hits = counters_.hits.load();
  s.misses = counters_.misses.load();
  s.crc_failures = counters_.crc_failures.load();
  s.partial_reads = counters_.partial_reads.load();
  s.partial_read_bytes = counters_.partial_read_bytes.load();
  s.record_misses = counters_.record_misses.load();
  s.record_memo_hits = sums_ != nullptr ? sums_->memo_hits() : 0;
  s.read_errors = counters_.read_errors.load();
  s.stale_reads = counters_.stale_reads.load();
  s.inserts = counters_.inserts.load();
  s.insert_bytes = counters_.insert_bytes.load();
  s.insert_duplicates = counters_.insert_duplicates.load();
  s.inserts_rejected = counters_.inserts_rejected.load();
  s.inserts_shared = counters_.inserts_shared.load();
  s.insert_waits = counters_.insert_waits.load();
  s.insert_wait_ns = counters_.insert_wait_ns.load();
  {
    std::lock_guard<std::mutex> lock(mu_);
    s.pending_insert_bytes = pending_bytes_;
  }
  s.store_writes = store_->write_transfers();
  s.store_reads = store_->read_transfers();
  s.write_errors = counters_.write_errors.load();
  s.evictions = counters_.evictions.load();
  s.evicted_bytes = counters_.evicted_bytes.load();
  s.index_disk_bytes = index_->DiskBytes();
  s.index_memory_bytes = index_->MemoryBytes();
  s.index_memo_hits = index_->memo_hits();
  s.index_memo_keys = index_->memo_keys();
  s.new_file_skips = counters_.new_file_skips.load();
  return s;
}

RecoveryReport BlockCacheImpl::Recovery() {
  std::lock_guard<std::mutex> lock(mu_);
  return recovery_;
}

Result<VerifyReport> BlockCacheImpl::DoVerify(bool repair) {
  VerifyReport report;
  std::unordered_map<uint32_t, int> slot_uses;
  std::map<std::string, DatasetUsageCounter> usage;
  std::vector<std::pair<std::string, BlockEntry>> bad;
  std::vector<std::pair<std::string, BlockEntry>> chunk;
  auto check_chunk = [&] {
    std::vector<AlignedBuffer> bufs;
    std::vector<BlockIo> ops(chunk.size());
    bufs.reserve(chunk.size());
    for (size_t i = 0; i < chunk.size(); ++i) {
      bufs.push_back(pool_->Get(chunk[i].second.length));
      ops[i] = {chunk[i].second.slot, chunk[i].second.length, bufs.back().data(), {}};
    }
    store_->Read(ops);
    for (size_t i = 0; i < chunk.size(); ++i) {
      if (!ops[i].status.ok()) {
        report.read_errors++;
        bad.push_back(chunk[i]);
      } else if (BlockChecksum({static_cast<const std::byte*>(ops[i].buf), ops[i].length},
                               (chunk[i].second.flags & BlockEntry::kFlagChunkSums) != 0) !=
                 chunk[i].second.crc) {
        report.crc_failures++;
        bad.push_back(chunk[i]);
      } else {
        report.verified++;
      }
      pool_->Put(std::move(bufs[i]));
    }
    chunk.clear();
  };

  HOARDFS_RETURN_IF_ERROR(index_->ScanBlocks("", "", [&](std::string_view key,
                                                         std::optional<BlockEntry> entry) {
    report.entries++;
    auto d = DecodeBlockKey(key);
    if (!d || !entry) {
      bad.emplace_back(std::string(key), BlockEntry{});
      return true;
    }
    if (++slot_uses[entry->slot] > 1) report.duplicate_slots++;
    if (SlotIndex(entry->slot) >= store_->class_slots(SlotClass(entry->slot)) ||
        entry->length > classes_.SizeOfSlot(entry->slot)) {
      report.out_of_range++;
      bad.emplace_back(std::string(key), *entry);
      return true;
    }
    DatasetUsageCounter& u = usage[UsageKey(d->remote_id, datasets_.Resolve(d->path))];
    u.bytes += entry->length;
    u.blocks += 1;
    chunk.emplace_back(std::string(key), *entry);
    if (chunk.size() == 32) check_chunk();
    return true;
  }));
  if (!chunk.empty()) check_chunk();

  HOARDFS_ASSIGN_OR_RETURN(auto persisted, index_->ReadUsage());
  for (const auto& [k, v] : persisted) {
    if (v.blocks == 0 && v.bytes == 0) continue;
    auto it = usage.find(k);
    if (it == usage.end() || it->second.bytes != v.bytes || it->second.blocks != v.blocks) {
      report.usage_matches = false;
    }
  }
  for (const auto& [k, v] : usage) {
    auto it = persisted.find(k);
    if (it == persisted.end() || it->second.bytes != v.bytes || it->second.blocks != v.blocks) {
      report.usage_matches = false;
    }
  }
  if (repair && !bad.empty()) {
    std::vector<std::pair<std::string, BlockEntry>> removable;
    for (auto& b : bad) {
      if (slots_.Contains(b.second.slot) && slots_.at(b.second.slot).file_id != kNoFile &&
          slots_.at(b.second.slot).generation.load() == b.second.generation) {
        removable.push_back(b);
      } else {
        BlockIndex::Batch ib(index_.get());
        ib.DeleteBlock(b.first);
        HOARDFS_RETURN_IF_ERROR(index_->Commit(&ib, true));
      }
      report.dropped++;
    }
    RemoveEntries(removable, /*from_policy=*/false);
  }
  return report;
}

Result<VerifyReport> BlockCacheImpl::Verify(bool repair) {
  HOARDFS_RETURN_IF_ERROR(WaitUntilReady());
  return RunOnWriter<Result<VerifyReport>>([&] { return DoVerify(repair); });
}

}  // namespace

Result<std::unique_ptr<BlockCache>> BlockCache::Open(const BlockCacheOptions& options) {
  auto cache = std::make_unique<BlockCacheImpl>(options);
  HOARDFS_RETURN_IF_ERROR(cache->Init());
  return std::unique_ptr<BlockCache>(std::move(cache));
}

}  // namespace hoardfs
