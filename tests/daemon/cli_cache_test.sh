#!/usr/bin/env bash
# End-to-end test of `hoardfs cache`: a real cache directory on the real disk, a random file
# imported in blocks (with a short tail), read back byte for byte, counters and fsck checked,
# bad input rejected with a clear message and a non-zero exit.
set -euo pipefail
HOARDFS=${1:?usage: cli_cache_test.sh path/to/hoardfs}
work=$(mktemp -d /tmp/hoardfs-cli-XXXXXX)
trap 'rm -rf "$work"' EXIT
cache=(--cache-dir "$work/cache" --cache-size 64M --block-size 1M)
fail() { echo "FAIL: $*" >&2; exit 1; }

head -c $((5 * 1048576 + 12345)) /dev/urandom > "$work/sample.root"
out=$("$HOARDFS" cache import "${cache[@]}" "$work/sample.root" --as /store/run1/sample.root --version v1)
echo "$out" | grep -q '"bytes":5255225' || fail "import: $out"

"$HOARDFS" cache cat "${cache[@]}" /store/run1/sample.root --version v1 > "$work/back"
cmp "$work/sample.root" "$work/back" || fail "bytes read back differ"

stats=$("$HOARDFS" cache stats "${cache[@]}")
python3 - "$stats" <<'PY' || fail "stats: $stats"
import json, sys
s = json.loads(sys.argv[1])
assert s["data_bytes"] == 5255225, s
assert s["used_bytes"] == 5 * 1048576 + 16384, s  # the 12,345-byte tail: a 16 KiB slot
assert s["recovery"]["entries"] == 6, s
assert not s["recovery"]["usage_repaired"], s
PY

usage=$("$HOARDFS" cache usage "${cache[@]}" --dataset-depth 2)
echo "$usage" | grep -q '"prefix": "/store/run1"' || fail "usage: $usage"

"$HOARDFS" cache verify "${cache[@]}" | grep -q '"verified": 6' || fail "verify"

# Wrong version: not cached, exit non-zero with a message.
if "$HOARDFS" cache cat "${cache[@]}" /store/run1/sample.root --version v2 >/dev/null 2>"$work/err"; then
  fail "cat of an uncached version succeeded"
fi
grep -q "not cached" "$work/err" || fail "unclear error: $(cat "$work/err")"

# Bad sizes and an incompatible block size are refused with a one-line reason.
if "$HOARDFS" cache stats --cache-dir "$work/cache" --cache-size 12X 2>"$work/err"; then fail "bad size accepted"; fi
grep -q "invalid size '12X'" "$work/err" || fail "unclear error: $(cat "$work/err")"
if "$HOARDFS" cache stats --cache-dir "$work/cache" --cache-size 64M --block-size 2M 2>"$work/err"; then
  fail "block size change accepted"
fi
grep -q "block size" "$work/err" || fail "unclear error: $(cat "$work/err")"

# Pin, evict, resize.
"$HOARDFS" cache pin "${cache[@]}" /store/run1
"$HOARDFS" cache pins "${cache[@]}" | grep -q '"/store/run1"' || fail "pin not persisted"
"$HOARDFS" cache evict "${cache[@]}" /store | grep -q '"evicted_blocks":6' || fail "evict"
"$HOARDFS" cache resize "${cache[@]}" 32M
echo "cli_cache_test: all checks passed"
