#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A reader that has closed its descriptor is gone: a writer that opens the
# file right after maps it shared and writable.  FUSE sends the reader's
# RELEASE in the background after close(2) returned; a writer whose OPEN
# came first counted the reader as holding the old version and bypassed the
# page cache, so its shared mmap failed with ENODEV (1 to 9 times in 200
# here): np.memmap(mode='r+') after np.load(mmap_mode='r') or a plain read.
# 500 rounds of read, close, open O_RDWR, mmap MAP_SHARED, write through
# the mapping: no ENODEV, every write lands.  A reader still open in another
# process keeps the rule (README: ENODEV), once its RELEASE cannot come (one
# of the writer's own process is adopted: t0420).
# A reader that followed a rewrite's writer and settled on the new version
# (fuse/fs_read.c, read_as_current) is counted as closing on the new
# inode: a close(2) of one of its dup'ed descriptors, a read through the
# other and its last close must leave that count as it found it.  Before,
# the read took the count off the old inode, and the new one stayed
# counted: every writer that opened it beside one reader of another
# process then napped CLOSING_WAIT_NAPS times (over a second) for a
# RELEASE that never came.  The naps are counted as the daemon's
# voluntary context switches during the writer's open(2).  The same for a
# reader that opened the path's newer inode while the writer, after an
# fsync, wrote on through the older one (fuse/view.c).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

rounds() {
	"$PY" - "$M/f" <<'PYEOF'
import mmap, os, sys
p = sys.argv[1]
with open(p, "wb") as f:
    f.write(b"\0" * 65536)
bad = []
for i in range(500):
    fd = os.open(p, os.O_RDONLY)
    os.read(fd, 10)
    os.close(fd)
    fd = os.open(p, os.O_RDWR)
    try:
        m = mmap.mmap(fd, 65536, mmap.MAP_SHARED)
        m[i] = 1
        m.close()
    except OSError as e:
        bad.append("round %d: %s" % (i, e))
    os.close(fd)
with open(p, "rb") as f:
    d = f.read()
if d[:500] != b"\1" * 500 or d[500:] != b"\0" * (65536 - 500):
    bad.append("the mapped writes did not all land")
if bad:
    print("%d failures: %s" % (len(bad), "; ".join(bad[:5])), file=sys.stderr)
    sys.exit(1)
PYEOF
}
check "500 rounds of read, close, then a shared writable mapping: no ENODEV" rounds

open_reader() {
	"$PY" - "$M/f" <<'PYEOF'
import errno, mmap, os, subprocess, sys
p = sys.argv[1]
r = subprocess.Popen([sys.executable, "-c", "import os, sys; os.open(sys.argv[1], os.O_RDONLY); "
                      "print(flush=True); sys.stdin.read()", p],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
r.stdout.readline()
fd = os.open(p, os.O_RDWR)
try:
    mmap.mmap(fd, 65536, mmap.MAP_SHARED).close()
    sys.exit("a shared writable mapping while a reader holds the version")
except OSError as e:
    if e.errno != errno.ENODEV:
        raise
os.close(fd)
r.communicate()
PYEOF
}
check "a reader still open in another process: the writer's shared mapping gets ENODEV (README)" \
	open_reader

settled_dup() {
	"$PY" - "$M/$1" "${_mnt_pid[$M]}" "$MFS_WAIT_MAX" "$1" <<'PYEOF'
import glob, os, subprocess, sys, time
p, dpid, wait_max, view = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "view"

def naps():
    n = 0
    for f in glob.glob("/proc/%d/task/*/status" % dpid):
        try:
            n += sum(int(l.split()[1]) for l in open(f) if l.startswith("voluntary_ctxt"))
        except OSError:
            pass  # a thread that ended
    return n

SIZE = 12347  # the staged file's: no other here

def staged():
    """Whether the daemon still holds the writer's staged bytes (a memfd of SIZE)."""
    for fd in glob.glob("/proc/%d/fd/*" % dpid):
        try:
            if os.readlink(fd).startswith("/memfd:modelfs-staging") and \
                    os.stat(fd).st_size == SIZE:
                return True
        except OSError:
            pass  # closed meanwhile
    return False

with open(p, "wb") as f:
    f.write(b"1" * SIZE)
w = os.open(p, os.O_WRONLY | os.O_TRUNC)
if view:
    # A commit moves the path to a new inode, and the writer writes on
    # (fuse/view.c): the reader opens that one and follows the writer.
    os.write(w, b"2" * 100)
    os.fsync(w)
    os.pwrite(w, b"2" * (SIZE - 100), 100)
else:
    os.write(w, b"2" * SIZE)
r = os.open(p, os.O_RDONLY)  # it follows the writer's bytes
if not staged():
    sys.exit("no staged file of %d bytes in the daemon" % SIZE)
os.close(w)
# The writer's RELEASE comes in the background; the reader settles on the
# new version there, before the staged file goes (fs_handle_close).
end = time.monotonic() + wait_max
while staged():
    if time.monotonic() > end:
        sys.exit("the writer's RELEASE never came")
    time.sleep(0.05)
os.stat(p)  # the kernel holds the new inode: its node stays
r2 = os.dup(r)
os.close(r)
if os.pread(r2, 10, 0) != b"2" * 10:
    sys.exit("the settled reader does not read the new version")
os.close(r2)
other = subprocess.Popen([sys.executable, "-c", "import os, sys; os.open(sys.argv[1], os.O_RDONLY); "
                          "print(flush=True); sys.stdin.read()", p],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
other.stdout.readline()
n0 = naps()
fd = os.open(p, os.O_RDWR)
n = naps() - n0
os.close(fd)
other.communicate()
if n >= 500:
    sys.exit("the writer's open napped (%d context switches): a closing reader counted for good" % n)
print("the daemon's voluntary context switches during the writer's open:", n)
PYEOF
}
check "a settled follower's dup'ed close, read and close leave no closing count behind" \
	settled_dup rewrite
check "the same for a follower of a writer that synced and wrote on (view.c)" settled_dup view

mfs_done
