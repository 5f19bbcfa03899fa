// The streaming XML readers on well-formed, split and hostile input: the ListObjectsV2 page
// parser, S3 error codes, and the hardened XmlStream under them.
#include "remote/s3/s3_xml.h"

#include <gtest/gtest.h>

#include <string>

#include "remote/http/xml_stream.h"

namespace hoardfs::s3 {
namespace {

constexpr const char* kPage = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name><Prefix>dir/</Prefix><KeyCount>4</KeyCount><MaxKeys>1000</MaxKeys>
  <Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents><Key>dir/</Key><LastModified>2023-01-02T03:04:05.000Z</LastModified>
    <ETag>"d41d8cd98f00b204e9800998ecf8427e"</ETag><Size>0</Size><StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key>dir/a b+c=&amp;d &#xFC;.dat</Key><LastModified>2023-01-02T03:04:05.123Z</LastModified>
    <ETag>&quot;9b2cf535f27731c974343645a3985328-3&quot;</ETag><Size>12345678901</Size>
    <Owner><ID>x</ID><DisplayName>y</DisplayName></Owner></Contents>
  <CommonPrefixes><Prefix>dir/sub/</Prefix></CommonPrefixes>
  <CommonPrefixes><Prefix>dir/zz/</Prefix></CommonPrefixes>
</ListBucketResult>)";

Result<S3ListResult> ParseInPieces(std::string_view doc, size_t piece) {
  ListObjectsV2Parser parser;
  for (size_t at = 0; at < doc.size(); at += piece) {
    HOARDFS_RETURN_IF_ERROR(parser.Feed(doc.substr(at, piece)));
  }
  return parser.Finish();
}

TEST(ListObjectsV2ParserTest, ReadsAPageInAnyPieces) {
  for (size_t piece : {size_t{1}, size_t{7}, size_t{100000}}) {
    Result<S3ListResult> r = ParseInPieces(kPage, piece);
    ASSERT_TRUE(r.ok()) << piece << ": " << r.status().ToString();
    ASSERT_EQ(r->contents.size(), 2u);
    EXPECT_EQ(r->contents[0].key, "dir/");
    EXPECT_EQ(r->contents[0].etag, "d41d8cd98f00b204e9800998ecf8427e");
    EXPECT_EQ(r->contents[0].mtime_ns, int64_t{1672628645} * 1000000000);
    EXPECT_EQ(r->contents[1].key, "dir/a b+c=&d \xC3\xBC.dat");
    EXPECT_EQ(r->contents[1].size, 12345678901u);
    EXPECT_EQ(r->contents[1].etag, "9b2cf535f27731c974343645a3985328-3");
    EXPECT_EQ(r->contents[1].mtime_ns, int64_t{1672628645} * 1000000000 + 123000000);
    EXPECT_EQ(r->common_prefixes, (std::vector<std::string>{"dir/sub/", "dir/zz/"}));
    EXPECT_TRUE(r->is_truncated);
    EXPECT_EQ(r->next_continuation_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
  }
  // No namespace at all is accepted (some servers omit it); an empty last page too.
  Result<S3ListResult> r =
      ParseInPieces("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>", 5);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->contents.empty());
  EXPECT_FALSE(r->is_truncated);
}

void ExpectCorrupt(std::string_view doc, std::string_view what) {
  Result<S3ListResult> r = ParseInPieces(doc, 64);
  ASSERT_FALSE(r.ok()) << what;
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << what << ": " << r.status().ToString();
}

TEST(ListObjectsV2ParserTest, RejectsHostileAndBrokenInput) {
  const std::string page(kPage);
  ExpectCorrupt(page.substr(0, page.size() / 2), "truncated");
  ExpectCorrupt(page.substr(0, page.size() - 3), "truncated at the end");
  ExpectCorrupt("", "empty");
  ExpectCorrupt("garbage", "not XML");
  ExpectCorrupt("<html><body>502 Bad Gateway</body></html>", "wrong root");
  ExpectCorrupt("<ListBucketResult xmlns=\"http://evil.example/\"></ListBucketResult>",
                "wrong namespace");
  ExpectCorrupt(
      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<x:Contents xmlns:x=\"urn:other\"/></ListBucketResult>",
      "child in another namespace");
  ExpectCorrupt(
      "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 "
      "\"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>"
      "<ListBucketResult><Contents><Key>&lol2;</Key><Size>1</Size></Contents></ListBucketResult>",
      "entity expansion");
  ExpectCorrupt("<!DOCTYPE x SYSTEM \"file:///etc/passwd\"><ListBucketResult></ListBucketResult>",
                "external DTD");
  ExpectCorrupt(
      "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents>"
      "</ListBucketResult>",
      "negative size");
  ExpectCorrupt("<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>",
                "no size");
  ExpectCorrupt(
      "<ListBucketResult><Contents><Key>k</Key><Size>1</Size>"
      "<LastModified>yesterday</LastModified></Contents></ListBucketResult>",
      "bad date");
  ExpectCorrupt("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
                "truncated without a token");
  ExpectCorrupt(
      "<ListBucketResult><Contents><Key>k</Key><Size>1</Size></Contents>"
      "</ListBucketResult><ListBucketResult/>",
      "two roots");
  // Huge: an element's text over the limit, nesting over the limit, too many entries.
  ExpectCorrupt("<ListBucketResult><Contents><Key>" + std::string(100000, 'k') +
                    "</Key><Size>1</Size></Contents></ListBucketResult>",
                "huge key");
  std::string deep = "<ListBucketResult>";
  for (int i = 0; i < 100; ++i) deep += "<a>";
  ExpectCorrupt(deep, "deep nesting");
  ListObjectsV2Parser small(3);
  std::string many = "<ListBucketResult>";
  for (int i = 0; i < 4; ++i) many += "<Contents><Key>k</Key><Size>1</Size></Contents>";
  many += "</ListBucketResult>";
  Status fed = small.Feed(many);
  Result<S3ListResult> r = small.Finish();
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  http::XmlLimits tiny;
  tiny.max_document_bytes = 100;
  ListObjectsV2Parser capped(10, tiny);
  EXPECT_EQ(capped.Feed(page).code(), StatusCode::kCorruption);
  EXPECT_EQ(capped.Feed("<more/>").code(), StatusCode::kCorruption);  // stays failed
}

TEST(S3ErrorCodeTest, ExtractsTheCodeOnly) {
  EXPECT_EQ(S3ErrorCode("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>"
                        "SignatureDoesNotMatch</Code><Message>The request signature we calculated "
                        "does not match</Message><StringToSign>AWS4...</StringToSign></Error>"),
            "SignatureDoesNotMatch");
  EXPECT_EQ(S3ErrorCode("<Error><Code>No&lt;Such Bucket!</Code></Error>"), "NoSuchBucket");
  EXPECT_EQ(S3ErrorCode(""), "");
  EXPECT_EQ(S3ErrorCode("<html>oops</html>"), "");
  EXPECT_EQ(S3ErrorCode("<Other><Code>X</Code></Other>"), "");
  EXPECT_EQ(S3ErrorCode("<!DOCTYPE a [<!ENTITY e \"x\">]><Error><Code>&e;</Code></Error>"), "");
  EXPECT_EQ(S3ErrorCode("<Error><Code>AccessDenied</Code>"), "");  // truncated
}

TEST(S3XmlTest, StripETagQuotes) {
  EXPECT_EQ(StripETagQuotes("\"abc\""), "abc");
  EXPECT_EQ(StripETagQuotes("W/\"abc\""), "abc");
  EXPECT_EQ(StripETagQuotes("abc"), "abc");
  EXPECT_EQ(StripETagQuotes("\""), "\"");
}

}  // namespace
}  // namespace hoardfs::s3
