// FUSE-over-io_uring's part of the kernel's FUSE protocol (7.42, Linux 6.14's
// include/uapi/linux/fuse.h and Documentation/filesystems/fuse-io-uring.rst). Debian 12's
// linux/fuse.h is 7.38 and has none of it, so the few definitions used are restated here, by
// their documented layout.
//
// A server registers request entries on queues (one queue per possible CPU), each entry an
// IORING_OP_URING_CMD on /dev/fuse (a ring set up with IORING_SETUP_SQE128) carrying two
// buffers: a UringReqHeader and a payload. A completed command is a request in that entry; the
// reply goes back, with the fetch of the entry's next request, as kUringCmdCommitAndFetch.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>

namespace hoardfs::fuse_uring {

// FUSE_INIT flag (bit 9 of flags2): the server will take requests by io_uring.
inline constexpr uint64_t kInitOverIoUring = 1ULL << 41;

// Commands (the SQE's cmd_op).
inline constexpr uint32_t kCmdRegister = 1;
inline constexpr uint32_t kCmdCommitAndFetch = 2;

struct EntInOut {
  uint64_t flags;
  uint64_t commit_id;   // the kernel's; sent back with the reply
  uint32_t payload_sz;  // bytes in the payload buffer (request, then reply)
  uint32_t padding;
  uint64_t reserved;
};

// The first buffer of an entry.
struct ReqHeader {
  char in_out[128];  // fuse_in_header of the request; the server puts its fuse_out_header here
  char op_in[128];   // the request's per-op header (fuse_read_in, ...), if it has one
  EntInOut ent;
};

// The command area of the SQE (80 bytes from kSqeCmdOffset, IORING_SETUP_SQE128).
struct CmdReq {
  uint64_t flags;
  uint64_t commit_id;
  uint16_t qid;
  uint8_t padding[6];
};
inline constexpr size_t kSqeCmdOffset = 48;
static_assert(offsetof(io_uring_sqe, addr3) == kSqeCmdOffset);
static_assert(sizeof(CmdReq) <= 80);

// The smallest payload buffer the kernel accepts: max(FUSE_MIN_READ_BUFFER, max_write,
// max_pages * page size) of the connection (fs/fuse/dev_uring.c).
inline constexpr size_t kMinPayloadBytes = 8192;

}  // namespace hoardfs::fuse_uring
