#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A writer through the page cache whose commit fails leaves the file's
# inode, which the path keeps, with pages of bytes no version has; and a
# reader its process held open (adopted: fuse/fs_internal.h note 7) reads
# through those same pages.  (review s40)
#  1. The writer alone; its close fails (a staged write failed after it was
#     answered: MODELFS_TEST_STAGING_EIO_AT) after a utime put the old
#     mtime back, as cp -p does: a new open in another process read the
#     unpublished bytes and size from the page cache (keep_cache; size and
#     mtime as cached, so the kernel kept the pages).  It must read the
#     path's version.
#  2. An adopted reader; the writer's close fails (ENOSPC: the store's
#     disk filled while the commit was held).  The reader read the written
#     bytes past the size its fstat gave, then, once another reader had
#     opened the path, the old version's bytes: each read whatever page the
#     other had filled.  Both must read the path's version, whole.
#  3. A reader held open across np.memmap(mode='r+') rounds: each round's
#     commit moves the path to a new inode, of whose readers the settled
#     reader was one, and the next round's mapping failed with ENODEV.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
M2=$WORK/mnt2
D2=$WORK/data2
HOLD=$WORK/hold
export HOLD
mfs_log_allow "$D" 'failed after it was answered'
mfs_log_allow "$D2" 'No space left on device|ENOSPC|space|not published'

export MODELFS_TEST_STAGING_EIO_AT=$((8 * MiB + 5))
check "mount, the staged write at 8 MiB + 5 to fail" mfs_mount "$M" "$D" || mfs_abort "no mount"
unset MODELFS_TEST_STAGING_EIO_AT
check "a 160 MiB tmpfs for the second store" mfs_tmpfs "$D2" 160m || mfs_abort "no tmpfs"
export MODELFS_TEST_COMMIT_HOLD=$HOLD
check "mount (commits wait for $HOLD)" mfs_mount "$M2" "$D2" || mfs_abort "no mount"
unset MODELFS_TEST_COMMIT_HOLD

same_mtime() {
	"$PY" - "$M/f" <<'PYEOF'
import os, subprocess, sys
p = sys.argv[1]
with open(p, "wb") as f:
    f.write(b"o" * (4 << 20))
st = os.stat(p)
w = os.open(p, os.O_RDWR)
os.ftruncate(w, 0)
try:
    for off in range(0, 12 << 20, 1 << 16):
        os.pwrite(w, b"N" * (1 << 16), off)
except OSError as e:
    sys.exit("a write failed at once: %s" % e)
os.utime(w, ns=(st.st_atime_ns, st.st_mtime_ns))
try:
    os.close(w)
    sys.exit("the close succeeded")
except OSError:
    pass
got = subprocess.run(["sh", "-c", 'wc -c <"$1"; head -c 4 "$1"', "sh", p],
                     capture_output=True, text=True).stdout.split()
if got != [str(4 << 20), "oooo"]:
    sys.exit("another process read %r, not the path's version" % got)
PYEOF
}
check "1. a failed commit, the old mtime set back: a new open reads the path's version" same_mtime

adopted_enospc() {
	"$PY" - "$M2/g" "$D2" <<'PYEOF'
import os, subprocess, sys, threading, time
p, D = sys.argv[1], sys.argv[2]
HOLD = os.environ["HOLD"]
def held(fn, during=lambda: None):
    res = []
    t = threading.Thread(target=lambda: res.append(fn()))
    t.start()
    while not os.path.exists(HOLD + ".held"):
        time.sleep(0.01)
    during()
    os.unlink(HOLD + ".held")
    open(HOLD, "w").close()
    t.join()
    os.unlink(HOLD)
    return res[0]
def write_old():
    with open(p, "wb") as f:
        f.write(b"o" * (4 << 20))
held(write_old)
old = b"o" * (4 << 20)
def rd(fd):
    out, off = b"", 0
    while True:
        b = os.pread(fd, 1 << 20, off)
        if not b:
            break
        out += b
        off += len(b)
    return out
r = os.open(p, os.O_RDONLY)
os.pread(r, 4, 0)
w = os.open(p, os.O_RDWR)
try:
    import mmap
    mmap.mmap(w, 4096).close()
except OSError as e:
    sys.exit("the writer's map: %s (not adopted?)" % e)
os.ftruncate(w, 0)
os.pwrite(w, b"N" * 4096 + os.urandom((6 << 20) - 4096), 0)
def close_w():
    try:
        os.close(w)
        return "ok"
    except OSError as e:
        return os.strerror(e.errno)
fill = lambda: subprocess.run(["dd", "if=/dev/zero", "of=" + D + "/filler", "bs=1M"],
                              stderr=subprocess.DEVNULL)
c = held(close_w, fill)
os.unlink(D + "/filler")
if c != os.strerror(28):
    sys.exit("the writer's close: %s, not ENOSPC" % c)
for i in range(300):  # the writer's RELEASE settles the reader
    if os.fstat(r).st_size == 4 << 20 and rd(r) == old:
        break
    time.sleep(0.01)
bad = []
got = rd(r)
if got != old:
    bad.append("the adopted reader read %d bytes %r..." % (len(got), got[:4]))
q = os.open(p, os.O_RDONLY)
if rd(q) != old:
    bad.append("a new reader did not read the path's version")
got = rd(r)
if got != old:
    bad.append("then the adopted reader read %d bytes %r..." % (len(got), got[:4]))
os.close(q)
os.close(r)
if bad:
    sys.exit("; ".join(bad))
PYEOF
}
check "2. an adopted reader, its writer's commit fails: it and a new reader read the path's version" \
	adopted_enospc

rounds() {
	"$PY" - "$M/x.bin" <<'PYEOF' || return 1
import os, sys
import numpy as np
p = sys.argv[1]
np.zeros(1 << 18, dtype=np.float32).tofile(p)
r = os.open(p, os.O_RDONLY)
os.pread(r, 4096, 0)
for rnd in range(3):
    try:
        mm = np.memmap(p, dtype=np.float32, mode="r+")
    except OSError as e:
        sys.exit("round %d: %s" % (rnd, e))
    mm[1] = 10 + rnd
    mm.flush()
    del mm
os.close(r)
if np.fromfile(p, dtype=np.float32)[1] != 12:
    sys.exit("the last round's write is not there")
PYEOF
}
"$PY" -c 'import numpy' 2>/dev/null && check "3. a reader held across np.memmap r+ rounds: each maps" rounds

mfs_done
