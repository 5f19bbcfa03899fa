// XRootDSource: an ObjectSource over an XRootD server (root://host:port//export/path), through
// XrdCl's synchronous API (the calls block the calling thread; XrdCl's own threads do the I/O, so
// any number of callers may be in flight at once).
//
// - Stat: FileSystem::Stat. List: FileSystem::DirList with DirListFlags::Stat (kXR_dstat: names
//   and attributes in one round trip per directory, however large); one page, next_token "".
//   XRootD stats through symlinks on the server side, so no entry is ever kSymlink; entries that
//   are neither file nor directory are skipped. Directories report size 0. ListNames: DirList
//   without flags (names only: the server stats nothing, ~7 × faster for a large directory).
// - Read: XrdCl::File::Read on a handle kept open in an LRU of RemoteOptions::max_open_files
//   handles keyed by path + version, so repeated reads of one file do not reopen it. Handles are
//   closed on the source's own thread ("xrd-closer"), never on a reading thread (a close to a
//   hung server would cost that read a whole timeout).
// - ReadV: File::VectorRead, split to the server's limits (queried once with kXR_Qconfig
//   "readv_iov_max readv_ior_max"; XRootD's defaults are 1024 chunks of at most 2097136 bytes),
//   ranges clamped to ref.size (XRootD rejects a vector read that runs past the end of a file).
// - Versions: "<size>-<mtime_ns>" with mtime_ns = mtime_s * 1e9 (XRootD reports seconds, so a
//   rewrite within the same second to the same size is invisible). A handle is checked against
//   ref.version when it is opened (the open response carries a stat) and, when reused, by a stat
//   of the open file sent alongside the read (pipelined: no extra round-trip latency). A
//   mismatch, or a short read inside ref.size from a file whose version changed, is
//   kFailedPrecondition; a short read with an unchanged version is kCorruption.
// - Errors: kXR_NotFound → kNotFound; kXR_NotAuthorized/kXR_AuthFailed/kXR_fsReadOnly and
//   authentication failures → kPermissionDenied; connection, socket and timeout errors, and the
//   server's "try later" answers (kXR_noserver, kXR_Overloaded, kXR_ReqTimedOut, ...) →
//   kUnavailable, retried per RemoteOptions with backoff; bad checksums and malformed responses
//   → kCorruption. The protocol has no code for ENOTDIR (the server sends kXR_FSError and says
//   "not a directory" in words): a path through a file is kNotFound, a List of a file
//   kInvalidArgument, as with file://. Messages pass through RedactCredentials() (url.h).
// - Server quirk: xrootd shares one open file among all openers of a path. While any client
//   keeps a replaced file (renamed over) open, a new open of the path gets the old inode; the
//   version check then sees the old version, so bytes never mix, but a new ref can be refused
//   (kFailedPrecondition) until that client closes.
//
// Timeouts. Every call passes ceil(RemoteOptions::timeout) seconds as its XrdCl timeout. XrdCl's
// process-wide settings are also set when a source is opened (they are shared by every XrdCl user
// in the process; the last source opened wins; an XRD_* environment variable overrides them):
//   TimeoutResolution 1 s (default 15: timeouts would fire up to 15 s late),
//   ConnectionWindow = timeout, ConnectionRetry 1 (XrdCl's own reconnect loop would wait out
//     the window up to 5 times, 10 minutes by default, before a refused connection fails;
//     retries are ours, with backoff),
//   RequestTimeout = timeout, StreamErrorWindow 0 (XrdCl would otherwise fail every request to a
//     host for 30 min after one connection error, even after the server is back),
//   SubStreamsPerChannel 4 (default 1): the data of reads comes back over 4 TCP connections per
//     server (bound to the first by kXR_bind), as `xrdcp --streams 4` reads. Measured on a local
//     xrootd, a cold sequential read of 1 GiB: median 1.99 s against 2.72 s with one stream, and
//     −44 % daemon CPU (docs/benchmarks.md, "Session of 2026-12-01 from 15:45 UTC"); over a WAN,
//     parallel streams are what keeps a long fat link full. XRD_SUBSTREAMSPERCHANNEL=1 restores
//     one connection.
// So a dead server fails a request in ~timeout per attempt (a refused connection at once), and
// a restarted one is used again by the next request.
//
// fork(): XrdCl keeps threads and sockets; a process must not fork() (without exec) once an
// XrdCl object exists (xrootd/xrootd #919, #1515). posix_spawn() is safe: glibc runs no atfork
// handlers for it and the child execs at once.
//
// Thread-safety: thread-safe (see ObjectSource).
#pragma once

#include <memory>

#include "common/result.h"
#include "remote/object_source.h"
#include "remote/url.h"

namespace hoardfs {

class XRootDSource {
 public:
  // REQUIRES: IsXRootDScheme(url.scheme). Never contacts the server (an unreachable server is
  // not an error here).
  static Result<std::unique_ptr<ObjectSource>> Open(const RemoteUrl& url,
                                                    const RemoteOptions& options);
};

}  // namespace hoardfs
