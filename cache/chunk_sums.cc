#include "cache/chunk_sums.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "cache/block_checksum.h"
#include "common/log.h"

namespace hoardfs {

std::string ChunkSums::FileName(uint32_t class_size) {
  return "c" + std::to_string(class_size / 1024) + "k.sum";
}

Result<std::unique_ptr<ChunkSums>> ChunkSums::Open(const std::string& dir,
                                                   const SizeClasses& classes,
                                                   size_t memo_records) {
  std::unique_ptr<ChunkSums> sums(new ChunkSums());
  sums->memo_size_ = memo_records;
  if (memo_records > 0) sums->memo_ = std::make_unique<Memo[]>(memo_records);
  sums->files_.resize(classes.count());
  for (unsigned c = 0; c < classes.count(); ++c) {
    const uint32_t size = classes.size(c);
    if (size <= kChunkSize) continue;  // one chunk: the entry's CRC is the whole record
    ClassFile& f = sums->files_[c];
    f.path = dir + "/" + FileName(size);
    f.fd = ::open(f.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (f.fd < 0) return Status::FromErrno(errno, "open chunk record file " + f.path);
    f.record_crcs = ChunkCount(size);
  }
  return sums;
}

ChunkSums::~ChunkSums() {
  for (ClassFile& f : files_) {
    if (f.fd >= 0) ::close(f.fd);
  }
}

const ChunkSums::ClassFile* ChunkSums::FileOf(uint32_t slot) const {
  const unsigned c = SlotClass(slot);
  if (c >= files_.size() || files_[c].fd < 0) return nullptr;
  return &files_[c];
}

bool ChunkSums::HasRecords(uint32_t slot) const { return FileOf(slot) != nullptr; }

bool ChunkSums::Write(uint32_t slot, std::span<const uint32_t> record) {
  const ClassFile* f = FileOf(slot);
  if (f == nullptr || record.size() > f->record_crcs) return false;
  const off_t offset =
      static_cast<off_t>(uint64_t{SlotIndex(slot)} * f->record_crcs * sizeof(uint32_t));
  const ssize_t n = ::pwrite(f->fd, record.data(), record.size_bytes(), offset);
  if (n == static_cast<ssize_t>(record.size_bytes())) {
    Remember(slot, record);
    return true;
  }
  Remember(slot, {});  // forget: the file and the memory must not disagree
  if (!write_error_logged_.exchange(true)) {
    const int err = n < 0 ? errno : ENOSPC;
    Logger("cache")->warn(
        "chunk record write to {} failed ({}); partial reads of the blocks concerned read them "
        "whole",
        f->path, Status::FromErrno(err, "pwrite").ToString());
  }
  return false;
}

bool ChunkSums::Read(uint32_t slot, std::span<uint32_t> record) const {
  const ClassFile* f = FileOf(slot);
  if (f == nullptr || record.size() > f->record_crcs) return false;
  if (memo_size_ > 0) {
    Memo& m = memo_[slot % memo_size_];
    std::lock_guard<std::mutex> lock(m.mu);
    if (m.n != 0 && m.slot == slot && record.size() <= m.n) {
      std::copy_n(m.crcs.begin(), record.size(), record.begin());
      memo_hits_.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
  }
  const off_t offset =
      static_cast<off_t>(uint64_t{SlotIndex(slot)} * f->record_crcs * sizeof(uint32_t));
  size_t done = 0;
  auto* out = reinterpret_cast<char*>(record.data());
  while (done < record.size_bytes()) {
    const ssize_t n =
        ::pread(f->fd, out + done, record.size_bytes() - done, offset + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  // Remembered even if it later fails the entry's check: the repair that follows overwrites it.
  Remember(slot, record);
  return true;
}

void ChunkSums::Remember(uint32_t slot, std::span<const uint32_t> record) const {
  if (memo_size_ == 0) return;
  Memo& m = memo_[slot % memo_size_];
  std::lock_guard<std::mutex> lock(m.mu);
  if (record.empty() || record.size() > kMemoCrcs) {
    if (m.slot == slot) m.n = 0;
    return;
  }
  m.slot = slot;
  m.n = static_cast<uint32_t>(record.size());
  std::copy(record.begin(), record.end(), m.crcs.begin());
}

}  // namespace hoardfs
