"""The tables and the JSON of bench/run_mount_bench.sh (run by it; not meant to be run by hand).

Reads the raw measurements (MB_RESULTS: round, system, case, value, unit per line), the hoardfs
counters (MB_DIAG: round, system, key, value) and the daemons' peak RSS (MB_RSS: system, KiB,
mount label); prints the markdown sections (results, ratios, counters) on stdout and writes the
JSON file MB_JSON: every system x case (median, min, max, unit, per-round values), the limit each
hoardfs backend is compared with, the ratios, and each system's ratio to its limit ("normalised",
1.0 = at the limit, higher is better) that bench/plot_mount_bench.sh draws.
"""
import json
import os
import statistics as st
from collections import defaultdict

E = os.environ
res = defaultdict(dict)  # (system, case) -> {round: value}
units = {}
for line in open(E["MB_RESULTS"]):
    r, sysname, case, val, unit = line.rstrip("\n").split("\t")
    res[(sysname, case)][int(r)] = float(val)
    units[case] = unit
# the cold limit over root://: the faster direct client of the round
for r in set(res[("xrdcp", "seq_cold")]) | set(res[("curl", "seq_cold")]):
    res[("direct", "seq_cold")][r] = max(res[("xrdcp", "seq_cold")].get(r, 0),
                                         res[("curl", "seq_cold")].get(r, 0))
# the sparse cold limit over root://: the faster of the same ranges over HTTP and over root://
for r in set(res[("ranges-http", "sparse_cold")]) | set(res[("ranges-xroot", "sparse_cold")]):
    v = [x for x in (res[("ranges-http", "sparse_cold")].get(r), res[("ranges-xroot", "sparse_cold")].get(r)) if x]
    res[("ranges", "sparse_cold")][r] = min(v)
# the concurrent readers' cold limit: the faster of the direct readers (XrdCl, libcurl) at once
for r in set(res[("readers-xrdcl", "scale_cold")]) | set(res[("readers-curl", "scale_cold")]):
    res[("readers", "scale_cold")][r] = max(res[("readers-xrdcl", "scale_cold")].get(r, 0),
                                            res[("readers-curl", "scale_cold")].get(r, 0))
units.setdefault("scale_rss", "MiB")
big, small, wide = E["MB_BIG_MIB"], int(E["MB_SMALL"]), int(E["MB_WIDE"])
sparse_mib, scale_n, scale_mib = E["MB_SPARSE_MIB"], E["MB_SCALE_N"], E["MB_SCALE_MIB"]

ORDER = ["hoardfs-root", "hoardfs-uring", "hoardfs-http", "hoardfs-s3", "xrootdfs", "rclone", "rclone-s3", "s3fs"]
BACKEND = {"hoardfs-root": "root", "hoardfs-uring": "root", "hoardfs-http": "http", "hoardfs-s3": "s3", "xrootdfs": "root",
           "rclone": "http", "rclone-s3": "s3", "s3fs": "s3"}
TITLE = {"hoardfs-root": "hoardfs root://", "hoardfs-uring": "hoardfs root:// -o io_uring",
         "hoardfs-http": "hoardfs http://",
         "hoardfs-s3": "hoardfs s3://", "xrootdfs": "xrootdfs", "rclone": "rclone WebDAV",
         "rclone-s3": "rclone S3", "s3fs": "s3fs"}
systems = [s for s in ORDER if any(k[0] == s for k in res)]
hoardfs = [s for s in systems if s.startswith("hoardfs-")]
peers = [s for s in systems if not s.startswith("hoardfs-")]

# id, label, short label (plots), lower is better, target vs the limit, plot group
CASES = [
    ("seq_cold", f"cold seq, {big} MiB (MB/s)", "cold seq", False, 0.9, "throughput"),
    ("seq_warm", "warm seq (MB/s)", "warm seq", False, 0.9, "throughput"),
    ("seq_hot", "hot seq (MB/s)", "hot seq", False, 0.8, "throughput"),
    ("rand_psync", "warm rand 4k, psync 1 job (IOPS)", "rand 4k psync", False, 0.5, "throughput"),
    ("rand_uring", "warm rand 4k, io_uring QD16 (IOPS)", "rand 4k QD16", False, 0.5, "throughput"),
    ("scale_cold", f"{scale_n} readers × {scale_mib} MiB cold (MB/s)", f"{scale_n} readers cold",
     False, None, "throughput"),
    ("scale_warm", f"{scale_n} readers × {scale_mib} MiB warm (MB/s)", f"{scale_n} readers warm",
     False, None, "throughput"),
    ("ttfb", "TTFB of a never-read file (ms)", "TTFB", True, None, "latency"),
    ("sparse_cold", f"sparse ROOT-like, {sparse_mib} MiB file, cold (s)", "sparse cold", True,
     1 / 1.2, "latency"),
    ("sparse_warm", "sparse ROOT-like, warm (s)", "sparse warm", True, None, "latency"),
    ("stat_cold", f"stat {small:,} cold (files/s)", "stat cold", False, None, "latency"),
    ("stat_warm", f"stat {small:,} warm (files/s)", "stat warm", False, 0.5, "latency"),
    ("ls_cold", f"ls -f {wide:,} cold (entries/s)", "ls cold", False, None, "latency"),
    ("ls_warm", f"ls -f {wide:,} warm (entries/s)", "ls warm", False, 0.5, "latency"),
    ("cat_cold", f"cat {small:,} small files cold (files/s)", "cat cold", False, None, "latency"),
    ("cat_warm", f"cat {small:,} small files warm (files/s)", "cat warm", False, None, "latency"),
]
CASE_LOWER = {c[0]: c[3] for c in CASES}
CASES = [c for c in CASES if any(res[(s, c[0])] for s in systems)]

LOCAL = {
    "seq_warm": "local O_DIRECT dd", "seq_hot": "local page cache dd",
    "rand_psync": "local fio O_DIRECT", "rand_uring": "local fio O_DIRECT",
    "scale_cold": f"{scale_n} O_DIRECT readers of the local files",
    "scale_warm": f"{scale_n} O_DIRECT readers of the local files",
    "sparse_warm": "the same preads on the local file, page cache dropped",
    "stat_cold": "ext4 cold", "stat_warm": "ext4 warm", "ls_cold": "ext4 cold",
    "ls_warm": "ext4 warm", "cat_cold": "ext4 cold", "cat_warm": "ext4 warm",
}


def limit_of(case, backend):
    """(system, label) of the limit a system over `backend` is compared with, or None."""
    if case == "seq_cold":
        return {"root": ("direct", "direct client (faster of xrdcp, curl)"),
                "http": ("curl", "curl over HTTP"),
                "s3": ("curl-s3", "curl SigV4 from the RGW")}[backend]
    if case == "ttfb":
        return ("curl-s3", "curl SigV4 time_starttransfer") if backend == "s3" else \
            ("curl", "curl time_starttransfer")
    if case == "sparse_cold":
        return {"root": ("ranges", "the same ranges by a direct client (faster of XrdCl, libcurl)"),
                "http": ("ranges-http", "the same ranges as HTTP GETs (libcurl)"),
                "s3": None}[backend]
    if case == "scale_cold" and res[("readers", "scale_cold")]:
        return ("readers", f"{scale_n} direct readers of the server at once (faster of XrdCl, libcurl)")
    if case in LOCAL:
        return ("local", LOCAL[case])
    return None


# The cold limits paired with each system's own cold pass (run_mount_bench.sh: paired_seq_cold,
# paired_sparse_cold): the backend's direct clients just before and just after it, recorded as
# CLIENT@SYSTEM-before and CLIENT@SYSTEM-after.
# The local limits of the warm and hot cases likewise around a hoardfs system's warm passes
# (paired_local, paired_sparse_warm): local@SYSTEM-before and local@SYSTEM-after.
PAIR_CLIENTS = {"seq_cold": {"root": ("xrdcp", "curl"), "http": ("curl",), "s3": ("curl-s3",)},
                "sparse_cold": {"root": ("ranges-http", "ranges-xroot"), "http": ("ranges-http",)}}
PAIRED_LOCAL = ("seq_warm", "seq_hot", "rand_psync", "rand_uring", "sparse_warm")


def paired_side(s, case, side, clients=None):
    """per round: the limit (the fastest of the clients) taken on `side` of system s's pass"""
    best = min if CASE_LOWER[case] else max
    out = {}
    if not clients:
        clients = ("local",) if case in PAIRED_LOCAL else PAIR_CLIENTS.get(case, {}).get(BACKEND[s], ())
    for c in clients:
        for r, v in res[(f"{c}@{s}-{side}", case)].items():
            if v:
                out[r] = best(out[r], v) if r in out else v
    return out


def paired_limit(s, case, clients=None):
    """per round: the mean of the limit just before and just after system s's cold pass (either
    one alone where the other failed)"""
    before = paired_side(s, case, "before", clients)
    after = paired_side(s, case, "after", clients)
    return {r: st.mean([x for x in (before.get(r), after.get(r)) if x])
            for r in set(before) | set(after)}


def limit_values(s, case):
    """((system, label), {round: value}) of the limit system s is compared with: the paired one
    where it was measured, else the limits' round; (None, {}) for no limit"""
    lim = limit_of(case, BACKEND[s])
    if lim is None:
        return None, {}
    paired = paired_limit(s, case)
    if paired:
        return (lim[0], lim[1] + ", paired with the pass"), paired
    return lim, res[(lim[0], case)]


def peer_target(p):
    return 2.0 if p.startswith("rclone") else 1.0


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
    if a >= 0.1 or a == 0:
        return f"{v:.2f}"
    return f"{v:.3f}"


def cell(vals):
    vals = list(vals)
    if not vals:
        return "—"
    if len(vals) == 1:
        return fmt(vals[0])
    return f"{fmt(st.median(vals))} ({fmt(min(vals))}–{fmt(max(vals))})"


def ratios(a, b, lower_better):
    """per-round ratio a/b (b/a when lower is better): > 1 means a is better."""
    out = []
    for r, va in a.items():
        vb = b.get(r)
        if vb and va:
            out.append(vb / va if lower_better else va / vb)
    return out


def rcell(vals, bold_below=None):
    if not vals:
        return "—"
    txt = f"{vals[0]:.2f}" if len(vals) == 1 else \
        f"{st.median(vals):.2f} ({min(vals):.2f}–{max(vals):.2f})"
    if bold_below is not None and st.median(vals) < bold_below:
        txt = f"**{txt}**"
    return txt


def summary(vals):
    vals = list(vals)
    if not vals:
        return None
    return {"median": st.median(vals), "min": min(vals), "max": max(vals)}


rss = defaultdict(list)
rss_phase = defaultdict(list)
if os.path.exists(E["MB_RSS"]):
    for line in open(E["MB_RSS"]):
        f = line.split()
        rss[f[0]].append(int(f[1]) / 1024)
        if len(f) > 2:
            rss_phase[(f[0], f[2])].append(int(f[1]) / 1024)

diag = defaultdict(lambda: defaultdict(dict))  # system -> key -> {round: value}
if os.path.exists(E["MB_DIAG"]):
    for line in open(E["MB_DIAG"]):
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 4:
            continue
        try:
            diag[parts[1]][parts[2]][int(parts[0])] = float(parts[3])
        except ValueError:
            pass

out = []
P = out.append
P("## Results (median of the rounds, min–max)")
P("")
P("The limit column is the one for root:// and http://; over S3 the cold limit is curl (SigV4) from the RGW, "
  "shown in its own row. Lower is better for TTFB and the sparse read (seconds), higher for the rest.")
P("")
P("| case | limit | limit value | " + " | ".join(TITLE[s] for s in systems) + " |")
P("|---|---|---:|" + "---:|" * len(systems))
for case, label, _, lower, _, _ in CASES:
    lim = limit_of(case, "root")
    row = [label, lim[1] if lim else "—", cell(res[(lim[0], case)].values()) if lim else "—"]
    row += [cell(res[(s, case)].values()) for s in systems]
    P("| " + " | ".join(row) + " |")
    if case in ("seq_cold", "ttfb") and res[("curl-s3", case)]:
        l3 = limit_of(case, "s3")
        P(f"| ↳ {label} over S3 | {l3[1]} | {cell(res[(l3[0], case)].values())} |" + " |" * len(systems))
S3_NOTE = ""
if any(BACKEND[s] == "s3" for s in systems):
    n3 = E.get("MB_S3_SMALL")
    S3_NOTE = (f"Over S3, stat and cat run on {int(n3):,} files per tree, not {small:,}" if n3 else
               "Over S3, stat and cat run on fewer files") + " (the RGW's ~20 ms per request; see Peers)."
P("| daemon peak RSS over the run (MiB, VmHWM) | — | — | "
  + " | ".join(fmt(max(rss[s])) if rss[s] else "—" for s in systems) + " |")
if res[("hoardfs-root", "scale_rss")]:
    P(f"| daemon peak RSS, {scale_n} concurrent readers (MiB) | — | — | "
      + " | ".join(cell(res[(s, "scale_rss")].values()) for s in systems) + " |")
P("")
if S3_NOTE:
    P(S3_NOTE)
    P("")
if res[("xrdcp", "seq_cold")] or res[("curl", "seq_cold")]:
    P("Direct clients, cold, MB/s: xrdcp " + cell(res[("xrdcp", "seq_cold")].values())
      + ", curl over HTTP " + cell(res[("curl", "seq_cold")].values())
      + (", curl SigV4 from the RGW " + cell(res[("curl-s3", "seq_cold")].values())
         if res[("curl-s3", "seq_cold")] else "")
      + ("; in range GETs (below: the ranged-read bound) over HTTP "
         + cell(res[("curl-ranges", "seq_cold")].values())
         + (", SigV4 " + cell(res[("curl-s3-ranges", "seq_cold")].values())
            if res[("curl-s3-ranges", "seq_cold")] else "")
         if res[("curl-ranges", "seq_cold")] else "")
      + " (xrdcp's wall time includes its start, ~0.1–0.5 s here; curl's time_total does not).")
    P("")
if res[("readers", "scale_cold")]:
    P(f"{scale_n} concurrent readers, cold, MB/s: XrdCl (8 MiB reads, four streams) "
      + cell(res[("readers-xrdcl", "scale_cold")].values())
      + (", libcurl GETs from the HTTP door " + cell(res[("readers-curl", "scale_cold")].values())
         if res[("readers-curl", "scale_cold")] else "")
      + f"; {scale_n} O_DIRECT readers of the local files " + cell(res[("local", "scale_cold")].values())
      + " (the limit of the warm pass).")
    P("")
if res[("ranges", "sparse_cold")]:
    P("Sparse read by direct clients, cold, s: root:// (XrdCl) " + cell(res[("ranges-xroot", "sparse_cold")].values())
      + ", HTTP range GETs (libcurl) " + cell(res[("ranges-http", "sparse_cold")].values())
      + "; the local file, page cache dropped, " + cell(res[("local", "sparse_warm")].values()) + ".")
    P("")

# The FUSE ceiling (bench/bare_fuse, same run): what FUSE alone reaches here, so that a target
# hoardfs misses can be told apart from one FUSE itself cannot reach on this machine.
CEILING_CASES = [c for c in CASES
                 if c[0] in ("seq_cold", "seq_warm", "seq_hot", "rand_psync", "rand_uring",
                             "sparse_cold", "sparse_warm")
                 and res[("fuse-bare", c[0])]]
ceiling_json = {}
if CEILING_CASES:
    P("## The FUSE ceiling (bare FUSE: one read of the source + reply per request, no cache logic)")
    P("")
    P("bench/bare_fuse serves the same local file through FUSE (one O_DIRECT pread per request), "
      "mounted as hoardfs mounts (max_read 1 MiB, keep_cache, 16 threads kept alive, bdi "
      "read_ahead_kb 1024), in the limits' round (for sparse warm the local sparse file); for "
      "the cold cases it serves the file over root:// instead, one XrdCl read of exactly the "
      "requested range per request and nothing cached (the cold ceiling of a FUSE filesystem "
      "before it caches). "
      "bare FUSE ÷ limit is what FUSE alone costs here; hoardfs ÷ bare FUSE is what the daemon costs "
      "on top of it (1.00 = nothing). bare FUSE ÷ a peer is the most any FUSE filesystem could "
      "lead that peer by here (a **bold** one is below the peer target: no FUSE filesystem can "
      "meet it on this machine).")
    P("")
    P("| case | limit value | bare FUSE | bare FUSE ÷ limit | target ÷ limit | "
      + " | ".join(f"{TITLE[h]} ÷ bare FUSE" for h in hoardfs)
      + "".join(f" | bare FUSE ÷ {TITLE[p]}" for p in peers) + " |")
    P("|---|---:|---:|---:|---:|" + "---:|" * (len(hoardfs) + len(peers)))
    for case, label, _, lower, target, _ in CEILING_CASES:
        lim = limit_of(case, "root")
        bare = res[("fuse-bare", case)]
        rb = ratios(bare, res[(lim[0], case)], lower)
        row = [label, cell(res[(lim[0], case)].values()), cell(bare.values()), rcell(rb),
               f"≥ {target:.2f}".rstrip("0").rstrip(".") if target else "—"]
        cj = {"bare_vs_limit": summary(rb), "hoardfs_vs_bare": {}}
        for h in hoardfs:
            rh = ratios(res[(h, case)], bare, lower)
            row.append(rcell(rh))
            if rh:
                cj["hoardfs_vs_bare"][h] = summary(rh)
        cj["bare_vs_peer"] = {}
        for p in peers:
            rp = ratios(bare, res[(p, case)], lower)
            row.append(rcell(rp, peer_target(p)))
            if rp:
                cj["bare_vs_peer"][p] = summary(rp)
        ceiling_json[case] = cj
        P("| " + " | ".join(row) + " |")
    P("")
# The FUSE ceiling over the kernel's other transport, FUSE-over-io_uring (bench/uring_fuse, same
# round): a target bare FUSE misses but this meets is within FUSE's reach on this kernel.
URING_CASES = [c for c in CEILING_CASES if res[("fuse-uring", c[0])]]
if URING_CASES:
    P("The same local file through **FUSE-over-io_uring** (bench/uring_fuse --transport uring, in "
      "the limits' round, mounted alike): the kernel's other FUSE transport (Linux 6.14+; libfuse "
      "3.14, and so hoardfs and bare FUSE, use /dev/fuse). A ring and a pinned thread per CPU; each "
      "request's O_DIRECT read is an io_uring read on its queue's ring, and its reply is committed "
      "with the fetch of the next request when that read completes. A target bare FUSE misses and "
      "this meets is within a FUSE filesystem's reach here, over this transport and with such an "
      "asynchronous read path (docs/benchmarks.md, \"FUSE-over-io_uring\").")
    P("")
    P("| case | over io_uring | ÷ limit | target ÷ limit | ÷ bare FUSE | "
      + " | ".join(f"{TITLE[h]} ÷ it" for h in hoardfs) + " |")
    P("|---|---:|---:|---:|---:|" + "---:|" * len(hoardfs))
    for case, label, _, lower, target, _ in URING_CASES:
        lim = limit_of(case, "root")
        ur, bare = res[("fuse-uring", case)], res[("fuse-bare", case)]
        ru, rb = ratios(ur, res[(lim[0], case)], lower), ratios(ur, bare, lower)
        row = [label, cell(ur.values()), rcell(ru),
               f"≥ {target:.2f}".rstrip("0").rstrip(".") if target else "—", rcell(rb)]
        cj = {"value": summary(ur.values()), "vs_limit": summary(ru), "vs_bare": summary(rb),
              "hoardfs_vs_it": {}}
        for h in hoardfs:
            rh = ratios(res[(h, case)], ur, lower)
            row.append(rcell(rh))
            if rh:
                cj["hoardfs_vs_it"][h] = summary(rh)
        ceiling_json[f"{case}_over_io_uring"] = cj
        P("| " + " | ".join(row) + " |")
    P("")
# Bare FUSE over xrootd's HTTP door and over the RGW (bench/run_mount_bench.sh: bare_cold), against
# libcurl.
for case, what, scheme, direct_sys in (("seq_cold", "Cold seq", "http", "curl"),
                                       ("sparse_cold", "Sparse cold", "http", "ranges-http"),
                                       ("seq_cold", "Cold seq", "s3", "curl-s3")):
    bare_http = res[(f"fuse-bare-{scheme}", case)]
    if not bare_http:
        continue
    lower, unit = CASE_LOWER[case], units.get(case, "")
    h_http, curl_v = res[(f"hoardfs-{scheme}", case)], res[(direct_sys, case)]
    signed = " (SigV4)" if scheme == "s3" else ""
    P(f"{what} through bare FUSE over {scheme}:// (one libcurl range GET{signed} per FUSE read, "
      f"nothing cached, in the limits' round): {cell(bare_http.values())} {unit}, ÷ "
      f"{('curl' + signed) if case == 'seq_cold' else 'the same ranges by libcurl'} "
      f"{rcell(ratios(bare_http, curl_v, lower))}"
      + (f"; hoardfs {scheme}:// ÷ it {rcell(ratios(h_http, bare_http, lower))}" if h_http else "")
      + ".")
    P("")
    ceiling_json[f"{case}_bare_{scheme}"] = {
        "value": summary(bare_http.values()), "unit": unit,
        "vs_libcurl": summary(ratios(bare_http, curl_v, lower)),
        "hoardfs_http_vs_it": summary(ratios(h_http, bare_http, lower))}
# The sparse cold read with hoardfs's cache on a disk in RAM (bench/run_mount_bench.sh:
# sparse_cache_apart): what the cache's writes cost through the disk the local server reads from.
apart, bare_sp = res[("hoardfs-ramdisk", "sparse_cold")], res[("fuse-bare", "sparse_cold")]
if apart:
    on_disk = res[("hoardfs-root", "sparse_cold")]
    direct = res[("ranges", "sparse_cold")]
    on_disk_direct = limit_values("hoardfs-root", "sparse_cold")[1]
    P("Sparse cold with hoardfs's cache on a disk in RAM (root://, ext4 on a loop device over a "
      "tmpfs file, so O_DIRECT as on a disk; a fresh mount on an empty cache, in "
      "the limits' round): the cache's writes then no longer share the one disk the local server "
      "reads the file from, as on a compute node whose remote storage is elsewhere. "
      f"Time {cell(apart.values())} s, ÷ the direct client {rcell(ratios(apart, direct, True))}"
      + (f", ÷ bare FUSE {rcell(ratios(apart, bare_sp, True))}" if bare_sp else "")
      + f"; with the cache on the disk (the main table) {cell(on_disk.values())} s, ÷ the direct "
      f"client {rcell(ratios(on_disk, on_disk_direct, True))} (paired with its pass where measured).")
    P("")
    ceiling_json["sparse_cold_cache_on_ramdisk"] = {
        "seconds": summary(apart.values()), "vs_direct": summary(ratios(apart, direct, True)),
        "vs_bare": summary(ratios(apart, bare_sp, True))}

# The listing bound (bench/dir_list, same run): a cold listing with every entry's attributes,
# which hoardfs asks for, against the names-only listing xrootdfs asks for.
listing_json = {}
if res[("list-attrs", "ls_cold")] and res[("list-names", "ls_cold")]:
    names, attrs = res[("list-names", "ls_cold")], res[("list-attrs", "ls_cold")]
    P("## The listing bound (cold `ls -f` of the wide directory)")
    P("")
    P(f"bench/dir_list lists the {wide:,}-entry directory over root:// with XrdCl in one process "
      "(server page cache dropped), in the limits' round: names only, as xrootdfs lists, and with "
      "every entry's attributes in the answer (kXR_dstat), as hoardfs lists so that readdirplus "
      "gives the kernel each entry's attributes and a later stat needs no request. The attributes "
      "cost the server a stat per entry and make the answer several times longer; a cold `ls -f` "
      "through hoardfs cannot be faster than the listing with attributes.")
    P("")
    ra = ratios(attrs, names, False)
    P("| | entries/s | ÷ names only | ÷ with attributes |")
    P("|---|---:|---:|---:|")
    P(f"| direct listing, names only | {cell(names.values())} | 1 | {rcell(ratios(names, attrs, False))} |")
    P(f"| direct listing with attributes | {cell(attrs.values())} | {rcell(ra)} | 1 |")
    listing_json["attrs_vs_names"] = summary(ra)
    for sysname in hoardfs + [p for p in peers if p == "xrootdfs"]:
        if BACKEND[sysname] != "root" or not res[(sysname, "ls_cold")]:
            continue
        rn = ratios(res[(sysname, "ls_cold")], names, False)
        rat = ratios(res[(sysname, "ls_cold")], attrs, False)
        P(f"| {TITLE[sysname]} `ls -f` cold | {cell(res[(sysname, 'ls_cold')].values())} | "
          f"{rcell(rn)} | {rcell(rat)} |")
        listing_json[sysname] = {"vs_names": summary(rn), "vs_attrs": summary(rat)}
    P("")

# The limits paired with each pass, against the limits' round: how far the machine drifts
# between the two, and so why the ratios use the paired one.
paired_json = {}
PAIRED_ROWS = [(s, c) for c in ("seq_cold", "sparse_cold") + PAIRED_LOCAL if c in CASE_LOWER
               for s in systems if paired_limit(s, c) and res[(s, c)]]
SHORT = {c[0]: c[2] for c in CASES}
if PAIRED_ROWS:
    P("## The limits, paired with each pass")
    P("")
    P("The disks of this machine are shared virtual disks whose speed drifts by up to two or three "
      "times within minutes, so a pass compared with a limit taken minutes earlier in the limits' "
      "round measures the drift as much as the system. Each system's cold passes therefore run "
      "between two runs of the same direct clients (page cache dropped before each), hoardfs's "
      "warm and hot passes between two runs of the local limits (O_DIRECT and page-cache dd, "
      "both fio jobs, the sparse preads), and the ratios in "
      "the tables below and in the plots divide by the mean of the two (for root:// the faster "
      "of xrdcp and curl, or of XrdCl and libcurl, on each side). *after ÷ before* is the limit's "
      "own drift across one pass (1 = none).")
    P("")
    P("| system | case | limit, limits' round | limit, paired | after ÷ before | system | "
      "÷ limits' round | ÷ paired |")
    P("|---|---|---:|---:|---:|---:|---:|---:|")
    for s, c in PAIRED_ROWS:
        lower = CASE_LOWER[c]
        lim = limit_of(c, BACKEND[s])
        rnd, pl = res[(lim[0], c)], paired_limit(s, c)
        drift = ratios(paired_side(s, c, "after"), paired_side(s, c, "before"), lower)
        vr, vp = ratios(res[(s, c)], rnd, lower), ratios(res[(s, c)], pl, lower)
        unit = units.get(c, "")
        P(f"| {TITLE[s]} | {SHORT.get(c, c)} ({unit}) | "
          f"{cell(rnd.values())} | {cell(pl.values())} | {rcell(drift)} | "
          f"{cell(res[(s, c)].values())} | {rcell(vr)} | {rcell(vp)} |")
        paired_json.setdefault(s, {})[c] = {
            "limits_round": summary(rnd.values()), "paired": summary(pl.values()),
            "drift_after_vs_before": summary(drift), "vs_limits_round": summary(vr),
            "vs_paired": summary(vp)}
    P("")

# The cache-write bound (same run): a cold read through a cache writes every byte it fetches to the
# cache disk, so it cannot be faster than the slower of the remote (the direct client) and the
# disk's write speed.
write_json = {}
if res[("local", "seq_write")] and any(res[(h, "seq_cold")] for h in hoardfs):
    wr = res[("local", "seq_write")]
    P("## The cache-write bound (cold seq)")
    P("")
    P("A cold read through hoardfs writes every byte it fetches to the cache disk (O_DIRECT, "
      "synced before it is indexed), and a fetch waits when the writes fall behind (the insert "
      "queue is bounded: 64 MiB queued, plus the fetcher's memory, may run ahead of the disk), so "
      "a long cold read cannot be faster than the slower of the remote and the cache disk's write "
      "speed: `dd oflag=direct bs=1M conv=fdatasync` of the large file into the caches' directory, "
      "in the limits' round. *waited* is how long the fetches of the cold read were held back by a "
      "full insert queue (`insert_wait_seconds`, summed over the fetch threads).")
    P("")
    P(f"Cache disk write, MB/s: {cell(wr.values())}.")
    P("")
    P("| system | cold seq (MB/s) | direct client (MB/s) | ÷ direct client | ÷ disk write "
      "| ÷ the slower of the two | waited (s) |")
    P("|---|---:|---:|---:|---:|---:|---:|")
    for h in hoardfs:
        if not res[(h, "seq_cold")]:
            continue
        direct = limit_values(h, "seq_cold")[1]
        bound = {r: min(direct[r], wr[r]) for r in direct if r in wr}
        rd = ratios(res[(h, "seq_cold")], direct, False)
        rw = ratios(res[(h, "seq_cold")], wr, False)
        rb = ratios(res[(h, "seq_cold")], bound, False)
        waited = diag[h]["cold_insert_wait_seconds"].values()
        P(f"| {TITLE[h]} | {cell(res[(h, 'seq_cold')].values())} | {cell(direct.values())} | "
          f"{rcell(rd)} | {rcell(rw)} | {rcell(rb)} | {cell(waited) if waited else '—'} |")
        write_json[h] = {"vs_direct": summary(rd), "vs_disk_write": summary(rw),
                         "vs_bound": summary(rb),
                         "insert_wait_seconds": summary(waited) if waited else None}
    write_json["disk_write_mb_s"] = summary(wr.values())
    P("")

# The ranged-read bound (limits' round): hoardfs reads a file sequentially in range requests (at
# most 8 MiB each, a 32 MiB readahead window: cache/fetcher.h), several in flight; one GET of the
# whole file streams on one connection. The same range requests by a direct client show what the
# server gives a reader that reads that way. Over root://, xrdcp reads so already (XrdCl's copy:
# 8 MiB chunks, 4 in flight, its defaults).
RANGED = {"root": ("xrdcp", "xrdcp (XrdCl's copy: 8 MiB chunks, 4 in flight)", "curl",
                   "curl over HTTP"),
          "http": ("curl-ranges", "curl range GETs", "curl", "curl over HTTP"),
          "s3": ("curl-s3-ranges", "curl SigV4 range GETs", "curl-s3", "curl SigV4")}
ranged_json = {}
if any(res[(RANGED[BACKEND[h]][0], "seq_cold")] for h in hoardfs if BACKEND[h] != "root"):
    rmib, rpar = E.get("MB_RANGE_MIB", "8"), E.get("MB_RANGE_PARALLEL", "4")
    P("## The ranged-read bound (cold seq)")
    P("")
    P("hoardfs reads a file sequentially in range requests (8 MiB at most, a readahead window of "
      "32 MiB: several in flight), where one GET of the whole file streams on one connection. The "
      f"same range GETs by a direct client ({rmib} MiB, {rpar} at a time, by one curl process with "
      "`--parallel`, every range checked for its 206 and its length) show what the server gives a "
      "reader that reads that way; over root://, xrdcp reads so already. All three in the limits' "
      "round (the direct clients of the cold seq case), page cache dropped before each.")
    P("")
    P("| system | cold seq (MB/s) | ranged client | ranged (MB/s) | one GET (MB/s) "
      "| ranged ÷ one GET | hoardfs ÷ ranged |")
    P("|---|---:|---|---:|---:|---:|---:|")
    for h in hoardfs:
        rc, rlabel, whole, wlabel = RANGED[BACKEND[h]]
        if not res[(h, "seq_cold")] or not res[(rc, "seq_cold")]:
            continue
        rr = ratios(res[(rc, "seq_cold")], res[(whole, "seq_cold")], False)
        rh = ratios(res[(h, "seq_cold")], res[(rc, "seq_cold")], False)
        P(f"| {TITLE[h]} | {cell(res[(h, 'seq_cold')].values())} | {rlabel} | "
          f"{cell(res[(rc, 'seq_cold')].values())} | {wlabel} {cell(res[(whole, 'seq_cold')].values())} | "
          f"{rcell(rr)} | {rcell(rh)} |")
        ranged_json[h] = {"ranged_client": rc, "ranged_mb_s": summary(res[(rc, "seq_cold")].values()),
                          "ranged_vs_one_get": summary(rr), "vs_ranged": summary(rh)}
    P("")

# The cores (same run): every cold sequential pass's busy CPU time, the whole machine's (client,
# daemon, kernel copies and the local server together; run_mount_bench.sh: measure). Where a
# cold read keeps the cores as busy as the direct client does, it is bound by this machine's CPU,
# which the local server shares; on a compute node the server's share is elsewhere.
cores = int(E.get("MB_CORES", "0") or 0)
CPU_ORDER = ["xrdcp", "curl", "curl-ranges", "curl-s3", "curl-s3-ranges", "fuse-bare", "fuse-bare-http",
             "fuse-bare-s3"] + systems
CPU_TITLE = dict(TITLE, **{
    "xrdcp": "xrdcp", "curl": "curl over HTTP", "curl-ranges": "curl range GETs over HTTP",
    "curl-s3": "curl SigV4", "curl-s3-ranges": "curl SigV4 range GETs",
    "fuse-bare": "bare FUSE over root://", "fuse-bare-http": "bare FUSE over http://",
    "fuse-bare-s3": "bare FUSE over s3://"})
busy_json = {}
if cores and any(res[(c, "seq_cold_busy")] for c in CPU_ORDER):
    gib = float(big) / 1024
    P("## The machine's cores during the cold sequential reads")
    P("")
    P(f"Busy CPU time of the whole machine ({cores} cores; user, system, interrupts, steal: not idle "
      "or I/O wait) during each cold read of the large file, every process together: the client "
      "or the FUSE daemon, the kernel's copies, the cache's writes and the local server, which "
      "shares these cores (on a compute node it is elsewhere). A system that keeps the cores as "
      "busy as the direct client does is bound by this machine's CPU: to be faster it must spend "
      "less per byte.")
    P("")
    P("| system | cold seq (MB/s) | busy CPU (s) | cores busy | busy CPU per GiB (s) |")
    P("|---|---:|---:|---:|---:|")
    for c in CPU_ORDER:
        busy, mbs = res[(c, "seq_cold_busy")], res[(c, "seq_cold")]
        rounds = [r for r in busy if mbs.get(r)]
        if not rounds:
            continue
        wall = {r: float(big) * 1048576 / 1e6 / mbs[r] for r in rounds}
        frac = [busy[r] / (wall[r] * cores) for r in rounds]
        per_gib = [busy[r] / gib for r in rounds]
        P(f"| {CPU_TITLE.get(c, c)} | {cell(mbs[r] for r in rounds)} | {cell(busy[r] for r in rounds)} | "
          f"{cell(100 * f for f in frac)} % | {cell(per_gib)} |")
        busy_json[c] = {"busy_cpu_s": summary(busy[r] for r in rounds),
                        "cores_busy_fraction": summary(frac), "busy_cpu_s_per_gib": summary(per_gib)}
    P("")

# The wide-area round (same run): the large file read cold through bench/delay_proxy, a TCP relay
# that delays every byte by half the round trip each way and lets at most a window of bytes be in
# flight per connection (run_mount_bench.sh: wan_round).
WAN_ORDER = ["xrdcp", "curl", "hoardfs-root", "hoardfs-root-fixed", "hoardfs-http", "xrootdfs"]
WAN_TITLE = {"xrdcp": "xrdcp", "curl": "curl (one GET)", "hoardfs-root": "hoardfs root://",
             "hoardfs-root-fixed": "hoardfs root://, window kept at 32M (`--readahead-limit 32M`)",
             "hoardfs-http": "hoardfs http://",
             "xrootdfs": f"xrootdfs (its first {E.get('MB_WAN_PART_MIB', '?')} MiB)"}
wan_json = {}
if any(res[(c, "seq_wan")] for c in WAN_ORDER):
    rtt, win = E.get("MB_WAN_RTT_MS", "?"), E.get("MB_WAN_WINDOW_KIB", "?")
    P(f"## A wide-area link (cold seq over a {rtt} ms round trip)")
    P("")
    P(f"The large file read cold (page cache dropped; hoardfs on a fresh mount and an empty cache) "
      f"through bench/delay_proxy in front of the same xrootd: every byte held {rtt} ms per round "
      f"trip, at most {win} KiB in flight per direction and connection (one TCP connection over "
      "such a link carries at most that per round trip; 0 = unbounded), a new connection one "
      "round trip late. The other tables' server is on this machine, less than 0.1 ms away; a "
      "compute node's remote storage is at another site. hoardfs reads over four XRootD streams "
      "per server; xrdcp with its default one. hoardfs's readahead window grows past its 32M, "
      "up to its limit (`--readahead-limit`, 64M by default), where a probe shows a larger one is faster; the row with the window kept at "
      "32M shows what the growth buys. Measured at the end of each round; ratios per round "
      "(> 1: the row is faster).")
    P("")
    P("| system | cold seq (MB/s) | ÷ xrdcp | ÷ curl | ÷ xrootdfs |")
    P("|---|---:|---:|---:|---:|")
    for c in WAN_ORDER:
        v = res[(c, "seq_wan")]
        if not v:
            continue
        rel = {}
        for o in ("xrdcp", "curl", "xrootdfs"):
            rel[o] = ratios(v, res[(o, "seq_wan")], False) if o != c else []
        P(f"| {WAN_TITLE[c]} | {cell(v.values())} | {rcell(rel['xrdcp'])} | {rcell(rel['curl'])} | "
          f"{rcell(rel['xrootdfs'])} |")
        wan_json[c] = {"mb_s": summary(v.values()), "vs_xrdcp": summary(rel["xrdcp"]),
                       "vs_curl": summary(rel["curl"]), "vs_xrootdfs": summary(rel["xrootdfs"])}
    P("")
    wan_json = {"rtt_ms": rtt, "window_kib": win, "systems": wan_json}

ratio_json = {}
for h in hoardfs:
    be = BACKEND[h]
    P(f"## {TITLE[h]} as ratios (per round, then median and min–max; > 1 = hoardfs is better)")
    P("")
    P("Peers' targets: ≥ 2 × rclone, ≥ 1 × the others; a **bold** ratio misses its target.")
    P("")
    hdr = "| case | limit | ÷ limit | target | verdict |"
    sep = "|---|---|---:|---|---|"
    for p in peers:
        hdr += f" ÷ {TITLE[p]} |"
        sep += "---:|"
    P(hdr)
    P(sep)
    ratio_json[h] = {}
    for case, label, _, lower, target, _ in CASES:
        if not res[(h, case)]:
            continue
        lim, lim_vals = limit_values(h, case)
        rl = ratios(res[(h, case)], lim_vals, lower) if lim else []
        med = st.median(rl) if rl else None
        if target is None or lim is None:
            verdict, tcell = "", "—"
        else:
            tcell = (f"time ≤ {1 / target:.1f} × limit" if lower else f"≥ {target} × limit")
            verdict = "—" if med is None else ("met" if med >= target - 1e-9 else "**missed**")
        row = [label, lim[1] if lim else "—", rcell(rl), tcell, verdict]
        pj = {}
        for p in peers:
            rp = ratios(res[(h, case)], res[(p, case)], lower)
            row.append(rcell(rp, peer_target(p)))
            if rp:
                pj[p] = dict(summary(rp), target=peer_target(p))
        ratio_json[h][case] = {"limit": dict(summary(rl), system=lim[0], target=target,
                                             paired=bool(paired_limit(h, case))) if rl else None,
                               "peers": pj}
        P("| " + " | ".join(row) + " |")
    if rss[h]:
        peak = max(rss[h])
        row = ["daemon peak RSS", "—", f"{peak:.0f} MiB", "≤ 256 MiB", "met" if peak <= 256 else "**missed**"]
        row += [f"{max(rss[p]):.0f} MiB" if rss[p] else "—" for p in peers]
        P("| " + " | ".join(row) + " |")
    P("")

counters = {}
if hoardfs:
    P("## hoardfs counters (from `getfattr -n user.hoardfs.stats`)")
    P("")
    size = int(big) * 1048576
    for h in hoardfs:
        d = diag[h]
        lines = []
        cj = {}
        if d["cold_remote_requests"]:
            req = d["cold_remote_requests"].values()
            byt = d["cold_remote_bytes"].values()
            lines.append(f"cold seq: {cell(req)} remote requests for {big} MiB "
                         f"(mean {st.median(byt) / max(st.median(req), 1) / 1048576:.1f} MiB each); "
                         f"remote bytes ÷ file size {st.median(byt) / size:.2f}")
        if d["cold_readahead_grows"]:
            rounds = sorted(d["cold_readahead_grows"])
            per = ", ".join(f"{d['cold_readahead_grows'][r]:.0f}/{d['cold_readahead_kept'].get(r, 0):.0f}/"
                            f"{d['cold_readahead_shrinks'].get(r, 0):.0f}" for r in rounds)
            lines.append(f"cold seq, the readahead window's probes (grown/kept/undone, round by round): {per}")
            cj["cold_readahead_grows"] = summary(d["cold_readahead_grows"].values())
        if h == "hoardfs-root":
            xrdcp = paired_limit(h, "seq_cold", ("xrdcp",)) or res[("xrdcp", "seq_cold")]
            rx = ratios(res[(h, "seq_cold")], xrdcp, False)
            if rx:
                lines.append(f"cold seq ÷ xrdcp (the same root:// protocol and client library; "
                             f"paired with the pass where measured): {rcell(rx)}")
        if d["sparse_app_bytes"]:
            app = d["sparse_app_bytes"]
            of = [d["sparse_cold_remote_bytes"].get(r, 0) / v for r, v in app.items() if v]
            reqs = list(d["sparse_cold_remote_requests"].values())
            warm = list(d["sparse_warm_remote_bytes"].values())
            lines.append(f"sparse ROOT-like read: the application read {st.median(app.values()) / 1048576:.1f} MiB "
                         f"({st.median(app.values()) / (int(sparse_mib) * 1048576) * 100:.1f} % of the file); "
                         f"**over-fetch** (remote bytes ÷ bytes read, cold) {rcell(of)} (target ≤ 1.5) in "
                         f"{cell(reqs)} remote requests; warm remote bytes {cell(warm)}")
            asked = d["sparse_cold_fuse_read_bytes"]
            if asked:
                # Who over-fetches: the kernel (its readahead asks more than the application reads)
                # or the daemon (remote bytes beyond what the kernel asked: chunk alignment).
                kern = [asked.get(r, 0) / v for r, v in app.items() if v]
                dmn = [d["sparse_cold_remote_bytes"].get(r, 0) / v for r, v in asked.items() if v]
                nreq = list(d["sparse_cold_fuse_reads"].values())
                lines.append(f"sparse over-fetch split: the kernel asked {rcell(kern)} × the bytes read "
                             f"({cell(nreq)} FUSE reads), the daemon fetched {rcell(dmn)} × what the "
                             f"kernel asked")
                cj["sparse_kernel_asks"] = summary(kern)
                cj["sparse_daemon_fetch_per_ask"] = summary(dmn)
            cj["sparse_overfetch"] = summary(of)
            cj["sparse_app_bytes"] = st.median(app.values())
            cj["sparse_cold_remote_requests"] = summary(reqs)
        if d["warm_remote_bytes"]:
            lines.append(f"warm seq: remote bytes {cell(d['warm_remote_bytes'].values())}, bytes read from the "
                         f"cache disk ÷ file size {st.median(d['warm_cache_hit_bytes'].values()) / size:.2f}")
        labels = {"A": "A (TTFB, sparse, cold seq, ls, stat)", "B": "B (warm and hot seq, fio, cat)",
                  "S": f"S ({scale_n} concurrent readers)"}
        parts = [f"{labels[k]} {cell(rss_phase[(h, k)])} MiB" for k in ("A", "B", "S") if rss_phase[(h, k)]]
        if parts:
            lines.append("daemon peak RSS by mount: " + "; ".join(parts))
        if d["cat_used_bytes"]:
            ncat = int(E.get("MB_S3_SMALL", 0) or 0) if BACKEND[h] == "s3" else small
            lines.append(f"cat of {f'{ncat:,}' if ncat else 'the'} small files: cache used_bytes +{st.median(d['cat_used_bytes'].values()) / 1048576:,.0f} MiB "
                         f"for data_bytes +{st.median(d['cat_data_bytes'].values()) / 1048576:,.1f} MiB")
        if d["read_ahead_kb"]:
            lines.append(f"FUSE bdi read_ahead_kb of the mount: {cell(d['read_ahead_kb'].values())}")
        app = d["rand_app_bytes"]
        if app:
            cache = [d["rand_cache_hit_bytes"].get(r, 0) / v for r, v in app.items() if v]
            memb = [d["rand_memory_hit_bytes"].get(r, 0) / v for r, v in app.items() if v]
            remote = [d["rand_remote_bytes"].get(r, 0) for r in app]
            lines.append("warm rand 4k (both fio jobs): bytes read from the cache disk (cache_hit_bytes) ÷ "
                         f"bytes fio read {rcell(cache)}; memory_hit_bytes ÷ bytes fio read {rcell(memb)}; "
                         f"remote bytes {cell(remote)}")
        counters[h] = cj
        if lines:
            P(f"{TITLE[h]}:")
            P("")
            P("\n".join("- " + x for x in lines))
            P("")
print("\n".join(out))

# ---- JSON ----
normalised = {}
for s in systems:
    normalised[s] = {}
    for case, _, _, lower, _, _ in CASES:
        lim, lim_vals = limit_values(s, case)
        if not lim or not res[(s, case)]:
            continue
        rl = ratios(res[(s, case)], lim_vals, lower)
        if rl:
            normalised[s][case] = st.median(rl)
doc = {
    "meta": {k[8:].lower(): v for k, v in E.items() if k.startswith("MB_META_")},
    "systems": systems,
    "titles": {s: TITLE[s] for s in systems},
    "backends": {s: BACKEND[s] for s in systems},
    "cases": [{"id": c[0], "label": c[1], "short": c[2], "lower_is_better": c[3],
               "target_vs_limit": c[4], "group": c[5], "unit": units.get(c[0])} for c in CASES],
    "results": {},
    "limits": {be: {c[0]: (limit_of(c[0], be) or (None, None))[0] for c in CASES}
               for be in ("root", "http", "s3")},
    "ratios": ratio_json,
    "normalised": normalised,
    "rss_peak_mib": {s: max(rss[s]) for s in systems if rss[s]},
    "hoardfs_counters": counters,
    "fuse_ceiling": ceiling_json,
    "listing_bound": listing_json,
    "cache_write_bound": write_json,
    "ranged_read_bound": ranged_json,
    "cold_seq_cores": busy_json,
    "wide_area_link": wan_json,
    "paired_limits": paired_json,
}
for (s, case), vals in sorted(res.items()):
    if not vals:
        continue
    doc["results"].setdefault(s, {})[case] = dict(summary(vals.values()), unit=units.get(case),
                                                  rounds=[vals[r] for r in sorted(vals)])
def rounded(x):
    if isinstance(x, float):
        return float(f"{x:.6g}")
    if isinstance(x, dict):
        return {k: rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [rounded(v) for v in x]
    return x


with open(E["MB_JSON"], "w") as f:
    json.dump(rounded(doc), f, indent=1, sort_keys=False)
    f.write("\n")
