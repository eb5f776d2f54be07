#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A reader that opens a new file while an fsync's commit of it runs waits
# for the commit (fuse/commit_open.c note 5: only a close's commit serves
# opens at once) and then reads what the writer wrote, as a reader that
# opens beside a writer does (fuse/fs_internal.h note 6).  Here that
# commit fails (ENOSPC: the store's disk filled while it was held): the
# reader still reads the writer's bytes, never an empty or cut file, and
# after the writer's close (the file was never published, so it goes) it
# keeps them, as a reader of an unlinked file does on tmpfs.
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
print("later", os.pread(fd, 4, 6 << 20), flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.01)
try:
    print("after", os.pread(fd, 4, 6 << 20), flush=True)
except OSError as e:
    print("after", errno.errorcode[e.errno], flush=True)
PYEOF
	reader=$!
	sleep 1
	expect_eq "$(cat "$WORK/reader.out")" "" "the open during the held commit (it waits)"
}
check "an open during the commit waits for it" opened

fails() {
	dd if=/dev/zero of="$D/filler" bs=1M >/dev/null 2>&1 # until the disk is full
	touch "$HOLD" &&
		wait_for 300 grep -q '^fsync' "$WORK/writer.out" &&
		expect_eq "$(cat "$WORK/writer.out")" "fsync ENOSPC" "the writer's fsync"
}
check "the disk fills; the commit fails with ENOSPC" fails

after() {
	wait_for 300 grep -q '^later' "$WORK/reader.out" &&
		expect_eq "$(sed -n 1,2p "$WORK/reader.out" | tr '\n' ' ')" "open b'gggg' later b'gggg' " \
			"the reader, once the commit failed"
}
check "then the reader reads the writer's bytes, not an empty file" after

cleanup() { rm -f "$D/filler" && touch "$WORK/go" && wait "$writer"; }
check "the disk freed, the writer closes" cleanup

kept() {
	touch "$WORK/go2" && wait "$reader" &&
		expect_eq "$(sed -n 3p "$WORK/reader.out")" "after b'gggg'" "the reader after the writer's close"
}
check "the reader keeps the bytes after the writer's close" kept

mfs_done
