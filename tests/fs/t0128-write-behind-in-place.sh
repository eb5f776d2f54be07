#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The write-behind's feed reads the staged file a window at a time
# (store/chunk/ingest.c window_bytes): a change below what it claimed must
# wait until the feed has stopped (fuse/writebehind.c wb_changed), or the
# feed would hash bytes that then change, or read short where a truncate
# cut the file.  MODELFS_TEST_FEED_HOLD (test only)
# holds the feed right after it read a window; the writer's ftruncate
# below it must not return while the feed is held, and once the feed goes
# on, the file is whole, as the same operations on a local file make it.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
R=$WORK/ref
HOLD=$WORK/hold
mkdir -p "$R"

export MODELFS_TEST_FEED_HOLD=$HOLD
check "mount with write_behind_mb=8 and the feed held" mfs_mount "$M" "$D" write_behind_mb=8 ||
	mfs_abort "no mount"
unset MODELFS_TEST_FEED_HOLD

# Writes 40 MiB through one descriptor each on the mount and the
# reference; once the feed is held, ftruncates both to 1 MiB in a thread,
# waits up to 5 s for it (it must not return: the feed is held), lets the
# feed go, then writes 2 MiB more.  Prints whether the ftruncate returned
# while the feed was held.
cat >"$WORK/inplace.py" <<'PY'
import os, random, sys, threading, time
mnt, ref, hold = sys.argv[1:4]
MiB = 1 << 20
fds = [os.open(os.path.join(d, "f"), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
       for d in (mnt, ref)]
rng = random.Random(128)
def write(n):
    for _ in range(n):
        b = rng.randbytes(MiB)
        for fd in fds:
            os.write(fd, b)
write(40)
for _ in range(6000):
    if os.path.exists(hold + ".held"):
        break
    time.sleep(0.01)
else:
    sys.exit("the feed never reached its hold")
done = threading.Event()
def trunc():
    os.ftruncate(fds[0], MiB)
    done.set()
t = threading.Thread(target=trunc)
t.start()
early = done.wait(5)
open(hold, "w").close()
t.join()
os.ftruncate(fds[1], MiB)
for fd in fds:
    os.lseek(fd, 0, os.SEEK_END)
write(2)
for fd in fds:
    os.close(fd)
print("returned while held" if early else "waited for the feed")
PY

inplace() {
	local out
	out=$("$PY" "$WORK/inplace.py" "$M" "$R" "$HOLD") || return 1
	echo "ftruncate: $out"
	[ "$out" = "waited for the feed" ]
}
check "an ftruncate below the held feed waits for it" inplace
check "the daemon lives and the file is whole" expect_sha "$M/f" "$(file_sha "$R/f")"
check "the early ingest was dropped" grep -q "write-behind at commit: broken" "$D/modelfs.log"
check "fsck of the mount: no problem" expect_status 0 admin fsck "$M"
mfs_done
