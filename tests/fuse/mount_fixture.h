// What the end-to-end mount tests share (mount_test.cc: root:// and its xrootd-specific cases;
// backend_mount_test.cc: the same conformance cases against every backend): helpers for files,
// processes and mounts, and MountFixture, a gtest fixture that starts `hoardfs mount` daemons and
// guarantees their teardown.
//
// The daemon runs in the foreground as a child of the test (posix_spawn), its stderr in a log file
// that is printed when a test fails. Every mount and process a test starts is recorded and torn
// down in TearDown, also after a failed assertion: fusermount3 -u, umount -l, SIGTERM, SIGKILL,
// waitpid. Only processes this test started are signalled.
//
// No test can hang: a new mount must answer a stat() within kMountTimeout; filesystem calls that
// could block run in a thread with a deadline (WithDeadline); and a per-test watchdog
// (HOARDFS_TEST_WATCHDOG seconds, default 120) fails a test that runs longer. Past a deadline the
// FUSE connections are aborted and the daemons killed, so the blocked calls return.
//
// Environment: HOARDFS_TEST_BIN (the hoardfs binary to test; default: the one built with the test,
// HOARDFS_BIN), HOARDFS_TEST_LOG_LEVEL (the daemon's --log-level; default info).
//
// Thread-safety: the free functions may run on any thread. A MountFixture is driven by the test
// thread; AbortEverything() may also run on the watchdog thread (state_mu_).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "remote/object_source.h"
#include "tests/support/scratch_dir.h"

namespace hoardfs::testing {

using Clock = std::chrono::steady_clock;

// The binary under test: $HOARDFS_TEST_BIN if set (an installed hoardfs), else the one built here.
const char* HoardfsBinary();

inline constexpr std::chrono::seconds kMountTimeout{20};  // until mountinfo shows the mount
inline constexpr std::chrono::seconds kOpDeadline{15};    // reading one file, remote down
inline constexpr std::chrono::seconds kHardDeadline{60};  // ... after which a call counts as hung
inline constexpr size_t kMaxReported = 20;  // failures listed per check; the rest are counted

double SecondsSince(Clock::time_point start);
std::string ErrnoName(int err);

// ------------------------------------------------------------------------------------------------
// Files.

// The whole content of `path`, or the errno of the open() or read() that failed.
struct ReadOutcome {
  int err = 0;
  std::string data;
};
ReadOutcome ReadWhole(const std::string& path);
// Reads [offset, offset + length) with pread until done, EOF or an error (errno in *err).
std::string PreadFully(int fd, uint64_t offset, size_t length, int* err);
// Writes `data` to `path` (mode 0644) and fsyncs it.
::testing::AssertionResult WriteWhole(const std::string& path, const std::string& data,
                                      int flags = O_WRONLY | O_CREAT | O_TRUNC);
// Deterministic content of `size` bytes for stream `key`.
std::string Content(uint64_t key, size_t size);
// Where two byte strings first differ, for messages (or "" if equal).
std::string FirstDifference(const std::string& expected, const std::string& actual);

// 16 threads (half sharing one descriptor, half with their own) read random ranges of `path`
// (small; across a 1 MiB block boundary; several blocks; at and past the end), `reads` each,
// twice (cold, then warm), and compare with `want`, its whole content. Returns what went wrong
// (at most 20 lines); empty when every byte was right.
std::vector<std::string> ConcurrentRandomReads(const std::string& path, const std::string& want,
                                               int reads);
// Compares two multi-line texts; on a mismatch names the first differing line.
::testing::AssertionResult SameLines(const std::string& expected, const std::string& actual);
// The last `lines` lines of `text`.
std::string Tail(const std::string& text, size_t lines);
// The whole file ("" if unreadable).
std::string SlurpFile(const std::string& path);

// ------------------------------------------------------------------------------------------------
// Processes.

// Starts argv[0] (searched on $PATH) with stdin from /dev/null and stdout/stderr to the given
// descriptors, in directory `cwd` if not empty, with LC_ALL=C. Returns the pid or -errno.
pid_t Spawn(std::vector<std::string> argv, int out_fd, int err_fd, const std::string& cwd = "");
// waitpid with a timeout: the wait status, or nullopt if `pid` is still running at the deadline.
std::optional<int> WaitFor(pid_t pid, std::chrono::milliseconds timeout);

struct ProcessResult {
  int exit_code = -1;  // -1 unless it exited normally
  int signal = 0;      // the signal that ended it
  bool timed_out = false;
  std::string out, err;
  double seconds = 0;

  std::string Describe() const;
};
// Runs a program to completion (killed after `timeout`), capturing its output.
ProcessResult RunProcess(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                         const std::string& cwd = "");
// Processes (other than this one) whose command line contains `needle`; zombies have none.
std::vector<pid_t> ProcessesMentioning(const std::string& needle);
bool ProcessAlive(pid_t pid);

// ------------------------------------------------------------------------------------------------
// Mounts.

struct MountEntry {
  std::string mount_point;
  std::string fstype;
  unsigned minor = 0;
};
std::vector<MountEntry> ReadMountInfo();
int MountCount(const std::string& mnt);
bool IsMounted(const std::string& mnt);
// Every mount point inside directory `dir` (a scratch directory).
std::vector<std::string> MountsUnder(const std::string& dir);
// Aborts the FUSE connection of every FUSE mount at `mnt`: requests in flight fail at once.
void AbortFuseConnection(const std::string& mnt);
// fusermount3 -u, then umount -l if still mounted. True if nothing is mounted at `mnt` after.
bool Unmount(const std::string& mnt);
// A number in the flat JSON object of user.hoardfs.stats (the mount root's counters).
std::optional<uint64_t> JsonNumber(const std::string& json, const std::string& key);
// getxattr, or nullopt (errno set).
std::optional<std::string> GetXattr(const std::string& path, const std::string& name);

// ------------------------------------------------------------------------------------------------
// The tree a mount must show: object path → type, size, SHA-256.

struct ExpectedFile {
  ObjectType type = ObjectType::kFile;
  uint64_t size = 0;
  std::string sha256;
};
using ExpectedTree = std::map<std::string, ExpectedFile>;

// ------------------------------------------------------------------------------------------------
// The fixture: per test a scratch directory, the daemons it started, and a watchdog.

class MountFixture : public ::testing::Test {
 protected:
  // One daemon this test started (foreground: our child).
  struct Daemon {
    pid_t pid = -1;
    std::string mountpoint;
    std::string log_path;
    std::atomic<bool> reaped{false};
    int wait_status = 0;
  };

  // Creates the scratch directory (named after `prefix`) and starts the watchdog. Call from the
  // derived SetUp() after any skip.
  void StartCase(const std::string& prefix);
  // Prints the daemons' logs if the test failed, unmounts and ends everything, removes the
  // scratch directory (not if a mount is left: never recurse into a live mount).
  void TearDown() override;

  // A test that runs past the watchdog's limit (HOARDFS_TEST_WATCHDOG seconds, default 120) has a
  // call blocked in the mount: the watchdog fails it and aborts the FUSE connections and kills the
  // daemons, so the blocked calls return and TearDown runs. No test can hang.
  void StartWatchdog();
  void StopWatchdog();
  // Unmounts every mount point this test used and ends every process it started.
  void CleanUp();
  // SIGTERM, then SIGKILL after 5 s; reaps it.
  static void EndDaemon(Daemon& d);
  // Aborts every connection and kills every daemon of this test (a call hangs past its deadline).
  // Called from the test thread or the watchdog.
  void AbortEverything();
  void AddMountpoint(const std::string& mnt);
  std::vector<std::string> Mountpoints();
  static void MarkReaped(Daemon& d, int wait_status);
  // fusermount3 -u of `mnt`, served by foreground daemon `d`: asserts the unmount succeeds, `d`
  // exits by itself within 30 s with status 0 (reaped), and `mnt` is no longer mounted. Fatal
  // assertions: call inside ASSERT_NO_FATAL_FAILURE.
  void UnmountCleanly(const std::string& mnt, Daemon* d);
  // mkdir scratch/<name>; returns its path.
  std::string NewDir(const std::string& name);
  static std::string LogLevel();

  // Starts `hoardfs --log-level L mount URL MNT OPTIONS... --foreground` and waits until MNT is
  // mounted and answers a stat(). The daemon is recorded before anything can fail, so TearDown
  // always ends it.
  ::testing::AssertionResult StartMount(const std::string& url, const std::string& mnt,
                                        const std::vector<std::string>& options,
                                        Daemon** out = nullptr);

  // Runs `fn` on another thread. If it returns after `limit`, the test fails (with the time it
  // took). If it does not return within `hard_limit` (default: `limit`), the test fails, the FUSE
  // connections are aborted and the daemons killed (so the call returns), and the result is
  // nullopt: the caller should stop.
  template <typename T>
  std::optional<T> WithDeadline(const std::string& what, std::chrono::seconds limit,
                                std::function<T()> fn, double* seconds = nullptr,
                                std::chrono::seconds hard_limit = std::chrono::seconds(0)) {
    hard_limit = std::max(hard_limit, limit);
    auto task = std::make_shared<std::packaged_task<T()>>(std::move(fn));
    std::future<T> result = task->get_future();
    const auto start = Clock::now();
    std::thread worker([task] { (*task)(); });
    if (result.wait_for(hard_limit) == std::future_status::timeout) {
      ADD_FAILURE() << what << " did not return within " << hard_limit.count()
                    << " s (hung); aborting the FUSE connection";
      AbortEverything();
      worker.join();
      return std::nullopt;
    }
    worker.join();
    const double took = SecondsSince(start);
    if (seconds != nullptr) *seconds = took;
    if (took > static_cast<double>(limit.count())) {
      ADD_FAILURE() << what << " took " << took << " s, more than the limit of " << limit.count()
                    << " s";
    }
    return result.get();
  }

  // Checks every directory, name, type and size of the tree at `mnt` against `expected`, and the
  // SHA-256 of every file read through it. Returns the bytes read. Files are read by 4 threads at
  // once (as a batch job would; it also keeps the pass short).
  uint64_t CheckTree(const std::string& mnt, const ExpectedTree& expected);
  // `ls -R` of `source_dir` and of the mount, run from inside each, are the same text.
  void CheckLsR(const std::string& mnt, const std::string& source_dir);

  std::unique_ptr<ScratchDir> scratch_;
  std::mutex state_mu_;                   // the test thread and the watchdog
  std::vector<std::string> mountpoints_;  // GUARDED_BY(state_mu_)
  std::deque<Daemon> daemons_;            // GUARDED_BY(state_mu_); stable addresses

  std::thread watchdog_;
  std::mutex watchdog_mu_;
  std::condition_variable watchdog_cv_;
  bool test_done_ = false;      // GUARDED_BY(watchdog_mu_)
  std::vector<pid_t> adopted_;  // background daemons found by their mount point
};

}  // namespace hoardfs::testing
