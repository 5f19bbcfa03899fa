// AWS Signature Version 4 (header-based signing), as the AWS documentation specifies it
// ("Create a signed AWS API request"; the aws-sig-v4-test-suite vectors are in
// tests/remote/s3_sigv4_test.cc). Pure functions over a request description: no I/O, no clock.
//
//   CanonicalRequest = Method \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n
//                      SignedHeaders \n PayloadHash
//   CanonicalQuery   = name=value pairs, each side URI-encoded (RFC 3986 unreserved kept, '/'
//                      and everything else encoded, hex upper case), sorted by encoded name then
//                      encoded value (bytewise), joined with '&'
//   CanonicalHeaders = "lowercase-name:value\n" sorted by name; values trimmed, inner runs of
//                      spaces collapsed to one; repeated names joined with ','
//   StringToSign     = "AWS4-HMAC-SHA256" \n AmzDate \n Scope \n hex(SHA256(CanonicalRequest))
//   Scope            = yyyymmdd/region/service/aws4_request
//   SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, yyyymmdd), region), service),
//                      "aws4_request"); Signature = hex(HMAC(SigningKey, StringToSign))
//
// The canonical URI is taken as given: for S3 it is the request path exactly as sent (each key
// byte URI-encoded once, '/' kept, no normalisation); S3Request (s3_request.h) builds both.
// libcurl's CURLOPT_AWS_SIGV4 is not used: curl 7.88 neither sorts nor re-encodes the query.
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hoardfs::s3 {

struct SigV4Credentials {
  std::string access_key_id;
  std::string secret_access_key;  // never log
  std::string session_token;      // never log; sent and signed as x-amz-security-token if set

  bool empty() const { return access_key_id.empty() && secret_access_key.empty(); }
};

struct SigV4Request {
  std::string method;
  std::string canonical_uri;                                 // the path as sent ("/b/a%20b")
  std::vector<std::pair<std::string, std::string>> query;    // decoded names and values
  std::vector<std::pair<std::string, std::string>> headers;  // all signed: host, x-amz-date, ...
  std::string payload_hash;  // hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
};

struct SigV4Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // hex
  std::string authorization;  // the Authorization header's value
};

inline constexpr const char* kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// "20150830T123600Z" (UTC).
std::string FormatAmzDate(std::chrono::system_clock::time_point t);

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

std::string CanonicalQueryString(const std::vector<std::pair<std::string, std::string>>& query);
std::string CanonicalRequest(const SigV4Request& request);

// Signs `request` at `amz_date` ("20150830T123600Z", which must also be the request's x-amz-date
// header) for `region` and `service` ("s3").
SigV4Signature SignV4(const SigV4Request& request, const SigV4Credentials& credentials,
                      std::string_view region, std::string_view service, std::string_view amz_date);

}  // namespace hoardfs::s3
