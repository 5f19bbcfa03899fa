// Block checksums (cache format v2, entries with BlockEntry::kFlagChunkSums).
//
// A block is checksummed in chunks of kChunkSize bytes (the last one may be short): its chunk
// record is the CRC32C of each chunk, and the entry's `crc` is the CRC32C of that record (its
// little-endian u32s). A whole-block read recomputes the record from the bytes and checks it
// against the entry (one CRC pass, as before); a partial read checks a stored record against the
// entry, then only the chunks it read against the record (cache/chunk_sums.h).
// Entries without the flag (written before chunk records existed) carry the CRC32C of the whole
// block and are always read whole.
//
// Why 16 KiB: on this machine kind's NVMe, random O_DIRECT reads of 16 KiB reach 0.91x the IOPS
// of 4 KiB reads at queue depth 16 (80k vs 88k) while 64 KiB reach 0.32x (fio, docs/cache.md), so
// a 4 KiB application read costs about what it would on a local file; the record of a 1 MiB block
// is 256 bytes.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace hoardfs {

inline constexpr uint32_t kChunkSize = 16384;

constexpr uint32_t ChunkCount(uint32_t length) { return (length + kChunkSize - 1) / kChunkSize; }

// The chunk record of `data` (ChunkCount(data.size()) CRCs), into `record` (resized).
void ComputeChunkRecord(std::span<const std::byte> data, std::vector<uint32_t>* record);

// CRC32C of a chunk record: the `crc` of an entry with kFlagChunkSums.
uint32_t RecordChecksum(std::span<const uint32_t> record);

// The checksum an entry holds for `data`: RecordChecksum of its chunk record when `chunked`, the
// CRC32C of the whole block otherwise. `record`, if given, receives the chunk record (chunked).
uint32_t BlockChecksum(std::span<const std::byte> data, bool chunked,
                       std::vector<uint32_t>* record = nullptr);

}  // namespace hoardfs
