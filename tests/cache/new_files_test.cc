// NewFiles (cache/new_files.h): which blocks a lookup may skip, and the races it must not lose: an
// insert pending while the caller seeks, or reported between the ticket and Learn(). Then the
// bounds. The block cache's use of it, against a real index: block_cache_test.
#include "cache/new_files.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hoardfs {
namespace {

using State = NewFiles::State;

const std::vector<uint32_t> kBlocks = {0, 1, 2, 7};

// Filter() of kBlocks: the state, and for kNew the blocks that may be held.
struct Filtered {
  State state;
  std::vector<bool> may_hold;
  uint64_t ticket;
};
Filtered FilterOf(NewFiles& files, const std::string& prefix) {
  Filtered f{};
  f.state = files.Filter(prefix, kBlocks, &f.may_hold, &f.ticket);
  return f;
}

TEST(NewFilesTest, AFileTheIndexHeldNothingOfSkipsAllButWhatWasInsertedSince) {
  NewFiles files(16, 1024);
  Filtered f = FilterOf(files, "/a");
  ASSERT_EQ(f.state, State::kUnknown);
  files.Learn("/a", /*has_entries=*/false, f.ticket);
  f = FilterOf(files, "/a");
  ASSERT_EQ(f.state, State::kNew);
  EXPECT_EQ(f.may_hold, (std::vector<bool>{false, false, false, false}));

  { NewFiles::Pending done = files.Inserted("/a", 2); }  // queued, committed, ended
  NewFiles::Pending pending = files.Inserted("/a", 7);   // queued
  f = FilterOf(files, "/a");
  ASSERT_EQ(f.state, State::kNew);
  EXPECT_EQ(f.may_hold, (std::vector<bool>{false, false, true, true}));
  EXPECT_EQ(files.blocks(), 2u);
  EXPECT_EQ(FilterOf(files, "/b").state, State::kUnknown) << "another file";
}

TEST(NewFilesTest, AFileTheIndexHeldEntriesOfIsLookedUpWhole) {
  NewFiles files(16, 1024);
  const Filtered f = FilterOf(files, "/a");
  files.Learn("/a", /*has_entries=*/true, f.ticket);
  EXPECT_EQ(FilterOf(files, "/a").state, State::kOld);
  NewFiles::Pending p = files.Inserted("/a", 1);
  EXPECT_EQ(files.blocks(), 0u) << "an old file's inserts need no remembering";
}

// An insert queued before the ticket may commit while the caller seeks: the seek's "nothing" is
// not learnt until it has ended.
TEST(NewFilesTest, NothingIsLearntWhileAnInsertOfTheStripeIsPending) {
  NewFiles files(16, 1024);
  std::optional<NewFiles::Pending> pending = files.Inserted("/a", 3);
  Filtered f = FilterOf(files, "/a");
  ASSERT_EQ(f.state, State::kUnknown);
  files.Learn("/a", /*has_entries=*/false, f.ticket);
  EXPECT_EQ(FilterOf(files, "/a").state, State::kUnknown) << "learnt during a pending insert";
  files.Learn("/a", /*has_entries=*/true, f.ticket);
  EXPECT_EQ(FilterOf(files, "/a").state, State::kOld) << "entries are sure at any time";

  NewFiles later(16, 1024);
  pending = later.Inserted("/b", 3);
  pending.reset();  // committed before the ticket: the seek sees it
  f = FilterOf(later, "/b");
  later.Learn("/b", /*has_entries=*/false, f.ticket);
  EXPECT_EQ(FilterOf(later, "/b").state, State::kNew);
}

// An insert reported after the ticket and before Learn() (it may have committed after the seek)
// voids the ticket; a moved token ends its insert once.
TEST(NewFilesTest, AnInsertBetweenTheTicketAndLearnVoidsIt) {
  NewFiles files(16, 1024);
  const Filtered f = FilterOf(files, "/a");
  NewFiles::Pending moved;
  {
    NewFiles::Pending p = files.Inserted("/a", 0);
    moved = std::move(p);
  }
  moved = NewFiles::Pending();  // ended
  files.Learn("/a", /*has_entries=*/false, f.ticket);
  EXPECT_EQ(FilterOf(files, "/a").state, State::kUnknown);
  const Filtered again = FilterOf(files, "/a");
  files.Learn("/a", /*has_entries=*/false, again.ticket);
  EXPECT_EQ(FilterOf(files, "/a").state, State::kNew) << "a pending count left behind";
}

TEST(NewFilesTest, BoundedInFilesAndInBlocks) {
  NewFiles files(2, 3);
  for (const char* p : {"/a", "/b"}) files.Learn(p, false, FilterOf(files, p).ticket);
  ASSERT_EQ(FilterOf(files, "/a").state, State::kNew);  // "/a" now the most recent
  files.Learn("/c", false, FilterOf(files, "/c").ticket);
  EXPECT_EQ(files.files(), 2u);
  EXPECT_EQ(FilterOf(files, "/b").state, State::kUnknown) << "the least recent not forgotten";
  EXPECT_EQ(FilterOf(files, "/a").state, State::kNew);

  for (uint32_t b = 0; b < 3; ++b) NewFiles::Pending p = files.Inserted("/a", b);
  EXPECT_EQ(files.blocks(), 3u);
  NewFiles::Pending p = files.Inserted("/c", 9);
  EXPECT_EQ(FilterOf(files, "/c").state, State::kOld) << "past the bound, looked up whole";
  EXPECT_EQ(FilterOf(files, "/a").state, State::kNew);
  EXPECT_EQ(files.blocks(), 3u);
}

}  // namespace
}  // namespace hoardfs
