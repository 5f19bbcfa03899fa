// Crash safety of the block cache: a child process (crash_child.cc) mutates a cache at full speed
// and is killed with SIGKILL at a random moment; the test then opens the same cache directory and
// checks the contracts of cache/block_cache.h: every entry's bytes verify, no slot is shared, no
// entry points beyond the data files, the persisted usage counters equal what the entries add up
// to (nothing for recovery to drop or repair), and every block served is exactly the block
// inserted. The directory persists across rounds, so each round also recovers from the previous
// kill's leftovers. Half the rounds run the child on a paced store (see crash_child.cc): SIGKILL
// alone cannot lose bytes the kernel already holds, so without pacing a cache that committed an
// entry before its bytes were durable would still pass.
//
// HOARDFS_CRASH_SEED=N reruns with another seed (the seed is printed).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "cache/block_cache.h"
#include "common/hash.h"
#include "tests/cache/block_data.h"
#include "tests/cache/crash_spec.h"
#include "tests/cache/test_dir.h"

#ifndef CRASH_CHILD_PATH
#error "CRASH_CHILD_PATH must name the crash_child executable"
#endif

extern char** environ;

namespace hoardfs {
namespace {

using testing::BlockBytes;
using testing::TestDir;
using Clock = std::chrono::steady_clock;

using namespace hoardfs::crash;  // NOLINT(google-build-using-namespace): test key space

// The options the child uses, except the limit: the test opens with twice the largest limit the
// child ever sets, so nothing is evicted between Verify() and the reads that follow it.
BlockCacheOptions CheckOptions(const CrashSpec& s, const std::string& dir) {
  BlockCacheOptions o;
  o.dir = dir;
  o.block_size = s.block_size;
  o.capacity_bytes = 2 * s.max_capacity_blocks * s.block_size;
  o.slots_per_file = s.slots_per_file;
  o.grow_step_slots = s.grow_step_slots;
  o.free_space_floor_bytes = 0;
  o.dataset_depth = 2;
  o.index_block_cache_bytes = 4 << 20;
  o.index_write_buffer_bytes = 4 << 20;
  o.max_insert_batch_bytes = s.max_insert_batch_bytes;
  o.max_pending_insert_bytes = s.max_pending_insert_bytes;
  return o;
}

// The size class of a block of `len` bytes (independent of cache/size_classes.h).
uint64_t ClassBytes(uint64_t len, uint64_t block_size) {
  uint64_t c = 4096;
  while (c < len) c *= 2;
  return std::min(c, block_size);
}

// Bytes the filesystem has allocated to the cache's data files (holes excluded).
uint64_t DataFilesAllocated(const std::string& cache_dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator(cache_dir + "/data")) {
    struct stat st {};
    if (::stat(e.path().c_str(), &st) == 0) total += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  return total;
}

// Dataset of a path at depth 2 ("/store/run1/a.root" -> "/store/run1").
std::string DatasetOf(const std::string& path) {
  const size_t second = path.find('/', 1);
  const size_t third = path.find('/', second + 1);
  return third == std::string::npos ? path.substr(0, second) : path.substr(0, third);
}

std::string Tail(const std::string& file, size_t max_lines) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string out;
  for (size_t i = lines.size() > max_lines ? lines.size() - max_lines : 0; i < lines.size(); ++i) {
    out += "  | " + lines[i] + "\n";
  }
  return out;
}

// The counters of the child's last "progress" line in its log, e.g. {"inserts": 812, ...}.
std::map<std::string, uint64_t> LastProgress(const std::string& log) {
  std::ifstream in(log);
  std::string last;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("crash_child: progress ")) last = line;
  }
  std::map<std::string, uint64_t> out;
  std::istringstream words(last);
  for (std::string w; words >> w;) {
    const size_t eq = w.find('=');
    if (eq != std::string::npos)
      out[w.substr(0, eq)] = std::strtoull(w.c_str() + eq + 1, nullptr, 10);
  }
  return out;
}

// A spawned crash_child. The destructor SIGKILLs and reaps it, so no failure path leaks a process.
class Child {
 public:
  Child() = default;
  ~Child() { KillAndReap(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Starts the child with stdout on a pipe and stderr in `log`.
  ::testing::AssertionResult Spawn(const std::vector<std::string>& args, const std::string& log) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      return ::testing::AssertionFailure() << "pipe2: " << std::strerror(errno);
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, args[0].c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
      close(fds[0]);
      return ::testing::AssertionFailure()
             << "posix_spawn " << args[0] << ": " << std::strerror(rc);
    }
    pid_ = pid;
    out_ = fds[0];
    return ::testing::AssertionSuccess();
  }

  // Waits for the "ready\n" line. Fails on timeout, on EOF (the child died) or on other output.
  ::testing::AssertionResult WaitReady(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::string got;
    while (got.find('\n') == std::string::npos) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        return ::testing::AssertionFailure()
               << "no \"ready\" from the child within " << timeout.count() << " ms";
      }
      pollfd p{out_, POLLIN, 0};
      const int n = poll(&p, 1, static_cast<int>(left));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ::testing::AssertionFailure() << "poll: " << std::strerror(errno);
      if (n == 0) continue;
      char buf[64];
      const ssize_t r = read(out_, buf, sizeof(buf));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        return ::testing::AssertionFailure()
               << "the child closed stdout before \"ready\" (it died?); got '" << got << "'";
      }
      got.append(buf, static_cast<size_t>(r));
    }
    if (got != "ready\n") {
      return ::testing::AssertionFailure() << "unexpected output from the child: '" << got << "'";
    }
    return ::testing::AssertionSuccess();
  }

  // What the child's cache writer thread is doing, from /proc (best effort: racy by nature).
  struct WriterState {
    std::string state;    // R, S, D ... ("" if the thread was not found)
    std::string syscall;  // "fdatasync", "io_uring_enter", "running", ...
    std::string file;     // for fd syscalls: the file's name ("c64k-0000.blk", "000004.log")
    std::string wchan;
    // In the store's write of a batch: waiting for the io_uring writes or in the data file sync
    // (or, with the child's paced store, in a pause between two blocks of the batch).
    bool InBatchWrite(bool paced) const {
      return syscall == "io_uring_enter" || (syscall == "fdatasync" && file.ends_with(".blk")) ||
             (paced && syscall == "clock_nanosleep");
    }
    std::string Describe() const {
      if (state.empty()) return "?";
      return state + " " + syscall + (file.empty() ? "" : "(" + file + ")") +
             (wchan.empty() || wchan == "0" ? "" : " " + wchan);
    }
  };
  WriterState Writer() const {
    WriterState w;
    if (pid_ <= 0) return w;
    const std::string proc = "/proc/" + std::to_string(pid_);
    std::error_code ec;
    for (const auto& t : std::filesystem::directory_iterator(proc + "/task", ec)) {
      const std::string comm = ReadFirstLine(t.path().string() + "/comm");
      // The writer thread is named "hoardfs-recover" while it runs recovery, then "hoardfs-writer".
      if (comm != "hoardfs-writer" && comm != "hoardfs-recover") continue;
      const std::string stat = ReadFirstLine(t.path().string() + "/stat");
      const size_t paren = stat.rfind(')');
      w.state = paren + 2 < stat.size() ? stat.substr(paren + 2, 1) : "?";
      std::istringstream sys(ReadFirstLine(t.path().string() + "/syscall"));
      std::string nr, arg0;
      sys >> nr >> arg0;
      w.syscall = SyscallName(nr);
      if (w.syscall == "fdatasync" || w.syscall == "fsync" || w.syscall == "fallocate") {
        const std::string target =
            std::filesystem::read_symlink(
                proc + "/fd/" + std::to_string(std::strtoull(arg0.c_str(), nullptr, 16)), ec)
                .filename()
                .string();
        w.file = ec ? "?" : target;
      }
      w.wchan = ReadFirstLine(t.path().string() + "/wchan");
      return w;
    }
    return w;
  }

  // SIGKILLs the child (if it still runs) and reaps it. Returns the wait status (-1 if none).
  int KillAndReap() {
    if (out_ >= 0) {
      close(out_);
      out_ = -1;
    }
    if (pid_ <= 0) return -1;
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

 private:
  static std::string ReadFirstLine(const std::string& file) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);
    return line;
  }
  static std::string SyscallName(const std::string& nr) {
    static const std::map<std::string, std::string> kNames = {{"0", "read"},
                                                              {"1", "write"},
                                                              {"7", "poll"},
                                                              {"17", "pread64"},
                                                              {"18", "pwrite64"},
                                                              {"74", "fsync"},
                                                              {"75", "fdatasync"},
                                                              {"202", "futex"},
                                                              {"230", "clock_nanosleep"},
                                                              {"285", "fallocate"},
                                                              {"426", "io_uring_enter"},
                                                              {"running", "running"}};
    auto it = kNames.find(nr);
    return it != kNames.end() ? it->second : (nr.empty() ? "?" : "syscall#" + nr);
  }

  pid_t pid_ = -1;
  int out_ = -1;
};

struct RoundResult {
  uint64_t entries = 0;
  uint64_t data_bytes = 0;
  uint64_t pinned_kib = 0;
  double recovery_seconds = 0;                                 // RecoveryReport::seconds
  double open_seconds = 0;                                     // Open + WaitUntilReady, wall clock
  std::set<std::tuple<std::string, uint64_t, uint32_t>> held;  // (path, version, block)
};

// Opens the cache left by a killed child and checks every contract. `out` describes what it held.
void CheckCache(const CrashSpec& spec, const std::string& dir, RoundResult* out) {
  const auto t0 = Clock::now();
  auto opened = BlockCache::Open(CheckOptions(spec, dir));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<BlockCache> cache = std::move(opened).value();
  ASSERT_TRUE(cache->WaitUntilReady().ok());
  out->open_seconds = std::chrono::duration<double>(Clock::now() - t0).count();

  // Nothing for recovery to drop or repair: entries are committed only after their bytes, slots
  // are freed only after their entries are deleted, usage moves in the same batch as entries.
  const RecoveryReport r = cache->Recovery();
  out->recovery_seconds = r.seconds;
  EXPECT_FALSE(r.index_reset) << "the index was reset (corrupt or incompatible after a kill)";
  EXPECT_EQ(r.dropped_undecodable, 0u);
  EXPECT_EQ(r.dropped_out_of_range, 0u);
  EXPECT_EQ(r.dropped_duplicate_slot, 0u);
  EXPECT_FALSE(r.usage_repaired) << "persisted usage counters differed from the entries";

  auto v = cache->Verify(/*repair=*/false);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->crc_failures, 0u);
  EXPECT_EQ(v->read_errors, 0u);
  EXPECT_EQ(v->duplicate_slots, 0u);
  EXPECT_EQ(v->out_of_range, 0u);
  EXPECT_TRUE(v->usage_matches);
  EXPECT_EQ(v->verified, v->entries);
  EXPECT_EQ(v->entries, r.entries);

  // Read back the whole key space (plus one block past the end of each file version, never
  // written): every hit must be exactly the inserted bytes, and every entry must be a hit.
  std::map<std::string, std::pair<uint64_t, uint64_t>> want_usage;  // dataset -> bytes, blocks
  uint64_t hit_bytes = 0;
  uint64_t slot_bytes = 0;  // what the blocks held take in slots of their size classes
  for (const CrashFile& f : spec.files) {
    for (int ver = 0; ver < 2; ++ver) {
      std::vector<uint32_t> blocks;
      for (uint32_t b = 0; b <= f.blocks[ver]; ++b) blocks.push_back(b);
      const FileKey key{0, f.path, kVersions[ver]};
      const std::vector<bool> present = cache->Contains(key, blocks);
      auto got = cache->Read(key, blocks);
      for (uint32_t b = 0; b <= f.blocks[ver]; ++b) {
        if (!got[b].has_value()) {
          EXPECT_FALSE(present[b]) << "entry without valid bytes (served as a miss): " << f.path
                                   << " v" << kVersions[ver] << " block " << b;
          continue;
        }
        if (b == f.blocks[ver]) {
          ADD_FAILURE() << f.path << " v" << kVersions[ver] << ": block " << b
                        << " past the end was never inserted, yet is a hit";
          continue;
        }
        const uint32_t len = BlockLength(spec, f, ver, b);
        const auto want = BlockBytes(f.path, kVersions[ver], b, len);
        EXPECT_EQ(got[b]->size(), len) << f.path << " v" << kVersions[ver] << " block " << b;
        EXPECT_TRUE(got[b]->size() == len &&
                    std::memcmp(want.data(), got[b]->bytes().data(), len) == 0)
            << "wrong bytes: " << f.path << " v" << kVersions[ver] << " block " << b;
        out->held.emplace(f.path, kVersions[ver], b);
        hit_bytes += got[b]->size();
        slot_bytes += ClassBytes(got[b]->size(), spec.block_size);
        auto& u = want_usage[DatasetOf(f.path)];
        u.first += got[b]->size();
        u.second += 1;
      }
    }
  }
  out->entries = out->held.size();
  EXPECT_EQ(out->entries, v->entries) << "entries that could not be read back";

  const BlockCacheStats s = cache->Stats();
  EXPECT_EQ(s.crc_failures, 0u);
  EXPECT_EQ(s.read_errors, 0u);
  EXPECT_EQ(s.stale_reads, 0u);
  EXPECT_LE(s.used_bytes, spec.max_capacity_blocks * spec.block_size)
      << "more slot bytes in use than the largest limit the child ever set";
  EXPECT_EQ(s.used_bytes, slot_bytes);
  // The data files never held more than the largest limit (plus filesystem metadata).
  EXPECT_LE(s.store_bytes, 2 * spec.max_capacity_blocks * spec.block_size);
  EXPECT_LE(DataFilesAllocated(dir), spec.max_capacity_blocks * spec.block_size + (1 << 20));
  EXPECT_EQ(s.data_bytes, hit_bytes);
  out->data_bytes = s.data_bytes;
  out->pinned_kib = s.pinned_bytes >> 10;

  uint64_t usage_bytes = 0;
  uint64_t usage_blocks = 0;
  std::map<std::string, std::pair<uint64_t, uint64_t>> got_usage;
  for (const DatasetUsage& u : cache->Usage()) {
    EXPECT_EQ(u.remote_id, 0u);
    usage_bytes += u.bytes;
    usage_blocks += u.blocks;
    got_usage[u.prefix] = {u.bytes, u.blocks};
  }
  EXPECT_EQ(usage_bytes, s.data_bytes);
  EXPECT_EQ(usage_blocks, v->entries);
  EXPECT_EQ(got_usage, want_usage) << "per-dataset usage differs from the blocks held";
  // Close before the next round (the child needs the directory's lock).
}

struct Summary {
  std::vector<double> entries, recovery_ms, open_ms, alive_ms, changed, inserts, evictions;
  std::map<std::string, int> writer_states;
  int mid_batch = 0;
  int paced_rounds = 0;
};

std::string MinMeanMax(const std::vector<double>& v, int precision) {
  if (v.empty()) return "-";
  double sum = 0;
  for (double x : v) sum += x;
  char buf[128];
  std::snprintf(buf, sizeof(buf), "min %.*f / mean %.*f / max %.*f", precision,
                *std::min_element(v.begin(), v.end()), precision,
                sum / static_cast<double>(v.size()), precision,
                *std::max_element(v.begin(), v.end()));
  return buf;
}

uint64_t BaseSeed() {
  const char* env = std::getenv("HOARDFS_CRASH_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 20240611;
}

// `rounds` times: start the child on the same directory, let it run 5..250 ms after it is ready,
// SIGKILL it, check the cache. Odd rounds run the child on its paced store (crash_child.cc): a
// SIGKILL alone never loses bytes the kernel has, so only with pacing would an entry committed
// before its bytes show up as a bad block; even rounds exercise the real group-commit I/O.
// With `target_mid_batch`, the kill waits until the writer is seen inside a batch write.
void RunCrashRounds(const char* mode, const CrashSpec& spec, int rounds, uint64_t seed,
                    bool target_mid_batch) {
  TestDir dir;
  const std::string cache_dir = dir.Sub("cache");
  const std::string log = dir.Sub("child.log");
  std::mt19937_64 rng(seed);
  std::printf(
      "[crash %s] seed %llu (HOARDFS_CRASH_SEED), %d rounds, %u KiB blocks, limit %llu..%llu "
      "blocks\n",
      mode, static_cast<unsigned long long>(seed), rounds, spec.block_size / 1024,
      static_cast<unsigned long long>(spec.min_capacity_blocks),
      static_cast<unsigned long long>(spec.max_capacity_blocks));
  Summary sum;
  std::set<std::tuple<std::string, uint64_t, uint32_t>> previous;
  const auto start = Clock::now();
  for (int round = 0; round < rounds; ++round) {
    SCOPED_TRACE(std::string(mode) + " round " + std::to_string(round));
    const uint64_t child_seed = seed * 1000 + static_cast<uint64_t>(round);
    const auto sleep_ms = std::chrono::milliseconds(5 + rng() % 246);
    double alive_ms = 0;  // from "ready" to the kill
    const bool paced = round % 2 == 1;
    Child::WriterState writer;
    int status = -1;
    {
      Child child;
      ASSERT_TRUE(child.Spawn({CRASH_CHILD_PATH, cache_dir, std::to_string(child_seed), mode,
                               std::to_string(SpecFingerprint(spec)), paced ? "paced" : "direct"},
                              log))
          << Tail(log, 40);
      ASSERT_TRUE(child.WaitReady(std::chrono::seconds(30))) << "child log:\n" << Tail(log, 40);
      const auto ready_at = Clock::now();
      std::this_thread::sleep_for(sleep_ms);
      writer = child.Writer();
      // Mid-batch targeting: keep polling (up to 300 ms more) until the writer is inside the
      // store's write of a batch (bytes in flight or being synced, entries not yet committed).
      const auto give_up = Clock::now() + std::chrono::milliseconds(300);
      while (target_mid_batch && !writer.InBatchWrite(paced) && Clock::now() < give_up) {
        writer = child.Writer();
      }
      status = child.KillAndReap();
      alive_ms = std::chrono::duration<double, std::milli>(Clock::now() - ready_at).count();
    }
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the child ended by itself before the kill (status " << status << ", "
        << (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                              : "signal " + std::to_string(WTERMSIG(status)))
        << "); child log:\n"
        << Tail(log, 40);

    RoundResult rr;
    CheckCache(spec, cache_dir, &rr);
    if (::testing::Test::HasFatalFailure()) return;

    std::map<std::string, uint64_t> progress = LastProgress(log);
    size_t changed = 0;
    for (const auto& k : rr.held) changed += previous.contains(k) ? 0 : 1;
    for (const auto& k : previous) changed += rr.held.contains(k) ? 0 : 1;
    previous = rr.held;

    std::printf(
        "[crash %s] round %2d (%s): killed %3.0f ms after ready (writer: %s); %3llu blocks "
        "(%6.2f MiB, %llu KiB pinned, %zu changed), recovery %.2f ms, open %.1f ms; child had "
        "committed %llu inserts, %llu evictions\n",
        mode, round, paced ? "paced" : "direct", alive_ms, writer.Describe().c_str(),
        static_cast<unsigned long long>(rr.entries), static_cast<double>(rr.data_bytes) / (1 << 20),
        static_cast<unsigned long long>(rr.pinned_kib), changed, rr.recovery_seconds * 1e3,
        rr.open_seconds * 1e3, static_cast<unsigned long long>(progress["inserts"]),
        static_cast<unsigned long long>(progress["evictions"]));
    std::fflush(stdout);
    sum.entries.push_back(static_cast<double>(rr.entries));
    sum.recovery_ms.push_back(rr.recovery_seconds * 1e3);
    sum.open_ms.push_back(rr.open_seconds * 1e3);
    sum.alive_ms.push_back(alive_ms);
    sum.changed.push_back(static_cast<double>(changed));
    sum.inserts.push_back(static_cast<double>(progress["inserts"]));
    sum.evictions.push_back(static_cast<double>(progress["evictions"]));
    std::string where = writer.state.empty() ? "?" : writer.syscall;
    if (paced && where == "clock_nanosleep") where += "(paced batch)";
    if (!writer.file.empty()) where += writer.file.ends_with(".blk") ? "(data)" : "(index)";
    sum.writer_states[where]++;
    sum.mid_batch += writer.InBatchWrite(paced) ? 1 : 0;
    sum.paced_rounds += paced ? 1 : 0;
    if (::testing::Test::HasFailure()) {
      std::printf("[crash %s] round %d failed; child log:\n%s", mode, round, Tail(log, 40).c_str());
      return;  // the directory is now suspect: later rounds would only repeat the failure
    }
  }
  std::string states;
  for (const auto& [state, n] : sum.writer_states) {
    states += (states.empty() ? "" : ", ") + state + " x" + std::to_string(n);
  }
  std::printf(
      "[crash %s] summary: %d rounds (%d paced) in %.1f s; child alive ms %s; blocks held %s; "
      "changed per "
      "round %s; "
      "child inserts %s, evictions %s (at its last progress line); recovery ms %s; open ms %s; "
      "writer at kill: %s (%d of %d in a batch write)\n",
      mode, rounds, sum.paced_rounds, std::chrono::duration<double>(Clock::now() - start).count(),
      MinMeanMax(sum.alive_ms, 0).c_str(), MinMeanMax(sum.entries, 0).c_str(),
      MinMeanMax(sum.changed, 0).c_str(), MinMeanMax(sum.inserts, 0).c_str(),
      MinMeanMax(sum.evictions, 0).c_str(), MinMeanMax(sum.recovery_ms, 2).c_str(),
      MinMeanMax(sum.open_ms, 1).c_str(), states.c_str(), sum.mid_batch, rounds);
}

TEST(CrashTest, KilledAtRandomMomentsTheCacheStaysConsistent) {
  RunCrashRounds("small", SmallSpec(), 60, BaseSeed(), /*target_mid_batch=*/false);
}

// 1 MiB blocks, group commits of up to 16 blocks and a queue of 64: the writer spends most of its
// time in the data write + fdatasync of a batch, so most kills land between "bytes written" and
// "entries committed".
// Cache format v2: blocks of every size class, evicting each other under a limit of 12..32 blocks.
TEST(CrashTest, KilledWithMixedBlockSizesEveryClassStaysConsistent) {
  RunCrashRounds("mixed", MixedSpec(), 40, BaseSeed() + 2, /*target_mid_batch=*/false);
}

TEST(CrashTest, KilledMidBatchOfLargeInsertsNoEntryWithoutItsBytes) {
  RunCrashRounds("large", LargeSpec(), 10, BaseSeed() + 1, /*target_mid_batch=*/true);
}

}  // namespace
}  // namespace hoardfs
