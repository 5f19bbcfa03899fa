#!/usr/bin/env bash
# Mount benchmarks: hoardfs over each backend against the limits and its peers, side by side in one
# run (the protocol is in docs/benchmarks.md). Builds hoardfs, bench/sparse_read and
# tests/support/rgw_server_main.cc (Release, build-mbench), installs what is missing (fio, xrootd,
# xrootd-fuse, curl, jq, gnuplot-nox, s3fs, ceph-mon/ceph-osd/radosgw; rclone optional), generates
# the data, starts its own xrootd (root:// + WebDAV) and Ceph RGW (S3) on free loopback ports,
# measures every case on every system in rounds, and writes the tables (medians, min-max, ratios vs
# targets) to docs/benchmarks-mount.md, the figures to docs/benchmarks-mount.json and plots
# (bench/plot_mount_bench.sh) to docs/benchmarks-mount-*.svg.
#
#   bench/run_mount_bench.sh [--quick] [--out FILE] [--rounds N] [--no-rclone] [--no-xrootdfs]
#                            [--no-http] [--no-s3] [--no-s3fs] [--no-sparse] [--no-scale]
#                            [--no-plots]
#
#   --quick       256 MiB file, 2,000 small files, 4,000-entry directory, 1 s fio jobs, 128 MiB
#                 sparse file, 64 x 16 MiB scaling files, one round: ~5 min with every system
#                 (full: 1 GiB, 10,000, 20,000, 10 s fio jobs, 512 MiB, 64 x 64 MiB, 3 rounds of
#                 ~14 min each with every system here). The bound is kept by a time budget from
#                 the first round on: a round that would overrun it (by the last round's
#                 duration) is not started, and reported; the full default (1,860 s) fits 2
#                 rounds, ~35 min in all (S3 setup ~2.5 min); --budget 2700 runs 3 (~50 min).
#   --out FILE    write the report there instead of docs/benchmarks-mount.md (the JSON and the
#                 plots go next to it: FILE without .md + .json / -throughput.svg / -latency.svg)
#   --rounds N    rounds of every case (default 3, quick 1; the report gives the median and min-max)
#   --no-http     no hoardfs over XRootD's HTTP door (http://)
#   --no-s3       no S3 server, so no hoardfs over s3://, s3fs, rclone over S3, curl SigV4
#   --no-s3fs, --no-rclone, --no-xrootdfs   leave that peer out (--no-rclone: both rclone mounts)
#   --no-sparse   no ROOT-like sparse case;  --no-scale  no 64-reader scaling case
#   --no-wan      no wide-area round. By default each round ends with the large file read cold
#                 through bench/delay_proxy (a TCP relay in front of xrootd's ports that delays
#                 every byte and bounds the bytes in flight per connection, as a long link does):
#                 xrdcp, curl, hoardfs over root:// (default: the window free to grow to 64M;
#                 and kept at 32M by --readahead-limit 32M: what the growth buys) and http://,
#                 and xrootdfs (its first 128 MiB: it waits a round trip per read)
#   --wan-rtt-ms MS      that link's round trip (default 20)
#   --wan-window-kib K   bytes in flight per direction and connection (default 4096: this
#                        machine's tcp_wmem maximum, what a Linux sender keeps unacknowledged)
#   --no-plots    no gnuplot SVGs
#   --budget S    time budget of the rounds in seconds (default: quick ~300, full 1,860 with every
#                 system)
#
# Environment: HOARDFS_BENCH_DIR  where data, caches and mounts go (default /var/tmp: the cache
#              disk, not tmpfs); HOARDFS_BIN  use this hoardfs binary instead of building one
#              (sparse_read, bare_fuse, dir_list and hoardfs_rgw_server are then taken from the
#              same build tree, BUILD/bench and BUILD/tests, or SPARSE_READ_BIN, BARE_FUSE_BIN,
#              DIR_LIST_BIN, RGW_SERVER_BIN);
#              HOARDFS_BENCH_KEEP_LOGS=DIR  copy the logs (daemons, steps, phase timings) there.
# Needs root (xrootd -R nobody, FUSE mounts, drop_caches). Tears everything down on exit: unmounts
# (fusermount3 -u, then umount -l) every mount it made, stops only the processes it started
# (the RGW launcher stops its Ceph daemons itself), removes its directory.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/docs/benchmarks-mount.md"
QUICK=0
ROUNDS=""
WANT_RCLONE=1
WANT_XROOTDFS=1
WANT_HTTP=1
WANT_S3=1
WANT_S3FS=1
WANT_SPARSE=1
WANT_SCALE=1
WANT_PLOTS=1
WANT_WAN=1
WAN_RTT_MS=20
WAN_WINDOW_KIB=4096
BUDGET_ARG=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --out) OUT="$2"; shift ;;
    --rounds) ROUNDS="$2"; shift ;;
    --no-rclone) WANT_RCLONE=0 ;;
    --no-xrootdfs) WANT_XROOTDFS=0 ;;
    --no-http) WANT_HTTP=0 ;;
    --no-s3) WANT_S3=0 ;;
    --no-s3fs) WANT_S3FS=0 ;;
    --no-sparse) WANT_SPARSE=0 ;;
    --no-scale) WANT_SCALE=0 ;;
    --no-plots) WANT_PLOTS=0 ;;
    --no-wan) WANT_WAN=0 ;;
    --wan-rtt-ms) WAN_RTT_MS="$2"; shift ;;
    --wan-window-kib) WAN_WINDOW_KIB="$2"; shift ;;
    --budget) BUDGET_ARG="$2"; shift ;;
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

# Quick mode is a smoke test: one round unless --rounds says otherwise (one round of the seven
# systems takes about 4 minutes here); full mode: 3 rounds.
[[ -n "$ROUNDS" ]] || ROUNDS=$((QUICK == 1 ? 1 : 3))
if [[ $QUICK == 1 ]]; then
  BIG_MIB=256; SMALL_PER_DIR=20; WIDE=4000; FIO_RUNTIME=1; BUDGET=280; MODE="quick"
  SPARSE_MIB=128; SCALE_MIB=16; S3_SMALL_DIRS=10
else
  BIG_MIB=1024; SMALL_PER_DIR=100; WIDE=20000; FIO_RUNTIME=10; BUDGET=1140; MODE="full"
  SPARSE_MIB=512; SCALE_MIB=64; S3_SMALL_DIRS=10
fi
SCALE_N=64
SPARSE_SEED=20261129
# The budget grows with every system beyond the original four (limits, hoardfs root://,
# xrootdfs, rclone): their rounds take about as long as hoardfs's.
BIG_BYTES=$((BIG_MIB * 1048576))
SPARSE_BYTES=$((SPARSE_MIB * 1048576))
SCALE_BYTES=$((SCALE_MIB * 1048576))
SMALL_DIRS=100
SMALL=$((SMALL_DIRS * SMALL_PER_DIR))
# The S3 systems stat and cat fewer small files (the first S3_SMALL_DIRS directories of small/
# and smallcat/): the RGW here answers a request in ~20 ms, so a cold cat of 2,000 files took
# over 100 s per system and round (quick mode). Their rates (files/s) stay comparable.
S3_SMALL=$((S3_SMALL_DIRS * SMALL_PER_DIR))
SEQ_TIMEOUT=$((30 + BIG_MIB / 8))   # generous: 8 MB/s floor
DATA_NAME=data

BASE="${HOARDFS_BENCH_DIR:-/var/tmp}"
mkdir -p "$BASE"
if [[ "$(findmnt -no FSTYPE -T "$BASE")" == tmpfs ]]; then
  echo "$BASE is tmpfs: set HOARDFS_BENCH_DIR to a directory on the cache disk" >&2
  exit 1
fi
need_mib=$((BIG_MIB * 4 + SPARSE_MIB * 3 + SCALE_N * SCALE_MIB * 2 + 1024))
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
# shellcheck source=bench/ramdisk.sh
source "$ROOT/bench/ramdisk.sh"
# shellcheck source=bench/delay_proxy.sh
source "$ROOT/bench/delay_proxy.sh"

KEEP_LOGS="${HOARDFS_BENCH_KEEP_LOGS:-}"
cleanup() {
  local rc=$? m entry pid needle
  trap - EXIT INT TERM
  for m in "${MOUNTS[@]}"; do unmount_path "$m" || echo "could not unmount $m" >&2; done
  stop_rgw
  for entry in "${STARTED_PIDS[@]}"; do
    pid="${entry%%:*}"
    needle="${entry#*:}"
    stop_pid "$pid" "$needle"
  done
  ramdisk_down "$WORK/cache-ramdisk"  # after its daemon has gone
  [[ -n "${URING_PARAM_WAS:-}" ]] && echo "$URING_PARAM_WAS" >"$URING_PARAM" 2>/dev/null
  if [[ -n "$KEEP_LOGS" ]]; then
    # with the raw figures (results.tsv, diag.tsv, rss.tsv: bench/mount_bench_report.py's input)
    mkdir -p "$KEEP_LOGS" && cp -r "$LOG_DIR/." "$KEEP_LOGS/" 2>/dev/null
    cp "$RESULTS" "$DIAG" "$WORK/rss.tsv" "$KEEP_LOGS/" 2>/dev/null
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
HAVE_S3=0
HAVE_S3FS=0
HAVE_PLOTS=0
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
if [[ $WANT_S3 == 1 ]]; then
  if ensure_cmd ceph-mon ceph-mon && ensure_cmd ceph-osd ceph-osd && ensure_cmd radosgw radosgw &&
    ensure_cmd radosgw-admin radosgw; then
    HAVE_S3=1
  else
    PEER_NOTES+=("S3 (Ceph RGW): packages ceph-mon/ceph-osd/radosgw could not be installed: no S3 systems")
  fi
  if [[ $HAVE_S3 == 1 && $WANT_S3FS == 1 ]]; then
    if ensure_cmd s3fs s3fs; then HAVE_S3FS=1; else PEER_NOTES+=("s3fs: package s3fs could not be installed"); fi
  elif [[ $WANT_S3FS == 0 ]]; then
    PEER_NOTES+=("s3fs: skipped (--no-s3fs)")
  fi
else
  PEER_NOTES+=("S3 systems (hoardfs over s3://, s3fs, rclone over S3, curl SigV4): skipped (--no-s3)")
fi
if [[ $WANT_PLOTS == 1 ]]; then
  if ensure_cmd gnuplot gnuplot-nox; then HAVE_PLOTS=1; else PEER_NOTES+=("plots: gnuplot-nox could not be installed"); fi
fi

TARGETS=(hoardfs sparse_read bare_fuse uring_fuse dir_list delay_proxy)
[[ $HAVE_S3 == 1 ]] && TARGETS+=(hoardfs_rgw_server)
if [[ -n "${HOARDFS_BIN:-}" ]]; then
  log "using HOARDFS_BIN=$HOARDFS_BIN"
  BUILD="$(cd "$(dirname "$HOARDFS_BIN")/.." && pwd)"
else
  BUILD="$ROOT/build-mbench"
  log "== build (Release, $BUILD: ${TARGETS[*]})"
  # -Wno-error=restrict: GCC 12 at -O3 reports a false -Wrestrict in std::string (remote/url.cc).
  if ! timeout 600 cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS="-Wno-error=restrict" >"$LOG_DIR/cmake.log" 2>&1 ||
    ! timeout 1800 ninja -C "$BUILD" "${TARGETS[@]}" >"$LOG_DIR/build.log" 2>&1; then
    tail -30 "$LOG_DIR/cmake.log" "$LOG_DIR/build.log" >&2
    echo "build failed" >&2
    exit 1
  fi
  HOARDFS_BIN="$BUILD/daemon/hoardfs"
fi
SPARSE_BIN="${SPARSE_READ_BIN:-$BUILD/bench/sparse_read}"
RGW_BIN="${RGW_SERVER_BIN:-$BUILD/tests/hoardfs_rgw_server}"
BARE_FUSE_BIN="${BARE_FUSE_BIN:-$BUILD/bench/bare_fuse}"
URING_FUSE_BIN="${URING_FUSE_BIN:-$BUILD/bench/uring_fuse}"
DIR_LIST_BIN="${DIR_LIST_BIN:-$BUILD/bench/dir_list}"
DELAY_PROXY_BIN="${DELAY_PROXY_BIN:-$BUILD/bench/delay_proxy}"
if [[ $WANT_WAN == 1 && ! -x "$DELAY_PROXY_BIN" ]]; then
  PEER_NOTES+=("wide-area round: no delay_proxy binary ($DELAY_PROXY_BIN): skipped")
  WANT_WAN=0
fi
HAVE_DIR_LIST=1
if [[ ! -x "$DIR_LIST_BIN" ]]; then
  PEER_NOTES+=("listing limits: no dir_list binary ($DIR_LIST_BIN): skipped")
  HAVE_DIR_LIST=0
fi
HAVE_BARE_FUSE=1
if [[ ! -x "$BARE_FUSE_BIN" ]]; then
  PEER_NOTES+=("FUSE ceiling: no bare_fuse binary ($BARE_FUSE_BIN): skipped")
  HAVE_BARE_FUSE=0
fi
# FUSE-over-io_uring (the FUSE ceiling over it, bench/uring_fuse, and hoardfs -o io_uring): the
# kernel's enable_uring is set for the run, restored after.
URING_PARAM=/sys/module/fuse/parameters/enable_uring
URING_PARAM_WAS=""
HAVE_URING=0
HAVE_URING_FUSE=0
if [[ ! -w "$URING_PARAM" ]]; then
  PEER_NOTES+=("FUSE-over-io_uring (uring_fuse, hoardfs -o io_uring): this kernel has none: skipped")
else
  URING_PARAM_WAS="$(cat "$URING_PARAM")"
  echo Y >"$URING_PARAM" && HAVE_URING=1
  if [[ ! -x "$URING_FUSE_BIN" ]]; then
    PEER_NOTES+=("FUSE ceiling over io_uring: no uring_fuse binary ($URING_FUSE_BIN): skipped")
  else
    HAVE_URING_FUSE=$HAVE_URING
  fi
fi
if [[ ! -x "$SPARSE_BIN" ]] && ((WANT_SPARSE + WANT_SCALE > 0)); then
  PEER_NOTES+=("sparse and scaling cases: no sparse_read binary ($SPARSE_BIN): skipped")
  WANT_SPARSE=0
  WANT_SCALE=0
fi
if [[ $HAVE_S3 == 1 && ! -x "$RGW_BIN" ]]; then
  PEER_NOTES+=("S3 systems: no hoardfs_rgw_server binary ($RGW_BIN): skipped")
  HAVE_S3=0
  HAVE_S3FS=0
fi
T_TOOLS=$((SECONDS - T_START))

# ---- data --------------------------------------------------------------------------------------
SYSTEMS=(hoardfs-root)
[[ $WANT_HTTP == 1 ]] && SYSTEMS+=(hoardfs-http)
[[ $HAVE_S3 == 1 ]] && SYSTEMS+=(hoardfs-s3)
[[ $HAVE_XROOTDFS == 1 ]] && SYSTEMS+=(xrootdfs)
[[ $HAVE_RCLONE == 1 ]] && SYSTEMS+=(rclone)
[[ $HAVE_RCLONE == 1 && $HAVE_S3 == 1 ]] && SYSTEMS+=(rclone-s3)
[[ $HAVE_S3FS == 1 ]] && SYSTEMS+=(s3fs)
# Every system beyond the original hoardfs/xrootdfs/rclone, and the sparse and scaling cases, get
# time of their own in the budget (about one hoardfs round each).
extra=$((${#SYSTEMS[@]} - 3))
((extra < 0)) && extra=0
if [[ $QUICK == 1 ]]; then
  BUDGET=$(((BUDGET + extra * 40 + (WANT_SPARSE + WANT_SCALE + WANT_WAN) * 10) * ROUNDS / 3))
  ((ROUNDS == 1)) && BUDGET=$((BUDGET * 2))   # one round: no round to skip, only a runaway guard
else
  BUDGET=$((BUDGET + extra * 150 * ROUNDS / 3 + (WANT_SPARSE + WANT_SCALE + WANT_WAN) * 60 * ROUNDS / 3))
fi

[[ -n "$BUDGET_ARG" ]] && BUDGET=$BUDGET_ARG

T_BENCH0=$SECONDS
SRV="$WORK/srv"
DATA="$SRV/$DATA_NAME"
sparse_arg=0
scale_n=0
[[ $WANT_SPARSE == 1 ]] && sparse_arg=$SPARSE_BYTES
[[ $WANT_SCALE == 1 ]] && scale_n=$SCALE_N
log "== data in $DATA: ${BIG_MIB} MiB file, 2 trees of $SMALL small files in $SMALL_DIRS dirs, $WIDE-entry dir$( ((sparse_arg)) && echo ", ${SPARSE_MIB} MiB sparse file")$( ((scale_n)) && echo ", $SCALE_N x $SCALE_MIB MiB files")"
ttfb_names=()
for sys in curl curl-s3 "${SYSTEMS[@]}"; do
  for ((r = 1; r <= ROUNDS; r++)); do ttfb_names+=("$sys-$r"); done
done
make_data "$DATA" "$BIG_BYTES" "$SMALL_DIRS" "$SMALL_PER_DIR" "$WIDE" "$sparse_arg" "$scale_n" \
  "$SCALE_BYTES" "${ttfb_names[@]}" || { echo "data generation failed" >&2; exit 1; }
chmod -R a+rX "$SRV"
chmod 755 "$SRV"
n_small="$(find "$DATA/small" "$DATA/smallcat" -type f | wc -l)"
[[ "$n_small" == "$((2 * SMALL))" ]] || { echo "expected 2 x $SMALL small files, made $n_small" >&2; exit 1; }
T_DATA=$((SECONDS - T_BENCH0))

log "== xrootd"
start_xrootd "$SRV" || { echo "xrootd did not start" >&2; exit 1; }
log "xrootd pid $XRD_PID: root://127.0.0.1:$XRD_PORT//$DATA_NAME, http://127.0.0.1:$XRD_HTTP_PORT/$DATA_NAME"
if [[ $WANT_WAN == 1 ]]; then
  if start_delay_proxy "$XRD_PORT" && WAN_PORT="$PROXY_PORT" &&
    start_delay_proxy "$XRD_HTTP_PORT" && WAN_HTTP_PORT="$PROXY_PORT"; then
    log "a ${WAN_RTT_MS} ms link (window ${WAN_WINDOW_KIB} KiB): root://127.0.0.1:$WAN_PORT, http://127.0.0.1:$WAN_HTTP_PORT"
  else
    fail_note "delay_proxy did not start: no wide-area round"
    WANT_WAN=0
  fi
fi

T_S3=0
if [[ $HAVE_S3 == 1 ]]; then
  # The same files as the XRootD export, but the scaling files (root:// only): hard links.
  t_s3=$SECONDS
  S3SRC="$WORK/s3src"
  mkdir -p "$S3SRC"
  for e in "$DATA"/*; do
    case "$(basename "$e")" in
      scale) ;;
      small | smallcat)
        mkdir -p "$S3SRC/$(basename "$e")"
        for ((d = 0; d < S3_SMALL_DIRS; d++)); do cp -al "$e/$(printf 'd%02d' "$d")" "$S3SRC/$(basename "$e")/"; done ;;
      *) cp -al "$e" "$S3SRC/" ;;
    esac
  done
  s3_mib=$(($(du -sm "$S3SRC" | cut -f1) * 3 / 2 + 1024))
  log "== Ceph RGW (memstore ${s3_mib} MiB), uploading $(find "$S3SRC" -type f | wc -l) objects"
  if start_rgw "$S3SRC" "$s3_mib" 1200; then
    log "RGW $RGW_ENDPOINT bucket $RGW_BUCKET: $RGW_UPLOADED objects uploaded in ${RGW_UPLOAD_SECONDS} s"
  else
    fail_note "Ceph RGW did not start or the upload failed: $(tail -c 400 "$LOG_DIR/rgw.err" 2>/dev/null)"
    PEER_NOTES+=("S3 systems: the RGW did not start (see the failed steps)")
    HAVE_S3=0
    HAVE_S3FS=0
    keep=()
    for sys in "${SYSTEMS[@]}"; do [[ $sys == hoardfs-s3 || $sys == rclone-s3 || $sys == s3fs ]] || keep+=("$sys"); done
    SYSTEMS=("${keep[@]}")
  fi
  rm -rf "$S3SRC"
  T_S3=$((SECONDS - t_s3))
fi
DEADLINE=$((SECONDS + BUDGET))

FSOPS="$WORK/fsops.py"
write_fsops "$FSOPS"
MNT="$WORK/mnt"
CACHES="$WORK/cache"
mkdir -p "$CACHES" "$MNT/scale"
for sys in "${SYSTEMS[@]}"; do mkdir -p "$MNT/$sys"; done

# ---- one round of the limits -------------------------------------------------------------------
# measure ROUND SYSTEM CASE UNIT CONVERTER CMD...: runs CMD (which prints a raw figure), converts it
# and records it; a failed step is noted and the run goes on. LAST_OUT keeps CMD's raw output.
LAST_OUT=""
# Busy CPU time of the whole machine so far, in clock ticks (/proc/stat: user, nice, system, irq,
# softirq, steal; not idle or iowait).
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
measure() {
  local r="$1" sys="$2" case="$3" unit="$4" conv="$5" b0
  shift 5
  phase "$r $sys $case"
  LAST_OUT=""
  b0="$(busy_ticks)"
  if LAST_OUT="$("$@")" && [[ -n "$LAST_OUT" ]]; then
    rec "$r" "$sys" "$case" "$("$conv" "$LAST_OUT")" "$unit"
    # A cold sequential read: what the machine's cores spent on it, all processes together
    # (the client, the daemon, the kernel's copies and the local server alike).
    [[ $case == seq_cold ]] && rec "$r" "$sys" seq_cold_busy \
      "$(awk -v t="$(($(busy_ticks) - b0))" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", t / hz }')" s
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
# CUR_SMALL: the number of small files of the system being measured (fewer over S3).
CUR_SMALL=$SMALL
conv_small() { rate "$CUR_SMALL" "$1"; }
conv_wide() { rate "$WIDE" "$1"; }

curl_big() {  # curl_big [PORT]: the large file by one GET (default: xrootd's HTTP port)
  local out
  out="$(timeout "$SEQ_TIMEOUT" curl -sf -o /dev/null -w '%{time_total} %{size_download}' \
    "http://127.0.0.1:${1:-$XRD_HTTP_PORT}/$DATA_NAME/big")" && [[ "${out#* }" == "$BIG_BYTES" ]] || return 1
  printf '%s' "${out%% *}"
}
curl_ttfb() {
  timeout 30 curl -sf -o /dev/null -w '%{time_starttransfer}' \
    "http://127.0.0.1:$XRD_HTTP_PORT/$DATA_NAME/ttfb/curl-$1"
}
# The same from the S3 server, signed (SigV4) by curl with the keys from a curl -K file.
curl_s3_big() {
  local out
  out="$(timeout "$SEQ_TIMEOUT" curl -K "$WORK/curl-s3.cfg" -sf -o /dev/null \
    -w '%{time_total} %{size_download}' "$RGW_ENDPOINT/$RGW_BUCKET/$DATA_NAME/big")" &&
    [[ "${out#* }" == "$BIG_BYTES" ]] || return 1
  printf '%s' "${out%% *}"
}
curl_s3_ttfb() {
  timeout 30 curl -K "$WORK/curl-s3.cfg" -sf -o /dev/null -w '%{time_starttransfer}' \
    "$RGW_ENDPOINT/$RGW_BUCKET/$DATA_NAME/ttfb/curl-s3-$1"
}
# The ranged-read bound: the large file as hoardfs fetches a sequential read, in range GETs of
# RANGE_MIB MiB, RANGE_PARALLEL at a time (its largest request and its readahead window ÷ that),
# by one curl process (--parallel: one connection per transfer in flight), each range verified;
# prints the seconds. curl_ranges CFG URL, CFG the credentials' curl -K file or "" (the HTTP
# door). The per-range config lives in $WORK (mode 600: it carries CFG's keys).
RANGE_MIB=8
RANGE_PARALLEL=4
curl_ranges() {
  local cfg="$1" url="$2" list="$WORK/ranges.cfg" chunk=$((RANGE_MIB << 20)) off end t0 got
  (
    umask 077
    for ((off = 0; off < BIG_BYTES; off += chunk)); do
      end=$((off + chunk < BIG_BYTES ? off + chunk - 1 : BIG_BYTES - 1))
      ((off == 0)) || echo next
      [[ -z "$cfg" ]] || cat "$cfg"
      printf 'url = "%s"\nrange = "%d-%d"\noutput = "/dev/null"\nfail\n' "$url" "$off" "$end"
      printf 'write-out = "%%{http_code} %%{size_download} %d\\n"\n' "$((end - off + 1))"
    done >"$list"
  )
  t0=$EPOCHREALTIME
  got="$(timeout "$SEQ_TIMEOUT" curl --no-progress-meter --parallel --parallel-max "$RANGE_PARALLEL" -K "$list")"
  local rc=$?
  rm -f "$list"
  ((rc == 0)) || return 1
  # every range answered 206 with exactly its length
  awk -v n=$(((BIG_BYTES + chunk - 1) / chunk)) '$1 != 206 || $2 != $3 { bad = 1 } END { exit bad || NR != n }' \
    <<<"$got" || return 1
  elapsed_since "$t0"
}

# sparse_read output "bytes=B seconds=S requests=N" -> S; scaling: -> MB/s.
conv_sparse() { sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$1"; }
conv_scale() { awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
  END { printf "%.3f", v["bytes"] / v["seconds"] / 1e6 }' <<<"$1"; }
sparse_bytes() { sed -n 's/.*bytes=\([0-9]*\).*/\1/p' <<<"$1"; }

# direct_cold ROUND SUFFIX CLIENT...: each direct client's cold read (page cache dropped before
# each), recorded as the system CLIENT+SUFFIX. Of the large file: xrdcp, curl (over the HTTP door),
# curl-s3 (SigV4 from the RGW); of the sparse read's ranges, one request after the other on one
# connection: ranges-http (libcurl range GETs), ranges-xroot (XrdCl reads). The faster client of
# a backend is its cold limit.
direct_cold() {
  local r="$1" sfx="$2" c
  shift 2
  for c in "$@"; do
    drop_caches
    case "$c" in
      xrdcp) measure "$r" "$c$sfx" seq_cold MB/s conv_seq \
        timed "$SEQ_TIMEOUT" xrdcp -f -s "root://127.0.0.1:$XRD_PORT//$DATA_NAME/big" /dev/null ;;
      curl) measure "$r" "$c$sfx" seq_cold MB/s conv_seq curl_big ;;
      curl-s3) measure "$r" "$c$sfx" seq_cold MB/s conv_seq curl_s3_big ;;
      curl-ranges) measure "$r" "$c$sfx" seq_cold MB/s conv_seq curl_ranges "" \
        "http://127.0.0.1:$XRD_HTTP_PORT/$DATA_NAME/big" ;;
      curl-s3-ranges) measure "$r" "$c$sfx" seq_cold MB/s conv_seq curl_ranges "$WORK/curl-s3.cfg" \
        "$RGW_ENDPOINT/$RGW_BUCKET/$DATA_NAME/big" ;;
      ranges-http) measure "$r" "$c$sfx" sparse_cold s conv_sparse timeout 300 "$SPARSE_BIN" http \
        "http://127.0.0.1:$XRD_HTTP_PORT/$DATA_NAME/sparse" "$SPARSE_BYTES" "$SPARSE_SEED" ;;
      ranges-xroot) measure "$r" "$c$sfx" sparse_cold s conv_sparse timeout 300 "$SPARSE_BIN" xroot \
        "root://127.0.0.1:$XRD_PORT//$DATA_NAME/sparse" "$SPARSE_SEED" ;;
    esac
  done
}
# The cold limits paired with one system's cold pass: the same direct clients just before
# (PHASE=before) and just after (after) it, recorded as CLIENT@SYSTEM-PHASE. On this machine the
# remote's disk speed drifts by 2-3 x within minutes, so a cold pass is compared with the mean of
# the limit taken around it rather than with the limits' round minutes earlier (the report shows
# both). Over S3 the sparse read has no direct client.
paired_seq_cold() {
  case "$2" in
    *-s3 | s3fs) direct_cold "$1" "@$2-$3" curl-s3 ;;
    hoardfs-http | rclone) direct_cold "$1" "@$2-$3" curl ;;
    *) direct_cold "$1" "@$2-$3" xrdcp curl ;;
  esac
}
paired_sparse_cold() {
  case "$2" in
    *-s3 | s3fs) ;;
    hoardfs-http | rclone) direct_cold "$1" "@$2-$3" ranges-http ;;
    *) direct_cold "$1" "@$2-$3" ranges-http ranges-xroot ;;
  esac
}

# paired_local ROUND SYSTEM PHASE: the local limits of the warm and hot cases (O_DIRECT dd, page
# cache dd, both fio jobs of the local file) taken just before (PHASE=before) and just after
# (after) a hoardfs system's warm passes, recorded as local@SYSTEM-PHASE: the local disk's speed
# drifts between runs as much as the remote's (O_DIRECT read 593-817 MB/s in one full run, 1,730 in
# the next), so the warm ratios, as the cold ones, divide by the mean of the two.
paired_local() {
  local r="$1" name="local@$2-$3"
  is_hoardfs "$2" || return 0
  drop_caches
  measure "$r" "$name" seq_warm MB/s conv_seq dd_read "$DATA/big" "$BIG_BYTES" iflag=direct
  dd_read "$DATA/big" "$BIG_BYTES" >/dev/null
  measure "$r" "$name" seq_hot MB/s conv_seq dd_read "$DATA/big" "$BIG_BYTES"
  fio_case "$r" "$name" "$DATA/big"
}
# paired_sparse_warm ROUND SYSTEM PHASE: likewise the sparse read's warm limit (the same preads on
# the local file, page cache dropped) around a hoardfs system's sparse warm pass.
paired_sparse_warm() {
  is_hoardfs "$2" || return 0
  drop_caches
  measure "$1" "local@$2-$3" sparse_warm s conv_sparse timeout 300 "$SPARSE_BIN" read "$DATA/sparse" "$SPARSE_SEED"
}

# wait_cache_written SYSTEM MNT: a hoardfs daemon answers reads before their blocks reach its cache
# disk (the writer drains a queue of up to 64 MiB); wait (at most 30 s) until its queue is empty
# (pending_insert_bytes 0), so that the next measurement does not share the disk with those
# writes. The peers' cache writes go through the page cache, which drop_caches syncs.
wait_cache_written() {
  local i
  is_hoardfs "$1" || return 0
  for ((i = 0; i < 300; i++)); do
    [[ "$(hoardfs_stats "$2" | jq -r '.pending_insert_bytes // 0' 2>/dev/null)" == 0 ]] && return 0
    sleep 0.1
  done
  fail_note "$1: the cache's insert queue did not drain within 30 s"
}

limits_round() {
  local r="$1"
  log "round $r: limits"
  CUR_SMALL=$SMALL
  drop_caches
  measure "$r" local seq_warm MB/s conv_seq dd_read "$DATA/big" "$BIG_BYTES" iflag=direct
  dd_read "$DATA/big" "$BIG_BYTES" >/dev/null
  measure "$r" local seq_hot MB/s conv_seq dd_read "$DATA/big" "$BIG_BYTES"
  # The cache disk's write speed (the file from the page cache into the caches' directory): a
  # cold read through a cache writes every byte it fetches.
  measure "$r" local seq_write MB/s conv_seq dd_write "$DATA/big" "$CACHES" "$BIG_BYTES"
  direct_cold "$r" "" xrdcp curl curl-ranges
  drop_caches
  measure "$r" curl ttfb ms conv_ms curl_ttfb "$r"
  if [[ $HAVE_S3 == 1 ]]; then
    direct_cold "$r" "" curl-s3 curl-s3-ranges
    measure "$r" curl-s3 ttfb ms conv_ms curl_s3_ttfb "$r"
  fi
  if [[ $WANT_SPARSE == 1 ]]; then
    direct_cold "$r" "" ranges-http ranges-xroot
    # Warm limit: the same pread()s on the local file, page cache dropped.
    drop_caches
    measure "$r" local sparse_warm s conv_sparse timeout 300 "$SPARSE_BIN" read "$DATA/sparse" "$SPARSE_SEED"
  fi
  fio_case "$r" local "$DATA/big"
  meta_ls_stat "$r" local "$DATA"
  meta_cat "$r" local "$DATA"
  [[ $HAVE_DIR_LIST == 1 ]] && listing_limits_round "$r"
  [[ $HAVE_BARE_FUSE == 1 ]] && fuse_ceiling_round "$r"
}

# The cold listing of the wide directory by a direct root:// client (bench/dir_list: XrdCl's
# DirList in-process), server page cache dropped: names only (what xrootdfs asks for) and with
# every entry's attributes in the answer (what hoardfs asks for, so that readdirplus and stat
# need no request per file).
conv_dirlist() {
  awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
    END { printf "%.3f", v["entries"] / v["seconds"] }' <<<"$1"
}
listing_limits_round() {
  local r="$1" url="root://127.0.0.1:$XRD_PORT//$DATA_NAME/wide"
  drop_caches
  measure "$r" list-names ls_cold entries/s conv_dirlist timeout 60 "$DIR_LIST_BIN" "$url"
  drop_caches
  measure "$r" list-attrs ls_cold entries/s conv_dirlist timeout 60 "$DIR_LIST_BIN" "$url" --stat
}

# bare_cold ROUND NAME URL CASE [OPTION...]: bench/bare_fuse over a remote file (one XrdCl read, or
# one libcurl range GET, signed for S3 with --s3-credentials, of exactly each FUSE read's range,
# nothing cached), server page cache dropped, read cold as CASE (seq_cold: the large file by dd;
# sparse_cold: the sparse read) reads it: the cold ceiling of a FUSE filesystem before it caches
# anything. OPTIONs go to bare_fuse.
bare_cold() {
  local r="$1" name="$2" url="$3" case="$4" m="$MNT/fuse-bare"
  shift 4
  mount_bare_fuse "$m" "$url" "$@" || { unmount_fs "$name" "$m"; return 0; }
  drop_caches
  if [[ $case == seq_cold ]]; then
    measure "$r" "$name" seq_cold MB/s conv_seq dd_read "$m/big" "$BIG_BYTES"
  else
    measure "$r" "$name" sparse_cold s conv_sparse timeout 300 "$SPARSE_BIN" read "$m/sparse" "$SPARSE_SEED"
  fi
  unmount_fs "$name" "$m"
}

# The FUSE ceiling: the large file through bench/bare_fuse (pread O_DIRECT + reply per request, no
# cache logic), mounted as hoardfs mounts: warm seq, hot seq, both fio jobs (and the same through
# bench/uring_fuse over FUSE-over-io_uring, where the kernel has it); then cold over
# root://, http:// and s3:// (bare_cold). Then the local sparse file through it (the sparse warm
# ceiling), and the sparse file cold over root:// and http://.
fuse_ceiling_round() {
  local r="$1" m="$MNT/fuse-bare"
  mkdir -p "$m"
  mount_bare_fuse "$m" "$DATA/big" || { unmount_fs fuse-bare "$m"; return 0; }
  drop_caches
  measure "$r" fuse-bare seq_warm MB/s conv_seq dd_read "$m/big" "$BIG_BYTES"
  measure "$r" fuse-bare seq_hot MB/s conv_seq dd_read "$m/big" "$BIG_BYTES"
  fio_case "$r" fuse-bare "$m/big"
  unmount_fs fuse-bare "$m"
  if [[ $HAVE_URING_FUSE == 1 ]]; then
    # The same over the kernel's other transport, FUSE-over-io_uring (bench/uring_fuse): what an
    # asynchronous read path on per-CPU rings lifts the ceiling to.
    local mu="$MNT/fuse-uring"
    mkdir -p "$mu"
    if mount_uring_fuse "$mu" "$DATA/big"; then
      drop_caches
      measure "$r" fuse-uring seq_warm MB/s conv_seq dd_read "$mu/big" "$BIG_BYTES"
      measure "$r" fuse-uring seq_hot MB/s conv_seq dd_read "$mu/big" "$BIG_BYTES"
      fio_case "$r" fuse-uring "$mu/big"
    fi
    unmount_fs fuse-uring "$mu"
  fi
  bare_cold "$r" fuse-bare "root://127.0.0.1:$XRD_PORT//$DATA_NAME/big" seq_cold
  [[ $WANT_HTTP == 1 ]] && bare_cold "$r" fuse-bare-http "http://127.0.0.1:$XRD_HTTP_PORT/$DATA_NAME/big" seq_cold
  [[ $HAVE_S3 == 1 ]] && bare_cold "$r" fuse-bare-s3 "$RGW_ENDPOINT/$RGW_BUCKET/$DATA_NAME/big" seq_cold \
    --s3-credentials "$WORK/s3.creds"
  [[ $WANT_SPARSE == 1 ]] || return 0
  # The sparse read warm: the local sparse file through it (O_DIRECT preads, as hoardfs reads
  # its cache disk), page cache dropped.
  mount_bare_fuse "$m" "$DATA/sparse" || { unmount_fs fuse-bare "$m"; return 0; }
  drop_caches
  measure "$r" fuse-bare sparse_warm s conv_sparse timeout 300 "$SPARSE_BIN" read "$m/sparse" "$SPARSE_SEED"
  unmount_fs fuse-bare "$m"
  bare_cold "$r" fuse-bare "root://127.0.0.1:$XRD_PORT//$DATA_NAME/sparse" sparse_cold
  [[ $WANT_HTTP == 1 ]] && bare_cold "$r" fuse-bare-http "http://127.0.0.1:$XRD_HTTP_PORT/$DATA_NAME/sparse" sparse_cold
  sparse_cache_apart "$r"
}

# The sparse read cold through hoardfs over root:// with its cache on a disk in RAM
# (bench/ramdisk.sh: ext4 on a loop device over a tmpfs file, O_DIRECT as on a disk; a fresh mount
# on an empty cache, server page cache dropped): the cache's writes then no longer share the one
# disk the local server reads the file from, as on a compute node whose remote storage is
# elsewhere. Beside bare FUSE, this splits hoardfs's sparse cold time into FUSE, the daemon and
# that disk.
sparse_cache_apart() {
  local r="$1" m="$MNT/hoardfs-ramdisk" rd="$WORK/cache-ramdisk"
  mkdir -p "$m"
  ramdisk_up "$rd" 3072 || { fail_note "RAM disk for the cache: set-up failed"; return 0; }
  if MB_CACHE_SIZE=1G mount_hoardfs "$m" "$rd/cache" "root://127.0.0.1:$XRD_PORT//$DATA_NAME"; then
    drop_caches
    measure "$r" hoardfs-ramdisk sparse_cold s conv_sparse timeout 300 "$SPARSE_BIN" read "$m/sparse" "$SPARSE_SEED"
  fi
  unmount_fs hoardfs-ramdisk "$m"
  ramdisk_down "$rd"
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
  measure "$r" "$sys" stat_cold files/s conv_small fsop stat "$dir/small" "$CUR_SMALL"
  measure "$r" "$sys" stat_warm files/s conv_small fsop stat "$dir/small" "$CUR_SMALL"
}
meta_cat() {
  local r="$1" sys="$2" dir="$3"
  drop_caches
  measure "$r" "$sys" cat_cold files/s conv_small fsop cat "$dir/smallcat" "$CUR_SMALL"
  measure "$r" "$sys" cat_warm files/s conv_small fsop cat "$dir/smallcat" "$CUR_SMALL"
}

# jq_delta BEFORE AFTER FIELD
jq_delta() { jq -n --argjson a "${1:-{\}}" --argjson b "${2:-{\}}" "(\$b.$3 // 0) - (\$a.$3 // 0)" 2>/dev/null; }
# diag ROUND SYSTEM KEY VALUE: a hoardfs counter (report only).
diag() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$DIAG"; }
is_hoardfs() { [[ $1 == hoardfs-* ]]; }

# ---- one round of a FUSE system ----------------------------------------------------------------
# mount A (empty cache, page cache dropped): TTFB, cold seq, ls cold/warm, stat cold/warm
# mount B (A's cache, page cache dropped): warm seq, hot seq, fio psync then io_uring, then cat of
#   the never-seen smallcat/ tree cold/warm -- last, because hoardfs gives each small file a whole
#   block slot (10,000 x 1 MiB > the 8 GiB cache), which would evict the large file first
do_mount() {  # do_mount SYSTEM CACHE
  local m="$MNT/$1"
  case "$1" in
    hoardfs-root) mount_hoardfs "$m" "$2" "root://127.0.0.1:$XRD_PORT//$DATA_NAME" ;;
    hoardfs-http) mount_hoardfs "$m" "$2" "http://127.0.0.1:$XRD_HTTP_PORT/$DATA_NAME" ;;
    hoardfs-s3) mount_hoardfs "$m" "$2" "s3://$RGW_BUCKET/$DATA_NAME" --s3-endpoint "$RGW_ENDPOINT" \
      --s3-credentials-file "$WORK/s3.creds" ;;
    xrootdfs) mount_xrootdfs "$m" ;;
    rclone) mount_rclone "$m" "$2" ;;
    rclone-s3) mount_rclone_s3 "$m" "$2" ;;
    s3fs) mount_s3fs "$m" "$2" ;;
  esac
}

# sparse_case ROUND SYSTEM MNT: the ROOT-like read cold (page cache dropped, never read) then warm
# (page cache dropped again, data in the system's own cache); for hoardfs, the remote bytes each
# time (over-fetch = remote bytes ÷ bytes the application read).
sparse_case() {
  local r="$1" sys="$2" m="$3" st0="" st1
  paired_sparse_cold "$r" "$sys" before
  drop_caches
  is_hoardfs "$sys" && st0="$(hoardfs_stats "$m")"
  measure "$r" "$sys" sparse_cold s conv_sparse timeout 300 "$SPARSE_BIN" read "$m/sparse" "$SPARSE_SEED"
  if is_hoardfs "$sys" && [[ -n "$LAST_OUT" ]]; then
    st1="$(hoardfs_stats "$m")"
    diag "$r" "$sys" sparse_app_bytes "$(sparse_bytes "$LAST_OUT")"
    diag "$r" "$sys" sparse_cold_remote_bytes "$(jq_delta "$st0" "$st1" remote_bytes)"
    diag "$r" "$sys" sparse_cold_remote_requests "$(jq_delta "$st0" "$st1" remote_requests)"
    diag "$r" "$sys" sparse_cold_fuse_read_bytes "$(jq_delta "$st0" "$st1" fuse_read_bytes)"
    diag "$r" "$sys" sparse_cold_fuse_reads "$(jq_delta "$st0" "$st1" fuse_reads)"
  fi
  wait_cache_written "$sys" "$m"
  paired_sparse_cold "$r" "$sys" after
  paired_sparse_warm "$r" "$sys" before
  drop_caches
  is_hoardfs "$sys" && st0="$(hoardfs_stats "$m")"
  measure "$r" "$sys" sparse_warm s conv_sparse timeout 300 "$SPARSE_BIN" read "$m/sparse" "$SPARSE_SEED"
  if is_hoardfs "$sys" && [[ -n "$LAST_OUT" ]]; then
    st1="$(hoardfs_stats "$m")"
    diag "$r" "$sys" sparse_warm_remote_bytes "$(jq_delta "$st0" "$st1" remote_bytes)"
  fi
  paired_sparse_warm "$r" "$sys" after
}

# uring_phase ROUND MNT CACHE: hoardfs over root:// mounted with -o io_uring on hoardfs-root's
# cache (its B mount's, warm): warm seq, hot seq and both fio jobs as system hoardfs-uring, between
# local limits of their own; the reads its rings served themselves (fuse_ring_fast_reads).
uring_phase() {
  local r="$1" m="$2" ca="$3" sys=hoardfs-uring st0 st1
  mount_hoardfs "$m" "$ca" "root://127.0.0.1:$XRD_PORT//$DATA_NAME" -o io_uring || return 0
  st0="$(hoardfs_stats "$m")"
  if [[ "$(jq -r '.fuse_transport // ""' <<<"$st0" 2>/dev/null)" != io_uring ]]; then
    fail_note "hoardfs -o io_uring: the kernel did not take the rings ($(jq -r '.fuse_transport // "?"' <<<"$st0" 2>/dev/null))"
  fi
  paired_local "$r" "$sys" before
  drop_caches
  measure "$r" "$sys" seq_warm MB/s conv_seq dd_read "$m/big" "$BIG_BYTES"
  measure "$r" "$sys" seq_hot MB/s conv_seq dd_read "$m/big" "$BIG_BYTES"
  st0="$(hoardfs_stats "$m")"
  fio_case "$r" "$sys" "$m/big"
  st1="$(hoardfs_stats "$m")"
  diag "$r" "$sys" rand_fuse_reads "$(jq_delta "$st0" "$st1" fuse_reads)"
  diag "$r" "$sys" rand_ring_fast_reads "$(jq_delta "$st0" "$st1" fuse_ring_fast_reads)"
  diag "$r" "$sys" rand_ring_fast_fallbacks "$(jq_delta "$st0" "$st1" fuse_ring_fast_fallbacks)"
  diag "$r" "$sys" rand_remote_bytes "$(jq_delta "$st0" "$st1" remote_bytes)"
  paired_local "$r" "$sys" after
  RSS_LABEL="U" unmount_fs "$sys" "$m"
}

fs_round() {
  local sys="$1" r="$2" m="$MNT/$1" ca="$CACHES/$1-$2" st0="" st1
  log "round $r: $sys"
  CUR_SMALL=$SMALL
  [[ $sys == hoardfs-s3 || $sys == rclone-s3 || $sys == s3fs ]] && CUR_SMALL=$S3_SMALL
  # A
  do_mount "$sys" "$ca" || return 1
  drop_caches
  measure "$r" "$sys" ttfb ms conv_ms fsop ttfb "$m/ttfb/$sys-$r" 1
  [[ $WANT_SPARSE == 1 ]] && sparse_case "$r" "$sys" "$m"
  paired_seq_cold "$r" "$sys" before
  drop_caches
  is_hoardfs "$sys" && st0="$(hoardfs_stats "$m")"
  measure "$r" "$sys" seq_cold MB/s conv_seq dd_read "$m/big" "$BIG_BYTES"
  if is_hoardfs "$sys"; then
    st1="$(hoardfs_stats "$m")"
    diag "$r" "$sys" cold_remote_requests "$(jq_delta "$st0" "$st1" remote_requests)"
    diag "$r" "$sys" cold_remote_bytes "$(jq_delta "$st0" "$st1" remote_bytes)"
    diag "$r" "$sys" cold_insert_wait_seconds "$(jq_delta "$st0" "$st1" insert_wait_seconds)"
    # The readahead probe's decisions over the pass (cache/readahead_probe.h).
    local k
    for k in readahead_grows readahead_kept readahead_shrinks; do
      diag "$r" "$sys" "cold_$k" "$(jq_delta "$st0" "$st1" "$k")"
    done
    diag "$r" "$sys" read_ahead_kb "$(cat "/sys/class/bdi/$(mountpoint -d "$m")/read_ahead_kb" 2>/dev/null)"
  fi
  wait_cache_written "$sys" "$m"
  paired_seq_cold "$r" "$sys" after
  meta_ls_stat "$r" "$sys" "$m"
  RSS_LABEL="A" unmount_fs "$sys" "$m"
  # B
  do_mount "$sys" "$ca" || return 1
  paired_local "$r" "$sys" before
  drop_caches
  is_hoardfs "$sys" && st0="$(hoardfs_stats "$m")"
  measure "$r" "$sys" seq_warm MB/s conv_seq dd_read "$m/big" "$BIG_BYTES"
  if is_hoardfs "$sys"; then
    st1="$(hoardfs_stats "$m")"
    diag "$r" "$sys" warm_remote_bytes "$(jq_delta "$st0" "$st1" remote_bytes)"
    diag "$r" "$sys" warm_cache_hit_bytes "$(jq_delta "$st0" "$st1" cache_hit_bytes)"
  fi
  measure "$r" "$sys" seq_hot MB/s conv_seq dd_read "$m/big" "$BIG_BYTES"
  is_hoardfs "$sys" && st0="$(hoardfs_stats "$m")"
  fio_case "$r" "$sys" "$m/big"
  if is_hoardfs "$sys" && [[ -n "$LAST_OUT" ]]; then
    st1="$(hoardfs_stats "$m")"
    diag "$r" "$sys" rand_app_bytes "${LAST_OUT##* }"
    diag "$r" "$sys" rand_cache_hit_bytes "$(jq_delta "$st0" "$st1" cache_hit_bytes)"
    diag "$r" "$sys" rand_memory_hit_bytes "$(jq_delta "$st0" "$st1" memory_hit_bytes)"
    diag "$r" "$sys" rand_remote_bytes "$(jq_delta "$st0" "$st1" remote_bytes)"
  fi
  paired_local "$r" "$sys" after
  if [[ $sys == hoardfs-root && $HAVE_URING == 1 ]]; then
    RSS_LABEL="B" unmount_fs "$sys" "$m"
    uring_phase "$r" "$m" "$ca"
    do_mount "$sys" "$ca" || return 1
  fi
  is_hoardfs "$sys" && st0="$(hoardfs_stats "$m")"
  meta_cat "$r" "$sys" "$m"
  if is_hoardfs "$sys"; then
    st1="$(hoardfs_stats "$m")"
    diag "$r" "$sys" cat_used_bytes "$(jq_delta "$st0" "$st1" used_bytes)"
    diag "$r" "$sys" cat_data_bytes "$(jq_delta "$st0" "$st1" data_bytes)"
  fi
  # Nothing uses this cache again: the daemon may finish exiting while the next system runs.
  RSS_LABEL="B" unmount_fs "$sys" "$m" "$ca"
}

# scale_round ROUND: SCALE_N threads reading SCALE_N distinct files at once (1 MiB reads): the
# local disk with O_DIRECT (the warm limit); the same files from the server by direct clients, a
# thread each, all at once (the cold limit: XrdCl in 8 MiB reads over four streams as hoardfs
# reads, and one libcurl GET each from the HTTP door); then hoardfs over root:// on a fresh mount
# and an empty cache (cold), and again after drop_caches (warm, from its cache); its peak RSS.
scale_round() {
  local r="$1" m="$MNT/scale" ca="$CACHES/scale-$1" hwm f
  local xroot_urls=() http_urls=()
  for f in "$DATA"/scale/f*; do
    xroot_urls+=("root://127.0.0.1:$XRD_PORT//$DATA_NAME/scale/${f##*/}")
    http_urls+=("http://127.0.0.1:$XRD_HTTP_PORT/$DATA_NAME/scale/${f##*/}")
  done
  log "round $r: scaling, $SCALE_N concurrent readers"
  drop_caches
  measure "$r" local scale_warm MB/s conv_scale timeout 600 "$SPARSE_BIN" seq --direct "$DATA"/scale/f*
  [[ -n "$LAST_OUT" ]] && rec "$r" local scale_cold "$(conv_scale "$LAST_OUT")" MB/s
  drop_caches
  measure "$r" readers-xrdcl scale_cold MB/s conv_scale timeout 600 \
    env XRD_SUBSTREAMSPERCHANNEL=4 "$SPARSE_BIN" xseq "${xroot_urls[@]}"
  # As the cold seq limit over root:// (curl), the HTTP door's GETs run with --no-http too.
  drop_caches
  measure "$r" readers-curl scale_cold MB/s conv_scale timeout 600 "$SPARSE_BIN" hseq "${http_urls[@]}"
  mount_hoardfs "$m" "$ca" "root://127.0.0.1:$XRD_PORT//$DATA_NAME" || return 1
  drop_caches
  measure "$r" hoardfs-root scale_cold MB/s conv_scale timeout 600 "$SPARSE_BIN" seq "$m"/scale/f*
  drop_caches
  measure "$r" hoardfs-root scale_warm MB/s conv_scale timeout 600 "$SPARSE_BIN" seq "$m"/scale/f*
  hwm="$(awk '/^VmHWM:/ {print $2}' "/proc/$MOUNT_PID/status" 2>/dev/null)"
  [[ -n "$hwm" ]] && rec "$r" hoardfs-root scale_rss "$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')" MiB
  RSS_LABEL="S" unmount_fs hoardfs-root "$m" "$ca"
}

declare -A BROKEN=()
declare -A LAST_DURATION=()
SKIPPED=()

# ---- the wide-area round ------------------------------------------------------------------------
# wan_round ROUND: the large file read cold (page cache dropped, a fresh mount on an empty cache)
# through the delay proxies: the direct clients, hoardfs with its defaults (a 32M window free to
# grow to 64M) and with the window kept at 32M (--readahead-limit 32M),
# and xrootdfs on the first WAN_PART_MIB (one round trip per read: the whole file would take
# minutes). Recorded as case seq_wan.
WAN_PART_MIB=128
((WAN_PART_MIB > BIG_MIB)) && WAN_PART_MIB=$BIG_MIB
WAN_PART_BYTES=$((WAN_PART_MIB * 1048576))
conv_wan_part() { awk -v b="$WAN_PART_BYTES" -v s="$1" 'BEGIN { printf "%.3f", b / s / 1e6 }'; }
wan_round() {
  local r="$1" sys m="$MNT/wan" ca
  log "round $r: a ${WAN_RTT_MS} ms link"
  mkdir -p "$m"
  drop_caches
  measure "$r" xrdcp seq_wan MB/s conv_seq \
    timed "$SEQ_TIMEOUT" xrdcp -f -s "root://127.0.0.1:$WAN_PORT//$DATA_NAME/big" /dev/null
  drop_caches
  measure "$r" curl seq_wan MB/s conv_seq curl_big "$WAN_HTTP_PORT"
  for sys in hoardfs-root hoardfs-root-fixed hoardfs-http; do
    [[ $sys == hoardfs-http && $WANT_HTTP != 1 ]] && continue
    ca="$CACHES/wan-$sys-$r"
    local url="root://127.0.0.1:$WAN_PORT//$DATA_NAME" extra=()
    [[ $sys == hoardfs-http ]] && url="http://127.0.0.1:$WAN_HTTP_PORT/$DATA_NAME"
    [[ $sys == *-fixed ]] && extra=(--readahead-limit 32M)
    if mount_hoardfs "$m" "$ca" "$url" "${extra[@]}"; then
      drop_caches
      measure "$r" "$sys" seq_wan MB/s conv_seq dd_read "$m/big" "$BIG_BYTES"
    fi
    unmount_path "$m" || fail_note "unmount $m"
    wait_exit "$MOUNT_PID" "$m"
    MOUNT_PID=""
    rm -rf "$ca"
  done
  if [[ $HAVE_XROOTDFS == 1 ]]; then
    if mount_xrootdfs "$m" "$WAN_PORT"; then
      drop_caches
      measure "$r" xrootdfs seq_wan MB/s conv_wan_part \
        dd_read "$m/big" "$WAN_PART_BYTES" count="$WAN_PART_MIB"
    fi
    unmount_path "$m" || fail_note "unmount $m"
    wait_exit "$MOUNT_PID" "$m"
    MOUNT_PID=""
  fi
}

# fits NAME: true if NAME's round (as long as its last one) still fits in the time budget.
fits() { ((SECONDS + ${LAST_DURATION[$1]:-0} <= DEADLINE)); }
# round_fits: true if a whole round (limits, every system, scaling; as long as their last ones)
# still fits: a round is run for all or none, so every system has the same rounds as its limits.
round_fits() {
  local k total=0
  for k in "${!LAST_DURATION[@]}"; do total=$((total + LAST_DURATION[$k])); done
  ((SECONDS + total <= DEADLINE))
}
for ((r = 1; r <= ROUNDS; r++)); do
  if ! round_fits; then
    SKIPPED+=("round $r and later: a whole round (~$((SECONDS - T_ROUND)) s) would overrun the time budget (${BUDGET} s; see --budget)")
    break
  fi
  T_ROUND=$SECONDS
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
  if [[ $WANT_SCALE == 1 ]]; then
    if fits scale; then
      t_sys=$SECONDS
      scale_round "$r" || unmount_fs hoardfs-root "$MNT/scale"
      LAST_DURATION[scale]=$((SECONDS - t_sys))
    else
      SKIPPED+=("scaling round $r: would overrun the time budget (${BUDGET} s)")
    fi
  fi
  if [[ $WANT_WAN == 1 ]]; then
    if fits wan; then
      t_sys=$SECONDS
      wan_round "$r"
      LAST_DURATION[wan]=$((SECONDS - t_sys))
    else
      SKIPPED+=("wide-area round $r: would overrun the time budget (${BUDGET} s)")
    fi
  fi
  reap_later
  rm -rf "${CACHES:?}"/*
done
T_BENCH=$((SECONDS - T_BENCH0))
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
for sys in "${SYSTEMS[@]}"; do [[ -z "${BROKEN[$sys]:-}" ]] && PEER_NOTES+=("$sys: run"); done
[[ $HAVE_S3 == 1 ]] && PEER_NOTES+=("S3 server: Ceph RGW (memstore OSD, data in RAM), $RGW_UPLOADED objects uploaded in ${RGW_UPLOAD_SECONDS} s (S3 setup ${T_S3} s). The S3 systems stat and cat $S3_SMALL files per tree (directories d00–d$(printf '%02d' $((S3_SMALL_DIRS - 1))) of small/ and smallcat/) instead of $SMALL: this RGW takes ~20 ms per request (curl's TTFB above), and a cold cat of 2,000 files took > 100 s per system and round; their files/s stay comparable.")

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
[[ $HAVE_S3FS == 1 ]] && versions+=", s3fs $(s3fs --version 2>/dev/null | sed -n 's/.*File System V\([0-9.]*\).*/\1/p' | head -1)"
[[ $HAVE_S3 == 1 ]] && versions+=", radosgw $(radosgw --version 2>/dev/null | awk '{print $3}' | head -1)"

cores="$(nproc)"
cpu_desc="$cpu, $cores cores"
kernel="$(uname -sr)"
JSON="${OUT%.md}.json"
PLOT_PREFIX="${OUT%.md}"
export MB_RESULTS="$RESULTS" MB_DIAG="$DIAG" MB_RSS="$WORK/rss.tsv" MB_BIG_MIB="$BIG_MIB" \
  MB_SMALL="$SMALL" MB_WIDE="$WIDE" MB_FIO_RUNTIME="$FIO_RUNTIME" MB_SPARSE_MIB="$SPARSE_MIB" \
  MB_SCALE_N="$SCALE_N" MB_SCALE_MIB="$SCALE_MIB" MB_JSON="$JSON.tmp" MB_S3_SMALL="$S3_SMALL" \
  MB_RANGE_MIB="$RANGE_MIB" MB_RANGE_PARALLEL="$RANGE_PARALLEL" MB_CORES="$cores" \
  MB_WAN_RTT_MS="$WAN_RTT_MS" MB_WAN_WINDOW_KIB="$WAN_WINDOW_KIB" MB_WAN_PART_MIB="$WAN_PART_MIB" \
  MB_META_DATE="$start_date" MB_META_MODE="$MODE" MB_META_ROUNDS="$ROUNDS" \
  MB_META_SOURCE="hoardfs $rev$dirty" MB_META_CPU="$cpu_desc" MB_META_MEMORY="$mem" \
  MB_META_DISK="$dev ($fstype) ${disk:-?}, rotational $rota" MB_META_KERNEL="$kernel" \
  MB_META_LOAD="start $load_start, end $load_end" MB_META_VERSIONS="$versions" \
  MB_META_BENCHMARK_SECONDS="$T_BENCH"
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
  echo "| date | $start_date (benchmark ${T_BENCH} s, of which data ${T_DATA} s and S3 setup ${T_S3} s; tools/build before it ${T_TOOLS} s) |"
  echo "| mode | $MODE: ${BIG_MIB} MiB file, $SMALL files of 4 KiB in $SMALL_DIRS directories (twice: small/ for stat, smallcat/ for cat), one directory of $WIDE entries, fio ${FIO_RUNTIME} s per job$( ((WANT_SPARSE)) && echo ", ${SPARSE_MIB} MiB sparse file")$( ((WANT_SCALE)) && echo ", $SCALE_N × $SCALE_MIB MiB files for the concurrent readers"), $ROUNDS rounds |"
  echo "| source | hoardfs $rev$dirty |"
  echo "| CPU | $cpu, $(nproc) cores |"
  echo "| memory | $mem |"
  echo "| disk | $dev ($fstype): ${disk:-?}, rotational flag $rota; data, caches and mounts under $BASE |"
  echo "| kernel | $(uname -sr) |"
  echo "| load average (1/5/15 min) | start $load_start, end $load_end (2 shared cores: other jobs were running) |"
  echo "| versions | $versions |"
  echo
  if [[ $HAVE_PLOTS == 1 ]]; then
    echo "Each system's median ratio to its limit (1.0 = at the limit, higher is better; log scale; figures in"
    echo "[$(basename "$JSON")]($(basename "$JSON"))):"
    echo
    echo "![throughput cases]($(basename "$PLOT_PREFIX")-throughput.svg)"
    echo "![latency and metadata cases]($(basename "$PLOT_PREFIX")-latency.svg)"
    echo
  fi
  "${PYTHON[@]}" "$ROOT/bench/mount_bench_report.py" || echo "(the report script failed: see above)"
  echo "## Peers"
  echo
  for n in "${PEER_NOTES[@]}"; do echo "- $n"; done
  echo
  echo "## How each case is run"
  echo
  echo "- Systems: hoardfs over root:// and over XRootD's HTTP door (http://) of the same xrootd, and over s3:// of a"
  echo "  Ceph RGW (one mon, one memstore OSD: the objects are in the server's RAM) holding the same files; peers"
  echo "  xrootdfs (root://), rclone \`--vfs-cache-mode full\` over the WebDAV door and over S3, \`s3fs -o use_cache\`."
  echo "  Keys for S3 clients come from files or the environment (hoardfs \`--s3-credentials-file\`, s3fs"
  echo "  \`passwd_file\`, rclone's RCLONE_S3_* variables, curl -K), never from a command line."
  echo "- Limits each round: \`dd iflag=direct bs=1M\` of the served file on the cache disk (page cache dropped);"
  echo "  \`dd bs=1M\` of it again once in the page cache; then, from the page cache, \`dd oflag=direct bs=1M"
  echo "  conv=fdatasync\` of it into the caches' directory (the cache disk's write speed); \`xrdcp -f root://…/big /dev/null\` and \`curl -o /dev/null"
  echo "  http://…/big\` after dropping the page cache (the faster is the cold limit over root://, curl alone over"
  echo "  http://); \`curl --aws-sigv4\` of the same object from the RGW (the cold limit over s3://); the same file in"
  echo "  range GETs of $RANGE_MIB MiB, $RANGE_PARALLEL at a time, by one \`curl --parallel\` over HTTP and signed from the RGW (the"
  echo "  ranged-read bound); fio on the local file. Every cold sequential read also records the whole machine's busy"
  echo "  CPU time (/proc/stat) while it runs."
  echo "- Sparse (ROOT-like, \`bench/sparse_read\`): the file in 4 MiB clusters of 50 branches (baskets 8–160 KiB), 5"
  echo "  branches read in every cluster (~10 % of the file), one pread per basket, the same ranges from the same seed"
  echo "  everywhere. Cold = page cache dropped, never read on a fresh mount (mount A, right after TTFB); warm = page"
  echo "  cache dropped again, data in the system's own cache. Limits: cold = the same ranges one request after the"
  echo "  other on one connection by a direct client, the server's page cache dropped: root:// reads (XrdCl) and HTTP"
  echo "  range GETs (libcurl), the faster of the two for root:// (none over S3); warm = the same preads on the local"
  echo "  file, page cache dropped. Over-fetch = hoardfs's remote_bytes delta ÷ bytes the application read."
  echo "- Scaling: $SCALE_N threads each reading its own ${SCALE_MIB} MiB file with 1 MiB preads, all at once"
  echo "  (\`bench/sparse_read seq\`): the local files with O_DIRECT (the warm limit); the same files from the server by"
  echo "  direct clients, a thread each, all at once (the cold limit, the faster of: XrdCl in 8 MiB reads over four"
  echo "  streams, \`sparse_read xseq\`; one libcurl GET each from the HTTP door, \`sparse_read hseq\`); then hoardfs over"
  echo "  root:// on a fresh mount with an empty cache (cold) and again after drop_caches (warm); aggregate MB/s and the"
  echo "  daemon's VmHWM."
  echo "- Every FUSE system, each round: mount A on an empty cache, page cache dropped: TTFB, sparse cold/warm, cold seq (\`dd bs=1M\`),"
  echo "  \`ls -f\` of the wide directory cold then warm, stat of every file of small/ cold then warm; mount B on A's"
  echo "  cache (hoardfs, rclone, s3fs) after \`echo 3 > /proc/sys/vm/drop_caches\`: warm seq, hot seq (read again), fio 4 KiB"
  echo "  \`--direct=1\` random reads in one fio run (psync 1 job, then io_uring iodepth 16, ${FIO_RUNTIME} s each; page"
  echo "  cache dropped before), then cat of every file of smallcat/ (the same shape as small/, never touched) cold"
  echo "  then warm. cat comes last, so the small files' inserts cannot evict anything another case reads."
  echo "  Where the kernel has FUSE-over-io_uring, hoardfs root:// is mounted again between fio and cat, on the same"
  echo "  cache, with \`-o io_uring\` (system hoardfs-uring): warm seq, hot seq and both fio jobs, between local limits of"
  echo "  their own."
  echo "  xrootdfs has no disk cache: its \"warm\" is a second remote read."
  echo "- FUSE ceiling (in the limits' round): \`bench/bare_fuse\` mounts the local large file, serving each FUSE read"
  echo "  with one O_DIRECT pread and a reply (no index, no checksum, no remote), mounted as hoardfs is (max_read"
  echo "  1 MiB, keep_cache, 16 threads kept alive, read_ahead_kb 1024); warm seq, hot seq and both fio jobs as above."
  echo "  Where the kernel has FUSE-over-io_uring, \`bench/uring_fuse --transport uring\` serves the same file over it"
  echo "  (no libfuse; a ring and a pinned thread per CPU, each read an io_uring read on that ring), mounted alike, for"
  echo "  the same four cases; the fuse module's enable_uring is set for the run and restored after it."
  echo "  Then it mounts the local sparse file (sparse warm), and the sparse file over root://, serving each FUSE read with one XrdCl read of exactly that range"
  echo "  (over http:// too: one libcurl range GET each) and a reply (nothing cached): the sparse read, server page cache dropped, is the cold ceiling of a FUSE"
  echo "  filesystem before it caches anything. The large file likewise, cold, over root://, http:// and s3:// (signed range GETs)."
  echo "- Listing limits (in the limits' round): \`bench/dir_list\` lists the wide directory over root:// with XrdCl in"
  echo "  one process, server page cache dropped: names only (kXR_dirlist, as xrootdfs lists) and with every entry's"
  echo "  attributes in the answer (kXR_dstat, as hoardfs lists, so that readdirplus and stat need no request per file)."
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
if [[ -s "$JSON.tmp" ]]; then
  mv "$JSON.tmp" "$JSON"
  log "wrote $JSON"
  if [[ $HAVE_PLOTS == 1 ]]; then
    bash "$ROOT/bench/plot_mount_bench.sh" "$JSON" "$PLOT_PREFIX" 2>>"$LOG_DIR/plot.err" ||
      log "plotting failed: $(tail -3 "$LOG_DIR/plot.err")"
  fi
fi
echo
cat "$OUT"
echo
log "wrote $OUT (benchmark ${T_BENCH} s, total $((SECONDS - T_START)) s)"
