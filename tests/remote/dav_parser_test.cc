// Unit tests of the WebDAV pieces that parse what servers send: the PROPFIND multistatus parser
// (remote/dav/propfind_parser.h) on normal and hostile input, and the multipart/byteranges
// parser (remote/http/multipart_byteranges.h).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "remote/dav/propfind_parser.h"
#include "remote/http/multipart_byteranges.h"

namespace hoardfs {
namespace {

using dav::DavEntry;
using dav::PropfindParser;

Result<std::vector<DavEntry>> Parse(const std::string& xml, size_t piece = 7) {
  std::vector<DavEntry> out;
  PropfindParser p([&](DavEntry&& e) {
    out.push_back(std::move(e));
    return Status::Ok();
  });
  for (size_t i = 0; i < xml.size(); i += piece) {
    HOARDFS_RETURN_IF_ERROR(p.Feed(std::string_view(xml).substr(i, piece)));
  }
  HOARDFS_RETURN_IF_ERROR(p.Finish());
  return out;
}

std::string Response(const std::string& href, const std::string& props,
                     const std::string& status = "HTTP/1.1 200 OK", const std::string& p = "D") {
  return "<" + p + ":response><" + p + ":href>" + href + "</" + p + ":href><" + p + ":propstat><" +
         p + ":prop>" + props + "</" + p + ":prop><" + p + ":status>" + status + "</" + p +
         ":status></" + p + ":propstat></" + p + ":response>";
}

std::string Doc(const std::string& body) {
  return "<?xml version=\"1.0\"?><D:multistatus xmlns:D=\"DAV:\">" + body + "</D:multistatus>";
}

TEST(PropfindParserTest, ReadsFilesAndCollections) {
  const std::string xml =
      Doc(Response("/data/", "<D:resourcetype><D:collection/></D:resourcetype>") +
          Response("http://h:8443/data/a%20b%2Bc%3Dd.txt",
                   "<D:resourcetype/><D:getcontentlength>1234</D:getcontentlength>"
                   "<D:getlastmodified>Sun, 06 Nov 1994 08:49:37 GMT</D:getlastmodified>"
                   "<D:getetag>\"abc-1\"</D:getetag>") +
          Response("/data/%C3%BC%E2%82%AC/", "<D:resourcetype><D:collection/></D:resourcetype>") +
          Response("rel%20name", "<D:getcontentlength>0</D:getcontentlength>"));
  for (size_t piece : {1, 7, 1000000}) {
    Result<std::vector<DavEntry>> r = Parse(xml, piece);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->size(), 4u);
    EXPECT_EQ((*r)[0].path, "/data/");
    EXPECT_TRUE((*r)[0].is_collection);
    EXPECT_EQ((*r)[1].path, "/data/a b+c=d.txt");
    EXPECT_FALSE((*r)[1].is_collection);
    EXPECT_EQ((*r)[1].content_length, 1234u);
    EXPECT_EQ((*r)[1].mtime_ns, int64_t{784111777} * 1000000000);
    EXPECT_EQ((*r)[1].etag, "abc-1");
    EXPECT_EQ((*r)[2].path, "/data/\xC3\xBC\xE2\x82\xAC/");
    EXPECT_EQ((*r)[3].path, "rel name");
    EXPECT_EQ((*r)[3].content_length, 0u);
  }
}

TEST(PropfindParserTest, NamespacesByUriNotPrefix) {
  // Another prefix for DAV:, a default namespace, and look-alike elements of other namespaces.
  const std::string xml =
      "<multistatus xmlns=\"DAV:\" xmlns:x=\"urn:other\"><response><href>/a</href>"
      "<propstat><prop><getcontentlength>5</getcontentlength><x:getcontentlength>99"
      "</x:getcontentlength><x:resourcetype><collection/></x:resourcetype></prop>"
      "<status>HTTP/1.1 200 OK</status></propstat></response>" +
      std::string("<lp1:response xmlns:lp1=\"DAV:\"><lp1:href>/b</lp1:href></lp1:response>") +
      "</multistatus>";
  Result<std::vector<DavEntry>> r = Parse(xml);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].content_length, 5u);
  EXPECT_FALSE((*r)[0].is_collection);
  EXPECT_EQ((*r)[1].path, "/b");
  // The right names in the wrong namespace are not a multistatus.
  EXPECT_EQ(Parse("<multistatus xmlns=\"urn:not-dav\"><response><href>/a</href></response>"
                  "</multistatus>")
                .status()
                .code(),
            StatusCode::kCorruption);
  EXPECT_EQ(Parse("<D:multistatus xmlns:D=\"dav:\"></D:multistatus>").status().code(),
            StatusCode::kCorruption);
}

TEST(PropfindParserTest, PropstatStatusesAndResponseStatuses) {
  const std::string xml =
      Doc("<D:response><D:href>/f</D:href><D:propstat><D:prop><D:getcontentlength>7"
          "</D:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>"
          "<D:propstat><D:prop><D:getetag>bogus</D:getetag><D:resourcetype><D:collection/>"
          "</D:resourcetype></D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>"
          "</D:response>"
          "<D:response><D:href>/gone</D:href><D:status>HTTP/1.1 404 Not Found</D:status>"
          "</D:response>");
  Result<std::vector<DavEntry>> r = Parse(xml);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].content_length, 7u);
  EXPECT_EQ((*r)[0].etag, "");
  EXPECT_FALSE((*r)[0].is_collection);
}

TEST(PropfindParserTest, HostileInput) {
  const std::string good = Doc(Response("/a", "<D:getcontentlength>1</D:getcontentlength>"));
  // Truncated anywhere: an error, never a partial success.
  for (size_t cut = 1; cut < good.size(); cut += 5) {
    EXPECT_FALSE(Parse(good.substr(0, cut)).ok()) << cut;
  }
  EXPECT_FALSE(Parse("").ok());
  // Entity expansion ("billion laughs") and external entities: refused, no expansion.
  const std::string bomb =
      "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b "
      "\"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]><D:multistatus xmlns:D=\"DAV:\"><D:response>"
      "<D:href>/&b;</D:href></D:response></D:multistatus>";
  EXPECT_EQ(Parse(bomb).status().code(), StatusCode::kCorruption);
  const std::string xxe =
      "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
      "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/&x;</D:href></D:response>"
      "</D:multistatus>";
  EXPECT_EQ(Parse(xxe).status().code(), StatusCode::kCorruption);
  // Bad values.
  EXPECT_EQ(
      Parse(Doc(Response("/a", "<D:getcontentlength>-1</D:getcontentlength>"))).status().code(),
      StatusCode::kCorruption);
  EXPECT_EQ(
      Parse(Doc(Response("/a", "<D:getcontentlength>1x</D:getcontentlength>"))).status().code(),
      StatusCode::kCorruption);
  EXPECT_EQ(Parse(Doc(Response("/a%zz", ""))).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(Parse(Doc(Response("/a%00b", ""))).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(
      Parse(Doc("<D:response><D:href>/a</D:href><D:href>/b</D:href></D:response>")).status().code(),
      StatusCode::kCorruption);
  EXPECT_EQ(Parse(Doc("<D:response></D:response>")).status().code(), StatusCode::kCorruption);
  // An unparseable date is no date, not an error.
  Result<std::vector<DavEntry>> r =
      Parse(Doc(Response("/a", "<D:getlastmodified>yesterday</D:getlastmodified>")));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].mtime_ns, 0);
  // Too deep.
  std::string deep = "<D:multistatus xmlns:D=\"DAV:\">";
  for (int i = 0; i < 100; ++i) deep += "<x>";
  EXPECT_EQ(Parse(deep).status().code(), StatusCode::kCorruption);
}

TEST(PropfindParserTest, HugeListingIsStreamed) {
  // 100,000 entries, fed in 64 KiB pieces; entries arrive before the end of the document. Each
  // response on a line of its own, indented, as servers write them (nginx dav-ext): 300 KB of
  // whitespace directly inside the multistatus, which is not element text.
  size_t seen_before_end = 0;
  size_t count = 0;
  bool finished = false;
  PropfindParser p([&](DavEntry&& e) {
    if (!finished) ++seen_before_end;
    ++count;
    EXPECT_EQ(e.path.substr(0, 7), "/big/e0");
    return Status::Ok();
  });
  ASSERT_TRUE(p.Feed("<D:multistatus xmlns:D=\"DAV:\">").ok());
  std::string chunk;
  for (int i = 0; i < 100000; ++i) {
    chunk +=
        "\n  " + Response("/big/e0" + std::to_string(i),
                          "<D:getcontentlength>" + std::to_string(i) + "</D:getcontentlength>");
    if (chunk.size() > (64 << 10)) {
      ASSERT_TRUE(p.Feed(chunk).ok());
      chunk.clear();
    }
  }
  ASSERT_TRUE(p.Feed(chunk).ok());
  EXPECT_GT(seen_before_end, 99000u);
  ASSERT_TRUE(p.Feed("</D:multistatus>").ok());
  finished = true;
  ASSERT_TRUE(p.Finish().ok());
  EXPECT_EQ(count, 100000u);
}

TEST(PropfindParserTest, HrefAndStatusLine) {
  EXPECT_EQ(*dav::HrefToPath("https://h:1/a%20b/?x=1"), "/a b/");
  EXPECT_EQ(*dav::HrefToPath(" /a+b "), "/a+b");
  EXPECT_EQ(*dav::HrefToPath("http://h"), "/");
  EXPECT_EQ(dav::ParseStatusLine("HTTP/1.1 207 Multi-Status"), 207);
  EXPECT_EQ(dav::ParseStatusLine("garbage"), 0);
  EXPECT_EQ(dav::ParseStatusLine("HTTP/1.1 20"), 0);
}

// --- multipart/byteranges ---

struct Piece {
  uint64_t offset;
  std::string data;
};

Result<std::vector<Piece>> ParseMultipart(const std::string& body, size_t piece,
                                          std::optional<uint64_t> total = 100) {
  std::vector<Piece> out;
  http::MultipartByterangesParser p(total, [&](uint64_t off, std::span<const std::byte> d) {
    out.push_back({off, std::string(reinterpret_cast<const char*>(d.data()), d.size())});
    return Status::Ok();
  });
  for (size_t i = 0; i < body.size(); i += piece) {
    const std::string_view s = std::string_view(body).substr(i, piece);
    HOARDFS_RETURN_IF_ERROR(p.Feed(std::as_bytes(std::span<const char>(s.data(), s.size()))));
  }
  HOARDFS_RETURN_IF_ERROR(p.Finish());
  EXPECT_EQ(p.boundary(), "THIS_STRING_SEPARATES");
  return out;
}

std::string Joined(const std::vector<Piece>& pieces) {
  std::string s;
  for (const Piece& p : pieces) s += std::to_string(p.offset) + ":" + p.data + ";";
  return s;
}

TEST(MultipartByterangesTest, ParsesPartsInAnyPieces) {
  // RFC 7233 §4.1's example shape, with data that contains the boundary and CRLFs.
  const std::string body =
      "\r\n--THIS_STRING_SEPARATES\r\nContent-Type: application/octet-stream\r\n"
      "Content-Range: bytes 5-9/100\r\n\r\n--THI\r\n--THIS_STRING_SEPARATES\r\n"
      "content-range: bytes 90-99/100\r\n\r\n\r\n--THIS_S\r\n--THIS_STRING_SEPARATES--\r\n"
      "epilogue";
  for (size_t piece : {1, 2, 3, 13, 1000}) {
    Result<std::vector<Piece>> r = ParseMultipart(body, piece);
    ASSERT_TRUE(r.ok()) << piece << ": " << r.status().ToString();
    std::string all;
    uint64_t expect_off = 0;
    std::vector<Piece> merged;
    for (const Piece& p : *r) {
      if (!merged.empty() && expect_off == p.offset) {
        merged.back().data += p.data;
      } else {
        merged.push_back(p);
      }
      expect_off = p.offset + p.data.size();
    }
    EXPECT_EQ(Joined(merged), "5:--THI;90:\r\n--THIS_S;") << piece;
  }
  // Bare LF line ends.
  Result<std::vector<Piece>> lf = ParseMultipart(
      "--THIS_STRING_SEPARATES\nContent-Range: bytes 0-1/100\n\nab\n--THIS_STRING_SEPARATES--", 4);
  ASSERT_TRUE(lf.ok()) << lf.status().ToString();
}

TEST(MultipartByterangesTest, RefusesBrokenBodies) {
  const std::string head = "--THIS_STRING_SEPARATES\r\n";
  auto code = [](const std::string& body, std::optional<uint64_t> total = 100) {
    return ParseMultipart(body, 5, total).status().code();
  };
  EXPECT_EQ(code(head + "Content-Range: bytes 0-4/100\r\n\r\nabc"), StatusCode::kCorruption);
  EXPECT_EQ(code(head + "Content-Type: x\r\n\r\nabcde\r\n--THIS_STRING_SEPARATES--"),
            StatusCode::kCorruption);
  EXPECT_EQ(code(head + "Content-Range: bytes 0-4/200\r\n\r\nabcde\r\n--THIS_STRING_SEPARATES--"),
            StatusCode::kCorruption);
  EXPECT_EQ(code(head + "Content-Range: bytes 4-0/100\r\n\r\nabcde\r\n--THIS_STRING_SEPARATES--"),
            StatusCode::kCorruption);
  EXPECT_EQ(code(head + "Content-Range: bytes 0-4/100\r\n\r\nabcdeXX\r\n--THIS_STRING_SEPARATES--"),
            StatusCode::kCorruption);
  EXPECT_EQ(code("plain body, not multipart at all"), StatusCode::kCorruption);
  EXPECT_EQ(code(std::string(5000, 'x')), StatusCode::kCorruption);
  EXPECT_EQ(code(head + "Content-Range: bytes 0-0/100\r\n" + std::string(9000, 'h')),
            StatusCode::kCorruption);
}

TEST(MultipartByterangesTest, BoundaryFromContentType) {
  EXPECT_EQ(http::BoundaryFromContentType("multipart/byteranges; boundary=00001"), "00001");
  EXPECT_EQ(http::BoundaryFromContentType("Multipart/ByteRanges;charset=x; boundary=\"a b\""),
            "a b");
  EXPECT_EQ(http::BoundaryFromContentType("text/plain; boundary=x"), std::nullopt);
  EXPECT_EQ(http::BoundaryFromContentType("multipart/byteranges"), std::nullopt);
}

}  // namespace
}  // namespace hoardfs
