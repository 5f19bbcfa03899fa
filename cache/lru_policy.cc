// LRU: the classic baseline for bench/. An intrusive doubly linked list over slot numbers (two
// uint32 links and a flag per slot in a ChunkedArray, no nodes), most recent at the head. Every
// method, Touch() included, takes one mutex: that serialisation of hits is exactly the cost S3-FIFO
// avoids. Memory: 12 B per slot.
//
// LRU has no main queue: InMain() is always false and Restore() ignores `in_main` (blocks are
// restored oldest first, so each restored block becomes the most recent).
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>

#include "cache/eviction_policy.h"
#include "common/chunked_array.h"

namespace hoardfs {
namespace {

constexpr uint32_t kNil = UINT32_MAX;

struct Node {
  uint32_t prev = kNil;  // towards the head (more recent)
  uint32_t next = kNil;  // towards the tail (less recent)
  bool linked = false;
};

class LruPolicy final : public EvictionPolicy {
 public:
  explicit LruPolicy(uint64_t capacity_slots) { SetCapacity(capacity_slots); }

  void SetCapacity(uint64_t capacity_slots) override {
    std::lock_guard lock(mu_);
    nodes_.Grow(capacity_slots);
  }

  void Insert(uint32_t slot, uint64_t /*key_hash*/) override {
    if (slot == kNil) return;  // 2^32 - 1 is the null link; the cache never has that many slots
    std::lock_guard lock(mu_);
    nodes_.Grow(uint64_t{slot} + 1);
    if (nodes_.at(slot).linked) Unlink(slot);  // REQUIRES violated: treat as a re-insert
    PushFront(slot);
  }

  void Restore(uint32_t slot, uint64_t key_hash, bool /*in_main*/) override {
    Insert(slot, key_hash);
  }

  void Touch(uint32_t slot) override {
    std::lock_guard lock(mu_);
    if (!nodes_.Contains(slot) || !nodes_.at(slot).linked || head_ == slot) return;
    Unlink(slot);
    PushFront(slot);
  }

  void Remove(uint32_t slot) override {
    std::lock_guard lock(mu_);
    if (nodes_.Contains(slot) && nodes_.at(slot).linked) Unlink(slot);
  }

  std::optional<uint32_t> Evict() override {
    std::lock_guard lock(mu_);
    if (tail_ == kNil) return std::nullopt;
    const uint32_t victim = tail_;
    Unlink(victim);
    return victim;
  }

  bool InMain(uint32_t /*slot*/) const override { return false; }

  uint64_t resident() const override {
    std::lock_guard lock(mu_);
    return count_;
  }
  std::string_view name() const override { return "lru"; }

 private:
  // REQUIRES: mu_ held, slot not linked.
  void PushFront(uint32_t slot) {
    Node& n = nodes_.at(slot);
    n.prev = kNil;
    n.next = head_;
    n.linked = true;
    if (head_ != kNil) nodes_.at(head_).prev = slot;
    head_ = slot;
    if (tail_ == kNil) tail_ = slot;
    ++count_;
  }

  // REQUIRES: mu_ held, slot linked.
  void Unlink(uint32_t slot) {
    Node& n = nodes_.at(slot);
    if (n.prev != kNil) {
      nodes_.at(n.prev).next = n.next;
    } else {
      head_ = n.next;
    }
    if (n.next != kNil) {
      nodes_.at(n.next).prev = n.prev;
    } else {
      tail_ = n.prev;
    }
    n = Node{};
    --count_;
  }

  mutable std::mutex mu_;
  ChunkedArray<Node> nodes_;  // guarded by mu_ (elements and growth)
  uint32_t head_ = kNil;      // guarded by mu_; most recently used
  uint32_t tail_ = kNil;      // guarded by mu_; least recently used
  uint64_t count_ = 0;        // guarded by mu_
};

}  // namespace

std::unique_ptr<EvictionPolicy> NewLruPolicy(uint64_t capacity_slots) {
  return std::make_unique<LruPolicy>(capacity_slots);
}

}  // namespace hoardfs
