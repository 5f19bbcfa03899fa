#include "remote/http/http_status.h"

#include <string>

namespace hoardfs::http {

Status StatusFromHttp(long status, std::string_view what, std::string_view detail) {
  if (status >= 200 && status < 300) return Status::Ok();
  std::string msg(what);
  msg += ": HTTP " + std::to_string(status);
  if (!detail.empty()) {
    msg += " (";
    msg += detail;
    msg += ")";
  }
  if (status == 401 || status == 403) return Status::PermissionDenied(std::move(msg));
  if (status == 404 || status == 410) return Status::NotFound(std::move(msg));
  if (status == 412 || status == 416) return Status::FailedPrecondition(std::move(msg));
  if (status == 408 || status == 429 || (status >= 500 && status < 600)) {
    return Status::Unavailable(std::move(msg));
  }
  if (status >= 300 && status < 400) return Status::NotSupported(std::move(msg));
  if (status >= 400 && status < 500) return Status::InvalidArgument(std::move(msg));
  return Status::Corruption(std::move(msg));
}

}  // namespace hoardfs::http
