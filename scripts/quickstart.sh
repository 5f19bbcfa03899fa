#!/usr/bin/env bash
# The main job, on a fresh Debian 12 machine: install, build, start a local XRootD server over a
# generated sample dataset (the embedded default remote), mount it read-only with hoardfs, read
# every file through the mount (checking SHA-256 against the source), read it again from the cache,
# and print where it is mounted and what the cache holds. The mount and the server stay up.
#   scripts/quickstart.sh [WORKDIR]        default WORKDIR: /var/tmp/hoardfs-quickstart
#   scripts/quickstart.sh --stop [WORKDIR] unmount and stop the server
set -euo pipefail
cd "$(dirname "$0")/.."
stop=0
if [ "${1:-}" = "--stop" ]; then stop=1; shift; fi
work=${1:-/var/tmp/hoardfs-quickstart}
bin=$PWD/build/daemon/hoardfs

stop_all() {
  if grep -q " $work/mnt fuse" /proc/mounts 2>/dev/null; then
    fusermount3 -u "$work/mnt" 2>/dev/null || umount -l "$work/mnt" 2>/dev/null || true
  fi
  if [ -f "$work/xrootd.pid" ]; then
    kill "$(cat "$work/xrootd.pid")" 2>/dev/null || true
    rm -f "$work/xrootd.pid"
  fi
}
if [ $stop -eq 1 ]; then stop_all; echo "quickstart: stopped"; exit 0; fi

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target hoardfs
stop_all

# The sample dataset: one large file, small files in nested directories, an empty file.
mkdir -p "$work"
chmod 755 "$work"
if [ ! -f "$work/data/store/run2024/ntuples/events.root" ]; then
  echo "quickstart: generating sample data in $work/data"
  rm -rf "$work/data"
  mkdir -p "$work/data/store/run2024/ntuples" "$work/data/store/run2024/aux/calib" "$work/data/store/mc"
  head -c $((256 << 20)) /dev/urandom > "$work/data/store/run2024/ntuples/events.root"
  for i in $(seq 1 40); do head -c $((RANDOM * 3 + 1)) /dev/urandom > "$work/data/store/run2024/aux/calib/c$i.dat"; done
  head -c $((32 << 20)) /dev/urandom > "$work/data/store/mc/sim file.root"
  : > "$work/data/store/mc/empty.txt"
fi
chmod -R a+rX "$work/data"

# A local XRootD server (it refuses to run as root: -R nobody), on free loopback ports.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/xrootd.cfg" <<CFG
xrd.port $port
all.export /
oss.localroot $work/data
CFG
mkdir -p "$work/xrdlog" && chmod 777 "$work/xrdlog"
runas=()
[ "$(id -u)" -eq 0 ] && runas=(-R nobody)
xrootd "${runas[@]}" -c "$work/xrootd.cfg" -l "$work/xrdlog/xrootd.log" -n quickstart -b >/dev/null 2>&1 &
sleep 0.5
pgrep -f "xrootd.*$work/xrootd.cfg" | head -1 > "$work/xrootd.pid"
for _ in $(seq 1 50); do
  xrdfs "root://127.0.0.1:$port" ls / >/dev/null 2>&1 && break
  sleep 0.2
done
url="root://127.0.0.1:$port//store"
echo "quickstart: XRootD server at $url (pid $(cat "$work/xrootd.pid"))"

mkdir -p "$work/mnt"
mount_it() {
  "$bin" mount "$url" "$work/mnt" --cache-dir "$work/cache" --cache-size 2G --log-file "$work/hoardfs.log"
}
if ! err=$(mount_it 2>&1); then
  echo "$err" >&2
  # A cache left by an older hoardfs with another on-disk format: this demo's cache is disposable.
  if [[ "$err" == *"has format"* ]]; then
    echo "quickstart: removing the old-format cache $work/cache and mounting again"
    rm -rf "$work/cache"
    mount_it
  else
    exit 1
  fi
else
  echo "$err"
fi

ok=0; bad=0
start=$(date +%s.%N)
while read -r f; do
  rel=${f#"$work/data/store"}
  if [ "$(sha256sum < "$f")" = "$(sha256sum < "$work/mnt$rel")" ]; then ok=$((ok + 1)); else bad=$((bad + 1)); echo "MISMATCH $rel"; fi
done < <(find "$work/data/store" -type f | sort)
echo "quickstart: $ok files read through the mount with matching SHA-256, $bad mismatches ($(echo "$(date +%s.%N) - $start" | bc) s)"
echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
start=$(date +%s.%N)
cat "$work/mnt/run2024/ntuples/events.root" > /dev/null
echo "quickstart: second read of events.root (256 MiB) from the local cache: $(echo "$(date +%s.%N) - $start" | bc) s"

echo
echo "quickstart: $url is mounted at $work/mnt (read-only):"
ls -la "$work/mnt" "$work/mnt/run2024"
echo
echo "quickstart: what the cache holds ($work/cache):"
getfattr --only-values -n user.hoardfs.stats "$work/mnt"; echo
getfattr -d -m 'user.hoardfs' "$work/mnt/run2024/ntuples/events.root"
echo "quickstart: stop with: bash scripts/quickstart.sh --stop $work"
[ "$bad" -eq 0 ]
