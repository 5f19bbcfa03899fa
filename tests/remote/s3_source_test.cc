// S3Source against a real Ceph RGW (tests/support/rgw_server.h) that verifies signatures: the
// conformance checks of xrootd_source_test.cc over the same kind of generated dataset (smaller:
// 3,000 keys in /bigdir, so a listing spans three pages of 1,000), then what only S3 has: keys
// with spaces, '+', '=', '%' and unicode, marker objects and nested prefixes, ETags as versions,
// refused credentials, and a stopped gateway.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "remote/object_source.h"
#include "tests/support/dataset.h"
#include "tests/support/rgw_server.h"
#include "tests/support/s3_test_client.h"
#include "tests/support/scratch_dir.h"

namespace hoardfs {
namespace {

using Clock = std::chrono::steady_clock;
using testing::Dataset;
using testing::RgwServer;
using testing::S3TestClient;
using testing::ScratchDir;

constexpr const char* kBucket = "hoardfs-test";
constexpr const char* kPrefix = "data/";  // the dataset lives under s3://hoardfs-test/data

std::span<std::byte> Bytes(std::string& s) {
  return std::as_writable_bytes(std::span<char>(s.data(), s.size()));
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct World {
  ScratchDir dir;
  std::optional<Dataset> dataset;
  std::unique_ptr<RgwServer> server;
  std::unique_ptr<S3TestClient> client;
  std::string error;  // why there is no server
};

World& TheWorld() {
  static World world;
  return world;
}

class WorldEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    World& w = TheWorld();
    auto dir = ScratchDir::CreateInMemory("hoardfs-s3-");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    w.dir = std::move(dir).value();
    testing::DatasetOptions dopts;
    dopts.large_file_size = uint64_t{16} << 20;
    dopts.big_dir_entries = 3000;
    auto ds = Dataset::Generate(w.dir.Sub("data"), dopts);
    ASSERT_TRUE(ds.ok()) << ds.status().ToString();
    w.dataset.emplace(std::move(ds).value());
    if (!RgwServer::Installed()) return;
    auto start = Clock::now();
    auto server = RgwServer::Start(testing::RgwServerOptions{});
    if (!server.ok()) {
      w.error = server.status().ToString();
      return;
    }
    w.server = std::move(server).value();
    std::printf("[ rgw      ] %s ready in %.2f s\n", w.server->Endpoint().c_str(),
                Seconds(Clock::now() - start));
    auto client = S3TestClient::Open(w.server->Endpoint(), kBucket, w.server->access_key(),
                                     w.server->secret_key());
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    w.client = std::move(client).value();
    ASSERT_TRUE(w.client->CreateBucket().ok());
    start = Clock::now();
    Status up = w.client->UploadDataset(*w.dataset, kPrefix, 8);
    ASSERT_TRUE(up.ok()) << up.ToString();
    std::printf("[ upload   ] %zu entries in %.2f s\n", w.dataset->entries().size(),
                Seconds(Clock::now() - start));
  }
  void TearDown() override {
    World& w = TheWorld();
    w.client.reset();
    w.server.reset();
    w.dataset.reset();
    w.dir = ScratchDir();
  }
};

[[maybe_unused]] const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new WorldEnvironment);

#define REQUIRE_RGW()                                                                     \
  do {                                                                                    \
    if (!RgwServer::Installed())                                                          \
      GTEST_SKIP() << "Ceph (ceph-mon, ceph-osd, radosgw) is not "                        \
                      "installed";                                                        \
    ASSERT_NE(TheWorld().server, nullptr) << "RGW failed to start: " << TheWorld().error; \
  } while (0)

RemoteOptions Options() {
  RemoteOptions o;
  o.s3.endpoint = TheWorld().server->Endpoint();
  o.s3.access_key_id = TheWorld().server->access_key();
  o.s3.secret_access_key = TheWorld().server->secret_key();
  o.timeout = std::chrono::seconds(10);
  return o;
}

std::unique_ptr<ObjectSource> Open(const std::string& url, const RemoteOptions& options) {
  auto src = OpenObjectSource(url, options);
  EXPECT_TRUE(src.ok()) << url << ": " << src.status().ToString();
  return src.ok() ? std::move(src).value() : nullptr;
}

std::string Md5Hex(const std::string& data) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), d, &len, EVP_md5(), nullptr);
  std::string out;
  char b[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(b, sizeof(b), "%02x", d[i]);
    out += b;
  }
  return out;
}

class S3SourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_RGW();
    source_ = Open(std::string("s3://") + kBucket + "/data", Options());
    ASSERT_NE(source_, nullptr);
  }
  const Dataset& ds() const { return *TheWorld().dataset; }
  S3TestClient& client() { return *TheWorld().client; }

  ObjectRef RefOf(const std::string& path) {
    Result<ObjectInfo> info = source_->Stat(path);
    EXPECT_TRUE(info.ok()) << path << ": " << info.status().ToString();
    return {path, info.ok() ? info->version : "", info.ok() ? info->size : 0};
  }

  std::vector<ObjectInfo> ListAll(ObjectSource& src, const std::string& dir, int* pages) {
    std::vector<ObjectInfo> out;
    std::string token;
    *pages = 0;
    do {
      Result<ListPage> page = src.List(dir, token);
      EXPECT_TRUE(page.ok()) << dir << ": " << page.status().ToString();
      if (!page.ok()) break;
      for (ObjectInfo& e : page->entries) out.push_back(std::move(e));
      token = page->next_token;
      ++*pages;
    } while (!token.empty() && *pages < 10000);
    return out;
  }

  std::unique_ptr<ObjectSource> source_;
};

TEST_F(S3SourceTest, StatFilesDirectoriesRootAndMissing) {
  Result<ObjectInfo> root = source_->Stat("/");
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  EXPECT_EQ(root->type, ObjectType::kDirectory);
  EXPECT_EQ(root->name, "");
  int checked = 0;
  for (const testing::DatasetEntry& e : ds().entries()) {
    if (e.path.rfind(Dataset::kBigDir + std::string("/"), 0) == 0 && e.path.back() != '7') {
      continue;
    }
    Result<ObjectInfo> info = source_->Stat(e.path);
    ASSERT_TRUE(info.ok()) << e.path << ": " << info.status().ToString();
    EXPECT_EQ(info->type, e.type) << e.path;
    EXPECT_EQ(info->name, e.path.substr(e.path.rfind('/') + 1));
    if (e.type == ObjectType::kFile) {
      EXPECT_EQ(info->size, e.size) << e.path;
      EXPECT_FALSE(info->version.empty()) << e.path;
      EXPECT_GT(info->mtime_ns, 0) << e.path;
      EXPECT_EQ(info->mode & 0444u, 0444u) << e.path;
    } else {
      EXPECT_EQ(info->size, 0u) << e.path;
    }
    ++checked;
  }
  EXPECT_GT(checked, 300);
  for (const char* missing :
       {"/nope", "/small/nope", "/small/d0/nope/deeper", "/emptydir/x", "/large.bin/x", "/smal"}) {
    EXPECT_EQ(source_->Stat(missing).status().code(), StatusCode::kNotFound) << missing;
  }
  for (const char* bad : {"relative", "/a/../b", "/small/", "//small", ""}) {
    EXPECT_EQ(source_->Stat(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST_F(S3SourceTest, ListEveryDirectoryMatchesTheDataset) {
  for (const std::string& dir : ds().Directories()) {
    int pages = 0;
    std::vector<ObjectInfo> got = ListAll(*source_, dir, &pages);
    std::map<std::string, std::tuple<ObjectType, uint64_t>> actual;
    for (const ObjectInfo& e : got) {
      // Names other tests add at the top level.
      if (dir == "/" && (e.name == "zz_scratch" || e.name == "weird" || e.name == "nest")) continue;
      EXPECT_TRUE(actual.emplace(e.name, std::make_tuple(e.type, e.size)).second)
          << dir << ": " << e.name << " listed twice";
      if (e.type == ObjectType::kFile) {
        EXPECT_FALSE(e.version.empty()) << e.name;
      }
    }
    std::map<std::string, std::tuple<ObjectType, uint64_t>> expected;
    for (const testing::DatasetEntry* e : ds().Children(dir)) {
      expected.emplace(e->path.substr(e->path.rfind('/') + 1), std::make_tuple(e->type, e->size));
    }
    EXPECT_EQ(actual, expected) << dir;
    if (dir == Dataset::kBigDir) {
      EXPECT_EQ(got.size(), 3000u);
      EXPECT_EQ(pages, 3);  // > 2,500 keys across continuation tokens
    }
  }
  // List and Stat agree on versions and times.
  Result<ListPage> small = source_->List("/small/d1/e2", "");
  ASSERT_TRUE(small.ok());
  ASSERT_FALSE(small->entries.empty());
  for (const ObjectInfo& e : small->entries) {
    Result<ObjectInfo> info = source_->Stat("/small/d1/e2/" + e.name);
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->version, e.version) << e.name;
    EXPECT_EQ(info->mtime_ns, e.mtime_ns) << e.name;
  }
  EXPECT_EQ(source_->List("/missing", "").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(source_->List(Dataset::kLargeFile, "").status().code(), StatusCode::kInvalidArgument);
  Result<ListPage> empty = source_->List(Dataset::kEmptyDir, "");
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE(empty->entries.empty());
  EXPECT_TRUE(empty->next_token.empty());
}

TEST_F(S3SourceTest, SmallPagesStillListEverything) {
  RemoteOptions o = Options();
  o.list_page_size = 3;
  std::unique_ptr<ObjectSource> src = Open(std::string("s3://") + kBucket + "/data", o);
  int pages = 0;
  const std::vector<ObjectInfo> got = ListAll(*src, "/", &pages);
  EXPECT_GE(got.size(), ds().Children("/").size());
  EXPECT_GT(pages, 1);
}

TEST_F(S3SourceTest, ReadEverySmallFileExactly) {
  int files = 0;
  for (const testing::DatasetEntry& e : ds().entries()) {
    if (e.type != ObjectType::kFile || e.path == Dataset::kLargeFile) continue;
    if (e.path.rfind(Dataset::kBigDir + std::string("/"), 0) == 0 && e.path.back() != '3') {
      continue;
    }
    const ObjectRef ref = RefOf(e.path);
    std::string buf(e.size + 100, '\0');
    Result<size_t> n = source_->Read(ref, 0, Bytes(buf));
    ASSERT_TRUE(n.ok()) << e.path << ": " << n.status().ToString();
    ASSERT_EQ(*n, e.size) << e.path;
    buf.resize(*n);
    EXPECT_EQ(testing::Sha256Hex(buf), e.sha256) << e.path;
    ++files;
  }
  EXPECT_GT(files, 400);
  for (const char* path : {Dataset::kSpaceFile, Dataset::kUnicodeFile}) {
    const ObjectRef ref = RefOf(path);
    std::string buf(ref.size, '\0');
    Result<size_t> n = source_->Read(ref, 0, Bytes(buf));
    ASSERT_TRUE(n.ok()) << path << ": " << n.status().ToString();
    EXPECT_EQ(buf, ds().Bytes(path, 0, ref.size)) << path;
  }
  const ObjectRef empty = RefOf(Dataset::kEmptyFile);
  EXPECT_EQ(empty.size, 0u);
  std::string buf(10, '\0');
  Result<size_t> n = source_->Read(empty, 0, Bytes(buf));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  EXPECT_FALSE(source_->Read({"/small", "", 10}, 0, Bytes(buf)).ok());
  EXPECT_EQ(source_->Read({"/nope", "", 10}, 0, Bytes(buf)).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(source_->Read({"nope", "", 10}, 0, Bytes(buf)).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(S3SourceTest, ReadRangesOfTheLargeFile) {
  const ObjectRef ref = RefOf(Dataset::kLargeFile);
  const uint64_t size = ds().options().large_file_size;
  ASSERT_EQ(ref.size, size);
  struct Case {
    uint64_t offset;
    size_t length;
  };
  const std::vector<Case> cases = {
      {0, 1 << 20},       {12345, 100000}, {size / 2, 4096}, {size - 1000, 1000},
      {size - 100, 4096}, {size - 1, 1},   {size, 10},       {size + 4096, 10},
      {(1 << 20) - 1, 2}, {7, 3 << 20},    {0, 1},
  };
  for (const Case& c : cases) {
    std::string buf(c.length, '\0');
    Result<size_t> n = source_->Read(ref, c.offset, Bytes(buf));
    ASSERT_TRUE(n.ok()) << c.offset << "+" << c.length << ": " << n.status().ToString();
    const std::string expected = ds().Bytes(Dataset::kLargeFile, c.offset, c.length);
    ASSERT_EQ(*n, expected.size()) << c.offset << "+" << c.length;
    buf.resize(*n);
    EXPECT_TRUE(buf == expected) << c.offset << "+" << c.length;
  }
  std::string all;
  std::string buf(8 << 20, '\0');
  for (uint64_t at = 0; at < size; at += buf.size()) {
    Result<size_t> n = source_->Read(ref, at, Bytes(buf));
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    all.append(buf.data(), *n);
  }
  EXPECT_EQ(testing::Sha256Hex(all), ds().Find(Dataset::kLargeFile)->sha256);
}

TEST_F(S3SourceTest, ReadVScatteredRanges) {
  const ObjectRef ref = RefOf(Dataset::kLargeFile);
  const uint64_t size = ref.size;
  std::mt19937_64 rng(7);
  std::vector<std::pair<uint64_t, size_t>> spec;
  for (int i = 0; i < 3000; ++i) {
    const size_t len = 1 + rng() % (160 << 10);
    spec.emplace_back(rng() % (size - len), len);
  }
  spec.emplace_back(1000, 5 << 20);     // larger than nothing special, spans groups
  spec.emplace_back(size - 500, 2000);  // across the end
  spec.emplace_back(size + 10, 100);    // past it
  spec.emplace_back(4096, 0);           // empty
  std::vector<std::string> bufs;
  bufs.reserve(spec.size());
  std::vector<ReadRange> ranges(spec.size());
  for (size_t i = 0; i < spec.size(); ++i) {
    bufs.emplace_back(spec[i].second, '\0');
    ranges[i].offset = spec[i].first;
    ranges[i].out = Bytes(bufs.back());
  }
  const auto start = Clock::now();
  Status s = source_->ReadV(ref, ranges);
  std::printf("[ readv    ] %zu ranges in %.3f s\n", spec.size(), Seconds(Clock::now() - start));
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (size_t i = 0; i < spec.size(); ++i) {
    ASSERT_TRUE(ranges[i].status.ok()) << i << ": " << ranges[i].status.ToString();
    const std::string expected = ds().Bytes(Dataset::kLargeFile, spec[i].first, spec[i].second);
    ASSERT_EQ(ranges[i].bytes_read, expected.size()) << i;
    EXPECT_TRUE(bufs[i].compare(0, expected.size(), expected) == 0) << "range " << i;
  }
  std::vector<ReadRange> missing(2);
  missing[0].out = Bytes(bufs[0]);
  missing[1].out = Bytes(bufs[1]);
  EXPECT_EQ(source_->ReadV({"/nope", "", 100}, missing).code(), StatusCode::kNotFound);
  EXPECT_EQ(missing[1].status.code(), StatusCode::kNotFound);
}

TEST_F(S3SourceTest, SixteenThreadsReadConcurrently) {
  std::vector<ObjectRef> refs = {RefOf(Dataset::kLargeFile)};
  for (const testing::DatasetEntry* e : ds().Children("/small/d2/e3"))
    refs.push_back(RefOf(e->path));
  ASSERT_GT(refs.size(), 5u);
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(100 + t);
      for (int i = 0; i < 30; ++i) {
        const ObjectRef& ref = refs[rng() % refs.size()];
        const uint64_t offset = ref.size == 0 ? 0 : rng() % ref.size;
        const size_t length = 1 + rng() % (256 << 10);
        const std::string expected = ds().Bytes(ref.path, offset, length);
        if (i % 4 == 3) {
          std::string b1(length, '\0');
          std::string b2(100, '\0');
          std::vector<ReadRange> ranges(2);
          ranges[0].offset = offset;
          ranges[0].out = Bytes(b1);
          ranges[1].offset = 0;
          ranges[1].out = Bytes(b2);
          Status s = source_->ReadV(ref, ranges);
          if (!s.ok() || !ranges[0].status.ok() || ranges[0].bytes_read != expected.size() ||
              b1.compare(0, expected.size(), expected) != 0 ||
              b2.compare(0, ranges[1].bytes_read, ds().Bytes(ref.path, 0, 100)) != 0) {
            ++bad;
          }
        } else {
          std::string buf(length, '\0');
          Result<size_t> n = source_->Read(ref, offset, Bytes(buf));
          if (!n.ok() || *n != expected.size() || buf.compare(0, *n, expected) != 0) ++bad;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST_F(S3SourceTest, VersionIsTheETagAndReadsNeverMixVersions) {
  const std::string key = std::string(kPrefix) + "zz_scratch/versioned";
  const std::string v1(1000, 'a');
  ASSERT_TRUE(client().Put(key, v1).ok());
  const ObjectRef ref1 = RefOf("/zz_scratch/versioned");
  EXPECT_EQ(ref1.version, Md5Hex(v1));  // a single-part upload's ETag is its MD5
  std::string buf(4000, '\0');
  Result<size_t> n = source_->Read(ref1, 0, Bytes(buf));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(buf.substr(0, *n), v1);

  const std::string v2(1000, 'b');  // same size, new content
  ASSERT_TRUE(client().Put(key, v2).ok());
  n = source_->Read(ref1, 0, Bytes(buf));
  EXPECT_EQ(n.status().code(), StatusCode::kFailedPrecondition) << n.status().ToString();
  std::vector<ReadRange> ranges(1);
  ranges[0].out = Bytes(buf);
  EXPECT_EQ(source_->ReadV(ref1, ranges).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(ranges[0].status.code(), StatusCode::kFailedPrecondition);
  const ObjectRef ref2 = RefOf("/zz_scratch/versioned");
  EXPECT_NE(ref2.version, ref1.version);
  n = source_->Read(ref2, 0, Bytes(buf));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(buf.substr(0, *n), v2);
  ASSERT_TRUE(client().Delete(key).ok());
  EXPECT_EQ(source_->Read(ref2, 0, Bytes(buf)).status().code(), StatusCode::kNotFound);
}

TEST_F(S3SourceTest, KeysWithSpacesPlusEqualsPercentAndUnicode) {
  const std::vector<std::string> names = {
      "a b",        "a+b",        "a=b",    "100%",
      "x&y",        "q?r",        "h#i",    "\xC3\xBC\xE2\x82\xAC \xE6\x97\xA5\xE6\x9C\xAC",
      "tilde~dot.", "semi;colon", "co:lon", "star*"};
  for (const std::string& name : names) {
    ASSERT_TRUE(client().Put(std::string(kPrefix) + "weird/" + name, "content of " + name).ok())
        << name;
  }
  int pages = 0;
  std::set<std::string> listed;
  for (const ObjectInfo& e : ListAll(*source_, "/weird", &pages)) listed.insert(e.name);
  EXPECT_EQ(listed, std::set<std::string>(names.begin(), names.end()));
  for (const std::string& name : names) {
    const ObjectRef ref = RefOf("/weird/" + name);
    std::string buf(100, '\0');
    Result<size_t> n = source_->Read(ref, 0, Bytes(buf));
    ASSERT_TRUE(n.ok()) << name << ": " << n.status().ToString();
    EXPECT_EQ(buf.substr(0, *n), "content of " + name);
  }
  // A source rooted at a prefix with a space in it.
  std::unique_ptr<ObjectSource> sub =
      Open(std::string("s3://") + kBucket + "/data/weird", Options());
  EXPECT_TRUE(sub->Stat("/a b").ok());
}

TEST_F(S3SourceTest, MarkerObjectsAndNestedPrefixes) {
  for (const char* key :
       {"nest/", "nest/only-marker/", "nest/a/b/c/leaf", "nest/file", "nest/file-and-dir/inner"}) {
    ASSERT_TRUE(
        client().Put(std::string(kPrefix) + key, key[std::strlen(key) - 1] == '/' ? "" : "x").ok());
  }
  int pages = 0;
  std::map<std::string, ObjectType> got;
  for (const ObjectInfo& e : ListAll(*source_, "/nest", &pages)) got[e.name] = e.type;
  EXPECT_EQ(got, (std::map<std::string, ObjectType>{{"only-marker", ObjectType::kDirectory},
                                                    {"a", ObjectType::kDirectory},
                                                    {"file", ObjectType::kFile},
                                                    {"file-and-dir", ObjectType::kDirectory}}));
  for (const char* dir : {"/nest", "/nest/only-marker", "/nest/a", "/nest/a/b", "/nest/a/b/c"}) {
    Result<ObjectInfo> info = source_->Stat(dir);
    ASSERT_TRUE(info.ok()) << dir << ": " << info.status().ToString();
    EXPECT_EQ(info->type, ObjectType::kDirectory) << dir;
  }
  Result<ListPage> empty = source_->List("/nest/only-marker", "");
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE(empty->entries.empty());
  EXPECT_EQ(source_->Stat("/nest/a/b/c/leaf")->type, ObjectType::kFile);
  EXPECT_EQ(source_->Stat("/nest/a/b/c/leaf/x").status().code(), StatusCode::kNotFound);
  // A source on the whole bucket sees "data" as a directory.
  std::unique_ptr<ObjectSource> bucket = Open(std::string("s3://") + kBucket, Options());
  ASSERT_TRUE(bucket->Stat("/").ok());
  Result<ListPage> top = bucket->List("/", "");
  ASSERT_TRUE(top.ok()) << top.status().ToString();
  ASSERT_EQ(top->entries.size(), 1u);
  EXPECT_EQ(top->entries[0].name, "data");
  EXPECT_EQ(top->entries[0].type, ObjectType::kDirectory);
}

TEST_F(S3SourceTest, SourceRootedInASubdirectory) {
  std::unique_ptr<ObjectSource> sub =
      Open(std::string("s3://") + kBucket + "/data/small/d1", Options());
  Result<ObjectInfo> root = sub->Stat("/");
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  EXPECT_EQ(root->type, ObjectType::kDirectory);
  int pages = 0;
  std::set<std::string> names;
  for (const ObjectInfo& e : ListAll(*sub, "/", &pages)) names.insert(e.name);
  std::set<std::string> expected;
  for (const auto* e : ds().Children("/small/d1")) expected.insert(e->path.substr(10));
  EXPECT_EQ(names, expected);
  EXPECT_EQ(sub->Stat("/large.bin").status().code(), StatusCode::kNotFound);
  // A prefix with nothing under it does not exist.
  std::unique_ptr<ObjectSource> none =
      Open(std::string("s3://") + kBucket + "/no-such-prefix", Options());
  EXPECT_EQ(none->Stat("/").status().code(), StatusCode::kNotFound);
}

TEST_F(S3SourceTest, RefusedCredentialsArePermissionDeniedWithoutTheSecret) {
  struct Case {
    const char* what;
    std::string key;
    std::string secret;
  };
  const std::string secret = "wrong+secret/ABCDEFGHIJKLMNOPQRSTUVWX";
  const std::vector<Case> cases = {
      {"wrong secret", TheWorld().server->access_key(), secret},
      {"unknown key", "AKIAUNKNOWNKEY000000", secret},
      {"anonymous", "", ""},
  };
  for (const Case& c : cases) {
    RemoteOptions o = Options();
    o.s3.access_key_id = c.key;
    o.s3.secret_access_key = c.secret;
    std::unique_ptr<ObjectSource> src = Open(std::string("s3://") + kBucket + "/data", o);
    ASSERT_NE(src, nullptr);
    std::string buf(10, '\0');
    const std::vector<Status> results = {
        src->Stat("/").status(), src->Stat(Dataset::kLargeFile).status(),
        src->List("/small", "").status(),
        src->Read({Dataset::kLargeFile, "", 100}, 0, Bytes(buf)).status()};
    for (const Status& s : results) {
      EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << c.what << ": " << s.ToString();
      EXPECT_NE(s.message().find("403"), std::string::npos) << s.message();
      EXPECT_NE(s.message().find("s3://hoardfs-test/data"), std::string::npos) << s.message();
      EXPECT_EQ(s.message().find(secret), std::string::npos) << s.message();
      EXPECT_EQ(s.message().find(TheWorld().server->secret_key()), std::string::npos);
    }
    std::printf("[ auth     ] %s: %s\n", c.what, results[0].ToString().c_str());
  }
}

TEST_F(S3SourceTest, CredentialsFromAFile) {
  ScratchDir& dir = TheWorld().dir;
  const std::string path = dir.Sub("s3.creds");
  {
    std::ofstream f(path);
    f << "[default]\naws_access_key_id = " << TheWorld().server->access_key()
      << "\naws_secret_access_key = " << TheWorld().server->secret_key() << "\n";
  }
  RemoteOptions o = Options();
  o.s3.access_key_id.clear();
  o.s3.secret_access_key.clear();
  o.s3.credentials_file = path;
  std::unique_ptr<ObjectSource> src = Open(std::string("s3://") + kBucket + "/data", o);
  ASSERT_NE(src, nullptr);
  EXPECT_TRUE(src->Stat(Dataset::kLargeFile).ok());
  o.s3.credentials_file = dir.Sub("missing.creds");
  EXPECT_FALSE(OpenObjectSource(std::string("s3://") + kBucket, o).ok());
}

TEST_F(S3SourceTest, BadUrlsAndOptions) {
  RemoteOptions o = Options();
  EXPECT_EQ(OpenObjectSource("s3://hoardfs-test:9000/x", o).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenObjectSource("s3://user:pw@hoardfs-test/x", o).status().code(),
            StatusCode::kInvalidArgument);
  o.s3.endpoint = "rgw.example:7480";
  EXPECT_EQ(OpenObjectSource("s3://hoardfs-test/x", o).status().code(),
            StatusCode::kInvalidArgument);
  o = Options();
  o.s3.secret_access_key.clear();
  EXPECT_EQ(OpenObjectSource("s3://hoardfs-test/x", o).status().code(),
            StatusCode::kInvalidArgument);
  // A bucket that does not exist.
  std::unique_ptr<ObjectSource> nb = Open("s3://no-such-bucket", Options());
  EXPECT_EQ(nb->Stat("/").status().code(), StatusCode::kNotFound)
      << nb->Stat("/").status().ToString();
}

// Last: stops the gateway (the cluster stays up) and starts it again.
TEST_F(S3SourceTest, StoppedServerIsUnavailableQuicklyAndRecovers) {
  RemoteOptions o = Options();
  o.timeout = std::chrono::seconds(2);
  o.max_attempts = 2;
  o.initial_backoff = std::chrono::milliseconds(100);
  o.down_retry = std::chrono::milliseconds(0);  // no circuit breaker: each request tries
  std::unique_ptr<ObjectSource> src = Open(std::string("s3://") + kBucket + "/data", o);
  const ObjectRef ref = RefOf(Dataset::kLargeFile);
  std::string buf(4096, '\0');
  ASSERT_TRUE(src->Read(ref, 0, Bytes(buf)).ok());  // a connection is open and pooled
  ASSERT_TRUE(TheWorld().server->StopGateway().ok());
  for (const char* what : {"stat", "read", "list"}) {
    const auto start = Clock::now();
    const std::string w = what;
    const Status s = w == "stat"   ? src->Stat(Dataset::kLargeFile).status()
                     : w == "read" ? src->Read(ref, 8192, Bytes(buf)).status()
                                   : src->List("/small", "").status();
    const double took = Seconds(Clock::now() - start);
    std::printf("[ outage   ] %s: %.2f s: %s\n", what, took, s.ToString().c_str());
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << what << ": " << s.ToString();
    EXPECT_LT(took, 5.0) << what;
  }
  ASSERT_TRUE(TheWorld().server->StartGateway().ok()) << TheWorld().server->LogTail();
  Result<size_t> n = src->Read(ref, 8192, Bytes(buf));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(buf, ds().Bytes(Dataset::kLargeFile, 8192, buf.size()));
}

}  // namespace
}  // namespace hoardfs
