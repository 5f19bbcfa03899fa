#include "cache/block_entry.h"

#include <cstring>

namespace hoardfs {
namespace {

void Put32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void Put64(char* p, uint64_t v) {
  Put32(p, static_cast<uint32_t>(v));
  Put32(p + 4, static_cast<uint32_t>(v >> 32));
}
uint32_t Get32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return uint32_t{u[0]} | (uint32_t{u[1]} << 8) | (uint32_t{u[2]} << 16) | (uint32_t{u[3]} << 24);
}
uint64_t Get64(const char* p) { return uint64_t{Get32(p)} | (uint64_t{Get32(p + 4)} << 32); }

}  // namespace

std::string BlockEntry::Encode() const {
  std::string out(kEncodedSize, '\0');
  char* p = out.data();
  Put32(p, slot);
  Put32(p + 4, length);
  Put32(p + 8, crc);
  Put32(p + 12, generation);
  Put64(p + 16, sequence);
  p[24] = static_cast<char>(flags);
  return out;
}

std::optional<BlockEntry> BlockEntry::Decode(std::string_view value) {
  if (value.size() != kEncodedSize) return std::nullopt;
  const char* p = value.data();
  BlockEntry e;
  e.slot = Get32(p);
  e.length = Get32(p + 4);
  e.crc = Get32(p + 8);
  e.generation = Get32(p + 12);
  e.sequence = Get64(p + 16);
  e.flags = static_cast<uint8_t>(p[24]);
  if (e.length == 0) return std::nullopt;
  return e;
}

}  // namespace hoardfs
