#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A reader that opened a new file during its commit (fuse/commit_open.c)
# reads the staged bytes; if that commit then fails (here ENOSPC: the
# store's disk filled while the commit was held), the file is left its
# empty pending version.  The reader must not read on from that version
# as if the file ended mid-read (a short, empty READ: a loader sees a
# torn file, a cached reader's kernel shrinks the size under its map):
# its READs answer EIO (commit_open.c, note 7).  An fsync's commit, so the
# writer holds the file open and the reader uses direct I/O.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
HOLD=$WORK/hold
mfs_log_allow "$D" 'No space left on device|ENOSPC|space|not published'

check "a 160 MiB tmpfs for the store" mfs_tmpfs "$D" 160m || mfs_abort "no tmpfs"
export MODELFS_TEST_COMMIT_HOLD=$HOLD
check "mount (commits wait for $HOLD)" mfs_mount "$M" "$D" || mfs_abort "no mount"
unset MODELFS_TEST_COMMIT_HOLD

writer='' reader=''
held() {
	"$PY" - "$M/f.bin" "$WORK/go" >"$WORK/writer.out" 2>&1 <<'PYEOF' &
import errno, os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"g" * (8 << 20))
try:
    os.fsync(fd)
    print("fsync ok", flush=True)
except OSError as e:
    print("fsync", errno.errorcode[e.errno], flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.01)
try:
    os.close(fd)
except OSError:
    pass
PYEOF
	writer=$!
	wait_for 300 test -e "$HOLD.held" || { echo "the commit never started" >&2; return 1; }
}
check "an fsync's commit of a new 8 MiB file, held" held

opened() {
	"$PY" - "$M/f.bin" "$WORK/go2" >"$WORK/reader.out" 2>&1 <<'PYEOF' &
import errno, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
print("open", os.pread(fd, 4, 0), flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.01)
try:
    print("after", os.pread(fd, 4, 6 << 20), flush=True)
except OSError as e:
    print("after", errno.errorcode[e.errno], flush=True)
PYEOF
	reader=$!
	wait_for 200 grep -q '^open' "$WORK/reader.out" ||
		{ echo "no read during the commit: $(cat "$WORK/reader.out")" >&2; return 1; }
	expect_eq "$(cat "$WORK/reader.out")" "open b'gggg'" "reader during the commit"
}
check "a reader during the commit reads the staged bytes" opened

fails() {
	dd if=/dev/zero of="$D/filler" bs=1M >/dev/null 2>&1 # until the disk is full
	touch "$HOLD" &&
		wait_for 300 grep -q '^fsync' "$WORK/writer.out" &&
		expect_eq "$(cat "$WORK/writer.out")" "fsync ENOSPC" "the writer's fsync"
}
check "the disk fills; the commit fails with ENOSPC" fails

after() {
	touch "$WORK/go2" && wait "$reader" &&
		expect_eq "$(sed -n 2p "$WORK/reader.out")" "after EIO" "the reader's read after the failed commit"
}
check "the reader's next read: EIO, not an empty read" after

cleanup() { rm -f "$D/filler" && touch "$WORK/go" && wait "$writer"; }
check "the disk freed, the writer closes" cleanup

mfs_done
