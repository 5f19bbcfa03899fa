// Fetcher: the read path through a real BlockCache (RocksDB + io_uring in a temp dir, 64 KiB
// blocks) over a FakeSource (style: fakes, not mocks). Remote requests are counted by the fake.
#include "cache/fetcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cache/block_cache.h"
#include "cache/block_checksum.h"
#include "cache/block_key.h"
#include "common/hash.h"
#include "remote/fake_source.h"
#include "tests/cache/block_data.h"
#include "tests/cache/test_dir.h"

namespace hoardfs {
namespace {

using testing::TestDir;

constexpr uint32_t kBlock = 64 * 1024;
constexpr uint32_t kRemoteId = 1;

using testing::Contents;

// What a correct read of [offset, offset + len) returns: the bytes, short at the end of the file.
std::string Expected(const std::string& contents, uint64_t offset, size_t len) {
  if (offset >= contents.size()) return "";
  return contents.substr(offset, len);
}

BlockCacheOptions CacheOptions(const std::string& dir) {
  BlockCacheOptions o;
  o.dir = dir;
  o.block_size = kBlock;
  o.capacity_bytes = 1024ull * kBlock;
  o.slots_per_file = 256;
  o.grow_step_slots = 64;
  o.free_space_floor_bytes = 0;
  o.index_block_cache_bytes = 4 << 20;
  o.index_write_buffer_bytes = 4 << 20;
  return o;
}

FetcherOptions SmallFetcherOptions() {
  FetcherOptions o;
  o.max_request_bytes = 1 << 20;
  o.readahead_initial = 256 << 10;
  o.readahead_max = 1 << 20;
  o.max_memory_bytes = 64 << 20;
  o.threads = 4;
  o.min_stream_span_bytes = 0;  // blocks of 64 KiB: three reads in a row are a stream
  return o;
}

// A ROOT-like basket: a small read at a scattered offset.
struct Basket {
  uint64_t offset;
  size_t length;
};

// Three baskets in each of four clusters of 16 blocks, in increasing order, placed by `at`.
std::vector<Basket> Baskets(const std::function<Basket(uint64_t cluster, uint64_t k)>& at) {
  std::vector<Basket> baskets;
  for (uint64_t cluster = 0; cluster < 4; ++cluster) {
    for (uint64_t k = 0; k < 3; ++k) baskets.push_back(at(cluster, k));
  }
  return baskets;
}

// Memory smaller than one block: no completed block stays in memory.
FetcherOptions NoMemoryFetcherOptions() {
  FetcherOptions o = SmallFetcherOptions();
  o.max_memory_bytes = kBlock / 2;
  return o;
}

// An ObjectSource that forwards to another and records, for its Read calls, the largest sum of
// bytes requested by calls in flight at once (the remote's share of the fetcher's memory) and
// which thread made each call (demand fetches run on the reader's thread, prefetches on the
// fetcher's pool).
class TrackingSource final : public ObjectSource {
 public:
  explicit TrackingSource(ObjectSource* inner) : inner_(inner) {}
  Result<ObjectInfo> Stat(const std::string& path) override { return inner_->Stat(path); }
  Result<ListPage> List(const std::string& dir, const std::string& token) override {
    return inner_->List(dir, token);
  }
  Result<size_t> Read(const ObjectRef& ref, uint64_t offset, std::span<std::byte> out) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      callers_.emplace_back(ref.path, std::this_thread::get_id());
    }
    const uint64_t now = in_flight_.fetch_add(out.size()) + out.size();
    uint64_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
    Result<size_t> r = inner_->Read(ref, offset, out);
    in_flight_.fetch_sub(out.size());
    return r;
  }
  Status ReadV(const ObjectRef& ref, std::span<ReadRange> ranges) override {
    return inner_->ReadV(ref, ranges);
  }
  std::string Describe() const override { return inner_->Describe(); }

  uint64_t peak() const { return peak_.load(); }
  // Read calls for `path` made by thread `id`.
  uint64_t ReadsBy(const std::string& path, std::thread::id id) const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<uint64_t>(
        std::count(callers_.begin(), callers_.end(), std::make_pair(path, id)));
  }
  void ClearCallers() {
    std::lock_guard<std::mutex> lock(mu_);
    callers_.clear();
  }

 private:
  ObjectSource* inner_;
  std::atomic<uint64_t> in_flight_{0};
  std::atomic<uint64_t> peak_{0};
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, std::thread::id>> callers_;  // GUARDED_BY(mu_)
};

// An ObjectSource that answers every non-empty Read one byte short with an OK status: a remote
// that loses the tail of a body without saying so (the FakeSource itself reports kCorruption).
class ShortReadSource final : public ObjectSource {
 public:
  explicit ShortReadSource(ObjectSource* inner) : inner_(inner) {}
  Result<ObjectInfo> Stat(const std::string& path) override { return inner_->Stat(path); }
  Result<ListPage> List(const std::string& dir, const std::string& token) override {
    return inner_->List(dir, token);
  }
  Result<size_t> Read(const ObjectRef& ref, uint64_t offset, std::span<std::byte> out) override {
    Result<size_t> r = inner_->Read(ref, offset, out);
    if (!r.ok() || *r == 0) return r;
    return *r - 1;
  }
  Status ReadV(const ObjectRef& ref, std::span<ReadRange> ranges) override {
    return inner_->ReadV(ref, ranges);
  }
  std::string Describe() const override { return inner_->Describe(); }

 private:
  ObjectSource* inner_;
};

class FetcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    OpenCache();
    StartFetcher(SmallFetcherOptions());
  }

  void OpenCache() {
    fetcher_.reset();
    cache_.reset();
    auto r = BlockCache::Open(CacheOptions(dir_.path()));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    cache_ = std::move(r).value();
    ASSERT_TRUE(cache_->WaitUntilReady().ok());
  }

  void StartFetcher(const FetcherOptions& options) {
    fetcher_.reset();
    fetcher_ = std::make_unique<Fetcher>(cache_.get(), options);
  }

  // The file as the fake reports it now (size lies included), read through `source`.
  RemoteFile FileOf(const std::string& path, ObjectSource* source = nullptr) {
    Result<ObjectInfo> info = fake_.Peek(path);
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    RemoteFile f;
    f.source = source != nullptr ? source : &fake_;
    f.ref = ObjectRef{path, info.ok() ? info->version : "", info.ok() ? info->size : 0};
    f.key = FileKey{kRemoteId, path, Hash64(f.ref.version)};
    return f;
  }

  RemoteFile Add(const std::string& path, const std::string& contents) {
    fake_.AddFile(path, contents);
    return FileOf(path);
  }

  Result<std::string> Read(const RemoteFile& file, uint64_t offset, size_t len,
                           ReadStream* stream = nullptr) {
    std::string buf(len, '\0');
    Result<size_t> n =
        fetcher_->Read(file, offset, std::as_writable_bytes(std::span(buf.data(), len)), stream);
    if (!n.ok()) return n.status();
    EXPECT_LE(*n, len);
    buf.resize(*n);
    return buf;
  }

  // Reads and compares with the source bytes; on a mismatch says where.
  void ExpectRead(const RemoteFile& file, const std::string& contents, uint64_t offset, size_t len,
                  ReadStream* stream = nullptr) {
    Result<std::string> got = Read(file, offset, len, stream);
    ASSERT_TRUE(got.ok()) << "read " << offset << "+" << len << ": " << got.status().ToString();
    const std::string want = Expected(contents, offset, len);
    EXPECT_EQ(got->size(), want.size()) << "read " << offset << "+" << len;
    EXPECT_TRUE(*got == want) << "wrong bytes for read " << offset << "+" << len;
  }

  // Reads the first `upto` bytes of `file` (all: 0) block by block through `stream`, checking each.
  void ReadInBlocks(const RemoteFile& file, const std::string& contents, ReadStream* stream,
                    uint64_t upto = 0) {
    const uint64_t end = upto != 0 ? upto : contents.size();
    for (uint64_t off = 0; off < end; off += kBlock) {
      ExpectRead(file, contents, off, kBlock, stream);
    }
  }

  // The window growth's counters, in the test's XML output.
  void RecordProbeCounters() {
    const FetcherStats stats = fetcher_->Stats();
    RecordProperty("readahead_grows", std::to_string(stats.readahead_grows));
    RecordProperty("readahead_kept", std::to_string(stats.readahead_kept));
    RecordProperty("readahead_shrinks", std::to_string(stats.readahead_shrinks));
    RecordProperty("readahead_retests", std::to_string(stats.readahead_retests));
    RecordProperty("readahead_resets", std::to_string(stats.readahead_resets));
  }

  // ReadSlice() of [offset, offset + len): one slice of exactly the file's bytes.
  void ExpectSlice(const RemoteFile& file, const std::string& contents, uint64_t offset,
                   size_t len) {
    Result<std::optional<FetchedSlice>> r = fetcher_->ReadSlice(file, offset, len, nullptr);
    ASSERT_TRUE(r.ok() && r->has_value()) << "slice " << offset << "+" << len;
    EXPECT_TRUE(std::string(reinterpret_cast<const char*>((*r)->data.get()), (*r)->size) ==
                contents.substr(offset, len))
        << "wrong bytes for slice " << offset << "+" << len;
  }

  uint64_t Requests() const {
    FakeSource::Counters c = fake_.counters();
    return c.reads + c.readvs;
  }
  uint64_t BytesServed() const { return fake_.counters().bytes_read; }

  // Flushes the cache, starts a fetcher with nothing in memory and runs `pass` again (on a new
  // stream): every byte must come from the cache.
  void ExpectSecondPassFromTheCache(const std::function<uint64_t(ReadStream*)>& pass) {
    ASSERT_TRUE(cache_->Flush().ok());
    StartFetcher(NoMemoryFetcherOptions());
    fake_.ResetCounters();
    ReadStream again;
    pass(&again);
    EXPECT_EQ(Requests(), 0u);
  }

  // After a first pass over `baskets` baskets (`read` bytes, counters reset before it): one
  // ranged fetch each, no readahead, less than a page of alignment on either side of a basket
  // (edge chunks are fetched as just the pages the basket touches).
  void ExpectOneRangedFetchPerBasket(size_t baskets, uint64_t read) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // no prefetch may show up
    EXPECT_EQ(fetcher_->Stats().prefetch_requests, 0u);
    EXPECT_EQ(Requests(), baskets);
    EXPECT_EQ(fetcher_->Stats().sparse_fetches, baskets);
    EXPECT_LT(BytesServed(), read + baskets * 2 * kPiecePageSize);
  }

  std::vector<bool> Present(const RemoteFile& file) {
    const auto blocks = static_cast<uint32_t>((file.ref.size + kBlock - 1) / kBlock);
    std::vector<uint32_t> all(blocks);
    for (uint32_t b = 0; b < blocks; ++b) all[b] = b;
    return cache_->Contains(file.key, all);
  }

  // Destroyed in reverse order: the fetcher before the cache, the fake after both.
  TestDir dir_;
  FakeSource fake_;
  std::unique_ptr<BlockCache> cache_;
  std::unique_ptr<Fetcher> fetcher_;
};

TEST_F(FetcherTest, AnyRangeReturnsExactlyTheSourceBytes) {
  const uint64_t size = 5ull * kBlock + 1234;  // a short last block
  const std::string contents = Contents(1, size);
  struct Case {
    uint64_t offset;
    size_t len;
  };
  const std::vector<Case> cases = {
      {0, 1},
      {0, kBlock},                 // one aligned block
      {0, size},                   // the whole file
      {100, 1000},                 // inside one block
      {kBlock - 1, 2},             // across a block boundary
      {kBlock - 100, 3 * kBlock},  // spanning four blocks, unaligned both ends
      {2 * kBlock, kBlock},        // aligned middle block
      {5 * kBlock, 1234},          // exactly the short last block
      {5 * kBlock + 1000, 1000},   // past EOF: short (234 bytes)
      {size - 1, 10},              // the last byte only
      {4 * kBlock + 7, 1 << 20},   // much longer than what is left
      {size, 10},                  // at EOF: 0
      {size + 1, 10},              // beyond EOF: 0
      {100ull * kBlock, kBlock},   // far beyond EOF: 0
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    // A file of its own per case, so every case starts cold (nothing in memory or cache).
    const std::string path = "/any/case" + std::to_string(i);
    const RemoteFile file = Add(path, contents);
    SCOPED_TRACE(path);
    ExpectRead(file, contents, cases[i].offset, cases[i].len);
    // And warm (memory), now with a stream.
    ReadStream stream;
    ExpectRead(file, contents, cases[i].offset, cases[i].len, &stream);
  }
  // Random ranges over one file: a mix of remote, memory and cache hits, with and without a
  // stream.
  const RemoteFile file = Add("/any/random", contents);
  std::mt19937_64 rng(42);
  ReadStream stream;
  for (int i = 0; i < 300; ++i) {
    const uint64_t offset = rng() % (size + 2 * kBlock);
    const size_t len = 1 + rng() % (3 * kBlock);
    ExpectRead(file, contents, offset, len, i % 2 == 0 ? &stream : nullptr);
  }
  // An empty buffer reads nothing.
  Result<size_t> n = fetcher_->Read(file, 10, {}, nullptr);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
}

// ReadSlice: the same bytes as Read without a copy, within one block only; from the remote, from
// memory and from the cache.
TEST_F(FetcherTest, ReadSliceWithinOneBlockGivesTheSourceBytesAndRefusesToSpanBlocks) {
  const uint64_t size = 3ull * kBlock + 500;
  const std::string contents = Contents(9, size);
  auto slice = [&](const RemoteFile& file, uint64_t offset, size_t len) -> std::string {
    Result<std::optional<FetchedSlice>> r = fetcher_->ReadSlice(file, offset, len, nullptr);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok() || !r->has_value()) return "<none>";
    return std::string(reinterpret_cast<const char*>((*r)->data.get()), (*r)->size);
  };
  for (int pass = 0; pass < 3; ++pass) {
    SCOPED_TRACE(pass == 0 ? "remote" : pass == 1 ? "memory" : "cache");
    if (pass == 2) {  // a new fetcher: memory is empty, the blocks are in the cache
      ASSERT_TRUE(cache_->Flush().ok());
      StartFetcher(SmallFetcherOptions());
    }
    const RemoteFile file = pass == 0 ? Add("/slice/f", contents) : FileOf("/slice/f");
    EXPECT_EQ(slice(file, 0, kBlock), contents.substr(0, kBlock));
    EXPECT_EQ(slice(file, kBlock + 10, 100), contents.substr(kBlock + 10, 100));
    EXPECT_EQ(slice(file, 3 * kBlock, kBlock), contents.substr(3 * kBlock));  // short at EOF
    EXPECT_EQ(slice(file, size, 10), "");                                     // at EOF
    EXPECT_EQ(slice(file, kBlock - 1, 2), "<none>");  // spans two blocks: use Read()
  }
}

// Small random reads of cached blocks (memory empty) read only the 16 KiB chunks they touch from
// the cache disk, not whole blocks; sequential streams still read whole blocks.
TEST_F(FetcherTest, SmallRandomReadsOfCachedBlocksReadOnlyTheirChunks) {
  FetcherOptions o = SmallFetcherOptions();
  o.max_memory_bytes = kBlock / 2;  // smaller than one block: no completed block stays in memory
  StartFetcher(o);
  const std::string contents = Contents(12, 32ull * kBlock);
  const RemoteFile file = Add("/partial/p", contents);
  ExpectRead(file, contents, 0, contents.size());
  ASSERT_TRUE(cache_->Flush().ok());
  fake_.ResetCounters();
  const uint64_t before = cache_->Stats().partial_read_bytes;

  ReadStream stream;
  uint64_t reads = 0, bytes = 0;
  for (uint64_t i = 1; i <= 64; ++i) {
    // Each read lands 7 blocks from the previous one (the first far from offset 0, where a
    // stream starts): never a sequential stream.
    const uint64_t offset = (i * 7 % 32) * kBlock + (i * 5237 % (kBlock - 4096));
    Result<std::optional<FetchedSlice>> r = fetcher_->ReadSlice(file, offset, 4096, &stream);
    ASSERT_TRUE(r.ok() && r->has_value()) << offset;
    ASSERT_EQ((*r)->size, 4096u);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>((*r)->data.get()), 4096),
              contents.substr(offset, 4096))
        << offset;
    ++reads;
    bytes += 4096;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // no prefetch may show up
  EXPECT_EQ(Requests(), 0u);
  const uint64_t disk = cache_->Stats().partial_read_bytes - before;
  EXPECT_EQ(fetcher_->Stats().partial_hit_bytes, bytes);
  EXPECT_GE(disk, reads * kChunkSize);
  EXPECT_LE(disk, reads * 2 * kChunkSize);  // at most two chunks each, never whole blocks
}

// A ROOT-like sparse reader (baskets of a few branches per cluster, close together but far from
// contiguous) fetches about what it reads, never whole blocks or readahead windows; a second pass
// (memory empty) is served from the cached pieces; a later sequential read is still exact.
TEST_F(FetcherTest, SparseReadsFetchOnlyTheChunksTheyTouchAndCacheThem) {
  StartFetcher(NoMemoryFetcherOptions());
  const std::string contents = Contents(21, 64ull * kBlock);
  const RemoteFile file = Add("/sparse/events.root", contents);
  // Baskets of 6-20 KiB inside blocks.
  const std::vector<Basket> baskets = Baskets([](uint64_t cluster, uint64_t k) {
    return Basket{(cluster * 16 + k * 5 + 1) * kBlock + 1000 * (k + 1) + cluster * 777,
                  static_cast<size_t>(6000 + 7000 * k)};
  });
  auto read_all = [&](ReadStream* stream) {
    uint64_t bytes = 0;
    for (const Basket& b : baskets) {
      Result<std::optional<FetchedSlice>> r = fetcher_->ReadSlice(file, b.offset, b.length, stream);
      EXPECT_TRUE(r.ok() && r->has_value()) << b.offset;
      if (!r.ok() || !r->has_value()) continue;
      EXPECT_EQ(std::string(reinterpret_cast<const char*>((*r)->data.get()), (*r)->size),
                contents.substr(b.offset, b.length))
          << b.offset;
      bytes += b.length;
    }
    return bytes;
  };
  ReadStream stream;
  fake_.ResetCounters();
  const uint64_t read = read_all(&stream);
  ExpectOneRangedFetchPerBasket(baskets.size(), read);

  ExpectSecondPassFromTheCache(read_all);
  EXPECT_GT(fetcher_->Stats().piece_hit_bytes, read - 1);
  // Pieces are not blocks: the whole file read sequentially is exact (and fetched whole).
  ExpectRead(file, contents, 0, contents.size());
}

// A sparse basket across a block boundary (one Read() of two blocks' parts) costs the chunks it
// touches on both sides, not two whole blocks; a second pass is served from the cached pieces,
// also when one side's block is meanwhile cached whole.
TEST_F(FetcherTest, SparseReadsAcrossABlockBoundaryFetchOnlyTheirChunks) {
  StartFetcher(NoMemoryFetcherOptions());
  const std::string contents = Contents(23, 64ull * kBlock);
  const RemoteFile file = Add("/sparse/straddle.root", contents);
  // Baskets starting 8-25 KB before the end of a block and ending 5-7 KB into the next one.
  const std::vector<Basket> baskets = Baskets([](uint64_t cluster, uint64_t k) {
    const uint64_t end_of_block = (cluster * 16 + k * 5 + 2) * kBlock;
    const uint64_t before = (k + 1) * 8000 + 333 * cluster;
    return Basket{end_of_block - before, static_cast<size_t>(before + 5000 + 1000 * k)};
  });
  auto read_all = [&](ReadStream* stream) {
    uint64_t bytes = 0;
    for (const Basket& b : baskets) {
      EXPECT_NE(b.offset / kBlock, (b.offset + b.length - 1) / kBlock) << b.offset;
      ExpectRead(file, contents, b.offset, b.length, stream);
      bytes += b.length;
    }
    return bytes;
  };
  ReadStream stream;
  fake_.ResetCounters();
  const uint64_t read = read_all(&stream);
  ExpectOneRangedFetchPerBasket(baskets.size(), read);  // both sides in one ranged read

  // One block under a boundary cached whole (a sequential reader passed by): still exact.
  ExpectRead(file, contents, (baskets[0].offset / kBlock + 1) * kBlock, kBlock);
  ExpectSecondPassFromTheCache(read_all);
  EXPECT_GT(fetcher_->Stats().piece_hit_bytes + fetcher_->Stats().partial_hit_bytes, read / 2);
}

// A BlockCache that forwards everything to another; the fault-injecting ones below override one
// method each.
class ForwardingCache : public BlockCache {
 public:
  explicit ForwardingCache(BlockCache* inner) : inner_(inner) {}
  std::vector<std::optional<CachedBlock>> Read(const FileKey& f,
                                               std::span<const uint32_t> blocks) override {
    return inner_->Read(f, blocks);
  }
  std::vector<std::optional<BlockEntry>> LookUp(const FileKey& f,
                                                std::span<const uint32_t> blocks) override {
    return inner_->LookUp(f, blocks);
  }
  std::vector<bool> ReadInto(const FileKey& f, std::span<const ReadTarget> targets) override {
    return inner_->ReadInto(f, targets);
  }
  std::optional<CachedRange> ReadRange(const FileKey& f, uint32_t block, uint32_t offset,
                                       uint32_t length) override {
    return inner_->ReadRange(f, block, offset, length);
  }
  std::vector<bool> Contains(const FileKey& f, std::span<const uint32_t> blocks) override {
    return inner_->Contains(f, blocks);
  }
  Status Insert(const FileKey& f, uint32_t block, std::span<const std::byte> data,
                InsertMode mode) override {
    return inner_->Insert(f, block, data, mode);
  }
  Status Flush() override { return inner_->Flush(); }
  Result<uint64_t> Evict(uint32_t remote_id, const std::string& prefix,
                         std::optional<uint64_t> keep) override {
    return inner_->Evict(remote_id, prefix, keep);
  }
  Status Pin(uint32_t remote_id, const std::string& prefix) override {
    return inner_->Pin(remote_id, prefix);
  }
  Status Unpin(uint32_t remote_id, const std::string& prefix) override {
    return inner_->Unpin(remote_id, prefix);
  }
  std::vector<PinnedPrefix> Pins() override { return inner_->Pins(); }
  Status SetCapacity(uint64_t bytes) override { return inner_->SetCapacity(bytes); }
  std::vector<DatasetUsage> Usage() override { return inner_->Usage(); }
  BlockCacheStats Stats() override { return inner_->Stats(); }
  RecoveryReport Recovery() override { return inner_->Recovery(); }
  Status WaitUntilReady() override { return inner_->WaitUntilReady(); }
  BlockIndex* index() override { return inner_->index(); }
  Result<VerifyReport> Verify(bool repair) override { return inner_->Verify(repair); }

 private:
  BlockCache* inner_;
};

// Drops the inserts of pieces: what a reader gets of a piece can then only come from the
// fetcher's memory (as while an insert is not yet committed).
class PieceDroppingCache final : public ForwardingCache {
 public:
  using ForwardingCache::ForwardingCache;
  Status Insert(const FileKey& f, uint32_t block, std::span<const std::byte> data,
                InsertMode mode) override {
    if ((block & kPieceIndexBit) != 0) return Status::Ok();
    return ForwardingCache::Insert(f, block, data, mode);
  }
};

// Fails the ReadInto() targets at the positions given to FailTargets() (of the next call), their
// destinations scribbled over: a read fault as the cache reports it.
class FailingReadIntoCache final : public ForwardingCache {
 public:
  using ForwardingCache::ForwardingCache;
  void FailTargets(std::set<size_t> positions) { fail_ = std::move(positions); }
  std::vector<bool> ReadInto(const FileKey& f, std::span<const ReadTarget> targets) override {
    std::vector<bool> ok = ForwardingCache::ReadInto(f, targets);
    for (size_t i : fail_) {
      if (i >= targets.size()) continue;
      std::memset(targets[i].dest, 0xEE, targets[i].entry.length);
      ok[i] = false;
    }
    fail_.clear();
    return ok;
  }

 private:
  std::set<size_t> fail_;
};

// Counts the whole-block range reads and the piece lookups the fetcher asks for.
class CountingCache final : public ForwardingCache {
 public:
  using ForwardingCache::ForwardingCache;
  std::optional<CachedRange> ReadRange(const FileKey& f, uint32_t block, uint32_t offset,
                                       uint32_t length) override {
    range_reads_.fetch_add(1);
    return ForwardingCache::ReadRange(f, block, offset, length);
  }
  std::vector<std::optional<BlockEntry>> LookUp(const FileKey& f,
                                                std::span<const uint32_t> blocks) override {
    look_ups_.fetch_add(1);
    return ForwardingCache::LookUp(f, blocks);
  }
  uint64_t range_reads() const { return range_reads_.load(); }
  uint64_t look_ups() const { return look_ups_.load(); }

 private:
  std::atomic<uint64_t> range_reads_{0}, look_ups_{0};
};

// Neighbouring sparse reads sharing an edge page fetch it once, even before (here: without) its
// insert reaching the cache; an edge chunk a read covers only in part costs just the pages it
// touches.
TEST_F(FetcherTest, NeighbouringSparseReadsFetchASharedEdgePageOnce) {
  PieceDroppingCache dropping(cache_.get());
  fetcher_ = std::make_unique<Fetcher>(&dropping, SmallFetcherOptions());
  const std::string contents = Contents(24, 64ull * kBlock);
  const RemoteFile file = Add("/sparse/edges", contents);
  fake_.ResetCounters();
  auto slice = [&](uint64_t offset, size_t length) { ExpectSlice(file, contents, offset, length); };
  const uint64_t block = 5ull * kBlock;
  slice(block + 1000, 20000);  // chunk 0 whole (all its pages touched), pages 4-5 of chunk 1
  EXPECT_EQ(Requests(), 1u);
  EXPECT_EQ(BytesServed(), 6ull * kPiecePageSize);
  slice(block + 21000, 3000);  // inside page 5: from memory
  EXPECT_EQ(Requests(), 1u);
  slice(block + 22000, 10000);  // page 5 from memory, pages 6-7 fetched
  EXPECT_EQ(Requests(), 2u);
  EXPECT_EQ(BytesServed(), 8ull * kPiecePageSize);
  slice(block + 30000, 10000);  // page 7 from memory, pages 8-9 (in chunk 2) fetched
  EXPECT_EQ(Requests(), 3u);
  EXPECT_EQ(BytesServed(), 10ull * kPiecePageSize);
  fetcher_.reset();  // before `dropping` goes
}

// Edge chunks as page pieces, from the cache: a chunk the cache holds whole serves a read that
// touches it in part (no page is fetched); cached pages, cached chunks and remote runs mix in one
// read; the file's short last page is a piece like any other. Every answer is exact, and a second
// pass with nothing in memory costs no remote request.
TEST_F(FetcherTest, EdgePagesAndWholeChunksMixInOneSparseRead) {
  StartFetcher(NoMemoryFetcherOptions());
  // The last block: three chunks and 5000 bytes (a short last chunk, a short last page).
  const uint64_t size = 63ull * kBlock + 3 * kChunkSize + 5000;
  const std::string contents = Contents(27, size);
  const RemoteFile file = Add("/sparse/mixed", contents);
  const uint64_t block = 9ull * kBlock;  // chunks 0-3 = pages 0-3, 4-7, 8-11, 12-15
  auto slice = [&](uint64_t offset, size_t length) { ExpectSlice(file, contents, offset, length); };
  // The cache as it is, nothing in the fetcher's memory.
  auto fresh = [&] {
    ASSERT_TRUE(cache_->Flush().ok());
    StartFetcher(NoMemoryFetcherOptions());
    fake_.ResetCounters();
  };
  fake_.ResetCounters();
  slice(block + kChunkSize, kChunkSize);     // chunk 1, exactly: one chunk piece
  slice(block + 2 * kChunkSize + 100, 200);  // page 8
  slice(block + 2 * kChunkSize + 2 * kPiecePageSize + 10, 100);  // page 10
  EXPECT_EQ(Requests(), 3u);
  EXPECT_EQ(BytesServed(), uint64_t{kChunkSize} + 2 * kPiecePageSize);

  fresh();
  slice(block + kChunkSize + 5000, 3000);  // inside chunk 1, cached whole
  EXPECT_EQ(Requests(), 0u);
  // Pages 3-10: page 3 fetched, chunk 1 cached, pages 8 and 10 cached, page 9 fetched.
  slice(block + kChunkSize - 100, kChunkSize + 3 * kPiecePageSize);
  EXPECT_EQ(Requests(), 2u);
  EXPECT_EQ(BytesServed(), 2ull * kPiecePageSize);

  fake_.ResetCounters();
  slice(size - 300, 300);  // the short last page: 904 bytes
  EXPECT_EQ(BytesServed(), 5000u - kPiecePageSize);
  slice(size - 5000 - 100, 200);  // page 11 (chunk 2) and page 12 (chunk 3)
  EXPECT_EQ(BytesServed(), 5000u - kPiecePageSize + 2 * kPiecePageSize);
  ExpectRead(file, contents, 63ull * kBlock - 100, 200);  // across the last block boundary

  fresh();
  slice(block + kChunkSize + 5000, 3000);
  slice(block + kChunkSize - 100, kChunkSize + 3 * kPiecePageSize);
  slice(size - 300, 300);
  slice(size - 5000 - 100, 200);
  ExpectRead(file, contents, 63ull * kBlock - 100, 200);
  EXPECT_EQ(Requests(), 0u);
  EXPECT_GT(fetcher_->Stats().piece_hit_bytes, 0u);
}

// Cached pieces are read straight into the answer; one whose read fails (reported as a miss, its
// bytes scribbled over) is fetched from the remote into its place, alone or with its neighbours
// in one request: the answer stays exact either way.
TEST_F(FetcherTest, CachedPieceWhoseReadFailsIsFetchedAgainIntoItsPlace) {
  const std::string contents = Contents(31, 64ull * kBlock);
  const RemoteFile file = Add("/sparse/faulty", contents);
  // Page 3 (in chunk 0), chunk 1 whole, page 8 (in chunk 2): three pieces.
  const uint64_t offset = 7ull * kBlock + kChunkSize - 1000;
  const size_t length = kChunkSize + 2000;
  ExpectSlice(file, contents, offset, length);
  ASSERT_TRUE(cache_->Flush().ok());
  FailingReadIntoCache failing(cache_.get());
  // Each read by a fresh fetcher: a piece fetched again is remembered in memory for a while.
  auto read_failing = [&](std::set<size_t> positions) {
    fetcher_ = std::make_unique<Fetcher>(&failing, NoMemoryFetcherOptions());
    failing.FailTargets(std::move(positions));
    ExpectSlice(file, contents, offset, length);
  };

  fake_.ResetCounters();
  read_failing({});  // all three from the cache
  EXPECT_EQ(Requests(), 0u);
  EXPECT_EQ(fetcher_->Stats().piece_hit_bytes, uint64_t{kChunkSize} + 2 * kPiecePageSize);
  read_failing({1});  // chunk 1
  EXPECT_EQ(Requests(), 1u);
  EXPECT_EQ(BytesServed(), uint64_t{kChunkSize});
  EXPECT_EQ(fetcher_->Stats().piece_hit_bytes, 2ull * kPiecePageSize);
  read_failing({0, 2});  // both edge pages: two runs
  EXPECT_EQ(Requests(), 3u);
  EXPECT_EQ(BytesServed(), uint64_t{kChunkSize} + 2 * kPiecePageSize);
  read_failing({1, 2});  // chunk 1 and page 8: one run
  EXPECT_EQ(Requests(), 4u);
  EXPECT_EQ(BytesServed(), 2ull * kChunkSize + 3 * kPiecePageSize);
  fetcher_.reset();  // before `failing` goes
}

// Once a small read of a stream found its block not cached whole, the stream's next ones look
// their pieces up first, the whole block in the same batch: one lookup per read, not a
// whole-block lookup that misses and then the pieces'. A block found cached whole is read from its
// chunks all the same, and turns the stream back to whole blocks first.
TEST_F(FetcherTest, SparseStreamLooksUpItsPiecesFirst) {
  CountingCache counting(cache_.get());
  fetcher_ = std::make_unique<Fetcher>(&counting, NoMemoryFetcherOptions());
  const std::string contents = Contents(33, 64ull * kBlock);
  const RemoteFile file = Add("/sparse/first", contents);
  ReadStream stream;
  auto slice = [&](uint64_t offset, size_t length) {
    Result<std::optional<FetchedSlice>> r = fetcher_->ReadSlice(file, offset, length, &stream);
    ASSERT_TRUE(r.ok() && r->has_value()) << "slice " << offset << "+" << length;
    EXPECT_TRUE(std::string(reinterpret_cast<const char*>((*r)->data.get()), (*r)->size) ==
                contents.substr(offset, length))
        << "wrong bytes for slice " << offset << "+" << length;
  };
  slice(5ull * kBlock + 1000, 3000);
  EXPECT_EQ(counting.range_reads(), 1u);
  EXPECT_EQ(counting.look_ups(), 1u);
  slice(20ull * kBlock + 5000, 3000);
  slice(40ull * kBlock + 7000, 3000);
  EXPECT_EQ(counting.range_reads(), 1u);
  EXPECT_EQ(counting.look_ups(), 3u);

  ExpectRead(file, contents, 50ull * kBlock, kBlock);  // block 50 cached whole (no stream)
  ASSERT_TRUE(cache_->Flush().ok());
  const uint64_t partial_before = fetcher_->Stats().partial_hit_bytes;
  slice(50ull * kBlock + 9000, 3000);  // pieces first: the block is found whole
  EXPECT_EQ(counting.look_ups(), 4u);
  EXPECT_EQ(counting.range_reads(), 2u);
  slice(50ull * kBlock + 30000, 3000);  // whole blocks first again
  EXPECT_EQ(counting.look_ups(), 4u);
  EXPECT_EQ(counting.range_reads(), 3u);
  EXPECT_EQ(fetcher_->Stats().partial_hit_bytes - partial_before, 6000u);
  fetcher_.reset();  // before `counting` goes
}

// Edge pieces stay in memory only until their inserts have surely committed: the latest 512,
// not the whole memory budget (64 MiB here), so a long sparse pass does not hold every one.
TEST_F(FetcherTest, OnlyTheLatestEdgePiecesAreKeptInMemory) {
  PieceDroppingCache dropping(cache_.get());
  fetcher_ = std::make_unique<Fetcher>(&dropping, SmallFetcherOptions());
  constexpr uint64_t kChunksPerBlock = kBlock / kChunkSize;
  const std::string contents = Contents(25, 256ull * kBlock);
  const RemoteFile file = Add("/sparse/many-edges", contents);
  auto slice = [&](uint64_t offset, size_t length) { ExpectSlice(file, contents, offset, length); };
  slice(1000, 2000);  // page 0 of block 0 (a page piece)
  fake_.ResetCounters();
  slice(3000, 1000);  // the same page: from memory
  EXPECT_EQ(Requests(), 0u);
  // 600 more one-piece reads, each in a chunk of its own (every chunk from block 1 on): 600 newer
  // edge pieces.
  for (uint64_t chunk = kChunksPerBlock; chunk < kChunksPerBlock + 600; ++chunk) {
    slice(chunk * kChunkSize + 100, 200);
  }
  EXPECT_EQ(Requests(), 600u);
  fake_.ResetCounters();
  slice(3000, 1000);  // page 0 of block 0 was forgotten: fetched again
  EXPECT_EQ(Requests(), 1u);
  EXPECT_EQ(BytesServed(), uint64_t{kPiecePageSize});
  fetcher_.reset();  // before `dropping` goes
}

// The remote read buffers are counted (the daemon's stats show them): handed out while a fetch
// holds one, then kept idle and reused, so a second fetch of the same size maps nothing new.
TEST_F(FetcherTest, RemoteReadBuffersAreCountedAndReused) {
  StartFetcher(NoMemoryFetcherOptions());  // no block stays in memory after its read
  const std::string contents = Contents(26, 8ull * kBlock);
  const RemoteFile file = Add("/pool/reuse", contents);
  auto settled = [&] {  // the fetching thread may drop its reference just after the answer
    FetcherStats s = fetcher_->Stats();
    for (int i = 0; i < 200 && s.buffer_in_use_bytes != 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      s = fetcher_->Stats();
    }
    return s;
  };
  // Reads of four blocks: one remote read of 256 KiB each (smaller ones come from the heap).
  ExpectRead(file, contents, 0, 4ull * kBlock);
  const FetcherStats first = settled();
  EXPECT_GE(first.buffer_maps, 1u);
  EXPECT_EQ(first.buffer_in_use_bytes, 0u);
  EXPECT_GE(first.buffer_idle_bytes, 4ull * kBlock);
  ExpectRead(file, contents, 4ull * kBlock, 4ull * kBlock);
  const FetcherStats second = settled();
  EXPECT_EQ(Requests(), 2u);
  EXPECT_EQ(second.buffer_maps, first.buffer_maps);
  EXPECT_GT(second.buffer_reuses, first.buffer_reuses);
  EXPECT_EQ(second.buffer_in_use_bytes, 0u);
}

// Reads near each other that skip most of what they span are not a stream: no readahead.
TEST_F(FetcherTest, CloseButSparseReadsDoNotTriggerReadahead) {
  const std::string contents = Contents(22, 64ull * kBlock);
  const RemoteFile file = Add("/sparse/close", contents);
  ReadStream stream;
  for (uint64_t i = 0; i < 20; ++i) {
    // 8 KiB every 1.5 blocks: within the sequential slack of the previous read, 10 % dense.
    ExpectRead(file, contents, i * (kBlock + kBlock / 2) + 100, 8192, &stream);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(fetcher_->Stats().prefetch_requests, 0u);
}

// What the kernel's own readahead sends at a file's start (adjacent requests of growing size that
// cover what they span, less than min_stream_span_bytes in all) is not a stream: the sparse reads
// that follow within the sequential slack stay sparse. A reader that goes on sequentially past the
// minimum span is one.
TEST_F(FetcherTest, TheKernelsReadaheadAtAFileStartIsNotAStream) {
  FetcherOptions o = SmallFetcherOptions();
  o.min_stream_span_bytes = 16 * kBlock;
  StartFetcher(o);
  const std::string contents = Contents(28, 64ull * kBlock);
  const RemoteFile file = Add("/sparse/start", contents);
  // As the FUSE layer reads: ReadSlice() within a block.
  auto slice = [&](uint64_t offset, size_t length, ReadStream* stream) {
    Result<std::optional<FetchedSlice>> r = fetcher_->ReadSlice(file, offset, length, stream);
    ASSERT_TRUE(r.ok() && r->has_value()) << offset;
    EXPECT_TRUE(std::string(reinterpret_cast<const char*>((*r)->data.get()), (*r)->size) ==
                contents.substr(offset, length))
        << offset;
  };
  fake_.ResetCounters();
  ReadStream stream;
  slice(0, 4096, &stream);
  slice(4096, 8192, &stream);
  slice(12288, 16384, &stream);
  for (uint64_t b = 1; b <= 7; ++b) slice(b * kBlock + 5000, 9000, &stream);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // no prefetch may show up
  EXPECT_EQ(fetcher_->Stats().prefetch_requests, 0u);
  EXPECT_EQ(fetcher_->Stats().sparse_fetches, 10u);
  EXPECT_LT(BytesServed(), 2u * kBlock);

  ReadStream reader;  // 16 KiB reads from block 8 on: a stream once they span 16 blocks
  for (uint64_t off = 8 * kBlock; off < 40 * kBlock; off += 16384) slice(off, 16384, &reader);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_GT(fetcher_->Stats().prefetch_requests, 0u);
}

// Small reads one after the other (an O_DIRECT reader: no page cache, no kernel readahead) are a
// stream after min_stream_reads of them, long before they span min_stream_span_bytes: the rest of
// the file comes in a few large prefetches, not a remote read per 4 KiB.
TEST_F(FetcherTest, ManySmallReadsInARowAreAStreamBeforeTheyReachTheSpan) {
  FetcherOptions o = SmallFetcherOptions();
  o.min_stream_span_bytes = 64 * kBlock;  // the whole file: never reached by the span
  o.min_stream_reads = 16;
  StartFetcher(o);
  const std::string contents = Contents(29, 16ull * kBlock);
  const RemoteFile file = Add("/seq/direct", contents);
  fake_.ResetCounters();
  ReadStream stream;
  uint64_t reads = 0;
  for (uint64_t off = 0; off < contents.size(); off += 4096, ++reads) {
    Result<std::optional<FetchedSlice>> r = fetcher_->ReadSlice(file, off, 4096, &stream);
    ASSERT_TRUE(r.ok() && r->has_value()) << off;
    ASSERT_TRUE(std::string(reinterpret_cast<const char*>((*r)->data.get()), (*r)->size) ==
                contents.substr(off, 4096))
        << off;
  }
  EXPECT_GT(fetcher_->Stats().prefetch_requests, 0u);
  EXPECT_LT(Requests(), reads / 4) << "a remote read per small read";
}

TEST_F(FetcherTest, EmptyFileReadsZeroBytesWithoutRemoteRequests) {
  const RemoteFile file = Add("/empty", "");
  EXPECT_EQ(file.ref.size, 0u);
  fake_.ResetCounters();
  ReadStream stream;
  for (uint64_t offset : {0ull, 1ull, 1ull << 20}) {
    Result<std::string> got = Read(file, offset, 4096, &stream);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->size(), 0u);
  }
  EXPECT_EQ(Requests(), 0u);
  EXPECT_EQ(fetcher_->CachedBytes(file), 0u);
}

TEST_F(FetcherTest, SecondReadOfARangeCostsNoRemoteRequest) {
  const std::string contents = Contents(2, 8ull * kBlock + 999);
  const RemoteFile file = Add("/again/f", contents);
  ExpectRead(file, contents, kBlock + 17, 2 * kBlock + 100);  // blocks 1..3
  EXPECT_EQ(Requests(), 1u);
  fake_.ResetCounters();
  ExpectRead(file, contents, kBlock + 17, 2 * kBlock + 100);  // same range
  ExpectRead(file, contents, 2 * kBlock + 5, 10);             // a piece of it
  EXPECT_EQ(Requests(), 0u);
  EXPECT_GT(fetcher_->Stats().memory_hit_bytes, 0u);
}

TEST_F(FetcherTest, SecondReadIsServedByTheCacheWhenMemoryHoldsNothing) {
  FetcherOptions o = SmallFetcherOptions();
  o.max_memory_bytes = kBlock / 2;  // smaller than one block: no completed block stays in memory
  StartFetcher(o);
  const std::string contents = Contents(3, 8ull * kBlock);
  const RemoteFile file = Add("/again/g", contents);
  ExpectRead(file, contents, 3, 6 * kBlock);  // blocks 0..6
  ASSERT_TRUE(cache_->Flush().ok());
  fake_.ResetCounters();
  ExpectRead(file, contents, 3, 6 * kBlock);
  EXPECT_EQ(Requests(), 0u);
  EXPECT_EQ(fetcher_->Stats().cache_hit_bytes, 7ull * kBlock);
}

TEST_F(FetcherTest, RestartedFetcherReadsFromTheCacheWithoutRemoteBytes) {
  // The last 100000-byte read is more than half a block long: whole blocks, not pieces.
  const uint64_t size = 20ull * kBlock + 43210;
  const std::string contents = Contents(4, size);
  const RemoteFile file = Add("/restart/f", contents);
  for (uint64_t off = 0; off < size; off += 100000) ExpectRead(file, contents, off, 100000);
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(fetcher_->CachedBytes(file), size);

  // A new Fetcher over the same cache: nothing in memory any more.
  StartFetcher(SmallFetcherOptions());
  fake_.ResetCounters();
  for (uint64_t off = 0; off < size; off += 70000) ExpectRead(file, contents, off, 70000);
  EXPECT_EQ(Requests(), 0u);
  EXPECT_EQ(BytesServed(), 0u);
  EXPECT_EQ(fetcher_->Stats().remote_bytes, 0u);
  EXPECT_EQ(fetcher_->Stats().cache_hit_bytes, size);  // every block read from disk once

  // A real restart: the cache is closed and reopened too.
  OpenCache();
  StartFetcher(SmallFetcherOptions());
  fake_.ResetCounters();
  ReadStream stream;  // readahead from the cache must not go remote either
  ExpectRead(file, contents, 0, size, &stream);
  EXPECT_EQ(BytesServed(), 0u);
  EXPECT_EQ(Requests(), 0u);
}

TEST_F(FetcherTest, ConcurrentMissesOfOneBlockCauseOneRemoteRequest) {
  const std::string contents = Contents(5, 8ull * kBlock);
  const RemoteFile file = Add("/flight/f", contents);
  fake_.ResetCounters();
  fake_.SetDelay(std::chrono::milliseconds(200));  // the first fetch is still in flight for all
  constexpr int kThreads = 16;
  std::latch start(kThreads);
  std::vector<std::string> got(kThreads);
  std::vector<Status> status(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Different pieces of block 3, so the requests are not identical.
      const uint64_t offset = 3ull * kBlock + static_cast<uint64_t>(t) * 1000;
      start.arrive_and_wait();
      Result<std::string> r = Read(file, offset, 2000);
      if (r.ok()) {
        got[t] = *r;
      } else {
        status[t] = r.status();
      }
    });
  }
  for (std::thread& th : threads) th.join();
  fake_.SetDelay(std::chrono::milliseconds(0));
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_TRUE(status[t].ok()) << t << ": " << status[t].ToString();
    EXPECT_TRUE(got[t] == Expected(contents, 3ull * kBlock + static_cast<uint64_t>(t) * 1000, 2000))
        << "thread " << t;
  }
  EXPECT_EQ(fake_.ReadCount("/flight/f"), 1u);
  EXPECT_EQ(Requests(), 1u);
  EXPECT_EQ(BytesServed(), kBlock);
}

TEST_F(FetcherTest, NeighbouringMissesOfOneReadAreOneRemoteRequest) {
  const std::string contents = Contents(6, 16ull * kBlock);
  const RemoteFile file = Add("/runs/f", contents);
  fake_.ResetCounters();
  ExpectRead(file, contents, 2ull * kBlock + 100, 3 * kBlock);  // blocks 2..5, all missing
  EXPECT_EQ(Requests(), 1u);
  EXPECT_EQ(BytesServed(), 4ull * kBlock);

  // Blocks 0..7 with 2..5 held: two runs of misses (0-1, 6-7), two requests, only the misses.
  fake_.ResetCounters();
  ExpectRead(file, contents, 0, 8 * kBlock);
  EXPECT_EQ(Requests(), 2u);
  EXPECT_EQ(BytesServed(), 4ull * kBlock);

  // A run longer than max_request_bytes is split: 8 blocks in requests of at most 3 blocks.
  FetcherOptions o = SmallFetcherOptions();
  o.max_request_bytes = 3 * kBlock;
  StartFetcher(o);
  const RemoteFile other = Add("/runs/g", contents);
  fake_.ResetCounters();
  ExpectRead(other, contents, 0, 8 * kBlock);
  EXPECT_EQ(Requests(), 3u);
  EXPECT_EQ(BytesServed(), 8ull * kBlock);
}

TEST_F(FetcherTest, SequentialStreamIsPrefetchedInFewLargeRequests) {
  const uint64_t size = 64ull * kBlock;
  const std::string contents = Contents(7, size);
  const RemoteFile file = Add("/seq/f", contents);
  fake_.ResetCounters();
  ReadStream stream;
  for (uint64_t off = 0; off < size; off += kBlock)
    ExpectRead(file, contents, off, kBlock, &stream);
  const FetcherStats stats = fetcher_->Stats();
  const uint64_t requests = Requests();
  RecordProperty("remote_requests", std::to_string(requests));
  EXPECT_LE(requests, 16u) << "64 sequential block reads should need far fewer than 64 requests";
  EXPECT_GT(stats.prefetch_requests, 0u);
  EXPECT_EQ(stats.prefetch_dropped, 0u);
  // Every byte fetched exactly once (readahead never fetches a block twice nor past EOF).
  EXPECT_EQ(BytesServed(), size);
  EXPECT_EQ(stats.remote_bytes, size);
  EXPECT_EQ(stats.remote_requests, requests);
  // The first read is a demand fetch; later blocks arrive in requests far larger than one block.
  EXPECT_LE(requests * 4 * kBlock, size);
}

TEST_F(FetcherTest, RandomReadsDoNotTriggerReadahead) {
  const std::string contents = Contents(8, 64ull * kBlock);
  const RemoteFile file = Add("/random/f", contents);
  fake_.ResetCounters();
  ReadStream stream;
  // Each read lands far (> 2 blocks) from where the previous one ended, none near offset 0.
  const std::vector<uint32_t> blocks = {40, 10, 55, 25, 5, 33, 48, 17};
  uint64_t touched = 0;
  for (size_t i = 0; i < blocks.size(); ++i) {
    // Odd reads straddle a block boundary (the page each side, in one ranged read), even reads
    // sit inside one block (Read() fetches it whole; ReadSlice() is the partial path).
    const uint64_t offset = uint64_t{blocks[i]} * kBlock + (i % 2 == 0 ? 777 : kBlock - 300);
    ExpectRead(file, contents, offset, 1000, &stream);
    touched += i % 2 == 0 ? uint64_t{kBlock} : 2 * uint64_t{kPiecePageSize};
  }
  // Give a (wrongly) scheduled prefetch time to show up in the counters.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(fetcher_->Stats().prefetch_requests, 0u);
  EXPECT_EQ(Requests(), blocks.size());
  EXPECT_EQ(BytesServed(), touched);
}

TEST_F(FetcherTest, RemoteErrorIsReturnedAndTheNextReadSucceeds) {
  const std::string contents = Contents(9, 6ull * kBlock);
  const RemoteFile file = Add("/err/f", contents);
  fake_.FailNext(1, Status::Unavailable("fake: server went away"), FakeSource::kReadOp);
  Result<std::string> got = Read(file, 100, 2 * kBlock);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable) << got.status().ToString();
  EXPECT_EQ(fetcher_->Stats().remote_errors, 1u);
  // The failed blocks left no in-flight or cached entry behind: the same read goes remote again
  // and succeeds.
  fake_.ResetCounters();
  ExpectRead(file, contents, 100, 2 * kBlock);
  EXPECT_EQ(Requests(), 1u);
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(fetcher_->CachedBytes(file), 3ull * kBlock);
}

TEST_F(FetcherTest, FailedSharedFetchFailsItsWaitersAndDoesNotPoisonTheBlock) {
  const std::string contents = Contents(10, 4ull * kBlock);
  const RemoteFile file = Add("/err/shared", contents);
  fake_.SetDelay(std::chrono::milliseconds(200));
  fake_.FailNext(1, Status::Unavailable("fake: timeout"), FakeSource::kReadOp);
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::vector<Result<std::string>> results(kThreads, Status::Aborted("not run"));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      results[t] = Read(file, kBlock + 10, 500);
    });
  }
  for (std::thread& th : threads) th.join();
  fake_.SetDelay(std::chrono::milliseconds(0));
  int failed = 0;
  for (int t = 0; t < kThreads; ++t) {
    if (results[t].ok()) {
      EXPECT_TRUE(*results[t] == Expected(contents, kBlock + 10, 500)) << "thread " << t;
    } else {
      ++failed;
      EXPECT_EQ(results[t].status().code(), StatusCode::kUnavailable) << t;
    }
  }
  EXPECT_GE(failed, 1);
  ExpectRead(file, contents, kBlock + 10, 500);
}

TEST_F(FetcherTest, FailedPrefetchDoesNotPoisonLaterReads) {
  const uint64_t size = 32ull * kBlock;
  const std::string contents = Contents(11, size);
  const RemoteFile file = Add("/err/prefetch", contents);
  ReadStream stream;
  // The first block is fetched on demand (delayed) by three reads; the third one makes the stream
  // sequential, and its readahead request then sleeps in the fake's delay while we arm the
  // failure, so the prefetch (not the demand read) fails.
  fake_.SetDelay(std::chrono::milliseconds(100));
  for (uint64_t off = 0; off < 3 * kBlock / 4; off += kBlock / 4) {
    ExpectRead(file, contents, off, kBlock / 4, &stream);
  }
  fake_.FailNext(1, Status::Unavailable("fake: prefetch lost"), FakeSource::kReadOp);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (fetcher_->Stats().remote_errors == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(fetcher_->Stats().remote_errors, 1u);
  // The error is counted just before the failed blocks are released; let that finish.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  fake_.SetDelay(std::chrono::milliseconds(0));
  // Every later read succeeds with the right bytes (the failed blocks are fetched again).
  for (uint64_t off = kBlock; off < size; off += kBlock) {
    ExpectRead(file, contents, off, kBlock, &stream);
  }
  ExpectRead(file, contents, 0, size);
}

TEST_F(FetcherTest, RemoteThatLiesAboutTheSizeIsCorruptionNeverShortOrWrongBytes) {
  const uint64_t real = 3ull * kBlock + 500;
  const std::string contents = Contents(12, real);
  fake_.AddFile("/lie/f", contents);
  fake_.SetSizeLie("/lie/f", 5000);  // reports 4500 bytes more than it has
  const RemoteFile file = FileOf("/lie/f");
  ASSERT_EQ(file.ref.size, real + 5000);

  for (const auto& [offset, len] : std::vector<std::pair<uint64_t, size_t>>{
           {0, real + 5000},      // the whole file as reported
           {real - 10, 20},       // the last real bytes and some invented ones
           {real + 100, 100},     // only invented bytes
           {3ull * kBlock, 100},  // the last block (partly invented), real bytes asked for
       }) {
    Result<std::string> got = Read(file, offset, len);
    ASSERT_FALSE(got.ok()) << "read " << offset << "+" << len << " returned " << got->size()
                           << " bytes of a file that lies about its size";
    EXPECT_EQ(got.status().code(), StatusCode::kCorruption) << got.status().ToString();
  }
  // Blocks wholly inside the real bytes are fine.
  ExpectRead(file, contents, 10, 2 * kBlock);
  ASSERT_TRUE(cache_->Flush().ok());
  const std::vector<bool> present = Present(file);
  EXPECT_FALSE(present[3]) << "a block that failed must not be cached";

  // A remote that answers one byte short with an OK status: the fetcher itself must notice.
  const std::string other = Contents(13, 4ull * kBlock);
  fake_.AddFile("/lie/short", other);
  ShortReadSource short_source(&fake_);
  const RemoteFile shorted = FileOf("/lie/short", &short_source);
  Result<std::string> got = Read(shorted, 0, kBlock);
  ASSERT_FALSE(got.ok()) << "a short body returned " << got->size() << " bytes";
  EXPECT_EQ(got.status().code(), StatusCode::kCorruption) << got.status().ToString();
  got = Read(shorted, kBlock + 5, 2 * kBlock);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kCorruption);
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(fetcher_->CachedBytes(shorted), 0u);

  // A size that is too small is indistinguishable from a shorter file: reads stop at it.
  const std::string third = Contents(14, 2ull * kBlock);
  fake_.AddFile("/lie/small", third);
  fake_.SetSizeLie("/lie/small", -1000);
  const RemoteFile small = FileOf("/lie/small");
  ExpectRead(small, third.substr(0, third.size() - 1000), 0, third.size());
}

// Silent corruption by the remote (wrong bytes with an OK status) cannot be detected by the
// fetcher: it has no checksum of the remote's data (only a backend that verifies, e.g. against an
// XRootD checksum or an S3 ETag, could). The cache's CRC32C protects what was written locally, not
// what the remote sent. What the fetcher does guarantee is consistency: the bytes it caches are
// exactly the bytes it served, so a later read (from memory or disk) returns the same bytes.
TEST_F(FetcherTest, GarbageFromTheRemoteIsUndetectedButCachedExactlyAsServed) {
  const uint64_t size = 6ull * kBlock + 77;
  const std::string contents = Contents(15, size);
  const RemoteFile file = Add("/garbage/f", contents);
  fake_.SetGarbage("/garbage/f", true);
  Result<std::string> served = Read(file, 0, size);
  ASSERT_TRUE(served.ok()) << served.status().ToString();
  ASSERT_EQ(served->size(), size);
  std::string garbled = contents;
  for (char& c : garbled) c = static_cast<char>(c ^ 0x5A);
  EXPECT_TRUE(*served == garbled) << "the fake's garbage is served as is (undetectable)";
  fake_.SetGarbage("/garbage/f", false);
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(fetcher_->CachedBytes(file), size);

  // Memory and, after a restart of the fetcher, the cache both give back what was served.
  ExpectRead(file, garbled, 1000, 2 * kBlock);
  StartFetcher(SmallFetcherOptions());
  fake_.ResetCounters();
  ExpectRead(file, garbled, 0, size);
  EXPECT_EQ(Requests(), 0u);
}

// The fetcher does not expose how many bytes it holds (FetcherStats has no memory gauge), so the
// bound on max_memory_bytes is checked where it is observable: the bytes the remote is asked for
// concurrently (in-flight fetches are part of the bound) never exceed it, save one demand block.
TEST_F(FetcherTest, SequentialReadOfALargeFileKeepsFetchesInFlightWithinTheMemoryBound) {
  FetcherOptions o = SmallFetcherOptions();
  o.max_memory_bytes = 8ull * kBlock;
  o.readahead_initial = 2ull * kBlock;
  o.readahead_max = 32ull * kBlock;  // would exceed the bound if the window were not limited
  o.max_request_bytes = 4ull * kBlock;
  StartFetcher(o);
  const uint64_t size = 96ull * kBlock;
  const std::string contents = Contents(16, size);
  fake_.AddFile("/big/f", contents);
  TrackingSource tracking(&fake_);
  const RemoteFile file = FileOf("/big/f", &tracking);
  fake_.SetDelay(std::chrono::milliseconds(2));  // fetches overlap the reader
  ReadStream stream;
  for (uint64_t off = 0; off < size; off += kBlock)
    ExpectRead(file, contents, off, kBlock, &stream);
  fake_.SetDelay(std::chrono::milliseconds(0));
  RecordProperty("peak_in_flight_bytes", std::to_string(tracking.peak()));
  RecordProperty("prefetch_requests", std::to_string(fetcher_->Stats().prefetch_requests));
  RecordProperty("prefetch_dropped", std::to_string(fetcher_->Stats().prefetch_dropped));
  RecordProperty("remote_requests", std::to_string(Requests()));
  EXPECT_LE(tracking.peak(), o.max_memory_bytes + kBlock);
  EXPECT_GT(tracking.peak(), 0u);
}

// A readahead shrunk or dropped for lack of memory must not count as scheduled: once memory is free
// again, the stream is prefetched from where it is, and its reader never waits on one-block demand
// fetches for the range whose prefetch was dropped.
TEST_F(FetcherTest, DroppedPrefetchIsNotMistakenForAScheduledOne) {
  FetcherOptions o = SmallFetcherOptions();
  o.max_memory_bytes = 16ull * kBlock;
  o.readahead_initial = 4ull * kBlock;
  o.readahead_max = 8ull * kBlock;
  o.max_request_bytes = 8ull * kBlock;
  StartFetcher(o);
  const std::string b_contents = Contents(18, 16ull * kBlock);
  const std::string c_contents = Contents(19, 14ull * kBlock);
  fake_.AddFile("/drop/b", b_contents);
  fake_.AddFile("/drop/c", c_contents);
  TrackingSource tracking(&fake_);
  const RemoteFile b = FileOf("/drop/b", &tracking);
  const RemoteFile c = FileOf("/drop/c", &tracking);
  // Blocks 0 and 1 of b are held (memory and cache) before the stream starts.
  ExpectRead(b, b_contents, 0, 2 * kBlock);
  ASSERT_TRUE(cache_->Flush().ok());

  // Memory pressure: another reader's 14-block fetch is stuck in flight.
  fake_.SetReadsPaused(true);
  const uint64_t reads_before = fake_.counters().reads;
  std::thread other([&] { ExpectRead(c, c_contents, 0, c_contents.size()); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (fake_.counters().reads == reads_before && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // The stream on b starts; its first readahead (blocks 1..4) does not fit: it is shrunk to
  // what fits (or dropped), and only what was really scheduled counts as prefetched.
  ReadStream stream;
  ExpectRead(b, b_contents, 0, kBlock, &stream);
  fake_.SetReadsPaused(false);
  other.join();

  // Memory is free again: the rest of b is read sequentially.
  tracking.ClearCallers();
  for (uint64_t off = kBlock; off < b_contents.size(); off += kBlock) {
    ExpectRead(b, b_contents, off, kBlock, &stream);
  }
  EXPECT_GT(fetcher_->Stats().prefetch_requests, 0u);
  // Memory is trimmed oldest-completed first: when the shrunk readahead's blocks complete before
  // the other reader's 14, they can be trimmed again, and the reader fetches the first of them
  // itself (the next readahead brings the rest). A readahead wrongly recorded as scheduled would
  // leave the reader fetching every block it covers one by one.
  EXPECT_LE(tracking.ReadsBy("/drop/b", std::this_thread::get_id()), 1u)
      << "blocks of the dropped readahead were fetched one by one on the reader's thread";
}

// An ObjectSource bound by its bandwidth: one read at a time, each taking its size at
// `bytes_per_ms` (a server on the local network: more reads in flight only queue).
class BandwidthBoundSource final : public ObjectSource {
 public:
  BandwidthBoundSource(ObjectSource* inner, uint64_t bytes_per_ms)
      : inner_(inner), bytes_per_ms_(bytes_per_ms) {}
  Result<ObjectInfo> Stat(const std::string& path) override { return inner_->Stat(path); }
  Result<ListPage> List(const std::string& dir, const std::string& token) override {
    return inner_->List(dir, token);
  }
  Result<size_t> Read(const ObjectRef& ref, uint64_t offset, std::span<std::byte> out) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::this_thread::sleep_for(std::chrono::microseconds(out.size() * 1000 / bytes_per_ms_));
    return inner_->Read(ref, offset, out);
  }
  Status ReadV(const ObjectRef& ref, std::span<ReadRange> ranges) override {
    return inner_->ReadV(ref, ranges);
  }
  std::string Describe() const override { return inner_->Describe(); }

 private:
  ObjectSource* inner_;
  const uint64_t bytes_per_ms_;
  std::mutex mu_;
};

// Windows of 8 blocks that may grow to 32, in requests of 2 blocks, judged over epochs of
// `epoch` (and two windows' bytes): 4 workers, enough for a grown window in flight once grown.
FetcherOptions GrowingFetcherOptions(std::chrono::milliseconds epoch) {
  FetcherOptions o = SmallFetcherOptions();
  o.max_request_bytes = 2ull * kBlock;
  o.readahead_initial = 2ull * kBlock;
  o.readahead_max = 8ull * kBlock;
  o.readahead_limit = 32ull * kBlock;
  o.max_memory_bytes = 16ull * kBlock;
  o.readahead_probe_epoch = epoch;
  o.threads = 4;
  o.grown_threads = 16;
  return o;
}

// The fetcher's prefetch workers running (threads of this process named so), once there are
// `expected` of them or after a second (a new worker names itself soon after it starts).
size_t FetchWorkers(size_t expected) {
  size_t n = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  do {
    n = 0;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
      std::ifstream comm(task.path() / "comm");
      std::string name;
      if (std::getline(comm, name) && name == "hoardfs-fetch") ++n;
    }
    if (n == expected) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  } while (std::chrono::steady_clock::now() < deadline);
  return n;
}

// Behind a round trip (every request takes 5 ms, however many are in flight), a larger window
// carries more: the stream's window grows past readahead_max, more than readahead_max is in flight
// at once, the memory lent for it is counted, and given back when the stream ends. The next
// stream on the same remote takes the grown window at once (a dataset's files are each read
// once, one after another).
TEST_F(FetcherTest, WindowGrowsPastItsMaxBehindALongRoundTrip) {
  const FetcherOptions o = GrowingFetcherOptions(std::chrono::milliseconds(30));
  StartFetcher(o);
  EXPECT_EQ(FetchWorkers(o.threads), o.threads)
      << "workers for a grown window started before any grew";
  const uint64_t size = 256ull * kBlock;
  const std::string contents = Contents(20, size);
  fake_.AddFile("/wan/f", contents);
  TrackingSource tracking(&fake_);
  const RemoteFile file = FileOf("/wan/f", &tracking);
  fake_.SetDelay(std::chrono::milliseconds(5));
  {
    ReadStream stream;
    ReadInBlocks(file, contents, &stream);
    const FetcherStats stats = fetcher_->Stats();
    RecordProbeCounters();
    RecordProperty("peak_in_flight_bytes", std::to_string(tracking.peak()));
    EXPECT_EQ(stats.readahead_limit_bytes, o.readahead_limit);
    EXPECT_GE(stats.readahead_grows, 1u);
    EXPECT_GE(stats.readahead_kept, 1u) << "a doubling that doubles the rate must be kept";
    EXPECT_GT(tracking.peak(), o.readahead_max) << "the grown window was never in flight";
    EXPECT_GT(stats.readahead_lent_bytes, 0u) << "a kept growth holds its memory";
    EXPECT_LE(stats.readahead_lent_bytes, o.readahead_limit - o.readahead_max);
    EXPECT_EQ(FetchWorkers(o.grown_threads), o.grown_threads);
  }
  EXPECT_EQ(fetcher_->Stats().readahead_lent_bytes, 0u) << "the ended stream gave its memory back";

  // The next file of the same remote takes the remote's grown window from its first sequential
  // reads (the probe is the remote's); a file of another remote does not.
  const std::string second = Contents(23, 64ull * kBlock);
  fake_.AddFile("/wan/g", second);
  fake_.AddFile("/wan/h", second);
  {
    ReadStream stream;
    ReadInBlocks(FileOf("/wan/g", &tracking), second, &stream, 8 * kBlock);
    EXPECT_GT(fetcher_->Stats().readahead_lent_bytes, 0u) << "the remote's window not taken";
  }
  TrackingSource elsewhere(&fake_);
  {
    ReadStream stream;
    ReadInBlocks(FileOf("/wan/h", &elsewhere), second, &stream, 8 * kBlock);
    EXPECT_EQ(fetcher_->Stats().readahead_lent_bytes, 0u) << "another remote's window taken";
  }
  fake_.SetDelay(std::chrono::milliseconds(0));
  EXPECT_EQ(fetcher_->Stats().readahead_lent_bytes, 0u);
}

// A remote that went without a sequential read for longer than readahead_idle_reset forgets its
// grown window: the next stream starts from readahead_max and takes no lent memory in its first
// reads (the next stream right after a grown one takes the grown window from its first reads:
// WindowGrowsPastItsMaxBehindALongRoundTrip).
TEST_F(FetcherTest, GrownWindowIsForgottenAfterAnIdleTime) {
  FetcherOptions o = GrowingFetcherOptions(std::chrono::milliseconds(30));
  o.readahead_idle_reset = std::chrono::milliseconds(300);
  StartFetcher(o);
  const std::string contents = Contents(25, 256ull * kBlock);
  const std::string second = Contents(26, 64ull * kBlock);
  fake_.AddFile("/wan/j", second);
  fake_.SetDelay(std::chrono::milliseconds(5));
  // A growth kept (a slow build's stalls may end epochs unjudged: a few files, if need be).
  for (int i = 0; i < 4 && fetcher_->Stats().readahead_kept == 0; ++i) {
    const std::string path = "/wan/i" + std::to_string(i);
    fake_.AddFile(path, contents);
    ReadStream stream;
    ReadInBlocks(FileOf(path), contents, &stream);
  }
  const FetcherStats grown = fetcher_->Stats();
  ASSERT_GE(grown.readahead_kept, 1u) << "no window grew behind the round trip";
  EXPECT_EQ(grown.readahead_resets, 0u);

  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  {
    ReadStream stream;
    ReadInBlocks(FileOf("/wan/j"), second, &stream, 8 * kBlock);
    EXPECT_EQ(fetcher_->Stats().readahead_lent_bytes, 0u) << "the grown window outlived the idle";
  }
  EXPECT_EQ(fetcher_->Stats().readahead_resets, 1u);
  fake_.SetDelay(std::chrono::milliseconds(0));
}

// Reads served by the cache say nothing about the link: a stream of cached blocks neither feeds
// the remote's probe nor takes its grown window (a grown remote's later pass over cached data,
// and the memory lent for it, held blocks read from the cache past its buffers: 64 readers of
// a local server peaked at 331 MiB RSS, against 140).
TEST_F(FetcherTest, StreamsOfCachedBlocksNeitherProbeNorTakeTheGrownWindow) {
  StartFetcher(GrowingFetcherOptions(std::chrono::milliseconds(30)));
  const uint64_t size = 256ull * kBlock;
  const std::string contents = Contents(24, size);
  fake_.SetDelay(std::chrono::milliseconds(5));
  // A growth kept (a loaded machine's stalls may end epochs unjudged: a few files, if need be).
  std::string path;
  for (int i = 0; i < 4 && fetcher_->Stats().readahead_kept == 0; ++i) {
    path = "/wan/c" + std::to_string(i);
    fake_.AddFile(path, contents);
    ReadStream stream;
    ReadInBlocks(FileOf(path), contents, &stream);
  }
  const RemoteFile file = FileOf(path);
  ASSERT_TRUE(cache_->Flush().ok());
  const FetcherStats grown = fetcher_->Stats();
  ASSERT_GE(grown.readahead_kept, 1u) << "no window grew behind the round trip";

  // The first 96 blocks again: long gone from memory, all in the cache.
  fake_.ResetCounters();
  ReadStream stream;
  uint64_t most_lent = 0;
  for (uint64_t off = 0; off < 96 * kBlock; off += kBlock) {
    ExpectRead(file, contents, off, kBlock, &stream);
    most_lent = std::max(most_lent, fetcher_->Stats().readahead_lent_bytes);
  }
  fake_.SetDelay(std::chrono::milliseconds(0));
  EXPECT_EQ(Requests(), 0u);
  EXPECT_EQ(most_lent, 0u) << "a stream of cached blocks took the remote's grown window";
  EXPECT_EQ(fetcher_->Stats().readahead_grows, grown.readahead_grows);
  EXPECT_EQ(fetcher_->Stats().readahead_shrinks, grown.readahead_shrinks);
}

// A remote bound by its bandwidth gains nothing from a larger window: the doubling is tried and
// undone, and its memory given back while the stream goes on. A loaded machine's stalls can make
// a doubling look paid now and then (a larger window rides out a stalled reader; CI saw one grow
// to the limit): a few fresh fetchers on fresh remotes, if need be. Without the undo none shrinks.
TEST_F(FetcherTest, WindowGrowthThatDoesNotPayIsUndone) {
  constexpr int kAttempts = 3;
  const uint64_t size = 384ull * kBlock;
  const uint64_t limit_lent = (32ull - 8) * kBlock;
  FetcherStats stats;
  int attempts = 0;
  while (attempts < kAttempts) {
    ++attempts;
    StartFetcher(GrowingFetcherOptions(std::chrono::milliseconds(60)));
    const std::string path = "/lan/f" + std::to_string(attempts);
    const std::string contents = Contents(21 + attempts, size);
    fake_.AddFile(path, contents);
    BandwidthBoundSource lan(&fake_, /*bytes_per_ms=*/64 << 10);
    const RemoteFile file = FileOf(path, &lan);
    ReadStream stream;
    ReadInBlocks(file, contents, &stream);
    stats = fetcher_->Stats();
    if (stats.readahead_shrinks >= 1 && stats.readahead_lent_bytes < limit_lent) break;
  }
  RecordProbeCounters();
  RecordProperty("attempts", std::to_string(attempts));
  EXPECT_GE(stats.readahead_grows, 1u) << "the reader waited on the remote: a probe was due";
  EXPECT_GE(stats.readahead_shrinks, 1u)
      << "a doubling that gained nothing was kept in " << attempts << " attempts";
  EXPECT_LT(stats.readahead_lent_bytes, limit_lent) << "grown to the limit";
}

// Many streams at once fill the fetcher's memory budget: their readers wait for want of memory,
// not of larger windows, and the windows do not grow (64 concurrent readers of a local server
// once held 343 MiB so).
TEST_F(FetcherTest, WindowsOfStreamsBoundByTheMemoryBudgetDoNotGrow) {
  StartFetcher(GrowingFetcherOptions(std::chrono::milliseconds(30)));
  constexpr int kStreams = 8;
  const uint64_t size = 96ull * kBlock;
  std::vector<std::string> contents;
  for (int i = 0; i < kStreams; ++i) {
    contents.push_back(Contents(30 + i, size));
    fake_.AddFile("/many/f" + std::to_string(i), contents.back());
  }
  fake_.SetDelay(std::chrono::milliseconds(5));
  std::vector<std::thread> readers;
  for (int i = 0; i < kStreams; ++i) {
    readers.emplace_back([&, i] {
      const RemoteFile file = FileOf("/many/f" + std::to_string(i));
      ReadStream stream;
      ReadInBlocks(file, contents[i], &stream);
    });
  }
  for (std::thread& t : readers) t.join();
  fake_.SetDelay(std::chrono::milliseconds(0));
  const FetcherStats stats = fetcher_->Stats();
  RecordProperty("prefetch_requests", std::to_string(stats.prefetch_requests));
  EXPECT_GT(stats.prefetch_requests, 0u);
  EXPECT_EQ(stats.readahead_grows, 0u);
  EXPECT_EQ(stats.readahead_lent_bytes, 0u);
}

// A reader slower than the remote never waits for a fetch: its window never grows.
TEST_F(FetcherTest, WindowOfAReaderThatNeverWaitsDoesNotGrow) {
  StartFetcher(GrowingFetcherOptions(std::chrono::milliseconds(30)));
  const uint64_t size = 128ull * kBlock;
  const std::string contents = Contents(22, size);
  fake_.AddFile("/slow/f", contents);
  const RemoteFile file = FileOf("/slow/f");
  ReadStream stream;
  for (uint64_t off = 0; off < size; off += kBlock) {
    ExpectRead(file, contents, off, kBlock, &stream);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_GT(fetcher_->Stats().prefetch_requests, 0u);
  EXPECT_EQ(fetcher_->Stats().readahead_grows, 0u);
  EXPECT_EQ(fetcher_->Stats().readahead_lent_bytes, 0u);
}

TEST_F(FetcherTest, CachedBytesCountsExactlyTheCachedBytes) {
  const uint64_t size = 10ull * kBlock + 1000;
  const std::string contents = Contents(17, size);
  const RemoteFile file = Add("/count/f", contents);
  EXPECT_EQ(fetcher_->CachedBytes(file), 0u);
  ExpectRead(file, contents, 2ull * kBlock + 5, 1);  // block 2
  ExpectRead(file, contents, size - 1, 1);           // the short last block (10)
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(fetcher_->CachedBytes(file), uint64_t{kBlock} + 1000);
  std::vector<bool> present = Present(file);
  for (uint32_t b = 0; b < present.size(); ++b) EXPECT_EQ(present[b], b == 2 || b == 10) << b;

  ExpectRead(file, contents, 0, size);
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(fetcher_->CachedBytes(file), size);
  // Another version of the same path has nothing cached.
  RemoteFile other = file;
  other.ref.version = "other";
  other.key.version_hash = Hash64("other");
  EXPECT_EQ(fetcher_->CachedBytes(other), 0u);
  // Evicted blocks are no longer counted.
  ASSERT_TRUE(cache_->Evict(kRemoteId, "/count/f").ok());
  EXPECT_EQ(fetcher_->CachedBytes(file), 0u);
}

}  // namespace
}  // namespace hoardfs
