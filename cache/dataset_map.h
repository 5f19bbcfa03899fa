// DatasetMap: which dataset a cached file belongs to, for per-prefix usage ("how many bytes of
// /store/data/Run2024 does this node hold"). A dataset is the longest configured prefix that
// contains the path (segment-aware), or else the directory made of the path's first `depth`
// components (never the file itself: "/a/f" at depth 2 belongs to "/a"; "/f" to "/").
// Thread-safety: immutable after construction; const methods may run concurrently.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hoardfs {

class DatasetMap {
 public:
  // `prefixes`: absolute paths without trailing '/'. `depth` >= 1.
  DatasetMap(std::vector<std::string> prefixes, unsigned depth);

  std::string Resolve(std::string_view path) const;
  // A stable text form of the configuration, persisted to detect changes between runs.
  std::string Fingerprint() const;

 private:
  std::vector<std::string> prefixes_;  // longest first
  unsigned depth_;
};

}  // namespace hoardfs
