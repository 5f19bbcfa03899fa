#include "cache/eviction_policy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench/cache_sim.h"
#include "bench/trace_gen.h"
#include "cache/size_classes.h"

namespace hoardfs {
namespace {

using bench::CacheSim;
using bench::Mix64;
using bench::Rng;

struct PolicyParam {
  const char* name;
  std::unique_ptr<EvictionPolicy> (*make)(uint64_t);
};

class EvictionPolicyTest : public ::testing::TestWithParam<PolicyParam> {
 protected:
  std::unique_ptr<EvictionPolicy> Make(uint64_t capacity) { return GetParam().make(capacity); }
};

// Evicts until nullopt; fails the test if a slot comes back twice.
std::vector<uint32_t> Drain(EvictionPolicy& p) {
  std::vector<uint32_t> out;
  std::set<uint32_t> seen;
  while (const std::optional<uint32_t> v = p.Evict()) {
    EXPECT_TRUE(seen.insert(*v).second) << "slot " << *v << " evicted twice";
    out.push_back(*v);
    if (out.size() > 1'000'000) break;  // a broken policy must not hang the test
  }
  return out;
}

TEST_P(EvictionPolicyTest, EvictOnEmptyIsNullopt) {
  auto p = Make(16);
  EXPECT_EQ(p->Evict(), std::nullopt);
  EXPECT_EQ(p->resident(), 0u);
  p->Insert(3, 33);
  EXPECT_EQ(p->Evict(), std::optional<uint32_t>(3));
  EXPECT_EQ(p->Evict(), std::nullopt);
}

TEST_P(EvictionPolicyTest, EvictsOnlyResidentSlotsEachOnce) {
  auto p = Make(100);
  std::set<uint32_t> inserted;
  Rng rng(7);
  for (uint32_t s = 0; s < 200; s += 2) {  // even slots only; odd ones are never resident
    p->Insert(s, Mix64(s));
    inserted.insert(s);
  }
  for (int i = 0; i < 1000; ++i) p->Touch(static_cast<uint32_t>(rng.Uniform(220)));
  EXPECT_EQ(p->resident(), inserted.size());
  const std::vector<uint32_t> evicted = Drain(*p);
  EXPECT_EQ(std::set<uint32_t>(evicted.begin(), evicted.end()), inserted);
  EXPECT_EQ(evicted.size(), inserted.size());
  EXPECT_EQ(p->resident(), 0u);
}

TEST_P(EvictionPolicyTest, ResidentCounts) {
  auto p = Make(10);
  for (uint32_t s = 0; s < 10; ++s) p->Insert(s, Mix64(s));
  EXPECT_EQ(p->resident(), 10u);
  p->Remove(4);
  EXPECT_EQ(p->resident(), 9u);
  p->Remove(4);  // not resident any more: no effect
  EXPECT_EQ(p->resident(), 9u);
  ASSERT_TRUE(p->Evict().has_value());
  EXPECT_EQ(p->resident(), 8u);
  p->Insert(4, Mix64(4));
  EXPECT_EQ(p->resident(), 9u);
  p->Restore(20, Mix64(20), true);
  EXPECT_EQ(p->resident(), 10u);
}

TEST_P(EvictionPolicyTest, RemovedSlotIsNeverEvicted) {
  auto p = Make(64);
  for (uint32_t s = 0; s < 64; ++s) p->Insert(s, Mix64(s));
  for (uint32_t s = 0; s < 64; s += 3) p->Touch(s);
  const std::set<uint32_t> removed = {0, 1, 7, 30, 62, 63};
  for (uint32_t s : removed) p->Remove(s);
  const std::vector<uint32_t> evicted = Drain(*p);
  EXPECT_EQ(evicted.size(), 64 - removed.size());
  for (uint32_t s : evicted) EXPECT_FALSE(removed.contains(s)) << s;
}

TEST_P(EvictionPolicyTest, RemoveThenReinsertSameSlot) {
  auto p = Make(32);
  for (uint32_t s = 0; s < 32; ++s) p->Insert(s, Mix64(s));
  p->Remove(5);
  p->Insert(40, Mix64(40));
  p->Insert(5, Mix64(1005));  // slot 5 again, a different block; its old queue entry is stale
  std::vector<uint32_t> evicted = Drain(*p);
  EXPECT_EQ(std::count(evicted.begin(), evicted.end(), 5u), 1);
  EXPECT_EQ(evicted.size(), 33u);
  // The re-inserted 5 is newer than slots 6..31: it must not be evicted in its old position.
  const auto pos5 = std::find(evicted.begin(), evicted.end(), 5u) - evicted.begin();
  const auto pos31 = std::find(evicted.begin(), evicted.end(), 31u) - evicted.begin();
  EXPECT_GT(pos5, pos31);
}

// Many remove/re-insert cycles of the same slots between other activity: exercises lazy deletion,
// the stale-entry counters (saturating past 255) and queue compaction.
TEST_P(EvictionPolicyTest, RepeatedRemoveReinsertKeepsQueuesConsistent) {
  auto p = Make(50);
  for (uint32_t s = 0; s < 50; ++s) p->Insert(s, Mix64(s));
  uint64_t key = 1000;
  for (int round = 0; round < 600; ++round) {
    for (uint32_t s : {3u, 4u, 17u}) {
      p->Remove(s);
      p->Insert(s, Mix64(++key));
    }
    p->Touch(static_cast<uint32_t>(round % 50));
    if (round % 2 == 0) p->Touch(3);
  }
  EXPECT_EQ(p->resident(), 50u);
  const std::vector<uint32_t> evicted = Drain(*p);
  EXPECT_EQ(std::set<uint32_t>(evicted.begin(), evicted.end()).size(), 50u);
  EXPECT_EQ(evicted.size(), 50u);
}

// Removing most of a large cache, out of queue order: exercises compaction of stale entries.
TEST_P(EvictionPolicyTest, MassRemoveThenEvictRest) {
  auto p = Make(10000);
  for (uint32_t s = 0; s < 10000; ++s) p->Insert(s, Mix64(s));
  for (uint32_t s = 0; s < 10000; s += 2) p->Touch(s);
  std::set<uint32_t> kept;
  for (uint32_t s = 0; s < 10000; ++s) {
    if (s % 10 == 7) {
      kept.insert(s);
    } else {
      p->Remove(s);
    }
  }
  EXPECT_EQ(p->resident(), kept.size());
  for (uint32_t s = 20000; s < 20100; ++s) {  // and the queues still take new blocks
    p->Insert(s, Mix64(s));
    kept.insert(s);
  }
  const std::vector<uint32_t> evicted = Drain(*p);
  EXPECT_EQ(evicted.size(), kept.size());
  EXPECT_EQ(std::set<uint32_t>(evicted.begin(), evicted.end()), kept);
}

// Random operations checked against a model of the resident set.
TEST_P(EvictionPolicyTest, RandomOperationsMatchModel) {
  constexpr uint32_t kSlots = 300;
  auto p = Make(200);
  std::set<uint32_t> model;
  Rng rng(99);
  uint64_t key = 0;
  for (int i = 0; i < 200000; ++i) {
    const uint32_t s = static_cast<uint32_t>(rng.Uniform(kSlots));
    switch (rng.Uniform(10)) {
      case 0:
      case 1:
      case 2:
        if (!model.contains(s)) {
          if (rng.Uniform(20) == 0) {
            p->Restore(s, Mix64(++key), rng.Uniform(2) == 0);
          } else {
            p->Insert(s, Mix64(++key % 400));  // keys repeat: ghost hits
          }
          model.insert(s);
        }
        break;
      case 3:
        p->Remove(s);
        model.erase(s);
        break;
      case 4:
      case 5: {
        const std::optional<uint32_t> v = p->Evict();
        ASSERT_EQ(v.has_value(), !model.empty());
        if (v) {
          ASSERT_TRUE(model.contains(*v)) << "evicted non-resident slot " << *v;
          model.erase(*v);
        }
        break;
      }
      default:
        p->Touch(s);
        break;
    }
    ASSERT_EQ(p->resident(), model.size());
    if (!model.contains(s)) {
      ASSERT_FALSE(p->InMain(s));
    }
  }
  const std::vector<uint32_t> evicted = Drain(*p);
  EXPECT_EQ(std::set<uint32_t>(evicted.begin(), evicted.end()), model);
}

TEST_P(EvictionPolicyTest, TouchOutOfRangeOrNotResidentIsIgnored) {
  auto p = Make(8);
  p->Touch(7);
  p->Touch(1u << 30);
  p->Touch(UINT32_MAX);
  EXPECT_EQ(p->resident(), 0u);
  EXPECT_EQ(p->Evict(), std::nullopt);
}

TEST_P(EvictionPolicyTest, RestoreThenDrainReturnsEverySlot) {
  auto p = Make(20);
  for (uint32_t s = 0; s < 20; ++s) p->Restore(s, Mix64(s), s % 3 == 0);
  EXPECT_EQ(p->resident(), 20u);
  EXPECT_EQ(Drain(*p).size(), 20u);
}

TEST_P(EvictionPolicyTest, SlotsBeyondInitialCapacityGrowState) {
  auto p = Make(4);
  p->Insert(200000, 1);  // beyond the first ChunkedArray chunk
  p->Touch(200000);
  p->SetCapacity(300000);
  p->Insert(250000, 2);
  EXPECT_EQ(p->resident(), 2u);
  const std::vector<uint32_t> evicted = Drain(*p);
  EXPECT_EQ(std::set<uint32_t>(evicted.begin(), evicted.end()),
            (std::set<uint32_t>{200000, 250000}));
}

// Touch() from 4 threads while the writer inserts, evicts, removes and grows the slot space.
// Race-free by design (Touch only reads ChunkedArray's atomic size/chunk pointers and updates one
// atomic per slot, or takes LRU's mutex); here we check that the writer's invariants survive.
TEST_P(EvictionPolicyTest, ConcurrentTouchWhileWriterWorks) {
  constexpr uint64_t kCapacity = 1000;
  auto p = Make(kCapacity);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> touches{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      Rng rng(static_cast<uint64_t>(t) + 100);
      uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        // Includes slots the writer has not grown to yet.
        p->Touch(static_cast<uint32_t>(rng.Uniform(300000)));
        p->Touch(static_cast<uint32_t>(rng.Uniform(kCapacity)));
        n += 2;
      }
      touches.fetch_add(n);
    });
  }
  std::set<uint32_t> model;
  Rng rng(5);
  uint64_t key = 0;
  uint32_t slot_space = kCapacity;
  for (int i = 0; i < 200000; ++i) {
    if (i % 20000 == 0) {
      slot_space += 30000;  // grows ChunkedArray while readers touch
      p->SetCapacity(slot_space);
    }
    const uint32_t s = static_cast<uint32_t>(rng.Uniform(slot_space));
    if (model.size() >= kCapacity) {
      const std::optional<uint32_t> v = p->Evict();
      ASSERT_TRUE(v.has_value());
      ASSERT_TRUE(model.contains(*v)) << *v;
      model.erase(*v);
    }
    if (rng.Uniform(8) == 0) {
      p->Remove(s);
      model.erase(s);
    } else if (!model.contains(s)) {
      p->Insert(s, Mix64(++key % 5000));
      model.insert(s);
    }
  }
  stop = true;
  for (std::thread& r : readers) r.join();
  EXPECT_GT(touches.load(), 0u);
  EXPECT_EQ(p->resident(), model.size());
  const std::vector<uint32_t> evicted = Drain(*p);
  EXPECT_EQ(std::set<uint32_t>(evicted.begin(), evicted.end()), model);
}

INSTANTIATE_TEST_SUITE_P(Policies, EvictionPolicyTest,
                         ::testing::Values(PolicyParam{"S3Fifo", NewS3FifoPolicy},
                                           PolicyParam{"Lru", NewLruPolicy}),
                         [](const ::testing::TestParamInfo<PolicyParam>& param_info) {
                           return std::string(param_info.param.name);
                         });

// ---- S3-FIFO specifics ----

TEST(S3FifoTest, Name) { EXPECT_EQ(NewS3FifoPolicy(1)->name(), "s3fifo"); }

TEST(S3FifoTest, NewBlocksGoToSmallUntouchedOnesLeaveFirstInFifoOrder) {
  auto p = NewS3FifoPolicy(10);
  for (uint32_t s = 0; s < 10; ++s) p->Insert(s, Mix64(s));
  for (uint32_t s = 0; s < 10; ++s) EXPECT_FALSE(p->InMain(s));
  EXPECT_EQ(p->Evict(), std::optional<uint32_t>(0));
  EXPECT_EQ(p->Evict(), std::optional<uint32_t>(1));
}

TEST(S3FifoTest, TouchedBlockInSmallIsPromotedToMain) {
  auto p = NewS3FifoPolicy(10);
  for (uint32_t s = 0; s < 10; ++s) p->Insert(s, Mix64(s));
  p->Touch(0);
  EXPECT_EQ(p->Evict(), std::optional<uint32_t>(1));  // 0 moved to M instead
  EXPECT_TRUE(p->InMain(0));
  EXPECT_FALSE(p->InMain(1));
}

TEST(S3FifoTest, TouchBeforeInsertDoesNotCount) {
  auto p = NewS3FifoPolicy(10);
  for (int i = 0; i < 3; ++i) p->Touch(0);  // not resident: ignored
  p->Insert(0, Mix64(0));
  p->Insert(1, Mix64(1));
  EXPECT_EQ(p->Evict(), std::optional<uint32_t>(0));
}

TEST(S3FifoTest, MainGivesTouchedBlocksASecondChance) {
  auto p = NewS3FifoPolicy(10);
  for (uint32_t s = 0; s < 5; ++s) p->Restore(s, Mix64(s), /*in_main=*/true);
  p->Touch(0);
  p->Touch(2);
  p->Touch(2);
  // S is empty, so victims come from M: 0 and 2 are reinserted (freq decremented), 1 goes.
  EXPECT_EQ(p->Evict(), std::optional<uint32_t>(1));
  EXPECT_EQ(p->Evict(), std::optional<uint32_t>(3));
  EXPECT_EQ(p->Evict(), std::optional<uint32_t>(4));
  EXPECT_EQ(p->Evict(), std::optional<uint32_t>(0));  // freq now 0
  EXPECT_EQ(p->Evict(), std::optional<uint32_t>(2));  // had 2, one pass left it at 1, then 0
  EXPECT_EQ(p->Evict(), std::nullopt);
}

TEST(S3FifoTest, GhostHitReadmitsIntoMain) {
  auto p = NewS3FifoPolicy(10);
  for (uint32_t s = 0; s < 10; ++s) p->Insert(s, 1000 + s);
  ASSERT_EQ(p->Evict(), std::optional<uint32_t>(0));  // key 1000 -> ghost
  p->Insert(0, 1000);
  EXPECT_TRUE(p->InMain(0));
  ASSERT_EQ(p->Evict(), std::optional<uint32_t>(1));  // key 1001 -> ghost
  p->Insert(1, 5555);                                 // a key never seen
  EXPECT_FALSE(p->InMain(1));
  // Remove() is not an eviction: no ghost entry.
  p->Remove(2);
  p->Insert(2, 1002);
  EXPECT_FALSE(p->InMain(2));
  // The ghost entry is consumed by the readmission.
  p->Remove(0);
  p->Insert(0, 1000);
  EXPECT_FALSE(p->InMain(0));
}

// The ghost remembers about the last 0.9 x capacity hashes evicted from S, never older ones.
TEST(S3FifoTest, GhostIsBounded) {
  constexpr uint64_t kCapacity = 100;  // ghost capacity: 90 hashes
  auto p = NewS3FifoPolicy(kCapacity);
  uint64_t key = 0;
  for (uint32_t s = 0; s < kCapacity; ++s) p->Insert(s, ++key);
  // Nothing is touched, so blocks leave S in insertion order: the i-th eviction is key i.
  for (int i = 0; i < 300; ++i) {
    const std::optional<uint32_t> v = p->Evict();
    ASSERT_TRUE(v.has_value());
    p->Insert(*v, ++key);
  }
  const std::optional<uint32_t> probe = p->Evict();  // key 301; its slot serves as probe
  ASSERT_TRUE(probe.has_value());
  // Probing: Insert() says through InMain() whether the key was in the ghost; Remove() frees the
  // slot again without touching the ghost.
  auto in_ghost = [&](uint64_t k) {
    p->Insert(*probe, k);
    const bool hit = p->InMain(*probe);
    p->Remove(*probe);
    return hit;
  };
  for (uint64_t k = 1; k <= 211; ++k) EXPECT_FALSE(in_ghost(k)) << "key " << k << " too old";
  int recent_hits = 0;
  for (uint64_t k = 257; k <= 301; ++k) recent_hits += in_ghost(k) ? 1 : 0;
  // 45 keys within the newest half of the ghost. The bucketed table may drop an entry before its
  // time when its bucket overflows, hence not all 45.
  EXPECT_GE(recent_hits, 41);
}

TEST(S3FifoTest, RestoreRespectsInMain) {
  auto p = NewS3FifoPolicy(10);
  for (uint32_t s = 0; s < 5; ++s) p->Restore(s, Mix64(s), /*in_main=*/false);
  for (uint32_t s = 5; s < 10; ++s) p->Restore(s, Mix64(s), /*in_main=*/true);
  for (uint32_t s = 0; s < 10; ++s) EXPECT_EQ(p->InMain(s), s >= 5) << s;
  // S holds 5 >= 10% of capacity: S drains first, oldest first, then M.
  EXPECT_EQ(Drain(*p), (std::vector<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(S3FifoTest, RestoreDoesNotConsultGhost) {
  auto p = NewS3FifoPolicy(10);
  for (uint32_t s = 0; s < 10; ++s) p->Insert(s, 1000 + s);
  ASSERT_EQ(p->Evict(), std::optional<uint32_t>(0));  // key 1000 -> ghost
  p->Restore(0, 1000, /*in_main=*/false);
  EXPECT_FALSE(p->InMain(0));
}

// A hot set of C/5 blocks, each read a few times, then one scan of 10 x C blocks read once.
TEST(S3FifoTest, HotSetSurvivesScanTenTimesCapacity) {
  constexpr uint64_t kCapacity = 1000;
  constexpr uint64_t kHot = 200;
  std::vector<uint64_t> warm;
  for (int pass = 0; pass < 3; ++pass) {
    for (uint64_t id = 0; id < kHot; ++id) warm.push_back(id);
  }
  std::vector<uint64_t> scan;
  for (uint64_t i = 0; i < 10 * kCapacity; ++i) scan.push_back(bench::kOnceBase + i);

  auto surviving = [&](EvictionPolicy& policy) {
    CacheSim sim(policy, kCapacity);
    sim.Run(warm);
    sim.Run(scan);
    EXPECT_EQ(sim.policy_errors(), 0u);
    uint64_t n = 0;
    for (uint64_t id = 0; id < kHot; ++id) n += sim.Contains(id) ? 1 : 0;
    return n;
  };
  auto s3fifo = NewS3FifoPolicy(kCapacity);
  EXPECT_GE(surviving(*s3fifo), kHot * 9 / 10);
  // The same experiment flushes LRU completely: the scenario does discriminate.
  auto lru = NewLruPolicy(kCapacity);
  EXPECT_EQ(surviving(*lru), 0u);
}

// Mixed sizes (cache format v2): a cache of `capacity` units holding blocks of two classes, big
// (class 0, kBig units) and small (class 1, 1 unit). Evicts by bytes: until the new block fits.
class MixedSim {
 public:
  static constexpr uint32_t kBig = 256;
  MixedSim(EvictionPolicy& p, uint64_t capacity) : p_(p), capacity_(capacity) {}

  void Access(uint64_t id, bool big) {
    if (auto it = where_.find(id); it != where_.end()) {
      p_.Touch(it->second);
      return;
    }
    const uint32_t size = big ? kBig : 1;
    while (used_ + size > capacity_) {
      const std::optional<uint32_t> v = p_.Evict();
      ASSERT_TRUE(v.has_value()) << "nothing to evict with " << used_ << " units used";
      ASSERT_TRUE(owner_.contains(*v)) << "evicted a slot that holds nothing";
      where_.erase(owner_[*v]);
      owner_.erase(*v);
      used_ -= SlotClass(*v) == 0 ? kBig : 1;
      free_[SlotClass(*v)].push_back(SlotIndex(*v));
    }
    const unsigned c = big ? 0 : 1;
    uint32_t index;
    if (!free_[c].empty()) {
      index = free_[c].back();
      free_[c].pop_back();
    } else {
      index = next_[c]++;
    }
    const uint32_t slot = SlotId(c, index);
    owner_[slot] = id;
    where_[id] = slot;
    used_ += size;
    p_.Insert(slot, Mix64(id));
    EXPECT_EQ(p_.resident_size(), used_);
  }
  bool Contains(uint64_t id) const { return where_.contains(id); }

 private:
  EvictionPolicy& p_;
  const uint64_t capacity_;
  uint64_t used_ = 0;
  std::map<uint64_t, uint32_t> where_;
  std::map<uint32_t, uint64_t> owner_;
  std::vector<uint32_t> free_[2];
  uint32_t next_[2] = {0, 0};
};

// A hot set of big blocks (half the bytes) survives a scan of small blocks ten times the
// capacity, and a hot set of small blocks survives a scan of big ones: the queues count bytes.
TEST(S3FifoTest, MixedSizesStayScanResistant) {
  constexpr uint64_t kCapacity = 40 * MixedSim::kBig;
  const std::vector<uint32_t> sizes = {MixedSim::kBig, 1};
  for (const bool hot_big : {true, false}) {
    SCOPED_TRACE(hot_big ? "hot big blocks, scan of small ones" : "hot small, scan of big");
    const uint64_t hot = hot_big ? 20 : 20 * MixedSim::kBig;  // half the capacity either way
    const uint64_t scan = hot_big ? 10 * kCapacity : 10 * kCapacity / MixedSim::kBig;
    auto surviving = [&](EvictionPolicy& policy) {
      MixedSim sim(policy, kCapacity);
      for (int pass = 0; pass < 3; ++pass) {
        for (uint64_t id = 0; id < hot; ++id) sim.Access(id, hot_big);
      }
      for (uint64_t i = 0; i < scan; ++i) sim.Access(bench::kOnceBase + i, !hot_big);
      uint64_t n = 0;
      for (uint64_t id = 0; id < hot; ++id) n += sim.Contains(id) ? 1 : 0;
      return n;
    };
    auto s3fifo = NewS3FifoPolicy(kCapacity, sizes);
    EXPECT_GE(surviving(*s3fifo), hot * 9 / 10);
    auto lru = NewLruPolicy(kCapacity, sizes);
    EXPECT_EQ(surviving(*lru), 0u);
  }
}

// ---- LRU specifics ----

TEST(LruTest, Name) { EXPECT_EQ(NewLruPolicy(1)->name(), "lru"); }

TEST(LruTest, EvictsLeastRecentlyTouchedFirst) {
  auto p = NewLruPolicy(8);
  for (uint32_t s = 0; s < 5; ++s) p->Insert(s, Mix64(s));
  p->Touch(0);
  p->Touch(2);
  p->Touch(0);
  EXPECT_EQ(Drain(*p), (std::vector<uint32_t>{1, 3, 4, 2, 0}));
}

TEST(LruTest, RestoreOrderIsRecency) {
  auto p = NewLruPolicy(8);
  for (uint32_t s = 0; s < 4; ++s) p->Restore(s, Mix64(s), s % 2 == 0);
  EXPECT_FALSE(p->InMain(0));
  EXPECT_EQ(Drain(*p), (std::vector<uint32_t>{0, 1, 2, 3}));
}

// ---- The bench traces: S3-FIFO must beat LRU on every one ----

TEST(EvictionTraceTest, S3FifoBeatsLruOnBenchTraces) {
  constexpr uint64_t kCapacity = 2048;
  for (const bench::Trace& trace : bench::MakeAllTraces(kCapacity)) {
    auto s3fifo = NewS3FifoPolicy(kCapacity);
    CacheSim s3_sim(*s3fifo, kCapacity);
    s3_sim.Run(trace.ids);
    auto lru = NewLruPolicy(kCapacity);
    CacheSim lru_sim(*lru, kCapacity);
    lru_sim.Run(trace.ids);
    EXPECT_EQ(s3_sim.policy_errors(), 0u) << trace.name;
    EXPECT_EQ(lru_sim.policy_errors(), 0u) << trace.name;
    EXPECT_GT(s3_sim.hit_ratio(), lru_sim.hit_ratio())
        << trace.name << ": S3-FIFO " << s3_sim.hit_ratio() << " vs LRU " << lru_sim.hit_ratio();
    RecordProperty(trace.name + "_s3fifo", std::to_string(s3_sim.hit_ratio()));
    RecordProperty(trace.name + "_lru", std::to_string(lru_sim.hit_ratio()));
  }
}

}  // namespace
}  // namespace hoardfs
