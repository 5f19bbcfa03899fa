// End-to-end tests of `hoardfs mount` (issue 3): a real xrootd (started by the test, as nobody)
// over a generated dataset, the real hoardfs binary mounted with FUSE, and real programs reading
// through the mount. Each TEST checks one requirement of the issue.
//
// How daemons are started and always torn down, and why no test can hang: mount_fixture.h (shared
// with backend_mount_test.cc, which runs the conformance cases against every backend).
//
// Skips (with the reason) only when not root, /dev/fuse is absent or xrootd is not installed.
// Environment: HOARDFS_TEST_BIN (the hoardfs binary to test; default: the one built with the test),
// HOARDFS_TEST_LOG_LEVEL (the daemon's --log-level; default info).
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/aligned_buffer.h"
#include "tests/fuse/mount_fixture.h"
#include "tests/fuse/outage_steps.h"
#include "tests/support/dataset.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/xrootd_server.h"

namespace hoardfs::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kAttrTtl = 2;  // --attr-ttl / --dir-ttl of every mount

constexpr const char* kProgramsDir = "/programs";
constexpr const char* kTarball = "/programs/small.tar";
constexpr const char* kDatabase = "/programs/data.sqlite";

// ------------------------------------------------------------------------------------------------
// The fixture.

class MountTest : public MountFixture {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) {
      skip_reason_ = new std::string("needs root (mounts with FUSE; CI runs as root)");
    } else if (::access("/dev/fuse", R_OK | W_OK) != 0) {
      skip_reason_ = new std::string("/dev/fuse is absent");
    } else if (XRootDServer::FindBinary().empty()) {
      skip_reason_ = new std::string("xrootd is not installed (scripts/install-deps.sh)");
    }
    if (skip_reason_ != nullptr) return;
    const auto start = Clock::now();
    std::string error = SetUpSuite();
    if (!error.empty()) setup_error_ = new std::string(std::move(error));
    std::cout << "suite setup (dataset, tarball, database, xrootd): " << SecondsSince(start)
              << " s\n";
  }

  // Generates the dataset (with a tarball and an SQLite database) and starts xrootd over it.
  static std::string SetUpSuite() {
    auto dir = ScratchDir::Create("hoardfs-mount-test-");
    if (!dir.ok()) return dir.status().ToString();
    suite_dir_ = new ScratchDir(std::move(*dir));
    const std::string served = suite_dir_->Sub("served");
    if (::mkdir(served.c_str(), 0755) != 0) return "mkdir " + served + ": " + ErrnoName(errno);
    auto ds = Dataset::Generate(served + "/dataset", DatasetOptions{});
    if (!ds.ok()) return ds.status().ToString();
    dataset_ = new Dataset(std::move(*ds));
    const std::string root = dataset_->dir();

    // Files for real programs: a tarball of /small, an SQLite database with an index.
    const std::string programs = root + kProgramsDir;
    if (::mkdir(programs.c_str(), 0755) != 0) return "mkdir " + programs + ": " + ErrnoName(errno);
    ProcessResult tar = RunProcess({"tar", "-cf", root + kTarball, "-C", root, "small"}, 60s);
    if (tar.exit_code != 0) return "tar -cf failed: " + tar.Describe();
    ProcessResult db = RunProcess(
        {"sqlite3", root + kDatabase,
         "PRAGMA page_size=4096; CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v BLOB);"
         "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<40000) "
         "INSERT INTO t SELECT x, 'row ' || x, randomblob(100 + x % 300) FROM c;"
         "CREATE INDEX t_name ON t(name); VACUUM;"},
        120s);
    if (db.exit_code != 0) return "sqlite3 failed: " + db.Describe();

    expected_ = new ExpectedTree();
    for (const DatasetEntry& e : dataset_->entries()) {
      (*expected_)[e.path] = ExpectedFile{e.type, e.size, e.sha256};
    }
    (*expected_)[kProgramsDir] = ExpectedFile{ObjectType::kDirectory, 0, ""};
    for (const char* p : {kTarball, kDatabase}) {
      if (::chmod((root + p).c_str(), 0644) != 0) return std::string("chmod ") + p;
      ReadOutcome r = ReadWhole(root + p);
      if (r.err != 0) return std::string("read ") + p + ": " + ErrnoName(r.err);
      (*expected_)[p] = ExpectedFile{ObjectType::kFile, r.data.size(), Sha256Hex(r.data)};
    }

    XRootDServerOptions so;
    so.data_dir = served;
    so.http = false;
    auto server = XRootDServer::Start(so);
    if (!server.ok()) return "xrootd did not start: " + server.status().ToString();
    server_ = server->release();
    return "";
  }

  static void TearDownTestSuite() {
    const auto start = Clock::now();
    delete server_;  // stops xrootd
    server_ = nullptr;
    delete expected_;
    expected_ = nullptr;
    delete dataset_;
    dataset_ = nullptr;
    delete suite_dir_;
    suite_dir_ = nullptr;
    delete skip_reason_;
    skip_reason_ = nullptr;
    delete setup_error_;
    setup_error_ = nullptr;
    std::cout << "suite teardown: " << SecondsSince(start) << " s\n";
  }

  void SetUp() override {
    if (skip_reason_ != nullptr) GTEST_SKIP() << "skipped: " << *skip_reason_;
    ASSERT_EQ(setup_error_, nullptr) << "suite setup failed: " << *setup_error_;
    if (!server_->running()) {
      Status s = server_->Restart();  // a previous test stopped it and failed before restarting
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
    StartCase("hoardfs-mount-case-");
  }

  std::string DatasetUrl() const { return server_->RootUrl() + "//dataset"; }
  const std::string& Source() const { return dataset_->dir(); }

  // The arguments every test mount uses (after the URL and the mount point).
  std::vector<std::string> MountOptions(const std::string& cache_dir) const {
    // The default block size (1 MiB): small files take slots of their size class (cache format
    // v2, docs/cache.md), so the dataset's 20,000+ small files fit in the cache.
    std::vector<std::string> options = {"--cache-dir",       cache_dir,
                                        "--cache-size",      "2G",
                                        "--attr-ttl",        std::to_string(kAttrTtl),
                                        "--dir-ttl",         std::to_string(kAttrTtl),
                                        "--negative-ttl",    "1",
                                        "--remote-timeout",  "2",
                                        "--remote-attempts", "1"};
    // A remote found down is probed after 1 s, then every 2 s at most (the outage tests wait
    // for recovery).
    for (const char* o : {"--remote-down-retry", "1", "--remote-down-retry-max", "2"}) {
      options.emplace_back(o);
    }
    return options;
  }

  ::testing::AssertionResult StartDaemon(const std::string& url, const std::string& mnt,
                                         const std::string& cache_dir, Daemon** out = nullptr) {
    return StartMount(url, mnt, MountOptions(cache_dir), out);
  }

  // Mounts the dataset at a new mount point with a new cache; returns the mount point.
  std::string MountDataset(const std::string& name = "mnt") {
    const std::string mnt = NewDir(name);
    const std::string cache = scratch_->Sub(name + "-cache");
    EXPECT_TRUE(StartDaemon(DatasetUrl(), mnt, cache));
    return mnt;
  }

  // Every name, type, size and SHA-256 of the dataset through `mnt`; `ls -R` against the source.
  uint64_t CheckWholeTree(const std::string& mnt) { return CheckTree(mnt, *expected_); }
  void CheckLsR(const std::string& mnt) { MountFixture::CheckLsR(mnt, Source()); }

  uint64_t TotalFileBytes() const {
    uint64_t total = 0;
    for (const auto& [path, e] : *expected_) total += e.size;
    return total;
  }

  static inline std::string* skip_reason_ = nullptr;
  static inline std::string* setup_error_ = nullptr;
  static inline ScratchDir* suite_dir_ = nullptr;
  static inline Dataset* dataset_ = nullptr;
  static inline ExpectedTree* expected_ = nullptr;
  static inline XRootDServer* server_ = nullptr;

  // A directory of its own in the served tree (so the shared dataset stays as generated), removed
  // with the test.
  struct ServedDir {
    explicit ServedDir(const std::string& prefix)
        : name(prefix + "-" + std::to_string(::getpid())), path(server_->data_dir() + "/" + name) {
      made = ::mkdir(path.c_str(), 0755) == 0;
      err = made ? 0 : errno;
    }
    ~ServedDir() {
      if (made) (void)RemoveTree(path);
    }
    std::string name, path;
    bool made = false;
    int err = 0;
  };

  // The outage scenario: server stopped, then (with `hung`) server hung by SIGSTOP.
  void OutageScenario(bool hung);
};

// ------------------------------------------------------------------------------------------------

// Every file read through the mount has the SHA-256 of the source; names, types, sizes and
// `ls -R` match the source tree (nested directories, empty file and directory, a space and
// non-ASCII names, 20,000 entries in one directory).
TEST_F(MountTest, EveryFileHasTheSourceSha256AndLsRMatches) {
  const std::string mnt = MountDataset();
  ASSERT_FALSE(HasFailure());
  const auto start = Clock::now();
  const uint64_t bytes = CheckWholeTree(mnt);
  std::cout << "read " << expected_->size() << " entries, " << bytes << " bytes in "
            << SecondsSince(start) << " s\n";
  EXPECT_EQ(bytes, TotalFileBytes());
  CheckLsR(mnt);
  // And the checksums themselves: sha256sum agrees with the manifest for the large file.
  ProcessResult sum = RunProcess({"sha256sum", mnt + Dataset::kLargeFile}, 60s);
  ASSERT_EQ(sum.exit_code, 0) << sum.Describe();
  EXPECT_EQ(sum.out.substr(0, 64), dataset_->Find(Dataset::kLargeFile)->sha256);
}

// 16 threads read random ranges of the large file at once (cold, then warm) and get exactly
// the source bytes; mmap of the large file and of a small one returns the source bytes.
TEST_F(MountTest, ConcurrentRandomReadsAndMmapReturnSourceBytes) {
  const std::string mnt = MountDataset();
  ASSERT_FALSE(HasFailure());
  const std::string large = mnt + Dataset::kLargeFile;
  ReadOutcome source = ReadWhole(Source() + Dataset::kLargeFile);
  ASSERT_EQ(source.err, 0);
  const std::string& want = source.data;
  const uint64_t size = want.size();
  ASSERT_GT(size, uint64_t{8} << 20);

  const std::vector<std::string> failures = ConcurrentRandomReads(large, want, 120);
  EXPECT_TRUE(failures.empty()) << [&] {
    std::string m;
    for (const std::string& f : failures) m += "\n  " + f;
    return m;
  }();

  // mmap: drop the kernel's pages first so the faults go to the daemon.
  for (const std::string& path :
       {std::string(Dataset::kLargeFile), std::string(Dataset::kSpaceFile),
        std::string(Dataset::kUnicodeFile)}) {
    SCOPED_TRACE("mmap " + path);
    const int fd = ::open((mnt + path).c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << ErrnoName(errno);
    ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    const std::string expect = dataset_->Bytes(path, 0, dataset_->Find(path)->size);
    void* map = ::mmap(nullptr, expect.size(), PROT_READ, MAP_SHARED, fd, 0);
    ASSERT_NE(map, MAP_FAILED) << ErrnoName(errno);
    const std::string got(static_cast<const char*>(map), expect.size());
    EXPECT_EQ(FirstDifference(expect, got), "");
    ::munmap(map, expect.size());
    ::close(fd);
  }
}

// Real programs over the mount: tar -tf of a tarball, sqlite3 PRAGMA integrity_check (and a
// query) on a database file, cmp of large files.
TEST_F(MountTest, RealProgramsReadThroughTheMount) {
  const std::string mnt = MountDataset();
  ASSERT_FALSE(HasFailure());

  ProcessResult want_tar = RunProcess({"tar", "-tf", Source() + kTarball}, 60s);
  ProcessResult tar = RunProcess({"tar", "-tf", mnt + kTarball}, 60s);
  ASSERT_EQ(want_tar.exit_code, 0) << want_tar.Describe();
  EXPECT_EQ(tar.exit_code, 0) << "tar -tf over the mount: " << tar.Describe();
  EXPECT_TRUE(SameLines(want_tar.out, tar.out));
  EXPECT_GT(std::count(tar.out.begin(), tar.out.end(), '\n'), 200);

  ProcessResult check = RunProcess({"sqlite3", mnt + kDatabase, "PRAGMA integrity_check"}, 60s);
  EXPECT_EQ(check.exit_code, 0) << "sqlite3 over the mount: " << check.Describe();
  EXPECT_EQ(check.out, "ok\n") << check.Describe();
  const std::string query =
      "SELECT count(*), sum(length(v)), hex(substr(v, 1, 8)) FROM t WHERE name = 'row 31337'";
  ProcessResult want_q = RunProcess({"sqlite3", "-readonly", Source() + kDatabase, query}, 60s);
  ProcessResult got_q = RunProcess({"sqlite3", mnt + kDatabase, query}, 60s);
  ASSERT_EQ(want_q.exit_code, 0) << want_q.Describe();
  EXPECT_EQ(got_q.exit_code, 0) << got_q.Describe();
  EXPECT_EQ(got_q.out, want_q.out);

  for (const std::string& path :
       {std::string(Dataset::kLargeFile), std::string(kDatabase), std::string(kTarball)}) {
    ProcessResult cmp = RunProcess({"cmp", mnt + path, Source() + path}, 120s);
    EXPECT_EQ(cmp.exit_code, 0) << "cmp " << path << ": " << cmp.Describe();
  }
}

// After a full pass and a clean unmount, a new daemon over the same cache directory serves a
// second full pass with 0 bytes (and 0 requests) read from the remote.
TEST_F(MountTest, SecondPassAfterRemountReadsNothingFromTheRemote) {
  const std::string mnt = NewDir("mnt");
  const std::string cache = scratch_->Sub("cache");
  Daemon* first = nullptr;
  ASSERT_TRUE(StartDaemon(DatasetUrl(), mnt, cache, &first));
  const uint64_t total = CheckWholeTree(mnt);
  CheckLsR(mnt);
  const std::optional<std::string> stats1 = GetXattr(mnt, "user.hoardfs.stats");
  ASSERT_TRUE(stats1.has_value()) << "getxattr user.hoardfs.stats: " << ErrnoName(errno);
  std::cout << "first pass: " << *stats1 << "\n";
  // The counter counts: the first pass read at least every byte from the remote.
  EXPECT_GE(JsonNumber(*stats1, "remote_bytes").value_or(0), total) << *stats1;

  // Clean unmount: the daemon must exit by itself, successfully, having kept what it fetched.
  ASSERT_NO_FATAL_FAILURE(UnmountCleanly(mnt, first));

  ASSERT_TRUE(StartDaemon(DatasetUrl(), mnt, cache));
  const uint64_t again = CheckWholeTree(mnt);
  CheckLsR(mnt);
  EXPECT_EQ(again, total);
  const std::optional<std::string> stats2 = GetXattr(mnt, "user.hoardfs.stats");
  ASSERT_TRUE(stats2.has_value()) << "getxattr user.hoardfs.stats: " << ErrnoName(errno);
  std::cout << "second pass: " << *stats2 << "\n";
  EXPECT_EQ(JsonNumber(*stats2, "remote_bytes"), std::optional<uint64_t>(0)) << *stats2;
  EXPECT_EQ(JsonNumber(*stats2, "remote_requests"), std::optional<uint64_t>(0)) << *stats2;
}

// --readahead sets a stream's largest window and sizes the fetcher's memory budget to twice it
// (user.hoardfs.stats shows both); a sequential read with the larger window returns the source's
// bytes, read ahead in parallel requests.
TEST_F(MountTest, ReadaheadOptionWidensTheWindowAndTheBudget) {
  const std::string plain = MountDataset("plain");
  ASSERT_FALSE(HasFailure());
  const std::optional<std::string> defaults = GetXattr(plain, "user.hoardfs.stats");
  ASSERT_TRUE(defaults.has_value()) << "getxattr user.hoardfs.stats: " << ErrnoName(errno);
  EXPECT_EQ(JsonNumber(*defaults, "readahead_max_bytes"), std::optional<uint64_t>(32u << 20));
  EXPECT_EQ(JsonNumber(*defaults, "fetch_memory_bytes"), std::optional<uint64_t>(64u << 20));
  EXPECT_EQ(JsonNumber(*defaults, "readahead_limit_bytes"), std::optional<uint64_t>(64u << 20));

  const std::string mnt = NewDir("wide");
  std::vector<std::string> options = MountOptions(scratch_->Sub("wide-cache"));
  options.insert(options.end(), {"--readahead", "48M", "--readahead-limit", "96M"});
  ASSERT_TRUE(StartMount(DatasetUrl(), mnt, options));
  ProcessResult sum = RunProcess({"sha256sum", mnt + Dataset::kLargeFile}, 60s);
  ASSERT_EQ(sum.exit_code, 0) << sum.Describe();
  EXPECT_EQ(sum.out.substr(0, 64), dataset_->Find(Dataset::kLargeFile)->sha256);
  const std::optional<std::string> stats = GetXattr(mnt, "user.hoardfs.stats");
  ASSERT_TRUE(stats.has_value()) << "getxattr user.hoardfs.stats: " << ErrnoName(errno);
  std::cout << "--readahead 48M: " << *stats << "\n";
  EXPECT_EQ(JsonNumber(*stats, "readahead_max_bytes"), std::optional<uint64_t>(48u << 20));
  EXPECT_EQ(JsonNumber(*stats, "fetch_memory_bytes"), std::optional<uint64_t>(96u << 20));
  EXPECT_EQ(JsonNumber(*stats, "readahead_limit_bytes"), std::optional<uint64_t>(96u << 20));
  // The stream ended with the read (its release reaches the daemon soon after the close): what
  // its window grew by is given back.
  std::optional<uint64_t> lent;
  for (int i = 0; i < 100; ++i) {
    lent = JsonNumber(GetXattr(mnt, "user.hoardfs.stats").value_or(""), "readahead_lent_bytes");
    if (lent == std::optional<uint64_t>(0)) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(lent, std::optional<uint64_t>(0));
  EXPECT_GT(JsonNumber(*stats, "prefetch_requests").value_or(0), 0u) << *stats;
  EXPECT_GE(JsonNumber(*stats, "remote_bytes").value_or(0), dataset_->options().large_file_size);
}

// A remote file replaced with different content (in place, growing; and by rename, shrinking):
// after the TTL a new open reads the new content entirely; at no time does any read return a mix
// of versions; a descriptor opened before the change reads only old bytes or fails.
// Both ways once failed: a rename was read as EIO (xrootd shared the old file with our open of
// the new version while we held an old handle), and an old descriptor read the new version's pages
// from the kernel page cache (a new open refilled it under the same inode).
TEST_F(MountTest, ReplacedRemoteFileIsReadWholeAfterTheTtlNeverMixed) {
  const ServedDir served("changing");
  ASSERT_TRUE(served.made) << served.path << ": " << ErrnoName(served.err);
  const std::string& name = served.name;
  const std::string& src = served.path;

  struct Case {
    std::string file;
    std::string old_data, new_data;
    bool rename;
  };
  std::vector<Case> cases = {
      {"/in-place.bin", Content(11, (3u << 20) + 5), Content(12, (5u << 20) + 77), false},
      {"/renamed.bin", Content(21, (4u << 20) + 3), Content(22, (2u << 20) + 11), true},
  };
  for (const Case& c : cases) ASSERT_TRUE(WriteWhole(src + c.file, c.old_data));

  const std::string mnt = NewDir("mnt");
  ASSERT_TRUE(StartDaemon(server_->RootUrl() + "//" + name, mnt, scratch_->Sub("cache")));

  // Old content through the mount; descriptors held open across the change.
  std::vector<int> old_fds;
  for (const Case& c : cases) {
    ReadOutcome r = ReadWhole(mnt + c.file);
    ASSERT_EQ(r.err, 0) << c.file << ": " << ErrnoName(r.err);
    ASSERT_EQ(FirstDifference(c.old_data, r.data), "") << c.file;
    const int fd = ::open((mnt + c.file).c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << ErrnoName(errno);
    old_fds.push_back(fd);
    int err = 0;
    ASSERT_EQ(PreadFully(fd, 0, 1 << 20, &err), c.old_data.substr(0, 1 << 20)) << c.file;
  }

  // Replace both on the server.
  for (const Case& c : cases) {
    if (c.rename) {
      ASSERT_TRUE(WriteWhole(src + c.file + ".tmp", c.new_data));
      ASSERT_EQ(::rename((src + c.file + ".tmp").c_str(), (src + c.file).c_str()), 0);
    } else {
      ASSERT_TRUE(WriteWhole(src + c.file, c.new_data, O_WRONLY | O_TRUNC));
    }
  }
  const auto changed = Clock::now();

  // Within the TTL either version may be read, but only whole: never a mix.
  for (const Case& c : cases) {
    ReadOutcome r = ReadWhole(mnt + c.file);
    if (r.err == 0) {
      EXPECT_TRUE(r.data == c.old_data || r.data == c.new_data)
          << c.file << " read right after the change is neither version: "
          << FirstDifference(c.old_data, r.data) << " / " << FirstDifference(c.new_data, r.data);
    } else {
      std::cout << c.file << " right after the change: " << ErrnoName(r.err) << "\n";
    }
  }

  // After the TTL a new open reads the new version, whole (twice: remote, then cache).
  std::this_thread::sleep_until(changed + std::chrono::seconds(kAttrTtl) + 1s);
  for (const Case& c : cases) {
    for (int pass = 0; pass < 2; ++pass) {
      SCOPED_TRACE(c.file + " pass " + std::to_string(pass));
      struct stat st {};
      ASSERT_EQ(::stat((mnt + c.file).c_str(), &st), 0) << ErrnoName(errno);
      EXPECT_EQ(static_cast<uint64_t>(st.st_size), c.new_data.size());
      ReadOutcome r = ReadWhole(mnt + c.file);
      EXPECT_EQ(r.err, 0) << "read after the TTL: " << ErrnoName(r.err);
      if (r.err != 0) break;
      EXPECT_EQ(FirstDifference(c.new_data, r.data), "") << "not the new content";
      EXPECT_NE(r.data.substr(0, 4096), c.old_data.substr(0, 4096));
    }
  }

  // The descriptors opened before the change: only old bytes, or an error.
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    uint64_t at = 0;
    int err = 0;
    for (;;) {
      const std::string got = PreadFully(old_fds[i], at, 256 << 10, &err);
      const std::string expect = at < c.old_data.size() ? c.old_data.substr(at, got.size()) : "";
      if (got != expect) {
        ADD_FAILURE() << c.file << ": a descriptor opened before the change read bytes that are "
                      << "not the old version's at offset " << at << " ("
                      << FirstDifference(expect, got) << ")";
        break;
      }
      at += got.size();
      if (err != 0 || got.empty()) break;
    }
    std::cout << c.file << ": old descriptor read " << at << " of " << c.old_data.size()
              << " old bytes, then " << (err != 0 ? ErrnoName(err) : std::string("EOF")) << "\n";
    ::close(old_fds[i]);
  }
}

// Listings are cached by the kernel too (cache_readdir): a name added or removed on the remote
// shows in readdir after the TTL, and an unchanged listing stays cached.
TEST_F(MountTest, AddedAndRemovedRemoteNamesAppearInListingsAfterTheTtl) {
  const ServedDir served("listing");
  ASSERT_TRUE(served.made) << served.path << ": " << ErrnoName(served.err);
  const std::string& name = served.name;
  const std::string& src = served.path;
  ASSERT_TRUE(WriteWhole(src + "/a", "a"));
  ASSERT_TRUE(WriteWhole(src + "/b", "b"));

  const std::string mnt = NewDir("mnt");
  ASSERT_TRUE(StartDaemon(server_->RootUrl() + "//" + name, mnt, scratch_->Sub("cache")));
  auto names = [&] {
    std::vector<std::string> out;
    DIR* d = ::opendir(mnt.c_str());
    if (d == nullptr) return out;
    while (dirent* e = ::readdir(d)) {
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") out.push_back(e->d_name);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
  };
  const std::vector<std::string> before = {"a", "b"};
  ASSERT_EQ(names(), before);
  ASSERT_EQ(names(), before);  // the second listing may come from the kernel's copy

  // The directory keeps its mtime (as on S3, where directories have none): the kernel's own
  // check of the directory's mtime cannot notice the change, only hoardfs's revalidation can.
  struct stat dir_st {};
  ASSERT_EQ(::stat(src.c_str(), &dir_st), 0);
  ASSERT_TRUE(WriteWhole(src + "/c", "c"));
  ASSERT_EQ(::unlink((src + "/a").c_str()), 0);
  const struct timespec times[2] = {dir_st.st_atim, dir_st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, src.c_str(), times, 0), 0) << ErrnoName(errno);
  const auto changed = Clock::now();
  const std::vector<std::string> right_after = names();
  const std::vector<std::string> after = {"b", "c"};
  EXPECT_TRUE(right_after == before || right_after == after)
      << "a listing is the old or the new one";
  std::this_thread::sleep_until(changed + std::chrono::seconds(kAttrTtl) + 1s);
  EXPECT_EQ(names(), after) << "the listing after the TTL is not the remote's";
  EXPECT_EQ(names(), after);
}

// A large cold directory over root:// is answered with its names first (readdir: each name with
// its inode number, no type), its attributes fetched behind in one listing: a stat of every entry
// then costs no remote request, and agrees with the source and with readdir's inode numbers. The
// next opendir gets the listing with attributes (the types).
TEST_F(MountTest, LargeDirectoryListsNamesFirstAndStatsFromOneListing) {
  constexpr int kFiles = 300;
  const ServedDir served("names-first");
  ASSERT_TRUE(served.made) << served.path << ": " << ErrnoName(served.err);
  const std::string& name = served.name;
  const std::string& src = served.path;
  for (int i = 0; i < kFiles; ++i) {
    ASSERT_TRUE(WriteWhole(src + "/f" + std::to_string(i), std::string(i, 'x')));
  }
  ASSERT_EQ(::mkdir((src + "/sub").c_str(), 0755), 0);

  const std::string mnt = NewDir("mnt");
  std::vector<std::string> options = MountOptions(scratch_->Sub("cache"));
  for (size_t i = 0; i + 1 < options.size(); ++i) {
    if (options[i] == "--attr-ttl" || options[i] == "--dir-ttl") options[i + 1] = "120";
  }
  options.insert(options.end(), {"--names-first", "100"});
  ASSERT_TRUE(StartMount(server_->RootUrl() + "//" + name, mnt, options));
  auto stats = [&]() { return GetXattr(mnt, "user.hoardfs.stats").value_or(""); };
  auto list = [&](std::map<std::string, std::pair<ino_t, unsigned char>>* out) {
    out->clear();
    DIR* d = ::opendir(mnt.c_str());
    if (d == nullptr) return errno;
    errno = 0;
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") (*out)[n] = {e->d_ino, e->d_type};
    }
    const int err = errno;
    ::closedir(d);
    return err;
  };

  std::map<std::string, std::pair<ino_t, unsigned char>> first;
  ASSERT_EQ(list(&first), 0);
  ASSERT_EQ(first.size(), static_cast<size_t>(kFiles) + 1);
  const std::string after_readdir = stats();
  EXPECT_EQ(JsonNumber(after_readdir, "names_first_listings"), std::optional<uint64_t>(1))
      << after_readdir;
  for (const auto& [n, e] : first) {
    EXPECT_EQ(e.second, DT_UNKNOWN) << n << ": a type before the attributes came";
    EXPECT_NE(e.first, 0u) << n;
  }

  const uint64_t stats_before = JsonNumber(after_readdir, "remote_stats").value_or(0);
  for (const auto& [n, e] : first) {
    struct stat st {};
    ASSERT_EQ(::lstat((mnt + "/" + n).c_str(), &st), 0) << n << ": " << ErrnoName(errno);
    EXPECT_EQ(st.st_ino, e.first) << n << ": stat and readdir disagree on the inode number";
    if (n == "sub") {
      EXPECT_TRUE(S_ISDIR(st.st_mode)) << n;
    } else {
      EXPECT_TRUE(S_ISREG(st.st_mode)) << n;
      EXPECT_EQ(st.st_size, std::stoi(n.substr(1))) << n;
    }
  }
  const std::string after_stats = stats();
  EXPECT_EQ(JsonNumber(after_stats, "remote_stats"), std::optional<uint64_t>(stats_before))
      << "a stat per entry reached the remote: " << after_stats;
  EXPECT_EQ(JsonNumber(after_stats, "remote_lists"), std::optional<uint64_t>(1)) << after_stats;

  std::map<std::string, std::pair<ino_t, unsigned char>> second;
  ASSERT_EQ(list(&second), 0);
  ASSERT_EQ(second.size(), first.size());
  for (const auto& [n, e] : second) {
    EXPECT_EQ(e.first, first[n].first) << n;
    EXPECT_EQ(e.second, n == "sub" ? DT_DIR : DT_REG) << n;
  }
  const std::string last = stats();
  EXPECT_EQ(JsonNumber(last, "remote_lists"), std::optional<uint64_t>(1)) << last;
  EXPECT_EQ(JsonNumber(last, "remote_name_lists"), std::optional<uint64_t>(1)) << last;
}

// With the server stopped: cached files stay readable; reads of uncached files fail with EIO in
// bounded time (never hang); after a restart the same reads succeed. With `hung`, then the same
// with the server SIGSTOPped, where only timeouts end remote calls: the remote's circuit breaker
// must keep every file read and `ls -l` within about one remote call's timeout.
void MountTest::OutageScenario(bool hung) {
  const std::string mnt = MountDataset();
  ASSERT_FALSE(HasFailure());
  struct RestartServer {
    ~RestartServer() {
      if (!server_->running()) (void)server_->Restart();
    }
  } restart_guard;

  // Cache a set of files (all of /small/d0, the space and unicode files).
  const std::vector<std::string> cached = OutageCachedFiles(*expected_);
  const std::vector<std::string> uncached = {Dataset::kLargeFile, "/small/d1/e0/f001.dat"};
  ASSERT_NO_FATAL_FAILURE(ReadAllVerified(mnt, cached, *expected_));
  // Attributes and listings of everything the test touches are known (/small listed, the
  // uncached files stat'ed), their data not read.
  {
    ProcessResult ls = RunProcess({"ls", "-R", mnt + "/small"}, 60s);
    ASSERT_EQ(ls.exit_code, 0) << ls.Describe();
  }
  ASSERT_NO_FATAL_FAILURE(StatAll(mnt, uncached));
  // The cached files' blocks are in the block cache (the writer works in the background).
  for (const std::string& p : cached) {
    const std::optional<std::string> v = AwaitCachedBytes(mnt + p, expected_->at(p).size);
    ASSERT_TRUE(v.has_value()) << p << ": getxattr user.hoardfs.cached_bytes: " << ErrnoName(errno);
    EXPECT_EQ(*v, std::to_string(expected_->at(p).size)) << p << " not (all) in the block cache";
  }
  // Drop the kernel's copies: reads now reach the daemon.
  for (const std::string& p : cached) ASSERT_NO_FATAL_FAILURE(DropPageCache(mnt + p));

  // With the remote down: cached files read back whole, uncached ones fail with EIO, each within
  // `limit`; `what` names the outage in messages.
  // Returns false if a call hung (the daemon is gone then: stop).
  auto check_down = [&](const std::string& what, const std::vector<std::string>& readable,
                        const std::vector<std::string>& unreadable, std::chrono::seconds limit) {
    // Past the TTLs: every open revalidates against the unavailable server.
    std::this_thread::sleep_for(std::chrono::seconds(kAttrTtl) + 500ms);
    double slowest = 0;
    for (const std::string& p : readable) {
      double secs = 0;
      std::optional<ReadOutcome> r = WithDeadline<ReadOutcome>(
          "read of cached " + p + " (" + what + ")", limit, [&] { return ReadWhole(mnt + p); },
          &secs, kHardDeadline);
      if (!r) return false;
      slowest = std::max(slowest, secs);
      EXPECT_EQ(r->err, 0) << "cached " << p << " (" << what << "): " << ErrnoName(r->err);
      if (r->err == 0) {
        EXPECT_EQ(Sha256Hex(r->data), expected_->at(p).sha256) << p;
      }
    }
    std::cout << readable.size() << " cached files (" << what << "): slowest read " << slowest
              << " s\n";
    for (const std::string& p : unreadable) {
      double secs = 0;
      std::optional<ReadOutcome> r = WithDeadline<ReadOutcome>(
          "read of uncached " + p + " (" + what + ")", limit, [&] { return ReadWhole(mnt + p); },
          &secs, kHardDeadline);
      if (!r) return false;
      std::cout << "uncached " << p << " (" << what << "): "
                << (r->err != 0 ? ErrnoName(r->err) : "read " + std::to_string(r->data.size()))
                << " after " << secs << " s\n";
      EXPECT_EQ(r->err, EIO) << "uncached " << p << " (" << what << "): expected EIO, got "
                             << (r->err != 0 ? ErrnoName(r->err)
                                             : std::to_string(r->data.size()) + " bytes");
    }
    return true;
  };
  // The remote's state in user.hoardfs.stats: down (or not), tripped at least `trips` times.
  auto check_stats = [&](const std::string& what, bool down, uint64_t trips) {
    const std::optional<std::string> stats = GetXattr(mnt, "user.hoardfs.stats");
    ASSERT_TRUE(stats.has_value()) << "getxattr user.hoardfs.stats: " << ErrnoName(errno);
    std::cout << "stats (" << what << "): " << *stats << "\n";
    EXPECT_EQ(JsonNumber(*stats, "remote_down"), down ? 1u : 0u) << what << ": " << *stats;
    EXPECT_GE(JsonNumber(*stats, "remote_trips").value_or(0), trips) << what << ": " << *stats;
    if (down) {
      EXPECT_GT(JsonNumber(*stats, "remote_fast_failures").value_or(0), 0u)
          << what << ": no request failed at once: " << *stats;
    }
  };
  // With the remote back: the files that failed read whole (allowing a few seconds for the
  // client to reconnect).
  auto check_back = [&](const std::string& what, const std::vector<std::string>& files) -> bool {
    for (const std::string& p : files) {
      const auto deadline = Clock::now() + 10s;
      std::optional<ReadOutcome> r;
      for (;;) {
        r = WithDeadline<ReadOutcome>(
            "read of " + p + " (" + what + ")", kOpDeadline, [&] { return ReadWhole(mnt + p); },
            nullptr, kHardDeadline);
        if (!r || r->err == 0 || Clock::now() > deadline) break;
        std::this_thread::sleep_for(250ms);
      }
      if (!r) return false;
      EXPECT_EQ(r->err, 0) << p << " (" << what << "): " << ErrnoName(r->err);
      if (r->err == 0) {
        EXPECT_EQ(Sha256Hex(r->data), expected_->at(p).sha256) << p;
      }
    }
    return true;
  };

  // 1. Server stopped (connections refused).
  ASSERT_TRUE(server_->Stop().ok());
  ASSERT_TRUE(check_down("server stopped", cached, uncached, kOpDeadline));
  check_stats("server stopped", true, 1);
  {
    std::optional<int> listed =
        WithDeadline<int>("ls /small/d0 (cached listing, server stopped)", kOpDeadline, [&] {
          ProcessResult ls = RunProcess({"ls", mnt + "/small/d0"}, kOpDeadline + 5s);
          return ls.exit_code;
        });
    ASSERT_TRUE(listed.has_value());
    EXPECT_EQ(*listed, 0) << "a cached listing is not served with the server stopped";
  }
  ASSERT_TRUE(server_->Restart().ok());
  ASSERT_TRUE(check_back("after the restart", uncached));
  check_stats("after the restart", false, 1);
  ASSERT_FALSE(HasFailure());

  if (!hung) return;
  // 2. Server hung (SIGSTOP: connections accepted, nothing answered): only timeouts end the
  // calls. Without a "known down" state every lookup, stat, open and read of one `cat` waited
  // out its own timeout (~18 s per uncached file, 10-12 s per cached one). With it, one file
  // read meets the hung server at most once (the call that finds it down, or one probe), so it
  // is bounded by --remote-timeout 2 x --remote-attempts 1, plus XrdCl's 1 s timeout
  // resolution, plus 2 s of slack.
  constexpr auto kHungLimit = 5s;
  const std::vector<std::string> hung_cached = {cached[0], cached[1]};
  const std::vector<std::string> hung_uncached = {"/small/d2/e0/f002.dat", "/small/d3/e1/f007.dat"};
  const pid_t server_pid = server_->pid();
  ASSERT_EQ(::kill(server_pid, SIGSTOP), 0) << ErrnoName(errno);
  struct Resume {
    pid_t pid;
    ~Resume() { ::kill(pid, SIGCONT); }  // also when an assertion returns early
  } resume{server_pid};
  ASSERT_TRUE(check_down("server hung", hung_cached, hung_uncached, kHungLimit));
  {
    // A user's `ls -l` of a cached directory: one readdir and a lookup per entry.
    std::optional<int> listed = WithDeadline<int>(
        "ls -l /small/d0 (cached listing, server hung)", kHungLimit,
        [&] {
          return RunProcess({"ls", "-l", mnt + "/small/d0"}, kHardDeadline).exit_code;
        },
        nullptr, kHardDeadline);
    ASSERT_TRUE(listed.has_value());
    EXPECT_EQ(*listed, 0) << "a cached listing is not served with the server hung";
  }
  check_stats("server hung", true, 2);
  ASSERT_EQ(::kill(server_pid, SIGCONT), 0);
  ASSERT_TRUE(check_back("after the server resumed", hung_uncached));
  check_stats("after the server resumed", false, 2);
}

TEST_F(MountTest, StoppedServerCachedReadableUncachedEioThenRecovers) { OutageScenario(false); }

// The server SIGSTOPped after the stopped-server phase: the remote's circuit breaker bounds every
// read and `ls -l` by about one remote timeout, and reads work again after SIGCONT.
TEST_F(MountTest, HungServerCachedReadableUncachedEioThenRecovers) { OutageScenario(true); }

// Unmounting leaves no process and no mount: fusermount3 -u of a foreground daemon, umount of a
// background daemon, SIGTERM to a foreground daemon.
TEST_F(MountTest, UnmountLeavesNoProcessAndNoMount) {
  const std::string file = Dataset::kSpaceFile;
  const std::string want = dataset_->Bytes(file, 0, 1 << 20);
  {
    SCOPED_TRACE("foreground, fusermount3 -u");
    const std::string mnt = NewDir("fg");
    Daemon* d = nullptr;
    ASSERT_TRUE(StartDaemon(DatasetUrl(), mnt, scratch_->Sub("fg-cache"), &d));
    EXPECT_EQ(ReadWhole(mnt + file).data, want);
    ProcessResult um = RunProcess({"fusermount3", "-u", mnt}, 20s);
    ASSERT_EQ(um.exit_code, 0) << um.Describe();
    std::optional<int> st = WaitFor(d->pid, 10s);
    ASSERT_TRUE(st.has_value()) << "daemon still running 10 s after fusermount3 -u";
    MarkReaped(*d, *st);
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << "wait status " << *st;
    EXPECT_FALSE(IsMounted(mnt));
    EXPECT_EQ(ProcessesMentioning(mnt).size(), 0u);
  }
  {
    SCOPED_TRACE("background, umount");
    const std::string mnt = NewDir("bg");
    AddMountpoint(mnt);
    std::vector<std::string> argv = {HoardfsBinary(), "--log-level", LogLevel(),
                                     "mount",         DatasetUrl(),  mnt};
    for (const std::string& o : MountOptions(scratch_->Sub("bg-cache"))) argv.push_back(o);
    argv.emplace_back("--log-file");
    argv.push_back(scratch_->Sub("bg.log"));
    ProcessResult m = RunProcess(argv, 30s);
    const std::vector<pid_t> pids = ProcessesMentioning(mnt);
    for (pid_t p : pids) adopted_.push_back(p);
    ASSERT_EQ(m.exit_code, 0) << m.Describe() << "\nlog:\n"
                              << Tail(SlurpFile(scratch_->Sub("bg.log")), 30);
    EXPECT_TRUE(IsMounted(mnt)) << "hoardfs mount returned before the mount was up";
    ASSERT_EQ(pids.size(), 1u) << "expected one daemon process for " << mnt;
    EXPECT_EQ(ReadWhole(mnt + file).data, want);
    ProcessResult um = RunProcess({"umount", mnt}, 20s);
    ASSERT_EQ(um.exit_code, 0) << um.Describe();
    const auto deadline = Clock::now() + 10s;
    while (ProcessAlive(pids[0]) && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
    EXPECT_FALSE(ProcessAlive(pids[0])) << "background daemon still running 10 s after umount";
    EXPECT_FALSE(IsMounted(mnt));
  }
  {
    SCOPED_TRACE("foreground, SIGTERM");
    const std::string mnt = NewDir("term");
    Daemon* d = nullptr;
    ASSERT_TRUE(StartDaemon(DatasetUrl(), mnt, scratch_->Sub("term-cache"), &d));
    EXPECT_EQ(ReadWhole(mnt + file).data, want);
    ASSERT_EQ(::kill(d->pid, SIGTERM), 0);
    std::optional<int> st = WaitFor(d->pid, 10s);
    ASSERT_TRUE(st.has_value()) << "daemon still running 10 s after SIGTERM";
    MarkReaped(*d, *st);
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << "wait status " << *st;
    EXPECT_FALSE(IsMounted(mnt)) << "SIGTERM left the mount behind";
  }
  EXPECT_TRUE(MountsUnder(scratch_->path()).empty());
}

// Writes of every kind fail with EROFS.
TEST_F(MountTest, WritesFailWithErofs) {
  const std::string mnt = MountDataset();
  ASSERT_FALSE(HasFailure());
  const std::string file = mnt + Dataset::kSpaceFile;
  const std::string dir = mnt + "/emptydir";
  auto expect_erofs = [](const char* what, int rc) {
    const int e = errno;
    EXPECT_EQ(rc, -1) << what << " succeeded on a read-only mount";
    if (rc == -1) {
      EXPECT_EQ(e, EROFS) << what << ": " << ErrnoName(e);
    }
  };
  int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  expect_erofs("open O_WRONLY", fd < 0 ? -1 : 0);
  if (fd >= 0) ::close(fd);
  fd = ::open(file.c_str(), O_RDWR | O_CLOEXEC);
  expect_erofs("open O_RDWR", fd < 0 ? -1 : 0);
  if (fd >= 0) ::close(fd);
  fd = ::open((mnt + "/new-file").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  expect_erofs("create", fd < 0 ? -1 : 0);
  if (fd >= 0) ::close(fd);
  fd = ::open(file.c_str(), O_RDONLY | O_TRUNC | O_CLOEXEC);
  expect_erofs("open O_TRUNC", fd < 0 ? -1 : 0);
  if (fd >= 0) ::close(fd);
  expect_erofs("truncate", ::truncate(file.c_str(), 0));
  expect_erofs("unlink", ::unlink(file.c_str()));
  expect_erofs("rename", ::rename(file.c_str(), (mnt + "/renamed").c_str()));
  expect_erofs("mkdir", ::mkdir((mnt + "/newdir").c_str(), 0755));
  expect_erofs("rmdir", ::rmdir(dir.c_str()));
  expect_erofs("symlink", ::symlink("x", (mnt + "/link").c_str()));
  expect_erofs("link", ::link(file.c_str(), (mnt + "/hard").c_str()));
  expect_erofs("chmod", ::chmod(file.c_str(), 0600));
  expect_erofs("chown", ::chown(file.c_str(), 1, 1));
  expect_erofs("utimes", ::utimensat(AT_FDCWD, file.c_str(), nullptr, 0));
  expect_erofs("setxattr", ::setxattr(file.c_str(), "user.x", "1", 1, 0));
  expect_erofs("mknod", ::mknod((mnt + "/fifo").c_str(), S_IFIFO | 0644, 0));
  // Still intact afterwards.
  EXPECT_EQ(ReadWhole(file).data, dataset_->Bytes(Dataset::kSpaceFile, 0, 1 << 20));
}

// The kernel's read requests are counted by size in user.hoardfs.stats: O_DIRECT reads reach the
// daemon as requests of exactly their size (no page cache, no readahead), so the counters can be
// checked against the reads made.
TEST_F(MountTest, KernelReadRequestsAreCountedBySize) {
  const std::string mnt = MountDataset();
  ASSERT_FALSE(HasFailure());
  const std::string file = mnt + Dataset::kLargeFile;
  auto stats = [&] {
    std::optional<std::string> s = GetXattr(mnt, "user.hoardfs.stats");
    EXPECT_TRUE(s.has_value()) << "getxattr user.hoardfs.stats: " << ErrnoName(errno);
    return s.value_or("");
  };
  auto delta = [](const std::string& before, const std::string& after, const std::string& key) {
    return static_cast<int64_t>(JsonNumber(after, key).value_or(0)) -
           static_cast<int64_t>(JsonNumber(before, key).value_or(0));
  };
  const std::string before = stats();
  ASSERT_NE(JsonNumber(before, "fuse_reads"), std::nullopt) << before;
  const int fd = ::open(file.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  ASSERT_GE(fd, 0) << "open O_DIRECT: " << ErrnoName(errno);
  AlignedBuffer buffer(1 << 20);
  struct {
    size_t size;
    uint64_t offset;
  } const reads[] = {{4096, 0}, {64 << 10, 3 << 20}, {1 << 20, 8 << 20}, {48 << 10, 20 << 20}};
  for (const auto& r : reads) {
    const ssize_t n = ::pread(fd, buffer.data(), r.size, static_cast<off_t>(r.offset));
    EXPECT_EQ(n, static_cast<ssize_t>(r.size))
        << "pread at " << r.offset << ": " << ErrnoName(errno);
    if (n == static_cast<ssize_t>(r.size)) {
      EXPECT_TRUE(std::string(reinterpret_cast<const char*>(buffer.data()), r.size) ==
                  dataset_->Bytes(Dataset::kLargeFile, r.offset, r.size))
          << "bytes at " << r.offset;
    }
  }
  ::close(fd);
  const std::string after = stats();
  std::cout << "after: " << after << "\n";
  EXPECT_EQ(delta(before, after, "fuse_reads"), 4) << after;
  EXPECT_EQ(delta(before, after, "fuse_read_bytes"), 4096 + (64 << 10) + (1 << 20) + (48 << 10));
  EXPECT_EQ(delta(before, after, "4k"), 1) << after;
  EXPECT_EQ(delta(before, after, "64k"), 2) << after;  // 48 KiB counts as at most 64 KiB
  EXPECT_EQ(delta(before, after, "1m"), 1) << after;
  EXPECT_EQ(delta(before, after, "128k") + delta(before, after, "more"), 0) << after;

  // A buffered whole-file read: the kernel asks at least every byte, and every request is in one
  // bucket.
  ASSERT_EQ(ReadWhole(file).data.size(), dataset_->options().large_file_size);
  const std::string whole = stats();
  EXPECT_GE(delta(after, whole, "fuse_read_bytes"),
            static_cast<int64_t>(dataset_->options().large_file_size))
      << whole;
  int64_t bucketed = 0;
  for (const char* b : {"4k", "8k", "16k", "32k", "64k", "128k", "256k", "512k", "1m", "more"}) {
    bucketed += JsonNumber(whole, b).value_or(0);
  }
  EXPECT_EQ(bucketed, static_cast<int64_t>(JsonNumber(whole, "fuse_reads").value_or(0))) << whole;
  // The remote read buffers behind that read are counted too.
  EXPECT_GT(JsonNumber(whole, "fetch_buffer_maps").value_or(0), 0u) << whole;
  EXPECT_NE(JsonNumber(whole, "fetch_buffer_idle_bytes"), std::nullopt) << whole;
  // And the cache's writes of it: blocks inserted, and the transfers that wrote them.
  EXPECT_NE(JsonNumber(whole, "inserts"), std::nullopt) << whole;
  EXPECT_NE(JsonNumber(whole, "store_writes"), std::nullopt) << whole;
  EXPECT_NE(JsonNumber(whole, "store_reads"), std::nullopt) << whole;
  // And whether the fetches had to wait for them (the cache disk slower than the remote).
  EXPECT_NE(JsonNumber(whole, "insert_waits"), std::nullopt) << whole;
  EXPECT_NE(JsonNumber(whole, "pending_insert_bytes"), std::nullopt) << whole;
  EXPECT_NE(JsonNumber(whole, "insert_wait_seconds"), std::nullopt) << whole;
}

// ------------------------------------------------------------------------------------------------
// FUSE-over-io_uring (-o io_uring, fuse/uring_transport.h).

constexpr const char* kEnableUring = "/sys/module/fuse/parameters/enable_uring";

// Sets the fuse module's enable_uring for the life of the object and restores it after. The
// parameter only lets the kernel offer the transport: mounts that do not ask for it (other tests
// running meanwhile) are not affected. Tests that set it run one at a time (ctest runs this
// binary's tests as processes in parallel): each holds an exclusive lock on a file meanwhile.
class EnableUringSwitch {
 public:
  explicit EnableUringSwitch(bool on) {
    lock_fd_ = ::open("/tmp/hoardfs-test-enable-uring.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ < 0 || ::flock(lock_fd_, LOCK_EX) != 0) {
      why_not_ = "cannot lock /tmp/hoardfs-test-enable-uring.lock: " + ErrnoName(errno);
      return;
    }
    std::ifstream in(kEnableUring);
    if (!(in >> before_)) {
      why_not_ = std::string("this kernel has no FUSE-over-io_uring (no ") + kEnableUring + ")";
      return;
    }
    if (!Write(on ? "Y" : "N")) {
      why_not_ = std::string("cannot write ") + kEnableUring + ": " + ErrnoName(errno);
    }
  }
  ~EnableUringSwitch() {
    if (!before_.empty()) Write(before_);
    if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
  }
  EnableUringSwitch(const EnableUringSwitch&) = delete;
  EnableUringSwitch& operator=(const EnableUringSwitch&) = delete;
  const std::string& why_not() const { return why_not_; }

 private:
  static bool Write(const std::string& value) {
    std::ofstream out(kEnableUring);
    out << value;
    out.flush();
    return static_cast<bool>(out);
  }
  int lock_fd_ = -1;
  std::string before_;
  std::string why_not_;
};

std::string TransportOf(const std::string& stats) {
  const std::string key = "\"fuse_transport\":\"";
  const size_t at = stats.find(key);
  if (at == std::string::npos) return "";
  const size_t from = at + key.size();
  return stats.substr(from, stats.find('"', from) - from);
}

// Reads `count` random 4 KiB-aligned ranges of 4 to 24 KiB (some across a 16 KiB chunk's edge)
// of `file` through `mnt` with O_DIRECT (each a request to the daemon), checking every byte.
void CheckRandomDirectReads(const std::string& mnt, const Dataset& dataset, const char* file,
                            int count, uint32_t seed) {
  const int fd = ::open((mnt + file).c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  ASSERT_GE(fd, 0) << "open O_DIRECT: " << ErrnoName(errno);
  const uint64_t size = dataset.Find(file)->size;
  std::mt19937 rng(seed);
  AlignedBuffer buffer(64 << 10);
  size_t bad = 0;
  for (int i = 0; i < count; ++i) {
    const size_t length = 4096 * (1 + rng() % 6);
    const uint64_t offset = (rng() % ((size - length) / 4096)) * 4096;
    const ssize_t n = ::pread(fd, buffer.data(), length, static_cast<off_t>(offset));
    const bool same = n == static_cast<ssize_t>(length) &&
                      std::string(reinterpret_cast<const char*>(buffer.data()), length) ==
                          dataset.Bytes(file, offset, length);
    if (!same && ++bad <= kMaxReported) {
      ADD_FAILURE() << "pread " << length << " at " << offset << ": " << n << " "
                    << (n < 0 ? ErrnoName(errno) : "wrong bytes");
    }
  }
  ::close(fd);
}

// Over the rings, the whole tree reads as the source (lookups, listings, attributes, reads,
// readlink: every handler, run by the transport's workers), warm small reads are served on the
// queues' own threads (their cache reads on the rings), a cache block that fails its checksum
// falls back to a worker and is read from the remote, and the mount ends cleanly.
TEST_F(MountTest, IoUringTransportServesTheTreeAndWarmReadsOnItsRings) {
  EnableUringSwitch uring(true);
  if (!uring.why_not().empty()) GTEST_SKIP() << "skipped: " << uring.why_not();
  const std::string mnt = NewDir("mnt");
  const std::string cache = scratch_->Sub("cache");
  std::vector<std::string> options = MountOptions(cache);
  options.insert(options.end(), {"-o", "io_uring"});
  Daemon* d = nullptr;
  ASSERT_TRUE(StartMount(DatasetUrl(), mnt, options, &d));
  auto stats = [&] { return GetXattr(mnt, "user.hoardfs.stats").value_or(""); };

  CheckWholeTree(mnt);
  CheckLsR(mnt);
  const std::string after_tree = stats();
  std::cout << "after the tree: " << after_tree << "\n";
  EXPECT_EQ(TransportOf(after_tree), "io_uring") << after_tree;
  EXPECT_GT(JsonNumber(after_tree, "fuse_ring_requests").value_or(0), 1000u) << after_tree;
  // The large file's sequential read: its readahead's blocks answered from memory on the rings.
  EXPECT_GT(JsonNumber(after_tree, "fuse_ring_memory_reads").value_or(0), 0u) << after_tree;

  // The mount ends cleanly, rings and all.
  auto unmount = [&](Daemon* daemon) {
    ProcessResult um = RunProcess({"fusermount3", "-u", mnt}, 20s);
    ASSERT_EQ(um.exit_code, 0) << um.Describe();
    std::optional<int> st = WaitFor(daemon->pid, 10s);
    ASSERT_TRUE(st.has_value()) << "daemon still running 10 s after fusermount3 -u";
    MarkReaped(*daemon, *st);
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << "wait status " << *st;
    EXPECT_FALSE(IsMounted(mnt));
    const std::string log = SlurpFile(daemon->log_path);
    EXPECT_NE(log.find("] io_uring: "), std::string::npos) << "the queues never started\n"
                                                           << Tail(log, 30);
    EXPECT_EQ(log.find("io_uring: queue"), std::string::npos) << Tail(log, 30);  // no queue error
  };
  unmount(d);
  ASSERT_FALSE(HasFailure());

  // Warm, in a new daemon over the same cache (nothing in its memory): small direct reads of
  // the large file, every block of which was cached above, are served on the rings.
  ASSERT_TRUE(StartMount(DatasetUrl(), mnt, options, &d));
  CheckRandomDirectReads(mnt, *dataset_, Dataset::kLargeFile, 300, 7);
  const std::string warm = stats();
  std::cout << "warm: " << warm << "\n";
  EXPECT_GE(JsonNumber(warm, "fuse_ring_fast_reads").value_or(0), 200u) << warm;
  EXPECT_EQ(JsonNumber(warm, "fuse_ring_fast_fallbacks").value_or(1), 0u) << warm;
  EXPECT_EQ(JsonNumber(warm, "crc_failures").value_or(1), 0u) << warm;
  EXPECT_EQ(JsonNumber(warm, "remote_requests").value_or(1), 0u) << warm;

  // Every cached block's bytes overwritten behind the daemon's back (its chunk records intact):
  // each ring read fails its checksum, goes to a worker, which misses and fetches the remote.
  size_t spoiled = 0;
  for (const std::filesystem::directory_entry& f :
       std::filesystem::directory_iterator(cache + "/data")) {
    const std::string name = f.path().filename().string();
    if (!f.is_regular_file() || !name.starts_with("c") || !name.ends_with(".blk")) continue;
    const int fd = ::open(f.path().c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << f.path() << ": " << ErrnoName(errno);
    const std::string junk(1 << 20, '\x5a');
    for (uint64_t at = 0; at < f.file_size(); at += junk.size()) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(junk.size(), f.file_size() - at));
      ASSERT_EQ(::pwrite(fd, junk.data(), n, static_cast<off_t>(at)), static_cast<ssize_t>(n));
    }
    ::close(fd);
    ++spoiled;
  }
  ASSERT_GT(spoiled, 0u) << "no data file in " << cache;
  CheckRandomDirectReads(mnt, *dataset_, Dataset::kLargeFile, 50, 1234);
  const std::string spoilt = stats();
  std::cout << "spoilt: " << spoilt << "\n";
  EXPECT_GT(JsonNumber(spoilt, "fuse_ring_fast_fallbacks").value_or(0), 0u) << spoilt;
  EXPECT_GT(JsonNumber(spoilt, "crc_failures").value_or(0), 0u) << spoilt;

  EXPECT_GT(JsonNumber(spoilt, "remote_requests").value_or(0), 0u) << spoilt;
  unmount(d);
}

// One request entry per queue: every request, served on a ring or by a worker, must give its
// entry back for the next one (a lost entry would hang every later request of its CPU). Eight
// readers at once, whole files and small direct reads of the large one, all right; then a
// SIGTERM under load ends the daemon cleanly.
TEST_F(MountTest, IoUringWithOneEntryPerQueueServesConcurrentReaders) {
  EnableUringSwitch uring(true);
  if (!uring.why_not().empty()) GTEST_SKIP() << "skipped: " << uring.why_not();
  const std::string mnt = NewDir("mnt");
  std::vector<std::string> options = MountOptions(scratch_->Sub("cache"));
  options.insert(options.end(), {"-o", "io_uring,io_uring_depth=1"});
  Daemon* d = nullptr;
  ASSERT_TRUE(StartMount(DatasetUrl(), mnt, options, &d));
  ASSERT_EQ(ReadWhole(mnt + Dataset::kLargeFile).data.size(),
            dataset_->options().large_file_size);  // cached whole: the direct reads are warm
  std::vector<std::string> files;
  for (const auto& [path, e] : *expected_) {
    if (e.type == ObjectType::kFile && e.size > 0 && e.size < (1u << 20) && files.size() < 400) {
      files.push_back(path);
    }
  }
  std::atomic<size_t> wrong{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 8; ++t) {
    readers.emplace_back([&, t] {
      if (t % 2 == 0) {
        CheckRandomDirectReads(mnt, *dataset_, Dataset::kLargeFile, 200, 100 + t);
        return;
      }
      for (size_t i = static_cast<size_t>(t); i < files.size(); i += 8) {
        const uint64_t size = expected_->at(files[i]).size;
        if (ReadWhole(mnt + files[i]).data != dataset_->Bytes(files[i], 0, size)) ++wrong;
      }
    });
  }
  for (std::thread& r : readers) r.join();
  EXPECT_EQ(wrong.load(), 0u);
  const std::string stats = GetXattr(mnt, "user.hoardfs.stats").value_or("");
  std::cout << "one entry per queue: " << stats << "\n";
  EXPECT_EQ(TransportOf(stats), "io_uring") << stats;
  EXPECT_GT(JsonNumber(stats, "fuse_ring_fast_reads").value_or(0), 0u) << stats;

  // SIGTERM while readers keep the rings busy: the daemon exits 0 and takes its mount along.
  std::atomic<bool> stop{false};
  std::vector<std::thread> busy;
  for (int t = 0; t < 4; ++t) {
    busy.emplace_back([&] {
      const int fd = ::open((mnt + Dataset::kLargeFile).c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
      if (fd < 0) return;
      AlignedBuffer buffer(4096);
      for (uint64_t i = 0; !stop.load(); ++i) {
        if (::pread(fd, buffer.data(), 4096, static_cast<off_t>((i * 7919 % 16384) * 4096)) < 0) {
          break;  // the mount went away
        }
      }
      ::close(fd);
    });
  }
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(::kill(d->pid, SIGTERM), 0);
  std::optional<int> st = WaitFor(d->pid, 10s);
  stop = true;
  for (std::thread& b : busy) b.join();
  ASSERT_TRUE(st.has_value()) << "daemon still running 10 s after SIGTERM";
  MarkReaped(*d, *st);
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << "wait status " << *st;
  EXPECT_FALSE(IsMounted(mnt)) << "SIGTERM left the mount behind";
}

// -o io_uring where the kernel does not offer the transport: the mount serves by /dev/fuse, says
// why in the log, and reads right.
TEST_F(MountTest, IoUringOptionWithoutTheKernelsOfferServesByDevFuse) {
  EnableUringSwitch uring(false);
  if (!uring.why_not().empty()) GTEST_SKIP() << "skipped: " << uring.why_not();
  const std::string mnt = NewDir("mnt");
  std::vector<std::string> options = MountOptions(scratch_->Sub("cache"));
  options.insert(options.end(), {"-o", "io_uring"});
  Daemon* d = nullptr;
  ASSERT_TRUE(StartMount(DatasetUrl(), mnt, options, &d));
  ProcessResult sum = RunProcess({"sha256sum", mnt + Dataset::kLargeFile}, 60s);
  ASSERT_EQ(sum.exit_code, 0) << sum.Describe();
  EXPECT_EQ(sum.out.substr(0, 64), dataset_->Find(Dataset::kLargeFile)->sha256);
  CheckRandomDirectReads(mnt, *dataset_, Dataset::kLargeFile, 50, 99);
  const std::string stats = GetXattr(mnt, "user.hoardfs.stats").value_or("");
  EXPECT_EQ(TransportOf(stats), "dev") << stats;
  EXPECT_EQ(JsonNumber(stats, "fuse_ring_requests"), std::optional<uint64_t>(0)) << stats;
  EXPECT_NE(SlurpFile(d->log_path).find("does not offer FUSE-over-io_uring"), std::string::npos);
}

// ------------------------------------------------------------------------------------------------
// Mount errors: one line on stderr naming the problem, a non-zero exit, nothing mounted and no
// process left.

class MountErrorTest : public MountTest {
 protected:
  // Runs `hoardfs mount URL MNT ... EXTRA...` (background mode, as a user would).
  ProcessResult MountCommand(const std::string& url, const std::string& mnt,
                             const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {HoardfsBinary(), "mount", url, mnt};
    for (const std::string& o : MountOptions(scratch_->Sub("cache"))) argv.push_back(o);
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.emplace_back("--log-file");
    argv.push_back(scratch_->Sub("error-case.log"));
    ProcessResult r = RunProcess(argv, 60s);
    for (pid_t p : ProcessesMentioning(scratch_->path())) adopted_.push_back(p);
    return r;
  }

  void ExpectCleanFailure(const ProcessResult& r, const std::string& mnt,
                          const std::vector<std::string>& mentions, int mounts_before = 0) {
    EXPECT_FALSE(r.timed_out) << r.Describe();
    EXPECT_EQ(r.signal, 0) << r.Describe();
    EXPECT_NE(r.exit_code, 0) << r.Describe();
    EXPECT_GT(r.exit_code, 0) << r.Describe();
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1)
        << "expected exactly one line on stderr, got:\n"
        << r.err;
    EXPECT_TRUE(!r.err.empty() && r.err.back() == '\n') << r.err;
    for (const std::string& m : mentions) {
      EXPECT_NE(r.err.find(m), std::string::npos)
          << "the message does not mention '" << m << "': " << r.err;
    }
    EXPECT_EQ(MountCount(mnt), mounts_before) << "a failed mount left a mount at " << mnt;
    EXPECT_TRUE(ProcessesMentioning(scratch_->path()).empty())
        << "a failed mount left a process behind";
    std::cout << "stderr: " << r.err;
  }
};

TEST_F(MountErrorTest, UnreachableRemote) {
  const std::string mnt = NewDir("mnt");
  AddMountpoint(mnt);
  Result<uint16_t> port = PickFreePort();  // nothing listens there
  ASSERT_TRUE(port.ok());
  const std::string host = "127.0.0.1:" + std::to_string(*port);
  ProcessResult r = MountCommand("root://" + host + "//data", mnt);
  ExpectCleanFailure(r, mnt, {host});
  EXPECT_LT(r.seconds, 20.0) << "--remote-timeout 2 --remote-attempts 1";
}

TEST_F(MountErrorTest, MalformedUrl) {
  const std::string mnt = NewDir("mnt");
  AddMountpoint(mnt);
  const std::string port = std::to_string(server_->port());
  for (const std::string& url : std::vector<std::string>{
           "root://127.0.0.1:" + port + "/dataset", "127.0.0.1:" + port + "//dataset",
           "root://127.0.0.1:notaport//dataset", "gopher://127.0.0.1//dataset",
           "root://127.0.0.1:" + port + "//dataset/../etc"}) {
    SCOPED_TRACE(url);
    ProcessResult r = MountCommand(url, mnt);
    ExpectCleanFailure(r, mnt, {url});
  }
}

TEST_F(MountErrorTest, ReadaheadOutOfRangeOrMalformed) {
  const std::string mnt = NewDir("mnt");
  AddMountpoint(mnt);
  for (const std::string& value : std::vector<std::string>{"1M", "1T", "far", "-8M"}) {
    SCOPED_TRACE(value);
    ProcessResult r = MountCommand(DatasetUrl(), mnt, {"--readahead", value});
    ExpectCleanFailure(r, mnt, {"--readahead " + value});
  }
  for (const std::string& value : std::vector<std::string>{"2M", "1G", "wide"}) {
    SCOPED_TRACE(value);
    ProcessResult r = MountCommand(DatasetUrl(), mnt, {"--readahead-limit", value});
    ExpectCleanFailure(r, mnt, {"--readahead-limit " + value});
  }
  // A limit below the window is a contradiction, not a silent "no growth".
  ProcessResult r =
      MountCommand(DatasetUrl(), mnt, {"--readahead", "64M", "--readahead-limit", "32M"});
  ExpectCleanFailure(r, mnt, {"--readahead-limit 32M is below --readahead 64M"});
}

TEST_F(MountErrorTest, IoUringDepthOutOfRangeOrMalformed) {
  const std::string mnt = NewDir("mnt");
  AddMountpoint(mnt);
  for (const std::string& value : std::vector<std::string>{"0", "4096", "deep", ""}) {
    SCOPED_TRACE(value);
    ProcessResult r = MountCommand(DatasetUrl(), mnt, {"-o", "io_uring,io_uring_depth=" + value});
    ExpectCleanFailure(r, mnt, {"io_uring_depth=" + value});
  }
}

TEST_F(MountErrorTest, MissingMountPoint) {
  const std::string mnt = scratch_->Sub("does-not-exist");
  AddMountpoint(mnt);
  ProcessResult r = MountCommand(DatasetUrl(), mnt);
  ExpectCleanFailure(r, mnt, {mnt});
  struct stat st {};
  EXPECT_NE(::stat(mnt.c_str(), &st), 0) << "the mount point was created";
}

TEST_F(MountErrorTest, AlreadyMountedPath) {
  const std::string mnt = MountDataset();
  ASSERT_FALSE(HasFailure());
  ProcessResult r = MountCommand(DatasetUrl(), mnt);
  // The daemon of the first mount mentions the scratch path too: it is expected to live on.
  EXPECT_NE(r.exit_code, 0) << r.Describe();
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(mnt), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("already mounted"), std::string::npos) << r.err;
  EXPECT_EQ(MountCount(mnt), 1) << "a second mount was stacked on " << mnt;
  const std::vector<pid_t> pids = ProcessesMentioning(mnt);
  EXPECT_EQ(pids.size(), 1u) << "a process was left behind besides the first daemon";
  // The first mount still works.
  EXPECT_EQ(ReadWhole(mnt + Dataset::kSpaceFile).data,
            dataset_->Bytes(Dataset::kSpaceFile, 0, 1 << 20));
  std::cout << "stderr: " << r.err;
}

}  // namespace
}  // namespace hoardfs::testing
