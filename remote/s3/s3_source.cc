#include "remote/s3/s3_source.h"

#include <algorithm>
#include <set>
#include <thread>

#include "remote/http/http_client.h"
#include "remote/http/http_status.h"
#include "remote/http/http_time.h"
#include "remote/http/range_plan.h"
#include "remote/http/range_response.h"
#include "remote/object_path.h"
#include "remote/retry.h"
#include "remote/s3/s3_credentials.h"
#include "remote/s3/s3_request.h"
#include "remote/s3/s3_xml.h"

namespace hoardfs {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr uint64_t kCoalesceGap = 128 << 10;
constexpr uint64_t kMaxSpan = 8 << 20;
constexpr size_t kMaxListBody = size_t{64} << 20;
constexpr int64_t kNsPerSecond = 1000000000;

bool ValidComponent(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos;
}

class S3SourceImpl final : public ObjectSource {
 public:
  S3SourceImpl(std::string describe, std::string prefix, s3::S3Request request,
               std::unique_ptr<http::HttpClient> client, const RemoteOptions& options)
      : describe_(std::move(describe)),
        prefix_(std::move(prefix)),
        request_(std::move(request)),
        client_(std::move(client)),
        retry_(RetryPolicy::From(options)),
        page_size_(std::clamp(options.list_page_size, 1u, 1000u)) {}

  Result<ObjectInfo> Stat(const std::string& path) override {
    HOARDFS_RETURN_IF_ERROR(ValidateObjectPath(path));
    ObjectInfo dir;
    dir.name = std::string(BaseName(path));
    dir.type = ObjectType::kDirectory;
    dir.mode = 0555;
    if (path == "/") {
      HOARDFS_ASSIGN_OR_RETURN(const s3::S3ListResult page, ListPageAt(prefix_, "", 1));
      if (!prefix_.empty() && page.contents.empty() && page.common_prefixes.empty()) {
        return Status::NotFound(describe_ + ": no object under the prefix");
      }
      return dir;
    }
    Result<ObjectInfo> file = Head(path);
    if (file.ok() || file.status().code() != StatusCode::kNotFound) return file;
    HOARDFS_ASSIGN_OR_RETURN(const s3::S3ListResult page, ListPageAt(DirPrefix(path), "", 1));
    if (page.contents.empty() && page.common_prefixes.empty()) return file.status();
    return dir;
  }

  Result<ListPage> List(const std::string& dir, const std::string& page_token) override {
    HOARDFS_RETURN_IF_ERROR(ValidateObjectPath(dir));
    const std::string prefix = DirPrefix(dir);
    HOARDFS_ASSIGN_OR_RETURN(s3::S3ListResult page, ListPageAt(prefix, page_token, page_size_));
    ListPage out;
    bool saw_marker = false;
    std::set<std::string> files;
    for (s3::S3ListEntry& e : page.contents) {
      if (e.key.size() < prefix.size() || e.key.compare(0, prefix.size(), prefix) != 0) continue;
      if (e.key.size() == prefix.size()) {
        saw_marker = true;  // the directory's own "dir/" marker object
        continue;
      }
      ObjectInfo info;
      info.name = e.key.substr(prefix.size());
      if (!ValidComponent(info.name)) continue;
      info.type = ObjectType::kFile;
      info.size = e.size;
      info.mtime_ns = e.mtime_ns / kNsPerSecond * kNsPerSecond;  // as HEAD's Last-Modified
      info.mode = 0444;
      info.version = e.etag.empty() ? VersionFromSizeAndTime(e.size, info.mtime_ns) : e.etag;
      files.insert(info.name);
      out.entries.push_back(std::move(info));
    }
    for (const std::string& p : page.common_prefixes) {
      if (p.size() <= prefix.size() + 1 || p.compare(0, prefix.size(), prefix) != 0) continue;
      ObjectInfo info;
      info.name = p.substr(prefix.size(), p.size() - prefix.size() - 1);
      if (!ValidComponent(info.name) || files.count(info.name) != 0) continue;
      info.type = ObjectType::kDirectory;
      info.mode = 0555;
      out.entries.push_back(std::move(info));
    }
    if (page.is_truncated) out.next_token = page.next_continuation_token;
    if (page_token.empty() && page.contents.empty() && page.common_prefixes.empty() &&
        !saw_marker && !page.is_truncated) {
      // Nothing under "dir/": an empty bucket root, a file, or nothing at all.
      if (dir == "/") {
        if (prefix_.empty()) return out;
        return Status::NotFound(describe_ + ": no object under the prefix");
      }
      Result<ObjectInfo> file = Head(dir);
      if (file.ok())
        return Status::InvalidArgument(request_.Describe(Key(dir)) + ": not a directory");
      return file.status();
    }
    return out;
  }

  Result<size_t> Read(const ObjectRef& ref, uint64_t offset, std::span<std::byte> out) override {
    HOARDFS_RETURN_IF_ERROR(ValidateObjectPath(ref.path));
    if (ref.path == "/") return Status::InvalidArgument(describe_ + ": / is a directory");
    if (out.empty() || offset >= ref.size) return size_t{0};
    const uint64_t length = std::min<uint64_t>(out.size(), ref.size - offset);
    const std::string key = Key(ref.path);
    const std::string what = "GET " + request_.Describe(key);
    return RetryTransient(retry_, what, [&]() -> Result<size_t> {
      http::HttpRequest req = request_.Build("GET", key, {}, VersionHeaders(ref));
      req.ranges.push_back({offset, length});
      HOARDFS_ASSIGN_OR_RETURN(const http::HttpResponse resp,
                               client_->PerformInto(req, out.first(length)));
      HOARDFS_RETURN_IF_ERROR(CheckRangeResponse(what, ref, resp, offset, length));
      return static_cast<size_t>(length);
    });
  }

  Status ReadV(const ObjectRef& ref, std::span<ReadRange> ranges) override {
    HOARDFS_RETURN_IF_ERROR(http::CheckReadVTarget(ref, describe_, ranges));
    http::RangePlan plan(ranges, ref.size, kCoalesceGap, kMaxSpan);
    std::vector<http::RangeGroup>& groups = plan.groups();
    if (groups.empty()) return Status::Ok();

    const std::string key = Key(ref.path);
    const std::string what = "GET " + request_.Describe(key);
    std::vector<size_t> pending(groups.size());
    for (size_t g = 0; g < groups.size(); ++g) pending[g] = g;
    const unsigned attempts = std::max(1u, retry_.max_attempts);
    for (unsigned attempt = 1; !pending.empty(); ++attempt) {
      std::vector<http::HttpClient::Transfer> transfers(pending.size());
      for (size_t t = 0; t < pending.size(); ++t) {
        http::RangeGroup& g = groups[pending[t]];
        transfers[t].request = request_.Build("GET", key, {}, VersionHeaders(ref));
        transfers[t].request.ranges.push_back({g.start, g.end - g.start});
        transfers[t].sink = http::GroupSink(g, ranges, what);
      }
      client_->PerformAll(transfers);
      std::vector<size_t> retry;
      for (size_t t = 0; t < pending.size(); ++t) {
        http::RangeGroup& g = groups[pending[t]];
        const Result<http::HttpResponse>& r = transfers[t].result;
        g.status =
            r.ok() ? CheckRangeResponse(what, ref, *r, g.start, g.end - g.start) : r.status();
        if (IsTransient(g.status) && attempt < attempts) retry.push_back(pending[t]);
      }
      pending = std::move(retry);
      if (!pending.empty()) std::this_thread::sleep_for(BackoffDelay(retry_, attempt));
    }
    return plan.Finish();  // when nothing was read, every range says why
  }

  std::string Describe() const override { return describe_; }

 private:
  // "/a/b" → "<prefix>a/b"; "/" → "<prefix>" (prefix_ is "" or ends in '/').
  std::string Key(std::string_view path) const { return prefix_ + std::string(path.substr(1)); }
  // The key prefix of a directory's children: "/" → prefix_, "/a" → "<prefix>a/".
  std::string DirPrefix(std::string_view dir) const {
    return dir == "/" ? prefix_ : Key(dir) + "/";
  }

  static std::string VersionFromSizeAndTime(uint64_t size, int64_t mtime_ns) {
    return std::to_string(size) + "-" + std::to_string(mtime_ns);
  }

  static Headers VersionHeaders(const ObjectRef& ref) {
    if (ref.version.empty()) return {};
    return {{"If-Match", "\"" + ref.version + "\""}};
  }

  // The Status of a non-2xx response, with S3's error code from its body.
  static Status HttpError(std::string_view what, const http::HttpResponse& resp) {
    return http::StatusFromHttp(resp.status, what, s3::S3ErrorCode(resp.error_body));
  }

  // A ranged GET's response for [offset, offset + length) of `ref`: the right bytes, all of
  // them, of the right version.
  static Status CheckRangeResponse(std::string_view what, const ObjectRef& ref,
                                   const http::HttpResponse& resp, uint64_t offset,
                                   uint64_t length) {
    HOARDFS_RETURN_IF_ERROR(http::CheckRangeStatus(what, resp, HttpError));
    const std::string etag = s3::StripETagQuotes(resp.etag);
    if (!ref.version.empty() && !etag.empty() && etag != ref.version) {
      return Status::FailedPrecondition(std::string(what) +
                                        ": the object changed since it was opened");
    }
    return http::CheckRangeBytes(what, resp, offset, length, ref.size);
  }

  Result<ObjectInfo> Head(const std::string& path) {
    const std::string key = Key(path);
    const std::string what = "HEAD " + request_.Describe(key);
    return RetryTransient(retry_, what, [&]() -> Result<ObjectInfo> {
      HOARDFS_ASSIGN_OR_RETURN(const http::HttpResponse resp,
                               client_->Perform(request_.Build("HEAD", key, {}, {}), {}));
      if (resp.status != 200) return HttpError(what, resp);
      if (!resp.content_length) {
        return Status::Corruption(what + ": no Content-Length in the response");
      }
      ObjectInfo info;
      info.name = std::string(BaseName(path));
      info.type = ObjectType::kFile;
      info.size = *resp.content_length;
      info.mode = 0444;
      info.mtime_ns = http::ParseHttpDate(resp.last_modified).value_or(0);
      const std::string etag = s3::StripETagQuotes(resp.etag);
      info.version = etag.empty() ? VersionFromSizeAndTime(info.size, info.mtime_ns) : etag;
      return info;
    });
  }

  // One ListObjectsV2 page of `prefix` with delimiter '/'.
  Result<s3::S3ListResult> ListPageAt(const std::string& prefix, const std::string& token,
                                      unsigned max_keys) {
    Headers query = {{"list-type", "2"},
                     {"delimiter", "/"},
                     {"max-keys", std::to_string(max_keys)},
                     {"prefix", prefix}};
    if (!token.empty()) query.emplace_back("continuation-token", token);
    const std::string what = "ListObjectsV2 " + request_.Describe(prefix);
    return RetryTransient(retry_, what, [&]() -> Result<s3::S3ListResult> {
      s3::ListObjectsV2Parser parser;
      size_t received = 0;
      http::BodySink sink = [&](std::span<const std::byte> chunk) -> Status {
        received += chunk.size();
        if (received > kMaxListBody) {
          return Status::Corruption(what + ": listing page larger than 64 MiB");
        }
        return parser.Feed(
            std::string_view(reinterpret_cast<const char*>(chunk.data()), chunk.size()));
      };
      Result<http::HttpResponse> resp =
          client_->Perform(request_.Build("GET", "", query, {}), sink);
      if (!resp.ok()) {
        if (resp.status().code() == StatusCode::kCorruption) {
          return resp.status().WithContext(what);
        }
        return resp.status();
      }
      if (resp->status != 200) return HttpError(what, *resp);
      Result<s3::S3ListResult> page = parser.Finish();
      if (!page.ok()) return page.status().WithContext(what);
      return page;
    });
  }

  const std::string describe_;
  const std::string prefix_;  // "" or "a/b/"
  const s3::S3Request request_;
  const std::unique_ptr<http::HttpClient> client_;
  const RetryPolicy retry_;
  const unsigned page_size_;
};

}  // namespace

Result<std::unique_ptr<ObjectSource>> S3Source::Open(const RemoteUrl& url,
                                                     const RemoteOptions& options) {
  const std::string describe = url.Describe();
  if (url.port != 0 || !url.user.empty() || !url.query.empty()) {
    return Status::InvalidArgument(describe +
                                   ": s3:// URLs take no port, user or query (the endpoint is "
                                   "an option: --s3-endpoint)");
  }
  HOARDFS_ASSIGN_OR_RETURN(s3::S3Endpoint endpoint, s3::S3Endpoint::From(options.s3, url.host));
  s3::SigV4Credentials credentials;
  if (!options.s3.credentials_file.empty()) {
    HOARDFS_ASSIGN_OR_RETURN(credentials, s3::LoadS3CredentialsFile(options.s3.credentials_file));
  } else {
    credentials.access_key_id = options.s3.access_key_id;
    credentials.secret_access_key = options.s3.secret_access_key;
    credentials.session_token = options.s3.session_token;
    if (credentials.access_key_id.empty() != credentials.secret_access_key.empty()) {
      return Status::InvalidArgument(describe +
                                     ": an S3 access key id needs a secret access key, and the "
                                     "other way round");
    }
  }
  HOARDFS_ASSIGN_OR_RETURN(std::unique_ptr<http::HttpClient> client,
                           http::HttpClient::Open(http::HttpClientOptions::From(options)));
  const std::string prefix = url.path == "/" ? "" : url.path.substr(1) + "/";
  return std::unique_ptr<ObjectSource>(
      new S3SourceImpl(describe, prefix, s3::S3Request(std::move(endpoint), std::move(credentials)),
                       std::move(client), options));
}

}  // namespace hoardfs
