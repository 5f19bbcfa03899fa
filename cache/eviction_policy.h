// EvictionPolicy: decides which resident slot to evict next. Works on slot ids
// (cache/size_classes.h: size class | index, dense within each class) so its state is a few bytes
// per slot, never per key.
//
// Sizes. Blocks have different sizes (cache format v2): a slot's size is class_sizes[class of the
// slot], given at construction in the caller's unit (bytes in the cache; {1} makes every slot of
// class 0 one unit, as the trace benchmarks use it). Capacity is in the same unit.
//
// Implementations:
//  - S3-FIFO (Juncheng Yang, Yazhuo Zhang, Ziyue Qiu, Yao Yue, K. V. Rashmi: "FIFO queues are all
//    you need for cache eviction", SOSP 2023): a small FIFO (10% of the capacity, in bytes) filters
//    one-hit wonders, a main FIFO with lazy reinsertion keeps the working set, a ghost FIFO of
//    recently evicted keys (by 64-bit key hash, as long as the main queue's bytes) readmits
//    straight into main. Queues are sized in bytes, so a scan of small blocks cannot flush a
//    working set of large ones or vice versa. Scan-resistant; a hit is a relaxed atomic increment.
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
#include <vector>

namespace hoardfs {

class EvictionPolicy {
 public:
  EvictionPolicy() = default;
  virtual ~EvictionPolicy() = default;
  EvictionPolicy(const EvictionPolicy&) = delete;
  EvictionPolicy& operator=(const EvictionPolicy&) = delete;

  // Capacity the cache is allowed to hold, in the unit of the class sizes (sizes S3-FIFO's small
  // queue and ghost). May be called at any time by the writer.
  virtual void SetCapacity(uint64_t capacity) = 0;

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

  // Resident blocks, and their total size.
  virtual uint64_t resident() const = 0;
  virtual uint64_t resident_size() const = 0;
  virtual std::string_view name() const = 0;
};

// `class_sizes[c]` is the size of a slot of class c (cache/size_classes.h), in the unit of
// `capacity`. REQUIRES: every size >= 1, at most kMaxSizeClasses entries (empty: {1}).
std::unique_ptr<EvictionPolicy> NewS3FifoPolicy(uint64_t capacity,
                                                std::vector<uint32_t> class_sizes);
std::unique_ptr<EvictionPolicy> NewLruPolicy(uint64_t capacity, std::vector<uint32_t> class_sizes);
// One class of unit size: capacity in slots (the trace benchmarks).
std::unique_ptr<EvictionPolicy> NewS3FifoPolicy(uint64_t capacity_slots);
std::unique_ptr<EvictionPolicy> NewLruPolicy(uint64_t capacity_slots);

}  // namespace hoardfs
