// SlotAllocator: the slots of one size class of the block store: which are in use, and which have
// disk space behind them ("backed": allocated in the data file and not punched out). Two bitmaps
// with moving lowest-candidate hints.
//
// States of a slot: used (always backed) / free and backed (reusable without touching the disk) /
// free and unbacked (a hole, or never allocated). Allocate() hands out the lowest free backed slot
// (keeps the data files dense), O(1) amortised; FindUnbacked() names the lowest run of unbacked
// slots, for the caller to allocate disk space to; FreeBacked() lists free backed slots, highest
// first, for the caller to punch out when another class needs the space.
// Slots [size(), ...) are free and unbacked: size() is just how far the bitmaps reach.
// Memory: two bits per slot (10 M slots = 2.5 MiB).
// Thread-safety: none; owned by the cache's writer thread (and the recovery scan before it).
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace hoardfs {

class SlotAllocator {
 public:
  // Slots [0, size) exist, all free; backed if `backed`.
  explicit SlotAllocator(uint64_t size = 0, bool backed = true);

  // Adds slots [size(), new_size), free; backed if `backed`. Never shrinks.
  void Grow(uint64_t new_size, bool backed = true);
  uint64_t size() const { return size_; }
  uint64_t used() const { return used_; }
  uint64_t backed() const { return backed_; }

  // The lowest free backed slot below `limit`, marked used; nullopt if none.
  std::optional<uint32_t> Allocate(uint64_t limit = UINT64_MAX);
  // The lowest unbacked slot (possibly size()) and how many unbacked slots follow it, counting it
  // (at most max_run; slots from size() on count as unbacked).
  std::pair<uint64_t, uint64_t> FindUnbacked(uint64_t max_run) const;
  // Marks [first, first + count) backed, growing size() if needed.
  void MarkBacked(uint64_t first, uint64_t count);
  // REQUIRES: slot < size() and free.
  void MarkUnbacked(uint32_t slot);
  // Up to `n` free backed slots, highest first.
  std::vector<uint32_t> FreeBacked(uint64_t n) const;

  // REQUIRES: slot < size(). Marks it used (and backed).
  void MarkUsed(uint32_t slot);
  // REQUIRES: slot is used. It stays backed.
  void Free(uint32_t slot);
  bool IsUsed(uint32_t slot) const;
  bool IsBacked(uint32_t slot) const;

 private:
  std::vector<uint64_t> used_words_;
  std::vector<uint64_t> backed_words_;
  uint64_t size_ = 0;
  uint64_t used_ = 0;
  uint64_t backed_ = 0;
  uint64_t hint_ = 0;                   // no free backed slot lives in a word below hint_
  mutable uint64_t unbacked_hint_ = 0;  // no unbacked slot lives in a word below it
};

}  // namespace hoardfs
