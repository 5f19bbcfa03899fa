#include "cache/block_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/aligned_buffer.h"
#include "tests/cache/fault_injecting_block_store.h"
#include "tests/cache/test_dir.h"

namespace hoardfs {
namespace {

using testing::FaultInjectingBlockStore;
using testing::TestDir;

constexpr uint32_t kBlock = 64 * 1024;

// File k of the full-size class (class 0).
std::string DataFile(uint64_t k) { return BlockStore::FileName(kBlock, k); }

BlockStoreOptions SmallOptions(const std::string& dir) {
  BlockStoreOptions o;
  o.dir = dir;
  o.block_size = kBlock;
  o.slots_per_file = 8;
  o.grow_step_slots = 8;
  o.free_space_floor_bytes = 0;
  o.queue_depth = 8;
  return o;
}

std::unique_ptr<BlockStore> OpenOrDie(const BlockStoreOptions& o) {
  auto r = BlockStore::Open(o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

// Deterministic content of (slot, generation): readers verify without keeping copies.
void FillPattern(std::byte* p, size_t len, uint32_t slot, uint64_t gen) {
  uint64_t x = (uint64_t{slot} << 20) ^ (gen * 0x9E3779B97F4A7C15ull) ^ 0x1234567;
  for (size_t i = 0; i < len; i += 8) {
    x += 0x9E3779B97F4A7C15ull;  // splitmix64
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    std::memcpy(p + i, &z, std::min<size_t>(8, len - i));
  }
}

bool MatchesPattern(const std::byte* p, size_t len, uint32_t slot, uint64_t gen) {
  std::vector<std::byte> expect(len);
  FillPattern(expect.data(), len, slot, gen);
  return std::memcmp(p, expect.data(), len) == 0;
}

// Writes `slots` with the pattern of generation `gen`, full blocks; expects success.
void WriteSlots(BlockStore& store, uint32_t first, uint32_t count, uint64_t gen) {
  std::vector<AlignedBuffer> bufs;
  std::vector<BlockIo> ops;
  for (uint32_t s = first; s < first + count; ++s) {
    bufs.emplace_back(store.block_size());
    FillPattern(bufs.back().data(), store.block_size(), s, gen);
  }
  for (uint32_t i = 0; i < count; ++i) {
    ops.push_back({first + i, store.block_size(), bufs[i].data(), Status::Aborted("unset")});
  }
  store.Write(ops);
  for (const BlockIo& op : ops) ASSERT_TRUE(op.status.ok()) << op.status.ToString();
}

// Reads one full slot; returns its status and (if OK) whether it matches the pattern.
Status ReadSlot(BlockStore& store, uint32_t slot, uint64_t gen, bool* matches) {
  AlignedBuffer buf(store.block_size());
  BlockIo op{slot, store.block_size(), buf.data(), Status::Aborted("unset")};
  store.Read(std::span<BlockIo>(&op, 1));
  if (op.status.ok()) *matches = MatchesPattern(buf.data(), store.block_size(), slot, gen);
  return op.status;
}

// Independent check of the I/O mode: the O_DIRECT flag of our open fds on `path`.
// Returns -1 if no fd is open on it, else 0/1.
int FdHasODirect(const std::string& path) {
  const std::string want = std::filesystem::canonical(path).string();
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(e.path(), ec);
    if (ec || target.string() != want) continue;
    std::ifstream info("/proc/self/fdinfo/" + e.path().filename().string());
    std::string key;
    std::string value;
    while (info >> key >> value) {
      if (key == "flags:") return (std::stoul(value, nullptr, 8) & O_DIRECT) != 0 ? 1 : 0;
    }
  }
  return -1;
}

// Whether the filesystem of `dir` accepts O_DIRECT (open + one aligned write).
bool FilesystemAcceptsODirect(const std::string& dir) {
  const std::string path = dir + "/probe";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_DIRECT, 0600);
  if (fd < 0) return false;
  AlignedBuffer page(4096);
  std::memset(page.data(), 0, 4096);
  bool ok = pwrite(fd, page.data(), 4096, 0) == 4096;
  close(fd);
  unlink(path.c_str());
  return ok;
}

// ---------------------------------------------------------------------------------------------

TEST(BlockStoreOptionsTest, InvalidOptionsAreRejected) {
  TestDir dir;
  struct Case {
    const char* what;
    void (*mutate)(BlockStoreOptions&);
  };
  const Case cases[] = {
      {"block_size", [](BlockStoreOptions& o) { o.block_size = 0; }},
      {"block_size", [](BlockStoreOptions& o) { o.block_size = 2048; }},
      {"block_size", [](BlockStoreOptions& o) { o.block_size = 4096 + 512; }},
      {"slots_per_file", [](BlockStoreOptions& o) { o.slots_per_file = 0; }},
      {"grow_step_slots", [](BlockStoreOptions& o) { o.grow_step_slots = 0; }},
      {"queue_depth", [](BlockStoreOptions& o) { o.queue_depth = 0; }},
      {"dir", [](BlockStoreOptions& o) { o.dir.clear(); }},
  };
  for (const Case& c : cases) {
    BlockStoreOptions o = SmallOptions(dir.path());
    c.mutate(o);
    auto r = BlockStore::Open(o);
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
    EXPECT_NE(r.status().message().find(c.what), std::string::npos) << r.status().ToString();
  }
  BlockStoreOptions ok = SmallOptions(dir.path());
  ok.block_size = 4096;
  ok.queue_depth = 1;
  EXPECT_TRUE(BlockStore::Open(ok).ok());
}

TEST(BlockStoreOpenTest, MissingDirectoryIsNotFound) {
  TestDir dir;
  const std::string missing = dir.Sub("does-not-exist");
  auto r = BlockStore::Open(SmallOptions(missing));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find(missing), std::string::npos) << r.status().ToString();
}

TEST(BlockStoreOpenTest, DirectoryThatIsAFileIsRejected) {
  TestDir dir;
  const std::string file = dir.Sub("file");
  std::ofstream(file) << "x";
  auto r = BlockStore::Open(SmallOptions(file));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(file), std::string::npos) << r.status().ToString();
}

// Makes a directory unwritable even for root (the immutable attribute), or reports that it cannot.
bool SetImmutable(const std::string& path, bool on) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return false;
  int flags = 0;
  bool ok = ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
  flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
  ok = ok && ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
  close(fd);
  return ok;
}

TEST(BlockStoreOpenTest, UnwritableDirectoryFails) {
  TestDir dir;
  const std::string ro = dir.Sub("ro");
  ASSERT_EQ(mkdir(ro.c_str(), 0500), 0);
  if (geteuid() == 0 && !SetImmutable(ro, true)) {
    GTEST_SKIP() << "root without CAP_LINUX_IMMUTABLE: cannot make a directory unwritable";
  }
  struct Restore {  // so TestDir can remove it even if an assertion fails
    std::string path;
    ~Restore() {
      if (geteuid() == 0) SetImmutable(path, false);
    }
  } restore{ro};
  for (bool direct : {true, false}) {
    BlockStoreOptions o = SmallOptions(ro);
    o.use_direct_io = direct;
    auto r = BlockStore::Open(o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied) << r.status().ToString();
    EXPECT_NE(r.status().message().find(ro), std::string::npos) << r.status().ToString();
  }
}

TEST(BlockStoreOpenTest, NewStoreHasOneEmptyFileAndNoCapacity) {
  TestDir dir;
  auto store = OpenOrDie(SmallOptions(dir.path()));
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->capacity_slots(), 0u);
  EXPECT_EQ(store->block_size(), kBlock);
  EXPECT_TRUE(std::filesystem::exists(dir.Sub(DataFile(0))));
  EXPECT_FALSE(std::filesystem::exists(dir.Sub(".direct-io-probe")));
}

// ---------------------------------------------------------------------------------------------
// Round trips, in direct and buffered mode.

class BlockStoreModeTest : public ::testing::TestWithParam<bool> {
 protected:
  BlockStoreOptions Options() {
    BlockStoreOptions o = SmallOptions(dir_.path());
    o.use_direct_io = GetParam();
    return o;
  }
  TestDir dir_;
};

TEST_P(BlockStoreModeTest, ReportsTheModeActuallyInUse) {
  auto store = OpenOrDie(Options());
  ASSERT_NE(store, nullptr);
  const bool expect_direct = GetParam() && FilesystemAcceptsODirect(dir_.path());
  EXPECT_EQ(store->direct_io(), expect_direct);
  EXPECT_EQ(FdHasODirect(dir_.Sub(DataFile(0))), expect_direct ? 1 : 0);
}

TEST_P(BlockStoreModeTest, WriteThenReadBackRandomBlocks) {
  auto store = OpenOrDie(Options());
  ASSERT_NE(store, nullptr);
  constexpr uint32_t kSlots = 40;  // 5 files
  ASSERT_TRUE(store->EnsureCapacity(kSlots).ok());

  std::mt19937 rng(42);
  std::vector<uint32_t> slots(kSlots);
  for (uint32_t i = 0; i < kSlots; ++i) slots[i] = i;
  std::shuffle(slots.begin(), slots.end(), rng);
  std::vector<uint32_t> lengths(kSlots);
  for (uint32_t i = 0; i < kSlots; ++i) {
    lengths[i] = std::uniform_int_distribution<uint32_t>(1, kBlock)(rng);
  }
  lengths[kSlots - 1] = 12345;  // a short last block, not a multiple of 4096
  lengths[0] = kBlock;

  std::vector<AlignedBuffer> out;
  std::vector<BlockIo> writes;
  for (uint32_t i = 0; i < kSlots; ++i) {
    out.emplace_back(lengths[i]);
    FillPattern(out[i].data(), lengths[i], slots[i], 7);
  }
  for (uint32_t i = 0; i < kSlots; ++i) {
    writes.push_back({slots[i], lengths[i], out[i].data(), Status::Aborted("unset")});
  }
  store->Write(writes);
  for (const BlockIo& op : writes) ASSERT_TRUE(op.status.ok()) << op.status.ToString();

  // Read back in a different order, into buffers full of garbage.
  std::shuffle(slots.begin(), slots.end(), rng);
  std::vector<AlignedBuffer> in;
  std::vector<BlockIo> reads;
  std::vector<uint32_t> len_of(kSlots);  // slot -> length written
  for (const BlockIo& w : writes) len_of[w.slot] = w.length;
  for (uint32_t i = 0; i < kSlots; ++i) {
    in.emplace_back(len_of[slots[i]]);
    std::memset(in[i].data(), 0xAA, in[i].capacity());
  }
  for (uint32_t i = 0; i < kSlots; ++i) {
    reads.push_back({slots[i], len_of[slots[i]], in[i].data(), Status::Aborted("unset")});
  }
  store->Read(reads);
  for (uint32_t i = 0; i < kSlots; ++i) {
    ASSERT_TRUE(reads[i].status.ok()) << reads[i].status.ToString();
    EXPECT_TRUE(MatchesPattern(in[i].data(), reads[i].length, reads[i].slot, 7))
        << "slot " << reads[i].slot << " length " << reads[i].length;
  }
}

// Ops to adjacent slots of one data file go to the kernel as one transfer (writev): one trip
// through the filesystem for a run of a sparse read's pieces instead of one per piece. Whatever
// the order of the ops, a short block, a file boundary, a bad op or the transfer limit only split
// the run, and every byte lands in its own slot.
TEST_P(BlockStoreModeTest, AdjacentSlotsAreWrittenInOneTransfer) {
  auto store = OpenOrDie(Options());
  ASSERT_NE(store, nullptr);
  const unsigned c16k = 2, c4k = 4;  // 64 KiB blocks: classes 64K, 32K, 16K, 8K, 4K
  ASSERT_EQ(store->classes().size(c16k), 16384u);
  // 512 KiB files: 32 slots of 16 KiB, 128 of 4 KiB per file.
  ASSERT_TRUE(store->Allocate(c16k, 0, 40).ok());
  ASSERT_TRUE(store->Allocate(c4k, 0, 100).ok());

  struct Want {
    uint32_t slot, length;
  };
  std::vector<Want> written;
  std::vector<AlignedBuffer> keep;  // buffers of every write, alive until the end
  // Writes `ops` in one batch; returns the number of transfers it took. `bad` gets a misaligned
  // buffer (refused without I/O).
  auto write = [&](std::vector<Want> ops, uint32_t bad = UINT32_MAX) {
    std::vector<BlockIo> io;
    for (const Want& w : ops) {
      keep.emplace_back(w.length + 4096);
      std::byte* buf = keep.back().data() + (w.slot == bad ? 512 : 0);
      FillPattern(buf, w.length, w.slot, 5);
      io.push_back({w.slot, w.length, buf, Status::Aborted("unset")});
    }
    const uint64_t before = store->write_transfers();
    store->Write(io);
    for (const BlockIo& op : io) {
      if (op.slot == bad) {
        EXPECT_EQ(op.status.code(), StatusCode::kInvalidArgument) << op.status.ToString();
      } else {
        EXPECT_TRUE(op.status.ok()) << op.slot << ": " << op.status.ToString();
        written.push_back({op.slot, op.length});
      }
    }
    return store->write_transfers() - before;
  };
  auto s16 = [&](uint32_t i) { return SlotId(c16k, i); };
  auto s4 = [&](uint32_t i) { return SlotId(c4k, i); };

  // Ten adjacent slots, in shuffled order: one transfer.
  std::vector<Want> run;
  for (uint32_t i : {3u, 0u, 9u, 1u, 7u, 2u, 8u, 4u, 6u, 5u}) run.push_back({s16(i), 16384});
  EXPECT_EQ(write(run), 1u);
  // A short block ends a run (its padding does not reach the next slot).
  EXPECT_EQ(write({{s16(10), 16384}, {s16(11), 16384}, {s16(12), 5000}, {s16(13), 16384}}), 2u);
  // A run across a file boundary (slot 32 starts the second file).
  EXPECT_EQ(write({{s16(30), 16384}, {s16(31), 16384}, {s16(32), 16384}, {s16(33), 16384}}), 2u);
  // A bad op in the middle fails alone; its neighbours are written.
  EXPECT_EQ(write({{s16(20), 16384}, {s16(21), 16384}, {s16(22), 16384}}, s16(21)), 2u);
  // Other classes and slots far apart: a transfer each.
  EXPECT_EQ(write({{s16(15), 16384}, {s4(50), 4096}, {s16(25), 16384}}), 3u);
  // 100 adjacent pages: 64 ops per transfer at most.
  run.clear();
  for (uint32_t i = 0; i < 100; ++i) run.push_back({s4(i == 50 ? 99 : i), 4096});
  run[99] = {s4(50), 4096};
  EXPECT_EQ(write(run), 2u);

  std::vector<AlignedBuffer> in;
  std::vector<BlockIo> reads;
  for (const Want& w : written) in.emplace_back(w.length);
  for (size_t i = 0; i < written.size(); ++i) {
    std::memset(in[i].data(), 0xAA, in[i].capacity());
    reads.push_back({written[i].slot, written[i].length, in[i].data(), Status::Aborted("unset")});
  }
  store->Read(reads);
  for (const BlockIo& op : reads) {
    ASSERT_TRUE(op.status.ok()) << op.status.ToString();
    EXPECT_TRUE(MatchesPattern(static_cast<std::byte*>(op.buf), op.length, op.slot, 5))
        << "slot " << op.slot;
  }
}

// Reads that follow each other in a batch and lie side by side in one data file are one transfer
// (readv): a sparse read's pieces, written to consecutive slots, come back in one or two trips
// instead of one per piece. Order, a short block, a file boundary and the op and byte limits split
// a run; every op still gets its own bytes and its own completion.
TEST_P(BlockStoreModeTest, AdjacentReadsAreOneTransfer) {
  BlockStoreOptions o = Options();
  o.slots_per_file = 32;  // 2 MiB files: 32 slots of 64 KiB, 128 of 16 KiB, 512 of 4 KiB
  o.grow_step_slots = 32;
  auto store = OpenOrDie(o);
  ASSERT_NE(store, nullptr);
  const unsigned c64k = 0, c16k = 2, c4k = 4;
  ASSERT_TRUE(store->Allocate(c64k, 0, 20).ok());
  ASSERT_TRUE(store->Allocate(c16k, 0, 140).ok());
  ASSERT_TRUE(store->Allocate(c4k, 0, 70).ok());
  auto s64 = [&](uint32_t i) { return SlotId(c64k, i); };
  auto s16 = [&](uint32_t i) { return SlotId(c16k, i); };
  auto s4 = [&](uint32_t i) { return SlotId(c4k, i); };
  struct Want {
    uint32_t slot, length;
  };
  std::vector<Want> all;
  for (uint32_t i = 0; i < 20; ++i) all.push_back({s64(i), 65536});
  for (uint32_t i = 0; i < 140; ++i) all.push_back({s16(i), i == 10 ? 5000u : 16384u});
  for (uint32_t i = 0; i < 70; ++i) all.push_back({s4(i), 4096});
  {
    std::vector<AlignedBuffer> bufs;
    std::vector<BlockIo> io;
    for (const Want& w : all) {
      bufs.emplace_back(w.length);
      FillPattern(bufs.back().data(), w.length, w.slot, 9);
      io.push_back({w.slot, w.length, bufs.back().data(), Status::Aborted("unset")});
    }
    store->Write(io);
    for (const BlockIo& op : io) ASSERT_TRUE(op.status.ok()) << op.status.ToString();
  }
  auto length_of = [&](uint32_t slot) {
    for (const Want& w : all) {
      if (w.slot == slot) return w.length;
    }
    return 0u;
  };
  // Reads `slots` in one batch; checks each op's bytes and that it completed exactly once;
  // returns the number of transfers it took.
  auto read = [&](const std::vector<uint32_t>& slots) {
    std::vector<AlignedBuffer> bufs;
    std::vector<BlockIo> io;
    for (uint32_t slot : slots) {
      bufs.emplace_back(length_of(slot));
      std::memset(bufs.back().data(), 0xAA, bufs.back().capacity());
      io.push_back({slot, length_of(slot), bufs.back().data(), Status::Aborted("unset")});
    }
    std::vector<int> completions(io.size(), 0);
    const uint64_t before = store->read_transfers();
    store->Read(io, [&](BlockIo& op) { ++completions[static_cast<size_t>(&op - io.data())]; });
    for (size_t i = 0; i < io.size(); ++i) {
      EXPECT_EQ(completions[i], 1) << "slot " << io[i].slot;
      EXPECT_TRUE(io[i].status.ok()) << io[i].status.ToString();
      EXPECT_TRUE(MatchesPattern(static_cast<std::byte*>(io[i].buf), io[i].length, io[i].slot, 9))
          << "slot " << io[i].slot;
    }
    return store->read_transfers() - before;
  };

  // Ten adjacent slots in file order: one transfer.
  std::vector<uint32_t> run;
  for (uint32_t i = 0; i < 10; ++i) run.push_back(s16(i));
  EXPECT_EQ(read(run), 1u);
  // Only ops that follow each other merge: 0 1 2 | 5 6 | 3.
  EXPECT_EQ(read({s16(0), s16(1), s16(2), s16(5), s16(6), s16(3)}), 3u);
  // A short block ends a run (its padding does not reach the next slot) but may close one.
  EXPECT_EQ(read({s16(8), s16(9), s16(10), s16(11), s16(12)}), 2u);
  // A run across a file boundary (slot 128 starts the second file of the class).
  EXPECT_EQ(read({s16(126), s16(127), s16(128), s16(129)}), 2u);
  // Classes apart: the pages of a basket's two edges and its chunks.
  EXPECT_EQ(read({s4(0), s4(1), s16(20), s16(21), s16(22), s4(2), s4(3)}), 3u);
  // 70 adjacent pages: 64 ops per transfer at most.
  run.clear();
  for (uint32_t i = 0; i < 70; ++i) run.push_back(s4(i));
  EXPECT_EQ(read(run), 2u);
  // 1 MiB per transfer at most: 16 blocks of 64 KiB are one, 17 are two.
  run.clear();
  for (uint32_t i = 0; i < 16; ++i) run.push_back(s64(i));
  EXPECT_EQ(read(run), 1u);
  run.push_back(s64(16));
  EXPECT_EQ(read(run), 2u);
}

// A read from an offset inside the slot returns those bytes of the block (partial block reads).
TEST_P(BlockStoreModeTest, ReadFromAnOffsetInsideTheSlot) {
  auto store = OpenOrDie(Options());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->EnsureCapacity(4).ok());
  WriteSlots(*store, 0, 4, 3);
  const uint32_t bs = store->block_size();
  std::vector<std::byte> whole(bs);
  FillPattern(whole.data(), bs, 2, 3);
  for (const uint32_t offset : {4096u, bs / 2, bs - 4096}) {
    for (const uint32_t length : {1u, 4096u, 5000u}) {
      if (offset + length > bs) continue;
      AlignedBuffer buf(length);
      BlockIo op{2, length, buf.data(), Status::Aborted("unset"), offset};
      store->Read(std::span<BlockIo>(&op, 1));
      ASSERT_TRUE(op.status.ok()) << op.status.ToString();
      EXPECT_EQ(std::memcmp(buf.data(), whole.data() + offset, length), 0)
          << offset << "+" << length;
    }
  }
  // Outside the contract: unaligned, past the slot's end, or a write at an offset.
  AlignedBuffer buf(8192);
  BlockIo bad[] = {{2, 100, buf.data(), {}, 100},
                   {2, 8192, buf.data(), {}, bs - 4096},
                   {2, 4096, buf.data(), {}, bs}};
  store->Read(bad);
  for (const BlockIo& op : bad) EXPECT_EQ(op.status.code(), StatusCode::kInvalidArgument);
  BlockIo write{1, 4096, buf.data(), {}, 4096};
  store->Write(std::span<BlockIo>(&write, 1));
  EXPECT_EQ(write.status.code(), StatusCode::kInvalidArgument);
}

TEST_P(BlockStoreModeTest, DataSurvivesReopen) {
  {
    auto store = OpenOrDie(Options());
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->EnsureCapacity(12).ok());
    WriteSlots(*store, 0, 12, 3);
  }
  auto store = OpenOrDie(Options());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->capacity_slots(), 16u);  // 12 rounded up to the grow step of 8
  for (uint32_t s = 0; s < 12; ++s) {
    bool matches = false;
    ASSERT_TRUE(ReadSlot(*store, s, 3, &matches).ok());
    EXPECT_TRUE(matches) << s;
  }
}

// A data file truncated behind the store's back: slots past the new end fail, never garbage.
TEST_P(BlockStoreModeTest, TruncatedDataFileFailsReadsAndShrinksCapacityOnReopen) {
  {
    auto store = OpenOrDie(Options());
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->EnsureCapacity(16).ok());
    WriteSlots(*store, 0, 16, 5);
    ASSERT_EQ(truncate(dir_.Sub(DataFile(0)).c_str(), 2 * kBlock + kBlock / 2), 0);

    bool matches = false;
    EXPECT_TRUE(ReadSlot(*store, 1, 5, &matches).ok());
    EXPECT_TRUE(matches);
    for (uint32_t s : {2u, 3u, 7u}) {  // 2 is cut in half, 3 and 7 are gone
      Status st = ReadSlot(*store, s, 5, &matches);
      ASSERT_FALSE(st.ok()) << "slot " << s;
      EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.ToString();
      EXPECT_NE(st.message().find("slot " + std::to_string(s)), std::string::npos) << st.ToString();
    }
    EXPECT_TRUE(ReadSlot(*store, 10, 5, &matches).ok());  // the other file is intact
    EXPECT_TRUE(matches);
  }
  auto store = OpenOrDie(Options());
  ASSERT_NE(store, nullptr);
  // File 0 now holds 2 whole slots; file 1 is not counted past the short file 0.
  EXPECT_EQ(store->capacity_slots(), 2u);
  bool matches = false;
  Status st = ReadSlot(*store, 3, 5, &matches);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  // Growing again refills file 0 and brings file 1 back; old bytes of file 1 are still there.
  ASSERT_TRUE(store->EnsureCapacity(16).ok());
  EXPECT_EQ(store->capacity_slots(), 16u);
  EXPECT_TRUE(ReadSlot(*store, 10, 5, &matches).ok());
  EXPECT_TRUE(matches);
}

INSTANTIATE_TEST_SUITE_P(Modes, BlockStoreModeTest, ::testing::Values(true, false),
                         [](const auto& p) { return p.param ? "Direct" : "Buffered"; });

// ---------------------------------------------------------------------------------------------
// Batching and completion callbacks

TEST(BlockStoreTest, OnCompleteRunsOncePerOpAsOpsComplete) {
  TestDir dir;
  BlockStoreOptions o = SmallOptions(dir.path());
  o.queue_depth = 4;
  o.slots_per_file = 64;
  o.grow_step_slots = 64;
  auto store = OpenOrDie(o);
  ASSERT_NE(store, nullptr);
  constexpr uint32_t kOps = 50;
  ASSERT_TRUE(store->EnsureCapacity(kOps).ok());
  WriteSlots(*store, 0, kOps, 9);

  std::vector<AlignedBuffer> bufs;
  std::vector<BlockIo> ops;
  for (uint32_t i = 0; i < kOps; ++i) bufs.emplace_back(kBlock);
  for (uint32_t i = 0; i < kOps; ++i) {
    ops.push_back({i, kBlock, bufs[i].data(), Status::Aborted("pending")});
  }
  // Two extra ops that fail validation still get exactly one callback.
  AlignedBuffer extra(kBlock);
  ops.push_back({9999, kBlock, extra.data(), Status::Aborted("pending")});
  ops.push_back({1, 0, extra.data(), Status::Aborted("pending")});

  std::vector<int> calls(ops.size(), 0);
  size_t pending_at_first_callback = 0;
  bool first = true;
  store->Read(ops, [&](BlockIo& op) {
    const size_t index = static_cast<size_t>(&op - ops.data());
    ASSERT_LT(index, ops.size());
    ++calls[index];
    EXPECT_NE(op.status.code(), StatusCode::kAborted) << "callback before completion";
    if (op.status.ok()) {
      EXPECT_TRUE(MatchesPattern(bufs[index].data(), kBlock, op.slot, 9)) << op.slot;
    }
    if (first) {
      first = false;
      for (const BlockIo& other : ops) {
        pending_at_first_callback += other.status.code() == StatusCode::kAborted ? 1 : 0;
      }
    }
  });
  for (size_t i = 0; i < ops.size(); ++i) EXPECT_EQ(calls[i], 1) << "op " << i;
  for (uint32_t i = 0; i < kOps; ++i) EXPECT_TRUE(ops[i].status.ok()) << ops[i].status.ToString();
  EXPECT_EQ(ops[kOps].status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ops[kOps + 1].status.code(), StatusCode::kInvalidArgument);
  // With 4 in flight out of 52, callbacks must start long before the batch is done.
  EXPECT_GE(pending_at_first_callback, kOps - 8);
}

TEST(BlockStoreTest, WriteBatchLargerThanQueueDepth) {
  TestDir dir;
  BlockStoreOptions o = SmallOptions(dir.path());
  o.queue_depth = 4;
  auto store = OpenOrDie(o);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->EnsureCapacity(50).ok());
  WriteSlots(*store, 0, 50, 11);  // 50 ops, 7 files, depth 4
  for (uint32_t s = 0; s < 50; ++s) {
    bool matches = false;
    ASSERT_TRUE(ReadSlot(*store, s, 11, &matches).ok());
    EXPECT_TRUE(matches) << s;
  }
}

TEST(BlockStoreTest, OpsOutsideTheContractFailWithoutIo) {
  TestDir dir;
  auto store = OpenOrDie(SmallOptions(dir.path()));
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->EnsureCapacity(8).ok());
  ASSERT_EQ(store->capacity_slots(), 8u);
  AlignedBuffer buf(kBlock + 4096);
  std::vector<BlockIo> ops = {
      {8, kBlock, buf.data(), {}},        // beyond capacity
      {1000000, kBlock, buf.data(), {}},  // far beyond
      {0, 0, buf.data(), {}},             // empty
      {0, kBlock + 1, buf.data(), {}},    // longer than a block
      {0, kBlock, nullptr, {}},           // no buffer
      {0, 4096, buf.data() + 512, {}},    // misaligned buffer
  };
  store->Read(ops);
  for (const BlockIo& op : ops) {
    EXPECT_EQ(op.status.code(), StatusCode::kInvalidArgument) << op.status.ToString();
  }
  for (BlockIo& op : ops) op.status = Status::Ok();
  store->Write(ops);
  for (const BlockIo& op : ops) {
    EXPECT_EQ(op.status.code(), StatusCode::kInvalidArgument) << op.status.ToString();
  }
  EXPECT_EQ(store->EnsureCapacity((uint64_t{1} << 32) + 1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->capacity_slots(), 8u);
  // Nothing was written past the capacity.
  EXPECT_EQ(std::filesystem::file_size(dir.Sub(DataFile(0))), 8u * kBlock);
  EXPECT_FALSE(std::filesystem::exists(dir.Sub(DataFile(1))));
}

// ---------------------------------------------------------------------------------------------
// Growth

TEST(BlockStoreTest, EnsureCapacityGrowsAcrossFilesInSteps) {
  TestDir dir;
  BlockStoreOptions o = SmallOptions(dir.path());
  o.grow_step_slots = 3;
  {
    auto store = OpenOrDie(o);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->EnsureCapacity(20).ok());
    // Files 0 and 1 full (8 each); file 2 needs 4, rounded up to the step: 6.
    EXPECT_EQ(store->capacity_slots(), 22u);
    EXPECT_EQ(std::filesystem::file_size(dir.Sub(DataFile(0))), 8u * kBlock);
    EXPECT_EQ(std::filesystem::file_size(dir.Sub(DataFile(1))), 8u * kBlock);
    EXPECT_EQ(std::filesystem::file_size(dir.Sub(DataFile(2))), 6u * kBlock);
    ASSERT_TRUE(store->EnsureCapacity(22).ok());
    EXPECT_EQ(store->capacity_slots(), 22u);
    ASSERT_TRUE(store->EnsureCapacity(23).ok());  // 7 rounded to 9, capped at the file's 8
    EXPECT_EQ(store->capacity_slots(), 24u);
    ASSERT_TRUE(store->EnsureCapacity(25).ok());  // file 3: 1 rounded to 3
    EXPECT_EQ(store->capacity_slots(), 27u);
    EXPECT_FALSE(std::filesystem::exists(dir.Sub(DataFile(4))));
    struct stat st {};
    ASSERT_EQ(stat(dir.Sub(DataFile(3)).c_str(), &st), 0);
    EXPECT_GE(static_cast<uint64_t>(st.st_blocks) * 512, 3u * kBlock) << "not preallocated";
    WriteSlots(*store, 0, 27, 13);
  }
  auto store = OpenOrDie(o);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->capacity_slots(), 27u);
  for (uint32_t s = 0; s < 27; ++s) {
    bool matches = false;
    ASSERT_TRUE(ReadSlot(*store, s, 13, &matches).ok()) << s;
    EXPECT_TRUE(matches) << s;
  }
}

TEST(BlockStoreTest, FreeSpaceFloorStopsGrowthButNotIo) {
  TestDir dir;
  BlockStoreOptions o = SmallOptions(dir.path());
  {
    auto store = OpenOrDie(o);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->EnsureCapacity(8).ok());
    WriteSlots(*store, 0, 8, 17);
  }
  o.free_space_floor_bytes = uint64_t{1} << 60;  // 1 EiB: no disk has that much free
  auto store = OpenOrDie(o);
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(store->capacity_slots(), 8u);
  Status st = store->EnsureCapacity(9);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << st.ToString();
  EXPECT_NE(st.message().find(dir.path()), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find(std::to_string(o.free_space_floor_bytes)), std::string::npos);
  EXPECT_EQ(store->capacity_slots(), 8u);
  EXPECT_EQ(std::filesystem::file_size(dir.Sub(DataFile(0))), 8u * kBlock);
  EXPECT_FALSE(std::filesystem::exists(dir.Sub(DataFile(1))));
  EXPECT_TRUE(store->EnsureCapacity(8).ok());  // nothing to grow: the floor does not matter
  WriteSlots(*store, 3, 1, 18);
  for (uint32_t s = 0; s < 8; ++s) {
    bool matches = false;
    ASSERT_TRUE(ReadSlot(*store, s, s == 3 ? 18 : 17, &matches).ok());
    EXPECT_TRUE(matches) << s;
  }
}

// ---------------------------------------------------------------------------------------------
// Concurrency

TEST(BlockStoreTest, ConcurrentReadersWhileGrowing) {
  TestDir dir;
  BlockStoreOptions o = SmallOptions(dir.path());
  o.slots_per_file = 16;
  o.grow_step_slots = 4;
  o.queue_depth = 4;
  auto store = OpenOrDie(o);
  ASSERT_NE(store, nullptr);
  constexpr uint32_t kWritten = 64;
  ASSERT_TRUE(store->EnsureCapacity(kWritten).ok());
  WriteSlots(*store, 0, kWritten, 21);

  std::atomic<int> bad{0};
  std::atomic<int> failed{0};
  std::atomic<bool> stop{false};
  std::thread grower([&] {
    for (uint64_t target = kWritten + 1; target <= kWritten + 64 && !stop.load(); target += 3) {
      if (!store->EnsureCapacity(target).ok()) failed.fetch_add(1);
    }
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 8; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      std::vector<AlignedBuffer> bufs;
      for (int i = 0; i < 6; ++i) bufs.emplace_back(kBlock);
      std::vector<BlockIo> ops(6);
      for (int round = 0; round < 60; ++round) {
        for (size_t i = 0; i < ops.size(); ++i) {
          ops[i] = {std::uniform_int_distribution<uint32_t>(0, kWritten - 1)(rng), kBlock,
                    bufs[i].data(), Status::Aborted("pending")};
        }
        std::atomic<int> callbacks{0};
        store->Read(ops, [&](BlockIo& op) {
          callbacks.fetch_add(1);
          const size_t i = static_cast<size_t>(&op - ops.data());
          if (!op.status.ok()) {
            failed.fetch_add(1);
          } else if (!MatchesPattern(bufs[i].data(), kBlock, op.slot, 21)) {
            bad.fetch_add(1);
          }
        });
        if (callbacks.load() != static_cast<int>(ops.size())) failed.fetch_add(1);
      }
    });
  }
  for (auto& r : readers) r.join();
  stop.store(true);
  grower.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GE(store->capacity_slots(), kWritten + 1);
}

// ---------------------------------------------------------------------------------------------
// Buffered fallback

TEST(BlockStoreTest, SimulatedODirectRefusalFallsBackToBufferedIo) {
  TestDir dir;
  internal::SimulateODirectRefusalForTesting(true);
  auto store = OpenOrDie(SmallOptions(dir.path()));
  internal::SimulateODirectRefusalForTesting(false);
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(store->direct_io());
  EXPECT_EQ(FdHasODirect(dir.Sub(DataFile(0))), 0);
  ASSERT_TRUE(store->EnsureCapacity(4).ok());
  // Buffered I/O transfers exactly `length`: bytes of the buffer past it stay untouched.
  AlignedBuffer out(5000);
  FillPattern(out.data(), 5000, 2, 1);
  BlockIo w{2, 5000, out.data(), {}};
  store->Write(std::span<BlockIo>(&w, 1));
  ASSERT_TRUE(w.status.ok()) << w.status.ToString();
  AlignedBuffer in(5000);
  std::memset(in.data(), 0xAA, in.capacity());
  BlockIo r{2, 5000, in.data(), {}};
  store->Read(std::span<BlockIo>(&r, 1));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_TRUE(MatchesPattern(in.data(), 5000, 2, 1));
  for (size_t i = 5000; i < in.capacity(); ++i) {
    ASSERT_EQ(in.data()[i], std::byte{0xAA}) << "byte " << i;
  }
}

TEST(BlockStoreTest, TmpfsStoreWorks) {
  if (!std::filesystem::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm";
  std::string tmpl = "/dev/shm/hoardfs-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  struct Cleanup {
    std::string path;
    ~Cleanup() { std::filesystem::remove_all(path); }
  } cleanup{tmpl};
  // tmpfs refused O_DIRECT before Linux 6.6 and accepts it since: the store must report
  // whichever is true here, and work either way.
  const bool accepts = FilesystemAcceptsODirect(tmpl);
  auto store = OpenOrDie(SmallOptions(tmpl));
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->direct_io(), accepts);
  EXPECT_EQ(FdHasODirect(tmpl + "/" + DataFile(0)), accepts ? 1 : 0);
  ASSERT_TRUE(store->EnsureCapacity(16).ok());
  WriteSlots(*store, 0, 16, 23);
  for (uint32_t s = 0; s < 16; ++s) {
    bool matches = false;
    ASSERT_TRUE(ReadSlot(*store, s, 23, &matches).ok());
    EXPECT_TRUE(matches) << s;
  }
}

// ---------------------------------------------------------------------------------------------
// The fault-injecting wrapper

TEST(FaultInjectingBlockStoreTest, KnobsInjectAndCount) {
  TestDir dir;
  auto inner = OpenOrDie(SmallOptions(dir.path()));
  ASSERT_NE(inner, nullptr);
  FaultInjectingBlockStore store(std::move(inner));
  ASSERT_TRUE(store.EnsureCapacity(4).ok());
  WriteSlots(store, 0, 4, 31);

  store.set_fail_ensure_capacity(true);
  EXPECT_EQ(store.EnsureCapacity(100).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(store.capacity_slots(), 8u);
  EXPECT_EQ(store.injected_capacity_failures(), 1u);
  store.set_fail_ensure_capacity(false);

  std::vector<AlignedBuffer> bufs;
  for (int i = 0; i < 3; ++i) bufs.emplace_back(kBlock);
  std::vector<BlockIo> ops;
  for (uint32_t i = 0; i < 3; ++i) ops.push_back({i, kBlock, bufs[i].data(), {}});

  store.set_fail_reads(true);
  int callbacks = 0;
  store.Read(ops, [&](BlockIo&) { ++callbacks; });
  EXPECT_EQ(callbacks, 3);
  for (const BlockIo& op : ops) EXPECT_EQ(op.status.code(), StatusCode::kIOError);
  EXPECT_EQ(store.injected_read_failures(), 3u);
  store.set_fail_reads(false);

  store.set_corrupt_reads(true);
  store.Read(ops, [&](BlockIo& op) {
    EXPECT_TRUE(op.status.ok());
    const size_t i = static_cast<size_t>(&op - ops.data());
    EXPECT_FALSE(MatchesPattern(bufs[i].data(), kBlock, op.slot, 31)) << "not corrupted";
  });
  EXPECT_EQ(store.injected_corruptions(), 3u);
  store.set_corrupt_reads(false);
  store.Read(ops);
  for (uint32_t i = 0; i < 3; ++i) EXPECT_TRUE(MatchesPattern(bufs[i].data(), kBlock, i, 31));

  store.set_fail_writes(true);
  for (uint32_t i = 0; i < 3; ++i) FillPattern(bufs[i].data(), kBlock, i, 32);
  store.Write(ops);
  for (const BlockIo& op : ops) EXPECT_EQ(op.status.code(), StatusCode::kIOError);
  EXPECT_EQ(store.injected_write_failures(), 3u);
  store.set_fail_writes(false);
  bool matches = false;
  ASSERT_TRUE(ReadSlot(store, 1, 31, &matches).ok());
  EXPECT_TRUE(matches) << "a failed write must not reach the disk";
}

// ---------------------------------------------------------------------------------------------
// Size classes (cache format v2)

TEST(SizeClassesTest, PowersOfTwoFromTheBlockSizeDownTo4K) {
  SizeClasses mib(1u << 20);
  ASSERT_EQ(mib.count(), 9u);
  EXPECT_EQ(mib.size(0), 1u << 20);
  EXPECT_EQ(mib.size(8), 4096u);
  EXPECT_EQ(mib.For(1), 8u);
  EXPECT_EQ(mib.For(4096), 8u);
  EXPECT_EQ(mib.For(4097), 7u);            // 8 KiB
  EXPECT_EQ(mib.For(300000), 1u);          // 512 KiB
  EXPECT_EQ(mib.For((1u << 19) + 1), 0u);  // full size
  EXPECT_EQ(mib.For(1u << 20), 0u);
  SizeClasses odd(3 * 4096);  // not a power of two: 12 KiB, 8 KiB, 4 KiB
  ASSERT_EQ(odd.count(), 3u);
  EXPECT_EQ(odd.size(0), 3u * 4096);
  EXPECT_EQ(odd.size(1), 8192u);
  EXPECT_EQ(odd.For(9000), 0u);
  EXPECT_EQ(SizeClasses(4096).count(), 1u);
  EXPECT_EQ(SlotClass(SlotId(5, 77)), 5u);
  EXPECT_EQ(SlotIndex(SlotId(5, 77)), 77u);
  EXPECT_EQ(SlotId(0, 77), 77u);  // full-size slots keep dense ids
}

uint64_t AllocatedBytes(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_blocks) * 512 : 0;
}

TEST(BlockStoreClassTest, SmallClassesHaveTheirOwnFilesAndRoundTrip) {
  TestDir dir;
  auto store = OpenOrDie(SmallOptions(dir.path()));  // 64 KiB: classes 64K, 32K, 16K, 8K, 4K
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(store->classes().count(), 5u);
  const unsigned c4k = 4;
  EXPECT_EQ(store->class_slots(c4k), 0u);
  // 8 slots of 64 KiB per file = 128 slots of 4 KiB per file: 130 slots span two files.
  ASSERT_TRUE(store->Allocate(c4k, 0, 130).ok());
  EXPECT_EQ(store->class_slots(c4k), 130u);
  EXPECT_EQ(std::filesystem::file_size(dir.Sub(BlockStore::FileName(4096, 0))), 128u * 4096);
  EXPECT_EQ(std::filesystem::file_size(dir.Sub(BlockStore::FileName(4096, 1))), 2u * 4096);
  EXPECT_EQ(store->class_slots(0), 0u);  // other classes untouched

  std::vector<AlignedBuffer> bufs;
  std::vector<BlockIo> ops;
  for (uint32_t i = 0; i < 130; ++i) {
    const uint32_t len = 1 + i * 31;  // 1 .. 4000 bytes
    bufs.emplace_back(len);
    FillPattern(bufs.back().data(), len, SlotId(c4k, i), 1);
  }
  for (uint32_t i = 0; i < 130; ++i) {
    ops.push_back({SlotId(c4k, i), 1 + i * 31, bufs[i].data(), Status::Aborted("unset")});
  }
  store->Write(ops);
  for (const BlockIo& op : ops) ASSERT_TRUE(op.status.ok()) << op.status.ToString();
  // A block longer than its slot's class is refused without I/O.
  AlignedBuffer big(8192);
  BlockIo too_long{SlotId(c4k, 0), 8192, big.data(), Status::Aborted("unset")};
  store->Write(std::span<BlockIo>(&too_long, 1));
  EXPECT_EQ(too_long.status.code(), StatusCode::kInvalidArgument);
  // A class that does not exist has no slots.
  BlockIo no_class{SlotId(9, 0), 100, big.data(), Status::Aborted("unset")};
  store->Read(std::span<BlockIo>(&no_class, 1));
  EXPECT_EQ(no_class.status.code(), StatusCode::kInvalidArgument);

  store.reset();
  store = OpenOrDie(SmallOptions(dir.path()));
  EXPECT_EQ(store->class_slots(c4k), 130u);
  std::vector<AlignedBuffer> in;
  std::vector<BlockIo> reads;
  for (uint32_t i = 0; i < 130; ++i) in.emplace_back(1 + i * 31);
  for (uint32_t i = 0; i < 130; ++i) {
    reads.push_back({SlotId(c4k, i), 1 + i * 31, in[i].data(), Status::Aborted("unset")});
  }
  store->Read(reads);
  for (const BlockIo& op : reads) {
    ASSERT_TRUE(op.status.ok()) << op.status.ToString();
    EXPECT_TRUE(MatchesPattern(static_cast<std::byte*>(op.buf), op.length, op.slot, 1));
  }
}

TEST(BlockStoreClassTest, DeallocatePunchesHolesAndAllocateRefillsThem) {
  TestDir dir;
  BlockStoreOptions o = SmallOptions(dir.path());
  o.use_direct_io = false;
  auto store = OpenOrDie(o);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Allocate(0, 0, 8).ok());
  const std::string file = dir.Sub(DataFile(0));
  WriteSlots(*store, 0, 8, 4);
  ASSERT_GE(AllocatedBytes(file), 8u * kBlock);
  std::vector<uint32_t> punch = {2, 3, 4, 6};
  Status st = store->Deallocate(punch);
  if (st.code() == StatusCode::kNotSupported) GTEST_SKIP() << st.ToString();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_LE(AllocatedBytes(file), 4u * kBlock + 4096);
  EXPECT_EQ(std::filesystem::file_size(file), 8u * kBlock);  // KEEP_SIZE
  EXPECT_EQ(store->capacity_slots(), 8u);
  bool matches = false;
  ASSERT_TRUE(ReadSlot(*store, 5, 4, &matches).ok());  // neighbours untouched
  EXPECT_TRUE(matches);
  ASSERT_TRUE(ReadSlot(*store, 1, 4, &matches).ok());
  EXPECT_TRUE(matches);
  ASSERT_TRUE(store->Allocate(0, 2, 3).ok());  // refill holes 2..4
  EXPECT_GE(AllocatedBytes(file), 7u * kBlock);
  WriteSlots(*store, 2, 3, 5);
  ASSERT_TRUE(ReadSlot(*store, 3, 5, &matches).ok());
  EXPECT_TRUE(matches);
  // A gap below the range is refused.
  EXPECT_EQ(store->Allocate(0, 20, 1).code(), StatusCode::kInvalidArgument);
}

TEST(BlockStoreClassTest, FormatV1DataFilesAreRemovedAtOpen) {
  TestDir dir;
  std::ofstream(dir.Sub("data-0000.blk")) << "v1 bytes";
  std::ofstream(dir.Sub("data-0001.blk")) << "v1 bytes";
  std::ofstream(dir.Sub("notes.txt")) << "not ours";
  auto store = OpenOrDie(SmallOptions(dir.path()));
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("data-0000.blk")));
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("data-0001.blk")));
  EXPECT_TRUE(std::filesystem::exists(dir.Sub("notes.txt")));
}

}  // namespace
}  // namespace hoardfs
