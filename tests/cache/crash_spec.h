// The key space shared by crash_child (which writes it) and crash_test (which checks it): the
// files, versions and block lengths the child may insert, and the cache options it uses.
// "mixed" has many one-block files of every size class (cache format v2) next to big ones.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/hash.h"

namespace hoardfs::crash {

struct CrashFile {
  std::string path;
  uint32_t blocks[2];  // blocks of version kVersions[0] / kVersions[1]
  uint32_t tail[2];    // bytes in the last block (block_size = full)
};
constexpr uint64_t kVersions[2] = {1001, 2002};

struct CrashSpec {
  uint32_t block_size;
  uint64_t capacity_blocks;  // at open
  uint64_t min_capacity_blocks;
  uint64_t max_capacity_blocks;  // the largest limit the child ever sets
  uint64_t slots_per_file;
  uint64_t grow_step_slots;
  size_t max_insert_batch_bytes;
  size_t max_pending_insert_bytes;
  uint32_t max_run;  // longest run of consecutive blocks inserted at once
  std::vector<CrashFile> files;
};

CrashSpec SmallSpec() {
  constexpr uint32_t kB = 64 * 1024;
  return {kB,
          48,
          24,
          64,
          16,
          8,
          8 * kB,
          32 * kB,
          12,
          {{"/store/run1/a.root", {40, 37}, {kB, 1234}},
           {"/store/run1/b.root", {40, 40}, {1, kB - 1}},
           {"/store/run2/c.root", {33, 40}, {4096, 40000}},
           {"/store/run2/d.root", {40, 21}, {kB - 4096, kB}},
           {"/user/x/e.root", {40, 40}, {77, 5000}},
           {"/user/y/f.root", {1, 40}, {100, 61440}}}};
}

CrashSpec LargeSpec() {
  constexpr uint32_t kB = 1024 * 1024;
  return {kB,
          48,
          32,
          80,
          16,
          8,
          16 * kB,
          64 * kB,
          24,
          {{"/store/big/a.root", {24, 20}, {kB, 300000}},
           {"/store/big/b.root", {24, 24}, {12345, kB - 4096}},
           {"/data/set1/c.root", {17, 24}, {1, kB}},
           {"/data/set2/d.root", {24, 9}, {700000, 65536}}}};
}

// 64 KiB blocks (classes 64K..4K) and a limit of 12..32 blocks: 48 one-block files whose lengths
// cover every class (1 byte .. 64 KiB, both versions differ), plus three multi-block files with
// short tails, so small and full-size blocks evict each other all the time.
CrashSpec MixedSpec() {
  constexpr uint32_t kB = 64 * 1024;
  CrashSpec s{kB, 20, 12, 32, 16, 2, 8 * kB, 32 * kB, 6, {}};
  const uint32_t lengths[] = {1,     100,   4095,  4096,  4097,  8192,  9000,  16384,
                              16385, 30000, 32768, 32769, 50000, 65535, 65536, 2000};
  for (uint32_t i = 0; i < 48; ++i) {
    const uint32_t a = lengths[i % 16];
    const uint32_t b = lengths[(i * 7 + 3) % 16];
    s.files.push_back(
        {"/small/d" + std::to_string(i % 4) + "/s" + std::to_string(i) + ".root", {1, 1}, {a, b}});
  }
  s.files.push_back({"/big/run1/a.root", {12, 9}, {kB, 4096}});
  s.files.push_back({"/big/run1/b.root", {7, 12}, {33000, 1}});
  s.files.push_back({"/big/run2/c.root", {10, 10}, {12000, kB - 1}});
  return s;
}

uint64_t SpecFingerprint(const CrashSpec& s) {
  std::string t = std::to_string(s.block_size) + "/" + std::to_string(s.capacity_blocks) + "/" +
                  std::to_string(s.min_capacity_blocks) + "/" +
                  std::to_string(s.max_capacity_blocks) + "/" + std::to_string(kVersions[0]) + "/" +
                  std::to_string(kVersions[1]);
  for (const CrashFile& f : s.files) {
    t += ";" + f.path;
    for (int v = 0; v < 2; ++v)
      t += "," + std::to_string(f.blocks[v]) + "," + std::to_string(f.tail[v]);
  }
  return Hash64(t);
}

uint32_t BlockLength(const CrashSpec& s, const CrashFile& f, int v, uint32_t block) {
  return block + 1 == f.blocks[v] ? f.tail[v] : s.block_size;
}

}  // namespace hoardfs::crash
