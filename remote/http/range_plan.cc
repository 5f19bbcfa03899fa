#include "remote/http/range_plan.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "remote/object_path.h"

namespace hoardfs::http {

Status CheckReadVTarget(const ObjectRef& ref, std::string_view describe,
                        std::span<ReadRange> ranges) {
  Status bad = ValidateObjectPath(ref.path);
  if (bad.ok() && ref.path == "/") {
    bad = Status::InvalidArgument(std::string(describe) + ": / is a directory");
  }
  if (!bad.ok()) {
    for (ReadRange& r : ranges) {
      r.bytes_read = 0;
      r.status = bad;
    }
  }
  return bad;
}

void Scatter(const RangeGroup& group, std::span<ReadRange> ranges, uint64_t offset,
             std::span<const std::byte> data) {
  const uint64_t end = offset + data.size();
  size_t k = std::lower_bound(group.max_end.begin(), group.max_end.end(), offset + 1) -
             group.max_end.begin();
  for (; k < group.members.size(); ++k) {
    ReadRange& r = ranges[group.members[k]];
    if (r.offset >= end) break;  // members are sorted by offset
    const uint64_t from = std::max(r.offset, offset);
    const uint64_t to = std::min<uint64_t>(r.offset + r.out.size(), end);
    if (from >= to) continue;
    std::memcpy(r.out.data() + (from - r.offset), data.data() + (from - offset), to - from);
  }
}

BodySink GroupSink(const RangeGroup& group, std::span<ReadRange> ranges, const std::string& what) {
  auto pos = std::make_shared<uint64_t>(group.start);
  return [pos, &group, ranges, what](std::span<const std::byte> chunk) {
    if (*pos + chunk.size() > group.end) {
      return Status::Corruption(what + ": the server sent more than the range asked for");
    }
    Scatter(group, ranges, *pos, chunk);
    *pos += chunk.size();
    return Status::Ok();
  };
}

RangePlan::RangePlan(std::span<ReadRange> ranges, uint64_t file_size, uint64_t max_gap,
                     uint64_t max_span)
    : ranges_(ranges), file_size_(file_size) {
  std::vector<size_t> order;
  for (size_t i = 0; i < ranges.size(); ++i) {
    ranges[i].bytes_read = 0;
    ranges[i].status = Status::Ok();
    if (ranges[i].offset < file_size && !ranges[i].out.empty()) order.push_back(i);
  }
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return ranges[a].offset < ranges[b].offset; });
  for (size_t i : order) {
    const uint64_t start = ranges[i].offset;
    const uint64_t end = start + LengthOf(i);
    if (groups_.empty() || start > groups_.back().end + max_gap ||
        std::max(end, groups_.back().end) - groups_.back().start > max_span) {
      groups_.push_back(RangeGroup{.start = start, .end = end});
    }
    RangeGroup& g = groups_.back();
    g.end = std::max(g.end, end);
    g.members.push_back(i);
    g.max_end.push_back(g.end);
  }
}

uint64_t RangePlan::LengthOf(size_t i) const {
  return std::min<uint64_t>(ranges_[i].out.size(), file_size_ - ranges_[i].offset);
}

Status RangePlan::Finish() {
  if (groups_.empty()) return Status::Ok();
  bool any_ok = false;
  for (const RangeGroup& g : groups_) {
    any_ok = any_ok || g.status.ok();
    for (size_t i : g.members) {
      ranges_[i].status = g.status;
      ranges_[i].bytes_read = g.status.ok() ? static_cast<size_t>(LengthOf(i)) : 0;
    }
  }
  if (any_ok) return Status::Ok();
  const Status first = groups_.front().status;
  for (ReadRange& r : ranges_) r.status = first;
  return first;
}

}  // namespace hoardfs::http
