# shellcheck shell=bash
# Starting bench/delay_proxy (a wide-area link in front of a local port) for the benchmarks
# (sourced by bench/mount_bench_lib.sh and bench/sparse_ab.sh).

# delay_proxy_start BIN PORT RTT_MS WINDOW_KIB DIR: starts BIN in front of 127.0.0.1:PORT with a
# round trip of RTT_MS (half of it each way) and WINDOW_KIB in flight per direction and connection
# (0: unbounded); its stdout goes to DIR/delay-proxy-PORT.out, its per-connection lines are
# appended to DIR/delay-proxy.err. Sets DELAY_PROXY_PID (also on failure, if it was started) and
# PROXY_PORT (its own port); returns 1 if it does not listen within 5 s.
delay_proxy_start() {
  local bin="$1" port="$2" rtt="$3" window="$4" dir="$5" out i
  out="$dir/delay-proxy-$port.out"
  : >"$out"
  "$bin" --to "127.0.0.1:$port" --delay-ms "$(awk -v r="$rtt" 'BEGIN { print r / 2 }')" \
    --window-kib "$window" >"$out" 2>>"$dir/delay-proxy.err" </dev/null &
  DELAY_PROXY_PID=$!
  PROXY_PORT=""
  for ((i = 0; i < 50; i++)); do
    PROXY_PORT="$(sed -n 's/^port=//p' "$out")"
    [[ -n "$PROXY_PORT" ]] && return 0
    kill -0 "$DELAY_PROXY_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
