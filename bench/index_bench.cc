// Index benchmarks of the block cache (docs/benchmarks-cache.md): lookup latency, open time and
// bytes on disk per block, with 1 M and 10 M entries.
//
// For each N in --entries, the index is built FAST, straight through BlockIndex::Batch (not the
// data path): remote 1, paths /store/data/Run2024/<dataset>/file_<n>.root of --blocks-per-file
// blocks each, in key order, every entry on its own slot, with the per-dataset usage counters the
// cache itself would have written (dataset depth 4). The data file is created sparse (ftruncate) so
// the store's capacity covers every slot without using disk; block size 4096 so that 10 M slots are
// only 40 GiB of (sparse) file. Then:
//  1. bytes per block: BlockIndex::DiskBytes() after Flush() / N (and again at the next open);
//  2. BlockIndex::Open alone, page cache dropped first (root only);
//  3. BlockIndex lookups of random existing blocks: Get, MultiGet of 1 key, MultiGet of 8
//     consecutive blocks, Get of absent keys; first "cold" right after the open (page cache
//     dropped), then "warm" (SST files read once into the page cache, then as many warm-up
//     lookups as measured, for RocksDB's block cache);
//  4. BlockCache::Open on the same directory, in a fresh process, page cache dropped: time until
//  Open returns, until
//     the first lookup (Contains) is served, and until WaitUntilReady() (the recovery scan of the
//     whole index); lookup latency while recovery runs; process RSS once ready;
//  5. BlockCache::Contains of 1 and of 8 consecutive blocks, warm.
// Latencies are per call, single thread, in microseconds. Alongside every warm index lookup a
// fixed DRAM-bound reference (a pointer chase) is timed too: its p99 / p50 is the tail this shared
// machine adds by itself, to tell the index's own tail from the machine's.
//
// Usage: index_bench [--entries=1000000,10000000] [--quick (1 M only)] [--samples=100000]
//                    [--blocks-per-file=1000] [--dir=DIR] [--out=FILE.md] [--keep]
//                    [--index-cache-mib=64 (RocksDB block cache, BlockCacheOptions default)]
// Environment: HOARDFS_BENCH_INDEX_ENTRIES (same as --entries), HOARDFS_BENCH_DIR.
#include <fcntl.h>
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
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "cache/block_cache.h"
#include "cache/block_entry.h"
#include "cache/block_index.h"
#include "cache/block_key.h"
#include "cache/dataset_map.h"
#include "common/hash.h"
#include "common/log.h"

namespace hoardfs::bench {
namespace {

constexpr uint32_t kBlockSize = 4096;
constexpr uint32_t kRemote = 1;
constexpr unsigned kDatasetDepth = 4;  // /store/data/Run2024/<dataset>
constexpr size_t kCommitEntries = 20000;

// Reads every file of `dir` once (puts the SST files in the page cache).
void ReadAllFiles(const std::string& dir) {
  std::vector<char> buf(1 << 20);
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const int fd = open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    while (read(fd, buf.data(), buf.size()) > 0) {
    }
    close(fd);
  }
}

uint64_t ProcStatusKiB(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const std::string want = std::string(field) + ":";
  while (std::getline(f, line)) {
    if (line.rfind(want, 0) == 0) return std::strtoull(line.c_str() + want.size(), nullptr, 10);
  }
  return 0;
}

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  }
  return total;
}

struct Latency {
  double p50 = 0, p99 = 0, max = 0;
  size_t n = 0;
};
Latency Percentiles(std::vector<double> v) {
  Latency l;
  l.n = v.size();
  if (v.empty()) return l;
  std::sort(v.begin(), v.end());
  l.p50 = v[v.size() / 2];
  l.p99 = v[std::min(v.size() - 1, v.size() * 99 / 100)];
  l.max = v.back();
  return l;
}

// The synthetic cached tree.
struct Layout {
  uint64_t entries = 0;
  uint32_t blocks_per_file = 1000;
  std::vector<FileKey> files;         // in key order
  std::vector<std::string> prefixes;  // FilePrefix(files[i])
  std::vector<std::string> usage_keys;
  uint64_t store_slots = 0;  // sparse data file size in slots (entries / 0.9: cache 90% full)

  uint64_t FileOf(uint64_t i) const { return i / blocks_per_file; }
  uint32_t BlockOf(uint64_t i) const { return static_cast<uint32_t>(i % blocks_per_file); }
  uint32_t BlocksIn(uint64_t f) const {
    return static_cast<uint32_t>(
        std::min<uint64_t>(blocks_per_file, entries - f * blocks_per_file));
  }
};

Layout MakeLayout(uint64_t entries, uint32_t blocks_per_file) {
  static const char* const kDatasets[] = {"BTagMu",    "Charmonium", "DisplacedJet", "EGamma0",
                                          "EGamma1",   "HLTPhysics", "JetMET0",      "JetMET1",
                                          "Muon0",     "Muon1",      "MuonEG",       "NoBPTX",
                                          "ParkingHH", "ScoutingPF", "Tau",          "ZeroBias"};
  constexpr size_t kNumDatasets = sizeof kDatasets / sizeof kDatasets[0];
  Layout l;
  l.entries = entries;
  l.blocks_per_file = blocks_per_file;
  const uint64_t nfiles = (entries + blocks_per_file - 1) / blocks_per_file;
  std::vector<std::string> paths;
  paths.reserve(nfiles);
  for (uint64_t f = 0; f < nfiles; ++f) {
    paths.push_back(Fmt("/store/data/Run2024/%s/file_%06llu.root",
                        kDatasets[f * kNumDatasets / nfiles], static_cast<unsigned long long>(f)));
  }
  std::sort(paths.begin(), paths.end());  // insert in key order (as a sequential fill would)
  const DatasetMap datasets({}, kDatasetDepth);
  for (uint64_t f = 0; f < nfiles; ++f) {
    FileKey k{kRemote, paths[f], Hash64(Fmt("etag-%llu", static_cast<unsigned long long>(f)))};
    l.prefixes.push_back(FilePrefix(k));
    std::string uk;
    AppendBigEndian32(&uk, kRemote);
    uk += datasets.Resolve(k.path);
    l.usage_keys.push_back(std::move(uk));
    l.files.push_back(std::move(k));
  }
  l.store_slots = (entries * 10 + 8) / 9;
  return l;
}

std::string KeyOf(const Layout& l, uint64_t f, uint32_t block) {
  std::string k = l.prefixes[f];
  AppendBigEndian32(&k, block);
  return k;
}

struct Result1 {
  uint64_t entries = 0;
  double build_s = 0;
  double bytes_per_block_flush = 0, bytes_per_block_reopen = 0;
  uint64_t index_dir_bytes = 0;
  double index_open_s = 0;
  Latency cold_get, get, multiget1, multiget8, get_absent;
  Latency reference;  // g_chase over the warm phases
  double cache_open_s = 0, cache_first_lookup_s = 0, cache_ready_s = 0;
  RecoveryReport recovery;
  Latency during_recovery;
  Latency contains1, contains8;
  uint64_t rss_kib_ready = 0, hwm_kib = 0, index_memory = 0;
  std::string cache_error;
};

void Build(const Layout& l, const std::string& index_dir, Result1* r) {
  BlockIndexOptions o;
  o.dir = index_dir;
  o.block_size = kBlockSize;
  o.write_buffer_bytes = 256ull << 20;  // build only: fewer, larger flushes
  auto opened = BlockIndex::Open(o);
  if (!opened.ok()) Die("BlockIndex::Open (build): " + opened.status().ToString());
  std::unique_ptr<BlockIndex> index = std::move(opened).value();

  const double t0 = Now();
  std::map<std::string, std::pair<int64_t, int64_t>> usage;  // per batch
  auto batch = std::make_unique<BlockIndex::Batch>(index.get());
  auto commit = [&] {
    for (const auto& [k, v] : usage) batch->AddUsage(k, v.first, v.second);
    usage.clear();
    if (Status st = index->Commit(batch.get(), /*sync=*/false); !st.ok()) {
      Die("commit: " + st.ToString());
    }
    batch = std::make_unique<BlockIndex::Batch>(index.get());
  };
  uint64_t i = 0;
  for (uint64_t f = 0; f < l.files.size(); ++f) {
    std::string key = KeyOf(l, f, 0);
    const uint32_t n = l.BlocksIn(f);
    for (uint32_t b = 0; b < n; ++b, ++i) {
      SetBlockIndex(&key, b);
      BlockEntry e;
      e.slot = static_cast<uint32_t>(i);
      e.length = kBlockSize;
      e.crc = static_cast<uint32_t>(Mix64(i));
      e.generation = 0;
      e.sequence = i + 1;
      batch->PutBlock(key, e);
      auto& u = usage[l.usage_keys[f]];
      u.first += kBlockSize;
      u.second += 1;
      if (batch->count() >= kCommitEntries) commit();
    }
  }
  commit();
  if (Status st = index->Flush(); !st.ok()) Die("flush: " + st.ToString());
  r->build_s = Now() - t0;
  r->bytes_per_block_flush =
      static_cast<double>(index->DiskBytes()) / static_cast<double>(l.entries);
}

// The machine's own latency noise, measured alongside every timed lookup: a chase of kChaseHops
// dependent loads through a random cycle in 64 MiB (DRAM-bound, about the memory traffic of one
// index lookup). Its p99 / p50 is what this shared machine (other processes on the 2 cores, cache
// and memory interference, vCPU scheduling) adds to any tail measured here.
constexpr size_t kChaseHops = 24;
class Chase {
 public:
  Chase() : next_(size_t{16} << 20) {
    std::vector<uint32_t> order(next_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<uint32_t>(i);
    std::mt19937_64 rng(1);
    for (size_t i = order.size() - 1; i > 0; --i) {  // Sattolo: one cycle through all
      std::swap(order[i], order[std::uniform_int_distribution<size_t>(0, i - 1)(rng)]);
    }
    for (size_t i = 0; i < order.size(); ++i) next_[order[i]] = order[(i + 1) % order.size()];
  }
  void Run() {
    uint32_t p = pos_;
    for (size_t i = 0; i < kChaseHops; ++i) p = next_[p];
    pos_ = p;
  }
  std::vector<double>& samples() { return samples_; }

 private:
  std::vector<uint32_t> next_;
  uint32_t pos_ = 0;
  std::vector<double> samples_;
};
Chase* g_chase = nullptr;
bool g_keep = false;  // --keep: leave the built cache directories (debugging, profiling)
size_t g_index_cache_bytes = BlockIndexOptions{}.block_cache_bytes;  // --index-cache-mib

// Times `op` (one call) `n` times with random inputs prepared outside the timed region; after each
// call, times one reference chase (g_chase) so the noise reference covers the same moments.
template <typename Prepare, typename Op>
Latency Time(size_t n, Prepare prepare, Op op) {
  std::vector<double> us;
  us.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    prepare();
    const auto t0 = std::chrono::steady_clock::now();
    op();
    const auto t1 = std::chrono::steady_clock::now();
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    if (g_chase != nullptr) {
      const auto c0 = std::chrono::steady_clock::now();
      g_chase->Run();
      const auto c1 = std::chrono::steady_clock::now();
      g_chase->samples().push_back(std::chrono::duration<double, std::micro>(c1 - c0).count());
    }
  }
  return Percentiles(std::move(us));
}

void MeasureIndex(const Layout& l, const std::string& index_dir, size_t samples, Result1* r) {
  std::mt19937_64 rng(42);
  auto random_block = [&] {
    return std::uniform_int_distribution<uint64_t>(0, l.entries - 1)(rng);
  };
  BlockIndexOptions o;  // the defaults the cache uses
  o.dir = index_dir;
  o.block_size = kBlockSize;
  o.block_cache_bytes = g_index_cache_bytes;

  DropPageCache();
  const double t0 = Now();
  auto opened = BlockIndex::Open(o);
  if (!opened.ok()) Die("BlockIndex::Open: " + opened.status().ToString());
  r->index_open_s = Now() - t0;
  std::unique_ptr<BlockIndex> index = std::move(opened).value();
  r->bytes_per_block_reopen =
      static_cast<double>(index->DiskBytes()) / static_cast<double>(l.entries);

  uint64_t missing = 0;
  std::string key;
  std::vector<std::string> keys1(1), keys8(8);
  auto prep_one = [&] {
    const uint64_t i = random_block();
    key = KeyOf(l, l.FileOf(i), l.BlockOf(i));
  };
  auto get = [&] {
    auto e = index->Get(key);
    if (!e.ok() || !e->has_value()) ++missing;
  };
  r->cold_get = Time(std::min<size_t>(samples, 10000), prep_one, get);

  ReadAllFiles(index_dir);
  // Warm-up: as many lookups as measured, so an index that fits the RocksDB block cache is all in
  // it (1 M entries: ~11,000 data blocks), and one that does not is in its steady state.
  Time(samples, prep_one, get);
  Chase chase;
  g_chase = &chase;
  r->get = Time(samples, prep_one, get);
  r->multiget1 = Time(
      samples,
      [&] {
        const uint64_t i = random_block();
        keys1[0] = KeyOf(l, l.FileOf(i), l.BlockOf(i));
      },
      [&] {
        auto v = index->MultiGet(keys1);
        if (!v[0].has_value()) ++missing;
      });
  r->multiget8 = Time(
      samples,
      [&] {
        const uint64_t f = l.FileOf(random_block());
        const uint32_t n = l.BlocksIn(f);
        const uint32_t first = n <= 8 ? 0 : std::uniform_int_distribution<uint32_t>(0, n - 8)(rng);
        for (uint32_t j = 0; j < 8; ++j) keys8[j] = KeyOf(l, f, std::min(first + j, n - 1));
      },
      [&] {
        auto v = index->MultiGet(keys8);
        for (const auto& e : v) missing += e.has_value() ? 0 : 1;
      });
  uint64_t found_absent = 0;
  r->get_absent = Time(
      samples,
      [&] {
        // A block past the end of a cached file: same prefix, absent key (bloom filter path).
        const uint64_t f = l.FileOf(random_block());
        key = KeyOf(l, f, l.BlocksIn(f) + static_cast<uint32_t>(random_block() % 1000));
      },
      [&] {
        auto e = index->Get(key);
        if (e.ok() && e->has_value()) ++found_absent;
      });
  g_chase = nullptr;
  r->reference = Percentiles(std::move(chase.samples()));
  if (missing != 0 || found_absent != 0) {
    Die(Fmt("index lookups: %llu present keys not found, %llu absent keys found",
            static_cast<unsigned long long>(missing),
            static_cast<unsigned long long>(found_absent)));
  }
}

void MeasureCache(const Layout& l, const std::string& cache_dir, size_t samples, Result1* r) {
  std::mt19937_64 rng(7);
  auto random_block = [&] {
    return std::uniform_int_distribution<uint64_t>(0, l.entries - 1)(rng);
  };
  BlockCacheOptions o;
  o.dir = cache_dir;
  o.block_size = kBlockSize;
  o.capacity_bytes = l.store_slots * kBlockSize;  // == the sparse data file: the cache is 90% full
  o.slots_per_file = l.store_slots;               // one data file
  o.dataset_depth = kDatasetDepth;
  o.index_block_cache_bytes = g_index_cache_bytes;

  DropPageCache();
  const double t0 = Now();
  auto opened = BlockCache::Open(o);
  if (!opened.ok()) {
    r->cache_error = opened.status().ToString();
    return;
  }
  r->cache_open_s = Now() - t0;
  std::unique_ptr<BlockCache> cache = std::move(opened).value();

  std::atomic<bool> ready{false};
  double ready_at = 0;
  std::thread waiter([&] {
    Status st = cache->WaitUntilReady();
    ready_at = Now();
    ready.store(true);
    if (!st.ok()) std::fprintf(stderr, "WaitUntilReady: %s\n", st.ToString().c_str());
  });
  uint64_t missing = 0;
  uint64_t f = 0;
  uint32_t b = 0;
  auto prep = [&] {
    const uint64_t i = random_block();
    f = l.FileOf(i);
    b = l.BlockOf(i);
  };
  auto contains1 = [&] {
    const uint32_t one[1] = {b};
    if (!cache->Contains(l.files[f], one)[0]) ++missing;
  };
  prep();
  contains1();
  r->cache_first_lookup_s = Now() - t0;
  std::vector<double> during;
  while (!ready.load() && during.size() < 10'000'000) {
    prep();
    const auto a = std::chrono::steady_clock::now();
    contains1();
    const auto z = std::chrono::steady_clock::now();
    during.push_back(std::chrono::duration<double, std::micro>(z - a).count());
  }
  waiter.join();
  r->cache_ready_s = ready_at - t0;
  r->during_recovery = Percentiles(std::move(during));
  r->recovery = cache->Recovery();
  r->rss_kib_ready = ProcStatusKiB("VmRSS");

  ReadAllFiles(cache_dir + "/index");
  Time(samples, prep, contains1);
  r->contains1 = Time(samples, prep, contains1);
  std::vector<uint32_t> eight(8);
  r->contains8 = Time(
      samples,
      [&] {
        prep();
        const uint32_t n = l.BlocksIn(f);
        const uint32_t first = n <= 8 ? 0 : std::uniform_int_distribution<uint32_t>(0, n - 8)(rng);
        for (uint32_t j = 0; j < 8; ++j) eight[j] = std::min(first + j, n - 1);
      },
      [&] {
        const std::vector<bool> v = cache->Contains(l.files[f], eight);
        for (bool x : v) missing += x ? 0 : 1;
      });
  const BlockCacheStats stats = cache->Stats();
  r->index_memory = stats.index_memory_bytes;
  r->hwm_kib = ProcStatusKiB("VmHWM");
  if (missing != 0) {
    Die(Fmt("BlockCache::Contains: %llu present blocks not found",
            static_cast<unsigned long long>(missing)));
  }
  if (r->recovery.entries != l.entries) {
    r->cache_error = Fmt("recovery kept %llu of %llu entries",
                         static_cast<unsigned long long>(r->recovery.entries),
                         static_cast<unsigned long long>(l.entries));
  }
}

// The BlockCache phase runs in a fresh process (this binary, --phase=cache), as after a daemon
// restart: in this process the earlier phases have freed hundreds of MiB that the allocator would
// hand back already faulted in, hiding what Open costs a fresh daemon (first-touch page faults of
// the per-slot arrays) and inflating RSS. The child prints its figures as "key value" lines.
void PrintCacheResult(const Result1& r) {
  auto lat = [](const char* name, const Latency& l) {
    std::printf("%s %.17g %.17g %.17g %zu\n", name, l.p50, l.p99, l.max, l.n);
  };
  std::printf("open %.17g\nfirst %.17g\nready %.17g\n", r.cache_open_s, r.cache_first_lookup_s,
              r.cache_ready_s);
  std::printf("recovery %llu %.17g %d\n", static_cast<unsigned long long>(r.recovery.entries),
              r.recovery.seconds, r.recovery.usage_repaired ? 1 : 0);
  lat("during", r.during_recovery);
  lat("contains1", r.contains1);
  lat("contains8", r.contains8);
  std::printf("memory %llu %llu %llu\n", static_cast<unsigned long long>(r.rss_kib_ready),
              static_cast<unsigned long long>(r.hwm_kib),
              static_cast<unsigned long long>(r.index_memory));
  if (!r.cache_error.empty()) std::printf("error %s\n", r.cache_error.c_str());
}

void ParseCacheResult(const std::string& out, Result1* r) {
  size_t pos = 0;
  bool any = false;
  while (pos < out.size()) {
    size_t end = out.find('\n', pos);
    if (end == std::string::npos) end = out.size();
    const std::string line = out.substr(pos, end - pos);
    pos = end + 1;
    const size_t sp = line.find(' ');
    if (sp == std::string::npos) continue;
    const std::string key = line.substr(0, sp);
    const char* v = line.c_str() + sp + 1;
    auto lat = [&](Latency* l) {
      char* e = nullptr;
      l->p50 = std::strtod(v, &e);
      l->p99 = std::strtod(e, &e);
      l->max = std::strtod(e, &e);
      l->n = std::strtoull(e, nullptr, 10);
    };
    any = true;
    if (key == "open") {
      r->cache_open_s = std::strtod(v, nullptr);
    } else if (key == "first") {
      r->cache_first_lookup_s = std::strtod(v, nullptr);
    } else if (key == "ready") {
      r->cache_ready_s = std::strtod(v, nullptr);
    } else if (key == "recovery") {
      char* e = nullptr;
      r->recovery.entries = std::strtoull(v, &e, 10);
      r->recovery.seconds = std::strtod(e, &e);
      r->recovery.usage_repaired = std::strtol(e, nullptr, 10) != 0;
    } else if (key == "during") {
      lat(&r->during_recovery);
    } else if (key == "contains1") {
      lat(&r->contains1);
    } else if (key == "contains8") {
      lat(&r->contains8);
    } else if (key == "memory") {
      char* e = nullptr;
      r->rss_kib_ready = std::strtoull(v, &e, 10);
      r->hwm_kib = std::strtoull(e, &e, 10);
      r->index_memory = std::strtoull(e, nullptr, 10);
    } else if (key == "error") {
      r->cache_error = v;
    } else {
      any = false;
    }
  }
  if (!any) r->cache_error = "the BlockCache phase (child process) failed; see its output above";
}

std::string g_self;  // this binary (for the --phase=cache child)

Result1 RunOne(uint64_t entries, uint32_t bpf, size_t samples, const std::string& base) {
  Result1 r;
  r.entries = entries;
  const std::string dir = base + Fmt("/n%llu", static_cast<unsigned long long>(entries));
  const std::string cache_dir = dir + "/cache";
  const std::string index_dir = cache_dir + "/index";
  std::error_code ec;
  std::filesystem::create_directories(cache_dir + "/data", ec);
  if (ec) Die("create " + cache_dir + ": " + ec.message());

  const Layout l = MakeLayout(entries, bpf);
  // The data file: sparse, covering every slot (no disk used).
  const std::string data = cache_dir + "/data/" + BlockStore::FileName(kBlockSize, 0);
  const int fd = open(data.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || ftruncate(fd, static_cast<off_t>(l.store_slots * kBlockSize)) != 0) {
    Die("create sparse " + data + ": " + std::strerror(errno));
  }
  close(fd);

  std::printf("N=%llu: building the index (%zu files)...\n",
              static_cast<unsigned long long>(entries), l.files.size());
  std::fflush(stdout);
  Build(l, index_dir, &r);
  std::printf("  built in %.1f s, %.1f B/block\n", r.build_s, r.bytes_per_block_flush);
  std::fflush(stdout);
  MeasureIndex(l, index_dir, samples, &r);
  r.index_dir_bytes = DirBytes(index_dir);
  std::printf("  BlockIndex::Open %.3f s; Get p50 %.1f us p99 %.1f us\n", r.index_open_s, r.get.p50,
              r.get.p99);
  std::fflush(stdout);
  ParseCacheResult(
      RunCommand(Fmt("'%s' --phase=cache --cache-dir='%s' --entries=%llu --blocks-per-file=%u "
                     "--samples=%zu --index-cache-mib=%zu",
                     g_self.c_str(), cache_dir.c_str(), static_cast<unsigned long long>(entries),
                     bpf, samples, g_index_cache_bytes >> 20)),
      &r);
  if (!r.cache_error.empty()) std::printf("  BlockCache: %s\n", r.cache_error.c_str());
  std::printf("  BlockCache::Open %.3f s, first lookup %.3f s, ready %.3f s\n", r.cache_open_s,
              r.cache_first_lookup_s, r.cache_ready_s);
  std::fflush(stdout);
  if (!g_keep) std::filesystem::remove_all(dir, ec);
  return r;
}

std::string Markdown(const std::vector<Result1>& results, uint32_t bpf, size_t samples,
                     bool dropped, const std::string& load_start, const std::string& load_end) {
  auto lat = [](const Latency& x) { return Fmt("%.1f / %.1f", x.p50, x.p99); };
  auto verdict = [](bool ok) { return ok ? "met" : "**missed**"; };
  std::string md;
  md += "### Index: lookups, open time, bytes per block\n\n";
  md += Fmt(
      "Index built directly through BlockIndex::Batch (remote 1, "
      "/store/data/Run2024/<dataset>/file_<n>.root, %u blocks per file, 16 datasets, distinct "
      "slots, usage counters included), then flushed. Block size 4096, data file sparse "
      "(capacity N / 0.9 slots: the cache is 90%% full). RocksDB block cache %zu MiB (the "
      "default is 64), write buffers 32 MiB. Latencies in µs, p50 / p99, single thread, %zu "
      "uniformly random lookups each; cold: the first 10,000 right after the open; warm: after "
      "the SST files were read once (page cache) and as many warm-up lookups (block cache). Page "
      "cache dropped before each open: %s. Load average (1/5/15 min) at start: %s; at end: %s."
      "\n\n",
      bpf, g_index_cache_bytes >> 20, samples, dropped ? "yes" : "no (not root)",
      load_start.c_str(), load_end.c_str());
  md += "| |";
  for (const auto& r : results) {
    md += Fmt(" %g M entries |", static_cast<double>(r.entries) / 1e6);
  }
  md += "\n|---|";
  for (size_t i = 0; i < results.size(); ++i) md += "---:|";
  md += "\n";
  auto row = [&](const std::string& name, auto cell) {
    md += "| ";
    md += name;
    md += " |";
    for (const auto& r : results) {
      md += ' ';
      md += cell(r);
      md += " |";
    }
    md += "\n";
  };
  row("build (Batch + Flush), s", [](const Result1& r) { return Fmt("%.1f", r.build_s); });
  row("index bytes on disk per block (DiskBytes after Flush / N)",
      [](const Result1& r) { return Fmt("%.1f", r.bytes_per_block_flush); });
  row("… at the next open (WAL gone)",
      [](const Result1& r) { return Fmt("%.1f", r.bytes_per_block_reopen); });
  row("index directory, all files, MiB", [](const Result1& r) {
    return Fmt("%.0f", static_cast<double>(r.index_dir_bytes) / 1048576.0);
  });
  row("BlockIndex::Open, s", [](const Result1& r) { return Fmt("%.3f", r.index_open_s); });
  row("BlockIndex::Get, cold (just opened, page cache dropped)",
      [&](const Result1& r) { return lat(r.cold_get); });
  row("BlockIndex::Get", [&](const Result1& r) { return lat(r.get); });
  row("BlockIndex::MultiGet, 1 key", [&](const Result1& r) { return lat(r.multiget1); });
  row("BlockIndex::MultiGet, 8 consecutive blocks",
      [&](const Result1& r) { return lat(r.multiget8); });
  row("BlockIndex::Get, absent key", [&](const Result1& r) { return lat(r.get_absent); });
  row(Fmt("reference: %zu dependent DRAM loads, timed after each warm index lookup (machine noise)",
          kChaseHops),
      [&](const Result1& r) { return lat(r.reference); });
  row("BlockCache::Open returned, s", [](const Result1& r) {
    return r.cache_error.empty() || r.cache_open_s > 0 ? Fmt("%.3f", r.cache_open_s)
                                                       : std::string("failed");
  });
  row("… first lookup served, s",
      [](const Result1& r) { return Fmt("%.3f", r.cache_first_lookup_s); });
  row("… WaitUntilReady (recovery scan done), s",
      [](const Result1& r) { return Fmt("%.3f", r.cache_ready_s); });
  row("recovery: entries kept / seconds", [](const Result1& r) {
    return Fmt("%llu / %.3f%s", static_cast<unsigned long long>(r.recovery.entries),
               r.recovery.seconds, r.recovery.usage_repaired ? " (usage rewritten)" : "");
  });
  row("BlockCache::Contains(1) while recovering (n)", [&](const Result1& r) {
    return lat(r.during_recovery) + Fmt(" (%zu)", r.during_recovery.n);
  });
  row("BlockCache::Contains, 1 block", [&](const Result1& r) { return lat(r.contains1); });
  row("BlockCache::Contains, 8 consecutive blocks",
      [&](const Result1& r) { return lat(r.contains8); });
  row("process RSS when ready / peak, MiB", [](const Result1& r) {
    return Fmt("%.0f / %.0f", static_cast<double>(r.rss_kib_ready) / 1024,
               static_cast<double>(r.hwm_kib) / 1024);
  });
  row("index memory (Stats().index_memory_bytes), MiB", [](const Result1& r) {
    return Fmt("%.0f", static_cast<double>(r.index_memory) / 1048576.0);
  });
  md += "\nTargets:";
  for (const auto& r : results) {
    const double worst_p99 = std::max({r.get.p99, r.multiget1.p99, r.contains1.p99});
    md += Fmt(
        " **%g M**: warm single-block lookup p99 ≤ 20 µs: %.1f µs %s (cold: %.1f µs %s); open ≤ "
        "1 s: BlockIndex::Open %.2f s %s, BlockCache first lookup %.2f s %s, BlockCache ready "
        "%.2f s %s; ≤ 100 B/block: %.1f %s.",
        static_cast<double>(r.entries) / 1e6, worst_p99, verdict(worst_p99 <= 20), r.cold_get.p99,
        verdict(r.cold_get.p99 <= 20), r.index_open_s, verdict(r.index_open_s <= 1),
        r.cache_first_lookup_s, verdict(r.cache_first_lookup_s <= 1), r.cache_ready_s,
        verdict(r.cache_ready_s <= 1), r.bytes_per_block_flush,
        verdict(r.bytes_per_block_flush <= 100));
    if (!r.cache_error.empty()) md += " BlockCache: " + r.cache_error + ".";
  }
  md += "\n";
  return md;
}

int Main(int argc, char** argv) {
  g_program = "index_bench";
  std::vector<uint64_t> entries = {1'000'000, 10'000'000};
  size_t samples = 100000;
  uint32_t bpf = 1000;
  const char* env_dir = std::getenv("HOARDFS_BENCH_DIR");
  std::string dir = env_dir != nullptr && *env_dir != '\0' ? env_dir : "/var/tmp";
  std::string out_path;
  std::string phase, cache_dir;
  bool quick = false;
  auto parse_list = [](const std::string& s) {
    std::vector<uint64_t> v;
    for (const char* p = s.c_str(); *p != '\0';) {
      char* end = nullptr;
      v.push_back(std::strtoull(p, &end, 10));
      p = *end == ',' ? end + 1 : end;
    }
    return v;
  };
  if (const char* e = std::getenv("HOARDFS_BENCH_INDEX_ENTRIES"); e != nullptr && *e != '\0') {
    entries = parse_list(e);
  }
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&](const char* name) -> std::optional<std::string> {
      const std::string p = std::string("--") + name + "=";
      if (a.rfind(p, 0) == 0) return a.substr(p.size());
      return std::nullopt;
    };
    if (a == "--quick") {
      quick = true;
    } else if (a == "--keep") {
      g_keep = true;
    } else if (auto v7 = val("phase")) {
      phase = *v7;
    } else if (auto v8 = val("cache-dir")) {
      cache_dir = *v8;
    } else if (auto v6 = val("index-cache-mib")) {
      g_index_cache_bytes = std::strtoull(v6->c_str(), nullptr, 10) << 20;
    } else if (auto v = val("entries")) {
      entries = parse_list(*v);
    } else if (auto v2 = val("samples")) {
      samples = std::strtoull(v2->c_str(), nullptr, 10);
    } else if (auto v3 = val("blocks-per-file")) {
      bpf = static_cast<uint32_t>(std::strtoul(v3->c_str(), nullptr, 10));
    } else if (auto v4 = val("dir")) {
      dir = *v4;
    } else if (auto v5 = val("out")) {
      out_path = *v5;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--entries=1000000,10000000] [--quick] [--samples=100000] "
                   "[--blocks-per-file=1000] [--dir=DIR] [--out=FILE.md] [--keep] "
                   "[--index-cache-mib=64]\n",
                   argv[0]);
      return 2;
    }
  }
  if (quick) entries = {1'000'000};
  if (entries.empty() || samples < 100 || bpf < 8 ||
      std::any_of(entries.begin(), entries.end(), [](uint64_t n) { return n < 1000; })) {
    Die("need entries >= 1000, samples >= 100, blocks-per-file >= 8");
  }
  SetLogLevel(spdlog::level::warn);
  if (phase == "cache") {  // child: the BlockCache phase on an index built by the parent
    Result1 r;
    r.entries = entries.at(0);
    MeasureCache(MakeLayout(entries.at(0), bpf), cache_dir, samples, &r);
    PrintCacheResult(r);
    return 0;
  }
  if (!phase.empty()) Die("unknown --phase " + phase);
  {
    std::error_code ec;
    g_self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    if (ec) Die("cannot resolve /proc/self/exe: " + ec.message());
  }

  const std::string base = dir + Fmt("/hoardfs-index-bench-%d", static_cast<int>(getpid()));
  std::error_code ec;
  std::filesystem::create_directories(base, ec);
  if (ec) Die("create " + base + ": " + ec.message());
  struct statvfs vfs {};
  if (statvfs(base.c_str(), &vfs) != 0) Die("statvfs " + base);
  const uint64_t need = *std::max_element(entries.begin(), entries.end()) * 250 + (2ull << 30);
  if (uint64_t{vfs.f_bavail} * vfs.f_frsize < need) {
    std::filesystem::remove_all(base, ec);
    Die(Fmt("not enough free space in %s: need %llu MiB", dir.c_str(),
            static_cast<unsigned long long>(need >> 20)));
  }
  const bool dropped = DropPageCache();
  const std::string load_start = LoadAvg();

  std::vector<Result1> results;
  for (uint64_t n : entries) results.push_back(RunOne(n, bpf, samples, base));
  if (g_keep) {
    std::printf("kept %s\n", base.c_str());
  } else {
    std::filesystem::remove_all(base, ec);
  }

  const std::string md = Markdown(results, bpf, samples, dropped, load_start, LoadAvg());
  std::printf("\n%s", md.c_str());
  if (!out_path.empty()) std::ofstream(out_path, std::ios::app) << md << "\n";
  return 0;
}

}  // namespace
}  // namespace hoardfs::bench

int main(int argc, char** argv) { return hoardfs::bench::Main(argc, argv); }
