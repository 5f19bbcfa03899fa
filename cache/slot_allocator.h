// SlotAllocator: which slots of the block store are free. A bitmap with a moving lowest-free hint:
// allocation hands out the lowest free slot (keeps the data files dense), O(1) amortised.
// Memory: one bit per slot (10 M slots = 1.25 MiB).
// Thread-safety: none; owned by the cache's writer thread (and the recovery scan before it).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace hoardfs {

class SlotAllocator {
 public:
  // Slots [0, size) exist, all free.
  explicit SlotAllocator(uint64_t size = 0);

  // Adds slots [size(), new_size), free. Never shrinks.
  void Grow(uint64_t new_size);
  uint64_t size() const { return size_; }
  uint64_t used() const { return used_; }

  // The lowest free slot below `limit`, marked used; nullopt if none.
  std::optional<uint32_t> Allocate(uint64_t limit);
  // REQUIRES: slot < size().
  void MarkUsed(uint32_t slot);
  // REQUIRES: slot is used.
  void Free(uint32_t slot);
  bool IsUsed(uint32_t slot) const;

 private:
  std::vector<uint64_t> words_;
  uint64_t size_ = 0;
  uint64_t used_ = 0;
  uint64_t hint_ = 0;  // no free slot lives in a word below hint_
};

}  // namespace hoardfs
