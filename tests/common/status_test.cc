#include "common/status.h"

#include <gtest/gtest.h>

#include <cerrno>

#include "common/result.h"

namespace hoardfs {
namespace {

TEST(StatusTest, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
  EXPECT_EQ(ToErrno(s), 0);
}

TEST(StatusTest, FromErrnoMapsKindsAndKeepsContext) {
  Status s = Status::FromErrno(ENOENT, "open /x");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("open /x"), std::string::npos);
  EXPECT_EQ(ToErrno(s), ENOENT);
  EXPECT_EQ(Status::FromErrno(ENOSPC, "w").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(Status::FromErrno(EACCES, "w").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(Status::FromErrno(EIO, "w").code(), StatusCode::kIOError);
  EXPECT_EQ(ToErrno(Status::Corruption("crc")), EIO);
}

TEST(StatusTest, WithContextPrefixes) {
  Status s = Status::IOError("disk").WithContext("cache");
  EXPECT_EQ(s.ToString(), "IOError: cache: disk");
}

Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument("odd");
  return x / 2;
}

Status UseHalf(int x, int* out) {
  HOARDFS_ASSIGN_OR_RETURN(*out, Half(x));
  return Status::Ok();
}

TEST(ResultTest, ValueOrStatus) {
  EXPECT_EQ(Half(4).value(), 2);
  EXPECT_EQ(Half(3).status().code(), StatusCode::kInvalidArgument);
  int v = 0;
  EXPECT_TRUE(UseHalf(8, &v).ok());
  EXPECT_EQ(v, 4);
  EXPECT_FALSE(UseHalf(7, &v).ok());
}

TEST(ResultTest, OkStatusIsABug) {
  Result<int> r{Status::Ok()};
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace hoardfs
