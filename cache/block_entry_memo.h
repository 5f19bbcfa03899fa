// BlockEntryMemo: a bounded in-memory memo of the block index (cache/block_index.h) in front of
// RocksDB, so that a warm read's lookup is a hash probe rather than a search of the memtables and
// SST files. It remembers what the index held for a key: an entry, or that there is none (a read's
// candidate pieces are often absent, and an absence costs RocksDB a full search too).
//
// Coherence, by a version per shard (the idea of the leases in Nishtala et al., "Scaling Memcache
// at Facebook", NSDI 2013):
//  - the index's writer, after each commit that changes a block key, calls Apply() with the key's
//    new value; Apply() bumps the version of the key's shard and stores the value, under the
//    shard's lock;
//  - a reader that misses takes a Ticket() per key before it reads RocksDB, and Fill() stores what
//    it read only if the shard's version still equals that ticket (and the key is still unknown).
// So a value read before a change is never stored after that change was applied. Between a commit
// and its Apply() a lookup may see the old value, as one that read RocksDB a moment earlier would:
// the cache's slot generations and CRCs guard every read of the data itself.
//
// Bounded: at most `capacity` keys (rounded up to whole shards), replaced by CLOCK (second chance)
// within each shard, so keys looked up again outlive keys that were only inserted or filled once.
// Capacity 0: disabled (Find() knows nothing, Fill() and Apply() store nothing).
//
// Thread-safety: every method may be called concurrently. Apply() calls for one key must come in
// the order of their commits (BlockIndex serialises the commits that change block keys).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cache/block_entry.h"

namespace hoardfs {

class BlockEntryMemo {
 public:
  explicit BlockEntryMemo(size_t capacity);
  BlockEntryMemo(const BlockEntryMemo&) = delete;
  BlockEntryMemo& operator=(const BlockEntryMemo&) = delete;

  bool enabled() const { return per_shard_ > 0; }

  // True if the memo knows `key`: then *entry is its entry, or nullopt if the index has none.
  bool Find(std::string_view key, std::optional<BlockEntry>* entry);

  // The version of `key`'s shard, to pass to Fill() after reading the index.
  uint64_t Ticket(std::string_view key) const;
  // Stores what the index held for `key` when read after Ticket() returned `ticket`, unless the
  // shard changed since or the key is known already.
  void Fill(std::string_view key, const std::optional<BlockEntry>& entry, uint64_t ticket);

  // The index now holds `entry` for `key` (nullopt: deleted). Call after the commit.
  void Apply(std::string_view key, const std::optional<BlockEntry>& entry);
  // The index's value for `key` is unknown (a commit that may or may not have applied).
  void Forget(std::string_view key);

  size_t size() const { return size_.load(std::memory_order_relaxed); }
  size_t capacity() const { return per_shard_ * kShards; }

 private:
  static constexpr size_t kShards = 32;
  struct Node {
    std::string key;  // empty: unused
    std::optional<BlockEntry> entry;
    bool referenced = false;
  };
  struct Shard {
    std::mutex mu;
    std::atomic<uint64_t> version{0};
    std::deque<Node> ring;  // stable addresses: `where` keys point into ring[i].key
    std::unordered_map<std::string_view, size_t> where;
    size_t hand = 0;
  };

  Shard& ShardOf(std::string_view key) const;
  // Stores `entry` for `key` in `shard` (lock held): in its node if known, else in a new node or
  // in the CLOCK's victim.
  void StoreLocked(Shard& shard, std::string_view key, const std::optional<BlockEntry>& entry);

  const size_t per_shard_;
  std::unique_ptr<Shard[]> shards_;
  std::atomic<size_t> size_{0};
};

}  // namespace hoardfs
