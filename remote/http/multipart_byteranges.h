// MultipartByterangesParser: a streaming reader of a multipart/byteranges body (RFC 7233 §4.1 and
// Appendix A; the framing is RFC 2046 §5.1.1), the answer to a multi-range GET. Each part's
// Content-Range names where its bytes belong; they are handed to a callback with their offset in
// the object, in pieces as they arrive, never buffered whole.
//
// The boundary is learnt from the first delimiter line ("--<boundary>" after an optional
// preamble of at most 1 KiB) because a body sink sees no headers; the caller then checks it
// against the response's Content-Type with BoundaryFromContentType(). A part's length comes
// from its Content-Range, so the boundary is never searched for inside data.
//
// kCorruption for: no delimiter, a part without a usable Content-Range ("bytes a-b/total"), part
// headers over 8 KiB, a total other than `expected_total` (when given), bytes after a part that
// are not a delimiter, and (Finish) a body that ends before the close delimiter. Line ends may be
// CRLF or a bare LF.
//
// Thread-safety: none; one parser per response.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hoardfs::http {

// Receives `data`, which belongs at `offset` of the object. A non-OK status stops the parse.
using RangePieceSink = std::function<Status(uint64_t offset, std::span<const std::byte> data)>;

class MultipartByterangesParser {
 public:
  MultipartByterangesParser(std::optional<uint64_t> expected_total, RangePieceSink sink);

  Status Feed(std::span<const std::byte> chunk);
  Status Finish();

  const std::string& boundary() const { return boundary_; }
  size_t parts() const { return parts_; }

 private:
  enum class State { kPreamble, kHeaders, kBody, kAfterBody, kEnd, kFailed };
  Status Fail(std::string message);
  Status ParseHeaders(std::string_view block);

  std::optional<uint64_t> expected_total_;
  RangePieceSink sink_;
  State state_ = State::kPreamble;
  std::string buffer_;  // bytes of the preamble, a header block or a delimiter not yet complete
  std::string boundary_;
  uint64_t offset_ = 0;     // where the next body byte of the current part belongs
  uint64_t remaining_ = 0;  // body bytes left in the current part
  size_t parts_ = 0;
  Status error_;
};

// The boundary parameter of "multipart/byteranges; boundary=XYZ" (quoted or not), or nullopt if
// `content_type` is not multipart/byteranges or has no boundary.
std::optional<std::string> BoundaryFromContentType(std::string_view content_type);

}  // namespace hoardfs::http
