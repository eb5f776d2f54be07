#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A writer W rewrites a file (O_TRUNC), writes 2 MiB and fsyncs: the path
# moves to a new inode, and W writes on through the old one (a view,
# fuse/view.c).  Another writer X then opens the path, and both write one
# file, as on tmpfs (fuse/fs_internal.h note 4, fs_read.c join_view): a
# rewrite shorter, longer or as long as W's synced bytes (X's O_TRUNC
# reaches W's bytes through the view), an O_TRUNC and a write at an
# offset, a truncate(2) of the path to N and then a write, W writing again
# after X's open or after X's close, X reading what W wrote and W what X
# wrote, a reader that opens meanwhile, X's ftruncate, X's write or
# ftruncate over a dirty page of W's shared mapping, a truncate(2) of the
# path over one (older than join_view); with each order of
# the closes.  Each case runs on a tmpfs and on the mount: what was read,
# the sizes fstat and stat gave, and the file after, must be the same.
# Before, X staged its own bytes, starting from W's synced ones, not from
# the cut: a shorter rewrite kept W's tail (review s38), and 18 of the 20
# cases differed (x_ftruncate agreed, short-w-between at times).  W's synced bytes are 2 MiB; the last check runs four cases
# with 24 MiB, which the write-behind ingests while W writes.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
R=$WORK/ref
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"
check "tmpfs reference" mfs_tmpfs "$R" "256m,nosuid,nodev" || mfs_abort "no tmpfs"

cat >"$WORK/beside.py" <<'PYEOF'
# beside.py DIR [CASE...]: runs the cases in DIR, one line each.
import hashlib, mmap, os, sys

top = sys.argv[1]
only = sys.argv[2:]
MiB = (1 << 20) * int(os.environ.get("SCALE", "1"))


def blob(tag, n):
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(tag + i.to_bytes(8, "little")).digest()
        i += 1
    return bytes(out[:n])


def digest(b):
    return "%d:%s" % (len(b), hashlib.sha256(b).hexdigest()[:16])


class Case:
    def __init__(self, name):
        self.p = os.path.join(top, name)
        self.name = name
        self.seen = []
        with open(self.p, "wb") as f:
            f.write(blob(b"v0", 3 * MiB))
        self.w = os.open(self.p, os.O_RDWR | os.O_TRUNC)
        os.write(self.w, blob(b"v1", 2 * MiB))
        os.fsync(self.w)  # the path moves to a new inode; W writes on

    def note(self, label, v):
        self.seen.append("%s=%s" % (label, v))

    def size(self, label, fd=None):
        self.note(label, os.fstat(fd).st_size if fd is not None else os.stat(self.p).st_size)

    def done(self):
        with open(self.p, "rb") as f:
            self.note("file", digest(f.read()))
        print("%s %s" % (self.name, " ".join(self.seen)), flush=True)
        os.unlink(self.p)


cases = []


def case(f):
    cases.append(f)
    return f


for kind, n in (("short", 1), ("long", 3), ("equal", 2)):
    for order in ("x-first", "w-first", "w-between"):
        def rewrite(c, n=n, order=order):
            x = os.open(c.p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            c.size("x-open", x)
            if order == "w-between":
                os.close(c.w)
            os.write(x, blob(b"v2", n * MiB))
            c.size("path")
            c.size("x", x)
            if order == "w-first":
                os.close(c.w)
            os.close(x)
            if order == "x-first":
                os.close(c.w)
        rewrite.__name__ = "%s-%s" % (kind, order)
        case(rewrite)

for order in ("x-first", "w-first"):
    def partial(c, order=order):
        x = os.open(c.p, os.O_WRONLY | os.O_TRUNC)
        os.pwrite(x, b"P" * 100, 5000)
        c.size("x", x)
        if order == "w-first":
            os.close(c.w)
        os.close(x)
        if order == "x-first":
            os.close(c.w)
    partial.__name__ = "otrunc-partial-" + order
    case(partial)

    def truncate_write(c, order=order):
        os.truncate(c.p, MiB // 4)
        c.size("path-cut")
        x = os.open(c.p, os.O_WRONLY)
        c.size("x-open", x)
        os.pwrite(x, b"T" * 100, 1000)
        os.pwrite(x, b"U" * 100, MiB // 4 + 4096)
        c.size("x", x)
        if order == "w-first":
            os.close(c.w)
        os.close(x)
        if order == "x-first":
            os.close(c.w)
    truncate_write.__name__ = "truncate-then-write-" + order
    case(truncate_write)

    def w_again(c, order=order):
        x = os.open(c.p, os.O_WRONLY | os.O_TRUNC)
        os.write(c.w, b"w" * 10)  # at W's offset, past the cut
        os.write(x, blob(b"v2", MiB))
        c.size("path")
        if order == "w-first":
            os.close(c.w)
        os.close(x)
        if order == "x-first":
            os.close(c.w)
    w_again.__name__ = "w-writes-again-" + order
    case(w_again)


@case
def w_after_x_close(c):
    x = os.open(c.p, os.O_WRONLY | os.O_TRUNC)
    os.write(x, blob(b"v2", MiB))
    os.close(x)
    os.pwrite(c.w, b"w" * 10, 0)
    c.note("w-read", digest(os.pread(c.w, 64, 0)))
    os.close(c.w)


@case
def rdwr_reads(c):
    os.pwrite(c.w, b"after-fsync", 0)
    x = os.open(c.p, os.O_RDWR)
    c.note("x-read", digest(os.pread(x, 64, 0)))
    os.pwrite(x, b"from-x", 4)
    c.note("w-read", digest(os.pread(c.w, 64, 0)))
    c.note("x-read2", digest(os.pread(x, 64, 0)))
    os.close(x)
    os.close(c.w)


@case
def truncate_after_x_open(c):
    x = os.open(c.p, os.O_RDWR)
    os.truncate(c.p, 100)
    os.pwrite(x, b"x" * 10, 50)
    c.size("x", x)
    os.close(c.w)
    os.close(x)


@case
def x_ftruncate(c):
    x = os.open(c.p, os.O_WRONLY)
    os.ftruncate(x, MiB // 8)
    os.pwrite(x, b"f" * 10, 100)
    c.size("x", x)
    c.size("path")
    os.close(x)
    os.close(c.w)


@case
def reader_while_joined(c):
    os.pwrite(c.w, b"after-fsync", 0)
    x = os.open(c.p, os.O_RDWR)
    os.pwrite(x, b"from-x", 4)
    r = os.open(c.p, os.O_RDONLY)
    c.note("r-read", digest(os.pread(r, 64, 0)))
    os.pwrite(c.w, b"W", 0)
    c.note("r-read2", digest(os.pread(r, 64, 0)))
    c.size("r", r)
    os.close(x)
    os.close(c.w)
    c.note("r-read3", digest(os.pread(r, 64, 0)))
    os.close(r)


@case
def w_mapped_x_writes(c):
    # W's shared mapping holds a dirty page when X writes it: X's bytes win.
    m = mmap.mmap(c.w, 8192, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    x = os.open(c.p, os.O_RDWR)
    m[0:4096] = b"M" * 4096
    os.pwrite(x, b"X" * 100, 0)
    c.note("x-read", digest(os.pread(x, 4096, 0)))
    c.note("map", digest(m[0:4096]))
    m.close()
    os.close(x)
    os.close(c.w)


@case
def w_mapped_x_ftruncate(c):
    # ... and when X cuts it: the page does not grow the file again.
    m = mmap.mmap(c.w, 8192, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    x = os.open(c.p, os.O_RDWR)
    m[4096:8192] = b"M" * 4096
    os.ftruncate(x, 100)
    c.size("x", x)
    os.close(x)
    os.close(c.w)
    del m


@case
def w_mapped_path_truncate(c):
    # truncate(2) of the path cuts W's bytes through the view (no X):
    # W's dirty mapped page past the cut does not grow the file again.
    m = mmap.mmap(c.w, 8192, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    m[4096:8192] = b"M" * 4096
    os.truncate(c.p, 100)
    c.size("path")
    c.size("w", c.w)
    os.close(c.w)
    del m


for f in cases:
    if not only or f.__name__ in only:
        c = Case(f.__name__)
        f(c)
        c.done()
PYEOF

# same CASE...: the cases give the same lines on the mount as on the tmpfs.
same() {
	local ref got
	ref=$("$PY" "$WORK/beside.py" "$R" "$@") || return 1
	got=$("$PY" "$WORK/beside.py" "$M" "$@") || return 1
	[ "$ref" = "$got" ] && return 0
	echo "tmpfs:" && echo "$ref" && echo "mount:" && echo "$got"
	return 1
}

for c in short-x-first short-w-first short-w-between long-x-first long-w-first \
	long-w-between equal-x-first equal-w-first equal-w-between \
	otrunc-partial-x-first otrunc-partial-w-first truncate-then-write-x-first \
	truncate-then-write-w-first w-writes-again-x-first w-writes-again-w-first \
	w_after_x_close rdwr_reads truncate_after_x_open x_ftruncate reader_while_joined \
	w_mapped_x_writes w_mapped_x_ftruncate w_mapped_path_truncate; do
	check "$c: as on tmpfs" same "$c"
done
# big CASE...: the same with W's synced bytes 24 MiB.
big() { SCALE=12 same "$@"; }
check "four of them with W's 24 MiB (write-behind): as on tmpfs" \
	big short-x-first short-w-first truncate-then-write-w-first w-writes-again-x-first

mfs_done
