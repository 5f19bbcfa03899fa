#include "cache/slot_allocator.h"

#include <algorithm>
#include <bit>

namespace hoardfs {
namespace {

// Bits [0, n) of a word set for the slots of word `w` below `size`.
uint64_t ValidBits(uint64_t w, uint64_t size) {
  const uint64_t base = w * 64;
  if (size >= base + 64) return ~uint64_t{0};
  return size <= base ? 0 : (uint64_t{1} << (size - base)) - 1;
}

}  // namespace

SlotAllocator::SlotAllocator(uint64_t size, bool backed) { Grow(size, backed); }

void SlotAllocator::Grow(uint64_t new_size, bool backed) {
  if (new_size <= size_) return;
  const uint64_t old = size_;
  size_ = new_size;
  used_words_.resize((size_ + 63) / 64, 0);
  backed_words_.resize((size_ + 63) / 64, 0);
  if (backed) {
    for (uint64_t s = old; s < size_; ++s) {
      backed_words_[s / 64] |= uint64_t{1} << (s % 64);
    }
    backed_ += size_ - old;
    hint_ = std::min(hint_, old / 64);
  }
}

std::optional<uint32_t> SlotAllocator::Allocate(uint64_t limit) {
  if (limit > size_) limit = size_;
  for (uint64_t w = hint_; w * 64 < limit; ++w) {
    const uint64_t candidates = backed_words_[w] & ~used_words_[w];
    if (candidates == 0) {
      if (w == hint_) ++hint_;
      continue;
    }
    const uint64_t slot = w * 64 + static_cast<uint64_t>(std::countr_zero(candidates));
    if (slot >= limit) return std::nullopt;
    used_words_[w] |= uint64_t{1} << (slot % 64);
    ++used_;
    return static_cast<uint32_t>(slot);
  }
  return std::nullopt;
}

std::pair<uint64_t, uint64_t> SlotAllocator::FindUnbacked(uint64_t max_run) const {
  uint64_t first = size_;
  for (uint64_t w = unbacked_hint_; w * 64 < size_; ++w) {
    const uint64_t holes = ~backed_words_[w] & ValidBits(w, size_);
    if (holes == 0) {
      if (w == unbacked_hint_) ++unbacked_hint_;
      continue;
    }
    first = w * 64 + static_cast<uint64_t>(std::countr_zero(holes));
    break;
  }
  uint64_t run = 0;
  while (run < max_run && (first + run >= size_ || !IsBacked(static_cast<uint32_t>(first + run)))) {
    ++run;
    if (first + run >= size_) {  // the rest is beyond the bitmap: all unbacked
      run = max_run;
      break;
    }
  }
  return {first, std::max<uint64_t>(run, 1)};
}

void SlotAllocator::MarkBacked(uint64_t first, uint64_t count) {
  if (first + count > size_) Grow(first + count, /*backed=*/false);
  for (uint64_t s = first; s < first + count; ++s) {
    uint64_t& word = backed_words_[s / 64];
    const uint64_t bit = uint64_t{1} << (s % 64);
    if ((word & bit) == 0) {
      word |= bit;
      ++backed_;
    }
  }
  hint_ = std::min(hint_, first / 64);
}

void SlotAllocator::MarkUnbacked(uint32_t slot) {
  uint64_t& word = backed_words_[slot / 64];
  const uint64_t bit = uint64_t{1} << (slot % 64);
  if ((word & bit) != 0 && (used_words_[slot / 64] & bit) == 0) {
    word &= ~bit;
    --backed_;
    unbacked_hint_ = std::min(unbacked_hint_, uint64_t{slot} / 64);
  }
}

std::vector<uint32_t> SlotAllocator::FreeBacked(uint64_t n) const {
  std::vector<uint32_t> out;
  for (uint64_t w = used_words_.size(); w > 0 && out.size() < n; --w) {
    uint64_t candidates = backed_words_[w - 1] & ~used_words_[w - 1];
    while (candidates != 0 && out.size() < n) {
      const int top = 63 - std::countl_zero(candidates);
      out.push_back(static_cast<uint32_t>((w - 1) * 64 + static_cast<uint64_t>(top)));
      candidates &= ~(uint64_t{1} << top);
    }
  }
  return out;
}

void SlotAllocator::MarkUsed(uint32_t slot) {
  uint64_t& word = used_words_[slot / 64];
  const uint64_t bit = uint64_t{1} << (slot % 64);
  if ((word & bit) == 0) {
    word |= bit;
    ++used_;
  }
  uint64_t& backed = backed_words_[slot / 64];
  if ((backed & bit) == 0) {
    backed |= bit;
    ++backed_;
  }
}

void SlotAllocator::Free(uint32_t slot) {
  uint64_t& word = used_words_[slot / 64];
  const uint64_t bit = uint64_t{1} << (slot % 64);
  if ((word & bit) != 0) {
    word &= ~bit;
    --used_;
    if (slot / 64 < hint_) hint_ = slot / 64;
  }
}

bool SlotAllocator::IsUsed(uint32_t slot) const {
  return slot < size_ && (used_words_[slot / 64] >> (slot % 64) & 1) != 0;
}

bool SlotAllocator::IsBacked(uint32_t slot) const {
  return slot < size_ && (backed_words_[slot / 64] >> (slot % 64) & 1) != 0;
}

}  // namespace hoardfs
