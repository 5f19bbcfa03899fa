// Hash64: a stable 64-bit hash of bytes (FNV-1a, then the splitmix64 finaliser for avalanche).
// Stable across builds and machines, so it may be persisted (version hashes in cache keys).
// Not cryptographic. Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

namespace hoardfs {

constexpr uint64_t Mix64(uint64_t x) {
  // splitmix64 finaliser (Steele, Lea, Flood: "Fast splittable pseudorandom number generators").
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

constexpr uint64_t Hash64(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64 offset basis
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;  // FNV prime
  }
  return Mix64(h);
}

}  // namespace hoardfs
