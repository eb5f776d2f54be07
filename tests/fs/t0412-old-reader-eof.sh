#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A reader keeps the version it opened (README, "Versions"): when another
# descriptor grows the file and closes (a rewrite, an append, fallocate,
# ftruncate), the reader's read(2) must end where its version ends, as its
# fstat says, not read on into zeros up to the writer's size.  The writer
# wrote through the same inode, so the kernel held the writer's size for
# it; the daemon must give the reader's size back before the reader can
# read past its end.  Each round is one reader and one writer, in turn,
# with no timing in the test: the kernel's own invalidations after close(2)
# returned were what raced the read.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

# py CASE: 200 rounds of CASE on $M; prints and fails on every wrong round.
py() {
	"$PY" - "$M" "$1" <<'PYEOF'
import mmap, os, sys

top, case = sys.argv[1], sys.argv[2]
p = os.path.join(top, case)
OLD, ROUNDS = b"old version\n", 200


def grow(fd):
    """The writer's call: the file is 4096 bytes or more after it."""
    if case == "fallocate":
        os.posix_fallocate(fd, 0, 4096)
    elif case == "ftruncate":
        os.ftruncate(fd, 4096)
    elif case == "append":
        os.write(fd, b"N" * 4096)
    else:  # rewrite in place
        os.pwrite(fd, b"N" * 4096, 0)


flags = os.O_WRONLY | (os.O_APPEND if case == "append" else 0)
bad = []
for rnd in range(ROUNDS):
    with open(p, "wb") as f:
        f.write(OLD)
    r = os.open(p, os.O_RDONLY)
    w = os.open(p, flags)
    grow(w)
    os.close(w)
    # A small read first: it stays within the writer's size, so the kernel
    # asks for no attributes before it.
    small = os.pread(r, 200, 0)
    size = os.fstat(r).st_size
    whole = os.pread(r, 1 << 16, 0)
    m = mmap.mmap(r, size, mmap.MAP_SHARED, mmap.PROT_READ)
    mapped = m[:]
    m.close()
    os.close(r)
    got = (small, size, whole, mapped)
    if got != (OLD, len(OLD), OLD, OLD):
        bad.append((rnd, len(small), small.count(0), size, len(whole), len(mapped)))
print("%d rounds; wrong (round, read 200, zeros in it, fstat, read all, map): %s"
      % (ROUNDS, bad or "none"))
sys.exit(1 if bad else 0)
PYEOF
}

check "a reader after a writer's fallocate and close: its version, EOF (200 rounds)" py fallocate
check "a reader after a writer's ftruncate and close: its version, EOF (200 rounds)" py ftruncate
check "a reader after an appender's close: its version, EOF (200 rounds)" py append
check "a reader after an in-place rewrite and close: its version, EOF (200 rounds)" py rewrite

# Each case's first round writes a new file, and its reader opens right
# after the writer's close(2), while the kernel's RELEASE of the writer is
# still on its way: staged bytes made that reader bypass the page cache,
# and its mmap gave ENODEV (s37's CI, once, in the fallocate case).  With
# every writer's RELEASE 50 ms late, each round here is such a first one.
first_rounds() {
	"$PY" - "$M" <<'PYEOF'
import mmap, os, sys

OLD, ROUNDS, bad = b"old version\n", 20, []
for rnd in range(ROUNDS):
    p = os.path.join(sys.argv[1], "new.%d" % rnd)
    with open(p, "wb") as f:
        f.write(OLD)
    r = os.open(p, os.O_RDONLY)
    try:
        m = mmap.mmap(r, len(OLD), mmap.MAP_SHARED, mmap.PROT_READ)
        got = m[:]
        m.close()
    except OSError as e:
        got = "mmap: %s" % e.strerror
    os.close(r)
    os.unlink(p)
    if got != OLD:
        bad.append((rnd, got))
print("%d rounds; wrong (round, map): %s" % (ROUNDS, bad or "none"))
sys.exit(1 if bad else 0)
PYEOF
}
export MODELFS_TEST_RELEASE_DELAY_MS=50
check "umount, mount (writers' releases pause 50 ms)" mfs_remount "$M"
unset MODELFS_TEST_RELEASE_DELAY_MS
check "a reader right after a new file's close, its RELEASE late: it maps (20 rounds)" first_rounds

mfs_done
