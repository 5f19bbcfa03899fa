#include "remote/dav/propfind_parser.h"

#include <charconv>
#include <vector>

#include "remote/http/http_time.h"
#include "remote/http/uri_encode.h"

namespace hoardfs::dav {
namespace {

constexpr std::string_view kDav = "DAV:";

// Where in the document the parser is; only the elements below matter.
enum class El : uint8_t {
  kOther,
  kMultistatus,
  kResponse,
  kHref,
  kStatus,
  kPropstat,
  kProp,
  kResourcetype,
  kCollection,
  kLength,
  kModified,
  kEtag,
};

std::string StripQuotes(std::string_view v) {
  while (!v.empty() &&
         (v.front() == ' ' || v.front() == '\t' || v.front() == '\n' || v.front() == '\r'))
    v.remove_prefix(1);
  while (!v.empty() &&
         (v.back() == ' ' || v.back() == '\t' || v.back() == '\n' || v.back() == '\r'))
    v.remove_suffix(1);
  std::string prefix;
  if (v.substr(0, 2) == "W/") {
    prefix = "W/";
    v.remove_prefix(2);
  }
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  return prefix + std::string(v);
}

std::string_view Trim(std::string_view v) {
  const size_t b = v.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const size_t e = v.find_last_not_of(" \t\r\n");
  return v.substr(b, e - b + 1);
}

}  // namespace

int ParseStatusLine(std::string_view line) {
  line = Trim(line);
  if (line.substr(0, 5) != "HTTP/") return 0;
  const size_t sp = line.find(' ');
  if (sp == std::string_view::npos || line.size() < sp + 4) return 0;
  int code = 0;
  const char* b = line.data() + sp + 1;
  const auto [end, ec] = std::from_chars(b, b + 3, code);
  if (ec != std::errc() || end != b + 3 || code < 100 || code > 999) return 0;
  return code;
}

Result<std::string> HrefToPath(std::string_view href) {
  href = Trim(href);
  const size_t scheme_end = href.find("://");
  const size_t first_slash = href.find('/');
  if (scheme_end != std::string_view::npos && scheme_end < first_slash) {
    const size_t path_begin = href.find('/', scheme_end + 3);
    href = path_begin == std::string_view::npos ? std::string_view("/") : href.substr(path_begin);
  }
  const size_t query = href.find_first_of("?#");
  if (query != std::string_view::npos) href = href.substr(0, query);
  Result<std::string> decoded = http::UriDecode(href);
  if (!decoded.ok()) return Status::Corruption("PROPFIND: bad %-escape in an href");
  if (decoded->find('\0') != std::string::npos) {
    return Status::Corruption("PROPFIND: NUL byte in an href");
  }
  return decoded;
}

class PropfindParser::Handler final : public http::XmlHandler {
 public:
  explicit Handler(DavEntrySink sink) : sink_(std::move(sink)) {}

  Status OnStart(std::string_view ns, std::string_view name, unsigned depth) override {
    const El parent = stack_.empty() ? El::kOther : stack_.back();
    El el = El::kOther;
    if (ns == kDav) el = Classify(parent, name, depth);
    if (depth == 1 && el != El::kMultistatus) {
      return Status::Corruption("PROPFIND: the response is not a DAV:multistatus document");
    }
    switch (el) {
      case El::kResponse:
        entry_ = DavEntry{};
        hrefs_ = 0;
        response_status_ = 0;
        break;
      case El::kPropstat:
        pending_ = DavEntry{};
        propstat_status_ = 0;
        break;
      case El::kCollection:
        pending_.is_collection = true;
        break;
      default:
        break;
    }
    stack_.push_back(el);
    return Status::Ok();
  }

  Status OnEnd(std::string_view, std::string_view, unsigned, std::string_view text) override {
    const El el = stack_.back();
    stack_.pop_back();
    switch (el) {
      case El::kMultistatus:
        saw_root_ = true;
        break;
      case El::kHref: {
        HOARDFS_ASSIGN_OR_RETURN(entry_.path, HrefToPath(text));
        ++hrefs_;
        break;
      }
      case El::kStatus:
        if (stack_.back() == El::kResponse) {
          response_status_ = ParseStatusLine(text);
        } else {
          propstat_status_ = ParseStatusLine(text);
        }
        break;
      case El::kLength: {
        const std::string_view v = Trim(text);
        uint64_t n = 0;
        const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (v.empty() || ec != std::errc() || end != v.data() + v.size()) {
          return Status::Corruption("PROPFIND: getcontentlength '" + std::string(v.substr(0, 32)) +
                                    "' is not a number");
        }
        pending_.content_length = n;
        break;
      }
      case El::kModified:
        pending_.mtime_ns = http::ParseHttpDate(Trim(text)).value_or(0);
        break;
      case El::kEtag:
        pending_.etag = StripQuotes(text);
        break;
      case El::kPropstat:
        // Properties count only from a propstat whose status is 2xx (a 404 propstat lists the
        // properties the resource does not have). A missing status is taken as success.
        if (propstat_status_ == 0 || (propstat_status_ >= 200 && propstat_status_ < 300)) {
          entry_.is_collection = entry_.is_collection || pending_.is_collection;
          if (pending_.content_length) entry_.content_length = pending_.content_length;
          if (pending_.mtime_ns != 0) entry_.mtime_ns = pending_.mtime_ns;
          if (!pending_.etag.empty()) entry_.etag = std::move(pending_.etag);
        }
        break;
      case El::kResponse:
        if (hrefs_ != 1) {
          return Status::Corruption("PROPFIND: a response with " + std::to_string(hrefs_) +
                                    " hrefs");
        }
        if (response_status_ != 0 && (response_status_ < 200 || response_status_ >= 300)) break;
        return sink_(std::move(entry_));
      default:
        break;
    }
    return Status::Ok();
  }

  Status Check() const {
    if (!saw_root_) return Status::Corruption("PROPFIND: no DAV:multistatus");
    return Status::Ok();
  }

 private:
  static El Classify(El parent, std::string_view name, unsigned depth) {
    if (depth == 1) return name == "multistatus" ? El::kMultistatus : El::kOther;
    switch (parent) {
      case El::kMultistatus:
        return name == "response" ? El::kResponse : El::kOther;
      case El::kResponse:
        if (name == "href") return El::kHref;
        if (name == "status") return El::kStatus;
        if (name == "propstat") return El::kPropstat;
        return El::kOther;
      case El::kPropstat:
        if (name == "prop") return El::kProp;
        if (name == "status") return El::kStatus;
        return El::kOther;
      case El::kProp:
        if (name == "resourcetype") return El::kResourcetype;
        if (name == "getcontentlength") return El::kLength;
        if (name == "getlastmodified") return El::kModified;
        if (name == "getetag") return El::kEtag;
        return El::kOther;
      case El::kResourcetype:
        return name == "collection" ? El::kCollection : El::kOther;
      default:
        return El::kOther;
    }
  }

  DavEntrySink sink_;
  std::vector<El> stack_;
  DavEntry entry_;
  DavEntry pending_;  // the current propstat's properties
  int hrefs_ = 0;
  int response_status_ = 0;
  int propstat_status_ = 0;
  bool saw_root_ = false;
};

PropfindParser::PropfindParser(DavEntrySink sink, const http::XmlLimits& limits)
    : handler_(std::make_unique<Handler>(std::move(sink))),
      stream_(std::make_unique<http::XmlStream>(handler_.get(), limits)) {}

PropfindParser::~PropfindParser() = default;

Status PropfindParser::Feed(std::string_view chunk) { return stream_->Feed(chunk); }

Status PropfindParser::Finish() {
  HOARDFS_RETURN_IF_ERROR(stream_->Finish());
  return handler_->Check();
}

}  // namespace hoardfs::dav
