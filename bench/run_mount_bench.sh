#!/usr/bin/env bash
# Mount benchmarks: hoardfs against the limits and its peers, side by side in one run (the protocol
# is in docs/benchmarks.md). Builds hoardfs (Release, build-mbench), installs what is missing
# (fio, xrootd, xrootd-fuse, curl, jq; rclone optional), generates the data, starts its own xrootd
# (root:// + WebDAV) on free loopback ports, measures every case on every system in rounds, and
# writes the tables (medians, min-max, ratios vs targets) to docs/benchmarks-mount.md.
#
#   bench/run_mount_bench.sh [--quick] [--out FILE] [--rounds N] [--no-rclone] [--no-xrootdfs]
#
#   --quick       256 MiB file, 2,000 small files, 4,000-entry directory, 1 s fio jobs (< 5 min)
#                 (full: 1 GiB, 10,000, 20,000, 10 s fio jobs; < 20 min)
#                 The bound is kept by a time budget from the data generation on: a system's round
#                 that would overrun it (by its last round's duration) is skipped and reported.
#   --out FILE    write the report there instead of docs/benchmarks-mount.md
#   --rounds N    rounds of every case (default 3; the report gives the median and min-max)
#
# Environment: HOARDFS_BENCH_DIR  where data, caches and mounts go (default /var/tmp: the cache
#              disk, not tmpfs); HOARDFS_BIN  use this hoardfs binary instead of building one;
#              HOARDFS_BENCH_KEEP_LOGS=DIR  copy the logs (daemons, steps, phase timings) there.
# Needs root (xrootd -R nobody, FUSE mounts, drop_caches). Tears everything down on exit: unmounts
# (fusermount3 -u, then umount -l) every mount it made, stops only the processes it started,
# removes its directory.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/docs/benchmarks-mount.md"
QUICK=0
ROUNDS=3
WANT_RCLONE=1
WANT_XROOTDFS=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --out) OUT="$2"; shift ;;
    --rounds) ROUNDS="$2"; shift ;;
    --no-rclone) WANT_RCLONE=0 ;;
    --no-xrootdfs) WANT_XROOTDFS=0 ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ "$OUT" == /* ]] || OUT="$PWD/$OUT"
if [[ $(id -u) != 0 ]]; then
  echo "run as root: xrootd -R nobody, FUSE mounts and drop_caches need it" >&2
  exit 1
fi

if [[ $QUICK == 1 ]]; then
  BIG_MIB=256; SMALL_PER_DIR=20; WIDE=4000; FIO_RUNTIME=1; BUDGET=280; MODE="quick"
else
  BIG_MIB=1024; SMALL_PER_DIR=100; WIDE=20000; FIO_RUNTIME=10; BUDGET=1140; MODE="full"
fi
BIG_BYTES=$((BIG_MIB * 1048576))
SMALL_DIRS=100
SMALL=$((SMALL_DIRS * SMALL_PER_DIR))
SEQ_TIMEOUT=$((30 + BIG_MIB / 8))   # generous: 8 MB/s floor
DATA_NAME=data

BASE="${HOARDFS_BENCH_DIR:-/var/tmp}"
mkdir -p "$BASE"
if [[ "$(findmnt -no FSTYPE -T "$BASE")" == tmpfs ]]; then
  echo "$BASE is tmpfs: set HOARDFS_BENCH_DIR to a directory on the cache disk" >&2
  exit 1
fi
need_mib=$((BIG_MIB * 4 + 1024))
avail_mib=$(($(df --output=avail -k "$BASE" | tail -1) / 1024))
if ((avail_mib < need_mib)); then
  echo "not enough free space in $BASE: ${avail_mib} MiB, need ${need_mib} MiB" >&2
  exit 1
fi

WORK="$(mktemp -d "$BASE/hoardfs-mount-bench.XXXXXX")"
chmod 755 "$WORK"
LOG_DIR="$WORK/logs"
RESULTS="$WORK/results.tsv"
DIAG="$WORK/diag.tsv"
mkdir -p "$LOG_DIR"
: >"$RESULTS"
: >"$DIAG"
: >"$WORK/rss.tsv"
# shellcheck source=bench/mount_bench_lib.sh
source "$ROOT/bench/mount_bench_lib.sh"

KEEP_LOGS="${HOARDFS_BENCH_KEEP_LOGS:-}"
cleanup() {
  local rc=$? m entry pid needle
  trap - EXIT INT TERM
  for m in "${MOUNTS[@]}"; do unmount_path "$m" || echo "could not unmount $m" >&2; done
  for entry in "${STARTED_PIDS[@]}"; do
    pid="${entry%%:*}"
    needle="${entry#*:}"
    stop_pid "$pid" "$needle"
  done
  if [[ -n "$KEEP_LOGS" ]]; then
    mkdir -p "$KEEP_LOGS" && cp -r "$LOG_DIR/." "$KEEP_LOGS/" 2>/dev/null
  fi
  # --one-file-system: never descend into a mount that refused to go away.
  rm -rf --one-file-system "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

T_START=$SECONDS
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
start_date="$(date -u '+%Y-%m-%d %H:%M UTC')"

# ---- tools -------------------------------------------------------------------------------------
log "== tools"
for pair in fio:fio xrootd:xrootd-server xrdcp:xrootd-client xrdfs:xrootd-client curl:curl \
  jq:jq fusermount3:fuse3 getfattr:attr python3:python3-minimal ss:iproute2; do
  ensure_cmd "${pair%%:*}" "${pair#*:}" || { echo "missing ${pair%%:*} (${pair#*:})" >&2; exit 1; }
done
PEER_NOTES=()
HAVE_XROOTDFS=0
HAVE_RCLONE=0
if [[ $WANT_XROOTDFS == 1 ]]; then
  if ensure_cmd xrootdfs xrootd-fuse; then HAVE_XROOTDFS=1; else PEER_NOTES+=("xrootdfs: package xrootd-fuse could not be installed"); fi
else
  PEER_NOTES+=("xrootdfs: skipped (--no-xrootdfs)")
fi
if [[ $WANT_RCLONE == 1 ]]; then
  if ensure_cmd rclone rclone; then HAVE_RCLONE=1; else PEER_NOTES+=("rclone: package rclone could not be installed"); fi
else
  PEER_NOTES+=("rclone: skipped (--no-rclone)")
fi
PEER_NOTES+=("s3fs: not run (the protocol's S3 server, a Ceph RGW, is not started by this script)")

if [[ -n "${HOARDFS_BIN:-}" ]]; then
  log "using HOARDFS_BIN=$HOARDFS_BIN"
else
  BUILD="$ROOT/build-mbench"
  log "== build (Release, $BUILD)"
  # -Wno-error=restrict: GCC 12 at -O3 reports a false -Wrestrict in std::string (remote/url.cc).
  if ! timeout 600 cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS="-Wno-error=restrict" >"$LOG_DIR/cmake.log" 2>&1 ||
    ! timeout 1200 ninja -C "$BUILD" hoardfs >"$LOG_DIR/build.log" 2>&1; then
    tail -30 "$LOG_DIR/cmake.log" "$LOG_DIR/build.log" >&2
    echo "build failed" >&2
    exit 1
  fi
  HOARDFS_BIN="$BUILD/daemon/hoardfs"
fi
T_TOOLS=$((SECONDS - T_START))

# ---- data --------------------------------------------------------------------------------------
T_BENCH0=$SECONDS
DEADLINE=$((SECONDS + BUDGET))
SRV="$WORK/srv"
DATA="$SRV/$DATA_NAME"
log "== data in $DATA: ${BIG_MIB} MiB file, 2 trees of $SMALL small files in $SMALL_DIRS dirs, $WIDE-entry dir"
ttfb_names=()
for sys in curl hoardfs xrootdfs rclone; do
  for ((r = 1; r <= ROUNDS; r++)); do ttfb_names+=("$sys-$r"); done
done
make_data "$DATA" "$BIG_BYTES" "$SMALL_DIRS" "$SMALL_PER_DIR" "$WIDE" "${ttfb_names[@]}" ||
  { echo "data generation failed" >&2; exit 1; }
chmod -R a+rX "$SRV"
chmod 755 "$SRV"
n_small="$(find "$DATA/small" "$DATA/smallcat" -type f | wc -l)"
[[ "$n_small" == "$((2 * SMALL))" ]] || { echo "expected 2 x $SMALL small files, made $n_small" >&2; exit 1; }

log "== xrootd"
start_xrootd "$SRV" || { echo "xrootd did not start" >&2; exit 1; }
log "xrootd pid $XRD_PID: root://127.0.0.1:$XRD_PORT//$DATA_NAME, http://127.0.0.1:$XRD_HTTP_PORT/$DATA_NAME"

FSOPS="$WORK/fsops.py"
write_fsops "$FSOPS"
MNT="$WORK/mnt"
CACHES="$WORK/cache"
mkdir -p "$MNT/hoardfs" "$MNT/xrootdfs" "$MNT/rclone" "$CACHES"

# ---- one round of the limits -------------------------------------------------------------------
# measure ROUND SYSTEM CASE UNIT CONVERTER CMD...: runs CMD (which prints a raw figure), converts it
# and records it; a failed step is noted and the run goes on. LAST_OUT keeps CMD's raw output.
LAST_OUT=""
measure() {
  local r="$1" sys="$2" case="$3" unit="$4" conv="$5"
  shift 5
  phase "$r $sys $case"
  LAST_OUT=""
  if LAST_OUT="$("$@")" && [[ -n "$LAST_OUT" ]]; then
    rec "$r" "$sys" "$case" "$("$conv" "$LAST_OUT")" "$unit"
  else
    LAST_OUT=""
    fail_note "$sys $case ($*)"
  fi
}
conv_seq() { awk -v b="$BIG_BYTES" -v s="$1" 'BEGIN { printf "%.3f", b / s / 1e6 }'; }
conv_ms() { awk -v s="$1" 'BEGIN { printf "%.3f", s * 1000 }'; }
# fio_case ROUND SYSTEM FILE: both random-read jobs (page cache dropped first); LAST_OUT as fio_rand.
fio_case() {
  local -a v
  drop_caches
  phase "$1 $2 fio"
  if LAST_OUT="$(fio_rand "$3")" && read -r -a v <<<"$LAST_OUT" && ((${#v[@]} == 3)); then
    rec "$1" "$2" rand_psync "${v[0]}" IOPS
    rec "$1" "$2" rand_uring "${v[1]}" IOPS
  else
    LAST_OUT=""
    fail_note "$2 fio on $3"
  fi
}
conv_small() { rate "$SMALL" "$1"; }
conv_wide() { rate "$WIDE" "$1"; }

curl_big() {
  local out
  out="$(timeout "$SEQ_TIMEOUT" curl -sf -o /dev/null -w '%{time_total} %{size_download}' \
    "http://127.0.0.1:$XRD_HTTP_PORT/$DATA_NAME/big")" && [[ "${out#* }" == "$BIG_BYTES" ]] || return 1
  printf '%s' "${out%% *}"
}
curl_ttfb() {
  timeout 30 curl -sf -o /dev/null -w '%{time_starttransfer}' \
    "http://127.0.0.1:$XRD_HTTP_PORT/$DATA_NAME/ttfb/curl-$1"
}

limits_round() {
  local r="$1"
  log "round $r: limits"
  drop_caches
  measure "$r" local seq_warm MB/s conv_seq dd_read "$DATA/big" "$BIG_BYTES" iflag=direct
  dd_read "$DATA/big" "$BIG_BYTES" >/dev/null
  measure "$r" local seq_hot MB/s conv_seq dd_read "$DATA/big" "$BIG_BYTES"
  drop_caches
  measure "$r" xrdcp seq_cold MB/s conv_seq \
    timed "$SEQ_TIMEOUT" xrdcp -f -s "root://127.0.0.1:$XRD_PORT//$DATA_NAME/big" /dev/null
  drop_caches
  measure "$r" curl seq_cold MB/s conv_seq curl_big
  drop_caches
  measure "$r" curl ttfb ms conv_ms curl_ttfb "$r"
  fio_case "$r" local "$DATA/big"
  meta_ls_stat "$r" local "$DATA"
  meta_cat "$r" local "$DATA"
}

# The metadata and small-file cases on the tree at DIR (a mount or the local data): cold = first
# touch after drop_caches (on a fresh mount for the FUSE systems), warm = the same again. stat
# walks small/, cat reads smallcat/ (the same shape, other files, so its names and data were never
# seen even on the mount that ran stat).
meta_ls_stat() {
  local r="$1" sys="$2" dir="$3"
  drop_caches
  measure "$r" "$sys" ls_cold entries/s conv_wide fsop ls "$dir/wide" "$WIDE"
  measure "$r" "$sys" ls_warm entries/s conv_wide fsop ls "$dir/wide" "$WIDE"
  drop_caches
  measure "$r" "$sys" stat_cold files/s conv_small fsop stat "$dir/small" "$SMALL"
  measure "$r" "$sys" stat_warm files/s conv_small fsop stat "$dir/small" "$SMALL"
}
meta_cat() {
  local r="$1" sys="$2" dir="$3"
  drop_caches
  measure "$r" "$sys" cat_cold files/s conv_small fsop cat "$dir/smallcat" "$SMALL"
  measure "$r" "$sys" cat_warm files/s conv_small fsop cat "$dir/smallcat" "$SMALL"
}

# jq_delta BEFORE AFTER FIELD
jq_delta() { jq -n --argjson a "${1:-{\}}" --argjson b "${2:-{\}}" "(\$b.$3 // 0) - (\$a.$3 // 0)" 2>/dev/null; }
diag() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$DIAG"; }

# ---- one round of a FUSE system ----------------------------------------------------------------
# mount A (empty cache, page cache dropped): TTFB, cold seq, ls cold/warm, stat cold/warm
# mount B (A's cache, page cache dropped): warm seq, hot seq, fio psync then io_uring, then cat of
#   the never-seen smallcat/ tree cold/warm -- last, because hoardfs gives each small file a whole
#   block slot (10,000 x 1 MiB > the 8 GiB cache), which would evict the large file first
do_mount() {  # do_mount SYSTEM CACHE
  case "$1" in
    hoardfs) mount_hoardfs "$MNT/hoardfs" "$2" ;;
    xrootdfs) mount_xrootdfs "$MNT/xrootdfs" ;;
    rclone) mount_rclone "$MNT/rclone" "$2" ;;
  esac
}

fs_round() {
  local sys="$1" r="$2" m="$MNT/$1" ca="$CACHES/$1-$2" st0="" st1
  log "round $r: $sys"
  # A
  do_mount "$sys" "$ca" || return 1
  drop_caches
  measure "$r" "$sys" ttfb ms conv_ms fsop ttfb "$m/ttfb/$sys-$r" 1
  [[ $sys == hoardfs ]] && st0="$(hoardfs_stats "$m")"
  measure "$r" "$sys" seq_cold MB/s conv_seq dd_read "$m/big" "$BIG_BYTES"
  if [[ $sys == hoardfs ]]; then
    st1="$(hoardfs_stats "$m")"
    diag "$r" cold_remote_requests "$(jq_delta "$st0" "$st1" remote_requests)"
    diag "$r" cold_remote_bytes "$(jq_delta "$st0" "$st1" remote_bytes)"
    diag "$r" read_ahead_kb "$(cat "/sys/class/bdi/$(mountpoint -d "$m")/read_ahead_kb" 2>/dev/null)"
  fi
  meta_ls_stat "$r" "$sys" "$m"
  RSS_LABEL="A" unmount_fs "$sys" "$m"
  # B
  do_mount "$sys" "$ca" || return 1
  drop_caches
  [[ $sys == hoardfs ]] && st0="$(hoardfs_stats "$m")"
  measure "$r" "$sys" seq_warm MB/s conv_seq dd_read "$m/big" "$BIG_BYTES"
  if [[ $sys == hoardfs ]]; then
    st1="$(hoardfs_stats "$m")"
    diag "$r" warm_remote_bytes "$(jq_delta "$st0" "$st1" remote_bytes)"
    diag "$r" warm_cache_hit_bytes "$(jq_delta "$st0" "$st1" cache_hit_bytes)"
  fi
  measure "$r" "$sys" seq_hot MB/s conv_seq dd_read "$m/big" "$BIG_BYTES"
  [[ $sys == hoardfs ]] && st0="$(hoardfs_stats "$m")"
  fio_case "$r" "$sys" "$m/big"
  if [[ $sys == hoardfs && -n "$LAST_OUT" ]]; then
    st1="$(hoardfs_stats "$m")"
    diag "$r" rand_app_bytes "${LAST_OUT##* }"
    diag "$r" rand_cache_hit_bytes "$(jq_delta "$st0" "$st1" cache_hit_bytes)"
    diag "$r" rand_memory_hit_bytes "$(jq_delta "$st0" "$st1" memory_hit_bytes)"
    diag "$r" rand_remote_bytes "$(jq_delta "$st0" "$st1" remote_bytes)"
  fi
  [[ $sys == hoardfs ]] && st0="$(hoardfs_stats "$m")"
  meta_cat "$r" "$sys" "$m"
  if [[ $sys == hoardfs ]]; then
    st1="$(hoardfs_stats "$m")"
    diag "$r" cat_used_bytes "$(jq_delta "$st0" "$st1" used_bytes)"
    diag "$r" cat_data_bytes "$(jq_delta "$st0" "$st1" data_bytes)"
  fi
  # Nothing uses this cache again: the daemon may finish exiting while the next system runs.
  RSS_LABEL="B" unmount_fs "$sys" "$m" "$ca"
}

SYSTEMS=(hoardfs)
[[ $HAVE_XROOTDFS == 1 ]] && SYSTEMS+=(xrootdfs)
[[ $HAVE_RCLONE == 1 ]] && SYSTEMS+=(rclone)
declare -A BROKEN=()
declare -A LAST_DURATION=()
SKIPPED=()
# fits NAME: true if NAME's round (as long as its last one) still fits in the time budget.
fits() { ((SECONDS + ${LAST_DURATION[$1]:-0} <= DEADLINE)); }
for ((r = 1; r <= ROUNDS; r++)); do
  if ! fits limits; then SKIPPED+=("round $r and later: time budget (${BUDGET} s) spent"); break; fi
  t_sys=$SECONDS
  limits_round "$r"
  LAST_DURATION[limits]=$((SECONDS - t_sys))
  for sys in "${SYSTEMS[@]}"; do
    [[ -n "${BROKEN[$sys]:-}" ]] && continue
    if ! fits "$sys"; then SKIPPED+=("$sys round $r: would overrun the time budget (${BUDGET} s)"); continue; fi
    t_sys=$SECONDS
    if ! fs_round "$sys" "$r"; then
      unmount_fs "$sys" "$MNT/$sys"
      if [[ $r == 1 ]]; then
        BROKEN[$sys]=1
        PEER_NOTES+=("$sys: could not be mounted, left out (see the failed steps below)")
      fi
    fi
    LAST_DURATION[$sys]=$((SECONDS - t_sys))
  done
  reap_later
  rm -rf "${CACHES:?}"/*
done
T_BENCH=$((SECONDS - T_BENCH0))
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
for sys in "${SYSTEMS[@]}"; do [[ -z "${BROKEN[$sys]:-}" ]] && PEER_NOTES+=("$sys: run"); done

# ---- report ------------------------------------------------------------------------------------
dev="$(findmnt -no SOURCE -T "$BASE")"
fstype="$(findmnt -no FSTYPE -T "$BASE")"
parent="$(lsblk -no PKNAME "$dev" 2>/dev/null | head -1 || true)"
dname="${parent:-$(basename "$dev")}"
disk="$(lsblk -dno SIZE,MODEL "/dev/$dname" 2>/dev/null | xargs || true)"
rota="$(cat "/sys/block/$dname/queue/rotational" 2>/dev/null || echo '?')"
cpu="$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
mem="$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
rev="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
dirty=""
git -C "$ROOT" diff --quiet 2>/dev/null || dirty=" + uncommitted changes"
versions="xrootd $(xrootd -v 2>&1 | head -1), $(fio --version 2>/dev/null), fuse3 $(fusermount3 -V 2>/dev/null | awk '{print $NF}')"
[[ $HAVE_RCLONE == 1 ]] && versions+=", rclone $(rclone version 2>/dev/null | awk 'NR == 1 {print $2}')"

export MB_RESULTS="$RESULTS" MB_DIAG="$DIAG" MB_RSS="$WORK/rss.tsv" MB_BIG_MIB="$BIG_MIB" \
  MB_SMALL="$SMALL" MB_WIDE="$WIDE" MB_FIO_RUNTIME="$FIO_RUNTIME"
mkdir -p "$(dirname "$OUT")"
{
  echo "# Mount benchmarks"
  echo
  echo "Generated by \`bench/run_mount_bench.sh$([[ $QUICK == 1 ]] && echo ' --quick')\` — do not edit by hand; rerun it."
  echo "How we measure: [benchmarks.md](benchmarks.md). Every system and every limit is measured in the"
  echo "same run, round after round (limits, hoardfs, peers, then the next round), on the same data,"
  echo "disk and XRootD server; cells are the median of the rounds with the min–max."
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| date | $start_date (benchmark ${T_BENCH} s; tools/build before it ${T_TOOLS} s) |"
  echo "| mode | $MODE: ${BIG_MIB} MiB file, $SMALL files of 4 KiB in $SMALL_DIRS directories (twice: small/ for stat, smallcat/ for cat), one directory of $WIDE entries, fio ${FIO_RUNTIME} s per job, $ROUNDS rounds |"
  echo "| source | hoardfs $rev$dirty |"
  echo "| CPU | $cpu, $(nproc) cores |"
  echo "| memory | $mem |"
  echo "| disk | $dev ($fstype): ${disk:-?}, rotational flag $rota; data, caches and mounts under $BASE |"
  echo "| kernel | $(uname -sr) |"
  echo "| load average (1/5/15 min) | start $load_start, end $load_end (2 shared cores: other jobs were running) |"
  echo "| versions | $versions |"
  echo
  "${PYTHON[@]}" - <<'PY'
import os, statistics as st
from collections import defaultdict

res = defaultdict(dict)   # (system, case) -> {round: value}
units = {}
for line in open(os.environ["MB_RESULTS"]):
    r, sysname, case, val, unit = line.rstrip("\n").split("\t")
    res[(sysname, case)][int(r)] = float(val)
    units[case] = unit
# the cold limit: the faster direct client of the round
for r in set(res[("xrdcp", "seq_cold")]) | set(res[("curl", "seq_cold")]):
    res[("direct", "seq_cold")][r] = max(res[("xrdcp", "seq_cold")].get(r, 0), res[("curl", "seq_cold")].get(r, 0))
big, small, wide = os.environ["MB_BIG_MIB"], os.environ["MB_SMALL"], os.environ["MB_WIDE"]
small_k = f"{int(small):,}"
wide_k = f"{int(wide):,}"
# case, label, limit system, limit label, lower_is_better, target vs limit
cases = [
    ("seq_cold", f"cold seq, {big} MiB (MB/s)", "direct", "direct client (faster of xrdcp, curl)", False, 0.9),
    ("seq_warm", f"warm seq (MB/s)", "local", "local O_DIRECT dd", False, 0.9),
    ("seq_hot", f"hot seq (MB/s)", "local", "local page cache dd", False, 0.8),
    ("rand_psync", "warm rand 4k, psync 1 job (IOPS)", "local", "local fio O_DIRECT", False, 0.5),
    ("rand_uring", "warm rand 4k, io_uring QD16 (IOPS)", "local", "local fio O_DIRECT", False, 0.5),
    ("ttfb", "TTFB of a never-read file (ms)", "curl", "curl time_starttransfer", True, None),
    ("stat_cold", f"stat {small_k} cold (files/s)", "local", "ext4 cold", False, None),
    ("stat_warm", f"stat {small_k} warm (files/s)", "local", "ext4 warm", False, 0.5),
    ("ls_cold", f"ls -f {wide_k} cold (entries/s)", "local", "ext4 cold", False, None),
    ("ls_warm", f"ls -f {wide_k} warm (entries/s)", "local", "ext4 warm", False, 0.5),
    ("cat_cold", f"cat {small_k} small files cold (files/s)", "local", "ext4 cold", False, None),
    ("cat_warm", f"cat {small_k} small files warm (files/s)", "local", "ext4 warm", False, None),
]
systems = [s for s in ("hoardfs", "xrootdfs", "rclone") if any(k[0] == s for k in res)]

def fmt(v):
    if v is None:
        return "—"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"

def cell(vals):
    vals = list(vals)
    if not vals:
        return "—"
    if len(vals) == 1:
        return fmt(vals[0])
    return f"{fmt(st.median(vals))} ({fmt(min(vals))}–{fmt(max(vals))})"

def ratios(a, b, lower_better):
    """per-round ratio a/b (b/a when lower is better): >1 means a is better."""
    out = []
    for r, va in a.items():
        vb = b.get(r)
        if vb and va:
            out.append(vb / va if lower_better else va / vb)
    return out

def rcell(vals):
    if not vals:
        return "—"
    if len(vals) == 1:
        return f"{vals[0]:.2f}"
    return f"{st.median(vals):.2f} ({min(vals):.2f}–{max(vals):.2f})"

print("## Results (median of the rounds, min–max)")
print()
print("| case | limit | limit value | " + " | ".join(systems) + " |")
print("|---|---|---:|" + "---:|" * len(systems))
for case, label, lsys, llabel, lower, _ in cases:
    row = [label, llabel, cell(res[(lsys, case)].values())]
    row += [cell(res[(s, case)].values()) for s in systems]
    print("| " + " | ".join(row) + " |")
rss = defaultdict(list)
rss_phase = defaultdict(list)
if os.path.exists(os.environ["MB_RSS"]):
    for line in open(os.environ["MB_RSS"]):
        f = line.split()
        rss[f[0]].append(int(f[1]) / 1024)
        if len(f) > 2:
            rss_phase[(f[0], f[2])].append(int(f[1]) / 1024)
print("| daemon peak RSS over the run (MiB, VmHWM) | — | — | " + " | ".join(fmt(max(rss[s])) if rss[s] else "—" for s in systems) + " |")
print()
print("Direct clients, cold, MB/s: xrdcp " + cell(res[("xrdcp", "seq_cold")].values()) +
      ", curl " + cell(res[("curl", "seq_cold")].values()) + " (xrdcp's wall time includes its start, "
      "~0.1–0.5 s here; curl's time_total does not).")
print()

if "hoardfs" in systems:
    h = lambda c: res[("hoardfs", c)]
    print("## hoardfs as ratios (per round, then median and min–max; > 1 = hoardfs is faster)")
    print()
    peers = [s for s in systems if s != "hoardfs"]
    hdr = "| case | ÷ limit | target | verdict |"
    sep = "|---|---:|---|---|"
    for p in peers:
        hdr += f" ÷ {p} | target |"
        sep += "---:|---|"
    print(hdr)
    print(sep)
    missed = []
    for case, label, lsys, llabel, lower, target in cases:
        rl = ratios(h(case), res[(lsys, case)], lower)
        med = st.median(rl) if rl else None
        if target is None:
            verdict, tcell = "", "—"
        else:
            tcell = f"≥ {target} × {llabel}"
            verdict = "—" if med is None else ("met" if med >= target else "**missed**")
            if verdict == "**missed**":
                missed.append(label)
        row = [label, rcell(rl), tcell, verdict]
        for p in peers:
            rp = ratios(h(case), res[(p, case)], lower)
            need = 2.0 if p == "rclone" else 1.0
            pm = st.median(rp) if rp else None
            v = "—" if pm is None else ("met" if pm >= need else "**missed**")
            row += [rcell(rp), f"≥ {need:g}: {v}"]
        print("| " + " | ".join(row) + " |")
    if rss["hoardfs"]:
        peak = max(rss["hoardfs"])
        row = ["daemon peak RSS", f"{peak:.0f} MiB", "≤ 256 MiB", "met" if peak <= 256 else "**missed**"]
        for p in peers:
            row += [f"{max(rss[p]):.0f} MiB" if rss[p] else "—", ""]
        print("| " + " | ".join(row) + " |")
    print()

    diag = defaultdict(dict)
    if os.path.exists(os.environ["MB_DIAG"]):
        for line in open(os.environ["MB_DIAG"]):
            r, k, v = line.rstrip("\n").split("\t")
            try:
                diag[k][int(r)] = float(v)
            except ValueError:
                pass
    print("## hoardfs counters (from `getfattr -n user.hoardfs.stats`)")
    print()
    size = int(big) * 1048576
    lines = []
    if diag["cold_remote_requests"]:
        req = diag["cold_remote_requests"].values()
        byt = diag["cold_remote_bytes"].values()
        lines.append(f"- cold seq: {cell(req)} remote requests for {big} MiB "
                     f"(mean {st.median(byt) / max(st.median(req), 1) / 1048576:.1f} MiB each); "
                     f"remote bytes ÷ file size {st.median(byt) / size:.2f}")
    rx = ratios(h("seq_cold"), res[("xrdcp", "seq_cold")], False)
    if rx:
        lines.append(f"- cold seq ÷ xrdcp (the same root:// protocol and client library): {rcell(rx)}")
    if diag["warm_remote_bytes"]:
        lines.append(f"- warm seq: remote bytes {cell(diag['warm_remote_bytes'].values())}, bytes read from the "
                     f"cache disk ÷ file size {st.median(diag['warm_cache_hit_bytes'].values()) / size:.2f}")
    if rss_phase[("hoardfs", "A")] or rss_phase[("hoardfs", "B")]:
        lines.append("- daemon peak RSS by mount: A (TTFB, cold seq, ls, stat) "
                     f"{cell(rss_phase[('hoardfs', 'A')])} MiB; B (warm and hot seq, fio, cat) "
                     f"{cell(rss_phase[('hoardfs', 'B')])} MiB")
    if diag["cat_used_bytes"]:
        lines.append(f"- cat of {small_k} small files: cache used_bytes +{st.median(diag['cat_used_bytes'].values()) / 1048576:,.0f} MiB "
                     f"for data_bytes +{st.median(diag['cat_data_bytes'].values()) / 1048576:,.1f} MiB (slots of the size classes, cache format v2)")
    if diag["read_ahead_kb"]:
        lines.append(f"- FUSE bdi read_ahead_kb of the mount: {cell(diag['read_ahead_kb'].values())}")
    app = diag["rand_app_bytes"]
    if app:
        cache = [diag["rand_cache_hit_bytes"].get(r, 0) / v for r, v in app.items() if v]
        memb = [diag["rand_memory_hit_bytes"].get(r, 0) / v for r, v in app.items() if v]
        remote = [diag["rand_remote_bytes"].get(r, 0) for r in app]
        lines.append("- warm rand 4k (both fio jobs): bytes read from the cache disk (cache_hit_bytes) ÷ "
                     f"bytes fio read {rcell(cache)}; memory_hit_bytes ÷ bytes fio read {rcell(memb)}; "
                     f"remote bytes {cell(remote)}")
    print("\n".join(lines) if lines else "(none recorded)")
    print()
PY
  echo "## Peers"
  echo
  for n in "${PEER_NOTES[@]}"; do echo "- $n"; done
  echo
  echo "## How each case is run"
  echo
  echo "- Limits each round: \`dd iflag=direct bs=1M\` of the served file on the cache disk (page cache dropped);"
  echo "  \`dd bs=1M\` of it again once in the page cache; \`xrdcp -f root://…/big /dev/null\` and \`curl -o /dev/null"
  echo "  http://…/big\` after dropping the page cache (the faster is the cold limit); fio on the local file."
  echo "- Every FUSE system, each round: mount A on an empty cache, page cache dropped: TTFB, cold seq (\`dd bs=1M\`),"
  echo "  \`ls -f\` of the wide directory cold then warm, stat of every file of small/ cold then warm; mount B on A's"
  echo "  cache (hoardfs, rclone) after \`echo 3 > /proc/sys/vm/drop_caches\`: warm seq, hot seq (read again), fio 4 KiB"
  echo "  \`--direct=1\` random reads in one fio run (psync 1 job, then io_uring iodepth 16, ${FIO_RUNTIME} s each; page"
  echo "  cache dropped before), then cat of every file of smallcat/ (the same shape as small/, never touched) cold"
  echo "  then warm. cat comes last: hoardfs gives each small file a whole 1 MiB block slot, and 10,000 of them"
  echo "  overflow the 8 GiB cache and evict the large file (seen in a first full run: its warm seq was a remote read)."
  echo "  xrootdfs has no disk cache: its \"warm\" is a second remote read."
  echo "- Timers: sequential reads use dd's own elapsed time (it starts after the open). ls/stat/cat/TTFB are timed"
  echo "  inside one python3 process making the same system calls as \`ls -f\` (getdents), \`find -type f | xargs"
  echo "  stat\` (a d_type walk, then stat of each file), \`cat\` (open/read/close) and \`head -c1\` (open + first"
  echo "  read): starting a process costs ~30 ms on these VMs, as much as a warm \`ls -f\` of 20,000 entries."
  echo "  Cold = first touch after drop_caches on a fresh mount; warm = the same again right after."
  echo "- Daemon peak RSS: VmHWM of each daemon read just before each unmount, maximum over the run."
  if ((${#FAILURES[@]} + ${#SKIPPED[@]} > 0)); then
    echo
    echo "## Failed or skipped steps"
    echo
    for f in "${FAILURES[@]}" "${SKIPPED[@]}"; do echo "- $f"; done
    if [[ -s "$LOG_DIR/steps.err" ]]; then
      echo
      echo '```'
      tail -20 "$LOG_DIR/steps.err"
      echo '```'
    fi
  fi
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo
cat "$OUT"
echo
log "wrote $OUT (benchmark ${T_BENCH} s, total $((SECONDS - T_START)) s)"
