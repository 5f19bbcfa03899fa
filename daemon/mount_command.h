// `hoardfs mount URL MOUNTPOINT ...`: the main job. Opens the remote, checks that its root can be
// read, opens the cache, mounts read-only and serves until unmounted or signalled.
//
// `hoardfs mount --config FILE MOUNTPOINT ...`: the same for a mount table (daemon/mount_table.h):
// every remote gets its own ObjectSource, RemoteTree, remote id and TTLs; one BlockCache,
// MetadataCache and Fetcher serve them all. A bad table (syntax, unknown key, bad URL, a missing
// credentials file) fails before anything is mounted. A remote that cannot be reached at mount
// time does not: it is logged and mounted anyway, and its directory fails with EIO until the
// remote is back (the single-URL form fails instead). Cache flags override the table's [cache];
// per-remote flags (--attr-ttl, --s3-endpoint, ...) belong in the table and are refused with it.
//
// Without --foreground the command forks before anything else starts (no threads, no XrdCl yet:
// XrdCl and fork() do not mix), the child mounts, and the parent exits only when the mount is up
// (status 0) or failed (one line on stderr, non-zero status, nothing left mounted).
//
// Thread-safety: not applicable (runs once per process).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace hoardfs {

struct MountArgs {
  std::string url;          // empty with config_file
  std::string config_file;  // --config: a mount table
  // The flags given on the command line ("--cache-dir", ...): with a table, they decide whether
  // the flag or the table's value applies.
  std::set<std::string> given_flags;
  std::string mountpoint;
  std::string cache_dir = "/var/cache/hoardfs";
  std::string cache_size = "10G";
  std::string block_size = "1M";
  // The largest readahead window of a sequential reader (FetcherOptions::readahead_max); the
  // fetcher's memory budget is twice it, at least 64 MiB.
  std::string readahead = "32M";
  // How far a stream's window may grow past `readahead` where a larger one raises its rate (a
  // remote behind a long round trip; FetcherOptions::readahead_limit); equal to it: never. Below
  // a larger `readahead` given, the default is that window (no growth). 64M: most of the gain
  // over a 20-50 ms link for 32M lent at most (128M gains more at 50 ms, and its 96M lent took
  // the daemon to 250 MiB RSS: docs/benchmarks.md).
  std::string readahead_limit = "64M";
  bool foreground = false;
  std::vector<std::string> fuse_options;                    // -o a,b
  unsigned attr_ttl = 60, dir_ttl = 60, negative_ttl = 10;  // seconds
  unsigned remote_timeout = 30;                             // seconds per request
  unsigned remote_attempts = 3;
  // Circuit breaker (remote/circuit_breaker.h): seconds before the first probe of a remote found
  // down, doubling per failed probe up to the max; 0 turns the breaker off.
  unsigned remote_down_retry = 5;
  unsigned remote_down_retry_max = 60;
  // RemoteTreeOptions::names_first_entries: a cold directory of at least this many entries is
  // answered with its names first where the remote lists names cheaply (root://); 0: never.
  unsigned names_first = 0;
  // s3:// remotes (remote/object_source.h S3Options). Secrets never come from flags: a file, or
  // the AWS_* environment variables.
  std::string s3_endpoint;
  std::string s3_region = "us-east-1";
  bool s3_virtual_host = false;
  std::string s3_credentials_file;
  // davs://, https:// remotes (remote/object_source.h DavOptions, TlsOptions).
  std::string bearer_token_file;
  bool token_to_other_hosts = false;
  std::string x509_proxy, ca_path, ca_file;
  unsigned dataset_depth = 3;
  std::string log_file;  // daemon mode: log here (default: syslog-less stderr to /dev/null)
  bool debug_fuse = false;
};

int RunMount(const MountArgs& args);

}  // namespace hoardfs
