#include "remote/retry.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "remote/handle_cache.h"

namespace hoardfs {
namespace {

using std::chrono::milliseconds;

RetryPolicy FastPolicy(unsigned attempts) {
  RetryPolicy p;
  p.max_attempts = attempts;
  p.initial_backoff = milliseconds(1);
  p.max_backoff = milliseconds(4);
  return p;
}

TEST(RetryTest, RetriesUnavailableUpToTheLimit) {
  int calls = 0;
  Status s = RetryTransient(FastPolicy(3), "op", [&] {
    ++calls;
    return Status::Unavailable("down");
  });
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("after 3 attempts"), std::string::npos) << s.message();
}

TEST(RetryTest, StopsAtSuccess) {
  int calls = 0;
  Result<int> r = RetryTransient(FastPolicy(5), "op", [&]() -> Result<int> {
    if (++calls < 3) return Status::Unavailable("down");
    return 7;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 7);
  EXPECT_EQ(calls, 3);
}

TEST(RetryTest, NeverRetriesPermanentErrors) {
  for (const Status& err :
       {Status::NotFound("x"), Status::PermissionDenied("x"), Status::Corruption("x"),
        Status::FailedPrecondition("x"), Status::InvalidArgument("x")}) {
    int calls = 0;
    Status s = RetryTransient(FastPolicy(5), "op", [&] {
      ++calls;
      return err;
    });
    EXPECT_EQ(calls, 1) << err.ToString();
    EXPECT_EQ(s.code(), err.code());
    EXPECT_EQ(s.message(), err.message());  // untouched
  }
}

TEST(RetryTest, ZeroAttemptsMeansOne) {
  int calls = 0;
  Status s = RetryTransient(FastPolicy(0), "op", [&] {
    ++calls;
    return Status::Unavailable("down");
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(s.message(), "down");
}

TEST(RetryTest, BackoffDoublesWithJitterAndCap) {
  RetryPolicy p;
  p.initial_backoff = milliseconds(100);
  p.max_backoff = milliseconds(1000);
  for (int i = 0; i < 200; ++i) {
    const auto d1 = BackoffDelay(p, 1);
    EXPECT_GE(d1.count(), 50);
    EXPECT_LE(d1.count(), 150);
    const auto d3 = BackoffDelay(p, 3);  // 400 ms ± 50 %
    EXPECT_GE(d3.count(), 200);
    EXPECT_LE(d3.count(), 600);
    const auto d30 = BackoffDelay(p, 30);  // capped at 1 s ± 50 %
    EXPECT_GE(d30.count(), 500);
    EXPECT_LE(d30.count(), 1500);
  }
  RemoteOptions options;
  options.max_attempts = 4;
  options.initial_backoff = milliseconds(50);
  const RetryPolicy from = RetryPolicy::From(options);
  EXPECT_EQ(from.max_attempts, 4u);
  EXPECT_EQ(from.initial_backoff, milliseconds(50));
}

TEST(HandleCacheTest, LruEvictionAndSharedHandles) {
  HandleCache<int> cache(2);
  EXPECT_TRUE(cache.Put("a", std::make_shared<int>(1)).empty());
  EXPECT_TRUE(cache.Put("b", std::make_shared<int>(2)).empty());
  ASSERT_NE(cache.Get("a"), nullptr);  // a is now most recent
  auto evicted = cache.Put("c", std::make_shared<int>(3));
  ASSERT_EQ(evicted.size(), 1u);
  EXPECT_EQ(*evicted[0], 2);  // b went
  EXPECT_EQ(cache.Get("b"), nullptr);
  EXPECT_EQ(cache.size(), 2u);

  // A reader's handle outlives its eviction.
  std::shared_ptr<int> held = cache.Get("a");
  auto gone = cache.Put("d", std::make_shared<int>(4));
  gone = cache.Put("e", std::make_shared<int>(5));
  EXPECT_EQ(*held, 1);

  // Remove only removes the handle it was given.
  auto e = cache.Get("e");
  auto newer = std::make_shared<int>(6);
  auto replaced = cache.Put("e", newer);
  ASSERT_EQ(replaced.size(), 1u);
  EXPECT_EQ(cache.Remove("e", e.get()), nullptr);
  EXPECT_EQ(cache.Remove("e", newer.get()), newer);
  EXPECT_EQ(cache.Get("e"), nullptr);
  EXPECT_EQ(cache.Clear().size(), 1u);  // d
}

TEST(HandleCacheTest, ZeroCapacityCachesNothing) {
  HandleCache<int> cache(0);
  auto back = cache.Put("a", std::make_shared<int>(1));
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(cache.Get("a"), nullptr);
}

}  // namespace
}  // namespace hoardfs
