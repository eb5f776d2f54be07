#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# truncate(2) of a path, with no writer open, several times while a
# descriptor opened before reads it: each truncate publishes a new inode,
# and the old descriptor must see every one of them, as on tmpfs, where
# they are one file: truncate(path, 3), then truncate(path, 10) reads 3
# bytes and 7 zeros.  Before, only the first reached it (fuse/fs_write.c,
# truncated_heirs): it read 3 bytes, with fstat 3 for a plain reader and
# 10 for a reader that had followed a writer's bytes.  Readers: a plain
# one (read(2) and a mapping), a follower of a new file's writer, and one
# of a rewrite's.  The outputs on a tmpfs and on the mount must be equal.
# Then what stays as the README says: a writer's rewrite between two
# truncates is another version, and its truncates do not reach the
# readers of the one before.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
T=$WORK/tmpfs
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"
check "a tmpfs for the reference" mfs_tmpfs "$T" 64m || mfs_abort "no tmpfs"

cases() {
	"$PY" - "$1" <<'PYEOF'
import mmap, os, sys

d = sys.argv[1]
SIZES = (3, 10, 5, 9000, 12, 0, 4)

def show(what, r):
    size = os.fstat(r).st_size
    got = os.pread(r, 1 << 16, 0)
    mapped = b""
    if size:
        with mmap.mmap(r, size, mmap.MAP_PRIVATE, mmap.PROT_READ) as mm:
            mapped = mm[:]
    print(what, size, len(got), got[:12], got.count(0), mapped == got)

def truncates(name, r, p):
    show(name + " open:", r)
    for size in SIZES:
        os.truncate(p, size)
        show(name + " truncate(%d):" % size, r)
    os.close(r)
    print(name, "a new reader:", open(p, "rb").read()[:12])

# A plain reader of a version.
p = os.path.join(d, "plain")
with open(p, "wb") as f:
    f.write(b"0123456789")
r = os.open(p, os.O_RDONLY)
truncates("plain", r, p)

# A reader of a new file's writer, then the writer leaves (a commit in place).
p = os.path.join(d, "new")
w = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
os.write(w, b"0123456789")
r = os.open(p, os.O_RDONLY)
os.close(w)
truncates("new", r, p)

# The same for a rewrite (the commit makes a new inode).
p = os.path.join(d, "old")
with open(p, "wb") as f:
    f.write(b"o" * 20)
w = os.open(p, os.O_WRONLY | os.O_TRUNC)
os.write(w, b"0123456789")
r = os.open(p, os.O_RDONLY)
os.close(w)
truncates("rewrite", r, p)
PYEOF
}

ref() { cases "$T" >"$WORK/ref.out"; }
check "on a tmpfs (the reference)" ref || mfs_abort "no reference"
on_mount() {
	cases "$M" >"$WORK/mnt.out" || return 1
	diff -u "$WORK/ref.out" "$WORK/mnt.out"
}
check "every truncate(2) of the path reaches a reader opened before them: what tmpfs shows" \
	on_mount

# rewritten: a writer's version between the truncates keeps the reader out (README).
rewritten() {
	"$PY" - "$M" <<'PYEOF'
import os, sys
p = os.path.join(sys.argv[1], "rw")
with open(p, "wb") as f:
    f.write(b"0123456789")
r = os.open(p, os.O_RDONLY)
os.truncate(p, 3)
with open(p, "wb") as f:
    f.write(b"another version")
os.truncate(p, 40)
got = (os.fstat(r).st_size, os.pread(r, 100, 0))
os.close(r)
if got != (3, b"012"):
    sys.exit("the reader of the version before the rewrite: %r" % (got,))
if open(p, "rb").read() != b"another version" + b"\0" * 25:
    sys.exit("the path: %r" % open(p, "rb").read())
PYEOF
}
check "a rewrite between truncates: the reader keeps its version's cut (README)" rewritten

mfs_done
