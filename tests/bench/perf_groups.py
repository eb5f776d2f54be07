#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Turns a perf profile of a daemon into CPU-seconds per GiB by function group.

Issue 10 asks for profile tables per GiB (SHA-256, decode, FUSE copy, ZeroMQ,
RocksDB, disk cache, locks, page faults...) beside the bench figures, so that
a change is judged by where the CPU goes, not by a wall clock that the load
of a shared machine moves by 30 %.  Usage, while the daemon reads:

    perf record -F 1999 -g -o P.data -p "$(cat DATA/modelfs.pid)" &  # then the read
    perf script -i P.data -F comm,ip,sym,dso | perf_groups.py CPU_S_PER_GIB

CPU_S_PER_GIB is the daemon's measured CPU-seconds per GiB read (user+sys
from /proc/PID/stat, as the benches print it; perf's own overhead inflates
it, so measure it in a run without perf).  Each sample goes to the group of
the first frame, from the leaf up, that a rule names: a kernel memcpy under
fuse_copy_folio is "FUSE reply copy", a scheduler frame under a futex wait
is "sched/ctx switch" (on a paravirtualised VM, irq-enable and reschedule
IPIs cost more there than the switch itself).  Prints a Markdown table and
each thread's share; --leaves lists the commonest unmatched leaves; --write
groups a commit's profile (cp into the mount) by its stages first.
"""
import collections
import re
import sys

RULES = [
    ("SHA-256", r"sha256|SHA256|mfs_sha256|EVP_Digest|libcrypto"),
    ("XXH64", r"acc_stripes|xxh64|XXH64"),
    ("decode: split planes", r"mfs_planes_|join[24]_avx2"),
    ("decode: zstd", r"ZSTD_|HUF_|FSE_|libzstd"),
    ("decode: sparse pieces", r"sparse_decode"),
    ("FUSE reply copy (kernel)", r"fuse_copy_|fuse_dev_do_write|fuse_dev_splice"),
    ("FUSE request read (kernel)", r"fuse_dev_do_read|fuse_dev_read"),
    ("page faults/zeroing", r"clear_page|exc_page_fault|folio_zero|do_huge_pmd|handle_mm_fault"),
    ("memcpy (user)", r"__memmove|__memcpy|memcpy@"),
    ("disk read", r"iomap_dio|ext4_file_read_iter|filemap_read|blkdev|virtio"),
    ("disk write", r"ext4_file_write_iter|iomap_file_buffered_write|generic_perform_write|"
                   r"ext4_sync_file|file_write_and_wait|fdatasync"),
    ("disk cache", r"mfs_diskcache"),
    ("RocksDB", r"rocksdb"),
    ("zmq/TCP", r"libzmq|zmq::|tcp_|inet_|sock_|__sys_sendto|__sys_recvfrom|skb_|ip_|"
                r"__x64_sys_sendmsg|__x64_sys_recvfrom|__netif"),
    ("locks/futex", r"futex|pthread_mutex|pthread_cond|__lll_lock"),
    ("sched/ctx switch", r"finish_task_switch|schedule|pvm_irq_enable|irqentry_exit"),
    ("malloc/free", r"malloc|free|_int_|munmap|mmap"),
]
# With --write (a profile of a commit: cp into the mount), tried first
# (SHA-256, zstd and the rest of RULES are leaves anyway):
# where a written byte's CPU goes on its way from the FUSE request to a pack.
WRITE_RULES = [
    ("CDC cut (gear scan)", r"^scan |cut_scan|scan_from|lanes_hit|mfs_chunker"),
    ("codec: choose (probe, estimate)", r"choose_codec|mfs_split_estimate|entropy_bits|"
                                        r"mfs_chunk_estimate|take_sample"),
    ("codec: split encode", r"mfs_split_encode|worth_coding|mfs_planes_split|split_"),
    ("codec: zstd/huffman", r"ZSTD_|HUF_|FSE_|libzstd"),
    ("XXH64 (record checksum)", r"acc_stripes|xxh64|XXH64"),
    ("FUSE request copy (kernel)", r"fuse_copy_|fuse_dev_do_read|fuse_dev_read|fuse_dev_splice"),
    ("staging write (memfd)", r"shmem_file_write_iter|staging_write"),
    ("staging read (memfd)", r"shmem_file_read_iter|read_staged|read_full"),
    ("staging punch (memfd)", r"shmem_fallocate|shmem_undo_range|wb_drop_stored"),
    # the feed's windows mapped in place (before s36; ingest.c reads them now)
    ("staging map (mmap/munmap)", r"map_window|__mm_populate|populate_vma_page_range|"
                                  r"__x64_sys_munmap|__vm_munmap|ksys_mmap_pgoff|vm_mmap_pgoff"),
    ("pack write (O_DIRECT)", r"iomap_dio|ext4_file_write_iter|mfs_pack|pack_append"),
]
RULES = [(name, re.compile(pat)) for name, pat in RULES]
WRITE_RULES = [(name, re.compile(pat)) for name, pat in WRITE_RULES]
SCHED_RULES = [r for r in RULES if r[0] == "sched/ctx switch"]


def samples(lines):
    """Yields (comm, [frames leaf first]) from `perf script` output."""
    comm, frames = None, []
    for line in lines:
        if not line.strip():
            if comm is not None:
                yield comm, frames
            comm, frames = None, []
        elif not line.startswith((" ", "\t")):
            if comm is not None:
                yield comm, frames
            comm, frames = line.split()[0], []
        else:
            parts = line.strip().split(None, 1)
            if len(parts) == 2:
                frames.append(parts[1])
    if comm is not None:
        yield comm, frames


def first_match(frames, rules):
    for f in frames:
        for name, rule in rules:
            if rule.search(f):
                return name
    return None


def group_of(frames, write):
    """The general rules, leaf first; with write, a stage of the commit
    named anywhere in the stack wins over them (the kernel's copy under a
    memfd write is the staging's cost, not "disk write"), except for a
    scheduler leaf (an IPI taken in any stage)."""
    if write and first_match(frames[:3], SCHED_RULES) is None:
        g = first_match(frames, WRITE_RULES)
        if g is not None:
            return g
    return first_match(frames, RULES)


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        sys.exit("usage: perf script -F comm,ip,sym,dso | perf_groups.py CPU_S_PER_GIB [--leaves] [--write]")
    per_gib = float(args[0])
    write = "--write" in argv
    groups, threads, leaves = collections.Counter(), collections.Counter(), collections.Counter()
    total = 0
    for comm, frames in samples(sys.stdin):
        total += 1
        threads[comm] += 1
        g = group_of(frames, write)
        if g is None:
            g = "other"
            leaves[frames[0] if frames else "?"] += 1
        groups[g] += 1
    if not total:
        sys.exit("perf_groups: no samples on stdin")
    print(f"{total} samples; {per_gib:.2f} CPU-s/GiB in all\n")
    print("| group | share | CPU-s/GiB |\n|---|---:|---:|")
    for g, n in groups.most_common():
        print(f"| {g} | {100 * n / total:.1f} % | {per_gib * n / total:.2f} |")
    print("\nthreads: " + ", ".join(f"{t} {100 * n / total:.0f} %" for t, n in threads.most_common(8)))
    if "--leaves" in argv:
        for leaf, n in leaves.most_common(15):
            print(f"  other: {100 * n / total:.1f} % {leaf}")


if __name__ == "__main__":
    main(sys.argv)
