"""The kXR_read requests of one hoardfs run, from XrdCl's message log: how many, how many in flight
on average, and each one's send time, latency, offset and size (docs/benchmarks.md, "a wide-area
link": what bounded the default readahead).

    XRD_LOGLEVEL=Dump hoardfs --log-level debug mount URL MNT --log-file LOG ...
    (read something, unmount)
    python3 bench/xrdcl_reads.py LOG [N]     # N: the first N requests and N from the middle (12)

A request counts from XrdCl's "Successfully sent message: kXR_read" to its "Got a kXR_ok
response"; requests are matched by offset (hoardfs never has two reads of one offset in flight).
"""
import re
import sys

LINE = re.compile(r"xrdcl: \[\S+ (\d+):(\d+):([\d.]+) .*?(Successfully sent message|Got a kXR_ok "
                  r"response to request):? kXR_read \(handle: \S+ offset: (\d+), size: (\d+)\)")


def main():
    sent, done = {}, {}
    for line in open(sys.argv[1], errors="replace"):
        m = LINE.search(line)
        if not m:
            continue
        t = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
        offset = int(m.group(5))
        if m.group(4).startswith("Successfully"):
            sent[offset] = (t, int(m.group(6)))
        else:
            done[offset] = t
    rows = sorted((t, off, size) for off, (t, size) in sent.items() if off in done)
    if not rows:
        sys.exit("no completed kXR_read in " + sys.argv[1] + " (XRD_LOGLEVEL=Dump, --log-level debug?)")
    t0 = rows[0][0]
    events = sorted([(t, 1) for t, _, _ in rows] + [(done[off], -1) for _, off, _ in rows])
    in_flight, last, area = 0, t0, 0.0
    for t, step in events:
        area += in_flight * (t - last)
        last, in_flight = t, in_flight + step
    span = last - t0
    print(f"requests {len(rows)}, span {span:.3f} s, mean in flight {area / span:.2f}")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 12
    for t, off, size in rows[:n] + rows[len(rows) // 2:len(rows) // 2 + n]:
        print(f"sent {t - t0:8.3f} s  done {done[off] - t0:8.3f} s  latency {1000 * (done[off] - t):6.1f} ms"
              f"  offset {off >> 20:5d} MiB  size {size / 1048576:.1f} MiB")


if __name__ == "__main__":
    main()
