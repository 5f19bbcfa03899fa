// S3-FIFO eviction, implemented from the algorithm in: Juncheng Yang, Yazhuo Zhang, Ziyue Qiu,
// Yao Yue, K. V. Rashmi, "FIFO queues are all you need for cache eviction", SOSP 2023.
//
// Queues. S (small, ~10% of capacity) admits new blocks; M (main) holds blocks that proved useful;
// G (ghost) remembers hashes of blocks evicted from S, so a block that comes back soon after is
// admitted straight into M. Eviction (writer thread only):
//  - from S (when S holds >= 10% of the capacity's bytes, or M is empty): pop the oldest; if it was
//  touched
//    since insertion (freq >= kPromoteFreq) move it to M with freq 0 and keep going, else it is the
//    victim and its hash goes to G;
//  - from M: pop the oldest; if freq > 0, decrement and push it back as newest (lazy promotion),
//    else it is the victim.
//
// Promotion threshold. We promote from S on freq >= 1, i.e. one hit after the miss that inserted
// the block. The paper's pseudocode tests `freq > 1`, while its text moves an object "accessed at
// least once" in S; in our counting the inserting miss is not a Touch(), so freq >= 1 already means
// "re-accessed". On the traces of bench/eviction_trace_bench.cc (capacity 2k..100k), >= 1 is equal
// (hot-set+scan) or better (analysis +1.3..2.0 points, Zipf +0.4 points) than >= 2. A stricter
// filter would only pay off if one logical access touched a block several times, which callers
// must avoid (see Touch() in eviction_policy.h).
//
// Concurrency. Touch() is the only method called concurrently; it touches one atomic byte per slot
// (freq 0..3 | resident | in_main) with a CAS capped at 3 and never writes once the counter is
// saturated, so hot blocks do not bounce cache lines. The writer overwrites that byte with plain
// atomic stores (a Touch racing with a reset is simply ordered before it) and decrements freq with
// fetch_sub (only the writer decrements, so freq >= 1 at that point). Per-slot state lives in a
// ChunkedArray, which grows without moving, so Touch() never sees a dangling element.
//
// Lazy deletion. Remove() leaves the slot's queue entry in place. Instead of a generation tag in
// every entry, each slot counts its stale entries per queue: a slot's stale entries in a queue are
// always older than its live one (a re-insert appends), so when popping an entry of slot s with
// stale count > 0, that entry is stale. Exact (no tag wrap-around) and needs no per-entry tag.
// Queues are compacted when stale entries exceed half the live ones (+4096) or a counter saturates.
//
// Sizes. Blocks differ in size (the slot's class), so S and M are measured in bytes (the paper's
// section on object sizes: queue sizes in bytes, an object counts its size). S's target is 10% of
// the capacity's bytes; an eviction from S or M frees that block's size, and the caller asks for
// victims until it has freed the bytes it needs.
//
// Ghost. A bucketed hash table of (32-bit fingerprint, 32-bit insertion time), as the paper
// suggests: time counts ghost insertions weighted by size (in units of the smallest class), and an
// entry is in the FIFO iff fewer than `ghost capacity` (= |M| target = 90% of capacity, in those
// units; capped at 2^30 units, 4 TiB of 4 KiB units) units were inserted after it, so no FIFO of
// hashes is needed and expiry is implicit. The table holds as many entries as blocks are resident
// (it is rebuilt, forgetting the ghost, when the resident count doubles past its size: a few times
// while a cache of small blocks fills). A full bucket overwrites its oldest entry (slightly
// earlier than FIFO order). Bucket and fingerprint come from different halves of the mixed 64-bit
// key hash, so false ghost hits are ~8 / 2^32 per lookup. Resizing the table forgets the ghost (it
// only affects how fast returning blocks reach M).
//
// Memory per slot of capacity (steady state, S at 10%): 3 B state (atomic freq+flags byte, two
// stale counters) + queue entry 4 B in M / 12 B in S (S also keeps the key hash, needed only for
// the ghost): 0.9 x 4 + 0.1 x 12 = 4.8 B + ghost 8 B per entry at load 0.75 for 0.9 x capacity
// entries = 9.6 B; ~17.5 B/slot in all. Worst case (everything in S, e.g. during a long scan, and
// the queue at its stale-entry bound of 1.5 x live): 3 + 18 + 9.6 = ~31 B/slot. Per-slot state is
// kept per size class (SlotTable), each class's array created on first use.
#include <algorithm>
#include <array>
#include <atomic>
#include <cassert>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "cache/eviction_policy.h"
#include "cache/size_classes.h"
#include "common/chunked_array.h"
#include "common/hash.h"

namespace hoardfs {
namespace {

constexpr uint8_t kFreqMask = 0x03;
constexpr uint8_t kMaxFreq = 3;
constexpr uint8_t kResident = 0x04;
constexpr uint8_t kInMain = 0x08;
constexpr uint8_t kPromoteFreq = 1;  // S -> M when touched at least this often (see above)
constexpr uint8_t kMaxStale = std::numeric_limits<uint8_t>::max();
constexpr uint64_t kCompactSlack = 4096;


struct SlotState {
  std::atomic<uint8_t> bits{0};  // freq | kResident | kInMain; Touch() and writer
  uint8_t stale_small = 0;       // writer only: stale entries of this slot in S
  uint8_t stale_main = 0;        // writer only: stale entries of this slot in M
};

// An S entry carries the key hash (as two words: 12 bytes, not 16) for the ghost on eviction.
struct SmallEntry {
  uint32_t slot;
  uint32_t hash_lo;
  uint32_t hash_hi;
  uint64_t hash() const { return (uint64_t{hash_hi} << 32) | hash_lo; }
};
static_assert(sizeof(SmallEntry) == 12);

uint32_t SlotOf(const SmallEntry& e) { return e.slot; }
uint32_t SlotOf(uint32_t slot) { return slot; }

class GhostTable {
 public:
  // An entry is live while fewer than `window` units were added after it; the table is sized for
  // `entries` entries (changing the bucket count forgets everything).
  void Configure(uint64_t window, uint64_t entries) {
    window_ = static_cast<uint32_t>(std::min<uint64_t>(window, uint64_t{1} << 30));
    entries = std::min<uint64_t>(entries, uint64_t{1} << 30);
    const uint64_t buckets = entries == 0 ? 0 : (entries + kLoad - 1) / kLoad;
    if (buckets != buckets_) {
      buckets_ = buckets;
      table_.assign(buckets_ * kWays, Entry{});
      table_.shrink_to_fit();
    }
    entries_ = entries;
  }
  uint64_t entries() const { return entries_; }

  // Returns whether `hash` is in the ghost FIFO, and removes it if so.
  bool Take(uint64_t hash) {
    if (buckets_ == 0) return false;
    const uint64_t h = Mix64(hash);
    Entry* b = Bucket(h);
    const uint32_t fp = Fingerprint(h);
    for (unsigned i = 0; i < kWays; ++i) {
      if (b[i].fp == fp && Live(b[i])) {
        b[i] = Entry{};
        return true;
      }
    }
    return false;
  }

  // Adds `hash`, which weighs `units` (>= 1).
  void Add(uint64_t hash, uint32_t units) {
    if (buckets_ == 0) return;
    const uint64_t h = Mix64(hash);
    Entry* b = Bucket(h);
    Entry* target = &b[0];
    for (unsigned i = 0; i < kWays; ++i) {
      if (!Live(b[i])) {
        target = &b[i];
        break;
      }
      if (Age(b[i]) > Age(*target)) target = &b[i];
    }
    const uint32_t before = now_;
    now_ += std::max<uint32_t>(units, 1);
    *target = Entry{Fingerprint(h), now_};
    // Ages are computed mod 2^32; clearing expired entries whenever time crosses a multiple of
    // 2^31 keeps every surviving entry younger than 2^31 + window, so no expired entry can wrap
    // back to "live".
    if (((before ^ now_) & 0x80000000u) != 0) {
      for (Entry& e : table_) {
        if (!Live(e)) e = Entry{};
      }
    }
  }

 private:
  static constexpr unsigned kWays = 8;  // 64-byte buckets
  // Average entries per bucket. 6 of 8 (load 0.75) gives the same hit ratios as 2 or 4 of 8 on the
  // bench traces (within 0.001), for 2/3 of the memory of load 0.5.
  static constexpr unsigned kLoad = 6;
  struct Entry {
    uint32_t fp = 0;  // 0: empty
    uint32_t time = 0;
  };

  Entry* Bucket(uint64_t h) {
    // Multiply-shift range reduction on the high half, so any bucket count works.
    return &table_[((h >> 32) * buckets_ >> 32) * kWays];
  }
  static uint32_t Fingerprint(uint64_t h) {
    const auto fp = static_cast<uint32_t>(h);
    return fp == 0 ? 1 : fp;
  }
  // Units added after the entry (0 for the newest).
  uint32_t Age(const Entry& e) const { return now_ - e.time; }
  bool Live(const Entry& e) const { return e.fp != 0 && Age(e) < window_; }

  std::vector<Entry> table_;
  uint64_t buckets_ = 0;
  uint64_t entries_ = 0;
  uint32_t window_ = 0;
  uint32_t now_ = 0;  // units of ghost insertions so far, mod 2^32
};

class S3FifoPolicy final : public EvictionPolicy {
 public:
  S3FifoPolicy(uint64_t capacity, const std::vector<uint32_t>& class_sizes) {
    for (size_t c = 0; c < class_sizes.size() && c < kMaxSizeClasses; ++c) {
      sizes_[c] = std::max<uint32_t>(1, class_sizes[c]);
      unit_ = std::min(unit_, sizes_[c]);
    }
    SetCapacity(capacity);
  }

  void SetCapacity(uint64_t capacity) override {
    small_target_ = std::max<uint64_t>(1, (capacity + 9) / 10);
    const uint64_t main_target = capacity > small_target_ ? capacity - small_target_ : 0;
    // Entries: as many as full-size blocks fit in M, or the resident count if larger.
    ghost_.Configure(main_target / unit_,
                     std::max(ghost_.entries(), std::max(main_target / sizes_[0], resident())));
    capacity_ = capacity;
  }

  void Insert(uint32_t slot, uint64_t key_hash) override {
    PrepareSlot(slot);
    Admit(slot, key_hash, ghost_.Take(key_hash));
  }

  void Restore(uint32_t slot, uint64_t key_hash, bool in_main) override {
    PrepareSlot(slot);
    Admit(slot, key_hash, in_main);
  }

  void Touch(uint32_t slot) override {
    if (!slots_.Contains(slot)) return;  // also a class that does not exist
    std::atomic<uint8_t>& bits = slots_.at(slot).bits;
    uint8_t v = bits.load(std::memory_order_relaxed);
    while ((v & kResident) != 0 && (v & kFreqMask) < kMaxFreq) {
      if (bits.compare_exchange_weak(v, static_cast<uint8_t>(v + 1), std::memory_order_relaxed)) {
        return;
      }
    }
  }

  void Remove(uint32_t slot) override {
    if (!slots_.Contains(slot)) return;
    SlotState& s = slots_.at(slot);
    const uint8_t bits = s.bits.load(std::memory_order_relaxed);
    if ((bits & kResident) == 0) return;
    if ((bits & kInMain) != 0) {
      DropEntry(slot, main_, &SlotState::stale_main, main_stale_, main_count_);
      main_bytes_ -= SizeOf(slot);
    } else {
      DropEntry(slot, small_, &SlotState::stale_small, small_stale_, small_count_);
      small_bytes_ -= SizeOf(slot);
    }
    s.bits.store(0, std::memory_order_relaxed);
  }

  std::optional<uint32_t> Evict() override {
    while (small_count_ + main_count_ > 0) {
      std::optional<uint32_t> victim;
      if (small_count_ > 0 && (small_bytes_ >= small_target_ || main_count_ == 0)) {
        victim = EvictFromSmall();  // nullopt if it promoted every block left in S
      } else {
        victim = EvictFromMain();
      }
      if (victim) return victim;
    }
    return std::nullopt;
  }

  bool InMain(uint32_t slot) const override {
    if (!slots_.Contains(slot)) return false;
    const uint8_t bits = slots_.at(slot).bits.load(std::memory_order_relaxed);
    return (bits & kResident) != 0 && (bits & kInMain) != 0;
  }

  uint64_t resident() const override { return small_count_ + main_count_; }
  uint64_t resident_size() const override { return small_bytes_ + main_bytes_; }
  std::string_view name() const override { return "s3fifo"; }

 private:
  uint64_t SizeOf(uint32_t slot) const { return sizes_[SlotClass(slot)]; }

  void PrepareSlot(uint32_t slot) {
    slots_.GrowTo(slot);
    // REQUIRES says not resident; a violating caller gets a re-insert, not corrupt queues.
    assert((slots_.at(slot).bits.load(std::memory_order_relaxed) & kResident) == 0);
    Remove(slot);
  }

  void Admit(uint32_t slot, uint64_t key_hash, bool to_main) {
    SlotState& s = slots_.at(slot);
    if (resident() + 1 > 2 * ghost_.entries()) {
      // Many more (smaller) blocks than the ghost was sized for.
      ghost_.Configure((capacity_ > small_target_ ? capacity_ - small_target_ : 0) / unit_,
                       2 * (resident() + 1));
    }
    if (to_main) {
      main_.push_back(slot);
      ++main_count_;
      main_bytes_ += SizeOf(slot);
      s.bits.store(kResident | kInMain, std::memory_order_relaxed);
    } else {
      small_.push_back(
          SmallEntry{slot, static_cast<uint32_t>(key_hash), static_cast<uint32_t>(key_hash >> 32)});
      ++small_count_;
      small_bytes_ += SizeOf(slot);
      s.bits.store(kResident, std::memory_order_relaxed);
    }
  }

  // Forgets the live queue entry of resident `slot` in `queue`: popped if it is the newest entry,
  // else left in place and counted as stale.
  template <typename Queue>
  void DropEntry(uint32_t slot, Queue& queue, uint8_t SlotState::*stale, uint64_t& queue_stale,
                 uint64_t& live_count) {
    --live_count;
    if (!queue.empty() &&
        SlotOf(queue.back()) == slot) {  // newest entry of a resident slot is live
      queue.pop_back();
      return;
    }
    if (slots_.at(slot).*stale == kMaxStale) Compact(queue, stale, queue_stale);
    ++(slots_.at(slot).*stale);
    ++queue_stale;
    if (queue_stale > live_count / 2 + kCompactSlack) Compact(queue, stale, queue_stale);
  }

  // Drops every stale entry, keeping order: walking oldest first, a slot's first `stale` entries
  // are exactly its stale ones.
  template <typename Queue>
  void Compact(Queue& queue, uint8_t SlotState::*stale, uint64_t& queue_stale) {
    auto out = queue.begin();
    for (auto it = queue.begin(); it != queue.end(); ++it) {
      uint8_t& count = slots_.at(SlotOf(*it)).*stale;
      if (count > 0) {
        --count;
      } else {
        *out++ = *it;
      }
    }
    queue.erase(out, queue.end());
    queue.shrink_to_fit();
    queue_stale = 0;
  }

  // Pops the oldest entry of `queue` while it is stale. Returns false when the queue is empty.
  template <typename Queue>
  bool SkipStale(Queue& queue, uint8_t SlotState::*stale, uint64_t& queue_stale) {
    while (!queue.empty()) {
      uint8_t& count = slots_.at(SlotOf(queue.front())).*stale;
      if (count == 0) return true;
      --count;
      --queue_stale;
      queue.pop_front();
    }
    return false;
  }

  std::optional<uint32_t> EvictFromSmall() {
    while (SkipStale(small_, &SlotState::stale_small, small_stale_)) {
      const SmallEntry e = small_.front();
      small_.pop_front();
      --small_count_;
      small_bytes_ -= SizeOf(e.slot);
      std::atomic<uint8_t>& bits = slots_.at(e.slot).bits;
      if ((bits.load(std::memory_order_relaxed) & kFreqMask) >= kPromoteFreq) {
        bits.store(kResident | kInMain, std::memory_order_relaxed);  // freq back to 0
        main_.push_back(e.slot);
        ++main_count_;
        main_bytes_ += SizeOf(e.slot);
        continue;
      }
      bits.store(0, std::memory_order_relaxed);
      ghost_.Add(e.hash(), static_cast<uint32_t>(SizeOf(e.slot) / unit_));
      return e.slot;
    }
    return std::nullopt;
  }

  std::optional<uint32_t> EvictFromMain() {
    // Each pass over M lowers every counter by one, so 4 passes find a victim unless Touch()
    // keeps re-raising them; past that budget the oldest live entry goes regardless.
    uint64_t budget = 4 * main_.size() + 1;
    while (SkipStale(main_, &SlotState::stale_main, main_stale_)) {
      const uint32_t slot = main_.front();
      main_.pop_front();
      std::atomic<uint8_t>& bits = slots_.at(slot).bits;
      if ((bits.load(std::memory_order_relaxed) & kFreqMask) > 0 && budget-- > 0) {
        bits.fetch_sub(1, std::memory_order_relaxed);  // only the writer decrements: freq >= 1
        main_.push_back(slot);
        continue;
      }
      --main_count_;
      main_bytes_ -= SizeOf(slot);
      bits.store(0, std::memory_order_relaxed);
      return slot;
    }
    return std::nullopt;
  }

  SlotTable<SlotState> slots_;
  std::array<uint32_t, kMaxSizeClasses> sizes_{};  // per class, in the caller's unit
  uint32_t unit_ = UINT32_MAX;                     // the smallest class size
  uint64_t capacity_ = 0;
  std::deque<SmallEntry> small_;  // oldest at front
  std::deque<uint32_t> main_;     // oldest at front
  GhostTable ghost_;
  uint64_t small_target_ = 1;  // in the caller's unit
  uint64_t small_bytes_ = 0;   // sum of the sizes of the live entries in small_
  uint64_t main_bytes_ = 0;
  uint64_t small_count_ = 0;  // live entries in small_
  uint64_t main_count_ = 0;   // live entries in main_
  uint64_t small_stale_ = 0;  // stale entries in small_
  uint64_t main_stale_ = 0;   // stale entries in main_
};

}  // namespace

std::unique_ptr<EvictionPolicy> NewS3FifoPolicy(uint64_t capacity,
                                                std::vector<uint32_t> class_sizes) {
  if (class_sizes.empty()) class_sizes = {1};
  return std::make_unique<S3FifoPolicy>(capacity, class_sizes);
}

std::unique_ptr<EvictionPolicy> NewS3FifoPolicy(uint64_t capacity_slots) {
  return NewS3FifoPolicy(capacity_slots, std::vector<uint32_t>{1});
}

}  // namespace hoardfs
