#include "cache/block_entry_memo.h"

#include <functional>

namespace hoardfs {

BlockEntryMemo::BlockEntryMemo(size_t capacity)
    : per_shard_((capacity + kShards - 1) / kShards), shards_(std::make_unique<Shard[]>(kShards)) {}

BlockEntryMemo::Shard& BlockEntryMemo::ShardOf(std::string_view key) const {
  // The top bits of the hash times a Fibonacci constant (Knuth's multiplicative hashing): the
  // shard's map takes the same hash modulo its bucket count, so the two choices stay independent.
  const uint64_t hash = std::hash<std::string_view>{}(key);
  return shards_[(hash * 0x9e3779b97f4a7c15ULL) >> 59];
}
static_assert(32 == (1u << (64 - 59)), "ShardOf() picks one of kShards by the top 5 bits");

bool BlockEntryMemo::Find(std::string_view key, std::optional<BlockEntry>* entry) {
  if (!enabled()) return false;
  Shard& shard = ShardOf(key);
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.where.find(key);
  if (it == shard.where.end()) return false;
  Node& node = shard.ring[it->second];
  node.referenced = true;
  *entry = node.entry;
  return true;
}

uint64_t BlockEntryMemo::Ticket(std::string_view key) const {
  if (!enabled()) return 0;
  return ShardOf(key).version.load();
}

void BlockEntryMemo::Fill(std::string_view key, const std::optional<BlockEntry>& entry,
                          uint64_t ticket) {
  if (!enabled()) return;
  Shard& shard = ShardOf(key);
  std::lock_guard<std::mutex> lock(shard.mu);
  if (shard.version.load() != ticket || shard.where.contains(key)) return;
  StoreLocked(shard, key, entry);
}

void BlockEntryMemo::Apply(std::string_view key, const std::optional<BlockEntry>& entry) {
  if (!enabled()) return;
  Shard& shard = ShardOf(key);
  std::lock_guard<std::mutex> lock(shard.mu);
  shard.version.fetch_add(1);
  StoreLocked(shard, key, entry);
}

void BlockEntryMemo::Forget(std::string_view key) {
  if (!enabled()) return;
  Shard& shard = ShardOf(key);
  std::lock_guard<std::mutex> lock(shard.mu);
  shard.version.fetch_add(1);
  auto it = shard.where.find(key);
  if (it == shard.where.end()) return;
  Node& node = shard.ring[it->second];
  shard.where.erase(it);
  node.key.clear();
  node.entry.reset();
  node.referenced = false;
  size_.fetch_sub(1, std::memory_order_relaxed);
}

void BlockEntryMemo::StoreLocked(Shard& shard, std::string_view key,
                                 const std::optional<BlockEntry>& entry) {
  if (auto it = shard.where.find(key); it != shard.where.end()) {
    shard.ring[it->second].entry = entry;
    return;
  }
  size_t at = 0;
  if (shard.ring.size() < per_shard_) {
    at = shard.ring.size();
    shard.ring.emplace_back();
  } else {
    // CLOCK: clear reference bits until a node without one (or an unused node) comes up.
    for (;; shard.hand = (shard.hand + 1) % shard.ring.size()) {
      Node& node = shard.ring[shard.hand];
      if (node.key.empty() || !node.referenced) break;
      node.referenced = false;
    }
    at = shard.hand;
    shard.hand = (shard.hand + 1) % shard.ring.size();
    Node& victim = shard.ring[at];
    if (!victim.key.empty()) {
      shard.where.erase(victim.key);
      size_.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  Node& node = shard.ring[at];
  node.key.assign(key);
  node.entry = entry;
  node.referenced = false;
  shard.where.emplace(node.key, at);
  size_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace hoardfs
