#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# fcntl(F_SETFL) turns O_APPEND on or off for an open descriptor.  Once it
# is off, a write goes to the descriptor's offset (lseek, pwrite), as on
# tmpfs.  The daemon decided by the flags of the open (h->append) and
# moved every write of a descriptor opened O_APPEND to the end of the file
# (hunt2 s42): lseek(0) and write("S") gave "xx...S" where tmpfs gives
# "Sx...".  FUSE sends the descriptor's flags of the moment with each
# WRITE (fi->flags).  Each case runs on a tmpfs first; the bytes and the
# size must match.  The fix (one line in fs_write.c, fs_op_write: decide
# by fi->flags & O_APPEND, not h->append) is not this test's branch's to
# make: the checks it fixes are TODO until it lands.
#  1. O_WRONLY|O_APPEND, F_SETFL 0, lseek 0, write;
#  2. O_RDWR|O_APPEND, a write (appended), F_SETFL 0, pwrite at 1;
#  3. the same while another process holds the old version open (the
#     writer then writes with direct I/O: fs_write.c's other path);
#  4. O_WRONLY, F_SETFL O_APPEND, write at 0: appended (passes on main);
#  5. a shared mapping of an O_RDWR|O_APPEND descriptor, written at 0 and
#     synced: the writeback's WRITE came through that handle, and the
#     daemon moved it to the end too (the file grew by a page, byte 0
#     unchanged).  The kernel sends no O_APPEND with a writeback.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
REF=$WORK/ref
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"
check "a tmpfs to compare with" mfs_tmpfs "$REF" 16m || mfs_abort "no tmpfs"

# setfl.py DIR CASE: runs CASE on DIR/CASE, prints the file's bytes.
cat >"$WORK/setfl.py" <<'PY'
import fcntl, os, subprocess, sys
d, case = sys.argv[1], sys.argv[2]
p = os.path.join(d, case)
with open(p, "w") as f:
    f.write("x" * 10)
reader = None
if case == "cleared-beside-reader":
    # Another process keeps the old version open until we are done.
    reader = subprocess.Popen([sys.executable, "-c",
        "import sys; f = open(sys.argv[1], 'rb'); print(flush=True); sys.stdin.read()", p],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    reader.stdout.readline()
if case == "cleared-then-seek":
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    fcntl.fcntl(fd, fcntl.F_SETFL, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, b"S")
elif case in ("cleared-then-pwrite", "cleared-beside-reader"):
    fd = os.open(p, os.O_RDWR | os.O_APPEND)
    os.write(fd, b"E")
    fcntl.fcntl(fd, fcntl.F_SETFL, 0)
    os.pwrite(fd, b"P", 1)
elif case == "mapped":
    import mmap
    fd = os.open(p, os.O_RDWR | os.O_APPEND)
    m = mmap.mmap(fd, 10)
    m[0:3] = b"MAP"
    m.flush()
    m.close()
elif case == "set-then-write":
    fd = os.open(p, os.O_WRONLY)
    fcntl.fcntl(fd, fcntl.F_SETFL, os.O_APPEND)
    os.write(fd, b"A")
os.close(fd)
if reader:
    reader.stdin.close()
    reader.wait()
print(open(p).read())
PY

# same CASE: the mount ends with the tmpfs's bytes.
same() {
	local want got
	want=$("$PY" "$WORK/setfl.py" "$REF" "$1") || return 1
	got=$("$PY" "$WORK/setfl.py" "$M" "$1") || return 1
	expect_eq "$got" "$want" "bytes after $1 (tmpfs: $want)"
}

check "O_APPEND cleared, lseek 0, write: at 0" same cleared-then-seek
check "O_APPEND cleared, pwrite at 1: at 1" same cleared-then-pwrite
check "the same beside a reader of the old version (direct I/O)" same cleared-beside-reader
check "O_APPEND set by F_SETFL, write: appended" same set-then-write
check "a shared mapping of an O_APPEND descriptor writes in place" same mapped

mfs_done
