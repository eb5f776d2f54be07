#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# truncate(2) of a path that grows the file while a descriptor opened before
# is reading: the truncate publishes a new version (a new inode), and its
# reply gives the reader's inode the new size, as it would on tmpfs.  The
# reader's version ends sooner; what lies between is zeros on tmpfs, so the
# reader must read zeros there (mmap and read(2)), not SIGBUS or an early
# end of file.  Where its version has bytes it keeps reading them.  A
# rewrite (other bytes) keeps the per-open rule: the old reader reads its
# version, never the rewrite's bytes (README).  A cut holds for the reader
# too, and a later stat must not give it the old size back.  fsdiff
# --minimize cut seeds 44 and 42000 of make check-diff-long to the first and
# third cases.  Two truncates at once: the second must not cut the version
# the first superseded and publish it over the first's.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

# py CASE: runs one case of the script below on $M.
py() {
	"$PY" - "$M" "$1" <<'PYEOF'
import mmap, os, signal, stat, sys

top, case = sys.argv[1], sys.argv[2]
p = os.path.join(top, case)


def mapped(fd):
    """fstat's size and the mapping's bytes, read in a child (SIGBUS kills it)."""
    size = os.fstat(fd).st_size
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
        data = m[:]
        with os.fdopen(wfd, "wb") as w:
            w.write(data)
        os._exit(0)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as r:
        data = r.read()
    _, st = os.waitpid(pid, 0)
    if os.WIFSIGNALED(st):
        sys.exit("mmap read of %d bytes: killed by %s" % (size, signal.Signals(os.WTERMSIG(st)).name))
    return size, data


def read_all(fd):
    out, off = b"", 0
    while True:
        b = os.pread(fd, 1 << 16, off)
        if not b:
            return out
        out += b
        off += len(b)


def expect(what, got, want):
    if got != want:
        g = got if len(got) < 64 else got[:32] + b"..." + got[-32:]
        w = want if len(want) < 64 else want[:32] + b"..." + want[-32:]
        sys.exit("%s: %d bytes %r, want %d bytes %r" % (what, len(got), g, len(want), w))


if case == "empty":          # seed 44
    os.mknod(p, 0o644 | stat.S_IFREG)
    r = os.open(p, os.O_RDONLY)
    os.truncate(p, 174384)
    want = bytes(174384)
    size, data = mapped(r)
    expect("mmap through the reader", data, want)
    expect("read(2) through the reader", read_all(r), want)
    expect("a new open", open(p, "rb").read(), want)
    # The zeros are a hole, as on tmpfs.
    if os.lseek(r, 100, os.SEEK_HOLE) != 100:
        sys.exit("SEEK_HOLE at 100: %d" % os.lseek(r, 100, os.SEEK_HOLE))
elif case == "cut":
    with open(p, "wb") as f:
        f.write(b"A" * 5000)
    r = os.open(p, os.O_RDONLY)
    expect("the reader's first bytes", os.pread(r, 100, 0), b"A" * 100)
    os.truncate(p, 300)
    expect("read(2) through the reader", read_all(r), b"A" * 300)
    expect("mmap through the reader", mapped(r)[1], b"A" * 300)
elif case == "race":
    # Two truncate(2)s at once: each commits a new inode, and the second
    # may reach the first's old inode through the path's dentry before
    # the kernel drops it.  tmpfs gives 100 bytes of A, or 100 of A and
    # 4900 zeros; the bytes the first cut must never come back.
    seen = {}
    for i in range(300):
        with open(p, "wb") as f:
            f.write(b"A" * 8192)
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(wfd)
            os.read(rfd, 1)
            os.truncate(p, 100)
            os._exit(0)
        os.close(rfd)
        os.write(wfd, b"x")
        os.close(wfd)
        os.truncate(p, 5000)
        os.waitpid(pid, 0)
        d = open(p, "rb").read()
        key = (len(d), d.count(b"A"))
        seen[key] = seen.get(key, 0) + 1
    bad = {k: v for k, v in seen.items() if k not in ((100, 100), (5000, 100))}
    if bad:
        sys.exit("(size, bytes of A): rounds %s" % seen)
elif case == "data":
    with open(p, "wb") as f:
        f.write(b"A" * 5000)
    r = os.open(p, os.O_RDONLY)
    expect("the reader's first bytes", os.pread(r, 100, 0), b"A" * 100)
    os.truncate(p, 300000)
    want = b"A" * 5000 + bytes(295000)
    expect("read(2) through the reader", read_all(r), want)
    expect("mmap through the reader", mapped(r)[1], want)
    expect("a new open", open(p, "rb").read(), want)
    # A rewrite after it: the reader keeps what it had, a new open the rewrite.
    with open(p, "wb") as f:
        f.write(b"B" * 7000)
    expect("the reader after a rewrite", read_all(r), want)
    expect("a new open of the rewrite", open(p, "rb").read(), b"B" * 7000)
elif case == "rdonly_trunc":  # seed 42000
    os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o644))
    r = os.open(p, os.O_RDONLY | os.O_TRUNC)
    os.truncate(p, 51704)
    want = bytes(51704)
    expect("mmap through the reader", mapped(r)[1], want)
    expect("read(2) through the reader", read_all(r), want)
elif case == "rewrite":
    # Other bytes, not a truncate: the old reader reads its version's
    # bytes and never the rewrite's.  Past its end the kernel may still
    # have the writer's size (README): only zeros or the end of file.
    for i in range(10):
        q = "%s%d" % (p, i)
        with open(q, "wb") as f:
            f.write(b"A" * 5000)
        r = os.open(q, os.O_RDONLY)
        expect("the reader's first bytes", os.pread(r, 100, 0), b"A" * 100)
        with open(q, "wb") as f:
            f.write(b"B" * 300000)
        got = read_all(r)
        expect("round %d: read(2) through the old reader" % i, got[:5000], b"A" * 5000)
        expect("round %d: past its version's end" % i, got[5000:], bytes(len(got) - 5000))
        expect("round %d: a new open" % i, open(q, "rb").read(), b"B" * 300000)
        os.close(r)
PYEOF
}

check "empty file, reader open, truncate(2) grows it: the reader maps and reads zeros" py empty
check "5000 bytes, reader open, truncate(2) grows it: its bytes, then zeros" py data
check "O_RDONLY|O_TRUNC reader, truncate(2) grows the file: zeros, no SIGBUS" py rdonly_trunc
check "a rewrite with other bytes: the old reader never reads them" py rewrite
check "truncate(2) cuts the file: the reader reads up to the cut" py cut
check "two truncate(2)s at once: no cut bytes come back (300 rounds)" py race

mfs_done
