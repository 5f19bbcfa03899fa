#include "remote/s3/s3_request.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "remote/http/uri_encode.h"

namespace hoardfs::s3 {
namespace {

uint16_t DefaultPort(std::string_view scheme) { return scheme == "https" ? 443 : 80; }

// S3 bucket naming rules, loosely: 3-63 of [a-z0-9.-_] (RGW and older buckets allow '_' and
// upper case; they then only work in path style).
bool ValidBucket(std::string_view b) {
  if (b.size() < 3 || b.size() > 255) return false;
  return std::all_of(b.begin(), b.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
  });
}

}  // namespace

Result<S3Endpoint> S3Endpoint::From(const S3Options& options, const std::string& bucket) {
  S3Endpoint out;
  out.bucket = bucket;
  out.region = options.region.empty() ? "us-east-1" : options.region;
  out.virtual_host = options.virtual_host;
  if (!ValidBucket(bucket)) {
    return Status::InvalidArgument("s3://" + bucket + ": not a valid bucket name");
  }
  std::string_view ep = options.endpoint;
  if (ep.empty()) {
    out.scheme = "https";
    out.host = "s3." + out.region + ".amazonaws.com";
    return out;
  }
  auto bad = [&](std::string_view what) {
    return Status::InvalidArgument("S3 endpoint '" + options.endpoint + "': " + std::string(what));
  };
  const size_t sep = ep.find("://");
  if (sep == std::string_view::npos) return bad("expected http://host[:port] or https://...");
  out.scheme = std::string(ep.substr(0, sep));
  std::transform(out.scheme.begin(), out.scheme.end(), out.scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (out.scheme != "http" && out.scheme != "https") return bad("scheme must be http or https");
  std::string_view authority = ep.substr(sep + 3);
  while (!authority.empty() && authority.back() == '/') authority.remove_suffix(1);
  if (authority.find_first_of("/?#@") != std::string_view::npos) {
    return bad("takes no path, query or user");
  }
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated '['");
    out.host = std::string(authority.substr(0, close + 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return bad("unexpected text after ']'");
      port = authority.substr(close + 2);
      if (port.empty()) return bad("empty port");
    }
  } else {
    const size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return bad("empty port");
    }
  }
  if (out.host.empty()) return bad("missing the host");
  if (!port.empty()) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return bad("bad port");
    }
    out.port = static_cast<uint16_t>(value);
  }
  if (out.port == DefaultPort(out.scheme)) out.port = 0;
  return out;
}

S3Request::S3Request(S3Endpoint endpoint, SigV4Credentials credentials)
    : endpoint_(std::move(endpoint)), credentials_(std::move(credentials)) {
  host_header_ = endpoint_.virtual_host ? endpoint_.bucket + "." + endpoint_.host : endpoint_.host;
  if (endpoint_.port != 0) host_header_ += ":" + std::to_string(endpoint_.port);
  base_url_ = endpoint_.scheme + "://" + host_header_;
  if (!endpoint_.virtual_host) path_prefix_ = "/" + http::UriEncode(endpoint_.bucket, false);
}

std::string S3Request::Describe(std::string_view key) const {
  std::string out = "s3://" + endpoint_.bucket + "/";
  out += key;
  return out;
}

http::HttpRequest S3Request::Build(std::string_view method, std::string_view key,
                                   const std::vector<std::pair<std::string, std::string>>& query,
                                   const std::vector<std::pair<std::string, std::string>>& headers,
                                   std::string body, std::string payload_hash) const {
  return BuildAt(method, key, query, headers, std::move(body), std::move(payload_hash),
                 std::chrono::system_clock::now());
}

http::HttpRequest S3Request::BuildAt(
    std::string_view method, std::string_view key,
    const std::vector<std::pair<std::string, std::string>>& query,
    const std::vector<std::pair<std::string, std::string>>& headers, std::string body,
    std::string payload_hash, std::chrono::system_clock::time_point now) const {
  std::string path = path_prefix_ + "/" + http::UriEncode(key, true);
  const std::string canonical_query = CanonicalQueryString(query);

  http::HttpRequest out;
  out.method = std::string(method);
  out.url = base_url_ + path + (canonical_query.empty() ? "" : "?" + canonical_query);
  out.follow_redirects = false;
  out.headers = headers;
  if (!credentials_.empty()) {
    if (payload_hash.empty()) payload_hash = Sha256Hex(body);
    SigV4Request sig;
    sig.method = out.method;
    sig.canonical_uri = path;
    sig.query = query;
    sig.payload_hash = payload_hash;
    const std::string amz_date = FormatAmzDate(now);
    out.headers.emplace_back("x-amz-date", amz_date);
    out.headers.emplace_back("x-amz-content-sha256", payload_hash);
    if (!credentials_.session_token.empty()) {
      out.headers.emplace_back("x-amz-security-token", credentials_.session_token);
    }
    sig.headers = out.headers;
    sig.headers.emplace_back("host", host_header_);
    const SigV4Signature signature = SignV4(sig, credentials_, endpoint_.region, "s3", amz_date);
    out.headers.emplace_back("Authorization", signature.authorization);
  }
  out.body = std::move(body);
  return out;
}

}  // namespace hoardfs::s3
