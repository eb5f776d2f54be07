#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# truncate(2) of a path, with no writer open, many times while a descriptor
# opened before reads it (review of s41's truncated_heirs).  Each truncate
# publishes a new inode, and the old descriptor must see the last one, as
# on tmpfs (one file).  Before, the walk back from the newest inode to the
# reader's went through at most 64 links (itable_hold_preds' queue), most
# of them inodes the kernel had forgotten: from the 65th truncate on, the
# reader kept the size it had (3 bytes where tmpfs shows 10).  A
# `truncate -s 0 log` rotation beside a `tail -f` does that every day.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
T=$WORK/tmpfs
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"
check "a tmpfs for the reference" mfs_tmpfs "$T" 16m || mfs_abort "no tmpfs"

many() {
	"$PY" - "$1" <<'PYEOF'
import os, sys

p = os.path.join(sys.argv[1], "log")
with open(p, "wb") as f:
    f.write(b"0123456789")
r = os.open(p, os.O_RDONLY)
for i in range(1, 151):
    os.truncate(p, 3 if i % 2 else 10 + i % 7)
    if i % 10 == 0 or i > 60:
        size = os.fstat(r).st_size
        got = os.pread(r, 100, 0)
        print(i, size, got)
os.close(r)
PYEOF
}

ref() { many "$T" >"$WORK/ref.out"; }
check "on a tmpfs (the reference)" ref || mfs_abort "no reference"
on_mount() {
	many "$M" >"$WORK/mnt.out" || return 1
	diff -u "$WORK/ref.out" "$WORK/mnt.out" | head -20 >&2
	cmp -s "$WORK/ref.out" "$WORK/mnt.out"
}
check "150 truncates of the path all reach a reader opened before them, as on tmpfs" on_mount

mfs_done
