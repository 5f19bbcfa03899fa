// BlockEntry: the value stored for each cached block in the index. Fixed 25-byte little-endian
// encoding (docs/cache-format.md):
//
//   slot u32 | length u32 | crc32c u32 | generation u32 | insert sequence u64 | flags u8
//
// `generation` ties the entry to one occupancy of its slot: the in-memory slot table holds the
// current generation of each slot, and a reader only trusts bytes whose entry generation matches
// (a slot freed and reused between lookup and read is a miss, never someone else's bytes).
// `sequence` orders inserts so the eviction queues can be rebuilt at restart in FIFO order.
// Thread-safety: values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hoardfs {

struct BlockEntry {
  static constexpr uint8_t kFlagInMain = 1;  // admitted straight to the main queue (ghost hit)
  // `crc` is the CRC32C of the block's chunk record, not of its bytes (cache/block_checksum.h);
  // without it the entry predates chunk records and the block is always read whole.
  static constexpr uint8_t kFlagChunkSums = 2;

  uint32_t slot = 0;
  uint32_t length = 0;      // bytes of data in the block (the last block of a file is short)
  uint32_t crc = 0;         // BlockChecksum() of the `length` data bytes (see the flags)
  uint32_t generation = 0;  // slot generation at allocation
  uint64_t sequence = 0;    // global insert order
  uint8_t flags = 0;

  static constexpr size_t kEncodedSize = 4 + 4 + 4 + 4 + 8 + 1;

  std::string Encode() const;
  // nullopt if `value` is not exactly one encoded entry.
  static std::optional<BlockEntry> Decode(std::string_view value);
};

}  // namespace hoardfs
