// Helpers shared by the BlockCache tests: a small cache in a test directory, deterministic blocks
// (tests/cache/block_data.h) put into it, and a byte flipped behind the cache's back.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "cache/block_cache.h"
#include "tests/cache/block_data.h"

namespace hoardfs::testing {

// A cache of `blocks` full blocks of `block_size` bytes in `dir`: small data files, no free-space
// floor, small RocksDB memory.
inline BlockCacheOptions SmallCacheOptions(const std::string& dir, uint64_t blocks,
                                           uint32_t block_size) {
  BlockCacheOptions o;
  o.dir = dir;
  o.block_size = block_size;
  o.capacity_bytes = blocks * block_size;
  o.slots_per_file = 64;
  o.grow_step_slots = 16;
  o.free_space_floor_bytes = 0;
  o.dataset_depth = 2;
  o.index_block_cache_bytes = 4 << 20;
  o.index_write_buffer_bytes = 4 << 20;
  return o;
}

// Opens the cache and waits until it admits inserts; nullptr (and a test failure) on error.
inline std::unique_ptr<BlockCache> OpenCacheOrDie(const BlockCacheOptions& o) {
  auto r = BlockCache::Open(o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return nullptr;
  EXPECT_TRUE((*r)->WaitUntilReady().ok());
  return std::move(r).value();
}

// Queues block `block` of `f` with its deterministic bytes (BlockBytes).
inline void PutBlock(BlockCache& c, const FileKey& f, uint32_t block, size_t size) {
  auto bytes = BlockBytes(f.path, f.version_hash, block, size);
  ASSERT_TRUE(c.Insert(f, block, bytes).ok());
}

// Flips one byte of full-size slot `slot` in the first data file of a cache of `block_size`.
inline void CorruptSlotByte(const std::string& cache_dir, uint32_t block_size, uint32_t slot,
                            uint64_t offset_in_block) {
  const std::string path = cache_dir + "/data/" + BlockStore::FileName(block_size, 0);
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << path;
  const off_t off = static_cast<off_t>(uint64_t{slot} * block_size + offset_in_block);
  unsigned char c = 0;
  ASSERT_EQ(::pread(fd, &c, 1, off), 1);
  c ^= 0x5A;
  ASSERT_EQ(::pwrite(fd, &c, 1, off), 1);
  ::fsync(fd);
  ::close(fd);
}

}  // namespace hoardfs::testing
