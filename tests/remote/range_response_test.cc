// http::CheckRangeStatus and http::CheckRangeBytes: what a ranged GET's answer must be.
#include "remote/http/range_response.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace hoardfs::http {
namespace {

constexpr std::string_view kWhat = "GET dav://h/f";

Status NotFoundError(std::string_view what, const HttpResponse& resp) {
  return Status::NotFound(std::string(what) + ": mapped " + std::to_string(resp.status));
}

HttpResponse Response(long status, std::string content_range, uint64_t body_bytes) {
  HttpResponse r;
  r.status = status;
  r.content_range = std::move(content_range);
  r.body_bytes = body_bytes;
  return r;
}

TEST(RangeResponseTest, StatusMapsChangedObjectsAndHandsErrorsToTheBackend) {
  for (long code : {412L, 416L}) {
    const Status s = CheckRangeStatus(kWhat, Response(code, "", 0), NotFoundError);
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << code;
    EXPECT_EQ(s.message(), std::string(kWhat) + ": HTTP " + std::to_string(code) +
                               ": the object changed since it was opened");
  }
  const Status s = CheckRangeStatus(kWhat, Response(503, "", 0), NotFoundError);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "GET dav://h/f: mapped 503");
  EXPECT_TRUE(CheckRangeStatus(kWhat, Response(200, "", 0), NotFoundError).ok());
  EXPECT_TRUE(CheckRangeStatus(kWhat, Response(206, "", 0), NotFoundError).ok());
}

TEST(RangeResponseTest, TwoHundredOnlyForTheWholeObject) {
  // Range [10, 20) of a 100-byte object answered with the whole object.
  Status s = CheckRangeBytes(kWhat, Response(200, "", 100), 10, 10, 100);
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_EQ(s.message(), "GET dav://h/f: HTTP 200 for a ranged request");
  EXPECT_EQ(CheckRangeBytes(kWhat, Response(200, "", 50), 0, 50, 100).code(),
            StatusCode::kCorruption);
  EXPECT_EQ(CheckRangeBytes(kWhat, Response(200, "", 99), 0, 100, 100).code(),
            StatusCode::kCorruption);
  EXPECT_TRUE(CheckRangeBytes(kWhat, Response(200, "", 100), 0, 100, 100).ok());
}

TEST(RangeResponseTest, BadContentRangeIsCorruption) {
  for (const char* cr : {"", "bytes 11-20/100", "bytes 10-/100", "bytes 20-10/100", "bytes 10-19",
                         "items 10-19/100", "bytes 10-19/x", "bytes -19/100"}) {
    const Status s = CheckRangeBytes(kWhat, Response(206, cr, 10), 10, 10, 100);
    EXPECT_EQ(s.code(), StatusCode::kCorruption) << cr;
    EXPECT_EQ(s.message(), std::string("GET dav://h/f: bad Content-Range '") + cr + "'");
  }
  // Only the first 64 bytes of the header are shown.
  const std::string long_cr = "bytes " + std::string(100, '9');
  EXPECT_EQ(CheckRangeBytes(kWhat, Response(206, long_cr, 10), 10, 10, 100).message(),
            "GET dav://h/f: bad Content-Range '" + long_cr.substr(0, 64) + "'");
}

TEST(RangeResponseTest, OtherTotalIsFailedPrecondition) {
  const Status s = CheckRangeBytes(kWhat, Response(206, "bytes 10-19/101", 10), 10, 10, 100);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "GET dav://h/f: the object is now 101 bytes, not 100");
  // An unknown total is not held against the response.
  EXPECT_TRUE(CheckRangeBytes(kWhat, Response(206, "bytes 10-19/*", 10), 10, 10, 100).ok());
}

TEST(RangeResponseTest, ShortRangeOrBodyIsCorruption) {
  Status s = CheckRangeBytes(kWhat, Response(206, "bytes 10-19/100", 9), 10, 10, 100);
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_EQ(s.message(), "GET dav://h/f: 9 bytes for a range of 10");
  s = CheckRangeBytes(kWhat, Response(206, "bytes 10-18/100", 10), 10, 10, 100);
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_EQ(s.message(), "GET dav://h/f: 10 bytes for a range of 10");
  EXPECT_EQ(CheckRangeBytes(kWhat, Response(206, "bytes 10-29/100", 20), 10, 10, 100).code(),
            StatusCode::kCorruption);
}

TEST(RangeResponseTest, ExactRangeIsOk) {
  EXPECT_TRUE(CheckRangeBytes(kWhat, Response(206, "bytes 10-19/100", 10), 10, 10, 100).ok());
  EXPECT_TRUE(CheckRangeBytes(kWhat, Response(206, "bytes 99-99/100", 1), 99, 1, 100).ok());
}

}  // namespace
}  // namespace hoardfs::http
