// OpenObjectSource: parses the URL and hands it to the backend for its scheme.
#include "remote/object_source.h"

#include "remote/file_source.h"
#include "remote/url.h"
#include "remote/xrootd_source.h"

namespace hoardfs {

Result<std::unique_ptr<ObjectSource>> OpenObjectSource(const std::string& url,
                                                       const RemoteOptions& options) {
  HOARDFS_ASSIGN_OR_RETURN(RemoteUrl parsed, ParseRemoteUrl(url));
  if (IsXRootDScheme(parsed.scheme)) return XRootDSource::Open(parsed, options);
  if (parsed.scheme == "file") return FileSource::Open(parsed.path, options);
  return Status::NotSupported(parsed.Describe() + ": the " + parsed.scheme +
                              ":// backend is not implemented yet");
}

}  // namespace hoardfs
