// ChunkSums: the chunk records (cache/block_checksum.h) of the blocks in the store, so a read of a
// few KiB of a cached block reads and verifies only the 16 KiB chunks it touches, not the block.
//
// Layout: one file per size class larger than one chunk, `c<class KiB>k.sum` in the data
// directory. The record of slot (class c, index i) is at offset i * ChunkCount(class size) * 4:
// the CRC32C of each chunk of the block, little-endian u32s (a short block uses the first
// ChunkCount(length) of them). Files are written buffered and never synced; a 1 MiB slot's record
// is 256 bytes (0.02 % of the data).
//
// Records are hints, outside the commit point: the writer stores a block's record before its
// index entry, and the entry's `crc` is the CRC32C of the record, so a reader checks the record it
// reads against the entry. A record missing (never written, lost in a crash, a file deleted or
// truncated), torn, or left by an earlier occupant of the slot fails that check; the reader then
// reads the whole block, whose bytes are checked against the entry as always. Nothing here can
// make the cache serve wrong bytes or fail: errors are reported as "no record".
//
// Recently read or written records are also kept in memory (a direct-mapped table of
// `memo_records` records of up to kMemoCrcs CRCs, ~300 B each), written through: a hot block's
// partial read costs no pread for its record. A remembered record is as much a hint as the file's.
//
// Thread-safety: Read() and Write() may be called from any thread (pread/pwrite on descriptors
// fixed at Open()). The caller keeps a slot's record stable while it is read (a slot is not
// reused while a reader holds it).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "cache/size_classes.h"
#include "common/result.h"

namespace hoardfs {

class ChunkSums {
 public:
  // Opens (creating if needed) the record files of every class of `classes` larger than one
  // chunk, in `dir`. Errors: the directory cannot be written (errno status).
  static Result<std::unique_ptr<ChunkSums>> Open(const std::string& dir, const SizeClasses& classes,
                                                 size_t memo_records = 4096);
  ~ChunkSums();
  ChunkSums(const ChunkSums&) = delete;
  ChunkSums& operator=(const ChunkSums&) = delete;

  // Whether blocks in slots of this class have records (the class is larger than one chunk).
  bool HasRecords(uint32_t slot) const;
  // The record file name of a class ("c1024k.sum").
  static std::string FileName(uint32_t class_size);

  // Stores `record` for `slot`. False (logged once per file) on an I/O error or a record larger
  // than the class holds; the block is then read whole until its record is written again.
  bool Write(uint32_t slot, std::span<const uint32_t> record);
  // Reads the first `record.size()` CRCs of `slot`'s record (from memory when remembered). False
  // if they are not there (short file, I/O error, no record for the class). The caller verifies
  // them against the entry.
  bool Read(uint32_t slot, std::span<uint32_t> record) const;
  // Reads served from memory, without a pread.
  uint64_t memo_hits() const { return memo_hits_.load(std::memory_order_relaxed); }

  static constexpr uint32_t kMemoCrcs = 64;  // a 1 MiB block of 16 KiB chunks

 private:
  struct ClassFile {
    int fd = -1;
    uint32_t record_crcs = 0;  // CRCs per slot (0: the class has no records)
    std::string path;
  };
  struct Memo {
    std::mutex mu;
    uint32_t slot = 0;                     // GUARDED_BY(mu)
    uint32_t n = 0;                        // GUARDED_BY(mu): CRCs held (0: empty)
    std::array<uint32_t, kMemoCrcs> crcs;  // GUARDED_BY(mu)
  };
  ChunkSums() = default;
  const ClassFile* FileOf(uint32_t slot) const;
  void Remember(uint32_t slot, std::span<const uint32_t> record) const;

  std::vector<ClassFile> files_;  // per size class
  std::unique_ptr<Memo[]> memo_;
  size_t memo_size_ = 0;
  mutable std::atomic<uint64_t> memo_hits_{0};
  mutable std::atomic<bool> write_error_logged_{false};
};

}  // namespace hoardfs
