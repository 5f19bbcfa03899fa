#include "cache/block_key.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "cache/block_entry.h"
#include "cache/dataset_map.h"
#include "cache/slot_allocator.h"

namespace hoardfs {
namespace {

TEST(BlockKeyTest, RoundTrip) {
  FileKey f{7, "/store/data/Run 2024/ü file+=.root", 0x0123456789abcdefULL};
  std::string key = BlockKey(f, 0xdeadbeef);
  auto d = DecodeBlockKey(key);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->remote_id, 7u);
  EXPECT_EQ(d->path, f.path);
  EXPECT_EQ(d->version_hash, f.version_hash);
  EXPECT_EQ(d->block, 0xdeadbeefu);
  SetBlockIndex(&key, 3);
  EXPECT_EQ(DecodeBlockKey(key)->block, 3u);
  EXPECT_EQ(key.substr(0, key.size() - kBlockIndexBytes), FilePrefix(f));
}

TEST(BlockKeyTest, RejectsMalformed) {
  EXPECT_FALSE(DecodeBlockKey("").has_value());
  EXPECT_FALSE(DecodeBlockKey("short").has_value());
  std::string no_slash = BlockKey(FileKey{1, "/a", 2}, 3);
  no_slash[4] = 'x';
  EXPECT_FALSE(DecodeBlockKey(no_slash).has_value());
  EXPECT_FALSE(ValidatePath("").ok());
  EXPECT_FALSE(ValidatePath("a/b").ok());
  EXPECT_FALSE(ValidatePath("/a/").ok());
  EXPECT_TRUE(ValidatePath("/").ok());
  EXPECT_TRUE(ValidatePath("/a b/ü").ok());
}

TEST(BlockKeyTest, OrderKeepsFilesAndPrefixesContiguous) {
  std::vector<std::string> keys;
  for (const char* p : {"/a", "/a/b", "/a-b", "/a/b/c", "/a/bc", "/b"}) {
    for (uint64_t v : {1ULL, 2ULL}) {
      for (uint32_t blk : {0u, 1u, 256u, 65536u}) keys.push_back(BlockKey(FileKey{1, p, v}, blk));
    }
  }
  keys.push_back(BlockKey(FileKey{0, "/z", 1}, 0));
  keys.push_back(BlockKey(FileKey{2, "/a", 1}, 0));
  std::sort(keys.begin(), keys.end());
  // Blocks of one file version are ascending and adjacent.
  auto first = std::find(keys.begin(), keys.end(), BlockKey(FileKey{1, "/a/b", 1}, 0));
  ASSERT_NE(first, keys.end());
  for (uint32_t blk : {1u, 256u, 65536u}) {
    ++first;
    EXPECT_EQ(*first, BlockKey(FileKey{1, "/a/b", 1}, blk));
  }
  // Every key in the ranges of "/a/b" is under /a/b, and every such key is in a range.
  auto ranges = PathRanges(1, "/a/b");
  for (const std::string& k : keys) {
    bool in_range = false;
    for (const auto& [b, e] : ranges) in_range |= (k >= b && k < e);
    auto d = DecodeBlockKey(k);
    const bool under = d->remote_id == 1 && PathHasPrefix(d->path, "/a/b");
    EXPECT_EQ(in_range, under) << d->path;
  }
  auto all = PathRanges(1, "/");
  for (const std::string& k : keys) {
    const bool in = k >= all[0].first && k < all[0].second;
    EXPECT_EQ(in, DecodeBlockKey(k)->remote_id == 1);
  }
}

TEST(BlockKeyTest, PathHasPrefixIsSegmentAware) {
  EXPECT_TRUE(PathHasPrefix("/a/b", "/a/b"));
  EXPECT_TRUE(PathHasPrefix("/a/b/c", "/a/b"));
  EXPECT_FALSE(PathHasPrefix("/a/bc", "/a/b"));
  EXPECT_FALSE(PathHasPrefix("/a", "/a/b"));
  EXPECT_TRUE(PathHasPrefix("/x", "/"));
}

TEST(BlockEntryTest, RoundTripAndRejects) {
  BlockEntry e{12345, 1 << 20, 0xCAFEBABE, 77, 1ULL << 40, BlockEntry::kFlagInMain};
  std::string v = e.Encode();
  EXPECT_EQ(v.size(), BlockEntry::kEncodedSize);
  auto d = BlockEntry::Decode(v);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->slot, e.slot);
  EXPECT_EQ(d->length, e.length);
  EXPECT_EQ(d->crc, e.crc);
  EXPECT_EQ(d->generation, e.generation);
  EXPECT_EQ(d->sequence, e.sequence);
  EXPECT_EQ(d->flags, e.flags);
  EXPECT_FALSE(BlockEntry::Decode(v.substr(1)).has_value());
  EXPECT_FALSE(BlockEntry::Decode("").has_value());
  BlockEntry zero;
  EXPECT_FALSE(BlockEntry::Decode(zero.Encode()).has_value());  // length 0 is never written
}

TEST(DatasetMapTest, ConfiguredPrefixesThenDepth) {
  DatasetMap m({"/store/mc", "/store/mc/Run3"}, 2);
  EXPECT_EQ(m.Resolve("/store/mc/Run3/x/y.root"), "/store/mc/Run3");
  EXPECT_EQ(m.Resolve("/store/mc/other.root"), "/store/mc");
  EXPECT_EQ(m.Resolve("/store/data/2024/f.root"), "/store/data");
  EXPECT_EQ(m.Resolve("/store/f.root"), "/store");
  EXPECT_EQ(m.Resolve("/f.root"), "/");
  EXPECT_EQ(m.Resolve("/store/mcx/a/b"), "/store/mcx");
  EXPECT_NE(m.Fingerprint(), DatasetMap({}, 2).Fingerprint());
}

TEST(SlotAllocatorTest, LowestFreeFirstAndLimit) {
  SlotAllocator a(130);
  for (uint32_t i = 0; i < 130; ++i) EXPECT_EQ(a.Allocate(1000), i);
  EXPECT_FALSE(a.Allocate(1000).has_value());
  a.Free(70);
  a.Free(3);
  EXPECT_EQ(a.used(), 128u);
  EXPECT_EQ(a.Allocate(1000), 3u);
  EXPECT_FALSE(a.Allocate(50).has_value());  // 70 is free but beyond the limit
  EXPECT_EQ(a.Allocate(71), 70u);
  a.Grow(200);
  EXPECT_EQ(a.Allocate(1000), 130u);
  EXPECT_TRUE(a.IsUsed(130));
  EXPECT_FALSE(a.IsUsed(131));
  a.MarkUsed(199);
  a.MarkUsed(199);
  EXPECT_EQ(a.used(), 132u);
}

TEST(SlotAllocatorTest, BackedAndUnbackedSlots) {
  SlotAllocator a(0);
  EXPECT_FALSE(a.Allocate().has_value());
  EXPECT_EQ(a.FindUnbacked(8), (std::pair<uint64_t, uint64_t>{0, 8}));
  a.MarkBacked(0, 100);
  EXPECT_EQ(a.size(), 100u);
  EXPECT_EQ(a.backed(), 100u);
  for (uint32_t i = 0; i < 100; ++i) EXPECT_EQ(a.Allocate(), i);
  EXPECT_FALSE(a.Allocate().has_value());
  EXPECT_EQ(a.FindUnbacked(8), (std::pair<uint64_t, uint64_t>{100, 8}));
  for (uint32_t i : {10u, 11u, 12u, 70u, 99u}) a.Free(i);
  EXPECT_EQ(a.FreeBacked(3), (std::vector<uint32_t>{99, 70, 12}));
  a.MarkUnbacked(11);
  a.MarkUnbacked(12);
  EXPECT_EQ(a.backed(), 98u);
  EXPECT_FALSE(a.IsBacked(11));
  EXPECT_EQ(a.FindUnbacked(8), (std::pair<uint64_t, uint64_t>{11, 2}));  // the hole 11..12
  EXPECT_EQ(a.Allocate(), 10u);  // lowest free *backed* slot
  EXPECT_EQ(a.Allocate(), 70u);
  a.MarkUsed(11);  // recovery: an entry on a slot makes it backed
  EXPECT_TRUE(a.IsBacked(11));
  EXPECT_EQ(a.FindUnbacked(8), (std::pair<uint64_t, uint64_t>{12, 1}));
  a.MarkBacked(12, 1);
  EXPECT_EQ(a.Allocate(), 12u);
  EXPECT_EQ(a.Allocate(), 99u);
  EXPECT_FALSE(a.Allocate().has_value());
  EXPECT_TRUE(a.FreeBacked(10).empty());
}

}  // namespace
}  // namespace hoardfs
