#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Random reads: a small read that jumps, into a chunk not in the cache,
# decodes only the codec groups it needs (fuse/fs_read.c read_range).  Reads
# of every size up to 160 KiB at random offsets (across chunk and group
# edges, at the file's end) of weights, random bytes and text, by pread
# and by mmap with MADV_RANDOM, return exactly the file's bytes; a chunk
# corrupted on disk gives EIO on a random read, never other bytes.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
mfs_log_allow "$D" 'checksum|corrupt|mismatch|EIO|Input/output|verif'
mkdir -p "$S"

check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

sources() {
	local pool=${MFS_WEIGHTS_DIR:-/var/tmp/modelfs-weights}/pool
	# Real FP16 weights when the benchmark pool is here; else a float16
	# array made with numpy-free arithmetic (the codecs see float planes).
	if [ -s "$pool/weights-fp16-native.bin" ]; then
		head -c $((16 * MiB)) "$pool/weights-fp16-native.bin" >"$S/w"
	else
		"$PY" -c '
import random, struct, sys
r = random.Random(7)
sys.stdout.buffer.write(b"".join(struct.pack("<e", r.gauss(0, 0.02)) for _ in range(8 << 20)))' >"$S/w"
	fi &&
	randfile "$S/r" $((12 * MiB + 4321)) &&
	for i in $(seq 1 3000); do echo "line $i of some text that compresses"; done >"$S/t" &&
	cp "$S/w" "$S/r" "$S/t" "$M/" && mfs_remount "$M"
}
check "weights, random bytes and text stored; remounted (caches cold)" sources ||
	mfs_abort "no sources"

cat >"$WORK/rand.py" <<'PY'
import mmap, os, random, sys
src, dst, n, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
want = open(src, "rb").read()
r = random.Random(src)
fd = os.open(dst, os.O_RDONLY)
m = None
if mode == "mmap":
    m = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
    m.madvise(mmap.MADV_RANDOM)
bad = 0
for k in range(n):
    size = r.choice([1, 7, 4096, 4096, 4096, 8192, 65536, 131072, 163840])
    off = r.randrange(0, len(want))
    if k % 7 == 0:
        off = max(0, len(want) - r.randrange(1, 9000))  # at the end
    got = m[off:off + size] if m is not None else os.pread(fd, size, off)
    if got != want[off:off + size]:
        bad += 1
        print("mismatch at %d+%d" % (off, size), file=sys.stderr)
sys.exit(1 if bad else 0)
PY

for f in w r t; do
	check "pread at random offsets of $f: exact bytes" "$PY" "$WORK/rand.py" "$S/$f" "$M/$f" 600 pread
	check "mmap MADV_RANDOM faults of $f: exact bytes" "$PY" "$WORK/rand.py" "$S/$f" "$M/$f" 600 mmap
done

used_ranges() {
	# From cold: 400 reads of 4 KiB that jump.  Each goes to the cache
	# (a hit or a miss) only if it crosses a chunk's edge (under 1 % of
	# them: edges are content-defined) or lands in a chunk such a read
	# loaded; before read_range every one did.
	local hits misses
	mfs_remount "$M" &&
	"$PY" -c '
import os, random, sys
r = random.Random(3)
for f in sys.argv[1:]:
    fd = os.open(f, os.O_RDONLY); size = os.fstat(fd).st_size
    for k in range(200):
        os.pread(fd, 4096, r.randrange(1, size // 4096 - 1) * 4096)' "$M/w" "$M/r" &&
	expect_status 0 admin status --json "$M" || return 1
	hits=$(json_get cache_hits <"$WORK/.cmd.out")
	misses=$(json_get cache_misses <"$WORK/.cmd.out")
	[ $((hits + misses)) -lt 200 ] ||
		{ echo "of 400 reads, cache hits $hits, misses $misses" >&2; false; }
}
check "random reads decoded ranges instead of whole chunks" used_ranges

corrupt_random() {
	local out
	mfs_umount "$M" && corrupt_largest_blob "$D" && mfs_mount "$M" "$D" || return 1
	# Every 64 KiB, backwards (never sequential): some read hits the bad record.
	out=$("$PY" -c '
import os, sys
errs = wrong = 0
for f in ("w", "r"):
    fd = os.open(sys.argv[1] + "/" + f, os.O_RDONLY); size = os.fstat(fd).st_size
    want = open(sys.argv[2] + "/" + f, "rb").read()
    for off in list(range(0, size, 65536))[::-1]:
        try:
            if os.pread(fd, 4096, off) != want[off:off + 4096]: wrong += 1
        except OSError: errs += 1
print(errs, wrong)' "$M" "$S")
	[ "${out% *}" -gt 0 ] && [ "${out#* }" -eq 0 ] ||
		{ echo "EIO reads, wrong reads: $out" >&2; false; }
}
check "a corrupt chunk: random reads of it fail with EIO, none returns other bytes" corrupt_random

mfs_done
