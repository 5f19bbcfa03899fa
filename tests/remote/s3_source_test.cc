// S3Source against two independent S3 servers, each started by the test: a real Ceph RGW
// (tests/support/rgw_server.h) that verifies signatures, and s3rver (tests/support/
// s3rver_server.h, a fake S3 in Node.js). The conformance checks (S3ConformanceTest, run once
// per server) are those of xrootd_source_test.cc over the same kind of generated dataset
// (smaller: 3,000 keys in /bigdir, so a listing spans three pages of 1,000, each server's own
// max-keys paging with continuation tokens), then what only S3 has: keys with spaces, '+', '=',
// '%' and unicode, marker objects and nested prefixes, ETags as versions, a stopped server.
// Refused credentials are checked against RGW only (S3SourceTest): s3rver accepts any signature.
//
// Where s3rver differs from RGW (the checks are the same; nothing is weakened for RGW):
// - it does not verify signatures: a wrong secret and an anonymous request are served, only an
//   unknown access key is refused (S3rverTest.AcceptsAnySignatureButNotAnUnknownKey pins that
//   down, so a change in s3rver's behaviour is noticed);
// - it keeps objects in its directory across a restart, so the outage test stops and restarts
//   the whole server, where RGW stops only its gateway;
// - s3rver 3.7.1 bugs the checks expect on s3rver alone (the client must not be fooled):
//   - with delimiter '/', a prefix is returned as a CommonPrefix only when an object (or a
//     "dir/" marker) lies directly below it: "small/" holding only "small/d0/e1/f" is not
//     listed, and Stat("/small") is NotFound, see S3rverHidesDir();
//   - CommonPrefixes do not count towards max-keys, so a page may hold more than max-keys
//     entries and the root listing with max-keys=3 is a single page;
//   - "Range: bytes=0-0" is answered with more than one byte (the client reports Corruption);
//   - its ListObjectsV2 namespace is "http://doc.s3.amazonaws.com/2006-03-01/" (accepted by
//     remote/s3/s3_xml.cc besides the real one).
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
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
#include "tests/support/s3rver_server.h"
#include "tests/support/scratch_dir.h"

namespace hoardfs {
namespace {

using Clock = std::chrono::steady_clock;
using testing::Dataset;
using testing::RgwServer;
using testing::S3rverServer;
using testing::S3TestClient;
using testing::ScratchDir;

constexpr const char* kBucket = "hoardfs-test";
constexpr const char* kPrefix = "data/";  // the dataset lives under s3://hoardfs-test/data

std::span<std::byte> Bytes(std::string& s) {
  return std::as_writable_bytes(std::span<char>(s.data(), s.size()));
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The servers a conformance check runs against.
enum class Server { kRgw, kS3rver };

std::string ServerName(const ::testing::TestParamInfo<Server>& info) {
  return info.param == Server::kRgw ? "Rgw" : "S3rver";
}

struct World {
  ScratchDir dir;
  std::optional<Dataset> dataset;
  std::unique_ptr<RgwServer> server;
  std::unique_ptr<S3TestClient> client;
  std::string error;  // why there is no server
  std::unique_ptr<S3rverServer> s3rver;
  std::unique_ptr<S3TestClient> s3rver_client;
  std::string s3rver_error;  // why there is no s3rver
};

World& TheWorld() {
  static World world;
  return world;
}

class WorldEnvironment : public ::testing::Environment {
 public:
  // s3rver with the bucket, and the dataset uploaded to it; an error is kept in s3rver_error.
  static void StartS3rver(World& w) {
    if (!S3rverServer::Installed()) return;
    auto start = Clock::now();
    testing::S3rverServerOptions options;
    options.buckets = {kBucket};
    auto server = S3rverServer::Start(options);
    if (!server.ok()) {
      w.s3rver_error = server.status().ToString();
      return;
    }
    w.s3rver = std::move(server).value();
    std::printf("[ s3rver   ] %s ready in %.2f s\n", w.s3rver->Endpoint().c_str(),
                Seconds(Clock::now() - start));
    auto client = S3TestClient::Open(w.s3rver->Endpoint(), kBucket, S3rverServer::access_key(),
                                     S3rverServer::secret_key());
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    w.s3rver_client = std::move(client).value();
    start = Clock::now();
    Status up = w.s3rver_client->UploadDataset(*w.dataset, kPrefix, 8);
    if (!up.ok()) {
      w.s3rver_error = "upload: " + up.ToString() + ": " + w.s3rver->LogTail();
      return;
    }
    std::printf("[ upload   ] s3rver: %zu entries in %.2f s\n", w.dataset->entries().size(),
                Seconds(Clock::now() - start));
  }

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
    StartS3rver(w);
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
    w.s3rver_client.reset();
    w.s3rver.reset();
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

#define REQUIRE_S3RVER()                                                     \
  do {                                                                       \
    if (!S3rverServer::Installed())                                          \
      GTEST_SKIP() << "s3rver is not installed (npm install -g s3rver)";     \
    ASSERT_NE(TheWorld().s3rver, nullptr)                                    \
        << "s3rver failed to start: " << TheWorld().s3rver_error;            \
    ASSERT_TRUE(TheWorld().s3rver_error.empty()) << TheWorld().s3rver_error; \
  } while (0)

RemoteOptions Options(Server server = Server::kRgw) {
  RemoteOptions o;
  if (server == Server::kRgw) {
    o.s3.endpoint = TheWorld().server->Endpoint();
    o.s3.access_key_id = TheWorld().server->access_key();
    o.s3.secret_access_key = TheWorld().server->secret_key();
  } else {
    o.s3.endpoint = TheWorld().s3rver->Endpoint();
    o.s3.access_key_id = S3rverServer::access_key();
    o.s3.secret_access_key = S3rverServer::secret_key();
  }
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

// What every test has: a source on s3://hoardfs-test/data at one of the servers.
class S3SourceTestBase : public ::testing::Test {
 protected:
  void OpenSource(Server server) {
    server_ = server;
    source_ = Open(std::string("s3://") + kBucket + "/data", Options(server));
    ASSERT_NE(source_, nullptr);
  }
  const Dataset& ds() const { return *TheWorld().dataset; }
  S3TestClient& client() {
    return server_ == Server::kRgw ? *TheWorld().client : *TheWorld().s3rver_client;
  }
  RemoteOptions Opts() const { return Options(server_); }
  // True on s3rver for a dataset directory it does not list: one with children, none of them
  // files (see the file comment). Stat of such a directory may still succeed when one of its
  // subdirectories holds a file; the checks leave those directories out on s3rver.
  bool S3rverHidesDir(const std::string& dir) const {
    if (server_ != Server::kS3rver || dir == "/") return false;
    const auto children = ds().Children(dir);
    return !children.empty() && std::none_of(children.begin(), children.end(), [](const auto* e) {
      return e->type == ObjectType::kFile;
    });
  }

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

  Server server_ = Server::kRgw;
  std::unique_ptr<ObjectSource> source_;
};

// RGW only: what needs a server that checks signatures.
class S3SourceTest : public S3SourceTestBase {
 protected:
  void SetUp() override {
    REQUIRE_RGW();
    OpenSource(Server::kRgw);
  }
};

// The same checks against RGW and s3rver.
class S3ConformanceTest : public S3SourceTestBase, public ::testing::WithParamInterface<Server> {
 protected:
  void SetUp() override {
    if (GetParam() == Server::kRgw) {
      REQUIRE_RGW();
    } else {
      REQUIRE_S3RVER();
    }
    OpenSource(GetParam());
  }
};

INSTANTIATE_TEST_SUITE_P(Servers, S3ConformanceTest,
                         ::testing::Values(Server::kRgw, Server::kS3rver), ServerName);

// s3rver only: its documented differences, pinned down.
class S3rverTest : public S3SourceTestBase {
 protected:
  void SetUp() override {
    REQUIRE_S3RVER();
    OpenSource(Server::kS3rver);
  }
};

TEST_P(S3ConformanceTest, StatFilesDirectoriesRootAndMissing) {
  Result<ObjectInfo> root = source_->Stat("/");
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  EXPECT_EQ(root->type, ObjectType::kDirectory);
  EXPECT_EQ(root->name, "");
  int checked = 0;
  for (const testing::DatasetEntry& e : ds().entries()) {
    if (e.path.rfind(Dataset::kBigDir + std::string("/"), 0) == 0 && e.path.back() != '7') {
      continue;
    }
    if (e.type == ObjectType::kDirectory && S3rverHidesDir(e.path)) continue;
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

TEST_P(S3ConformanceTest, ListEveryDirectoryMatchesTheDataset) {
  for (const std::string& dir : ds().Directories()) {
    if (S3rverHidesDir(dir)) continue;
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
      if (S3rverHidesDir(e->path)) continue;
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

TEST_P(S3ConformanceTest, SmallPagesStillListEverything) {
  RemoteOptions o = Opts();
  o.list_page_size = 3;
  std::unique_ptr<ObjectSource> src = Open(std::string("s3://") + kBucket + "/data", o);
  int pages = 0;
  const std::vector<ObjectInfo> got = ListAll(*src, "/", &pages);
  const auto children = ds().Children("/");
  EXPECT_GE(got.size(), std::count_if(children.begin(), children.end(),
                                      [&](const auto* e) { return !S3rverHidesDir(e->path); }));
  if (GetParam() == Server::kRgw) {
    EXPECT_GT(pages, 1);
  } else {
    EXPECT_GE(pages, 1);  // s3rver: CommonPrefixes do not count towards max-keys
  }
}

TEST_P(S3ConformanceTest, ReadEverySmallFileExactly) {
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

TEST_P(S3ConformanceTest, ReadRangesOfTheLargeFile) {
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
    if (GetParam() == Server::kS3rver && c.offset == 0 && c.length == 1) {
      // s3rver 3.7.1 answers "Range: bytes=0-0" with more than one byte (it takes the end 0 as
      // "no end"); the client must refuse that, not return wrong data.
      EXPECT_EQ(n.status().code(), StatusCode::kCorruption) << n.status().ToString();
      continue;
    }
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

TEST_P(S3ConformanceTest, ReadVScatteredRanges) {
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

TEST_P(S3ConformanceTest, SixteenThreadsReadConcurrently) {
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

TEST_P(S3ConformanceTest, VersionIsTheETagAndReadsNeverMixVersions) {
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

TEST_P(S3ConformanceTest, KeysWithSpacesPlusEqualsPercentAndUnicode) {
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
  std::unique_ptr<ObjectSource> sub = Open(std::string("s3://") + kBucket + "/data/weird", Opts());
  EXPECT_TRUE(sub->Stat("/a b").ok());
}

TEST_P(S3ConformanceTest, MarkerObjectsAndNestedPrefixes) {
  for (const char* key :
       {"nest/", "nest/only-marker/", "nest/a/b/c/leaf", "nest/file", "nest/file-and-dir/inner"}) {
    ASSERT_TRUE(
        client().Put(std::string(kPrefix) + key, key[std::strlen(key) - 1] == '/' ? "" : "x").ok());
  }
  int pages = 0;
  std::map<std::string, ObjectType> got;
  for (const ObjectInfo& e : ListAll(*source_, "/nest", &pages)) got[e.name] = e.type;
  std::map<std::string, ObjectType> expected = {{"only-marker", ObjectType::kDirectory},
                                                {"a", ObjectType::kDirectory},
                                                {"file", ObjectType::kFile},
                                                {"file-and-dir", ObjectType::kDirectory}};
  // s3rver does not list "nest/a/" (no object lies directly below it), so /nest/a is not
  // found either; /nest/a/b is, as its listing returns "nest/a/b/c/" (which holds "leaf").
  const bool s3rver = GetParam() == Server::kS3rver;
  if (s3rver) expected.erase("a");
  EXPECT_EQ(got, expected);
  for (const char* dir : {"/nest", "/nest/only-marker", "/nest/a", "/nest/a/b", "/nest/a/b/c"}) {
    if (s3rver && std::strcmp(dir, "/nest/a") == 0) {
      EXPECT_EQ(source_->Stat(dir).status().code(), StatusCode::kNotFound) << dir;
      continue;
    }
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
  std::unique_ptr<ObjectSource> bucket = Open(std::string("s3://") + kBucket, Opts());
  ASSERT_TRUE(bucket->Stat("/").ok());
  Result<ListPage> top = bucket->List("/", "");
  ASSERT_TRUE(top.ok()) << top.status().ToString();
  ASSERT_EQ(top->entries.size(), 1u);
  EXPECT_EQ(top->entries[0].name, "data");
  EXPECT_EQ(top->entries[0].type, ObjectType::kDirectory);
}

TEST_P(S3ConformanceTest, SourceRootedInASubdirectory) {
  std::unique_ptr<ObjectSource> sub =
      Open(std::string("s3://") + kBucket + "/data/small/d1", Opts());
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
      Open(std::string("s3://") + kBucket + "/no-such-prefix", Opts());
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
    RemoteOptions o = Opts();
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
  RemoteOptions o = Opts();
  o.s3.access_key_id.clear();
  o.s3.secret_access_key.clear();
  o.s3.credentials_file = path;
  std::unique_ptr<ObjectSource> src = Open(std::string("s3://") + kBucket + "/data", o);
  ASSERT_NE(src, nullptr);
  EXPECT_TRUE(src->Stat(Dataset::kLargeFile).ok());
  o.s3.credentials_file = dir.Sub("missing.creds");
  EXPECT_FALSE(OpenObjectSource(std::string("s3://") + kBucket, o).ok());
}

TEST_P(S3ConformanceTest, BadUrlsAndOptions) {
  RemoteOptions o = Opts();
  EXPECT_EQ(OpenObjectSource("s3://hoardfs-test:9000/x", o).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenObjectSource("s3://user:pw@hoardfs-test/x", o).status().code(),
            StatusCode::kInvalidArgument);
  o.s3.endpoint = "rgw.example:7480";
  EXPECT_EQ(OpenObjectSource("s3://hoardfs-test/x", o).status().code(),
            StatusCode::kInvalidArgument);
  o = Opts();
  o.s3.secret_access_key.clear();
  EXPECT_EQ(OpenObjectSource("s3://hoardfs-test/x", o).status().code(),
            StatusCode::kInvalidArgument);
  // A bucket that does not exist.
  std::unique_ptr<ObjectSource> nb = Open("s3://no-such-bucket", Opts());
  EXPECT_EQ(nb->Stat("/").status().code(), StatusCode::kNotFound)
      << nb->Stat("/").status().ToString();
}

// Stops the server and starts it again: RGW's gateway alone (the cluster stays up), s3rver as a
// whole (its objects are files in its directory, kept across a restart).
Status StopServer(Server server) {
  return server == Server::kRgw ? TheWorld().server->StopGateway() : TheWorld().s3rver->Stop();
}
Status StartServer(Server server) {
  return server == Server::kRgw ? TheWorld().server->StartGateway() : TheWorld().s3rver->Restart();
}
std::string ServerLog(Server server) {
  return server == Server::kRgw ? TheWorld().server->LogTail() : TheWorld().s3rver->LogTail();
}

// Last of the conformance checks.
TEST_P(S3ConformanceTest, StoppedServerIsUnavailableQuicklyAndRecovers) {
  RemoteOptions o = Opts();
  o.timeout = std::chrono::seconds(2);
  o.max_attempts = 2;
  o.initial_backoff = std::chrono::milliseconds(100);
  o.down_retry = std::chrono::milliseconds(0);  // no circuit breaker: each request tries
  std::unique_ptr<ObjectSource> src = Open(std::string("s3://") + kBucket + "/data", o);
  const ObjectRef ref = RefOf(Dataset::kLargeFile);
  std::string buf(4096, '\0');
  ASSERT_TRUE(src->Read(ref, 0, Bytes(buf)).ok());  // a connection is open and pooled
  ASSERT_TRUE(StopServer(GetParam()).ok());
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
  ASSERT_TRUE(StartServer(GetParam()).ok()) << ServerLog(GetParam());
  Result<size_t> n = src->Read(ref, 8192, Bytes(buf));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(buf, ds().Bytes(Dataset::kLargeFile, 8192, buf.size()));
}

// Small requests one after the other, as the FUSE layer makes them on a cold stat or read: the
// mean latency of a HEAD (Stat) and of a 4 KiB ranged GET (Read) on one source (one pooled
// connection). A measurement, printed; the bound only catches a pathological client (a fixed
// delay per request such as Nagle + delayed ACK, 40 ms, or a 1 s Expect: 100-continue wait).
TEST_P(S3ConformanceTest, LatencyOfSmallSequentialRequests) {
  constexpr int kRequests = 200;
  const ObjectRef ref = RefOf(Dataset::kLargeFile);
  std::string buf(4096, '\0');
  auto start = Clock::now();
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(source_->Stat(Dataset::kLargeFile).ok());
  }
  const double head_ms = Seconds(Clock::now() - start) * 1000 / kRequests;
  start = Clock::now();
  for (int i = 0; i < kRequests; ++i) {
    Result<size_t> n = source_->Read(ref, uint64_t{4096} * i, Bytes(buf));
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    ASSERT_EQ(*n, buf.size());
  }
  const double get_ms = Seconds(Clock::now() - start) * 1000 / kRequests;
  std::printf("[ latency  ] %s: %d HEAD: %.2f ms each; %d ranged GET of 4 KiB: %.2f ms each\n",
              ServerName({GetParam(), 0}).c_str(), kRequests, head_ms, kRequests, get_ms);
  // Not a performance figure (those live in bench/): a guard against the Nagle + delayed-ACK
  // stall (~40 ms per small response) seen with radosgw before its harness set tcp_nodelay.
  EXPECT_LT(head_ms, 30.0);
  EXPECT_LT(get_ms, 30.0);
}

// s3rver does not verify signatures: a wrong secret for its own key, and an anonymous request,
// are served (RGW refuses both with 403: S3SourceTest.RefusedCredentials...); only an access key
// it does not know is refused (403). If this starts failing, s3rver's checks changed and the
// RGW-only auth checks may be worth running here too.
TEST_F(S3rverTest, AcceptsAnySignatureButNotAnUnknownKey) {
  const std::string wrong = "wrong+secret/ABCDEFGHIJKLMNOPQRSTUVWX";
  for (const auto& [key, secret, served] : std::vector<std::tuple<std::string, std::string, bool>>{
           {S3rverServer::access_key(), wrong, true},
           {"", "", true},
           {"AKIAUNKNOWNKEY000000", wrong, false}}) {
    RemoteOptions o = Opts();
    o.s3.access_key_id = key;
    o.s3.secret_access_key = secret;
    std::unique_ptr<ObjectSource> src = Open(std::string("s3://") + kBucket + "/data", o);
    ASSERT_NE(src, nullptr);
    Result<ObjectInfo> info = src->Stat(Dataset::kLargeFile);
    if (served) {
      EXPECT_TRUE(info.ok()) << "key '" << key << "': " << info.status().ToString();
    } else {
      EXPECT_EQ(info.status().code(), StatusCode::kPermissionDenied) << info.status().ToString();
    }
  }
}

}  // namespace
}  // namespace hoardfs
