// Percent-encoding as RFC 3986 and AWS SigV4 define it: every byte except the unreserved
// characters A-Z a-z 0-9 '-' '.' '_' '~' becomes "%XX" with upper-case hex; UTF-8 is encoded byte
// by byte. Used for URL paths and query strings of the HTTP-based backends (S3 keys with spaces,
// '+', '=', unicode) and, decoded, for the hrefs a WebDAV server returns.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace hoardfs::http {

// Encodes every byte but the unreserved ones; with `keep_slash`, '/' is kept too (paths).
std::string UriEncode(std::string_view text, bool keep_slash);

// Decodes "%XX" escapes (and nothing else: '+' stays '+'). A '%' not followed by two hex digits
// is kInvalidArgument.
Result<std::string> UriDecode(std::string_view text);

}  // namespace hoardfs::http
