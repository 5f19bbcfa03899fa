#include "common/buffer_pool.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/thp_probe.h"

namespace hoardfs {
namespace {

constexpr size_t kGranule = 64u << 10;

BufferPoolOptions Small(size_t max_idle_bytes) {
  BufferPoolOptions o;
  o.granule = kGranule;
  o.max_idle_bytes = max_idle_bytes;
  o.min_pooled_bytes = 4096;
  return o;
}

// Whether the page at `p` is mapped in this process (mincore fails with ENOMEM if not).
bool Mapped(const std::byte* p) {
  unsigned char vec = 0;
  void* page = const_cast<std::byte*>(p);
  if (::mincore(page, 1, &vec) == 0) return true;
  EXPECT_EQ(errno, ENOMEM);
  return false;
}

TEST(BufferPoolTest, CapacityRoundsUpToTheGranule) {
  auto pool = BufferPool::Create(Small(0));
  EXPECT_EQ(pool->Capacity(4096), kGranule);
  EXPECT_EQ(pool->Capacity(kGranule), kGranule);
  EXPECT_EQ(pool->Capacity(kGranule + 1), 2 * kGranule);
  EXPECT_EQ(pool->Capacity(100), 100u);  // below min_pooled_bytes: its own size, from the heap
  auto tiny = pool->Get(100);
  ASSERT_NE(tiny, nullptr);
  EXPECT_EQ(pool->Stats().gets, 0u);
}

TEST(BufferPoolTest, ReleasedBufferIsReused) {
  auto pool = BufferPool::Create(Small(4 * kGranule));
  std::shared_ptr<std::byte[]> a = pool->Get(kGranule);
  std::byte* first = a.get();
  ASSERT_EQ(reinterpret_cast<uintptr_t>(first) % 4096, 0u);
  std::memset(first, 0x5a, kGranule);
  a.reset();
  EXPECT_EQ(pool->Stats().idle_bytes, kGranule);
  std::shared_ptr<std::byte[]> b = pool->Get(kGranule - 10);  // same capacity
  EXPECT_EQ(b.get(), first);
  EXPECT_EQ(b[kGranule - 1], std::byte{0x5a});               // not cleared
  std::shared_ptr<std::byte[]> c = pool->Get(2 * kGranule);  // another capacity: a new one
  EXPECT_NE(c.get(), first);
  const BufferPoolStats s = pool->Stats();
  EXPECT_EQ(s.gets, 3u);
  EXPECT_EQ(s.reuses, 1u);
  EXPECT_EQ(s.maps, 2u);
  EXPECT_EQ(s.idle_bytes, 0u);
  EXPECT_EQ(s.in_use_bytes, 3 * kGranule);
}

// A read of another size takes the smallest idle buffer that holds it, up to twice its capacity
// (a fresh mapping is zeroed page by page); a much larger one stays idle for a larger read.
TEST(BufferPoolTest, SmallestIdleBufferOfUpToTwiceTheCapacityIsReused) {
  auto pool = BufferPool::Create(Small(16 * kGranule));
  std::shared_ptr<std::byte[]> two = pool->Get(2 * kGranule);
  std::shared_ptr<std::byte[]> three = pool->Get(3 * kGranule);
  std::shared_ptr<std::byte[]> eight = pool->Get(8 * kGranule);
  std::byte* two_at = two.get();
  std::byte* three_at = three.get();
  std::byte* eight_at = eight.get();
  two.reset();
  three.reset();
  eight.reset();
  EXPECT_EQ(pool->Stats().idle_bytes, 13 * kGranule);

  std::shared_ptr<std::byte[]> a = pool->Get(kGranule + 1);  // capacity 2: the 2
  EXPECT_EQ(a.get(), two_at);
  std::shared_ptr<std::byte[]> b = pool->Get(kGranule);  // 1: the 2 is taken, the 3 is too large
  EXPECT_NE(b.get(), three_at);
  EXPECT_NE(b.get(), eight_at);
  std::shared_ptr<std::byte[]> c = pool->Get(2 * kGranule);  // 2: the 3
  EXPECT_EQ(c.get(), three_at);
  std::shared_ptr<std::byte[]> d = pool->Get(5 * kGranule);  // 5: the 8
  EXPECT_EQ(d.get(), eight_at);
  BufferPoolStats s = pool->Stats();
  EXPECT_EQ(s.reuses, 3u);
  EXPECT_EQ(s.maps, 4u);  // the first three and b
  EXPECT_EQ(s.idle_bytes, 0u);
  EXPECT_EQ(s.in_use_bytes, (2 + 1 + 3 + 8) * kGranule);  // what each buffer holds, not asked

  // Released, each goes back under its own capacity.
  c.reset();
  d.reset();
  s = pool->Stats();
  EXPECT_EQ(s.idle_bytes, 11 * kGranule);
  EXPECT_EQ(s.in_use_bytes, 3 * kGranule);
  EXPECT_EQ(pool->Get(8 * kGranule).get(), eight_at);
  EXPECT_EQ(pool->Get(3 * kGranule).get(), three_at);
}

TEST(BufferPoolTest, IdleBytesAreBoundedAndTheRestIsUnmapped) {
  auto pool = BufferPool::Create(Small(2 * kGranule));
  std::vector<std::shared_ptr<std::byte[]>> held;
  std::vector<std::byte*> addresses;
  for (int i = 0; i < 5; ++i) {
    held.push_back(pool->Get(kGranule));
    addresses.push_back(held.back().get());
    held.back()[0] = std::byte{1};
  }
  EXPECT_EQ(pool->Stats().in_use_bytes, 5 * kGranule);
  held.clear();  // released in order: the first two stay idle, the last three are unmapped
  const BufferPoolStats s = pool->Stats();
  EXPECT_EQ(s.idle_bytes, 2 * kGranule);
  EXPECT_EQ(s.in_use_bytes, 0u);
  EXPECT_EQ(s.unmaps, 3u);
  EXPECT_TRUE(Mapped(addresses[0]));
  EXPECT_TRUE(Mapped(addresses[1]));
  for (int i = 2; i < 5; ++i) EXPECT_FALSE(Mapped(addresses[i])) << i;
}

TEST(BufferPoolTest, AliasKeepsTheBufferInUse) {
  auto pool = BufferPool::Create(Small(4 * kGranule));
  std::shared_ptr<std::byte[]> buffer = pool->Get(2 * kGranule);
  // As the fetcher splits one remote read into blocks: pointers into the buffer, sharing it.
  std::shared_ptr<const std::byte> tail(buffer, buffer.get() + kGranule);
  std::byte* address = buffer.get();
  buffer.reset();
  EXPECT_EQ(pool->Stats().idle_bytes, 0u);
  EXPECT_EQ(pool->Stats().in_use_bytes, 2 * kGranule);
  tail.reset();
  EXPECT_EQ(pool->Stats().idle_bytes, 2 * kGranule);
  EXPECT_EQ(pool->Get(2 * kGranule).get(), address);
}

TEST(BufferPoolTest, BuffersOutliveThePoolsOwner) {
  auto pool = BufferPool::Create(Small(4 * kGranule));
  std::weak_ptr<BufferPool> weak = pool;
  std::shared_ptr<std::byte[]> kept = pool->Get(kGranule);
  std::shared_ptr<std::byte[]> idle = pool->Get(kGranule);
  std::byte* idle_address = idle.get();
  idle.reset();
  pool.reset();  // the owner is gone; the buffer handed out keeps the pool
  ASSERT_FALSE(weak.expired());
  std::memset(kept.get(), 7, kGranule);
  std::byte* kept_address = kept.get();
  kept.reset();  // back to the pool, which then goes too and unmaps everything it held
  EXPECT_TRUE(weak.expired());
  EXPECT_FALSE(Mapped(kept_address));
  EXPECT_FALSE(Mapped(idle_address));
}

TEST(BufferPoolTest, LargeBuffersAreHugePageAlignedAndBackedWhereTheKernelAllows) {
  constexpr size_t kMiB = 1u << 20;
  auto pool = BufferPool::Create({.granule = kMiB, .max_idle_bytes = 0});
  std::shared_ptr<std::byte[]> big = pool->Get(5 * kMiB);
  std::byte* address = big.get();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(address) % kHugePageSize, 0u);
  std::memset(address, 0x3c, 5 * kMiB);  // all of it is ours
  EXPECT_EQ(address[5 * kMiB - 1], std::byte{0x3c});
  std::shared_ptr<std::byte[]> small = pool->Get(kMiB);  // below a huge page: page-aligned only
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small.get()) % 4096, 0u);

  const std::string mode = ThpMode();
  if (ThpOff(mode)) {
    std::printf("transparent huge pages are off here (%s): not checking the backing\n",
                mode.empty() ? "no sysfs entry" : mode.c_str());
  } else {
    // The first 4 MiB are two aligned huge pages (the last MiB cannot be one).
    EXPECT_GE(AnonHugeKb(address), 4096u) << mode;
  }
  big.reset();  // over the idle budget: unmapped, whole
  EXPECT_FALSE(Mapped(address));
  EXPECT_FALSE(Mapped(address + 5 * kMiB - 4096));
}

TEST(BufferPoolTest, ConcurrentGetAndRelease) {
  constexpr size_t kMaxIdle = 8 * kGranule;
  auto pool = BufferPool::Create(Small(kMaxIdle));
  constexpr int kThreads = 8, kRounds = 2000;
  std::atomic<int> clashes{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      std::vector<std::shared_ptr<std::byte[]>> held;
      for (int r = 0; r < kRounds; ++r) {
        std::shared_ptr<std::byte[]> b = pool->Get(kGranule);
        // No one else may hold this buffer while we do: stamp it, let others run, check it.
        const auto stamp = static_cast<std::byte>(t * 31 + r);
        b[0] = stamp;
        b[kGranule - 1] = stamp;
        std::this_thread::yield();
        if (b[0] != stamp || b[kGranule - 1] != stamp) clashes.fetch_add(1);
        held.push_back(std::move(b));
        if (held.size() > rng() % 4) held.erase(held.begin() + rng() % held.size());
      }
    });
  }
  for (std::thread& th : threads) th.join();
  const BufferPoolStats s = pool->Stats();
  EXPECT_EQ(clashes.load(), 0);
  EXPECT_EQ(s.gets, uint64_t{kThreads} * kRounds);
  EXPECT_EQ(s.in_use_bytes, 0u);
  EXPECT_LE(s.idle_bytes, kMaxIdle);
  EXPECT_EQ((s.maps - s.unmaps) * kGranule, s.idle_bytes);  // nothing leaked, nothing lost
  EXPECT_GT(s.reuses, s.gets / 2);
}

}  // namespace
}  // namespace hoardfs
