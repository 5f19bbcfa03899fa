// MountTable: the config file of `hoardfs mount --config FILE MOUNTPOINT`, several remotes under
// one mount point. Parsing is pure (text in, MountTable or Status out); reading the file, flags and
// the environment stays in mount_command.cc.
//
// Format: INI-like, one `key = value` per line, `#` or `;` starts a comment line, blank lines are
// ignored. One optional `[cache]` section, one `[mount PATH]` section per remote:
//
//   [cache]                        # flags (--cache-dir, --cache-size, --block-size) override these
//   dir = /var/cache/hoardfs
//   size = 500G
//   block_size = 1M
//
//   [mount cms]                    # shown at MOUNTPOINT/cms
//   url = root://xrootd.example.org//store
//   attr_ttl = 5m                  # seconds, or with a unit: 90s, 5m, 1h
//
//   [mount lake/raw]               # nested: MOUNTPOINT/lake is a read-only directory of its own
//   url = s3://bucket/prefix
//   s3_endpoint = https://rgw.example.org
//   s3_credentials_file = /etc/hoardfs/lake.credentials
//
// Per-mount keys (defaults as the matching `hoardfs mount` flags): url (required), attr_ttl,
// dir_ttl, negative_ttl, remote_timeout, remote_attempts, remote_down_retry,
// remote_down_retry_max, names_first, s3_endpoint, s3_region, s3_virtual_host, s3_credentials_file,
// bearer_token_file, bearer_token_to_other_hosts, x509_proxy, ca_path, ca_file.
// Secrets are never written inline: only the paths of files holding them.
//
// Paths: relative, '/'-separated ("cms", "a/b"; a leading or trailing '/' is dropped), no empty,
// "." or ".." components. Two mounts may not share a path or contain one another ("a" and "a/b"):
// a remote's tree is never mixed with another's.
//
// Remote ids: each mount's remote id (the cache's key prefix, and the inode namespace of the
// MetadataCache) is derived from its path alone (RemoteIdOfMountPath), so a restart with the same
// table, even reordered, finds its cached blocks and inode numbers again.
//
// Errors are kInvalidArgument: "FILE:LINE: [mount cms] key 'attr_ttl': bad duration 'x' ...".
//
// Thread-safety: pure functions and plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace hoardfs {

// One remote of the table, with every option resolved (defaults filled in).
struct MountTableEntry {
  std::string path;  // normalised: "cms", "a/b"
  std::string url;
  int line = 0;  // of its [mount ...] header, for messages
  uint32_t remote_id = 0;
  unsigned attr_ttl = 60, dir_ttl = 60, negative_ttl = 10;  // seconds
  unsigned remote_timeout = 30;                             // seconds per request
  unsigned remote_attempts = 3;
  unsigned remote_down_retry = 5, remote_down_retry_max = 60;  // seconds; 0: no breaker
  unsigned names_first = 0;  // entries; 0: never (RemoteTreeOptions::names_first_entries)
  std::string s3_endpoint;
  std::string s3_region = "us-east-1";
  bool s3_virtual_host = false;
  std::string s3_credentials_file;
  std::string bearer_token_file;
  bool token_to_other_hosts = false;
  std::string x509_proxy, ca_path, ca_file;
};

// The range of --readahead, --readahead-limit and of [cache] readahead, readahead_limit: from the
// first window of a stream (FetcherOptions::readahead_initial) to 512 MiB.
inline constexpr uint64_t kMinReadaheadBytes = uint64_t{4} << 20;
inline constexpr uint64_t kMaxReadaheadBytes = uint64_t{512} << 20;

struct MountTable {
  // [cache]; nullopt where the file does not say (the flag or its default applies).
  std::optional<std::string> cache_dir, cache_size, block_size, readahead, readahead_limit;
  std::optional<unsigned> dataset_depth;
  std::vector<MountTableEntry> mounts;  // in file order; at least one
};

// Parses the text of a mount table; `file_name` is only used in messages.
Result<MountTable> ParseMountTable(std::string_view text, const std::string& file_name);

// The remote id of a mount path: stable (a hash of the path), never 0 (the single-URL mount's
// id) and never kSyntheticRemoteId.
uint32_t RemoteIdOfMountPath(const std::string& path);

// The id under which the synthetic directories of a table (the mount root, "a" of "a/b") get
// their persistent inode numbers.
inline constexpr uint32_t kSyntheticRemoteId = 0xffffffffu;

}  // namespace hoardfs
