#include "daemon/mount_table.h"

#include <gtest/gtest.h>

#include <set>

namespace hoardfs {
namespace {

constexpr const char* kGood = R"(# a mount table
[cache]
dir = /var/cache/hoardfs
size = 500G
block_size = 1M
readahead = 64M
readahead_limit = 256M

[mount cms]
url = root://xrootd.example.org//store
attr_ttl = 5m
dir_ttl = 90s
negative_ttl = 0
remote_timeout = 10
remote_attempts = 2
remote_down_retry = 0
names_first = 4096

; nested, with a leading '/'
[mount /lake/raw/]
url = s3://bucket/prefix
s3_endpoint = https://rgw.example.org
s3_region = eu-1
s3_virtual_host = yes
s3_credentials_file = /etc/hoardfs/lake.credentials

[mount dav]
url = davs://dcache.example.org:2880/pnfs/data
bearer_token_file = /run/token
bearer_token_to_other_hosts = true
x509_proxy = /tmp/x509up_u0
ca_path = /etc/grid-security/certificates
ca_file = /etc/ssl/ca.pem
)";

TEST(MountTableTest, ParsesEveryKey) {
  auto t = ParseMountTable(kGood, "mounts.conf");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->cache_dir, "/var/cache/hoardfs");
  EXPECT_EQ(t->cache_size, "500G");
  EXPECT_EQ(t->block_size, "1M");
  EXPECT_EQ(t->readahead, "64M");
  EXPECT_EQ(t->readahead_limit, "256M");
  EXPECT_FALSE(t->dataset_depth.has_value());
  ASSERT_EQ(t->mounts.size(), 3u);
  const MountTableEntry& cms = t->mounts[0];
  EXPECT_EQ(cms.path, "cms");
  EXPECT_EQ(cms.url, "root://xrootd.example.org//store");
  EXPECT_EQ(cms.line, 9);
  EXPECT_EQ(cms.attr_ttl, 300u);
  EXPECT_EQ(cms.dir_ttl, 90u);
  EXPECT_EQ(cms.negative_ttl, 0u);
  EXPECT_EQ(cms.remote_timeout, 10u);
  EXPECT_EQ(cms.remote_attempts, 2u);
  EXPECT_EQ(cms.remote_down_retry, 0u);
  EXPECT_EQ(cms.remote_down_retry_max, 60u);  // default
  EXPECT_EQ(cms.names_first, 4096u);
  EXPECT_EQ(cms.s3_region, "us-east-1");  // default
  const MountTableEntry& lake = t->mounts[1];
  EXPECT_EQ(lake.path, "lake/raw");
  EXPECT_EQ(lake.s3_endpoint, "https://rgw.example.org");
  EXPECT_EQ(lake.s3_region, "eu-1");
  EXPECT_TRUE(lake.s3_virtual_host);
  EXPECT_EQ(lake.s3_credentials_file, "/etc/hoardfs/lake.credentials");
  EXPECT_EQ(lake.attr_ttl, 60u);
  EXPECT_EQ(lake.names_first, 0u);  // default
  const MountTableEntry& dav = t->mounts[2];
  EXPECT_EQ(dav.bearer_token_file, "/run/token");
  EXPECT_TRUE(dav.token_to_other_hosts);
  EXPECT_EQ(dav.x509_proxy, "/tmp/x509up_u0");
  EXPECT_EQ(dav.ca_path, "/etc/grid-security/certificates");
  EXPECT_EQ(dav.ca_file, "/etc/ssl/ca.pem");
}

TEST(MountTableTest, RemoteIdsAreStableDistinctAndReserved) {
  auto a = ParseMountTable(kGood, "a");
  auto b = ParseMountTable("[mount dav]\nurl=file:///x\n[mount cms]\nurl=file:///y\n", "b");
  ASSERT_TRUE(a.ok() && b.ok());
  std::set<uint32_t> ids;
  for (const MountTableEntry& m : a->mounts) {
    EXPECT_EQ(m.remote_id, RemoteIdOfMountPath(m.path));
    EXPECT_NE(m.remote_id, 0u);
    EXPECT_NE(m.remote_id, kSyntheticRemoteId);
    ids.insert(m.remote_id);
  }
  EXPECT_EQ(ids.size(), 3u);
  // The same path gets the same id whatever the order and the URL.
  EXPECT_EQ(b->mounts[0].remote_id, a->mounts[2].remote_id);
  EXPECT_EQ(b->mounts[1].remote_id, a->mounts[0].remote_id);
}

TEST(MountTableTest, MinimalTableAndCacheDepth) {
  auto t = ParseMountTable("[cache]\ndataset_depth = 2\n[mount x]\nurl = file:///data", "m");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->dataset_depth, 2u);
  EXPECT_FALSE(t->cache_dir.has_value());
  EXPECT_FALSE(t->readahead.has_value());
  EXPECT_FALSE(t->readahead_limit.has_value());
  ASSERT_EQ(t->mounts.size(), 1u);
  EXPECT_EQ(t->mounts[0].url, "file:///data");
}

struct BadCase {
  const char* text;
  std::vector<const char*> mentions;  // besides the file name
};

TEST(MountTableTest, ErrorsNameFileLineKeyAndProblem) {
  const std::vector<BadCase> cases = {
      {"[mount a]\nurl = file:///x\nfoo = 1\n",
       {"mounts.conf:3:", "unknown key 'foo'", "[mount a]"}},
      {"[mount a]\nurl = gopher://h/x\n", {":2:", "key 'url'", "gopher"}},
      {"[mount a]\nurl = root://h:1094/x\n", {":2:", "key 'url'", "root://h:1094/x"}},
      {"[mount a]\nurl = file:///x\n[mount a]\nurl = file:///y\n",
       {":3:", "duplicate mount path 'a'", "line 1"}},
      {"[mount a]\nurl = file:///x\n\n[mount a/b]\nurl = file:///y\n",
       {":4:", "'a/b' overlaps 'a'"}},
      {"[mount a/b]\nurl = file:///x\n[mount /a/]\nurl = file:///y\n", {":3:", "overlaps"}},
      {"[mount a]\nurl = file:///x\nattr_ttl = soon\n",
       {":3:", "key 'attr_ttl'", "bad duration 'soon'"}},
      {"[mount a]\nurl = file:///x\ndir_ttl = -1\n", {":3:", "dir_ttl", "bad duration"}},
      {"[mount a]\nurl = file:///x\nnegative_ttl = 10y\n", {":3:", "bad duration '10y'"}},
      {"[mount a]\nurl = file:///x\nattr_ttl = 99999999999\n", {":3:", "bad duration"}},
      {"[mount a]\nurl = file:///x\nremote_timeout = 0\n", {":3:", "remote_timeout"}},
      {"[mount a]\nurl = file:///x\nremote_attempts = 0\n", {":3:", "remote_attempts"}},
      {"[mount a]\nurl = file:///x\nnames_first = many\n", {":3:", "names_first"}},
      {"[mount a]\nurl = file:///x\ns3_virtual_host = maybe\n", {":3:", "bad boolean"}},
      {"[mount a]\nattr_ttl = 5\n[mount b]\nurl = file:///y\n", {":1:", "[mount a] has no url"}},
      {"[mount a]\nattr_ttl = 5\n", {":1:", "[mount a] has no url"}},
      {"[mount a]\nurl = file:///x\naws_secret_access_key = abc\n",
       {":3:", "aws_secret_access_key", "secrets are never written"}},
      {"[mount a]\nurl = file:///x\nbearer_token = abc\n", {":3:", "secrets"}},
      {"[mount a]\nurl = file:///x\nurl = file:///y\n", {":3:", "key 'url'", "twice"}},
      {"url = file:///x\n", {":1:", "outside a section"}},
      {"[mount a]\nurl file:///x\n", {":2:", "expected 'key = value'"}},
      {"[mounts a]\nurl = file:///x\n", {":1:", "unknown section [mounts a]"}},
      {"[mount a\nurl = file:///x\n", {":1:", "must end with ']'"}},
      {"[mount ]\nurl = file:///x\n", {":1:", "mount point itself"}},
      {"[mount a/../b]\nurl = file:///x\n", {":1:", "bad mount path 'a/../b'"}},
      {"[mount a//b]\nurl = file:///x\n", {":1:", "bad mount path"}},
      {"[cache]\nsize = lots\n[mount a]\nurl = file:///x\n", {":2:", "[cache] key 'size'", "lots"}},
      {"[cache]\nreadahead = far\n[mount a]\nurl = file:///x\n",
       {":2:", "[cache] key 'readahead'", "far"}},
      {"[cache]\nsize = 1G\nreadahead = 1G\n[mount a]\nurl = file:///x\n",
       {":3:", "[cache] key 'readahead'", "between 4M and 512M"}},
      {"[cache]\nreadahead_limit = 2M\n[mount a]\nurl = file:///x\n",
       {":2:", "[cache] key 'readahead_limit'", "between 4M and 512M"}},
      {"[cache]\nreadahead_limit = wide\n[mount a]\nurl = file:///x\n",
       {":2:", "[cache] key 'readahead_limit'", "wide"}},
      {"[cache]\ncolour = blue\n", {":2:", "unknown key 'colour'", "readahead_limit"}},
      {"# nothing\n", {"no [mount PATH] section"}},
      {"", {"no [mount PATH] section"}},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.text);
    auto t = ParseMountTable(c.text, "mounts.conf");
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    const std::string& m = t.status().message();
    EXPECT_EQ(m.rfind("mounts.conf", 0), 0u) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    for (const char* want : c.mentions) EXPECT_NE(m.find(want), std::string::npos) << m;
  }
}

TEST(MountTableTest, CommentsBlankLinesAndCrlf) {
  auto t = ParseMountTable("\r\n  # c\r\n; c\r\n[mount  x ]\r\n  url=file:///d  \r\n", "m");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->mounts[0].path, "x");
  EXPECT_EQ(t->mounts[0].url, "file:///d");
}

}  // namespace
}  // namespace hoardfs
