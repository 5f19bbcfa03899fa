// memo_footprint: the resident memory of the block index's memo (cache/block_entry_memo.h) when
// full. Applies N block keys of one file (a path of typical length) to a memo of the default
// capacity and prints the keys it holds and the growth of the process's resident set
// (/proc/self/statm) over the run.
//
//   memo_footprint [KEYS]   (default 200000: well past the default capacity, so the memo is full)
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "cache/block_cache.h"
#include "cache/block_entry_memo.h"
#include "cache/block_key.h"

namespace {

long ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * 4096;
}

}  // namespace

int main(int argc, char** argv) {
  const unsigned long keys = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 200000;
  const long before = ResidentBytes();
  hoardfs::BlockEntryMemo memo(hoardfs::BlockCacheOptions{}.index_memo_keys);
  std::string key = hoardfs::BlockKey({1, "/store/data/run2024/nano/file_0001.root", 7}, 0);
  for (unsigned long b = 0; b < keys; ++b) {
    hoardfs::SetBlockIndex(&key, static_cast<uint32_t>(b));
    hoardfs::BlockEntry entry;
    entry.slot = static_cast<uint32_t>(b);
    memo.Apply(key, entry);
  }
  const double mib = static_cast<double>(ResidentBytes() - before) / (1 << 20);
  std::printf("key_bytes=%zu keys=%zu capacity=%zu resident_growth_mib=%.1f bytes_per_key=%.0f\n",
              key.size(), memo.size(), memo.capacity(), mib,
              memo.size() > 0 ? mib * (1 << 20) / static_cast<double>(memo.size()) : 0.0);
  return 0;
}
