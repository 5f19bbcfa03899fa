#include "remote/fake_source.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace hoardfs {
namespace {

std::span<std::byte> Bytes(std::string& s) {
  return std::as_writable_bytes(std::span<char>(s.data(), s.size()));
}

ObjectRef RefOf(FakeSource& fake, const std::string& path) {
  Result<ObjectInfo> info = fake.Stat(path);
  EXPECT_TRUE(info.ok()) << info.status().ToString();
  return {path, info.ok() ? info->version : "", info.ok() ? info->size : 0};
}

std::string ReadAll(FakeSource& fake, const ObjectRef& ref, uint64_t offset = 0,
                    size_t len = 1 << 20) {
  std::string buf(len, '\0');
  Result<size_t> n = fake.Read(ref, offset, Bytes(buf));
  EXPECT_TRUE(n.ok()) << n.status().ToString();
  buf.resize(n.ok() ? *n : 0);
  return buf;
}

TEST(FakeSourceTest, TreeStatListRead) {
  FakeSource fake;
  fake.AddFile("/a/b/c.txt", "hello");
  fake.AddDirectory("/empty");
  fake.AddSymlink("/a/link", "b/c.txt");

  Result<ObjectInfo> root = fake.Stat("/");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->type, ObjectType::kDirectory);
  EXPECT_EQ(root->name, "");
  Result<ObjectInfo> b = fake.Stat("/a/b");  // parents were created
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->type, ObjectType::kDirectory);
  Result<ObjectInfo> c = fake.Stat("/a/b/c.txt");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->type, ObjectType::kFile);
  EXPECT_EQ(c->size, 5u);
  EXPECT_EQ(c->name, "c.txt");
  EXPECT_EQ(c->version, "5-" + std::to_string(c->mtime_ns));
  Result<ObjectInfo> link = fake.Stat("/a/link");
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(link->type, ObjectType::kSymlink);
  EXPECT_EQ(link->symlink_target, "b/c.txt");
  EXPECT_EQ(fake.Stat("/nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(fake.Stat("nope").status().code(), StatusCode::kInvalidArgument);

  Result<ListPage> top = fake.List("/", "");
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top->entries.size(), 2u);
  EXPECT_EQ(top->entries[0].name, "a");
  EXPECT_EQ(top->entries[1].name, "empty");
  EXPECT_TRUE(top->next_token.empty());
  Result<ListPage> a = fake.List("/a", "");
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->entries.size(), 2u);  // "b" and "link", not b's children
  EXPECT_EQ(fake.List("/a/b/c.txt", "").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(fake.List("/missing", "").status().code(), StatusCode::kNotFound);

  const ObjectRef ref = RefOf(fake, "/a/b/c.txt");
  EXPECT_EQ(ReadAll(fake, ref), "hello");
  EXPECT_EQ(ReadAll(fake, ref, 2, 2), "ll");
  EXPECT_EQ(ReadAll(fake, ref, 5), "");
  EXPECT_EQ(ReadAll(fake, ref, 100), "");
  std::string buf(4, '\0');
  EXPECT_EQ(fake.Read({"/nope", "", 1}, 0, Bytes(buf)).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(fake.Read({"/a", "", 1}, 0, Bytes(buf)).status().code(), StatusCode::kInvalidArgument);
}

TEST(FakeSourceTest, ListPagesInNameOrder) {
  FakeSource::Options options;
  options.list_page_size = 3;
  FakeSource fake(options);
  std::vector<std::string> names = {"b", "a b", "a", "c", "a-", "d/x", "e", "a/deep"};
  for (const std::string& n : names) fake.AddFile("/dir/" + n, n);
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    Result<ListPage> page = fake.List("/dir", token);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    EXPECT_LE(page->entries.size(), 3u);
    for (const ObjectInfo& e : page->entries) seen.push_back(e.name);
    token = page->next_token;
    ++pages;
  } while (!token.empty() && pages < 10);
  // "a" and "d" became directories when "a/deep" and "d/x" were added.
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "a b", "a-", "b", "c", "d", "e"}));
  EXPECT_EQ(pages, 3);
}

TEST(FakeSourceTest, ReplacingAFileChangesItsVersion) {
  FakeSource fake;
  fake.AddFile("/f", "one");
  const ObjectRef v1 = RefOf(fake, "/f");
  fake.AddFile("/f", "two");  // same size, later mtime
  const ObjectRef v2 = RefOf(fake, "/f");
  EXPECT_NE(v1.version, v2.version);
  std::string buf(3, '\0');
  EXPECT_EQ(fake.Read(v1, 0, Bytes(buf)).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReadAll(fake, v2), "two");
  fake.AddFile("/f", "x", 12345);
  EXPECT_EQ(fake.Peek("/f")->mtime_ns, 12345);
  EXPECT_TRUE(fake.Remove("/f"));
  EXPECT_FALSE(fake.Remove("/f"));
  EXPECT_EQ(fake.Read(v2, 0, Bytes(buf)).status().code(), StatusCode::kNotFound);
  fake.AddFile("/d/x", "1");
  EXPECT_TRUE(fake.Remove("/d"));
  EXPECT_EQ(fake.Stat("/d/x").status().code(), StatusCode::kNotFound);
}

TEST(FakeSourceTest, FailNextAndDrop) {
  FakeSource fake;
  fake.AddFile("/f", "data");
  const ObjectRef ref = RefOf(fake, "/f");
  fake.FailNext(2, Status::PermissionDenied("nope"), FakeSource::kReadOp);
  EXPECT_TRUE(fake.Stat("/f").ok());  // not a read
  std::string buf(4, '\0');
  EXPECT_EQ(fake.Read(ref, 0, Bytes(buf)).status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(fake.Read(ref, 0, Bytes(buf)).status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(ReadAll(fake, ref), "data");

  fake.SetDropped(true);
  EXPECT_EQ(fake.Stat("/f").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(fake.List("/", "").status().code(), StatusCode::kUnavailable);
  std::vector<ReadRange> ranges(2);
  ranges[0].out = Bytes(buf);
  ranges[1].out = Bytes(buf);
  EXPECT_EQ(fake.ReadV(ref, ranges).code(), StatusCode::kUnavailable);
  EXPECT_EQ(ranges[0].status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(ranges[1].status.code(), StatusCode::kUnavailable);
  fake.SetDropped(false);
  EXPECT_TRUE(fake.Stat("/f").ok());

  const FakeSource::Counters c = fake.counters();
  EXPECT_EQ(c.reads, 3u);
  EXPECT_EQ(c.stats, 4u);  // RefOf, the one between the failed reads, dropped, after
  EXPECT_EQ(c.lists, 1u);
  EXPECT_EQ(c.readvs, 1u);
  EXPECT_EQ(c.readv_ranges, 2u);
  EXPECT_EQ(c.bytes_read, 4u);
  EXPECT_EQ(c.failures, 5u);  // 2 injected reads, dropped stat, list, readv
  fake.ResetCounters();
  EXPECT_EQ(fake.counters().reads, 0u);
}

TEST(FakeSourceTest, SizeLieAndGarbage) {
  FakeSource fake;
  fake.AddFile("/f", "0123456789");
  fake.SetSizeLie("/f", 5);
  const ObjectRef lied = RefOf(fake, "/f");
  EXPECT_EQ(lied.size, 15u);
  Result<ListPage> page = fake.List("/", "");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->entries[0].size, 15u);
  std::string buf(15, '\0');
  Result<size_t> n = fake.Read(lied, 0, Bytes(buf));
  EXPECT_EQ(n.status().code(), StatusCode::kCorruption);  // the body is shorter than it said
  EXPECT_EQ(ReadAll(fake, lied, 0, 10), "0123456789");    // the real bytes are still fine
  fake.SetSizeLie("/f", -4);
  const ObjectRef shrunk = RefOf(fake, "/f");
  EXPECT_EQ(ReadAll(fake, shrunk), "012345");
  fake.SetSizeLie("/f", 0);

  fake.SetGarbage("/f", true);
  const ObjectRef ref = RefOf(fake, "/f");
  const std::string got = ReadAll(fake, ref);
  ASSERT_EQ(got.size(), 10u);
  EXPECT_NE(got, "0123456789");
  EXPECT_EQ(static_cast<char>(got[0] ^ 0x5A), '0');
  fake.SetGarbage("/f", false);
  fake.SetGarbage("", true);
  EXPECT_NE(ReadAll(fake, ref), "0123456789");
  fake.ClearFaults();
  EXPECT_EQ(ReadAll(fake, ref), "0123456789");
}

TEST(FakeSourceTest, ReadVPerRange) {
  FakeSource fake;
  fake.AddFile("/f", "abcdefghij");
  const ObjectRef ref = RefOf(fake, "/f");
  std::string b1(3, '\0'), b2(5, '\0'), b3(2, '\0');
  std::vector<ReadRange> ranges(3);
  ranges[0].offset = 0;
  ranges[0].out = Bytes(b1);
  ranges[1].offset = 8;  // short at the end
  ranges[1].out = Bytes(b2);
  ranges[2].offset = 20;  // past the end
  ranges[2].out = Bytes(b3);
  ASSERT_TRUE(fake.ReadV(ref, ranges).ok());
  EXPECT_EQ(b1, "abc");
  EXPECT_EQ(ranges[1].bytes_read, 2u);
  EXPECT_EQ(b2.substr(0, 2), "ij");
  EXPECT_EQ(ranges[2].bytes_read, 0u);
  for (const ReadRange& r : ranges) EXPECT_TRUE(r.status.ok());
  EXPECT_EQ(fake.ReadCount("/f"), 1u);
}

TEST(FakeSourceTest, DelayAndPause) {
  FakeSource fake;
  fake.AddFile("/f", "x");
  const ObjectRef ref = RefOf(fake, "/f");
  fake.SetDelay(std::chrono::milliseconds(50));
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(fake.Stat("/f").ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(45));
  fake.SetDelay(std::chrono::milliseconds(0));

  fake.SetReadsPaused(true);
  std::atomic<int> done{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i) {
    readers.emplace_back([&] {
      std::string buf(1, '\0');
      if (fake.Read(ref, 0, Bytes(buf)).ok()) ++done;
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(done.load(), 0);
  EXPECT_TRUE(fake.Stat("/f").ok());  // only reads pause
  fake.SetReadsPaused(false);
  for (auto& t : readers) t.join();
  EXPECT_EQ(done.load(), 4);
  EXPECT_EQ(fake.ReadCount("/f"), 4u);
}

TEST(FakeSourceTest, ConcurrentEditsAndReads) {
  FakeSource fake;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      fake.AddFile("/f" + std::to_string(i % 10),
                   std::string(100, static_cast<char>('a' + i % 26)));
      if (i % 7 == 0) (void)fake.Remove("/f" + std::to_string((i + 3) % 10));
    }
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        const std::string path = "/f" + std::to_string(i % 10);
        Result<ObjectInfo> info = fake.Stat(path);
        if (!info.ok()) continue;
        std::string buf(100, '\0');
        Result<size_t> n = fake.Read({path, info->version, info->size}, 0, Bytes(buf));
        if (n.ok()) {
          // One version: all bytes equal.
          EXPECT_EQ(buf, std::string(100, buf[0]));
        } else {
          EXPECT_TRUE(n.status().code() == StatusCode::kFailedPrecondition ||
                      n.status().code() == StatusCode::kNotFound)
              << n.status().ToString();
        }
        (void)fake.List("/", "");
      }
    });
  }
  for (auto& t : readers) t.join();
  stop = true;
  writer.join();
}

}  // namespace
}  // namespace hoardfs
