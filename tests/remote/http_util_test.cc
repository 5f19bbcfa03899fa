// remote/http helpers: percent-encoding, dates, HTTP status mapping, request descriptions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <vector>

#include "remote/http/http_client.h"
#include "remote/http/http_status.h"
#include "remote/http/http_time.h"
#include "remote/http/range_plan.h"
#include "remote/http/uri_encode.h"

namespace hoardfs::http {
namespace {

TEST(UriEncodeTest, EncodesAllButUnreserved) {
  EXPECT_EQ(UriEncode("aZ09-._~", false), "aZ09-._~");
  EXPECT_EQ(UriEncode("a b+c=d/e%f", false), "a%20b%2Bc%3Dd%2Fe%25f");
  EXPECT_EQ(UriEncode("a b+c=d/e%f", true), "a%20b%2Bc%3Dd/e%25f");
  EXPECT_EQ(UriEncode("\xC3\xBC\xE3\x83\x95", true), "%C3%BC%E3%83%95");
  EXPECT_EQ(UriEncode(std::string_view("\0", 1), false), "%00");
  Result<std::string> d = UriDecode("a%20b+c%2fd%C3%BC");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, "a b+c/d\xC3\xBC");
  EXPECT_FALSE(UriDecode("a%2").ok());
  EXPECT_FALSE(UriDecode("a%zz").ok());
  EXPECT_FALSE(UriDecode("%").ok());
}

TEST(HttpTimeTest, ImfFixdateAndIso8601) {
  EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), int64_t{784111777} * 1000000000);
  EXPECT_EQ(ParseHttpDate("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
  EXPECT_FALSE(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"));
  EXPECT_FALSE(ParseHttpDate("Sun, 31 Feb 1994 08:49:37 GMT"));
  EXPECT_FALSE(ParseHttpDate("Sun, 06 Nov 1994 25:49:37 GMT"));
  EXPECT_FALSE(ParseHttpDate(""));
  EXPECT_EQ(ParseIso8601Utc("1994-11-06T08:49:37Z"), int64_t{784111777} * 1000000000);
  EXPECT_EQ(ParseIso8601Utc("1994-11-06T08:49:37.5Z"), int64_t{784111777} * 1000000000 + 500000000);
  EXPECT_FALSE(ParseIso8601Utc("1994-11-06T08:49:37"));
  EXPECT_FALSE(ParseIso8601Utc("1994-11-06T08:49:37.Z"));
  EXPECT_FALSE(ParseIso8601Utc("1994-13-06T08:49:37Z"));
}

TEST(HttpStatusTest, KindsPerStatus) {
  EXPECT_TRUE(StatusFromHttp(206, "GET x", "").ok());
  EXPECT_EQ(StatusFromHttp(403, "GET x", "AccessDenied").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(StatusFromHttp(401, "GET x", "").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(StatusFromHttp(404, "GET x", "").code(), StatusCode::kNotFound);
  EXPECT_EQ(StatusFromHttp(412, "GET x", "").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(StatusFromHttp(503, "GET x", "").code(), StatusCode::kUnavailable);
  EXPECT_EQ(StatusFromHttp(429, "GET x", "").code(), StatusCode::kUnavailable);
  EXPECT_EQ(StatusFromHttp(400, "GET x", "").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(StatusFromHttp(301, "GET x", "").code(), StatusCode::kNotSupported);
  EXPECT_EQ(StatusFromHttp(999, "GET x", "").code(), StatusCode::kCorruption);
  EXPECT_EQ(StatusFromHttp(403, "HEAD s3://b/k", "SignatureDoesNotMatch").message(),
            "HEAD s3://b/k: HTTP 403 (SignatureDoesNotMatch)");
}

TEST(HttpClientTest, DescribeRequestHidesQueryAndUserinfo) {
  EXPECT_EQ(DescribeRequest("GET", "https://u:pw@h:1/p/a?X-Amz-Signature=s#f"),
            "GET https://h:1/p/a");
  EXPECT_EQ(DescribeRequest("HEAD", "http://h/p?q"), "HEAD http://h/p");
}

// ReadV ranges as HTTP backends send them: clamped, sorted, coalesced within gap and span.
TEST(RangePlanTest, ClampsSortsAndCoalescesWithinGapAndSpan) {
  std::vector<std::byte> buf(64);
  auto out = [&](size_t n) { return std::span<std::byte>(buf.data(), n); };
  std::vector<ReadRange> r(6);
  r[0] = {.offset = 1000, .out = out(10)};  // group 2 (gap 90 > 50 from group 1)
  r[1] = {.offset = 0, .out = out(10)};     // group 1
  r[2] = {.offset = 40, .out = out(20)};    // group 1 (gap 30)
  r[3] = {.offset = 1015, .out = out(64)};  // group 2, clamped to the size: 1015..1050
  r[4] = {.offset = 2000, .out = out(8)};   // past the end: dropped
  r[5] = {.offset = 100, .out = out(0)};    // empty: dropped
  for (ReadRange& x : r) x.status = Status::Corruption("stale");
  RangePlan plan(r, /*file_size=*/1050, /*max_gap=*/50, /*max_span=*/4096);
  std::vector<RangeGroup>& g = plan.groups();
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].start, 0u);
  EXPECT_EQ(g[0].end, 60u);
  EXPECT_EQ(g[0].members, (std::vector<size_t>{1, 2}));
  EXPECT_EQ(g[1].start, 1000u);
  EXPECT_EQ(g[1].end, 1050u);
  EXPECT_EQ(g[1].members, (std::vector<size_t>{0, 3}));
  EXPECT_EQ(plan.LengthOf(3), 35u);
  for (const ReadRange& x : r) EXPECT_TRUE(x.status.ok()) << "every range starts reset";

  // A span limit splits even touching ranges.
  std::vector<ReadRange> t = {{.offset = 0, .out = out(40)}, {.offset = 40, .out = out(40)}};
  EXPECT_EQ(RangePlan(t, 1000, 1000, 64).groups().size(), 2u);

  // Finish: one group read is OK overall; members carry their group's status.
  g[0].status = Status::Ok();
  g[1].status = Status::Unavailable("reset");
  EXPECT_TRUE(plan.Finish().ok());
  EXPECT_EQ(r[1].bytes_read, 10u);
  EXPECT_EQ(r[2].bytes_read, 20u);
  EXPECT_EQ(r[3].bytes_read, 0u);
  EXPECT_EQ(r[3].status.code(), StatusCode::kUnavailable);
  // Nothing read: the call fails and every range (dropped ones too) says why.
  g[0].status = Status::PermissionDenied("403");
  g[1].status = Status::Unavailable("reset");
  EXPECT_EQ(plan.Finish().code(), StatusCode::kPermissionDenied);
  for (const ReadRange& x : r) EXPECT_EQ(x.status.code(), StatusCode::kPermissionDenied);
}

// A group's body, in chunks, reaches each member's buffer at its place; more is kCorruption.
TEST(RangePlanTest, GroupSinkScattersChunksToOverlappingMembers) {
  std::vector<std::byte> file(200);
  for (size_t i = 0; i < file.size(); ++i) file[i] = std::byte(i);
  std::vector<std::byte> a(30, std::byte{0xEE}), b(10, std::byte{0xEE}), c(20, std::byte{0xEE});
  std::vector<ReadRange> r = {{.offset = 100, .out = a},   // 100..130
                              {.offset = 105, .out = b},   // 105..115, inside a
                              {.offset = 140, .out = c}};  // 140..160 (gap 10)
  RangePlan plan(r, 200, /*max_gap=*/16, /*max_span=*/4096);
  ASSERT_EQ(plan.groups().size(), 1u);
  const RangeGroup& g = plan.groups()[0];
  ASSERT_EQ(g.start, 100u);
  ASSERT_EQ(g.end, 160u);
  BodySink sink = GroupSink(g, r, "GET x");
  for (uint64_t at = g.start; at < g.end; at += 7) {
    const uint64_t n = std::min<uint64_t>(7, g.end - at);
    ASSERT_TRUE(sink(std::span<const std::byte>(file).subspan(at, n)).ok());
  }
  EXPECT_TRUE(std::equal(a.begin(), a.end(), file.begin() + 100));
  EXPECT_TRUE(std::equal(b.begin(), b.end(), file.begin() + 105));
  EXPECT_TRUE(std::equal(c.begin(), c.end(), file.begin() + 140));
  const Status s = sink(std::span<const std::byte>(file).first(1));
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_EQ(s.message(), "GET x: the server sent more than the range asked for");
}

// The ReadV argument check of the HTTP backends: a bad path or "/" reaches every range.
TEST(RangePlanTest, CheckReadVTargetGivesEveryRangeTheError) {
  std::vector<std::byte> buf(8);
  std::vector<ReadRange> r(3, ReadRange{.offset = 0, .out = std::span<std::byte>(buf)});
  r[1].bytes_read = 5;
  for (const char* path : {"/", "relative", "/a/../b", ""}) {
    SCOPED_TRACE(path);
    const Status s = CheckReadVTarget({path, "v", 8}, "dav://h/x", r);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
    for (const ReadRange& x : r) {
      EXPECT_EQ(x.status.code(), StatusCode::kInvalidArgument);
      EXPECT_EQ(x.bytes_read, 0u);
    }
  }
  EXPECT_NE(CheckReadVTarget({"/", "v", 8}, "dav://h/x", r).message().find("dav://h/x"),
            std::string::npos);
  for (ReadRange& x : r) x.status = Status::Aborted("untouched");
  EXPECT_TRUE(CheckReadVTarget({"/a b/c", "v", 8}, "dav://h/x", r).ok());
  for (const ReadRange& x : r) EXPECT_EQ(x.status.code(), StatusCode::kAborted);
}

}  // namespace
}  // namespace hoardfs::http
