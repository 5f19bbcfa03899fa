// ReadaheadProbe: the decisions of the window's growth, on a clock the test drives (no sleeps):
// an epoch's length and bytes, the reader's waits, a kept and an undone probe, the limit, a refused
// reservation and a reset. ReadaheadBudget: the ceiling shared by all streams.
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
                               .min_epoch = milliseconds(250),
                               .epoch_windows = 2};
}

// Drives one probe: reads of 1 MiB at a given rate, the window always at the cap.
class Reader {
 public:
  explicit Reader(ReadaheadProbe* probe) : probe_(probe) {}

  // Reads `mib` MiB at `mib_per_s`; returns the first step that is not kNone (or kNone).
  ReadaheadProbe::Step Read(uint64_t mib, double mib_per_s, bool waited, bool at_cap = true) {
    const auto per_read = std::chrono::duration_cast<ReadaheadProbe::Clock::duration>(
        std::chrono::duration<double>(1.0 / mib_per_s));
    for (uint64_t i = 0; i < mib; ++i) {
      now_ += per_read;
      const ReadaheadProbe::Step step = probe_->OnRead(kMiB, now_, waited, at_cap);
      if (step.kind != Kind::kNone) return step;
    }
    return {};
  }

 private:
  ReadaheadProbe* probe_;
  ReadaheadProbe::Clock::time_point now_{};
};

TEST(ReadaheadProbeTest, NeverGrowsWhenTheLimitIsTheBaseWindow) {
  ReadaheadProbe probe(Options(32, 32));
  Reader reader(&probe);
  EXPECT_EQ(reader.Read(4096, 100, /*waited=*/true).kind, Kind::kNone);
  EXPECT_EQ(probe.cap(), 32 * kMiB);
}

TEST(ReadaheadProbeTest, AReaderThatNeverWaitsNeverProbes) {
  ReadaheadProbe probe(Options(32, 128));
  Reader reader(&probe);
  EXPECT_EQ(reader.Read(4096, 100, /*waited=*/false).kind, Kind::kNone);
  EXPECT_EQ(probe.cap(), 32 * kMiB);
  EXPECT_FALSE(probe.probing());
}

TEST(ReadaheadProbeTest, AnEpochNeedsBothItsBytesAndItsTime) {
  ReadaheadProbe probe(Options(32, 128));
  // 2 x 32 MiB at 1000 MiB/s takes 64 ms, short of 250 ms: no decision yet...
  Reader fast(&probe);
  EXPECT_EQ(fast.Read(65, 1000, true).kind, Kind::kNone);
  // ... which comes once 250 ms have passed (250 MiB at that rate).
  const ReadaheadProbe::Step step = fast.Read(250, 1000, true);
  EXPECT_EQ(step.kind, Kind::kGrow);

  // 300 ms but fewer than 2 x 32 MiB (a slow reader): no decision either.
  ReadaheadProbe slow_probe(Options(32, 128));
  Reader slow(&slow_probe);
  EXPECT_EQ(slow.Read(60, 100, true).kind, Kind::kNone);
  EXPECT_EQ(slow.Read(8, 100, true).kind, Kind::kGrow);
}

TEST(ReadaheadProbeTest, GrowsWhileEachDoublingPaysThenStopsAtTheLimit) {
  ReadaheadProbe probe(Options(32, 128));
  Reader reader(&probe);
  // First epoch (the first read starts it): the reader waited, so the cap doubles.
  ReadaheadProbe::Step step = reader.Read(100, 100, true);
  ASSERT_EQ(step.kind, Kind::kGrow);
  EXPECT_EQ(step.from, 32 * kMiB);
  EXPECT_EQ(step.to, 64 * kMiB);
  EXPECT_EQ(probe.cap(), 64 * kMiB);
  EXPECT_TRUE(probe.probing());
  // 64 MiB is 1.5 x faster: kept, and the next epoch (the reader still waits) doubles it again.
  step = reader.Read(300, 150, true);
  ASSERT_EQ(step.kind, Kind::kGrow) << "the kept probe was judged and the next one began";
  EXPECT_EQ(step.from, 64 * kMiB);
  EXPECT_EQ(step.to, 128 * kMiB);
  // 128 MiB pays too; then the limit is reached and nothing more happens.
  EXPECT_EQ(reader.Read(1000, 200, true).kind, Kind::kNone);
  EXPECT_EQ(probe.cap(), 128 * kMiB);
  EXPECT_FALSE(probe.probing());
  EXPECT_FALSE(probe.settled());
}

TEST(ReadaheadProbeTest, ADoublingThatDoesNotPayIsUndoneForGood) {
  ReadaheadProbe probe(Options(32, 128));
  Reader reader(&probe);
  ASSERT_EQ(reader.Read(200, 600, true).kind, Kind::kGrow);
  // The same rate, and even 1.15 x, is not enough (a remote bound by its bandwidth).
  const ReadaheadProbe::Step step = reader.Read(400, 690, true);
  ASSERT_EQ(step.kind, Kind::kShrink);
  EXPECT_EQ(step.from, 64 * kMiB);
  EXPECT_EQ(step.to, 32 * kMiB);
  EXPECT_EQ(probe.cap(), 32 * kMiB);
  EXPECT_TRUE(probe.settled());
  // The stream waits on, but probes no more.
  EXPECT_EQ(reader.Read(2000, 600, true).kind, Kind::kNone);
  EXPECT_EQ(probe.cap(), 32 * kMiB);
}

TEST(ReadaheadProbeTest, TheLastDoublingStopsAtTheLimit) {
  ReadaheadProbe probe(Options(32, 48));
  Reader reader(&probe);
  const ReadaheadProbe::Step step = reader.Read(100, 100, true);
  ASSERT_EQ(step.kind, Kind::kGrow);
  EXPECT_EQ(step.to, 48 * kMiB);
}

TEST(ReadaheadProbeTest, RampingUpRestartsTheEpoch) {
  ReadaheadProbe probe(Options(32, 128));
  Reader reader(&probe);
  // 63 MiB at the cap, then one read below it (the window ramping again), then 63 MiB more:
  // neither part alone makes an epoch, and they do not add up.
  EXPECT_EQ(reader.Read(63, 100, true).kind, Kind::kNone);
  EXPECT_EQ(reader.Read(1, 100, true, /*at_cap=*/false).kind, Kind::kNone);
  EXPECT_EQ(reader.Read(63, 100, true).kind, Kind::kNone);
  EXPECT_EQ(reader.Read(2, 100, true).kind, Kind::kGrow);
}

TEST(ReadaheadProbeTest, ARefusedDoublingRestoresTheCapAndMayBeTriedAgain) {
  ReadaheadProbe probe(Options(32, 128));
  Reader reader(&probe);
  ASSERT_EQ(reader.Read(100, 100, true).kind, Kind::kGrow);
  probe.Refused();
  EXPECT_EQ(probe.cap(), 32 * kMiB);
  EXPECT_FALSE(probe.probing());
  EXPECT_FALSE(probe.settled());
  EXPECT_EQ(reader.Read(100, 100, true).kind, Kind::kGrow);
}

TEST(ReadaheadProbeTest, ResetReturnsToTheBaseCapAndASettledStreamStaysSettled) {
  ReadaheadProbe probe(Options(32, 128));
  Reader reader(&probe);
  ASSERT_EQ(reader.Read(100, 100, true).kind, Kind::kGrow);
  ASSERT_EQ(reader.Read(300, 150, true).kind, Kind::kGrow);
  EXPECT_EQ(probe.Reset(), 128 * kMiB);
  EXPECT_EQ(probe.cap(), 32 * kMiB);
  EXPECT_FALSE(probe.probing());
  // Not settled: it may grow again.
  EXPECT_EQ(reader.Read(100, 100, true).kind, Kind::kGrow);
  // Undone, then reset: settled still, no more probes.
  ASSERT_EQ(reader.Read(300, 100, true).kind, Kind::kShrink);
  probe.Reset();
  EXPECT_EQ(reader.Read(2000, 100, true).kind, Kind::kNone);
  EXPECT_EQ(probe.cap(), 32 * kMiB);
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
