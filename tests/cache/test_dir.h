// TestDir: a fresh temporary directory for one test, removed (recursively) on destruction.
// Created under $HOARDFS_TEST_TMPDIR if set, else under /tmp (a real disk here, so O_DIRECT works).
#pragma once

#include <string>

namespace hoardfs::testing {

class TestDir {
 public:
  TestDir();
  ~TestDir();
  TestDir(const TestDir&) = delete;
  TestDir& operator=(const TestDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace hoardfs::testing
