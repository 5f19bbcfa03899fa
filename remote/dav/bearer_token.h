// BearerTokenFile: a bearer token (a WLCG/SciTokens JWT, an opaque token) kept in a file that
// something else rotates. Get() returns the current token: the file is stat()ed on every call
// (cheap) and re-read only when its mtime, size or inode changed, so a rotated token is used by
// the next request. Surrounding whitespace is dropped.
//
// If the file is briefly missing or unreadable after a first successful read (a rotation by
// rename), the last token is kept. The token is never logged and never put into a message:
// errors name the file only.
//
// Thread-safety: thread-safe.
#pragma once

#include <sys/types.h>

#include <ctime>
#include <memory>
#include <mutex>
#include <string>

#include "common/result.h"

namespace hoardfs::dav {

class BearerTokenFile {
 public:
  // Reads the file once: kInvalidArgument (naming the file) if it is missing, unreadable, empty
  // or larger than 64 KiB.
  static Result<std::unique_ptr<BearerTokenFile>> Open(const std::string& path);

  Result<std::string> Get();

 private:
  explicit BearerTokenFile(std::string path) : path_(std::move(path)) {}
  Status Reload();  // REQUIRES: mu_ held

  const std::string path_;
  std::mutex mu_;
  std::string token_;
  bool loaded_ = false;
  timespec mtime_{};
  off_t size_ = -1;
  ino_t ino_ = 0;
};

}  // namespace hoardfs::dav
