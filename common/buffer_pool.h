// BufferPool: reusable large byte buffers mapped with mmap(2), so that memory given back is
// really returned to the kernel. (Freed malloc blocks of a few MiB stay in glibc's arenas once its
// dynamic mmap threshold has risen past their size; a fresh mapping per buffer instead costs one
// page fault per page on every use.)
//
//   Get(length): a buffer of at least `length` bytes, shared: it goes back to the pool when the
//   last shared_ptr to it (aliasing ones included) is released. Its capacity is `length` rounded
//   up to the granule, or an idle buffer's of up to twice that (the smallest one idle). A
//   released buffer is kept idle, for a later Get(), while the pool's idle bytes stay within
//   max_idle_bytes; otherwise it is unmapped at once. (Remote reads of many sizes at once, as 64
//   concurrent readers cut their windows to the memory budget, found an idle buffer of their
//   exact capacity for 70 % of reads; each of the others mapped, and zeroed, a fresh one.)
//   Lengths below min_pooled_bytes get a heap buffer of their own size (not pooled).
//   Bytes are not initialized: a reused buffer holds what its last user wrote. A new mapping is
//   populated at once: its user is about to fill it. One of kHugePageSize or more starts on a
//   huge-page boundary and is advised MADV_HUGEPAGE first, so that it is backed by transparent
//   huge pages where the kernel allows them (a few faults per buffer instead of one per page).
//
// Lifetime: every buffer holds a reference to its pool, so the pool outlives the buffers it
// handed out, whoever releases them last. Create() is the only constructor for that reason.
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "common/huge_pages.h"

namespace hoardfs {

struct BufferPoolOptions {
  size_t granule = 1u << 20;             // capacities are multiples of this (and of the page)
  size_t max_idle_bytes = 32ull << 20;   // released buffers kept for reuse, all capacities
  size_t min_pooled_bytes = 256u << 10;  // shorter lengths come from the heap
};

struct BufferPoolStats {
  uint64_t gets = 0;    // pooled Get() calls (heap ones not counted)
  uint64_t reuses = 0;  // ... served by an idle buffer
  uint64_t maps = 0, unmaps = 0;
  size_t idle_bytes = 0;    // mapped, not in use
  size_t in_use_bytes = 0;  // mapped, handed out and not yet released
};

class BufferPool : public std::enable_shared_from_this<BufferPool> {
 public:
  static std::shared_ptr<BufferPool> Create(const BufferPoolOptions& options);
  ~BufferPool();  // unmaps the idle buffers (none is in use: each holds a reference)
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // A buffer of Capacity(length) bytes, page-aligned when pooled. Throws std::bad_alloc when the
  // memory cannot be mapped (caught at thread entries, style rule 4).
  std::shared_ptr<std::byte[]> Get(size_t length);

  // The capacity Get(length) maps when no idle buffer fits (an idle one may be up to twice it).
  size_t Capacity(size_t length) const;

  BufferPoolStats Stats() const;

 private:
  explicit BufferPool(const BufferPoolOptions& options);
  // Takes back a buffer of `capacity` bytes from Get(): kept idle or unmapped.
  void Put(std::byte* data, size_t capacity);

  const BufferPoolOptions options_;
  mutable std::mutex mu_;
  // Idle buffers by capacity (no empty lists), most recently released last (still in the CPU
  // caches).
  std::map<size_t, std::vector<std::byte*>> idle_;            // GUARDED_BY(mu_)
  BufferPoolStats stats_;                                     // GUARDED_BY(mu_)
};

}  // namespace hoardfs
