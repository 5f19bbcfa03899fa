// SigV4 against published vectors (facts from the AWS documentation, not code):
// - the aws-sig-v4-test-suite ("Signature Version 4 test suite", AWS General Reference):
//   credentials AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, region us-east-1,
//   service "service", 20150830T123600Z, host example.amazonaws.com;
// - the S3 examples of "Authenticating Requests: Using the Authorization Header" (Amazon S3 API
//   reference): AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, us-east-1, s3,
//   20130524T000000Z, bucket examplebucket (virtual-host style).
// Plus the S3 credentials file format and S3Request's encoding of awkward keys.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "remote/http/uri_encode.h"
#include "remote/s3/s3_credentials.h"
#include "remote/s3/s3_request.h"
#include "remote/s3/sigv4.h"

namespace hoardfs::s3 {
namespace {

const SigV4Credentials kSuite{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
constexpr const char* kSuiteDate = "20150830T123600Z";

SigV4Request SuiteRequest(std::string path, std::vector<std::pair<std::string, std::string>> query,
                          std::vector<std::pair<std::string, std::string>> extra = {}) {
  SigV4Request r;
  r.method = "GET";
  r.canonical_uri = http::UriEncode(path, true);
  r.query = std::move(query);
  r.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", kSuiteDate}};
  for (auto& h : extra) r.headers.push_back(std::move(h));
  r.payload_hash = kEmptyPayloadSha256;
  return r;
}

std::string SuiteAuthorization(const std::string& signed_headers, const std::string& signature) {
  return "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
         "SignedHeaders=" +
         signed_headers + ", Signature=" + signature;
}

TEST(SigV4SuiteTest, GetVanilla) {
  const SigV4Signature s =
      SignV4(SuiteRequest("/", {}), kSuite, "us-east-1", "service", kSuiteDate);
  EXPECT_EQ(s.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "host;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  EXPECT_EQ(s.signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  EXPECT_EQ(s.authorization,
            SuiteAuthorization("host;x-amz-date",
                               "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
}

TEST(SigV4SuiteTest, GetVanillaQueryOrderKeyCase) {
  const SigV4Signature s = SignV4(SuiteRequest("/", {{"Param2", "value2"}, {"Param1", "value1"}}),
                                  kSuite, "us-east-1", "service", kSuiteDate);
  EXPECT_EQ(s.canonical_request.substr(0, s.canonical_request.find("\nhost")),
            "GET\n/\nParam1=value1&Param2=value2");
  EXPECT_EQ(Sha256Hex(s.canonical_request),
            "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0");
  EXPECT_EQ(s.signature, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

TEST(SigV4SuiteTest, GetVanillaQueryOrderValue) {
  const SigV4Signature s = SignV4(SuiteRequest("/", {{"Param1", "value2"}, {"Param1", "value1"}}),
                                  kSuite, "us-east-1", "service", kSuiteDate);
  EXPECT_NE(s.canonical_request.find("\nParam1=value1&Param1=value2\n"), std::string::npos);
  EXPECT_EQ(s.signature, "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694");
}

TEST(SigV4SuiteTest, GetUnreserved) {
  const std::string path = "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  const SigV4Signature s =
      SignV4(SuiteRequest(path, {}), kSuite, "us-east-1", "service", kSuiteDate);
  EXPECT_EQ(s.canonical_request.substr(0, s.canonical_request.find('\n', 4)), "GET\n" + path);
  EXPECT_EQ(s.signature, "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f");
}

TEST(SigV4SuiteTest, GetUtf8AndSpaceCanonicalUris) {
  // get-utf8: "/ሴ" (U+1234) → "/%E1%88%B4"; get-space: "/example space/" → "/example%20space/".
  EXPECT_EQ(http::UriEncode("/\xE1\x88\xB4", true), "/%E1%88%B4");
  EXPECT_EQ(http::UriEncode("/example space/", true), "/example%20space/");
  const SigV4Signature utf8 =
      SignV4(SuiteRequest("/\xE1\x88\xB4", {}), kSuite, "us-east-1", "service", kSuiteDate);
  EXPECT_EQ(utf8.canonical_request.substr(0, 15), "GET\n/%E1%88%B4\n");
}

TEST(SigV4SuiteTest, GetVanillaUtf8Query) {
  const SigV4Signature s = SignV4(SuiteRequest("/", {{"\xE1\x88\xB4", "bar"}}), kSuite, "us-east-1",
                                  "service", kSuiteDate);
  EXPECT_NE(s.canonical_request.find("\n%E1%88%B4=bar\n"), std::string::npos);
  EXPECT_EQ(s.signature, "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04");
}

TEST(SigV4SuiteTest, HeaderRules) {
  // get-header-key-duplicate: repeated names join with ',' in order.
  SigV4Signature s = SignV4(
      SuiteRequest("/", {},
                   {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}}),
      kSuite, "us-east-1", "service", kSuiteDate);
  EXPECT_NE(s.canonical_request.find("\nmy-header1:value2,value2,value1\n"), std::string::npos);
  EXPECT_EQ(s.signature, "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea");
  // get-header-value-order.
  s = SignV4(SuiteRequest("/", {},
                          {{"My-Header1", "value4"},
                           {"My-Header1", "value1"},
                           {"My-Header1", "value3"},
                           {"My-Header1", "value2"}}),
             kSuite, "us-east-1", "service", kSuiteDate);
  EXPECT_EQ(s.signature, "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01");
  // get-header-value-trim: leading space dropped, inner runs collapsed.
  s = SignV4(SuiteRequest("/", {}, {{"My-Header1", " value1"}, {"My-Header2", "\"a   b   c\""}}),
             kSuite, "us-east-1", "service", kSuiteDate);
  EXPECT_NE(s.canonical_request.find("\nmy-header1:value1\nmy-header2:\"a b c\"\n"),
            std::string::npos);
  EXPECT_EQ(s.signature, "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736");
}

TEST(SigV4SuiteTest, SessionToken) {
  SigV4Request r = SuiteRequest("/", {});
  r.headers.emplace_back("X-Amz-Security-Token",
                         "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267");
  const SigV4Signature s = SignV4(r, kSuite, "us-east-1", "service", kSuiteDate);
  EXPECT_EQ(s.authorization,
            SuiteAuthorization("host;x-amz-date;x-amz-security-token",
                               "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"));
}

TEST(SigV4SuiteTest, PostFormUrlEncoded) {
  SigV4Request r = SuiteRequest("/", {}, {{"Content-Type", "application/x-www-form-urlencoded"}});
  r.method = "POST";
  r.payload_hash = Sha256Hex("Param1=value1");
  const SigV4Signature s = SignV4(r, kSuite, "us-east-1", "service", kSuiteDate);
  EXPECT_EQ(s.signature, "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
}

TEST(SigV4SuiteTest, CanonicalQueryEncodesEverythingButUnreserved) {
  EXPECT_EQ(CanonicalQueryString({{"prefix", "a/b c+d=e"}, {"list-type", "2"}, {"delimiter", "/"}}),
            "delimiter=%2F&list-type=2&prefix=a%2Fb%20c%2Bd%3De");
  EXPECT_EQ(CanonicalQueryString({{"a", "10"}, {"a", "9"}}), "a=10&a=9");  // bytewise
  EXPECT_EQ(CanonicalQueryString({{"lifecycle", ""}}), "lifecycle=");
}

// ---- the S3 examples, through S3Request (virtual-host style) -------------------------------

const SigV4Credentials kS3Example{"AKIAIOSFODNN7EXAMPLE",
                                  "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};

std::chrono::system_clock::time_point May24th2013() {
  return std::chrono::system_clock::time_point(std::chrono::seconds(1369353600));
}

S3Request ExampleBucket() {
  S3Options o;
  o.endpoint = "https://s3.amazonaws.com";
  o.virtual_host = true;
  Result<S3Endpoint> e = S3Endpoint::From(o, "examplebucket");
  EXPECT_TRUE(e.ok());
  return S3Request(*e, kS3Example);
}

std::string HeaderOf(const http::HttpRequest& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return "<none>";
}

TEST(SigV4S3ExampleTest, GetObjectWithRange) {
  const http::HttpRequest r = ExampleBucket().BuildAt(
      "GET", "test.txt", {}, {{"Range", "bytes=0-9"}}, "", "", May24th2013());
  EXPECT_EQ(r.url, "https://examplebucket.s3.amazonaws.com/test.txt");
  EXPECT_EQ(HeaderOf(r, "x-amz-date"), "20130524T000000Z");
  EXPECT_EQ(HeaderOf(r, "x-amz-content-sha256"), kEmptyPayloadSha256);
  EXPECT_EQ(HeaderOf(r, "Authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4S3ExampleTest, ListObjects) {
  const http::HttpRequest r = ExampleBucket().BuildAt(
      "GET", "", {{"prefix", "J"}, {"max-keys", "2"}}, {}, "", "", May24th2013());
  EXPECT_EQ(r.url, "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J");
  EXPECT_NE(HeaderOf(r, "Authorization")
                .find("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
            std::string::npos)
      << HeaderOf(r, "Authorization");
}

TEST(SigV4S3ExampleTest, GetBucketLifecycle) {
  const http::HttpRequest r =
      ExampleBucket().BuildAt("GET", "", {{"lifecycle", ""}}, {}, "", "", May24th2013());
  EXPECT_EQ(r.url, "https://examplebucket.s3.amazonaws.com/?lifecycle=");
  EXPECT_NE(HeaderOf(r, "Authorization")
                .find("Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
            std::string::npos)
      << HeaderOf(r, "Authorization");
}

// ---- S3Request: addressing and awkward keys --------------------------------------------------

TEST(S3RequestTest, PathStyleEncodesKeysOnce) {
  S3Options o;
  o.endpoint = "http://127.0.0.1:7480/";
  Result<S3Endpoint> e = S3Endpoint::From(o, "bucket");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const S3Request req(*e, kS3Example);
  const http::HttpRequest r =
      req.Build("GET", "dir/a b+c=d%e/\xC3\xBC.dat", {{"prefix", "x/y z"}}, {});
  EXPECT_EQ(r.url,
            "http://127.0.0.1:7480/bucket/dir/a%20b%2Bc%3Dd%25e/%C3%BC.dat?prefix=x%2Fy%20z");
  EXPECT_FALSE(r.follow_redirects);
  // Default ports are dropped (curl then sends the same Host header that was signed).
  o.endpoint = "https://s3.example.org:443";
  e = S3Endpoint::From(o, "bucket");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(S3Request(*e, {}).Build("HEAD", "k", {}, {}).url, "https://s3.example.org/bucket/k");
  // Anonymous: unsigned.
  EXPECT_EQ(HeaderOf(S3Request(*e, {}).Build("HEAD", "k", {}, {}), "Authorization"), "<none>");
  // A session token is sent and signed.
  const http::HttpRequest t = S3Request(*e, {"AK", "SECRET", "TOKEN"}).Build("HEAD", "k", {}, {});
  EXPECT_EQ(HeaderOf(t, "x-amz-security-token"), "TOKEN");
  EXPECT_NE(HeaderOf(t, "Authorization").find("x-amz-security-token"), std::string::npos);
  EXPECT_EQ(HeaderOf(t, "Authorization").find("SECRET"), std::string::npos);
}

TEST(S3RequestTest, BadEndpointsAndBuckets) {
  S3Options o;
  for (const char* bad : {"rgw:7480", "ftp://h", "http://", "http://h:0", "http://h:x",
                          "http://h/path", "http://u:p@h"}) {
    o.endpoint = bad;
    EXPECT_EQ(S3Endpoint::From(o, "bucket").status().code(), StatusCode::kInvalidArgument) << bad;
  }
  o.endpoint = "";
  Result<S3Endpoint> aws = S3Endpoint::From(o, "bucket");
  ASSERT_TRUE(aws.ok());
  EXPECT_EQ(aws->host, "s3.us-east-1.amazonaws.com");
  EXPECT_EQ(S3Endpoint::From(o, "a").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(S3Endpoint::From(o, "a b c").status().code(), StatusCode::kInvalidArgument);
}

TEST(S3CredentialsTest, AwsIniFormat) {
  Result<SigV4Credentials> c = ParseS3Credentials(
      "# comment\n[other]\naws_access_key_id = NO\n[default]\naws_access_key_id = AK\r\n"
      "aws_secret_access_key=SK/+=\n; x\naws_session_token = TOK\n",
      "f");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "AK");
  EXPECT_EQ(c->secret_access_key, "SK/+=");
  EXPECT_EQ(c->session_token, "TOK");
  c = ParseS3Credentials("aws_access_key_id=A\naws_secret_access_key=B\n", "f");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->access_key_id, "A");
  // Errors name the file and line, never a value.
  c = ParseS3Credentials("[default]\naws_access_key_id = AK\nTOPSECRET\n", "/etc/x");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("/etc/x:3"), std::string::npos) << c.status().message();
  EXPECT_EQ(c.status().message().find("TOPSECRET"), std::string::npos);
  c = ParseS3Credentials("[default]\naws_secret_access_key = SEKRIT\n", "f");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message().find("SEKRIT"), std::string::npos);
  EXPECT_FALSE(LoadS3CredentialsFile("/nonexistent/creds").ok());
}

}  // namespace
}  // namespace hoardfs::s3
