#include "common/chunked_array.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace hoardfs {
namespace {

TEST(ChunkedArrayTest, GrowKeepsAddresses) {
  ChunkedArray<uint32_t, 4> a;  // 16 elements a chunk
  EXPECT_EQ(a.size(), 0u);
  a.Grow(10);
  EXPECT_EQ(a.size(), 16u);
  a.at(3) = 42;
  uint32_t* p = &a.at(3);
  a.Grow(1000);
  EXPECT_GE(a.size(), 1000u);
  EXPECT_EQ(&a.at(3), p);
  EXPECT_EQ(a.at(3), 42u);
  EXPECT_EQ(a.at(999), 0u);
  EXPECT_FALSE(a.Contains(a.size()));
}

TEST(ChunkedArrayTest, ReadersDuringGrowth) {
  ChunkedArray<std::atomic<uint32_t>, 8> a;
  a.Grow(256);
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop.load()) {
      const uint64_t n = a.size();
      for (uint64_t i = 0; i < n; i += 97) a.at(i).fetch_add(1, std::memory_order_relaxed);
    }
  });
  for (uint64_t n = 256; n < 200000; n += 1000) a.Grow(n);
  stop = true;
  reader.join();
  EXPECT_GE(a.size(), 199000u);
}

}  // namespace
}  // namespace hoardfs
