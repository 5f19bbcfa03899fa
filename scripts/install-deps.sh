#!/usr/bin/env bash
# Installs the Debian 12 packages hoardfs builds, tests and runs with. Idempotent: installs only
# what is missing (apt-get update first, as a fresh machine needs), then s3rver (a second S3
# server for the tests) with npm if it is not installed yet.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config git python3 bc attr
  liburing-dev librocksdb-dev libspdlog-dev libfmt-dev libisal-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libfuse3-dev fuse3
  libxrootd-client-dev xrootd-server xrootd-client libssl-dev
  ceph-mon ceph-osd radosgw
  nginx-light libnginx-mod-http-dav-ext
  libcurl4-openssl-dev libexpat1-dev nlohmann-json3-dev libcpp-httplib-dev libcli11-dev
  clang-format clang-tidy
  nodejs
  sqlite3 tar
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# npm: Debian's own package, unless the installed nodejs bundles it (NodeSource's nodejs
# conflicts with Debian's npm).
if ! command -v npm >/dev/null; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends npm
fi
# s3rver, pinned: tests/support/s3rver_server.cc relies on its command-line options and defaults.
S3RVER_VERSION=3.7.1
if [ "$(npm ls -g --depth=0 --parseable=false s3rver 2>/dev/null | grep -o "s3rver@[0-9.]*")" = \
  "s3rver@${S3RVER_VERSION}" ]; then
  echo "install-deps: s3rver ${S3RVER_VERSION} present"
else
  echo "install-deps: installing s3rver ${S3RVER_VERSION} with npm"
  # Not fatal: without the npm registry the s3rver suite skips and says why; everything else runs.
  $SUDO npm install -g --no-audit --no-fund --loglevel=error "s3rver@${S3RVER_VERSION}" ||
    echo "install-deps: WARNING: npm could not install s3rver; the s3rver tests will skip" >&2
fi
