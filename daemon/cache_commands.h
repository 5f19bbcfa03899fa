// `hoardfs cache ...`: administration of a block cache directory from the command line, without
// a running daemon (the cache directory is locked while one runs; later issues route the same
// operations through the daemon's control socket).
//
//   hoardfs cache stats  --cache-dir D            JSON: capacity, usage, counters, recovery
//   hoardfs cache usage  --cache-dir D            bytes held per dataset
//   hoardfs cache verify --cache-dir D [--repair] read back and check every block (fsck)
//   hoardfs cache import --cache-dir D FILE --as /path [--version V]   put a local file's blocks
//   hoardfs cache cat    --cache-dir D /path --version V              write cached bytes to stdout
//   hoardfs cache evict|pin|unpin --cache-dir D PREFIX
//   hoardfs cache resize --cache-dir D SIZE
//
// Thread-safety: not applicable (one command per process).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hoardfs {

struct CacheCommandArgs {
  std::string command;  // stats, usage, verify, import, cat, evict, pin, unpin, pins, resize
  std::string cache_dir;
  std::string cache_size = "1G";
  std::string block_size = "1M";
  uint32_t remote_id = 0;
  unsigned dataset_depth = 3;
  std::vector<std::string> dataset_prefixes;
  bool repair = false;
  std::string local_file;   // import
  std::string path;         // import --as, cat, evict, pin, unpin
  std::string version;      // import (default "<size>-<mtime>"), cat
  std::string size;         // resize
};

// Runs one command; prints results to stdout and one-line errors to stderr. Returns the exit code.
int RunCacheCommand(const CacheCommandArgs& args);

}  // namespace hoardfs
