#include "cache/block_checksum.h"

#include <algorithm>
#include <bit>

#include "common/crc32c.h"

namespace hoardfs {

static_assert(std::endian::native == std::endian::little,
              "chunk records are stored as little-endian u32s");

void ComputeChunkRecord(std::span<const std::byte> data, std::vector<uint32_t>* record) {
  const auto length = static_cast<uint32_t>(data.size());
  record->resize(ChunkCount(length));
  for (uint32_t c = 0; c < record->size(); ++c) {
    const uint32_t from = c * kChunkSize;
    (*record)[c] = Crc32c(data.data() + from, std::min(kChunkSize, length - from));
  }
}

uint32_t RecordChecksum(std::span<const uint32_t> record) {
  return Crc32c(record.data(), record.size_bytes());
}

uint32_t BlockChecksum(std::span<const std::byte> data, bool chunked,
                       std::vector<uint32_t>* record) {
  if (!chunked) return Crc32c(data);
  std::vector<uint32_t> local;
  std::vector<uint32_t>* r = record != nullptr ? record : &local;
  ComputeChunkRecord(data, r);
  return RecordChecksum(*r);
}

}  // namespace hoardfs
