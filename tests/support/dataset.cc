#include "tests/support/dataset.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>

#include "common/hash.h"

namespace hoardfs::testing {
namespace {

constexpr size_t kChunk = size_t{4} << 20;  // large-file generation buffer

// The content key of a file: a hash of the seed and the path.
uint64_t KeyOf(uint64_t seed, const std::string& path) { return Mix64(seed ^ Hash64(path)); }

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }
  void Update(const void* data, size_t size) { EVP_DigestUpdate(ctx_.get(), data, size); }
  std::string HexDigest() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), digest, &len);
    std::string hex;
    char buf[3];
    for (unsigned i = 0; i < len; ++i) {
      std::snprintf(buf, sizeof(buf), "%02x", digest[i]);
      hex += buf;
    }
    return hex;
  }

 private:
  struct Free {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_;
};

Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return Status::FromErrno(errno, "mkdir " + path);
  }
  if (::chmod(path.c_str(), 0755) != 0) return Status::FromErrno(errno, "chmod " + path);
  return Status::Ok();
}

Status WriteAll(int fd, const std::byte* data, size_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write " + path);
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

uint64_t SmallFileSize(uint64_t key, unsigned i) {
  if (i % 10 == 0) return 4096;
  if (i % 10 == 1) return 1;
  return Mix64(key) % 20000 + 1;
}

}  // namespace

void FillContent(uint64_t key, uint64_t offset, std::span<std::byte> out) {
  size_t done = 0;
  while (done < out.size()) {
    const uint64_t pos = offset + done;
    const uint64_t word = Mix64(key + (pos / 8) * 0x9E3779B97F4A7C15ULL);
    const size_t in_word = static_cast<size_t>(pos % 8);
    const size_t n = std::min<size_t>(8 - in_word, out.size() - done);
    for (size_t i = 0; i < n; ++i) {
      out[done + i] = static_cast<std::byte>((word >> (8 * (in_word + i))) & 0xFF);
    }
    done += n;
  }
}

std::string Sha256Hex(std::span<const std::byte> data) {
  Sha256 sha;
  sha.Update(data.data(), data.size());
  return sha.HexDigest();
}

std::string Sha256Hex(std::string_view data) {
  return Sha256Hex(std::as_bytes(std::span<const char>(data.data(), data.size())));
}

Result<Dataset> Dataset::Generate(const std::string& dir, const DatasetOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  Dataset ds;
  ds.dir_ = dir;
  ds.options_ = options;
  HOARDFS_RETURN_IF_ERROR(MakeDir(dir));
  std::vector<std::byte> buffer;

  auto add_dir = [&](const std::string& path) -> Status {
    HOARDFS_RETURN_IF_ERROR(MakeDir(dir + path));
    ds.entries_.push_back({path, ObjectType::kDirectory, 0, "", ""});
    return Status::Ok();
  };
  // Writes file `path` of `size` bytes in chunks (so 64 MiB needs no 64 MiB buffer).
  auto add_file = [&](const std::string& path, uint64_t size) -> Status {
    const std::string full = dir + path;
    const int fd = ::open(full.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return Status::FromErrno(errno, "create " + full);
    const uint64_t key = KeyOf(options.seed, path);
    Sha256 sha;
    Status status;
    for (uint64_t at = 0; at < size && status.ok(); at += kChunk) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, size - at));
      buffer.resize(n);
      FillContent(key, at, buffer);
      sha.Update(buffer.data(), n);
      status = WriteAll(fd, buffer.data(), n, full);
    }
    if (status.ok() && ::fchmod(fd, 0644) != 0) status = Status::FromErrno(errno, "chmod " + full);
    ::close(fd);
    HOARDFS_RETURN_IF_ERROR(status);
    ds.entries_.push_back({path, ObjectType::kFile, size, sha.HexDigest(), ""});
    return Status::Ok();
  };

  HOARDFS_RETURN_IF_ERROR(add_file(kLargeFile, options.large_file_size));
  HOARDFS_RETURN_IF_ERROR(add_file(kEmptyFile, 0));
  HOARDFS_RETURN_IF_ERROR(add_dir(kEmptyDir));
  HOARDFS_RETURN_IF_ERROR(add_file(kSpaceFile, 1000));
  HOARDFS_RETURN_IF_ERROR(add_dir(kUnicodeDir));
  HOARDFS_RETURN_IF_ERROR(add_file(kUnicodeFile, 777));

  HOARDFS_RETURN_IF_ERROR(add_dir(kSmallDir));
  std::set<std::string> made;
  for (unsigned i = 0; i < options.small_files; ++i) {
    const std::string d = std::string(kSmallDir) + "/d" + std::to_string(i % 4);
    const std::string e = d + "/e" + std::to_string((i / 4) % 5);
    for (const std::string& p : {d, e}) {
      if (made.insert(p).second) HOARDFS_RETURN_IF_ERROR(add_dir(p));
    }
    char name[32];
    std::snprintf(name, sizeof(name), "/f%03u.dat", i);
    const std::string path = e + name;
    HOARDFS_RETURN_IF_ERROR(add_file(path, SmallFileSize(KeyOf(options.seed, path), i)));
  }

  HOARDFS_RETURN_IF_ERROR(add_dir(kBigDir));
  for (unsigned i = 0; i < options.big_dir_entries; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "/e%05u", i);
    const std::string path = std::string(kBigDir) + name;
    HOARDFS_RETURN_IF_ERROR(add_file(path, Mix64(KeyOf(options.seed, path)) % 16 + 1));
  }

  if (options.symlinks) {
    HOARDFS_RETURN_IF_ERROR(add_dir("/links"));
    for (const auto& [path, target] :
         {std::pair<std::string, std::string>{"/links/to_large", "../large.bin"},
          {"/links/dangling", "nowhere"}}) {
      const std::string full = dir + path;
      if (::symlink(target.c_str(), full.c_str()) != 0) {
        return Status::FromErrno(errno, "symlink " + full);
      }
      ds.entries_.push_back({path, ObjectType::kSymlink, target.size(), "", target});
    }
  }

  std::sort(ds.entries_.begin(), ds.entries_.end(),
            [](const DatasetEntry& a, const DatasetEntry& b) { return a.path < b.path; });
  for (size_t i = 0; i < ds.entries_.size(); ++i) ds.index_[ds.entries_[i].path] = i;
  ds.generation_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return ds;
}

const DatasetEntry* Dataset::Find(const std::string& path) const {
  auto it = index_.find(path);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

std::vector<const DatasetEntry*> Dataset::Children(const std::string& dir) const {
  const std::string prefix = dir == "/" ? "/" : dir + "/";
  std::vector<const DatasetEntry*> out;
  for (auto it = index_.lower_bound(prefix);
       it != index_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    if (it->first.find('/', prefix.size()) == std::string::npos) {
      out.push_back(&entries_[it->second]);
    }
  }
  return out;
}

std::vector<std::string> Dataset::Directories() const {
  std::vector<std::string> out = {"/"};
  for (const DatasetEntry& e : entries_) {
    if (e.type == ObjectType::kDirectory) out.push_back(e.path);
  }
  return out;
}

std::string Dataset::Bytes(const std::string& path, uint64_t offset, uint64_t length) const {
  const DatasetEntry* e = Find(path);
  if (e == nullptr || e->type != ObjectType::kFile || offset >= e->size) return "";
  const size_t n = static_cast<size_t>(std::min(length, e->size - offset));
  std::string out(n, '\0');
  FillContent(KeyOf(options_.seed, path), offset,
              std::as_writable_bytes(std::span<char>(out.data(), out.size())));
  return out;
}

}  // namespace hoardfs::testing
