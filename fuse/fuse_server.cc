#define FUSE_USE_VERSION 312
#include "fuse/fuse_server.h"

#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <new>
#include <sstream>

#include "common/log.h"
#include "fuse/uring_transport.h"

namespace hoardfs {
namespace {

Filesystem* Fs(fuse_req_t req) { return static_cast<Filesystem*>(fuse_req_userdata(req)); }

int ErrnoOf(const Status& s) {
  const int e = ToErrno(s);
  return e == 0 ? EIO : e;
}

void ReplyError(fuse_req_t req, const Status& s, const char* op, uint64_t ino) {
  const int e = ErrnoOf(s);
  if (e != ENOENT && e != ENODATA) {
    Logger("fuse")->warn("{} ino {}: {} -> {}", op, ino, s.ToString(), std::strerror(e));
  }
  fuse_reply_err(req, e);
}

fuse_entry_param EntryParam(const Filesystem::Entry& e, const FilesystemOptions& o) {
  fuse_entry_param p{};
  p.ino = e.ino;
  p.generation = 1;
  p.attr = e.attr;
  p.attr_timeout = o.attr_timeout;
  p.entry_timeout = o.entry_timeout;
  return p;
}

void OpInit(void* userdata, fuse_conn_info* conn) {
  (void)userdata;
  conn->max_readahead = 1u << 20;
  conn->max_read = 1u << 20;  // must equal the max_read mount option
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  if (conn->capable & FUSE_CAP_READDIRPLUS_AUTO) conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  if (conn->capable & FUSE_CAP_CACHE_SYMLINKS) conn->want |= FUSE_CAP_CACHE_SYMLINKS;
  conn->want &= ~FUSE_CAP_SPLICE_READ;  // we never receive write data
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  try {
    Filesystem* fs = Fs(req);
    Result<Filesystem::Entry> e = fs->Lookup(parent, name);
    if (e.ok()) {
      fuse_entry_param p = EntryParam(*e, fs->options());
      fuse_reply_entry(req, &p);
    } else if (e.status().code() == StatusCode::kNotFound) {
      fuse_entry_param p{};  // negative entry, cached by the kernel
      p.entry_timeout = fs->options().negative_timeout;
      fuse_reply_entry(req, &p);
    } else {
      ReplyError(req, e.status(), "lookup", parent);
    }
  } catch (const std::bad_alloc&) {
    fuse_reply_err(req, ENOMEM);
  }
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* /*fi*/) {
  try {
    Filesystem* fs = Fs(req);
    Result<struct stat> st = fs->GetAttr(ino);
    if (st.ok()) {
      fuse_reply_attr(req, &*st, fs->options().attr_timeout);
    } else {
      ReplyError(req, st.status(), "getattr", ino);
    }
  } catch (const std::bad_alloc&) {
    fuse_reply_err(req, ENOMEM);
  }
}

void OpReadlink(fuse_req_t req, fuse_ino_t ino) {
  try {
    Result<std::string> target = Fs(req)->ReadLink(ino);
    if (target.ok()) {
      fuse_reply_readlink(req, target->c_str());
    } else {
      ReplyError(req, target.status(), "readlink", ino);
    }
  } catch (const std::bad_alloc&) {
    fuse_reply_err(req, ENOMEM);
  }
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & (O_TRUNC | O_CREAT)) != 0) {
    fuse_reply_err(req, EROFS);
    return;
  }
  try {
    Result<std::unique_ptr<Filesystem::OpenFile>> f = Fs(req)->Open(ino);
    if (!f.ok()) {
      ReplyError(req, f.status(), "open", ino);
      return;
    }
    fi->keep_cache = (*f)->keep_cache ? 1 : 0;
    fi->direct_io = (*f)->direct_io ? 1 : 0;
    Filesystem::OpenFile* file = Fs(req)->Keep(std::move(*f));
    fi->fh = reinterpret_cast<uint64_t>(file);
    if (fuse_reply_open(req, fi) != 0) Fs(req)->Drop(file);  // interrupted: nobody will release
  } catch (const std::bad_alloc&) {
    fuse_reply_err(req, ENOMEM);
  }
}

void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  try {
    auto* file = reinterpret_cast<Filesystem::OpenFile*>(fi->fh);
    Fs(req)->NoteReadRequest(ino, static_cast<uint64_t>(off), size);
    // Within one block (the kernel's aligned readahead requests): the block's own memory goes
    // to the kernel, no copy on our side.
    Result<std::optional<FetchedSlice>> slice =
        Fs(req)->ReadSlice(*file, static_cast<uint64_t>(off), size);
    if (!slice.ok()) {
      Logger("fuse")->warn("read ino {} off {} size {}: {}", ino, off, size,
                           slice.status().ToString());
      fuse_reply_err(req, ErrnoOf(slice.status()));
      return;
    }
    if (slice->has_value()) {
      const FetchedSlice& s = **slice;
      fuse_bufvec bufv = FUSE_BUFVEC_INIT(s.size);
      bufv.buf[0].mem = const_cast<std::byte*>(s.data.get());  // read by writev only
      fuse_reply_data(req, &bufv, FUSE_BUF_NO_SPLICE);
      return;
    }
    thread_local std::vector<std::byte> buffer;
    if (buffer.size() < size) buffer.resize(size);
    Result<size_t> n =
        Fs(req)->Read(*file, static_cast<uint64_t>(off), std::span<std::byte>(buffer.data(), size));
    if (n.ok()) {
      fuse_reply_buf(req, reinterpret_cast<const char*>(buffer.data()), *n);
    } else {
      Logger("fuse")->warn("read ino {} off {} size {}: {}", ino, off, size, n.status().ToString());
      fuse_reply_err(req, ErrnoOf(n.status()));
    }
  } catch (const std::bad_alloc&) {
    fuse_reply_err(req, ENOMEM);
  }
}

void OpRelease(fuse_req_t req, fuse_ino_t /*ino*/, fuse_file_info* fi) {
  Fs(req)->Drop(reinterpret_cast<Filesystem::OpenFile*>(fi->fh));
  fuse_reply_err(req, 0);
}

void OpOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  try {
    Result<std::unique_ptr<Filesystem::OpenDir>> d = Fs(req)->OpenDirectory(ino);
    if (!d.ok()) {
      ReplyError(req, d.status(), "opendir", ino);
      return;
    }
    // The kernel keeps the listing in the directory's page cache and answers readdir from it
    // while it is unchanged; every opendir still reaches us and revalidates after dir_ttl.
    fi->cache_readdir = 1;
    fi->keep_cache = (*d)->keep_cache ? 1 : 0;
    Filesystem::OpenDir* dir = Fs(req)->Keep(std::move(*d));
    fi->fh = reinterpret_cast<uint64_t>(dir);
    if (fuse_reply_open(req, fi) != 0) Fs(req)->Drop(dir);
  } catch (const std::bad_alloc&) {
    fuse_reply_err(req, ENOMEM);
  }
}

template <bool kPlus>
void ReadDir(fuse_req_t req, size_t size, off_t off, fuse_file_info* fi) {
  try {
    auto* dir = reinterpret_cast<Filesystem::OpenDir*>(fi->fh);
    const FilesystemOptions& o = Fs(req)->options();
    std::vector<char> buf(size);
    size_t used = 0;
    const std::vector<Filesystem::DirEntry>& entries = dir->listing->entries;
    for (size_t i = static_cast<size_t>(off); i < entries.size(); ++i) {
      const Filesystem::DirEntry& e = entries[i];
      const auto next = static_cast<off_t>(i + 1);
      size_t need;
      if constexpr (kPlus) {
        fuse_entry_param p = EntryParam({e.ino, e.attr}, o);
        // Node id 0: the name alone, the kernel makes no inode of it and looks it up when asked.
        if (e.name == "." || e.name == ".." || e.attr.st_mode == 0) {
          p = fuse_entry_param{.ino = 0, .attr = e.attr};
        }
        need =
            fuse_add_direntry_plus(req, buf.data() + used, size - used, e.name.c_str(), &p, next);
      } else {
        need =
            fuse_add_direntry(req, buf.data() + used, size - used, e.name.c_str(), &e.attr, next);
      }
      if (need > size - used) break;
      used += need;
    }
    fuse_reply_buf(req, buf.data(), used);
  } catch (const std::bad_alloc&) {
    fuse_reply_err(req, ENOMEM);
  }
}

void OpReaddir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  ReadDir<false>(req, size, off, fi);
}
void OpReaddirplus(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  ReadDir<true>(req, size, off, fi);
}

void OpReleasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  Fs(req)->Drop(reinterpret_cast<Filesystem::OpenDir*>(fi->fh));
  fuse_reply_err(req, 0);
}

void OpStatfs(fuse_req_t req, fuse_ino_t /*ino*/) {
  Result<struct statvfs> v = Fs(req)->StatFs();
  if (v.ok()) {
    fuse_reply_statfs(req, &*v);
  } else {
    fuse_reply_err(req, ErrnoOf(v.status()));
  }
}

// size 0: the caller asks for the length; too small: ERANGE (getxattr(2)).
void ReplyXattr(fuse_req_t req, const std::string& value, size_t size) {
  if (size == 0) {
    fuse_reply_xattr(req, value.size());
  } else if (size < value.size()) {
    fuse_reply_err(req, ERANGE);
  } else {
    fuse_reply_buf(req, value.data(), value.size());
  }
}

void OpGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  try {
    Result<std::string> v = Fs(req)->GetXattr(ino, name);
    if (!v.ok()) {
      fuse_reply_err(req,
                     v.status().code() == StatusCode::kNotFound ? ENODATA : ErrnoOf(v.status()));
      return;
    }
    ReplyXattr(req, *v, size);
  } catch (const std::bad_alloc&) {
    fuse_reply_err(req, ENOMEM);
  }
}

void OpListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  try {
    Result<std::vector<std::string>> names = Fs(req)->ListXattr(ino);
    if (!names.ok()) {
      fuse_reply_err(req, ErrnoOf(names.status()));
      return;
    }
    std::string packed;
    for (const std::string& n : *names) packed.append(n).push_back('\0');
    ReplyXattr(req, packed, size);
  } catch (const std::bad_alloc&) {
    fuse_reply_err(req, ENOMEM);
  }
}

void OpSetxattrRo(fuse_req_t req, fuse_ino_t, const char*, const char*, size_t, int) {
  fuse_reply_err(req, EROFS);
}

void OpAccess(fuse_req_t req, fuse_ino_t /*ino*/, int mask) {
  fuse_reply_err(req, (mask & W_OK) != 0 ? EROFS : 0);
}

const fuse_lowlevel_ops kOps = [] {
  fuse_lowlevel_ops ops{};
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.getattr = OpGetattr;
  ops.readlink = OpReadlink;
  ops.open = OpOpen;
  ops.read = OpRead;
  ops.release = OpRelease;
  ops.opendir = OpOpendir;
  ops.readdir = OpReaddir;
  ops.readdirplus = OpReaddirplus;
  ops.releasedir = OpReleasedir;
  ops.statfs = OpStatfs;
  ops.getxattr = OpGetxattr;
  ops.listxattr = OpListxattr;
  ops.setxattr = OpSetxattrRo;
  ops.access = OpAccess;
  return ops;
}();

// Raises the FUSE mount's bdi readahead (root only; best effort). The device number comes from
// /proc/self/mountinfo: a stat() of the mount point would ask our own, not yet running, session.
void RaiseReadahead(const std::string& mountpoint, unsigned kb) {
  if (kb == 0) return;
  char resolved[PATH_MAX];
  if (realpath(mountpoint.c_str(), resolved) == nullptr) return;
  std::ifstream in("/proc/self/mountinfo");
  std::string line, device;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, mnt;
    fields >> id >> parent >> dev >> root >> mnt;
    if (mnt == resolved) device = dev;  // the last match is the newest mount
  }
  if (device.empty()) return;
  const std::string path = "/sys/class/bdi/" + device + "/read_ahead_kb";
  std::ofstream f(path);
  if (f) f << kb;
  if (!f) Logger("fuse")->debug("could not set {} (not root?)", path);
}

}  // namespace

Result<std::unique_ptr<FuseServer>> FuseServer::Mount(Filesystem* fs, const FuseOptions& options) {
  struct stat st {};
  if (::stat(options.mountpoint.c_str(), &st) != 0) {
    return Status::FromErrno(errno, "mount point " + options.mountpoint);
  }
  if (!S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument("mount point " + options.mountpoint + " is not a directory");
  }
  std::string opts = "ro,default_permissions,fsname=" + options.fsname + ",subtype=hoardfs";
  if (options.allow_other) opts += ",allow_other";
  for (const std::string& o : options.extra_options) opts += "," + o;
  std::vector<std::string> argv_s = {"hoardfs", "-o", opts, "-o", "max_read=1048576"};
  if (options.debug) argv_s.emplace_back("-d");
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());

  std::unique_ptr<FuseServer> server(new FuseServer());
  server->options_ = options;
  server->session_ = fuse_session_new(&args, &kOps, sizeof(kOps), fs);
  fuse_opt_free_args(&args);  // the session keeps what it parsed
  if (server->session_ == nullptr) {
    return Status::InvalidArgument("libfuse refused the mount options '" + opts + "'");
  }
  if (fuse_session_mount(server->session_, options.mountpoint.c_str()) != 0) {
    return Status::IOError("cannot mount on " + options.mountpoint +
                           " (is /dev/fuse available, and are you root or in the fuse group?)");
  }
  server->mounted_ = true;
  if (options.io_uring) {
    UringTransportOptions to;
    to.depth = options.io_uring_depth;
    to.workers = options.max_threads;
    Result<std::unique_ptr<UringTransport>> transport =
        UringTransport::Attach(server->session_, fuse_session_fd(server->session_), fs, to);
    if (!transport.ok()) return transport.status();  // the destructor unmounts
    server->transport_ = std::move(*transport);
  }
  RaiseReadahead(options.mountpoint, options.read_ahead_kb);
  return server;
}

FuseServer::~FuseServer() {
  if (session_ != nullptr) {
    if (mounted_) fuse_session_unmount(session_);
    transport_.reset();  // the kernel ended its rings' commands with the mount
    fuse_session_destroy(session_);
  }
}

Status FuseServer::Run() {
  if (fuse_set_signal_handlers(session_) != 0) return Status::Internal("fuse signal handlers");
  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(cfg, options_.max_threads);
  // Keep every worker alive: libfuse otherwise starts and stops a thread per burst.
  fuse_loop_cfg_set_idle_threads(cfg, options_.max_threads);
  fuse_loop_cfg_set_clone_fd(cfg, 0);
  const int rc = fuse_session_loop_mt(session_, cfg);
  fuse_loop_cfg_destroy(cfg);
  fuse_remove_signal_handlers(session_);
  fuse_session_unmount(session_);
  mounted_ = false;
  transport_.reset();
  if (rc < 0) return Status::FromErrno(-rc, "fuse loop on " + options_.mountpoint);
  return Status::Ok();
}

}  // namespace hoardfs
