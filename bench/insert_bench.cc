// Insert throughput of the block cache with eviction running, side by side with the disk's raw
// O_DIRECT sequential write throughput (docs/benchmarks-cache.md).
//
// In each of --rounds rounds:
//   (limit) dd if=/dev/zero of=F bs=1M count=<total> oflag=direct conv=fdatasync  (F removed after)
//   (raw)   the cache's write pattern without the cache: a file preallocated (fallocate) to the
//           cache capacity, written cyclically with raw io_uring O_DIRECT, 32 x 1 MiB writes in
//           flight per batch (one group commit), fdatasync after each batch (file removed after)
//   (cache) a fresh BlockCache of --capacity-mib (1 MiB blocks); --threads threads each insert
//           total/threads distinct 1 MiB blocks (files of 1000 blocks) with kWaitForRoom; then
//           Flush(). Throughput = committed bytes (Stats().insert_bytes) / time until Flush
//           returns. The cache fills after `capacity` bytes, from then on every insert needs an
//           eviction: the steady-state figure is measured from the first eviction to the end.
// A monitor thread samples Stats() every 20 ms until the first eviction (start of steady state).
//
// Usage: insert_bench [--total-mib=8192] [--capacity-mib=2048] [--threads=2] [--rounds=2]
//                     [--quick] [--dir=DIR] [--out=FILE.md]
#include <fcntl.h>
#include <liburing.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "cache/block_cache.h"
#include "cache/block_key.h"
#include "common/aligned_buffer.h"
#include "common/hash.h"
#include "common/log.h"

namespace hoardfs::bench {
namespace {

constexpr uint64_t kBlock = uint64_t{1} << 20;
constexpr uint32_t kBlocksPerFile = 1000;

// dd's summary line: "<bytes> bytes (...) copied, <seconds> s, <rate>".

struct CacheRun {
  double gbps = 0;         // committed bytes / time to Flush
  double steady_gbps = 0;  // from the first eviction to the end
  double seconds = 0;
  BlockCacheStats stats;
  uint64_t insert_failures = 0;
};

double MeasureDd(const std::string& file, uint64_t total_mib) {
  const std::string out = RunCommand(
      Fmt("LC_ALL=C dd if=/dev/zero of='%s' bs=1M count=%llu oflag=direct conv=fdatasync 2>&1",
          file.c_str(), static_cast<unsigned long long>(total_mib)));
  std::error_code ec;
  std::filesystem::remove(file, ec);
  double bytes = 0, seconds = 0;
  if (!ParseDd(out, &bytes, &seconds)) Die("cannot parse dd output: " + out);
  return bytes / seconds / 1e9;
}

// The cache's write pattern without the cache (see the header comment).
double MeasureRawWrite(const std::string& file, uint64_t total_mib, uint64_t capacity_mib) {
  constexpr unsigned kBatch = 32;  // BlockCacheOptions::max_insert_batch_bytes / 1 MiB
  const int fd = open(file.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0644);
  if (fd < 0) Die("create " + file + ": " + std::strerror(errno));
  io_uring ring{};
  if (int ret = io_uring_queue_init(64, &ring, 0); ret < 0) {
    Die(std::string("io_uring_queue_init: ") + std::strerror(-ret));
  }
  std::vector<AlignedBuffer> bufs;
  for (unsigned i = 0; i < kBatch; ++i) {
    bufs.emplace_back(kBlock);
    std::memset(bufs.back().data(), static_cast<int>(i + 1), kBlock);
  }
  const double t0 = Now();
  if (fallocate(fd, 0, 0, static_cast<off_t>(capacity_mib * kBlock)) != 0) {
    Die("fallocate " + file + ": " + std::strerror(errno));
  }
  for (uint64_t done = 0; done < total_mib;) {
    const auto n = static_cast<unsigned>(std::min<uint64_t>(kBatch, total_mib - done));
    for (unsigned i = 0; i < n; ++i) {
      io_uring_sqe* sqe = io_uring_get_sqe(&ring);
      io_uring_prep_write(sqe, fd, bufs[i].data(), kBlock, ((done + i) % capacity_mib) * kBlock);
    }
    io_uring_submit(&ring);
    for (unsigned i = 0; i < n; ++i) {
      io_uring_cqe* cqe = nullptr;
      int r;
      do {
        r = io_uring_wait_cqe(&ring, &cqe);
      } while (r == -EINTR);
      if (r < 0 || cqe->res != static_cast<int>(kBlock)) Die("raw write failed");
      io_uring_cqe_seen(&ring, cqe);
    }
    if (fdatasync(fd) != 0) Die("fdatasync " + file + ": " + std::strerror(errno));
    done += n;
  }
  const double t1 = Now();
  io_uring_queue_exit(&ring);
  close(fd);
  std::error_code ec;
  std::filesystem::remove(file, ec);
  return static_cast<double>(total_mib * kBlock) / (t1 - t0) / 1e9;
}

CacheRun MeasureCache(const std::string& dir, uint64_t total_mib, uint64_t capacity_mib,
                      unsigned threads) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  BlockCacheOptions o;
  o.dir = dir;
  o.capacity_bytes = capacity_mib * kBlock;
  o.block_size = kBlock;
  auto opened = BlockCache::Open(o);
  if (!opened.ok()) Die("BlockCache::Open: " + opened.status().ToString());
  std::unique_ptr<BlockCache> cache = std::move(opened).value();
  if (Status st = cache->WaitUntilReady(); !st.ok()) Die(st.ToString());

  std::atomic<bool> done{false};
  double first_evict_t = 0;
  uint64_t first_evict_bytes = 0;
  std::thread monitor([&] {
    while (!done.load()) {
      const BlockCacheStats s = cache->Stats();
      if (s.evictions > 0) {
        first_evict_t = Now();
        first_evict_bytes = s.insert_bytes;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });

  std::atomic<uint64_t> failures{0};
  const uint64_t per_thread = total_mib / threads;
  const double t0 = Now();
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::vector<AlignedBuffer> bufs;  // a few distinct random blocks, stamped with the block id
      for (uint64_t k = 0; k < 8; ++k) {
        bufs.emplace_back(kBlock);
        uint64_t x = Mix64(t * 1000 + k + 1);
        for (uint64_t off = 0; off < kBlock; off += 8) {
          x = Mix64(x);
          std::memcpy(bufs.back().data() + off, &x, 8);
        }
      }
      FileKey file;
      for (uint64_t i = 0; i < per_thread; ++i) {
        const uint64_t f = i / kBlocksPerFile;
        if (i % kBlocksPerFile == 0) {
          file = FileKey{1,
                         Fmt("/store/data/Run2024/Insert%u/file_%06llu.root", t,
                             static_cast<unsigned long long>(f)),
                         Hash64(Fmt("etag-%u-%llu", t, static_cast<unsigned long long>(f)))};
        }
        AlignedBuffer& b = bufs[i % bufs.size()];
        std::memcpy(b.data(), &i, 8);
        Status st = cache->Insert(file, static_cast<uint32_t>(i % kBlocksPerFile), b.span(),
                                  BlockCache::InsertMode::kWaitForRoom);
        if (!st.ok()) failures.fetch_add(1);
      }
    });
  }
  for (auto& w : workers) w.join();
  if (Status st = cache->Flush(); !st.ok()) Die("Flush: " + st.ToString());
  const double t1 = Now();
  done.store(true);
  monitor.join();

  CacheRun r;
  r.stats = cache->Stats();
  r.seconds = t1 - t0;
  r.gbps = static_cast<double>(r.stats.insert_bytes) / r.seconds / 1e9;
  if (first_evict_t > 0 && t1 > first_evict_t) {
    r.steady_gbps =
        static_cast<double>(r.stats.insert_bytes - first_evict_bytes) / (t1 - first_evict_t) / 1e9;
  }
  r.insert_failures = failures.load();
  cache.reset();
  std::filesystem::remove_all(dir, ec);
  return r;
}

int Main(int argc, char** argv) {
  g_program = "insert_bench";
  uint64_t total_mib = 8192, capacity_mib = 2048;
  unsigned threads = 2, rounds = 2;
  const char* env_dir = std::getenv("HOARDFS_BENCH_DIR");
  std::string dir = env_dir != nullptr && *env_dir != '\0' ? env_dir : "/var/tmp";
  std::string out_path;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&](const char* name) -> std::optional<std::string> {
      const std::string p = std::string("--") + name + "=";
      if (a.rfind(p, 0) == 0) return a.substr(p.size());
      return std::nullopt;
    };
    if (a == "--quick") {
      quick = true;
    } else if (auto v = val("total-mib")) {
      total_mib = std::strtoull(v->c_str(), nullptr, 10);
    } else if (auto v2 = val("capacity-mib")) {
      capacity_mib = std::strtoull(v2->c_str(), nullptr, 10);
    } else if (auto v3 = val("threads")) {
      threads = static_cast<unsigned>(std::strtoul(v3->c_str(), nullptr, 10));
    } else if (auto v4 = val("rounds")) {
      rounds = static_cast<unsigned>(std::strtoul(v4->c_str(), nullptr, 10));
    } else if (auto v5 = val("dir")) {
      dir = *v5;
    } else if (auto v6 = val("out")) {
      out_path = *v6;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--total-mib=8192] [--capacity-mib=2048] [--threads=2] "
                   "[--rounds=2] [--quick] [--dir=DIR] [--out=FILE.md]\n",
                   argv[0]);
      return 2;
    }
  }
  if (quick) {
    total_mib = std::min<uint64_t>(total_mib, 2048);
    capacity_mib = std::min<uint64_t>(capacity_mib, 512);
    rounds = 1;
  }
  if (threads < 1 || rounds < 1 || capacity_mib < 64 || total_mib < capacity_mib) {
    Die("need threads >= 1, rounds >= 1, capacity-mib >= 64, total-mib >= capacity-mib");
  }
  SetLogLevel(spdlog::level::warn);

  const std::string base = dir + Fmt("/hoardfs-insert-bench-%d", static_cast<int>(getpid()));
  std::error_code ec;
  std::filesystem::create_directories(base, ec);
  if (ec) Die("create " + base + ": " + ec.message());
  struct statvfs vfs {};
  if (statvfs(base.c_str(), &vfs) != 0) Die("statvfs " + base);
  // dd file (removed before the cache runs) or the cache, plus the cache's 1 GiB free-space floor.
  const uint64_t need = (std::max(total_mib, capacity_mib) << 20) + (uint64_t{2} << 30);
  if (uint64_t{vfs.f_bavail} * vfs.f_frsize < need) {
    std::filesystem::remove_all(base, ec);
    Die(Fmt("not enough free space in %s: need %llu MiB", dir.c_str(),
            static_cast<unsigned long long>(need >> 20)));
  }
  std::printf("insert_bench: %llu MiB into a %llu MiB cache from %u threads, %u round(s), in %s\n",
              static_cast<unsigned long long>(total_mib),
              static_cast<unsigned long long>(capacity_mib), threads, rounds, base.c_str());
  std::fflush(stdout);

  const std::string load_start = LoadAvg();
  std::vector<double> dd, raw, raw_ratio, cache_gbps, steady, ratio, steady_ratio, ratio_raw,
      steady_ratio_raw;
  std::vector<CacheRun> runs;
  bool dropped = true;
  for (unsigned r = 0; r < rounds; ++r) {
    // Odd rounds run the three cases in reverse order (neither always runs first).
    double d = 0, w = 0;
    CacheRun c;
    for (int k = 0; k < 3; ++k) {
      const int which = r % 2 == 0 ? k : 2 - k;
      dropped = DropPageCache() && dropped;
      if (which == 0) {
        d = MeasureDd(base + "/dd.bin", total_mib);
        std::printf("round %u  dd oflag=direct                 %6.3f GB/s\n", r + 1, d);
      } else if (which == 1) {
        w = MeasureRawWrite(base + "/raw.bin", total_mib, capacity_mib);
        std::printf("round %u  raw io_uring, 32 in flight      %6.3f GB/s\n", r + 1, w);
      } else {
        c = MeasureCache(base + "/cache", total_mib, capacity_mib, threads);
        std::printf(
            "round %u  BlockCache::Insert x%u           %6.3f GB/s (steady %.3f), %llu "
            "evictions, %llu rejected, %llu write errors\n",
            r + 1, threads, c.gbps, c.steady_gbps,
            static_cast<unsigned long long>(c.stats.evictions),
            static_cast<unsigned long long>(c.stats.inserts_rejected),
            static_cast<unsigned long long>(c.stats.write_errors));
      }
      std::fflush(stdout);
    }
    dd.push_back(d);
    raw.push_back(w);
    raw_ratio.push_back(w / d);
    ratio_raw.push_back(c.gbps / w);
    steady_ratio_raw.push_back(c.steady_gbps / w);
    cache_gbps.push_back(c.gbps);
    steady.push_back(c.steady_gbps);
    ratio.push_back(c.gbps / d);
    steady_ratio.push_back(c.steady_gbps / d);
    runs.push_back(c);
  }
  std::filesystem::remove_all(base, ec);

  auto cell = [](const Spread& s, const char* f) { return Fmt(f, s.median, s.min, s.max); };
  const char* g3 = "%.3f (%.3f–%.3f)";
  const char* r2 = "%.2f (%.2f–%.2f)";
  std::string md;
  md += "### Insert throughput with eviction running\n\n";
  md += Fmt(
      "%u thread(s) call BlockCache::Insert (kWaitForRoom) with distinct 1 MiB blocks, %llu MiB "
      "in all, into a fresh cache of %llu MiB (default options: S3-FIFO, watermarks 0.95/0.90, "
      "32 MiB group commits), then Flush(); GB/s = committed bytes / time until Flush returned. "
      "Steady state: from the first eviction on. Limit: `dd if=/dev/zero bs=1M count=%llu "
      "oflag=direct conv=fdatasync` on the same disk, same round. %u round(s) (odd rounds in "
      "reverse order), median (min–max); "
      "ratios per round. Page cache dropped before each measurement: %s. GB = 10^9 bytes. Load "
      "average (1/5/15 min) at start: %s; at end: %s.\n\n",
      threads, static_cast<unsigned long long>(total_mib),
      static_cast<unsigned long long>(capacity_mib), static_cast<unsigned long long>(total_mib),
      rounds, dropped ? "yes" : "no (not root)", load_start.c_str(), LoadAvg().c_str());
  md +=
      "| case | GB/s median (min–max) | ÷ dd O_DIRECT write | ÷ raw io_uring, cache pattern |\n"
      "|---|---:|---:|---:|\n";
  md += "| dd bs=1M oflag=direct (limit) | " + cell(Summarize(dd), g3) + " | 1.00 | — |\n";
  md +=
      "| raw io_uring, 32 × 1 MiB in flight + fdatasync per batch, cycling a preallocated "
      "file of the cache's size | " +
      cell(Summarize(raw), g3) + " | " + cell(Summarize(raw_ratio), r2) + " | 1.00 |\n";
  md += Fmt("| BlockCache::Insert ×%u, whole run | ", threads) + cell(Summarize(cache_gbps), g3) +
        " | " + cell(Summarize(ratio), r2) + " | " + cell(Summarize(ratio_raw), r2) + " |\n";
  md += Fmt("| BlockCache::Insert ×%u, steady state (evicting) | ", threads) +
        cell(Summarize(steady), g3) + " | " + cell(Summarize(steady_ratio), r2) + " | " +
        cell(Summarize(steady_ratio_raw), r2) + " |\n";
  md +=
      "\n| round | committed | evictions (bytes) | rejected | duplicates | write errors | "
      "data files |\n|---:|---:|---:|---:|---:|---:|---:|\n";
  for (size_t i = 0; i < runs.size(); ++i) {
    const BlockCacheStats& s = runs[i].stats;
    md +=
        Fmt("| %zu | %llu blocks, %.2f GiB in %.1f s | %llu (%.2f GiB) | %llu | %llu | %llu | "
            "%.2f GiB |\n",
            i + 1, static_cast<unsigned long long>(s.inserts),
            static_cast<double>(s.insert_bytes) / (1 << 30), runs[i].seconds,
            static_cast<unsigned long long>(s.evictions),
            static_cast<double>(s.evicted_bytes) / (1 << 30),
            static_cast<unsigned long long>(s.inserts_rejected),
            static_cast<unsigned long long>(s.insert_duplicates),
            static_cast<unsigned long long>(s.write_errors),
            static_cast<double>(s.store_bytes) / (1 << 30));
  }
  const Spread c = Summarize(cache_gbps);
  md +=
      Fmt("\nTarget: insert ≥ 1 GB/s with eviction running: %.3f GB/s (steady %.3f) %s; "
          "ratio to dd %.2f, to the raw io_uring write loop %.2f.\n",
          c.median, Summarize(steady).median, c.median >= 1.0 ? "met" : "**missed**",
          Summarize(ratio).median, Summarize(ratio_raw).median);

  std::printf("\n%s", md.c_str());
  if (!out_path.empty()) std::ofstream(out_path, std::ios::app) << md << "\n";
  return 0;
}

}  // namespace
}  // namespace hoardfs::bench

int main(int argc, char** argv) { return hoardfs::bench::Main(argc, argv); }
