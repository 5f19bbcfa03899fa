// CircuitBreakerSource over FakeSource: a remote that timed out fails the next requests at once,
// one probe at a time after the interval (backing off), any answer closes it, and answers such as
// NotFound never open it. Timing bounds are wide (2 shared cores) but each one fails without the
// breaker: a hung fake takes `kHang` per request.
#include "remote/circuit_breaker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "remote/fake_source.h"
#include "tests/support/scratch_dir.h"

namespace hoardfs {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kHang = 300ms;          // how long the hung fake takes to time out
constexpr double kFastSeconds = 0.05;  // a fast failure takes less

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::span<std::byte> Bytes(std::string& s) {
  return std::as_writable_bytes(std::span<char>(s.data(), s.size()));
}

// A fake named `name` behind a breaker; the test keeps a pointer to the fake for its knobs.
struct Rig {
  explicit Rig(const std::string& name, std::chrono::milliseconds interval = 10s,
               std::chrono::milliseconds max_interval = 60s) {
    FakeSource::Options fo;
    fo.description = "fake://" + name;
    auto owned = std::make_unique<FakeSource>(fo);
    fake = owned.get();
    fake->AddFile("/dir/file", std::string(10000, 'x'));
    CircuitBreakerOptions bo;
    bo.probe_interval = interval;
    bo.max_probe_interval = max_interval;
    breaker = std::make_unique<CircuitBreakerSource>(std::move(owned), bo);
    ref = {"/dir/file", fake->Peek("/dir/file")->version, 10000};
  }
  // Requests that reached the fake.
  uint64_t InnerCalls() const {
    const FakeSource::Counters c = fake->counters();
    return c.stats + c.lists + c.reads + c.readvs;
  }

  FakeSource* fake = nullptr;
  std::unique_ptr<CircuitBreakerSource> breaker;
  ObjectRef ref;
};

TEST(CircuitBreakerTest, OneTimeoutThenEveryKindOfRequestFailsFast) {
  Rig rig("fast-fail");
  rig.fake->SetHung(true, kHang);
  const auto start = Clock::now();
  Result<ObjectInfo> first = rig.breaker->Stat("/dir/file");
  EXPECT_EQ(first.status().code(), StatusCode::kUnavailable);
  EXPECT_GE(Seconds(Clock::now() - start), 0.25) << "the first request waits out its timeout";
  ASSERT_EQ(rig.InnerCalls(), 1u);

  std::string buf(100, '\0');
  for (int i = 0; i < 40; ++i) {
    const auto t0 = Clock::now();
    Status s;
    switch (i % 4) {
      case 0:
        s = rig.breaker->Stat("/dir/file").status();
        break;
      case 1:
        s = rig.breaker->List("/dir", "").status();
        break;
      case 2:
        s = rig.breaker->Read(rig.ref, 0, Bytes(buf)).status();
        break;
      case 3: {
        std::vector<ReadRange> ranges(2);
        ranges[0].out = Bytes(buf);
        ranges[1].offset = 500;
        ranges[1].out = Bytes(buf);
        s = rig.breaker->ReadV(rig.ref, ranges);
        for (const ReadRange& r : ranges) EXPECT_EQ(r.status.code(), StatusCode::kUnavailable);
        break;
      }
    }
    const double took = Seconds(Clock::now() - t0);
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << i << ": " << s.ToString();
    EXPECT_LT(took, kFastSeconds) << "request " << i << " waited for the hung remote";
    // The message names the remote and how long it has been down.
    EXPECT_NE(s.message().find("fake://fast-fail"), std::string::npos) << s.ToString();
    EXPECT_NE(s.message().find("down for"), std::string::npos) << s.ToString();
  }
  EXPECT_EQ(rig.InnerCalls(), 1u) << "requests reached the remote while it was known down";
  const CircuitBreakerStats st = rig.breaker->Stats();
  EXPECT_TRUE(st.down);
  EXPECT_EQ(st.trips, 1u);
  EXPECT_EQ(st.fast_failures, 40u);
  EXPECT_GT(st.down_seconds, 0.0);
}

TEST(CircuitBreakerTest, ProbeAfterTheIntervalAndItsSuccessCloses) {
  Rig rig("probe", 300ms);
  rig.fake->SetDropped(true);
  EXPECT_EQ(rig.breaker->Stat("/").status().code(), StatusCode::kUnavailable);
  rig.fake->SetDropped(false);  // back, but the breaker does not know yet
  EXPECT_EQ(rig.breaker->Stat("/").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(rig.InnerCalls(), 1u);

  std::this_thread::sleep_for(400ms);
  Result<ObjectInfo> probe = rig.breaker->Stat("/dir/file");
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  EXPECT_EQ(rig.InnerCalls(), 2u);
  CircuitBreakerStats st = rig.breaker->Stats();
  EXPECT_FALSE(st.down);
  EXPECT_EQ(st.probes, 1u);
  EXPECT_EQ(st.down_seconds, 0.0);
  // Closed: everything goes through again.
  std::string buf(10, '\0');
  EXPECT_TRUE(rig.breaker->Read(rig.ref, 0, Bytes(buf)).ok());
  EXPECT_TRUE(rig.breaker->List("/dir", "").ok());
  EXPECT_EQ(rig.InnerCalls(), 4u);
}

TEST(CircuitBreakerTest, FailedProbeReopensWithBackoffUpToTheCap) {
  Rig rig("backoff", 200ms, 400ms);
  rig.fake->SetDropped(true);
  EXPECT_FALSE(rig.breaker->Stat("/").ok());  // trips: next probe in 200 ms
  std::this_thread::sleep_for(250ms);
  EXPECT_FALSE(rig.breaker->Stat("/").ok());  // probe, fails: next in 400 ms
  EXPECT_EQ(rig.InnerCalls(), 2u);
  std::this_thread::sleep_for(250ms);  // 250 < 400: still failing at once
  EXPECT_FALSE(rig.breaker->Stat("/").ok());
  EXPECT_EQ(rig.InnerCalls(), 2u) << "probed before the doubled interval";
  std::this_thread::sleep_for(250ms);  // 500 >= 400
  EXPECT_FALSE(rig.breaker->Stat("/").ok());
  EXPECT_EQ(rig.InnerCalls(), 3u);
  std::this_thread::sleep_for(450ms);  // capped at 400 (not 800)
  EXPECT_FALSE(rig.breaker->Stat("/").ok());
  EXPECT_EQ(rig.InnerCalls(), 4u) << "the interval grew past its cap";
  const CircuitBreakerStats st = rig.breaker->Stats();
  EXPECT_EQ(st.trips, 1u) << "failed probes are not new trips";
  EXPECT_EQ(st.probes, 3u);
  EXPECT_EQ(st.fast_failures, 1u);
}

TEST(CircuitBreakerTest, OnlyOneProbeAtATimeOthersKeepFailingFast) {
  Rig rig("one-probe", 100ms);
  rig.fake->SetHung(true, kHang);
  EXPECT_FALSE(rig.breaker->Stat("/").ok());  // trips
  std::this_thread::sleep_for(150ms);
  // A hang the probe cannot time out of before the others are done.
  rig.fake->SetHung(true, 30s);

  constexpr int kThreads = 16;
  std::atomic<bool> go{false};
  std::atomic<int> fast{0}, slow_failures{0}, ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      const auto t0 = Clock::now();
      Result<ObjectInfo> r = rig.breaker->Stat("/dir/file");
      const double took = Seconds(Clock::now() - t0);
      if (r.ok()) {
        ++ok;
      } else if (took < kFastSeconds) {
        ++fast;
      } else {
        ++slow_failures;
      }
    });
  }
  go = true;
  // All but the probe return at once; the probe hangs until the server "resumes".
  const auto deadline = Clock::now() + 10s;
  while (fast.load() + slow_failures.load() < kThreads - 1 && Clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(rig.InnerCalls(), 2u) << "more than one probe reached the remote at once";
  EXPECT_EQ(rig.breaker->Stats().probes, 1u);
  rig.fake->SetHung(false);  // SIGCONT: the probe's request is answered
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(fast.load(), kThreads - 1);
  EXPECT_EQ(slow_failures.load(), 0);
  EXPECT_EQ(ok.load(), 1) << "the probe's success is the caller's";
  EXPECT_FALSE(rig.breaker->Stats().down) << "the probe's success closes the breaker";
  EXPECT_TRUE(rig.breaker->Stat("/dir").ok());
}

TEST(CircuitBreakerTest, AnswersThatAreNotOutagesNeverTrip) {
  Rig rig("not-outages", 10s);
  EXPECT_EQ(rig.breaker->Stat("/missing").status().code(), StatusCode::kNotFound);
  for (const Status& s : {Status::NotFound("gone"), Status::PermissionDenied("no"),
                          Status::Corruption("garbage"), Status::InvalidArgument("bad")}) {
    rig.fake->FailNext(3, s);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(rig.breaker->Stat("/dir/file").status().code(), s.code());
  }
  EXPECT_EQ(rig.InnerCalls(), 13u);
  EXPECT_TRUE(rig.breaker->Stat("/dir/file").ok());
  const CircuitBreakerStats st = rig.breaker->Stats();
  EXPECT_FALSE(st.down);
  EXPECT_EQ(st.trips, 0u);
  EXPECT_EQ(st.fast_failures, 0u);
}

TEST(CircuitBreakerTest, RequestInFlightAtTheTripFinishesAndItsSuccessCloses) {
  Rig rig("in-flight", 10s);
  rig.fake->SetReadsPaused(true);
  std::string buf(100, '\0');
  Result<size_t> read = Status::Internal("not run");
  std::thread reader([&] { read = rig.breaker->Read(rig.ref, 0, Bytes(buf)); });
  const auto deadline = Clock::now() + 10s;
  while (rig.fake->counters().reads == 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  rig.fake->FailNext(1, Status::Unavailable("timed out"), FakeSource::kStatOp);
  EXPECT_FALSE(rig.breaker->Stat("/").ok());
  EXPECT_TRUE(rig.breaker->Stats().down);
  rig.fake->SetReadsPaused(false);
  reader.join();
  ASSERT_TRUE(read.ok()) << "a request in flight at the trip was cut short: "
                         << read.status().ToString();
  EXPECT_EQ(*read, 100u);
  EXPECT_FALSE(rig.breaker->Stats().down) << "an answer from the remote closes the breaker";
}

TEST(CircuitBreakerTest, HealthThroughTheSourceAndOpenObjectSourceWrapsUnlessDisabled) {
  {
    Rig rig("health");
    rig.fake->SetDropped(true);
    EXPECT_FALSE(rig.breaker->Stat("/").ok());
    EXPECT_FALSE(rig.breaker->Stat("/").ok());
    const ObjectSource& source = *rig.breaker;  // what the layers above hold
    const RemoteHealth h = source.Health();
    EXPECT_TRUE(h.down);
    EXPECT_EQ(h.trips, 1u);
    EXPECT_EQ(h.fast_failures, 1u);
    EXPECT_EQ(rig.breaker->Describe(), "fake://health");
    EXPECT_FALSE(static_cast<const ObjectSource&>(*rig.fake).Health().down)
        << "a source without a breaker reports itself up";
  }

  Result<testing::ScratchDir> made = testing::ScratchDir::Create("hoardfs-breaker-");
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  const testing::ScratchDir dir = std::move(made).value();
  RemoteOptions options;
  auto wrapped = OpenObjectSource("file://" + dir.path(), options);
  ASSERT_TRUE(wrapped.ok()) << wrapped.status().ToString();
  EXPECT_NE(dynamic_cast<CircuitBreakerSource*>(wrapped->get()), nullptr);
  options.down_retry = 0ms;
  auto bare = OpenObjectSource("file://" + dir.path(), options);
  ASSERT_TRUE(bare.ok()) << bare.status().ToString();
  EXPECT_EQ(dynamic_cast<CircuitBreakerSource*>(bare->get()), nullptr);
}

}  // namespace
}  // namespace hoardfs
