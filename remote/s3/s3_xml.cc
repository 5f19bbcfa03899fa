#include "remote/s3/s3_xml.h"

#include <cctype>
#include <charconv>
#include <optional>

#include "remote/http/http_time.h"

namespace hoardfs::s3 {
namespace {

constexpr std::string_view kS3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/";
// s3rver (3.7.1) writes its listings in this misspelt namespace.
constexpr std::string_view kS3rverNamespace = "http://doc.s3.amazonaws.com/2006-03-01/";

bool IsS3Namespace(std::string_view ns) {
  return ns.empty() || ns == kS3Namespace || ns == kS3rverNamespace;
}

}  // namespace

std::string StripETagQuotes(std::string_view etag) {
  if (etag.substr(0, 2) == "W/") etag.remove_prefix(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  return std::string(etag);
}

class ListObjectsV2Parser::Handler final : public http::XmlHandler {
 public:
  explicit Handler(size_t max_entries) : max_entries_(max_entries) {}

  Status OnStart(std::string_view ns, std::string_view name, unsigned depth) override {
    if (!IsS3Namespace(ns)) {
      return Status::Corruption("ListObjectsV2: element <" + std::string(name) +
                                "> in unexpected namespace '" + std::string(ns) + "'");
    }
    if (depth == 1) {
      if (name != "ListBucketResult") {
        return Status::Corruption("ListObjectsV2: root element <" + std::string(name) +
                                  ">, expected <ListBucketResult>");
      }
      saw_root_ = true;
    } else if (depth == 2 && (name == "Contents" || name == "CommonPrefixes")) {
      if (result_.contents.size() + result_.common_prefixes.size() >= max_entries_) {
        return Status::Corruption("ListObjectsV2: more than " + std::to_string(max_entries_) +
                                  " entries in one page");
      }
      entry_ = S3ListEntry{};
      has_key_ = has_size_ = false;
    }
    return Status::Ok();
  }

  Status OnEnd(std::string_view, std::string_view name, unsigned depth,
               std::string_view text) override {
    if (depth == 2) {
      if (name == "IsTruncated") {
        if (text != "true" && text != "false") {
          return Status::Corruption("ListObjectsV2: IsTruncated is neither true nor false");
        }
        result_.is_truncated = text == "true";
      } else if (name == "NextContinuationToken") {
        result_.next_continuation_token = text;
      } else if (name == "Contents") {
        if (!has_key_ || !has_size_) {
          return Status::Corruption("ListObjectsV2: a Contents entry without Key or Size");
        }
        result_.contents.push_back(std::move(entry_));
      } else if (name == "CommonPrefixes") {
        if (!has_key_) return Status::Corruption("ListObjectsV2: CommonPrefixes without Prefix");
        result_.common_prefixes.push_back(std::move(entry_.key));
      }
    } else if (depth == 3) {
      if (name == "Key" || name == "Prefix") {
        entry_.key = text;
        has_key_ = true;
      } else if (name == "Size") {
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), entry_.size);
        if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
          return Status::Corruption("ListObjectsV2: Size '" + std::string(text.substr(0, 32)) +
                                    "' is not a number");
        }
        has_size_ = true;
      } else if (name == "ETag") {
        entry_.etag = StripETagQuotes(text);
      } else if (name == "LastModified") {
        const std::optional<int64_t> t = http::ParseIso8601Utc(text);
        if (!t) {
          return Status::Corruption("ListObjectsV2: LastModified '" +
                                    std::string(text.substr(0, 40)) + "' is not ISO 8601");
        }
        entry_.mtime_ns = *t;
      }
    }
    return Status::Ok();
  }

  Result<S3ListResult> Take() {
    if (!saw_root_) return Status::Corruption("ListObjectsV2: no <ListBucketResult>");
    if (result_.is_truncated && result_.next_continuation_token.empty()) {
      return Status::Corruption("ListObjectsV2: truncated page without NextContinuationToken");
    }
    return std::move(result_);
  }

 private:
  size_t max_entries_;
  S3ListResult result_;
  S3ListEntry entry_;
  bool has_key_ = false;
  bool has_size_ = false;
  bool saw_root_ = false;
};

ListObjectsV2Parser::ListObjectsV2Parser(size_t max_entries, const http::XmlLimits& limits)
    : handler_(std::make_unique<Handler>(max_entries)),
      stream_(std::make_unique<http::XmlStream>(handler_.get(), limits)) {}

ListObjectsV2Parser::~ListObjectsV2Parser() = default;

Status ListObjectsV2Parser::Feed(std::string_view chunk) { return stream_->Feed(chunk); }

Result<S3ListResult> ListObjectsV2Parser::Finish() {
  HOARDFS_RETURN_IF_ERROR(stream_->Finish());
  return handler_->Take();
}

namespace {

class ErrorHandler final : public http::XmlHandler {
 public:
  Status OnStart(std::string_view, std::string_view, unsigned) override { return Status::Ok(); }
  Status OnEnd(std::string_view, std::string_view name, unsigned depth,
               std::string_view text) override {
    if (depth == 2 && name == "Code") code_ = text;
    if (depth == 1 && name != "Error") code_.clear();
    return Status::Ok();
  }
  std::string code_;
};

}  // namespace

std::string S3ErrorCode(std::string_view body) {
  ErrorHandler handler;
  http::XmlLimits limits;
  limits.max_document_bytes = 64 << 10;
  limits.max_text_bytes = 4 << 10;
  http::XmlStream stream(&handler, limits);
  if (!stream.Feed(body).ok() || !stream.Finish().ok()) return "";
  std::string out;
  for (char c : handler.code_) {
    if (std::isalnum(static_cast<unsigned char>(c)) != 0 && out.size() < 64) out += c;
  }
  return out;
}

}  // namespace hoardfs::s3
