// crash_child: the victim of tests/cache/crash_test.cc. Opens a BlockCache on argv[1], waits until
// it is ready, prints "ready\n" on stdout, then mutates the cache forever with a random mix
// (seeded by argv[2]) of inserts, evictions, pins, capacity changes and flushes, while a second
// thread reads blocks back and checks them byte for byte. It never exits by itself: the test kills
// it with SIGKILL at a random moment and then checks what a fresh open of the cache finds.
// Every 20 ms it logs a "progress" line (cache counters) to stderr, which the test reports.
//
//   crash_child DIR SEED [small|large|mixed] [SPEC_FINGERPRINT] [direct|paced]
//
// "small": 64 KiB blocks, capacity 24..64 blocks, so eviction runs constantly.
// "large": 1 MiB blocks and group commits of many blocks, so a kill usually lands mid-batch.
// "mixed": 64 KiB blocks, many one-block files of every size class next to big files, capacity
// 12..32 blocks: blocks of all classes evict each other and slots are punched and reallocated.
// "direct" (default): the real store. "paced": the real store behind PacedBlockStore, which makes
// the bytes of a batch durable one block at a time with pauses in between (a slow disk). A SIGKILL
// cannot lose what the kernel already has (page cache, submitted O_DIRECT writes complete anyway),
// so with the real store an entry committed too early would still find its bytes; pacing opens a
// window where it would not, so the commit point is actually tested.
// The key space (which files, versions and blocks exist, and how long each block is) must be the
// one crash_test.cc checks against; the test passes the fingerprint of its copy and the child
// refuses to run (exit 2) if its own differs.
//
// Exit codes (all mean the test fails): 2 bad usage or spec mismatch, 3 a read returned wrong
// bytes, 4 an operation failed unexpectedly.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "cache/block_cache.h"
#include "common/hash.h"
#include "tests/cache/block_data.h"
#include "tests/cache/crash_spec.h"

namespace hoardfs {
namespace {

using testing::BlockBytes;

using namespace hoardfs::crash;  // NOLINT(google-build-using-namespace): test key space

// Forwards to the real store, but Write() makes its ops durable one at a time, in random order,
// each followed by a pause of 0..2 ms: at any moment of a batch some of its blocks are on disk
// and others are not (their slots still hold older bytes), as after a power cut mid-batch.
class PacedBlockStore final : public BlockStore {
 public:
  PacedBlockStore(std::unique_ptr<BlockStore> inner, uint64_t seed)
      : BlockStore(inner->block_size()), inner_(std::move(inner)), rng_(seed) {}

  uint64_t class_slots(unsigned size_class) const override {
    return inner_->class_slots(size_class);
  }
  bool direct_io() const override { return inner_->direct_io(); }
  uint64_t write_transfers() const override { return inner_->write_transfers(); }
  uint64_t read_transfers() const override { return inner_->read_transfers(); }
  uint32_t block_size() const override { return inner_->block_size(); }
  Status Allocate(unsigned size_class, uint64_t first, uint64_t count) override {
    return inner_->Allocate(size_class, first, count);
  }
  Status Grow(unsigned size_class, uint64_t slots) override {
    return inner_->Grow(size_class, slots);
  }
  Status Deallocate(std::span<const uint32_t> slots) override { return inner_->Deallocate(slots); }
  void Read(std::span<BlockIo> ops,
            const std::function<void(BlockIo&)>& on_complete = nullptr) override {
    inner_->Read(ops, on_complete);
  }
  void Write(std::span<BlockIo> ops) override {
    std::vector<size_t> order(ops.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::vector<unsigned> pauses(ops.size());
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::shuffle(order.begin(), order.end(), rng_);
      for (unsigned& p : pauses) p = static_cast<unsigned>(rng_() % 2000);
    }
    for (size_t k = 0; k < order.size(); ++k) {
      inner_->Write(ops.subspan(order[k], 1));  // durable when it returns
      std::this_thread::sleep_for(std::chrono::microseconds(pauses[k]));
    }
  }

 private:
  const std::unique_ptr<BlockStore> inner_;
  std::mutex mu_;
  std::mt19937_64 rng_;  // GUARDED_BY(mu_)
};

BlockCacheOptions ChildOptions(const CrashSpec& s, const std::string& dir) {
  BlockCacheOptions o;
  o.dir = dir;
  o.block_size = s.block_size;
  o.capacity_bytes = s.capacity_blocks * s.block_size;
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

[[noreturn]] void Die(int code, const std::string& what) {
  std::fprintf(stderr, "crash_child: FATAL: %s\n", what.c_str());
  std::fflush(stderr);
  _exit(code);
}

void Expect(const Status& s, const std::string& what, bool allow_exhausted = false) {
  if (s.ok()) return;
  if (allow_exhausted && s.code() == StatusCode::kResourceExhausted) return;
  Die(4, what + ": " + s.ToString());
}

// Every 20 ms, one line on stderr with what the cache has done so far (the test reports the last
// one before the kill, to show the child was busy).
void ProgressLoop(BlockCache* cache, const std::atomic<uint64_t>* ops) {
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const BlockCacheStats s = cache->Stats();
    std::fprintf(stderr,
                 "crash_child: progress ops=%llu inserts=%llu evictions=%llu used_pages=%llu "
                 "capacity=%llu pinned=%llu\n",
                 static_cast<unsigned long long>(ops->load()),
                 static_cast<unsigned long long>(s.inserts),
                 static_cast<unsigned long long>(s.evictions),
                 static_cast<unsigned long long>(s.used_bytes / 4096),
                 static_cast<unsigned long long>(s.capacity_bytes / s.block_size),
                 static_cast<unsigned long long>(s.pinned_bytes / s.block_size));
    std::fflush(stderr);
  }
}

// Reads random runs of blocks and checks every hit byte for byte, concurrently with the writer.
void ReaderLoop(BlockCache* cache, const CrashSpec* spec, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (;;) {
    const CrashFile& f = spec->files[rng() % spec->files.size()];
    const int v = static_cast<int>(rng() % 2);
    const uint32_t start = static_cast<uint32_t>(rng() % f.blocks[v]);
    const uint32_t n = 1 + static_cast<uint32_t>(rng() % 8);
    std::vector<uint32_t> blocks;
    for (uint32_t b = start; b < start + n && b < f.blocks[v]; ++b) blocks.push_back(b);
    const FileKey key{0, f.path, kVersions[v]};
    auto got = cache->Read(key, blocks);
    for (size_t i = 0; i < blocks.size(); ++i) {
      if (!got[i].has_value()) continue;
      const uint32_t len = BlockLength(*spec, f, v, blocks[i]);
      const auto want = BlockBytes(f.path, kVersions[v], blocks[i], len);
      if (got[i]->size() != len || std::memcmp(want.data(), got[i]->bytes().data(), len) != 0) {
        Die(3, std::string("wrong bytes for ") + f.path + " v" + std::to_string(kVersions[v]) +
                   " block " + std::to_string(blocks[i]) + " (size " +
                   std::to_string(got[i]->size()) + ", want " + std::to_string(len) + ")");
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200 + rng() % 800));
  }
}

int Run(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s DIR SEED [small|large|mixed] [SPEC_FINGERPRINT]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const uint64_t seed = std::strtoull(argv[2], nullptr, 10);
  const std::string mode = argc > 3 ? argv[3] : "small";
  if (mode != "small" && mode != "large" && mode != "mixed") Die(2, "unknown mode " + mode);
  const CrashSpec spec = mode == "small"   ? SmallSpec()
                         : mode == "large" ? LargeSpec()
                                           : MixedSpec();
  if (argc > 4 && std::strtoull(argv[4], nullptr, 10) != SpecFingerprint(spec)) {
    Die(2, "key space differs from the test's (crash_child.cc and crash_test.cc out of sync)");
  }

  const std::string store = argc > 5 ? argv[5] : "direct";
  if (store != "direct" && store != "paced") Die(2, "unknown store mode " + store);
  BlockCacheOptions options = ChildOptions(spec, dir);
  if (store == "paced") {
    options.store_factory =
        [seed](const BlockStoreOptions& so) -> Result<std::unique_ptr<BlockStore>> {
      auto inner = BlockStore::Open(so);
      if (!inner.ok()) return inner.status();
      return std::unique_ptr<BlockStore>(
          std::make_unique<PacedBlockStore>(std::move(inner).value(), seed * 31 + 7));
    };
  }
  auto opened = BlockCache::Open(options);
  if (!opened.ok()) Die(4, "open " + dir + ": " + opened.status().ToString());
  std::unique_ptr<BlockCache> cache = std::move(opened).value();
  Expect(cache->WaitUntilReady(), "WaitUntilReady");

  std::mt19937_64 rng(seed);
  std::set<std::string> pinned;  // prefixes currently pinned (pins persist across runs)
  for (const PinnedPrefix& p : cache->Pins()) pinned.insert(p.prefix);

  std::fputs("ready\n", stdout);
  std::fflush(stdout);

  std::thread reader(ReaderLoop, cache.get(), &spec, seed ^ 0x5DEECE66DULL);
  reader.detach();
  std::atomic<uint64_t> ops{0};
  std::thread progress(ProgressLoop, cache.get(), &ops);
  progress.detach();

  const std::vector<std::string> evict_prefixes = [&] {
    std::vector<std::string> out;
    for (const CrashFile& f : spec.files) {
      const std::string p = f.path;
      out.push_back(p);                            // one file, all versions
      out.push_back(p.substr(0, p.rfind('/')));    // its directory (a dataset)
      out.push_back(p.substr(0, p.find('/', 1)));  // the top directory
    }
    return out;
  }();
  const std::vector<std::string> pin_prefixes = [&] {
    std::vector<std::string> out;
    for (const CrashFile& f : spec.files) {
      const std::string p = f.path;
      out.push_back(p);
      out.push_back(p.substr(0, p.rfind('/')));
    }
    return out;
  }();

  for (;; ops.fetch_add(1, std::memory_order_relaxed)) {
    const uint64_t r = rng() % 1000;
    if (r < 900) {
      // A run of consecutive blocks of one file version, as a sequential reader would fetch.
      const CrashFile& f = spec.files[rng() % spec.files.size()];
      const int v = static_cast<int>(rng() % 2);
      const uint32_t start = static_cast<uint32_t>(rng() % f.blocks[v]);
      const uint32_t n = 1 + static_cast<uint32_t>(rng() % spec.max_run);
      const bool drop_if_busy = rng() % 8 == 0;
      const FileKey key{0, f.path, kVersions[v]};
      for (uint32_t b = start; b < start + n && b < f.blocks[v]; ++b) {
        const auto bytes = BlockBytes(f.path, kVersions[v], b, BlockLength(spec, f, v, b));
        Expect(cache->Insert(key, b, bytes,
                             drop_if_busy ? BlockCache::InsertMode::kDropIfBusy
                                          : BlockCache::InsertMode::kWaitForRoom),
               "Insert", /*allow_exhausted=*/drop_if_busy);
      }
    } else if (r < 930) {
      const std::string& p = evict_prefixes[rng() % evict_prefixes.size()];
      std::optional<uint64_t> keep;
      if (rng() % 3 == 0) keep = kVersions[rng() % 2];  // drop the other version of a file
      auto removed = cache->Evict(0, p, keep);
      Expect(removed.ok() ? Status::Ok() : removed.status(), "Evict " + p);
    } else if (r < 955) {
      if (!pinned.empty() && rng() % 3 != 0) {
        auto it = pinned.begin();
        std::advance(it, static_cast<long>(rng() % pinned.size()));
        Expect(cache->Unpin(0, *it), "Unpin " + *it);
        pinned.erase(it);
      } else {
        const std::string& p = pin_prefixes[rng() % pin_prefixes.size()];
        Expect(cache->Pin(0, p), "Pin " + p);
        pinned.insert(p);
      }
    } else if (r < 980) {
      const uint64_t blocks = spec.min_capacity_blocks +
                              rng() % (spec.max_capacity_blocks - spec.min_capacity_blocks + 1);
      // ResourceExhausted: pinned blocks keep the cache above the new limit (allowed).
      Expect(cache->SetCapacity(blocks * spec.block_size), "SetCapacity",
             /*allow_exhausted=*/true);
    } else {
      Expect(cache->Flush(), "Flush");
    }
  }
}

}  // namespace
}  // namespace hoardfs

int main(int argc, char** argv) { return hoardfs::Run(argc, argv); }
