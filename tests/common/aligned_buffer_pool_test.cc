#include "common/aligned_buffer_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/huge_pages.h"
#include "tests/support/thp_probe.h"

namespace hoardfs {
namespace {

constexpr size_t kBlock = 1u << 20;

uintptr_t Address(const AlignedBuffer& b) { return reinterpret_cast<uintptr_t>(b.data()); }

TEST(AlignedBufferPoolTest, BlockBuffersComeFromAHugePageAlignedSlabInAddressOrder) {
  AlignedBufferPool pool(kBlock, 4, 0);
  EXPECT_EQ(pool.Stats().slab_bytes, 0u);  // mapped on the first block buffer only
  std::vector<AlignedBuffer> held;
  for (int i = 0; i < 4; ++i) held.push_back(pool.Get(kBlock));
  EXPECT_EQ(pool.Stats().slab_bytes, 4 * kBlock);
  EXPECT_EQ(Address(held[0]) % kHugePageSize, 0u);
  for (size_t i = 0; i < held.size(); ++i) {
    EXPECT_TRUE(held[i].borrowed()) << i;
    EXPECT_EQ(held[i].size(), kBlock);
    EXPECT_EQ(Address(held[i]), Address(held[0]) + i * kBlock) << i;
    std::memset(held[i].data(), static_cast<int>(i), kBlock);  // all of it is ours
  }
  EXPECT_EQ(pool.Stats().heap_block_allocs, 0u);

  AlignedBuffer extra = pool.Get(kBlock);  // the slab is all in use: from the heap
  EXPECT_FALSE(extra.borrowed());
  EXPECT_EQ(Address(extra) % kDirectIoAlignment, 0u);
  EXPECT_EQ(pool.Stats().heap_block_allocs, 1u);
  pool.Put(std::move(extra));  // freed, not kept: the slab holds the kept ones
  const uintptr_t last = Address(held.back());
  for (AlignedBuffer& b : held) pool.Put(std::move(b));
  EXPECT_EQ(pool.Stats().idle_slab_buffers, 4u);
  AlignedBuffer again = pool.Get(kBlock - 7);
  EXPECT_EQ(Address(again), last);  // the most recently given back
  EXPECT_EQ(again.size(), kBlock - 7);
  EXPECT_EQ(pool.Stats().heap_block_allocs, 1u);
  pool.Put(std::move(again));
}

TEST(AlignedBufferPoolTest, HalfABlockOrMoreGetsABlockBufferLessItsOwnCapacity) {
  AlignedBufferPool pool(kBlock, 2, 1u << 20);
  AlignedBuffer half = pool.Get(kBlock / 2);
  EXPECT_TRUE(half.borrowed());
  EXPECT_EQ(half.capacity(), kBlock);
  EXPECT_EQ(half.size(), kBlock / 2);
  AlignedBuffer piece = pool.Get(16384 + 1);
  EXPECT_FALSE(piece.borrowed());
  EXPECT_EQ(piece.capacity(), 16384u + 4096u);
  EXPECT_EQ(Address(piece) % kDirectIoAlignment, 0u);
  pool.Put(std::move(half));
  pool.Put(std::move(piece));
}

TEST(AlignedBufferPoolTest, SmallBuffersAreKeptWithinTheirBound) {
  AlignedBufferPool pool(kBlock, 2, 3 * 4096);
  std::vector<AlignedBuffer> held;
  std::vector<uintptr_t> addresses;
  for (int i = 0; i < 4; ++i) {
    held.push_back(pool.Get(4096));
    addresses.push_back(Address(held.back()));
  }
  for (AlignedBuffer& b : held) pool.Put(std::move(b));  // the fourth is over the bound: freed
  std::vector<AlignedBuffer> again;
  for (int i = 0; i < 3; ++i) {
    again.push_back(pool.Get(100));  // rounds up to the same 4 KiB capacity
    EXPECT_EQ(Address(again.back()), addresses[2 - i]) << i;
  }
  for (AlignedBuffer& b : again) pool.Put(std::move(b));
}

TEST(AlignedBufferPoolTest, ASlabBufferNeverGivenBackIsLostToThePoolNotFreed) {
  AlignedBufferPool pool(kBlock, 2, 0);
  uintptr_t first = 0;
  {
    AlignedBuffer b = pool.Get(kBlock);
    first = Address(b);
    AlignedBuffer moved = std::move(b);  // a move carries the borrow with it
    EXPECT_TRUE(moved.borrowed());
    EXPECT_FALSE(b.borrowed());  // NOLINT(bugprone-use-after-move): checking the moved-from state
  }  // destroyed without Put(): must not reach free() (ASan would report it)
  AlignedBuffer next = pool.Get(kBlock);
  EXPECT_EQ(Address(next), first + kBlock);
  EXPECT_EQ(pool.Stats().slab_handed_out, 2u);
  EXPECT_EQ(pool.Stats().idle_slab_buffers, 0u);
  pool.Put(std::move(next));
}

TEST(AlignedBufferPoolTest, WithoutASlabHeapBlockBuffersAreKept) {
  AlignedBufferPool pool(kBlock, 0, 0);
  AlignedBuffer b = pool.Get(kBlock);
  EXPECT_FALSE(b.borrowed());
  pool.Put(std::move(b));
  EXPECT_EQ(pool.Stats().slab_bytes, 0u);
  EXPECT_EQ(pool.Stats().heap_block_allocs, 1u);
}

TEST(AlignedBufferPoolTest, TheSlabIsBackedByHugePagesWhereTheKernelAllows) {
  AlignedBufferPool pool(kBlock, 4, 0);
  AlignedBuffer a = pool.Get(kBlock);
  AlignedBuffer b = pool.Get(kBlock);
  std::memset(a.data(), 1, kBlock);  // first touch of the slab's first huge page
  std::memset(b.data(), 2, kBlock);
  const std::string mode = ThpMode();
  if (ThpOff(mode)) {
    std::printf("transparent huge pages are off here (%s): not checking the backing\n",
                mode.empty() ? "no sysfs entry" : mode.c_str());
  } else {
    EXPECT_GE(AnonHugeKb(a.data()), 2048u) << mode;
  }
  pool.Put(std::move(a));
  pool.Put(std::move(b));
}

TEST(AlignedBufferPoolTest, ConcurrentGetAndPutNeverShareABuffer) {
  AlignedBufferPool pool(64u << 10, 8, 256u << 10);
  constexpr int kThreads = 8, kRounds = 3000;
  std::atomic<int> clashes{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      std::vector<AlignedBuffer> held;
      for (int r = 0; r < kRounds; ++r) {
        // Block buffers (slab or heap) and small ones, mixed.
        AlignedBuffer b = pool.Get(rng() % 2 == 0 ? (64u << 10) : 4096u * (1 + rng() % 4));
        const auto stamp = static_cast<std::byte>(t * 31 + r);
        b.data()[0] = stamp;
        b.data()[b.size() - 1] = stamp;
        std::this_thread::yield();
        if (b.data()[0] != stamp || b.data()[b.size() - 1] != stamp) clashes.fetch_add(1);
        held.push_back(std::move(b));
        if (held.size() > rng() % 4) {
          const size_t victim = rng() % held.size();
          pool.Put(std::move(held[victim]));
          held.erase(held.begin() + static_cast<std::ptrdiff_t>(victim));
        }
      }
      for (AlignedBuffer& b : held) pool.Put(std::move(b));
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(clashes.load(), 0);
  EXPECT_EQ(pool.Stats().idle_slab_buffers, pool.Stats().slab_handed_out);  // all came back
}

}  // namespace
}  // namespace hoardfs
