#!/usr/bin/env python3
"""sync_cost.py: what one O_DIRECT write and the fdatasync after it cost on a disk, by size.

  python3 bench/sync_cost.py [DIR] [--rounds N]

The cache's writer writes a batch of blocks with O_DIRECT and then fdatasyncs the data file before
it commits their index entries (architecture.md, "Commit point"). Whether that sync costs a fixed
round trip (then larger batches, or overlapping a batch's sync with the next one's writes, would
pay) or a time per byte (then the disk's bandwidth is the bound) decides what can speed the writer.
This writes 1, 4, 8 and 32 MiB at a time into a preallocated and already written file in DIR
(default /var/tmp: the cache disk of the benchmarks), fdatasyncs after each write, and prints the
medians; then the cost of an fdatasync with nothing to write. The file is removed at the end.
"""
import mmap
import os
import sys
import time

MIB = 1 << 20


def main():
    args = sys.argv[1:]
    rounds = 20
    if "--rounds" in args:
        i = args.index("--rounds")
        rounds = int(args[i + 1])
        del args[i:i + 2]
    directory = args[0] if args else "/var/tmp"
    path = os.path.join(directory, f".sync-cost-{os.getpid()}")
    span = 512 * MIB
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_DIRECT, 0o600)
    try:
        os.posix_fallocate(fd, 0, span)
        buf = mmap.mmap(-1, 32 * MIB)  # page-aligned, as O_DIRECT needs
        buf.write(os.urandom(32 * MIB))
        for off in range(0, span, 32 * MIB):  # written once: no unwritten extents left to convert
            os.pwritev(fd, [buf], off)
        os.fsync(fd)
        for size in (1 * MIB, 4 * MIB, 8 * MIB, 32 * MIB):
            view = memoryview(buf)[:size]
            writes, syncs, off = [], [], 0
            for _ in range(rounds):
                t0 = time.perf_counter()
                os.pwritev(fd, [view], off)
                t1 = time.perf_counter()
                os.fdatasync(fd)
                t2 = time.perf_counter()
                writes.append(t1 - t0)
                syncs.append(t2 - t1)
                off = (off + size) % (span - 32 * MIB)
            writes.sort()
            syncs.sort()
            w, s = writes[rounds // 2], syncs[rounds // 2]
            print(f"{size // MIB:3d} MiB: write {w * 1e3:7.2f} ms, fdatasync {s * 1e3:7.2f} ms "
                  f"({s * 1e3 / (size / MIB):.2f} ms per MiB; min {syncs[0] * 1e3:.2f}, "
                  f"max {syncs[-1] * 1e3:.2f})")
        empty = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            os.fdatasync(fd)
            empty.append(time.perf_counter() - t0)
        empty.sort()
        print(f"fdatasync with nothing written: {empty[rounds // 2] * 1e3:.2f} ms")
    finally:
        os.close(fd)
        os.unlink(path)


if __name__ == "__main__":
    main()
