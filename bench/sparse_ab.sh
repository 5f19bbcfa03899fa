#!/usr/bin/env bash
# sparse_ab.sh: the cold ROOT-like sparse read (bench/sparse_read, the pattern of the mount
# benchmark) through two or more hoardfs binaries, interleaved round after round on one local
# xrootd, with the daemon's CPU time and page faults per pass and the direct client (XrdCl, or
# libcurl with --http) doing the same reads: the before/after of a change on the read path, on a
# machine too noisy for separate runs.
#
#   bench/sparse_ab.sh [--rounds N] [--size-mib M] [--seed S] [--xrootdfs] [--sequential]
#                      [--http] [--warm] [--bare] [--bare-write] [--ramdisk-too] [--threads]
#                      [--rand4k QD] [--list N [--list-stat]] [--concurrent N] [--perf DIR]
#                      [--rtt-ms MS [--window-kib K]] HOARDFS_BIN...
#
#   --rounds N     rounds (default 4); each round runs every binary once, in the order given, then
#                  the direct client. A binary may be named twice: `A B B A` balances the order
#                  within each round (a drift between passes then favours neither)
#   --xrootdfs     also read through xrootdfs (package xrootd-fuse) in every round: the peer
#   --bare         also read through bench/bare_fuse in every round, over root:// (or http://
#                  with --http): FUSE with the direct client's read (XrdCl, or a libcurl range
#                  GET) behind each request and nothing else, the ceiling of any FUSE filesystem
#                  before caching ("bare"; always cold, like xrootdfs). With --warm, bare FUSE
#                  reads the server's local copy of the file instead (O_DIRECT pread + reply per
#                  request, page cache dropped): the ceiling of a warm read from a cache disk
#   --bare-write   likewise with --write-to: each fetched range also written to a local file by
#                  one buffered pwrite, the cheapest cache write there is ("bare+write")
#   --size-mib M   size of the generated file (default 512, as the full mount benchmark)
#   --seed S       sparse_read's seed (default 20261129, as the mount benchmark)
#   --sequential   read the whole file instead (dd bs=1M; the direct client is xrdcp): the
#                  cold sequential case, for changes that touch every read
#   --rand4k QD    4 KiB random reads instead: fio (psync for QD 1, else io_uring at depth QD,
#                  O_DIRECT, a fixed seed) of 128 MiB in all, timed. Implies --warm, whose fill
#                  is then one dd of the whole file; the direct client is the same fio job on the
#                  server's local copy ("local", page cache dropped): the warm random-read case
#   --list N       a listing instead: the names of a directory of N empty files (os.listdir in one
#                  process, as `ls -f` asks: getdents), cold on a fresh mount; the direct client is
#                  `xrdfs ls -l` of it (names with attributes, as hoardfs lists). Not with --bare
#   --concurrent N N files of --size-mib each read at once instead, each by its own thread in 1 MiB
#                  reads (`sparse_read seq`, as the mount benchmark's scaling case); the direct
#                  client reads the same files from the server at once, a thread each: XrdCl in
#                  8 MiB reads (`sparse_read xseq`), or one libcurl GET each with --http (`hseq`);
#                  with --warm it is the same read of the server's local copies with O_DIRECT
#                  ("local", page cache dropped). With --warm the pass's peak RSS covers the cold fill and
#                  the warm read on one mount (the case that found the window's growth holding
#                  memory: docs/benchmarks.md)
#   --list-stat    with --list: also lstat() every entry after the listing (as `ls -l` does), in
#                  the same timed pass: the cost of names first to a reader that wants attributes
#   --http         mount over xrootd's HTTP door (http://) instead of root://; the direct
#                  client is then libcurl (sparse_read http; curl for --sequential)
#   --warm         measure a fresh daemon's first *warm* read instead: each pass reads the file
#                  once unmeasured (cold, filling the cache), waits for the writer to commit it
#                  (pending_insert_bytes 0), drops the page cache, then reads it
#                  again measured (every byte from the cache disk; remote_requests shows none).
#                  xrootdfs and the direct client have no cache: their passes stay cold
#   --ramdisk-too  run each binary twice per round: its cache directory on the disk (as always)
#                  and on a disk in RAM ("BIN+ramdisk": ext4 on a loop device over a tmpfs file,
#                  bench/ramdisk.sh; O_DIRECT as on a disk): what the cache's writes cost the pass
#                  through the disk they share with the local server's reads
#   --threads      also print, after each pass (hoardfs and xrootdfs), each thread's CPU time,
#                  minor faults and voluntary/involuntary context switches in the pass
#   --rtt-ms MS    put a wide-area link between every client and the server: bench/delay_proxy in
#                  front of each of xrootd's ports, holding every byte MS / 2 ms each way. Every
#                  system and the direct client reach the server through it
#   --window-kib K with --rtt-ms: bytes in flight per direction and connection (default 0:
#                  unbounded), so one connection carries at most K KiB per round trip, as one
#                  TCP connection over such a link
#   --perf DIR     record each hoardfs pass with `perf record -g -p PID` (linux-perf) into
#                  DIR/<binary name>-<round>.data: the profile of exactly one cold pass
#
# Environment: SPARSE_READ_BIN, BARE_FUSE_BIN, DELAY_PROXY_BIN (default: bench/sparse_read,
# bench/bare_fuse, bench/delay_proxy of the first binary's build tree);
# PERF_CALL_GRAPH (default fp): perf's --call-graph for --perf, e.g. dwarf where leaf functions
# (memset, memcpy) must be attributed to their real caller; PERF_EVENT (default: cpu cycles
# at 1999 Hz): record every such event instead, e.g. page-faults or context-switches.
# Every pass: a fresh mount on an empty cache, page cache dropped, then `sparse_read read` (or dd).
# Prints one line per pass ("BIN round R: seconds=S cpu_s=C faults=F switches=W server_cpu_s=X
# peak_rss_mib=M": the daemon's CPU time, minor page faults and context switches of all its
# threads, the xrootd server's CPU time, the daemon's peak RSS; then the daemon's
# remote_requests, inserts, store_writes and insert_waits / insert_wait_seconds (fetches held
# back by a full insert queue), fetch_buffer_maps / _reuses
# (remote read buffers freshly mapped / reused), and other counters; the same for
# xrootdfs and bare FUSE, the server's CPU time for the direct client) and a summary (min-max).
# Needs root (xrootd -R nobody, FUSE mounts, drop_caches). Cleans up on exit: unmounts, stops the
# xrootd and the delay proxies it started, removes its directory.
set -euo pipefail
# shellcheck source=bench/ramdisk.sh
source "$(dirname "${BASH_SOURCE[0]}")/ramdisk.sh"
# shellcheck source=bench/delay_proxy.sh
source "$(dirname "${BASH_SOURCE[0]}")/delay_proxy.sh"

ROUNDS=4
SIZE_MIB=512
SEED=20261129
WITH_XROOTDFS=0
SEQUENTIAL=0
RAND_QD=0
LIST=0
LIST_STAT=0
CONCURRENT=0
HTTP=0
PERF_DIR=""
THREADS=0
WARM=0
BARE=0
BARE_WRITE=0
RAMDISK_TOO=0
RTT_MS=""
WINDOW_KIB=0
BINS=()
while (($#)); do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --size-mib) SIZE_MIB="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --xrootdfs) WITH_XROOTDFS=1; shift ;;
    --sequential) SEQUENTIAL=1; shift ;;
    --rand4k) RAND_QD="$2"; WARM=1; shift 2 ;;
    --list) LIST="$2"; shift 2 ;;
    --list-stat) LIST_STAT=1; shift ;;
    --concurrent) CONCURRENT="$2"; shift 2 ;;
    --http) HTTP=1; shift ;;
    --perf) PERF_DIR="$(realpath "$2")"; shift 2 ;;
    --threads) THREADS=1; shift ;;
    --warm) WARM=1; shift ;;
    --bare) BARE=1; shift ;;
    --bare-write) BARE_WRITE=1; shift ;;
    --ramdisk-too) RAMDISK_TOO=1; shift ;;
    --rtt-ms) RTT_MS="$2"; shift 2 ;;
    --window-kib) WINDOW_KIB="$2"; shift 2 ;;
    -h | --help) sed -n '2,80p' "$0"; exit 0 ;;
    *) BINS+=("$(realpath "$1")"); shift ;;
  esac
done
((${#BINS[@]} > 0)) || { echo "usage: $0 [--rounds N] [--size-mib M] HOARDFS_BIN..." >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "run as root: xrootd -R nobody, FUSE mounts and drop_caches need it" >&2; exit 2; }
SPARSE_BIN="${SPARSE_READ_BIN:-$(dirname "${BINS[0]}")/../bench/sparse_read}"
[[ -x "$SPARSE_BIN" ]] || { echo "no sparse_read at $SPARSE_BIN (set SPARSE_READ_BIN)" >&2; exit 2; }
for b in "${BINS[@]}"; do [[ -x "$b" ]] || { echo "not an executable: $b" >&2; exit 2; }; done
BARE_BIN="${BARE_FUSE_BIN:-$(dirname "${BINS[0]}")/../bench/bare_fuse}"
if ((LIST && (BARE || BARE_WRITE))); then echo "--list: bare FUSE serves one file, not a directory" >&2; exit 2; fi
if ((BARE || BARE_WRITE)); then
  [[ -x "$BARE_BIN" ]] || { echo "--bare: no bare_fuse at $BARE_BIN (set BARE_FUSE_BIN)" >&2; exit 2; }
fi
PROXY_BIN="${DELAY_PROXY_BIN:-$(dirname "${BINS[0]}")/../bench/delay_proxy}"
if [[ -n "$RTT_MS" ]]; then
  [[ -x "$PROXY_BIN" ]] || { echo "--rtt-ms: no delay_proxy at $PROXY_BIN (set DELAY_PROXY_BIN)" >&2; exit 2; }
fi
if [[ -n "$PERF_DIR" ]]; then
  command -v perf >/dev/null || { echo "--perf: no perf (apt-get install linux-perf)" >&2; exit 2; }
  mkdir -p "$PERF_DIR"
fi
if ((WITH_XROOTDFS)) && ! command -v xrootdfs >/dev/null; then
  echo "--xrootdfs: no xrootdfs (apt-get install xrootd-fuse)" >&2
  exit 2
fi

WORK="$(mktemp -d /var/tmp/hoardfs-sparse-ab.XXXXXX)"
MNT="$WORK/mnt"
XRD_PID=""
PROXY_PIDS=()
cleanup() {
  if mountpoint -q "$MNT" 2>/dev/null; then fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" || true; fi
  if ((RAMDISK_TOO)); then sleep 1; fi  # the daemon lets go of its cache on the RAM disk
  ramdisk_down "$WORK/ramdisk"
  local p
  for p in "${PROXY_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -n "$XRD_PID" ]] && kill "$XRD_PID" 2>/dev/null && wait "$XRD_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

chmod 755 "$WORK"  # xrootd runs as nobody
mkdir -p "$WORK/srv/d" "$WORK/xrd" "$MNT"
head -c "$((SIZE_MIB * 1048576))" /dev/urandom >"$WORK/srv/d/sparse"
if ((LIST)); then mkdir "$WORK/srv/d/wide" && (cd "$WORK/srv/d/wide" && seq -f "f%07g.root" 1 "$LIST" | xargs touch); fi
if ((CONCURRENT)); then
  mkdir "$WORK/srv/d/many"
  for ((i = 0; i < CONCURRENT; i++)); do
    head -c "$((SIZE_MIB * 1048576))" /dev/urandom >"$WORK/srv/d/many/f$i"
  done
fi
chown -R nobody "$WORK/srv" "$WORK/xrd"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT="$(free_port)"
HTTP_PORT="$(free_port)"
cat >"$WORK/xrd/xrootd.cfg" <<EOF
xrd.port $PORT
all.export /
oss.localroot $WORK/srv
all.adminpath $WORK/xrd/admin
all.pidpath $WORK/xrd
EOF
((HTTP)) && echo "xrd.protocol XrdHttp:$HTTP_PORT libXrdHttp.so" >>"$WORK/xrd/xrootd.cfg"
(cd "$WORK/xrd" && exec xrootd -R nobody -c xrootd.cfg -l xrootd.log -n sparseab </dev/null >/dev/null 2>&1) &
XRD_PID=$!
up=0
for ((i = 0; i < 100 && up == 0; i++)); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    timeout 5 xrdfs "root://127.0.0.1:$PORT" stat /d/sparse >/dev/null 2>&1 && up=1
    ((up && HTTP)) && { timeout 5 curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$HTTP_PORT/d/sparse" || up=0; }
  fi
  ((up)) || sleep 0.1
done
((up)) || { echo "xrootd did not come up on port $PORT:" >&2; tail -5 "$WORK/xrd/xrootd.log" >&2; exit 1; }
# start_proxy PORT: a delay_proxy in front of 127.0.0.1:PORT (bench/delay_proxy.sh); sets
# PROXY_PORT to its own port.
start_proxy() {
  local up=0
  DELAY_PROXY_PID=""
  delay_proxy_start "$PROXY_BIN" "$1" "$RTT_MS" "$WINDOW_KIB" "$WORK" && up=1
  [[ -n "$DELAY_PROXY_PID" ]] && PROXY_PIDS+=("$DELAY_PROXY_PID")
  ((up)) && return 0
  echo "delay_proxy did not start:" >&2
  cat "$WORK/delay-proxy.err" >&2
  exit 1
}
# Where the clients reach the server: xrootd's ports, or the delay proxies in front of them.
CLIENT_PORT="$PORT"
CLIENT_HTTP_PORT="$HTTP_PORT"
if [[ -n "$RTT_MS" ]]; then
  start_proxy "$PORT"
  CLIENT_PORT="$PROXY_PORT"
  if ((HTTP)); then start_proxy "$HTTP_PORT"; CLIENT_HTTP_PORT="$PROXY_PORT"; fi
  echo "a ${RTT_MS} ms round trip between the clients and xrootd (delay_proxy, window ${WINDOW_KIB} KiB; 0: unbounded)"
fi
ROOT_URL="root://127.0.0.1:$CLIENT_PORT//d"
URL="$ROOT_URL"
DIRECT=xrdcl  # the direct client's name in the output
if ((HTTP)); then URL="http://127.0.0.1:$CLIENT_HTTP_PORT/d"; DIRECT=libcurl; fi
((RAND_QD)) && DIRECT=local
((LIST)) && DIRECT=xrdfs
if ((CONCURRENT)); then
  DIRECT=xrdcl-parallel
  ((HTTP)) && DIRECT=libcurl-parallel
  ((WARM)) && DIRECT=local
fi

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# Prints "seconds=S" for one read of the file through a mount (read_file PATH) or by the direct
# client (read_direct URL), in the pattern chosen.
timed() {
  local t0 t1
  t0="$(date +%s.%N)"
  "$@" >/dev/null 2>&1
  t1="$(date +%s.%N)"
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "seconds=%.6f\n", b - a }'
}
rand4k() {
  local engine=io_uring
  ((RAND_QD == 1)) && engine=psync
  timed fio --name=rand4k --filename="$1" --readonly --rw=randread --bs=4k --direct=1 \
    --ioengine="$engine" --iodepth="$RAND_QD" --io_size=128m --randseed="$SEED" --numjobs=1
}
# The listing of --list: "entries=N seconds=S" of os.listdir (one process, getdents).
list_dir() {
  python3 -c 'import os, sys, time
t = time.perf_counter()
names = os.listdir(sys.argv[1])
if sys.argv[2] == "1":
    for n in names: os.lstat(os.path.join(sys.argv[1], n))
print("entries=%d seconds=%.6f" % (len(names), time.perf_counter() - t))' "$1" "$LIST_STAT"
}
read_file() {
  if ((LIST)); then list_dir "$(dirname "$1")/wide"
  elif ((RAND_QD)); then rand4k "$1"
  elif ((CONCURRENT)); then "$SPARSE_BIN" seq "$(dirname "$1")"/many/f*
  elif ((SEQUENTIAL)); then timed dd if="$1" of=/dev/null bs=1M
  else "$SPARSE_BIN" read "$1" "$SEED"; fi
}
# The warm passes' unmeasured first read: what the measured one will read (the whole file for
# 4 KiB random reads).
fill_file() {
  if ((RAND_QD)); then dd if="$1" of=/dev/null bs=1M 2>/dev/null; else read_file "$1"; fi
}
read_direct() {
  if ((RAND_QD)); then rand4k "$WORK/srv/d/sparse"; return; fi
  if ((CONCURRENT)); then
    local f urls=()
    if ((WARM)); then "$SPARSE_BIN" seq --direct "$WORK/srv/d/many"/f*; return; fi
    for f in "$WORK/srv/d/many"/f*; do urls+=("$(dirname "$1")/many/${f##*/}"); done
    if ((HTTP)); then "$SPARSE_BIN" hseq "${urls[@]}"; else
      XRD_SUBSTREAMSPERCHANNEL=4 "$SPARSE_BIN" xseq "${urls[@]}"; fi  # as hoardfs's XrdCl
    return
  fi
  if ((LIST)); then timed xrdfs "root://127.0.0.1:$CLIENT_PORT" ls -l /d/wide; return; fi
  if ((HTTP)); then
    if ((SEQUENTIAL)); then timed curl -sf -o /dev/null "$1"; else
      "$SPARSE_BIN" http "$1" "$((SIZE_MIB * 1048576))" "$SEED"; fi
  elif ((SEQUENTIAL)); then timed xrdcp -f "$1" /dev/null; else "$SPARSE_BIN" xroot "$1" "$SEED"; fi
}
# cpu ticks (utime + stime) and minor faults of PID, and its threads' context switches
proc_counts() {
  local switches
  switches="$(cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ { n += $2 } END { print n + 0 }')"
  awk -v cs="$switches" '{ print $14 + $15, $10, cs }' "/proc/$1/stat"
}
# One line per thread of PID: "TID NAME TICKS MINFLT VOLUNTARY INVOLUNTARY"
thread_counts() {
  local t
  for t in /proc/"$1"/task/*; do
    echo "${t##*/} $(tr ' ' _ <"$t/comm" 2>/dev/null) $(awk '{ print $14 + $15, $10 }' "$t/stat" 2>/dev/null) $(awk '/^voluntary_ctxt/ { v = $2 } /^nonvoluntary_ctxt/ { n = $2 } END { print v + 0, n + 0 }' "$t/status" 2>/dev/null)"
  done 2>/dev/null | sort
}
# The per-thread deltas between two thread_counts snapshots (threads started in between count from
# zero; threads with nothing to show are left out), busiest first.
thread_deltas() {  # thread_deltas BEFORE AFTER
  local hz
  hz="$(getconf CLK_TCK)"
  join -a 2 -e 0 -o 2.1,2.2,2.3,2.4,2.5,2.6,1.3,1.4,1.5,1.6 <(echo "$1") <(echo "$2") |
    awk -v hz="$hz" 'NF == 10 && ($3 != $7 || $4 != $8 || $5 != $9 || $6 != $10) { printf "  thread %s %s: cpu_s=%.2f faults=%d switches=%d involuntary=%d\n",
      $1, $2, ($3 - $7) / hz, $4 - $8, $5 - $9, $6 - $10 }' | sort -t= -k2 -g -r
}
# "cpu_s=C switches=S [server_cpu_s=C]" of a pass: the deltas of proc_counts lines A and B of
# the daemon, and of the xrootd server's (SA, SB)
pass_costs() {  # pass_costs "C0 F0 S0" "C1 F1 S1" "SC0 _ _" "SC1 _ _"
  local hz
  hz="$(getconf CLK_TCK)"
  awk -v a="$1" -v b="$2" -v sa="$3" -v sb="$4" -v hz="$hz" 'BEGIN {
    split(a, x, " "); split(b, y, " "); split(sa, p, " "); split(sb, q, " ")
    printf "cpu_s=%.2f faults=%d switches=%d server_cpu_s=%.2f", (y[1] - x[1]) / hz, y[2] - x[2],
      y[3] - x[3], (q[1] - p[1]) / hz }'
}
# The daemon's remote_requests counter so far (user.hoardfs.stats of the mount).
remote_requests() {
  timeout 10 getfattr --only-values -n user.hoardfs.stats "$MNT" 2>/dev/null |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["remote_requests"])' 2>/dev/null || echo 0
}
# Waits (at most 60 s) until the daemon's writer has committed every block it accepted
# (pending_insert_bytes 0); a binary without that gauge gets a fixed 2 s.
wait_written() {
  local i pending
  for ((i = 0; i < 600; i++)); do
    pending="$(timeout 10 getfattr --only-values -n user.hoardfs.stats "$MNT" 2>/dev/null |
      python3 -c 'import json, sys; print(json.load(sys.stdin).get("pending_insert_bytes", "-"))' 2>/dev/null || echo -)"
    [[ $pending == - ]] && { sleep 2; return; }
    ((pending == 0)) && return
    sleep 0.1
  done
}
if ((RAMDISK_TOO)); then
  ramdisk_up "$WORK/ramdisk" 4096 || { echo "could not set up the RAM disk" >&2; exit 1; }
fi
declare -A SECS
pass() {  # pass BIN ROUND [CACHE_PARENT LABEL CACHE_SIZE]
  local b="$1" r="$2" parent="${3:-$WORK}" label="${4:-$1}" size="${5:-8G}" pid out before after sbefore safter
  if mountpoint -q "$MNT"; then fusermount3 -u "$MNT"; sleep 1; fi
  rm -rf "$WORK/cache" "$WORK/ramdisk/cache"
  "$b" mount "$URL" "$MNT" --cache-dir "$parent/cache" --cache-size "$size" --log-file "$WORK/hoardfs.log" >"$WORK/mount.out"
  pid="$(sed -n 's/.*(pid \([0-9]*\)).*/\1/p' "$WORK/mount.out")"
  local remote_before=0
  if ((WARM)); then
    fill_file "$MNT/sparse" >/dev/null
    wait_written
    remote_before="$(remote_requests)"
  fi
  drop_caches
  local perf_pid=""
  if [[ -n "$PERF_DIR" ]]; then
    local sampling=(-F 1999)
    [[ -n "${PERF_EVENT:-}" ]] && sampling=(-e "$PERF_EVENT" -c 1)
    perf record -q --call-graph "${PERF_CALL_GRAPH:-fp}" "${sampling[@]}" -p "$pid" -o "$PERF_DIR/$(basename "$label")-$r.data" >/dev/null 2>&1 &
    perf_pid=$!
    sleep 1  # perf attaches to every thread
  fi
  local tbefore="" tafter=""
  ((THREADS)) && tbefore="$(thread_counts "$pid")"
  before="$(proc_counts "$pid")"
  sbefore="$(proc_counts "$XRD_PID")"
  out="$(read_file "$MNT/sparse")"
  after="$(proc_counts "$pid")"
  safter="$(proc_counts "$XRD_PID")"
  ((THREADS)) && tafter="$(thread_counts "$pid")"
  if [[ -n "$perf_pid" ]]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
  local s="${out##*seconds=}"
  s="${s%% *}"
  SECS[$label]+="$s "
  # The daemon's own counters of the pass (keys an older binary lacks print as "-").
  local counters
  counters="$(timeout 10 getfattr --only-values -n user.hoardfs.stats "$MNT" 2>/dev/null |
    python3 -c 'import json, sys
d = json.load(sys.stdin)
print(" ".join("%s=%s" % (k, d.get(k, "-")) for k in ("remote_requests", "remote_bytes", "memory_hit_bytes", "cache_hit_bytes", "inserts", "store_writes", "store_reads", "partial_reads", "partial_read_bytes", "record_misses", "index_memo_hits", "new_file_skips", "insert_waits", "insert_wait_seconds", "remote_stats", "remote_lists", "names_first_listings", "fetch_buffer_maps", "fetch_buffer_reuses", "readahead_grows", "readahead_kept", "readahead_shrinks", "readahead_refused", "readahead_retests", "readahead_released", "readahead_resets")))' 2>/dev/null || true)"
  # A warm pass: the remote requests of the measured read only (the cold one's are subtracted).
  ((WARM)) && counters="warm_remote_requests=$(($(remote_requests) - remote_before)) $counters"
  # The daemon's peak RSS (VmHWM): a fresh daemon per pass, so the pass's own.
  local hwm
  hwm="$(awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null)"
  printf '%s round %s: seconds=%s %s peak_rss_mib=%s %s\n' "$label" "$r" "$s" \
    "$(pass_costs "$before" "$after" "$sbefore" "$safter")" "${hwm:--}" "$counters"
  if ((THREADS)); then thread_deltas "$tbefore" "$tafter"; fi
}
# peer_pass NAME ROUND PID: one cold read through the mount at MNT served by process PID (a peer,
# not hoardfs: no daemon counters), page cache dropped; prints its line and keeps its time.
peer_pass() {
  local name="$1" r="$2" pid="$3" out s before after sbefore safter tbefore="" tafter=""
  drop_caches
  ((THREADS)) && tbefore="$(thread_counts "$pid")"
  before="$(proc_counts "$pid")"
  sbefore="$(proc_counts "$XRD_PID")"
  out="$(read_file "$MNT/sparse")"
  after="$(proc_counts "$pid")"
  safter="$(proc_counts "$XRD_PID")"
  ((THREADS)) && tafter="$(thread_counts "$pid")"
  s="${out##*seconds=}"
  SECS[$name]+="${s%% *} "
  echo "$name round $r: seconds=${s%% *} $(pass_costs "$before" "$after" "$sbefore" "$safter")"
  if ((THREADS)); then thread_deltas "$tbefore" "$tafter"; fi
  fusermount3 -u "$MNT"
}
xrootdfs_pass() {  # xrootdfs_pass ROUND
  if mountpoint -q "$MNT"; then fusermount3 -u "$MNT"; sleep 1; fi
  timeout 60 xrootdfs "$MNT" -o "rdr=$ROOT_URL,uid=nobody" >/dev/null 2>&1 </dev/null
  peer_pass xrootdfs "$1" "$(pgrep -n -x xrootdfs)"
  sleep 1
}
# bare_pass ROUND NAME [--write-to FILE]: bench/bare_fuse over the mount's URL (with --warm: over
# the local copy), mounted as hoardfs mounts.
bare_pass() {
  local r="$1" name="$2" pid
  shift 2
  if mountpoint -q "$MNT"; then fusermount3 -u "$MNT"; sleep 1; fi
  rm -f "$WORK/bare-copy"
  local source="$URL/sparse"
  ((WARM)) && source="$WORK/srv/d/sparse"  # the warm ceiling: the local copy, from the disk
  "$BARE_BIN" "$source" "$MNT" "$@" >"$WORK/bare.log" 2>&1 </dev/null &
  pid=$!
  for ((i = 0; i < 100; i++)); do mountpoint -q "$MNT" && break; sleep 0.1; done
  mountpoint -q "$MNT" || { echo "bare_fuse did not mount:" >&2; cat "$WORK/bare.log" >&2; exit 1; }
  echo 1024 >"/sys/class/bdi/$(mountpoint -d "$MNT")/read_ahead_kb"  # as hoardfs sets it
  peer_pass "$name" "$r" "$pid"
  wait "$pid" || { echo "bare_fuse failed:" >&2; cat "$WORK/bare.log" >&2; exit 1; }
}
for ((r = 1; r <= ROUNDS; r++)); do
  for b in "${BINS[@]}"; do
    pass "$b" "$r"
    ((RAMDISK_TOO)) && pass "$b" "$r" "$WORK/ramdisk" "$b+ramdisk" 2G
  done
  ((WITH_XROOTDFS)) && xrootdfs_pass "$r"
  ((BARE)) && bare_pass "$r" bare
  ((BARE_WRITE)) && bare_pass "$r" bare+write --write-to "$WORK/bare-copy"
  drop_caches
  sbefore="$(proc_counts "$XRD_PID")"
  out="$(read_direct "$URL/sparse")"
  safter="$(proc_counts "$XRD_PID")"
  s="${out##*seconds=}"
  SECS[$DIRECT]+="${s%% *} "
  echo "$DIRECT round $r: seconds=${s%% *} $(pass_costs "0 0 0" "0 0 0" "$sbefore" "$safter" | sed 's/.* server_cpu_s/server_cpu_s/')"
done
echo "summary (seconds, min-max over $ROUNDS rounds):"
KEYS=()
for b in "${BINS[@]}"; do KEYS+=("$b"); ((RAMDISK_TOO)) && KEYS+=("$b+ramdisk"); done
((WITH_XROOTDFS)) && KEYS+=(xrootdfs)
((BARE)) && KEYS+=(bare)
((BARE_WRITE)) && KEYS+=(bare+write)
for k in "${KEYS[@]}" "$DIRECT"; do
  tr ' ' '\n' <<<"${SECS[$k]}" | awk -v k="$k" 'NF { v[n++] = $1 } END {
    min = v[0]; max = v[0]; for (i in v) { if (v[i] < min) min = v[i]; if (v[i] > max) max = v[i] }
    printf "  %s: %.2f-%.2f\n", k, min, max }'
done
