// The shared parts of the end-to-end mount tests (mount_fixture.h says what and why).
#include "tests/fuse/mount_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "tests/support/dataset.h"

extern char** environ;

namespace hoardfs::testing {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> ChildEnvironment() {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "LC_ALL=", 7) != 0) env.emplace_back(*e);
  }
  env.emplace_back("LC_ALL=C");  // byte order in ls, the same messages everywhere
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::string ReadMemfd(int fd) {
  std::string out;
  char buf[65536];
  ::lseek(fd, 0, SEEK_SET);
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

std::string UnescapeMountField(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      const std::string oct = s.substr(i + 1, 3);
      if (std::all_of(oct.begin(), oct.end(), [](char c) { return c >= '0' && c <= '7'; })) {
        out.push_back(static_cast<char>(std::stoi(oct, nullptr, 8)));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace

const char* HoardfsBinary() {
  const char* env = std::getenv("HOARDFS_TEST_BIN");
  return env != nullptr && *env != '\0' ? env : HOARDFS_BIN;
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string ErrnoName(int err) { return std::to_string(err) + " (" + std::strerror(err) + ")"; }

// ------------------------------------------------------------------------------------------------
// Files.

ReadOutcome ReadWhole(const std::string& path) {
  ReadOutcome r;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    r.err = errno;
    return r;
  }
  char buf[1 << 20];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      r.err = errno;
      break;
    }
    if (n == 0) break;
    r.data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return r;
}

// Reads [offset, offset + length) with pread until done, EOF or an error (errno in *err).
std::string PreadFully(int fd, uint64_t offset, size_t length, int* err) {
  std::string out(length, '\0');
  size_t done = 0;
  *err = 0;
  while (done < length) {
    const ssize_t n =
        ::pread(fd, out.data() + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      *err = errno;
      break;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

::testing::AssertionResult WriteWhole(const std::string& path, const std::string& data, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) return ::testing::AssertionFailure() << "open " << path << ": " << ErrnoName(errno);
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      return ::testing::AssertionFailure() << "write " << path << ": " << ErrnoName(e);
    }
    done += static_cast<size_t>(n);
  }
  if (::fchmod(fd, 0644) != 0 || ::fsync(fd) != 0 || ::close(fd) != 0) {
    return ::testing::AssertionFailure() << "finish " << path << ": " << ErrnoName(errno);
  }
  return ::testing::AssertionSuccess();
}

// Deterministic content of `size` bytes for stream `key`.
std::string Content(uint64_t key, size_t size) {
  std::string s(size, '\0');
  FillContent(key, 0, std::as_writable_bytes(std::span<char>(s.data(), s.size())));
  return s;
}

// Where two byte strings first differ, for messages (or "" if equal).
std::string FirstDifference(const std::string& expected, const std::string& actual) {
  if (expected == actual) return "";
  const size_t n = std::min(expected.size(), actual.size());
  size_t i = 0;
  while (i < n && expected[i] == actual[i]) ++i;
  std::ostringstream m;
  m << "sizes " << expected.size() << " (expected) vs " << actual.size() << " (actual); ";
  if (i < n) {
    m << "first difference at byte " << i;
  } else {
    m << "one is a prefix of the other";
  }
  return m.str();
}

// Compares two multi-line texts; on a mismatch names the first differing line.
::testing::AssertionResult SameLines(const std::string& expected, const std::string& actual) {
  if (expected == actual) return ::testing::AssertionSuccess();
  std::istringstream a(expected), b(actual);
  std::string la, lb;
  size_t line = 0;
  for (;;) {
    ++line;
    const bool ga = static_cast<bool>(std::getline(a, la));
    const bool gb = static_cast<bool>(std::getline(b, lb));
    if (!ga && !gb) break;
    if (ga != gb || la != lb) {
      return ::testing::AssertionFailure()
             << "first difference at line " << line << ": expected '" << (ga ? la : "<end>")
             << "', got '" << (gb ? lb : "<end>") << "' (" << expected.size() << " vs "
             << actual.size() << " bytes)";
    }
  }
  return ::testing::AssertionFailure() << "texts differ only in line endings";
}

std::string Tail(const std::string& text, size_t lines) {
  if (text.empty()) return text;
  size_t pos = text.size();
  for (size_t i = 0; i <= lines && pos > 0; ++i) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) return text;
  }
  return text.substr(pos + 1);
}

std::string SlurpFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// ------------------------------------------------------------------------------------------------
// Processes.

// Starts argv[0] (searched on $PATH) with stdin from /dev/null and stdout/stderr to the given
// descriptors, in directory `cwd` if not empty. Returns the pid or -errno.
pid_t Spawn(std::vector<std::string> argv, int out_fd, int err_fd, const std::string& cwd) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> env = ChildEnvironment();
  std::vector<char*> cargv = CStrings(argv);
  std::vector<char*> cenv = CStrings(env);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, cargv[0], &actions, &attr, cargv.data(), cenv.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -rc;
}

// waitpid with a timeout: the wait status, or nullopt if `pid` is still running at the deadline.
std::optional<int> WaitFor(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return -1;  // not our child any more
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
}

// Runs a program to completion (killed after `timeout`), capturing its output.
ProcessResult RunProcess(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                         const std::string& cwd) {
  ProcessResult r;
  const int out_fd = ::memfd_create("stdout", MFD_CLOEXEC);
  const int err_fd = ::memfd_create("stderr", MFD_CLOEXEC);
  const auto start = Clock::now();
  const pid_t pid = Spawn(argv, out_fd, err_fd, cwd);
  if (pid < 0) {
    r.err = "cannot start " + argv[0] + ": " + ErrnoName(-pid);
  } else {
    std::optional<int> status = WaitFor(pid, timeout);
    if (!status) {
      r.timed_out = true;
      ::kill(pid, SIGKILL);
      int ignored = 0;
      ::waitpid(pid, &ignored, 0);
    } else if (WIFEXITED(*status)) {
      r.exit_code = WEXITSTATUS(*status);
    } else if (WIFSIGNALED(*status)) {
      r.signal = WTERMSIG(*status);
    }
    r.out = ReadMemfd(out_fd);
    r.err = ReadMemfd(err_fd);
  }
  r.seconds = SecondsSince(start);
  ::close(out_fd);
  ::close(err_fd);
  return r;
}

// Processes (other than this one) whose command line contains `needle`; zombies have none.
std::vector<pid_t> ProcessesMentioning(const std::string& needle) {
  std::vector<pid_t> out;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* e = ::readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0 || pid == ::getpid()) continue;
    std::string cmdline = SlurpFile(std::string("/proc/") + e->d_name + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(needle) != std::string::npos) out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(proc);
  return out;
}

bool ProcessAlive(pid_t pid) {
  const std::string stat = SlurpFile("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return false;
  const size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'Z';
}

// ------------------------------------------------------------------------------------------------
// Mounts.

std::vector<MountEntry> ReadMountInfo() {
  std::vector<MountEntry> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, mnt, opts, field;
    fields >> id >> parent >> dev >> root >> mnt >> opts;
    while (fields >> field && field != "-") {
    }
    MountEntry e;
    fields >> e.fstype;
    e.mount_point = UnescapeMountField(mnt);
    const size_t colon = dev.find(':');
    if (colon != std::string::npos) {
      e.minor = static_cast<unsigned>(std::stoul(dev.substr(colon + 1)));
    }
    out.push_back(std::move(e));
  }
  return out;
}

int MountCount(const std::string& mnt) {
  int n = 0;
  for (const MountEntry& e : ReadMountInfo()) n += e.mount_point == mnt ? 1 : 0;
  return n;
}

bool IsMounted(const std::string& mnt) { return MountCount(mnt) > 0; }

// Every mount point inside directory `dir` (our scratch directory).
std::vector<std::string> MountsUnder(const std::string& dir) {
  const std::string prefix = dir + "/";
  std::vector<std::string> out;
  for (const MountEntry& e : ReadMountInfo()) {
    if (e.mount_point.compare(0, prefix.size(), prefix) == 0) out.push_back(e.mount_point);
  }
  return out;
}

// Aborts the FUSE connection of every FUSE mount at `mnt`: requests in flight fail at once.
void AbortFuseConnection(const std::string& mnt) {
  for (const MountEntry& e : ReadMountInfo()) {
    if (e.mount_point != mnt || e.fstype.compare(0, 4, "fuse") != 0) continue;
    std::ofstream abort("/sys/fs/fuse/connections/" + std::to_string(e.minor) + "/abort");
    abort << "1";
  }
}

// fusermount3 -u, then umount -l if still mounted. True if nothing is mounted at `mnt` after.
bool Unmount(const std::string& mnt) {
  if (!IsMounted(mnt)) return true;
  (void)RunProcess({"fusermount3", "-u", mnt}, 10s);
  if (!IsMounted(mnt)) return true;
  (void)RunProcess({"umount", "-l", mnt}, 10s);
  return !IsMounted(mnt);
}

// A number in the flat JSON object of user.hoardfs.stats (the mount root's counters).
std::optional<uint64_t> JsonNumber(const std::string& json, const std::string& key) {
  const std::string k = "\"" + key + "\":";
  const size_t at = json.find(k);
  if (at == std::string::npos) return std::nullopt;
  return std::strtoull(json.c_str() + at + k.size(), nullptr, 10);
}

std::optional<std::string> GetXattr(const std::string& path, const std::string& name) {
  std::string value(4096, '\0');
  const ssize_t n = ::getxattr(path.c_str(), name.c_str(), value.data(), value.size());
  if (n < 0) return std::nullopt;
  value.resize(static_cast<size_t>(n));
  return value;
}

std::string ProcessResult::Describe() const {
  std::ostringstream m;
  if (timed_out) {
    m << "timed out (killed) after " << seconds << " s";
  } else if (signal != 0) {
    m << "killed by signal " << signal;
  } else {
    m << "exit " << exit_code << " after " << seconds << " s";
  }
  m << "\n--- stdout ---\n" << Tail(out, 20) << "\n--- stderr ---\n" << Tail(err, 20);
  return m.str();
}

// ------------------------------------------------------------------------------------------------
// MountFixture.

void MountFixture::StartCase(const std::string& prefix) {
  auto dir = ScratchDir::Create(prefix);
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  scratch_ = std::make_unique<ScratchDir>(std::move(*dir));
  StartWatchdog();
}

void MountFixture::StartWatchdog() {
  const char* env = std::getenv("HOARDFS_TEST_WATCHDOG");
  const std::chrono::seconds limit(env != nullptr ? std::atoi(env) : 120);
  watchdog_ = std::thread([this, limit] {
    std::unique_lock<std::mutex> lock(watchdog_mu_);
    if (watchdog_cv_.wait_for(lock, limit, [&] { return test_done_; })) return;
    lock.unlock();
    ADD_FAILURE() << "watchdog: the test ran longer than " << limit.count()
                  << " s (a call is blocked in the mount?); aborting the FUSE connections and "
                     "killing the daemons";
    AbortEverything();
  });
}

void MountFixture::StopWatchdog() {
  if (!watchdog_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(watchdog_mu_);
    test_done_ = true;
  }
  watchdog_cv_.notify_all();
  watchdog_.join();
}

void MountFixture::TearDown() {
  StopWatchdog();
  if (scratch_ == nullptr) return;
  if (HasFailure()) {
    for (const Daemon& d : daemons_) {
      std::cerr << "---- daemon pid " << d.pid << " at " << d.mountpoint << " (last lines of "
                << d.log_path << ")\n"
                << Tail(SlurpFile(d.log_path), 60) << "\n";
    }
  }
  CleanUp();
  const std::vector<std::string> left = MountsUnder(scratch_->path());
  if (!left.empty()) {
    ADD_FAILURE() << "mounts left behind (not removing " << scratch_->path()
                  << "): " << left.front();
    (void)scratch_.release();  // never recurse into a live mount
    return;
  }
  scratch_.reset();
}

// Unmounts every mount point this test used and ends every process it started.
void MountFixture::CleanUp() {
  for (const std::string& m : Mountpoints()) {
    if (!Unmount(m)) ADD_FAILURE() << "could not unmount " << m;
  }
  for (Daemon& d : daemons_) EndDaemon(d);
  for (pid_t pid : adopted_) {
    if (!ProcessAlive(pid)) continue;
    ::kill(pid, SIGTERM);
    const auto deadline = Clock::now() + 5s;
    while (ProcessAlive(pid) && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
    if (ProcessAlive(pid)) ::kill(pid, SIGKILL);
  }
  adopted_.clear();
}

// SIGTERM, then SIGKILL after 5 s; reaps it.
void MountFixture::EndDaemon(Daemon& d) {
  if (d.reaped) return;
  ::kill(d.pid, SIGTERM);
  std::optional<int> st = WaitFor(d.pid, 5s);
  if (!st) {
    ::kill(d.pid, SIGKILL);
    st = WaitFor(d.pid, 10s);
  }
  MarkReaped(d, st.value_or(-1));
}

// Aborts every connection and kills every daemon of this test (a call hangs past its deadline).
// Called from the test thread or the watchdog.
void MountFixture::AbortEverything() {
  std::lock_guard<std::mutex> lock(state_mu_);
  for (const std::string& m : mountpoints_) AbortFuseConnection(m);
  for (Daemon& d : daemons_) {
    if (!d.reaped) ::kill(d.pid, SIGKILL);  // our child, not yet waited for: its pid is ours
  }
}

void MountFixture::AddMountpoint(const std::string& mnt) {
  std::lock_guard<std::mutex> lock(state_mu_);
  mountpoints_.push_back(mnt);
}

std::vector<std::string> MountFixture::Mountpoints() {
  std::lock_guard<std::mutex> lock(state_mu_);
  return mountpoints_;
}

void MountFixture::MarkReaped(Daemon& d, int wait_status) {
  d.wait_status = wait_status;
  d.reaped = true;
}

void MountFixture::UnmountCleanly(const std::string& mnt, Daemon* d) {
  ProcessResult um = RunProcess({"fusermount3", "-u", mnt}, 20s);
  ASSERT_EQ(um.exit_code, 0) << um.Describe();
  std::optional<int> status = WaitFor(d->pid, 30s);
  ASSERT_TRUE(status.has_value()) << "the daemon did not exit within 30 s of the unmount";
  MarkReaped(*d, *status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "wait status " << *status;
  ASSERT_FALSE(IsMounted(mnt));
}

std::string MountFixture::NewDir(const std::string& name) {
  const std::string path = scratch_->Sub(name);
  EXPECT_EQ(::mkdir(path.c_str(), 0755), 0) << path << ": " << ErrnoName(errno);
  return path;
}

std::string MountFixture::LogLevel() {
  const char* level = std::getenv("HOARDFS_TEST_LOG_LEVEL");
  return level != nullptr && *level != '\0' ? level : "info";
}

::testing::AssertionResult MountFixture::StartMount(const std::string& url, const std::string& mnt,
                                                    const std::vector<std::string>& options,
                                                    Daemon** out) {
  std::vector<std::string> argv = {HoardfsBinary(), "--log-level", LogLevel(), "mount", url, mnt};
  for (const std::string& o : options) argv.push_back(o);
  argv.emplace_back("--foreground");
  const std::string log_path =
      scratch_->Sub("daemon-" + std::to_string(Mountpoints().size()) + ".log");
  AddMountpoint(mnt);
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) return ::testing::AssertionFailure() << "open " << log_path;
  const pid_t pid = Spawn(argv, log_fd, log_fd);
  ::close(log_fd);
  if (pid < 0) {
    return ::testing::AssertionFailure()
           << "cannot start " << HoardfsBinary() << ": " << ErrnoName(-pid);
  }
  Daemon* added = nullptr;
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    added = &daemons_.emplace_back();
    added->pid = pid;
    added->mountpoint = mnt;
    added->log_path = log_path;
  }
  Daemon& daemon = *added;
  if (out != nullptr) *out = &daemon;
  const auto start = Clock::now();
  while (!IsMounted(mnt)) {
    if (std::optional<int> st = WaitFor(daemon.pid, 0ms)) {
      MarkReaped(daemon, *st);
      return ::testing::AssertionFailure()
             << "hoardfs exited (status " << *st << ") before mounting " << mnt << ":\n"
             << Tail(SlurpFile(daemon.log_path), 40);
    }
    if (Clock::now() - start > kMountTimeout) {
      return ::testing::AssertionFailure()
             << mnt << " not mounted after " << kMountTimeout.count() << " s; daemon log:\n"
             << Tail(SlurpFile(daemon.log_path), 40);
    }
    std::this_thread::sleep_for(20ms);
  }
  // Visible in mountinfo is not serving: the daemon must answer a stat of the root.
  const auto left =
      std::chrono::duration_cast<std::chrono::seconds>(kMountTimeout - (Clock::now() - start) + 1s);
  std::optional<int> answered = WithDeadline<int>(
      "stat of the new mount " + mnt + " (the daemon does not answer requests)", left, [mnt] {
        struct stat st {};
        return ::stat(mnt.c_str(), &st) == 0 ? 0 : errno;
      });
  if (!answered || *answered != 0) {
    return ::testing::AssertionFailure()
           << mnt << " is mounted but stat() of it "
           << (answered ? "failed: " + ErrnoName(*answered) : std::string("hung"))
           << "; daemon log:\n"
           << Tail(SlurpFile(daemon.log_path), 40);
  }
  return ::testing::AssertionSuccess();
}

// Checks every directory, name, type and size of the tree at `mnt`, and the SHA-256 of every
// file read through it. Returns the bytes read.
// Files are read by 4 threads at once (as a batch job would; it also keeps the pass short).
uint64_t MountFixture::CheckTree(const std::string& mnt, const ExpectedTree& expected) {
  std::mutex mu;
  std::vector<std::string> failures;  // GUARDED_BY(mu)
  size_t failed = 0;                  // GUARDED_BY(mu)
  auto fail = [&](std::string m) {
    std::lock_guard<std::mutex> lock(mu);
    if (++failed <= kMaxReported) failures.push_back(std::move(m));
  };
  std::atomic<uint64_t> bytes{0};
  std::atomic<size_t> files{0};
  size_t dirs = 0;
  std::vector<std::string> directories = {"/"};
  for (const auto& [path, e] : expected) {
    if (e.type == ObjectType::kDirectory) directories.push_back(path);
  }
  for (const std::string& dir : directories) {
    ++dirs;
    const std::string prefix = dir == "/" ? "/" : dir + "/";
    std::vector<std::string> want;
    for (auto it = expected.lower_bound(prefix);
         it != expected.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      if (it->first.find('/', prefix.size()) == std::string::npos) {
        want.push_back(it->first.substr(prefix.size()));
      }
    }
    std::vector<std::string> got;
    DIR* d = ::opendir((mnt + dir).c_str());
    if (d == nullptr) {
      fail("opendir " + dir + ": " + ErrnoName(errno));
      continue;
    }
    errno = 0;
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") got.push_back(name);
      errno = 0;
    }
    if (errno != 0) fail("readdir " + dir + ": " + ErrnoName(errno));
    ::closedir(d);
    std::sort(got.begin(), got.end());
    if (got != want) {
      fail("listing of " + dir + ": " + std::to_string(got.size()) + " names, expected " +
           std::to_string(want.size()) +
           (got.empty() || want.empty()
                ? std::string()
                : "; first: '" + got.front() + "' vs '" + want.front() + "'"));
    }
  }
  std::vector<const std::pair<const std::string, ExpectedFile>*> entries;
  for (const auto& entry : expected) entries.push_back(&entry);
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < entries.size(); i = next++) {
      const std::string& path = entries[i]->first;
      const ExpectedFile& e = entries[i]->second;
      struct stat st {};
      if (::lstat((mnt + path).c_str(), &st) != 0) {
        fail("lstat " + path + ": " + ErrnoName(errno));
        continue;
      }
      if (e.type == ObjectType::kDirectory) {
        if (!S_ISDIR(st.st_mode)) fail(path + " is not a directory through the mount");
        continue;
      }
      if (!S_ISREG(st.st_mode)) {
        fail(path + " is not a regular file through the mount");
        continue;
      }
      if (static_cast<uint64_t>(st.st_size) != e.size) {
        fail(path + ": st_size " + std::to_string(st.st_size) + ", expected " +
             std::to_string(e.size));
      }
      ++files;
      ReadOutcome r = ReadWhole(mnt + path);
      if (r.err != 0) {
        fail("read " + path + ": " + ErrnoName(r.err));
        continue;
      }
      bytes += r.data.size();
      const std::string sha = Sha256Hex(r.data);
      if (sha != e.sha256) {
        fail(path + ": SHA-256 " + sha + " (" + std::to_string(r.data.size()) + " bytes), source " +
             e.sha256 + " (" + std::to_string(e.size) + " bytes)");
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(worker);
  for (std::thread& t : threads) t.join();
  if (failed > 0) {
    std::ostringstream m;
    m << failed << " problems in the tree at " << mnt << " (" << files.load() << " files, " << dirs
      << " directories):";
    for (const std::string& f : failures) m << "\n  " << f;
    ADD_FAILURE() << m.str();
  }
  return bytes.load();
}

// `ls -R` of the source and of the mount, run from inside each.
void MountFixture::CheckLsR(const std::string& mnt, const std::string& source_dir) {
  ProcessResult want = RunProcess({"ls", "-R"}, 120s, source_dir);
  ProcessResult got = RunProcess({"ls", "-R"}, 120s, mnt);
  ASSERT_EQ(want.exit_code, 0) << want.Describe();
  ASSERT_EQ(got.exit_code, 0) << "ls -R over the mount: " << got.Describe();
  EXPECT_TRUE(SameLines(want.out, got.out)) << "ls -R of the mount differs from the source";
}

std::vector<std::string> ConcurrentRandomReads(const std::string& path, const std::string& want,
                                               int reads) {
  const uint64_t size = want.size();
  const int shared_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (shared_fd < 0) return {"open " + path + ": " + ErrnoName(errno)};
  std::mutex mu;
  std::vector<std::string> failures;
  std::atomic<size_t> failed{0};
  std::atomic<uint64_t> bytes{0};
  auto reader = [&](unsigned t, unsigned round) {
    std::mt19937_64 rng(1000 * round + t);
    // Half the threads share one descriptor, half open their own.
    const int own_fd = t % 2 == 0 ? ::open(path.c_str(), O_RDONLY | O_CLOEXEC) : -1;
    const int fd = t % 2 == 0 ? own_fd : shared_fd;
    if (fd < 0) {
      ++failed;
      return;
    }
    for (int i = 0; i < reads; ++i) {
      uint64_t offset = rng() % size;
      size_t length;
      switch (rng() % 4) {
        case 0:  // small
          length = 1 + rng() % 8192;
          break;
        case 1:  // across a 1 MiB block boundary
          offset = ((rng() % (size >> 20)) << 20) + (uint64_t{1} << 20) - 1 - rng() % 5000;
          length = 1 + rng() % 20000;
          break;
        case 2:  // large, several blocks
          length = 1 + rng() % (3u << 20);
          break;
        default:  // at and past the end of the file
          offset = size - rng() % 10000;
          length = 1 + rng() % 30000;
          break;
      }
      int err = 0;
      const std::string got = PreadFully(fd, offset, length, &err);
      bytes += got.size();
      const std::string expect =
          offset >= size ? std::string()
                         : want.substr(offset, std::min<uint64_t>(length, size - offset));
      if (err != 0 || got != expect) {
        if (++failed <= kMaxReported) {
          std::lock_guard<std::mutex> lock(mu);
          failures.push_back("thread " + std::to_string(t) + " pread(" + std::to_string(offset) +
                             ", " + std::to_string(length) +
                             "): " + (err != 0 ? ErrnoName(err) : FirstDifference(expect, got)));
        }
      }
    }
    if (own_fd >= 0) ::close(own_fd);
  };
  for (unsigned round = 0; round < 2; ++round) {  // cold (from the remote), then warm
    const auto start = Clock::now();
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < 16; ++t) threads.emplace_back(reader, t, round);
    for (std::thread& th : threads) th.join();
    std::cout << "round " << round << ": 16 threads read " << bytes.exchange(0) << " bytes in "
              << SecondsSince(start) << " s\n";
  }
  ::close(shared_fd);
  if (failed.load() > failures.size()) {
    failures.push_back("... " + std::to_string(failed.load() - failures.size()) + " more");
  }
  return failures;
}

}  // namespace hoardfs::testing
