// S3Source: an ObjectSource over an S3 bucket, or a prefix of one (s3://bucket[/prefix]), at any
// S3-compatible endpoint (AWS, Ceph RGW, MinIO, ...), through HttpClient (remote/http) with
// requests signed by us (SigV4, remote/s3/sigv4.h; S3Request builds and signs them).
//
// Mapping. Object path "/a/b" is key "<prefix>/a/b"; a directory is a key prefix ending in '/'.
// S3 has no directories: "/a" is a directory if some key starts with "<prefix>/a/" (including a
// zero-byte "a/" marker object, as consoles and s3fs create for empty directories).
// - Stat("/a"): HEAD of the key (200: a file: size = Content-Length, version = ETag, mtime =
//   Last-Modified); on 404, one ListObjectsV2 with prefix "a/", delimiter '/', max-keys 1 (any
//   key or common prefix: a directory; none: kNotFound). So a file costs one request, a
//   directory or a missing name two. Stat("/") lists max-keys 1 at the root prefix: for a whole
//   bucket it is a directory if the bucket exists (an empty bucket too); for a prefix, only if
//   some key is under it.
// - List: ListObjectsV2 with delimiter '/', max-keys RemoteOptions::list_page_size, the
//   continuation token as ListPage::next_token (so directories of any size, one request per
//   page). Contents are files (with size, ETag, mtime), CommonPrefixes directories; the
//   directory's own "dir/" marker is skipped, and so are keys whose name would not be a valid
//   path component ("", ".", "..", or an empty component from "a//b"). If a page holds both a
//   file "x" and a prefix "x/", the file wins. An empty first page costs one more request (HEAD)
//   to tell kNotFound from a file (kInvalidArgument).
// - Read: one ranged GET (Range: bytes=a-b, clamped to ref.size) with If-Match: "<version>",
//   so a changed object is 412 → kFailedPrecondition and never bytes of another version; the
//   response's Content-Range total and ETag are checked too.
// - ReadV: ranges sorted and coalesced (gaps up to 128 KiB, spans up to 8 MiB) into ranged GETs
//   run concurrently (HttpClient::PerformAll); each GET's bytes are scattered to its ranges.
// - Versions: the ETag without quotes (an MD5, or "<md5>-<parts>" for multipart uploads).
//   mtime has one-second resolution (HEAD's Last-Modified; listings are truncated to match).
//   Modes are reported as 0444 (files) and 0555 (directories).
// - Errors: HTTP statuses per remote/http/http_status.h, with S3's error code when the body has
//   one: "GET s3://bucket/key: HTTP 403 (SignatureDoesNotMatch)". Messages never contain the
//   secret, the session token or a signature. kUnavailable (connect failures, timeouts, 5xx) is
//   retried with backoff per RemoteOptions; nothing else is.
// - Addressing: path style by default, virtual-host style with S3Options::virtual_host; the
//   region signs requests (RGW does not check it; AWS does).
//
// Thread-safety: thread-safe (see ObjectSource).
#pragma once

#include <memory>

#include "common/result.h"
#include "remote/object_source.h"
#include "remote/url.h"

namespace hoardfs {

class S3Source {
 public:
  // REQUIRES: url.scheme == "s3" (url.host is the bucket, url.path the prefix). Reads the
  // credentials file if options.s3 names one; never contacts the server. kInvalidArgument for a
  // URL with a port, user or query, a bad endpoint or bucket, or unusable credentials.
  static Result<std::unique_ptr<ObjectSource>> Open(const RemoteUrl& url,
                                                    const RemoteOptions& options);
};

}  // namespace hoardfs
