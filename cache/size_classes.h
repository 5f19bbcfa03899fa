// Size classes of the block store (cache format v2) and the slot ids that name a slot of a class.
//
// A cache of block size B stores each block in a slot of the smallest class that holds it. The
// classes are, from class 0 down: B itself, then the powers of two below B down to 4096 (for
// B = 1 MiB: 1M, 512K, 256K, ..., 8K, 4K = 9 classes). A block of length L goes to the smallest
// class >= AlignUp(L, 4096), so a 4 KiB file costs 4 KiB of cache and a tail of 300 KB costs 512
// KiB (at most 2x the page-aligned length, and B for full blocks, as before).
//
// Slot id (u32, stored in the index entry and used in memory everywhere a slot is named):
//   size class (top 5 bits) | index within the class (low 27 bits)
// Class 0 (full blocks) has ids 0, 1, 2, ... like the v1 slots, so full-size slots stay dense.
// Each class addresses at most 2^27 - 1 slots (512 GiB of 4 KiB slots, 128 TiB of 1 MiB slots);
// UINT32_MAX is never a valid id.
//
// SlotTable<T>: per-slot state for every class, indexed by slot id. One ChunkedArray per class,
// created on first use (a class that is never used costs one pointer), growing in chunks of 2048
// elements without moving any element.
//
// Thread-safety: SizeClasses is an immutable value. SlotTable: Grow() by one thread at a time (the
// owner); Contains()/at() from any thread, concurrently with Grow(), for ids below a size the
// reader has observed (atomics inside T give element-level synchronisation).
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstdint>
#include <memory>

#include "common/chunked_array.h"

namespace hoardfs {

inline constexpr unsigned kSizeClassBits = 5;
inline constexpr unsigned kSlotIndexBits = 32 - kSizeClassBits;
inline constexpr unsigned kMaxSizeClasses = 1u << kSizeClassBits;
// Indices of a class are < kMaxSlotsPerClass (so no id is UINT32_MAX).
inline constexpr uint64_t kMaxSlotsPerClass = (uint64_t{1} << kSlotIndexBits) - 1;
inline constexpr uint32_t kMinClassSize = 4096;

constexpr uint32_t SlotId(unsigned size_class, uint64_t index) {
  return static_cast<uint32_t>(size_class) << kSlotIndexBits | static_cast<uint32_t>(index);
}
constexpr unsigned SlotClass(uint32_t slot) { return slot >> kSlotIndexBits; }
constexpr uint32_t SlotIndex(uint32_t slot) { return slot & ((uint32_t{1} << kSlotIndexBits) - 1); }

class SizeClasses {
 public:
  // REQUIRES: block_size is a positive multiple of 4096.
  explicit SizeClasses(uint32_t block_size) {
    sizes_[0] = block_size;
    count_ = 1;
    uint32_t p = std::bit_floor(block_size);
    if (p == block_size) p /= 2;
    for (; p >= kMinClassSize; p /= 2) sizes_[count_++] = p;
  }

  uint32_t block_size() const { return sizes_[0]; }
  unsigned count() const { return count_; }
  // REQUIRES: size_class < count().
  uint32_t size(unsigned size_class) const { return sizes_[size_class]; }
  uint32_t smallest() const { return sizes_[count_ - 1]; }
  // The class of a block of `length` bytes. REQUIRES: 1 <= length <= block_size().
  unsigned For(uint32_t length) const {
    unsigned c = 0;
    while (c + 1 < count_ && sizes_[c + 1] >= length) ++c;
    return c;
  }
  // The class size a slot id stands for (0 if the class does not exist).
  uint32_t SizeOfSlot(uint32_t slot) const {
    return SlotClass(slot) < count_ ? sizes_[SlotClass(slot)] : 0;
  }

 private:
  std::array<uint32_t, kMaxSizeClasses> sizes_{};
  unsigned count_ = 0;
};

template <typename T>
class SlotTable {
 public:
  using Array = ChunkedArray<T, 11>;  // 2^16 chunks of 2^11 = 2^27 indices: exactly one class
  static_assert(Array::kMaxSize >= kMaxSlotsPerClass);

  SlotTable() = default;
  ~SlotTable() {
    for (auto& a : classes_) delete a.load(std::memory_order_relaxed);
  }
  SlotTable(const SlotTable&) = delete;
  SlotTable& operator=(const SlotTable&) = delete;

  // Makes ids [SlotId(c, 0), SlotId(c, n)) valid. Owner thread only.
  void Grow(unsigned size_class, uint64_t n) {
    if (size_class >= kMaxSizeClasses || n == 0) return;
    Array* a = classes_[size_class].load(std::memory_order_relaxed);
    if (a == nullptr) {
      a = new Array();
      classes_[size_class].store(a, std::memory_order_release);
    }
    a->Grow(n);
  }
  // Makes `slot` valid.
  void GrowTo(uint32_t slot) { Grow(SlotClass(slot), uint64_t{SlotIndex(slot)} + 1); }

  bool Contains(uint32_t slot) const {
    const Array* a = classes_[SlotClass(slot)].load(std::memory_order_acquire);
    return a != nullptr && a->Contains(SlotIndex(slot));
  }
  // Indices valid in class `size_class`.
  uint64_t size(unsigned size_class) const {
    const Array* a = classes_[size_class].load(std::memory_order_acquire);
    return a == nullptr ? 0 : a->size();
  }
  // REQUIRES: Contains(slot).
  T& at(uint32_t slot) {
    return classes_[SlotClass(slot)].load(std::memory_order_acquire)->at(SlotIndex(slot));
  }
  const T& at(uint32_t slot) const {
    return classes_[SlotClass(slot)].load(std::memory_order_acquire)->at(SlotIndex(slot));
  }

 private:
  std::array<std::atomic<Array*>, kMaxSizeClasses> classes_{};
};

}  // namespace hoardfs
