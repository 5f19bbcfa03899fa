#include "cache/new_files.h"

#include <functional>
#include <utility>

namespace hoardfs {

NewFiles::Pending::Pending(Pending&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), stripe_(other.stripe_) {}

NewFiles::Pending& NewFiles::Pending::operator=(Pending&& other) noexcept {
  if (this != &other) {
    if (owner_ != nullptr) owner_->pending_[stripe_].fetch_sub(1);
    owner_ = std::exchange(other.owner_, nullptr);
    stripe_ = other.stripe_;
  }
  return *this;
}

NewFiles::Pending::~Pending() {
  if (owner_ != nullptr) owner_->pending_[stripe_].fetch_sub(1);
}

NewFiles::NewFiles(size_t max_files, size_t max_blocks)
    : max_files_(max_files), max_blocks_(max_blocks) {}

size_t NewFiles::StripeOf(std::string_view prefix) const {
  return std::hash<std::string_view>{}(prefix) % kStripes;
}

void NewFiles::TouchLocked(Lru::iterator it) {
  if (it != lru_.begin()) lru_.splice(lru_.begin(), lru_, it);
}

void NewFiles::MakeOldLocked(File& file) {
  blocks_ -= file.inserted.size();
  file.inserted = {};
  file.is_new = false;
}

void NewFiles::TrimLocked() {
  while (lru_.size() > max_files_) {
    File& last = lru_.back();
    blocks_ -= last.inserted.size();
    where_.erase(last.prefix);
    lru_.pop_back();
  }
}

NewFiles::State NewFiles::Filter(std::string_view prefix, std::span<const uint32_t> blocks,
                                 std::vector<bool>* may_hold, uint64_t* ticket) {
  // An insert reported before the ticket and still pending may reach the index during the
  // caller's seek: no ticket then. One reported after it changes the count (Inserted() counts it
  // pending first, then reported; this reads them the other way round).
  const size_t stripe = StripeOf(prefix);
  *ticket = inserts_[stripe].load();
  if (pending_[stripe].load() != 0) *ticket = kNoTicket;
  std::lock_guard<std::mutex> lock(mu_);
  auto found = where_.find(prefix);
  if (found == where_.end()) return State::kUnknown;
  TouchLocked(found->second);
  File& file = *found->second;
  if (!file.is_new) return State::kOld;
  may_hold->assign(blocks.size(), false);
  for (size_t i = 0; i < blocks.size(); ++i) {
    (*may_hold)[i] = file.inserted.contains(blocks[i]);
  }
  return State::kNew;
}

void NewFiles::Learn(std::string_view prefix, bool has_entries, uint64_t ticket) {
  if (max_files_ == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  // An insert of this stripe since the ticket may have reached the index after the caller's seek
  // and before this: only "has entries" is still sure.
  if (!has_entries && (ticket == kNoTicket || inserts_[StripeOf(prefix)].load() != ticket)) {
    return;
  }
  if (where_.contains(prefix)) return;  // another reader learnt it meanwhile
  lru_.push_front(File{std::string(prefix), !has_entries, {}});
  where_.emplace(lru_.front().prefix, lru_.begin());
  TrimLocked();
}

NewFiles::Pending NewFiles::Inserted(std::string_view prefix, uint32_t block) {
  const size_t stripe = StripeOf(prefix);
  pending_[stripe].fetch_add(1);
  inserts_[stripe].fetch_add(1);
  Pending token(this, stripe);
  std::lock_guard<std::mutex> lock(mu_);
  auto found = where_.find(prefix);
  if (found == where_.end()) return token;
  File& file = *found->second;
  if (!file.is_new) return token;
  if (blocks_ >= max_blocks_) {
    MakeOldLocked(file);
    return token;
  }
  if (file.inserted.insert(block).second) ++blocks_;
  return token;
}

size_t NewFiles::files() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lru_.size();
}

size_t NewFiles::blocks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return blocks_;
}

}  // namespace hoardfs
