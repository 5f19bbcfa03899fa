// UringTransport: FUSE-over-io_uring (Linux 6.14+, the kernel's
// Documentation/filesystems/fuse-io-uring.rst) under a libfuse 3.14 session, which itself knows
// only /dev/fuse. Opt-in: the mount option `-o io_uring` (FuseOptions::io_uring).
//
// How:
//  - Attach() hooks the session's reads and writes of /dev/fuse (fuse_session_custom_io). When
//    the kernel offers the transport in FUSE_INIT (the fuse module's enable_uring parameter),
//    libfuse's INIT reply is given the flag; once the kernel took it, one queue per possible CPU
//    registers `depth` request entries on the io_uring of one thread of its own. The
//    kernel sends requests by the rings from then on; forgets and interrupts still come by
//    /dev/fuse, which libfuse's loop keeps serving, as it serves everything if the kernel does
//    not offer the transport or a queue cannot be set up (then the hooks only pass through).
//  - A warm small read (Filesystem::PlanRead) is served on the queue's thread without waiting:
//    its cache read is an IORING_OP_READ on the same ring, straight into the entry's payload
//    buffer; on completion the chunks are verified (Filesystem::FinishRead) and the reply is
//    committed with the fetch of the entry's next request, one SQE. A read whose block the
//    fetcher holds in memory (Filesystem::MemoryRead: a stream's readahead) is copied into the
//    entry and committed at once. The rings pay off only for requests served so: a request
//    handed to a thread and back costs more than they save (docs/benchmarks.md, sessions of
//    2026-12-02 from 11:00 and from 14:31 UTC).
//  - Every other request, and a planned read that missed, is rebuilt in /dev/fuse form and run
//    by one of `workers` threads through libfuse (fuse_session_process_buf), so the handlers are
//    fuse_server.cc's, unchanged. libfuse's reply is caught in the write hook by its unique,
//    copied into the entry, and handed back to the queue's thread (an eventfd its ring polls),
//    which alone submits to its ring.
//
// Lifetime: Attach() after fuse_session_mount() and before the session loop; destroy after the
// loop returned and the session was unmounted (the kernel then ends the rings' commands) and
// before the session and the Filesystem. The destructor stops the workers, then the queues.
//
// Thread-safety: the hooks run on libfuse's loop threads and on the workers; everything else is
// internal.
#pragma once

#include <memory>

#include "common/result.h"

struct fuse_session;

namespace hoardfs {

class Filesystem;

struct UringTransportOptions {
  unsigned depth = 16;    // request entries per queue: a queue takes its CPU's requests
  unsigned workers = 16;  // threads for the requests not served on a queue's thread
};

class UringTransport {
 public:
  // Hooks `session` (mounted, fd `fuse_fd`). kInvalidArgument for depth or workers of 0;
  // kInternal when libfuse refuses the hooks.
  static Result<std::unique_ptr<UringTransport>> Attach(struct fuse_session* session, int fuse_fd,
                                                        Filesystem* fs,
                                                        const UringTransportOptions& options);
  ~UringTransport();
  UringTransport(const UringTransport&) = delete;
  UringTransport& operator=(const UringTransport&) = delete;

  class Impl;

 private:
  explicit UringTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hoardfs
