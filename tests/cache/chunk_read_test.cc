// Partial block reads: BlockCache::ReadRange over chunk records (cache/block_checksum.h,
// cache/chunk_sums.h), on a real cache (RocksDB + io_uring in a temp dir). What must hold: the
// bytes are exact, only the touched chunks are read, a bad chunk is a miss, and a chunk record
// that is missing, torn or left by an earlier occupant of the slot never makes a wrong answer
// (the block is read whole, then the record is written again).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <random>
#include <thread>

#include "cache/block_cache.h"
#include "cache/block_checksum.h"
#include "cache/block_entry.h"
#include "cache/block_index.h"
#include "cache/block_key.h"
#include "cache/chunk_sums.h"
#include "common/crc32c.h"
#include "tests/cache/block_data.h"
#include "tests/cache/cache_test_util.h"
#include "tests/cache/test_dir.h"

namespace hoardfs {
namespace {

using testing::BlockBytes;
using testing::TestDir;

constexpr uint32_t kBlock = 256 * 1024;  // 16 chunks
constexpr uint32_t kChunksPerBlock = kBlock / kChunkSize;

BlockCacheOptions Options(const std::string& dir, uint64_t blocks) {
  return testing::SmallCacheOptions(dir, blocks, kBlock);
}

std::unique_ptr<BlockCache> OpenOrDie(const BlockCacheOptions& o) {
  return testing::OpenCacheOrDie(o);
}

FileKey File(const std::string& path) { return FileKey{0, path, 1}; }

void Put(BlockCache& c, const FileKey& f, uint32_t block, size_t size = kBlock) {
  testing::PutBlock(c, f, block, size);
}

// The range read is present and holds exactly the block's bytes [offset, offset + length).
::testing::AssertionResult RangeIsExact(BlockCache& c, const FileKey& f, uint32_t block,
                                        uint32_t offset, uint32_t length,
                                        size_t block_length = kBlock) {
  std::optional<CachedRange> r = c.ReadRange(f, block, offset, length);
  if (!r.has_value()) return ::testing::AssertionFailure() << "miss";
  const auto want = BlockBytes(f.path, f.version_hash, block, block_length);
  const size_t n = std::min<size_t>(length, block_length - offset);
  if (r->length != n) return ::testing::AssertionFailure() << "length " << r->length << " != " << n;
  if (!std::equal(r->bytes().begin(), r->bytes().end(), want.begin() + offset)) {
    return ::testing::AssertionFailure() << "bytes differ";
  }
  return ::testing::AssertionSuccess();
}

// Blocks 0..n-1 of `f` written and committed by a cache that is then closed.
void PutBlocksAndClose(const BlockCacheOptions& o, const FileKey& f, uint32_t n) {
  auto cache = OpenOrDie(o);
  for (uint32_t b = 0; b < n; ++b) Put(*cache, f, b);
  ASSERT_TRUE(cache->Flush().ok());
}

std::string SumFile(const std::string& dir) { return dir + "/data/" + ChunkSums::FileName(kBlock); }

void CorruptSlot(const std::string& cache_dir, uint32_t slot, uint64_t offset_in_block) {
  testing::CorruptSlotByte(cache_dir, kBlock, slot, offset_in_block);
}

TEST(ChunkReadTest, RangesAreExactAndReadOnlyTheChunksTheyTouch) {
  TestDir dir;
  auto cache = OpenOrDie(Options(dir.path(), 16));
  const FileKey f = File("/ranges/f.root");
  Put(*cache, f, 0);
  Put(*cache, f, 1, 100'000);  // short tail block: 7 chunks, the last one short
  ASSERT_TRUE(cache->Flush().ok());

  struct Case {
    uint32_t block, offset, length;
    uint64_t chunk_bytes;  // what must be read from the store
  };
  const Case cases[] = {
      {0, 0, 4096, kChunkSize},                                // first 4 KiB
      {0, 5 * kChunkSize + 123, 4096, kChunkSize},             // inside one chunk, unaligned
      {0, 2 * kChunkSize - 2, 4, 2 * kChunkSize},              // straddles two chunks
      {0, kBlock - 10, 4096, kChunkSize},                      // clamped at the block's end
      {1, 6 * kChunkSize + 5, 100, 100'000 - 6 * kChunkSize},  // the short last chunk
  };
  uint64_t bytes = 0;
  for (const Case& c : cases) {
    EXPECT_TRUE(
        RangeIsExact(*cache, f, c.block, c.offset, c.length, c.block == 0 ? kBlock : 100'000))
        << c.block << " @" << c.offset;
    bytes += c.chunk_bytes;
  }
  BlockCacheStats s = cache->Stats();
  EXPECT_EQ(s.partial_reads, std::size(cases));
  EXPECT_EQ(s.partial_read_bytes, bytes);
  EXPECT_EQ(s.record_misses, 0u);

  // More than half the block: read whole (not counted as partial), still exact.
  EXPECT_TRUE(RangeIsExact(*cache, f, 0, 0, kBlock / 2 + kChunkSize));
  EXPECT_EQ(cache->Stats().partial_reads, std::size(cases));
  // At or beyond the end, or an absent block: a miss.
  EXPECT_FALSE(cache->ReadRange(f, 1, 100'000, 10).has_value());
  EXPECT_FALSE(cache->ReadRange(f, 7, 0, 10).has_value());
  EXPECT_FALSE(cache->ReadRange(File("/other"), 0, 0, 10).has_value());
}

TEST(ChunkReadTest, SmallBlocksAndBlocksOfOneChunkAreReadWhole) {
  TestDir dir;
  auto cache = OpenOrDie(Options(dir.path(), 16));
  Put(*cache, File("/small"), 0, 5000);
  Put(*cache, File("/one-chunk"), 0, kChunkSize);
  ASSERT_TRUE(cache->Flush().ok());
  EXPECT_TRUE(RangeIsExact(*cache, File("/small"), 0, 100, 200, 5000));
  EXPECT_TRUE(RangeIsExact(*cache, File("/one-chunk"), 0, 4096, 4096, kChunkSize));
  EXPECT_EQ(cache->Stats().partial_reads, 0u);  // nothing to gain: whole reads
}

TEST(ChunkReadTest, FlippedByteInAReadChunkIsAMissAndDropsTheBlock) {
  TestDir dir;
  auto o = Options(dir.path(), 16);
  o.use_direct_io = false;  // our pwrite and the cache's reads go through the same page cache
  auto cache = OpenOrDie(o);
  const FileKey f = File("/flip");
  Put(*cache, f, 0);  // slot 0: lowest free slot first
  ASSERT_TRUE(cache->Flush().ok());
  CorruptSlot(dir.path(), 0, 9 * kChunkSize + 77);
  // A chunk that is intact is served (only read chunks are checked) ...
  EXPECT_TRUE(RangeIsExact(*cache, f, 0, 2 * kChunkSize, 512));
  EXPECT_EQ(cache->Stats().crc_failures, 0u);
  // ... the corrupt one is a miss, and the block is dropped.
  EXPECT_FALSE(cache->ReadRange(f, 0, 9 * kChunkSize, 512).has_value());
  EXPECT_EQ(cache->Stats().crc_failures, 1u);
  ASSERT_TRUE(cache->Flush().ok());
  uint32_t b = 0;
  EXPECT_FALSE(cache->Contains(f, std::span<const uint32_t>(&b, 1))[0]);
  EXPECT_EQ(cache->Stats().used_bytes, 0u);
}

TEST(ChunkReadTest, MissingOrTornRecordsAreReadWholeThenRepaired) {
  TestDir dir;
  const auto o = Options(dir.path(), 16);
  const FileKey f = File("/records");
  PutBlocksAndClose(o, f, 3);
  // Block 0's record is torn (one CRC changed), the file ends inside block 2's record, and block
  // 1's record is intact: as after a crash that lost part of the unsynced record file.
  {
    int fd = ::open(SumFile(dir.path()).c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    uint32_t crc = 0;
    ASSERT_EQ(::pread(fd, &crc, 4, 8), 4);
    crc ^= 1;
    ASSERT_EQ(::pwrite(fd, &crc, 4, 8), 4);
    ASSERT_EQ(::ftruncate(fd, (2 * kChunksPerBlock + 3) * 4), 0);
    ::close(fd);
  }
  auto cache = OpenOrDie(o);
  for (uint32_t b = 0; b < 3; ++b) EXPECT_TRUE(RangeIsExact(*cache, f, b, 3 * kChunkSize, 4096));
  BlockCacheStats s = cache->Stats();
  EXPECT_EQ(s.record_misses, 2u);  // blocks 0 and 2
  EXPECT_EQ(s.partial_reads, 1u);  // block 1
  EXPECT_EQ(s.crc_failures, 0u);
  ASSERT_TRUE(cache->Flush().ok());  // the repairs run on the writer
  for (uint32_t b = 0; b < 3; ++b) EXPECT_TRUE(RangeIsExact(*cache, f, b, 3 * kChunkSize, 4096));
  s = cache->Stats();
  EXPECT_EQ(s.record_misses, 2u);
  EXPECT_EQ(s.partial_reads, 4u);

  // The record file deleted altogether: every block still reads right.
  cache.reset();
  ASSERT_TRUE(std::filesystem::remove(SumFile(dir.path())));
  cache = OpenOrDie(o);
  for (uint32_t b = 0; b < 3; ++b) EXPECT_TRUE(RangeIsExact(*cache, f, b, 0, 100));
  EXPECT_EQ(cache->Stats().record_misses, 3u);
}

// A hot block's record is read from the file once, then from memory; the remembered copy is
// still checked against the entry, and a new occupant of the slot never gets the old record.
TEST(ChunkReadTest, HotRecordsComeFromMemoryAndAreStillChecked) {
  TestDir dir;
  const auto o = Options(dir.path(), 16);
  const FileKey f = File("/hot");
  PutBlocksAndClose(o, f, 3);
  auto cache = OpenOrDie(o);  // nothing remembered: the records come from the file
  for (uint32_t b = 0; b < 3; ++b) EXPECT_TRUE(RangeIsExact(*cache, f, b, 5 * kChunkSize, 100));
  EXPECT_EQ(cache->Stats().record_memo_hits, 0u);
  for (int round = 0; round < 4; ++round) {
    for (uint32_t b = 0; b < 3; ++b) EXPECT_TRUE(RangeIsExact(*cache, f, b, 7 * kChunkSize, 4096));
  }
  EXPECT_EQ(cache->Stats().record_memo_hits, 12u);
  EXPECT_EQ(cache->Stats().partial_reads, 15u);

  // The file emptied under the running cache: the remembered records still serve (they match
  // the entries); a restarted cache has none and reads whole.
  ASSERT_EQ(::truncate(SumFile(dir.path()).c_str(), 0), 0);
  for (uint32_t b = 0; b < 3; ++b) EXPECT_TRUE(RangeIsExact(*cache, f, b, 0, 4096));
  EXPECT_EQ(cache->Stats().record_misses, 0u);

  // Slot 0 gets a new occupant: its record replaces the old one in memory too.
  ASSERT_TRUE(cache->Evict(0, "/hot").ok());
  const FileKey g = File("/next");
  Put(*cache, g, 0);
  ASSERT_TRUE(cache->Flush().ok());
  EXPECT_TRUE(RangeIsExact(*cache, g, 0, 3 * kChunkSize + 17, 30000));
  EXPECT_EQ(cache->Stats().record_misses, 0u);
  EXPECT_EQ(cache->Stats().crc_failures, 0u);

  cache.reset();
  cache = OpenOrDie(o);
  ASSERT_EQ(::truncate(SumFile(dir.path()).c_str(), 0), 0);
  EXPECT_TRUE(RangeIsExact(*cache, g, 0, 0, 4096));
  EXPECT_EQ(cache->Stats().record_misses, 1u);
}

// Records of slots that share a place in memory (a table of 2) each read right.
TEST(ChunkSumsTest, SlotsSharingAMemoryPlaceKeepTheirOwnRecords) {
  TestDir dir;
  const SizeClasses classes(kBlock);
  Result<std::unique_ptr<ChunkSums>> sums = ChunkSums::Open(dir.path(), classes, 2);
  ASSERT_TRUE(sums.ok()) << sums.status().ToString();
  auto slot = [](uint32_t index) { return SlotId(0, index); };  // the block-size class
  auto record = [](uint32_t seed) {
    std::vector<uint32_t> r(kChunksPerBlock);
    for (uint32_t i = 0; i < r.size(); ++i) r[i] = seed * 1000 + i;
    return r;
  };
  for (uint32_t i = 0; i < 6; ++i) ASSERT_TRUE((*sums)->Write(slot(i), record(i + 1)));
  for (int round = 0; round < 2; ++round) {
    for (uint32_t i = 0; i < 6; ++i) {
      std::vector<uint32_t> got(kChunksPerBlock);
      ASSERT_TRUE((*sums)->Read(slot(i), got));
      EXPECT_EQ(got, record(i + 1)) << i;
    }
  }
  EXPECT_EQ((*sums)->memo_hits(), 0u);  // 0, 2, 4 and 1, 3, 5 evict each other in turn
  std::vector<uint32_t> got(kChunksPerBlock);
  ASSERT_TRUE((*sums)->Read(slot(5), got));
  EXPECT_EQ((*sums)->memo_hits(), 1u);
  EXPECT_EQ(got, record(6));
}

// A record left by the slot's previous occupant must not be trusted for the new one.
TEST(ChunkReadTest, RecordOfAnEarlierOccupantOfTheSlotIsNeverUsed) {
  TestDir dir;
  const auto o = Options(dir.path(), 16);
  std::string old_records;
  {
    auto cache = OpenOrDie(o);
    Put(*cache, File("/old"), 0);
    ASSERT_TRUE(cache->Flush().ok());
    old_records.resize(std::filesystem::file_size(SumFile(dir.path())));
    int fd = ::open(SumFile(dir.path()).c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pread(fd, old_records.data(), old_records.size(), 0),
              static_cast<ssize_t>(old_records.size()));
    ::close(fd);
    ASSERT_TRUE(cache->Evict(0, "/old").ok());
    Put(*cache, File("/new"), 0);  // takes the freed slot 0
    ASSERT_TRUE(cache->Flush().ok());
  }
  {  // Put the old occupant's record back, as if the new one had never reached the file.
    int fd = ::open(SumFile(dir.path()).c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, old_records.data(), old_records.size(), 0),
              static_cast<ssize_t>(old_records.size()));
    ::close(fd);
  }
  auto cache = OpenOrDie(o);
  EXPECT_TRUE(RangeIsExact(*cache, File("/new"), 0, 4 * kChunkSize + 1, 3000));
  EXPECT_EQ(cache->Stats().record_misses, 1u);
  EXPECT_EQ(cache->Stats().crc_failures, 0u);
}

// Entries written before chunk records existed carry the whole block's CRC32C (no flag): they
// verify and are read whole.
TEST(ChunkReadTest, EntriesWithoutChunkRecordsAreReadWhole) {
  TestDir dir;
  const auto o = Options(dir.path(), 16);
  const FileKey f = File("/legacy");
  {
    auto cache = OpenOrDie(o);
    Put(*cache, f, 0);
    ASSERT_TRUE(cache->Flush().ok());
  }
  {
    BlockIndexOptions io;
    io.dir = dir.path() + "/index";
    io.block_size = kBlock;
    auto index = BlockIndex::Open(io);
    ASSERT_TRUE(index.ok()) << index.status().ToString();
    const std::string key = BlockKey(f, 0);
    auto e = (*index)->Get(key);
    ASSERT_TRUE(e.ok() && e->has_value());
    BlockEntry legacy = **e;
    ASSERT_NE(legacy.flags & BlockEntry::kFlagChunkSums, 0);
    legacy.flags &= static_cast<uint8_t>(~BlockEntry::kFlagChunkSums);
    const auto bytes = BlockBytes(f.path, f.version_hash, 0, kBlock);
    legacy.crc = Crc32c(bytes.data(), bytes.size());
    BlockIndex::Batch b(index->get());
    b.PutBlock(key, legacy);
    ASSERT_TRUE((*index)->Commit(&b, true).ok());
  }
  auto cache = OpenOrDie(o);
  EXPECT_TRUE(RangeIsExact(*cache, f, 0, 5 * kChunkSize, 4096));
  uint32_t b = 0;
  auto whole = cache->Read(f, std::span<const uint32_t>(&b, 1));
  EXPECT_TRUE(whole[0].has_value());
  const BlockCacheStats s = cache->Stats();
  EXPECT_EQ(s.partial_reads, 0u);
  EXPECT_EQ(s.crc_failures, 0u);
  auto verify = cache->Verify(/*repair=*/false);
  ASSERT_TRUE(verify.ok());
  EXPECT_EQ(verify->verified, 1u);
}

TEST(ChunkReadTest, RangeReadersRacingEvictionNeverSeeWrongBytes) {
  TestDir dir;
  auto cache = OpenOrDie(Options(dir.path(), 16));
  std::atomic<bool> done{false};
  std::atomic<uint64_t> partial{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      while (!done.load()) {
        const uint32_t b = rng() % 200;
        const uint32_t off = rng() % kBlock;
        const uint32_t len = 1 + rng() % 8192;
        std::optional<CachedRange> r = cache->ReadRange(File("/churn"), b, off, len);
        if (!r) continue;
        const auto want = BlockBytes("/churn", 1, b, kBlock);
        ASSERT_EQ(r->length, std::min(len, kBlock - off));
        ASSERT_TRUE(std::equal(r->bytes().begin(), r->bytes().end(), want.begin() + off))
            << b << " @" << off;
        partial++;
      }
    });
  }
  for (uint32_t round = 0; round < 4; ++round) {
    for (uint32_t b = 0; b < 200; ++b) Put(*cache, File("/churn"), b);
  }
  ASSERT_TRUE(cache->Flush().ok());
  done = true;
  for (auto& r : readers) r.join();
  EXPECT_GT(partial.load(), 0u);
  EXPECT_EQ(cache->Stats().crc_failures, 0u);
  EXPECT_EQ(cache->Stats().record_misses, 0u);
}

TEST(ChunkRecordTest, RecordChecksumCoversEveryChunkAndTheLength) {
  std::vector<std::byte> data(3 * kChunkSize + 10);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i * 7);
  std::vector<uint32_t> record;
  const uint32_t sum = BlockChecksum(data, /*chunked=*/true, &record);
  ASSERT_EQ(record.size(), 4u);
  EXPECT_EQ(record[3], Crc32c(data.data() + 3 * kChunkSize, 10));
  EXPECT_EQ(sum, RecordChecksum(record));
  EXPECT_EQ(BlockChecksum(data, /*chunked=*/false), Crc32c(data.data(), data.size()));
  data[2 * kChunkSize + 5] ^= std::byte{1};
  EXPECT_NE(BlockChecksum(data, true), sum);
  data[2 * kChunkSize + 5] ^= std::byte{1};
  data.push_back(std::byte{0});  // one byte longer, same prefix: another record
  EXPECT_NE(BlockChecksum(data, true), sum);
}

}  // namespace
}  // namespace hoardfs
