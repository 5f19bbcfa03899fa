#include "daemon/mount_table.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <functional>
#include <map>
#include <set>

#include "common/hash.h"
#include "daemon/byte_size.h"
#include "remote/url.h"

namespace hoardfs {
namespace {

std::string_view Trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

Result<unsigned> ParseUnsigned(std::string_view v, unsigned min, unsigned max) {
  unsigned n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size() || n < min || n > max) {
    return Status::InvalidArgument("bad number '" + std::string(v) + "' (expected " +
                                   std::to_string(min) + ".." + std::to_string(max) + ")");
  }
  return n;
}

// "90", "90s", "5m", "1h", "1d" -> seconds (at most a year).
Result<unsigned> ParseDuration(std::string_view v) {
  unsigned scale = 1;
  std::string_view digits = v;
  if (!v.empty() && !std::isdigit(static_cast<unsigned char>(v.back()))) {
    switch (v.back()) {
      case 's':
        scale = 1;
        break;
      case 'm':
        scale = 60;
        break;
      case 'h':
        scale = 3600;
        break;
      case 'd':
        scale = 86400;
        break;
      default:
        scale = 0;
    }
    digits.remove_suffix(1);
  }
  unsigned n = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  constexpr uint64_t kMax = 365ull * 86400;
  if (scale == 0 || digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
      uint64_t{n} * scale > kMax) {
    return Status::InvalidArgument("bad duration '" + std::string(v) +
                                   "' (seconds, or a number with s, m, h or d; at most 365d)");
  }
  return n * scale;
}

Result<bool> ParseBool(std::string_view v) {
  if (v == "true" || v == "yes" || v == "on" || v == "1") return true;
  if (v == "false" || v == "no" || v == "off" || v == "0") return false;
  return Status::InvalidArgument("bad boolean '" + std::string(v) + "' (true or false)");
}

Result<std::string> ParseUrl(std::string_view v) {
  auto url = ParseRemoteUrl(v);
  if (!url.ok()) return url.status();
  return std::string(v);
}

Result<std::string> NonEmpty(std::string_view v) {
  if (v.empty()) return Status::InvalidArgument("empty value");
  return std::string(v);
}

// "/a/b/" -> "a/b"; rejects empty, ".", ".." and empty components.
Result<std::string> NormaliseMountPath(std::string_view raw) {
  std::string_view p = raw;
  while (!p.empty() && p.front() == '/') p.remove_prefix(1);
  while (!p.empty() && p.back() == '/') p.remove_suffix(1);
  if (p.empty()) {
    return Status::InvalidArgument(
        "mount path '" + std::string(raw) +
        "' is the mount point itself (mount a single URL for that: hoardfs mount URL DIR)");
  }
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string_view::npos) end = p.size();
    const std::string_view part = p.substr(start, end - start);
    if (part.empty() || part == "." || part == ".." || part.size() > 255 ||
        part.find('\0') != std::string_view::npos) {
      return Status::InvalidArgument("bad mount path '" + std::string(raw) +
                                     "' (empty, '.' or '..' component)");
    }
    start = end + 1;
  }
  return std::string(p);
}

// True if `a` is `b` or a directory containing it ("a" and "a/b"; not "a" and "ab").
bool Contains(const std::string& a, const std::string& b) {
  return b.compare(0, a.size(), a) == 0 && (b.size() == a.size() || b[a.size()] == '/');
}

bool LooksLikeSecret(std::string_view key) {
  for (std::string_view s : {"secret", "password", "token", "access_key", "passwd"}) {
    if (key.find(s) != std::string_view::npos) return true;
  }
  return false;
}

// A setter parses the value into the entry; its error is prefixed with the place by the caller.
using MountSetter = std::function<Status(std::string_view, MountTableEntry&)>;

template <typename F, typename T>
MountSetter Set(F parse, T MountTableEntry::*field) {
  return [parse, field](std::string_view v, MountTableEntry& e) -> Status {
    auto r = parse(v);
    if (!r.ok()) return r.status();
    e.*field = std::move(*r);
    return Status::Ok();
  };
}

const std::map<std::string, MountSetter, std::less<>>& MountKeys() {
  static const auto* keys = new std::map<std::string, MountSetter, std::less<>>{
      {"url", Set(ParseUrl, &MountTableEntry::url)},
      {"attr_ttl", Set(ParseDuration, &MountTableEntry::attr_ttl)},
      {"dir_ttl", Set(ParseDuration, &MountTableEntry::dir_ttl)},
      {"negative_ttl", Set(ParseDuration, &MountTableEntry::negative_ttl)},
      {"remote_timeout", Set(
                             [](std::string_view v) -> Result<unsigned> {
                               auto d = ParseDuration(v);
                               if (d.ok() && *d == 0)
                                 return Status::InvalidArgument("a timeout of 0");
                               return d;
                             },
                             &MountTableEntry::remote_timeout)},
      {"remote_attempts", Set([](std::string_view v) { return ParseUnsigned(v, 1, 100); },
                              &MountTableEntry::remote_attempts)},
      {"remote_down_retry", Set(ParseDuration, &MountTableEntry::remote_down_retry)},
      {"remote_down_retry_max", Set(ParseDuration, &MountTableEntry::remote_down_retry_max)},
      {"names_first", Set([](std::string_view v) { return ParseUnsigned(v, 0, 1u << 30); },
                          &MountTableEntry::names_first)},
      {"s3_endpoint", Set(NonEmpty, &MountTableEntry::s3_endpoint)},
      {"s3_region", Set(NonEmpty, &MountTableEntry::s3_region)},
      {"s3_virtual_host", Set(ParseBool, &MountTableEntry::s3_virtual_host)},
      {"s3_credentials_file", Set(NonEmpty, &MountTableEntry::s3_credentials_file)},
      {"bearer_token_file", Set(NonEmpty, &MountTableEntry::bearer_token_file)},
      {"bearer_token_to_other_hosts", Set(ParseBool, &MountTableEntry::token_to_other_hosts)},
      {"x509_proxy", Set(NonEmpty, &MountTableEntry::x509_proxy)},
      {"ca_path", Set(NonEmpty, &MountTableEntry::ca_path)},
      {"ca_file", Set(NonEmpty, &MountTableEntry::ca_file)},
  };
  return *keys;
}

std::string KnownKeys() {
  std::string out;
  for (const auto& [k, setter] : MountKeys()) out += (out.empty() ? "" : ", ") + k;
  return out;
}

}  // namespace

uint32_t RemoteIdOfMountPath(const std::string& path) {
  uint32_t id = static_cast<uint32_t>(Hash64("hoardfs-mount:" + path));
  if (id == 0 || id == kSyntheticRemoteId) id = 1;
  return id;
}

Result<MountTable> ParseMountTable(std::string_view text, const std::string& file_name) {
  MountTable table;
  enum class Section { kNone, kCache, kMount } section = Section::kNone;
  std::string section_name;
  std::set<std::string> seen_keys;  // of the current section
  int line_no = 0;
  auto error = [&](const std::string& what) {
    return Status::InvalidArgument(file_name + ":" + std::to_string(line_no) + ": " + what);
  };
  auto check_url = [&]() -> Status {
    if (section == Section::kMount && table.mounts.back().url.empty()) {
      line_no = table.mounts.back().line;
      return error(section_name + " has no url");
    }
    return Status::Ok();
  };

  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = Trim(text.substr(pos, end - pos));
    pos = end + 1;
    ++line_no;
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;

    if (line.front() == '[') {
      if (line.back() != ']')
        return error("a section header must end with ']': " + std::string(line));
      if (Status s = check_url(); !s.ok()) return s;
      const std::string_view inner = Trim(line.substr(1, line.size() - 2));
      seen_keys.clear();
      section_name = "[" + std::string(inner) + "]";
      if (inner == "cache") {
        section = Section::kCache;
        continue;
      }
      const bool is_mount =
          inner == "mount" || inner.substr(0, 6) == "mount " || inner.substr(0, 6) == "mount\t";
      if (!is_mount) {
        return error("unknown section " + section_name + " (expected [cache] or [mount PATH])");
      }
      auto path = NormaliseMountPath(Trim(inner.substr(5)));
      if (!path.ok()) return error(path.status().message());
      for (const MountTableEntry& other : table.mounts) {
        if (other.path == *path) {
          return error("duplicate mount path '" + *path + "' (also at line " +
                       std::to_string(other.line) + ")");
        }
        if (Contains(other.path, *path) || Contains(*path, other.path)) {
          return error("mount path '" + *path + "' overlaps '" + other.path + "' (line " +
                       std::to_string(other.line) + "): one remote may not contain another");
        }
      }
      MountTableEntry entry;
      entry.path = std::move(*path);
      entry.line = line_no;
      entry.remote_id = RemoteIdOfMountPath(entry.path);
      for (const MountTableEntry& other : table.mounts) {
        if (other.remote_id == entry.remote_id) {
          return error("mount paths '" + other.path + "' and '" + entry.path +
                       "' hash to the same remote id; rename one");
        }
      }
      section_name = "[mount " + entry.path + "]";
      table.mounts.push_back(std::move(entry));
      section = Section::kMount;
      continue;
    }

    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) return error("expected 'key = value': " + std::string(line));
    const std::string key(Trim(line.substr(0, eq)));
    const std::string_view value = Trim(line.substr(eq + 1));
    if (key.empty()) return error("missing key before '='");
    if (section == Section::kNone) {
      return error("key '" + key + "' outside a section ([cache] or [mount PATH] first)");
    }
    const std::string where = section_name + " key '" + key + "': ";
    if (!seen_keys.insert(key).second) return error(where + "given twice in this section");

    if (section == Section::kCache) {
      if (key == "dir") {
        if (value.empty()) return error(where + "empty value");
        table.cache_dir = std::string(value);
      } else if (key == "size" || key == "block_size" || key == "readahead" ||
                 key == "readahead_limit") {
        auto size = ParseByteSize(value);
        if (!size.ok()) return error(where + size.status().message());
        const bool window = key == "readahead" || key == "readahead_limit";
        if (window && (*size < kMinReadaheadBytes || *size > kMaxReadaheadBytes)) {
          return error(where + "must be between 4M and 512M");
        }
        std::optional<std::string>& field = key == "size"         ? table.cache_size
                                            : key == "block_size" ? table.block_size
                                            : key == "readahead"  ? table.readahead
                                                                  : table.readahead_limit;
        field = std::string(value);
      } else if (key == "dataset_depth") {
        auto depth = ParseUnsigned(value, 0, 64);
        if (!depth.ok()) return error(where + depth.status().message());
        table.dataset_depth = *depth;
      } else {
        return error(section_name + ": unknown key '" + key +
                     "' (known: dir, size, block_size, readahead, readahead_limit, dataset_depth)");
      }
      continue;
    }

    auto setter = MountKeys().find(key);
    if (setter == MountKeys().end()) {
      if (LooksLikeSecret(key)) {
        return error(section_name + ": unknown key '" + key +
                     "': secrets are never written in the table; name a file holding them "
                     "(s3_credentials_file, bearer_token_file, x509_proxy)");
      }
      return error(section_name + ": unknown key '" + key + "' (known: " + KnownKeys() + ")");
    }
    if (Status s = setter->second(value, table.mounts.back()); !s.ok()) {
      return error(where + s.message());
    }
  }
  if (Status s = check_url(); !s.ok()) return s;
  if (table.mounts.empty()) {
    line_no = std::max(line_no, 1);
    return Status::InvalidArgument(file_name + ": no [mount PATH] section: nothing to mount");
  }
  return table;
}

}  // namespace hoardfs
