// LRU: the classic baseline for bench/. An intrusive doubly linked list over slot ids (two
// uint32 links and a flag per slot in a SlotTable, no nodes), most recent at the head. Sizes only
// count towards resident_size(): LRU evicts the least recent block whatever its size. Every
// method, Touch() included, takes one mutex: that serialisation of hits is exactly the cost S3-FIFO
// avoids. Memory: 12 B per slot.
//
// LRU has no main queue: InMain() is always false and Restore() ignores `in_main` (blocks are
// restored oldest first, so each restored block becomes the most recent).
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "cache/eviction_policy.h"
#include "cache/size_classes.h"

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
  explicit LruPolicy(const std::vector<uint32_t>& class_sizes) {
    for (size_t c = 0; c < class_sizes.size() && c < kMaxSizeClasses; ++c) {
      sizes_[c] = class_sizes[c];
    }
  }

  void SetCapacity(uint64_t /*capacity*/) override {}

  void Insert(uint32_t slot, uint64_t /*key_hash*/) override {
    if (slot == kNil) return;  // UINT32_MAX is the null link and never a slot id
    std::lock_guard lock(mu_);
    nodes_.GrowTo(slot);
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
  uint64_t resident_size() const override {
    std::lock_guard lock(mu_);
    return size_;
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
    size_ += sizes_[SlotClass(slot)];
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
    size_ -= sizes_[SlotClass(slot)];
  }

  mutable std::mutex mu_;
  std::array<uint32_t, kMaxSizeClasses> sizes_{};
  SlotTable<Node> nodes_;     // guarded by mu_ (elements and growth)
  uint32_t head_ = kNil;      // guarded by mu_; most recently used
  uint32_t tail_ = kNil;      // guarded by mu_; least recently used
  uint64_t count_ = 0;        // guarded by mu_
  uint64_t size_ = 0;         // guarded by mu_
};

}  // namespace

std::unique_ptr<EvictionPolicy> NewLruPolicy(uint64_t capacity, std::vector<uint32_t> class_sizes) {
  if (class_sizes.empty()) class_sizes = {1};
  auto p = std::make_unique<LruPolicy>(class_sizes);
  p->SetCapacity(capacity);
  return p;
}

std::unique_ptr<EvictionPolicy> NewLruPolicy(uint64_t capacity_slots) {
  return NewLruPolicy(capacity_slots, std::vector<uint32_t>{1});
}

}  // namespace hoardfs
