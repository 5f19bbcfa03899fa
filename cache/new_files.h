// NewFiles: what the block cache knows, in memory, of which blocks the index can hold for the file
// versions being read, so that a lookup of a file the cache never held does not ask RocksDB for
// every block and piece of it (a cold sparse read asks for ~11 new piece keys per read: one
// MultiGet and 11 memo probes, ~35-45 us of a ~700 us read by a scratch build's timer;
// docs/benchmarks.md).
//
// A file version (its key prefix, cache/block_key.h) is in one of three states:
//   kUnknown  nothing known: the caller asks the index whether it holds any key of the prefix (one
//             seek) and reports the answer with Learn();
//   kNew      the index held nothing of it when asked, and every block inserted for it since was
//             reported by Inserted(): a block not among those is not in the index (no lookup);
//   kOld      the index held entries of it when asked: every block is looked up as before.
// The blocks remembered for a kNew file are a superset of its entries (evictions and failed inserts
// leave extras, which only cost a lookup), so an answer "not held" is never wrong, provided every
// insert is reported before its entry can be committed (BlockCache reports it as it queues it).
//
// The answer of the seek is exact only if no insert of the prefix reached the index while it ran.
// Inserted() returns a Pending token that its insert's command holds until its entry is committed
// or dropped; Filter() hands out a ticket only while no insert of the prefix's stripe is pending,
// and Learn() drops "holds nothing" if an insert of that stripe was reported since the ticket (the
// file stays kUnknown and is asked about again). Stripes divide prefixes by hash, so other files'
// inserts seldom void a ticket.
//
// Bounds: at most max_files files (the least recently used is forgotten: kUnknown again) and
// max_blocks blocks remembered in all (a kNew file that would pass it becomes kOld).
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace hoardfs {

class NewFiles {
 public:
  enum class State { kUnknown, kNew, kOld };

  // One reported insert, pending until destroyed (after its entry is committed, or the insert
  // dropped). Move-only; a moved-from token ends nothing.
  class Pending {
   public:
    Pending() = default;
    Pending(Pending&& other) noexcept;
    Pending& operator=(Pending&& other) noexcept;
    Pending(const Pending&) = delete;
    Pending& operator=(const Pending&) = delete;
    ~Pending();

   private:
    friend class NewFiles;
    Pending(NewFiles* owner, size_t stripe) : owner_(owner), stripe_(stripe) {}
    NewFiles* owner_ = nullptr;
    size_t stripe_ = 0;
  };

  NewFiles(size_t max_files, size_t max_blocks);
  NewFiles(const NewFiles&) = delete;
  NewFiles& operator=(const NewFiles&) = delete;

  // The state of `prefix`. For kNew, (*may_hold)[i] says whether blocks[i] can be in the index.
  // For kUnknown, *ticket is what Learn() wants back.
  State Filter(std::string_view prefix, std::span<const uint32_t> blocks,
               std::vector<bool>* may_hold, uint64_t* ticket);
  // The index holds (`has_entries`) or does not hold any key of `prefix`, as a seek found after
  // Filter() returned kUnknown with `ticket`.
  void Learn(std::string_view prefix, bool has_entries, uint64_t ticket);
  // `block` of `prefix` is about to be queued for insertion: the caller keeps the token until
  // the insert's entry is committed or the insert dropped. Outlived by this object.
  [[nodiscard]] Pending Inserted(std::string_view prefix, uint32_t block);

  // Files known (kNew or kOld), and blocks remembered for kNew ones.
  size_t files() const;
  size_t blocks() const;

 private:
  static constexpr size_t kStripes = 64;
  static constexpr uint64_t kNoTicket = ~uint64_t{0};  // an insert was pending: learn nothing
  struct File {
    std::string prefix;
    bool is_new = false;
    std::unordered_set<uint32_t> inserted;  // is_new only
  };
  using Lru = std::list<File>;  // most recently used first

  size_t StripeOf(std::string_view prefix) const;
  // Moves `it` to the front (most recently used). REQUIRES: mu_ held.
  void TouchLocked(Lru::iterator it);
  // Forgets the least recently used files beyond max_files_. REQUIRES: mu_ held.
  void TrimLocked();
  // Turns a kNew file into kOld, forgetting its blocks. REQUIRES: mu_ held.
  void MakeOldLocked(File& file);

  const size_t max_files_;
  const size_t max_blocks_;
  mutable std::mutex mu_;
  Lru lru_;                                                    // GUARDED_BY(mu_)
  std::unordered_map<std::string_view, Lru::iterator> where_;  // GUARDED_BY(mu_); keys view
                                                               // into lru_'s prefixes
  size_t blocks_ = 0;                                          // GUARDED_BY(mu_)
  std::array<std::atomic<uint64_t>, kStripes> inserts_{};      // per stripe, ever reported
  std::array<std::atomic<uint64_t>, kStripes> pending_{};      // per stripe, not yet ended
};

}  // namespace hoardfs
