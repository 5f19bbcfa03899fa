// ObjectSource: read-only access to one remote storage tree (an XRootD export, an S3 bucket prefix,
// a WebDAV collection, a local directory). The cache and the filesystem see remote data only
// through this interface.
//
// Paths are absolute within the source's root ("/" is the root; "/a/b.root"), '/'-separated,
// without a trailing '/'. Every method is blocking, bounded in time by RemoteOptions (timeouts,
// bounded retries with backoff on transient errors only), and returns errors as kinds:
//   kNotFound          the object does not exist
//   kPermissionDenied  credentials refused (never retried)
//   kUnavailable       server unreachable, timed out, connection dropped (retried, then returned)
//   kCorruption        the server answered nonsense (garbage, sizes that lie, short bodies)
//   kInvalidArgument   a bad path or request from the caller
//
// Versions: ObjectInfo::version identifies one immutable state of a file (an ETag, a checksum, or
// "<size>-<mtime_ns>"). Read() takes the ObjectRef fixed at open; a backend that can tell that the
// object changed since (size shrank, ETag differs) returns kFailedPrecondition instead of bytes of
// another version.
//
// Thread-safety: implementations are thread-safe; any number of threads may call any method.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace hoardfs {

enum class ObjectType : uint8_t { kFile, kDirectory, kSymlink };

struct ObjectInfo {
  std::string name;        // last path component ("" for the root)
  ObjectType type = ObjectType::kFile;
  uint64_t size = 0;       // files: bytes; symlinks: length of the target; directories: 0
  int64_t mtime_ns = 0;    // modification time, ns since the epoch (0 if unknown)
  uint32_t mode = 0;       // permission bits (0 if unknown; the filesystem picks read-only defaults)
  std::string version;     // files: see above; directories: may be empty
  std::string symlink_target;  // kSymlink only
};

// A file as of one version.
struct ObjectRef {
  std::string path;
  std::string version;
  uint64_t size = 0;  // size at that version: reads are clamped to it
};

struct ListPage {
  std::vector<ObjectInfo> entries;  // names only, no "." or ".."
  std::string next_token;           // empty: last page
};

// One range of a vector read.
struct ReadRange {
  uint64_t offset = 0;
  std::span<std::byte> out;  // bytes to fill
  size_t bytes_read = 0;     // set by ReadV (short only at end of file)
  Status status;             // set by ReadV
};

// TLS for the HTTP-based backends (s3://, https://, davs://). Empty fields use libcurl's and
// OpenSSL's defaults (the system CA store).
struct TlsOptions {
  std::string ca_path;           // a directory of hashed CA certificates
                                 // (/etc/grid-security/certificates)
  std::string ca_file;           // a PEM bundle of CA certificates
  std::string client_cert_file;  // PEM certificate and key in one file (an X.509/RFC 3820 proxy)
  bool verify_peer = true;       // false only for tests against self-signed servers
};

// S3 access (s3://bucket[/prefix]). Credentials: the file if one is named (AWS `credentials` INI
// format, see remote/s3/s3_credentials.h), else access_key_id/secret_access_key/session_token as
// the daemon filled them (from the AWS_* environment variables), else anonymous (unsigned)
// requests. The secret and the token are never logged or put into an error message.
struct S3Options {
  std::string endpoint;  // "http://rgw.example:7480"; "" = https://s3.<region>.amazonaws.com
  std::string region = "us-east-1";
  bool virtual_host = false;  // bucket.endpoint-host/key instead of endpoint/bucket/key
  std::string credentials_file;
  std::string access_key_id;
  std::string secret_access_key;  // never log
  std::string session_token;      // never log
};

// WebDAV/HTTP access (davs://, dav://, https://, http://). The token is read from the file at
// open and re-read whenever the file's mtime, size or inode changes (tokens expire and are
// rotated); it is sent as "Authorization: Bearer" and never logged or put into a message.
// Redirects (storage doors send clients to pools) are followed; the token goes along only to
// the same scheme, host and port unless token_to_other_hosts is set.
struct DavOptions {
  std::string bearer_token_file;  // "" : no token
  bool token_to_other_hosts = false;
};

struct RemoteOptions {
  std::chrono::milliseconds timeout{30000};      // one request
  unsigned max_attempts = 3;                     // attempts per request on transient errors
  std::chrono::milliseconds initial_backoff{200};  // doubles per retry, with jitter
  unsigned max_open_files = 256;                 // handles kept open for reuse (XRootD, file://)
  unsigned list_page_size = 1000;                // entries per List page where the backend pages
                                                 // (file://); XRootD returns a directory at once
  // Circuit breaker (remote/circuit_breaker.h), applied by OpenObjectSource: once a request ends
  // in kUnavailable the remote is known down and requests fail at once; a probe is let through
  // after down_retry, the interval doubling per failed probe up to down_retry_max.
  // down_retry 0: no breaker (every request waits out its own timeouts).
  std::chrono::milliseconds down_retry{5000};
  std::chrono::milliseconds down_retry_max{60000};
  TlsOptions tls;  // HTTP-based backends
  S3Options s3;    // s3:// only
  DavOptions dav;  // davs://, dav://, https://, http://
};

// Whether a remote is reachable, as its circuit breaker sees it (remote/circuit_breaker.h).
struct RemoteHealth {
  bool down = false;
  double down_seconds = 0;     // how long the remote has been down (0 while up)
  uint64_t trips = 0;          // times it went from up to down
  uint64_t fast_failures = 0;  // requests failed at once while down (the backend not called)
  uint64_t probes = 0;         // requests let through while down
};

class ObjectSource {
 public:
  ObjectSource() = default;
  virtual ~ObjectSource() = default;
  ObjectSource(const ObjectSource&) = delete;
  ObjectSource& operator=(const ObjectSource&) = delete;

  virtual Result<ObjectInfo> Stat(const std::string& path) = 0;

  // One page of a directory listing with each entry's attributes (one round trip per page; never
  // one stat per entry). `page_token` is "" for the first page, then the previous next_token.
  virtual Result<ListPage> List(const std::string& dir, const std::string& page_token) = 0;

  // The names of a directory's entries without their attributes, in one round trip, where the
  // protocol makes that much cheaper than List (XRootD: a dirlist without kXR_dstat, so the
  // server stats nothing). The names may include entries List would skip (one the server cannot
  // stat). Only where lists_names_cheaply(); elsewhere (S3, WebDAV, file://: names cost as much
  // as List) kNotSupported.
  virtual bool lists_names_cheaply() const { return false; }
  virtual Result<std::vector<std::string>> ListNames(const std::string& dir) {
    return Status::NotSupported("list names of " + dir + ": not cheaper than a listing here");
  }

  // Reads up to out.size() bytes at `offset` of `ref`. Returns the count read: short only at the
  // end of the file (ref.size). kFailedPrecondition if the object changed since `ref` was taken.
  virtual Result<size_t> Read(const ObjectRef& ref, uint64_t offset, std::span<std::byte> out) = 0;

  // Several ranges of one file in as few requests as the protocol allows (XRootD vector read,
  // HTTP multi-range). Each range gets its own status. Returns non-OK only if nothing was tried
  // (bad path, the file could not be opened or has another version, the server is unreachable);
  // every range then carries that status too, so callers may look at the ranges alone.
  virtual Status ReadV(const ObjectRef& ref, std::span<ReadRange> ranges) = 0;

  // For logs and metrics: the URL without credentials ("root://host:1094//store").
  virtual std::string Describe() const = 0;

  // For stats: a source without a circuit breaker in front reports itself up, all zero.
  virtual RemoteHealth Health() const { return {}; }
};

// Opens a source for `url`: root://host[:port]//path, file:///path, s3://bucket[/prefix],
// davs://host[:port]/path (also dav://, https://, http://).
// A malformed URL or an unknown scheme is kInvalidArgument naming the URL; an unreachable server
// is not an error here (see ObjectSource::Stat("/") for a reachability check).
// Unless options.down_retry is 0, the backend is wrapped in a CircuitBreakerSource.
Result<std::unique_ptr<ObjectSource>> OpenObjectSource(const std::string& url,
                                                       const RemoteOptions& options);

}  // namespace hoardfs
