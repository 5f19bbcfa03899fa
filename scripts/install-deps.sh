#!/usr/bin/env bash
# Installs the Debian 12 packages hoardfs builds, tests and runs with. Idempotent: installs only
# what is missing (apt-get update first, as a fresh machine needs).
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
  sqlite3 tar
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
