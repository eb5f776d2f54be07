#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A reader whose lookup of the path gave a shared view's writer inode W
# (fuse/view.c), and whose OPEN came after that view ended (the writer's
# close and RELEASE), read W's own version: the bytes from before the
# writer's first fsync, though the fsync and the close had returned
# before its read (review2 s41, #2 and #3).  The reader's open is held
# inside the daemon (MODELFS_TEST_OPEN_HOLD) once it decided to open W,
# while the writer closes and exits; then it reads.  As on tmpfs, it must
# read every byte the writer wrote.  Fails with the fix (fs_read.c,
# OPEN_CURRENT) taken out: the reader read 'old'.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
HOLD=$WORK/hold

touch "$HOLD"
export MODELFS_TEST_OPEN_HOLD=$HOLD
check "mount (a reader's open of a lent inode waits for $HOLD when it is gone)" \
	mfs_mount "$M" "$D" || mfs_abort "no mount"
unset MODELFS_TEST_OPEN_HOLD

cat >"$WORK/lent.py" <<'PYEOF'
# lent.py FILE HOLD ROUND: prints what the reader read.
import os, sys, time
p, hold = sys.argv[1], sys.argv[2]
with open(p, "wb") as f:
    f.write(b"old")
fd = os.open(p, os.O_RDWR | os.O_TRUNC)
os.write(fd, b"new1")
os.fsync(fd)               # a commit, the writer goes on: a shared view, lookups give its inode
os.write(fd, b"new2")
os.unlink(hold)            # the next reader's open of that inode waits
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    os.close(fd)           # not the writer's: its RELEASE comes at the writer's close
    rfd = os.open(p, os.O_RDONLY)
    os.write(w, os.read(rfd, 100))
    os._exit(0)
os.close(w)
for _ in range(24000):      # the reader is inside its open (240 s at most)
    if os.path.exists(hold + ".held"):
        break
    time.sleep(0.01)
else:
    open(hold, "w").close()
    print("the reader's open was never held (no MODELFS_TEST_OPEN_HOLD in this daemon?)")
    sys.exit(1)
os.unlink(hold + ".held")
os.close(fd)               # the view ends; this process's exit sends the RELEASE
sys.stdout.flush()
if os.fork() == 0:
    # A child lets the reader go once this process is gone (its RELEASE
    # sent); the pause only lets the RELEASE land first, as it did when
    # the reader read 'old': a late one makes the round pass anyway.
    time.sleep(0.3)
    open(hold, "w").close()
    print("reader read %r" % os.read(r, 100))
    os._exit(0)
PYEOF

# round N: the reader reads what the writer wrote.
round() {
	local got
	rm -f "$HOLD.held"
	"$PY" "$WORK/lent.py" "$M/f$1" "$HOLD" >"$WORK/round$1.out" 2>&1
	wait_until test -e "$HOLD" || return 1
	wait_until grep -q "reader read\|never held" "$WORK/round$1.out" ||
		{ cat "$WORK/round$1.out" >&2; return 1; }
	got=$(cat "$WORK/round$1.out")
	expect_eq "$got" "reader read b'new1new2'" "round $1"
}
for i in 1 2 3; do
	check "round $i: a reader whose open met the view's end reads the writer's bytes" round "$i"
done
touch "$HOLD"

mfs_done
