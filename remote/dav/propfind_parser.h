// PropfindParser: a streaming reader of WebDAV PROPFIND responses (RFC 4918 §9.1, §14.16
// multistatus), over the hardened XmlStream (remote/http/xml_stream.h: no DTD, so no entity
// expansion; size, text and depth limits; truncation detected). Entries are handed to a callback
// one <response> at a time, so a 100k-entry listing is never held as XML or as a whole.
//
// What is read, all in the "DAV:" namespace whatever prefix the server uses (elements of other
// namespaces are ignored):
//   multistatus/response/href                      the resource (RFC 4918 §8.3: an absolute URI
//                                                  or an absolute path; percent-decoded here)
//   multistatus/response/status                    a response-level status (non-2xx: skipped)
//   .../propstat/prop/resourcetype/collection      a directory
//   .../propstat/prop/getcontentlength             size (a decimal number, else kCorruption)
//   .../propstat/prop/getlastmodified              mtime (RFC 9110 date; unparseable: 0)
//   .../propstat/prop/getetag                      ETag, quotes stripped ("W/" kept)
//   .../propstat/status                            properties of a propstat count only if its
//                                                  status is 2xx (RFC 4918 §14.22)
// The root element must be DAV:multistatus; a response without exactly one href is kCorruption.
//
// Thread-safety: none; one parser per response.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "remote/http/xml_stream.h"

namespace hoardfs::dav {

struct DavEntry {
  std::string path;  // the href's path, percent-decoded: "/data/a b/" (scheme/authority removed);
                     // a relative href stays relative ("a%20b" → "a b")
  bool is_collection = false;
  std::optional<uint64_t> content_length;
  int64_t mtime_ns = 0;  // 0 if absent or unparseable
  std::string etag;      // "" if absent
};

// Receives each <response> with a 2xx (or no) response-level status. A non-OK status stops the
// parse and is what Feed()/Finish() return.
using DavEntrySink = std::function<Status(DavEntry&& entry)>;

class PropfindParser {
 public:
  explicit PropfindParser(DavEntrySink sink, const http::XmlLimits& limits = {});
  ~PropfindParser();
  PropfindParser(const PropfindParser&) = delete;
  PropfindParser& operator=(const PropfindParser&) = delete;

  Status Feed(std::string_view chunk);
  Status Finish();

 private:
  class Handler;
  std::unique_ptr<Handler> handler_;
  std::unique_ptr<http::XmlStream> stream_;
};

// An href as a path: "http://h:1/a%20b/" → "/a b/", "/a%2Bb" → "/a+b", "x%C3%BC" → "xü".
// kCorruption for a bad %-escape, a NUL byte, or a scheme without authority.
Result<std::string> HrefToPath(std::string_view href);

// The status code of an HTTP status line ("HTTP/1.1 200 OK" → 200), or 0 if it is not one.
int ParseStatusLine(std::string_view line);

}  // namespace hoardfs::dav
