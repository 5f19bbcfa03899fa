// CRC32C (Castagnoli, the iSCSI polynomial 0x1EDC6F41, RFC 3720 appendix B.4), computed by
// ISA-L's crc32_iscsi, which picks the fastest kernel for the CPU at run time (PCLMULQDQ folding
// where present). Check value: Crc32c("123456789") == 0xE3069283.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace hoardfs {

// CRC32C of `data`, continuing from `crc` (the CRC of the bytes before; 0 for none).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);

inline uint32_t Crc32c(const void* data, size_t size) { return Crc32cExtend(0, data, size); }
inline uint32_t Crc32c(std::span<const std::byte> data) { return Crc32c(data.data(), data.size()); }

}  // namespace hoardfs
