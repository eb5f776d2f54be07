#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Range reads from part of a record (format 7: group checksums in split
# records, store/chunk/codec_split.c note 3; store/chunk/chunkstore.c
# read_part).  A 4 KiB page fault under MADV_RANDOM, cold, reads the
# record's head and the groups it touches, not the whole ~1 MiB record:
# the daemon reads a few tens of KiB per fault (its rchar), and the pages
# are the file's bytes.  A byte flipped in one group of a record fails the
# reads of that group (EIO) and no other read of the record; a sequential
# read of the file, which checks the whole record, fails too.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
mfs_log_allow "$D" 'checksum|corrupt|mismatch|EIO|Input/output|verif'
mkdir -p "$S"

check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

# float16 values of a normal law: every chunk split2.  (Real weights pick
# zstd-bg2, one frame, read whole, for some chunks: t0610 reads those.)
source_weights() {
	"$PY" -c '
import random, struct, sys
r = random.Random(7)
sys.stdout.buffer.write(b"".join(struct.pack("<e", r.gauss(0, 0.02)) for _ in range(8 << 20)))' >"$S/w" &&
	cp "$S/w" "$M/w" && mfs_remount "$M"
}
check "16 MiB of FP16 weights stored; remounted" source_weights || mfs_abort "no source"

cat >"$WORK/faults.py" <<'PY'
import mmap, os, random, sys
src, dst, n, pid = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
want = open(src, "rb").read()
def rchar():
    for line in open("/proc/%s/io" % pid):
        if line.startswith("rchar:"):
            return int(line.split()[1])
fd = os.open(dst, os.O_RDONLY)
m = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
m.madvise(mmap.MADV_RANDOM)
r = random.Random(11)
pages = r.sample(range(len(want) // 4096), n)
r0 = rchar()
bad = sum(m[p * 4096:(p + 1) * 4096] != want[p * 4096:(p + 1) * 4096] for p in pages)
per = (rchar() - r0) / n
print("%d faults, %d wrong, daemon read %.0f KiB a fault" % (n, bad, per / 1024))
sys.exit(1 if bad or per > 200 * 1024 else 0)
PY

cold_faults() {
	mfs_remount "$M" && sync && echo 3 >/proc/sys/vm/drop_caches &&
	"$PY" "$WORK/faults.py" "$S/w" "$M/w" 200 "$(mfs_daemon_pid "$M")"
}
check "200 cold 4 KiB faults (MADV_RANDOM): the file's bytes, under 200 KiB read a fault" \
	cold_faults

# corrupt_group DATA: flips a byte in the middle of group 1's pieces of the
# first split record with group checksums and at least 4 groups, in the
# packs of the stopped store DATA.
corrupt_group() {
	"$PY" - "$1" <<'PY'
import glob, struct, sys
for path in sorted(glob.glob(sys.argv[1] + "/db/packs/*.pack")):
    f = open(path, "r+b")
    data = f.read()
    for at in range(4096, len(data) - 26, 4096):
        h = data[at:at + 26]
        if h[:4] != b"MFC1" or h[5] not in (4, 5) or h[25] != 1:
            continue
        raw, stored = struct.unpack("<II", h[8:16])
        w = 2 if h[5] == 4 else 4
        p = at + 24
        per = 1 << data[p]
        ng = (raw // w + per - 1) // per
        if ng < 4:
            continue
        e = [struct.unpack("<I", data[p + 2 + 4 * i:p + 6 + 4 * i])[0] & 0x3fffffff
             for i in range(ng * w)]
        head = 2 + ng * w * 4 + ng * 8 + raw % w
        g1 = p + head + sum(e[:w])
        flip = g1 + sum(e[w:2 * w]) // 2
        f.seek(flip)
        f.write(bytes([data[flip] ^ 0x20]))
        print("flipped the byte at %d of %s (group 1 of the record at %d)" % (flip, path, at))
        sys.exit(0)
print("no split record with group checksums and 4 groups", file=sys.stderr)
sys.exit(1)
PY
}

corrupt_reads() {
	local out
	mfs_umount "$M" && corrupt_group "$D" && mfs_mount "$M" "$D" || return 1
	# Every page once, by O_DIRECT (a READ of exactly 4 KiB), shuffled.
	out=$("$PY" -c '
import mmap, os, random, sys
want = open(sys.argv[2], "rb").read()
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
b = mmap.mmap(-1, 4096)
pages = list(range(len(want) // 4096))
random.Random(5).shuffle(pages)
errs = wrong = 0
for p in pages:
    try:
        os.preadv(fd, [b], p * 4096)
        wrong += b[:] != want[p * 4096:(p + 1) * 4096]
    except OSError:
        errs += 1
print(errs, wrong)' "$M/w" "$S/w")
	note "EIO pages, wrong pages: $out"
	# Group 1 is 16 pages of FP16 (2^15 words), 32 of FP32; a few more
	# where pages straddle its edges or the chunk's (read whole: EIO).
	[ "${out% *}" -gt 0 ] && [ "${out% *}" -le 40 ] && [ "${out#* }" -eq 0 ] ||
		{ echo "EIO pages, wrong pages: $out (want 1..40, 0)" >&2; false; }
}
check "a flipped byte in one group: its 4 KiB reads fail with EIO, the record's others read" \
	corrupt_reads
seq_read_fails() {
	expect_status 1 cat "$M/w" && grep -q "Input/output error" "$WORK/.cmd.err"
}
check "a sequential read of the file checks whole records: EIO" seq_read_fails

mfs_done
