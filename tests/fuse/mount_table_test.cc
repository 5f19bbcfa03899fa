// End-to-end tests of `hoardfs mount --config FILE MOUNTPOINT` (issue 4, the mount table): one
// daemon serving, under one mount point, a real xrootd (root://), the same dataset over xrootd's
// HTTP port (http://) and the dataset's directory (file://) at a nested path "a/b".
//
// Each daemon runs in the foreground as a child of the test, its output in a log file printed when
// a test fails. TearDown unmounts (fusermount3 -u, umount -l) and ends only the daemons this test
// started (SIGTERM, SIGKILL). Calls that could block (the outage test) run on a thread with a
// deadline, past which the daemon is killed so they return.
//
// Skips only when not root, /dev/fuse is absent or xrootd is not installed.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/dataset.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/xrootd_server.h"

extern char** environ;

namespace hoardfs::testing {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool Spit(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

// The whole file, or the errno of the failed open()/read().
struct ReadOutcome {
  int err = 0;
  std::string data;
};

ReadOutcome ReadWhole(const std::string& path) {
  ReadOutcome r;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    r.err = errno;
    return r;
  }
  std::string buf(1 << 20, '\0');
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) r.err = errno;
    if (n <= 0) break;
    r.data.append(buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  return r;
}

// Names in a directory (without "." and ".."), sorted; nullopt-like errno in *err.
std::vector<std::string> ListDir(const std::string& path, int* err) {
  std::vector<std::string> out;
  *err = 0;
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) {
    *err = errno;
    return out;
  }
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

uint64_t InodeOf(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

std::string Xattr(const std::string& path, const std::string& name) {
  std::string value(8192, '\0');
  const ssize_t n = ::getxattr(path.c_str(), name.c_str(), value.data(), value.size());
  value.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return value;
}

bool IsMounted(const std::string& mnt) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, dev, root, point;
    f >> id >> parent >> dev >> root >> point;
    if (point == mnt) return true;
  }
  return false;
}

// Starts argv with stdout and stderr to `out_fd`/`err_fd`. Returns the pid or -errno.
pid_t Spawn(const std::vector<std::string>& argv, int out_fd, int err_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, cargv[0], &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -rc;
}

std::optional<int> WaitFor(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return -1;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
}

struct ProcessResult {
  int exit_code = -1;
  std::string out, err;
};

std::string ReadFd(int fd) {
  std::string out;
  char buf[4096];
  ::lseek(fd, 0, SEEK_SET);
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

ProcessResult RunProcess(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  ProcessResult r;
  const int out_fd = ::memfd_create("out", MFD_CLOEXEC);
  const int err_fd = ::memfd_create("err", MFD_CLOEXEC);
  const pid_t pid = Spawn(argv, out_fd, err_fd);
  if (pid > 0) {
    std::optional<int> st = WaitFor(pid, timeout);
    if (!st) {
      ::kill(pid, SIGKILL);
      st = WaitFor(pid, 10s);
    }
    if (st && WIFEXITED(*st)) r.exit_code = WEXITSTATUS(*st);
  }
  r.out = ReadFd(out_fd);
  r.err = ReadFd(err_fd);
  ::close(out_fd);
  ::close(err_fd);
  return r;
}

class MountTableTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) {
      skip_ = "needs root (mounts with FUSE)";
    } else if (::access("/dev/fuse", R_OK | W_OK) != 0) {
      skip_ = "/dev/fuse is absent";
    } else if (XRootDServer::FindBinary().empty()) {
      skip_ = "xrootd is not installed (scripts/install-deps.sh)";
    }
    if (!skip_.empty()) return;
    auto dir = ScratchDir::Create("hoardfs-mount-table-suite-");
    if (!dir.ok()) {
      error_ = dir.status().ToString();
      return;
    }
    suite_dir_ = new ScratchDir(std::move(*dir));
    const std::string served = suite_dir_->Sub("served");
    ::mkdir(served.c_str(), 0755);
    DatasetOptions o;
    o.large_file_size = 8 << 20;
    o.small_files = 40;
    o.big_dir_entries = 300;
    auto ds = Dataset::Generate(served + "/dataset", o);
    if (!ds.ok()) {
      error_ = ds.status().ToString();
      return;
    }
    dataset_ = new Dataset(std::move(*ds));
    XRootDServerOptions so;
    so.data_dir = served;
    so.http = true;
    auto server = XRootDServer::Start(so);
    if (!server.ok()) {
      error_ = "xrootd did not start: " + server.status().ToString();
      return;
    }
    server_ = server->release();
  }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete dataset_;
    dataset_ = nullptr;
    delete suite_dir_;
    suite_dir_ = nullptr;
  }

  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(error_.empty()) << "suite setup: " << error_;
    if (!server_->running()) {
      ASSERT_TRUE(server_->Restart().ok());
    }
    auto dir = ScratchDir::Create("hoardfs-mount-table-case-");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    scratch_ = std::make_unique<ScratchDir>(std::move(*dir));
  }

  void TearDown() override {
    if (scratch_ == nullptr) return;
    for (const Daemon& d : daemons_) {
      if (HasFailure()) std::cerr << "---- daemon log " << d.log << "\n" << Slurp(d.log) << "\n";
      StopDaemon(d);
    }
    if (!server_->running()) (void)server_->Restart();
    bool left = false;
    for (const Daemon& d : daemons_) left = left || IsMounted(d.mnt);
    if (left) {
      ADD_FAILURE() << "a mount was left behind; not removing " << scratch_->path();
      (void)scratch_.release();
    }
  }

  struct Daemon {
    pid_t pid = -1;
    std::string mnt, log;
  };

  static void StopDaemon(const Daemon& d) {
    if (IsMounted(d.mnt)) (void)RunProcess({"fusermount3", "-u", d.mnt}, 10s);
    if (IsMounted(d.mnt)) (void)RunProcess({"umount", "-l", d.mnt}, 10s);
    if (d.pid > 0 && !WaitFor(d.pid, 5s)) {
      ::kill(d.pid, SIGTERM);
      if (!WaitFor(d.pid, 5s)) {
        ::kill(d.pid, SIGKILL);
        (void)WaitFor(d.pid, 10s);
      }
    }
  }

  std::string Table(const std::string& cache, bool with_http) const {
    const std::string remote_opts =
        "attr_ttl = 2\ndir_ttl = 2\nnegative_ttl = 1\nremote_timeout = 2\nremote_attempts = 1\n"
        "remote_down_retry = 1\nremote_down_retry_max = 2\n";
    std::string t = "# test table\n[cache]\ndir = " + cache + "\nsize = 1G\n\n";
    t += "[mount xrd]\nurl = " + server_->RootUrl() + "//dataset\n" + remote_opts + "\n";
    t += "[mount a/b]\nurl = file://" + dataset_->dir() + "\n" + remote_opts + "\n";
    if (with_http) t += "[mount web]\nurl = " + server_->HttpUrl() + "/dataset\n" + remote_opts;
    return t;
  }

  // Starts `hoardfs mount --config ... -f` and waits for the mount to answer.
  ::testing::AssertionResult Mount(const std::string& config_text, const std::string& mnt) {
    const std::string config = scratch_->Sub("mounts-" + std::to_string(daemons_.size()) + ".conf");
    if (!Spit(config, config_text)) return ::testing::AssertionFailure() << "write " << config;
    Daemon d;
    d.mnt = mnt;
    d.log = scratch_->Sub("daemon-" + std::to_string(daemons_.size()) + ".log");
    const int fd = ::open(d.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    d.pid =
        Spawn({HOARDFS_BIN, "--log-level", "info", "mount", "--config", config, mnt, "-f"}, fd, fd);
    ::close(fd);
    daemons_.push_back(d);
    const auto start = Clock::now();
    while (!IsMounted(mnt)) {
      if (WaitFor(d.pid, 0ms)) {
        daemons_.back().pid = -1;
        return ::testing::AssertionFailure() << "hoardfs exited:\n" << Slurp(d.log);
      }
      if (Clock::now() - start > 30s) {
        return ::testing::AssertionFailure() << "not mounted after 30 s:\n" << Slurp(d.log);
      }
      std::this_thread::sleep_for(20ms);
    }
    return ::testing::AssertionSuccess();
  }

  std::string NewDir(const std::string& name) {
    const std::string p = scratch_->Sub(name);
    EXPECT_EQ(::mkdir(p.c_str(), 0755), 0);
    return p;
  }

  // Every directory listing, type, size and SHA-256 of the dataset under `root`.
  void CheckDataset(const std::string& root) {
    SCOPED_TRACE(root);
    size_t failures = 0;
    for (const std::string& dir : dataset_->Directories()) {
      std::vector<std::string> want;
      for (const DatasetEntry* e : dataset_->Children(dir)) {
        want.push_back(e->path.substr(e->path.rfind('/') + 1));
      }
      std::sort(want.begin(), want.end());
      int err = 0;
      EXPECT_EQ(ListDir(root + (dir == "/" ? "" : dir), &err), want) << dir;
      EXPECT_EQ(err, 0) << dir;
    }
    for (const DatasetEntry& e : dataset_->entries()) {
      if (e.type != ObjectType::kFile) continue;
      ReadOutcome r = ReadWhole(root + e.path);
      if (r.err != 0 || Sha256Hex(r.data) != e.sha256) {
        if (++failures <= 5) ADD_FAILURE() << e.path << ": errno " << r.err << ", wrong bytes";
      }
    }
    EXPECT_EQ(failures, 0u);
  }

  static inline std::string skip_, error_;
  static inline ScratchDir* suite_dir_ = nullptr;
  static inline Dataset* dataset_ = nullptr;
  static inline XRootDServer* server_ = nullptr;
  std::unique_ptr<ScratchDir> scratch_;
  std::vector<Daemon> daemons_;
};

// The synthetic root and "a" list the mount paths; each remote's tree matches the dataset
// (listings and SHA-256 of every file); xattrs name each file's remote; inode numbers (synthetic
// directories, remote roots, files) are the same after a remount over the same cache.
TEST_F(MountTableTest, ThreeRemotesListReadAndKeepTheirInodes) {
  const std::string mnt = NewDir("mnt");
  const std::string cache = scratch_->Sub("cache");
  ASSERT_TRUE(Mount(Table(cache, /*with_http=*/true), mnt));
  int err = 0;
  EXPECT_EQ(ListDir(mnt, &err), (std::vector<std::string>{"a", "web", "xrd"}));
  EXPECT_EQ(ListDir(mnt + "/a", &err), (std::vector<std::string>{"b"}));
  EXPECT_EQ(ListDir(mnt + "/nope", &err).size(), 0u);
  EXPECT_EQ(err, ENOENT);
  for (const char* r : {"/xrd", "/a/b", "/web"}) CheckDataset(mnt + r);
  ProcessResult ls = RunProcess({"ls", mnt}, 10s);
  EXPECT_EQ(ls.out, "a\nweb\nxrd\n");

  const std::string file = std::string(Dataset::kSpaceFile);
  EXPECT_EQ(Xattr(mnt + "/xrd" + file, "user.hoardfs.remote"),
            server_->RootUrl() + "//dataset" + file);
  EXPECT_EQ(Xattr(mnt + "/a/b" + file, "user.hoardfs.remote"), "file://" + dataset_->dir() + file);
  const std::string stats = Xattr(mnt, "user.hoardfs.stats");
  for (const char* p :
       {"\"path\":\"xrd\"", "\"path\":\"a/b\"", "\"path\":\"web\"", "\"remote_down\":0"}) {
    EXPECT_NE(stats.find(p), std::string::npos) << p << " in " << stats;
  }
  struct statvfs vfs {};
  EXPECT_EQ(::statvfs(mnt.c_str(), &vfs), 0);

  const std::vector<std::string> paths = {
      "", "/a", "/a/b", "/xrd", "/web", "/xrd" + file, "/a/b" + file, "/web" + file, "/a/b/small"};
  std::map<std::string, uint64_t> before;
  std::set<uint64_t> distinct;
  for (const std::string& p : paths) {
    before[p] = InodeOf(mnt + p);
    EXPECT_NE(before[p], 0u) << p;
    distinct.insert(before[p]);
  }
  EXPECT_EQ(distinct.size(), paths.size()) << "inode numbers are not distinct";
  EXPECT_EQ(before[""], 1u);
  StopDaemon(daemons_.back());
  ASSERT_FALSE(IsMounted(mnt));
  ASSERT_TRUE(Mount(Table(cache, true), mnt));
  for (const std::string& p : paths) EXPECT_EQ(InodeOf(mnt + p), before[p]) << p;
}

// With the xrootd server stopped, its remote fails (EIO) within its timeout while the file://
// remote and the synthetic directories keep working; the remote recovers when the server is back.
TEST_F(MountTableTest, OneRemoteDownTheOtherStillReads) {
  const std::string mnt = NewDir("mnt");
  ASSERT_TRUE(Mount(Table(scratch_->Sub("cache"), /*with_http=*/false), mnt));
  const std::string file = Dataset::kLargeFile;
  ASSERT_TRUE(server_->Stop().ok());
  auto task = std::make_shared<std::packaged_task<int()>>(
      [&] { return ReadWhole(mnt + "/xrd" + file).err; });
  std::future<int> down = task->get_future();
  std::thread([task] { (*task)(); }).detach();
  if (down.wait_for(30s) == std::future_status::timeout) {
    ::kill(daemons_.back().pid, SIGKILL);  // so the call returns
    down.wait();
    FAIL() << "reading through the stopped remote hung";
  }
  EXPECT_EQ(down.get(), EIO);
  ReadOutcome other = ReadWhole(mnt + "/a/b" + file);
  EXPECT_EQ(other.err, 0);
  EXPECT_EQ(Sha256Hex(other.data), dataset_->Find(file)->sha256);
  int err = 0;
  EXPECT_EQ(ListDir(mnt, &err), (std::vector<std::string>{"a", "xrd"}));
  EXPECT_NE(Xattr(mnt, "user.hoardfs.stats").find("\"remote_down\":1"), std::string::npos);

  ASSERT_TRUE(server_->Restart().ok());
  const auto deadline = Clock::now() + 20s;
  ReadOutcome back;
  do {
    std::this_thread::sleep_for(500ms);
    back = ReadWhole(mnt + "/xrd" + file);
  } while (back.err != 0 && Clock::now() < deadline);
  EXPECT_EQ(back.err, 0) << "the remote did not come back";
  EXPECT_EQ(Sha256Hex(back.data), dataset_->Find(file)->sha256);
}

// A remote unreachable at mount time does not stop the mount; its directory fails with EIO.
TEST_F(MountTableTest, UnreachableRemoteAtMountTimeMountsTheOthers) {
  const std::string mnt = NewDir("mnt");
  auto port = PickFreePort();
  ASSERT_TRUE(port.ok());
  std::string table = Table(scratch_->Sub("cache"), false);
  table += "\n[mount gone]\nurl = root://127.0.0.1:" + std::to_string(*port) +
           "//x\nremote_timeout = 1\nremote_attempts = 1\n";
  ASSERT_TRUE(Mount(table, mnt));
  int err = 0;
  (void)ListDir(mnt + "/gone", &err);
  EXPECT_EQ(err, EIO);
  ReadOutcome r = ReadWhole(mnt + "/xrd" + Dataset::kSpaceFile);
  EXPECT_EQ(r.err, 0);
  EXPECT_EQ(Sha256Hex(r.data), dataset_->Find(Dataset::kSpaceFile)->sha256);
}

// A bad table: one line on stderr naming the file and line, a non-zero exit, nothing mounted.
TEST_F(MountTableTest, BadConfigIsOneLineAndMountsNothing) {
  const std::string mnt = NewDir("mnt");
  const std::string good = Table(scratch_->Sub("cache"), false);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {good + "colour = blue\n", "unknown key 'colour'"},
      {good + "[mount a]\nurl = file:///tmp\n", "overlaps"},
      {good + "[mount z]\nurl = gopher://h/x\n", "gopher"},
      {good + "[mount z]\nattr_ttl = soon\nurl = file:///tmp\n", "bad duration"},
      {good + "[mount z]\nattr_ttl = 5\n", "has no url"},
  };
  for (const auto& [text, mention] : cases) {
    SCOPED_TRACE(mention);
    const std::string config = scratch_->Sub("bad.conf");
    ASSERT_TRUE(Spit(config, text));
    ProcessResult r = RunProcess({HOARDFS_BIN, "mount", "--config", config, mnt}, 30s);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(config + ":"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(mention), std::string::npos) << r.err;
    EXPECT_FALSE(IsMounted(mnt));
  }
  ProcessResult r = RunProcess(
      {HOARDFS_BIN, "mount", "--config", scratch_->Sub("bad.conf"), mnt, "--attr-ttl", "3"}, 30s);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--attr-ttl"), std::string::npos) << r.err;
  EXPECT_FALSE(IsMounted(mnt));
}

}  // namespace
}  // namespace hoardfs::testing
