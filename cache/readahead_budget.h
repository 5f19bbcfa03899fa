// ReadaheadBudget: the fetcher's memory beyond its fixed budget, lent to streams whose readahead
// window a probe grows past readahead_max (cache/readahead_probe.h), up to a ceiling shared by all
// streams. A stream holds what it reserved until its window shrinks back or the stream ends
// (ReadStream's destructor), so the fetcher's memory stays bounded by its budget plus the ceiling
// however many streams grow.
//
// Thread-safety: all methods may be called from any thread. Shared (shared_ptr) by the fetcher
// and the streams that hold a reservation, so either may go first.
#pragma once

#include <atomic>
#include <cstdint>

namespace hoardfs {

class ReadaheadBudget {
 public:
  explicit ReadaheadBudget(uint64_t ceiling) : ceiling_(ceiling) {}

  // Reserves `bytes` if the ceiling allows all of them.
  bool TryReserve(uint64_t bytes) {
    uint64_t now = reserved_.load(std::memory_order_relaxed);
    do {
      if (bytes > ceiling_ - now) return false;
    } while (!reserved_.compare_exchange_weak(now, now + bytes, std::memory_order_relaxed));
    return true;
  }
  // REQUIRES: `bytes` were reserved and not yet released.
  void Release(uint64_t bytes) { reserved_.fetch_sub(bytes, std::memory_order_relaxed); }

  uint64_t reserved() const { return reserved_.load(std::memory_order_relaxed); }
  uint64_t ceiling() const { return ceiling_; }

 private:
  const uint64_t ceiling_;
  std::atomic<uint64_t> reserved_{0};
};

}  // namespace hoardfs
