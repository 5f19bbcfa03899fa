// AlignedBufferPool: reusable AlignedBuffers for the block cache's reads and inserts, so that
// neither maps or faults in fresh memory per block (a page fault costs ~14 us in the VMs we run
// on, and glibc trims and regrows its heaps under a churn of 16 KiB piece copies: ~20 faults per
// sparse read were such copies).
//
//   Get(length): a buffer with size() == length, bytes not initialized. Lengths of at least half
//   a block get a block buffer (capacity: the block size, aligned); shorter ones a small buffer
//   of their own aligned capacity.
//   Put(buffer): gives a buffer from Get() back. Block buffers of the slab are always kept; small
//   ones while the idle small bytes stay within max_kept_small_bytes; the rest are freed.
//
// Block buffers come from a slab of `slab_blocks` of them, mapped on the first Get() of one, on
// a huge-page boundary and advised MADV_HUGEPAGE (common/huge_pages.h), and handed out as
// borrowed views (AlignedBuffer::Borrow) in address order: a 2 MiB huge page serves two 1 MiB
// blocks and is faulted in once, instead of 512 faults per block buffer. (A fresh daemon's first
// warm 512 MiB read faulted in 64 MiB of heap block buffers: ~16,500 faults, 0.39 s of CPU.)
// The slab is never shrunk: its touched pages stay resident, as the kept buffers did before.
// When the slab is all in use (or could not be mapped), block buffers come from the heap and are
// freed on Put (kept, up to slab_blocks, only when there is no slab).
//
// Lifetime: the pool must outlive the slab buffers it hands out (a CachedBlock's recycler holds
// a shared_ptr to it); a buffer destroyed without Put() is only lost to the pool, never freed.
// Thread-safety: Get() and Put() may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "common/aligned_buffer.h"

namespace hoardfs {

struct AlignedBufferPoolStats {
  size_t slab_bytes = 0;           // mapped for the slab (0 until the first block buffer)
  size_t slab_handed_out = 0;      // slab buffers handed out at least once (touched)
  size_t idle_slab_buffers = 0;    // slab buffers given back, waiting for a Get()
  uint64_t heap_block_allocs = 0;  // block buffers that came from the heap
};

class AlignedBufferPool {
 public:
  AlignedBufferPool(size_t block_size, size_t slab_blocks, size_t max_kept_small_bytes);
  ~AlignedBufferPool();  // unmaps the slab
  AlignedBufferPool(const AlignedBufferPool&) = delete;
  AlignedBufferPool& operator=(const AlignedBufferPool&) = delete;

  // Throws std::bad_alloc when a heap buffer cannot be allocated (caught at thread entries).
  AlignedBuffer Get(size_t length);
  void Put(AlignedBuffer buffer);

  AlignedBufferPoolStats Stats() const;

 private:
  size_t Capacity(size_t length) const;
  // A slab buffer never handed out before, mapping the slab first if need be; an empty buffer
  // when all were handed out or the slab cannot be mapped.
  AlignedBuffer TakeFreshFromSlab();  // REQUIRES(mu_)
  bool InSlab(const std::byte* p) const;

  const size_t block_capacity_;
  const size_t slab_blocks_;
  const size_t max_kept_small_bytes_;
  mutable std::mutex mu_;
  std::byte* slab_ = nullptr;               // GUARDED_BY(mu_): slab_blocks_ block buffers
  bool slab_unavailable_ = false;           // GUARDED_BY(mu_): the mapping failed
  size_t slab_handed_out_ = 0;              // GUARDED_BY(mu_)
  std::vector<AlignedBuffer> idle_blocks_;  // GUARDED_BY(mu_): most recently given back last
  uint64_t heap_block_allocs_ = 0;          // GUARDED_BY(mu_)
  std::unordered_map<size_t, std::vector<AlignedBuffer>> idle_small_;  // GUARDED_BY(mu_)
  size_t idle_small_bytes_ = 0;                                        // GUARDED_BY(mu_)
};

}  // namespace hoardfs
