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

mfs_done
