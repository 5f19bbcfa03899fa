// bare_fuse: the FUSE ceiling of the mount benchmark (bench/run_mount_bench.sh). A read-only
// libfuse 3 low-level filesystem that shows one file and serves each read request with one read of
// its source and one reply from memory, with no cache logic at all: no index, no checksum, no
// readahead of its own. It is mounted the way hoardfs mounts (max_read 1 MiB, keep_cache, 16
// worker threads kept alive, the caller raises the bdi read_ahead_kb), so hoardfs ÷ bare_fuse is
// what the daemon costs over FUSE itself, and bare_fuse ÷ the limit is what FUSE alone costs here.
//
//   bare_fuse FILE MOUNTPOINT     the source is a local file, read by pread() with O_DIRECT (the
//                                 cache disk, as hoardfs reads it): the warm and hot ceiling
//   bare_fuse root://HOST:PORT//PATH MOUNTPOINT [--write-to LOCAL]
//   bare_fuse http://HOST:PORT/PATH MOUNTPOINT [--write-to LOCAL] [--s3-credentials FILE]
//                                 the source is one remote file, read by XrdCl::File::Read or by
//                                 one libcurl range GET (one easy handle per worker, its
//                                 connection kept): the direct client's own call, one per FUSE
//                                 read, synchronous in the worker: the cold ceiling of a FUSE
//                                 filesystem before any cache. With --write-to, each fetched
//                                 range is also written to LOCAL at its offset by one buffered
//                                 pwrite(): the cheapest possible cache write (no index, no
//                                 checksum, no durability; the page cache takes it and the disk
//                                 gets it later). With --s3-credentials (an AWS credentials
//                                 file, read as hoardfs reads it: remote/s3/s3_credentials.h),
//                                 the http:// source is an S3 object (http://ENDPOINT/BUCKET/KEY),
//                                 each request signed by libcurl (SigV4, region us-east-1), as
//                                 curl signs it
//
// Runs in the foreground until unmounted (fusermount3 -u) or SIGINT/SIGTERM; the mount shows the
// source's base name in its root. Exit status 0 after a clean unmount, 1 on any set-up error (one
// line on stderr).
#define FUSE_USE_VERSION 314
#include <curl/curl.h>
#include <fcntl.h>
#include <fuse3/fuse_lowlevel.h>
#include <sys/stat.h>
#include <unistd.h>

#include <XrdCl/XrdClFile.hh>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "remote/s3/s3_credentials.h"

namespace {

constexpr fuse_ino_t kFileIno = 2;
constexpr size_t kMaxRead = 1u << 20;
constexpr size_t kAlign = 4096;

struct BareFile {
  int fd = -1;                          // the local source (O_DIRECT), or -1
  std::unique_ptr<XrdCl::File> remote;  // the root:// source, or null
  std::string http_url;                 // the http:// source, or empty
  std::string s3_userpwd;               // "key:secret" to sign the http:// requests, or empty
  int write_fd = -1;                    // --write-to, or -1
  std::string name;
  struct stat attr {};
};

BareFile* Self(fuse_req_t req) { return static_cast<BareFile*>(fuse_req_userdata(req)); }

struct stat RootAttr() {
  struct stat st {};
  st.st_ino = FUSE_ROOT_ID;
  st.st_mode = S_IFDIR | 0555;
  st.st_nlink = 2;
  return st;
}

void OpInit(void*, fuse_conn_info* conn) {
  conn->max_readahead = kMaxRead;
  conn->max_read = kMaxRead;
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  BareFile* f = Self(req);
  if (parent != FUSE_ROOT_ID || f->name != name) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  fuse_entry_param e{};
  e.ino = kFileIno;
  e.attr = f->attr;
  e.attr_timeout = 3600;
  e.entry_timeout = 3600;
  fuse_reply_entry(req, &e);
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  if (ino == FUSE_ROOT_ID) {
    const struct stat st = RootAttr();
    fuse_reply_attr(req, &st, 3600);
  } else if (ino == kFileIno) {
    fuse_reply_attr(req, &Self(req)->attr, 3600);
  } else {
    fuse_reply_err(req, ENOENT);
  }
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if (ino != kFileIno) {
    fuse_reply_err(req, EISDIR);
  } else if ((fi->flags & O_ACCMODE) != O_RDONLY) {
    fuse_reply_err(req, EROFS);
  } else {
    fi->keep_cache = 1;
    fuse_reply_open(req, fi);
  }
}

// One aligned buffer per worker thread; the O_DIRECT read covers the request's aligned span.
void ReadLocal(fuse_req_t req, const BareFile& f, size_t size, off_t off) {
  thread_local std::unique_ptr<std::byte, decltype(&std::free)> buffer(
      static_cast<std::byte*>(std::aligned_alloc(kAlign, kMaxRead + 2 * kAlign)), &std::free);
  const off_t from = off / kAlign * kAlign;
  const off_t to = (off + static_cast<off_t>(size) + kAlign - 1) / kAlign * kAlign;
  const ssize_t got = ::pread(f.fd, buffer.get(), static_cast<size_t>(to - from), from);
  if (got < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  const off_t skip = off - from;
  const off_t have = got > skip ? got - skip : 0;
  fuse_reply_buf(req, reinterpret_cast<const char*>(buffer.get()) + skip,
                 static_cast<size_t>(have < static_cast<off_t>(size) ? have : size));
}

// Appends a response body to a Body, refusing more than it can hold.
struct Body {
  char* data;
  size_t capacity;
  size_t size = 0;
};
size_t AppendBody(char* chunk, size_t one, size_t n, void* user) {
  auto* body = static_cast<Body*>(user);
  const size_t len = one * n;
  if (len > body->capacity - body->size) return 0;  // more than asked for: fail the transfer
  std::memcpy(body->data + body->size, chunk, len);
  body->size += len;
  return len;
}

// The request options common to every request of `f`: its URL, and its signature over S3.
void SetRequest(CURL* h, const BareFile& f) {
  static curl_slist* const kUnsignedPayload =
      curl_slist_append(nullptr, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
  curl_easy_setopt(h, CURLOPT_URL, f.http_url.c_str());
  if (!f.s3_userpwd.empty()) {
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:s3");
    curl_easy_setopt(h, CURLOPT_USERPWD, f.s3_userpwd.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, kUnsignedPayload);
  }
}

// One range GET of `size` bytes at `off` into `out`: the bytes received, or -1.
ssize_t HttpGet(const BareFile& f, char* out, size_t size, off_t off) {
  thread_local std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> handle(curl_easy_init(),
                                                                          &curl_easy_cleanup);
  CURL* h = handle.get();
  if (h == nullptr) return -1;
  Body body{out, size};
  const std::string range =
      std::to_string(off) + "-" + std::to_string(off + static_cast<off_t>(size) - 1);
  SetRequest(h, f);
  curl_easy_setopt(h, CURLOPT_RANGE, range.c_str());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
  long status = 0;
  if (curl_easy_perform(h) != CURLE_OK ||
      curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 206) {
    return -1;
  }
  return static_cast<ssize_t>(body.size);
}

// Exactly the requested range from the remote (the kernel asks page-aligned ranges already).
void ReadRemote(fuse_req_t req, const BareFile& f, size_t size, off_t off) {
  thread_local std::vector<char> buffer(kMaxRead);
  size = std::min(size, static_cast<size_t>(f.attr.st_size - off));
  size_t got = 0;
  if (f.remote != nullptr) {
    uint32_t n = 0;
    const XrdCl::XRootDStatus st =
        f.remote->Read(static_cast<uint64_t>(off), static_cast<uint32_t>(size), buffer.data(), n);
    if (!st.IsOK()) {
      fuse_reply_err(req, EIO);
      return;
    }
    got = n;
  } else {
    const ssize_t n = HttpGet(f, buffer.data(), size, off);
    if (n < 0) {
      fuse_reply_err(req, EIO);
      return;
    }
    got = static_cast<size_t>(n);
  }
  if (f.write_fd >= 0 &&
      ::pwrite(f.write_fd, buffer.data(), got, off) != static_cast<ssize_t>(got)) {
    fuse_reply_err(req, EIO);
    return;
  }
  fuse_reply_buf(req, buffer.data(), got);
}

void OpRead(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info*) {
  const BareFile& f = *Self(req);
  const off_t file_size = f.attr.st_size;
  if (off >= file_size || size == 0) {
    fuse_reply_buf(req, nullptr, 0);
    return;
  }
  if (size > kMaxRead) size = kMaxRead;
  if (f.remote != nullptr || !f.http_url.empty()) {
    ReadRemote(req, f, size, off);
  } else {
    ReadLocal(req, f, size, off);
  }
}

void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  if (ino != FUSE_ROOT_ID) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  std::vector<char> out(size);
  size_t used = 0;
  const BareFile* f = Self(req);
  const struct {
    const char* name;
    struct stat st;
  } entries[] = {{".", RootAttr()}, {"..", RootAttr()}, {f->name.c_str(), f->attr}};
  for (off_t i = off; i < 3; ++i) {
    const size_t n = fuse_add_direntry(req, out.data() + used, size - used, entries[i].name,
                                       &entries[i].st, i + 1);
    if (n > size - used) break;
    used += n;
  }
  fuse_reply_buf(req, out.data(), used);
}

const fuse_lowlevel_ops kOps = [] {
  fuse_lowlevel_ops ops{};
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.getattr = OpGetattr;
  ops.open = OpOpen;
  ops.read = OpRead;
  ops.readdir = OpReaddir;
  return ops;
}();

int Fail(const std::string& what) {
  std::fprintf(stderr, "bare_fuse: %s\n", what.c_str());
  return 1;
}

// Opens SOURCE (a local path, a root:// or an http:// URL) into `file`; empty on success, else
// the reason.
std::string OpenSource(const std::string& source, BareFile& file) {
  file.name = source.substr(source.find_last_of('/') + 1);
  if (source.starts_with("http://")) {
    file.http_url = source;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> h(curl_easy_init(),
                                                                &curl_easy_cleanup);
    if (h == nullptr) return "curl_easy_init failed";
    SetRequest(h.get(), file);
    curl_easy_setopt(h.get(), CURLOPT_NOBODY, 1L);
    curl_easy_setopt(h.get(), CURLOPT_TIMEOUT, 30L);
    const CURLcode rc = curl_easy_perform(h.get());
    long status = 0;
    curl_off_t length = -1;
    curl_easy_getinfo(h.get(), CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(h.get(), CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    if (rc != CURLE_OK || status != 200 || length < 0) {
      return source + ": HEAD: " + curl_easy_strerror(rc) + ", HTTP " + std::to_string(status) +
             ", length " + std::to_string(length);
    }
    file.attr.st_size = static_cast<off_t>(length);
    file.attr.st_nlink = 1;
  } else if (source.starts_with("root://")) {
    file.remote = std::make_unique<XrdCl::File>();
    XrdCl::XRootDStatus st = file.remote->Open(source, XrdCl::OpenFlags::Read);
    if (!st.IsOK()) return source + ": " + st.ToString();
    XrdCl::StatInfo* info = nullptr;
    st = file.remote->Stat(false, info);
    const std::unique_ptr<XrdCl::StatInfo> owned(info);
    if (!st.IsOK() || info == nullptr) return source + ": stat: " + st.ToString();
    file.attr.st_size = static_cast<off_t>(info->GetSize());
    file.attr.st_nlink = 1;
  } else {
    file.fd = ::open(source.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (file.fd < 0) return source + ": " + std::strerror(errno);
    if (::fstat(file.fd, &file.attr) != 0 || !S_ISREG(file.attr.st_mode)) {
      return source + ": not a regular file";
    }
  }
  file.attr.st_ino = kFileIno;
  file.attr.st_mode = S_IFREG | 0444;
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  const char* const usage =
      "usage: bare_fuse FILE|root://HOST//PATH|http://HOST/PATH MOUNTPOINT"
      " [--write-to LOCAL] [--s3-credentials FILE]";
  if (argc < 3 || argc % 2 == 0) return Fail(usage);
  std::string write_to, s3_credentials;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string option = argv[i];
    if (option == "--write-to") {
      write_to = argv[i + 1];
    } else if (option == "--s3-credentials") {
      s3_credentials = argv[i + 1];
    } else {
      return Fail(usage);
    }
  }
  BareFile file;
  if (!s3_credentials.empty()) {
    if (!std::string(argv[1]).starts_with("http://")) {
      return Fail("--s3-credentials needs an http:// source");
    }
    const hoardfs::Result<hoardfs::s3::SigV4Credentials> keys =
        hoardfs::s3::LoadS3CredentialsFile(s3_credentials);
    if (!keys.ok()) return Fail(keys.status().ToString());
    if (!keys->session_token.empty()) return Fail("--s3-credentials: no session tokens here");
    file.s3_userpwd = keys->access_key_id + ":" + keys->secret_access_key;
  }
  if (const std::string error = OpenSource(argv[1], file); !error.empty()) return Fail(error);
  if (!write_to.empty()) {
    if (file.fd >= 0) return Fail("--write-to needs a remote source");
    file.write_fd = ::open(write_to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (file.write_fd < 0) return Fail(write_to + ": " + std::strerror(errno));
  }

  std::vector<std::string> args_s = {"bare_fuse", "-o", "ro,fsname=bare_fuse,allow_other", "-o",
                                     "max_read=1048576"};
  std::vector<char*> args_v;
  for (std::string& a : args_s) args_v.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(args_v.size()), args_v.data());
  fuse_session* se = fuse_session_new(&args, &kOps, sizeof(kOps), &file);
  fuse_opt_free_args(&args);
  if (se == nullptr) return Fail("fuse_session_new failed");
  if (fuse_session_mount(se, argv[2]) != 0) {
    fuse_session_destroy(se);
    return Fail(std::string("cannot mount on ") + argv[2]);
  }
  fuse_set_signal_handlers(se);
  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(cfg, 16);
  fuse_loop_cfg_set_idle_threads(cfg, 16);
  const int rc = fuse_session_loop_mt(se, cfg);
  fuse_loop_cfg_destroy(cfg);
  fuse_remove_signal_handlers(se);
  fuse_session_unmount(se);
  fuse_session_destroy(se);
  if (file.fd >= 0) ::close(file.fd);
  if (file.write_fd >= 0) ::close(file.write_fd);
  if (file.remote != nullptr) {
    const XrdCl::XRootDStatus closed = file.remote->Close();
    if (!closed.IsOK()) std::fprintf(stderr, "bare_fuse: close: %s\n", closed.ToString().c_str());
  }
  return rc < 0 ? 1 : 0;
}
