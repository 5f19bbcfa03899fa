#include "remote/dav/bearer_token.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

namespace hoardfs::dav {
namespace {
constexpr off_t kMaxTokenBytes = 64 << 10;
}

Result<std::unique_ptr<BearerTokenFile>> BearerTokenFile::Open(const std::string& path) {
  std::unique_ptr<BearerTokenFile> f(new BearerTokenFile(path));
  std::lock_guard<std::mutex> lock(f->mu_);
  HOARDFS_RETURN_IF_ERROR(f->Reload());
  return f;
}

Status BearerTokenFile::Reload() {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    return Status::InvalidArgument("bearer token file " + path_ + ": " + std::strerror(errno));
  }
  if (loaded_ && st.st_mtim.tv_sec == mtime_.tv_sec && st.st_mtim.tv_nsec == mtime_.tv_nsec &&
      st.st_size == size_ && st.st_ino == ino_) {
    return Status::Ok();
  }
  if (st.st_size > kMaxTokenBytes) {
    return Status::InvalidArgument("bearer token file " + path_ + ": larger than 64 KiB");
  }
  std::ifstream in(path_, std::ios::binary);
  if (!in) {
    return Status::InvalidArgument("bearer token file " + path_ + ": cannot be read");
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::string token = text.str();
  const size_t b = token.find_first_not_of(" \t\r\n");
  const size_t e = token.find_last_not_of(" \t\r\n");
  token = b == std::string::npos ? "" : token.substr(b, e - b + 1);
  if (token.empty() || token.find_first_of("\r\n") != std::string::npos) {
    return Status::InvalidArgument("bearer token file " + path_ + ": empty, or more than one line");
  }
  token_ = std::move(token);
  loaded_ = true;
  mtime_ = st.st_mtim;
  size_ = st.st_size;
  ino_ = st.st_ino;
  return Status::Ok();
}

Result<std::string> BearerTokenFile::Get() {
  std::lock_guard<std::mutex> lock(mu_);
  Status s = Reload();
  if (!s.ok() && !loaded_) return s;
  return token_;  // a failed re-read keeps the last good token
}

}  // namespace hoardfs::dav
