// ReadSizes: what the kernel asks of the daemon, counted per FUSE read request: requests, bytes,
// and a histogram of request sizes in power-of-two buckets (≤ 4 KiB, ≤ 8 KiB, …, ≤ 1 MiB, more).
// It separates the kernel's share of an over-fetch (its readahead asks for more than the
// application reads) from the daemon's (remote bytes ÷ bytes asked), without tracing.
//
// Thread-safety: Record() and Json() may be called concurrently (relaxed atomics: a snapshot may
// mix counts of requests in flight, each counter is exact once they are done).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace hoardfs {

class ReadSizes {
 public:
  static constexpr size_t kBuckets = 10;  // 4 KiB … 1 MiB, then "more"

  void Record(size_t size);

  uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }
  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  // Requests of at most 4 KiB << i bytes (and more than half that); the last bucket: > 1 MiB.
  uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }

  // "fuse_reads":N,"fuse_read_bytes":B,"fuse_read_sizes":{"4k":n,…,"1m":n,"more":n}
  // (members of an enclosing JSON object, no braces around them).
  std::string JsonMembers() const;

  static size_t BucketOf(size_t size);

 private:
  std::atomic<uint64_t> requests_{0}, bytes_{0};
  std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
};

}  // namespace hoardfs
