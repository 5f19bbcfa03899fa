// RemoteTree: names and attributes through the MetadataCache (TTLs, negative entries,
// stale-if-unavailable, version changes), bytes through the Fetcher, over a real BlockCache in a
// temp dir and a FakeSource (style: fakes, not mocks). Remote requests are counted by the fake.
#include "cache/remote_tree.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cache/block_cache.h"
#include "cache/fetcher.h"
#include "cache/metadata_cache.h"
#include "common/hash.h"
#include "remote/fake_source.h"
#include "tests/cache/block_data.h"
#include "tests/cache/test_dir.h"

namespace hoardfs {
namespace {

using std::chrono::seconds;
using testing::TestDir;

constexpr uint32_t kBlock = 64 * 1024;
constexpr uint32_t kRemoteId = 3;
// Just past a TTL of one second.
constexpr auto kPastOneSecond = std::chrono::milliseconds(1100);

using testing::Contents;

BlockCacheOptions CacheOptions(const std::string& dir) {
  BlockCacheOptions o;
  o.dir = dir;
  o.block_size = kBlock;
  o.capacity_bytes = 512ull * kBlock;
  o.slots_per_file = 256;
  o.grow_step_slots = 64;
  o.free_space_floor_bytes = 0;
  o.index_block_cache_bytes = 4 << 20;
  o.index_write_buffer_bytes = 4 << 20;
  return o;
}

RemoteTreeOptions Ttls(int attr, int dir, int negative) {
  RemoteTreeOptions o;
  o.attr_ttl = seconds(attr);
  o.dir_ttl = seconds(dir);
  o.negative_ttl = seconds(negative);
  return o;
}

std::vector<std::string> Names(const std::vector<ObjectInfo>& entries) {
  std::vector<std::string> names;
  for (const ObjectInfo& e : entries) names.push_back(e.name);
  std::sort(names.begin(), names.end());
  return names;
}

class RemoteTreeTest : public ::testing::Test {
 protected:
  // `source`: the remote (default: fake_, which lists names cheaply, as XRootD does).
  void Start(const RemoteTreeOptions& options, uint64_t max_memory_bytes = 64ull << 20,
             ObjectSource* source = nullptr) {
    tree_.reset();
    fetcher_.reset();
    metadata_.reset();
    cache_.reset();
    auto cache = BlockCache::Open(CacheOptions(dir_.path()));
    ASSERT_TRUE(cache.ok()) << cache.status().ToString();
    cache_ = std::move(cache).value();
    ASSERT_TRUE(cache_->WaitUntilReady().ok());
    auto metadata = MetadataCache::Open(cache_->index());
    ASSERT_TRUE(metadata.ok()) << metadata.status().ToString();
    metadata_ = std::move(metadata).value();
    FetcherOptions fo;
    fo.max_request_bytes = 1 << 20;
    fo.readahead_initial = 256 << 10;
    fo.readahead_max = 1 << 20;
    fo.min_stream_span_bytes = 0;
    fo.max_memory_bytes = max_memory_bytes;
    fo.threads = 2;
    fetcher_ = std::make_unique<Fetcher>(cache_.get(), fo);
    tree_ = std::make_unique<RemoteTree>(metadata_.get(), fetcher_.get(), cache_.get(),
                                         source != nullptr ? source : &fake_, kRemoteId, options);
  }

  Result<std::string> Read(const RemoteFile& file, uint64_t offset, size_t len) {
    std::string buf(len, '\0');
    Result<size_t> n =
        tree_->Read(file, offset, std::as_writable_bytes(std::span(buf.data(), len)), nullptr);
    if (!n.ok()) return n.status();
    buf.resize(*n);
    return buf;
  }

  void ExpectFile(const RemoteFile& file, const std::string& contents) {
    Result<std::string> got = Read(file, 0, contents.size() + 1);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->size(), contents.size());
    EXPECT_TRUE(*got == contents) << "wrong bytes for " << file.ref.path;
  }

  // Opens `path`, reads it whole (it must hold `contents`) and lets the cache store its blocks.
  RemoteFile OpenCached(const std::string& path, const std::string& contents) {
    Result<RemoteFile> file = tree_->Open(path);
    EXPECT_TRUE(file.ok()) << path << ": " << file.status().ToString();
    if (!file.ok()) return {};
    ExpectFile(*file, contents);
    EXPECT_TRUE(cache_->Flush().ok());
    EXPECT_EQ(tree_->CachedBytes(*file), contents.size()) << path;
    return *file;
  }

  // Replaces `path` on the remote and waits past the 1 s TTLs, so the next look sees the change.
  void ReplaceAfterTtl(const std::string& path, const std::string& contents) {
    fake_.AddFile(path, contents);
    std::this_thread::sleep_for(kPastOneSecond);
  }

  uint64_t Stats() const { return fake_.counters().stats; }
  uint64_t Lists() const { return fake_.counters().lists; }
  uint64_t NameLists() const { return fake_.counters().name_lists; }
  uint64_t Reads() const { return fake_.counters().reads + fake_.counters().readvs; }

  // Destroyed in reverse order: tree, fetcher, metadata, cache; the fake after all of them.
  TestDir dir_;
  FakeSource fake_{FakeSource::Options{.lists_names = true}};
  std::unique_ptr<BlockCache> cache_;
  std::unique_ptr<MetadataCache> metadata_;
  std::unique_ptr<Fetcher> fetcher_;
  std::unique_ptr<RemoteTree> tree_;
};

void ExpectSameInfo(const ObjectInfo& got, const ObjectInfo& want) {
  EXPECT_EQ(got.name, want.name);
  EXPECT_EQ(got.type, want.type) << want.name;
  EXPECT_EQ(got.size, want.size) << want.name;
  EXPECT_EQ(got.mtime_ns, want.mtime_ns) << want.name;
  EXPECT_EQ(got.mode, want.mode) << want.name;
  EXPECT_EQ(got.version, want.version) << want.name;
  EXPECT_EQ(got.symlink_target, want.symlink_target) << want.name;
}

TEST_F(RemoteTreeTest, StatAndListWithinTheTtlCostNoRemoteRequests) {
  fake_.AddFile("/d/a", "alpha");
  fake_.AddFile("/d/b", "bravo!");
  fake_.AddFile("/d/sub/c", "charlie");
  Start(Ttls(60, 60, 10));
  fake_.ResetCounters();

  Result<ObjectInfo> a = tree_->Stat("/d/a");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ExpectSameInfo(*a, *fake_.Peek("/d/a"));
  EXPECT_EQ(Stats(), 1u);
  for (int i = 0; i < 3; ++i) {
    Result<ObjectInfo> again = tree_->Stat("/d/a");
    ASSERT_TRUE(again.ok());
    ExpectSameInfo(*again, *a);
  }
  EXPECT_EQ(Stats(), 1u);

  Result<std::vector<ObjectInfo>> list = tree_->List("/d");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(Names(*list), (std::vector<std::string>{"a", "b", "sub"}));
  EXPECT_EQ(Lists(), 1u);
  for (int i = 0; i < 3; ++i) {
    Result<std::vector<ObjectInfo>> again = tree_->List("/d");
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(Names(*again), Names(*list));
  }
  Result<RemoteFile> file = tree_->Open("/d/a");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(Lists(), 1u);
  EXPECT_EQ(Stats(), 1u);
}

TEST_F(RemoteTreeTest, StatAndListRevalidateAfterTheTtl) {
  fake_.AddFile("/d/a", "alpha");
  Start(Ttls(1, 1, 1));
  ASSERT_TRUE(tree_->Stat("/d/a").ok());
  ASSERT_TRUE(tree_->List("/d").ok());
  fake_.AddFile("/d/a", "alpha, longer now");
  fake_.AddFile("/d/new", "n");
  fake_.ResetCounters();

  // Within the TTL: the cached answers, no request.
  EXPECT_EQ(tree_->Stat("/d/a")->size, 5u);
  EXPECT_EQ(Names(*tree_->List("/d")), (std::vector<std::string>{"a"}));
  EXPECT_EQ(Stats() + Lists(), 0u);

  std::this_thread::sleep_for(kPastOneSecond);
  Result<ObjectInfo> a = tree_->Stat("/d/a");
  ASSERT_TRUE(a.ok());
  ExpectSameInfo(*a, *fake_.Peek("/d/a"));
  EXPECT_EQ(Stats(), 1u);
  Result<std::vector<ObjectInfo>> list = tree_->List("/d");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(Names(*list), (std::vector<std::string>{"a", "new"}));
  EXPECT_EQ(Lists(), 1u);
  // Fresh again.
  ASSERT_TRUE(tree_->Stat("/d/a").ok());
  ASSERT_TRUE(tree_->List("/d").ok());
  EXPECT_EQ(Stats(), 1u);
  EXPECT_EQ(Lists(), 1u);
}

TEST_F(RemoteTreeTest, MissingPathCostsOneRequestThenNoneWithinTheNegativeTtl) {
  fake_.AddFile("/d/a", "alpha");
  Start(Ttls(60, 60, 1));
  fake_.ResetCounters();
  for (int i = 0; i < 3; ++i) {
    Result<ObjectInfo> r = tree_->Stat("/d/missing");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << r.status().ToString();
  }
  EXPECT_EQ(Stats(), 1u);
  Result<RemoteFile> open = tree_->Open("/d/missing");
  ASSERT_FALSE(open.ok());
  EXPECT_EQ(open.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Stats(), 1u);

  // It appears remotely: still absent within the negative TTL, found after it.
  fake_.AddFile("/d/missing", "here now");
  EXPECT_EQ(tree_->Stat("/d/missing").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Stats(), 1u);
  std::this_thread::sleep_for(kPastOneSecond);
  Result<ObjectInfo> found = tree_->Stat("/d/missing");
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->size, 8u);
  EXPECT_EQ(Stats(), 2u);
  ASSERT_TRUE(tree_->Stat("/d/missing").ok());
  EXPECT_EQ(Stats(), 2u);
}

TEST_F(RemoteTreeTest, ListingFillsTheAttributesOfEveryEntry) {
  for (int i = 0; i < 5; ++i) {
    fake_.AddFile("/d/f" + std::to_string(i), Contents(static_cast<uint64_t>(i), 100 * i + 1));
  }
  fake_.AddDirectory("/d/sub");
  fake_.AddSymlink("/d/link", "f0");
  Start(Ttls(60, 60, 10));
  fake_.ResetCounters();
  Result<std::vector<ObjectInfo>> list = tree_->List("/d");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(list->size(), 7u);
  EXPECT_EQ(Lists(), 1u);
  for (const ObjectInfo& e : *list) {
    const std::string path = "/d/" + e.name;
    Result<ObjectInfo> st = tree_->Stat(path);
    ASSERT_TRUE(st.ok()) << path << ": " << st.status().ToString();
    ExpectSameInfo(*st, *fake_.Peek(path));
    if (e.type == ObjectType::kFile) {
      Result<RemoteFile> f = tree_->Open(path);
      ASSERT_TRUE(f.ok()) << path;
      EXPECT_EQ(f->ref.version, fake_.Peek(path)->version);
      EXPECT_EQ(f->ref.size, fake_.Peek(path)->size);
      EXPECT_EQ(f->key.version_hash, Hash64(f->ref.version));
    }
  }
  EXPECT_EQ(Stats(), 0u) << "a stat of a listed entry must not go remote";
}

TEST_F(RemoteTreeTest, StaleAnswersAreServedWhileTheRemoteIsUnavailable) {
  const std::string contents = Contents(7, 5ull * kBlock + 10);
  fake_.AddFile("/d/f", contents);
  fake_.AddFile("/d/g", "g");
  Start(Ttls(1, 1, 1));
  Result<ObjectInfo> before = tree_->Stat("/d/f");
  ASSERT_TRUE(before.ok());
  Result<std::vector<ObjectInfo>> list_before = tree_->List("/d");
  ASSERT_TRUE(list_before.ok());
  Result<RemoteFile> file = tree_->Open("/d/f");
  ASSERT_TRUE(file.ok());
  ExpectFile(*file, contents);
  ASSERT_TRUE(cache_->Flush().ok());

  std::this_thread::sleep_for(kPastOneSecond);
  fake_.FailNext(1000, Status::Unavailable("fake: remote down"), FakeSource::kAllOps);
  fake_.ResetCounters();

  Result<ObjectInfo> stale = tree_->Stat("/d/f");
  ASSERT_TRUE(stale.ok()) << stale.status().ToString();
  ExpectSameInfo(*stale, *before);
  EXPECT_EQ(Stats(), 1u) << "a stale attribute is revalidated (and the failure absorbed)";
  Result<std::vector<ObjectInfo>> stale_list = tree_->List("/d");
  ASSERT_TRUE(stale_list.ok()) << stale_list.status().ToString();
  EXPECT_EQ(Names(*stale_list), Names(*list_before));
  EXPECT_EQ(Lists(), 1u);
  // A file seen before opens at its cached version and reads from the cache.
  Result<RemoteFile> reopened = tree_->Open("/d/f");
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(reopened->ref.version, before->version);
  ExpectFile(*reopened, contents);
  EXPECT_EQ(Reads(), 0u);

  // Names never seen cannot be answered.
  EXPECT_EQ(tree_->Stat("/d/never").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(tree_->Open("/d/never").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(tree_->List("/never").status().code(), StatusCode::kUnavailable);
  fake_.SetDropped(true);
  EXPECT_EQ(tree_->Stat("/d/never2").status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(tree_->Stat("/d/f").ok());

  // Back up: revalidated for real.
  fake_.ClearFaults();
  EXPECT_EQ(tree_->Stat("/d/never").status().code(), StatusCode::kNotFound);
  fake_.ResetCounters();
  ASSERT_TRUE(tree_->Stat("/d/f").ok());
  ASSERT_TRUE(tree_->List("/d").ok());
  EXPECT_EQ(Stats(), 1u);
  EXPECT_EQ(Lists(), 1u);
  ASSERT_TRUE(tree_->Stat("/d/f").ok());
  EXPECT_EQ(Stats(), 1u) << "fresh again after a successful revalidation";
}

TEST_F(RemoteTreeTest, NewVersionEvictsTheOldBlocksAndAnOpenFileNeverMixesVersions) {
  constexpr uint32_t kBlocks = 16;
  const std::string v1 = Contents(11, kBlocks * kBlock);
  const std::string v2 = Contents(12, kBlocks * kBlock);  // same size: only the version differs
  const std::string sibling = Contents(13, 3 * kBlock);
  fake_.AddFile("/d/f", v1);
  fake_.AddFile("/d/f2", sibling);  // a path that "/d/f" is a string prefix of
  // A small memory budget, so most old blocks are no longer held by the fetcher.
  Start(Ttls(1, 1, 1), /*max_memory_bytes=*/4ull * kBlock);

  Result<RemoteFile> old = tree_->Open("/d/f");
  ASSERT_TRUE(old.ok());
  Result<std::string> first_half = Read(*old, 0, kBlocks / 2 * kBlock);
  ASSERT_TRUE(first_half.ok());
  EXPECT_TRUE(*first_half == v1.substr(0, kBlocks / 2 * kBlock));
  Result<RemoteFile> f2 = tree_->Open("/d/f2");
  ASSERT_TRUE(f2.ok());
  ExpectFile(*f2, sibling);
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(tree_->CachedBytes(*old), kBlocks / 2 * kBlock);

  fake_.AddFile("/d/f", v2);
  const ObjectInfo now = *fake_.Peek("/d/f");
  ASSERT_NE(now.version, old->ref.version);

  // Within attr_ttl an open still sees the version it saw before (at most attr_ttl old).
  Result<RemoteFile> within = tree_->Open("/d/f");
  ASSERT_TRUE(within.ok());
  EXPECT_EQ(within->ref.version, old->ref.version);

  std::this_thread::sleep_for(kPastOneSecond);
  Result<RemoteFile> fresh = tree_->Open("/d/f");
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_EQ(fresh->ref.version, now.version);
  EXPECT_NE(fresh->key.version_hash, old->key.version_hash);

  // The old version's blocks are gone from the cache; the sibling's are not.
  std::vector<uint32_t> all(kBlocks);
  for (uint32_t b = 0; b < kBlocks; ++b) all[b] = b;
  const std::vector<bool> present = cache_->Contains(old->key, all);
  for (uint32_t b = 0; b < kBlocks; ++b) EXPECT_FALSE(present[b]) << "old block " << b;
  EXPECT_EQ(tree_->CachedBytes(*old), 0u);
  EXPECT_EQ(tree_->CachedBytes(*f2), sibling.size());

  ExpectFile(*fresh, v2);

  // The old open file: old bytes or kFailedPrecondition, never bytes of the new version.
  for (uint32_t b = 0; b < kBlocks; ++b) {
    Result<std::string> got = Read(*old, uint64_t{b} * kBlock, kBlock);
    if (got.ok()) {
      EXPECT_TRUE(*got == v1.substr(uint64_t{b} * kBlock, kBlock)) << "old file, block " << b;
    } else {
      EXPECT_EQ(got.status().code(), StatusCode::kFailedPrecondition)
          << "old file, block " << b << ": " << got.status().ToString();
    }
    if (b >= kBlocks / 2) {
      // Never read under the old version and not cached: only the remote has it, which refuses.
      EXPECT_FALSE(got.ok()) << "old file, block " << b << " was served after the change";
    }
  }
  // A range across held and never-held blocks fails as a whole: no old/new mixture.
  Result<std::string> across = Read(*old, (kBlocks / 2 - 1) * kBlock + 100, 2 * kBlock);
  EXPECT_FALSE(across.ok());
  ASSERT_TRUE(cache_->Flush().ok());
  EXPECT_EQ(tree_->CachedBytes(*old), 0u);
  EXPECT_EQ(tree_->CachedBytes(*fresh), v2.size());
}

// The version seen before may come from a listing rather than a stat (ls, then cat): the old
// version's blocks must be evicted all the same.
TEST_F(RemoteTreeTest, NewVersionSeenThroughAListingAlsoEvictsTheOldBlocks) {
  const std::string v1 = Contents(21, 4ull * kBlock);
  const std::string v2 = Contents(22, 4ull * kBlock);
  fake_.AddFile("/d/f", v1);
  Start(Ttls(1, 1, 1));
  ASSERT_TRUE(tree_->List("/d").ok());
  const RemoteFile old = OpenCached("/d/f", v1);
  ASSERT_FALSE(HasFailure());

  ReplaceAfterTtl("/d/f", v2);
  Result<std::vector<ObjectInfo>> list = tree_->List("/d");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].version, fake_.Peek("/d/f")->version);
  Result<RemoteFile> fresh = tree_->Open("/d/f");
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->ref.version, fake_.Peek("/d/f")->version);
  ExpectFile(*fresh, v2);
  EXPECT_EQ(tree_->CachedBytes(old), 0u)
      << "the old version's blocks stay cached when the change was seen by List()";
}

// The first listing of a directory whose file was opened (stat'ed, never listed) has no previous
// listing to compare with: the file's own attributes are the version seen before.
TEST_F(RemoteTreeTest, FirstListingEvictsTheOldBlocksOfAFileOnlyOpenedBefore) {
  const std::string v1 = Contents(23, 3ull * kBlock);
  const std::string v2 = Contents(24, 3ull * kBlock);
  fake_.AddFile("/d/f", v1);
  fake_.AddFile("/e/g", v1);  // a file below another directory, never looked up
  Start(Ttls(1, 1, 1));
  const RemoteFile old = OpenCached("/d/f", v1);
  ASSERT_FALSE(HasFailure());

  ReplaceAfterTtl("/d/f", v2);
  ASSERT_TRUE(tree_->List("/d").ok());
  EXPECT_EQ(tree_->CachedBytes(old), 0u)
      << "the first listing kept the blocks of the version seen by the open";
  ASSERT_TRUE(tree_->List("/e").ok());  // nothing below /e was looked up: nothing to compare
  Result<RemoteFile> fresh = tree_->Open("/d/f");
  ASSERT_TRUE(fresh.ok());
  ExpectFile(*fresh, v2);
}

TEST_F(RemoteTreeTest, OpenOfADirectoryIsAnError) {
  fake_.AddFile("/d/sub/f", "x");
  Start(Ttls(60, 60, 10));
  for (const std::string path : {"/d", "/d/sub", "/"}) {
    Result<RemoteFile> r = tree_->Open(path);
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << path;
  }
  // Also when the attributes come from a listing.
  ASSERT_TRUE(tree_->List("/d").ok());
  EXPECT_EQ(tree_->Open("/d/sub").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(tree_->Open("/d/none").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(tree_->Open("/d/sub/f").ok());
}

TEST_F(RemoteTreeTest, ZeroTtlsRevalidateEveryCall) {
  fake_.AddFile("/d/a", "alpha");
  Start(Ttls(0, 0, 0));
  fake_.ResetCounters();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(tree_->Stat("/d/a").ok());
  EXPECT_EQ(Stats(), 3u);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(tree_->List("/d").ok());
  EXPECT_EQ(Lists(), 3u);
  fake_.ResetCounters();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(tree_->Stat("/d/missing").status().code(), StatusCode::kNotFound);
  }
  EXPECT_EQ(Stats(), 3u);
  fake_.ResetCounters();
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(tree_->Open("/d/a").ok());
  EXPECT_EQ(Stats(), 2u);
  // A listing does not make a stat fresh either.
  fake_.ResetCounters();
  ASSERT_TRUE(tree_->List("/d").ok());
  ASSERT_TRUE(tree_->Stat("/d/a").ok());
  EXPECT_EQ(Stats(), 1u);
  // And a change is seen at once.
  fake_.AddFile("/d/a", "alpha 2");
  EXPECT_EQ(tree_->Stat("/d/a")->size, 7u);
}

// ---- names first ----

RemoteTreeOptions NamesFirst(size_t entries) {
  RemoteTreeOptions o = Ttls(60, 60, 10);
  o.names_first_entries = entries;
  return o;
}

std::vector<std::string> AddFiles(FakeSource& fake, const std::string& dir, int n) {
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    names.push_back("f" + std::to_string(i));
    fake.AddFile(dir + "/" + names.back(), std::string(static_cast<size_t>(i) + 1, 'x'));
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST_F(RemoteTreeTest, LargeColdDirectoryIsAnsweredWithItsNamesWhileItsAttributesAreFetched) {
  std::vector<std::string> names = AddFiles(fake_, "/big", 5);
  fake_.AddDirectory("/big/sub");
  names.push_back("sub");
  Start(NamesFirst(3));
  fake_.ResetCounters();
  fake_.SetListsPaused(true);  // the listing with attributes is asked for, and held

  Result<DirNames> first = tree_->ListNamesFirst("/big");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(first->names_only);
  EXPECT_EQ(Names(first->entries), names);
  EXPECT_EQ(NameLists(), 1u);
  EXPECT_EQ(tree_->Stats().names_first, 1u);

  // A stat of an entry waits for that listing rather than asking the remote itself; so does a
  // second reader of the directory.
  std::atomic<bool> stat_done{false}, list_done{false};
  Result<ObjectInfo> f3 = Status::Internal("not run");
  Result<DirNames> second = Status::Internal("not run");
  std::thread stat_thread([&] {
    f3 = tree_->Stat("/big/f3");
    stat_done = true;
  });
  std::thread list_thread([&] {
    second = tree_->ListNamesFirst("/big");
    list_done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(stat_done) << "the stat did not wait for the listing in flight";
  EXPECT_FALSE(list_done) << "the second reader did not wait for the listing in flight";
  fake_.SetListsPaused(false);
  stat_thread.join();
  list_thread.join();
  ASSERT_TRUE(f3.ok()) << f3.status().ToString();
  ExpectSameInfo(*f3, *fake_.Peek("/big/f3"));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_FALSE(second->names_only);
  EXPECT_EQ(Names(second->entries), names);
  for (const ObjectInfo& e : second->entries) ExpectSameInfo(e, *fake_.Peek("/big/" + e.name));

  // Every entry's attributes came with that one listing.
  for (const std::string& name : names) ASSERT_TRUE(tree_->Stat("/big/" + name).ok()) << name;
  EXPECT_EQ(Stats(), 0u);
  EXPECT_EQ(Lists(), 1u);
  EXPECT_EQ(NameLists(), 1u);
  Result<DirNames> warm = tree_->ListNamesFirst("/big");
  ASSERT_TRUE(warm.ok());
  EXPECT_FALSE(warm->names_only);
  EXPECT_EQ(Lists(), 1u);
  EXPECT_EQ(NameLists(), 1u);
}

TEST_F(RemoteTreeTest, SmallColdDirectoryWaitsForItsAttributes) {
  const std::vector<std::string> names = AddFiles(fake_, "/small", 3);
  Start(NamesFirst(4));
  fake_.ResetCounters();
  Result<DirNames> got = tree_->ListNamesFirst("/small");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_FALSE(got->names_only);
  EXPECT_EQ(Names(got->entries), names);
  for (const ObjectInfo& e : got->entries) ExpectSameInfo(e, *fake_.Peek("/small/" + e.name));
  EXPECT_EQ(NameLists(), 1u);
  EXPECT_EQ(Lists(), 1u);
  EXPECT_EQ(tree_->Stats().names_first, 0u);
}

TEST_F(RemoteTreeTest, NamesFirstOffOrWithoutCheapNamesIsOneListing) {
  const std::vector<std::string> names = AddFiles(fake_, "/d", 5);
  FakeSource plain;  // names cost a listing there (S3, WebDAV)
  AddFiles(plain, "/d", 5);
  for (auto [threshold, source] : {std::pair<size_t, FakeSource*>{0, &fake_}, {1, &plain}}) {
    Start(NamesFirst(threshold), 64ull << 20, source);
    ASSERT_TRUE(metadata_->Forget(kRemoteId, "/d").ok());
    source->ResetCounters();
    Result<DirNames> got = tree_->ListNamesFirst("/d");
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_FALSE(got->names_only);
    EXPECT_EQ(Names(got->entries), names);
    EXPECT_EQ(source->counters().name_lists, 0u);
    EXPECT_EQ(source->counters().lists, 1u);
  }
  tree_.reset();  // before `plain`
}

TEST_F(RemoteTreeTest, FailedNamesFallBackToTheListingWithAttributes) {
  const std::vector<std::string> names = AddFiles(fake_, "/d", 5);
  Start(NamesFirst(1));
  fake_.FailNext(1, Status::Unavailable("fake: names dropped"), FakeSource::kNamesOp);
  Result<DirNames> got = tree_->ListNamesFirst("/d");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_FALSE(got->names_only);
  EXPECT_EQ(Names(got->entries), names);
}

TEST_F(RemoteTreeTest, FailedListingBehindTheNamesLetsEachStatAskItself) {
  const std::vector<std::string> names = AddFiles(fake_, "/d", 5);
  Start(NamesFirst(1));
  fake_.ResetCounters();
  fake_.SetListsPaused(true);
  fake_.FailNext(1, Status::Unavailable("fake: listing dropped"), FakeSource::kListOp);
  Result<DirNames> got = tree_->ListNamesFirst("/d");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got->names_only);
  fake_.SetListsPaused(false);
  Result<ObjectInfo> f0 = tree_->Stat("/d/f0");
  ASSERT_TRUE(f0.ok()) << f0.status().ToString();
  ExpectSameInfo(*f0, *fake_.Peek("/d/f0"));
  EXPECT_EQ(Stats(), 1u);
  EXPECT_EQ(Lists(), 1u);
  // The directory was not cached: the next reader lists it again, and it lands.
  Result<DirNames> again = tree_->ListNamesFirst("/d");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  Result<std::vector<ObjectInfo>> listed = tree_->List("/d");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(Names(*listed), names);
  EXPECT_EQ(Lists(), 2u);
}

TEST_F(RemoteTreeTest, ListingInFlightIsPersistedBeforeTheTreeIsDestroyed) {
  const std::vector<std::string> names = AddFiles(fake_, "/d", 5);
  Start(NamesFirst(1));
  fake_.SetListsPaused(true);
  Result<DirNames> got = tree_->ListNamesFirst("/d");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->names_only);
  std::thread unpause([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    fake_.SetListsPaused(false);
  });
  tree_.reset();  // waits for the listing
  unpause.join();
  fake_.ResetCounters();
  tree_ = std::make_unique<RemoteTree>(metadata_.get(), fetcher_.get(), cache_.get(), &fake_,
                                       kRemoteId, NamesFirst(1));
  Result<std::vector<ObjectInfo>> listed = tree_->List("/d");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(Names(*listed), names);
  EXPECT_EQ(Lists(), 0u) << "the listing in flight at destruction was not persisted";
}

}  // namespace
}  // namespace hoardfs
