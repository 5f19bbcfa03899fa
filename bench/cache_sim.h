// CacheSim: a block cache reduced to what an eviction policy sees, for trace-driven experiments
// (bench/eviction_trace_bench.cc) and tests. Capacity C slots, a map object id -> slot, a free-slot
// list; a miss takes a free slot, evicting through the policy when none is left; a hit Touch()es.
// Header-only. Not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "bench/trace_gen.h"
#include "cache/eviction_policy.h"

namespace hoardfs::bench {

class CacheSim {
 public:
  static constexpr uint64_t kNoObject = UINT64_MAX;

  // `policy` must outlive the simulator and be empty.
  CacheSim(EvictionPolicy& policy, uint64_t capacity)
      : policy_(policy), owner_(capacity, kNoObject) {
    policy_.SetCapacity(capacity);
    where_.reserve(capacity * 2);
    free_.reserve(capacity);
    for (uint64_t s = capacity; s > 0; --s) free_.push_back(static_cast<uint32_t>(s - 1));
  }

  // Returns true on a hit.
  bool Access(uint64_t id) {
    if (const auto it = where_.find(id); it != where_.end()) {
      ++hits_;
      policy_.Touch(it->second);
      return true;
    }
    ++misses_;
    if (free_.empty()) {
      const std::optional<uint32_t> victim = policy_.Evict();
      if (!victim || *victim >= owner_.size() || owner_[*victim] == kNoObject) {
        ++policy_errors_;  // nothing to evict although full, or a slot that holds nothing
        return false;
      }
      where_.erase(owner_[*victim]);
      owner_[*victim] = kNoObject;
      free_.push_back(*victim);
    }
    const uint32_t slot = free_.back();
    free_.pop_back();
    owner_[slot] = id;
    where_.emplace(id, slot);
    policy_.Insert(slot, Mix64(id));
    return false;
  }

  void Run(std::span<const uint64_t> ids) {
    for (const uint64_t id : ids) Access(id);
  }

  bool Contains(uint64_t id) const { return where_.contains(id); }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }
  double hit_ratio() const {
    const uint64_t n = hits_ + misses_;
    return n == 0 ? 0.0 : static_cast<double>(hits_) / static_cast<double>(n);
  }
  // Evict() answers that cannot be right: nullopt with a full cache, or an empty slot.
  uint64_t policy_errors() const { return policy_errors_; }

 private:
  EvictionPolicy& policy_;
  std::unordered_map<uint64_t, uint32_t> where_;
  std::vector<uint64_t> owner_;  // slot -> object id
  std::vector<uint32_t> free_;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
  uint64_t policy_errors_ = 0;
};

}  // namespace hoardfs::bench
