#include "daemon/cache_commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cache/block_cache.h"
#include "common/hash.h"
#include "daemon/byte_size.h"

namespace hoardfs {
namespace {

int Fail(const Status& s) {
  std::cerr << "hoardfs: " << s.ToString() << "\n";
  return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

Result<BlockCacheOptions> MakeOptions(const CacheCommandArgs& a) {
  if (a.cache_dir.empty()) return Status::InvalidArgument("--cache-dir is required");
  BlockCacheOptions o;
  o.dir = a.cache_dir;
  HOARDFS_ASSIGN_OR_RETURN(o.capacity_bytes, ParseByteSize(a.cache_size));
  HOARDFS_ASSIGN_OR_RETURN(uint64_t bs, ParseByteSize(a.block_size));
  if (bs > (uint64_t{1} << 30)) return Status::InvalidArgument("--block-size is too large");
  o.block_size = static_cast<uint32_t>(bs);
  o.dataset_depth = a.dataset_depth;
  o.dataset_prefixes = a.dataset_prefixes;
  return o;
}

nlohmann::json StatsJson(BlockCache& c) {
  const BlockCacheStats s = c.Stats();
  const RecoveryReport r = c.Recovery();
  return {
      {"capacity_bytes", s.capacity_bytes},
      {"used_bytes", s.used_bytes},
      {"data_bytes", s.data_bytes},
      {"pinned_bytes", s.pinned_bytes},
      {"block_size", s.block_size},
      {"store_bytes", s.store_bytes},
      {"direct_io", s.direct_io},
      {"lookups", s.lookups},
      {"hits", s.hits},
      {"misses", s.misses},
      {"crc_failures", s.crc_failures},
      {"read_errors", s.read_errors},
      {"partial_reads", s.partial_reads},
      {"partial_read_bytes", s.partial_read_bytes},
      {"record_misses", s.record_misses},
      {"record_memo_hits", s.record_memo_hits},
      {"inserts", s.inserts},
      {"insert_bytes", s.insert_bytes},
      {"inserts_rejected", s.inserts_rejected},
      {"inserts_shared", s.inserts_shared},
      {"store_writes", s.store_writes},
      {"store_reads", s.store_reads},
      {"insert_waits", s.insert_waits},
      {"insert_wait_seconds", static_cast<double>(s.insert_wait_ns) / 1e9},
      {"pending_insert_bytes", s.pending_insert_bytes},
      {"evictions", s.evictions},
      {"index_disk_bytes", s.index_disk_bytes},
      {"index_memory_bytes", s.index_memory_bytes},
      {"index_memo_hits", s.index_memo_hits},
      {"index_memo_keys", s.index_memo_keys},
      {"recovery",
       {{"entries", r.entries},
        {"dropped_undecodable", r.dropped_undecodable},
        {"dropped_out_of_range", r.dropped_out_of_range},
        {"dropped_duplicate_slot", r.dropped_duplicate_slot},
        {"usage_repaired", r.usage_repaired},
        {"index_reset", r.index_reset},
        {"seconds", r.seconds}}},
  };
}

Status Import(BlockCache& c, const CacheCommandArgs& a, uint32_t block_size) {
  const int fd = ::open(a.local_file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open " + a.local_file);
  struct stat st {};
  ::fstat(fd, &st);
  const std::string version =
      a.version.empty() ? std::to_string(st.st_size) + "-" + std::to_string(st.st_mtime) : a.version;
  const std::string path = a.path.empty() ? "/" + std::string(::basename(a.local_file.c_str()))
                                          : a.path;
  FileKey key{a.remote_id, path, Hash64(version)};
  std::vector<std::byte> buf(block_size);
  uint64_t total = 0;
  Status status;
  for (uint32_t block = 0;; ++block) {
    size_t got = 0;
    while (got < buf.size()) {
      const ssize_t n = ::pread(fd, buf.data() + got, buf.size() - got,
                                static_cast<off_t>(uint64_t{block} * block_size + got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        status = Status::FromErrno(errno, "read " + a.local_file);
        break;
      }
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    if (!status.ok() || got == 0) break;
    status = c.Insert(key, block, std::span<const std::byte>(buf.data(), got));
    if (!status.ok()) break;
    total += got;
    if (got < buf.size()) break;
  }
  ::close(fd);
  HOARDFS_RETURN_IF_ERROR(status);
  HOARDFS_RETURN_IF_ERROR(c.Flush());
  std::cout << nlohmann::json{{"path", path}, {"version", version}, {"bytes", total}}.dump()
            << "\n";
  return Status::Ok();
}

Status Cat(BlockCache& c, const CacheCommandArgs& a, uint32_t block_size) {
  if (a.version.empty()) return Status::InvalidArgument("cat needs --version (import prints it)");
  FileKey key{a.remote_id, a.path, Hash64(a.version)};
  for (uint32_t block = 0;; ++block) {
    auto got = c.Read(key, std::span<const uint32_t>(&block, 1));
    if (!got[0]) {
      if (block == 0) return Status::NotFound(a.path + " (version " + a.version + ") is not cached");
      break;  // the file may end exactly at a block boundary
    }
    std::fwrite(got[0]->bytes().data(), 1, got[0]->size(), stdout);
    if (got[0]->size() < block_size) break;
  }
  std::fflush(stdout);
  return Status::Ok();
}

}  // namespace

int RunCacheCommand(const CacheCommandArgs& a) {
  auto options = MakeOptions(a);
  if (!options.ok()) return Fail(options.status());
  auto opened = BlockCache::Open(*options);
  if (!opened.ok()) return Fail(opened.status());
  BlockCache& c = **opened;
  if (Status s = c.WaitUntilReady(); !s.ok()) return Fail(s);

  Status status;
  if (a.command == "stats") {
    std::cout << StatsJson(c).dump(2) << "\n";
  } else if (a.command == "usage") {
    nlohmann::json out = nlohmann::json::array();
    for (const DatasetUsage& u : c.Usage()) {
      out.push_back({{"remote", u.remote_id}, {"prefix", u.prefix}, {"bytes", u.bytes},
                     {"blocks", u.blocks}, {"human", FormatByteSize(u.bytes)}});
    }
    std::cout << out.dump(2) << "\n";
  } else if (a.command == "verify") {
    auto r = c.Verify(a.repair);
    if (!r.ok()) return Fail(r.status());
    std::cout << nlohmann::json{{"entries", r->entries},          {"verified", r->verified},
                                {"crc_failures", r->crc_failures}, {"read_errors", r->read_errors},
                                {"duplicate_slots", r->duplicate_slots},
                                {"out_of_range", r->out_of_range},
                                {"usage_matches", r->usage_matches}, {"dropped", r->dropped}}
                     .dump(2)
              << "\n";
    const bool clean = r->crc_failures + r->read_errors + r->duplicate_slots + r->out_of_range == 0 &&
                       r->usage_matches;
    if (!clean && !a.repair) return 3;
  } else if (a.command == "import") {
    status = Import(c, a, options->block_size);
  } else if (a.command == "cat") {
    status = Cat(c, a, options->block_size);
  } else if (a.command == "evict") {
    auto r = c.Evict(a.remote_id, a.path);
    if (!r.ok()) return Fail(r.status());
    std::cout << nlohmann::json{{"evicted_blocks", *r}}.dump() << "\n";
  } else if (a.command == "pin") {
    status = c.Pin(a.remote_id, a.path);
  } else if (a.command == "unpin") {
    status = c.Unpin(a.remote_id, a.path);
  } else if (a.command == "pins") {
    nlohmann::json out = nlohmann::json::array();
    for (const PinnedPrefix& p : c.Pins()) out.push_back({{"remote", p.remote_id}, {"prefix", p.prefix}});
    std::cout << out.dump(2) << "\n";
  } else if (a.command == "resize") {
    auto size = ParseByteSize(a.size);
    if (!size.ok()) return Fail(size.status());
    status = c.SetCapacity(*size);
  } else {
    status = Status::InvalidArgument("unknown cache command '" + a.command + "'");
  }
  return status.ok() ? 0 : Fail(status);
}

}  // namespace hoardfs
