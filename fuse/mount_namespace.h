// MountNamespace: what an inode number of a mount stands for. Either a path in one remote's tree,
// or a synthetic read-only directory of a mount table (the mount root and the intermediate
// directories of nested mount paths such as "a" of "a/b").
//
//  - One remote (hoardfs mount URL DIR): inode 1 is the remote's "/"; every other inode comes from
//    the MetadataCache for (the tree's remote id, path). Nothing synthetic.
//  - A mount table: inode 1 is the synthetic root; a synthetic directory "/a" has the persistent
//    inode of (synthetic_remote_id, "/a"), a remote mounted at "a/b" has its root at the inode of
//    (its remote id, "/"), and the rest of its tree as above. Remote ids are distinct, so all
//    inode numbers are distinct, and all are stable across restarts with the same table.
//
// Immutable after construction. Thread-safety: const methods may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/metadata_cache.h"
#include "cache/remote_tree.h"
#include "common/result.h"

namespace hoardfs {

// A remote tree shown at `path` ("cms", "a/b") under the mount point.
struct MountedTree {
  std::string path;
  RemoteTree* tree = nullptr;
};

class MountNamespace {
 public:
  static constexpr uint64_t kRootIno = 1;

  struct Remote {
    RemoteTree* tree = nullptr;
    std::string mount_path;   // "/" for a single remote; "/cms", "/a/b" in a table
    uint64_t root_ino = 0;    // the inode of the tree's "/"
    uint64_t parent_ino = 0;  // the directory holding it (itself for a single remote)
  };
  struct SyntheticDir {
    std::string path;  // "/", "/a"
    uint64_t ino = 0;
    uint64_t parent_ino = 0;
    std::vector<std::pair<std::string, uint64_t>> children;  // name, inode; sorted by name
  };
  // What an inode is: exactly one of `dir` (synthetic) or `remote` + `path`.
  struct Node {
    const SyntheticDir* dir = nullptr;
    const Remote* remote = nullptr;
    std::string path;  // in the remote's tree
  };

  // REQUIRES: tree outlives the namespace.
  static std::unique_ptr<MountNamespace> Single(RemoteTree* tree);
  // REQUIRES: the pointers outlive the namespace; paths normalised ("a/b"), distinct, none inside
  // another; every tree's remote id distinct and != synthetic_remote_id (kInvalidArgument else).
  static Result<std::unique_ptr<MountNamespace>> Table(const std::vector<MountedTree>& mounts,
                                                       MetadataCache* metadata,
                                                       uint32_t synthetic_remote_id);

  bool is_table() const { return metadata_ != nullptr; }
  const std::vector<Remote>& remotes() const { return remotes_; }

  // kNotFound for an inode never given out (or of a remote no longer in the table).
  Result<Node> Resolve(uint64_t ino) const;
  // The inode of `path` in `remote`'s tree, assigned on first use.
  Result<uint64_t> InodeOf(const Remote& remote, const std::string& path) const;

 private:
  MountNamespace() = default;
  std::vector<Remote> remotes_;
  MetadataCache* metadata_ = nullptr;                  // tables only
  std::unordered_map<uint64_t, SyntheticDir> dirs_;    // by inode
  std::unordered_map<uint64_t, size_t> roots_;         // remote root inode -> remotes_ index
  std::unordered_map<uint32_t, size_t> by_remote_id_;  // -> remotes_ index
};

}  // namespace hoardfs
