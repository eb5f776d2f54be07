#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A reader that opens a file while a writer has it open reads what the
# writer wrote, as on any POSIX filesystem: every write(2) that returned is
# in what a read(2) through another descriptor returns, though the writer
# has not closed (README, "Versions"; fuse/fs_internal.h note 6).  Once the
# last writer closed, the reader keeps that version, as any reader keeps
# the version it opened.  Cases: a new file; a rewrite; a rewrite beside a
# reader of the old version (the one exception: the new reader reads the
# old version); a follower's private mapping; a writer that goes on after
# fsync (the path has a new inode: the reader opens that one); the file
# unlinked before the writer closes (its bytes were never published); a
# file past the write-behind's lead, whose early bytes are out of the
# staged file; a rewrite's follower, then truncate(2)s of the path.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

# py CASE: runs CASE on $M; prints what differs and fails.
py() {
	"$PY" - "$M" "$1" <<'PYEOF'
import hashlib, os, sys

top, case = sys.argv[1], sys.argv[2]
p = os.path.join(top, case)
bad = []


def want(what, got, exp):
    if got != exp:
        show = lambda b: b if not isinstance(b, bytes) or len(b) < 64 else \
            "%d bytes sha %s" % (len(b), hashlib.sha256(b).hexdigest()[:12])
        bad.append("%s: got %r, want %r" % (what, show(got), show(exp)))


def whole(fd):
    return os.pread(fd, 1 << 20, 0)


if case == "truncated":
    # A rewrite publishes a new inode; the follower settles on its version
    # and must see truncate(2)s of the path as that inode's readers do
    # (tmpfs: one file).  It read all 10 bytes after a cut to 3 (s38
    # review, finding 7).  (A second truncate(2) after a cut reaches no
    # reader of the cut version, follower or not: left, s40 posixfix.)
    for size in (3, 15):
        with open(p, "wb") as f:
            f.write(b"the version before")
        w = os.open(p, os.O_WRONLY | os.O_TRUNC)
        os.write(w, b"0123456789")
        r = os.open(p, os.O_RDONLY)
        os.close(w)
        want("read after the close", whole(r), b"0123456789")
        os.truncate(p, size)
        exp = (b"0123456789" + bytes(5))[:size]
        want("read after truncate(2) to %d" % size, whole(r), exp)
        want("fstat after truncate(2) to %d" % size, os.fstat(r).st_size, size)
        os.close(r)
        with open(p, "rb") as f:
            want("a new reader after truncate(2) to %d" % size, f.read(), exp)

if case == "new":
    w = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(w, b"first part")
    r = os.open(p, os.O_RDONLY)
    want("read before the writer closes", whole(r), b"first part")
    want("fstat before the writer closes", os.fstat(r).st_size, 10)
    os.write(w, b", second part")
    want("read after another write", whole(r), b"first part, second part")
    os.ftruncate(w, 5)
    want("read after ftruncate", whole(r), b"first")
    os.close(w)
    want("read after the close", whole(r), b"first")
    w = os.open(p, os.O_WRONLY | os.O_TRUNC)
    os.write(w, b"a later version")
    os.close(w)
    want("read after a later version (it keeps the one it followed)", whole(r), b"first")
    os.close(r)
elif case == "rewrite":
    with open(p, "wb") as f:
        f.write(b"old version")
    w = os.open(p, os.O_WRONLY | os.O_TRUNC)
    os.write(w, b"new version, longer")
    r = os.open(p, os.O_RDONLY)
    want("reader opened during the rewrite", whole(r), b"new version, longer")
    os.close(w)
    want("reader after the close", whole(r), b"new version, longer")
    w = os.open(p, os.O_WRONLY | os.O_TRUNC)
    os.write(w, b"third")
    os.close(w)
    want("reader after a later version (it keeps the one it followed)", whole(r),
         b"new version, longer")
    os.close(r)
elif case == "rdwr":
    # A writer that has changed nothing yet (np.memmap(mode='r+')): the
    # follower reads the version's bytes, then the writer's once it writes.
    v = hashlib.sha256(b"v").digest() * 2048  # 64 KiB
    with open(p, "wb") as f:
        f.write(v)
    w = os.open(p, os.O_RDWR)
    r = os.open(p, os.O_RDONLY)
    want("follower of an unchanged file", whole(r), v)
    os.pwrite(w, b"XY", 100)
    want("follower after the writer's first write", whole(r), v[:100] + b"XY" + v[102:])
    os.close(w)
    want("follower after the close", whole(r), v[:100] + b"XY" + v[102:])
    os.close(r)
elif case == "oldreader":
    # Beside a reader of the old version the writer bypasses the page
    # cache, which stays the old version's: a new reader reads that one.
    with open(p, "wb") as f:
        f.write(b"old version")
    old = os.open(p, os.O_RDONLY)
    want("old reader", whole(old), b"old version")
    w = os.open(p, os.O_WRONLY | os.O_TRUNC)
    os.write(w, b"new version, longer")
    r = os.open(p, os.O_RDONLY)
    want("reader opened beside the old reader", os.pread(r, 100, 0)[:11], b"old version")
    want("old reader during the rewrite", os.pread(old, 100, 0)[:11], b"old version")
    os.close(w)
    want("old reader after the close", whole(old), b"old version")
    r2 = os.open(p, os.O_RDONLY)
    want("a new open after the close", whole(r2), b"new version, longer")
    for fd in (r, r2, old):
        os.close(fd)
elif case == "mapped":
    # A follower's private mapping fills the inode's page cache: after the
    # writer's close, a rewrite must not read those pages back as its own.
    import mmap
    w = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(w, b"A" * 8192)
    r = os.open(p, os.O_RDONLY)
    os.close(w)
    m = mmap.mmap(r, 8192, mmap.MAP_PRIVATE, mmap.PROT_READ)
    want("the follower's private map", m[:4], b"AAAA")
    w = os.open(p, os.O_RDWR)
    os.pwrite(w, b"B" * 4096, 0)
    want("the rewriter reads its own bytes", os.pread(w, 4, 0), b"BBBB")
    want("the follower keeps its version", os.pread(r, 4, 0), b"AAAA")
    m.close()
    os.close(w)
    os.close(r)
elif case == "fsync":
    with open(p, "wb") as f:
        f.write(b"v1")
    w = os.open(p, os.O_WRONLY | os.O_TRUNC)
    os.write(w, b"synced")
    os.fsync(w)
    os.write(w, b" and more")
    r = os.open(p, os.O_RDONLY)
    want("reader of the path after fsync, writer writing on", whole(r), b"synced and more")
    os.write(w, b"!")
    want("the same reader after another write", whole(r), b"synced and more!")
    os.close(w)
    want("the same reader after the close", whole(r), b"synced and more!")
    os.close(r)
elif case == "unlinked":
    w = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(w, b"never published")
    os.ftruncate(w, 1 << 17)
    r = os.open(p, os.O_RDONLY)
    os.unlink(p)
    os.close(w)
    exp = b"never published" + bytes((1 << 17) - 15)
    want("reader of an unlinked file after its writer closed", whole(r), exp)
    want("its fstat", os.fstat(r).st_size, 1 << 17)
    # Its staged file is its own: a new file's bytes must not show through it.
    w = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(w, b"X" * 1000)
    os.close(w)
    want("the unlinked file's reader after a new file was written", whole(r), exp)
    os.close(r)
elif case == "big":
    # Past the write-behind's lead (128 MiB by default): the early bytes
    # are in stored chunks, no longer in the staged file.
    block = hashlib.sha256(b"seed").digest() * (1 << 15)  # 1 MiB
    w = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
    for i in range(160):
        os.write(w, bytes([i]) * 16 + block[16:])
    r = os.open(p, os.O_RDONLY)
    h = hashlib.sha256()
    n = 0
    while True:
        b = os.read(r, 1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    exp = hashlib.sha256()
    for i in range(160):
        exp.update(bytes([i]) * 16 + block[16:])
    want("bytes read while the writer still has it open", (n, h.hexdigest()),
         (160 << 20, exp.hexdigest()))
    os.write(w, b"tail")
    os.close(w)
    want("the tail after the close", os.pread(r, 10, 160 << 20), b"tail")
    os.close(r)
    with open(p, "rb") as f:
        exp.update(b"tail")
        want("a new open reads the whole file", hashlib.sha256(f.read()).hexdigest(),
             exp.hexdigest())
for b in bad:
    print(case + ": " + b)
sys.exit(1 if bad else 0)
PYEOF
}

check "new file: a second descriptor reads the writer's bytes before close" py new
check "rewrite: a reader opened during it reads the new bytes, then keeps them" py rewrite
check "an O_RDWR writer that has written nothing yet, then writes: the reader follows" py rdwr
check "rewrite beside a reader of the old version: a new reader reads the old" py oldreader
check "a follower's private mapping does not leak into a later rewrite" py mapped
check "after fsync: a reader of the path reads what the writer wrote on" py fsync
check "unlinked before the writer closed: the reader keeps its bytes" py unlinked
check "160 MiB (write-behind): a reader during the write reads every byte" py big
check "a rewrite's follower, then truncate(2) of the path: it reads the cut, or zeros after" py truncated
check "fsck is clean" expect_status 0 "$ADMIN_BIN" fsck "$M"

mfs_done
