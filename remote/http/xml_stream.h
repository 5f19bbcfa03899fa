// XmlStream: a hardened, streaming XML reader (expat) for what servers send back: S3 listings and
// error documents now, WebDAV multistatus next. The body is fed in pieces as it arrives, so a
// 100k-entry listing is never held whole.
//
// Hostile input is refused cleanly, as kCorruption naming the problem:
// - any DOCTYPE (so no DTD, no entity declarations, no entity expansion: "billion laughs" and
//   external entities cannot happen), checked before expat would act on it;
// - a document larger than `max_document_bytes`, a leaf element's text longer than
//   `max_text_bytes`, nesting deeper than `max_depth`;
// - malformed or truncated XML (Finish() on an unclosed document).
// Namespaces are resolved: handlers see each element's namespace URI and local name separately
// ("DAV:" + "href"), so prefixes chosen by the server do not matter.
//
// Thread-safety: none; one stream per response.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

#include "common/status.h"

namespace hoardfs::http {

struct XmlLimits {
  size_t max_document_bytes = size_t{256} << 20;
  size_t max_text_bytes = 64 << 10;  // one element's character data
  unsigned max_depth = 32;
};

// Callbacks of an XmlStream. A non-OK status stops the parse and is what Feed()/Finish() return.
class XmlHandler {
 public:
  virtual ~XmlHandler() = default;
  // `depth` is 1 for the root element.
  virtual Status OnStart(std::string_view ns, std::string_view name, unsigned depth) = 0;
  // `text`: the character data directly inside a leaf element (its value); "" for an element
  // with child elements (mixed content is not kept, so it counts against no limit).
  virtual Status OnEnd(std::string_view ns, std::string_view name, unsigned depth,
                       std::string_view text) = 0;
};

class XmlStream {
 public:
  // REQUIRES: `handler` outlives the stream.
  XmlStream(XmlHandler* handler, const XmlLimits& limits);
  ~XmlStream();
  XmlStream(const XmlStream&) = delete;
  XmlStream& operator=(const XmlStream&) = delete;

  // Parses the next piece. After an error every later call returns the same error.
  Status Feed(std::string_view chunk);
  // End of input: kCorruption if the document is incomplete (or empty).
  Status Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hoardfs::http
