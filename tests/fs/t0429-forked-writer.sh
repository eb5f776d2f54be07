#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A writer's descriptor that a forked child inherited (`cmd >>f &`,
# Popen(stdout=f) then f.close()), closed first by the one while the other
# writes on, and other processes that append, write at an offset, read and
# stat the file meanwhile: the file is one file, as on tmpfs.  Before, the
# opener's close counted as the writers' close, its commit left the path's
# new inode nothing to show of the child's later writes, and the next
# writer of the path made a second staging of the file beside the child's:
# the child's last close published over it, and that writer's bytes were
# lost with no error (review2 s41, finding 1); readers and stat missed the
# child's writes, and a truncate(2) of the path in between was undone by
# the child's next commit.  review3 s42: the child's first write after the
# opener's close, if 64 KiB or more, left stat and read stale (#3); an idle
# child (it never writes) and a writer open of the path that closed
# unwritten left a view that gave readers' shared mmap ENODEV (#2).  One driver (t0429-*.py beside this) runs on a tmpfs and
# on the mount; the two outputs must be equal.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
R=$WORK/ref
DRIVER=$(dirname "$0")/t0429-forked-writer.py
mkdir -p "$WORK/sync"
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"
check "tmpfs reference" mfs_tmpfs "$R" "16m,nosuid,nodev" || mfs_abort "no tmpfs"

# run DIR NAME: the driver's output in $WORK/NAME.out.
run() {
	"$PY" "$DRIVER" "$1" "$WORK/sync" >"$WORK/$2.out" 2>"$WORK/$2.err" ||
		{ cat "$WORK/$2.err" >&2; return 1; }
}
same() {
	diff "$WORK/ref.out" "$WORK/mnt.out" >&2
}
check "the driver runs on tmpfs" run "$R" ref
check "the driver runs on the mount" run "$M" mnt
check "every read, stat and file on the mount is as on tmpfs" same

mfs_done
