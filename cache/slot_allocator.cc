#include "cache/slot_allocator.h"

#include <bit>

namespace hoardfs {

SlotAllocator::SlotAllocator(uint64_t size) { Grow(size); }

void SlotAllocator::Grow(uint64_t new_size) {
  if (new_size <= size_) return;
  size_ = new_size;
  words_.resize((size_ + 63) / 64, 0);
}

std::optional<uint32_t> SlotAllocator::Allocate(uint64_t limit) {
  if (limit > size_) limit = size_;
  for (uint64_t w = hint_; w * 64 < limit; ++w) {
    const uint64_t free_bits = ~words_[w];
    if (free_bits == 0) {
      if (w == hint_) ++hint_;
      continue;
    }
    const uint64_t slot = w * 64 + static_cast<uint64_t>(std::countr_zero(free_bits));
    if (slot >= limit) return std::nullopt;
    words_[w] |= uint64_t{1} << (slot % 64);
    ++used_;
    return static_cast<uint32_t>(slot);
  }
  return std::nullopt;
}

void SlotAllocator::MarkUsed(uint32_t slot) {
  uint64_t& word = words_[slot / 64];
  const uint64_t bit = uint64_t{1} << (slot % 64);
  if ((word & bit) == 0) {
    word |= bit;
    ++used_;
  }
}

void SlotAllocator::Free(uint32_t slot) {
  uint64_t& word = words_[slot / 64];
  const uint64_t bit = uint64_t{1} << (slot % 64);
  if ((word & bit) != 0) {
    word &= ~bit;
    --used_;
    if (slot / 64 < hint_) hint_ = slot / 64;
  }
}

bool SlotAllocator::IsUsed(uint32_t slot) const {
  return slot < size_ && (words_[slot / 64] >> (slot % 64) & 1) != 0;
}

}  // namespace hoardfs
