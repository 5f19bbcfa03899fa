// ReadaheadProbe: decides, for one remote, whether the readahead window of its sequential
// streams should grow past the configured largest window (readahead_max) toward a limit, by
// trying it.
//
// A larger window pays when the remote's requests spend most of their time waiting on the link
// (a wide-area round trip, a TCP window per connection): more requests in flight then carry more
// bytes per second. It does not pay when the remote is bandwidth-bound (a server on the local
// network): the requests only queue longer, and the window costs memory. Request latency alone
// cannot tell the two apart (Little's law holds in both: bytes in flight = rate x latency), so
// the probe measures the effect, much as BBR probes a path's bandwidth (Cardwell et al., "BBR:
// Congestion-Based Congestion Control", ACM Queue 14(5), 2016).
//
// The probe belongs to the remote, not to a stream: the link is the remote's, and the files of a
// dataset are each read once, one after another, often each shorter than a probe takes. It sees
// the sequential reads of all the remote's streams:
//
//   - time is cut into epochs, each at least min_epoch long and covering at least
//     epoch_windows x cap() bytes read; the first epoch, and the first after each change of the
//     cap, is a warm-up whose rate is not used (it carries the fill of a larger window, or the
//     bytes fetched ahead under a larger one);
//   - at the end of an epoch in which a reader waited for a fetch in flight (the window did not
//     keep ahead of it: readers slower than the remote never wait, and never cause a probe) and
//     no reader's readahead was cut short for lack of memory (then memory, not the window, bounds
//     what is in flight: many streams at once), the cap doubles (up to the limit) and the epoch's
//     rate is kept as the baseline;
//   - the first epoch after the warm-up at the larger cap decides: a rate of at least
//     min_gain x the baseline keeps it (and a later epoch may probe further); less restores the
//     previous cap, and the next probe waits: kFirstBackoffEpochs epochs after the first failed
//     probe, twice as many after each further one (a noisy epoch costs a few epochs, not the rest
//     of the reads; a bandwidth-bound remote is probed ever more rarely);
//   - a pause of more than min_epoch between two reads ends the epoch unjudged (its rate would
//     mix two workloads: a probe once grew on the first read of a new pass, and was kept because
//     that pass read from the cache), the next epoch is a warm-up, and a probe being judged is
//     undone without counting as a failure;
//   - a kept growth is tested again, downward: after kFirstRetestEpochs judged epochs at it, the
//     cap halves for a warm-up and one judged epoch. If the rate stays above 1 / release_gain of
//     the epoch before, the growth no longer pays (the link changed, or noise once kept it): the
//     smaller cap stays, and this counts as a failed probe. Else the grown cap comes back, and
//     the next re-test waits twice as long (up to kMaxRetestEpochs). release_gain is below
//     min_gain (hysteresis): a growth that gains a little over min_gain is not given back and
//     taken again by turns as noise moves the epochs' rates (at 1.2 both ways, a 20 ms link
//     whose growth gains ~1.25 lost it at the first re-test and read 4 GiB ~12 % slower). A
//     pause during a re-test brings the grown cap back;
//   - after an idle time of more than idle_reset without a read, everything learnt is forgotten:
//     the cap returns to base_cap, failures and backoff are cleared, and growth must be earned
//     again (the link the next reads take may not be the one measured; TCP restarts its window
//     after an idle period for the same reason: RFC 5681 section 4.1, RFC 7661).
//
// The caller applies the cap to each stream, as memory allows (Refused() when the stream whose
// read made it grow, or grow back at the end of a re-test, could not have it).
//
// Not thread-safe: the caller's lock guards it.
#pragma once

#include <chrono>
#include <cstdint>

namespace hoardfs {

struct ReadaheadProbeOptions {
  uint64_t base_cap = 32ull << 20;  // the window a stream reaches by itself (readahead_max)
  uint64_t limit = 32ull << 20;     // the largest cap a probe may reach (== base_cap: never)
  double min_gain = 1.2;            // a larger cap must raise the rate at least this much
  double release_gain = 1.1;        // ... and a kept one keep it at least this much
  std::chrono::nanoseconds min_epoch = std::chrono::milliseconds(250);
  uint64_t epoch_windows = 2;  // an epoch covers at least this many caps of bytes read
  std::chrono::nanoseconds idle_reset = std::chrono::seconds(30);  // forget all after this idle
};

class ReadaheadProbe {
 public:
  using Clock = std::chrono::steady_clock;

  // What the caller should do with the cap after a read.
  struct Step {
    enum class Kind { kNone, kGrow, kShrink };
    // Why: a probe upward (kGrow: it begins; kShrink: it did not pay, or a pause undid it), a
    // re-test of a kept growth (kShrink: it begins; kGrow: the growth still pays, or a pause
    // ended the re-test), or an idle time longer than idle_reset (kShrink to base_cap).
    enum class Reason { kProbe, kRetest, kIdle };
    Kind kind = Kind::kNone;
    Reason reason = Reason::kProbe;
    uint64_t from = 0, to = 0;  // the cap before and after (kGrow, kShrink)
  };

  static constexpr uint32_t kFirstBackoffEpochs = 4;
  static constexpr uint32_t kMaxBackoffEpochs = 64;
  static constexpr uint32_t kFirstRetestEpochs = 16;
  static constexpr uint32_t kMaxRetestEpochs = 256;

  explicit ReadaheadProbe(const ReadaheadProbeOptions& options);

  // The streams' largest window now (base_cap until a probe grew it).
  uint64_t cap() const { return cap_; }
  // Whether a probe is being judged (the cap was just raised).
  bool probing() const { return probe_from_ != 0; }
  // Whether a kept growth is being re-tested (the cap was just halved).
  bool retesting() const { return retest_from_ != 0; }
  // Re-tests whose smaller cap did as well, so that it stayed (the growth given back).
  uint32_t released() const { return released_; }
  // Idle times that reset what was learnt.
  uint32_t resets() const { return resets_; }
  // Probes undone by a pause before they could be judged (not failures).
  uint32_t abandoned() const { return abandoned_; }
  // Probes that did not pay (each doubles the wait before the next one).
  uint32_t failures() const { return failures_; }

  // A sequential read of `bytes` at `now`. `waited`: it waited for a fetch already in flight.
  // `memory_bound`: its stream's last readahead was cut short for lack of memory. On kGrow the
  // cap is already the larger one: call Refused() if its memory cannot be had.
  Step OnRead(uint64_t bytes, Clock::time_point now, bool waited, bool memory_bound = false);
  // The memory for the last kGrow could not be reserved: back to the previous cap (a later epoch
  // may try again).
  void Refused();

 private:
  void StartEpoch(Clock::time_point now);
  // Forgets what was learnt (idle_reset passed): the cap back to base_cap.
  Step Reset();
  // Ends a re-test with the grown cap back (`reason` of the step: kRetest).
  Step Restore();
  // Epochs to wait before the next probe after `failures` failed ones.
  static uint32_t BackoffEpochs(uint32_t failures);

  const ReadaheadProbeOptions options_;
  uint64_t cap_;
  uint64_t probe_from_ = 0;   // nonzero while a probe is judged: the cap before it
  double baseline_rate_ = 0;  // bytes per second of the epoch before the probe
  uint64_t retest_from_ = 0;  // nonzero while a re-test is judged: the grown cap it halved
  uint64_t grew_from_ = 0;    // the cap before the kGrow just returned (for Refused())
  uint32_t failures_ = 0;
  uint32_t abandoned_ = 0;
  uint32_t released_ = 0;
  uint32_t resets_ = 0;
  uint32_t backoff_epochs_ = 0;  // epochs left before the next probe
  uint32_t epochs_at_cap_ = 0;   // epochs completed since the cap last changed
  uint32_t kept_epochs_ = 0;     // judged epochs at a kept growth since it was last tested
  uint32_t retest_epochs_ = kFirstRetestEpochs;  // ... before the next re-test
  bool in_epoch_ = false;
  Clock::time_point epoch_start_{};
  Clock::time_point last_read_{};
  uint64_t epoch_bytes_ = 0;
  bool epoch_waited_ = false;
  bool epoch_memory_bound_ = false;
};

}  // namespace hoardfs
