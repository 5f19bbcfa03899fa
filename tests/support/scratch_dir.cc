#include "tests/support/scratch_dir.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <utility>

namespace hoardfs::testing {

namespace {

// Removes /dev/shm/<prefix><pid>-* left by processes that died without cleaning up (a killed
// test): memory that would otherwise stay taken until reboot.
void RemoveStale(const std::string& prefix) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/dev/shm", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      (void)RemoveTree(entry.path().string());
    }
  }
}

}  // namespace

Result<ScratchDir> ScratchDir::CreateInMemory(const std::string& prefix) {
  const char* forced = std::getenv("HOARDFS_TEST_TMPDIR");
  if ((forced == nullptr || *forced == '\0') && ::access("/dev/shm", W_OK | X_OK) == 0) {
    RemoveStale(prefix);
    std::string tmpl = "/dev/shm/" + prefix + std::to_string(::getpid()) + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) {
      if (::chmod(tmpl.c_str(), 0755) != 0) {
        const int err = errno;
        ::rmdir(tmpl.c_str());
        return Status::FromErrno(err, "chmod " + tmpl);
      }
      return ScratchDir(std::move(tmpl));
    }
  }
  return Create(prefix);
}

Result<ScratchDir> ScratchDir::Create(const std::string& prefix) {
  const char* base = std::getenv("HOARDFS_TEST_TMPDIR");
  if (base == nullptr || *base == '\0') base = std::getenv("TMPDIR");
  if (base == nullptr || *base == '\0') base = "/tmp";
  std::string tmpl = std::string(base) + "/" + prefix + "XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return Status::FromErrno(errno, "mkdtemp " + tmpl);
  if (::chmod(tmpl.c_str(), 0755) != 0) return Status::FromErrno(errno, "chmod " + tmpl);
  return ScratchDir(std::move(tmpl));
}

ScratchDir::~ScratchDir() {
  if (!path_.empty()) (void)RemoveTree(path_);
}

ScratchDir::ScratchDir(ScratchDir&& other) noexcept : path_(std::exchange(other.path_, "")) {}

ScratchDir& ScratchDir::operator=(ScratchDir&& other) noexcept {
  if (this != &other) {
    if (!path_.empty()) (void)RemoveTree(path_);
    path_ = std::exchange(other.path_, "");
  }
  return *this;
}

Status RemoveTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return Status::IOError("remove " + path + ": " + ec.message());
  return Status::Ok();
}

}  // namespace hoardfs::testing
