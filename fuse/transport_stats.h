// TransportStats: how the kernel's requests reached the daemon, for the mount's stats
// (user.hoardfs.stats): over /dev/fuse only, or over FUSE-over-io_uring (fuse/uring_transport.h),
// and there how many reads the rings served on their own threads.
//
// Thread-safety: relaxed atomics, as ReadSizes: each counter is exact once requests are done.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace hoardfs {

struct TransportStats {
  std::atomic<bool> io_uring{false};         // the kernel took the rings (all queues registered)
  std::atomic<uint64_t> ring_requests{0};    // requests that came by a ring
  std::atomic<uint64_t> ring_fast_reads{0};  // ... reads served on the queue's thread
  std::atomic<uint64_t> ring_fast_fallbacks{0};  // ... planned so, then missed: to a worker
  std::atomic<uint64_t> ring_memory_reads{0};    // ... from the fetcher's memory, on the thread

  // "fuse_transport":"io_uring"|"dev","fuse_ring_requests":N,... (members of an enclosing
  // JSON object, no braces around them).
  std::string JsonMembers() const {
    auto n = [](const std::atomic<uint64_t>& c) {
      return std::to_string(c.load(std::memory_order_relaxed));
    };
    return std::string("\"fuse_transport\":\"") + (io_uring.load() ? "io_uring" : "dev") +
           "\",\"fuse_ring_requests\":" + n(ring_requests) +
           ",\"fuse_ring_fast_reads\":" + n(ring_fast_reads) +
           ",\"fuse_ring_fast_fallbacks\":" + n(ring_fast_fallbacks) +
           ",\"fuse_ring_memory_reads\":" + n(ring_memory_reads);
  }
};

}  // namespace hoardfs
