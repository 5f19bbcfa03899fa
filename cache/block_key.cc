#include "cache/block_key.h"

#include <cstring>

namespace hoardfs {

void AppendBigEndian32(std::string* out, uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  out->append(b, 4);
}

void AppendBigEndian64(std::string* out, uint64_t v) {
  AppendBigEndian32(out, static_cast<uint32_t>(v >> 32));
  AppendBigEndian32(out, static_cast<uint32_t>(v));
}

uint32_t ReadBigEndian32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

uint64_t ReadBigEndian64(const char* p) {
  return (uint64_t{ReadBigEndian32(p)} << 32) | ReadBigEndian32(p + 4);
}

Status ValidatePath(std::string_view path) {
  if (path.empty() || path.front() != '/') {
    return Status::InvalidArgument("path must be absolute: '" + std::string(path) + "'");
  }
  if (path.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("path contains a NUL byte");
  }
  if (path.size() > 1 && path.back() == '/') {
    return Status::InvalidArgument("path must not end with '/': '" + std::string(path) + "'");
  }
  return Status::Ok();
}

std::string FilePrefix(const FileKey& file) {
  std::string key;
  key.reserve(4 + file.path.size() + 1 + 8 + 4);
  AppendBigEndian32(&key, file.remote_id);
  key.append(file.path);
  key.push_back('\0');
  AppendBigEndian64(&key, file.version_hash);
  return key;
}

std::string BlockKey(const FileKey& file, uint32_t block) {
  std::string key = FilePrefix(file);
  AppendBigEndian32(&key, block);
  return key;
}

void SetBlockIndex(std::string* key, uint32_t block) {
  char* p = key->data() + key->size() - kBlockIndexBytes;
  p[0] = static_cast<char>(block >> 24);
  p[1] = static_cast<char>(block >> 16);
  p[2] = static_cast<char>(block >> 8);
  p[3] = static_cast<char>(block);
}

std::optional<DecodedBlockKey> DecodeBlockKey(std::string_view key) {
  // remote(4) + at least "/"(1) + NUL(1) + version(8) + block(4)
  if (key.size() < 4 + 1 + 1 + 8 + 4) return std::nullopt;
  const size_t nul = key.size() - 4 - 8 - 1;
  if (key[nul] != '\0' || key[4] != '/') return std::nullopt;
  DecodedBlockKey d;
  d.remote_id = ReadBigEndian32(key.data());
  d.path = key.substr(4, nul - 4);
  if (d.path.find('\0') != std::string_view::npos) return std::nullopt;
  d.version_hash = ReadBigEndian64(key.data() + nul + 1);
  d.block = ReadBigEndian32(key.data() + nul + 1 + 8);
  return d;
}

bool PathHasPrefix(std::string_view path, std::string_view prefix) {
  if (prefix == "/") return !path.empty() && path.front() == '/';
  if (path.size() < prefix.size() || path.compare(0, prefix.size(), prefix) != 0) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

std::vector<std::pair<std::string, std::string>> PathRanges(uint32_t remote_id,
                                                            std::string_view path_prefix) {
  std::string remote;
  AppendBigEndian32(&remote, remote_id);
  std::vector<std::pair<std::string, std::string>> ranges;
  if (path_prefix == "/") {
    // Every path starts with '/', so remote|'0' bounds the whole remote.
    ranges.emplace_back(remote + "/", remote + "0");
    return ranges;
  }
  // The file itself: every key starting with remote|prefix|NUL.
  std::string file_begin = remote + std::string(path_prefix) + std::string(1, '\0');
  std::string file_end = remote + std::string(path_prefix) + std::string(1, '\x01');
  ranges.emplace_back(std::move(file_begin), std::move(file_end));
  // Below it as a directory: remote|prefix|'/' .. remote|prefix|'0' ('0' follows '/').
  ranges.emplace_back(remote + std::string(path_prefix) + "/", remote + std::string(path_prefix) + "0");
  return ranges;
}

}  // namespace hoardfs
