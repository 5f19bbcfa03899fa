#!/usr/bin/env python3
"""page_cache_folios.py: whether a file's page cache is held in large folios (root).

  python3 bench/page_cache_folios.py FILE [PAGES]

Maps the first PAGES pages of FILE (default 8192: 32 MiB) privately, reads one byte of each page
(so each maps the page cache's page; nothing is copied), and looks each page up in
/proc/self/pagemap (its frame) and /proc/kpageflags (KPF_COMPOUND_HEAD, KPF_COMPOUND_TAIL).
Prints how many pages are heads and tails of large folios and how many are order-0 pages. Read
the file first (its pages must be cached). Why: a read from the page cache costs per folio as
well as per byte, and a hot sequential read through FUSE was half as fast as one from ext4 here
(docs/benchmarks.md).
"""
import ctypes
import mmap
import os
import struct
import sys

PAGE = os.sysconf("SC_PAGE_SIZE")
KPF_COMPOUND_HEAD = 15
KPF_COMPOUND_TAIL = 16


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__.strip().splitlines()[2].strip())
    path = sys.argv[1]
    pages = int(sys.argv[2]) if len(sys.argv) == 3 else 8192
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        sys.exit(f"{path}: {e.strerror}")
    size = min(os.fstat(fd).st_size, pages * PAGE) // PAGE * PAGE
    if size == 0:
        sys.exit(f"{path}: no whole page to look at")
    # Private and writable only so that ctypes can take its address; it is never written.
    m = mmap.mmap(fd, size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(m))
    for off in range(0, size, PAGE):
        _ = m[off]
    heads = tails = single = absent = 0
    with open("/proc/self/pagemap", "rb") as pagemap, open("/proc/kpageflags", "rb") as flags:
        for i in range(size // PAGE):
            pagemap.seek((base // PAGE + i) * 8)
            entry = struct.unpack("<Q", pagemap.read(8))[0]
            if not entry >> 63 & 1:  # not present
                absent += 1
                continue
            pfn = entry & ((1 << 55) - 1)
            flags.seek(pfn * 8)
            f = struct.unpack("<Q", flags.read(8))[0]
            if f >> KPF_COMPOUND_HEAD & 1:
                heads += 1
            elif f >> KPF_COMPOUND_TAIL & 1:
                tails += 1
            else:
                single += 1
    m.close()
    os.close(fd)
    print(f"{path}: {size // PAGE} pages: {heads} large folios ({heads + tails} pages in them), "
          f"{single} order-0 pages, {absent} not mapped")


if __name__ == "__main__":
    main()
