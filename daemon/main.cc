// hoardfs: the one binary. Subcommands are wired here; each lives in its own file.
#include <CLI/CLI.hpp>
#include <iostream>

#include "common/log.h"
#include "daemon/cache_commands.h"
#include "daemon/mount_command.h"

int main(int argc, char** argv) {
  CLI::App app{"hoardfs: a node-local block cache for remote scientific data"};
  app.require_subcommand(1);
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")
      ->capture_default_str();

  hoardfs::CacheCommandArgs args;
  CLI::App* cache = app.add_subcommand("cache", "administer a cache directory");
  cache->require_subcommand(1);
  auto common = [&](CLI::App* sub) {
    sub->add_option("--cache-dir", args.cache_dir, "cache directory")->required();
    sub->add_option("--cache-size", args.cache_size, "cache limit, e.g. 500G")
        ->capture_default_str();
    sub->add_option("--block-size", args.block_size, "block size of the cache")
        ->capture_default_str();
    sub->add_option("--remote", args.remote_id, "remote id")->capture_default_str();
    sub->add_option("--dataset-depth", args.dataset_depth, "path depth of a dataset")
        ->capture_default_str();
    sub->add_option("--dataset", args.dataset_prefixes, "dataset prefix (repeatable)");
  };
  for (const char* name : {"stats", "usage", "pins"}) {
    CLI::App* sub = cache->add_subcommand(name, std::string("show ") + name);
    common(sub);
  }
  CLI::App* verify = cache->add_subcommand("verify", "read back and check every block");
  common(verify);
  verify->add_flag("--repair", args.repair, "drop bad blocks and fix counters");
  CLI::App* import = cache->add_subcommand("import", "insert a local file's blocks");
  common(import);
  import->add_option("file", args.local_file, "local file")->required()->check(CLI::ExistingFile);
  import->add_option("--as", args.path, "path in the remote (default: /<file name>)");
  import->add_option("--version", args.version, "version string (default: <size>-<mtime>)");
  CLI::App* cat = cache->add_subcommand("cat", "write a cached file to stdout");
  common(cat);
  cat->add_option("path", args.path, "path in the remote")->required();
  cat->add_option("--version", args.version, "version string")->required();
  for (const char* name : {"evict", "pin", "unpin"}) {
    CLI::App* sub = cache->add_subcommand(name, std::string(name) + " a path prefix");
    common(sub);
    sub->add_option("prefix", args.path, "path prefix")->required();
  }
  CLI::App* resize = cache->add_subcommand("resize", "change the cache limit");
  common(resize);
  resize->add_option("size", args.size, "new limit, e.g. 200G")->required();

  hoardfs::MountArgs m;
  CLI::App* mount = app.add_subcommand("mount", "mount a remote read-only at a path");
  // Positionals: URL MOUNTPOINT, or MOUNTPOINT alone with --config (sorted out after parsing).
  std::vector<std::string> positionals;
  mount
      ->add_option("url", positionals,
                   "URL MOUNTPOINT: root://host[:port]//path, s3://bucket[/prefix], "
                   "davs://host[:port]/path (also dav://, https://, http://) or file:///path, "
                   "then an existing directory; with --config: MOUNTPOINT only")
      ->required()
      ->expected(1, 2);
  mount
      ->add_option("--config", m.config_file,
                   "a mount table: several remotes under MOUNTPOINT, each with its own options "
                   "(see README.md)")
      ->check(CLI::ExistingFile);
  mount->add_option("--cache-dir", m.cache_dir, "cache directory")->capture_default_str();
  mount->add_option("--cache-size", m.cache_size, "cache limit, e.g. 500G")->capture_default_str();
  mount->add_option("--block-size", m.block_size, "cache block size")->capture_default_str();
  mount
      ->add_option("--readahead", m.readahead,
                   "readahead window a sequential reader reaches, 4M to 512M (memory: twice this, "
                   "at least 64M)")
      ->capture_default_str();
  mount
      ->add_option(
          "--readahead-limit", m.readahead_limit,
          "largest a sequential reader's window may grow to, where a larger one proves "
          "faster (a remote behind a long round trip), 4M to 512M; equal to --readahead: "
          "never (memory: the growth on top, at most limit - window for all readers together)")
      ->capture_default_str();
  mount->add_flag("-f,--foreground", m.foreground, "stay in the foreground");
  mount
      ->add_option("-o", m.fuse_options,
                   "mount options (allow_other, io_uring, io_uring_depth=N, ...)")
      ->delimiter(',');
  mount->add_option("--attr-ttl", m.attr_ttl, "seconds attributes are trusted")
      ->capture_default_str();
  mount->add_option("--dir-ttl", m.dir_ttl, "seconds listings are trusted")->capture_default_str();
  mount->add_option("--negative-ttl", m.negative_ttl, "seconds a missing name is trusted")
      ->capture_default_str();
  mount->add_option("--remote-timeout", m.remote_timeout, "seconds per remote request")
      ->capture_default_str();
  mount->add_option("--remote-attempts", m.remote_attempts, "attempts on transient errors")
      ->capture_default_str();
  mount
      ->add_option("--remote-down-retry", m.remote_down_retry,
                   "seconds a remote found down (timed out, refused) fails requests at once "
                   "before one request probes it; doubles per failed probe (0: no breaker)")
      ->capture_default_str();
  mount
      ->add_option("--remote-down-retry-max", m.remote_down_retry_max,
                   "cap in seconds of the doubling --remote-down-retry interval")
      ->capture_default_str();
  mount
      ->add_option("--names-first", m.names_first,
                   "root:// remotes: a cold directory of at least this many entries is answered "
                   "with its names first, its attributes fetched behind (fast for `ls -f`, slow "
                   "for `ls -l`: a lookup per entry; 0: never)")
      ->capture_default_str();
  mount->add_option("--s3-endpoint", m.s3_endpoint,
                    "s3:// remotes: http(s)://host[:port] of the S3 service (default: AWS)");
  mount->add_option("--s3-region", m.s3_region, "s3:// remotes: signing region")
      ->capture_default_str();
  mount->add_flag("--s3-virtual-host", m.s3_virtual_host,
                  "s3:// remotes: bucket.endpoint addressing instead of endpoint/bucket");
  const char* s3_credentials_help =
      "s3:// remotes: AWS credentials INI file ([default] aws_access_key_id, "
      "aws_secret_access_key); default: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
      "AWS_SESSION_TOKEN from the environment, else anonymous";
  mount->add_option("--s3-credentials-file", m.s3_credentials_file, s3_credentials_help)
      ->check(CLI::ExistingFile);
  mount
      ->add_option("--bearer-token-file", m.bearer_token_file,
                   "davs:// and https:// remotes: a file holding a bearer token (WLCG); re-read "
                   "when it changes")
      ->check(CLI::ExistingFile);
  mount->add_flag("--bearer-token-to-other-hosts", m.token_to_other_hosts,
                  "also send the token when a redirect leads to another host");
  mount
      ->add_option("--x509-proxy", m.x509_proxy,
                   "HTTP-based remotes: client certificate and key in one PEM file (an X.509 or "
                   "RFC 3820 proxy)")
      ->check(CLI::ExistingFile);
  mount->add_option("--ca-path", m.ca_path, "HTTP-based remotes: a directory of CA certificates")
      ->check(CLI::ExistingDirectory);
  mount->add_option("--ca-file", m.ca_file, "HTTP-based remotes: a PEM bundle of CA certificates")
      ->check(CLI::ExistingFile);
  mount->add_option("--dataset-depth", m.dataset_depth, "path depth of a dataset")
      ->capture_default_str();
  mount->add_option("--log-file", m.log_file, "daemon log file (background mode)");
  mount->add_flag("--debug-fuse", m.debug_fuse, "trace FUSE requests");

  CLI11_PARSE(app, argc, argv);
  hoardfs::SetLogLevel(spdlog::level::from_str(log_level));
  for (CLI::App* sub : cache->get_subcommands()) args.command = sub->get_name();
  try {
    if (mount->parsed()) {
      const size_t want = m.config_file.empty() ? 2 : 1;
      if (positionals.size() != want) {
        std::cerr << "hoardfs: mount takes "
                  << (want == 2 ? "URL MOUNTPOINT" : "MOUNTPOINT (the URLs are in --config)")
                  << "\n";
        return 2;
      }
      m.mountpoint = positionals.back();
      if (want == 2) m.url = positionals.front();
      for (const CLI::Option* o : mount->get_options()) {
        if (o->count() > 0) m.given_flags.insert("--" + o->get_single_name());
      }
      return hoardfs::RunMount(m);
    }
    return hoardfs::RunCacheCommand(args);
  } catch (const std::exception& e) {
    std::cerr << "hoardfs: " << e.what() << "\n";
    return 1;
  }
}
