// Range reads whose store read the caller does: BlockStore::Locate, BlockCache::PlanRangeRead and
// PendingRangeRead::Finish, Fetcher::PlanSlice / FinishSlice (the FUSE ring's warm small reads),
// on a real cache (RocksDB + io_uring store in a temp dir). The test plays the ring: it preads
// the planned extent itself into an aligned buffer and hands the result to Finish. What must
// hold: the same bytes and counters as ReadRange(), nullptr wherever ReadRange() would not do one
// chunk-range read, a bad read or bad bytes a counted miss that drops the entry, and the slot
// pinned for as long as the plan lives.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cache/block_cache.h"
#include "cache/block_checksum.h"
#include "cache/block_store.h"
#include "cache/chunk_sums.h"
#include "cache/fetcher.h"
#include "common/aligned_buffer.h"
#include "common/hash.h"
#include "remote/fake_source.h"
#include "tests/cache/block_data.h"
#include "tests/cache/cache_test_util.h"
#include "tests/cache/fault_injecting_block_store.h"
#include "tests/cache/test_dir.h"

namespace hoardfs {
namespace {

using testing::BlockBytes;
using testing::TestDir;

constexpr uint32_t kBlock = 256 * 1024;  // 16 chunks
constexpr uint32_t kTail = 100'000;      // a file's last block: not a multiple of 4096

FileKey File(const std::string& path) { return FileKey{0, path, 1}; }

void Put(BlockCache& c, const FileKey& f, uint32_t block, size_t size = kBlock) {
  testing::PutBlock(c, f, block, size);
}

// What the ring does: reads the plan's extent into an aligned buffer of extent.length bytes;
// returns the read's result as io_uring would (bytes read, or -errno).
int64_t ReadExtent(const PendingRangeRead& plan, AlignedBuffer& buf) {
  const StoreExtent& x = plan.extent();
  buf = AlignedBuffer(x.length);
  const ssize_t n = ::pread(x.fd, buf.data(), x.length, static_cast<off_t>(x.offset));
  return n < 0 ? -int64_t{errno} : int64_t{n};
}

// The counters a plan and its Finish move (the ones ReadRange() moves too).
struct Counts {
  uint64_t lookups, hits, misses, partial_reads, partial_read_bytes, crc_failures, read_errors,
      stale_reads, record_misses;
  static Counts Of(BlockCache& c) {
    const BlockCacheStats s = c.Stats();
    return {s.lookups,      s.hits,        s.misses,      s.partial_reads, s.partial_read_bytes,
            s.crc_failures, s.read_errors, s.stale_reads, s.record_misses};
  }
  bool operator==(const Counts&) const = default;
};

// A plan of [offset, offset + length) of `block`, read and finished: the exact bytes.
::testing::AssertionResult PlanReadsExact(BlockCache& c, const FileKey& f, uint32_t block,
                                          uint32_t offset, uint32_t length,
                                          size_t block_length = kBlock) {
  std::unique_ptr<PendingRangeRead> plan = c.PlanRangeRead(f, block, offset, length);
  if (plan == nullptr) return ::testing::AssertionFailure() << "no plan";
  const StoreExtent& x = plan->extent();
  if (x.fd < 0 || x.offset % 4096 != 0 || x.length % 4096 != 0 || x.length == 0) {
    return ::testing::AssertionFailure()
           << "extent fd " << x.fd << " offset " << x.offset << " length " << x.length;
  }
  if (plan->length() != length) {
    return ::testing::AssertionFailure() << "length " << plan->length() << " != " << length;
  }
  if (plan->skip() + length > x.length) return ::testing::AssertionFailure() << "skip too far";
  AlignedBuffer buf(4096);
  const int64_t res = ReadExtent(*plan, buf);
  if (!plan->Finish(buf.data(), res)) return ::testing::AssertionFailure() << "Finish false";
  const auto want = BlockBytes(f.path, f.version_hash, block, block_length);
  if (!std::equal(buf.data() + plan->skip(), buf.data() + plan->skip() + length,
                  want.begin() + offset)) {
    return ::testing::AssertionFailure() << "bytes differ";
  }
  return ::testing::AssertionSuccess();
}

class RangeReadPlanTest : public ::testing::Test {
 protected:
  BlockCacheOptions Options() { return testing::SmallCacheOptions(dir_.path(), 16, kBlock); }
  void Open(const BlockCacheOptions& o) {
    cache_.reset();
    cache_ = testing::OpenCacheOrDie(o);
    ASSERT_NE(cache_, nullptr);
  }
  // Everything queued so far has run on the writer, and so has the housekeeping after it (a
  // quarantined slot whose reader left is freed after the command that runs next).
  void Drain() {
    ASSERT_TRUE(cache_->Flush().ok());
    ASSERT_TRUE(cache_->Flush().ok());
  }
  bool Cached(const FileKey& f, uint32_t block) {
    return cache_->Contains(f, std::span<const uint32_t>(&block, 1))[0];
  }

  TestDir dir_;
  std::unique_ptr<BlockCache> cache_;
};

TEST_F(RangeReadPlanTest, PlannedReadGivesTheExactBytesAndCountsAsReadRange) {
  Open(Options());
  const FileKey f = File("/plan/f.root");  // two blocks: kBlock + kTail bytes
  Put(*cache_, f, 0);
  Put(*cache_, f, 1, kTail);
  ASSERT_TRUE(cache_->Flush().ok());

  struct Case {
    uint32_t block, offset, length;
    uint32_t chunk_bytes;  // what the chunks read take
  };
  const Case cases[] = {
      {0, 0, 4096, kChunkSize},                                   // first page
      {0, 5 * kChunkSize + 123, 4096, kChunkSize},                // inside one chunk, unaligned
      {0, 2 * kChunkSize - 2, 4, 2 * kChunkSize},                 // across a chunk edge
      {0, 3 * kChunkSize + 100, 2 * kChunkSize, 3 * kChunkSize},  // three chunks
      {0, kBlock - 4096, 4096, kChunkSize},                       // up to the block's end
      {1, 6 * kChunkSize + 5, kTail - 6 * kChunkSize - 5, kTail - 6 * kChunkSize},  // file's end
      {1, 2 * kChunkSize + 7, 30000, 2 * kChunkSize},  // last block, inner chunks
  };
  for (const Case& c : cases) {
    const Counts before = Counts::Of(*cache_);
    EXPECT_TRUE(
        PlanReadsExact(*cache_, f, c.block, c.offset, c.length, c.block == 0 ? kBlock : kTail))
        << c.block << " @" << c.offset << "+" << c.length;
    Counts want = before;
    want.lookups += 1;
    want.hits += 1;
    want.partial_reads += 1;
    want.partial_read_bytes += c.chunk_bytes;
    EXPECT_EQ(Counts::Of(*cache_), want) << c.block << " @" << c.offset;
  }

  // The plan alone counts nothing; Finish counts the lookup and the hit.
  const Counts before = Counts::Of(*cache_);
  std::unique_ptr<PendingRangeRead> plan = cache_->PlanRangeRead(f, 0, 4096, 100);
  ASSERT_NE(plan, nullptr);
  EXPECT_EQ(Counts::Of(*cache_), before);
  AlignedBuffer buf(4096);
  ASSERT_TRUE(plan->Finish(buf.data(), ReadExtent(*plan, buf)));
  EXPECT_EQ(Counts::Of(*cache_).lookups, before.lookups + 1);
  EXPECT_EQ(Counts::Of(*cache_).hits, before.hits + 1);
  // At most once: a second Finish is refused and counts nothing.
  const Counts after = Counts::Of(*cache_);
  EXPECT_FALSE(plan->Finish(buf.data(), static_cast<int64_t>(plan->extent().length)));
  EXPECT_EQ(Counts::Of(*cache_), after);
}

TEST_F(RangeReadPlanTest, NoPlanWhereReadRangeWouldNotReadOneChunkRange) {
  Open(Options());
  const FileKey f = File("/plan/none");
  Put(*cache_, f, 0);
  Put(*cache_, f, 1, kTail);
  Put(*cache_, File("/plan/small"), 0, 5000);  // a slot too small to have chunk records
  ASSERT_TRUE(cache_->Flush().ok());
  const Counts before = Counts::Of(*cache_);

  EXPECT_EQ(cache_->PlanRangeRead(File("/plan/other"), 0, 0, 4096), nullptr);  // not cached
  EXPECT_EQ(cache_->PlanRangeRead(f, 7, 0, 4096), nullptr);                    // not cached
  EXPECT_EQ(cache_->PlanRangeRead(f, 0, 0, 0), nullptr);                       // nothing asked
  EXPECT_EQ(cache_->PlanRangeRead(f, 1, kTail, 10), nullptr);                  // at the end
  EXPECT_EQ(cache_->PlanRangeRead(f, 1, kTail + 5000, 10), nullptr);           // beyond it
  EXPECT_EQ(cache_->PlanRangeRead(f, 1, kTail - 10, 20), nullptr);  // the end would shorten it
  EXPECT_EQ(cache_->PlanRangeRead(f, 0, kBlock - 10, 4096), nullptr);
  EXPECT_EQ(cache_->PlanRangeRead(f, 0, 0, kBlock / 2 + kChunkSize), nullptr);  // most of it
  EXPECT_EQ(cache_->PlanRangeRead(File("/plan/small"), 0, 100, 200), nullptr);  // no records
  EXPECT_EQ(Counts::Of(*cache_), before);  // a nullptr counts nothing

  // ... while the neighbouring ranges do get one.
  EXPECT_TRUE(PlanReadsExact(*cache_, f, 1, kTail - 20, 20, kTail));
  EXPECT_TRUE(PlanReadsExact(*cache_, f, 0, 0, kBlock / 2));
}

// A block whose chunk record is missing (the record file lost, as after a crash: records are
// hints outside the commit point) gets no plan; ReadRange() reads it whole and writes the record
// again, and from then on it is planned.
TEST_F(RangeReadPlanTest, BlockWithoutAChunkRecordGetsNoPlanUntilReadRangeRepairsIt) {
  const FileKey f = File("/plan/records");
  Open(Options());
  Put(*cache_, f, 0);
  ASSERT_TRUE(cache_->Flush().ok());
  cache_.reset();
  ASSERT_TRUE(std::filesystem::remove(dir_.path() + "/data/" + ChunkSums::FileName(kBlock)));
  Open(Options());

  const Counts before = Counts::Of(*cache_);
  EXPECT_EQ(cache_->PlanRangeRead(f, 0, 3 * kChunkSize, 4096), nullptr);
  EXPECT_EQ(Counts::Of(*cache_), before);
  std::optional<CachedRange> r = cache_->ReadRange(f, 0, 3 * kChunkSize, 4096);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(cache_->Stats().record_misses, before.record_misses + 1);
  ASSERT_TRUE(cache_->Flush().ok());  // the repair runs on the writer
  EXPECT_TRUE(PlanReadsExact(*cache_, f, 0, 3 * kChunkSize, 4096));
}

// A store that cannot Locate() (a wrapper that does not forward it): no plan, ReadRange() serves.
TEST_F(RangeReadPlanTest, StoreThatCannotLocateGivesNoPlan) {
  BlockCacheOptions o = Options();
  o.store_factory = [](const BlockStoreOptions& so) -> Result<std::unique_ptr<BlockStore>> {
    HOARDFS_ASSIGN_OR_RETURN(std::unique_ptr<BlockStore> inner, BlockStore::Open(so));
    return std::unique_ptr<BlockStore>(
        std::make_unique<testing::FaultInjectingBlockStore>(std::move(inner)));
  };
  Open(o);
  const FileKey f = File("/plan/wrapped");
  Put(*cache_, f, 0);
  ASSERT_TRUE(cache_->Flush().ok());
  const Counts before = Counts::Of(*cache_);
  EXPECT_EQ(cache_->PlanRangeRead(f, 0, 0, 4096), nullptr);
  EXPECT_EQ(Counts::Of(*cache_), before);
  EXPECT_TRUE(cache_->ReadRange(f, 0, 0, 4096).has_value());
  EXPECT_EQ(cache_->Stats().partial_reads, before.partial_reads + 1);
  // The unpinned slot is free to go: eviction and reuse proceed.
  ASSERT_TRUE(cache_->Evict(0, "/plan/wrapped").ok());
  Drain();
  EXPECT_EQ(cache_->Stats().used_bytes, 0u);
}

TEST(BlockStoreLocateTest, LocatesSlotsAsReadDoesAndRefusesBadRanges) {
  TestDir dir;
  BlockStoreOptions o;
  o.dir = dir.path();
  o.block_size = kBlock;
  o.slots_per_file = 4;
  o.grow_step_slots = 4;
  o.free_space_floor_bytes = 0;
  auto store = BlockStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  BlockStore& s = **store;
  ASSERT_TRUE(s.Grow(0, 6).ok());  // two data files: slots 0-3 and 4-
  const uint32_t beyond = SlotId(0, s.class_slots(0));

  // Slot 5 is slot 1 of the second file; its bytes there are what Read() gives.
  std::vector<std::byte> data(kBlock);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i * 31 + 7);
  AlignedBuffer wbuf(kBlock);
  std::memcpy(wbuf.data(), data.data(), kBlock);
  BlockIo w;
  w.slot = SlotId(0, 5);
  w.length = kBlock;
  w.buf = wbuf.data();
  s.Write(std::span(&w, 1));
  ASSERT_TRUE(w.status.ok()) << w.status.ToString();

  Result<StoreExtent> x = s.Locate(SlotId(0, 5), 2 * kChunkSize, 5000);
  ASSERT_TRUE(x.ok()) << x.status().ToString();
  EXPECT_EQ(x->offset, uint64_t{kBlock} + 2 * kChunkSize);
  EXPECT_EQ(x->length, 8192u);  // 5000 rounded up to 4096
  AlignedBuffer rbuf(x->length);
  ASSERT_EQ(::pread(x->fd, rbuf.data(), x->length, static_cast<off_t>(x->offset)),
            static_cast<ssize_t>(x->length));
  EXPECT_EQ(std::memcmp(rbuf.data(), data.data() + 2 * kChunkSize, 5000), 0);
  Result<StoreExtent> first = s.Locate(SlotId(0, 0), 0, 4096);
  ASSERT_TRUE(first.ok());
  EXPECT_NE(first->fd, x->fd);  // another data file
  EXPECT_EQ(first->offset, 0u);

  auto invalid = [&](uint32_t slot, uint32_t offset, uint32_t length) {
    Result<StoreExtent> r = s.Locate(slot, offset, length);
    return !r.ok() && r.status().code() == StatusCode::kInvalidArgument;
  };
  EXPECT_TRUE(invalid(beyond, 0, 4096));                    // beyond the data files
  EXPECT_TRUE(invalid(SlotId(0, 5), kBlock - 4096, 8192));  // past the slot
  EXPECT_TRUE(invalid(SlotId(0, 5), 100, 4096));            // unaligned
  EXPECT_TRUE(invalid(SlotId(0, 5), 0, 0));                 // empty
  EXPECT_TRUE(invalid(SlotId(3, 0), 0, 4096));              // a class with no slots yet

  // A store that does not say (the default) refuses.
  testing::FaultInjectingBlockStore wrapper(std::move(*store));
  Result<StoreExtent> wrapped = wrapper.Locate(SlotId(0, 5), 0, 4096);
  EXPECT_FALSE(wrapped.ok());
  EXPECT_EQ(wrapped.status().code(), StatusCode::kNotSupported);
}

TEST_F(RangeReadPlanTest, CorruptBytesUnderTheExtentAreAMissAndDropTheEntry) {
  BlockCacheOptions o = Options();
  o.use_direct_io = false;  // our pwrite and the reads go through the same page cache
  Open(o);
  const FileKey f = File("/plan/corrupt");
  Put(*cache_, f, 0);
  ASSERT_TRUE(cache_->Flush().ok());

  std::unique_ptr<PendingRangeRead> plan = cache_->PlanRangeRead(f, 0, 4 * kChunkSize + 300, 2000);
  ASSERT_NE(plan, nullptr);
  {
    const std::string path = dir_.path() + "/data/" + BlockStore::FileName(kBlock, 0);
    const int fd = ::open(path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0) << path;
    const std::string garbage(64, '\xA5');
    const off_t at = static_cast<off_t>(plan->extent().offset + plan->skip() + 10);
    ASSERT_EQ(::pwrite(fd, garbage.data(), garbage.size(), at),
              static_cast<ssize_t>(garbage.size()));
    ::close(fd);
  }
  const Counts before = Counts::Of(*cache_);
  AlignedBuffer buf(4096);
  EXPECT_FALSE(plan->Finish(buf.data(), ReadExtent(*plan, buf)));
  Counts want = before;
  want.lookups += 1;
  want.misses += 1;
  want.crc_failures += 1;
  EXPECT_EQ(Counts::Of(*cache_), want);

  ASSERT_TRUE(cache_->Flush().ok());  // the drop runs on the writer
  EXPECT_FALSE(Cached(f, 0));
  EXPECT_FALSE(cache_->ReadRange(f, 0, 0, 4096).has_value());
  EXPECT_EQ(cache_->PlanRangeRead(f, 0, 0, 4096), nullptr);
}

TEST_F(RangeReadPlanTest, ShortReadsAndErrorsAreReadErrorsAndDropTheEntry) {
  Open(Options());
  const FileKey f = File("/plan/short");
  for (uint32_t b = 0; b < 3; ++b) Put(*cache_, f, b);
  Put(*cache_, f, 3, kTail);
  ASSERT_TRUE(cache_->Flush().ok());

  // The last chunk of a short block: 1696 bytes are the chunk, the rest of the page padding,
  // which the end of a data file may cut short. All of the chunk is needed, no more.
  const uint32_t last_chunk = kTail - 6 * kChunkSize;  // 1696
  {
    std::unique_ptr<PendingRangeRead> plan = cache_->PlanRangeRead(f, 3, 6 * kChunkSize, 100);
    ASSERT_NE(plan, nullptr);
    AlignedBuffer buf(4096);
    ASSERT_GE(ReadExtent(*plan, buf), int64_t{last_chunk});
    EXPECT_TRUE(plan->Finish(buf.data(), last_chunk));
    const auto want = BlockBytes(f.path, f.version_hash, 3, kTail);
    EXPECT_TRUE(std::equal(buf.data() + plan->skip(), buf.data() + plan->skip() + 100,
                           want.begin() + 6 * kChunkSize));
  }
  struct Case {
    uint32_t block, offset;
    int64_t res;  // what the read gives
  };
  const Case cases[] = {
      {3, 6 * kChunkSize, last_chunk - 1},  // one byte of the chunk missing
      {0, kChunkSize, kChunkSize - 4096},   // a page short
      {1, 0, 0},                            // nothing (end of file)
      {2, 0, -EIO},                         // an error
  };
  for (const Case& c : cases) {
    std::unique_ptr<PendingRangeRead> plan = cache_->PlanRangeRead(f, c.block, c.offset, 100);
    ASSERT_NE(plan, nullptr) << c.block;
    AlignedBuffer buf(4096);
    ASSERT_GT(ReadExtent(*plan, buf), 0);  // the bytes are there; the result says otherwise
    const Counts before = Counts::Of(*cache_);
    EXPECT_FALSE(plan->Finish(buf.data(), c.res)) << c.block << " res " << c.res;
    Counts want = before;
    want.lookups += 1;
    want.misses += 1;
    want.read_errors += 1;
    EXPECT_EQ(Counts::Of(*cache_), want) << c.block << " res " << c.res;
  }
  ASSERT_TRUE(cache_->Flush().ok());
  for (uint32_t b = 0; b < 4; ++b) EXPECT_FALSE(Cached(f, b)) << b;
}

// While a plan is outstanding its slot is not reused, even once its block is evicted: the slot
// waits (quarantined) for the reader, so the planned bytes stay right. Once the plan is finished,
// or destroyed unfinished, the slot is free again.
TEST_F(RangeReadPlanTest, PlanPinsItsSlotUntilFinishedOrDestroyed) {
  Open(Options());
  const FileKey f = File("/pin/f"), g = File("/pin/g"), h = File("/pin/h"), k = File("/pin/k");
  auto slot_offset = [&](const FileKey& file) -> int64_t {  // where its block 0 lies
    std::unique_ptr<PendingRangeRead> p = cache_->PlanRangeRead(file, 0, 0, 4096);
    return p == nullptr ? -1 : static_cast<int64_t>(p->extent().offset);
  };
  Put(*cache_, f, 0);
  ASSERT_TRUE(cache_->Flush().ok());
  ASSERT_EQ(slot_offset(f), 0);  // slot 0: lowest free slot first

  // 1. Finished: f's plan outlives f's eviction; g must not take slot 0 meanwhile.
  std::unique_ptr<PendingRangeRead> plan = cache_->PlanRangeRead(f, 0, kChunkSize + 5, 3000);
  ASSERT_NE(plan, nullptr);
  ASSERT_EQ(*cache_->Evict(0, "/pin/f"), 1u);
  Put(*cache_, g, 0);
  Drain();
  EXPECT_FALSE(Cached(f, 0));
  EXPECT_EQ(slot_offset(g), int64_t{kBlock});            // slot 1
  EXPECT_EQ(cache_->Stats().used_bytes, 2ull * kBlock);  // g's and the pinned one
  AlignedBuffer buf(4096);
  const int64_t res = ReadExtent(*plan, buf);
  if (plan->Finish(buf.data(), res)) {  // a stale answer would have to be a miss: never wrong
    const auto want = BlockBytes(f.path, f.version_hash, 0, kBlock);
    EXPECT_TRUE(std::equal(buf.data() + plan->skip(), buf.data() + plan->skip() + 3000,
                           want.begin() + kChunkSize + 5));
  }
  Drain();
  EXPECT_EQ(cache_->Stats().used_bytes, uint64_t{kBlock});  // the slot is free again ...
  Put(*cache_, h, 0);
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(slot_offset(h), 0);  // ... and reused
  EXPECT_TRUE(PlanReadsExact(*cache_, h, 0, kChunkSize + 5, 3000));

  // 2. Destroyed unfinished: the same, and nothing is counted.
  plan = cache_->PlanRangeRead(h, 0, 0, 4096);
  ASSERT_NE(plan, nullptr);
  ASSERT_EQ(*cache_->Evict(0, "/pin/h"), 1u);
  Drain();
  EXPECT_EQ(cache_->Stats().used_bytes, 2ull * kBlock);  // g's and the pinned one
  const Counts before = Counts::Of(*cache_);
  plan.reset();
  EXPECT_EQ(Counts::Of(*cache_), before);
  Drain();
  EXPECT_EQ(cache_->Stats().used_bytes, uint64_t{kBlock});
  Put(*cache_, k, 0);
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(slot_offset(k), 0);
  EXPECT_TRUE(PlanReadsExact(*cache_, k, 0, 5 * kChunkSize, 100));
  EXPECT_TRUE(PlanReadsExact(*cache_, g, 0, 5 * kChunkSize, 100));
  EXPECT_EQ(cache_->Stats().crc_failures, 0u);
}

// ---------------------------------------------------------------------------------------------
// Fetcher::PlanSlice / FinishSlice

constexpr uint32_t kFetchBlock = 64 * 1024;  // 4 chunks

using testing::Contents;

class SlicePlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BlockCacheOptions o = testing::SmallCacheOptions(dir_.path(), 256, kFetchBlock);
    cache_ = testing::OpenCacheOrDie(o);
    ASSERT_NE(cache_, nullptr);
    // The last block: 40000 bytes (a 64 KiB slot with a chunk record; not whole pages).
    contents_ = Contents(7, 32ull * kFetchBlock + 40000);
    fake_.AddFile("/slice/f", contents_);
    Result<ObjectInfo> info = fake_.Peek("/slice/f");
    ASSERT_TRUE(info.ok());
    file_.source = &fake_;
    file_.ref = ObjectRef{"/slice/f", info->version, info->size};
    file_.key = FileKey{1, "/slice/f", Hash64(info->version)};
    // Everything read once (through a fetcher that keeps it in memory) and cached.
    StartFetcher(64u << 20);
    std::string all(contents_.size(), '\0');
    Result<size_t> n = fetcher_->Read(
        file_, 0, std::as_writable_bytes(std::span(all.data(), all.size())), nullptr);
    ASSERT_TRUE(n.ok() && *n == all.size());
    ASSERT_TRUE(cache_->Flush().ok());
  }
  void StartFetcher(uint64_t memory) {
    fetcher_.reset();
    FetcherOptions o;
    o.readahead_initial = 256 << 10;
    o.readahead_max = 1 << 20;
    o.max_memory_bytes = memory;  // less than a block: nothing stays in memory
    o.threads = 2;
    fetcher_ = std::make_unique<Fetcher>(cache_.get(), o);
  }
  // Plays the ring: reads the slice's extent, finishes it; the bytes, or nullopt (a miss).
  std::optional<std::string> Finish(PendingSlice& slice, std::optional<int64_t> res = {}) {
    AlignedBuffer buf(4096);
    const int64_t got = ReadExtent(*slice.range, buf);
    if (!fetcher_->FinishSlice(slice, buf.data(), res.value_or(got))) return std::nullopt;
    return std::string(reinterpret_cast<const char*>(buf.data()) + slice.range->skip(),
                       slice.length);
  }

  TestDir dir_;
  FakeSource fake_;
  std::unique_ptr<BlockCache> cache_;
  std::unique_ptr<Fetcher> fetcher_;
  std::string contents_;
  RemoteFile file_;
};

TEST_F(SlicePlanTest, WarmSmallReadIsPlannedAndFinishedWithTheRightBytes) {
  // The blocks are in the first fetcher's memory: ReadSlice would copy them, no plan.
  ReadStream stream;
  EXPECT_EQ(fetcher_->PlanSlice(file_, 5ull * kFetchBlock + 1000, 4096, &stream), nullptr);

  StartFetcher(kFetchBlock / 2);
  fake_.ResetCounters();
  const uint64_t offsets[] = {5ull * kFetchBlock + 1000, 17ull * kFetchBlock + 3 * kChunkSize - 7,
                              32ull * kFetchBlock + 100};  // the last, short block
  uint64_t bytes = 0;
  for (uint64_t offset : offsets) {
    const FetcherStats before = fetcher_->Stats();
    std::unique_ptr<PendingSlice> slice = fetcher_->PlanSlice(file_, offset, 4096, &stream);
    ASSERT_NE(slice, nullptr) << offset;
    EXPECT_EQ(slice->length, 4096u);
    EXPECT_EQ(slice->fetcher, fetcher_.get());
    EXPECT_EQ(fetcher_->Stats().cache_hit_bytes, before.cache_hit_bytes);  // not yet
    std::optional<std::string> got = Finish(*slice);
    ASSERT_TRUE(got.has_value()) << offset;
    EXPECT_TRUE(*got == contents_.substr(offset, 4096)) << offset;
    bytes += 4096;
    EXPECT_EQ(fetcher_->Stats().cache_hit_bytes, before.cache_hit_bytes + 4096);
    EXPECT_EQ(fetcher_->Stats().partial_hit_bytes, before.partial_hit_bytes + 4096);
    std::lock_guard<std::mutex> lock(stream.mu);
    EXPECT_EQ(stream.next_offset, offset + 4096);  // the stream learned of the read
  }
  EXPECT_EQ(fake_.counters().reads, 0u);
  EXPECT_EQ(fetcher_->Stats().partial_hit_bytes, bytes);
}

TEST_F(SlicePlanTest, NoPlanWhereReadSliceWouldNotReadTheCachesChunks) {
  StartFetcher(kFetchBlock / 2);
  const uint64_t size = contents_.size();
  ReadStream stream;
  EXPECT_NE(fetcher_->PlanSlice(file_, 3 * kFetchBlock, 4096, &stream), nullptr);
  EXPECT_EQ(fetcher_->PlanSlice(file_, size - 100, 4096, &stream), nullptr);  // across the end
  EXPECT_EQ(fetcher_->PlanSlice(file_, size, 10, &stream), nullptr);          // at the end
  EXPECT_EQ(fetcher_->PlanSlice(file_, 4 * kFetchBlock - 100, 4096, &stream),
            nullptr);                                                           // across blocks
  EXPECT_EQ(fetcher_->PlanSlice(file_, 3 * kFetchBlock, 0, &stream), nullptr);  // empty
  EXPECT_EQ(fetcher_->PlanSlice(file_, 3 * kFetchBlock, kFetchBlock / 2 + 4096, &stream),
            nullptr);  // most of a block: read whole
  // A sequential stream reads whole blocks.
  ReadStream sequential;
  {
    std::lock_guard<std::mutex> lock(sequential.mu);
    sequential.window = 256 << 10;
  }
  EXPECT_EQ(fetcher_->PlanSlice(file_, 3 * kFetchBlock, 4096, &sequential), nullptr);
  // A stream that looks its pieces up first.
  ReadStream sparse;
  sparse.pieces_first.store(true);
  EXPECT_EQ(fetcher_->PlanSlice(file_, 3 * kFetchBlock, 4096, &sparse), nullptr);
  // A block not cached.
  ASSERT_TRUE(cache_->Evict(1, "/slice/f").ok());
  EXPECT_EQ(fetcher_->PlanSlice(file_, 3 * kFetchBlock, 4096, &stream), nullptr);
  EXPECT_EQ(fetcher_->Stats().cache_hit_bytes, 0u);
}

TEST_F(SlicePlanTest, FailedFinishIsAMissAndReadSliceStillServes) {
  StartFetcher(kFetchBlock / 2);
  ReadStream stream;
  const uint64_t offset = 9ull * kFetchBlock + 4096;
  std::unique_ptr<PendingSlice> slice = fetcher_->PlanSlice(file_, offset, 4096, &stream);
  ASSERT_NE(slice, nullptr);
  const uint64_t errors = cache_->Stats().read_errors;
  EXPECT_FALSE(Finish(*slice, -EIO).has_value());
  EXPECT_EQ(cache_->Stats().read_errors, errors + 1);
  EXPECT_EQ(fetcher_->Stats().cache_hit_bytes, 0u);
  Result<std::optional<FetchedSlice>> r = fetcher_->ReadSlice(file_, offset, 4096, &stream);
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_TRUE(std::string(reinterpret_cast<const char*>((*r)->data.get()), (*r)->size) ==
              contents_.substr(offset, 4096));
}

// MemorySlice: the bytes of a block held in memory at once, counted and told to the stream as
// ReadSlice() would; nothing for a block not in memory or a range it cannot serve.
TEST_F(SlicePlanTest, MemorySliceServesBlocksInMemoryOnly) {
  // The setup read everything through a fetcher whose memory holds the whole file.
  ReadStream stream;
  const uint64_t offset = 6ull * kFetchBlock + 12345;
  const uint64_t memory_before = fetcher_->Stats().memory_hit_bytes;
  std::optional<FetchedSlice> slice = fetcher_->MemorySlice(file_, offset, 8192, &stream);
  ASSERT_TRUE(slice.has_value());
  EXPECT_EQ(slice->size, 8192u);
  EXPECT_TRUE(std::string(reinterpret_cast<const char*>(slice->data.get()), slice->size) ==
              contents_.substr(offset, 8192));
  EXPECT_GT(fetcher_->Stats().memory_hit_bytes, memory_before);
  {
    std::lock_guard<std::mutex> lock(stream.mu);
    EXPECT_EQ(stream.next_offset, offset + 8192);  // the stream learned of the read
  }
  const uint64_t size = contents_.size();
  EXPECT_FALSE(fetcher_->MemorySlice(file_, size - 100, 4096, &stream).has_value());  // the end
  EXPECT_FALSE(fetcher_->MemorySlice(file_, 4 * kFetchBlock - 100, 4096, &stream).has_value());
  EXPECT_FALSE(fetcher_->MemorySlice(file_, 4 * kFetchBlock, 0, &stream).has_value());
  EXPECT_TRUE(fetcher_->MemorySlice(file_, size - 100, 100, &stream).has_value());  // last block
  // A fetcher that keeps nothing in memory: never, and no remote read either.
  StartFetcher(kFetchBlock / 2);
  fake_.ResetCounters();
  EXPECT_FALSE(fetcher_->MemorySlice(file_, offset, 8192, &stream).has_value());
  EXPECT_EQ(fake_.counters().reads, 0u);
  EXPECT_EQ(fetcher_->Stats().memory_hit_bytes, 0u);
}

}  // namespace
}  // namespace hoardfs
