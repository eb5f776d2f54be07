#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Open files (fuse/fdlimit.c): the daemon holds a descriptor per file open
# for writing, and two per pack.  Started with a soft limit of 128 (hard
# 4000), it raises its soft limit to the hard one and says so, and warns
# that 4000 is low.  Then one process opens 600 new files on the mount,
# writes 64 KiB of its own bytes into each, keeps all open, and closes
# them: every open, write and close succeeds, and every file reads back
# exact, also after a remount.  Without the raise, 499 of the 600 opens
# failed with EMFILE (with 4 MiB files, 9 closes failed too: their commit
# could not start a pack, and the files were lost).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
N=600

# For this shell and what it starts: the daemon inherits them.
check "limits: soft 128, hard 4000" eval 'ulimit -Sn 128 && ulimit -Hn 4000' ||
	mfs_abort "cannot set limits"
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

raised() {
	local pid soft
	pid=$(mfs_daemon_pid "$M") || return 1
	soft=$(awk '/^Max open files/ { print $4 }' "/proc/$pid/limits")
	expect_eq "$soft" 4000 "the daemon's soft limit on open files" &&
		grep -q 'open files limit raised from 128 to 4000' "$D/modelfs.log" &&
		grep -q 'WARN.*open files limit is 4000' "$D/modelfs.log"
}
check "the daemon raised its soft limit to 4000, logged it, and warned it is low" raised

# writer DIR N: opens N files at once, writes 64 KiB into each, closes them;
# prints the failures by call and errno, or OK.
writer() {
	"$PY" - "$1" "$2" <<'PY'
import errno, os, resource, sys
d, n = sys.argv[1], int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_NOFILE, (4000, 4000))
fail, fds = {}, []
def bad(call, e):
    k = "%s %s" % (call, errno.errorcode.get(e.errno, e.errno))
    fail[k] = fail.get(k, 0) + 1
for i in range(n):
    try:
        fds.append((i, os.open("%s/f%04d" % (d, i), os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)))
    except OSError as e:
        bad("open", e)
for i, fd in fds:
    try:
        os.write(fd, (b"%08d" % i) * 8192)
    except OSError as e:
        bad("write", e)
for i, fd in fds:
    try:
        os.close(fd)
    except OSError as e:
        bad("close", e)
print(" ".join("%s x%d" % kv for kv in sorted(fail.items())) or "OK")
PY
}

# exact DIR N: every file holds its own number's pattern
exact() {
	"$PY" - "$1" "$2" <<'PY'
import sys
d, n = sys.argv[1], int(sys.argv[2])
bad = [i for i in range(n) if open("%s/f%04d" % (d, i), "rb").read() != (b"%08d" % i) * 8192]
print("bad:", bad[:5], len(bad)) if bad else None
sys.exit(1 if bad else 0)
PY
}

many() {
	local res
	mkdir "$M/w" && res=$(writer "$M/w" "$N") || return 1
	note "$N files open for writing at once: $res"
	expect_eq "$res" OK "failed calls" && exact "$M/w" "$N"
}
check "$N files open for writing at once: every open, write and close succeeds; exact" many

check "remount" mfs_remount "$M"
check "after the remount every file reads back exact" exact "$M/w" "$N"

mfs_done
