#include "common/crc32c.h"

#include <isa-l/crc.h>

#include <climits>

namespace hoardfs {

uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size) {
  // crc32_iscsi keeps the register un-inverted; the standard CRC32C inverts on entry and exit.
  auto* p = static_cast<unsigned char*>(const_cast<void*>(data));
  uint32_t reg = ~crc;
  while (size > 0) {  // ISA-L takes an int length
    const int chunk = size > static_cast<size_t>(INT_MAX / 2) ? INT_MAX / 2 : static_cast<int>(size);
    reg = crc32_iscsi(p, chunk, reg);
    p += chunk;
    size -= static_cast<size_t>(chunk);
  }
  return ~reg;
}

}  // namespace hoardfs
