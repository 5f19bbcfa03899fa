#include "common/aligned_buffer_pool.h"

#include <sys/mman.h>

#include "common/huge_pages.h"

namespace hoardfs {

AlignedBufferPool::AlignedBufferPool(size_t block_size, size_t slab_blocks,
                                     size_t max_kept_small_bytes)
    : block_capacity_(AlignUp(block_size == 0 ? 1 : block_size)),
      slab_blocks_(slab_blocks),
      max_kept_small_bytes_(max_kept_small_bytes) {}

AlignedBufferPool::~AlignedBufferPool() {
  idle_blocks_.clear();
  if (slab_ != nullptr) ::munmap(slab_, slab_blocks_ * block_capacity_);
}

size_t AlignedBufferPool::Capacity(size_t length) const {
  return length >= block_capacity_ / 2 ? block_capacity_ : AlignUp(length == 0 ? 1 : length);
}

bool AlignedBufferPool::InSlab(const std::byte* p) const {
  return slab_ != nullptr && p >= slab_ && p < slab_ + slab_blocks_ * block_capacity_;
}

AlignedBuffer AlignedBufferPool::TakeFreshFromSlab() {
  if (slab_handed_out_ == slab_blocks_ || slab_unavailable_) return {};
  if (slab_ == nullptr) {
    slab_ = static_cast<std::byte*>(MapHugePageAligned(slab_blocks_ * block_capacity_));
    if (slab_ == nullptr) {
      slab_unavailable_ = true;
      return {};
    }
  }
  return AlignedBuffer::Borrow(slab_ + slab_handed_out_++ * block_capacity_, block_capacity_);
}

AlignedBuffer AlignedBufferPool::Get(size_t length) {
  const size_t capacity = Capacity(length);
  AlignedBuffer b;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (capacity == block_capacity_) {
      if (!idle_blocks_.empty()) {
        b = std::move(idle_blocks_.back());
        idle_blocks_.pop_back();
      } else {
        b = TakeFreshFromSlab();
        if (b.data() == nullptr) ++heap_block_allocs_;
      }
    } else if (auto it = idle_small_.find(capacity);
               it != idle_small_.end() && !it->second.empty()) {
      b = std::move(it->second.back());
      it->second.pop_back();
      idle_small_bytes_ -= capacity;
    }
  }
  if (b.data() == nullptr) b = AlignedBuffer(capacity);
  b.set_size(length);
  return b;
}

void AlignedBufferPool::Put(AlignedBuffer buffer) {
  const size_t capacity = buffer.capacity();
  if (buffer.data() == nullptr || capacity > block_capacity_) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (capacity == block_capacity_) {
    if (buffer.borrowed() ? InSlab(buffer.data())
                          : slab_ == nullptr && idle_blocks_.size() < slab_blocks_) {
      idle_blocks_.push_back(std::move(buffer));
    }
  } else if (idle_small_bytes_ + capacity <= max_kept_small_bytes_) {
    idle_small_bytes_ += capacity;
    idle_small_[capacity].push_back(std::move(buffer));
  }
}  // a buffer not kept is freed as the parameter dies, after the lock is released

AlignedBufferPoolStats AlignedBufferPool::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  AlignedBufferPoolStats s;
  s.slab_bytes = slab_ == nullptr ? 0 : slab_blocks_ * block_capacity_;
  s.slab_handed_out = slab_handed_out_;
  for (const AlignedBuffer& b : idle_blocks_) s.idle_slab_buffers += b.borrowed() ? 1 : 0;
  s.heap_block_allocs = heap_block_allocs_;
  return s;
}

}  // namespace hoardfs
