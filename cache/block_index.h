// BlockIndex: the persistent index of the block cache, on RocksDB. It maps block keys
// (cache/block_key.h) to BlockEntry values and keeps, in the same database and updated in the same
// atomic write batches, the per-dataset usage counters and the cache's metadata (format, pins).
//
// Column families:
//   blocks  block key -> BlockEntry         point lookups (bloom filter), range scans by prefix
//   usage   remote u32 BE | dataset -> (bytes i64, blocks i64), summed by a merge operator, so an
//           insert or eviction adjusts usage atomically with the entry it adds or removes
//   meta    "format", "block_size", "pin/<remote u32 BE><prefix>" -> small values
//   files   the metadata cache (cache/metadata_cache.h): inode numbers, attributes, listings
//
// Memory is bounded: one LRU block cache (index, filter and data blocks are charged to it) and a
// write-buffer manager capping all memtables, both sized from Options.
//
// Block lookups (MultiGet) first ask an in-memory memo of recent keys (cache/block_entry_memo.h),
// which each commit of block keys updates after it is written; Get() and the scans read RocksDB.
//
// Durability: Commit(sync=false) survives a killed process (the WAL is in the page cache);
// Commit(sync=true) also survives power loss. The cache decides which it needs (block_cache.cc).
//
// Thread-safety: every method may be called concurrently (RocksDB is thread-safe); a Batch is
// owned by one thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cache/block_entry.h"
#include "cache/block_entry_memo.h"
#include "common/result.h"

namespace rocksdb {
class DB;
class WriteBatch;
class ColumnFamilyHandle;
class Cache;
}  // namespace rocksdb

namespace hoardfs {

struct BlockIndexOptions {
  std::string dir;                           // REQUIRED: the RocksDB directory
  uint32_t block_size = 1u << 20;            // recorded; a mismatch with an existing index fails
  size_t block_cache_bytes = 64ull << 20;    // RocksDB block cache (index/filter/data blocks)
  size_t write_buffer_bytes = 32ull << 20;   // all memtables together
  size_t memo_keys = 65536;                  // block keys remembered in memory (0: no memo)
  // What to do when the existing index is corrupt or of another format/block size:
  // false: fail Open with a clear message; true: delete it, log it, start empty.
  bool reset_if_corrupt = true;
  bool reset_if_incompatible = false;
};

struct DatasetUsageCounter {
  int64_t bytes = 0;
  int64_t blocks = 0;
};

class BlockIndex {
 public:
  // Key-value tables besides the block entries.
  enum class Table { kMeta, kFiles };

  // The format tag written into meta; bump when any encoding changes.
  static constexpr std::string_view kFormat = "hoardfs-cache-v2";

  static Result<std::unique_ptr<BlockIndex>> Open(const BlockIndexOptions& options);
  ~BlockIndex();
  BlockIndex(const BlockIndex&) = delete;
  BlockIndex& operator=(const BlockIndex&) = delete;

  // True if Open() found a corrupt or incompatible index and started empty.
  bool was_reset() const { return was_reset_; }

  // An atomic group of changes.
  class Batch {
   public:
    explicit Batch(BlockIndex* index);
    ~Batch();
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;
    void PutBlock(std::string_view key, const BlockEntry& entry);
    void DeleteBlock(std::string_view key);
    void AddUsage(std::string_view usage_key, int64_t bytes, int64_t blocks);
    void PutMeta(std::string_view key, std::string_view value);
    void DeleteMeta(std::string_view key);
    void DeleteUsage(std::string_view usage_key);
    void Put(Table table, std::string_view key, std::string_view value);
    void Delete(Table table, std::string_view key);
    size_t count() const;

   private:
    friend class BlockIndex;
    BlockIndex* index_;
    std::unique_ptr<rocksdb::WriteBatch> batch_;
    // The block keys this batch changes, in order, with their new values (for the memo).
    std::vector<std::pair<std::string, std::optional<BlockEntry>>> block_changes_;
  };

  Status Commit(Batch* batch, bool sync);

  // Looks up many keys: those the memo knows from memory, the rest in one MultiGet. An entry that
  // fails to decode is reported as nullopt and counted in decode_errors().
  std::vector<std::optional<BlockEntry>> MultiGet(std::span<const std::string_view> keys);
  std::vector<std::optional<BlockEntry>> MultiGet(std::span<const std::string> keys);
  // One key, from RocksDB itself (not the memo).
  Result<std::optional<BlockEntry>> Get(std::string_view key);

  // Calls fn(key, entry) for each block key in [begin, end) (end empty: to the end) in key order;
  // stops when fn returns false. Undecodable values are passed as nullopt.
  Status ScanBlocks(std::string_view begin, std::string_view end,
                    const std::function<bool(std::string_view, std::optional<BlockEntry>)>& fn);

  // All usage counters, by usage key.
  Result<std::map<std::string, DatasetUsageCounter>> ReadUsage();

  Result<std::optional<std::string>> GetMeta(std::string_view key);
  // All meta entries whose key starts with `prefix`.
  Result<std::vector<std::pair<std::string, std::string>>> ScanMeta(std::string_view prefix);

  Result<std::optional<std::string>> Get(Table table, std::string_view key);
  // Whether any key of `table` starts with `prefix` (one seek).
  Result<bool> HasPrefix(Table table, std::string_view prefix);
  // Whether any block key starts with `prefix` (one seek; FilePrefix(): any block of the file).
  Result<bool> HasBlocks(std::string_view prefix);
  // All entries of `table` whose key starts with `prefix`, in key order.
  Result<std::vector<std::pair<std::string, std::string>>> Scan(Table table,
                                                                std::string_view prefix);

  // Bytes of SST files and live WAL on disk (for the bytes-per-block figure).
  uint64_t DiskBytes() const;
  // Approximate memory used by RocksDB (block cache + memtables + table readers).
  uint64_t MemoryBytes() const;
  uint64_t decode_errors() const { return decode_errors_.load(); }
  // Block keys MultiGet() answered from the memo, and keys the memo holds.
  uint64_t memo_hits() const { return memo_hits_.load(std::memory_order_relaxed); }
  size_t memo_keys() const { return memo_ ? memo_->size() : 0; }
  // Flushes memtables to SST files (benchmarks; orderly shutdown).
  Status Flush();

 private:
  BlockIndex() = default;
  std::unique_ptr<rocksdb::DB> db_;
  std::shared_ptr<rocksdb::Cache> block_cache_;
  rocksdb::ColumnFamilyHandle* blocks_ = nullptr;
  rocksdb::ColumnFamilyHandle* usage_ = nullptr;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
  rocksdb::ColumnFamilyHandle* files_ = nullptr;
  rocksdb::ColumnFamilyHandle* Handle(Table table) const;
  // Whether any key of `table` starts with `prefix` (one seek).
  Result<bool> AnyKeyWithPrefix(rocksdb::ColumnFamilyHandle* table, std::string_view prefix);
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  bool was_reset_ = false;
  std::atomic<uint64_t> decode_errors_{0};
  std::unique_ptr<BlockEntryMemo> memo_;
  std::mutex block_commit_mu_;  // commits that change block keys: written and applied in order
  std::atomic<uint64_t> memo_hits_{0};
};

// Usage counter values: two little-endian int64 (bytes, blocks).
std::string EncodeUsage(const DatasetUsageCounter& usage);
std::optional<DatasetUsageCounter> DecodeUsage(std::string_view value);

}  // namespace hoardfs
