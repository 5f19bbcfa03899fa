#!/usr/bin/env bash
# Plots of the mount benchmark: one SVG per group of cases (throughput; latency and metadata) with
# the systems side by side, each bar a system's median ratio to its limit for that case (1.0 = at
# the limit, higher is better; lower-is-better cases such as TTFB are inverted: limit ÷ system), on
# a log scale, so one glance shows who leads and how far from the limit everybody is.
#
#   bench/plot_mount_bench.sh JSON PREFIX    writes PREFIX-throughput.svg and PREFIX-latency.svg
#
# JSON is what bench/run_mount_bench.sh writes next to its report (docs/benchmarks-mount.json).
# Needs jq and gnuplot (Debian: jq, gnuplot-nox). Called at the end of the benchmark run.
set -uo pipefail

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

if [[ $# -ne 2 ]]; then
  echo "usage: $0 JSON PREFIX" >&2
  exit 2
fi
JSON="$1"
PREFIX="$2"
for c in jq gnuplot; do
  command -v "$c" >/dev/null 2>&1 || { echo "$c is missing" >&2; exit 1; }
done
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# color SYSTEM: hoardfs in blues, the peers in warm colours.
color() {
  case "$1" in
    hoardfs-root) echo "#08519c" ;;
    hoardfs-http) echo "#3182bd" ;;
    hoardfs-s3) echo "#6baed6" ;;
    xrootdfs) echo "#e6550d" ;;
    rclone) echo "#31a354" ;;
    rclone-s3) echo "#a1d99b" ;;
    s3fs) echo "#756bb1" ;;
    *) echo "#636363" ;;
  esac
}

# plot GROUP TITLE: one clustered histogram of the group's cases.
plot() {
  local group="$1" title="$2" data="$TMP/$1.dat" out="$PREFIX-$1.svg" n i sys plotcmd=""
  local -a systems
  # The systems that have at least one ratio in this group, in the report's order.
  mapfile -t systems < <(jq -r --arg g "$group" '
    .normalised as $n | [.cases[] | select(.group == $g) | .id] as $ids
    | .systems[] | select(. as $s | any($ids[]; $n[$s][.] != null))' "$JSON")
  n=${#systems[@]}
  if ((n == 0)); then
    log "no $group figures in $JSON: no plot"
    return 0
  fi
  jq -r --arg g "$group" --argjson sys "$(printf '%s\n' "${systems[@]}" | jq -R . | jq -s .)" '
    .titles as $t | .normalised as $n
    | (["case"] + [$sys[] | $t[.]] | map("\"" + . + "\"") | join(" ")),
      (.cases[] | select(.group == $g) | .id as $id
       | select(any($sys[]; $n[.][$id] != null))
       | ["\"" + .short + "\""] + [$sys[] | ($n[.][$id] // "?") | tostring] | join(" "))' \
    "$JSON" >"$data"
  for ((i = 0; i < n; i++)); do
    sys="${systems[i]}"
    plotcmd+="${plotcmd:+, }'$data' using $((i + 2)):xtic(1) title columnheader($((i + 2))) lc rgb '$(color "$sys")'"
  done
  plotcmd+=", 1 with lines dt 2 lw 1.5 lc rgb 'black' title 'limit (1.0)'"
  gnuplot <<EOF
set terminal svg size 1100,520 dynamic enhanced font 'sans,11' background rgb 'white'
set output '$out'
set title "$title"
set datafile missing '?'
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.9 border rgb '#404040'
set boxwidth 0.9
set logscale y
set yrange [0.001:4]
set ytics ('0.001' 0.001, '0.01' 0.01, '0.1' 0.1, '0.25' 0.25, '0.5' 0.5, '1' 1, '2' 2)
set grid ytics lc rgb '#dddddd'
set ylabel 'ratio to the limit (higher is better)'
set xtics rotate by -25 nomirror
set key outside right top vertical
plot $plotcmd
EOF
  [[ -s "$out" ]] && log "wrote $out"
}

mode="$(jq -r '.meta.mode // ""' "$JSON")"
date="$(jq -r '.meta.date // ""' "$JSON")"
plot throughput "Throughput cases ÷ their limit ($mode run, $date)"
plot latency "Latency, sparse and metadata cases ÷ their limit ($mode run, $date; time cases as limit ÷ time)"
