# shellcheck shell=bash
# A disk in RAM for a hoardfs cache in the benchmarks (sourced by bench/run_mount_bench.sh and
# bench/sparse_ab.sh): an ext4 file system on a loop device over a file in a tmpfs. Unlike a
# tmpfs, it takes O_DIRECT, so a cache on it runs the same code as on a disk (on a tmpfs the block
# store falls back to buffered I/O), while its writes no longer share the one virtual disk the
# local servers read from: the cache of a compute node whose remote storage is elsewhere.
# Needs root, losetup (util-linux) and mkfs.ext4 (e2fsprogs).

# ramdisk_up DIR MIB: mounts the RAM disk of MIB MiB at DIR (its tmpfs at DIR.tmpfs). On failure
# undoes what it did and returns 1.
ramdisk_up() {
  local dir="$1" mib="$2" t="$1.tmpfs" dev
  mkdir -p "$dir" "$t" || return 1
  mount -t tmpfs -o "size=$((mib + 16))m" tmpfs "$t" || return 1
  if truncate -s "${mib}M" "$t/img" && dev="$(losetup -f --show "$t/img")"; then
    if mkfs.ext4 -q -F "$dev" && mount "$dev" "$dir"; then
      return 0
    fi
    losetup -d "$dev"
  fi
  umount "$t"
  return 1
}

# ramdisk_down DIR: unmounts the RAM disk at DIR and frees its memory (quietly a no-op if absent).
ramdisk_down() {
  local dir="$1" t="$1.tmpfs" dev
  dev="$(findmnt -n -o SOURCE --mountpoint "$dir" 2>/dev/null || true)"
  if mountpoint -q "$dir" 2>/dev/null; then umount "$dir" || umount -l "$dir"; fi
  if [[ "$dev" == /dev/loop* ]]; then losetup -d "$dev" 2>/dev/null || true; fi
  if mountpoint -q "$t" 2>/dev/null; then umount "$t" || umount -l "$t"; fi
  return 0
}
