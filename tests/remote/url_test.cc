#include "remote/url.h"

#include <gtest/gtest.h>

#include "remote/object_path.h"
#include "remote/object_source.h"

namespace hoardfs {
namespace {

RemoteUrl MustParse(const std::string& url) {
  Result<RemoteUrl> r = ParseRemoteUrl(url);
  EXPECT_TRUE(r.ok()) << url << ": " << r.status().ToString();
  return r.ok() ? *r : RemoteUrl{};
}

// The error for `url`: kInvalidArgument whose message contains `what` and no secrets.
void ExpectBad(const std::string& url, const std::string& what) {
  Result<RemoteUrl> r = ParseRemoteUrl(url);
  ASSERT_FALSE(r.ok()) << url;
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << url;
  EXPECT_NE(r.status().message().find(what), std::string::npos)
      << url << " -> " << r.status().message();
  EXPECT_EQ(r.status().message().find("secret"), std::string::npos) << r.status().message();
}

TEST(RemoteUrlTest, XRootDUrls) {
  RemoteUrl u = MustParse("root://eos.example.org:1095//eos/cms/store");
  EXPECT_EQ(u.scheme, "root");
  EXPECT_EQ(u.host, "eos.example.org");
  EXPECT_EQ(u.port, 1095);
  EXPECT_EQ(u.path, "/eos/cms/store");
  EXPECT_EQ(u.Describe(), "root://eos.example.org:1095//eos/cms/store");

  u = MustParse("root://host//data/");  // default port, trailing '/' dropped
  EXPECT_EQ(u.port, 0);
  EXPECT_EQ(u.EffectivePort(), 1094);
  EXPECT_EQ(u.path, "/data");
  EXPECT_EQ(u.Describe(), "root://host:1094//data");

  EXPECT_EQ(MustParse("root://host").path, "/");
  EXPECT_EQ(MustParse("root://host/").path, "/");
  EXPECT_EQ(MustParse("root://host//").path, "/");
  EXPECT_EQ(MustParse("root://host///a//b").path, "/a/b");
  EXPECT_EQ(MustParse("ROOT://host//x").scheme, "root");
  EXPECT_EQ(MustParse("xroot://host//x").scheme, "xroot");
  EXPECT_EQ(MustParse("roots://host//x").EffectivePort(), 1094);

  u = MustParse("root://[::1]:2000//x");
  EXPECT_EQ(u.host, "[::1]");
  EXPECT_EQ(u.port, 2000);
  EXPECT_EQ(u.Describe(), "root://[::1]:2000//x");
}

TEST(RemoteUrlTest, CredentialsAreKeptButNeverDescribed) {
  RemoteUrl u = MustParse("root://alice:secret@host:1094//store?authz=secrettoken&x=1");
  EXPECT_EQ(u.user, "alice:secret");
  EXPECT_EQ(u.query, "authz=secrettoken&x=1");
  EXPECT_EQ(u.path, "/store");
  EXPECT_EQ(u.Describe(), "root://host:1094//store");
  ExpectBad("root://alice:secret@host:abc//store?authz=secret", "port 'abc' is not a number");
}

TEST(RemoteUrlTest, RedactCredentials) {
  EXPECT_EQ(RedactCredentials("open root://alice:pw@host:1094//a/b?authz=tok&x=1 failed"),
            "open root://alice:<redacted>@host:1094//a/b?<redacted> failed");
  EXPECT_EQ(RedactCredentials("root://alice@host//a"), "root://alice@host//a");
  EXPECT_EQ(RedactCredentials("\"/p?scitoken=abc\" and why? because"),
            "\"/p?<redacted>\" and why? because");
  EXPECT_EQ(RedactCredentials("no secrets here"), "no secrets here");
  EXPECT_EQ(RedactCredentials("https://u:p@h"), "https://u:<redacted>@h");
}

TEST(RemoteUrlTest, FileUrls) {
  RemoteUrl u = MustParse("file:///data/set");
  EXPECT_EQ(u.scheme, "file");
  EXPECT_EQ(u.host, "");
  EXPECT_EQ(u.path, "/data/set");
  EXPECT_EQ(u.Describe(), "file:///data/set");
  EXPECT_EQ(MustParse("file://localhost/data").path, "/data");
  EXPECT_EQ(MustParse("file:///").path, "/");
  EXPECT_EQ(MustParse("file:///with space/ünï").path, "/with space/ünï");
}

TEST(RemoteUrlTest, MalformedUrlsSayWhatIsWrong) {
  ExpectBad("root://host:1094/store", "missing '//' before the path");
  ExpectBad("root://host:abc//store", "port 'abc' is not a number");
  ExpectBad("root://host://store", "empty port");
  ExpectBad("root://host:0//store", "out of range");
  ExpectBad("root://host:65536//store", "out of range");
  ExpectBad("root://host:12ab//x", "not a number");
  ExpectBad("root:///store", "missing the host");
  ExpectBad("root://[::1//x", "unterminated '['");
  ExpectBad("gopher://host/x", "unknown scheme 'gopher'");
  ExpectBad("/just/a/path", "missing 'scheme://'");
  ExpectBad("://x", "missing 'scheme://'");
  ExpectBad("file://otherhost/data", "no host other than localhost");
  ExpectBad("file://", "missing the absolute path");
  ExpectBad("file:///data?x=1", "no query");
  ExpectBad("file:///data/../etc", "'..'");
  ExpectBad("root://host//a/./b", "'.'");
  // The message names the URL.
  Result<RemoteUrl> r = ParseRemoteUrl("root://h:1094/p");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind("root://h:1094/p: ", 0), 0u) << r.status().message();
}

TEST(OpenObjectSourceTest, DispatchesAndRejects) {
  RemoteOptions options;
  auto bad = OpenObjectSource("root://host:x//a", options);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  auto unknown = OpenObjectSource("ftp://host/a", options);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  // A WebDAV source opens without contacting the server.
  auto dav = OpenObjectSource("davs://host:2880/prefix", options);
  ASSERT_TRUE(dav.ok()) << dav.status().ToString();
  EXPECT_EQ((*dav)->Describe(), "davs://host:2880/prefix");
  // An S3 source opens without contacting the server.
  auto s3 = OpenObjectSource("s3://bucket/prefix", options);
  ASSERT_TRUE(s3.ok()) << s3.status().ToString();
  EXPECT_EQ((*s3)->Describe(), "s3://bucket/prefix");
  // An XRootD source opens without contacting the server.
  auto xrd = OpenObjectSource("root://127.0.0.1:1//store", options);
  ASSERT_TRUE(xrd.ok()) << xrd.status().ToString();
  EXPECT_EQ((*xrd)->Describe(), "root://127.0.0.1:1//store");
  auto file = OpenObjectSource("file:///", options);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ((*file)->Describe(), "file:///");
  auto missing = OpenObjectSource("file:///no/such/dir/hoardfs", options);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST(ObjectPathTest, Validation) {
  for (const char* good :
       {"/", "/a", "/a/b", "/with space", "/ünï/ファイル", "/.hidden", "/a..b"}) {
    EXPECT_TRUE(ValidateObjectPath(good).ok()) << good;
  }
  for (const char* bad : {"", "a", "a/b", "/a/", "//a", "/a//b", "/.", "/..", "/a/../b", "/a/."}) {
    Status s = ValidateObjectPath(bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(ValidateObjectPath(std::string("/a\0b", 4)).code(), StatusCode::kInvalidArgument);
}

TEST(ObjectPathTest, Pieces) {
  EXPECT_EQ(BaseName("/a/b"), "b");
  EXPECT_EQ(BaseName("/a"), "a");
  EXPECT_EQ(BaseName("/"), "");
  EXPECT_EQ(ParentPath("/a/b"), "/a");
  EXPECT_EQ(ParentPath("/a"), "/");
  EXPECT_EQ(ParentPath("/"), "/");
  EXPECT_EQ(JoinPath("/", "a"), "/a");
  EXPECT_EQ(JoinPath("/a", "b"), "/a/b");
}

}  // namespace
}  // namespace hoardfs
