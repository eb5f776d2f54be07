#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A second identical copy of a large file (`cp model.safetensors rev2/`)
# on a disk too small to stage it whole.  The write-behind finds every
# chunk already stored; it must drop their bytes from the staging as it
# drops the bytes of chunks it stores itself (fuse/writebehind.c,
# store/chunk/ingest.c pin_found), or the copy, which needs no new space,
# is staged whole and fails with ENOSPC (it did: the stored offset stopped
# at the first chunk found stored).
#
# The store is a tmpfs shrunk after the first copy to leave 96 MiB free
# for a 128 MiB file, with a 16 MiB staging budget.  Then: a cp of the
# second copy reads back exact, and the commit says its bytes were
# dropped; a copy written by a script with a follower that reads the
# dropped bytes while the writer writes on (fuse/kept.c: from the chunks
# found stored), after the first copy was removed and gc ran (the
# chunks are named by no version then: the write-behind's pins keep
# them), reads the same bytes, during and after.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
S=$WORK/model.safetensors
mfs_log_allow "$D" 'No space left on device|ENOSPC|space'

check "a 512 MiB tmpfs for the store" mfs_tmpfs "$D" 512m || mfs_abort "no tmpfs"
check "mount with write_behind_mb=8, staging_mem_mb=16" \
	mfs_mount "$M" "$D" write_behind_mb=8,staging_mem_mb=16 || mfs_abort "no mount"
check "a 128 MiB file" randfile "$S" $((128 << 20)) || mfs_abort "no source"
sum=$(file_sha "$S")
first() { cp "$S" "$M/a" && expect_sha "$M/a" "$sum"; }
check "the first copy is stored" first || mfs_abort "no first copy"

# shrink: the tmpfs keeps what it holds and 96 MiB more.
shrink() {
	local used
	used=$(df -k --output=used "$D" | tail -n 1) &&
		mount -o remount,size=$(((used + 96 * 1024) * 1024)) "$D" &&
		note "free on the store's disk: $(df -k --output=avail "$D" | tail -n 1) KiB"
}
check "the store's disk shrunk to 96 MiB free" shrink || mfs_abort "no shrink"

# wb_lines: the commits' write-behind lines in the log so far.
wb_lines() { grep -c "write-behind at commit" "$D/modelfs.log"; }
# dropped_most BEFORE: a commit since BEFORE lines dropped at least 64 MiB of the 128.
dropped_most() {
	local n
	[ "$(wb_lines)" -gt "$1" ] || { echo "no commit through the write-behind since" >&2; return 1; }
	n=$(grep "write-behind at commit" "$D/modelfs.log" | tail -n 1 |
		sed -n 's/.*, \([0-9]*\) dropped.*/\1/p')
	note "last commit: ${n:-?} bytes dropped"
	[ -n "$n" ] && [ "$n" -ge $((64 << 20)) ]
}
second() { mkdir -p "$M/rev2" && cp "$S" "$M/rev2/" && expect_sha "$M/rev2/model.safetensors" "$sum"; }
before=$(wb_lines)
check "a second identical copy (cp) succeeds and reads back exact" second
check "its staged bytes were dropped as its chunks were found stored" dropped_most "$before"
before=$(wb_lines)

# follow.py MNT_FILE SRC WAITDIR: writes SRC to MNT_FILE 1 MiB at a time;
# at 100 MiB a follower opens the file and reads [0, 96 MiB) (dropped
# from the staging: read from the chunks), the script says so
# (WAITDIR/ready) and waits for WAITDIR/go while the shell removes the
# first copies and runs gc (not a child of the writer: the close of its
# descriptor at the child's exec would commit the file, a FLUSH); the
# follower reads again, the writer writes the rest and closes, and the
# follower reads the whole file.
cat >"$WORK/follow.py" <<'PY'
import os, sys, time
dst, src, wait = sys.argv[1], sys.argv[2], sys.argv[3]
MiB = 1 << 20
data = open(src, "rb").read()
def read_all(fd, n):
    out = bytearray()
    while len(out) < n:
        b = os.pread(fd, min(4 * MiB, n - len(out)), len(out))
        if not b:
            break
        out += b
    return bytes(out)
w = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
r = None
for off in range(0, len(data), MiB):
    os.write(w, data[off:off + MiB])
    if off + MiB == 100 * MiB:
        r = os.open(dst, os.O_RDONLY)
        if read_all(r, 96 * MiB) != data[:96 * MiB]:
            sys.exit("the follower read wrong bytes of the dropped range")
        open(os.path.join(wait, "ready"), "w").close()
        while not os.path.exists(os.path.join(wait, "go")):
            time.sleep(0.05)
        if read_all(r, 100 * MiB) != data[:100 * MiB]:
            sys.exit("after gc, the follower read wrong bytes of the dropped range")
os.close(w)
if read_all(r, len(data)) != data:
    sys.exit("after the close, the follower read wrong bytes")
os.close(r)
PY
# ready_or_gone PID: follow.py said it waits, or it ended (failed).
ready_or_gone() { [ -e "$WORK/wait/ready" ] || ! kill -0 "$1" 2>/dev/null; }
follow() {
	local pid rc=0
	mkdir -p "$WORK/wait" && rm -f "$WORK/wait/"*
	"$PY" "$WORK/follow.py" "$M/rev2/b" "$S" "$WORK/wait" &
	pid=$!
	wait_until ready_or_gone "$pid" && [ -e "$WORK/wait/ready" ] &&
		rm -f "$M/a" "$M/rev2/model.safetensors" &&
		admin gc --grace 0 --apply "$M" >"$WORK/gc.out" || rc=1
	note "gc: $(grep -E "^(freed|held back)" "$WORK/gc.out" | tr -s " " | tr "\n" ";")"
	touch "$WORK/wait/go"
	wait "$pid" || rc=1
	[ "$rc" = 0 ] && expect_sha "$M/rev2/b" "$sum"
}
check "with the first copies removed and gc run meanwhile, a follower of a third copy reads its bytes" \
	follow
check "and its staged bytes were dropped too" dropped_most "$before"
check "umount, mount" mfs_remount "$M"
check "the copy is whole after the remount" expect_sha "$M/rev2/b" "$sum"
check "fsck of the mount is clean" expect_status 0 admin fsck "$M"

mfs_done
