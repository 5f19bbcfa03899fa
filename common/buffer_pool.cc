#include "common/buffer_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <new>

namespace hoardfs {
namespace {

size_t PageSize() {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

size_t RoundUp(size_t n, size_t to) { return (n + to - 1) / to * to; }

// Maps `capacity` bytes, populated. Buffers of a huge page or more start on a huge-page boundary
// and are advised MADV_HUGEPAGE before they are populated, so that where transparent huge pages
// are enabled (even "madvise" only, Debian's default) a multi-MiB read buffer costs a few 2 MiB
// faults instead of one per 4 KiB page: a cold 512 MiB read over http:// took ~27,000 faults and
// 1.0 s with 4 KiB pages, ~3,500 and 0.7 s with huge pages (docs/benchmarks.md). Where THP is
// off, the advice is refused and the buffer is populated page by page as before.
void* MapPopulated(size_t capacity) {
  if (capacity < kHugePageSize) {
    return ::mmap(nullptr, capacity, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  }
  void* p = MapHugePageAligned(capacity);
  if (p == nullptr) return MAP_FAILED;
  if (!PopulateWritable(p, capacity)) {
    ::munmap(p, capacity);
    return MAP_FAILED;
  }
  return p;
}

}  // namespace

std::shared_ptr<BufferPool> BufferPool::Create(const BufferPoolOptions& options) {
  return std::shared_ptr<BufferPool>(new BufferPool(options));
}

BufferPool::BufferPool(const BufferPoolOptions& options)
    : options_([&] {
        BufferPoolOptions o = options;
        o.granule = RoundUp(std::max<size_t>(o.granule, 1), PageSize());
        return o;
      }()) {}

BufferPool::~BufferPool() {
  for (auto& [capacity, buffers] : idle_) {
    for (std::byte* b : buffers) ::munmap(b, capacity);
  }
}

size_t BufferPool::Capacity(size_t length) const {
  if (length < options_.min_pooled_bytes) return length;
  return RoundUp(std::max<size_t>(length, 1), options_.granule);
}

std::shared_ptr<std::byte[]> BufferPool::Get(size_t length) {
  if (length < options_.min_pooled_bytes)
    return std::make_shared_for_overwrite<std::byte[]>(length);
  size_t capacity = Capacity(length);
  std::byte* data = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.gets++;
    // The smallest idle buffer that holds `length`, if it is not much larger.
    if (auto it = idle_.lower_bound(capacity); it != idle_.end() && it->first <= 2 * capacity) {
      capacity = it->first;
      data = it->second.back();
      it->second.pop_back();
      if (it->second.empty()) idle_.erase(it);
      stats_.idle_bytes -= capacity;
      stats_.reuses++;
    } else {
      stats_.maps++;
    }
    stats_.in_use_bytes += capacity;
  }
  if (data == nullptr) {
    // Populated now: the caller fills the buffer at once, and a fault per page costs more (above
    // all in a VM) than the kernel's one pass.
    void* p = MapPopulated(capacity);
    if (p == MAP_FAILED) {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.in_use_bytes -= capacity;
      throw std::bad_alloc();
    }
    data = static_cast<std::byte*>(p);
  }
  // The deleter holds the pool: it runs Put() even if the control block cannot be allocated.
  return std::shared_ptr<std::byte[]>(
      data, [pool = shared_from_this(), capacity](std::byte* b) { pool->Put(b, capacity); });
}

void BufferPool::Put(std::byte* data, size_t capacity) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.in_use_bytes -= capacity;
    if (stats_.idle_bytes + capacity <= options_.max_idle_bytes) {
      idle_[capacity].push_back(data);
      stats_.idle_bytes += capacity;
      return;
    }
    stats_.unmaps++;
  }
  ::munmap(data, capacity);
}

BufferPoolStats BufferPool::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace hoardfs
