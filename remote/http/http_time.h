// Time stamps in HTTP-based protocols, as nanoseconds since the epoch (ObjectInfo::mtime_ns):
// - ParseHttpDate: RFC 9110 IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), as in Last-Modified
//   and WebDAV's getlastmodified. Obsolete RFC 850 and asctime forms are not accepted.
// - ParseIso8601Utc: "2009-10-12T17:50:30.000Z" (S3 listings; WebDAV creationdate), fraction
//   optional, 'Z' required.
// Both return nullopt for anything else, including out-of-range fields.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace hoardfs::http {

std::optional<int64_t> ParseHttpDate(std::string_view text);
std::optional<int64_t> ParseIso8601Utc(std::string_view text);

}  // namespace hoardfs::http
