# shellcheck shell=bash
# Helpers for bench/run_mount_bench.sh: package installs, timing, the XRootD server, mounting and
# unmounting hoardfs and its peers, and bookkeeping of everything started so that the EXIT trap
# can tear it down. Sourced, not run. Expects WORK, LOG_DIR and RESULTS set by the caller.

export LC_ALL=C

# ---- bookkeeping -------------------------------------------------------------------------------

STARTED_PIDS=()   # every long-running process we started (xrootd, daemons), killed at exit
MOUNTS=()         # every mount point we mounted on, unmounted at exit
FAILURES=()       # steps that failed or timed out (reported, the run goes on)

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
fail_note() { FAILURES+=("$*"); log "FAILED: $*"; }

# True if PID is alive and its command line mentions NEEDLE (guards against pid reuse).
pid_is_ours() {
  local pid="$1" needle="$2"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$needle"
}

# Stops PID (ours, checked against NEEDLE): TERM, then KILL after a grace period.
stop_pid() {
  local pid="$1" needle="$2" i
  pid_is_ours "$pid" "$needle" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    pid_is_ours "$pid" "$needle" || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

is_mounted() { awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo; }

# fusermount3 -u, then umount -l if that did not work.
unmount_path() {
  local m="$1"
  is_mounted "$m" || return 0
  timeout 30 fusermount3 -u "$m" 2>/dev/null || true
  is_mounted "$m" || return 0
  sleep 0.5
  timeout 30 fusermount3 -u "$m" 2>/dev/null || true
  is_mounted "$m" || return 0
  timeout 30 umount -l "$m" 2>/dev/null || timeout 30 fusermount3 -uz "$m" 2>/dev/null || true
  ! is_mounted "$m"
}

# ---- packages ----------------------------------------------------------------------------------

APT_UPDATED=0
# apt_candidate PKG: prints the candidate version ("" if none), running apt-get update once if the
# lists know nothing yet.
apt_candidate() {
  local c
  c="$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')"
  if [[ ( -z "$c" || "$c" == "(none)" ) && $APT_UPDATED == 0 ]]; then
    APT_UPDATED=1
    log "apt-get update"
    timeout 300 apt-get update >"$LOG_DIR/apt-update.log" 2>&1 || true
    c="$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')"
  fi
  [[ "$c" == "(none)" ]] && c=""
  printf '%s' "$c"
}

# ensure_cmd CMD PKG: installs PKG with apt-get if CMD is missing. Returns 1 if still missing.
ensure_cmd() {
  local cmd="$1" pkg="$2"
  command -v "$cmd" >/dev/null 2>&1 && return 0
  if [[ -z "$(apt_candidate "$pkg")" ]]; then
    log "no Debian candidate for $pkg (needed for $cmd)"
    return 1
  fi
  log "installing $pkg (for $cmd)"
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y --no-install-recommends "$pkg" \
    >>"$LOG_DIR/apt-install.log" 2>&1 || true
  command -v "$cmd" >/dev/null 2>&1
}

# ---- timing ------------------------------------------------------------------------------------

now() { printf '%s' "$EPOCHREALTIME"; }
elapsed_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f", b - a }'; }

# rec ROUND SYSTEM CASE VALUE UNIT: one measurement.
rec() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$RESULTS"; }

# phase LABEL: logs the time since the previous phase mark (where a run's minutes go).
PHASE_T=""
phase() {
  [[ -n "$PHASE_T" ]] && printf '%8.2f s  %s\n' "$(elapsed_since "$PHASE_T")" "$PHASE_LABEL" >>"$LOG_DIR/phases.log"
  PHASE_T="$(now)"
  PHASE_LABEL="$1"
}

# timed SECONDS_LIMIT CMD...: runs CMD (stdout to /dev/null) under timeout, prints the wall time.
timed() {
  local limit="$1" t0 rc
  shift
  t0="$(now)"
  timeout "$limit" "$@" >/dev/null 2>>"$LOG_DIR/steps.err"
  rc=$?
  if ((rc != 0)); then
    printf 'exit %s (timeout %ss): %s\n' "$rc" "$limit" "$*" >>"$LOG_DIR/steps.err"
    return "$rc"
  fi
  elapsed_since "$t0"
}

rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.3f", n / t }'; }

drop_caches() {
  phase "drop_caches"
  sync
  echo 3 >/proc/sys/vm/drop_caches
}

# ---- the XRootD server -------------------------------------------------------------------------

port_in_use() { ss -Htln 2>/dev/null | awk '{print $4}' | grep -qE "[:.]$1\$"; }

pick_port() {
  local p i
  for ((i = 0; i < 100; i++)); do
    p=$((20000 + RANDOM % 40000))
    port_in_use "$p" || { printf '%s' "$p"; return 0; }
  done
  return 1
}

XRD_PID=""
XRD_PORT=""
XRD_HTTP_PORT=""
# start_xrootd LOCALROOT: root:// on XRD_PORT and WebDAV on XRD_HTTP_PORT, both on loopback.
start_xrootd() {
  local root="$1" attempt i
  local var="$WORK/xrootd"
  mkdir -p "$var/admin" "$var/run"
  chown -R nobody: "$var"
  chmod 755 "$var"
  for ((attempt = 0; attempt < 3; attempt++)); do
    XRD_PORT="$(pick_port)" && XRD_HTTP_PORT="$(pick_port)" || return 1
    [[ "$XRD_PORT" == "$XRD_HTTP_PORT" ]] && continue
    cat >"$var/xrootd.cfg" <<EOF
# written by bench/run_mount_bench.sh
xrd.port $XRD_PORT
all.export /
oss.localroot $root
all.adminpath $var/admin
all.pidpath $var/run
xrd.protocol XrdHttp:$XRD_HTTP_PORT libXrdHttp.so
http.listingdeny no
http.desthttps false
EOF
    (cd "$var" && exec xrootd -R nobody -c "$var/xrootd.cfg" -l "$var/xrootd.log" -n mountbench \
      </dev/null >>"$LOG_DIR/xrootd.out" 2>&1) &
    XRD_PID=$!
    STARTED_PIDS+=("$XRD_PID:$var/xrootd.cfg")
    for ((i = 0; i < 100; i++)); do
      # Both ports accept (no process started), then one real request on each protocol.
      if (exec 3<>"/dev/tcp/127.0.0.1/$XRD_PORT" && exec 4<>"/dev/tcp/127.0.0.1/$XRD_HTTP_PORT") 2>/dev/null; then
        timeout 10 xrdfs "root://127.0.0.1:$XRD_PORT" ls / >/dev/null 2>&1 &&
          timeout 10 curl -sf -o /dev/null "http://127.0.0.1:$XRD_HTTP_PORT/" && return 0
      fi
      kill -0 "$XRD_PID" 2>/dev/null || break  # alive (its command line is ours until exec)
      sleep 0.1
    done
    stop_pid "$XRD_PID" "$var/xrootd.cfg"
    log "xrootd did not come up on ports $XRD_PORT/$XRD_HTTP_PORT, retrying"
  done
  return 1
}

# start_delay_proxy PORT: bench/delay_proxy (DELAY_PROXY_BIN) in front of 127.0.0.1:PORT with a
# WAN_RTT_MS round trip and WAN_WINDOW_KIB in flight (bench/delay_proxy.sh); sets PROXY_PORT.
start_delay_proxy() {
  DELAY_PROXY_PID=""
  # shellcheck disable=SC2153  # DELAY_PROXY_BIN: set by run_mount_bench.sh
  delay_proxy_start "$DELAY_PROXY_BIN" "$1" "$WAN_RTT_MS" "$WAN_WINDOW_KIB" "$LOG_DIR"
  local rc=$?
  [[ -n "$DELAY_PROXY_PID" ]] && STARTED_PIDS+=("$DELAY_PROXY_PID:--to 127.0.0.1:$1 ")
  return "$rc"
}

# ---- mounts ------------------------------------------------------------------------------------

# Each mount_* sets MOUNT_PID to the daemon's pid (or "" on failure) and returns non-zero on
# failure. unmount_fs records the daemon's VmHWM (peak RSS, KiB) for SYSTEM before unmounting.
MOUNT_PID=""

wait_mounted() {
  local m="$1" i
  for ((i = 0; i < 100; i++)); do
    is_mounted "$m" && timeout 10 stat "$m/." >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# mount_hoardfs MNT CACHE_DIR URL [extra args]
mount_hoardfs() {
  phase "mount_hoardfs"
  local m="$1" cache="$2" url="$3" out
  shift 3
  MOUNT_PID=""
  mkdir -p "$cache"
  MOUNTS+=("$m")
  # Not `out=$(hoardfs mount …)`: the daemon keeps copies of the caller's stdout/stderr open
  # (fds 3-5, duplicated before its fork), so a command substitution would wait until unmount.
  if ! timeout 60 "$HOARDFS_BIN" mount "$url" "$m" \
    --cache-dir "$cache" --cache-size "${MB_CACHE_SIZE:-8G}" --log-file "$LOG_DIR/hoardfs.log" "$@" \
    >"$LOG_DIR/hoardfs-mount.out" 2>&1 </dev/null; then
    fail_note "hoardfs mount: $(head -c 300 "$LOG_DIR/hoardfs-mount.out")"
    return 1
  fi
  out="$(cat "$LOG_DIR/hoardfs-mount.out")"
  MOUNT_PID="$(sed -n 's/.*(pid \([0-9]*\)).*/\1/p' <<<"$out")"
  [[ -n "$MOUNT_PID" ]] || MOUNT_PID="$(pgrep -f "hoardfs mount .* $m( |\$)" | head -1)"
  STARTED_PIDS+=("$MOUNT_PID:$m")
  wait_mounted "$m" || { fail_note "hoardfs: $m not mounted"; return 1; }
}

# mount_bare_fuse MNT SOURCE [OPTION...]: the FUSE ceiling (bench/bare_fuse: a local FILE served
# by pread + reply, or a root:// or http:// file by XrdCl read or libcurl range GET + reply, no
# cache logic; OPTIONs are bare_fuse's, e.g. --s3-credentials FILE), with the bdi read-ahead
# hoardfs sets for itself (1 MiB).
mount_bare_fuse() {
  phase "mount_bare_fuse"
  local m="$1" file="$2"
  shift 2
  MOUNT_PID=""
  MOUNTS+=("$m")
  "$BARE_FUSE_BIN" "$file" "$m" "$@" >>"$LOG_DIR/bare_fuse.log" 2>&1 </dev/null &
  MOUNT_PID=$!
  STARTED_PIDS+=("$MOUNT_PID:$m")
  wait_mounted "$m" || { fail_note "bare_fuse: $m not mounted"; return 1; }
  echo 1024 >"/sys/class/bdi/$(mountpoint -d "$m")/read_ahead_kb" 2>/dev/null ||
    fail_note "bare_fuse: could not raise read_ahead_kb"
}

# mount_uring_fuse MNT FILE: the FUSE ceiling over FUSE-over-io_uring (bench/uring_fuse
# --transport uring: a ring and a pinned thread per CPU, each request's O_DIRECT read an io_uring
# read on its ring; needs the fuse module's enable_uring, which the caller sets), with the bdi
# read-ahead hoardfs sets for itself (1 MiB).
mount_uring_fuse() {
  phase "mount_uring_fuse"
  local m="$1" file="$2"
  MOUNT_PID=""
  MOUNTS+=("$m")
  "$URING_FUSE_BIN" --transport uring "$file" "$m" >>"$LOG_DIR/uring_fuse.log" 2>&1 </dev/null &
  MOUNT_PID=$!
  STARTED_PIDS+=("$MOUNT_PID:$m")
  wait_mounted "$m" || { fail_note "uring_fuse: $m not mounted"; return 1; }
  echo 1024 >"/sys/class/bdi/$(mountpoint -d "$m")/read_ahead_kb" 2>/dev/null ||
    fail_note "uring_fuse: could not raise read_ahead_kb"
}

mount_xrootdfs() {  # mount_xrootdfs MNT [PORT]: xrootd's port by default
  phase "mount_xrootdfs"
  local m="$1"
  MOUNT_PID=""
  MOUNTS+=("$m")
  timeout 60 xrootdfs "$m" -o "rdr=root://127.0.0.1:${2:-$XRD_PORT}//$DATA_NAME,uid=nobody" \
    >>"$LOG_DIR/xrootdfs.log" 2>&1 </dev/null || { fail_note "xrootdfs mount failed"; return 1; }
  wait_mounted "$m" || { fail_note "xrootdfs: $m not mounted"; return 1; }
  MOUNT_PID="$(pgrep -f "^xrootdfs $m " | head -1)"
  STARTED_PIDS+=("$MOUNT_PID:$m")
}

# mount_rclone MNT CACHE_DIR
mount_rclone() {
  phase "mount_rclone"
  local m="$1" cache="$2"
  MOUNT_PID=""
  mkdir -p "$cache"
  MOUNTS+=("$m")
  timeout 60 rclone mount :webdav: "$m" --webdav-url "http://127.0.0.1:$XRD_HTTP_PORT/$DATA_NAME" \
    --vfs-cache-mode full --cache-dir "$cache" --read-only --daemon \
    --log-file "$LOG_DIR/rclone.log" >>"$LOG_DIR/rclone.out" 2>&1 </dev/null || {
    fail_note "rclone mount failed"
    return 1
  }
  wait_mounted "$m" || { fail_note "rclone: $m not mounted"; return 1; }
  MOUNT_PID="$(pgrep -f "rclone mount :webdav: $m " | head -1)"
  STARTED_PIDS+=("$MOUNT_PID:$m")
}

# mount_rclone_s3 MNT CACHE_DIR: rclone over the RGW bucket; the keys go in through rclone's
# environment variables (never argv).
mount_rclone_s3() {
  phase "mount_rclone_s3"
  local m="$1" cache="$2"
  MOUNT_PID=""
  mkdir -p "$cache"
  MOUNTS+=("$m")
  # env -u AWS_CA_BUNDLE: rclone 1.60 refuses to create an S3 remote at all when that variable
  # is set ("LoadCustomCABundleError: ... unsupported transport"), and the RGW is plain HTTP.
  env -u AWS_CA_BUNDLE RCLONE_S3_ACCESS_KEY_ID="$RGW_ACCESS_KEY" RCLONE_S3_SECRET_ACCESS_KEY="$RGW_SECRET_KEY" \
    timeout 60 rclone mount ":s3:$RGW_BUCKET/$DATA_NAME" "$m" --s3-provider Ceph \
    --s3-endpoint "$RGW_ENDPOINT" --s3-force-path-style=true \
    --vfs-cache-mode full --cache-dir "$cache" --read-only --daemon \
    --log-file "$LOG_DIR/rclone-s3.log" >>"$LOG_DIR/rclone.out" 2>&1 </dev/null || {
    fail_note "rclone (S3) mount failed"
    return 1
  }
  wait_mounted "$m" || { fail_note "rclone-s3: $m not mounted"; return 1; }
  MOUNT_PID="$(pgrep -f "rclone mount :s3:$RGW_BUCKET/$DATA_NAME $m " | head -1)"
  STARTED_PIDS+=("$MOUNT_PID:$m")
}

# mount_s3fs MNT CACHE_DIR: s3fs with its disk cache (use_cache), keys from a passwd file.
mount_s3fs() {
  phase "mount_s3fs"
  local m="$1" cache="$2"
  MOUNT_PID=""
  mkdir -p "$cache"
  MOUNTS+=("$m")
  timeout 60 s3fs "$RGW_BUCKET:/$DATA_NAME" "$m" -o "url=$RGW_ENDPOINT" -o use_path_request_style \
    -o "passwd_file=$WORK/s3fs.passwd" -o "use_cache=$cache" -o ro \
    -o endpoint=us-east-1 -o "logfile=$LOG_DIR/s3fs.log" \
    >>"$LOG_DIR/s3fs.out" 2>&1 </dev/null || { fail_note "s3fs mount failed"; return 1; }
  wait_mounted "$m" || { fail_note "s3fs: $m not mounted"; return 1; }
  # s3fs rewrites its argv: "s3fs bench /data MNT -o ..."
  MOUNT_PID="$(pgrep -f "^s3fs .* $m " | head -1)"
  STARTED_PIDS+=("$MOUNT_PID:$m")
}

# ---- the S3 server (Ceph RGW, through tests/support/rgw_server_main.cc) -------------------------

RGW_PID=""
RGW_ENDPOINT=""
RGW_BUCKET=""
RGW_ACCESS_KEY=""
RGW_SECRET_KEY=""
RGW_WORKDIR=""
RGW_UPLOAD_SECONDS=""
RGW_UPLOADED=""
# start_rgw UPLOAD_DIR MEMSTORE_MIB TIMEOUT: starts hoardfs_rgw_server ($RGW_BIN), which creates
# the bucket and uploads UPLOAD_DIR under the key prefix "$DATA_NAME/", and waits for its ready=1.
# Writes the credentials files (mode 600) the S3 clients read: $WORK/s3.creds (AWS INI, hoardfs),
# $WORK/s3fs.passwd, $WORK/curl-s3.cfg (curl -K). The keys never appear on a command line.
start_rgw() {
  local up="$1" mib="$2" limit="$3" out="$WORK/rgw.out" i
  (umask 077 && : >"$out")
  (TMPDIR="$WORK" exec "$RGW_BIN" --bucket bench --memstore-mib "$mib" --upload "$up" \
    --prefix "$DATA_NAME/" --threads 16 </dev/null >"$out" 2>>"$LOG_DIR/rgw.err") &
  RGW_PID=$!
  for ((i = 0; i < limit * 10; i++)); do
    grep -q '^ready=1' "$out" 2>/dev/null && break
    # Alive is enough here: until the subshell has exec'd, its command line is still ours.
    kill -0 "$RGW_PID" 2>/dev/null || { RGW_PID=""; return 1; }
    sleep 0.1
  done
  grep -q '^ready=1' "$out" || { stop_rgw; return 1; }
  kv() { sed -n "s/^$1=//p" "$out" | head -1; }
  RGW_ENDPOINT="$(kv endpoint)"
  RGW_BUCKET="$(kv bucket)"
  RGW_ACCESS_KEY="$(kv access_key)"
  RGW_SECRET_KEY="$(kv secret_key)"
  RGW_WORKDIR="$(kv work_dir)"
  # shellcheck disable=SC2034  # read by run_mount_bench.sh
  RGW_UPLOAD_SECONDS="$(kv upload_seconds)"
  # shellcheck disable=SC2034  # read by run_mount_bench.sh
  RGW_UPLOADED="$(kv uploaded_objects)"
  (
    umask 077
    printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
      "$RGW_ACCESS_KEY" "$RGW_SECRET_KEY" >"$WORK/s3.creds"
    printf '%s:%s\n' "$RGW_ACCESS_KEY" "$RGW_SECRET_KEY" >"$WORK/s3fs.passwd"
    printf 'user = "%s:%s"\naws-sigv4 = "aws:amz:us-east-1:s3"\nheader = "x-amz-content-sha256: UNSIGNED-PAYLOAD"\n' \
      "$RGW_ACCESS_KEY" "$RGW_SECRET_KEY" >"$WORK/curl-s3.cfg"
  )
}

# stop_rgw: SIGTERM to the launcher, which stops radosgw, the OSD and the monitor in order
# (~6 s); after 60 s, SIGKILL, then the Ceph daemons it started (pid files in its work dir,
# checked against their command line, which names the work dir's ceph.conf).
stop_rgw() {
  local i f p
  [[ -n "$RGW_PID" ]] || return 0
  if pid_is_ours "$RGW_PID" "hoardfs_rgw_server"; then
    kill -TERM "$RGW_PID" 2>/dev/null
    for ((i = 0; i < 600; i++)); do
      pid_is_ours "$RGW_PID" "hoardfs_rgw_server" || break
      sleep 0.1
    done
    if pid_is_ours "$RGW_PID" "hoardfs_rgw_server"; then
      kill -KILL "$RGW_PID" 2>/dev/null
      log "hoardfs_rgw_server did not stop within 60 s: killed"
    fi
  fi
  if [[ -n "$RGW_WORKDIR" && -d "$RGW_WORKDIR/run" ]]; then
    for f in "$RGW_WORKDIR"/run/*.pid; do
      [[ -f "$f" ]] || continue
      p="$(cat "$f" 2>/dev/null)"
      stop_pid "$p" "$RGW_WORKDIR/ceph.conf"
    done
  fi
  wait "$RGW_PID" 2>/dev/null
  RGW_PID=""
}

# wait_exit PID NEEDLE: waits up to 10 s for our daemon to exit after its unmount, then stops it.
wait_exit() {
  local i
  [[ -n "$1" ]] || return 0
  for ((i = 0; i < 100; i++)); do
    pid_is_ours "$1" "$2" || return 0
    sleep 0.1
  done
  stop_pid "$1" "$2"
}

# unmount_fs SYSTEM MNT [later]: records the daemon's peak RSS, unmounts, and waits for the daemon
# to exit -- or, with `later`, leaves that (and removing DIR_AFTER) to reap_later: a daemon can take
# 2-8 s to exit after its unmount (hoardfs after random reads), idle.
REAP=()
unmount_fs() {
  local sys="$1" m="$2" later="${3:-}" hwm
  phase "unmount $sys"
  if [[ -n "$MOUNT_PID" && -r "/proc/$MOUNT_PID/status" ]]; then
    hwm="$(awk '/^VmHWM:/ {print $2}' "/proc/$MOUNT_PID/status")"
    [[ -n "$hwm" ]] && printf '%s\t%s\t%s\n' "$sys" "$hwm" "${RSS_LABEL:--}" >>"$WORK/rss.tsv"
  fi
  unmount_path "$m" || fail_note "unmount $m"
  if [[ -n "$later" ]]; then
    REAP+=("$MOUNT_PID|$m|$later")
  else
    wait_exit "$MOUNT_PID" "$m"
  fi
  MOUNT_PID=""
}

# reap_later: waits for the daemons left by `unmount_fs … later`, then removes their directories.
reap_later() {
  local e pid m dir
  phase "reap"
  for e in "${REAP[@]}"; do
    IFS='|' read -r pid m dir <<<"$e"
    wait_exit "$pid" "$m"
    [[ "$dir" == "$WORK"/* ]] && rm -rf "$dir"
  done
  REAP=()
}

hoardfs_stats() { timeout 10 getfattr --only-values -n user.hoardfs.stats "$1" 2>/dev/null; }

# ---- in-process timers -------------------------------------------------------------------------
# Starting a process costs ~30 ms on these VMs (`timeout 60 true` measured 29 ms), as much as a
# whole warm `ls -f` of 20,000 entries: metadata cases, TTFB and cat are timed inside one python3
# process doing the same system calls as the commands (ls -f = getdents only; find -type f | xargs
# stat = a d_type walk then stat() of each file; cat = open/read/close each file; TTFB = open + the
# first read()). Sequential reads use dd and its own timer (which starts after the open).
# /usr/bin/python3 -I -S: a pyenv shim on PATH costs 0.8 s per start here, the real one 0.1 s.
PYTHON=(python3 -I -S)
[[ -x /usr/bin/python3 ]] && PYTHON=(/usr/bin/python3 -I -S)
write_fsops() {
  cat >"$1" <<'PY'
import os, signal, sys, time

def walk(root):
    files, stack = [], [root]
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif e.is_file(follow_symlinks=False):
                    files.append(e.path)
    return files

def main():
    op, path, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    signal.signal(signal.SIGALRM, lambda *_: os._exit(124))
    signal.alarm(limit)
    clock = time.perf_counter
    if op == "ttfb":
        t0 = clock()
        fd = os.open(path, os.O_RDONLY)
        b = os.read(fd, 1)
        t1 = clock()
        os.close(fd)
        n = len(b)
    elif op == "ls":
        t0 = clock()
        n = len(os.listdir(path))
        t1 = clock()
    elif op == "stat":
        t0 = clock()
        files = walk(path)
        for f in files:
            os.stat(f)
        t1 = clock()
        n = len(files)
    elif op == "cat":
        t0 = clock()
        files = walk(path)
        for f in files:
            fd = os.open(f, os.O_RDONLY)
            while os.read(fd, 65536):
                pass
            os.close(fd)
        t1 = clock()
        n = len(files)
    else:
        sys.exit("unknown op " + op)
    print(f"{t1 - t0:.6f} {n}")

main()
PY
}

# make_data DIR BIG_BYTES SMALL_DIRS PER_DIR WIDE SPARSE_BYTES SCALE_N SCALE_BYTES TTFB_NAME...:
# the data set, in one process (a process start per file or per directory would cost minutes
# here). SPARSE_BYTES > 0: a file "sparse" for the ROOT-like case; SCALE_N > 0: scale/fNN, SCALE_N
# files of SCALE_BYTES for the concurrent readers.
make_data() {
  timeout 900 "${PYTHON[@]}" - "$@" <<'PY'
import os, sys
root, big, ndirs, per, wide = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
sparse, scale_n, scale_bytes = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
os.makedirs(root, exist_ok=True)

def random_file(path, size):
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 << 20)
            f.write(os.urandom(n))
            left -= n

random_file(os.path.join(root, "big"), big)
if sparse:
    random_file(os.path.join(root, "sparse"), sparse)
if scale_n:
    os.makedirs(os.path.join(root, "scale"), exist_ok=True)
    for i in range(scale_n):
        random_file(os.path.join(root, "scale", f"f{i:02d}"), scale_bytes)
for tree in ("small", "smallcat"):
    for d in range(ndirs):
        sd = os.path.join(root, tree, f"d{d:02d}")
        os.makedirs(sd, exist_ok=True)
        blob = os.urandom(per * 4096)
        for i in range(per):
            with open(os.path.join(sd, f"f{i:04d}"), "wb") as f:
                f.write(blob[i * 4096:(i + 1) * 4096])
wd = os.path.join(root, "wide")
os.makedirs(wd, exist_ok=True)
for i in range(wide):
    open(os.path.join(wd, f"e{i:05d}"), "wb").close()
td = os.path.join(root, "ttfb")
os.makedirs(td, exist_ok=True)
for name in sys.argv[9:]:
    with open(os.path.join(td, name), "wb") as f:
        f.write(os.urandom(65536))
PY
}

# fsop OP PATH EXPECTED_MIN_COUNT: prints the seconds; fails if fewer items than expected.
fsop() {
  local out secs n
  out="$(timeout 310 "${PYTHON[@]}" "$FSOPS" "$1" "$2" 300 2>>"$LOG_DIR/steps.err")" || {
    printf 'fsop %s %s failed\n' "$1" "$2" >>"$LOG_DIR/steps.err"
    return 1
  }
  read -r secs n <<<"$out"
  if ((n < $3)); then
    printf 'fsop %s %s: %s items, expected %s\n' "$1" "$2" "$n" "$3" >>"$LOG_DIR/steps.err"
    return 1
  fi
  printf '%s' "$secs"
}

# dd_seconds WHAT EXPECTED_BYTES DD_OUTPUT: prints dd's own elapsed seconds from its output, or
# logs WHAT with the output and fails when it did not copy exactly EXPECTED_BYTES.
dd_seconds() {
  local bytes secs
  bytes="$(sed -n 's/^\([0-9]*\) bytes.*copied.*/\1/p' <<<"$3")"
  secs="$(sed -n 's/.*copied, \([0-9.e+-]*\) s,.*/\1/p' <<<"$3")"
  if [[ "$bytes" != "$2" || -z "$secs" ]]; then
    printf '%s: %s\n' "$1" "$3" >>"$LOG_DIR/steps.err"
    return 1
  fi
  printf '%s' "$secs"
}

# dd_write FILE DIR EXPECTED_BYTES: copies FILE into DIR with O_DIRECT writes of 1 MiB and one
# fdatasync at the end, as the cache writes what it fetches; prints dd's elapsed seconds; removes
# the copy.
dd_write() {
  local f="$1" dir="$2" size="$3" out rc
  mkdir -p "$dir"
  out="$(timeout "$SEQ_TIMEOUT" dd if="$f" of="$dir/write-bound" bs=1M oflag=direct conv=fdatasync 2>&1)"
  rc=$?
  rm -f "$dir/write-bound"
  if ((rc != 0)); then
    printf 'dd to %s failed: %s\n' "$dir" "$out" >>"$LOG_DIR/steps.err"
    return 1
  fi
  dd_seconds "dd to $dir" "$size" "$out"
}

# dd_read FILE EXPECTED_BYTES [dd flags]: prints dd's own elapsed seconds for the whole file.
dd_read() {
  local f="$1" size="$2" out
  shift 2
  out="$(timeout "$SEQ_TIMEOUT" dd if="$f" of=/dev/null bs=1M "$@" 2>&1)" || {
    printf 'dd %s failed: %s\n' "$f" "$out" >>"$LOG_DIR/steps.err"
    return 1
  }
  dd_seconds "dd $f" "$size" "$out"
}

# fio_rand FILE: 4 KiB O_DIRECT random reads for FIO_RUNTIME s, first psync with 1 job, then
# (stonewall) io_uring at iodepth 16, in one fio run; prints "PSYNC_IOPS URING_IOPS IO_BYTES".
fio_rand() {
  local out
  out="$(timeout $((2 * FIO_RUNTIME + 60)) fio --output-format=json --filename="$1" --readonly \
    --rw=randread --bs=4k --direct=1 --numjobs=1 --runtime="$FIO_RUNTIME" --time_based \
    --name=psync --ioengine=psync --iodepth=1 \
    --name=uring --stonewall --ioengine=io_uring --iodepth=16 2>>"$LOG_DIR/steps.err")" || {
    printf 'fio %s failed\n' "$1" >>"$LOG_DIR/steps.err"
    return 1
  }
  jq -r '"\(.jobs[0].read.iops) \(.jobs[1].read.iops) \(.jobs[0].read.io_bytes + .jobs[1].read.io_bytes)"' <<<"$out"
}
