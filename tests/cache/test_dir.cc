#include "tests/cache/test_dir.h"

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace hoardfs::testing {

TestDir::TestDir() {
  const char* base = std::getenv("HOARDFS_TEST_TMPDIR");
  std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/hoardfs-test-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + tmpl);
  path_ = tmpl;
}

TestDir::~TestDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace hoardfs::testing
