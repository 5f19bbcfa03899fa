// ReadSizes: bucket boundaries and the JSON members the stats carry.
#include "fuse/read_sizes.h"

#include <gtest/gtest.h>

#include <string>

namespace hoardfs {
namespace {

TEST(ReadSizesTest, BucketsArePowersOfTwoFrom4KiBTo1MiB) {
  EXPECT_EQ(ReadSizes::BucketOf(1), 0u);
  EXPECT_EQ(ReadSizes::BucketOf(4096), 0u);
  EXPECT_EQ(ReadSizes::BucketOf(4097), 1u);
  EXPECT_EQ(ReadSizes::BucketOf(8192), 1u);
  EXPECT_EQ(ReadSizes::BucketOf(8193), 2u);
  EXPECT_EQ(ReadSizes::BucketOf(48 << 10), 4u);  // ≤ 64 KiB
  EXPECT_EQ(ReadSizes::BucketOf(512 << 10), 7u);
  EXPECT_EQ(ReadSizes::BucketOf((512 << 10) + 1), 8u);
  EXPECT_EQ(ReadSizes::BucketOf(1 << 20), 8u);
  EXPECT_EQ(ReadSizes::BucketOf((1 << 20) + 1), 9u);
  EXPECT_EQ(ReadSizes::BucketOf(size_t{1} << 40), 9u);
}

TEST(ReadSizesTest, CountsRequestsBytesAndBuckets) {
  ReadSizes r;
  r.Record(4096);
  r.Record(128 << 10);
  r.Record(128 << 10);
  r.Record(2 << 20);
  EXPECT_EQ(r.requests(), 4u);
  EXPECT_EQ(r.bytes(), 4096u + (256u << 10) + (2u << 20));
  EXPECT_EQ(r.bucket(0), 1u);
  EXPECT_EQ(r.bucket(5), 2u);
  EXPECT_EQ(r.bucket(9), 1u);
  const std::string json = "{" + r.JsonMembers() + "}";
  EXPECT_NE(json.find("\"fuse_reads\":4,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"fuse_read_bytes\":2363392,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"fuse_read_sizes\":{\"4k\":1,\"8k\":0,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"128k\":2,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"more\":1}}"), std::string::npos) << json;
}

}  // namespace
}  // namespace hoardfs
