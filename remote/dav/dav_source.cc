#include "remote/dav/dav_source.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <optional>
#include <thread>

#include "remote/dav/bearer_token.h"
#include "remote/dav/propfind_parser.h"
#include "remote/http/http_client.h"
#include "remote/http/http_status.h"
#include "remote/http/http_time.h"
#include "remote/http/multipart_byteranges.h"
#include "remote/http/range_plan.h"
#include "remote/http/range_response.h"
#include "remote/http/uri_encode.h"
#include "remote/object_path.h"
#include "remote/retry.h"

namespace hoardfs {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr uint64_t kCoalesceGap = 64 << 10;
constexpr uint64_t kMaxSpan = 8 << 20;
constexpr size_t kRangesPerRequest = 64;
constexpr unsigned kMaxRedirects = 5;
constexpr int64_t kNsPerSecond = 1000000000;

constexpr std::string_view kPropfindBody =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<D:propfind xmlns:D=\"DAV:\"><D:prop><D:resourcetype/><D:getcontentlength/>"
    "<D:getlastmodified/><D:getetag/></D:prop></D:propfind>\n";

bool ValidComponent(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos;
}

std::string VersionFromSizeAndTime(uint64_t size, int64_t mtime_ns) {
  return std::to_string(size) + "-" + std::to_string(mtime_ns);
}

// "https://h:1/a/b?q" → "https://h:1" (the origin: what a token is bound to).
std::string_view OriginOf(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return {};
  const size_t path = url.find_first_of("/?#", scheme_end + 3);
  return url.substr(0, path);
}

// The path of an absolute URL, without query ("https://h/a%20b?q" → "/a%20b").
std::string_view PathOf(std::string_view url) {
  const std::string_view origin = OriginOf(url);
  std::string_view rest = url.substr(origin.size());
  const size_t q = rest.find_first_of("?#");
  if (q != std::string_view::npos) rest = rest.substr(0, q);
  return rest.empty() ? std::string_view("/") : rest;
}

// Location resolved against the URL it came from (RFC 9110 §10.2.2: may be relative).
std::string ResolveLocation(const std::string& from, std::string_view location) {
  const size_t scheme_end = location.find("://");
  if (scheme_end != std::string_view::npos && scheme_end < location.find('/')) {
    return std::string(location);
  }
  if (location.substr(0, 2) == "//") {
    return std::string(from.substr(0, from.find("://") + 1)) + std::string(location);
  }
  if (!location.empty() && location.front() == '/') {
    return std::string(OriginOf(from)) + std::string(location);
  }
  std::string base = std::string(OriginOf(from)) + std::string(PathOf(from));
  base.resize(base.rfind('/') + 1);
  return base + std::string(location);
}

std::string StripETag(std::string_view v) {
  std::string prefix;
  if (v.substr(0, 2) == "W/") {
    prefix = "W/";
    v.remove_prefix(2);
  }
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  return prefix + std::string(v);
}

// A coalesced span of the file and the ranges it serves.
using http::RangeGroup;

// The Status of a response that is not a success. nginx answers a TLS client that sent no
// certificate, or one it could not verify, with HTTP 400 and a page saying so ("No required SSL
// certificate was sent", "The SSL certificate error"; 496/495 inside nginx): a refused
// credential, not a malformed request.
Status StatusOfResponse(const http::HttpResponse& resp, std::string_view what) {
  const bool certificate =
      resp.status == 495 || resp.status == 496 ||
      (resp.status == 400 && resp.error_body.find("SSL certificate") != std::string::npos);
  if (certificate) {
    return Status::PermissionDenied(std::string(what) + ": HTTP " + std::to_string(resp.status) +
                                    " (the server wants a client certificate it accepts: "
                                    "none was sent, or it was refused)");
  }
  return http::StatusFromHttp(resp.status, what, "");
}

class DavSourceImpl final : public ObjectSource {
 public:
  DavSourceImpl(std::string describe, std::string origin, std::string root, std::string query,
                std::unique_ptr<http::HttpClient> client,
                std::unique_ptr<dav::BearerTokenFile> token, const RemoteOptions& options)
      : describe_(std::move(describe)),
        origin_(std::move(origin)),
        root_(std::move(root)),
        query_(std::move(query)),
        client_(std::move(client)),
        token_(std::move(token)),
        token_to_other_hosts_(options.dav.token_to_other_hosts),
        retry_(RetryPolicy::From(options)) {}

  Result<ObjectInfo> Stat(const std::string& path) override {
    HOARDFS_RETURN_IF_ERROR(ValidateObjectPath(path));
    if (!propfind_refused_.load()) {
      Result<ObjectInfo> info = StatPropfind(path);
      if (info.ok() || info.status().code() != StatusCode::kNotSupported) return info;
      propfind_refused_.store(true);
    }
    return StatHead(path);
  }

  Result<ListPage> List(const std::string& dir, const std::string& page_token) override {
    HOARDFS_RETURN_IF_ERROR(ValidateObjectPath(dir));
    if (!page_token.empty()) return Status::InvalidArgument(describe_ + ": bad page token");
    const std::string what = "PROPFIND " + DescribePath(dir);
    if (propfind_refused_.load()) {
      return Status::NotSupported(what + ": the server does not list directories (no PROPFIND)");
    }
    const std::string want = FullPath(dir);
    return RetryTransient(retry_, what, [&]() -> Result<ListPage> {
      ListPage out;
      bool saw_self = false;
      bool self_is_dir = false;
      std::string redirected;
      // The collection's path on the server that answers: hrefs are under it. A redirect (an
      // XRootD redirector, a door) may lead to another path than `want`.
      std::string asked_url;
      std::optional<std::string> self_on_server;
      std::string self = want;
      dav::PropfindParser parser([&](dav::DavEntry&& e) -> Status {
        if (!self_on_server) {
          Result<std::string> path = http::UriDecode(PathOf(asked_url));
          self_on_server = path.ok() ? *path : want;
          while (self_on_server->size() > 1 && self_on_server->back() == '/') {
            self_on_server->pop_back();
          }
          self = *self_on_server;
        }
        std::string p = e.path;
        if (p.empty() || p.front() != '/') p = (self == "/" ? "/" : self + "/") + p;
        while (p.size() > 1 && p.back() == '/') p.pop_back();
        if (p == self) {
          saw_self = true;
          self_is_dir = e.is_collection;
          return Status::Ok();
        }
        const size_t slash = p.rfind('/');
        const std::string_view parent =
            slash == 0 ? std::string_view("/") : std::string_view(p).substr(0, slash);
        const std::string_view name = std::string_view(p).substr(slash + 1);
        if (parent != self || !ValidComponent(name)) return Status::Ok();
        out.entries.push_back(ToInfo(std::string(name), e));
        return Status::Ok();
      });
      HOARDFS_ASSIGN_OR_RETURN(http::HttpResponse resp,
                               Propfind(dir, true, "1", &parser, what, &redirected, &asked_url));
      if (resp.status == 404) {
        // "<file>/" is 404 on most servers: tell a file from nothing.
        Result<ObjectInfo> info = Stat(dir);
        if (info.ok() && info->type == ObjectType::kFile) {
          return Status::InvalidArgument(what + ": not a directory");
        }
        if (info.ok()) return StatusOfResponse(resp, what + redirected);
        return info.status();
      }
      if (resp.status >= 500 && resp.status != 501) {
        // XRootD 5.5's HTTP door answers "<file>/" with a 5xx: one stat tells a file from a
        // server error, which this loop then retries (the stat is not retried on its own).
        Result<ObjectInfo> info = StatPropfindOnce(dir);
        if (info.ok() && info->type == ObjectType::kFile) {
          return Status::InvalidArgument(what + ": not a directory");
        }
      }
      if (resp.status == 405 || resp.status == 501) {
        propfind_refused_.store(true);
        return Status::NotSupported(what + ": the server does not list directories (no PROPFIND)");
      }
      if (resp.status != 207) return StatusOfResponse(resp, what + redirected);
      if (saw_self && !self_is_dir) return Status::InvalidArgument(what + ": not a directory");
      return out;
    });
  }

  Result<size_t> Read(const ObjectRef& ref, uint64_t offset, std::span<std::byte> out) override {
    HOARDFS_RETURN_IF_ERROR(ValidateObjectPath(ref.path));
    if (ref.path == "/") return Status::InvalidArgument(describe_ + ": / is a directory");
    if (out.empty() || offset >= ref.size) return size_t{0};
    const uint64_t length = std::min<uint64_t>(out.size(), ref.size - offset);
    const std::string what = "GET " + DescribePath(ref.path);
    return RetryTransient(retry_, what, [&]() -> Result<size_t> {
      http::HttpRequest req = Request("GET", ref.path, false, VersionHeaders(ref));
      req.ranges.push_back({offset, length});
      auto window = out.first(length);
      uint64_t pos = 0;
      std::string redirected;
      HOARDFS_ASSIGN_OR_RETURN(
          const http::HttpResponse resp,
          Execute(
              std::move(req),
              [&](std::span<const std::byte> chunk) -> Status {
                if (pos + chunk.size() > length) {
                  return Status::Corruption(what + ": more bytes than the range asked for");
                }
                std::memcpy(window.data() + pos, chunk.data(), chunk.size());
                pos += chunk.size();
                return Status::Ok();
              },
              &redirected));
      HOARDFS_RETURN_IF_ERROR(CheckRangeResponse(what + redirected, ref, resp, offset, length));
      return static_cast<size_t>(length);
    });
  }

  Status ReadV(const ObjectRef& ref, std::span<ReadRange> ranges) override {
    HOARDFS_RETURN_IF_ERROR(http::CheckReadVTarget(ref, describe_, ranges));
    http::RangePlan plan(ranges, ref.size, kCoalesceGap, kMaxSpan);
    std::vector<RangeGroup>& groups = plan.groups();
    if (groups.empty()) return Status::Ok();
    const std::string what = "GET " + DescribePath(ref.path);
    std::vector<size_t> pending(groups.size());
    for (size_t g = 0; g < groups.size(); ++g) pending[g] = g;
    const unsigned attempts = std::max(1u, retry_.max_attempts);
    for (unsigned attempt = 1; !pending.empty(); ++attempt) {
      if (pending.size() > 1 && !multirange_refused_.load()) {
        MultiRangeRound(ref, ranges, groups, pending, what);
      }
      std::vector<size_t> singles;
      for (size_t g : pending) {
        if (groups[g].status.code() == StatusCode::kAborted) singles.push_back(g);
      }
      if (!singles.empty()) SingleRangeRound(ref, ranges, groups, singles, what);
      std::vector<size_t> retry;
      for (size_t g : pending) {
        if (IsTransient(groups[g].status) && attempt < attempts) {
          groups[g].status = Status::Aborted("not read");
          retry.push_back(g);
        }
      }
      pending = std::move(retry);
      if (!pending.empty()) std::this_thread::sleep_for(BackoffDelay(retry_, attempt));
    }
    return plan.Finish();
  }

  std::string Describe() const override { return describe_; }

 private:
  // The decoded server path of an object path: root_ "/pnfs/d" + "/a" → "/pnfs/d/a".
  std::string FullPath(const std::string& path) const {
    if (root_ == "/") return path;
    return path == "/" ? root_ : root_ + path;
  }
  std::string DescribePath(const std::string& path) const {
    return path == "/" ? describe_ : describe_ + path;
  }
  std::string UrlOf(const std::string& path, bool collection) const {
    std::string url = origin_ + http::UriEncode(FullPath(path), true);
    if (collection && url.back() != '/') url += '/';
    if (!query_.empty()) url += "?" + query_;
    return url;
  }

  http::HttpRequest Request(std::string method, const std::string& path, bool collection,
                            Headers headers) const {
    http::HttpRequest req;
    req.method = std::move(method);
    req.url = UrlOf(path, collection);
    req.headers = std::move(headers);
    req.follow_redirects = false;  // Execute() follows them, minding the token
    return req;
  }

  // Performs `req`, following redirects, with the bearer token (if any) added for the URL's
  // origin. `redirected` (may be null) receives "" when the URL asked answered, else what
  // messages should add: " (redirected to http://pool:port/path)", and when the answer was a
  // 401/403 from a host the token was kept from, a word about that. `asked_url` (may be null) is
  // set to each hop's URL before it is asked, so `sink` can tell which server it hears from.
  Result<http::HttpResponse> Execute(http::HttpRequest req, const http::BodySink& sink,
                                     std::string* redirected = nullptr,
                                     std::string* asked_url = nullptr) {
    std::optional<std::string> token;
    if (token_) {
      HOARDFS_ASSIGN_OR_RETURN(token, token_->Get());
    }
    const std::string what = http::DescribeRequest(req.method, req.url);
    if (redirected != nullptr) redirected->clear();
    for (unsigned hop = 0;; ++hop) {
      http::HttpRequest r = req;
      const bool send_token = token && (token_to_other_hosts_ || OriginOf(r.url) == origin_);
      if (send_token) r.headers.emplace_back("Authorization", "Bearer " + *token);
      if (asked_url != nullptr) *asked_url = r.url;
      HOARDFS_ASSIGN_OR_RETURN(http::HttpResponse resp, client_->Perform(r, sink));
      const bool redirect = resp.status == 301 || resp.status == 302 || resp.status == 303 ||
                            resp.status == 307 || resp.status == 308;
      if (!redirect || resp.location.empty()) {
        if (redirected != nullptr && hop > 0) {
          // DescribeRequest drops the query (it may carry a credential) and any userinfo.
          *redirected = " (redirected to " + http::DescribeRequest("", req.url).substr(1);
          if (token && !send_token && (resp.status == 401 || resp.status == 403)) {
            *redirected +=
                "; the bearer token is not sent to another host unless "
                "bearer_token_to_other_hosts is set";
          }
          *redirected += ")";
        }
        return resp;
      }
      if (hop >= kMaxRedirects) return Status::Corruption(what + ": too many redirects");
      req.url = ResolveLocation(req.url, resp.location);
      if (req.url.rfind("http://", 0) != 0 && req.url.rfind("https://", 0) != 0) {
        return Status::Corruption(what + ": redirect to a URL that is not http(s)");
      }
    }
  }

  Result<http::HttpResponse> Propfind(const std::string& path, bool collection, const char* depth,
                                      dav::PropfindParser* parser, const std::string& what,
                                      std::string* redirected, std::string* asked_url = nullptr) {
    http::HttpRequest req =
        Request("PROPFIND", path, collection,
                {{"Depth", depth}, {"Content-Type", "application/xml; charset=utf-8"}});
    req.body = std::string(kPropfindBody);
    HOARDFS_ASSIGN_OR_RETURN(http::HttpResponse resp,
                             Execute(
                                 std::move(req),
                                 [&](std::span<const std::byte> chunk) -> Status {
                                   return parser->Feed(std::string_view(
                                       reinterpret_cast<const char*>(chunk.data()), chunk.size()));
                                 },
                                 redirected, asked_url));
    if (resp.status == 207) {
      Status s = parser->Finish();
      if (!s.ok()) return s.WithContext(what);
    }
    return resp;
  }

  ObjectInfo ToInfo(std::string name, const dav::DavEntry& e) const {
    ObjectInfo info;
    info.name = std::move(name);
    if (e.is_collection) {
      info.type = ObjectType::kDirectory;
      info.mode = 0555;
      info.mtime_ns = e.mtime_ns;
      return info;
    }
    info.type = ObjectType::kFile;
    info.mode = 0444;
    info.size = e.content_length.value_or(0);
    info.mtime_ns = e.mtime_ns;
    info.version = e.etag.empty() ? VersionFromSizeAndTime(info.size, info.mtime_ns) : e.etag;
    return info;
  }

  Result<ObjectInfo> StatPropfind(const std::string& path) {
    return RetryTransient(retry_, "PROPFIND " + DescribePath(path),
                          [&]() -> Result<ObjectInfo> { return StatPropfindOnce(path); });
  }

  // One PROPFIND (Depth 0) of `path`, no retry.
  Result<ObjectInfo> StatPropfindOnce(const std::string& path) {
    const std::string what = "PROPFIND " + DescribePath(path);
    std::optional<dav::DavEntry> first;
    dav::PropfindParser parser([&](dav::DavEntry&& e) -> Status {
      if (!first) first = std::move(e);
      return Status::Ok();
    });
    std::string redirected;
    HOARDFS_ASSIGN_OR_RETURN(const http::HttpResponse resp,
                             Propfind(path, path == "/", "0", &parser, what, &redirected));
    if (resp.status == 405 || resp.status == 501) {
      return Status::NotSupported(what + ": PROPFIND refused");
    }
    if (resp.status != 207) return StatusOfResponse(resp, what + redirected);
    if (!first) return Status::Corruption(what + ": no response in the multistatus");
    if (!first->is_collection && !first->content_length) {
      return Status::Corruption(what + ": a file without getcontentlength");
    }
    return ToInfo(std::string(BaseName(path)), *first);
  }

  Result<ObjectInfo> StatHead(const std::string& path) {
    const std::string what = "HEAD " + DescribePath(path);
    return RetryTransient(retry_, what, [&]() -> Result<ObjectInfo> {
      std::string redirected;
      HOARDFS_ASSIGN_OR_RETURN(const http::HttpResponse resp,
                               Execute(Request("HEAD", path, path == "/", {}), {}, &redirected));
      if (resp.status != 200) return StatusOfResponse(resp, what + redirected);
      ObjectInfo info;
      info.name = std::string(BaseName(path));
      if (path == "/") {
        info.type = ObjectType::kDirectory;
        info.mode = 0555;
        return info;
      }
      if (!resp.content_length) return Status::Corruption(what + ": no Content-Length");
      dav::DavEntry e;
      e.content_length = resp.content_length;
      e.mtime_ns = http::ParseHttpDate(resp.last_modified).value_or(0);
      e.etag = StripETag(resp.etag);
      return ToInfo(std::move(info.name), e);
    });
  }

  // No If-Match: some servers list no getetag in PROPFIND but send an ETag on GET (nginx), so a
  // version may be "<size>-<mtime>" on a server with ETags. The response's headers describe the
  // bytes it carries, so checking them (CheckVersion) is as good.
  static Headers VersionHeaders(const ObjectRef&) { return {}; }

  // The response must show ref.version: as its ETag, or as "<size>-<mtime>" from its total size
  // and Last-Modified.
  static Status CheckVersion(std::string_view what, const ObjectRef& ref,
                             const http::HttpResponse& resp, uint64_t total) {
    if (ref.version.empty()) return Status::Ok();
    const std::string etag = StripETag(resp.etag);
    const std::optional<int64_t> t = http::ParseHttpDate(resp.last_modified);
    if (etag.empty() && !t) return Status::Ok();
    if (!etag.empty() && etag == ref.version) return Status::Ok();
    if (t && VersionFromSizeAndTime(total, *t / kNsPerSecond * kNsPerSecond) == ref.version) {
      return Status::Ok();
    }
    return Status::FailedPrecondition(std::string(what) +
                                      ": the object changed since it was opened");
  }

  // A ranged GET's response for [offset, offset + length) of `ref`: the right bytes, all of
  // them, of the right version.
  static Status CheckRangeResponse(std::string_view what, const ObjectRef& ref,
                                   const http::HttpResponse& resp, uint64_t offset,
                                   uint64_t length) {
    HOARDFS_RETURN_IF_ERROR(http::CheckRangeStatus(what, resp, ErrorOf));
    HOARDFS_RETURN_IF_ERROR(http::CheckRangeBytes(what, resp, offset, length, ref.size));
    return CheckVersion(what, ref, resp, ref.size);
  }

  static Status ErrorOf(std::string_view what, const http::HttpResponse& resp) {
    return StatusOfResponse(resp, what);
  }

  // Multi-range GETs for the groups in `pending` (kRangesPerRequest groups per request, run
  // concurrently). Groups of a request that came back as valid multipart/byteranges covering
  // them get OK; errors of the server get that status; anything else (a server that ignores or
  // merges ranges) leaves them kAborted, for single-range GETs, and turns multi-range off.
  void MultiRangeRound(const ObjectRef& ref, std::span<ReadRange> ranges,
                       std::vector<RangeGroup>& groups, const std::vector<size_t>& pending,
                       const std::string& what) {
    struct Batch {
      std::vector<size_t> groups;
      std::vector<std::pair<uint64_t, uint64_t>> parts;  // [first, end) received
      std::unique_ptr<http::MultipartByterangesParser> parser;
    };
    std::vector<Batch> batches;
    for (size_t k = 0; k < pending.size(); k += kRangesPerRequest) {
      Batch b;
      for (size_t j = k; j < std::min(pending.size(), k + kRangesPerRequest); ++j) {
        b.groups.push_back(pending[j]);
      }
      batches.push_back(std::move(b));
    }
    std::optional<std::string> token;
    if (token_) {
      Result<std::string> t = token_->Get();
      if (!t.ok()) {
        for (size_t g : pending) groups[g].status = t.status();
        return;
      }
      token = std::move(t).value();
    }
    std::vector<http::HttpClient::Transfer> transfers(batches.size());
    for (size_t t = 0; t < batches.size(); ++t) {
      Batch& b = batches[t];
      http::HttpRequest req = Request("GET", ref.path, false, VersionHeaders(ref));
      if (token) req.headers.emplace_back("Authorization", "Bearer " + *token);
      for (size_t g : b.groups)
        req.ranges.push_back({groups[g].start, groups[g].end - groups[g].start});
      b.parser = std::make_unique<http::MultipartByterangesParser>(
          ref.size,
          [&ranges, &groups, &b](uint64_t offset, std::span<const std::byte> data) -> Status {
            if (b.parts.empty() || b.parts.back().second != offset) {
              b.parts.emplace_back(offset, offset);
            }
            b.parts.back().second += data.size();
            for (size_t g : b.groups) http::Scatter(groups[g], ranges, offset, data);
            return Status::Ok();
          });
      transfers[t].request = std::move(req);
      http::MultipartByterangesParser* parser = b.parser.get();
      transfers[t].sink = [parser](std::span<const std::byte> chunk) {
        return parser->Feed(chunk);
      };
    }
    client_->PerformAll(transfers);
    for (size_t t = 0; t < batches.size(); ++t) {
      Batch& b = batches[t];
      const Result<http::HttpResponse>& r = transfers[t].result;
      Status s;
      bool fallback = false;
      if (!r.ok()) {
        s = r.status();
        fallback = s.code() == StatusCode::kCorruption;  // not multipart after all
      } else if (r->status >= 300 && r->status < 400) {
        fallback = true;  // a redirect: the single-range path follows it
      } else if (s = http::CheckRangeStatus(what, *r, ErrorOf); s.ok()) {
        const std::optional<std::string> boundary = http::BoundaryFromContentType(r->content_type);
        if (r->status != 206 || !boundary || *boundary != b.parser->boundary() ||
            !b.parser->Finish().ok()) {
          fallback = true;
        } else {
          s = CheckVersion(what, ref, *r, ref.size);
        }
      }
      if (fallback) {
        if (r.ok() && !(r->status >= 300 && r->status < 400)) multirange_refused_.store(true);
        continue;  // groups stay kAborted: single-range GETs
      }
      std::sort(b.parts.begin(), b.parts.end());
      for (size_t g : b.groups) {
        Status gs = s;
        if (gs.ok()) {
          // Covered by one received part?
          auto it = std::upper_bound(b.parts.begin(), b.parts.end(),
                                     std::make_pair(groups[g].start, UINT64_MAX));
          const bool covered = it != b.parts.begin() && std::prev(it)->first <= groups[g].start &&
                               std::prev(it)->second >= groups[g].end;
          if (!covered) gs = Status::Corruption(what + ": a range missing from the multipart body");
        }
        groups[g].status = gs;
      }
    }
  }

  // Single-range GETs for `todo` groups, concurrently; redirected ones are re-done one by one
  // through Execute().
  void SingleRangeRound(const ObjectRef& ref, std::span<ReadRange> ranges,
                        std::vector<RangeGroup>& groups, const std::vector<size_t>& todo,
                        const std::string& what) {
    std::optional<std::string> token;
    if (token_) {
      Result<std::string> t = token_->Get();
      if (!t.ok()) {
        for (size_t g : todo) groups[g].status = t.status();
        return;
      }
      token = std::move(t).value();
    }
    auto sink_for = [&ranges, &groups, &what](size_t g) {
      return http::GroupSink(groups[g], ranges, what);
    };
    std::vector<http::HttpClient::Transfer> transfers(todo.size());
    for (size_t t = 0; t < todo.size(); ++t) {
      const RangeGroup& g = groups[todo[t]];
      transfers[t].request = Request("GET", ref.path, false, VersionHeaders(ref));
      if (token) transfers[t].request.headers.emplace_back("Authorization", "Bearer " + *token);
      transfers[t].request.ranges.push_back({g.start, g.end - g.start});
      transfers[t].sink = sink_for(todo[t]);
    }
    client_->PerformAll(transfers);
    for (size_t t = 0; t < todo.size(); ++t) {
      RangeGroup& g = groups[todo[t]];
      Result<http::HttpResponse> r = std::move(transfers[t].result);
      std::string redirected;
      if (r.ok() && r->status >= 300 && r->status < 400) {
        http::HttpRequest req = Request("GET", ref.path, false, VersionHeaders(ref));
        req.ranges.push_back({g.start, g.end - g.start});
        r = Execute(std::move(req), sink_for(todo[t]), &redirected);
      }
      g.status = r.ok() ? CheckRangeResponse(what + redirected, ref, *r, g.start, g.end - g.start)
                        : r.status();
    }
  }

  const std::string describe_;
  const std::string origin_;  // "https://host:port"
  const std::string root_;    // decoded: "/" or "/pnfs/data"
  const std::string query_;   // never logged
  const std::unique_ptr<http::HttpClient> client_;
  const std::unique_ptr<dav::BearerTokenFile> token_;
  const bool token_to_other_hosts_;
  const RetryPolicy retry_;
  std::atomic<bool> propfind_refused_{false};
  std::atomic<bool> multirange_refused_{false};
};

}  // namespace

bool IsDavScheme(std::string_view scheme) {
  return scheme == "davs" || scheme == "dav" || scheme == "https" || scheme == "http";
}

Result<std::unique_ptr<ObjectSource>> DavSource::Open(const RemoteUrl& url,
                                                      const RemoteOptions& options) {
  const std::string describe = url.Describe();
  if (!url.user.empty()) {
    return Status::InvalidArgument(describe +
                                   ": user info in a WebDAV URL is not supported (use "
                                   "--bearer-token-file or --x509-proxy)");
  }
  if (url.host.empty()) return Status::InvalidArgument(describe + ": no host");
  const bool tls = url.scheme == "davs" || url.scheme == "https";
  std::string origin = std::string(tls ? "https" : "http") + "://" + url.host;
  if (url.port != 0) origin += ":" + std::to_string(url.port);
  std::unique_ptr<dav::BearerTokenFile> token;
  if (!options.dav.bearer_token_file.empty()) {
    HOARDFS_ASSIGN_OR_RETURN(token, dav::BearerTokenFile::Open(options.dav.bearer_token_file));
  }
  HOARDFS_ASSIGN_OR_RETURN(std::unique_ptr<http::HttpClient> client,
                           http::HttpClient::Open(http::HttpClientOptions::From(options)));
  return std::unique_ptr<ObjectSource>(new DavSourceImpl(describe, std::move(origin), url.path,
                                                         url.query, std::move(client),
                                                         std::move(token), options));
}

}  // namespace hoardfs
