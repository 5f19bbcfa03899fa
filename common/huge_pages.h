// Anonymous memory backed by transparent huge pages where the kernel allows them.
//
//   MapHugePageAligned(capacity): maps `capacity` bytes (a multiple of the page size) read-write,
//   starting on a kHugePageSize boundary, advised MADV_HUGEPAGE, not populated: each 2 MiB
//   huge page is faulted in whole on its first touch (one fault instead of 512 where THP is
//   "always" or "madvise", Debian's default; page by page where it is "never"). Returns nullptr
//   when the address space or memory is exhausted. Release with ::munmap(p, capacity).
//   PopulateWritable(p, capacity): faults in the whole range now (MADV_POPULATE_WRITE, or a
//   touch per page on a kernel before 5.14); false when out of memory.
//
// Why: a page fault costs ~14 us in the VMs we run on (bench/page_fault_cost); a buffer of
// several MiB filled once per read paid hundreds of them (docs/benchmarks.md, "huge pages").
// Thread-safety: plain functions, no state.
#pragma once

#include <cstddef>

namespace hoardfs {

// The x86-64 / arm64 (4 KiB pages) PMD size.
inline constexpr size_t kHugePageSize = size_t{2} << 20;

void* MapHugePageAligned(size_t capacity);
bool PopulateWritable(void* p, size_t capacity);

}  // namespace hoardfs
