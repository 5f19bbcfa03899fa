// The block index's memo (cache/block_entry_memo.h): what it remembers, its bound, and that it
// never holds a value older than the index's, alone and in front of a real RocksDB index.
#include "cache/block_entry_memo.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <map>
#include <random>
#include <thread>
#include <vector>

#include "cache/block_index.h"
#include "cache/block_key.h"
#include "test_dir.h"

namespace hoardfs {
namespace {

BlockEntry EntryAt(uint32_t slot, uint32_t generation = 1) {
  BlockEntry e;
  e.slot = slot;
  e.length = 4096;
  e.generation = generation;
  return e;
}

std::string Key(uint32_t block) { return BlockKey(FileKey{1, "/store/run/file.root", 7}, block); }

// The slot of what the memo knows of `key`: -1 unknown, -2 known absent.
int64_t Known(BlockEntryMemo& memo, std::string_view key) {
  std::optional<BlockEntry> e;
  if (!memo.Find(key, &e)) return -1;
  return e.has_value() ? int64_t{e->slot} : -2;
}

TEST(BlockEntryMemoTest, RemembersEntriesAndAbsences) {
  BlockEntryMemo memo(1024);
  EXPECT_EQ(Known(memo, Key(0)), -1);
  memo.Fill(Key(0), EntryAt(5), memo.Ticket(Key(0)));
  memo.Fill(Key(1), std::nullopt, memo.Ticket(Key(1)));
  EXPECT_EQ(Known(memo, Key(0)), 5);
  EXPECT_EQ(Known(memo, Key(1)), -2);
  memo.Apply(Key(1), EntryAt(9));    // inserted
  memo.Apply(Key(0), std::nullopt);  // evicted
  EXPECT_EQ(Known(memo, Key(0)), -2);
  EXPECT_EQ(Known(memo, Key(1)), 9);
  memo.Forget(Key(1));
  EXPECT_EQ(Known(memo, Key(1)), -1);
  EXPECT_EQ(memo.size(), 1u);
}

TEST(BlockEntryMemoTest, FillReadBeforeAChangeIsDropped) {
  BlockEntryMemo memo(1024);
  // A reader takes its ticket and reads slot 5; the writer then moves the key to slot 6.
  const uint64_t ticket = memo.Ticket(Key(0));
  memo.Apply(Key(0), EntryAt(6));
  memo.Fill(Key(0), EntryAt(5), ticket);
  EXPECT_EQ(Known(memo, Key(0)), 6);
  // Even when the applied value is gone from the memo again (forgotten, or replaced), a fill
  // read before the change must not come back.
  const uint64_t before_delete = memo.Ticket(Key(0));
  memo.Apply(Key(0), std::nullopt);
  memo.Forget(Key(0));
  memo.Fill(Key(0), EntryAt(6), before_delete);
  EXPECT_EQ(Known(memo, Key(0)), -1);
  // A fill does not overwrite what the memo knows.
  memo.Apply(Key(0), EntryAt(7));
  memo.Fill(Key(0), EntryAt(8), memo.Ticket(Key(0)));
  EXPECT_EQ(Known(memo, Key(0)), 7);
}

TEST(BlockEntryMemoTest, StaysWithinItsCapacityAndKeepsKeysInUse) {
  BlockEntryMemo memo(64);
  ASSERT_GE(memo.capacity(), 64u);
  const std::string hot = Key(1u << 30);
  memo.Apply(hot, EntryAt(1));
  for (uint32_t b = 0; b < 10000; ++b) {
    memo.Fill(Key(b), EntryAt(b + 100), memo.Ticket(Key(b)));
    ASSERT_EQ(Known(memo, hot), 1) << "the key in use was replaced after " << b << " fills";
  }
  EXPECT_LE(memo.size(), memo.capacity());
  // Cold keys were replaced: most of the filled ones are unknown again.
  size_t known = 0;
  for (uint32_t b = 0; b < 10000; ++b) known += Known(memo, Key(b)) >= 0 ? 1 : 0;
  EXPECT_LE(known, memo.capacity());
}

TEST(BlockEntryMemoTest, DisabledKnowsNothing) {
  BlockEntryMemo memo(0);
  EXPECT_FALSE(memo.enabled());
  memo.Apply(Key(0), EntryAt(1));
  memo.Fill(Key(1), EntryAt(2), memo.Ticket(Key(1)));
  EXPECT_EQ(Known(memo, Key(0)), -1);
  EXPECT_EQ(Known(memo, Key(1)), -1);
  EXPECT_EQ(memo.size(), 0u);
}

// One writer changes keys of a "store" (a locked map standing in for RocksDB) and applies each
// change after it; readers that miss take a ticket, read the store and fill. Whatever the
// interleaving, once the writer is done the memo knows no value the store does not hold.
TEST(BlockEntryMemoTest, ConcurrentFillsNeverOutliveAChange) {
  constexpr uint32_t kKeys = 64;
  BlockEntryMemo memo(kKeys / 2);  // small: keys come and go, so fills race with changes
  std::mutex store_mu;
  std::map<std::string, uint32_t> store;  // key -> slot; missing: absent
  std::atomic<bool> done{false};

  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937 rng(r);
      while (!done.load()) {
        const std::string key = Key(rng() % kKeys);
        std::optional<BlockEntry> e;
        if (memo.Find(key, &e)) continue;
        const uint64_t ticket = memo.Ticket(key);
        std::optional<BlockEntry> read;
        {
          std::lock_guard<std::mutex> lock(store_mu);
          if (auto it = store.find(key); it != store.end()) read = EntryAt(it->second);
        }
        memo.Fill(key, read, ticket);
      }
    });
  }
  std::mt19937 rng(99);
  for (uint32_t i = 0; i < 200000; ++i) {
    const std::string key = Key(rng() % kKeys);
    std::optional<BlockEntry> value;
    if (rng() % 3 != 0) value = EntryAt(i);
    {
      std::lock_guard<std::mutex> lock(store_mu);
      if (value.has_value()) {
        store[key] = value->slot;
      } else {
        store.erase(key);
      }
    }
    memo.Apply(key, value);
  }
  done = true;
  for (auto& t : readers) t.join();
  size_t known = 0;
  for (uint32_t k = 0; k < kKeys; ++k) {
    const std::string key = Key(k);
    const int64_t want = store.contains(key) ? int64_t{store[key]} : -2;
    const int64_t got = Known(memo, key);
    if (got == -1) continue;
    ++known;
    EXPECT_EQ(got, want) << "key " << k;
  }
  EXPECT_GT(known, 0u);
}

BlockIndexOptions SmallIndex(const testing::TestDir& dir) {
  BlockIndexOptions io;
  io.dir = dir.Sub("index");
  io.block_cache_bytes = 4 << 20;
  io.write_buffer_bytes = 4 << 20;
  return io;
}

// In front of RocksDB: every commit that changes a block key reaches the memo, so lookups answered
// from memory agree with the index.
TEST(BlockEntryMemoTest, IndexLookupsFollowCommits) {
  testing::TestDir dir;
  const BlockIndexOptions io = SmallIndex(dir);
  auto opened = BlockIndex::Open(io);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  BlockIndex& index = **opened;
  const std::vector<std::string> keys = {Key(0), Key(1)};
  auto slots = [&] {
    std::vector<int64_t> out;
    for (const auto& e : index.MultiGet(keys))
      out.push_back(e.has_value() ? int64_t{e->slot} : int64_t{-2});
    return out;
  };

  EXPECT_EQ(slots(), (std::vector<int64_t>{-2, -2}));  // absences, now remembered
  const uint64_t hits = index.memo_hits();
  EXPECT_EQ(slots(), (std::vector<int64_t>{-2, -2}));
  EXPECT_EQ(index.memo_hits(), hits + 2);

  BlockIndex::Batch put(&index);
  put.PutBlock(keys[0], EntryAt(3));
  put.PutBlock(keys[1], EntryAt(4));
  ASSERT_TRUE(index.Commit(&put, /*sync=*/false).ok());
  EXPECT_EQ(slots(), (std::vector<int64_t>{3, 4}));

  BlockIndex::Batch change(&index);
  change.DeleteBlock(keys[0]);
  change.PutBlock(keys[1], EntryAt(8, 2));
  ASSERT_TRUE(index.Commit(&change, /*sync=*/false).ok());
  EXPECT_EQ(slots(), (std::vector<int64_t>{-2, 8}));
  EXPECT_EQ(index.memo_hits(), hits + 6);
  EXPECT_EQ(index.memo_keys(), 2u);

  // The memo agrees with RocksDB itself.
  auto direct = index.Get(keys[1]);
  ASSERT_TRUE(direct.ok());
  ASSERT_TRUE(direct->has_value());
  EXPECT_EQ((*direct)->slot, 8u);
  EXPECT_EQ((*direct)->generation, 2u);
}

// An undecodable value is not remembered: each lookup reads it again, misses and counts it.
TEST(BlockEntryMemoTest, UndecodableValuesAreNotRemembered) {
  testing::TestDir dir;
  const BlockIndexOptions io = SmallIndex(dir);
  ASSERT_TRUE(BlockIndex::Open(io).ok());  // creates the database and its column families
  const std::string key = Key(0);
  {  // A value one byte short, written behind the index's back.
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const char* name : {"default", "blocks", "usage", "meta", "files"}) {
      families.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), io.dir, families, &handles, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    std::string bad = EntryAt(1).Encode();
    bad.pop_back();
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[1], key, bad).ok());
    for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
    ASSERT_TRUE(db->Close().ok());
  }
  auto opened = BlockIndex::Open(io);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  BlockIndex& index = **opened;
  for (int i = 0; i < 2; ++i) EXPECT_FALSE(index.MultiGet(std::span(&key, 1))[0].has_value());
  EXPECT_EQ(index.decode_errors(), 2u);
  EXPECT_EQ(index.memo_keys(), 0u);
  EXPECT_EQ(index.memo_hits(), 0u);
}

}  // namespace
}  // namespace hoardfs
