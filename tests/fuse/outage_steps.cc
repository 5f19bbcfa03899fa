#include "tests/fuse/outage_steps.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "tests/support/dataset.h"

namespace hoardfs::testing {

using namespace std::chrono_literals;

std::vector<std::string> OutageCachedFiles(const ExpectedTree& expected) {
  std::vector<std::string> cached = {Dataset::kSpaceFile, Dataset::kUnicodeFile};
  for (const auto& [path, e] : expected) {
    if (e.type == ObjectType::kFile && path.rfind("/small/d0/", 0) == 0) cached.push_back(path);
  }
  return cached;
}

void ReadAllVerified(const std::string& mnt, const std::vector<std::string>& files,
                     const ExpectedTree& expected) {
  for (const std::string& p : files) {
    ReadOutcome r = ReadWhole(mnt + p);
    ASSERT_EQ(r.err, 0) << p << ": " << ErrnoName(r.err);
    ASSERT_EQ(Sha256Hex(r.data), expected.at(p).sha256) << p;
  }
}

void StatAll(const std::string& mnt, const std::vector<std::string>& files) {
  for (const std::string& p : files) {
    struct stat st {};
    ASSERT_EQ(::stat((mnt + p).c_str(), &st), 0) << p << ": " << ErrnoName(errno);
  }
}

std::optional<std::string> AwaitCachedBytes(const std::string& path, uint64_t size) {
  const auto deadline = Clock::now() + 10s;
  std::optional<std::string> v;
  while ((v = GetXattr(path, "user.hoardfs.cached_bytes")) && *v != std::to_string(size) &&
         Clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  return v;
}

void DropPageCache(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

}  // namespace hoardfs::testing
