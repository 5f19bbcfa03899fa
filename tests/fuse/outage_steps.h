// The preparation steps the outage tests share (mount_test.cc: a stopped and a hung xrootd;
// backend_mount_test.cc: a stopped server per backend, a hung HTTP server): pick the files to
// cache, read them through the mount, stat the ones left uncached, wait until the cached ones are
// in the block cache, and drop the kernel's copies so later reads reach the daemon.
//
// The void functions report with gtest fatal assertions: call them inside
// ASSERT_NO_FATAL_FAILURE so the test stops where it stopped before.
//
// Thread-safety: functions of their arguments; run on the test thread (gtest assertions).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tests/fuse/mount_fixture.h"

namespace hoardfs::testing {

// The files an outage test reads from the cache: the space and unicode files, then every file
// under /small/d0/ (in `expected`'s order).
std::vector<std::string> OutageCachedFiles(const ExpectedTree& expected);

// Reads each of `files` under `mnt` whole and asserts its SHA-256 is the one in `expected`.
void ReadAllVerified(const std::string& mnt, const std::vector<std::string>& files,
                     const ExpectedTree& expected);

// Asserts each of `files` under `mnt` can be stat()ed (its attributes then known to the mount).
void StatAll(const std::string& mnt, const std::vector<std::string>& files);

// Polls user.hoardfs.cached_bytes of `path` for up to 10 s until it is `size` (the block cache's
// writer works in the background): the last value, or nullopt (errno set) if getxattr failed.
std::optional<std::string> AwaitCachedBytes(const std::string& path, uint64_t size);

// Drops the kernel's cached pages of `path` (POSIX_FADV_DONTNEED): reads then reach the daemon.
void DropPageCache(const std::string& path);

}  // namespace hoardfs::testing
