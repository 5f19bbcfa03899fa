#include "common/crc32c.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace hoardfs {
namespace {

// Check values from RFC 3720 appendix B.4 and the CRC catalogue.
TEST(Crc32cTest, KnownVectors) {
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);
  std::vector<unsigned char> zeros(32, 0x00);
  EXPECT_EQ(Crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  std::vector<unsigned char> ones(32, 0xFF);
  EXPECT_EQ(Crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  std::vector<unsigned char> inc(32);
  for (int i = 0; i < 32; ++i) inc[i] = static_cast<unsigned char>(i);
  EXPECT_EQ(Crc32c(inc.data(), inc.size()), 0x46DD794Eu);
  EXPECT_EQ(Crc32c("", 0), 0u);
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  std::string s(100000, 'x');
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>(i * 31 + 7);
  const uint32_t whole = Crc32c(s.data(), s.size());
  for (size_t cut : {size_t{0}, size_t{1}, size_t{4095}, size_t{65536}, s.size()}) {
    uint32_t c = Crc32cExtend(0, s.data(), cut);
    c = Crc32cExtend(c, s.data() + cut, s.size() - cut);
    EXPECT_EQ(c, whole) << "cut at " << cut;
  }
}

TEST(Crc32cTest, DetectsOneFlippedBit) {
  std::string s(1 << 20, 'a');
  const uint32_t before = Crc32c(s.data(), s.size());
  s[123457] ^= 0x10;
  EXPECT_NE(Crc32c(s.data(), s.size()), before);
}

}  // namespace
}  // namespace hoardfs
