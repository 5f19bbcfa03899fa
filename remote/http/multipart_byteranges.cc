#include "remote/http/multipart_byteranges.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace hoardfs::http {
namespace {

constexpr size_t kMaxPreamble = 1024;
constexpr size_t kMaxHeaders = 8192;

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view v) {
  const size_t b = v.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const size_t e = v.find_last_not_of(" \t\r\n");
  return v.substr(b, e - b + 1);
}

bool ParseNumber(std::string_view s, uint64_t* out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

MultipartByterangesParser::MultipartByterangesParser(std::optional<uint64_t> expected_total,
                                                     RangePieceSink sink)
    : expected_total_(expected_total), sink_(std::move(sink)) {}

Status MultipartByterangesParser::Fail(std::string message) {
  state_ = State::kFailed;
  error_ = Status::Corruption("multipart/byteranges: " + std::move(message));
  return error_;
}

Status MultipartByterangesParser::ParseHeaders(std::string_view block) {
  bool have_range = false;
  size_t pos = 0;
  while (pos < block.size()) {
    size_t eol = block.find('\n', pos);
    if (eol == std::string_view::npos) eol = block.size();
    const std::string_view line = block.substr(pos, eol - pos);
    pos = eol + 1;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    if (!EqualsNoCase(Trim(line.substr(0, colon)), "content-range")) continue;
    std::string_view v = Trim(line.substr(colon + 1));
    if (v.size() < 6 || !EqualsNoCase(v.substr(0, 6), "bytes ")) break;
    v = Trim(v.substr(6));
    const size_t dash = v.find('-');
    const size_t slash = v.find('/');
    if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) break;
    uint64_t first = 0;
    uint64_t last = 0;
    if (!ParseNumber(v.substr(0, dash), &first) ||
        !ParseNumber(v.substr(dash + 1, slash - dash - 1), &last) || last < first) {
      break;
    }
    const std::string_view total = v.substr(slash + 1);
    if (total != "*") {
      uint64_t t = 0;
      if (!ParseNumber(total, &t) || last >= t) break;
      if (expected_total_ && t != *expected_total_) {
        return Fail("the object is " + std::to_string(t) + " bytes, not " +
                    std::to_string(*expected_total_));
      }
    }
    offset_ = first;
    remaining_ = last - first + 1;
    have_range = true;
  }
  if (!have_range) return Fail("a part without a usable Content-Range");
  ++parts_;
  state_ = State::kBody;
  return Status::Ok();
}

Status MultipartByterangesParser::Feed(std::span<const std::byte> chunk) {
  std::string_view in(reinterpret_cast<const char*>(chunk.data()), chunk.size());
  while (!in.empty()) {
    switch (state_) {
      case State::kFailed:
        return error_;
      case State::kEnd:
        return Status::Ok();  // the epilogue is ignored
      case State::kBody: {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, in.size()));
        if (n > 0) {
          Status s = sink_(offset_, std::as_bytes(std::span<const char>(in.data(), n)));
          if (!s.ok()) {
            state_ = State::kFailed;
            error_ = s;
            return s;
          }
        }
        offset_ += n;
        remaining_ -= n;
        in.remove_prefix(n);
        if (remaining_ == 0) state_ = State::kAfterBody;
        break;
      }
      case State::kPreamble: {
        // Up to the end of the first line that starts with "--".
        const size_t nl = in.find('\n');
        const size_t take = nl == std::string_view::npos ? in.size() : nl + 1;
        buffer_.append(in.substr(0, take));
        in.remove_prefix(take);
        if (buffer_.size() > kMaxPreamble) return Fail("no delimiter at the start of the body");
        if (buffer_.back() != '\n') break;
        std::string_view line = buffer_;
        line.remove_suffix(1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.substr(0, 2) == "--") {
          const size_t end = line.find_last_not_of(" \t");
          boundary_ = std::string(line.substr(2, end == std::string_view::npos ? 0 : end - 1));
          if (boundary_.empty() || boundary_.size() > 70) return Fail("bad boundary");
          state_ = State::kHeaders;
        }
        buffer_.clear();
        break;
      }
      case State::kHeaders: {
        const size_t nl = in.find('\n');
        const size_t take = nl == std::string_view::npos ? in.size() : nl + 1;
        buffer_.append(in.substr(0, take));
        in.remove_prefix(take);
        if (buffer_.size() > kMaxHeaders) return Fail("part headers larger than 8 KiB");
        if (buffer_.back() != '\n') break;
        // The block ends with an empty line.
        const std::string_view b = buffer_;
        if (b == "\n" || b == "\r\n" || b.ends_with("\n\n") || b.ends_with("\n\r\n")) {
          std::string block = std::move(buffer_);
          buffer_.clear();
          HOARDFS_RETURN_IF_ERROR(ParseHeaders(block));
          if (remaining_ == 0) state_ = State::kAfterBody;
        }
        break;
      }
      case State::kAfterBody: {
        // "\r\n--<boundary>" then "--" (the end) or a line end (another part).
        const size_t nl = in.find('\n', buffer_.empty() ? 1 : 0);
        size_t take = nl == std::string_view::npos ? in.size() : nl + 1;
        buffer_.append(in.substr(0, take));
        in.remove_prefix(take);
        std::string_view b = buffer_;
        if (b.size() > boundary_.size() + 16) return Fail("garbage after a part");
        // Leading line end of the delimiter.
        if (b.starts_with("\r\n")) {
          b.remove_prefix(2);
        } else if (b.starts_with("\n")) {
          b.remove_prefix(1);
        } else if (b.size() >= 2 || (b.size() == 1 && b[0] != '\r')) {
          return Fail("garbage after a part");
        } else {
          break;
        }
        const std::string delim = "--" + boundary_;
        if (b.size() < delim.size() + 2 && b.find('\n') == std::string_view::npos) {
          const size_t n = std::min(b.size(), delim.size());
          if (std::string_view(delim).substr(0, n) != b.substr(0, n)) {
            return Fail("garbage after a part");
          }
          break;
        }
        if (!b.starts_with(delim)) return Fail("garbage after a part");
        b.remove_prefix(delim.size());
        if (b.starts_with("--")) {
          state_ = State::kEnd;
          buffer_.clear();
          break;
        }
        if (buffer_.back() != '\n') break;
        if (!Trim(b).empty()) return Fail("garbage after a delimiter");
        buffer_.clear();
        state_ = State::kHeaders;
        break;
      }
    }
  }
  return state_ == State::kFailed ? error_ : Status::Ok();
}

Status MultipartByterangesParser::Finish() {
  if (state_ == State::kFailed) return error_;
  if (state_ != State::kEnd) return Fail("the body ends before the close delimiter");
  return Status::Ok();
}

std::optional<std::string> BoundaryFromContentType(std::string_view content_type) {
  const size_t semi = content_type.find(';');
  if (!EqualsNoCase(Trim(content_type.substr(0, semi)), "multipart/byteranges")) {
    return std::nullopt;
  }
  std::string_view params =
      semi == std::string_view::npos ? std::string_view() : content_type.substr(semi + 1);
  while (!params.empty()) {
    const size_t next = params.find(';');
    const std::string_view param = Trim(params.substr(0, next));
    params = next == std::string_view::npos ? std::string_view() : params.substr(next + 1);
    const size_t eq = param.find('=');
    if (eq == std::string_view::npos || !EqualsNoCase(Trim(param.substr(0, eq)), "boundary")) {
      continue;
    }
    std::string_view v = Trim(param.substr(eq + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    if (v.empty()) return std::nullopt;
    return std::string(v);
  }
  return std::nullopt;
}

}  // namespace hoardfs::http
