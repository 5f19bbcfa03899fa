#include "common/huge_pages.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace hoardfs {

void* MapHugePageAligned(size_t capacity) {
  // Map a huge page more than asked and trim both ends to the first boundary inside.
  const size_t span = capacity + kHugePageSize;
  void* raw = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  auto* base = static_cast<std::byte*>(raw);
  const auto raw_at = reinterpret_cast<uintptr_t>(raw);
  const size_t head = (kHugePageSize - raw_at % kHugePageSize) % kHugePageSize;
  if (head > 0) ::munmap(base, head);
  std::byte* p = base + head;
  if (span - head > capacity) ::munmap(p + capacity, span - head - capacity);
  (void)::madvise(p, capacity, MADV_HUGEPAGE);  // EINVAL where THP is compiled out: fine
  return p;
}

bool PopulateWritable(void* p, size_t capacity) {
  if (::madvise(p, capacity, MADV_POPULATE_WRITE) == 0) return true;
  if (errno != EINVAL) return false;  // out of memory
  // A kernel before 5.14: populate by touching each page.
  static const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  auto* bytes = static_cast<volatile std::byte*>(p);
  for (size_t off = 0; off < capacity; off += page) bytes[off] = std::byte{0};
  return true;
}

}  // namespace hoardfs
