#include "remote/object_path.h"

#include <algorithm>

namespace hoardfs {

Status ValidateObjectPath(std::string_view path) {
  auto bad = [&](std::string_view what) {
    std::string msg = "invalid object path '";
    msg += path;
    msg += "': ";
    msg += what;
    return Status::InvalidArgument(std::move(msg));
  };
  if (path.empty() || path.front() != '/') return bad("must start with '/'");
  if (path.find('\0') != std::string_view::npos) return bad("contains a NUL byte");
  if (path == "/") return Status::Ok();
  if (path.back() == '/') return bad("trailing '/'");
  size_t i = 1;
  while (i <= path.size()) {
    const size_t end = std::min(path.find('/', i), path.size());
    const std::string_view part = path.substr(i, end - i);
    if (part.empty()) return bad("empty component");
    if (part == "." || part == "..") return bad("'.' and '..' are not allowed");
    i = end + 1;
  }
  return Status::Ok();
}

std::string_view BaseName(std::string_view path) { return path.substr(path.rfind('/') + 1); }

std::string_view ParentPath(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string_view::npos ? path.substr(0, 1) : path.substr(0, slash);
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (out != "/") out += '/';
  out += name;
  return out;
}

}  // namespace hoardfs
