#!/usr/bin/env bash
# The main job, on a fresh Debian 12 machine: install, build, then exercise the block cache on the
# local disk with a generated sample dataset — import it block by block, read it back through the
# cache (checksums verified on every block), compare SHA-256 with the source, and print what the
# cache holds. (The FUSE mount over a local XRootD server replaces the import step once it lands.)
#   scripts/quickstart.sh [WORKDIR]     default WORKDIR: /var/tmp/hoardfs-quickstart
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/var/tmp/hoardfs-quickstart}
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target hoardfs
bin=build/daemon/hoardfs

rm -rf "$work/cache" "$work/sample"
mkdir -p "$work/sample/store/run2024/ntuples" "$work/sample/store/run2024/aux"
echo "quickstart: generating sample data in $work/sample"
head -c $((256 << 20)) /dev/urandom > "$work/sample/store/run2024/ntuples/events.root"
for i in $(seq 1 20); do head -c $((RANDOM * 7 + 1)) /dev/urandom > "$work/sample/store/run2024/aux/f$i.dat"; done

cache=(--cache-dir "$work/cache" --cache-size 1G --dataset-depth 3)
start=$(date +%s.%N)
find "$work/sample" -type f | sort | while read -r f; do
  rel=${f#"$work/sample"}
  "$bin" cache import "${cache[@]}" "$f" --as "$rel" --version quickstart >/dev/null
done
echo "quickstart: imported in $(echo "$(date +%s.%N) - $start" | bc) s"

ok=0; bad=0
while read -r f; do
  rel=${f#"$work/sample"}
  want=$(sha256sum < "$f")
  got=$("$bin" cache cat "${cache[@]}" "$rel" --version quickstart | sha256sum)
  if [ "$want" = "$got" ]; then ok=$((ok + 1)); else bad=$((bad + 1)); echo "MISMATCH $rel"; fi
done < <(find "$work/sample" -type f | sort)
echo "quickstart: $ok files read back through the cache with matching SHA-256, $bad mismatches"

echo "quickstart: cache at $work/cache holds:"
"$bin" cache usage "${cache[@]}"
"$bin" cache stats "${cache[@]}" | grep -E '"(capacity_bytes|used_bytes|data_bytes|direct_io|index_disk_bytes)"'
"$bin" cache verify "${cache[@]}" | grep -E '"(entries|verified|crc_failures)"'
[ "$bad" -eq 0 ]
