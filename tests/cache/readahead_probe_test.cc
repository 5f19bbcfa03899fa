// ReadaheadProbe: the decisions of the window's growth, on a clock the test drives (no sleeps):
// an epoch's length and bytes, the reader's waits, a kept and an undone probe, the limit, a refused
// reservation, a start from what an earlier stream learnt, a pause between reads, the re-test of a
// kept growth, an idle time that forgets it. ReadaheadBudget: the ceiling shared by all streams.
#include "cache/readahead_probe.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>

#include "cache/readahead_budget.h"

namespace hoardfs {
namespace {

using std::chrono::milliseconds;
using Kind = ReadaheadProbe::Step::Kind;

constexpr uint64_t kMiB = 1ull << 20;

ReadaheadProbeOptions Options(uint64_t base_mib, uint64_t limit_mib) {
  return ReadaheadProbeOptions{.base_cap = base_mib * kMiB,
                               .limit = limit_mib * kMiB,
                               .min_gain = 1.2,
                               .release_gain = 1.1,
                               .min_epoch = milliseconds(250),
                               .epoch_windows = 2};
}

// Drives one probe: reads of 1 MiB at a given rate.
class Reader {
 public:
  explicit Reader(ReadaheadProbe* probe) : probe_(probe) {}

  // Reads up to `max_mib` MiB at `mib_per_s` until a step that is not kNone (returned; kNone if
  // none came). mib() counts every read so far.
  ReadaheadProbe::Step Next(double mib_per_s, bool waited, uint64_t max_mib = 100000,
                            bool memory_bound = false) {
    const auto per_read = std::chrono::duration_cast<ReadaheadProbe::Clock::duration>(
        std::chrono::duration<double>(1.0 / mib_per_s));
    for (uint64_t i = 0; i < max_mib; ++i) {
      now_ += per_read;
      ++mib_;
      const ReadaheadProbe::Step step = probe_->OnRead(kMiB, now_, waited, memory_bound);
      if (step.kind != Kind::kNone) return step;
    }
    return {};
  }
  uint64_t mib() const { return mib_; }
  // No read for `pause` (the readers stopped, or turned to the cache).
  void Pause(milliseconds pause) { now_ += pause; }

 private:
  ReadaheadProbe* probe_;
  ReadaheadProbe::Clock::time_point now_{};
  uint64_t mib_ = 0;
};

TEST(ReadaheadProbeTest, NeverGrowsWhenTheLimitIsTheBaseWindow) {
  ReadaheadProbe probe(Options(32, 32));
  Reader reader(&probe);
  EXPECT_EQ(reader.Next(100, /*waited=*/true, 4096).kind, Kind::kNone);
  EXPECT_EQ(probe.cap(), 32 * kMiB);
}

TEST(ReadaheadProbeTest, AReaderThatNeverWaitsNeverProbes) {
  ReadaheadProbe probe(Options(32, 128));
  Reader reader(&probe);
  EXPECT_EQ(reader.Next(100, /*waited=*/false, 4096).kind, Kind::kNone);
  EXPECT_EQ(probe.cap(), 32 * kMiB);
  EXPECT_FALSE(probe.probing());
}

// The first read starts the first epoch, a warm-up; the second epoch decides. Each needs
// 2 x 32 MiB and 250 ms.
TEST(ReadaheadProbeTest, AnEpochNeedsBothItsBytesAndItsTimeAndTheFirstIsAWarmUp) {
  ReadaheadProbe fast_probe(Options(32, 128));
  Reader fast(&fast_probe);  // 1000 MiB/s: time decides, 250 MiB an epoch
  EXPECT_EQ(fast.Next(1000, true).kind, Kind::kGrow);
  EXPECT_EQ(fast.mib(), 1u + 250 + 250);

  ReadaheadProbe slow_probe(Options(32, 128));
  Reader slow(&slow_probe);  // 100 MiB/s: bytes decide, 64 MiB an epoch
  EXPECT_EQ(slow.Next(100, true).kind, Kind::kGrow);
  EXPECT_EQ(slow.mib(), 1u + 64 + 64);
}

TEST(ReadaheadProbeTest, GrowsWhileEachDoublingPaysThenStopsAtTheLimit) {
  ReadaheadProbe probe(Options(32, 128));
  Reader reader(&probe);
  ReadaheadProbe::Step step = reader.Next(100, true);
  ASSERT_EQ(step.kind, Kind::kGrow);
  EXPECT_EQ(step.from, 32 * kMiB);
  EXPECT_EQ(step.to, 64 * kMiB);
  EXPECT_EQ(probe.cap(), 64 * kMiB);
  EXPECT_TRUE(probe.probing());
  // 64 MiB is 1.5 x faster: kept (after its warm-up epoch), and the next epoch (the reader
  // still waits) doubles it again.
  const uint64_t at_first = reader.mib();
  step = reader.Next(150, true);
  ASSERT_EQ(step.kind, Kind::kGrow) << "the kept probe was judged and the next one began";
  EXPECT_EQ(reader.mib() - at_first, 3u * 128) << "warm-up, judged, then the next epoch";
  EXPECT_EQ(step.from, 64 * kMiB);
  EXPECT_EQ(step.to, 128 * kMiB);
  // 128 MiB pays too; then the limit is reached and nothing more happens (until the growth is
  // tested again: 16 epochs of 256 MiB).
  EXPECT_EQ(reader.Next(200, true, 3000).kind, Kind::kNone);
  EXPECT_EQ(probe.cap(), 128 * kMiB);
  EXPECT_FALSE(probe.probing());
  EXPECT_EQ(probe.failures(), 0u);
}

TEST(ReadaheadProbeTest, ADoublingThatDoesNotPayIsUndoneAndTriedAgainEverMoreRarely) {
  ReadaheadProbe probe(Options(32, 128));
  Reader reader(&probe);
  // 500 MiB/s: an epoch at 32 MiB is 125 MiB (250 ms).
  ASSERT_EQ(reader.Next(500, true).kind, Kind::kGrow);
  // The same rate, and even 1.15 x, is not enough (a remote bound by its bandwidth).
  ReadaheadProbe::Step step = reader.Next(575, true);
  ASSERT_EQ(step.kind, Kind::kShrink);
  EXPECT_EQ(step.from, 64 * kMiB);
  EXPECT_EQ(step.to, 32 * kMiB);
  EXPECT_EQ(probe.cap(), 32 * kMiB);
  EXPECT_EQ(probe.failures(), 1u);
  // The next probe comes after a warm-up and kFirstBackoffEpochs epochs...
  uint64_t from = reader.mib();
  ASSERT_EQ(reader.Next(500, true).kind, Kind::kGrow);
  EXPECT_EQ(reader.mib() - from, (1 + ReadaheadProbe::kFirstBackoffEpochs) * 125u);
  ASSERT_EQ(reader.Next(500, true).kind, Kind::kShrink);
  EXPECT_EQ(probe.failures(), 2u);
  // ... the one after that, twice as many.
  from = reader.mib();
  ASSERT_EQ(reader.Next(500, true).kind, Kind::kGrow);
  EXPECT_EQ(reader.mib() - from, (1 + 2 * ReadaheadProbe::kFirstBackoffEpochs) * 125u);
  // A probe that pays after failures is kept as any other (1000 MiB/s: 250 MiB epochs, a
  // warm-up and the judged one).
  EXPECT_EQ(reader.Next(1000, true, 2 * 250).kind, Kind::kNone);
  EXPECT_EQ(probe.cap(), 64 * kMiB);
  EXPECT_FALSE(probe.probing());
}

TEST(ReadaheadProbeTest, TheLastDoublingStopsAtTheLimit) {
  ReadaheadProbe probe(Options(32, 48));
  Reader reader(&probe);
  const ReadaheadProbe::Step step = reader.Next(100, true);
  ASSERT_EQ(step.kind, Kind::kGrow);
  EXPECT_EQ(step.to, 48 * kMiB);
}

// Readers whose readahead the memory budget cut short (many streams at once) wait for want of
// memory, not of a larger window: one such read in an epoch vetoes the probe.
TEST(ReadaheadProbeTest, AReadaheadCutForMemoryVetoesTheProbe) {
  ReadaheadProbe probe(Options(32, 128));
  Reader reader(&probe);
  EXPECT_EQ(reader.Next(100, true, 1 + 64).kind, Kind::kNone);  // the warm-up
  EXPECT_EQ(reader.Next(100, true, 1, /*memory_bound=*/true).kind, Kind::kNone);
  EXPECT_EQ(reader.Next(100, true, 63).kind, Kind::kNone) << "the cut epoch probed";
  EXPECT_EQ(reader.Next(100, true, 64).kind, Kind::kGrow) << "the next epoch, not cut, probes";
}

TEST(ReadaheadProbeTest, ARefusedDoublingRestoresTheCapAndMayBeTriedAgain) {
  ReadaheadProbe probe(Options(32, 128));
  Reader reader(&probe);
  ASSERT_EQ(reader.Next(100, true).kind, Kind::kGrow);
  probe.Refused();
  EXPECT_EQ(probe.cap(), 32 * kMiB);
  EXPECT_FALSE(probe.probing());
  EXPECT_EQ(probe.failures(), 0u);
  EXPECT_EQ(reader.Next(100, true, 1000).kind, Kind::kGrow);
}

// Readers' waits anywhere in an epoch count: one wait among many reads that did not wait is
// enough for a probe; a wait in an earlier epoch is not.
TEST(ReadaheadProbeTest, OneWaitInTheEpochIsEnough) {
  ReadaheadProbe probe(Options(32, 128));
  Reader reader(&probe);
  EXPECT_EQ(reader.Next(100, false, 1 + 64).kind, Kind::kNone);  // the warm-up
  EXPECT_EQ(reader.Next(100, true, 1).kind, Kind::kNone);        // a wait in the next epoch
  EXPECT_EQ(reader.Next(100, false, 64).kind, Kind::kGrow);      // ... decides at its end

  ReadaheadProbe earlier(Options(32, 128));
  Reader late(&earlier);
  EXPECT_EQ(late.Next(100, true, 1 + 64).kind, Kind::kNone);  // waits, but in the warm-up
  EXPECT_EQ(late.Next(100, false, 1000).kind, Kind::kNone);
}

// A pause longer than an epoch ends the epoch unjudged: its rate would mix two workloads (a
// probe once grew on the first read of a new pass over a local server's data, and was kept
// because that pass read from the cache).
TEST(ReadaheadProbeTest, APauseEndsTheEpochUnjudgedAndTheNextIsAWarmUp) {
  ReadaheadProbe probe(Options(32, 128));
  Reader reader(&probe);
  EXPECT_EQ(reader.Next(100, true, 1 + 64 + 60).kind, Kind::kNone);  // 4 MiB short of a probe
  reader.Pause(milliseconds(300));
  EXPECT_EQ(reader.Next(100, true, 1 + 64).kind, Kind::kNone) << "judged across the pause";
  EXPECT_EQ(reader.Next(100, true, 64).kind, Kind::kGrow) << "the epoch after the warm-up";

  // A pause no longer than an epoch is only slow reading.
  ReadaheadProbe steady(Options(32, 128));
  Reader paced(&steady);
  EXPECT_EQ(paced.Next(100, true, 1 + 64 + 60).kind, Kind::kNone);
  paced.Pause(milliseconds(200));
  EXPECT_EQ(paced.Next(100, true, 4).kind, Kind::kGrow);
}

// A probe whose judgement a pause interrupted is undone, as no failure: the next one does not
// wait for a backoff.
TEST(ReadaheadProbeTest, APauseUndoesAProbeWithoutCountingAFailure) {
  ReadaheadProbe probe(Options(32, 128));
  Reader reader(&probe);
  ASSERT_EQ(reader.Next(100, true).kind, Kind::kGrow);
  EXPECT_EQ(reader.Next(150, true, 1 + 128).kind, Kind::kNone);  // the warm-up at 64 MiB
  reader.Pause(milliseconds(1000));
  const ReadaheadProbe::Step step = reader.Next(150, true, 1);
  ASSERT_EQ(step.kind, Kind::kShrink);
  EXPECT_EQ(step.from, 64 * kMiB);
  EXPECT_EQ(step.to, 32 * kMiB);
  EXPECT_FALSE(probe.probing());
  EXPECT_EQ(probe.failures(), 0u);
  EXPECT_EQ(probe.abandoned(), 1u);
  // A warm-up, then the next epoch probes again at once.
  EXPECT_EQ(reader.Next(100, true, 64 + 64).kind, Kind::kGrow);
}

// Grows to 64 MiB at `slow` MiB/s and keeps it at `fast` (limit 64 MiB: no further probe).
// Returns at the end of the epoch that kept it.
void GrowAndKeep(Reader* reader, ReadaheadProbe* probe, double slow, double fast) {
  ASSERT_EQ(reader->Next(slow, true).kind, Kind::kGrow);
  const uint64_t epoch = 2 * 64;  // MiB: bytes decide at these rates
  ASSERT_EQ(reader->Next(fast, true, 2 * epoch).kind, Kind::kNone);  // warm-up, judged: kept
  ASSERT_EQ(probe->cap(), 64 * kMiB);
  ASSERT_FALSE(probe->probing());
}

// A kept growth is tested again, downward, after kFirstRetestEpochs epochs: the cap halves for a
// warm-up and a judged epoch. While the growth still pays (here 1.5 x), the grown cap comes
// back, and the next re-test waits twice as long.
TEST(ReadaheadProbeTest, AKeptGrowthIsTestedAgainAndComesBackWhileItPays) {
  ReadaheadProbe probe(Options(32, 64));
  Reader reader(&probe);
  GrowAndKeep(&reader, &probe, 100, 150);
  uint64_t from = reader.mib();
  ReadaheadProbe::Step step = reader.Next(150, true);
  ASSERT_EQ(step.kind, Kind::kShrink);
  EXPECT_EQ(step.reason, ReadaheadProbe::Step::Reason::kRetest);
  EXPECT_EQ(step.from, 64 * kMiB);
  EXPECT_EQ(step.to, 32 * kMiB);
  EXPECT_TRUE(probe.retesting());
  EXPECT_EQ(reader.mib() - from, ReadaheadProbe::kFirstRetestEpochs * 128u);
  // At 32 MiB the link gives 100 MiB/s again: a warm-up, a judged epoch, the growth back.
  from = reader.mib();
  step = reader.Next(100, true);
  ASSERT_EQ(step.kind, Kind::kGrow);
  EXPECT_EQ(step.reason, ReadaheadProbe::Step::Reason::kRetest);
  EXPECT_EQ(step.to, 64 * kMiB);
  EXPECT_EQ(reader.mib() - from, 2u * 64);
  EXPECT_FALSE(probe.retesting());
  EXPECT_EQ(probe.released(), 0u);
  EXPECT_EQ(probe.failures(), 0u);
  // The next re-test: a warm-up at 64 MiB, then twice as many judged epochs.
  from = reader.mib();
  step = reader.Next(150, true);
  ASSERT_EQ(step.kind, Kind::kShrink);
  EXPECT_EQ(step.reason, ReadaheadProbe::Step::Reason::kRetest);
  EXPECT_EQ(reader.mib() - from, (1 + 2 * ReadaheadProbe::kFirstRetestEpochs) * 128u);
}

// A growth that no longer pays (the link changed, or noise kept it) is given back at its
// re-test, as a failed probe: the next probe upward waits for the backoff. One that gains less
// than a probe must, but more than release_gain, is kept (hysteresis).
TEST(ReadaheadProbeTest, AGrowthThatNoLongerPaysIsGivenBackAtItsRetest) {
  ReadaheadProbe kept(Options(32, 64));
  Reader gaining(&kept);
  GrowAndKeep(&gaining, &kept, 100, 150);
  ASSERT_EQ(gaining.Next(150, true).kind, Kind::kShrink);
  // 130 MiB/s at 32 MiB: 150 is 1.15 x that.
  const ReadaheadProbe::Step step = gaining.Next(130, true, 2 * 64);
  EXPECT_EQ(step.kind, Kind::kGrow);
  EXPECT_EQ(step.reason, ReadaheadProbe::Step::Reason::kRetest);
  EXPECT_EQ(kept.released(), 0u);

  ReadaheadProbe probe(Options(32, 64));
  Reader reader(&probe);
  GrowAndKeep(&reader, &probe, 100, 150);
  ASSERT_EQ(reader.Next(150, true).kind, Kind::kShrink);
  // 140 MiB/s at 32 MiB: 150 is less than 1.1 x that.
  EXPECT_EQ(reader.Next(140, true, 2 * 64).kind, Kind::kNone);
  EXPECT_EQ(probe.cap(), 32 * kMiB);
  EXPECT_FALSE(probe.retesting());
  EXPECT_EQ(probe.released(), 1u);
  EXPECT_EQ(probe.failures(), 1u);
  const uint64_t from = reader.mib();
  ASSERT_EQ(reader.Next(140, true).kind, Kind::kGrow);
  EXPECT_EQ(reader.mib() - from, ReadaheadProbe::kFirstBackoffEpochs * 64u);
}

// A pause ends a re-test with the grown cap back (the one known to pay); a refused reservation
// for it leaves the smaller cap.
TEST(ReadaheadProbeTest, APauseDuringARetestBringsTheGrownCapBack) {
  ReadaheadProbe probe(Options(32, 64));
  Reader reader(&probe);
  GrowAndKeep(&reader, &probe, 100, 150);
  ASSERT_EQ(reader.Next(150, true).kind, Kind::kShrink);
  reader.Pause(milliseconds(1000));
  const ReadaheadProbe::Step step = reader.Next(100, true, 1);
  ASSERT_EQ(step.kind, Kind::kGrow);
  EXPECT_EQ(step.reason, ReadaheadProbe::Step::Reason::kRetest);
  EXPECT_EQ(probe.cap(), 64 * kMiB);
  EXPECT_FALSE(probe.retesting());

  ReadaheadProbe refused(Options(32, 64));
  Reader other(&refused);
  GrowAndKeep(&other, &refused, 100, 150);
  ASSERT_EQ(other.Next(150, true).kind, Kind::kShrink);
  ASSERT_EQ(other.Next(100, true).kind, Kind::kGrow);
  refused.Refused();
  EXPECT_EQ(refused.cap(), 32 * kMiB);
  EXPECT_FALSE(refused.probing());
  EXPECT_FALSE(refused.retesting());
}

// After idle_reset without a read everything learnt is forgotten: a kept growth, failures and
// their backoff. A shorter idle time is only a pause.
TEST(ReadaheadProbeTest, AnIdleTimeForgetsWhatWasLearnt) {
  ReadaheadProbe probe(Options(32, 64));
  Reader reader(&probe);
  GrowAndKeep(&reader, &probe, 100, 150);
  reader.Pause(std::chrono::seconds(10));
  EXPECT_EQ(reader.Next(150, true, 1).kind, Kind::kNone) << "10 s is only a pause";
  EXPECT_EQ(probe.cap(), 64 * kMiB);
  reader.Pause(std::chrono::seconds(31));
  ReadaheadProbe::Step step = reader.Next(150, true, 1);
  ASSERT_EQ(step.kind, Kind::kShrink);
  EXPECT_EQ(step.reason, ReadaheadProbe::Step::Reason::kIdle);
  EXPECT_EQ(step.from, 64 * kMiB);
  EXPECT_EQ(step.to, 32 * kMiB);
  EXPECT_EQ(probe.resets(), 1u);

  // Failures are forgiven: after a failed probe and an idle time, the next probe comes after a
  // warm-up and one epoch, not after the backoff.
  ReadaheadProbe failed(Options(32, 64));
  Reader again(&failed);
  ASSERT_EQ(again.Next(500, true).kind, Kind::kGrow);
  ASSERT_EQ(again.Next(500, true).kind, Kind::kShrink);
  ASSERT_EQ(failed.failures(), 1u);
  again.Pause(std::chrono::seconds(31));
  EXPECT_EQ(again.Next(500, true, 1).kind, Kind::kNone) << "at the base cap: no step";
  EXPECT_EQ(failed.failures(), 0u);
  EXPECT_EQ(failed.resets(), 1u);
  const uint64_t from = again.mib();
  ASSERT_EQ(again.Next(500, true).kind, Kind::kGrow);
  EXPECT_EQ(again.mib() - from, 2u * 125);
}

TEST(ReadaheadBudgetTest, ReservationsShareOneCeiling) {
  ReadaheadBudget budget(100);
  EXPECT_TRUE(budget.TryReserve(60));
  EXPECT_FALSE(budget.TryReserve(41)) << "all or nothing";
  EXPECT_EQ(budget.reserved(), 60u);
  EXPECT_TRUE(budget.TryReserve(40));
  EXPECT_FALSE(budget.TryReserve(1));
  budget.Release(60);
  EXPECT_EQ(budget.reserved(), 40u);
  EXPECT_TRUE(budget.TryReserve(60));
  ReadaheadBudget none(0);
  EXPECT_FALSE(none.TryReserve(1));
  EXPECT_TRUE(none.TryReserve(0));
}

}  // namespace
}  // namespace hoardfs
