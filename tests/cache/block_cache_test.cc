#include "cache/block_cache.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "cache/block_index.h"
#include "common/hash.h"
#include "tests/cache/block_data.h"
#include "tests/cache/cache_test_util.h"
#include "tests/cache/fault_injecting_block_store.h"
#include "tests/cache/test_dir.h"

namespace hoardfs {
namespace {

using testing::BlockBytes;
using testing::FaultInjectingBlockStore;
using testing::TestDir;

constexpr uint32_t kBlock = 64 * 1024;

BlockCacheOptions SmallOptions(const std::string& dir, uint64_t blocks) {
  return testing::SmallCacheOptions(dir, blocks, kBlock);
}

std::unique_ptr<BlockCache> OpenOrDie(const BlockCacheOptions& o) {
  return testing::OpenCacheOrDie(o);
}

FileKey File(const std::string& path, uint64_t version = 1, uint32_t remote = 0) {
  return FileKey{remote, path, version};
}

void Put(BlockCache& c, const FileKey& f, uint32_t block, size_t size = kBlock) {
  testing::PutBlock(c, f, block, size);
}

// True if the block is cached and its bytes are exactly the expected ones.
bool HasExact(BlockCache& c, const FileKey& f, uint32_t block, size_t size = kBlock) {
  uint32_t b = block;
  auto got = c.Read(f, std::span<const uint32_t>(&b, 1));
  if (!got[0].has_value()) return false;
  auto want = BlockBytes(f.path, f.version_hash, block, size);
  EXPECT_EQ(got[0]->size(), size);
  EXPECT_TRUE(std::equal(want.begin(), want.end(), got[0]->bytes().begin()));
  return got[0]->size() == size && std::equal(want.begin(), want.end(), got[0]->bytes().begin());
}

// Makes the cache opened with `o` use a real store wrapped in a FaultInjectingBlockStore, which
// *faults points to once the cache is open.
void WrapStoreWithFaults(BlockCacheOptions* o, FaultInjectingBlockStore** faults) {
  o->store_factory = [faults](const BlockStoreOptions& so) -> Result<std::unique_ptr<BlockStore>> {
    auto inner = BlockStore::Open(so);
    if (!inner.ok()) return inner.status();
    auto wrapped = std::make_unique<FaultInjectingBlockStore>(std::move(inner).value());
    *faults = wrapped.get();
    return std::unique_ptr<BlockStore>(std::move(wrapped));
  };
}

TEST(BlockCacheTest, InsertThenReadBackIncludingShortLastBlock) {
  TestDir dir;
  auto cache = OpenOrDie(SmallOptions(dir.path(), 64));
  FileKey f = File("/store/run1/file.root");
  for (uint32_t b = 0; b < 5; ++b) Put(*cache, f, b);
  Put(*cache, f, 5, 1234);  // short tail
  ASSERT_TRUE(cache->Flush().ok());
  for (uint32_t b = 0; b < 5; ++b) EXPECT_TRUE(HasExact(*cache, f, b));
  EXPECT_TRUE(HasExact(*cache, f, 5, 1234));
  std::vector<uint32_t> all = {0, 1, 2, 3, 4, 5, 6};
  auto got = cache->Read(f, all);
  EXPECT_FALSE(got[6].has_value());
  auto stats = cache->Stats();
  EXPECT_EQ(stats.inserts, 6u);
  EXPECT_EQ(stats.data_bytes, 5u * kBlock + 1234);
  EXPECT_EQ(stats.used_bytes, 5u * kBlock + 4096);  // the short tail takes a 4 KiB slot
  EXPECT_GT(stats.hits, 0u);
  EXPECT_GT(stats.misses, 0u);
}

// Reads hold more block buffers than the read-buffer slab has (2 here): the rest come from the
// heap; every byte is right, whichever kind of buffer it was read into, and again once all were
// given back and are reused (slab ones kept, heap ones freed).
TEST(BlockCacheTest, ReadsBeyondTheReadBufferSlabAreExact) {
  TestDir dir;
  BlockCacheOptions o = SmallOptions(dir.path(), 64);
  o.read_buffer_bytes = 2 * kBlock;
  auto cache = OpenOrDie(o);
  FileKey f = File("/store/run1/slab.root");
  std::vector<uint32_t> all;
  for (uint32_t b = 0; b < 8; ++b) {
    Put(*cache, f, b);
    all.push_back(b);
  }
  ASSERT_TRUE(cache->Flush().ok());
  for (int pass = 0; pass < 3; ++pass) {
    auto got = cache->Read(f, all);  // all eight held at once
    std::set<const std::byte*> distinct;
    for (uint32_t b = 0; b < 8; ++b) {
      ASSERT_TRUE(got[b].has_value()) << "pass " << pass << " block " << b;
      const auto want = BlockBytes(f.path, f.version_hash, b, kBlock);
      EXPECT_TRUE(std::equal(want.begin(), want.end(), got[b]->bytes().begin()))
          << "pass " << pass << " block " << b;
      distinct.insert(got[b]->bytes().data());
    }
    EXPECT_EQ(distinct.size(), 8u) << "two blocks were read into one buffer";
  }
}

// InsertShared(): page-aligned bytes of whole pages are written from the caller's buffer (counted,
// and released once written); anything else is copied as by Insert(). All read back exact.
TEST(BlockCacheTest, InsertSharedWritesFromTheCallersBufferOrCopies) {
  TestDir dir;
  auto cache = OpenOrDie(SmallOptions(dir.path(), 64));
  FileKey f = File("/store/run1/shared.root");
  // One page-aligned buffer: block 0 at its start, block 1 (one page) 4 KiB in, block 2 (a short
  // tail) and block 3 (a page at an unaligned address) further on.
  constexpr size_t kUnaligned = 2 * kBlock + 100;
  std::shared_ptr<std::byte> buffer(static_cast<std::byte*>(std::aligned_alloc(4096, 3 * kBlock)),
                                    [](std::byte* p) { std::free(p); });
  ASSERT_NE(buffer, nullptr);
  auto fill = [&](size_t at, uint32_t block, size_t size) {
    const std::vector<std::byte> bytes = BlockBytes(f.path, f.version_hash, block, size);
    std::memcpy(buffer.get() + at, bytes.data(), size);
    return std::shared_ptr<const std::byte>(buffer, buffer.get() + at);
  };
  ASSERT_TRUE(cache->InsertShared(f, 0, fill(0, 0, kBlock), kBlock).ok());
  ASSERT_TRUE(cache->InsertShared(f, 1, fill(kBlock + 4096, 1, 4096), 4096).ok());
  ASSERT_TRUE(cache->InsertShared(f, 2, fill(2 * kBlock - 8192, 2, 1234), 1234).ok());
  ASSERT_TRUE(cache->InsertShared(f, 3, fill(kUnaligned, 3, 4096), 4096).ok());
  EXPECT_EQ(cache->Stats().inserts_shared, 2u);
  ASSERT_TRUE(cache->Flush().ok());
  EXPECT_EQ(buffer.use_count(), 1) << "the queue still holds the caller's buffer";
  EXPECT_TRUE(HasExact(*cache, f, 0));
  EXPECT_TRUE(HasExact(*cache, f, 1, 4096));
  EXPECT_TRUE(HasExact(*cache, f, 2, 1234));
  EXPECT_TRUE(HasExact(*cache, f, 3, 4096));
  EXPECT_EQ(cache->Stats().inserts, 4u);
  // Bad input as Insert(): a block larger than the block size.
  EXPECT_EQ(cache->InsertShared(f, 4, fill(0, 4, kBlock), kBlock + 4096).code(),
            StatusCode::kInvalidArgument);
}

TEST(BlockCacheTest, OtherVersionOrRemoteIsAMiss) {
  TestDir dir;
  auto cache = OpenOrDie(SmallOptions(dir.path(), 16));
  Put(*cache, File("/a/f", 1), 0);
  ASSERT_TRUE(cache->Flush().ok());
  EXPECT_TRUE(HasExact(*cache, File("/a/f", 1), 0));
  EXPECT_FALSE(HasExact(*cache, File("/a/f", 2), 0));
  EXPECT_FALSE(HasExact(*cache, File("/a/f", 1, 7), 0));
  EXPECT_FALSE(HasExact(*cache, File("/a/f2", 1), 0));
}

TEST(BlockCacheTest, RejectsBadInput) {
  TestDir dir;
  auto cache = OpenOrDie(SmallOptions(dir.path(), 16));
  std::vector<std::byte> big(kBlock + 1);
  EXPECT_EQ(cache->Insert(File("/a"), 0, big).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(cache->Insert(File("/a"), 0, {}).code(), StatusCode::kInvalidArgument);
  std::vector<std::byte> one(10);
  EXPECT_EQ(cache->Insert(File("relative"), 0, one).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(cache->Insert(File(std::string("/a\0b", 4)), 0, one).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(cache->Evict(0, "no-slash").status().code(), StatusCode::kInvalidArgument);
}

TEST(BlockCacheTest, DuplicateInsertIsIgnored) {
  TestDir dir;
  auto cache = OpenOrDie(SmallOptions(dir.path(), 16));
  Put(*cache, File("/a/f"), 0);
  Put(*cache, File("/a/f"), 0);
  ASSERT_TRUE(cache->Flush().ok());
  Put(*cache, File("/a/f"), 0);
  ASSERT_TRUE(cache->Flush().ok());
  auto s = cache->Stats();
  EXPECT_EQ(s.inserts, 1u);
  EXPECT_EQ(s.insert_duplicates, 2u);
  EXPECT_EQ(s.used_bytes, kBlock);
}

TEST(BlockCacheTest, SurvivesReopen) {
  TestDir dir;
  auto o = SmallOptions(dir.path(), 64);
  {
    auto cache = OpenOrDie(o);
    for (uint32_t b = 0; b < 20; ++b) Put(*cache, File("/x/y/z"), b);
    ASSERT_TRUE(cache->Flush().ok());
  }
  auto cache = OpenOrDie(o);
  for (uint32_t b = 0; b < 20; ++b) EXPECT_TRUE(HasExact(*cache, File("/x/y/z"), b)) << b;
  RecoveryReport r = cache->Recovery();
  EXPECT_EQ(r.entries, 20u);
  EXPECT_EQ(r.dropped_duplicate_slot + r.dropped_out_of_range + r.dropped_undecodable, 0u);
  EXPECT_FALSE(r.usage_repaired);
  EXPECT_EQ(cache->Stats().used_bytes, 20u * kBlock);
  // New inserts after reopen never land on a slot that is in use.
  for (uint32_t b = 0; b < 20; ++b) Put(*cache, File("/x/y/w"), b);
  ASSERT_TRUE(cache->Flush().ok());
  for (uint32_t b = 0; b < 20; ++b) {
    EXPECT_TRUE(HasExact(*cache, File("/x/y/z"), b));
    EXPECT_TRUE(HasExact(*cache, File("/x/y/w"), b));
  }
}

// A file the index held nothing of when first looked up is answered "not cached" without the
// index for every block not inserted since, and a block inserted since is found
// (cache/new_files.h). Reopened, the cache looks that file's blocks up again.
TEST(BlockCacheTest, LookupsOfANewFileSkipTheIndexButFindWhatWasInserted) {
  TestDir dir;
  const BlockCacheOptions o = SmallOptions(dir.path(), 64);
  auto cache = OpenOrDie(o);
  const FileKey f = File("/new/file.root");
  const std::vector<uint32_t> blocks = {0, 1, 2, 3};
  for (const auto& e : cache->LookUp(f, blocks)) EXPECT_FALSE(e.has_value());
  EXPECT_EQ(cache->Stats().new_file_skips, 4u);
  Put(*cache, f, 2);
  ASSERT_TRUE(cache->Flush().ok());
  std::vector<std::optional<BlockEntry>> found = cache->LookUp(f, blocks);
  EXPECT_FALSE(found[0].has_value());
  EXPECT_FALSE(found[1].has_value());
  EXPECT_TRUE(found[2].has_value()) << "an inserted block of a new file was skipped";
  EXPECT_FALSE(found[3].has_value());
  EXPECT_EQ(cache->Stats().new_file_skips, 4u + 3);
  EXPECT_TRUE(HasExact(*cache, f, 2));
  EXPECT_TRUE(cache->Contains(f, blocks)[2]);

  cache.reset();
  cache = OpenOrDie(o);
  found = cache->LookUp(f, blocks);
  EXPECT_TRUE(found[2].has_value());
  EXPECT_FALSE(found[3].has_value());
  EXPECT_EQ(cache->Stats().new_file_skips, 0u) << "a file with entries must be looked up";
}

// Inserts racing the first lookups of their file (a reader learning that the index holds
// nothing of it while they are queued or being committed) are found once committed.
TEST(BlockCacheTest, InsertsRacingTheFirstLookupsOfTheirFileAreFound) {
  TestDir dir;
  auto cache = OpenOrDie(SmallOptions(dir.path(), 256));
  constexpr uint32_t kPerFile = 8;
  const std::vector<uint32_t> blocks = {0, 1, 2, 3, 4, 5, 6, 7};
  for (int round = 0; round < 24; ++round) {
    const FileKey f = File("/race/" + std::to_string(round));
    std::atomic<bool> done{false};
    std::thread reader([&] {
      while (!done.load()) (void)cache->LookUp(f, blocks);
    });
    for (uint32_t b = 0; b < kPerFile; ++b) Put(*cache, f, b, 4096);
    ASSERT_TRUE(cache->Flush().ok());
    done.store(true);
    reader.join();
    const std::vector<std::optional<BlockEntry>> found = cache->LookUp(f, blocks);
    for (uint32_t b = 0; b < kPerFile; ++b) {
      EXPECT_TRUE(found[b].has_value()) << "round " << round << ": block " << b << " skipped";
    }
  }
}

TEST(BlockCacheTest, HardLimitAndWatermarks) {
  TestDir dir;
  auto o = SmallOptions(dir.path(), 40);
  o.high_watermark = 0.9;
  o.low_watermark = 0.5;
  auto cache = OpenOrDie(o);
  for (uint32_t b = 0; b < 200; ++b) {
    Put(*cache, File("/scan/f"), b);
    if (b % 10 == 0) {
      ASSERT_TRUE(cache->Flush().ok());
      EXPECT_LE(cache->Stats().used_bytes, o.capacity_bytes);
    }
  }
  ASSERT_TRUE(cache->Flush().ok());
  auto s = cache->Stats();
  EXPECT_LE(s.used_bytes, o.capacity_bytes);
  EXPECT_LE(s.used_bytes, static_cast<uint64_t>(0.9 * static_cast<double>(o.capacity_bytes)));
  EXPECT_GT(s.evictions, 100u);
  EXPECT_EQ(s.inserts, 200u);
  // The most recent block survived.
  EXPECT_TRUE(HasExact(*cache, File("/scan/f"), 199));
  auto v = cache->Verify(false);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->entries * kBlock, s.used_bytes);
  EXPECT_EQ(v->crc_failures, 0u);
  EXPECT_TRUE(v->usage_matches);
}

TEST(BlockCacheTest, ConcurrentInsertersNeverExceedTheLimit) {
  TestDir dir;
  auto o = SmallOptions(dir.path(), 32);
  o.max_insert_batch_bytes = 4 * kBlock;
  auto cache = OpenOrDie(o);
  std::atomic<bool> done{false};
  std::atomic<uint64_t> max_seen{0};
  std::thread monitor([&] {
    while (!done.load()) {
      uint64_t used = cache->Stats().used_bytes;
      uint64_t prev = max_seen.load();
      while (used > prev && !max_seen.compare_exchange_weak(prev, used)) {
      }
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < 6; ++t) {
    writers.emplace_back([&, t] {
      for (uint32_t b = 0; b < 60; ++b) Put(*cache, File("/w/t" + std::to_string(t)), b);
    });
  }
  for (auto& w : writers) w.join();
  ASSERT_TRUE(cache->Flush().ok());
  done = true;
  monitor.join();
  EXPECT_LE(max_seen.load(), o.capacity_bytes);
  EXPECT_GT(max_seen.load(), 0u);
  auto s = cache->Stats();
  EXPECT_EQ(s.inserts, 360u);
  auto v = cache->Verify(false);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->duplicate_slots, 0u);
  EXPECT_EQ(v->crc_failures, 0u);
}

TEST(BlockCacheTest, ReadersRacingEvictionNeverSeeWrongBytes) {
  TestDir dir;
  auto o = SmallOptions(dir.path(), 16);
  auto cache = OpenOrDie(o);
  std::atomic<bool> done{false};
  std::atomic<uint64_t> hits{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      while (!done.load()) {
        const uint32_t b = rng() % 400;
        auto got = cache->Read(File("/churn"), std::span<const uint32_t>(&b, 1));
        if (!got[0]) continue;
        auto want = BlockBytes("/churn", 1, b, kBlock);
        ASSERT_TRUE(std::equal(want.begin(), want.end(), got[0]->bytes().begin())) << b;
        hits++;
      }
    });
  }
  for (uint32_t round = 0; round < 4; ++round) {
    for (uint32_t b = 0; b < 400; ++b) Put(*cache, File("/churn"), b);
  }
  ASSERT_TRUE(cache->Flush().ok());
  done = true;
  for (auto& r : readers) r.join();
  EXPECT_GT(hits.load(), 0u);
  EXPECT_EQ(cache->Stats().crc_failures, 0u);
}

TEST(BlockCacheTest, PinnedPrefixIsNeverEvicted) {
  TestDir dir;
  auto o = SmallOptions(dir.path(), 20);
  {
    auto cache = OpenOrDie(o);
    ASSERT_TRUE(cache->Pin(0, "/keep").ok());
    for (uint32_t b = 0; b < 5; ++b) Put(*cache, File("/keep/f"), b);
    for (uint32_t b = 0; b < 100; ++b) Put(*cache, File("/keepnot/f"), b);
    ASSERT_TRUE(cache->Flush().ok());
    for (uint32_t b = 0; b < 5; ++b) EXPECT_TRUE(HasExact(*cache, File("/keep/f"), b));
    EXPECT_EQ(cache->Stats().pinned_bytes, 5u * kBlock);
    ASSERT_EQ(cache->Pins().size(), 1u);
  }
  {
    // Pins persist; blocks cached before a pin become pinned too.
    auto cache = OpenOrDie(o);
    ASSERT_EQ(cache->Pins().size(), 1u);
    EXPECT_EQ(cache->Stats().pinned_bytes, 5u * kBlock);
    Put(*cache, File("/late/f"), 0);
    ASSERT_TRUE(cache->Flush().ok());
    ASSERT_TRUE(cache->Pin(0, "/late").ok());
    for (uint32_t b = 0; b < 100; ++b) Put(*cache, File("/other/f"), b);
    ASSERT_TRUE(cache->Flush().ok());
    EXPECT_TRUE(HasExact(*cache, File("/late/f"), 0));
    for (uint32_t b = 0; b < 5; ++b) EXPECT_TRUE(HasExact(*cache, File("/keep/f"), b));
    // Unpinned, they are ordinary blocks again and the churn evicts them.
    ASSERT_TRUE(cache->Unpin(0, "/keep").ok());
    ASSERT_TRUE(cache->Unpin(0, "/late").ok());
    EXPECT_EQ(cache->Stats().pinned_bytes, 0u);
    for (uint32_t b = 100; b < 200; ++b) Put(*cache, File("/other/f"), b);
    ASSERT_TRUE(cache->Flush().ok());
    EXPECT_FALSE(HasExact(*cache, File("/keep/f"), 0));
  }
}

TEST(BlockCacheTest, CacheFullOfPinnedDataRejectsInserts) {
  TestDir dir;
  auto cache = OpenOrDie(SmallOptions(dir.path(), 4));
  ASSERT_TRUE(cache->Pin(0, "/").ok());
  for (uint32_t b = 0; b < 6; ++b) Put(*cache, File("/p"), b);
  ASSERT_TRUE(cache->Flush().ok());
  auto s = cache->Stats();
  EXPECT_EQ(s.used_bytes, 4u * kBlock);
  EXPECT_EQ(s.inserts_rejected, 2u);
  EXPECT_EQ(cache->SetCapacity(2 * kBlock).code(), StatusCode::kResourceExhausted);
}

TEST(BlockCacheTest, SetCapacityShrinksAndGrows) {
  TestDir dir;
  auto cache = OpenOrDie(SmallOptions(dir.path(), 40));
  for (uint32_t b = 0; b < 30; ++b) Put(*cache, File("/s"), b);
  ASSERT_TRUE(cache->Flush().ok());
  EXPECT_EQ(cache->Stats().used_bytes, 30u * kBlock);
  ASSERT_TRUE(cache->SetCapacity(10 * kBlock).ok());
  auto s = cache->Stats();
  EXPECT_LE(s.used_bytes, 10u * kBlock);
  EXPECT_EQ(s.capacity_bytes, 10u * kBlock);
  ASSERT_TRUE(cache->SetCapacity(100 * kBlock).ok());
  for (uint32_t b = 100; b < 180; ++b) Put(*cache, File("/s"), b);
  ASSERT_TRUE(cache->Flush().ok());
  EXPECT_GE(cache->Stats().used_bytes, 80u * kBlock);
  EXPECT_EQ(cache->SetCapacity(1).code(), StatusCode::kInvalidArgument);
}

TEST(BlockCacheTest, UsagePerDatasetIsIncrementalAndPersisted) {
  TestDir dir;
  auto o = SmallOptions(dir.path(), 100);
  o.dataset_prefixes = {"/special/deep/set"};
  auto usage_of = [](BlockCache& c, uint32_t remote, const std::string& prefix) {
    for (const auto& u : c.Usage()) {
      if (u.remote_id == remote && u.prefix == prefix) return u;
    }
    return DatasetUsage{};
  };
  {
    auto cache = OpenOrDie(o);
    for (uint32_t b = 0; b < 3; ++b) Put(*cache, File("/a/b/c/f1"), b);
    Put(*cache, File("/a/b/f2"), 0, 100);
    for (uint32_t b = 0; b < 2; ++b) Put(*cache, File("/a/c/f"), b);
    Put(*cache, File("/top"), 0, 10);
    Put(*cache, File("/special/deep/set/x/y"), 0);
    Put(*cache, File("/a/b/c/f1", 1, 9), 0);  // another remote
    ASSERT_TRUE(cache->Flush().ok());
    EXPECT_EQ(usage_of(*cache, 0, "/a/b").bytes, 3u * kBlock + 100);
    EXPECT_EQ(usage_of(*cache, 0, "/a/b").blocks, 4u);
    EXPECT_EQ(usage_of(*cache, 0, "/a/c").bytes, 2u * kBlock);
    EXPECT_EQ(usage_of(*cache, 0, "/").bytes, 10u);
    EXPECT_EQ(usage_of(*cache, 0, "/special/deep/set").blocks, 1u);
    EXPECT_EQ(usage_of(*cache, 9, "/a/b").blocks, 1u);
    auto removed = cache->Evict(0, "/a/b/c");
    ASSERT_TRUE(removed.ok());
    EXPECT_EQ(*removed, 3u);
    EXPECT_EQ(usage_of(*cache, 0, "/a/b").bytes, 100u);
    EXPECT_EQ(usage_of(*cache, 9, "/a/b").blocks, 1u);
  }
  auto cache = OpenOrDie(o);
  EXPECT_FALSE(cache->Recovery().usage_repaired);
  EXPECT_EQ(usage_of(*cache, 0, "/a/b").bytes, 100u);
  EXPECT_EQ(usage_of(*cache, 0, "/a/c").blocks, 2u);
  auto v = cache->Verify(false);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->usage_matches);
}

// The writer sums a batch's usage deltas per dataset (one merge operand each): blocks of several
// datasets interleaved in the same batches, then evicted by the policy and by prefix, keep every
// counter exact, in memory and in the index.
TEST(BlockCacheTest, UsageOfDatasetsInterleavedInOneBatchStaysExact) {
  TestDir dir;
  auto o = SmallOptions(dir.path(), 200);
  const std::vector<std::string> files = {"/d0/x/f", "/d1/x/f", "/d2/x/f", "/d3/x/f"};
  auto sum_of = [](BlockCache& c) {
    DatasetUsage sum;
    for (const auto& u : c.Usage()) {
      sum.bytes += u.bytes;
      sum.blocks += u.blocks;
    }
    return sum;
  };
  {
    auto cache = OpenOrDie(o);
    for (uint32_t b = 0; b < 40; ++b) {
      for (size_t d = 0; d < files.size(); ++d) Put(*cache, File(files[d]), b, 1000 * (d + 1));
    }
    ASSERT_TRUE(cache->Flush().ok());
    for (const auto& u : cache->Usage()) {
      const size_t d = static_cast<size_t>(u.prefix[2] - '0');
      EXPECT_EQ(u.blocks, 40u) << u.prefix;
      EXPECT_EQ(u.bytes, 40u * 1000 * (d + 1)) << u.prefix;
    }
    EXPECT_EQ(cache->Usage().size(), files.size());
    // Evictions by the policy (every dataset loses some blocks in one batch), then by prefix.
    ASSERT_TRUE(cache->SetCapacity(4 * kBlock).ok());  // 64 of the 160 4 KiB slots
    const auto stats = cache->Stats();
    EXPECT_LT(sum_of(*cache).blocks, 160u);
    EXPECT_EQ(sum_of(*cache).bytes, stats.data_bytes);
    ASSERT_TRUE(cache->Evict(0, "/d1").ok());
    EXPECT_EQ(sum_of(*cache).bytes, cache->Stats().data_bytes);
    for (const auto& u : cache->Usage()) EXPECT_NE(u.prefix, "/d1/x");
    auto v = cache->Verify(false);
    ASSERT_TRUE(v.ok());
    EXPECT_TRUE(v->usage_matches);
  }
  auto cache = OpenOrDie(o);
  EXPECT_FALSE(cache->Recovery().usage_repaired);
  EXPECT_EQ(sum_of(*cache).bytes, cache->Stats().data_bytes);
}

TEST(BlockCacheTest, ChangedDatasetSettingsRepairUsageAtOpen) {
  TestDir dir;
  auto o = SmallOptions(dir.path(), 100);
  {
    auto cache = OpenOrDie(o);
    Put(*cache, File("/a/b/c/f"), 0);
    ASSERT_TRUE(cache->Flush().ok());
  }
  o.dataset_depth = 3;
  auto cache = OpenOrDie(o);
  EXPECT_TRUE(cache->Recovery().usage_repaired);
  ASSERT_EQ(cache->Usage().size(), 1u);
  EXPECT_EQ(cache->Usage()[0].prefix, "/a/b/c");
  EXPECT_TRUE(cache->Verify(false)->usage_matches);
}

TEST(BlockCacheTest, EvictIsSegmentAwareAndCanKeepOneVersion) {
  TestDir dir;
  auto cache = OpenOrDie(SmallOptions(dir.path(), 100));
  Put(*cache, File("/d/b", 1), 0);
  Put(*cache, File("/d/b", 2), 0);
  Put(*cache, File("/d/b/inner", 1), 0);
  Put(*cache, File("/d/bc", 1), 0);
  ASSERT_TRUE(cache->Flush().ok());
  auto r = cache->Evict(0, "/d/b", /*keep_version=*/uint64_t{2});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 2u);  // version 1 of /d/b and /d/b/inner
  EXPECT_FALSE(HasExact(*cache, File("/d/b", 1), 0));
  EXPECT_TRUE(HasExact(*cache, File("/d/b", 2), 0));
  EXPECT_FALSE(HasExact(*cache, File("/d/b/inner", 1), 0));
  EXPECT_TRUE(HasExact(*cache, File("/d/bc", 1), 0));
  EXPECT_EQ(*cache->Evict(0, "/"), 2u);
  EXPECT_EQ(cache->Stats().used_bytes, 0u);
}

// Flips one byte of slot `slot` in the first data file.
void CorruptSlot(const std::string& cache_dir, uint32_t slot, uint64_t offset_in_block) {
  testing::CorruptSlotByte(cache_dir, kBlock, slot, offset_in_block);
}

TEST(BlockCacheTest, FlippedBytesAreDetectedAndServedAsMiss) {
  TestDir dir;
  auto o = SmallOptions(dir.path(), 16);
  o.use_direct_io = false;  // our pwrite and the cache's reads go through the same page cache
  auto cache = OpenOrDie(o);
  Put(*cache, File("/f"), 0);  // slot 0: lowest free slot first
  Put(*cache, File("/f"), 1);
  ASSERT_TRUE(cache->Flush().ok());
  CorruptSlot(dir.path(), 0, 4321);
  std::vector<uint32_t> both = {0, 1};
  auto got = cache->Read(File("/f"), both);
  EXPECT_FALSE(got[0].has_value());
  ASSERT_TRUE(got[1].has_value());
  EXPECT_EQ(cache->Stats().crc_failures, 1u);
  ASSERT_TRUE(cache->Flush().ok());  // the drop runs on the writer
  EXPECT_FALSE(cache->Contains(File("/f"), both)[0]);
  EXPECT_EQ(cache->Stats().used_bytes, kBlock);
  // Refetched, it is good again.
  Put(*cache, File("/f"), 0);
  ASSERT_TRUE(cache->Flush().ok());
  EXPECT_TRUE(HasExact(*cache, File("/f"), 0));
}

// LookUp() then ReadInto(): the picked blocks land in the caller's memory, verified; a flipped
// byte is a miss (counted, the entry dropped), and so is an entry whose slot another block has
// taken since the lookup (never that block's bytes).
TEST(BlockCacheTest, LookUpThenReadIntoCallerMemory) {
  TestDir dir;
  auto o = SmallOptions(dir.path(), 16);
  o.use_direct_io = false;  // our pwrite and the cache's reads go through the same page cache
  auto cache = OpenOrDie(o);
  const FileKey f = File("/into");
  Put(*cache, f, 0);  // slots 0, 1, 2: lowest free slot first
  Put(*cache, f, 1);
  Put(*cache, f, 2, 5000);  // short: its read is padded to 8 KiB
  ASSERT_TRUE(cache->Flush().ok());
  const BlockCacheStats before = cache->Stats();
  const std::vector<uint32_t> wanted = {0, 1, 2, 7};
  std::vector<std::optional<BlockEntry>> entries = cache->LookUp(f, wanted);
  ASSERT_TRUE(entries[0] && entries[1] && entries[2]);
  EXPECT_FALSE(entries[3].has_value());
  EXPECT_EQ(entries[2]->length, 5000u);

  // Blocks 2 and 0 (not 1), into one buffer, in that order.
  AlignedBuffer memory(kBlock + AlignUp(5000));
  std::vector<BlockCache::ReadTarget> targets = {{2, *entries[2], memory.data()},
                                                 {0, *entries[0], memory.data() + AlignUp(5000)}};
  EXPECT_EQ(cache->ReadInto(f, targets), std::vector<bool>({true, true}));
  const auto want2 = BlockBytes(f.path, f.version_hash, 2, 5000);
  const auto want0 = BlockBytes(f.path, f.version_hash, 0, kBlock);
  EXPECT_TRUE(std::equal(want2.begin(), want2.end(), memory.data()));
  EXPECT_TRUE(std::equal(want0.begin(), want0.end(), memory.data() + AlignUp(5000)));
  const BlockCacheStats read = cache->Stats();
  EXPECT_EQ(read.lookups - before.lookups, 4u);
  EXPECT_EQ(read.hits - before.hits, 2u);
  EXPECT_EQ(read.misses - before.misses, 1u);  // block 7

  CorruptSlot(dir.path(), 1, 777);
  const std::vector<BlockCache::ReadTarget> one = {{1, *entries[1], memory.data()}};
  EXPECT_EQ(cache->ReadInto(f, one), std::vector<bool>({false}));
  EXPECT_EQ(cache->Stats().crc_failures, 1u);
  ASSERT_TRUE(cache->Flush().ok());  // the drop runs on the writer
  EXPECT_FALSE(cache->LookUp(f, std::vector<uint32_t>{1})[0].has_value());

  // Block 0 evicted, its slot taken by another file's block: the old entry reads nothing.
  ASSERT_TRUE(cache->Evict(0, "/into").ok());
  Put(*cache, File("/other"), 0);
  ASSERT_TRUE(cache->Flush().ok());
  const std::vector<BlockCache::ReadTarget> stale = {{0, *entries[0], memory.data()}};
  EXPECT_EQ(cache->ReadInto(f, stale), std::vector<bool>({false}));
  EXPECT_GE(cache->Stats().stale_reads, 1u);
  EXPECT_TRUE(HasExact(*cache, File("/other"), 0));
}

TEST(BlockCacheTest, VerifyFindsAndRepairsCorruption) {
  TestDir dir;
  auto o = SmallOptions(dir.path(), 16);
  o.use_direct_io = false;
  auto cache = OpenOrDie(o);
  for (uint32_t b = 0; b < 4; ++b) Put(*cache, File("/v"), b);
  ASSERT_TRUE(cache->Flush().ok());
  auto clean = cache->Verify(false);
  ASSERT_TRUE(clean.ok());
  EXPECT_EQ(clean->verified, 4u);
  CorruptSlot(dir.path(), 2, 0);
  auto found = cache->Verify(false);
  EXPECT_EQ(found->crc_failures, 1u);
  EXPECT_EQ(found->verified, 3u);
  auto repaired = cache->Verify(true);
  EXPECT_EQ(repaired->dropped, 1u);
  auto after = cache->Verify(false);
  EXPECT_EQ(after->entries, 3u);
  EXPECT_EQ(after->crc_failures, 0u);
  EXPECT_TRUE(after->usage_matches);
}

TEST(BlockCacheTest, FailingStoreFallsBackToMiss) {
  TestDir dir;
  auto o = SmallOptions(dir.path(), 16);
  FaultInjectingBlockStore* faults = nullptr;
  WrapStoreWithFaults(&o, &faults);
  auto cache = OpenOrDie(o);
  ASSERT_NE(faults, nullptr);
  Put(*cache, File("/f"), 0);
  ASSERT_TRUE(cache->Flush().ok());
  faults->set_fail_reads(true);
  EXPECT_FALSE(HasExact(*cache, File("/f"), 0));
  EXPECT_EQ(cache->Stats().read_errors, 1u);
  faults->set_fail_reads(false);
  faults->set_corrupt_reads(true);
  Put(*cache, File("/f"), 1);
  ASSERT_TRUE(cache->Flush().ok());
  EXPECT_FALSE(HasExact(*cache, File("/f"), 1));
  EXPECT_GE(cache->Stats().crc_failures, 1u);
  faults->set_corrupt_reads(false);
  // Failing writes: nothing gets indexed, nothing is served.
  faults->set_fail_writes(true);
  Put(*cache, File("/g"), 0);
  ASSERT_TRUE(cache->Flush().ok());
  EXPECT_EQ(cache->Stats().write_errors, 1u);
  EXPECT_FALSE(cache->Contains(File("/g"), std::vector<uint32_t>{0})[0]);
  faults->set_fail_writes(false);
  Put(*cache, File("/g"), 0);
  ASSERT_TRUE(cache->Flush().ok());
  EXPECT_TRUE(HasExact(*cache, File("/g"), 0));
}

TEST(BlockCacheTest, FullQueueMakesInsertsWaitAndCountsTheWait) {
  TestDir dir;
  auto o = SmallOptions(dir.path(), 16);
  o.max_pending_insert_bytes = 2 * kBlock;
  FaultInjectingBlockStore* faults = nullptr;
  WrapStoreWithFaults(&o, &faults);
  auto cache = OpenOrDie(o);
  ASSERT_NE(faults, nullptr);
  ASSERT_TRUE(cache->WaitUntilReady().ok());
  // A stalled disk: the writer takes block 0 and waits in the store's Write().
  faults->set_hold_writes(true);
  const FileKey f = File("/slow");
  Put(*cache, f, 0);
  for (int i = 0; i < 500 && faults->held_writes() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(faults->held_writes(), 1u);
  Put(*cache, f, 1);  // block 0 (being written) and block 1 fill the queue
  EXPECT_EQ(cache->Stats().pending_insert_bytes, 2 * kBlock);
  auto bytes2 = BlockBytes(f.path, f.version_hash, 2, kBlock);
  EXPECT_EQ(cache->Insert(f, 2, bytes2, BlockCache::InsertMode::kDropIfBusy).code(),
            StatusCode::kResourceExhausted);
  EXPECT_EQ(cache->Stats().insert_waits, 0u);  // dropped, not waited

  std::atomic<bool> queued{false};
  std::thread waiter([&] {
    EXPECT_TRUE(cache->Insert(f, 2, bytes2, BlockCache::InsertMode::kWaitForRoom).ok());
    queued = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(queued.load());  // waiting for room
  faults->set_hold_writes(false);
  waiter.join();
  ASSERT_TRUE(cache->Flush().ok());
  const BlockCacheStats s = cache->Stats();
  EXPECT_EQ(s.insert_waits, 1u);
  EXPECT_GE(s.insert_wait_ns, 90'000'000u);  // at least the 100 ms it was held, less the slack
  EXPECT_EQ(s.inserts_rejected, 1u);
  EXPECT_EQ(s.inserts, 3u);
  EXPECT_EQ(s.pending_insert_bytes, 0u);  // everything written and committed
  for (uint32_t b = 0; b < 3; ++b) EXPECT_TRUE(HasExact(*cache, f, b)) << b;
}

TEST(BlockCacheTest, DataFileTruncatedBehindOurBack) {
  TestDir dir;
  auto o = SmallOptions(dir.path(), 100);
  {
    auto cache = OpenOrDie(o);
    for (uint32_t b = 0; b < 40; ++b) Put(*cache, File("/t"), b);
    ASSERT_TRUE(cache->Flush().ok());
    // Live truncation: reads of vanished slots are misses, never garbage.
    ASSERT_EQ(
        ::truncate((dir.path() + "/data/" + BlockStore::FileName(kBlock, 0)).c_str(), 10 * kBlock),
        0);
    uint32_t b = 30;  // slot 30 is gone
    EXPECT_FALSE(cache->Read(File("/t"), std::span<const uint32_t>(&b, 1))[0].has_value());
    EXPECT_TRUE(HasExact(*cache, File("/t"), 3));
  }
  auto cache = OpenOrDie(o);
  RecoveryReport r = cache->Recovery();
  EXPECT_EQ(r.entries, 10u);
  EXPECT_GE(r.dropped_out_of_range, 29u);  // slots 10..39 (one may have been dropped already)
  for (uint32_t b = 0; b < 10; ++b) EXPECT_TRUE(HasExact(*cache, File("/t"), b));
  auto v = cache->Verify(false);
  EXPECT_EQ(v->crc_failures + v->read_errors + v->out_of_range, 0u);
  EXPECT_TRUE(v->usage_matches);
}

TEST(BlockCacheTest, CorruptIndexIsResetOrRefused) {
  TestDir dir;
  auto o = SmallOptions(dir.path(), 16);
  {
    auto cache = OpenOrDie(o);
    Put(*cache, File("/f"), 0);
    ASSERT_TRUE(cache->Flush().ok());
  }
  // Garble every file of the index (MANIFEST, SSTs, WAL).
  for (const auto& e : std::filesystem::directory_iterator(dir.path() + "/index")) {
    if (!e.is_regular_file() || e.path().filename() == "LOCK") continue;
    std::ofstream(e.path(), std::ios::binary | std::ios::trunc) << "garbage, not rocksdb";
  }
  auto refused = o;
  refused.reset_if_corrupt = false;
  auto r = BlockCache::Open(refused);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("corrupt"), std::string::npos) << r.status().ToString();

  auto cache = OpenOrDie(o);  // default: reset, logged, empty
  EXPECT_TRUE(cache->Recovery().index_reset);
  EXPECT_FALSE(HasExact(*cache, File("/f"), 0));
  Put(*cache, File("/f"), 0);
  ASSERT_TRUE(cache->Flush().ok());
  EXPECT_TRUE(HasExact(*cache, File("/f"), 0));
}

TEST(BlockCacheTest, IncompatibleBlockSizeIsAClearError) {
  TestDir dir;
  auto o = SmallOptions(dir.path(), 16);
  { auto cache = OpenOrDie(o); }
  auto other = o;
  other.block_size = 2 * kBlock;
  other.capacity_bytes = 16 * other.block_size;
  auto r = BlockCache::Open(other);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("block size"), std::string::npos);
  other.reset_if_incompatible = true;
  auto reset = BlockCache::Open(other);
  ASSERT_TRUE(reset.ok()) << reset.status().ToString();
}

TEST(BlockCacheTest, SecondOpenOfTheSameDirectoryIsRefused) {
  TestDir dir;
  auto o = SmallOptions(dir.path(), 16);
  auto first = OpenOrDie(o);
  auto second = BlockCache::Open(o);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("another hoardfs"), std::string::npos)
      << second.status().ToString();
}

TEST(BlockCacheTest, BadOptionsAndDirectories) {
  TestDir dir;
  auto o = SmallOptions(dir.path() + "/c", 16);
  o.block_size = 1000;
  EXPECT_EQ(BlockCache::Open(o).status().code(), StatusCode::kInvalidArgument);
  o = SmallOptions(dir.path() + "/c", 16);
  o.capacity_bytes = 10;
  EXPECT_EQ(BlockCache::Open(o).status().code(), StatusCode::kInvalidArgument);
  o = SmallOptions(dir.path() + "/c", 16);
  o.eviction_policy = "random";
  EXPECT_EQ(BlockCache::Open(o).status().code(), StatusCode::kInvalidArgument);
  o = SmallOptions(dir.path() + "/c", 16);
  o.low_watermark = 0.99;
  EXPECT_EQ(BlockCache::Open(o).status().code(), StatusCode::kInvalidArgument);

  // A cache directory below a regular file cannot be created.
  std::ofstream(dir.Sub("plainfile")) << "x";
  auto under_file = BlockCache::Open(SmallOptions(dir.Sub("plainfile") + "/cache", 16));
  ASSERT_FALSE(under_file.ok());
  EXPECT_NE(under_file.status().message().find("plainfile"), std::string::npos);

  // A limit larger than the disk.
  auto huge = SmallOptions(dir.path() + "/c", 16);
  huge.capacity_bytes = uint64_t{1} << 62;
  auto r = BlockCache::Open(huge);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("does not fit"), std::string::npos) << r.status().ToString();
}

TEST(BlockCacheTest, ReadOnlyCacheDirectoryIsAClearError) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to mount a read-only tmpfs";
  TestDir dir;
  const std::string ro = dir.Sub("ro");
  std::filesystem::create_directory(ro);
  if (::mount("tmpfs", ro.c_str(), "tmpfs", MS_RDONLY, "size=1m") != 0) {
    GTEST_SKIP() << "cannot mount tmpfs here: " << std::strerror(errno);
  }
  auto r = BlockCache::Open(SmallOptions(ro + "/cache", 4));
  ::umount2(ro.c_str(), MNT_DETACH);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().ToString().find("Read-only"), std::string::npos) << r.status().ToString();
}

// tmpfs takes O_DIRECT since Linux 6.6; older kernels refuse it and the store falls back to
// buffered I/O. Either way the cache must work there.
TEST(BlockCacheTest, WorksOnTmpfs) {
  if (!std::filesystem::exists("/dev/shm")) GTEST_SKIP() << "no /dev/shm on this machine";
  char tmpl[] = "/dev/shm/hoardfs-cache-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  {
    auto cache = OpenOrDie(SmallOptions(tmpl, 16));
    Put(*cache, File("/shm"), 0);
    ASSERT_TRUE(cache->Flush().ok());
    EXPECT_TRUE(HasExact(*cache, File("/shm"), 0));
    std::printf("tmpfs: %s I/O\n", cache->Stats().direct_io ? "direct" : "buffered (fallback)");
  }
  std::filesystem::remove_all(tmpl);
}

TEST(BlockCacheTest, BatchLargerThanTheCacheKeepsTheNewestBlocks) {
  TestDir dir;
  auto cache = OpenOrDie(SmallOptions(dir.path(), 8));
  for (uint32_t b = 0; b < 30; ++b) Put(*cache, File("/big"), b);
  ASSERT_TRUE(cache->Flush().ok());
  auto s = cache->Stats();
  EXPECT_EQ(s.inserts, 30u);
  EXPECT_EQ(s.inserts_rejected, 0u);
  EXPECT_LE(s.used_bytes, 8u * kBlock);
  EXPECT_TRUE(HasExact(*cache, File("/big"), 29));
}

TEST(BlockCacheTest, LruPolicyIsSelectable) {
  TestDir dir;
  auto o = SmallOptions(dir.path(), 8);
  o.eviction_policy = "lru";
  auto cache = OpenOrDie(o);
  for (uint32_t b = 0; b < 30; ++b) Put(*cache, File("/l"), b);
  ASSERT_TRUE(cache->Flush().ok());
  EXPECT_LE(cache->Stats().used_bytes, 8u * kBlock);
  EXPECT_TRUE(HasExact(*cache, File("/l"), 29));
}

// ---------------------------------------------------------------------------------------------
// Cache format v2: size classes, a byte limit, bounded disk space.

// The size class of a block of `len` bytes: the smallest power of two >= its page-aligned length,
// capped at the block size (computed here independently of cache/size_classes.h).
uint64_t ClassBytes(uint64_t len, uint64_t block_size) {
  uint64_t c = 4096;
  while (c < len) c *= 2;
  return std::min(c, block_size);
}

// Bytes the filesystem has allocated to the cache's data files (st_blocks, holes excluded).
uint64_t DataFilesAllocated(const std::string& cache_dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator(cache_dir + "/data")) {
    struct stat st {};
    if (::stat(e.path().c_str(), &st) == 0) total += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  return total;
}

// Filesystem metadata of the data files (extent blocks) is not counted by the cache; this is the
// slack the disk-space bound allows on top of the limit (documented in docs/cache.md).
constexpr uint64_t kDiskSlack = 1 << 20;

TEST(BlockCacheV2Test, TwentyThousandSmallFilesFitInA200MiBCache) {
  TestDir dir;
  BlockCacheOptions o;
  o.dir = dir.path();
  o.block_size = 1 << 20;
  o.capacity_bytes = 200ull << 20;
  o.free_space_floor_bytes = 0;
  o.index_block_cache_bytes = 8 << 20;
  o.index_write_buffer_bytes = 8 << 20;
  constexpr uint32_t kFiles = 20000;
  auto name = [](uint32_t i) {
    return "/small/d" + std::to_string(i / 1000) + "/f" + std::to_string(i);
  };
  {
    auto cache = OpenOrDie(o);
    for (uint32_t i = 0; i < kFiles; ++i) {
      const FileKey f = File(name(i));
      auto bytes = BlockBytes(f.path, f.version_hash, 0, 4096);
      ASSERT_TRUE(cache->Insert(f, 0, bytes).ok());
    }
    ASSERT_TRUE(cache->Flush().ok());
    const BlockCacheStats s = cache->Stats();
    EXPECT_EQ(s.inserts, kFiles);
    EXPECT_EQ(s.evictions, 0u) << "20,000 x 4 KiB = 78 MiB must fit in 200 MiB";
    EXPECT_EQ(s.inserts_rejected, 0u);
    EXPECT_EQ(s.used_bytes, uint64_t{kFiles} * 4096);
    EXPECT_EQ(s.data_bytes, uint64_t{kFiles} * 4096);
    EXPECT_LE(s.store_bytes, o.capacity_bytes);
    for (uint32_t i = 0; i < kFiles; ++i) {
      ASSERT_TRUE(HasExact(*cache, File(name(i)), 0, 4096)) << name(i);
    }
    EXPECT_LE(DataFilesAllocated(dir.path()), o.capacity_bytes + kDiskSlack);
  }
  auto cache = OpenOrDie(o);  // and all of them are found again from the index
  EXPECT_EQ(cache->Recovery().entries, kFiles);
  EXPECT_EQ(cache->Stats().used_bytes, uint64_t{kFiles} * 4096);
  for (uint32_t i = 0; i < kFiles; i += 97) {
    EXPECT_TRUE(HasExact(*cache, File(name(i)), 0, 4096)) << name(i);
  }
}

TEST(BlockCacheV2Test, ShortBlocksTakeTheSmallestClassThatHoldsThem) {
  TestDir dir;
  auto cache = OpenOrDie(SmallOptions(dir.path(), 64));
  const uint32_t lengths[] = {1, 4096, 4097, 8192, 12000, 20000, 32768, 40000, kBlock - 1, kBlock};
  uint64_t want_used = 0;
  uint64_t want_data = 0;
  for (uint32_t i = 0; i < std::size(lengths); ++i) {
    Put(*cache, File("/len/f" + std::to_string(i)), 0, lengths[i]);
    want_used += ClassBytes(lengths[i], kBlock);
    want_data += lengths[i];
  }
  ASSERT_TRUE(cache->Flush().ok());
  for (uint32_t i = 0; i < std::size(lengths); ++i) {
    EXPECT_TRUE(HasExact(*cache, File("/len/f" + std::to_string(i)), 0, lengths[i])) << lengths[i];
  }
  const BlockCacheStats s = cache->Stats();
  EXPECT_EQ(s.used_bytes, want_used);
  EXPECT_EQ(s.data_bytes, want_data);
  ASSERT_EQ(s.classes.size(), 5u);  // 64K, 32K, 16K, 8K, 4K
  uint64_t per_class = 0;
  for (const SizeClassStats& c : s.classes) per_class += c.used_slots * c.slot_size;
  EXPECT_EQ(per_class, want_used);
  EXPECT_EQ(s.classes[4].used_slots, 2u);  // 1 and 4096 bytes
  EXPECT_EQ(s.classes[0].used_slots, 3u);  // 40000, kBlock - 1, kBlock
}

// Random lengths from concurrent inserters: the class sizes of the slots in use never exceed the
// byte limit, every block reads back exactly, and the counters add up.
TEST(BlockCacheV2Test, MixedLengthsNeverExceedTheByteLimitUnderConcurrentInserts) {
  TestDir dir;
  auto o = SmallOptions(dir.path(), 24);
  o.max_insert_batch_bytes = 4 * kBlock;
  auto cache = OpenOrDie(o);
  std::atomic<bool> done{false};
  std::atomic<uint64_t> max_seen{0};
  std::atomic<uint64_t> max_store{0};
  std::thread monitor([&] {
    while (!done.load()) {
      const BlockCacheStats s = cache->Stats();
      uint64_t prev = max_seen.load();
      while (s.used_bytes > prev && !max_seen.compare_exchange_weak(prev, s.used_bytes)) {
      }
      prev = max_store.load();
      while (s.store_bytes > prev && !max_store.compare_exchange_weak(prev, s.store_bytes)) {
      }
    }
  });
  auto length = [](int t, uint32_t b) {
    return 1 + static_cast<uint32_t>(Mix64(uint64_t(t) * 1000 + b) % kBlock);
  };
  std::vector<std::thread> writers;
  for (int t = 0; t < 6; ++t) {
    writers.emplace_back([&, t] {
      for (uint32_t b = 0; b < 150; ++b) {
        Put(*cache, File("/mix/t" + std::to_string(t), b), 0, length(t, b));
      }
    });
  }
  for (auto& w : writers) w.join();
  ASSERT_TRUE(cache->Flush().ok());
  done = true;
  monitor.join();
  EXPECT_LE(max_seen.load(), o.capacity_bytes);
  EXPECT_GT(max_seen.load(), o.capacity_bytes / 2);
  EXPECT_LE(max_store.load(), o.capacity_bytes);
  const BlockCacheStats s = cache->Stats();
  EXPECT_EQ(s.inserts, 900u);
  EXPECT_GT(s.evictions, 0u);
  auto v = cache->Verify(false);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->duplicate_slots, 0u);
  EXPECT_EQ(v->crc_failures, 0u);
  EXPECT_EQ(v->verified, v->entries);
  EXPECT_TRUE(v->usage_matches);
  uint64_t want_used = 0;
  uint64_t want_data = 0;
  uint64_t held = 0;
  for (int t = 0; t < 6; ++t) {
    for (uint32_t b = 0; b < 150; ++b) {
      const FileKey f = File("/mix/t" + std::to_string(t), b);
      if (!cache->Contains(f, std::vector<uint32_t>{0})[0]) continue;
      ASSERT_TRUE(HasExact(*cache, f, 0, length(t, b)));
      want_used += ClassBytes(length(t, b), kBlock);
      want_data += length(t, b);
      ++held;
    }
  }
  EXPECT_EQ(held, v->entries);
  EXPECT_EQ(s.used_bytes, want_used);
  EXPECT_EQ(s.data_bytes, want_data);
  EXPECT_LE(DataFilesAllocated(dir.path()), o.capacity_bytes + kDiskSlack);
}

// The cache fills with 4 KiB blocks, which are then evicted by full blocks, then by 8 KiB ones,
// then full ones again: the space freed in one class must go to the next (punched out), so the
// data files never hold more than the limit, though each class alone once filled it.
TEST(BlockCacheV2Test, DiskSpaceStaysBoundedWhenBlockSizesShift) {
  TestDir dir;
  auto o = SmallOptions(dir.path(), 64);  // 4 MiB
  o.grow_step_slots = 4;
  auto cache = OpenOrDie(o);
  struct Phase {
    const char* name;
    uint32_t length;
    uint32_t blocks;
  };
  const Phase phases[] = {{"4k", 4096, 3000},
                          {"full", kBlock, 200},
                          {"8k", 8000, 1500},
                          {"full-again", kBlock, 200},
                          {"mixed", 0, 600}};
  for (const Phase& p : phases) {
    SCOPED_TRACE(p.name);
    for (uint32_t b = 0; b < p.blocks; ++b) {
      const uint32_t len = p.length != 0 ? p.length : 1 + static_cast<uint32_t>(Mix64(b) % kBlock);
      Put(*cache, File(std::string("/shift/") + p.name, b), 0, len);
    }
    ASSERT_TRUE(cache->Flush().ok());
    const BlockCacheStats s = cache->Stats();
    EXPECT_LE(s.used_bytes, o.capacity_bytes);
    EXPECT_LE(s.store_bytes, o.capacity_bytes);
    EXPECT_GT(s.used_bytes, o.capacity_bytes / 2) << "the phase's blocks must fill the cache";
    EXPECT_LE(DataFilesAllocated(dir.path()), o.capacity_bytes + kDiskSlack);
    EXPECT_EQ(s.inserts_rejected, 0u);
    // The newest block of the phase is held.
    const uint32_t last = p.blocks - 1;
    const uint32_t len = p.length != 0 ? p.length : 1 + static_cast<uint32_t>(Mix64(last) % kBlock);
    EXPECT_TRUE(HasExact(*cache, File(std::string("/shift/") + p.name, last), 0, len));
  }
  // Shrinking the limit gives the space back too (not only reuses it).
  ASSERT_TRUE(cache->SetCapacity(16 * kBlock).ok());
  EXPECT_LE(cache->Stats().store_bytes, 16u * kBlock);
  EXPECT_LE(DataFilesAllocated(dir.path()), 16u * kBlock + kDiskSlack);
  auto v = cache->Verify(false);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->verified, v->entries);
  EXPECT_EQ(v->duplicate_slots, 0u);
}

TEST(BlockCacheV2Test, RecoveryRebuildsEveryClass) {
  TestDir dir;
  auto o = SmallOptions(dir.path(), 100);
  o.high_watermark = 1.0;
  o.low_watermark = 1.0;
  auto length = [](uint32_t b) { return 1 + static_cast<uint32_t>(Mix64(b + 7) % kBlock); };
  BlockCacheStats before;
  {
    auto cache = OpenOrDie(o);
    for (uint32_t b = 0; b < 120; ++b) Put(*cache, File("/rec/a"), b, length(b));
    ASSERT_TRUE(cache->Flush().ok());
    ASSERT_TRUE(cache->Evict(0, "/rec/a").ok());  // free slots in every class, then refill
    for (uint32_t b = 0; b < 150; ++b) Put(*cache, File("/rec/b"), b, length(b + 1000));
    ASSERT_TRUE(cache->Pin(0, "/rec/b").ok());
    ASSERT_TRUE(cache->Flush().ok());
    before = cache->Stats();
    ASSERT_GT(before.used_bytes, 0u);
  }
  auto cache = OpenOrDie(o);
  const RecoveryReport r = cache->Recovery();
  EXPECT_EQ(r.dropped_duplicate_slot + r.dropped_out_of_range + r.dropped_undecodable, 0u);
  EXPECT_FALSE(r.usage_repaired);
  const BlockCacheStats after = cache->Stats();
  EXPECT_EQ(after.used_bytes, before.used_bytes);
  EXPECT_EQ(after.data_bytes, before.data_bytes);
  EXPECT_EQ(after.pinned_bytes, before.pinned_bytes);
  ASSERT_EQ(after.classes.size(), before.classes.size());
  unsigned classes_used = 0;
  for (size_t c = 0; c < after.classes.size(); ++c) {
    EXPECT_EQ(after.classes[c].used_slots, before.classes[c].used_slots) << "class " << c;
    classes_used += after.classes[c].used_slots > 0 ? 1 : 0;
  }
  EXPECT_EQ(classes_used, 5u) << "the lengths should cover every class";
  // Everything is still there, and new inserts after the restart never take a used slot.
  ASSERT_TRUE(cache->Unpin(0, "/rec/b").ok());
  for (uint32_t b = 0; b < 150; ++b) {
    if (!cache->Contains(File("/rec/b"), std::vector<uint32_t>{b})[0]) continue;
    EXPECT_TRUE(HasExact(*cache, File("/rec/b"), b, length(b + 1000))) << b;
  }
  for (uint32_t b = 0; b < 60; ++b) Put(*cache, File("/rec/c"), b, length(b + 5000));
  ASSERT_TRUE(cache->Flush().ok());
  auto v = cache->Verify(false);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->duplicate_slots, 0u);
  EXPECT_EQ(v->crc_failures, 0u);
  EXPECT_EQ(v->verified, v->entries);
  EXPECT_LE(cache->Stats().used_bytes, o.capacity_bytes);
}

// A cache directory of format v1 (one slot of block size per block) is refused with a clear error
// unless reset_if_incompatible, which starts empty and deletes the v1 data files.
TEST(BlockCacheV2Test, FormatV1DirectoryIsRefusedClearly) {
  TestDir dir;
  auto o = SmallOptions(dir.path(), 16);
  {
    auto cache = OpenOrDie(o);
    Put(*cache, File("/v1"), 0);
    ASSERT_TRUE(cache->Flush().ok());
  }
  {  // Make it look like a v1 cache: the format tag and a v1 data file.
    BlockIndexOptions io;
    io.dir = dir.path() + "/index";
    io.block_size = kBlock;
    io.reset_if_incompatible = false;
    auto index = BlockIndex::Open(io);
    ASSERT_TRUE(index.ok()) << index.status().ToString();
    BlockIndex::Batch b(index->get());
    b.PutMeta("format", "hoardfs-cache-v1");
    ASSERT_TRUE((*index)->Commit(&b, true).ok());
    std::ofstream(dir.path() + "/data/data-0000.blk") << std::string(kBlock, 'x');
  }
  auto refused = BlockCache::Open(o);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("hoardfs-cache-v1"), std::string::npos)
      << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("hoardfs-cache-v2"), std::string::npos)
      << refused.status().ToString();
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/data/data-0000.blk")) << "refused: untouched";

  o.reset_if_incompatible = true;
  auto cache = OpenOrDie(o);
  ASSERT_NE(cache, nullptr);
  EXPECT_TRUE(cache->Recovery().index_reset);
  EXPECT_FALSE(HasExact(*cache, File("/v1"), 0));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/data/data-0000.blk"));
  Put(*cache, File("/v2"), 0, 100);
  ASSERT_TRUE(cache->Flush().ok());
  EXPECT_TRUE(HasExact(*cache, File("/v2"), 0, 100));
}

}  // namespace
}  // namespace hoardfs
