#include "remote/http/range_response.h"

#include <charconv>
#include <optional>
#include <string>

namespace hoardfs::http {
namespace {

// "bytes a-b/total" → a, b, total (total may be "*": nullopt).
struct ContentRange {
  uint64_t first = 0;
  uint64_t last = 0;
  std::optional<uint64_t> total;
};

std::optional<ContentRange> ParseContentRange(std::string_view v) {
  if (v.substr(0, 6) != "bytes ") return std::nullopt;
  v.remove_prefix(6);
  const size_t dash = v.find('-');
  const size_t slash = v.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) {
    return std::nullopt;
  }
  auto num = [](std::string_view s, uint64_t* o) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *o);
    return !s.empty() && ec == std::errc() && end == s.data() + s.size();
  };
  ContentRange out;
  if (!num(v.substr(0, dash), &out.first) ||
      !num(v.substr(dash + 1, slash - dash - 1), &out.last) || out.last < out.first) {
    return std::nullopt;
  }
  const std::string_view total = v.substr(slash + 1);
  if (total != "*") {
    uint64_t t = 0;
    if (!num(total, &t)) return std::nullopt;
    out.total = t;
  }
  return out;
}

}  // namespace

Status CheckRangeStatus(std::string_view what, const HttpResponse& resp, ErrorOfResponse error_of) {
  if (resp.status == 412 || resp.status == 416) {
    return Status::FailedPrecondition(std::string(what) + ": HTTP " + std::to_string(resp.status) +
                                      ": the object changed since it was opened");
  }
  if (resp.status != 206 && resp.status != 200) return error_of(what, resp);
  return Status::Ok();
}

Status CheckRangeBytes(std::string_view what, const HttpResponse& resp, uint64_t offset,
                       uint64_t length, uint64_t size) {
  if (resp.status == 200) {
    // The whole object (a server that ignores Range): usable only if that is what was asked.
    if (offset != 0 || resp.body_bytes != length || length != size) {
      return Status::Corruption(std::string(what) + ": HTTP 200 for a ranged request");
    }
    return Status::Ok();
  }
  const std::optional<ContentRange> cr = ParseContentRange(resp.content_range);
  if (!cr || cr->first != offset) {
    return Status::Corruption(std::string(what) + ": bad Content-Range '" +
                              resp.content_range.substr(0, 64) + "'");
  }
  if (cr->total && *cr->total != size) {
    return Status::FailedPrecondition(std::string(what) + ": the object is now " +
                                      std::to_string(*cr->total) + " bytes, not " +
                                      std::to_string(size));
  }
  if (cr->last - cr->first + 1 != length || resp.body_bytes != length) {
    return Status::Corruption(std::string(what) + ": " + std::to_string(resp.body_bytes) +
                              " bytes for a range of " + std::to_string(length));
  }
  return Status::Ok();
}

}  // namespace hoardfs::http
