// ReadaheadProbe: decides, for one sequential stream, whether its readahead window should grow
// past the configured largest window (readahead_max) toward a limit, by trying it.
//
// A larger window pays when the remote's requests spend most of their time waiting on the link
// (a wide-area round trip, a TCP window per connection): more requests in flight then carry more
// bytes per second. It does not pay when the remote is bandwidth-bound (a server on the local
// network): the requests only queue longer, and the window costs memory. Request latency alone
// cannot tell the two apart (Little's law holds in both: bytes in flight = rate x latency), so
// the probe measures the effect, much as BBR probes a path's bandwidth (Cardwell et al., "BBR:
// Congestion-Based Congestion Control", ACM Queue 14(5), 2016):
//
//   - time is cut into epochs, each at least min_epoch long and covering at least
//     epoch_windows x cap() bytes read; an epoch counts only once the window has reached cap(),
//     and the first epoch at a cap is a warm-up whose rate is not used (it still carries the
//     bytes fetched ahead while the window ramped up, or the fill of a larger one);
//   - at the end of an epoch in which the reader waited for a fetch in flight (the window did not
//     keep ahead of it: a reader slower than the remote never waits, and never probes), the cap
//     doubles (up to the limit) and the epoch's rate is kept as the baseline;
//   - the rate of the first epoch after the warm-up at the larger cap decides: at least
//     min_gain x the baseline keeps it (and the stream may probe again); less restores the
//     previous cap, and the stream waits before it probes again: kFirstBackoffEpochs epochs after
//     its first failed probe, twice as many after each further one (a noisy epoch costs a few
//     epochs, not the rest of the stream; a bandwidth-bound remote is probed ever more rarely).
//
// The caller owns the memory: it reserves what a larger cap needs before it applies it (Refused()
// when it cannot), and releases it on a revert or Reset().
//
// Not thread-safe: the stream's lock guards it.
#pragma once

#include <chrono>
#include <cstdint>

namespace hoardfs {

struct ReadaheadProbeOptions {
  uint64_t base_cap = 32ull << 20;  // the window a stream reaches by itself (readahead_max)
  uint64_t limit = 32ull << 20;     // the largest cap a probe may reach (== base_cap: never)
  double min_gain = 1.2;            // a larger cap must raise the rate at least this much
  std::chrono::nanoseconds min_epoch = std::chrono::milliseconds(250);
  uint64_t epoch_windows = 2;  // an epoch covers at least this many caps of bytes read
};

class ReadaheadProbe {
 public:
  using Clock = std::chrono::steady_clock;

  // What the caller should do with the stream's cap after a read.
  struct Step {
    enum class Kind { kNone, kGrow, kShrink };
    Kind kind = Kind::kNone;
    uint64_t from = 0, to = 0;  // the cap before and after (kGrow, kShrink)
  };

  explicit ReadaheadProbe(const ReadaheadProbeOptions& options);

  // The stream's largest window now (base_cap until a probe grew it).
  uint64_t cap() const { return cap_; }
  // Whether a probe is being judged (the cap was just raised).
  bool probing() const { return probe_from_ != 0; }
  // Probes that did not pay (each doubles the wait before the next one).
  uint32_t failures() const { return failures_; }

  static constexpr uint32_t kFirstBackoffEpochs = 4;
  static constexpr uint32_t kMaxBackoffEpochs = 64;

  // A read of `bytes` at `now`. `waited`: it waited for a fetch already in flight. `at_cap`: the
  // stream's window has reached cap(). On kGrow the cap is already the larger one: call Refused()
  // if its memory cannot be had.
  Step OnRead(uint64_t bytes, Clock::time_point now, bool waited, bool at_cap);
  // The memory for the last kGrow could not be reserved: back to the previous cap (the stream
  // may try again an epoch later).
  void Refused();
  // The stream is no longer sequential: back to base_cap, epoch restarted (the wait after failed
  // probes carries on). Returns the cap it had.
  uint64_t Reset();

 private:
  void StartEpoch(Clock::time_point now);

  const ReadaheadProbeOptions options_;
  uint64_t cap_;
  uint64_t probe_from_ = 0;   // nonzero while a probe is judged: the cap before it
  double baseline_rate_ = 0;  // bytes per second of the epoch before the probe
  uint32_t failures_ = 0;
  uint32_t backoff_epochs_ = 0;  // epochs left before the next probe
  uint32_t epochs_at_cap_ = 0;   // epochs completed since the cap last changed or ramped
  bool in_epoch_ = false;
  Clock::time_point epoch_start_{};
  uint64_t epoch_bytes_ = 0;
  bool epoch_waited_ = false;
};

}  // namespace hoardfs
