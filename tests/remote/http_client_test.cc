// HttpClient against a scripted loopback server that misbehaves on purpose: short bodies that
// lie in Content-Length, bodies larger than asked for, garbage, silence, refused connections.
#include "remote/http/http_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>

#include "tests/support/scripted_http_server.h"
#include "tests/support/xrootd_server.h"

namespace hoardfs::http {
namespace {

using Clock = std::chrono::steady_clock;

using ScriptedServer = testing::ScriptedHttpServer;

std::unique_ptr<HttpClient> Client(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  HttpClientOptions o;
  o.connect_timeout = timeout;
  o.stall_timeout = timeout;
  auto c = HttpClient::Open(o);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return std::move(c).value();
}

HttpRequest Get(const std::string& url) {
  HttpRequest r;
  r.url = url;
  r.headers.emplace_back("Authorization", "AWS4-HMAC-SHA256 Credential=AK/x, Signature=SECRETSIG");
  return r;
}

TEST(HttpClientTest, ReadsABodyAndItsHeaders) {
  ScriptedServer server(
      "HTTP/1.1 206 Partial Content\r\nContent-Length: 5\r\nETag: \"abc\"\r\n"
      "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Range: bytes 10-14/100\r\n"
      "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\nhello");
  std::string buf(10, '\0');
  Result<HttpResponse> r = Client()->PerformInto(
      Get(server.Url("/a?x=1")), std::as_writable_bytes(std::span<char>(buf.data(), buf.size())));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 206);
  EXPECT_EQ(r->body_bytes, 5u);
  EXPECT_EQ(buf.substr(0, 5), "hello");
  EXPECT_EQ(r->etag, "\"abc\"");
  EXPECT_EQ(r->content_range, "bytes 10-14/100");
  EXPECT_EQ(r->content_length, 5u);
  EXPECT_EQ(r->last_modified, "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST(HttpClientTest, ErrorStatusesAreResponsesWithTheirBody) {
  ScriptedServer server(
      "HTTP/1.1 404 Not Found\r\nContent-Length: 29\r\nConnection: close\r\n\r\n"
      "<Error><Code>NoSuchKey</Code>");
  std::string body;
  Result<HttpResponse> r = Client()->PerformToString(Get(server.Url("/k")), &body, 100);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 404);
  EXPECT_TRUE(body.empty());
  EXPECT_EQ(r->error_body.substr(0, 13), "<Error><Code>");
  EXPECT_EQ(server.requests(), 1);  // not retried here
}

TEST(HttpClientTest, LyingContentLengthIsCorruption) {
  ScriptedServer server("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly twenty bytes...");
  std::string body;
  Result<HttpResponse> r = Client()->PerformToString(Get(server.Url("/k")), &body, 1000);
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();
  EXPECT_EQ(r.status().message().find("SECRETSIG"), std::string::npos);
}

TEST(HttpClientTest, MoreThanAskedForIsCorruption) {
  ScriptedServer server(
      "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n"
      "0123456789");
  std::string buf(4, '\0');
  Result<HttpResponse> r = Client()->PerformInto(
      Get(server.Url("/k")), std::as_writable_bytes(std::span<char>(buf.data(), buf.size())));
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();
}

TEST(HttpClientTest, GarbageIsNotSuccess) {
  ScriptedServer server("SSH-2.0-OpenSSH_9.2\r\n\r\n");
  std::string body;
  Result<HttpResponse> r = Client()->PerformToString(Get(server.Url("/k")), &body, 1000);
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();
}

TEST(HttpClientTest, SilentServerTimesOut) {
  ScriptedServer server("", /*answer=*/false);
  const auto start = Clock::now();
  std::string body;
  Result<HttpResponse> r =
      Client(std::chrono::seconds(1))
          ->PerformToString(Get(server.Url("/k?token=SECRETTOKEN")), &body, 1000);
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  EXPECT_LT(took, 5.0);
  EXPECT_EQ(r.status().message().find("SECRETTOKEN"), std::string::npos) << r.status().message();
}

// A request with a body (a PROPFIND's XML) to a server that never answers fails after about the
// stall timeout too (curl's own low-speed limit counted the uploaded bytes and took ~5 s more).
TEST(HttpClientTest, SilentServerTimesOutAfterARequestBody) {
  ScriptedServer server("", /*answer=*/false);
  HttpRequest r = Get(server.Url("/dir/"));
  r.method = "PROPFIND";
  r.headers.emplace_back("Depth", "1");
  r.body = std::string(400, 'x');
  const auto start = Clock::now();
  std::string body;
  Result<HttpResponse> resp = Client(std::chrono::seconds(1))->PerformToString(r, &body, 1000);
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_EQ(resp.status().code(), StatusCode::kUnavailable) << resp.status().ToString();
  EXPECT_LT(took, 3.0) << resp.status().ToString();
  EXPECT_GE(took, 0.9);
}

TEST(HttpClientTest, RefusedConnectionIsUnavailable) {
  Result<uint16_t> port = testing::PickFreePort();
  ASSERT_TRUE(port.ok());
  std::string body;
  Result<HttpResponse> r = Client()->PerformToString(
      Get("http://127.0.0.1:" + std::to_string(*port) + "/k"), &body, 1000);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
}

TEST(HttpClientTest, PerformAllRunsEveryTransfer) {
  ScriptedServer server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  std::vector<HttpClient::Transfer> transfers(20);
  std::atomic<int> bytes{0};
  for (auto& t : transfers) {
    t.request = Get(server.Url("/k"));
    t.sink = [&](std::span<const std::byte> c) {
      bytes += static_cast<int>(c.size());
      return Status::Ok();
    };
  }
  Client()->PerformAll(transfers);
  for (auto& t : transfers) {
    ASSERT_TRUE(t.result.ok()) << t.result.status().ToString();
    EXPECT_EQ(t.result->status, 200);
  }
  EXPECT_EQ(bytes.load(), 40);
}

}  // namespace
}  // namespace hoardfs::http
