#include "fuse/mount_namespace.h"

#include <algorithm>

namespace hoardfs {

std::unique_ptr<MountNamespace> MountNamespace::Single(RemoteTree* tree) {
  std::unique_ptr<MountNamespace> ns(new MountNamespace());
  ns->remotes_.push_back(Remote{tree, "/", kRootIno, kRootIno});
  ns->roots_[kRootIno] = 0;
  ns->by_remote_id_[tree->remote_id()] = 0;
  return ns;
}

Result<std::unique_ptr<MountNamespace>> MountNamespace::Table(
    const std::vector<MountedTree>& mounts, MetadataCache* metadata, uint32_t synthetic_remote_id) {
  if (mounts.empty()) return Status::InvalidArgument("a mount table needs at least one remote");
  std::unique_ptr<MountNamespace> ns(new MountNamespace());
  ns->metadata_ = metadata;
  std::unordered_map<std::string, uint64_t> dir_inos = {{"/", kRootIno}};
  ns->dirs_[kRootIno] = SyntheticDir{"/", kRootIno, kRootIno, {}};
  // Remote mount paths first, so that a synthetic directory can be told from a remote's root.
  std::unordered_map<std::string, size_t> remote_paths;
  for (const MountedTree& m : mounts) {
    const std::string path = "/" + m.path;
    if (m.path.empty() || m.tree == nullptr || !remote_paths.emplace(path, 0).second ||
        m.tree->remote_id() == synthetic_remote_id) {
      return Status::InvalidArgument("bad or duplicate mount path '" + m.path + "'");
    }
  }
  for (const MountedTree& m : mounts) {
    const std::string path = "/" + m.path;
    // The synthetic directories above it, outermost first.
    std::string parent = "/";
    for (size_t slash = path.find('/', 1); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      const std::string dir = path.substr(0, slash);
      if (remote_paths.count(dir) != 0) {
        return Status::InvalidArgument("mount path '" + m.path + "' is inside mount '" +
                                       dir.substr(1) + "'");
      }
      if (dir_inos.count(dir) == 0) {
        HOARDFS_ASSIGN_OR_RETURN(uint64_t ino, metadata->InodeOf(synthetic_remote_id, dir));
        dir_inos[dir] = ino;
        const uint64_t parent_ino = dir_inos[parent];
        ns->dirs_[ino] = SyntheticDir{dir, ino, parent_ino, {}};
        ns->dirs_[parent_ino].children.emplace_back(
            dir.substr(parent.size() == 1 ? 1 : parent.size() + 1), ino);
      }
      parent = dir;
    }
    HOARDFS_ASSIGN_OR_RETURN(uint64_t root, m.tree->InodeOf("/"));
    const uint64_t parent_ino = dir_inos[parent];
    const size_t index = ns->remotes_.size();
    if (!ns->by_remote_id_.emplace(m.tree->remote_id(), index).second) {
      return Status::InvalidArgument("two mounts share remote id " +
                                     std::to_string(m.tree->remote_id()));
    }
    ns->remotes_.push_back(Remote{m.tree, path, root, parent_ino});
    ns->roots_[root] = index;
    ns->dirs_[parent_ino].children.emplace_back(
        path.substr(parent.size() == 1 ? 1 : parent.size() + 1), root);
  }
  for (auto& [ino, dir] : ns->dirs_) {
    std::sort(dir.children.begin(), dir.children.end());
  }
  return ns;
}

Result<MountNamespace::Node> MountNamespace::Resolve(uint64_t ino) const {
  Node node;
  if (auto d = dirs_.find(ino); d != dirs_.end()) {
    node.dir = &d->second;
    return node;
  }
  if (auto r = roots_.find(ino); r != roots_.end()) {
    node.remote = &remotes_[r->second];
    node.path = "/";
    return node;
  }
  if (!is_table()) {
    auto p = remotes_[0].tree->PathOf(ino);
    if (!p) return Status::NotFound("unknown inode " + std::to_string(ino));
    node.remote = &remotes_[0];
    node.path = std::move(*p);
    return node;
  }
  auto p = metadata_->PathOf(ino);
  auto r = p ? by_remote_id_.find(p->remote_id) : by_remote_id_.end();
  if (r == by_remote_id_.end()) return Status::NotFound("unknown inode " + std::to_string(ino));
  node.remote = &remotes_[r->second];
  node.path = std::move(p->path);
  return node;
}

Result<uint64_t> MountNamespace::InodeOf(const Remote& remote, const std::string& path) const {
  if (path == "/") return remote.root_ino;
  return remote.tree->InodeOf(path);
}

}  // namespace hoardfs
