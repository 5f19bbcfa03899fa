#include "cache/metadata_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <thread>

#include "cache/block_cache.h"
#include "tests/cache/test_dir.h"

namespace hoardfs {
namespace {

using std::chrono::seconds;

BlockCacheOptions Options(const std::string& dir) {
  BlockCacheOptions o;
  o.dir = dir;
  o.block_size = 64 * 1024;
  o.capacity_bytes = 16 * o.block_size;
  o.free_space_floor_bytes = 0;
  return o;
}

ObjectInfo File(const std::string& name, uint64_t size, const std::string& version) {
  ObjectInfo i;
  i.name = name;
  i.type = ObjectType::kFile;
  i.size = size;
  i.mtime_ns = 1700000000123456789;
  i.mode = 0644;
  i.version = version;
  return i;
}

TEST(MetadataCacheTest, InodesAreStableAcrossRestarts) {
  testing::TestDir dir;
  uint64_t a = 0, b = 0, c = 0;
  {
    auto cache = BlockCache::Open(Options(dir.path()));
    ASSERT_TRUE(cache.ok()) << cache.status().ToString();
    auto m = MetadataCache::Open((*cache)->index());
    ASSERT_TRUE(m.ok());
    a = *(*m)->InodeOf(0, "/a");
    b = *(*m)->InodeOf(0, "/a/b ü");
    c = *(*m)->InodeOf(1, "/a");  // another remote
    EXPECT_EQ(*(*m)->InodeOf(0, "/a"), a);
    EXPECT_NE(a, b);
    EXPECT_NE(a, c);
    EXPECT_GE(a, 2u);  // 1 is FUSE's root
  }
  auto cache = BlockCache::Open(Options(dir.path()));
  ASSERT_TRUE(cache.ok());
  auto m = MetadataCache::Open((*cache)->index());
  ASSERT_TRUE(m.ok());
  auto p = (*m)->PathOf(b);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->path, "/a/b ü");
  EXPECT_EQ(p->remote_id, 0u);
  EXPECT_EQ(*(*m)->InodeOf(0, "/a"), a);
  const uint64_t d = *(*m)->InodeOf(0, "/new");
  EXPECT_GT(d, std::max({a, b, c}));  // never reused
  EXPECT_FALSE((*m)->PathOf(999999).has_value());
}

// A directory's inodes in one batch: the same numbers as one by one, persisted, never reused.
TEST(MetadataCacheTest, InodesOfManyPathsAgreeWithInodeOfAndPersist) {
  testing::TestDir dir;
  std::vector<std::string> paths;
  for (int i = 0; i < 2000; ++i) paths.push_back("/wide/f" + std::to_string((i * 7919) % 2000));
  std::vector<uint64_t> first;
  uint64_t known = 0;
  {
    auto cache = BlockCache::Open(Options(dir.path()));
    ASSERT_TRUE(cache.ok()) << cache.status().ToString();
    auto m = std::move(MetadataCache::Open((*cache)->index())).value();
    known = *m->InodeOf(0, paths[10]);  // one assigned before
    auto inodes = m->InodesOf(0, paths);
    ASSERT_TRUE(inodes.ok()) << inodes.status().ToString();
    first = *inodes;
    EXPECT_EQ(first[10], known);
    std::set<uint64_t> distinct(first.begin(), first.end());
    EXPECT_EQ(distinct.size(), paths.size());
    for (size_t i = 0; i < paths.size(); i += 97) EXPECT_EQ(*m->InodeOf(0, paths[i]), first[i]);
    EXPECT_EQ(*m->InodesOf(0, paths), first);  // again: the same
  }
  auto cache = BlockCache::Open(Options(dir.path()));
  ASSERT_TRUE(cache.ok());
  auto m = std::move(MetadataCache::Open((*cache)->index())).value();
  for (size_t i = 0; i < paths.size(); i += 131) {
    auto p = m->PathOf(first[i]);
    ASSERT_TRUE(p.has_value()) << paths[i];
    EXPECT_EQ(p->path, paths[i]);
  }
  EXPECT_EQ(*m->InodesOf(0, paths), first);
  const uint64_t next = *m->InodeOf(0, "/wide/new");
  EXPECT_GT(next, *std::max_element(first.begin(), first.end()));
}

std::vector<std::string> Children(const std::string& dir, int n) {
  std::vector<std::string> paths;
  for (int i = 0; i < n; ++i) paths.push_back(dir + "/f" + std::to_string(i));
  return paths;
}

// The stored path key of (remote 0, path), as MetadataCache writes it.
bool Stored(BlockIndex* index, const std::string& path) {
  std::string key(1, 'P');
  key.append(4, '\0');
  key += path;
  auto v = index->Get(BlockIndex::Table::kFiles, key);
  return v.ok() && v->has_value();
}

// A directory none of whose entries has a stored number skips the lookups; one with a stored
// entry (or a stored entry deeper down) still finds it, also after a restart.
TEST(MetadataCacheTest, InodesOfANewDirectoryAndOfOneWithStoredEntries) {
  testing::TestDir dir;
  const std::vector<std::string> fresh = Children("/fresh", 50);
  const std::vector<std::string> known = Children("/known", 50);
  const std::vector<std::string> deep = Children("/deep", 50);
  uint64_t known7 = 0, deep_sub = 0;
  std::vector<uint64_t> fresh_inodes;
  {
    auto cache = BlockCache::Open(Options(dir.path()));
    ASSERT_TRUE(cache.ok()) << cache.status().ToString();
    auto m = std::move(MetadataCache::Open((*cache)->index())).value();
    ASSERT_TRUE(m->InodeOf(0, "/freshly/x").ok());  // a sibling sharing the name's start
    known7 = *m->InodeOf(0, known[7]);
    deep_sub = *m->InodeOf(0, "/deep/f3/inner");
    fresh_inodes = *m->InodesOf(0, fresh);
    EXPECT_EQ(std::set<uint64_t>(fresh_inodes.begin(), fresh_inodes.end()).size(), fresh.size());
  }
  auto cache = BlockCache::Open(Options(dir.path()));
  ASSERT_TRUE(cache.ok());
  auto m = std::move(MetadataCache::Open((*cache)->index())).value();
  EXPECT_EQ(*m->InodesOf(0, fresh), fresh_inodes);
  const std::vector<uint64_t> k = *m->InodesOf(0, known);
  EXPECT_EQ(k[7], known7);
  const std::vector<uint64_t> d = *m->InodesOf(0, deep);
  EXPECT_EQ(std::set<uint64_t>(d.begin(), d.end()).size(), deep.size());
  EXPECT_EQ(m->PathOf(deep_sub)->path, "/deep/f3/inner");
  EXPECT_EQ(*m->InodeOf(0, "/deep/f3/inner"), deep_sub);
}

// Numbers only readdir shows (names first) are assigned in memory and stored by the next flush,
// by the first InodeOf that returns one of them (the kernel may hold that as a node id), or when
// the cache closes; never reused either way.
TEST(MetadataCacheTest, NumbersAssignedInMemoryAreStoredBeforeTheKernelCanHoldThem) {
  testing::TestDir dir;
  const std::vector<std::string> a = Children("/a", 20);
  const std::vector<std::string> b = Children("/b", 20);
  std::vector<uint64_t> a_inodes, b_inodes;
  {
    auto cache = BlockCache::Open(Options(dir.path()));
    ASSERT_TRUE(cache.ok()) << cache.status().ToString();
    BlockIndex* index = (*cache)->index();
    auto m = std::move(MetadataCache::Open(index)).value();
    a_inodes = *m->InodesOf(0, a, /*durable=*/false);
    EXPECT_FALSE(Stored(index, a[0]));
    EXPECT_EQ(m->PathOf(a_inodes[5])->path, a[5]);
    EXPECT_EQ(*m->InodesOf(0, a, /*durable=*/false), a_inodes);
    EXPECT_EQ(*m->InodeOf(0, a[5]), a_inodes[5]);
    for (const std::string& p : a) EXPECT_TRUE(Stored(index, p)) << p;

    b_inodes = *m->InodesOf(0, b, /*durable=*/false);
    EXPECT_FALSE(Stored(index, b[3]));
    ASSERT_TRUE(m->FlushInodes().ok());
    EXPECT_TRUE(Stored(index, b[3]));

    const std::vector<std::string> c = Children("/c", 20);
    ASSERT_TRUE(m->InodesOf(0, c, /*durable=*/false).ok());
    EXPECT_FALSE(Stored(index, c[0]));
    ASSERT_TRUE(m->InodesOf(0, Children("/d", 20)).ok());  // durable: stores /c's too
    EXPECT_TRUE(Stored(index, c[0]));
    ASSERT_TRUE(m->InodesOf(0, Children("/e", 20), /*durable=*/false).ok());
  }  // closing stores /e's
  auto cache = BlockCache::Open(Options(dir.path()));
  ASSERT_TRUE(cache.ok());
  auto m = std::move(MetadataCache::Open((*cache)->index())).value();
  EXPECT_TRUE(Stored((*cache)->index(), "/e/f19"));
  EXPECT_EQ(*m->InodesOf(0, a), a_inodes);
  EXPECT_EQ(*m->InodesOf(0, b), b_inodes);
  EXPECT_GT(*m->InodeOf(0, "/new"), *std::max_element(b_inodes.begin(), b_inodes.end()));
}

TEST(MetadataCacheTest, AttributesNegativesAndFreshness) {
  testing::TestDir dir;
  auto cache = BlockCache::Open(Options(dir.path()));
  ASSERT_TRUE(cache.ok());
  auto m = std::move(MetadataCache::Open((*cache)->index())).value();
  EXPECT_FALSE(m->LookupAttr(0, "/x", seconds(60)).has_value());
  ASSERT_TRUE(m->PutAttr(0, "/x", File("x", 42, "v1")).ok());
  auto got = m->LookupAttr(0, "/x", seconds(60));
  ASSERT_TRUE(got.has_value() && got->value.has_value());
  EXPECT_TRUE(got->fresh);
  EXPECT_EQ(got->value->size, 42u);
  EXPECT_EQ(got->value->version, "v1");
  EXPECT_EQ(got->value->mtime_ns, 1700000000123456789);
  EXPECT_FALSE(m->LookupAttr(0, "/x", seconds(0))->fresh);  // stale, still returned
  ASSERT_TRUE(m->PutNegative(0, "/gone").ok());
  auto neg = m->LookupAttr(0, "/gone", seconds(60));
  ASSERT_TRUE(neg.has_value());
  EXPECT_FALSE(neg->value.has_value());
  ASSERT_TRUE(m->Forget(0, "/x").ok());
  EXPECT_FALSE(m->LookupAttr(0, "/x", seconds(60)).has_value());
}

TEST(MetadataCacheTest, ListingStoresEntryAttributes) {
  testing::TestDir dir;
  auto cache = BlockCache::Open(Options(dir.path()));
  ASSERT_TRUE(cache.ok());
  auto m = std::move(MetadataCache::Open((*cache)->index())).value();
  std::vector<ObjectInfo> entries;
  for (int i = 0; i < 20000; ++i) entries.push_back(File("f" + std::to_string(i), i, "v"));
  ObjectInfo sub;
  sub.name = "sub dir";
  sub.type = ObjectType::kDirectory;
  entries.push_back(sub);
  ASSERT_TRUE(m->PutListing(0, "/big", entries).ok());
  auto l = m->LookupListing(0, "/big", seconds(60));
  ASSERT_TRUE(l.has_value());
  ASSERT_EQ(l->value.size(), entries.size());
  EXPECT_EQ(l->value[12345].name, "f12345");
  EXPECT_EQ(l->value[12345].size, 12345u);
  EXPECT_EQ(l->value.back().type, ObjectType::kDirectory);
  auto a = m->LookupAttr(0, "/big/f777", seconds(60));
  ASSERT_TRUE(a.has_value() && a->value.has_value());
  EXPECT_EQ(a->value->size, 777u);
  EXPECT_FALSE(m->LookupListing(0, "/other", seconds(60)).has_value());
  EXPECT_FALSE(m->LookupListing(1, "/big", seconds(60)).has_value());
}

TEST(MetadataCacheTest, MayHaveAttrsBelowADirectory) {
  testing::TestDir dir;
  auto cache = BlockCache::Open(Options(dir.path()));
  ASSERT_TRUE(cache.ok());
  auto m = std::move(MetadataCache::Open((*cache)->index())).value();
  EXPECT_FALSE(m->MayHaveAttrsBelow(0, "/"));
  ASSERT_TRUE(m->PutAttr(0, "/d/sub/f", File("f", 1, "v")).ok());
  for (const char* d : {"/", "/d", "/d/", "/d/sub"}) EXPECT_TRUE(m->MayHaveAttrsBelow(0, d)) << d;
  // A sibling whose name the directory's is a prefix of; another remote; the file itself.
  for (const char* d : {"/dd", "/d/su", "/d/sub/f", "/e"}) {
    EXPECT_FALSE(m->MayHaveAttrsBelow(0, d)) << d;
  }
  EXPECT_FALSE(m->MayHaveAttrsBelow(1, "/d"));
  ASSERT_TRUE(m->PutNegative(0, "/n/gone").ok());
  EXPECT_TRUE(m->MayHaveAttrsBelow(0, "/n"));
  ASSERT_TRUE(m->PutListing(0, "/l", {File("x", 1, "v")}).ok());
  EXPECT_TRUE(m->MayHaveAttrsBelow(0, "/l"));
  ASSERT_TRUE(m->Forget(0, "/d/sub/f").ok());
  EXPECT_FALSE(m->MayHaveAttrsBelow(0, "/d"));
}

TEST(MetadataCacheTest, EncodingRejectsTruncatedInput) {
  std::string enc;
  EncodeObjectInfo(File("name", 1ull << 40, "etag-123"), &enc);
  for (size_t cut = 0; cut < enc.size(); ++cut) {
    std::string_view in(enc.data(), cut);
    ObjectInfo out;
    EXPECT_FALSE(DecodeObjectInfo(&in, &out)) << cut;
  }
  std::string_view in(enc);
  ObjectInfo out;
  ASSERT_TRUE(DecodeObjectInfo(&in, &out));
  EXPECT_EQ(out.size, 1ull << 40);
  EXPECT_EQ(JoinPath("/", "a"), "/a");
  EXPECT_EQ(JoinPath("/a", "b"), "/a/b");
  EXPECT_EQ(ParentPath("/a/b"), "/a");
  EXPECT_EQ(ParentPath("/a"), "/");
}

}  // namespace
}  // namespace hoardfs
