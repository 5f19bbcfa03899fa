// file:// specifics. The behaviour common to every backend is checked by the conformance suite
// in xrootd_source_test.cc, which runs against file:// too.
#include "remote/file_source.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <string>

#include "tests/support/scratch_dir.h"

namespace hoardfs {
namespace {

using testing::ScratchDir;

std::span<std::byte> Bytes(std::string& s) {
  return std::as_writable_bytes(std::span<char>(s.data(), s.size()));
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

void SetMtime(const std::string& path, time_t seconds) {
  const struct timespec times[2] = {{seconds, 0}, {seconds, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

class FileSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = ScratchDir::Create("hoardfs-file-source-");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_ = std::move(dir).value();
    root_ = dir_.Sub("root");
    ASSERT_EQ(::mkdir(root_.c_str(), 0755), 0);
  }

  std::unique_ptr<ObjectSource> Open(RemoteOptions options = {}) {
    auto src = FileSource::Open(root_, options);
    EXPECT_TRUE(src.ok()) << src.status().ToString();
    return src.ok() ? std::move(src).value() : nullptr;
  }

  ObjectRef RefOf(ObjectSource& src, const std::string& path) {
    Result<ObjectInfo> info = src.Stat(path);
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    return {path, info.ok() ? info->version : "", info.ok() ? info->size : 0};
  }

  ScratchDir dir_;
  std::string root_;
};

class FileSourceWalkTest : public FileSourceTest, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    FileSource::ForceWalkForTesting(GetParam());
    FileSourceTest::SetUp();
  }
  void TearDown() override { FileSource::ForceWalkForTesting(false); }
};

// Both path resolutions: openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) and the O_NOFOLLOW walk.
TEST_P(FileSourceWalkTest, SymlinksAreReportedNotFollowed) {
  ASSERT_EQ(::mkdir((root_ + "/d").c_str(), 0755), 0);
  WriteFile(root_ + "/d/f", "data");
  WriteFile(dir_.Sub("outside"), "secret");
  ASSERT_EQ(::symlink("d/f", (root_ + "/rel").c_str()), 0);
  ASSERT_EQ(::symlink("d", (root_ + "/dirlink").c_str()), 0);
  ASSERT_EQ(::symlink(dir_.path().c_str(), (root_ + "/escape").c_str()), 0);
  ASSERT_EQ(::symlink("../outside", (root_ + "/up").c_str()), 0);
  auto src = Open();
  ASSERT_NE(src, nullptr);

  Result<ObjectInfo> rel = src->Stat("/rel");
  ASSERT_TRUE(rel.ok()) << rel.status().ToString();
  EXPECT_EQ(rel->type, ObjectType::kSymlink);
  EXPECT_EQ(rel->symlink_target, "d/f");
  EXPECT_EQ(rel->size, 3u);

  Result<ListPage> top = src->List("/", "");
  ASSERT_TRUE(top.ok());
  std::set<std::string> links;
  for (const ObjectInfo& e : top->entries) {
    if (e.type == ObjectType::kSymlink) links.insert(e.name + "->" + e.symlink_target);
  }
  EXPECT_EQ(links, (std::set<std::string>{"rel->d/f", "dirlink->d", "escape->" + dir_.path(),
                                          "up->../outside"}));

  // Nothing is read through a symlink, inside the root or out of it.
  std::string buf(16, '\0');
  for (const char* path : {"/rel", "/up", "/escape/outside", "/dirlink/f"}) {
    Result<size_t> n = src->Read({path, "", 16}, 0, Bytes(buf));
    EXPECT_FALSE(n.ok()) << path;
    EXPECT_NE(n.status().code(), StatusCode::kOk);
  }
  EXPECT_EQ(src->Stat("/escape/outside").status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(src->List("/escape", "").ok());
  EXPECT_FALSE(src->List("/dirlink", "").ok());
  // The real path works.
  const ObjectRef ref = RefOf(*src, "/d/f");
  Result<size_t> n = src->Read(ref, 0, Bytes(buf));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(buf.substr(0, *n), "data");
}

INSTANTIATE_TEST_SUITE_P(Resolution, FileSourceWalkTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return param.param ? std::string("walk") : std::string("openat2");
                         });

TEST_F(FileSourceTest, ListPagesByName) {
  for (int i = 0; i < 10; ++i) WriteFile(root_ + "/f" + std::to_string(i), std::string(i, 'x'));
  ASSERT_EQ(::mkdir((root_ + "/sub").c_str(), 0755), 0);
  ASSERT_EQ(::mkfifo((root_ + "/fifo").c_str(), 0644), 0);  // not served
  RemoteOptions options;
  options.list_page_size = 3;
  auto src = Open(options);
  std::vector<std::string> names;
  std::string token;
  int pages = 0;
  do {
    Result<ListPage> page = src->List("/", token);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    EXPECT_LE(page->entries.size(), 3u);
    for (const ObjectInfo& e : page->entries) {
      names.push_back(e.name);
      if (e.name == "f7") {
        EXPECT_EQ(e.size, 7u);
        EXPECT_EQ(e.type, ObjectType::kFile);
        EXPECT_EQ(e.mode, 0644u);
      }
      if (e.name == "sub") {
        EXPECT_EQ(e.type, ObjectType::kDirectory);
      }
    }
    token = page->next_token;
    ++pages;
  } while (!token.empty() && pages < 20);
  EXPECT_EQ(names, (std::vector<std::string>{"f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8",
                                             "f9", "sub"}));
  EXPECT_EQ(pages, 4);  // the FIFO took a slot in no page
  EXPECT_EQ(src->Stat("/fifo").status().code(), StatusCode::kNotSupported);
  EXPECT_EQ(src->List("/", "a/b").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(src->List("/f1", "").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(src->List("/missing", "").status().code(), StatusCode::kNotFound);
}

TEST_F(FileSourceTest, ReadChecksTheVersion) {
  const std::string path = root_ + "/v";
  WriteFile(path, "version one");
  SetMtime(path, 1700000000);
  auto src = Open();
  const ObjectRef v1 = RefOf(*src, "/v");
  EXPECT_EQ(v1.version, "11-1700000000000000000");
  std::string buf(32, '\0');
  ASSERT_TRUE(src->Read(v1, 0, Bytes(buf)).ok());  // the descriptor is now cached

  // Rewritten in place: the cached descriptor sees it, the read is refused.
  WriteFile(path, "version two");
  SetMtime(path, 1700000100);
  EXPECT_EQ(src->Read(v1, 0, Bytes(buf)).status().code(), StatusCode::kFailedPrecondition);
  const ObjectRef v2 = RefOf(*src, "/v");
  EXPECT_NE(v2.version, v1.version);
  Result<size_t> n = src->Read(v2, 0, Bytes(buf));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(buf.substr(0, *n), "version two");

  // Replaced by rename: the old version is still served, whole, from its open descriptor.
  WriteFile(root_ + "/v.new", "version 3!!");
  SetMtime(root_ + "/v.new", 1700000200);
  ASSERT_EQ(::rename((root_ + "/v.new").c_str(), path.c_str()), 0);
  n = src->Read(v2, 0, Bytes(buf));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(buf.substr(0, *n), "version two");
  // A fresh source has no such descriptor: it refuses.
  auto fresh = Open();
  EXPECT_EQ(fresh->Read(v2, 0, Bytes(buf)).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(FileSourceTest, FewHandlesManyFiles) {
  for (int i = 0; i < 5; ++i)
    WriteFile(root_ + "/f" + std::to_string(i), std::string(100, 'a' + i));
  RemoteOptions options;
  options.max_open_files = 1;
  auto src = Open(options);
  std::vector<ObjectRef> refs;
  for (int i = 0; i < 5; ++i) refs.push_back(RefOf(*src, "/f" + std::to_string(i)));
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 5; ++i) {
      std::string buf(100, '\0');
      Result<size_t> n = src->Read(refs[i], 0, Bytes(buf));
      ASSERT_TRUE(n.ok());
      EXPECT_EQ(buf, std::string(100, 'a' + i));
    }
  }
}

TEST_F(FileSourceTest, BadRootsAndPaths) {
  WriteFile(root_ + "/file", "x");
  EXPECT_EQ(FileSource::Open(root_ + "/file", {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(FileSource::Open(root_ + "/missing", {}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(FileSource::Open("relative", {}).status().code(), StatusCode::kInvalidArgument);
  auto src = Open();
  std::string buf(4, '\0');
  EXPECT_EQ(src->Stat("/../etc").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(src->Read({"/..", "", 4}, 0, Bytes(buf)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(src->Read({"/", "", 4}, 0, Bytes(buf)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(src->Stat("/file/below").status().code(), StatusCode::kNotFound);
  std::vector<ReadRange> ranges(1);
  ranges[0].out = Bytes(buf);
  EXPECT_EQ(src->ReadV({"/missing", "", 4}, ranges).code(), StatusCode::kNotFound);
  EXPECT_EQ(ranges[0].status.code(), StatusCode::kNotFound);
  EXPECT_EQ(src->Describe(), "file://" + root_);
}

}  // namespace
}  // namespace hoardfs
