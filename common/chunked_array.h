// ChunkedArray<T>: a dense array indexed by uint32 that grows in fixed chunks without ever moving
// an element, so readers on other threads may keep using elements while the owner grows it.
// Used for per-slot state (one entry per cache slot, up to hundreds of millions of slots).
//
// Thread-safety: Grow() must be called by one thread at a time. at()/Contains() may run
// concurrently with Grow(): an index below the size a reader has observed stays valid. T must be
// default-constructible; atomics inside T give element-level synchronisation.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

namespace hoardfs {

template <typename T, unsigned kChunkBits = 16>
class ChunkedArray {
 public:
  static constexpr uint64_t kChunkSize = uint64_t{1} << kChunkBits;
  // At most 2^16 chunks and 2^32 elements: the pointer table stays small whatever the chunk size.
  static constexpr uint64_t kMaxChunks =
      ((uint64_t{1} << 32) / kChunkSize) < (uint64_t{1} << 16) ? ((uint64_t{1} << 32) / kChunkSize)
                                                               : (uint64_t{1} << 16);
  static constexpr uint64_t kMaxSize = kMaxChunks * kChunkSize;

  ChunkedArray() : chunks_(std::make_unique<std::atomic<T*>[]>(kMaxChunks)) {}
  ~ChunkedArray() {
    for (uint64_t i = 0; i < kMaxChunks; ++i) delete[] chunks_[i].load(std::memory_order_relaxed);
  }
  ChunkedArray(const ChunkedArray&) = delete;
  ChunkedArray& operator=(const ChunkedArray&) = delete;

  // Makes indices [0, min(n, kMaxSize)) valid. Never shrinks.
  void Grow(uint64_t n) {
    if (n > kMaxSize) n = kMaxSize;
    while (size_.load(std::memory_order_relaxed) < n) {
      const uint64_t chunk = size_.load(std::memory_order_relaxed) >> kChunkBits;
      chunks_[chunk].store(new T[kChunkSize](), std::memory_order_release);
      size_.store((chunk + 1) << kChunkBits, std::memory_order_release);
    }
  }
  uint64_t size() const { return size_.load(std::memory_order_acquire); }
  bool Contains(uint64_t i) const { return i < size(); }

  // REQUIRES: Contains(i).
  T& at(uint64_t i) {
    return chunks_[i >> kChunkBits].load(std::memory_order_acquire)[i & (kChunkSize - 1)];
  }
  const T& at(uint64_t i) const {
    return chunks_[i >> kChunkBits].load(std::memory_order_acquire)[i & (kChunkSize - 1)];
  }

 private:
  std::unique_ptr<std::atomic<T*>[]> chunks_;
  std::atomic<uint64_t> size_{0};
};

}  // namespace hoardfs
