// OpenObjectSource: parses the URL, hands it to the backend for its scheme and puts the circuit
// breaker in front.
#include "remote/object_source.h"

#include "remote/circuit_breaker.h"
#include "remote/dav/dav_source.h"
#include "remote/file_source.h"
#include "remote/s3/s3_source.h"
#include "remote/url.h"
#include "remote/xrootd_source.h"

namespace hoardfs {

namespace {

Result<std::unique_ptr<ObjectSource>> OpenBackend(const RemoteUrl& parsed,
                                                  const RemoteOptions& options) {
  if (IsXRootDScheme(parsed.scheme)) return XRootDSource::Open(parsed, options);
  if (parsed.scheme == "file") return FileSource::Open(parsed.path, options);
  if (parsed.scheme == "s3") return S3Source::Open(parsed, options);
  if (IsDavScheme(parsed.scheme)) return DavSource::Open(parsed, options);
  return Status::NotSupported(parsed.Describe() + ": the " + parsed.scheme +
                              ":// backend is not implemented yet");
}

}  // namespace

Result<std::unique_ptr<ObjectSource>> OpenObjectSource(const std::string& url,
                                                       const RemoteOptions& options) {
  HOARDFS_ASSIGN_OR_RETURN(RemoteUrl parsed, ParseRemoteUrl(url));
  HOARDFS_ASSIGN_OR_RETURN(std::unique_ptr<ObjectSource> backend, OpenBackend(parsed, options));
  if (options.down_retry.count() <= 0) return backend;
  return std::unique_ptr<ObjectSource>(std::make_unique<CircuitBreakerSource>(
      std::move(backend), CircuitBreakerOptions::From(options)));
}

}  // namespace hoardfs
