// Warm block reads through the cache, side by side with the local O_DIRECT limit (one run, one
// disk; docs/benchmarks-cache.md, docs/benchmarks.md).
//
// Setup: one file of --size-mib MiB of random data on the bench disk, and the same bytes inserted
// into a BlockCache (1 MiB blocks) in the same directory. Then, in each of --rounds rounds, with
// the page cache dropped before every measurement (root only; O_DIRECT bypasses it anyway):
//   (a) dd if=F of=/dev/null bs=1M iflag=direct                       the limit (warm seq)
//   (b) a raw io_uring O_DIRECT reader of F: `batch` 1 MiB reads submitted together, all awaited,
//       repeat (exactly what one BlockCache::Read call does), for batch 1, 4 and 8; and a pipelined
//       variant that keeps 8 reads in flight continuously (what a read-ahead could reach)
//   (b') the same raw reader on the cache's data file (same bytes, same disk; separates file
//       placement from code cost)
//   (s) BlockStore::Read of the cache's slots (no index), CRC32C checked per block as it completes
//   (c) BlockCache::Read of the whole file, `batch` blocks per call (index MultiGet + store batch +
//       CRC verification + buffer pool), every block checked to be a hit with the right bytes
// The order of the cases rotates from round to round. Ratios are taken per round (c / a and c / b
// of the same round) and reported as median (min-max).
//
// Usage: cache_read_bench [--size-mib=1024] [--rounds=5] [--batches=1,4,8] [--quick]
//                         [--dir=DIR (default $HOARDFS_BENCH_DIR or /var/tmp)] [--out=FILE.md]
#include <fcntl.h>
#include <liburing.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "cache/block_cache.h"
#include "cache/block_key.h"
#include "cache/block_store.h"
#include "common/aligned_buffer.h"
#include "common/crc32c.h"
#include "common/hash.h"
#include "common/log.h"

namespace hoardfs::bench {
namespace {

constexpr uint64_t kBlock = uint64_t{1} << 20;
constexpr unsigned kQueueDepth = 64;  // BlockCacheOptions::queue_depth default, used for (b) too

// dd's summary line: "<bytes> bytes (...) copied, <seconds> s, <rate>".

// Deterministic pseudo-random content of block `block` (splitmix64 stream).
void FillBlock(uint64_t block, std::byte* p) {
  uint64_t x = Mix64(block + 0x9e3779b97f4a7c15ULL);
  for (uint64_t off = 0; off < kBlock; off += 8) {
    x += 0x9e3779b97f4a7c15ULL;
    const uint64_t w = Mix64(x);
    std::memcpy(p + off, &w, 8);
  }
}

struct Setup {
  std::string base;
  std::string file;       // the raw file (a, b)
  std::string data_file;  // the cache's first data file (b')
  uint64_t blocks = 0;
  std::vector<uint32_t> crc;         // per block
  std::vector<uint64_t> first_word;  // per block
  FileKey key;
  std::unique_ptr<BlockCache> cache;
  std::unique_ptr<BlockStore> store;  // second view of the cache's data files (s)
};

// (a) dd of the raw file. Returns GB/s.
double MeasureDd(const Setup& s) {
  const std::string out =
      RunCommand("LC_ALL=C dd if='" + s.file + "' of=/dev/null bs=1M iflag=direct 2>&1");
  double bytes = 0, seconds = 0;
  if (!ParseDd(out, &bytes, &seconds)) Die("cannot parse dd output: " + out);
  if (bytes != static_cast<double>(s.blocks * kBlock)) Die("dd read a short file: " + out);
  return bytes / seconds / 1e9;
}

// (b) raw io_uring reader of the file. Batch mode: `depth` reads submitted together and all awaited
// before the next group. Pipelined: `depth` reads kept in flight (each completion submits the
// next). `path` is the raw file, or the cache's data file (same bytes, slot i = block i).
double MeasureRawUring(const Setup& s, const std::string& path, unsigned depth, bool pipelined) {
  const int fd = open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (fd < 0) Die("open " + path + ": " + std::strerror(errno));
  io_uring ring{};
  const int ret = io_uring_queue_init(kQueueDepth, &ring, 0);
  if (ret < 0) Die(std::string("io_uring_queue_init: ") + std::strerror(-ret));
  std::vector<AlignedBuffer> bufs;
  for (unsigned i = 0; i < depth; ++i) bufs.emplace_back(kBlock);

  auto prep = [&](unsigned buf, uint64_t block) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_read(sqe, fd, bufs[buf].data(), kBlock, block * kBlock);
    io_uring_sqe_set_data64(sqe, buf);
  };
  auto reap = [&]() -> unsigned {
    io_uring_cqe* cqe = nullptr;
    int r;
    do {
      r = io_uring_wait_cqe(&ring, &cqe);
    } while (r == -EINTR);
    if (r < 0) Die(std::string("io_uring_wait_cqe: ") + std::strerror(-r));
    if (cqe->res != static_cast<int>(kBlock)) Die("raw read: short or failed read");
    const auto buf = static_cast<unsigned>(io_uring_cqe_get_data64(cqe));
    io_uring_cqe_seen(&ring, cqe);
    return buf;
  };

  const double t0 = Now();
  if (!pipelined) {
    for (uint64_t b = 0; b < s.blocks; b += depth) {
      const auto n = static_cast<unsigned>(std::min<uint64_t>(depth, s.blocks - b));
      for (unsigned i = 0; i < n; ++i) prep(i, b + i);
      io_uring_submit(&ring);
      for (unsigned i = 0; i < n; ++i) reap();
    }
  } else {
    uint64_t next = 0;
    unsigned inflight = 0;
    for (; inflight < depth && next < s.blocks; ++inflight) prep(inflight, next++);
    io_uring_submit(&ring);
    while (inflight > 0) {
      const unsigned buf = reap();
      --inflight;
      if (next < s.blocks) {
        prep(buf, next++);
        ++inflight;
        io_uring_submit(&ring);
      }
    }
  }
  const double t1 = Now();
  io_uring_queue_exit(&ring);
  close(fd);
  return static_cast<double>(s.blocks * kBlock) / (t1 - t0) / 1e9;
}

// (s) BlockStore::Read of slots [0, blocks) in batches, CRC checked in the completion callback.
double MeasureStore(const Setup& s, unsigned batch) {
  std::vector<AlignedBuffer> bufs;
  for (unsigned i = 0; i < batch; ++i) bufs.emplace_back(kBlock);
  std::vector<BlockIo> ops(batch);
  uint64_t bad = 0;
  const std::function<void(BlockIo&)> check = [&](BlockIo& op) {
    if (!op.status.ok() || Crc32c(op.buf, op.length) != s.crc[op.slot]) ++bad;
  };
  const double t0 = Now();
  for (uint64_t b = 0; b < s.blocks; b += batch) {
    const auto n = static_cast<unsigned>(std::min<uint64_t>(batch, s.blocks - b));
    for (unsigned i = 0; i < n; ++i) {
      ops[i].slot = static_cast<uint32_t>(b + i);
      ops[i].length = kBlock;
      ops[i].buf = bufs[i].data();
      ops[i].status = Status::Ok();
    }
    s.store->Read(std::span<BlockIo>(ops.data(), n), check);
  }
  const double t1 = Now();
  if (bad != 0) {
    Die(Fmt("BlockStore::Read: %llu blocks failed or did not match (slot != block?)",
            static_cast<unsigned long long>(bad)));
  }
  return static_cast<double>(s.blocks * kBlock) / (t1 - t0) / 1e9;
}

// (c) BlockCache::Read, `batch` blocks per call; every block must be a hit with the right bytes.
double MeasureCache(const Setup& s, unsigned batch) {
  std::vector<uint32_t> ids(batch);
  uint64_t bad = 0;
  const double t0 = Now();
  for (uint64_t b = 0; b < s.blocks; b += batch) {
    const auto n = static_cast<size_t>(std::min<uint64_t>(batch, s.blocks - b));
    for (size_t i = 0; i < n; ++i) ids[i] = static_cast<uint32_t>(b + i);
    std::vector<std::optional<CachedBlock>> got =
        s.cache->Read(s.key, std::span<const uint32_t>(ids.data(), n));
    for (size_t i = 0; i < n; ++i) {
      if (!got[i].has_value() || got[i]->size() != kBlock ||
          std::memcmp(got[i]->bytes().data(), &s.first_word[b + i], 8) != 0) {
        ++bad;
      }
    }
  }
  const double t1 = Now();
  if (bad != 0) {
    Die(Fmt("BlockCache::Read: %llu blocks missed or wrong", static_cast<unsigned long long>(bad)));
  }
  return static_cast<double>(s.blocks * kBlock) / (t1 - t0) / 1e9;
}

void Prepare(Setup* s, uint64_t size_mib) {
  s->blocks = size_mib * kBlock / kBlock;
  s->file = s->base + "/file.bin";
  s->key = FileKey{1, "/store/data/Run2024/JetMET0/file_000001.root", Hash64("etag-1")};
  s->crc.resize(s->blocks);
  s->first_word.resize(s->blocks);

  BlockCacheOptions co;
  co.dir = s->base + "/cache";
  co.capacity_bytes = 2 * s->blocks * kBlock;  // well below the 95% watermark: no eviction
  co.block_size = kBlock;
  co.queue_depth = kQueueDepth;
  auto opened = BlockCache::Open(co);
  if (!opened.ok()) Die("BlockCache::Open: " + opened.status().ToString());
  s->cache = std::move(opened).value();
  if (Status st = s->cache->WaitUntilReady(); !st.ok()) Die(st.ToString());

  const int fd = open(s->file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0644);
  if (fd < 0) Die("create " + s->file + ": " + std::strerror(errno));
  AlignedBuffer buf(kBlock);
  for (uint64_t b = 0; b < s->blocks; ++b) {
    FillBlock(b, buf.data());
    s->crc[b] = Crc32c(buf.data(), kBlock);
    std::memcpy(&s->first_word[b], buf.data(), 8);
    if (pwrite(fd, buf.data(), kBlock, static_cast<off_t>(b * kBlock)) !=
        static_cast<ssize_t>(kBlock)) {
      Die("write " + s->file + ": " + std::strerror(errno));
    }
    Status st = s->cache->Insert(s->key, static_cast<uint32_t>(b), buf.span());
    if (!st.ok()) Die("BlockCache::Insert: " + st.ToString());
  }
  if (fsync(fd) != 0) Die("fsync " + s->file);
  close(fd);
  if (Status st = s->cache->Flush(); !st.ok()) Die("BlockCache::Flush: " + st.ToString());
  const BlockCacheStats stats = s->cache->Stats();
  if (stats.inserts != s->blocks || stats.evictions != 0) {
    Die(Fmt("cache holds %llu of %llu blocks after insert (%llu evicted)",
            static_cast<unsigned long long>(stats.inserts),
            static_cast<unsigned long long>(s->blocks),
            static_cast<unsigned long long>(stats.evictions)));
  }
  if (!stats.direct_io) Die("the cache store is not using O_DIRECT on this filesystem");

  BlockStoreOptions so;
  so.dir = co.dir + "/data";
  so.block_size = kBlock;
  so.slots_per_file = co.slots_per_file;
  so.queue_depth = kQueueDepth;
  so.free_space_floor_bytes = co.free_space_floor_bytes;
  auto store = BlockStore::Open(so);
  if (!store.ok()) Die("BlockStore::Open: " + store.status().ToString());
  s->store = std::move(store).value();
  s->data_file = so.dir + "/" + BlockStore::FileName(kBlock, 0);
}

std::string FsOf(const std::string& dir) {
  std::string out = RunCommand("findmnt -no SOURCE,FSTYPE -T '" + dir + "' 2>/dev/null");
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

int Main(int argc, char** argv) {
  g_program = "cache_read_bench";
  uint64_t size_mib = 1024;
  unsigned rounds = 5;
  std::vector<unsigned> batches = {1, 4, 8};
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
    } else if (auto v = val("size-mib")) {
      size_mib = std::strtoull(v->c_str(), nullptr, 10);
    } else if (auto v2 = val("rounds")) {
      rounds = static_cast<unsigned>(std::strtoul(v2->c_str(), nullptr, 10));
    } else if (auto v3 = val("batches")) {
      batches.clear();
      for (const char* p = v3->c_str(); *p != '\0';) {
        char* end = nullptr;
        batches.push_back(static_cast<unsigned>(std::strtoul(p, &end, 10)));
        p = *end == ',' ? end + 1 : end;
      }
    } else if (auto v4 = val("dir")) {
      dir = *v4;
    } else if (auto v5 = val("out")) {
      out_path = *v5;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--size-mib=1024] [--rounds=5] [--batches=1,4,8] [--quick] "
                   "[--dir=DIR] [--out=FILE.md]\n",
                   argv[0]);
      return 2;
    }
  }
  if (quick) {
    size_mib = std::min<uint64_t>(size_mib, 256);
    rounds = std::min(rounds, 2u);
  }
  if (size_mib < 8 || rounds < 1 || batches.empty() ||
      std::any_of(batches.begin(), batches.end(), [](unsigned b) { return b < 1 || b > 64; })) {
    Die("need --size-mib >= 8, --rounds >= 1, batches in 1..64");
  }
  SetLogLevel(spdlog::level::warn);

  Setup s;
  s.base = dir + Fmt("/hoardfs-read-bench-%d", static_cast<int>(getpid()));
  std::error_code ec;
  std::filesystem::create_directories(s.base, ec);
  if (ec) Die("create " + s.base + ": " + ec.message());
  struct statvfs vfs {};
  if (statvfs(s.base.c_str(), &vfs) != 0) Die("statvfs " + s.base);
  const uint64_t need = 2 * size_mib * kBlock + (uint64_t{2} << 30);  // file + cache + floor
  if (uint64_t{vfs.f_bavail} * vfs.f_frsize < need) {
    std::filesystem::remove_all(s.base, ec);
    Die(Fmt("not enough free space in %s: need %llu MiB", dir.c_str(),
            static_cast<unsigned long long>(need >> 20)));
  }

  const std::string load_start = LoadAvg();
  std::printf("cache_read_bench: %llu MiB in %s, %u round(s)\n",
              static_cast<unsigned long long>(size_mib), s.base.c_str(), rounds);
  const double tp = Now();
  Prepare(&s, size_mib);
  std::printf("prepared file + cache in %.1f s\n", Now() - tp);
  std::fflush(stdout);

  // Case list, in the order run within each round.
  struct Case {
    std::string label;
    std::string kind;  // dd, raw, pipe, store, cache
    unsigned batch;
  };
  std::vector<Case> cases = {{"(a) dd bs=1M iflag=direct", "dd", 1}};
  for (unsigned b : batches) cases.push_back({Fmt("(b) raw io_uring, batch %u", b), "raw", b});
  cases.push_back({"raw io_uring, 8 in flight continuously", "pipe", 8});
  for (unsigned b : batches) {
    cases.push_back({Fmt("(b') raw io_uring of the cache data file, batch %u", b), "rawdata", b});
  }
  for (unsigned b : batches) {
    cases.push_back({Fmt("(s) BlockStore::Read + CRC, batch %u", b), "store", b});
  }
  for (unsigned b : batches) {
    cases.push_back({Fmt("(c) BlockCache::Read, batch %u", b), "cache", b});
  }

  std::map<std::string, std::vector<double>> gbps;  // label -> per round
  bool dropped = true;
  for (unsigned r = 0; r < rounds; ++r) {
    // Rotate the order each round, so no case always runs right after another (the virtual disk
    // and the other processes on this machine have their own rhythm).
    for (size_t k = 0; k < cases.size(); ++k) {
      const Case& c = cases[(k + r * 5) % cases.size()];
      dropped = DropPageCache() && dropped;
      double v = 0;
      if (c.kind == "dd") {
        v = MeasureDd(s);
      } else if (c.kind == "raw") {
        v = MeasureRawUring(s, s.file, c.batch, false);
      } else if (c.kind == "rawdata") {
        v = MeasureRawUring(s, s.data_file, c.batch, false);
      } else if (c.kind == "pipe") {
        v = MeasureRawUring(s, s.file, c.batch, true);
      } else if (c.kind == "store") {
        v = MeasureStore(s, c.batch);
      } else {
        v = MeasureCache(s, c.batch);
      }
      gbps[c.label].push_back(v);
      std::printf("round %u  %-52s %6.3f GB/s\n", r + 1, c.label.c_str(), v);
      std::fflush(stdout);
    }
  }
  const BlockCacheStats stats = s.cache->Stats();
  const std::string load_end = LoadAvg();

  auto raw_label = [&](unsigned b) { return Fmt("(b) raw io_uring, batch %u", b); };
  auto ratios = [&](const std::string& label, const std::string& ref) {
    std::vector<double> out;
    const auto& x = gbps[label];
    const auto& y = gbps[ref];
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) out.push_back(x[i] / y[i]);
    return Summarize(out);
  };
  auto cell = [](const Spread& sp) { return Fmt("%.2f (%.2f–%.2f)", sp.median, sp.min, sp.max); };

  std::string md;
  md += "### Warm sequential read: BlockCache::Read vs local O_DIRECT\n\n";
  md +=
      Fmt("%llu MiB file of random data and the same bytes as %llu cached 1 MiB blocks, same "
          "directory (%s, %s); %u round(s), every case once per round, the order rotated by 5 "
          "cases each round; page cache "
          "dropped before each measurement: %s. Cache store direct I/O: %s. Ratios are per round "
          "(same-round limit), median (min–max). GB = 10^9 bytes. Load average (1/5/15 min) at "
          "start: %s; at end: %s.\n\n",
          static_cast<unsigned long long>(size_mib), static_cast<unsigned long long>(s.blocks),
          dir.c_str(), FsOf(s.base).c_str(), rounds, dropped ? "yes" : "no (not root)",
          stats.direct_io ? "yes" : "no", load_start.c_str(), load_end.c_str());
  md += "| case | GB/s median (min–max) | ÷ (a) dd O_DIRECT | ÷ (b) raw io_uring, same batch |\n";
  md += "|---|---:|---:|---:|\n";
  const std::string dd_label = cases[0].label;
  for (const Case& c : cases) {
    const Spread g = Summarize(gbps[c.label]);
    std::string vs_b = "—";
    if (c.kind == "store" || c.kind == "cache") vs_b = cell(ratios(c.label, raw_label(c.batch)));
    if (c.kind == "rawdata") vs_b = cell(ratios(c.label, raw_label(c.batch)));
    if (c.kind == "pipe") vs_b = cell(ratios(c.label, raw_label(c.batch))) + " (vs batch 8)";
    const std::string vs_a = c.kind == "dd" ? "1.00" : cell(ratios(c.label, dd_label));
    md += Fmt("| %s | %.3f (%.3f–%.3f) | %s | %s |\n", c.label.c_str(), g.median, g.min, g.max,
              vs_a.c_str(), vs_b.c_str());
  }
  md += "\n";
  md += Fmt(
      "Cache counters over the run: %llu lookups, %llu hits, %llu misses, %llu CRC "
      "failures, %llu read errors.\n\n",
      static_cast<unsigned long long>(stats.lookups), static_cast<unsigned long long>(stats.hits),
      static_cast<unsigned long long>(stats.misses),
      static_cast<unsigned long long>(stats.crc_failures),
      static_cast<unsigned long long>(stats.read_errors));
  md += "Target: warm reads ≥ 0.9 × local O_DIRECT (c ÷ a):";
  for (unsigned b : batches) {
    const Spread sp = ratios(Fmt("(c) BlockCache::Read, batch %u", b), dd_label);
    md += Fmt(" batch %u %.2f %s;", b, sp.median, sp.median >= 0.9 ? "met" : "**missed**");
  }
  md.back() = '.';
  md += "\n";

  std::printf("\n%s", md.c_str());
  if (!out_path.empty()) std::ofstream(out_path, std::ios::app) << md << "\n";

  s.store.reset();
  s.cache.reset();
  std::filesystem::remove_all(s.base, ec);
  return 0;
}

}  // namespace
}  // namespace hoardfs::bench

int main(int argc, char** argv) { return hoardfs::bench::Main(argc, argv); }
