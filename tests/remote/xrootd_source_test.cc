// The ObjectSource conformance suite: one set of test bodies run against the file:// backend and
// against a real xrootd serving the same generated dataset (tests/support). Then what only a
// network backend has: outages, unreachable and silent servers.
//
// Process order matters for XrdCl (it does not survive fork()): the global environment generates
// the dataset and starts xrootd before any test creates an XrdCl object; Restart() in the outage
// test runs later, which is safe because the server is started with posix_spawn (see
// tests/support/xrootd_server.h).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "remote/circuit_breaker.h"
#include "remote/object_source.h"
#include "tests/support/dataset.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/xrootd_server.h"

namespace hoardfs {
namespace {

using Clock = std::chrono::steady_clock;
using testing::Dataset;
using testing::ScratchDir;
using testing::XRootDServer;

// A directory inside the export for tests that create and rewrite files; not in the manifest.
constexpr const char* kScratch = "zz_scratch";

std::span<std::byte> Bytes(std::string& s) {
  return std::as_writable_bytes(std::span<char>(s.data(), s.size()));
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// ---- the shared environment ---------------------------------------------------------------------

struct World {
  ScratchDir dir;
  std::optional<Dataset> dataset;
  std::unique_ptr<XRootDServer> server;
  std::string server_error;  // why there is no server (empty: there is one, or none was needed)
  bool xrootd_installed = false;
};

World& TheWorld() {
  static World world;
  return world;
}

bool AnySelectedTestNeedsXRootD() {
  const ::testing::UnitTest* unit = ::testing::UnitTest::GetInstance();
  for (int i = 0; i < unit->total_test_suite_count(); ++i) {
    const ::testing::TestSuite* suite = unit->GetTestSuite(i);
    for (int j = 0; j < suite->total_test_count(); ++j) {
      const ::testing::TestInfo* info = suite->GetTestInfo(j);
      const std::string name = std::string(suite->name()) + "." + info->name();
      if (info->should_run() && name.find("XRootD") != std::string::npos) return true;
      if (info->should_run() && name.find("/xrootd") != std::string::npos) return true;
    }
  }
  return false;
}

class WorldEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    World& w = TheWorld();
    auto dir = ScratchDir::CreateInMemory("hoardfs-conformance-");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    w.dir = std::move(dir).value();
    auto ds = Dataset::Generate(w.dir.Sub("data"), testing::DatasetOptions{});
    ASSERT_TRUE(ds.ok()) << ds.status().ToString();
    w.dataset.emplace(std::move(ds).value());
    std::printf("[ dataset  ] %zu entries, %.2f s to generate\n", w.dataset->entries().size(),
                w.dataset->generation_seconds());
    const std::string scratch = w.dataset->dir() + "/" + kScratch;
    ASSERT_EQ(::mkdir(scratch.c_str(), 0755), 0);
    ASSERT_EQ(::chmod(scratch.c_str(), 0755), 0);

    w.xrootd_installed = !XRootDServer::FindBinary().empty();
    if (!w.xrootd_installed || !AnySelectedTestNeedsXRootD()) return;
    // Started here, before any test creates an XrdCl object in this process.
    testing::XRootDServerOptions options;
    options.data_dir = w.dataset->dir();
    const auto start = Clock::now();
    auto server = XRootDServer::Start(options);
    if (!server.ok()) {
      w.server_error = server.status().ToString();
      return;
    }
    w.server = std::move(server).value();
    std::printf("[ xrootd   ] pid %d on %s, ready in %.2f s\n", w.server->pid(),
                w.server->RootUrl().c_str(), Seconds(Clock::now() - start));
  }
  void TearDown() override {
    World& w = TheWorld();
    w.server.reset();
    w.dataset.reset();
    w.dir = ScratchDir();
  }
};

[[maybe_unused]] const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new WorldEnvironment);

// Skips (xrootd not installed) or fails (it is, but did not start) a test that needs the server.
#define REQUIRE_XROOTD_SERVER()                                                           \
  do {                                                                                    \
    if (!TheWorld().xrootd_installed) GTEST_SKIP() << "xrootd is not installed on $PATH"; \
    ASSERT_NE(TheWorld().server, nullptr)                                                 \
        << "xrootd failed to start: " << TheWorld().server_error;                         \
  } while (0)

// ---- the conformance suite
// ------------------------------------------------------------------------

enum class Backend { kFile, kXRootD };

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kFile ? "file" : "xrootd";
}

class ConformanceTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(TheWorld().dataset.has_value());
    if (GetParam() == Backend::kXRootD) REQUIRE_XROOTD_SERVER();
    source_ = OpenAt("/", RemoteOptions{});
    ASSERT_NE(source_, nullptr);
  }

  const Dataset& ds() const { return *TheWorld().dataset; }

  // A source rooted at `subdir` of the dataset.
  std::unique_ptr<ObjectSource> OpenAt(const std::string& subdir, const RemoteOptions& options) {
    std::string url;
    if (GetParam() == Backend::kFile) {
      url = "file://" + ds().dir() + (subdir == "/" ? "" : subdir);
    } else {
      url = TheWorld().server->RootUrl() + "/" + subdir;
    }
    auto src = OpenObjectSource(url, options);
    EXPECT_TRUE(src.ok()) << url << ": " << src.status().ToString();
    return src.ok() ? std::move(src).value() : nullptr;
  }

  ObjectRef RefOf(const std::string& path) {
    Result<ObjectInfo> info = source_->Stat(path);
    EXPECT_TRUE(info.ok()) << path << ": " << info.status().ToString();
    return {path, info.ok() ? info->version : "", info.ok() ? info->size : 0};
  }

  // The whole listing of `dir`, following page tokens.
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
    } while (!token.empty() && *pages < 100000);
    return out;
  }

  // A unique path in the writable scratch directory, and its local file.
  std::string ScratchPath(const std::string& name) const {
    return std::string("/") + kScratch + "/" + name + "-" + BackendName({GetParam(), 0}) + "-" +
           std::to_string(::getpid());
  }
  std::string Local(const std::string& path) const { return ds().dir() + path; }

  std::unique_ptr<ObjectSource> source_;
};

TEST_P(ConformanceTest, StatFilesDirectoriesRootAndMissing) {
  Result<ObjectInfo> root = source_->Stat("/");
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  EXPECT_EQ(root->type, ObjectType::kDirectory);
  EXPECT_EQ(root->name, "");

  int checked = 0;
  for (const testing::DatasetEntry& e : ds().entries()) {
    // All of it but most of the 20,000 tiny files (one round trip each over XRootD).
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
  EXPECT_GT(checked, 2000);

  for (const char* missing :
       {"/nope", "/small/nope", "/small/d0/nope/deeper", "/emptydir/x", "/large.bin/x"}) {
    EXPECT_EQ(source_->Stat(missing).status().code(), StatusCode::kNotFound) << missing;
  }
  for (const char* bad : {"relative", "/a/../b", "/small/", "//small", ""}) {
    EXPECT_EQ(source_->Stat(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST_P(ConformanceTest, ListEveryDirectoryMatchesTheDataset) {
  for (const std::string& dir : ds().Directories()) {
    int pages = 0;
    std::vector<ObjectInfo> got = ListAll(*source_, dir, &pages);
    std::map<std::string, std::tuple<ObjectType, uint64_t>> actual;
    for (const ObjectInfo& e : got) {
      if (dir == "/" && e.name == kScratch) continue;
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
      EXPECT_EQ(got.size(), 20000u);
      if (GetParam() == Backend::kXRootD) {
        EXPECT_EQ(pages, 1);  // one round trip
      }
    }
  }
  // List and Stat agree on versions.
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
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->entries.empty());
  EXPECT_TRUE(empty->next_token.empty());
}

TEST_P(ConformanceTest, ListNamesMatchesTheListingWhereNamesAreCheap) {
  if (GetParam() == Backend::kFile) {
    EXPECT_FALSE(source_->lists_names_cheaply());
    EXPECT_EQ(source_->ListNames("/small").status().code(), StatusCode::kNotSupported);
    return;
  }
  ASSERT_TRUE(source_->lists_names_cheaply());
  for (const std::string& dir : ds().Directories()) {
    Result<std::vector<std::string>> names = source_->ListNames(dir);
    ASSERT_TRUE(names.ok()) << dir << ": " << names.status().ToString();
    std::vector<std::string> expected;
    for (const testing::DatasetEntry* e : ds().Children(dir)) {
      expected.push_back(e->path.substr(e->path.rfind('/') + 1));
    }
    std::erase(*names, std::string(kScratch));
    std::sort(names->begin(), names->end());
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(*names, expected) << dir;
  }
  EXPECT_EQ(source_->ListNames("/missing").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(source_->ListNames(Dataset::kLargeFile).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(ConformanceTest, ListTheBigDirectoryQuickly) {
  const auto start = Clock::now();
  int pages = 0;
  std::vector<ObjectInfo> got = ListAll(*source_, Dataset::kBigDir, &pages);
  const double took = Seconds(Clock::now() - start);
  std::printf("[ list     ] %zu entries in %d page(s), %.3f s\n", got.size(), pages, took);
  EXPECT_EQ(got.size(), 20000u);
  EXPECT_LT(took, 10.0);
}

TEST_P(ConformanceTest, ReadEverySmallFileExactly) {
  int files = 0;
  for (const testing::DatasetEntry& e : ds().entries()) {
    if (e.type != ObjectType::kFile || e.path == Dataset::kLargeFile) continue;
    if (e.path.rfind(Dataset::kBigDir + std::string("/"), 0) == 0 && e.path.back() != '3') {
      continue;  // a tenth of the tiny files
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
  EXPECT_GT(files, 2000);
  // Names with spaces and non-ASCII characters.
  for (const char* path : {Dataset::kSpaceFile, Dataset::kUnicodeFile}) {
    const ObjectRef ref = RefOf(path);
    std::string buf(ref.size, '\0');
    Result<size_t> n = source_->Read(ref, 0, Bytes(buf));
    ASSERT_TRUE(n.ok()) << path << ": " << n.status().ToString();
    EXPECT_EQ(buf, ds().Bytes(path, 0, ref.size)) << path;
  }
  // The empty file.
  const ObjectRef empty = RefOf(Dataset::kEmptyFile);
  EXPECT_EQ(empty.size, 0u);
  std::string buf(10, '\0');
  Result<size_t> n = source_->Read(empty, 0, Bytes(buf));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  // Not files.
  EXPECT_FALSE(source_->Read({"/small", "", 10}, 0, Bytes(buf)).ok());
  EXPECT_EQ(source_->Read({"/nope", "", 10}, 0, Bytes(buf)).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(source_->Read({"nope", "", 10}, 0, Bytes(buf)).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_P(ConformanceTest, ReadRangesOfTheLargeFile) {
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
    ASSERT_EQ(*n, expected.size()) << c.offset << "+" << c.length;  // short only at the end
    buf.resize(*n);
    EXPECT_TRUE(buf == expected) << c.offset << "+" << c.length;
  }
  // The whole file in 8 MiB reads hashes to the manifest's SHA-256.
  std::string all;
  all.reserve(size);
  std::string buf(8 << 20, '\0');
  for (uint64_t at = 0; at < size; at += buf.size()) {
    Result<size_t> n = source_->Read(ref, at, Bytes(buf));
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    all.append(buf.data(), *n);
  }
  EXPECT_EQ(testing::Sha256Hex(all), ds().Find(Dataset::kLargeFile)->sha256);
}

TEST_P(ConformanceTest, ReadVScatteredRanges) {
  const ObjectRef ref = RefOf(Dataset::kLargeFile);
  const uint64_t size = ref.size;
  std::mt19937_64 rng(7);
  // 3000 ranges of 1 B..160 KiB (more than one vector read's 1024 chunks), a 5 MiB range (more
  // than one chunk's 2 MiB), a range across the end, one past it and an empty one.
  std::vector<std::pair<uint64_t, size_t>> spec;
  for (int i = 0; i < 3000; ++i) {
    const size_t len = 1 + rng() % (160 << 10);
    spec.emplace_back(rng() % (size - len), len);
  }
  spec.emplace_back(1000, 5 << 20);
  spec.emplace_back(size - 500, 2000);
  spec.emplace_back(size + 10, 100);
  spec.emplace_back(4096, 0);
  std::vector<std::string> bufs;
  bufs.reserve(spec.size());
  std::vector<ReadRange> ranges(spec.size());
  for (size_t i = 0; i < spec.size(); ++i) {
    bufs.emplace_back(spec[i].second, '\0');
    ranges[i].offset = spec[i].first;
    ranges[i].out = Bytes(bufs.back());
  }
  Status s = source_->ReadV(ref, ranges);
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (size_t i = 0; i < spec.size(); ++i) {
    ASSERT_TRUE(ranges[i].status.ok()) << i << ": " << ranges[i].status.ToString();
    const std::string expected = ds().Bytes(Dataset::kLargeFile, spec[i].first, spec[i].second);
    ASSERT_EQ(ranges[i].bytes_read, expected.size()) << i;
    EXPECT_TRUE(bufs[i].compare(0, expected.size(), expected) == 0) << "range " << i;
  }
  // A ReadV of a missing file fails as a whole and in every range.
  std::vector<ReadRange> missing(2);
  missing[0].out = Bytes(bufs[0]);
  missing[1].out = Bytes(bufs[1]);
  EXPECT_EQ(source_->ReadV({"/nope", "", 100}, missing).code(), StatusCode::kNotFound);
  EXPECT_EQ(missing[1].status.code(), StatusCode::kNotFound);
}

TEST_P(ConformanceTest, SixteenThreadsReadConcurrently) {
  // Few handles for many files: eviction races with reads.
  RemoteOptions options;
  options.max_open_files = 3;
  std::unique_ptr<ObjectSource> src = OpenAt("/", options);
  ASSERT_NE(src, nullptr);
  std::vector<ObjectRef> refs = {RefOf(Dataset::kLargeFile)};
  for (const testing::DatasetEntry* e : ds().Children("/small/d2/e3"))
    refs.push_back(RefOf(e->path));
  ASSERT_GT(refs.size(), 5u);
  std::atomic<int> bad{0};
  std::atomic<int> reads{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(100 + t);
      for (int i = 0; i < 60; ++i) {
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
          Status s = src->ReadV(ref, ranges);
          if (!s.ok() || !ranges[0].status.ok() || ranges[0].bytes_read != expected.size() ||
              b1.compare(0, expected.size(), expected) != 0 ||
              b2.compare(0, ranges[1].bytes_read, ds().Bytes(ref.path, 0, 100)) != 0) {
            ++bad;
          }
        } else {
          std::string buf(length, '\0');
          Result<size_t> n = src->Read(ref, offset, Bytes(buf));
          if (!n.ok() || *n != expected.size() || buf.compare(0, *n, expected) != 0) ++bad;
        }
        ++reads;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(reads.load(), 16 * 60);
}

void WriteLocal(const std::string& path, const std::string& content, time_t mtime, bool by_rename) {
  const std::string target = by_rename ? path + ".tmp" : path;
  {
    std::ofstream out(target, std::ios::binary | std::ios::trunc);
    out << content;
  }
  ::chmod(target.c_str(), 0644);
  const struct timespec times[2] = {{mtime, 0}, {mtime, 0}};
  ::utimensat(AT_FDCWD, target.c_str(), times, 0);
  if (by_rename) ::rename(target.c_str(), path.c_str());
}

TEST_P(ConformanceTest, ReadsNeverMixVersions) {
  const std::string path = ScratchPath("versioned");
  const std::string local = Local(path);
  const time_t t0 = 1700000000;
  const std::string v1(1000, 'a');
  WriteLocal(local, v1, t0, false);
  const ObjectRef ref1 = RefOf(path);
  EXPECT_EQ(ref1.size, 1000u);
  std::string buf(4000, '\0');
  Result<size_t> n = source_->Read(ref1, 0, Bytes(buf));  // the handle is now open and cached
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(buf.substr(0, *n), v1);

  // Rewritten in place, larger, with a later mtime: the old ref gets no bytes.
  const std::string v2(1500, 'b');
  WriteLocal(local, v2, t0 + 10, false);
  const ObjectRef ref2 = RefOf(path);
  EXPECT_NE(ref2.version, ref1.version);
  EXPECT_EQ(ref2.size, 1500u);
  n = source_->Read(ref1, 0, Bytes(buf));
  EXPECT_EQ(n.status().code(), StatusCode::kFailedPrecondition) << n.status().ToString();
  std::vector<ReadRange> ranges(1);
  ranges[0].out = Bytes(buf);
  (void)source_->ReadV(ref1, ranges);
  EXPECT_EQ(ranges[0].status.code(), StatusCode::kFailedPrecondition);
  n = source_->Read(ref2, 0, Bytes(buf));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(buf.substr(0, *n), v2);

  // Same size, new mtime, in place: still detected.
  const std::string v3(1500, 'c');
  WriteLocal(local, v3, t0 + 20, false);
  n = source_->Read(ref2, 0, Bytes(buf));
  EXPECT_EQ(n.status().code(), StatusCode::kFailedPrecondition) << n.status().ToString();
  const ObjectRef ref3 = RefOf(path);
  n = source_->Read(ref3, 0, Bytes(buf));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(buf.substr(0, *n), v3);

  // Replaced by rename: either refused, or the old version whole (a handle still open on it).
  WriteLocal(local, std::string(1500, 'd'), t0 + 30, true);
  n = source_->Read(ref3, 0, Bytes(buf));
  if (n.ok()) {
    EXPECT_EQ(buf.substr(0, *n), v3);
  } else {
    EXPECT_EQ(n.status().code(), StatusCode::kFailedPrecondition) << n.status().ToString();
  }
  // Shrunk in place, read by a fresh source: refused. (While any client keeps the replaced
  // inode open, xrootd hands the same open file to every opener of the path: its handles are
  // shared by path. So close source_ first; otherwise the old version could still be served.)
  source_.reset();
  WriteLocal(local, std::string(10, 'e'), t0 + 40, false);
  std::unique_ptr<ObjectSource> fresh = OpenAt("/", RemoteOptions{});
  n = fresh->Read(ref3, 0, Bytes(buf));
  EXPECT_EQ(n.status().code(), StatusCode::kFailedPrecondition) << n.status().ToString();
  ::unlink(local.c_str());
}

TEST_P(ConformanceTest, SourceRootedInASubdirectory) {
  std::unique_ptr<ObjectSource> sub = OpenAt("/small/d1", RemoteOptions{});
  ASSERT_NE(sub, nullptr);
  Result<ObjectInfo> root = sub->Stat("/");
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  EXPECT_EQ(root->type, ObjectType::kDirectory);
  int pages = 0;
  std::set<std::string> names;
  for (const ObjectInfo& e : ListAll(*sub, "/", &pages)) names.insert(e.name);
  std::set<std::string> expected;
  for (const auto* e : ds().Children("/small/d1")) expected.insert(e->path.substr(10));
  EXPECT_EQ(names, expected);
  const testing::DatasetEntry* first = ds().Children("/small/d1/e0").front();
  const std::string inner = first->path.substr(std::string("/small/d1").size());
  Result<ObjectInfo> info = sub->Stat(inner);
  ASSERT_TRUE(info.ok()) << inner << ": " << info.status().ToString();
  std::string buf(first->size, '\0');
  Result<size_t> n = sub->Read({inner, info->version, info->size}, 0, Bytes(buf));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(testing::Sha256Hex(buf), first->sha256);
  EXPECT_EQ(sub->Stat("/large.bin").status().code(), StatusCode::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(Backends, ConformanceTest,
                         ::testing::Values(Backend::kFile, Backend::kXRootD), BackendName);

// ---- XRootD only
// ----------------------------------------------------------------------------------

// The backend's own behaviour in an outage: no circuit breaker in front (down_retry 0), so
// every call meets the dead server itself.
RemoteOptions ShortTimeouts() {
  RemoteOptions options;
  options.timeout = std::chrono::seconds(2);
  options.max_attempts = 2;
  options.initial_backoff = std::chrono::milliseconds(100);
  options.down_retry = std::chrono::milliseconds(0);
  return options;
}

// Established TCP connections of this network namespace to `port` on any address (the client's
// side: /proc/net/tcp and tcp6, remote address ending in ":PORT" in hex, state 01). XrdCl
// connects over IPv6 sockets where it can (::ffff:127.0.0.1), so both tables count.
int EstablishedConnectionsTo(uint16_t port) {
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, ":%04X", port);
  int n = 0;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state;
      fields >> slot >> local >> remote >> state;
      if (remote.ends_with(suffix) && state == "01") ++n;
    }
  }
  return n;
}

// XrdCl is set to 4 streams per server (xrootd_source.h): the reads' data comes back over more
// than one connection, and every byte is right.
TEST(XRootDStreamsTest, ReadsUseSeveralConnectionsToTheServer) {
  REQUIRE_XROOTD_SERVER();
  if (std::getenv("XRD_SUBSTREAMSPERCHANNEL") != nullptr) {
    GTEST_SKIP() << "XRD_SUBSTREAMSPERCHANNEL is set: the environment decides the streams";
  }
  XRootDServer& server = *TheWorld().server;
  const Dataset& ds = *TheWorld().dataset;
  auto opened = OpenObjectSource(server.RootUrl() + "//", RemoteOptions{});
  ASSERT_TRUE(opened.ok());
  std::unique_ptr<ObjectSource> src = std::move(opened).value();
  Result<ObjectInfo> info = src->Stat(Dataset::kLargeFile);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  const ObjectRef ref{Dataset::kLargeFile, info->version, info->size};
  const std::string expected = ds.Bytes(Dataset::kLargeFile, 0, info->size);
  ASSERT_EQ(expected.size(), info->size);
  // Four readers at once, 1 MiB each, over the whole file.
  constexpr size_t kChunk = 1 << 20;
  std::atomic<int> wrong{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      std::string buf(kChunk, '\0');
      for (uint64_t off = t * kChunk; off < info->size; off += 4 * kChunk) {
        Result<size_t> n = src->Read(ref, off, Bytes(buf));
        const size_t want = std::min<uint64_t>(kChunk, info->size - off);
        if (!n.ok() || *n != want || buf.compare(0, want, expected, off, want) != 0) ++wrong;
      }
    });
  }
  for (std::thread& r : readers) r.join();
  EXPECT_EQ(wrong.load(), 0);
  // XrdCl binds the substreams in the background once the first reads are out: a short read can
  // end before they connect (a fresh-clone CI counted one connection). They stay once bound.
  int connections = EstablishedConnectionsTo(server.port());
  for (int i = 0; i < 100 && connections <= 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    connections = EstablishedConnectionsTo(server.port());
  }
  EXPECT_GT(connections, 1) << "the reads came over one connection: substreams were not bound";
}

TEST(XRootDOutageTest, ServerDownIsUnavailableQuicklyAndRecovers) {
  REQUIRE_XROOTD_SERVER();
  XRootDServer& server = *TheWorld().server;
  const Dataset& ds = *TheWorld().dataset;
  auto opened = OpenObjectSource(server.RootUrl() + "//", ShortTimeouts());
  ASSERT_TRUE(opened.ok());
  std::unique_ptr<ObjectSource> src = std::move(opened).value();
  Result<ObjectInfo> info = src->Stat(Dataset::kLargeFile);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  const ObjectRef ref{Dataset::kLargeFile, info->version, info->size};
  std::string buf(4096, '\0');
  ASSERT_TRUE(src->Read(ref, 0, Bytes(buf)).ok());  // a handle is open and cached

  ASSERT_TRUE(server.Stop().ok());
  struct Probe {
    const char* what;
    std::function<Status()> call;
  };
  const std::vector<Probe> probes = {
      {"stat", [&] { return src->Stat(Dataset::kLargeFile).status(); }},
      {"read (cached handle)", [&] { return src->Read(ref, 8192, Bytes(buf)).status(); }},
      {"list", [&] { return src->List("/small", "").status(); }},
      {"read (new handle)",
       [&] {
         return src->Read({Dataset::kSpaceFile, "", 1000}, 0, Bytes(buf)).status();
       }},
  };
  for (const Probe& p : probes) {
    const auto start = Clock::now();
    const Status s = p.call();
    const double took = Seconds(Clock::now() - start);
    std::printf("[ outage   ] %s: %.2f s: %s\n", p.what, took, s.ToString().c_str());
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << p.what << ": " << s.ToString();
    EXPECT_LT(took, 15.0) << p.what;
  }

  ASSERT_TRUE(server.Restart().ok()) << server.LogTail();
  const auto start = Clock::now();
  Result<ObjectInfo> again = src->Stat(Dataset::kLargeFile);
  for (int i = 0; !again.ok() && i < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    again = src->Stat(Dataset::kLargeFile);
  }
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->version, ref.version);
  Result<size_t> n = src->Read(ref, 1 << 20, Bytes(buf));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(buf, ds.Bytes(Dataset::kLargeFile, 1 << 20, buf.size()));
  std::printf("[ outage   ] usable again %.2f s after the restart\n",
              Seconds(Clock::now() - start));
}

TEST(XRootDOutageTest, HungServerTimesOutAndRecovers) {
  REQUIRE_XROOTD_SERVER();
  XRootDServer& server = *TheWorld().server;
  auto opened = OpenObjectSource(server.RootUrl() + "//", ShortTimeouts());
  ASSERT_TRUE(opened.ok());
  std::unique_ptr<ObjectSource> src = std::move(opened).value();
  Result<ObjectInfo> info = src->Stat(Dataset::kLargeFile);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  const ObjectRef ref{Dataset::kLargeFile, info->version, info->size};
  std::string buf(4096, '\0');
  ASSERT_TRUE(src->Read(ref, 0, Bytes(buf)).ok());

  ASSERT_TRUE(server.Pause().ok());  // connections stay up, nothing answers
  for (const char* what : {"stat", "read"}) {
    const auto start = Clock::now();
    const Status s = std::string(what) == "stat" ? src->Stat("/small").status()
                                                 : src->Read(ref, 8192, Bytes(buf)).status();
    const double took = Seconds(Clock::now() - start);
    std::printf("[ hung     ] %s: %.2f s: %s\n", what, took, s.ToString().c_str());
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << what << ": " << s.ToString();
    EXPECT_LT(took, 15.0) << what;
  }
  ASSERT_TRUE(server.Resume().ok());
  Result<size_t> n = src->Read(ref, 8192, Bytes(buf));
  for (int i = 0; !n.ok() && i < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    n = src->Read(ref, 8192, Bytes(buf));
  }
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(buf, TheWorld().dataset->Bytes(Dataset::kLargeFile, 8192, buf.size()));
}

// With the circuit breaker OpenObjectSource puts in front by default: a hung (SIGSTOPped) server
// costs the first call its timeout x attempts; the calls after it fail at once, so 20 stats and
// reads together take about one call's time. After SIGCONT and the probe interval, reads work.
TEST(XRootDOutageTest, HungServerBreakerFailsFastThenRecovers) {
  REQUIRE_XROOTD_SERVER();
  XRootDServer& server = *TheWorld().server;
  RemoteOptions options = ShortTimeouts();
  options.down_retry = std::chrono::seconds(1);
  options.down_retry_max = std::chrono::seconds(2);
  auto opened = OpenObjectSource(server.RootUrl() + "//", options);
  ASSERT_TRUE(opened.ok());
  std::unique_ptr<ObjectSource> src = std::move(opened).value();
  auto* breaker = dynamic_cast<CircuitBreakerSource*>(src.get());
  ASSERT_NE(breaker, nullptr) << "OpenObjectSource did not put a circuit breaker in front";
  Result<ObjectInfo> info = src->Stat(Dataset::kLargeFile);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  const ObjectRef ref{Dataset::kLargeFile, info->version, info->size};
  std::string buf(4096, '\0');
  ASSERT_TRUE(src->Read(ref, 0, Bytes(buf)).ok());  // a handle is open and cached

  struct ResumeGuard {
    XRootDServer& server;
    ~ResumeGuard() { (void)server.Resume(); }  // also when an assertion returns early
  } resume_guard{server};
  ASSERT_TRUE(server.Pause().ok());
  const auto start = Clock::now();
  double first = 0, slowest_after_first = 0;
  for (int i = 0; i < 20; ++i) {
    const auto t0 = Clock::now();
    const Status s = i % 2 == 0
                         ? src->Stat(i % 4 == 0 ? "/small" : Dataset::kSpaceFile).status()
                         : src->Read(ref, 8192 * static_cast<uint64_t>(i), Bytes(buf)).status();
    const double took = Seconds(Clock::now() - t0);
    (i == 0 ? first : slowest_after_first) = std::max(i == 0 ? first : slowest_after_first, took);
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << i << ": " << s.ToString();
    if (i == 1) std::printf("[ breaker  ] a fast failure says: %s\n", s.ToString().c_str());
  }
  const double total = Seconds(Clock::now() - start);
  // One call's worst case: each attempt's timeout, which XrdCl fires on a 1 s tick (up to 1 s
  // late: TimeoutResolution, xrootd_source.h), and the sleeps between attempts (the k-th at most
  // 1.5 x initial_backoff x 2^(k-1)); then 1 s for the 19 calls that must not wait at all.
  double bound = 1.0;
  for (unsigned k = 1; k <= options.max_attempts; ++k) {
    bound += Seconds(options.timeout) + 1.0;
    if (k < options.max_attempts) bound += 1.5 * Seconds(options.initial_backoff) * (1 << (k - 1));
  }
  std::printf(
      "[ breaker  ] 20 calls to the hung server: %.2f s (first %.2f s, then at most "
      "%.3f s each; bound %.2f s)\n",
      total, first, slowest_after_first, bound);
  EXPECT_LT(total, bound) << "calls to a server known down waited for it";
  EXPECT_LT(total - first, 1.0) << "the 19 calls after the first waited for the hung server";
  EXPECT_LT(slowest_after_first, 0.05);
  CircuitBreakerStats st = breaker->Stats();
  EXPECT_TRUE(st.down);
  EXPECT_EQ(st.trips, 1u);
  EXPECT_GE(st.fast_failures, 19u);

  ASSERT_TRUE(server.Resume().ok());
  std::this_thread::sleep_for(options.down_retry);
  const auto back = Clock::now();
  Result<size_t> n = src->Read(ref, 8192, Bytes(buf));
  while (!n.ok() && Clock::now() - back < std::chrono::seconds(10)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    n = src->Read(ref, 8192, Bytes(buf));
  }
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(buf, TheWorld().dataset->Bytes(Dataset::kLargeFile, 8192, buf.size()));
  EXPECT_TRUE(src->Stat("/small").ok());
  st = breaker->Stats();
  EXPECT_FALSE(st.down);
  std::printf("[ breaker  ] usable again %.2f s after SIGCONT + %.1f s (%llu probes)\n",
              Seconds(Clock::now() - back), Seconds(options.down_retry),
              static_cast<unsigned long long>(st.probes));
}

TEST(XRootDOutageTest, UnreachablePortFailsQuickly) {
  if (XRootDServer::FindBinary().empty()) GTEST_SKIP() << "xrootd is not installed on $PATH";
  Result<uint16_t> port = testing::PickFreePort();  // nobody listens there
  ASSERT_TRUE(port.ok());
  auto opened =
      OpenObjectSource("root://127.0.0.1:" + std::to_string(*port) + "//data", ShortTimeouts());
  ASSERT_TRUE(opened.ok()) << "opening must not contact the server";
  const auto start = Clock::now();
  Result<ObjectInfo> info = (*opened)->Stat("/");
  const double took = Seconds(Clock::now() - start);
  std::printf("[ refused  ] stat: %.2f s: %s\n", took, info.status().ToString().c_str());
  EXPECT_EQ(info.status().code(), StatusCode::kUnavailable) << info.status().ToString();
  EXPECT_LT(took, 5.0);
}

TEST(XRootDOutageTest, SilentServerTimesOut) {
  if (XRootDServer::FindBinary().empty()) GTEST_SKIP() << "xrootd is not installed on $PATH";
  // A socket that accepts connections (the kernel completes the handshake) and never answers.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 16), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  auto opened = OpenObjectSource("root://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "//",
                                 ShortTimeouts());
  ASSERT_TRUE(opened.ok());
  const auto start = Clock::now();
  Result<ObjectInfo> info = (*opened)->Stat("/x");
  const double took = Seconds(Clock::now() - start);
  std::printf("[ silent   ] stat: %.2f s: %s\n", took, info.status().ToString().c_str());
  EXPECT_EQ(info.status().code(), StatusCode::kUnavailable) << info.status().ToString();
  EXPECT_LT(took, 15.0);
  ::close(fd);
}

// The support library's own promises.
TEST(DatasetTest, GeneratedFastAndMatchesItsManifest) {
  const Dataset& ds = *TheWorld().dataset;
  EXPECT_LT(ds.generation_seconds(), 5.0);
  EXPECT_EQ(ds.Children(Dataset::kBigDir).size(), 20000u);
  EXPECT_EQ(ds.Children("/small/d0/e0").size(), 10u);
  // Every small file on disk hashes to its manifest entry, and Bytes() agrees with the disk.
  int checked = 0;
  for (const testing::DatasetEntry& e : ds.entries()) {
    if (e.type != ObjectType::kFile || e.size > (1 << 20)) continue;
    if (e.path.rfind(Dataset::kBigDir + std::string("/"), 0) == 0 && e.path.back() != '1') continue;
    std::ifstream in(ds.dir() + e.path, std::ios::binary);
    const std::string content((std::istreambuf_iterator<char>(in)), {});
    ASSERT_EQ(content.size(), e.size) << e.path;
    EXPECT_EQ(testing::Sha256Hex(content), e.sha256) << e.path;
    EXPECT_EQ(ds.Bytes(e.path, 0, e.size), content) << e.path;
    ++checked;
  }
  EXPECT_GT(checked, 2000);
  EXPECT_EQ(testing::Sha256Hex(std::string_view("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  struct stat st {};
  ASSERT_EQ(::stat((ds.dir() + Dataset::kUnicodeFile).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

}  // namespace
}  // namespace hoardfs
