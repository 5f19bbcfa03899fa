// RemoteUrl: the parsed form of a remote source URL, as OpenObjectSource() accepts it.
//
//   root://[user@]host[:port]//abs/path[?cgi]   XRootD ("xroot", and "roots"/"xroots" for TLS).
//                                               The "//" after the authority is XRootD's own
//                                               convention: "/" ends the authority and the path is
//                                               absolute. "root://host" and "root://host/" mean
//                                               the server's root. Default port 1094.
//   file:///abs/path                            A local (or parallel-filesystem) directory; the
//   file://localhost/abs/path                   host, if any, must be "localhost".
//
// Paths are taken literally (no percent-decoding), repeated '/' collapse and a trailing '/' is
// dropped, so `path` is "/" or "/a/b". "." and ".." components are rejected.
// `user` and `query` may carry credentials (a password, an authz token): they are kept for the
// backend and never appear in Describe() or in error messages.
//
// Thread-safety: pure functions and plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace hoardfs {

struct RemoteUrl {
  std::string scheme;  // lower case: "root", "roots", "file", ...
  std::string user;    // userinfo before '@' (may include ":password"): never log
  std::string host;    // as written; an IPv6 literal keeps its brackets ("[::1]")
  uint16_t port = 0;   // 0 if absent from the URL (see DefaultPort())
  std::string path;    // normalised absolute path: "/" or "/a/b"
  std::string query;   // text after '?', without it: never log

  // The scheme's default port: 1094 for XRootD schemes, 0 otherwise.
  uint16_t DefaultPort() const;
  // port, or DefaultPort() when the URL names none.
  uint16_t EffectivePort() const;
  // "root://host:1094//store", "file:///data": no user, no query.
  std::string Describe() const;
};

// True for "root", "xroot", "roots", "xroots".
bool IsXRootDScheme(std::string_view scheme);

// `text` (a log line, a server's message) with what may be a credential replaced by
// "<redacted>": the password of a URL's userinfo and every query string (up to the next space or
// quote): "root://u:pw@h//p?authz=t x" → "root://u:<redacted>@h//p?<redacted> x".
std::string RedactCredentials(std::string_view text);

// Parses `url`. Errors are kInvalidArgument and name the URL (without user and query) and what is
// wrong: "root://h:1094/p: missing '//' before the path", "...: port 'x' is not a number",
// "...: unknown scheme 'foo'". Schemes are recognised here, not dispatched: an "s3://" URL parses.
Result<RemoteUrl> ParseRemoteUrl(std::string_view url);

}  // namespace hoardfs
