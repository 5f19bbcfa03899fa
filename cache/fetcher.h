// Fetcher: the read path of a remote file through the block cache (architecture.md, "The read
// path", steps 3-6).
//
//   Read(file, offset, out):
//     1. blocks held in memory (just fetched, or just read) are copied at once;
//     2. the rest are looked up in the BlockCache in one batch (one MultiGet, one io_uring batch);
//     3. misses are fetched from the remote: concurrent misses of one block collapse into one
//        fetch (single flight), neighbouring misses become one ranged read (up to
//        max_request_bytes), the reader is answered as soon as the bytes arrive and the blocks are
//        queued for the cache (never waited for);
//     4. a sequential stream (three or more reads in a row, each near where the previous one
//        ended, that together cover at least half the range they span, and span at least
//        min_stream_span_bytes or number at least min_stream_reads: a sparse reader whose reads
//        land close together is not one, nor the kernel's own readahead at a file's start) grows
//        a readahead window (doubling from readahead_initial up to readahead_max per stream),
//        prefetched by a pool of threads in parallel requests (from the cache when the blocks are
//        there, so the disk stays busy too);
//        the bytes held in memory (in flight + recently used) are bounded by max_memory_bytes.
//        Past readahead_max, the windows of a remote's (an ObjectSource's) streams may grow up to
//        readahead_limit where its probe shows that a larger window raises the rate its
//        sequential reads get (a remote behind a long round trip; cache/readahead_probe.h). Each
//        stream takes the remote's cap when memory allows: its growth, lent on top of
//        max_memory_bytes from a ReadaheadBudget shared by all streams (at most
//        readahead_limit - readahead_max in all: the link's bytes in flight, not each stream's).
//        Remote reads land in buffers from a BufferPool (mapped memory, reused; at most
//        max_idle_buffer_bytes of released ones kept), so memory freed is returned to the kernel.
//        A read may take an idle buffer of up to twice its size: the budget counts the blocks'
//        bytes, and the buffers behind them may hold up to twice that.
//
//   ReadSlice(file, offset, length) of at most partial_read_max_bytes (and half a block) outside a
//   sequential stream, in a file larger than one block, whose block is not in memory (and each
//   block's part of such a Read() across a block boundary): from the cache, only the 16 KiB
//   chunks the range touches (BlockCache::ReadRange); if the cache does not hold the block, the
//   chunks are looked up as *pieces* (cache/block_key.h: kPieceIndexBit), the chunks it covers
//   only in part (its edges) as the 4 KiB pages it touches unless the chunk is held whole, and the
//   missing ones are fetched from the remote in one ranged read and cached as pieces. Cached and
//   fetched pieces alike land straight in one answer buffer (BlockCache::ReadInto). Once a small
//   read of a stream found its block not cached whole, the stream's next ones look up their
//   pieces first, with the whole block in the same lookup (a file read sparsely is cached as
//   pieces, and a lookup of the block alone would miss every time). A scattered
//   32 KiB read so costs its pages from the remote, not a block or whole edge chunks
//   (architecture.md: sparse reads stay sparse).
//
// A cache fault is a miss; only the remote's failure reaches the caller (as its Status).
//
// Thread-safety: Read() may be called from any number of threads; a ReadStream belongs to one open
// file and may be shared by the threads reading it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cache/block_cache.h"
#include "cache/readahead_budget.h"
#include "cache/readahead_probe.h"
#include "common/buffer_pool.h"
#include "common/result.h"
#include "remote/object_source.h"

namespace hoardfs {

// One version of one remote file, as fixed at open.
struct RemoteFile {
  ObjectSource* source = nullptr;  // REQUIRED: outlives the Fetcher
  ObjectRef ref;                   // path, version, size
  FileKey key;                     // remote_id, path, Hash64(version)
};

// Sequential-access state of one open file.
struct ReadStream {
  std::mutex mu;
  uint64_t next_offset = 0;    // where a sequential reader reads next
  uint64_t window = 0;         // current readahead window in bytes (0: not sequential)
  uint32_t run = 0;            // reads in the current run (each near where the previous ended)
  uint64_t run_start = 0;      // lowest offset read in the run
  uint64_t run_bytes = 0;      // bytes read in the run
  uint64_t prefetched_to = 0;  // prefetch has been scheduled up to this offset
  // The last small read found its block not cached whole: look its pieces up first.
  std::atomic<bool> pieces_first{false};
  // The last readahead step was cut short (or dropped) for lack of memory in the fetcher's budget.
  std::atomic<bool> memory_bound{false};
  // The window's largest size when its remote's probe grew it past readahead_max (0: not), and
  // the memory the stream holds for that, returned when the cap shrinks, the stream stops being
  // sequential, or it ends.
  uint64_t cap = 0;
  std::shared_ptr<ReadaheadBudget> budget;
  uint64_t lent_bytes = 0;

  ReadStream() = default;
  ReadStream(const ReadStream&) = delete;
  ReadStream& operator=(const ReadStream&) = delete;
  ~ReadStream() {
    if (budget != nullptr && lent_bytes != 0) budget->Release(lent_bytes);
  }
};

struct FetcherOptions {
  uint64_t max_request_bytes = 8ull << 20;  // one remote read at most
  uint64_t readahead_initial = 4ull << 20;  // first window of a sequential stream
  uint64_t readahead_max = 32ull << 20;     // per stream
  // A stream's window may grow past readahead_max up to this, one doubling at a time, each kept
  // only if it raised the stream's rate (cache/readahead_probe.h). <= readahead_max: never.
  uint64_t readahead_limit = 0;
  // How long the probe measures a window for, at least (tests shorten it).
  std::chrono::nanoseconds readahead_probe_epoch = std::chrono::milliseconds(250);
  // A remote without a sequential read for this long forgets its grown window (tests shorten it).
  std::chrono::nanoseconds readahead_idle_reset = std::chrono::seconds(30);
  // A run of reads is a stream only once it spans at least this many bytes, or counts at least
  // min_stream_reads reads. The kernel reads ahead on its own, up to max_readahead (1 MiB,
  // fuse/fuse_server.cc) per request: a read at a file's start or two adjacent small reads make
  // it send a few adjacent requests that cover what they span (128 + 256 + 512 KiB), which is no
  // evidence of a sequential reader (ROOT-like reads of a file's first baskets then took whole
  // blocks and a window; docs/benchmarks.md). Many small reads in a row are (O_DIRECT readers
  // bypass the page cache and its readahead: 4 KiB after 4 KiB would take 512 reads to span 2 MiB).
  uint64_t min_stream_span_bytes = 2ull << 20;
  uint32_t min_stream_reads = 16;
  uint64_t max_memory_bytes = 128ull << 20;  // blocks in flight + recently used, all streams
  unsigned threads = 8;                      // prefetch workers
  // ... and how many once a window has grown past readahead_max (started then, not before: more
  // workers in flight take more memory, 64 readers of a local server: 185 against 140 MiB RSS).
  unsigned grown_threads = 0;
  // Remote read buffers released by every block they held, kept mapped for the next reads (a
  // fresh mapping costs a page fault per page); the rest is unmapped. Memory on top of
  // max_memory_bytes; 32 MiB measured: 64 readers, 64 MiB budget, 160-175 MiB peak RSS.
  uint64_t max_idle_buffer_bytes = 32ull << 20;
  // ReadSlice() of at most this many bytes, outside a sequential stream, of a block not in memory:
  // read from the cache as the chunks it touches (BlockCache::ReadRange), not the whole block.
  uint64_t partial_read_max_bytes = 512ull << 10;
  // ... and if the cache does not hold the block, fetch just those chunks (as pieces).
  bool sparse_fetch = true;
};

// Bytes of a fetched block, shared (no copy): `data` keeps the block alive.
struct FetchedSlice {
  std::shared_ptr<const std::byte> data;
  size_t size = 0;
};

class Fetcher;

// ReadSlice() whose cache read the caller does (the FUSE ring's warm reads): Fetcher::PlanSlice
// makes it, the caller reads range->extent() on its own io_uring, Fetcher::FinishSlice completes
// it. Holds the plan (and its slot's reader pin) until destroyed.
struct PendingSlice {
  std::unique_ptr<PendingRangeRead> range;
  const RemoteFile* file = nullptr;  // as given to PlanSlice: must outlive the slice
  uint64_t offset = 0;
  size_t length = 0;
  ReadStream* stream = nullptr;
  Fetcher* fetcher = nullptr;  // the Fetcher that planned it (FinishSlice)
};

struct FetcherStats {
  uint64_t remote_requests = 0, remote_bytes = 0, remote_errors = 0;
  uint64_t memory_hit_bytes = 0, cache_hit_bytes = 0;
  uint64_t partial_hit_bytes = 0;  // of cache_hit_bytes: served by chunk reads (ReadRange)
  uint64_t piece_hit_bytes = 0;    // of cache_hit_bytes: served from cached pieces
  uint64_t sparse_fetches = 0;     // of remote_requests: chunk-range fetches of sparse reads
  uint64_t prefetch_requests = 0, prefetch_dropped = 0;
  // The remote read buffers (every pool together): memory on top of the fetcher's budget.
  uint64_t buffer_in_use_bytes = 0, buffer_idle_bytes = 0;  // mapped, handed out / kept idle
  uint64_t buffer_maps = 0, buffer_reuses = 0;              // fresh mappings / reused buffers
  // The configuration: a stream's largest readahead window, and the budget of blocks in memory.
  uint64_t readahead_max_bytes = 0, max_memory_bytes = 0;
  // Window growth past readahead_max: its limit; probes begun, kept (the rate rose) and undone;
  // probes whose stream could not have the memory; the memory lent to grown windows now.
  uint64_t readahead_limit_bytes = 0;
  uint64_t readahead_grows = 0, readahead_kept = 0, readahead_shrinks = 0, readahead_refused = 0;
  // Re-tests of kept growths begun, growths given back at one, idle resets of a grown remote.
  uint64_t readahead_retests = 0, readahead_released = 0, readahead_resets = 0;
  uint64_t readahead_lent_bytes = 0;
};

class Fetcher {
 public:
  // REQUIRES: cache outlives the Fetcher.
  Fetcher(BlockCache* cache, const FetcherOptions& options);
  ~Fetcher();
  Fetcher(const Fetcher&) = delete;
  Fetcher& operator=(const Fetcher&) = delete;

  // Reads up to out.size() bytes at `offset`; short only at the end of the file.
  Result<size_t> Read(const RemoteFile& file, uint64_t offset, std::span<std::byte> out,
                      ReadStream* stream);

  // The same bytes as Read() without copying them, when [offset, offset + length) lies within
  // one block (nullopt otherwise: use Read()). Short only at the end of the file.
  Result<std::optional<FetchedSlice>> ReadSlice(const RemoteFile& file, uint64_t offset,
                                                size_t length, ReadStream* stream);

  // ReadSlice() split for a caller that does the cache read on its own io_uring (the FUSE
  // ring's warm reads). A plan when ReadSlice(file, offset, length, stream) would serve the range
  // from the cache's chunks (ReadPartial's first cache step: PartialEligible, block not in memory,
  // stream not looking up pieces first), the range lies inside the file and inside one block, and
  // BlockCache::PlanRangeRead gives one; nullptr otherwise (call ReadSlice). Blocks on nothing but
  // the index and chunk-record lookups (usually memory); counts nothing.
  std::unique_ptr<PendingSlice> PlanSlice(const RemoteFile& file, uint64_t offset, size_t length,
                                          ReadStream* stream);
  // Completes `slice` with its read's result (bytes read, or -errno, as io_uring gives it). True:
  // the verified bytes are [buf + slice.range->skip(), + slice.length); the fetcher's counters
  // (cache_hit_bytes, partial_hit_bytes) and the stream (pieces_first, readahead) learn of the
  // read as after ReadSlice(). False: a miss (counted by the cache, the bad entry dropped); serve
  // the request with ReadSlice(), which looks up again. Call at most once per slice.
  bool FinishSlice(PendingSlice& slice, const std::byte* buf, int64_t res);
  // ReadSlice() of a range inside the file and one block that is held in memory, fetched or read
  // moments ago (a sequential stream's readahead): its bytes at once, counted and told to the
  // stream as ReadSlice() does; nullopt when the block is not there or still in flight (call
  // ReadSlice). Never waits: for the FUSE ring's threads.
  std::optional<FetchedSlice> MemorySlice(const RemoteFile& file, uint64_t offset, size_t length,
                                          ReadStream* stream);

  // Bytes of `file` present in the block cache (index only).
  uint64_t CachedBytes(const RemoteFile& file);

  FetcherStats Stats() const;

 private:
  // A block's bytes; `data` may alias a larger buffer (one remote read split into blocks).
  struct BlockData {
    std::shared_ptr<const std::byte> data;
    size_t size = 0;
    bool remote = false;  // fetched from the remote (not read from the cache)
  };
  using Block = BlockData;
  struct Pending {
    std::shared_future<Result<Block>> future;
    size_t bytes = 0;
    bool done = false;
  };

  // Where a read's blocks came from, for the window's probe.
  struct ReadOrigin {
    bool remote = false;  // every block was fetched from the remote (now or by a prefetch)
    bool waited = false;  // ... and one was in flight and had to be waited for
  };
  // Blocks [first, last] of `file`: from memory, the cache, or the remote (steps 1-3).
  // With `cache_checked`, the cache was just asked for these blocks and missed: skip step 2.
  // `origin` (optional) is filled in.
  Result<std::vector<Block>> GetBlocks(const RemoteFile& file, uint32_t first, uint32_t last,
                                       bool cache_checked = false, ReadOrigin* origin = nullptr);
  // A small non-sequential read of one block from the cache's chunks, or from pieces and the
  // remote; nullopt: not served so (use the whole block). `cache_missed`: the cache was asked for
  // the whole block and does not hold it.
  Result<std::optional<FetchedSlice>> ReadPartial(const RemoteFile& file, uint32_t block,
                                                  uint64_t in_block, size_t length,
                                                  ReadStream* stream, bool* cache_missed);
  // Read() of a small range over a block boundary outside a sequential stream: each block's part
  // from memory or the cache's chunks, the parts the cache lacks in one ranged read of their
  // chunks, cached as pieces (a ROOT basket across two blocks costs its chunks, not two blocks).
  // nullopt: not such a read (use the whole blocks). `out` lies within the file.
  Result<std::optional<size_t>> ReadStraddling(const RemoteFile& file, uint64_t offset,
                                               std::span<std::byte> out, ReadStream* stream);
  // Whether a read of `length` may be served from chunks or pieces: small (at most
  // partial_read_max_bytes and half a block), in a file of more than one block, outside a
  // sequential stream.
  bool PartialEligible(const RemoteFile& file, size_t length, ReadStream* stream);
  bool InMemory(const RemoteFile& file, uint32_t block);
  // Pieces can name the chunks of blocks up to `last_block`.
  bool PiecesAllowed(uint32_t last_block) const;
  // [in_block, in_block + length) of `block` from the cache's chunks; nullopt if not served so.
  // `held`: the cache holds the block (set even when the range was not served, e.g. short).
  std::optional<FetchedSlice> ReadCachedRange(const RemoteFile& file, uint32_t block,
                                              uint64_t in_block, size_t length, bool* held);
  // [in_block, in_block + length) of the file from block `block`'s start (the range may run into
  // the next block) as pieces: the chunks it covers whole, and of a chunk it covers in part the
  // pages it touches (or the chunk, when memory or the cache holds it whole). With
  // `whole_block_too`, the cache is asked for block `block` itself in the same lookup, and nullopt
  // means it holds it (read it so instead); never nullopt otherwise.
  Result<std::optional<FetchedSlice>> ReadPieces(const RemoteFile& file, uint32_t block,
                                                 uint64_t in_block, size_t length,
                                                 bool whole_block_too = false);
  // Fetches blocks [first, last] of `file` that nobody else is fetching; returns futures for all.
  std::vector<std::shared_future<Result<Block>>> Acquire(const RemoteFile& file,
                                                         std::span<const uint32_t> blocks,
                                                         bool prefetch);
  void FetchRun(const RemoteFile& file, uint32_t first, uint32_t count,
                std::vector<std::promise<Result<Block>>>& promises);
  // A prefetch: cache hits first, remote for the rest.
  void PrefetchRun(const RemoteFile& file, uint32_t first, uint32_t count,
                   std::vector<std::promise<Result<Block>>>& promises);
  // Keeps a completed block in memory, accounted as `bytes` (0: a whole block).
  void Remember(const std::string& key, Block block, uint64_t bytes = 0);
  // Keeps a piece just fetched in memory until its insert has surely committed: only the
  // kMaxRememberedPieces most recent ones (a neighbouring read wants it moments later or never).
  void RememberPiece(const std::string& key, Block piece);
  void Forget(const std::string& key);
  // Drops the oldest completed blocks until memory_bytes_ <= target. REQUIRES: mu_ held.
  void TrimRecentLocked(uint64_t target);
  // `origin`: where the read's blocks came from. Only reads served by the remote tell the probe
  // (a read from the cache says nothing about the link).
  void ScheduleReadahead(const RemoteFile& file, uint64_t offset, size_t length, ReadStream* stream,
                         ReadOrigin origin);
  // A sequential read of `length` bytes by `stream` of `file` (its window just computed), served
  // by the remote: tells the remote's probe, then gives the stream the remote's cap (lending or
  // taking back memory). `waited`: it waited for a fetch in flight (the window did not keep
  // ahead). REQUIRES: stream->mu held.
  void ProbeWindowLocked(const RemoteFile& file, ReadStream* stream, size_t length, bool waited);
  // Sets the stream's cap to `cap` if the memory for it can be had; false if not.
  // REQUIRES: stream->mu held.
  bool ApplyCapLocked(ReadStream* stream, uint64_t cap);
  // Drops the growth of a stream that is no longer sequential. REQUIRES: stream->mu held.
  void ResetProbeLocked(ReadStream* stream);
  bool WindowMayGrow() const { return options_.readahead_limit > options_.readahead_max; }
  // Blocks in memory may take the fixed budget and what is lent to grown windows.
  uint64_t MemoryBudget() const { return options_.max_memory_bytes + lent_->reserved(); }
  void Submit(std::function<void()> task);
  void WorkerMain();
  // Starts workers up to `n` in all.
  void AddWorkers(unsigned n);

  BlockCache* cache_;
  const FetcherOptions options_;
  const uint32_t block_size_;
  // Remote read buffers; a buffer holds the pool, so blocks may outlive the Fetcher.
  const std::shared_ptr<BufferPool> buffers_;
  // Sparse reads' buffers (tens to hundreds of KiB): reused mapped memory, not fresh heap pages
  // (a page fault costs more than the copy in a VM: cold ROOT-like read 0.9 -> 0.63 s).
  const std::shared_ptr<BufferPool> small_buffers_;
  // Remembered pieces' copies: one capacity (a chunk), so every released copy is reused.
  static constexpr size_t kMaxRememberedPieces = 512;
  const std::shared_ptr<BufferPool> piece_buffers_;
  // Memory lent to grown readahead windows (readahead_limit - readahead_max at most).
  const std::shared_ptr<ReadaheadBudget> lent_;
  // Each remote's probe of the window's growth (ordered after a stream's mu). Keyed by the
  // source's address, never dereferenced.
  std::mutex probes_mu_;
  std::unordered_map<const ObjectSource*, ReadaheadProbe> probes_;  // GUARDED_BY(probes_mu_)

  std::mutex mu_;
  std::unordered_map<std::string, Pending> blocks_;  // GUARDED_BY(mu_): in flight or recent
  std::deque<std::string> recent_;                   // GUARDED_BY(mu_): completed, oldest first
  std::deque<std::string> recent_pieces_;  // GUARDED_BY(mu_): RememberPiece's, oldest first
  uint64_t memory_bytes_ = 0;              // GUARDED_BY(mu_)

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::deque<std::function<void()>> tasks_;  // GUARDED_BY(pool_mu_)
  bool stopping_ = false;                    // GUARDED_BY(pool_mu_)
  std::vector<std::thread> workers_;         // GUARDED_BY(pool_mu_) once running

  mutable struct {
    std::atomic<uint64_t> remote_requests{0}, remote_bytes{0}, remote_errors{0},
        memory_hit_bytes{0}, cache_hit_bytes{0}, partial_hit_bytes{0}, piece_hit_bytes{0},
        sparse_fetches{0}, prefetch_requests{0}, prefetch_dropped{0}, readahead_grows{0},
        readahead_kept{0}, readahead_shrinks{0}, readahead_refused{0}, readahead_retests{0},
        readahead_released{0}, readahead_resets{0};
  } stats_;
};

}  // namespace hoardfs
