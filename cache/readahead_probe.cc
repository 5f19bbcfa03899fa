#include "cache/readahead_probe.h"

#include <algorithm>

namespace hoardfs {

ReadaheadProbe::ReadaheadProbe(const ReadaheadProbeOptions& options)
    : options_(options), cap_(options.base_cap) {}

uint32_t ReadaheadProbe::BackoffEpochs(uint32_t failures) {
  if (failures == 0) return 0;
  return std::min(kMaxBackoffEpochs, kFirstBackoffEpochs << std::min<uint32_t>(failures - 1, 8));
}

void ReadaheadProbe::StartEpoch(Clock::time_point now) {
  in_epoch_ = true;
  epoch_start_ = now;
  epoch_bytes_ = 0;
  epoch_waited_ = false;
  epoch_memory_bound_ = false;
}

ReadaheadProbe::Step ReadaheadProbe::Reset() {
  if (cap_ != options_.base_cap || failures_ != 0) ++resets_;  // something learnt is forgotten
  const uint64_t before = cap_;
  cap_ = options_.base_cap;
  probe_from_ = 0;
  retest_from_ = 0;
  baseline_rate_ = 0;
  failures_ = 0;
  backoff_epochs_ = 0;
  kept_epochs_ = 0;
  retest_epochs_ = kFirstRetestEpochs;
  if (before == cap_) return {};
  return {Step::Kind::kShrink, Step::Reason::kIdle, before, cap_};
}

ReadaheadProbe::Step ReadaheadProbe::Restore() {
  const uint64_t before = cap_;
  cap_ = retest_from_;
  retest_from_ = 0;
  grew_from_ = before;
  epochs_at_cap_ = 0;
  kept_epochs_ = 0;
  return {Step::Kind::kGrow, Step::Reason::kRetest, before, cap_};
}

ReadaheadProbe::Step ReadaheadProbe::OnRead(uint64_t bytes, Clock::time_point now, bool waited,
                                            bool memory_bound) {
  if (options_.limit <= options_.base_cap) return {};
  grew_from_ = 0;
  const auto gap = now - last_read_;
  const bool paused = in_epoch_ && gap > options_.min_epoch;
  last_read_ = now;
  if (!in_epoch_ || paused) {
    StartEpoch(now);
    if (!paused) return {};
    epochs_at_cap_ = 0;
    if (gap > options_.idle_reset) return Reset();
    if (retesting()) return Restore();
    if (!probing()) return {};
    ++abandoned_;
    const uint64_t grown = cap_;
    cap_ = probe_from_;
    probe_from_ = 0;
    return {Step::Kind::kShrink, Step::Reason::kProbe, grown, cap_};
  }
  epoch_bytes_ += bytes;
  epoch_waited_ = epoch_waited_ || waited;
  epoch_memory_bound_ = epoch_memory_bound_ || memory_bound;
  const auto elapsed = now - epoch_start_;
  if (epoch_bytes_ < options_.epoch_windows * cap_ || elapsed < options_.min_epoch) return {};
  const double rate =
      static_cast<double>(epoch_bytes_) / std::chrono::duration<double>(elapsed).count();
  const bool window_bound = epoch_waited_ && !epoch_memory_bound_;
  StartEpoch(now);
  if (++epochs_at_cap_ == 1) return {};  // the warm-up
  if (backoff_epochs_ > 0) --backoff_epochs_;

  if (probing()) {
    const uint64_t before = probe_from_;
    probe_from_ = 0;
    if (rate >= options_.min_gain * baseline_rate_) {
      baseline_rate_ = rate;  // kept; a later epoch may probe further, or test it again
      kept_epochs_ = 0;
      return {};
    }
    ++failures_;
    backoff_epochs_ = BackoffEpochs(failures_);
    const uint64_t grown = cap_;
    cap_ = before;
    epochs_at_cap_ = 0;
    return {Step::Kind::kShrink, Step::Reason::kProbe, grown, cap_};
  }
  if (retesting()) {
    if (rate * options_.release_gain > baseline_rate_) {
      // The smaller cap does about as well: the growth no longer pays, as a failed probe.
      retest_from_ = 0;
      ++released_;
      ++failures_;
      backoff_epochs_ = BackoffEpochs(failures_);
      baseline_rate_ = rate;
      kept_epochs_ = 0;
      retest_epochs_ = kFirstRetestEpochs;
      return {};
    }
    retest_epochs_ = std::min(kMaxRetestEpochs, retest_epochs_ * 2);
    return Restore();
  }
  baseline_rate_ = rate;
  if (cap_ > options_.base_cap && ++kept_epochs_ >= retest_epochs_) {
    retest_from_ = cap_;
    cap_ = std::max(options_.base_cap, cap_ / 2);
    epochs_at_cap_ = 0;
    kept_epochs_ = 0;
    return {Step::Kind::kShrink, Step::Reason::kRetest, retest_from_, cap_};
  }
  if (backoff_epochs_ > 0 || cap_ >= options_.limit || !window_bound) return {};
  probe_from_ = cap_;
  grew_from_ = cap_;
  cap_ = std::min(cap_ * 2, options_.limit);
  epochs_at_cap_ = 0;
  return {Step::Kind::kGrow, Step::Reason::kProbe, probe_from_, cap_};
}

void ReadaheadProbe::Refused() {
  if (grew_from_ == 0) return;
  cap_ = grew_from_;
  grew_from_ = 0;
  probe_from_ = 0;
  kept_epochs_ = 0;
}

}  // namespace hoardfs
