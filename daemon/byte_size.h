// Byte sizes as admins write them: "500G", "64MiB", "1.5T", "4096". Binary units (K = 1024);
// "B" and "iB" suffixes accepted. Used for --cache-size and friends.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace hoardfs {

// kInvalidArgument with the offending text for anything else (negative, empty, overflow, "12X").
Result<uint64_t> ParseByteSize(std::string_view text);
// 1536 -> "1.5 KiB"; exact values print without decimals ("1 GiB").
std::string FormatByteSize(uint64_t bytes);

}  // namespace hoardfs
