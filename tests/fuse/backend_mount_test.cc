// The end-to-end conformance suite of issue 4: the same cases, through the real `hoardfs mount`
// binary and a real FUSE mount, against every backend, over the same generated dataset:
//   XRootD      root://   a real xrootd
//   S3Rgw       s3://     a real Ceph RGW (verifies SigV4), credentials from a file
//   XRootDHttp  dav://    xrootd's HTTP door (XrdHttp; sends no ETags: size + mtime versions)
//   NginxToken  http://   nginx with dav-ext, a bearer token enforced by nginx (/auth/)
// Cases: every file's SHA-256 and `ls -R` through the mount, and a remount that reads nothing from
// the remote; 16 threads reading random ranges; a replaced remote object (new content after the
// TTL, never a mix); an outage (cached files readable, uncached ones EIO in bounded time, reads
// work after a restart); and for the servers that check credentials, a wrong secret or token
// fails `hoardfs mount` cleanly. The HTTP servers (XRootDHttp, NginxToken) are also hung by
// SIGSTOP (cached files readable, uncached ones EIO within a few seconds, recovery after SIGCONT),
// and nginx serves a directory of 100,000 files listed through the mount with the daemon's peak
// RSS bounded. mount_test.cc keeps the root://-only cases (hung server, real programs, mount
// errors); daemons and their teardown are mount_fixture.h's.
//
// Servers are started by the test, once, on first use (a --gtest_filter of one backend starts
// only its server), and stopped at the end; the S3 bucket is filled once. One xrootd serves both
// root:// and HTTP; it and nginx export the same directory.
//
// Skips (with the reason) only when not root, /dev/fuse is absent, or a backend's server is not
// installed.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/fuse/mount_fixture.h"
#include "tests/fuse/outage_steps.h"
#include "tests/support/dataset.h"
#include "tests/support/nginx_dav_server.h"
#include "tests/support/rgw_server.h"
#include "tests/support/s3_test_client.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/xrootd_server.h"

namespace hoardfs::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kAttrTtl = 2;  // --attr-ttl / --dir-ttl of every mount
constexpr const char* kBucket = "hoardfs-e2e";
constexpr const char* kDatasetDir = "dataset";  // in the served directory; the S3 key prefix
constexpr const char* kToken = "hoardfs-e2e-token-0123456789abcdef";

enum class Backend { kXRootD, kS3Rgw, kXRootDHttp, kNginxToken };

std::string BackendName(Backend b) {
  switch (b) {
    case Backend::kXRootD:
      return "XRootD";
    case Backend::kS3Rgw:
      return "S3Rgw";
    case Backend::kXRootDHttp:
      return "XRootDHttp";
    case Backend::kNginxToken:
      return "NginxToken";
  }
  return "?";
}

// ------------------------------------------------------------------------------------------------
// The world: the dataset and the servers, shared by every test of the binary.

struct World {
  std::string setup_error;  // the dataset could not be made
  std::unique_ptr<ScratchDir> dir;
  std::optional<Dataset> dataset;
  ExpectedTree expected;
  std::string served;  // exported by xrootd and nginx; the dataset is at served/dataset
  std::string s3_credentials;
  std::string token_file;

  // Each server: started on first use; `*_error` says why it is not there.
  std::unique_ptr<XRootDServer> xrootd;
  std::string xrootd_error;
  std::unique_ptr<RgwServer> rgw;
  std::unique_ptr<S3TestClient> s3;
  std::string rgw_error;
  std::unique_ptr<NginxDavServer> nginx;
  std::string nginx_error;
};

World& TheWorld() {
  static World world;
  return world;
}

// The dataset of every backend. Smaller than mount_test's (which keeps 20,000 entries in /bigdir
// for root://): 3,000 entries in /bigdir (still three S3 listing pages of 1,000) and a 32 MiB
// large file, so that four backends, two full passes each, fit in CI time (and under ASan).
std::string MakeDataset(World& w) {
  auto dir = ScratchDir::CreateInMemory("hoardfs-backend-e2e-");
  if (!dir.ok()) return dir.status().ToString();
  w.dir = std::make_unique<ScratchDir>(std::move(*dir));
  w.served = w.dir->Sub("served");
  if (::mkdir(w.served.c_str(), 0755) != 0) return "mkdir " + w.served + ": " + ErrnoName(errno);
  DatasetOptions options;
  options.large_file_size = uint64_t{32} << 20;
  options.big_dir_entries = 3000;
  auto ds = Dataset::Generate(w.served + "/" + kDatasetDir, options);
  if (!ds.ok()) return ds.status().ToString();
  w.dataset.emplace(std::move(*ds));
  for (const DatasetEntry& e : w.dataset->entries()) {
    w.expected[e.path] = ExpectedFile{e.type, e.size, e.sha256};
  }
  w.token_file = w.dir->Sub("token");
  if (!WriteWhole(w.token_file, std::string(kToken) + "\n")) return "cannot write the token";
  return "";
}

bool EnsureXRootD(World& w) {
  if (w.xrootd != nullptr) return true;
  if (!w.xrootd_error.empty()) return false;
  XRootDServerOptions o;
  o.data_dir = w.served;
  o.http = true;
  auto s = XRootDServer::Start(o);
  if (!s.ok()) {
    w.xrootd_error = "xrootd did not start: " + s.status().ToString();
    return false;
  }
  w.xrootd = std::move(*s);
  return true;
}

bool EnsureRgw(World& w) {
  if (w.rgw != nullptr) return true;
  if (!w.rgw_error.empty()) return false;
  const auto start = Clock::now();
  auto s = RgwServer::Start(RgwServerOptions{});
  if (!s.ok()) {
    w.rgw_error = "RGW did not start: " + s.status().ToString();
    return false;
  }
  w.rgw = std::move(*s);
  auto client =
      S3TestClient::Open(w.rgw->Endpoint(), kBucket, w.rgw->access_key(), w.rgw->secret_key());
  Status up = client.ok() ? (*client)->CreateBucket() : client.status();
  if (up.ok()) up = (*client)->UploadDataset(*w.dataset, std::string(kDatasetDir) + "/", 8);
  if (!up.ok()) {
    w.rgw_error = "filling the bucket: " + up.ToString();
    return false;
  }
  w.s3 = std::move(*client);
  w.s3_credentials = w.dir->Sub("s3.creds");
  const std::string creds = "[default]\naws_access_key_id = " + w.rgw->access_key() +
                            "\naws_secret_access_key = " + w.rgw->secret_key() + "\n";
  if (!WriteWhole(w.s3_credentials, creds)) {
    w.rgw_error = "cannot write the credentials file";
    return false;
  }
  std::cout << "RGW started and filled in " << SecondsSince(start) << " s\n";
  return true;
}

bool EnsureNginx(World& w) {
  if (w.nginx != nullptr) return true;
  if (!w.nginx_error.empty()) return false;
  auto s = NginxDavServer::Start(w.served, kToken);
  if (!s.ok()) {
    w.nginx_error = "nginx did not start: " + s.status().ToString();
    return false;
  }
  w.nginx = std::move(*s);
  return true;
}

class WorldEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    World& w = TheWorld();
    const auto start = Clock::now();
    w.s3.reset();
    w.rgw.reset();  // rgw → osd → mon
    w.nginx.reset();
    w.xrootd.reset();
    w.dataset.reset();
    w.dir.reset();
    std::cout << "servers stopped in " << SecondsSince(start) << " s\n";
  }
};

[[maybe_unused]] const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new WorldEnvironment);

// Waits until each of `cached` is wholly in the block cache, then drops the kernel's copy of it
// (reads then reach the daemon). Fatal assertions: call inside ASSERT_NO_FATAL_FAILURE.
void AwaitCachedThenDrop(const std::string& mnt, const std::vector<std::string>& cached,
                         const ExpectedTree& expected) {
  for (const std::string& p : cached) {
    const std::optional<std::string> v = AwaitCachedBytes(mnt + p, expected.at(p).size);
    ASSERT_TRUE(v.has_value()) << p << ": getxattr user.hoardfs.cached_bytes: " << ErrnoName(errno);
    ASSERT_EQ(*v, std::to_string(expected.at(p).size)) << p << " not (all) in the block cache";
    ASSERT_NO_FATAL_FAILURE(DropPageCache(mnt + p));
  }
}

// ------------------------------------------------------------------------------------------------
// The fixture: one backend, its server up, and how to reach and change it.

class BackendMountTest : public MountFixture, public ::testing::WithParamInterface<Backend> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (mounts with FUSE; CI runs as root)";
    if (::access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "/dev/fuse is absent";
    World& w = TheWorld();
    if (!w.dataset && w.setup_error.empty()) {
      w.setup_error = MakeDataset(w);
      if (w.setup_error.empty()) {
        std::cout << "dataset: " << w.expected.size() << " entries in "
                  << w.dataset->generation_seconds() << " s\n";
      }
    }
    ASSERT_EQ(w.setup_error, "") << "the dataset could not be made";
    switch (GetParam()) {
      case Backend::kXRootD:
      case Backend::kXRootDHttp:
        if (XRootDServer::FindBinary().empty()) GTEST_SKIP() << "xrootd is not installed";
        ASSERT_TRUE(EnsureXRootD(w)) << w.xrootd_error;
        if (!w.xrootd->running()) {
          Status s = w.xrootd->Restart();  // a previous test stopped it and failed early
          ASSERT_TRUE(s.ok()) << s.ToString();
        }
        break;
      case Backend::kS3Rgw:
        if (!RgwServer::Installed()) GTEST_SKIP() << "Ceph (ceph-mon, ceph-osd, radosgw) absent";
        ASSERT_TRUE(EnsureRgw(w)) << w.rgw_error;
        break;
      case Backend::kNginxToken:
        if (!NginxDavServer::Installed()) GTEST_SKIP() << "nginx with dav-ext is not installed";
        ASSERT_TRUE(EnsureNginx(w)) << w.nginx_error;
        break;
    }
    StartCase("hoardfs-backend-case-");
  }

  static World& W() { return TheWorld(); }
  static const Dataset& Ds() { return *TheWorld().dataset; }

  // The URL of directory `dir` of the served tree ("dataset", "changing-S3Rgw").
  std::string Url(const std::string& dir) const {
    World& w = W();
    switch (GetParam()) {
      case Backend::kXRootD:
        return w.xrootd->RootUrl() + "//" + dir;
      case Backend::kS3Rgw:
        return std::string("s3://") + kBucket + "/" + dir;
      case Backend::kXRootDHttp:
        return "dav://127.0.0.1:" + std::to_string(w.xrootd->http_port()) + "/" + dir;
      case Backend::kNginxToken:
        return w.nginx->Url() + "/auth/" + dir;
    }
    return "";
  }

  // The backend's own options (credentials, endpoint).
  std::vector<std::string> BackendOptions() const {
    switch (GetParam()) {
      case Backend::kS3Rgw:
        return {"--s3-endpoint", W().rgw->Endpoint(), "--s3-credentials-file", W().s3_credentials};
      case Backend::kNginxToken:
        return {"--bearer-token-file", W().token_file};
      default:
        return {};
    }
  }

  std::vector<std::string> MountOptions(const std::string& cache_dir) const {
    std::vector<std::string> o = {"--cache-dir",       cache_dir,
                                  "--cache-size",      "1G",
                                  "--attr-ttl",        std::to_string(kAttrTtl),
                                  "--dir-ttl",         std::to_string(kAttrTtl),
                                  "--negative-ttl",    "1",
                                  "--remote-timeout",  "2",
                                  "--remote-attempts", "1"};
    // A remote found down is probed after 1 s, then every 2 s at most.
    for (const char* x : {"--remote-down-retry", "1", "--remote-down-retry-max", "2"}) {
      o.emplace_back(x);
    }
    for (std::string& x : BackendOptions()) o.push_back(std::move(x));
    return o;
  }

  ::testing::AssertionResult Mount(const std::string& dir, const std::string& mnt,
                                   const std::string& cache, Daemon** out = nullptr) {
    return StartMount(Url(dir), mnt, MountOptions(cache), out);
  }

  // The remote down, past the TTLs: each of `cached` reads back whole and each of `uncached`
  // fails with EIO, each within `limit`. `label` follows a read's name in a deadline failure;
  // `state` ("server stopped") names the outage in the printed timings. A hung read is fatal.
  void CheckReadsWhileDown(const std::string& mnt, const std::vector<std::string>& cached,
                           const std::vector<std::string>& uncached, std::chrono::seconds limit,
                           const std::string& label, const std::string& state) {
    const ExpectedTree& expected = W().expected;
    double slowest = 0;
    for (const std::string& p : cached) {
      double secs = 0;
      std::optional<ReadOutcome> r = WithDeadline<ReadOutcome>(
          "read of cached " + p + label, limit, [&] { return ReadWhole(mnt + p); }, &secs,
          kHardDeadline);
      ASSERT_TRUE(r.has_value());
      slowest = std::max(slowest, secs);
      EXPECT_EQ(r->err, 0) << "cached " << p << ": " << ErrnoName(r->err);
      if (r->err == 0) {
        EXPECT_EQ(Sha256Hex(r->data), expected.at(p).sha256) << p;
      }
    }
    std::cout << cached.size() << " cached files, " << state << ": slowest read " << slowest
              << " s\n";
    for (const std::string& p : uncached) {
      double secs = 0;
      std::optional<ReadOutcome> r = WithDeadline<ReadOutcome>(
          "read of uncached " + p + label, limit, [&] { return ReadWhole(mnt + p); }, &secs,
          kHardDeadline);
      ASSERT_TRUE(r.has_value());
      std::cout << "uncached " << p << ": "
                << (r->err != 0 ? ErrnoName(r->err) : "read " + std::to_string(r->data.size()))
                << " after " << secs << " s\n";
      EXPECT_EQ(r->err, EIO) << "uncached " << p << ": expected EIO, got "
                             << (r->err != 0 ? ErrnoName(r->err)
                                             : std::to_string(r->data.size()) + " bytes");
    }
  }

  // The remote back: each of `files` reads whole, retried for up to 10 s (the breaker probes
  // after 1-2 s); `when` ("after the restart") names the moment in messages. A hung read is fatal.
  void CheckReadsRecover(const std::string& mnt, const std::vector<std::string>& files,
                         const std::string& when) {
    for (const std::string& p : files) {
      const auto deadline = Clock::now() + 10s;
      std::optional<ReadOutcome> r;
      for (;;) {
        r = WithDeadline<ReadOutcome>(
            "read of " + p + " " + when, kOpDeadline, [&] { return ReadWhole(mnt + p); }, nullptr,
            kHardDeadline);
        if (!r || r->err == 0 || Clock::now() > deadline) break;
        std::this_thread::sleep_for(250ms);
      }
      ASSERT_TRUE(r.has_value());
      EXPECT_EQ(r->err, 0) << p << " " << when << ": " << ErrnoName(r->err);
      if (r->err == 0) {
        EXPECT_EQ(Sha256Hex(r->data), W().expected.at(p).sha256) << p;
      }
    }
  }

  // Public: the tests' cleanup guards call these.
 public:
  // Writes `data` as file `name` of served directory `dir` (a PUT on S3), replacing it.
  ::testing::AssertionResult PutRemote(const std::string& dir, const std::string& name,
                                       const std::string& data) {
    if (GetParam() == Backend::kS3Rgw) {
      Status s = W().s3->Put(dir + "/" + name, data);
      if (!s.ok()) return ::testing::AssertionFailure() << "PUT " << name << ": " << s.ToString();
      return ::testing::AssertionSuccess();
    }
    const std::string d = W().served + "/" + dir;
    if (::mkdir(d.c_str(), 0755) != 0 && errno != EEXIST) {
      return ::testing::AssertionFailure() << "mkdir " << d << ": " << ErrnoName(errno);
    }
    return WriteWhole(d + "/" + name, data);  // rewritten in place (O_TRUNC)
  }

  void RemoveRemote(const std::string& dir, const std::string& name) {
    if (GetParam() == Backend::kS3Rgw) {
      (void)W().s3->Delete(dir + "/" + name);
    } else {
      (void)RemoveTree(W().served + "/" + dir);
    }
  }

  // The outage: the backend's server stopped (S3: the gateway; the Ceph cluster stays up).
  Status StopServer() {
    switch (GetParam()) {
      case Backend::kXRootD:
      case Backend::kXRootDHttp:
        return W().xrootd->Stop();
      case Backend::kS3Rgw:
        return W().rgw->StopGateway();
      case Backend::kNginxToken:
        return W().nginx->Stop();
    }
    return Status::Ok();
  }
  Status StartServer() {
    switch (GetParam()) {
      case Backend::kXRootD:
      case Backend::kXRootDHttp:
        return W().xrootd->Restart();
      case Backend::kS3Rgw:
        return W().rgw->StartGateway();
      case Backend::kNginxToken:
        return W().nginx->Restart();
    }
    return Status::Ok();
  }

 protected:
  uint64_t TotalFileBytes() const {
    uint64_t total = 0;
    for (const auto& [path, e] : W().expected) total += e.size;
    return total;
  }
};

// For gtest's messages ("where GetParam() = S3Rgw").
void PrintTo(Backend b, std::ostream* os) { *os << BackendName(b); }

std::string ParamName(const ::testing::TestParamInfo<Backend>& info) {
  return BackendName(info.param);
}

// ------------------------------------------------------------------------------------------------

// Every directory, name, type and size, and every file's SHA-256, through the mount equal the
// source's; `ls -R` is the same text. Then, after a clean unmount, a new daemon over the same
// cache serves a second full pass with 0 bytes from the remote.
TEST_P(BackendMountTest, EveryFileMatchesTheSourceAndARemountReadsNothingFromTheRemote) {
  const std::string mnt = NewDir("mnt");
  const std::string cache = scratch_->Sub("cache");
  Daemon* first = nullptr;
  ASSERT_TRUE(Mount(kDatasetDir, mnt, cache, &first));
  auto start = Clock::now();
  const uint64_t total = CheckTree(mnt, W().expected);
  CheckLsR(mnt, Ds().dir());
  std::cout << "first pass: " << W().expected.size() << " entries, " << total << " bytes in "
            << SecondsSince(start) << " s\n";
  EXPECT_EQ(total, TotalFileBytes());
  const std::optional<std::string> stats1 = GetXattr(mnt, "user.hoardfs.stats");
  ASSERT_TRUE(stats1.has_value()) << "getxattr user.hoardfs.stats: " << ErrnoName(errno);
  std::cout << "first pass: " << *stats1 << "\n";
  EXPECT_GE(JsonNumber(*stats1, "remote_bytes").value_or(0), total) << *stats1;

  ASSERT_NO_FATAL_FAILURE(UnmountCleanly(mnt, first));

  ASSERT_TRUE(Mount(kDatasetDir, mnt, cache));
  start = Clock::now();
  EXPECT_EQ(CheckTree(mnt, W().expected), total);
  CheckLsR(mnt, Ds().dir());
  std::cout << "second pass: " << SecondsSince(start) << " s\n";
  const std::optional<std::string> stats2 = GetXattr(mnt, "user.hoardfs.stats");
  ASSERT_TRUE(stats2.has_value()) << "getxattr user.hoardfs.stats: " << ErrnoName(errno);
  std::cout << "second pass: " << *stats2 << "\n";
  EXPECT_EQ(JsonNumber(*stats2, "remote_bytes"), std::optional<uint64_t>(0)) << *stats2;
  EXPECT_EQ(JsonNumber(*stats2, "remote_requests"), std::optional<uint64_t>(0)) << *stats2;
}

// 16 threads read random ranges of the large file at once (half share a descriptor, half open
// their own): small reads, reads across 1 MiB block boundaries, multi-block reads and reads at
// and past the end; cold, then warm. Every byte is the source's.
TEST_P(BackendMountTest, SixteenThreadsReadRandomRangesExactly) {
  const std::string mnt = NewDir("mnt");
  ASSERT_TRUE(Mount(kDatasetDir, mnt, scratch_->Sub("cache")));
  const std::string large = mnt + Dataset::kLargeFile;
  const uint64_t size = Ds().Find(Dataset::kLargeFile)->size;
  const std::string want = Ds().Bytes(Dataset::kLargeFile, 0, size);
  const std::vector<std::string> failures = ConcurrentRandomReads(large, want, 80);
  EXPECT_TRUE(failures.empty()) << [&] {
    std::string m;
    for (const std::string& f : failures) m += "\n  " + f;
    return m;
  }();
}

// A remote object replaced by one of another size (S3: a PUT of a new body; the file servers:
// the file rewritten in place): right after, a read is the old or the new content, never a mix;
// after the TTL a new open reads the new content entirely (from the remote, then the cache).
TEST_P(BackendMountTest, ReplacedRemoteObjectIsReadWholeAfterTheTtlNeverMixed) {
  const std::string dir = "changing-" + BackendName(GetParam());
  const std::string name = "object.bin";
  const std::string old_data = Content(31, (3u << 20) + 5);
  const std::string new_data = Content(32, (5u << 20) + 77);
  ASSERT_TRUE(PutRemote(dir, name, old_data));
  struct Cleanup {
    BackendMountTest* t;
    std::string dir, name;
    ~Cleanup() { t->RemoveRemote(dir, name); }
  } cleanup{this, dir, name};

  const std::string mnt = NewDir("mnt");
  ASSERT_TRUE(Mount(dir, mnt, scratch_->Sub("cache")));
  const std::string file = mnt + "/" + name;
  ReadOutcome r = ReadWhole(file);
  ASSERT_EQ(r.err, 0) << ErrnoName(r.err);
  ASSERT_EQ(FirstDifference(old_data, r.data), "");

  ASSERT_TRUE(PutRemote(dir, name, new_data));
  const auto changed = Clock::now();
  r = ReadWhole(file);
  if (r.err == 0) {
    EXPECT_TRUE(r.data == old_data || r.data == new_data)
        << "read right after the change is neither version: " << FirstDifference(old_data, r.data)
        << " / " << FirstDifference(new_data, r.data);
  } else {
    std::cout << "right after the change: " << ErrnoName(r.err) << "\n";
  }

  std::this_thread::sleep_until(changed + std::chrono::seconds(kAttrTtl) + 1s);
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE("pass " + std::to_string(pass));
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0) << ErrnoName(errno);
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), new_data.size());
    r = ReadWhole(file);
    ASSERT_EQ(r.err, 0) << "read after the TTL: " << ErrnoName(r.err);
    EXPECT_EQ(FirstDifference(new_data, r.data), "") << "not the new content";
  }
}

// The server stopped: cached files read back whole, uncached ones fail with EIO within
// kOpDeadline (the circuit breaker, --remote-down-retry, fails them at once after the first);
// after a restart the uncached files read whole.
TEST_P(BackendMountTest, StoppedServerCachedReadableUncachedEioThenRecovers) {
  const std::string mnt = NewDir("mnt");
  ASSERT_TRUE(Mount(kDatasetDir, mnt, scratch_->Sub("cache")));
  struct RestartServer {
    BackendMountTest* t;
    bool stopped = false;
    ~RestartServer() {
      if (stopped) (void)t->StartServer();
    }
  } restart{this};
  const ExpectedTree& expected = W().expected;

  const std::vector<std::string> cached = OutageCachedFiles(expected);
  const std::vector<std::string> uncached = {Dataset::kLargeFile, "/small/d1/e0/f001.dat"};
  ASSERT_NO_FATAL_FAILURE(ReadAllVerified(mnt, cached, expected));
  ASSERT_NO_FATAL_FAILURE(StatAll(mnt, uncached));
  // The cached files' blocks are in the block cache; then the kernel's copies are dropped.
  ASSERT_NO_FATAL_FAILURE(AwaitCachedThenDrop(mnt, cached, expected));

  ASSERT_TRUE(StopServer().ok());
  restart.stopped = true;
  // Past the TTLs: every open revalidates against the stopped server.
  std::this_thread::sleep_for(std::chrono::seconds(kAttrTtl) + 500ms);
  ASSERT_NO_FATAL_FAILURE(
      CheckReadsWhileDown(mnt, cached, uncached, kOpDeadline, "", "server stopped"));
  const std::optional<std::string> stats = GetXattr(mnt, "user.hoardfs.stats");
  ASSERT_TRUE(stats.has_value()) << "getxattr user.hoardfs.stats: " << ErrnoName(errno);
  std::cout << "stats, server stopped: " << *stats << "\n";
  EXPECT_EQ(JsonNumber(*stats, "remote_down"), std::optional<uint64_t>(1)) << *stats;

  Status started = StartServer();
  ASSERT_TRUE(started.ok()) << started.ToString();
  restart.stopped = false;
  ASSERT_NO_FATAL_FAILURE(CheckReadsRecover(mnt, uncached, "after the restart"));
}

INSTANTIATE_TEST_SUITE_P(AllBackends, BackendMountTest,
                         ::testing::Values(Backend::kXRootD, Backend::kS3Rgw, Backend::kXRootDHttp,
                                           Backend::kNginxToken),
                         ParamName);

// ------------------------------------------------------------------------------------------------
// Credentials the server refuses (only the servers that check them: RGW verifies every S3
// signature; nginx enforces the bearer token under /auth/).

class BackendAuthTest : public BackendMountTest {};

// A wrong S3 secret or a wrong bearer token: `hoardfs mount` (background mode, as a user runs it)
// exits non-zero with one line on stderr naming the remote and the HTTP status and not the
// secret; nothing is mounted and no process is left.
TEST_P(BackendAuthTest, WrongCredentialsFailTheMountCleanly) {
  const std::string mnt = NewDir("mnt");
  AddMountpoint(mnt);
  // The message names the remote as the user gave it (its URL).
  const std::string where = Url(kDatasetDir);
  std::string secret, http_status;
  std::vector<std::string> options = MountOptions(scratch_->Sub("cache"));
  if (GetParam() == Backend::kS3Rgw) {
    secret = "wrong+secret/KEY=0123456789abcdefghijklmn";
    const std::string creds = scratch_->Sub("wrong.creds");
    ASSERT_TRUE(WriteWhole(creds, "[default]\naws_access_key_id = " + W().rgw->access_key() +
                                      "\naws_secret_access_key = " + secret + "\n"));
    std::replace(options.begin(), options.end(), W().s3_credentials, creds);
    http_status = "403";
  } else {
    secret = "wrong-token-0123456789abcdefXYZ";
    const std::string token = scratch_->Sub("wrong.token");
    ASSERT_TRUE(WriteWhole(token, secret + "\n"));
    std::replace(options.begin(), options.end(), W().token_file, token);
    http_status = "401";
  }
  std::vector<std::string> argv = {HoardfsBinary(), "mount", Url(kDatasetDir), mnt};
  for (const std::string& o : options) argv.push_back(o);
  argv.emplace_back("--log-file");
  argv.push_back(scratch_->Sub("mount.log"));
  ProcessResult r = RunProcess(argv, 60s);
  for (pid_t p : ProcessesMentioning(scratch_->path())) adopted_.push_back(p);
  std::cout << "stderr: " << r.err;

  EXPECT_FALSE(r.timed_out) << r.Describe();
  EXPECT_EQ(r.signal, 0) << r.Describe();
  EXPECT_GT(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1)
      << "expected exactly one line on stderr, got:\n"
      << r.err;
  EXPECT_NE(r.err.find(where), std::string::npos) << "does not name the remote: " << r.err;
  EXPECT_NE(r.err.find(http_status), std::string::npos) << "no HTTP status: " << r.err;
  EXPECT_EQ(r.err.find(secret), std::string::npos) << "the secret is in the message: " << r.err;
  EXPECT_LT(r.seconds, 20.0) << "a refused credential is not retried";
  EXPECT_EQ(MountCount(mnt), 0) << "a failed mount left a mount at " << mnt;
  EXPECT_TRUE(ProcessesMentioning(scratch_->path()).empty())
      << "a failed mount left a process behind";
  const std::string log = SlurpFile(scratch_->Sub("mount.log"));
  EXPECT_EQ(log.find(secret), std::string::npos) << "the secret is in the daemon log";
}

INSTANTIATE_TEST_SUITE_P(CheckingServers, BackendAuthTest,
                         ::testing::Values(Backend::kS3Rgw, Backend::kNginxToken), ParamName);

// ------------------------------------------------------------------------------------------------
// The HTTP backends' servers hung (SIGSTOP of every server process: connections are accepted by
// the kernel, nothing answers), where only timeouts end remote calls.

class BackendHungTest : public BackendMountTest {
 public:
  Status PauseServer() {
    return GetParam() == Backend::kNginxToken ? W().nginx->Pause() : W().xrootd->Pause();
  }
  Status ResumeServer() {
    return GetParam() == Backend::kNginxToken ? W().nginx->Resume() : W().xrootd->Resume();
  }
};

// With the server hung: cached files read back whole and `ls -l` of a cached directory answers,
// uncached files fail with EIO, each within kHungLimit (--remote-timeout 2 x --remote-attempts
// 1, plus slack: the circuit breaker fails requests at once once one has timed out); the stats
// show the remote down. After SIGCONT the uncached files read whole (the breaker probes after
// 1-2 s). The server is resumed on every exit path.
TEST_P(BackendHungTest, HungServerCachedReadableUncachedEioThenRecovers) {
  constexpr auto kHungLimit = 5s;
  const std::string mnt = NewDir("mnt");
  ASSERT_TRUE(Mount(kDatasetDir, mnt, scratch_->Sub("cache")));
  const ExpectedTree& expected = W().expected;
  const std::vector<std::string> cached = OutageCachedFiles(expected);
  const std::vector<std::string> uncached = {Dataset::kLargeFile, "/small/d2/e0/f002.dat"};
  ASSERT_NO_FATAL_FAILURE(ReadAllVerified(mnt, cached, expected));
  {
    ProcessResult ls = RunProcess({"ls", "-l", mnt + "/small/d0"}, 30s);
    ASSERT_EQ(ls.exit_code, 0) << ls.Describe();
  }
  ASSERT_NO_FATAL_FAILURE(StatAll(mnt, uncached));
  ASSERT_NO_FATAL_FAILURE(AwaitCachedThenDrop(mnt, cached, expected));

  Status paused = PauseServer();
  struct Resume {
    BackendHungTest* t;
    ~Resume() { (void)t->ResumeServer(); }  // also when an assertion returns early
  } resume{this};
  ASSERT_TRUE(paused.ok()) << paused.ToString();
  // Past the TTLs: every open revalidates against the hung server.
  std::this_thread::sleep_for(std::chrono::seconds(kAttrTtl) + 500ms);
  const auto hung_since = Clock::now();
  ASSERT_NO_FATAL_FAILURE(
      CheckReadsWhileDown(mnt, cached, uncached, kHungLimit, " (server hung)", "server hung"));
  {
    std::optional<int> listed = WithDeadline<int>(
        "ls -l /small/d0 (cached listing, server hung)", kHungLimit,
        [&] {
          return RunProcess({"ls", "-l", mnt + "/small/d0"}, kHardDeadline).exit_code;
        },
        nullptr, kHardDeadline);
    ASSERT_TRUE(listed.has_value());
    EXPECT_EQ(*listed, 0) << "a cached listing is not served with the server hung";
  }
  const std::optional<std::string> stats = GetXattr(mnt, "user.hoardfs.stats");
  ASSERT_TRUE(stats.has_value()) << "getxattr user.hoardfs.stats: " << ErrnoName(errno);
  std::cout << "stats, server hung for " << SecondsSince(hung_since) << " s: " << *stats << "\n";
  EXPECT_EQ(JsonNumber(*stats, "remote_down"), std::optional<uint64_t>(1)) << *stats;
  EXPECT_GT(JsonNumber(*stats, "remote_fast_failures").value_or(0), 0u)
      << "no request failed at once: " << *stats;

  Status resumed = ResumeServer();
  ASSERT_TRUE(resumed.ok()) << resumed.ToString();
  ASSERT_NO_FATAL_FAILURE(CheckReadsRecover(mnt, uncached, "after SIGCONT"));
  const std::optional<std::string> after = GetXattr(mnt, "user.hoardfs.stats");
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(JsonNumber(*after, "remote_down"), std::optional<uint64_t>(0)) << *after;
}

INSTANTIATE_TEST_SUITE_P(HttpServers, BackendHungTest,
                         ::testing::Values(Backend::kXRootDHttp, Backend::kNginxToken), ParamName);

// ------------------------------------------------------------------------------------------------
// A directory of 100,000 files listed through the mount (PROPFIND Depth 1 of about 40 MB of XML,
// parsed as it streams): every name, once, and the daemon's peak RSS bounded.

class BigDirectoryTest : public BackendMountTest {};

TEST_P(BigDirectoryTest, HundredThousandEntriesListExactlyInBoundedMemory) {
  constexpr int kEntries = 100000;
  constexpr uint64_t kMaxPeakKiB = 256 << 10;
  const std::string dir = "big100k-" + BackendName(GetParam());
  const std::string served = W().served + "/" + dir;
  struct Cleanup {
    std::string path;
    ~Cleanup() { (void)RemoveTree(path); }
  } cleanup{served};
  ASSERT_EQ(::mkdir(served.c_str(), 0755), 0) << served << ": " << ErrnoName(errno);
  auto start = Clock::now();
  std::vector<std::string> expected;
  expected.reserve(kEntries);
  for (int i = 0; i < kEntries; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "entry-%06d.dat", i);
    expected.emplace_back(name);
    const int fd =
        ::open((served + "/" + name).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0) << name << ": " << ErrnoName(errno);
    ::close(fd);
  }
  std::cout << kEntries << " files made in " << SecondsSince(start) << " s\n";

  const std::string mnt = NewDir("mnt");
  Daemon* daemon = nullptr;
  // TTLs long enough that `ls -f` reads the listing readdir fetched: one PROPFIND in the peak.
  // nginx builds the whole 100k-entry answer before its first byte (a second or more on a busy
  // machine): a remote timeout of 30 s, not the suite's 2 s.
  std::vector<std::string> options = MountOptions(scratch_->Sub("cache"));
  for (size_t i = 0; i + 1 < options.size(); ++i) {
    if (options[i] == "--attr-ttl" || options[i] == "--dir-ttl") options[i + 1] = "120";
    if (options[i] == "--remote-timeout") options[i + 1] = "30";
  }
  ASSERT_TRUE(StartMount(Url(dir), mnt, options, &daemon));
  // Peak resident memory of the daemon, in KiB (VmHWM).
  auto peak_kib = [pid = daemon->pid]() -> uint64_t {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6));
    }
    return 0;
  };
  const uint64_t before = peak_kib();

  start = Clock::now();
  int readdir_err = 0;
  std::optional<std::vector<std::string>> names = WithDeadline<std::vector<std::string>>(
      "readdir of " + std::to_string(kEntries) + " entries", 60s,
      [&] {
        std::vector<std::string> out;
        DIR* d = ::opendir(mnt.c_str());
        if (d == nullptr) {
          readdir_err = errno;
          return out;
        }
        errno = 0;
        while (dirent* e = ::readdir(d)) {
          const std::string name = e->d_name;
          if (name != "." && name != "..") out.push_back(name);
        }
        readdir_err = errno;
        ::closedir(d);
        return out;
      },
      nullptr, kHardDeadline);
  ASSERT_TRUE(names.has_value());
  const double readdir_secs = SecondsSince(start);
  ASSERT_EQ(readdir_err, 0) << "opendir/readdir of the mount: " << ErrnoName(readdir_err);
  ASSERT_EQ(names->size(), expected.size());
  std::sort(names->begin(), names->end());
  EXPECT_TRUE(*names == expected) << "the names differ from the served directory's";
  // `ls -f` (no sorting, no stat): the same count, plus "." and "..".
  start = Clock::now();
  ProcessResult ls = RunProcess({"ls", "-f", mnt}, 60s);
  ASSERT_EQ(ls.exit_code, 0) << ls.Describe();
  EXPECT_EQ(std::count(ls.out.begin(), ls.out.end(), '\n'), kEntries + 2);
  const double ls_secs = SecondsSince(start);
  const uint64_t peak = peak_kib();
  std::cout << "readdir " << readdir_secs << " s, ls -f " << ls_secs
            << " s; daemon VmHWM: " << before / 1024 << " MiB after mounting, " << peak / 1024
            << " MiB after listing\n";
  EXPECT_GT(peak, 0u) << "no VmHWM for pid " << daemon->pid;
  EXPECT_LT(peak, kMaxPeakKiB) << "the daemon's peak RSS (KiB) listing " << kEntries << " entries";
}

INSTANTIATE_TEST_SUITE_P(Nginx, BigDirectoryTest, ::testing::Values(Backend::kNginxToken),
                         ParamName);

}  // namespace
}  // namespace hoardfs::testing
