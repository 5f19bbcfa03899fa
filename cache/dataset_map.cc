#include "cache/dataset_map.h"

#include <algorithm>

#include "cache/block_key.h"

namespace hoardfs {

DatasetMap::DatasetMap(std::vector<std::string> prefixes, unsigned depth)
    : prefixes_(std::move(prefixes)), depth_(depth == 0 ? 1 : depth) {
  std::sort(prefixes_.begin(), prefixes_.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() > b.size() : a < b;
  });
}

std::string DatasetMap::Resolve(std::string_view path) const {
  for (const std::string& prefix : prefixes_) {
    if (PathHasPrefix(path, prefix) && path != prefix) return prefix;
  }
  // The first min(depth, components - 1) components: the file name is never a dataset.
  size_t end = 0;
  unsigned taken = 0;
  while (taken < depth_) {
    const size_t next = path.find('/', end + 1);
    if (next == std::string_view::npos) break;  // the rest is the file name
    end = next;
    ++taken;
  }
  return taken == 0 ? std::string("/") : std::string(path.substr(0, end));
}

std::string DatasetMap::Fingerprint() const {
  std::string f = "depth=" + std::to_string(depth_);
  for (const std::string& p : prefixes_) f += ";" + p;
  return f;
}

}  // namespace hoardfs
