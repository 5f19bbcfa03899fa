#include "fuse/read_sizes.h"

#include <bit>

namespace hoardfs {

size_t ReadSizes::BucketOf(size_t size) {
  constexpr size_t kSmallest = 4096;
  if (size <= kSmallest) return 0;
  // ceil(log2(size / 4 KiB)): 4 KiB + 1 .. 8 KiB -> 1, … 512 KiB + 1 .. 1 MiB -> 8.
  const size_t b = std::bit_width((size - 1) / kSmallest);
  return b < kBuckets - 1 ? b : kBuckets - 1;
}

void ReadSizes::Record(size_t size) {
  requests_.fetch_add(1, std::memory_order_relaxed);
  bytes_.fetch_add(size, std::memory_order_relaxed);
  buckets_[BucketOf(size)].fetch_add(1, std::memory_order_relaxed);
}

std::string ReadSizes::JsonMembers() const {
  static constexpr const char* kNames[kBuckets] = {"4k",   "8k",   "16k",  "32k", "64k",
                                                   "128k", "256k", "512k", "1m",  "more"};
  std::string json = "\"fuse_reads\":" + std::to_string(requests()) +
                     ",\"fuse_read_bytes\":" + std::to_string(bytes()) + ",\"fuse_read_sizes\":{";
  for (size_t i = 0; i < kBuckets; ++i) {
    json += std::string(i == 0 ? "\"" : ",\"") + kNames[i] + "\":" + std::to_string(bucket(i));
  }
  return json + "}";
}

}  // namespace hoardfs
