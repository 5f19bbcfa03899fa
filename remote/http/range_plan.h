// RangePlan: the ranges of one ObjectSource::ReadV call as an HTTP backend sends them. Ranges are
// reset (bytes_read 0, status OK), those empty or past the end of the file dropped, the rest
// clamped to the file size, sorted by offset and coalesced into groups: a range joins the group
// before it when the gap is at most `max_gap` and the group stays within `max_span` bytes. One
// group is one ranged GET (or one part of a multi-range GET); its bytes are scattered to its
// members (Scatter(), GroupSink()). Finish() hands every group's status to its members.
// CheckReadVTarget() is the argument check both backends make before planning.
//
// Thread-safety: none (one ReadV call owns its plan).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "remote/http/http_client.h"
#include "remote/object_source.h"

namespace hoardfs::http {

struct RangeGroup {
  uint64_t start = 0;
  uint64_t end = 0;               // exclusive
  std::vector<size_t> members;    // indices into the call's ranges, by offset
  std::vector<uint64_t> max_end;  // running maximum of the members' ends
  Status status = Status::Aborted("not read");
};

// The argument check of a ReadV of an HTTP backend: `ref.path` must be a valid object path
// (object_path.h) and not "/". If it is not, every range gets the error (bytes_read 0) and it is
// returned; "/" is kInvalidArgument "<describe>: / is a directory". Else OK, ranges untouched.
Status CheckReadVTarget(const ObjectRef& ref, std::string_view describe,
                        std::span<ReadRange> ranges);

// Copies `data`, the bytes at `offset` of the file, into every member of `group` that covers
// them (members that end at or before `offset` are passed over by `max_end`, unread).
void Scatter(const RangeGroup& group, std::span<ReadRange> ranges, uint64_t offset,
             std::span<const std::byte> data);

// A sink for the body of the ranged GET of `group`: its bytes, in order from group.start, are
// scattered to the members; a byte past group.end is kCorruption "<what>: the server sent more
// than the range asked for". REQUIRES: `group` and `ranges` outlive the sink.
BodySink GroupSink(const RangeGroup& group, std::span<ReadRange> ranges, const std::string& what);

class RangePlan {
 public:
  RangePlan(std::span<ReadRange> ranges, uint64_t file_size, uint64_t max_gap, uint64_t max_span);

  std::vector<RangeGroup>& groups() { return groups_; }
  // Bytes range i asks for, clamped to the file size.
  uint64_t LengthOf(size_t i) const;

  // Sets each member's status (and bytes_read, when its group was read). OK when any group was
  // read; else every range gets the first group's status, which is returned (nothing was read).
  Status Finish();

 private:
  std::span<ReadRange> ranges_;
  uint64_t file_size_;
  std::vector<RangeGroup> groups_;
};

}  // namespace hoardfs::http
