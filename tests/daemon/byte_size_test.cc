#include "daemon/byte_size.h"

#include <gtest/gtest.h>

namespace hoardfs {
namespace {

TEST(ByteSizeTest, Parses) {
  EXPECT_EQ(*ParseByteSize("4096"), 4096u);
  EXPECT_EQ(*ParseByteSize("64M"), 64ull << 20);
  EXPECT_EQ(*ParseByteSize("64MiB"), 64ull << 20);
  EXPECT_EQ(*ParseByteSize("64mb"), 64ull << 20);
  EXPECT_EQ(*ParseByteSize("500G"), 500ull << 30);
  EXPECT_EQ(*ParseByteSize(" 1.5T "), 3ull << 39);
  EXPECT_EQ(*ParseByteSize("2 KiB"), 2048u);
  EXPECT_EQ(*ParseByteSize("0"), 0u);
}

TEST(ByteSizeTest, RejectsWithClearMessage) {
  for (const char* bad : {"", "G", "12X", "-5G", "1.5", "99999999999P", "1..2G", "abc"}) {
    auto r = ParseByteSize(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("invalid size"), std::string::npos);
  }
}

TEST(ByteSizeTest, Formats) {
  EXPECT_EQ(FormatByteSize(0), "0 B");
  EXPECT_EQ(FormatByteSize(1536), "1.5 KiB");
  EXPECT_EQ(FormatByteSize(1ull << 30), "1 GiB");
}

}  // namespace
}  // namespace hoardfs
