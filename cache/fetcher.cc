#include "cache/fetcher.h"

#include <algorithm>
#include <cstring>

#include "cache/block_checksum.h"
#include "cache/block_key.h"
#include "common/aligned_buffer.h"
#include "common/log.h"

namespace hoardfs {

Fetcher::Fetcher(BlockCache* cache, const FetcherOptions& options)
    : cache_(cache),
      options_(options),
      block_size_(static_cast<uint32_t>(cache->Stats().block_size)),
      buffers_(BufferPool::Create(
          {.granule = block_size_, .max_idle_bytes = options.max_idle_buffer_bytes})),
      small_buffers_(BufferPool::Create(
          {.granule = 64u << 10, .max_idle_bytes = 8u << 20, .min_pooled_bytes = 0})),
      piece_buffers_(BufferPool::Create({.granule = kPiecePageSize,
                                         .max_idle_bytes = kMaxRememberedPieces * kChunkSize,
                                         .min_pooled_bytes = 0})),
      lent_(std::make_shared<ReadaheadBudget>(options.readahead_limit > options.readahead_max
                                                  ? options.readahead_limit - options.readahead_max
                                                  : 0)) {
  AddWorkers(std::max(1u, options_.threads));
}

void Fetcher::AddWorkers(unsigned n) {
  std::lock_guard<std::mutex> lock(pool_mu_);
  if (stopping_) return;
  while (workers_.size() < n) workers_.emplace_back([this] { WorkerMain(); });
}

Fetcher::~Fetcher() {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    stopping_ = true;
    tasks_.clear();  // unfulfilled promises break: waiters get kAborted
  }
  pool_cv_.notify_all();
  // No worker is added once stopping_ is set.
  for (std::thread& t : workers_) t.join();
}

void Fetcher::WorkerMain() {
  pthread_setname_np(pthread_self(), "hoardfs-fetch");
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(pool_mu_);
      pool_cv_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
      if (stopping_) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    try {
      task();
    } catch (const std::exception& e) {
      Logger("cache")->error("prefetch task failed: {}", e.what());
    }
  }
}

void Fetcher::Submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    tasks_.push_back(std::move(task));
  }
  pool_cv_.notify_one();
}

void Fetcher::Remember(const std::string& key, Block block, uint64_t bytes) {
  if (bytes == 0) bytes = block_size_;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = blocks_.find(key);
  if (it == blocks_.end()) {
    std::promise<Result<Block>> p;
    p.set_value(Result<Block>(std::move(block)));
    it = blocks_.emplace(key, Pending{p.get_future().share(), bytes, true}).first;
    memory_bytes_ += bytes;
  }
  it->second.done = true;
  recent_.push_back(key);
  // Completed blocks stay until the budget is needed: readahead trims the oldest ones to make
  // room (ScheduleReadahead), so prefetched blocks are not dropped before the reader gets to them.
  TrimRecentLocked(MemoryBudget());
}

void Fetcher::RememberPiece(const std::string& key, Block piece) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, added] = blocks_.try_emplace(key);
  if (!added) return;  // in flight or held already: that one serves
  std::promise<Result<Block>> p;
  const size_t bytes = piece.size;
  p.set_value(Result<Block>(std::move(piece)));
  it->second = Pending{p.get_future().share(), bytes, true};
  memory_bytes_ += bytes;
  recent_pieces_.push_back(key);
  if (recent_pieces_.size() <= kMaxRememberedPieces) return;
  auto old = blocks_.find(recent_pieces_.front());
  recent_pieces_.pop_front();
  if (old != blocks_.end() && old->second.done) {
    memory_bytes_ -= old->second.bytes;
    blocks_.erase(old);
  }
}

void Fetcher::TrimRecentLocked(uint64_t target) {
  while (memory_bytes_ > target && !recent_.empty()) {
    auto old = blocks_.find(recent_.front());
    recent_.pop_front();
    if (old != blocks_.end() && old->second.done) {
      memory_bytes_ -= old->second.bytes;
      blocks_.erase(old);
    }
  }
}

void Fetcher::Forget(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = blocks_.find(key);
  if (it != blocks_.end()) {
    memory_bytes_ -= it->second.bytes;
    blocks_.erase(it);
  }
}

std::vector<std::shared_future<Result<Fetcher::Block>>> Fetcher::Acquire(
    const RemoteFile& file, std::span<const uint32_t> blocks, bool prefetch) {
  std::vector<std::shared_future<Result<Block>>> futures(blocks.size());
  std::vector<uint32_t> owned;
  std::vector<std::promise<Result<Block>>> promises;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::string key = BlockKey(file.key, 0);
    for (size_t i = 0; i < blocks.size(); ++i) {
      SetBlockIndex(&key, blocks[i]);
      if (auto it = blocks_.find(key); it != blocks_.end()) {
        futures[i] = it->second.future;
        continue;
      }
      promises.emplace_back();
      futures[i] = promises.back().get_future().share();
      blocks_.emplace(key, Pending{futures[i], block_size_, false});
      memory_bytes_ += block_size_;
      owned.push_back(blocks[i]);
    }
  }
  // Contiguous runs of owned blocks, each split into requests of at most max_request_bytes.
  const uint32_t per_request =
      std::max<uint32_t>(1, static_cast<uint32_t>(options_.max_request_bytes / block_size_));
  size_t i = 0;
  while (i < owned.size()) {
    size_t j = i + 1;
    while (j < owned.size() && owned[j] == owned[j - 1] + 1 && j - i < per_request) ++j;
    const uint32_t first = owned[i];
    const auto count = static_cast<uint32_t>(j - i);
    std::vector<std::promise<Result<Block>>> run;
    run.reserve(count);
    for (size_t k = i; k < j; ++k) run.push_back(std::move(promises[k]));
    if (prefetch) {
      stats_.prefetch_requests.fetch_add(1, std::memory_order_relaxed);
      auto shared_run = std::make_shared<std::vector<std::promise<Result<Block>>>>(std::move(run));
      Submit(
          [this, file, first, count, shared_run] { PrefetchRun(file, first, count, *shared_run); });
    } else {
      FetchRun(file, first, count, run);
    }
    i = j;
  }
  return futures;
}

void Fetcher::PrefetchRun(const RemoteFile& file, uint32_t first, uint32_t count,
                          std::vector<std::promise<Result<Block>>>& promises) {
  // Blocks already in the cache are read from it (one io_uring batch: the disk stays busy ahead
  // of the reader); the rest come from the remote in contiguous runs.
  std::vector<uint32_t> blocks(count);
  for (uint32_t k = 0; k < count; ++k) blocks[k] = first + k;
  std::vector<std::optional<CachedBlock>> hits = cache_->Read(file.key, blocks);
  std::string key = BlockKey(file.key, 0);
  uint32_t k = 0;
  while (k < count) {
    if (hits[k]) {
      auto owner = std::make_shared<CachedBlock>(std::move(*hits[k]));
      Block block{std::shared_ptr<const std::byte>(owner, owner->bytes().data()), owner->size()};
      stats_.cache_hit_bytes.fetch_add(block.size, std::memory_order_relaxed);
      SetBlockIndex(&key, first + k);
      promises[k].set_value(Result<Block>(block));
      Remember(key, block);
      ++k;
      continue;
    }
    uint32_t j = k + 1;
    while (j < count && !hits[j]) ++j;
    std::vector<std::promise<Result<Block>>> run;
    run.reserve(j - k);
    for (uint32_t m = k; m < j; ++m) run.push_back(std::move(promises[m]));
    FetchRun(file, first + k, j - k, run);
    k = j;
  }
}

void Fetcher::FetchRun(const RemoteFile& file, uint32_t first, uint32_t count,
                       std::vector<std::promise<Result<Block>>>& promises) {
  const uint64_t offset = uint64_t{first} * block_size_;
  const uint64_t end = std::min<uint64_t>(offset + uint64_t{count} * block_size_, file.ref.size);
  auto fail = [&](const Status& status) {
    stats_.remote_errors.fetch_add(1, std::memory_order_relaxed);
    std::string key = BlockKey(file.key, 0);
    for (uint32_t k = 0; k < count; ++k) {
      SetBlockIndex(&key, first + k);
      Forget(key);  // the next reader tries again
      promises[k].set_value(Result<Block>(status));
    }
  };
  if (end <= offset) {
    fail(Status::InvalidArgument("read beyond the end of " + file.ref.path));
    return;
  }
  // Not zero-filled: every byte is overwritten by the read (or the blocks are never published).
  const size_t length = static_cast<size_t>(end - offset);
  std::shared_ptr<std::byte[]> buffer = buffers_->Get(length);
  Result<size_t> got = file.source->Read(file.ref, offset, std::span(buffer.get(), length));
  stats_.remote_requests.fetch_add(1, std::memory_order_relaxed);
  if (!got.ok()) {
    fail(got.status());
    return;
  }
  stats_.remote_bytes.fetch_add(*got, std::memory_order_relaxed);
  if (*got != length) {
    // The remote holds fewer bytes than the size it reported at open: it changed or it lies.
    fail(Status::Corruption(file.ref.path + ": remote returned " + std::to_string(*got) +
                            " bytes at offset " + std::to_string(offset) + ", expected " +
                            std::to_string(length)));
    return;
  }
  std::string key = BlockKey(file.key, 0);
  for (uint32_t k = 0; k < count; ++k) {
    const uint64_t b_off = uint64_t{k} * block_size_;
    const size_t b_len = static_cast<size_t>(std::min<uint64_t>(block_size_, length - b_off));
    Block block{std::shared_ptr<const std::byte>(buffer, buffer.get() + b_off), b_len,
                /*remote=*/true};
    SetBlockIndex(&key, first + k);
    promises[k].set_value(Result<Block>(block));
    Remember(key, block);
    // Queued for the cache after the waiting readers were answered. A full queue makes this
    // thread wait (backpressure at the disk's write speed) rather than drop what was fetched.
    // The fetch buffer is shared with the writer, not copied (the blocks of a page-aligned
    // buffer are page-aligned; a short last block is copied).
    (void)cache_->InsertShared(file.key, first + k, block.data, b_len,
                               BlockCache::InsertMode::kWaitForRoom);
  }
}

Result<std::vector<Fetcher::Block>> Fetcher::GetBlocks(const RemoteFile& file, uint32_t first,
                                                       uint32_t last, bool cache_checked,
                                                       ReadOrigin* origin) {
  const size_t n = last - first + 1;
  std::vector<std::optional<Block>> got(n);
  std::vector<std::shared_future<Result<Block>>> waits(n);

  // 1. In memory (in flight or recent).
  std::vector<uint32_t> need;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::string key = BlockKey(file.key, 0);
    for (uint32_t b = first; b <= last; ++b) {
      SetBlockIndex(&key, b);
      auto it = blocks_.find(key);
      if (it != blocks_.end()) {
        waits[b - first] = it->second.future;
        if (it->second.done) {
          stats_.memory_hit_bytes.fetch_add(it->second.bytes, std::memory_order_relaxed);
        }
      } else {
        need.push_back(b);
      }
    }
  }
  // 2. The block cache.
  if (!need.empty()) {
    std::vector<std::optional<CachedBlock>> hits =
        cache_checked ? std::vector<std::optional<CachedBlock>>(need.size())
                      : cache_->Read(file.key, need);
    std::vector<uint32_t> misses;
    std::string key = BlockKey(file.key, 0);
    for (size_t i = 0; i < need.size(); ++i) {
      if (!hits[i]) {
        misses.push_back(need[i]);
        continue;
      }
      auto owner = std::make_shared<CachedBlock>(std::move(*hits[i]));
      Block block{std::shared_ptr<const std::byte>(owner, owner->bytes().data()), owner->size()};
      got[need[i] - first] = block;
      stats_.cache_hit_bytes.fetch_add(block.size, std::memory_order_relaxed);
      SetBlockIndex(&key, need[i]);
      Remember(key, block);  // later reads of the same block (smaller requests) stay in memory
    }
    // 3. The remote, for what is still missing.
    if (!misses.empty()) {
      auto futures = Acquire(file, misses, /*prefetch=*/false);
      for (size_t i = 0; i < misses.size(); ++i) waits[misses[i] - first] = futures[i];
    }
  }
  std::vector<Block> out;
  out.reserve(n);
  if (origin != nullptr) *origin = ReadOrigin{.remote = true};
  for (size_t i = 0; i < n; ++i) {
    if (!got[i] && waits[i].valid()) {
      const bool in_flight =
          origin != nullptr && !origin->waited &&
          waits[i].wait_for(std::chrono::seconds(0)) != std::future_status::ready;
      Result<Block> r = Status::Aborted("fetch abandoned");
      try {
        r = waits[i].get();
      } catch (const std::future_error&) {
        r = Status::Aborted("fetch abandoned at shutdown");
      }
      if (!r.ok()) return r.status();
      if (in_flight && r->remote) origin->waited = true;
      got[i] = *r;
    }
    if (origin != nullptr) origin->remote = origin->remote && got[i]->remote;
    out.push_back(std::move(*got[i]));
  }
  return out;
}

Result<size_t> Fetcher::Read(const RemoteFile& file, uint64_t offset, std::span<std::byte> out,
                             ReadStream* stream) {
  const uint64_t size = file.ref.size;
  if (offset >= size || out.empty()) return size_t{0};
  const size_t length = static_cast<size_t>(std::min<uint64_t>(out.size(), size - offset));
  const uint32_t first = static_cast<uint32_t>(offset / block_size_);
  const uint32_t last = static_cast<uint32_t>((offset + length - 1) / block_size_);
  if (first != last) {
    HOARDFS_ASSIGN_OR_RETURN(std::optional<size_t> n,
                             ReadStraddling(file, offset, out.first(length), stream));
    if (n.has_value()) return *n;
  }
  ReadOrigin origin;  // asked only where a window may grow
  HOARDFS_ASSIGN_OR_RETURN(
      std::vector<Block> got,
      GetBlocks(file, first, last, /*cache_checked=*/false, WindowMayGrow() ? &origin : nullptr));

  // Copy out.
  size_t copied = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const uint64_t block_start = uint64_t{first + static_cast<uint32_t>(i)} * block_size_;
    const uint64_t from = std::max<uint64_t>(offset, block_start);
    const uint64_t to = std::min<uint64_t>(offset + length, block_start + got[i].size);
    if (to <= from) {
      return Status::Corruption(file.ref.path + ": block " + std::to_string(first + i) +
                                " is shorter than the file size says");
    }
    std::memcpy(out.data() + copied, got[i].data.get() + (from - block_start), to - from);
    copied += to - from;
  }
  if (stream != nullptr) ScheduleReadahead(file, offset, copied, stream, origin);
  return copied;
}

Result<std::optional<size_t>> Fetcher::ReadStraddling(const RemoteFile& file, uint64_t offset,
                                                      std::span<std::byte> out,
                                                      ReadStream* stream) {
  if (!PartialEligible(file, out.size(), stream)) return std::optional<size_t>();
  struct Part {
    uint32_t block;
    uint64_t in_block;
    size_t length;
    size_t at;  // where the part goes in `out`
  };
  auto copy_whole = [&](const Part& p, bool cache_checked) -> Status {
    HOARDFS_ASSIGN_OR_RETURN(std::vector<Block> got,
                             GetBlocks(file, p.block, p.block, cache_checked));
    if (got[0].size < p.in_block + p.length) {
      return Status::Corruption(file.ref.path + ": block " + std::to_string(p.block) +
                                " is shorter than the file size says");
    }
    std::memcpy(out.data() + p.at, got[0].data.get() + p.in_block, p.length);
    return Status::Ok();
  };
  // Each block's part: from memory (the whole block is there), or the cache's chunks; the parts
  // whose block the cache lacks are collected.
  std::vector<Part> missing;
  size_t missing_bytes = 0;
  for (size_t done = 0; done < out.size();) {
    const uint64_t pos = offset + done;
    const auto block = static_cast<uint32_t>(pos / block_size_);
    const uint64_t in_block = pos - uint64_t{block} * block_size_;
    const Part p{block, in_block,
                 static_cast<size_t>(
                     std::min<uint64_t>(out.size() - done, uint64_t{block_size_} - in_block)),
                 done};
    done += p.length;
    if (InMemory(file, block)) {
      HOARDFS_RETURN_IF_ERROR(copy_whole(p, /*cache_checked=*/false));
      continue;
    }
    bool held = false;
    std::optional<FetchedSlice> slice = ReadCachedRange(file, block, in_block, p.length, &held);
    if (slice.has_value()) {
      std::memcpy(out.data() + p.at, slice->data.get(), p.length);
    } else if (held) {
      HOARDFS_RETURN_IF_ERROR(copy_whole(p, /*cache_checked=*/false));
    } else {
      missing.push_back(p);
      missing_bytes += p.length;
    }
  }
  // The missing parts in one ranged read of their chunks if they are adjacent (a read of at most
  // half a block touches at most two blocks), else each as its whole block.
  if (!missing.empty()) {
    const Part& head = missing.front();
    const Part& tail = missing.back();
    if (PiecesAllowed(tail.block) && tail.at + tail.length - head.at == missing_bytes) {
      HOARDFS_ASSIGN_OR_RETURN(std::optional<FetchedSlice> pieces,
                               ReadPieces(file, head.block, head.in_block, missing_bytes));
      if (!pieces.has_value()) return Status::Internal("ReadPieces answered nothing");
      std::memcpy(out.data() + head.at, pieces->data.get(), missing_bytes);
    } else {
      for (const Part& p : missing) HOARDFS_RETURN_IF_ERROR(copy_whole(p, /*cache_checked=*/true));
    }
  }
  if (stream != nullptr) ScheduleReadahead(file, offset, out.size(), stream, ReadOrigin{});
  return std::optional<size_t>(out.size());
}

bool Fetcher::PartialEligible(const RemoteFile& file, size_t length, ReadStream* stream) {
  // Most of a block (or a file of one block): the whole block is the better fetch.
  if (length > options_.partial_read_max_bytes || 2 * length > block_size_ ||
      file.ref.size <= block_size_) {
    return false;
  }
  if (stream == nullptr) return true;
  std::lock_guard<std::mutex> lock(stream->mu);
  return stream->window == 0;  // sequential: whole blocks
}

bool Fetcher::InMemory(const RemoteFile& file, uint32_t block) {
  std::lock_guard<std::mutex> lock(mu_);
  return blocks_.contains(BlockKey(file.key, block));
}

bool Fetcher::PiecesAllowed(uint32_t last_block) const {
  return options_.sparse_fetch && block_size_ % kChunkSize == 0 &&
         (uint64_t{last_block} + 1) * (block_size_ / kChunkSize) <= kPagePieceBit;
}

std::optional<FetchedSlice> Fetcher::ReadCachedRange(const RemoteFile& file, uint32_t block,
                                                     uint64_t in_block, size_t length, bool* held) {
  std::optional<CachedRange> range = cache_->ReadRange(
      file.key, block, static_cast<uint32_t>(in_block), static_cast<uint32_t>(length));
  if (!range.has_value()) return std::nullopt;
  *held = true;
  if (range->length != length) return std::nullopt;  // short: the whole-block path reports it
  stats_.cache_hit_bytes.fetch_add(length, std::memory_order_relaxed);
  stats_.partial_hit_bytes.fetch_add(length, std::memory_order_relaxed);
  auto owner = std::make_shared<CachedRange>(std::move(*range));
  return FetchedSlice{std::shared_ptr<const std::byte>(owner, owner->bytes().data()), length};
}

Result<std::optional<FetchedSlice>> Fetcher::ReadSlice(const RemoteFile& file, uint64_t offset,
                                                       size_t length, ReadStream* stream) {
  const uint64_t size = file.ref.size;
  if (offset >= size || length == 0) return std::optional<FetchedSlice>(FetchedSlice{});
  length = static_cast<size_t>(std::min<uint64_t>(length, size - offset));
  const uint32_t block = static_cast<uint32_t>(offset / block_size_);
  if ((offset + length - 1) / block_size_ != block) return std::optional<FetchedSlice>();
  const uint64_t in_block = offset - uint64_t{block} * block_size_;
  bool cache_missed = false;
  HOARDFS_ASSIGN_OR_RETURN(std::optional<FetchedSlice> part,
                           ReadPartial(file, block, in_block, length, stream, &cache_missed));
  if (part.has_value()) return part;
  ReadOrigin origin;  // asked only where a window may grow
  HOARDFS_ASSIGN_OR_RETURN(std::vector<Block> got,
                           GetBlocks(file, block, block, /*cache_checked=*/cache_missed,
                                     WindowMayGrow() ? &origin : nullptr));
  if (got[0].size < in_block + length) {
    return Status::Corruption(file.ref.path + ": block " + std::to_string(block) +
                              " is shorter than the file size says");
  }
  FetchedSlice slice{std::shared_ptr<const std::byte>(got[0].data, got[0].data.get() + in_block),
                     length};
  if (stream != nullptr) ScheduleReadahead(file, offset, length, stream, origin);
  return std::optional<FetchedSlice>(std::move(slice));
}

std::unique_ptr<PendingSlice> Fetcher::PlanSlice(const RemoteFile& file, uint64_t offset,
                                                 size_t length, ReadStream* stream) {
  // Inside the file (no short answer) and one block.
  if (length == 0 || offset >= file.ref.size || length > file.ref.size - offset) return nullptr;
  const auto block = static_cast<uint32_t>(offset / block_size_);
  if ((offset + length - 1) / block_size_ != block) return nullptr;
  // Where ReadPartial() would ask ReadCachedRange() first.
  if (!PartialEligible(file, length, stream) || InMemory(file, block)) return nullptr;
  if (stream != nullptr && PiecesAllowed(block) &&
      stream->pieces_first.load(std::memory_order_relaxed)) {
    return nullptr;
  }
  const uint64_t in_block = offset - uint64_t{block} * block_size_;
  std::unique_ptr<PendingRangeRead> range = cache_->PlanRangeRead(
      file.key, block, static_cast<uint32_t>(in_block), static_cast<uint32_t>(length));
  if (range == nullptr) return nullptr;
  auto slice = std::make_unique<PendingSlice>();
  slice->range = std::move(range);
  slice->file = &file;
  slice->offset = offset;
  slice->length = length;
  slice->stream = stream;
  slice->fetcher = this;
  return slice;
}

bool Fetcher::FinishSlice(PendingSlice& slice, const std::byte* buf, int64_t res) {
  if (slice.range == nullptr || !slice.range->Finish(buf, res)) return false;
  // As ReadCachedRange() and ReadPartial() after a range served from the cache.
  stats_.cache_hit_bytes.fetch_add(slice.length, std::memory_order_relaxed);
  stats_.partial_hit_bytes.fetch_add(slice.length, std::memory_order_relaxed);
  if (slice.stream != nullptr) {
    slice.stream->pieces_first.store(false, std::memory_order_relaxed);
    ScheduleReadahead(*slice.file, slice.offset, slice.length, slice.stream, ReadOrigin{});
  }
  return true;
}

std::optional<FetchedSlice> Fetcher::MemorySlice(const RemoteFile& file, uint64_t offset,
                                                 size_t length, ReadStream* stream) {
  if (length == 0 || offset >= file.ref.size || length > file.ref.size - offset) {
    return std::nullopt;
  }
  const auto block = static_cast<uint32_t>(offset / block_size_);
  if ((offset + length - 1) / block_size_ != block) return std::nullopt;
  const uint64_t in_block = offset - uint64_t{block} * block_size_;
  std::optional<Block> held;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = blocks_.find(BlockKey(file.key, block));
    if (it == blocks_.end() || !it->second.done ||
        it->second.future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      return std::nullopt;
    }
    try {
      const Result<Block>& r = it->second.future.get();
      if (!r.ok() || r->size < in_block + length) return std::nullopt;
      held = *r;
    } catch (const std::future_error&) {
      return std::nullopt;
    }
    stats_.memory_hit_bytes.fetch_add(it->second.bytes, std::memory_order_relaxed);  // as GetBlocks
  }
  if (stream != nullptr) {
    ScheduleReadahead(file, offset, length, stream,
                      ReadOrigin{.remote = WindowMayGrow() && held->remote});
  }
  return FetchedSlice{std::shared_ptr<const std::byte>(held->data, held->data.get() + in_block),
                      length};
}

Result<std::optional<FetchedSlice>> Fetcher::ReadPartial(const RemoteFile& file, uint32_t block,
                                                         uint64_t in_block, size_t length,
                                                         ReadStream* stream, bool* cache_missed) {
  if (!PartialEligible(file, length, stream) || InMemory(file, block)) {
    return std::optional<FetchedSlice>();
  }
  std::optional<FetchedSlice> slice;
  // A file read sparsely is cached as pieces, not blocks: once a read of the stream found its
  // block not cached whole, the next ones look their pieces up first, with the whole block's
  // lookup in the same batch (not in one of its own that would miss).
  const bool pieces_first = stream != nullptr && PiecesAllowed(block) &&
                            stream->pieces_first.load(std::memory_order_relaxed);
  if (pieces_first) {
    HOARDFS_ASSIGN_OR_RETURN(slice,
                             ReadPieces(file, block, in_block, length, /*whole_block_too=*/true));
  }
  if (!slice.has_value()) {
    bool held = false;
    slice = ReadCachedRange(file, block, in_block, length, &held);
    if (stream != nullptr) stream->pieces_first.store(!held, std::memory_order_relaxed);
    if (!slice.has_value()) {
      if (held) return std::optional<FetchedSlice>();
      *cache_missed = true;
      if (!PiecesAllowed(block)) return std::optional<FetchedSlice>();
      HOARDFS_ASSIGN_OR_RETURN(slice, ReadPieces(file, block, in_block, length));
    }
  }
  if (stream != nullptr) {
    ScheduleReadahead(file, uint64_t{block} * block_size_ + in_block, length, stream, ReadOrigin{});
  }
  return slice;
}

Result<std::optional<FetchedSlice>> Fetcher::ReadPieces(const RemoteFile& file, uint32_t block,
                                                        uint64_t in_block, size_t length,
                                                        bool whole_block_too) {
  const uint64_t block_start = uint64_t{block} * block_size_;
  const uint64_t want_from = block_start + in_block;
  const uint64_t want_to = want_from + length;
  // The pages the range touches (a kernel read is page-aligned already): an edge chunk the range
  // covers only in part is fetched, and cached, as just those pages.
  const uint64_t page_from = want_from / kPiecePageSize * kPiecePageSize;
  const uint64_t page_to = std::min<uint64_t>(
      (want_to + kPiecePageSize - 1) / kPiecePageSize * kPiecePageSize, file.ref.size);
  const auto first = static_cast<uint32_t>(in_block / kChunkSize);
  const auto last = static_cast<uint32_t>((in_block + length - 1) / kChunkSize);
  const uint32_t pages_per_block = block_size_ / kPiecePageSize;
  const bool pages_allowed =
      uint64_t{block} * pages_per_block + (in_block + length - 1) / kPiecePageSize < kPagePieceBit;
  const uint32_t chunk_base = kPieceIndexBit | block * (block_size_ / kChunkSize);
  const uint32_t page_base = kPieceIndexBit | kPagePieceBit | block * pages_per_block;

  // Candidates, in file order: each chunk's piece, and for an edge chunk also the pieces of the
  // pages the range touches in it. An edge chunk held whole serves as it is; else its pages do.
  struct Unit {
    uint64_t from = 0, to = 0;        // file bytes [from, to)
    uint32_t index = 0;               // block index of its cache entry
    std::optional<Block> held;        // fetched moments ago (fetcher memory)
    std::optional<BlockEntry> entry;  // its cache entry
    bool in_memory() const { return held.has_value() && held->size == to - from; }
    bool in_cache() const { return entry.has_value() && entry->length == to - from; }
  };
  struct ChunkUnits {
    size_t chunk;      // its piece's position in `candidates`
    size_t pages_end;  // its page pieces are (chunk, pages_end)
  };
  std::vector<Unit> candidates;
  std::vector<ChunkUnits> chunks;
  for (uint32_t c = first; c <= last; ++c) {
    const uint64_t from = block_start + uint64_t{c} * kChunkSize;
    const uint64_t to = std::min<uint64_t>(from + kChunkSize, file.ref.size);
    candidates.push_back(Unit{.from = from, .to = to, .index = chunk_base + c});
    const size_t at = candidates.size() - 1;
    if (pages_allowed && (page_from > from || page_to < to)) {
      for (uint64_t p = std::max(from, page_from); p < std::min(to, page_to); p += kPiecePageSize) {
        candidates.push_back(
            Unit{.from = p,
                 .to = std::min<uint64_t>(p + kPiecePageSize, file.ref.size),
                 .index = page_base + static_cast<uint32_t>((p - block_start) / kPiecePageSize)});
      }
    }
    chunks.push_back(ChunkUnits{at, candidates.size()});
  }
  // Pieces fetched moments ago (a neighbouring read shares an edge, and its insert may not have
  // reached the index yet) come from memory; the rest are looked up in the cache, in one batch.
  std::vector<uint32_t> ids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!blocks_.empty()) {
      std::string key = BlockKey(file.key, 0);
      for (Unit& u : candidates) {
        SetBlockIndex(&key, u.index);
        auto it = blocks_.find(key);
        if (it != blocks_.end() && it->second.done) {
          Result<Block> b = it->second.future.get();  // ready: done
          if (b.ok()) u.held = *b;
        }
      }
    }
  }
  if (whole_block_too) ids.push_back(block);
  for (const Unit& u : candidates) {
    if (!u.held.has_value()) ids.push_back(u.index);
  }
  std::vector<std::optional<BlockEntry>> looked_up = cache_->LookUp(file.key, ids);
  if (whole_block_too && looked_up[0].has_value()) return std::optional<FetchedSlice>();
  for (size_t i = 0, k = whole_block_too ? 1 : 0; i < candidates.size(); ++i) {
    if (!candidates[i].held.has_value()) candidates[i].entry = looked_up[k++];
  }
  std::vector<Unit> units;  // consecutive units are adjacent in the file
  for (const ChunkUnits& c : chunks) {
    Unit& whole = candidates[c.chunk];
    const bool edge = c.pages_end > c.chunk + 1;
    if (!edge || whole.in_memory() || whole.in_cache()) {
      units.push_back(std::move(whole));
    } else {
      for (size_t i = c.chunk + 1; i < c.pages_end; ++i) units.push_back(std::move(candidates[i]));
    }
  }

  // The answer is assembled in one buffer spanning the units, each read straight into its place
  // (cached ones by the cache, missing runs by the remote): no buffer per piece, no copy. Every
  // unit starts on a page of the file, so on a page of the buffer (as O_DIRECT wants); only the
  // file's last unit may be short, and the buffer has room for its padding.
  const uint64_t span_from = units.front().from;
  const size_t span = AlignUp(static_cast<size_t>(units.back().to - span_from), kPiecePageSize);
  std::shared_ptr<std::byte[]> buffer = small_buffers_->Get(span);
  auto place = [&](const Unit& unit) { return buffer.get() + (unit.from - span_from); };
  std::vector<bool> served(units.size(), false);
  std::vector<BlockCache::ReadTarget> targets;
  std::vector<size_t> target_units;
  for (size_t i = 0; i < units.size(); ++i) {
    const Unit& unit = units[i];
    if (unit.in_memory()) {
      stats_.memory_hit_bytes.fetch_add(unit.to - unit.from, std::memory_order_relaxed);
      std::memcpy(place(unit), unit.held->data.get(), unit.to - unit.from);
      served[i] = true;
    } else if (unit.in_cache()) {
      targets.push_back({unit.index, *unit.entry, place(unit)});
      target_units.push_back(i);
    }
  }
  if (!targets.empty()) {
    const std::vector<bool> read = cache_->ReadInto(file.key, targets);
    for (size_t j = 0; j < targets.size(); ++j) {
      if (!read[j]) continue;  // a fault: fetched below
      const Unit& unit = units[target_units[j]];
      stats_.cache_hit_bytes.fetch_add(unit.to - unit.from, std::memory_order_relaxed);
      stats_.piece_hit_bytes.fetch_add(unit.to - unit.from, std::memory_order_relaxed);
      served[target_units[j]] = true;
    }
  }
  for (size_t u = 0; u < units.size();) {
    if (served[u]) {
      ++u;
      continue;
    }
    // A run of missing pieces: one ranged read, into its place.
    size_t v = u + 1;
    while (v < units.size() && !served[v]) ++v;
    const uint64_t from = units[u].from, to = units[v - 1].to;
    const auto n = static_cast<size_t>(to - from);
    Result<size_t> got = file.source->Read(file.ref, from, std::span(place(units[u]), n));
    stats_.remote_requests.fetch_add(1, std::memory_order_relaxed);
    stats_.sparse_fetches.fetch_add(1, std::memory_order_relaxed);
    if (!got.ok()) {
      stats_.remote_errors.fetch_add(1, std::memory_order_relaxed);
      return got.status();
    }
    stats_.remote_bytes.fetch_add(*got, std::memory_order_relaxed);
    if (*got != n) {
      stats_.remote_errors.fetch_add(1, std::memory_order_relaxed);
      return Status::Corruption(file.ref.path + ": remote returned " + std::to_string(*got) +
                                " bytes at offset " + std::to_string(from) + ", expected " +
                                std::to_string(n));
    }
    std::string key = BlockKey(file.key, 0);
    for (size_t p = u; p < v; ++p) {
      const size_t size = units[p].to - units[p].from;
      const std::byte* bytes = place(units[p]);
      if (p == u || p == v - 1) {
        // An edge piece is what a neighbouring read may want before the insert is committed:
        // remembered, in a copy of its own (the answer's buffer is released with the answer).
        std::shared_ptr<std::byte[]> copy = piece_buffers_->Get(size);
        std::memcpy(copy.get(), bytes, size);
        SetBlockIndex(&key, units[p].index);
        RememberPiece(key, Block{std::shared_ptr<const std::byte>(copy, copy.get()), size});
      }
      // Shared with the writer, not copied: pieces start at whole pages of the buffer, and
      // nothing writes to a piece's bytes once it is fetched.
      (void)cache_->InsertShared(file.key, units[p].index,
                                 std::shared_ptr<const std::byte>(buffer, bytes), size,
                                 BlockCache::InsertMode::kWaitForRoom);
    }
    u = v;
  }
  return std::optional<FetchedSlice>(FetchedSlice{
      std::shared_ptr<const std::byte>(buffer, buffer.get() + (want_from - span_from)), length});
}

bool Fetcher::ApplyCapLocked(ReadStream* stream, uint64_t cap) {
  const uint64_t now = stream->cap != 0 ? stream->cap : options_.readahead_max;
  if (cap > now) {
    // The growth: the base budget's slack (twice the base window) covers the blocks being read,
    // only the larger window's bytes ahead are new (a grown stream lent twice its growth peaked
    // at ~300 MiB RSS, lent once ~200).
    const uint64_t need = cap - now;
    if (!lent_->TryReserve(need)) return false;
    stream->budget = lent_;
    stream->lent_bytes += need;
  } else if (cap < now) {
    const uint64_t back = std::min(stream->lent_bytes, now - cap);
    lent_->Release(back);
    stream->lent_bytes -= back;
    stream->window = std::min(stream->window, cap);
  }
  stream->cap = cap > options_.readahead_max ? cap : 0;
  return true;
}

void Fetcher::ProbeWindowLocked(const RemoteFile& file, ReadStream* stream, size_t length,
                                bool waited) {
  std::lock_guard<std::mutex> lock(probes_mu_);
  ReadaheadProbe& probe =
      probes_
          .try_emplace(file.source,
                       ReadaheadProbeOptions{.base_cap = options_.readahead_max,
                                             .limit = options_.readahead_limit,
                                             .min_epoch = options_.readahead_probe_epoch,
                                             .idle_reset = options_.readahead_idle_reset})
          .first->second;
  const bool was_probing = probe.probing();
  const bool was_retesting = probe.retesting();
  const ReadaheadProbe::Step step =
      probe.OnRead(length, std::chrono::steady_clock::now(), waited,
                   stream->memory_bound.load(std::memory_order_relaxed));
  using Reason = ReadaheadProbe::Step::Reason;
  switch (step.kind) {
    case ReadaheadProbe::Step::Kind::kGrow:
      // This stream's read made it grow (or, at the end of a re-test, grow back): if it cannot
      // have the memory, nobody measures it.
      if (!ApplyCapLocked(stream, step.to)) {
        probe.Refused();
        stats_.readahead_refused.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      stream->window = step.to;
      if (step.reason == Reason::kProbe) {
        stats_.readahead_grows.fetch_add(1, std::memory_order_relaxed);
      }
      AddWorkers(std::max(options_.threads, options_.grown_threads));
      return;
    case ReadaheadProbe::Step::Kind::kShrink:
      (step.reason == Reason::kRetest ? stats_.readahead_retests
       : step.reason == Reason::kIdle ? stats_.readahead_resets
                                      : stats_.readahead_shrinks)
          .fetch_add(1, std::memory_order_relaxed);
      break;
    case ReadaheadProbe::Step::Kind::kNone:
      if (was_probing && !probe.probing()) {
        stats_.readahead_kept.fetch_add(1, std::memory_order_relaxed);
      }
      if (was_retesting && !probe.retesting()) {
        stats_.readahead_released.fetch_add(1, std::memory_order_relaxed);
      }
      break;
  }
  // Every stream follows its remote's cap down at once, and up once it waits for the remote (a
  // stream served by the cache has no use for it) and memory allows (else at a later read).
  const uint64_t mine = stream->cap != 0 ? stream->cap : options_.readahead_max;
  if (probe.cap() < mine || (probe.cap() > mine && waited)) {
    (void)ApplyCapLocked(stream, probe.cap());
  }
}

void Fetcher::ResetProbeLocked(ReadStream* stream) {
  stream->cap = 0;
  if (stream->lent_bytes != 0) {
    lent_->Release(stream->lent_bytes);
    stream->lent_bytes = 0;
  }
}

void Fetcher::ScheduleReadahead(const RemoteFile& file, uint64_t offset, size_t length,
                                ReadStream* stream, ReadOrigin origin) {
  uint64_t from = 0, to = 0;
  {
    std::lock_guard<std::mutex> lock(stream->mu);
    const uint64_t end = offset + length;
    // Multi-threaded FUSE delivers a sequential stream slightly out of order: anything within a
    // window (at least two blocks) of where the stream is counts as sequential.
    const uint64_t slack = std::max<uint64_t>(stream->window, 2ull * block_size_);
    const bool sequential =
        offset + slack >= stream->next_offset && offset <= stream->next_offset + slack;
    // Two reads, one near the other, are not yet a stream (random reads land near each other now
    // and then, and so do two adjacent baskets of a sparse reader), nor are reads that skip most
    // of what they span (ROOT's baskets of a few branches per cluster): each false start would
    // read a whole window ahead.
    if (sequential && stream->run > 0) {
      stream->run++;
      stream->run_bytes += length;
      stream->run_start = std::min(stream->run_start, offset);
    } else {
      stream->run = 1;
      stream->run_bytes = length;
      stream->run_start = offset;
    }
    const uint64_t span = std::max(end, stream->next_offset) - stream->run_start;
    if (stream->run >= 3 && stream->run_bytes * 2 >= span &&
        (span >= options_.min_stream_span_bytes || stream->run >= options_.min_stream_reads)) {
      const uint64_t cap = stream->cap != 0 ? stream->cap : options_.readahead_max;
      stream->window =
          stream->window == 0 ? options_.readahead_initial : std::min(stream->window * 2, cap);
      if (WindowMayGrow() && origin.remote) {
        ProbeWindowLocked(file, stream, length, origin.waited);
      }
    } else {
      stream->window = 0;
      stream->prefetched_to = 0;
      ResetProbeLocked(stream);
    }
    stream->next_offset = sequential ? std::max(end, stream->next_offset) : end;
    if (stream->window == 0) return;
    // Top the window up in large steps: only when less than half of it is still ahead, so each
    // prefetch is a few large remote requests rather than one block per read.
    if (stream->prefetched_to > end && stream->prefetched_to - end >= stream->window / 2) return;
    from = std::max(end, stream->prefetched_to);
    to = std::min(end + stream->window, file.ref.size);
    if (to <= from) return;
  }
  {
    // Fit the step into the memory budget (shrink it rather than drop it); record it as scheduled
    // only once it is.
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t budget = MemoryBudget();
    if (memory_bytes_ + (to - from) > budget) {
      TrimRecentLocked(budget - std::min(budget, to - from));
    }
    const uint64_t room = budget > memory_bytes_ ? budget - memory_bytes_ : 0;
    const bool cut = to - from > room;
    stream->memory_bound.store(cut, std::memory_order_relaxed);
    if (cut) to = from + room / block_size_ * block_size_;
    if (to <= from) {
      stats_.prefetch_dropped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  {
    std::lock_guard<std::mutex> lock(stream->mu);
    stream->prefetched_to = std::max(stream->prefetched_to, to);
  }
  const auto b_first = static_cast<uint32_t>(from / block_size_);
  const auto b_last = static_cast<uint32_t>((to - 1) / block_size_);
  std::vector<uint32_t> wanted;
  for (uint32_t b = b_first; b <= b_last; ++b) wanted.push_back(b);
  (void)Acquire(file, wanted, /*prefetch=*/true);
}

uint64_t Fetcher::CachedBytes(const RemoteFile& file) {
  if (file.ref.size == 0) return 0;
  const auto blocks = static_cast<uint32_t>((file.ref.size + block_size_ - 1) / block_size_);
  std::vector<uint32_t> all(blocks);
  for (uint32_t b = 0; b < blocks; ++b) all[b] = b;
  std::vector<bool> present = cache_->Contains(file.key, all);
  uint64_t bytes = 0;
  for (uint32_t b = 0; b < blocks; ++b) {
    if (present[b]) {
      bytes += std::min<uint64_t>(block_size_, file.ref.size - uint64_t{b} * block_size_);
    }
  }
  return bytes;
}

FetcherStats Fetcher::Stats() const {
  FetcherStats s;
  s.remote_requests = stats_.remote_requests.load();
  s.remote_bytes = stats_.remote_bytes.load();
  s.remote_errors = stats_.remote_errors.load();
  s.memory_hit_bytes = stats_.memory_hit_bytes.load();
  s.cache_hit_bytes = stats_.cache_hit_bytes.load();
  s.partial_hit_bytes = stats_.partial_hit_bytes.load();
  s.piece_hit_bytes = stats_.piece_hit_bytes.load();
  s.sparse_fetches = stats_.sparse_fetches.load();
  s.prefetch_requests = stats_.prefetch_requests.load();
  s.prefetch_dropped = stats_.prefetch_dropped.load();
  s.readahead_max_bytes = options_.readahead_max;
  s.max_memory_bytes = options_.max_memory_bytes;
  s.readahead_limit_bytes = std::max(options_.readahead_limit, options_.readahead_max);
  s.readahead_grows = stats_.readahead_grows.load();
  s.readahead_kept = stats_.readahead_kept.load();
  s.readahead_shrinks = stats_.readahead_shrinks.load();
  s.readahead_refused = stats_.readahead_refused.load();
  s.readahead_retests = stats_.readahead_retests.load();
  s.readahead_released = stats_.readahead_released.load();
  s.readahead_resets = stats_.readahead_resets.load();
  s.readahead_lent_bytes = lent_->reserved();
  for (const auto* pool : {&buffers_, &small_buffers_, &piece_buffers_}) {
    const BufferPoolStats b = (*pool)->Stats();
    s.buffer_in_use_bytes += b.in_use_bytes;
    s.buffer_idle_bytes += b.idle_bytes;
    s.buffer_maps += b.maps;
    s.buffer_reuses += b.reuses;
  }
  return s;
}

}  // namespace hoardfs
