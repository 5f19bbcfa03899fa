// S3Request: turns "method + bucket key + query" into a signed HttpRequest for one bucket at one
// endpoint, in path style (http://endpoint/bucket/key) or virtual-host style
// (http://bucket.endpoint/key).
//
// - The key is URI-encoded byte by byte ('/' kept), once; the same string is the request path and
//   SigV4's canonical URI, so keys with spaces, '+', '=', '%' or unicode sign correctly.
// - The query is encoded and sorted exactly as SigV4's canonical query, and sent in that order.
// - Headers signed: host (host[:port], the port only when not the scheme's default, which is also
//   how the URL is written, so curl sends the same Host), x-amz-date, x-amz-content-sha256 (hash
//   of the body: the empty body's hash for GET/HEAD), x-amz-security-token when a session token
//   is set, and the caller's extra headers (Range, If-Match, ...).
// - Without credentials the request is sent unsigned (anonymous access).
// - Redirects are not followed: a signed request is only valid for the host it was signed for.
//
// Thread-safety: immutable after construction; Build() may run on any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "remote/http/http_client.h"
#include "remote/object_source.h"
#include "remote/s3/sigv4.h"

namespace hoardfs::s3 {

struct S3Endpoint {
  std::string scheme;  // "http" or "https"
  std::string host;    // endpoint host (an IPv6 literal keeps its brackets)
  uint16_t port = 0;   // 0: the scheme's default
  std::string bucket;
  std::string region = "us-east-1";
  bool virtual_host = false;

  // From S3Options::endpoint ("http://host:port", no path; "" = https://s3.<region>.amazonaws.com)
  // and the bucket. kInvalidArgument for a malformed endpoint or bucket name.
  static Result<S3Endpoint> From(const S3Options& options, const std::string& bucket);
};

class S3Request {
 public:
  S3Request(S3Endpoint endpoint, SigV4Credentials credentials);

  // `key` is the object key, unencoded ("" for bucket-level requests such as ListObjectsV2);
  // `query` decoded name/value pairs; `headers` extra headers to send and sign; `body` and its
  // SHA-256 (hex, or "UNSIGNED-PAYLOAD"; "" = the empty body's hash).
  http::HttpRequest Build(std::string_view method, std::string_view key,
                          const std::vector<std::pair<std::string, std::string>>& query,
                          const std::vector<std::pair<std::string, std::string>>& headers,
                          std::string body = "", std::string payload_hash = "") const;
  // The same, signed at `now` (tests pin the clock).
  http::HttpRequest BuildAt(std::string_view method, std::string_view key,
                            const std::vector<std::pair<std::string, std::string>>& query,
                            const std::vector<std::pair<std::string, std::string>>& headers,
                            std::string body, std::string payload_hash,
                            std::chrono::system_clock::time_point now) const;

  // "s3://bucket/key" for messages.
  std::string Describe(std::string_view key) const;
  const S3Endpoint& endpoint() const { return endpoint_; }
  bool anonymous() const { return credentials_.empty(); }

 private:
  S3Endpoint endpoint_;
  SigV4Credentials credentials_;
  std::string host_header_;  // host[:port] as in the URL
  std::string base_url_;     // scheme://host[:port]
  std::string path_prefix_;  // "/bucket" (path style) or ""
};

}  // namespace hoardfs::s3
