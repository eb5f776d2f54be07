#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Many truncate(2)s of one path at once, and truncate(2) racing a rewrite
# (cp over the path) or a rename over it.  Each truncate with no writer
# open publishes a new version (a new inode); the kernel drops the path's
# dentry only after the reply, so a truncate racing it reaches a version
# already superseded.  The kernel retries an ESTALE once, looking the path
# up again; with three truncaters or more the retry can meet a superseded
# version again, and the caller saw ESTALE, which no program expects of a
# local filesystem.  No caller may see it, and the result must be one that
# tmpfs could give: the file is the smallest cut's bytes and zeros, at one
# truncater's size (never an older version's bytes back, never a mix).
# A lookup of the path racing those commits must find it (no ENOENT: the
# kernel's retry of an ESTALE looks it up while another commit lands).
# An open(2) for reading racing them must not fail either: one the daemon
# answered ESTALE (it came through a dentry from before a commit) is
# retried by the kernel once, and the retry's fresh lookup may meet a
# version superseded again; each descriptor must then hold one version
# whole, by read(2) and by a mapping, also while a cp rewrites the path
# (a truncate that reached an older version marked its readers with the
# size a cp's O_TRUNC had just staged: their map read zeros where read(2)
# had given their bytes).  A truncate's reply made the kernel zero, in
# place, the page a read(2) of that version had taken with the next one:
# it read 8192 bytes, A to the cut, zeros to 4096, then A (1 open in about
# 50,000).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

# py CASE: runs one case of the script below on $M.
py() {
	"$PY" - "$M" "$1" "$(cd "$(dirname "$0")" && pwd)" <<'PYEOF'
import errno, mmap, os, sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, sys.argv[3])
import racers  # noqa: E402 (tests/fs/racers.py)

top, case = sys.argv[1], sys.argv[2]
p = os.path.join(top, case)
SIZES = (100, 700, 3000, 5000, 12000)   # one per truncater
ROUNDS, LOOPS = 40, 60


def looping(call):
    return racers.looping(call, LOOPS)


def truncater(size):
    return looping(lambda i: os.truncate(p, size))


def last(data, i):
    # The last call writes Z: the file must end with its bytes, not an earlier one's.
    return data if i < LOOPS - 1 else b"Z" * len(data)


def copier(data):
    # What cp does to an existing destination: open(O_WRONLY|O_TRUNC), write, close.
    def call(i):
        fd = os.open(p, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o644)
        try:
            os.write(fd, last(data, i))
        finally:
            os.close(fd)
    return looping(call)


def renamer(data):
    tmp = p + ".tmp"
    def call(i):
        with open(tmp, "wb") as f:
            f.write(last(data, i))
        os.rename(tmp, p)
    return looping(call)


def appender(data):
    def call(i):
        fd = os.open(p, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    return looping(call)


def reader(fills, sizes):
    # open(2) for reading, as a loader does: fstat, read it all, map it.  The
    # descriptor holds one version whole (one writer's bytes, cut by
    # truncates, then zeros), the map the same as read(2).  (Its size moves
    # with the truncates, as on tmpfs; one whose open met a superseded
    # version reads with direct I/O, and its shared map fails: README.)
    def call(i):
        fd = os.open(p, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            got = os.pread(fd, 1 << 20, 0)
            head = got[:64]
            try:
                m = mmap.mmap(fd, 64, mmap.MAP_SHARED, mmap.PROT_READ)
                head = m[:]
                m.close()
            except ValueError:
                pass  # its size is below 64 now (python's own fstat)
            except OSError as e:
                if e.errno != errno.ENODEV:
                    raise
        finally:
            os.close(fd)
        if not any(valid(got, b, sizes) or straddled(got, b, size) for b in fills):
            raise racers.Wrong("not one version")
        if head != got[:64]:
            raise racers.Wrong("map != read")
    return looping(call)


def straddled(d, byte, before):
    # A read(2) that a cut overtook between two of its pages: it ends at the
    # page boundary below the size it started with, its version's bytes then
    # zeros.  tmpfs gives it too (it reads the size again for every page),
    # about 1 open in 1,000 in this race; a page of one cut beside a page of
    # another (zeros, then bytes again) is still wrong.
    k = len(d) - len(d.lstrip(byte))
    return 0 < len(d) < before and len(d) % 4096 == 0 and d[k:] == bytes(len(d) - k)


def reader_of_rewrites():
    # As reader(), while a cp rewrites the path too: the size a reader sees
    # may be the writer's and its map may fail (ENODEV) while the writer
    # writes (README), but its bytes are still one version's, by read(2)
    # and by the map, and past that version's end only zeros.
    def call(i):
        fd = os.open(p, os.O_RDONLY)
        try:
            got = os.pread(fd, 1 << 20, 0)
            head = None
            try:
                m = mmap.mmap(fd, 64, mmap.MAP_SHARED, mmap.PROT_READ)
                head = m[:]
                m.close()
            except ValueError:
                pass  # smaller than 64 now
            except OSError as e:
                if e.errno != errno.ENODEV:  # a descriptor with direct I/O
                    raise
        finally:
            os.close(fd)
        data = got.rstrip(b"\0")
        if len(set(data)) > 1:
            raise racers.Wrong("two versions read")
        n = min(len(got), 64)
        if head is not None and head[:n] != got[:n]:
            raise racers.Wrong("map != read")
    return looping(call)


def valid(d, byte, sizes):
    """tmpfs's results: a run of `byte`, then zeros, at one of sizes."""
    k = len(d) - len(d.lstrip(byte))
    return len(d) in sizes and d[k:] == bytes(len(d) - k)


total, bad = {}, []
for rnd in range(ROUNDS):
    with open(p, "wb") as f:
        f.write(b"A" * 8192)
    if case == "truncaters":
        errs = racers.procs([truncater(s) for s in SIZES])
        d = open(p, "rb").read()
        # Every truncate happened: the smallest cut holds, the last one's size.
        if len(d) not in SIZES or d != b"A" * min(SIZES) + bytes(len(d) - min(SIZES)):
            bad.append((rnd, len(d), d.count(b"A")))
    elif case == "links":
        # Two names of one file, truncated through both: one file, as on tmpfs.
        q = p + ".link"
        if rnd == 0:
            os.link(p, q)
        errs = racers.procs([truncater(s) for s in SIZES[:3]] +
                     [looping(lambda i, s=s: os.truncate(q, s)) for s in SIZES[3:]])
        d = open(p, "rb").read()
        if open(q, "rb").read() != d or os.stat(p).st_ino != os.stat(q).st_ino:
            bad.append((rnd, "the names differ"))
        elif len(d) not in SIZES or d != b"A" * min(SIZES) + bytes(len(d) - min(SIZES)):
            bad.append((rnd, len(d), d.count(b"A")))
    elif case == "reader":
        # A descriptor open through it all: the truncates that reach its
        # version hold for it (t0406), also those the daemon takes on to
        # the current one; read(2) and a mapping agree with its fstat, its
        # bytes then zeros.  (Truncates through newer versions do not
        # reach it: README.)
        r = os.open(p, os.O_RDONLY)
        errs = racers.procs([truncater(s) for s in SIZES])
        size = os.fstat(r).st_size
        got = os.pread(r, 1 << 20, 0)
        m = mmap.mmap(r, size, mmap.MAP_SHARED, mmap.PROT_READ) if size else b""
        if len(got) != size or m[:] != got or not valid(got, b"A", SIZES):
            bad.append((rnd, size, len(got), got.count(b"A")))
        os.close(r)
    elif case == "append":
        # O_APPEND writers open without O_TRUNC: their bytes start as the
        # current version's.  Only the truncaters' A, zeros and C can be there.
        errs = racers.procs([appender(b"C" * 10)] + [truncater(s) for s in SIZES[:3]])
        d = open(p, "rb").read()
        if d.strip(b"AC\0"):
            bad.append((rnd, len(d), d.count(b"A"), d.count(b"C")))
    elif case == "read":
        # Every open(2) lands on a version a truncate superseded at times.
        errs = racers.procs([reader((b"A",), SIZES[:3] + (8192,))] * 2 +
                            [truncater(s) for s in SIZES[:3]])
    elif case == "read-cp":
        errs = racers.procs([reader_of_rewrites()] * 2 + [copier(b"B" * 9000)] +
                            [truncater(s) for s in SIZES[:2]])
    elif case in ("cp", "rename"):
        writer = copier if case == "cp" else renamer
        errs = racers.procs([writer(b"B" * 9000)] + [truncater(s) for s in SIZES[:3]])
        d = open(p, "rb").read()
        # The last rewrite's Z, cut or grown by truncates after it; no A, no B.
        if not valid(d, b"Z", SIZES[:3] + (9000,)):
            bad.append((rnd, len(d), d.count(b"A"), d.count(b"B"), d.count(b"Z")))
    for k, v in errs.items():
        total[k] = total.get(k, 0) + v
print("errors (process, errno): %s; rounds with a result tmpfs cannot give: %s"
      % (total, bad or "none"))
if bad or total:
    sys.exit("errors (process, errno): %s; bad rounds (round, size, A[, B, Z]): %s"
             % (total, bad))
PYEOF
}

check "5 truncate(2)s of one path at once, 60 each: no ESTALE, a tmpfs result (40 rounds)" \
	py truncaters
check "truncate(2)s of two names of one file at once: no ESTALE, one file (40 rounds)" \
	py links
check "a reader open while 5 truncate(2)s run: read, mmap and fstat agree (40 rounds)" \
	py reader
check "truncate(2)s racing a cp over the path: no ESTALE, a tmpfs result (40 rounds)" py cp
check "truncate(2)s racing an O_APPEND writer: no ESTALE (40 rounds)" py append
check "truncate(2)s racing a rename over the path: no ESTALE, a tmpfs result (40 rounds)" \
	py rename
check "open(2)s for reading racing truncate(2)s: no ESTALE, one version each (40 rounds)" \
	py read
check "open(2)s for reading racing a cp and truncates: one version each (40 rounds)" py read-cp

mfs_done
