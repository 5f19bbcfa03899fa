// FakeSource: an in-memory ObjectSource for the tests of the layers above (cache, filesystem,
// daemon), with a knob for every fault a real remote shows (style rule 15: fakes over mocks).
//
// The tree is edited at run time (AddFile/AddDirectory/AddSymlink/Remove; parents are created as
// needed). Every edit gives the object a new mtime from a logical clock that only moves forward,
// so a replaced file always gets a new version "<size>-<mtime_ns>", as real backends report it.
// Read() checks ref.version against the current file: kFailedPrecondition if it changed.
//
// Faults (all thread-safe, effective for the next request):
//   FailNext(n, status, ops)  the next n requests of the chosen kinds fail with `status`.
//   SetDropped(true)          every request fails kUnavailable (a server that went away).
//   SetDelay(d)               every request first sleeps d (a slow server; outside any lock).
//   SetReadsPaused(true)      Read/ReadV block until unpaused (to pile up concurrent misses).
//   SetListsPaused(true)      List blocks until unpaused (a listing with attributes still in
//                             flight; ListNames is not held).
//   SetHung(true, timeout)    every request waits until SetHung(false) (then goes on as usual,
//                             like a SIGCONT'd server) or `timeout` passes (then fails
//                             kUnavailable "timed out"): a hung server behind a request timeout.
//   SetSizeLie(path, delta)   Stat/List report size + delta; Read still has only the real bytes,
//                             so a read into the invented tail is kCorruption ("short body")
//                             and a negative delta makes the file look truncated.
//   SetGarbage(path, true)    Read/ReadV return the bytes XOR 0x5A with an OK status (silent
//                             corruption); path "" means every file.
// Faults are checked in that order: paused, delay, hung, dropped, FailNext.
//
// Counters count every request (failed ones too) and the bytes served; ReadCount(path) counts
// Read + ReadV calls per path (to check that concurrent misses collapse into one fetch).
//
// Thread-safety: thread-safe; any number of threads may call anything, edits included.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "remote/object_source.h"

namespace hoardfs {

class FakeSource final : public ObjectSource {
 public:
  struct Options {
    unsigned list_page_size = 1000;  // entries per List page
    std::string description = "fake://";
    bool lists_names = false;  // ListNames served (as XRootD does) instead of kNotSupported
  };

  // Request kinds, for FailNext.
  enum Op : unsigned {
    kStatOp = 1,
    kListOp = 2,
    kReadOp = 4,
    kReadVOp = 8,
    kNamesOp = 16,
    kAllOps = 31
  };

  struct Counters {
    uint64_t stats = 0;
    uint64_t lists = 0;
    uint64_t name_lists = 0;
    uint64_t reads = 0;
    uint64_t readvs = 0;
    uint64_t readv_ranges = 0;
    uint64_t bytes_read = 0;  // bytes handed out by Read and ReadV
    uint64_t failures = 0;    // requests that returned (or, for ReadV, set) a non-OK status
  };

  FakeSource() : FakeSource(Options{}) {}
  explicit FakeSource(Options options);
  ~FakeSource() override;

  // ---- the tree ----
  // Creates or replaces the file at `path` (a valid object path, not "/"), creating parent
  // directories. mtime_ns 0 takes the next tick of the logical clock. A directory at `path` is
  // replaced too (with its subtree).
  void AddFile(const std::string& path, std::string contents, int64_t mtime_ns = 0,
               uint32_t mode = 0444);
  void AddDirectory(const std::string& path, uint32_t mode = 0555);
  void AddSymlink(const std::string& path, const std::string& target);
  // Removes `path` and, for a directory, its subtree. Returns false if nothing was there.
  bool Remove(const std::string& path);
  // The current info of `path` (no counters, no faults), or kNotFound.
  Result<ObjectInfo> Peek(const std::string& path) const;

  // ---- faults ----
  void FailNext(unsigned n, Status status, unsigned ops = kAllOps);
  void SetDropped(bool dropped);
  void SetDelay(std::chrono::milliseconds delay);
  void SetReadsPaused(bool paused);
  void SetListsPaused(bool paused);
  void SetHung(bool hung, std::chrono::milliseconds timeout = std::chrono::milliseconds(100));
  void SetSizeLie(const std::string& path, int64_t delta);  // 0 clears
  void SetGarbage(const std::string& path, bool on);
  void ClearFaults();

  // ---- counters ----
  Counters counters() const;
  uint64_t ReadCount(const std::string& path) const;
  void ResetCounters();

  // ---- ObjectSource ----
  Result<ObjectInfo> Stat(const std::string& path) override;
  Result<ListPage> List(const std::string& dir, const std::string& page_token) override;
  bool lists_names_cheaply() const override { return options_.lists_names; }
  Result<std::vector<std::string>> ListNames(const std::string& dir) override;
  Result<size_t> Read(const ObjectRef& ref, uint64_t offset, std::span<std::byte> out) override;
  Status ReadV(const ObjectRef& ref, std::span<ReadRange> ranges) override;
  std::string Describe() const override { return options_.description; }

 private:
  struct Node {
    ObjectType type = ObjectType::kFile;
    std::shared_ptr<const std::string> data;  // files (shared: readers copy outside the lock)
    int64_t mtime_ns = 0;
    uint32_t mode = 0;
    std::string target;  // symlinks
  };

  // Waits out pause and delay, then applies drop and FailNext for one request of kind `op`.
  Status Admit(Op op);
  int64_t TickLocked();
  void MakeParentsLocked(const std::string& path);
  void RemoveLocked(const std::string& path);
  ObjectInfo InfoLocked(const std::string& path, const Node& node) const;
  // OK if `dir` is a directory, else the listing's error (counted as a failure).
  Status ListableLocked(const std::string& dir);
  // fn(name, key, node) for each child of `dir` named after `after` ("": from the first), in
  // name order, until fn returns false.
  void ForEachChildLocked(
      const std::string& dir, const std::string& after,
      const std::function<bool(std::string_view, const std::string&, const Node&)>& fn) const;
  // One range of one file; `data` is the file's bytes, `garbage` whether to corrupt them.
  static Result<size_t> Copy(const ObjectRef& ref, const std::string& data, bool garbage,
                             uint64_t offset, std::span<std::byte> out);
  // The file's bytes for `ref` (version checked) and whether they are to be corrupted.
  Result<std::shared_ptr<const std::string>> FileFor(const ObjectRef& ref, bool* garbage);

  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable unpaused_;
  std::condition_variable unhung_;
  std::map<std::string, Node> nodes_;  // GUARDED_BY(mu_), full path → node; "/" always present
  int64_t clock_ns_;                   // GUARDED_BY(mu_)
  // Faults, GUARDED_BY(mu_).
  unsigned fail_next_ = 0;
  unsigned fail_ops_ = kAllOps;
  Status fail_status_;
  bool dropped_ = false;
  bool paused_ = false;
  bool lists_paused_ = false;
  bool hung_ = false;
  std::chrono::milliseconds hang_timeout_{0};
  std::chrono::milliseconds delay_{0};
  std::map<std::string, int64_t> size_lies_;
  std::map<std::string, bool> garbage_;
  bool garbage_all_ = false;
  // Counters, GUARDED_BY(mu_).
  Counters counters_;
  std::map<std::string, uint64_t> reads_by_path_;
};

}  // namespace hoardfs
