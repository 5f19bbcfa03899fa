// EvictionPolicy: decides which resident slot to evict next. Works on dense slot numbers
// [0, max_slots) so its state is a few bytes per slot, never per key.
//
// Implementations:
//  - S3-FIFO (Juncheng Yang, Yazhuo Zhang, Ziyue Qiu, Yao Yue, K. V. Rashmi: "FIFO queues are all
//    you need for cache eviction", SOSP 2023): a small FIFO (10% of capacity) filters one-hit
//    wonders, a main FIFO with lazy reinsertion keeps the working set, a ghost FIFO of recently
//    evicted keys (by 64-bit key hash) readmits straight into main. Scan-resistant; a hit is a
//    relaxed atomic increment, no lock.
//  - LRU: the classic baseline, a mutex-protected list; for comparison in bench/ only.
//
// Thread-safety: Touch() may be called from any thread concurrently with anything. Every other
// method must be called by one thread at a time (the cache's writer thread), or under the caller's
// lock. Touch() of a slot that is not resident, or >= max_slots, is ignored.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace hoardfs {

class EvictionPolicy {
 public:
  EvictionPolicy() = default;
  virtual ~EvictionPolicy() = default;
  EvictionPolicy(const EvictionPolicy&) = delete;
  EvictionPolicy& operator=(const EvictionPolicy&) = delete;

  // Capacity in slots the cache is allowed to hold (sizes S3-FIFO's small queue and ghost);
  // also raises max_slots if needed. May be called at any time by the writer.
  virtual void SetCapacity(uint64_t capacity_slots) = 0;

  // A new resident block in `slot`. `key_hash` identifies the block across evictions (ghost).
  // REQUIRES: slot not resident.
  virtual void Insert(uint32_t slot, uint64_t key_hash) = 0;

  // Insert at restart, in the order blocks were originally inserted (oldest first); `in_main`
  // says whether the block had been promoted to the main queue. No ghost lookup.
  virtual void Restore(uint32_t slot, uint64_t key_hash, bool in_main) = 0;

  // A cache hit on `slot`. Lock-free for S3-FIFO.
  // Touch once per logical access of a block: a reader that consumes one block in several smaller
  // sequential reads (e.g. 128 KiB reads of a 1 MiB block) should touch it once, not per read, or
  // S3-FIFO takes a one-pass scan for reuse (the first Touch after Insert promotes) and loses its
  // scan resistance.
  virtual void Touch(uint32_t slot) = 0;

  // `slot` leaves the cache for another reason than eviction (explicit evict, pin). No ghost.
  virtual void Remove(uint32_t slot) = 0;

  // Picks the next victim, removes it from the policy and returns its slot; nullopt when nothing
  // resident is evictable. The caller then deletes the block.
  virtual std::optional<uint32_t> Evict() = 0;

  // Whether `slot` is currently in the main queue (persisted so Restore() rebuilds the queues).
  // Always false for LRU, which has a single queue.
  virtual bool InMain(uint32_t slot) const = 0;

  virtual uint64_t resident() const = 0;
  virtual std::string_view name() const = 0;
};

std::unique_ptr<EvictionPolicy> NewS3FifoPolicy(uint64_t capacity_slots);
std::unique_ptr<EvictionPolicy> NewLruPolicy(uint64_t capacity_slots);

}  // namespace hoardfs
