// FileSource: an ObjectSource over a local or parallel-filesystem directory (file:///data).
// Cheap to run and the reference the other backends are tested against.
//
// - Paths resolve beneath the root directory's descriptor with openat2(RESOLVE_BENEATH |
//   RESOLVE_NO_SYMLINKS) (a component-by-component O_NOFOLLOW walk where openat2 is missing):
//   nothing outside the root is ever reached, through ".." or through a symlink.
// - Symlinks are reported (Stat, List) as kSymlink with their target, never followed: the
//   filesystem above resolves them through the mount like any other path. Read of a symlink is
//   kInvalidArgument. FIFOs, sockets and devices are not served (Stat: kNotSupported, List skips).
// - Stat is lstat; List is readdir + fstatat per entry (cheap locally), in name order, paged by
//   RemoteOptions::list_page_size with the last name returned as the page token.
// - version = "<size>-<mtime_ns>". Read re-checks the open file's size and mtime against
//   ref.version on every call and returns kFailedPrecondition when they differ. A file replaced
//   by rename keeps being served, consistently, from a descriptor that is still open on the old
//   inode (up to RemoteOptions::max_open_files descriptors are kept, LRU).
// - Transient errors (EAGAIN, ETIMEDOUT, ... from a network filesystem) are retried per
//   RemoteOptions; the timeout is not enforced (local syscalls do not take one).
//
// Thread-safety: thread-safe (see ObjectSource).
#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "remote/object_source.h"

namespace hoardfs {

class FileSource {
 public:
  // Opens the directory `root` (absolute). kNotFound if it does not exist, kInvalidArgument if it
  // is not a directory.
  static Result<std::unique_ptr<ObjectSource>> Open(const std::string& root,
                                                    const RemoteOptions& options);

  // Tests only: sources opened afterwards use the component-by-component walk, as on a kernel
  // without openat2, so that path is tested too.
  static void ForceWalkForTesting(bool on);
};

}  // namespace hoardfs
