#!/usr/bin/env bash
# fuse_transport_ab.sh: the FUSE ceiling over each of the kernel's FUSE transports, side by side
# (root). One local file, served through FUSE without any cache logic (one O_DIRECT read per
# request) by:
#   bare      bench/bare_fuse: libfuse 3.14's multi-threaded loop over /dev/fuse (16 threads),
#             the transport hoardfs uses; the mount benchmark's FUSE ceiling
#   dev       bench/uring_fuse --transport dev: the same over /dev/fuse without libfuse (16
#             threads), to show uring_fuse's own code matches libfuse's
#   uring     bench/uring_fuse --transport uring: FUSE-over-io_uring (Linux 6.14+), a ring and a
#             pinned thread per CPU, each file read an io_uring read on that ring, committed with
#             the next fetch when it completes
#   uring-w   the same rings, each request served synchronously by one of 16 worker threads and
#             handed back to its queue's thread: how a filesystem whose handlers block (hoardfs's
#             do) would use them
# and the local file itself (the limits: dd iflag=direct, a page-cache dd, fio on the file).
# Each round mounts each system in turn (order rotated per round) and runs the mount benchmark's
# cases: warm seq (page cache dropped, dd bs=1M), hot seq (dd again), fio 4 KiB random O_DIRECT
# reads psync 1 job, then io_uring iodepth 16 (page cache dropped first). A 64 MiB region read
# through each mount is compared with the file, and a uring system must have carried its reads on
# the rings (uring_fuse reports it at exit), or the round fails.
#
# usage: bash bench/fuse_transport_ab.sh [--rounds N] [--size-mib M] [--fio-seconds S]
#                                        [--dir DIR] [--systems "local bare dev uring uring-w"]
#   DIR (default /var/tmp/fuse-transport-ab) holds the file; it is removed at the end.
#   URING_FUSE_BIN and BARE_FUSE_BIN name the binaries (default build/bench/...).
# The fuse module's enable_uring parameter is set to Y for the run and restored after it.
set -euo pipefail

ROUNDS=3 SIZE_MIB=1024 FIO_SECONDS=10 DIR=/var/tmp/fuse-transport-ab
SYSTEMS="local bare dev uring uring-w"
while (($#)); do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --size-mib) SIZE_MIB="$2"; shift 2 ;;
    --fio-seconds) FIO_SECONDS="$2"; shift 2 ;;
    --dir) DIR="$2"; shift 2 ;;
    --systems) SYSTEMS="$2"; shift 2 ;;
    *) echo "usage: $0 [--rounds N] [--size-mib M] [--fio-seconds S] [--dir DIR] [--systems LIST]" >&2
       exit 2 ;;
  esac
done
HERE="$(cd "$(dirname "$0")/.." && pwd)"
URING_FUSE_BIN="${URING_FUSE_BIN:-$HERE/build/bench/uring_fuse}"
BARE_FUSE_BIN="${BARE_FUSE_BIN:-$HERE/build/bench/bare_fuse}"
((EUID == 0)) || { echo "$0: needs root (mounts, drop_caches)" >&2; exit 1; }
for tool in fio jq dd python3; do
  command -v "$tool" >/dev/null || { echo "$0: $tool is missing" >&2; exit 1; }
done
for bin in "$URING_FUSE_BIN" "$BARE_FUSE_BIN"; do
  [[ -x "$bin" ]] || { echo "$0: $bin is not built" >&2; exit 1; }
done
PARAM=/sys/module/fuse/parameters/enable_uring
[[ -w "$PARAM" ]] || { echo "$0: this kernel has no FUSE-over-io_uring ($PARAM)" >&2; exit 1; }

MNT="$DIR/mnt" FILE="$DIR/big" RESULTS="$DIR/results.tsv"
ORIGINAL_PARAM="$(cat "$PARAM")"
SERVER_PID=""
cleanup() {
  if mountpoint -q "$MNT" 2>/dev/null; then
    fusermount3 -u "$MNT" 2>/dev/null || umount "$MNT" 2>/dev/null || umount -l "$MNT" || true
  fi
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  echo "$ORIGINAL_PARAM" >"$PARAM" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT
echo Y >"$PARAM"
mkdir -p "$MNT"
dd if=/dev/urandom of="$FILE" bs=1M count="$SIZE_MIB" status=none
: >"$RESULTS"

drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
dd_mbs() {  # dd_mbs FILE [FLAG]: MB/s of one 1 MiB-block read of FILE
  dd if="$1" of=/dev/null bs=1M ${2:+iflag=$2} 2>&1 |
    awk '/copied/ { printf "%.0f\n", $1 / $(NF-3) / 1e6 }'
}
fio_iops() {  # fio_iops FILE: "PSYNC_IOPS QD16_IOPS"
  fio --output-format=json --filename="$1" --readonly --rw=randread --bs=4k --direct=1 \
    --numjobs=1 --runtime="$FIO_SECONDS" --time_based --name=psync --ioengine=psync \
    --iodepth=1 --name=uring --stonewall --ioengine=io_uring --iodepth=16 |
    jq -r '"\(.jobs[0].read.iops | floor) \(.jobs[1].read.iops | floor)"'
}
mount_system() {  # mount_system SYSTEM LOG
  case "$1" in
    bare) "$BARE_FUSE_BIN" "$FILE" "$MNT" >"$2" 2>&1 & ;;
    dev) "$URING_FUSE_BIN" --transport dev "$FILE" "$MNT" >"$2" 2>&1 & ;;
    uring) "$URING_FUSE_BIN" --transport uring "$FILE" "$MNT" >"$2" 2>&1 & ;;
    uring-w) "$URING_FUSE_BIN" --transport uring --workers 16 "$FILE" "$MNT" >"$2" 2>&1 & ;;
    *) echo "$0: unknown system $1" >&2; return 1 ;;
  esac
  SERVER_PID=$!
  for _ in $(seq 100); do
    mountpoint -q "$MNT" && break
    sleep 0.1
  done
  mountpoint -q "$MNT" || { echo "$0: $1 did not mount: $(cat "$2")" >&2; return 1; }
  echo 1024 >"/sys/class/bdi/$(mountpoint -d "$MNT")/read_ahead_kb"  # as hoardfs sets it
}
unmount_system() {  # unmount_system SYSTEM LOG: unmounts, waits, checks the transport's counts
  umount "$MNT"
  wait "$SERVER_PID" || { echo "$0: $1 exited with an error: $(cat "$2")" >&2; return 1; }
  SERVER_PID=""
  if [[ "$1" == uring* ]]; then
    local rings
    rings="$(sed -n 's/.* \([0-9]*\) by the rings$/\1/p' "$2")"
    ((${rings:-0} > 1000)) || { echo "$0: $1 carried ${rings:-no} requests on the rings" >&2
      return 1; }
  fi
}

read -r -a systems <<<"$SYSTEMS"
for ((r = 1; r <= ROUNDS; r++)); do
  n=${#systems[@]}
  for ((i = 0; i < n; i++)); do
    sys="${systems[$(((i + r - 1) % n))]}"
    log="$DIR/$sys.log"
    target="$FILE"
    if [[ "$sys" != local ]]; then
      mount_system "$sys" "$log"
      target="$MNT/big"
    fi
    drop
    if [[ "$sys" == local ]]; then warm="$(dd_mbs "$target" direct)"; else warm="$(dd_mbs "$target")"; fi
    [[ "$sys" == local ]] && dd_mbs "$target" >/dev/null  # the page cache, for the hot read
    hot="$(dd_mbs "$target")"
    drop
    read -r psync qd16 <<<"$(fio_iops "$target")"
    skip=$((RANDOM % (SIZE_MIB > 64 ? SIZE_MIB - 64 : 1)))
    cmp <(dd if="$target" bs=1M skip="$skip" count=64 status=none) \
      <(dd if="$FILE" bs=1M skip="$skip" count=64 status=none) ||
      { echo "$0: $sys served different bytes at $skip MiB" >&2; exit 1; }
    [[ "$sys" != local ]] && unmount_system "$sys" "$log"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$sys" "$warm" "$hot" "$psync" "$qd16" | tee -a "$RESULTS"
  done
done

python3 - "$RESULTS" "$SIZE_MIB" "$FIO_SECONDS" <<'EOF'
import collections, statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l]
cases = ["warm seq MB/s", "hot seq MB/s", "psync 4k IOPS", "QD16 4k IOPS"]
by = collections.defaultdict(lambda: [[] for _ in cases])
order = []
for r in rows:
    if r[1] not in order: order.append(r[1])
    for k in range(4): by[r[1]][k].append(float(r[2 + k]))
per_round = collections.defaultdict(dict)
for r in rows: per_round[r[0]][r[1]] = [float(x) for x in r[2:6]]
def med(v): return f"{statistics.median(v):,.0f} ({min(v):,.0f}–{max(v):,.0f})"
def ratio(a, b, k):
    v = [per_round[x][a][k] / per_round[x][b][k] for x in per_round
         if a in per_round[x] and b in per_round[x] and per_round[x][b][k] > 0]
    return f"{statistics.median(v):.2f} ({min(v):.2f}–{max(v):.2f})" if v else ""
print(f"\n{sys.argv[2]} MiB file, fio {sys.argv[3]} s per job, {len(per_round)} rounds; "
      "median (min–max); ratios per round, then their median (min–max)\n")
print("| system | " + " | ".join(cases) + " |")
print("|---|" + "---:|" * len(cases))
for s in order: print(f"| {s} | " + " | ".join(med(by[s][k]) for k in range(4)) + " |")
for base in ["local", "bare", "dev"]:
    if base not in order: continue
    print(f"\n| ÷ {base} | " + " | ".join(cases) + " |")
    print("|---|" + "---:|" * len(cases))
    for s in order:
        if s != base: print(f"| {s} | " + " | ".join(ratio(s, base, k) for k in range(4)) + " |")
EOF
