// DavSource: an ObjectSource over a WebDAV collection or a plain HTTP tree
// (davs://host[:port]/path = https, dav:// = http; https:// and http:// as written), through
// HttpClient (remote/http). Object path "/a b" is URL <base>/<root>/a%20b.
//
// - Stat: PROPFIND Depth 0 (RFC 4918 §9.1) asking for resourcetype, getcontentlength,
//   getlastmodified and getetag; a missing file costs that one request (404). A server that
//   refuses PROPFIND (405/501: a plain HTTP server) is remembered, and HEAD is used instead
//   (anything that answers 200 is then a file).
// - List: PROPFIND Depth 1 on "<dir>/", parsed as it streams (dav/propfind_parser.h); one page
//   per directory. The collection itself is skipped (its href, decoded, equals the request
//   path), and so are entries that are not direct children. A file is kInvalidArgument.
// - Read: a ranged GET; the Content-Range (start, total = ObjectRef::size) and the length are
//   checked, and the response must show ref.version: its ETag, or "<size>-<mtime>" from the
//   total and Last-Modified (nginx lists no getetag but sends ETags on GET), else
//   kFailedPrecondition. No If-Match: the version may not be an ETag.
// - ReadV: ranges clamped to the file size (XRootD's HTTP hangs on multi-range requests past the
//   end), sorted, coalesced; then multi-range GETs (RFC 7233 §4.1, up to 64 ranges each, parsed
//   by http/multipart_byteranges.h) run concurrently. A server that answers anything but
//   multipart/byteranges is remembered, and concurrent single-range GETs are used instead.
// - Versions: the ETag (quotes stripped, "W/" kept), else "<size>-<mtime_ns>" (XRootD's HTTP
//   sends no ETag). mtime has one-second resolution. Modes: 0444 files, 0555 directories.
// - Redirects (storage doors → pools) are followed here, not by curl, at most 5 hops, keeping the
//   method; the bearer token is sent only to the scheme, host and port of the URL, unless
//   DavOptions::token_to_other_hosts (a pool that needs the door's token). A redirected PROPFIND
//   listing is read against the path it was redirected to (hrefs are the answering server's).
//   Error messages name the URL redirected to (without its query).
// - Auth: "Authorization: Bearer <token>" from DavOptions::bearer_token_file (re-read when it
//   changes, dav/bearer_token.h); client certificates / RFC 3820 proxies and CAs through
//   TlsOptions. 401/403 → kPermissionDenied, messages "PROPFIND davs://h:p/path: HTTP 401" with
//   no header value; so is nginx's HTTP 400 to a TLS client without an accepted certificate ("No
//   required SSL certificate was sent"). 5xx and transport failures are retried with backoff
//   (remote/retry.h), nothing else.
// - The URL's query (e.g. a dCache "?authz=" macaroon) is sent with every request, never logged;
//   a URL with user info is kInvalidArgument.
//
// Thread-safety: thread-safe (see ObjectSource).
#pragma once

#include <memory>
#include <string_view>

#include "common/result.h"
#include "remote/object_source.h"
#include "remote/url.h"

namespace hoardfs {

// "davs", "dav", "https", "http".
bool IsDavScheme(std::string_view scheme);

class DavSource {
 public:
  // REQUIRES: IsDavScheme(url.scheme). Reads the token file if one is named; never contacts the
  // server.
  static Result<std::unique_ptr<ObjectSource>> Open(const RemoteUrl& url,
                                                    const RemoteOptions& options);
};

}  // namespace hoardfs
