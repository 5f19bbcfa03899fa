// HttpClient: HTTP(S) requests over libcurl for the HTTP-based backends (S3 now, WebDAV next).
// The backends build requests (URL, headers, ranges) and interpret responses; this class moves
// bytes, reuses connections, enforces timeouts and turns transport failures into Status kinds.
//
// - Connections are reused: finished easy handles go back to a pool (each keeps its live
//   connections), and all handles share one DNS cache and TLS session cache (a curl share
//   handle). HTTP/2 is negotiated over TLS where the server offers it (CURL_HTTP_VERSION_2TLS);
//   plain http:// stays HTTP/1.1.
// - Timeouts: `connect_timeout` for TCP+TLS set-up; a request during which no body byte moves
//   either way for `stall_timeout` (counted from its start, checked about once a second by a curl
//   progress callback) fails, so a hung server costs about that, with or without a request body;
//   `total_timeout` (0: none) bounds the whole request.
// - Redirects are followed when the request asks (at most `max_redirects`; only to http/https).
//   curl does not send a caller's Authorization header to another host.
// - The response body of a 2xx status goes to the caller's sink, in order, in pieces; the body of
//   any other status is kept (its first 16 KiB) in HttpResponse::error_body for the backend to
//   read an error code from, and never reaches the sink.
// - Errors (the returned Status; an HTTP status of any value is a response, not an error here —
//   see http_status.h for mapping it):
//     could not resolve/connect, timed out, connection reset, TLS handshake failure, a server
//     that closed without answering                                       → kUnavailable
//     a body shorter than its Content-Length, a reply that is not HTTP, a
//     body larger than the caller's buffer, a redirect loop               → kCorruption
//     TLS peer verification failed / client certificate refused           → kPermissionDenied
//     unusable TLS files (CA, client certificate)                         → kInvalidArgument
//     whatever a sink returned                                            → that status
//   Messages name the method and the URL without its query or userinfo ("GET http://h/b/k"),
//   never a header value: credentials in headers or query strings are never logged or returned.
// - Retries are not done here: the backend wraps calls in RetryTransient() (remote/retry.h), so
//   only kUnavailable is retried and a 404 or 403 costs one request.
//
// Thread-safety: thread-safe; any number of threads may call Perform*() at once (each call uses
// its own easy handle from the pool). PerformAll() drives its transfers on the calling thread.
// REQUIRES: no fork() without exec while a call is in flight.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "remote/object_source.h"

namespace hoardfs::http {

struct HttpClientOptions {
  std::chrono::milliseconds connect_timeout{30000};
  std::chrono::milliseconds stall_timeout{30000};  // no progress for this long: kUnavailable
  std::chrono::milliseconds total_timeout{0};      // whole request, 0: unbounded
  unsigned max_redirects = 5;
  unsigned max_idle_handles = 64;  // easy handles (with their connections) kept for reuse
  unsigned max_parallel = 8;       // transfers in flight in one PerformAll()
  TlsOptions tls;
  std::string user_agent = "hoardfs/0.1";

  // connect/stall timeouts from RemoteOptions::timeout, TLS from RemoteOptions::tls.
  static HttpClientOptions From(const RemoteOptions& options);
};

struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;  // > 0
};

struct HttpRequest {
  std::string method = "GET";  // GET, HEAD (no body is read), PUT, PROPFIND, ...
  std::string url;             // absolute and already percent-encoded; its query is never logged
  std::vector<std::pair<std::string, std::string>> headers;  // never logged
  // Empty: the whole entity. Otherwise a "Range: bytes=a-b[,c-d...]" header is added; with
  // several ranges the body is delivered raw (multipart/byteranges if the server honours them).
  std::vector<ByteRange> ranges;
  std::string body;  // request body (sent with Content-Length) for PUT and the like
  bool follow_redirects = true;
};

struct HttpResponse {
  long status = 0;  // of the last response (after redirects)
  // Selected headers of the last response ("" / nullopt if absent), values as sent.
  std::string etag;
  std::string last_modified;
  std::string content_type;
  std::string content_range;
  std::string location;
  std::optional<uint64_t> content_length;
  uint64_t body_bytes = 0;  // bytes delivered to the sink (2xx only)
  std::string error_body;   // non-2xx: the first 16 KiB of the body
};

// Receives a 2xx body in order, in pieces. A non-OK status aborts the transfer and is what the
// call returns.
using BodySink = std::function<Status(std::span<const std::byte> chunk)>;

class HttpClient {
 public:
  static Result<std::unique_ptr<HttpClient>> Open(const HttpClientOptions& options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // One request; the 2xx body goes to `sink` (may be empty for HEAD or to discard it).
  Result<HttpResponse> Perform(const HttpRequest& request, const BodySink& sink);

  // The 2xx body into `out`; a body larger than `out` is kCorruption (a server that sends more
  // than was asked for). HttpResponse::body_bytes is the count written.
  Result<HttpResponse> PerformInto(const HttpRequest& request, std::span<std::byte> out);

  // The 2xx body appended to `*out`; more than `max_bytes` is kCorruption.
  Result<HttpResponse> PerformToString(const HttpRequest& request, std::string* out,
                                       size_t max_bytes);

  // Several requests at once (at most options.max_parallel in flight) over one curl multi handle,
  // driven by the calling thread. Each transfer gets its own result; sinks run on this thread.
  struct Transfer {
    HttpRequest request;
    BodySink sink;
    Result<HttpResponse> result = Status::Aborted("not performed");
  };
  void PerformAll(std::span<Transfer> transfers);

  const HttpClientOptions& options() const { return options_; }

 private:
  struct Shared;
  explicit HttpClient(HttpClientOptions options, std::unique_ptr<Shared> shared);

  HttpClientOptions options_;
  std::unique_ptr<Shared> shared_;
};

// "GET http://host/path": what messages may show of a request (no query, no userinfo).
std::string DescribeRequest(std::string_view method, std::string_view url);

}  // namespace hoardfs::http
