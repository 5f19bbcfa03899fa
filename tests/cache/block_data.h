// Deterministic block contents for cache tests: the bytes of (path, version, block) are a
// pseudo-random stream seeded by them, so any reader can check what it got without a copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/hash.h"

namespace hoardfs::testing {

// Deterministic bytes that differ from block to block and from seed to seed, so a read from the
// wrong offset, block or file never compares equal by accident.
inline std::string Contents(uint64_t seed, size_t size) {
  std::string s(size, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < size; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    s[i] = static_cast<char>(x >> 56);
  }
  return s;
}

inline std::vector<std::byte> BlockBytes(const std::string& path, uint64_t version,
                                         uint32_t block, size_t size) {
  std::vector<std::byte> out(size);
  uint64_t state = Hash64(path) ^ Mix64(version) ^ (uint64_t{block} * 0x9E3779B97F4A7C15ULL);
  for (size_t i = 0; i < size; i += 8) {
    state += 0x9E3779B97F4A7C15ULL;
    const uint64_t v = Mix64(state);
    for (size_t j = 0; j < 8 && i + j < size; ++j) out[i + j] = static_cast<std::byte>(v >> (8 * j));
  }
  return out;
}

}  // namespace hoardfs::testing
