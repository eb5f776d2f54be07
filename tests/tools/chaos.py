#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Workload and checks of the peer chaos driver (tests/fs/t1357-peers-chaos.sh).

  chaos.py write PATH SEED SIZE      writes SIZE bytes that follow from SEED to
                                     PATH (a file in a mount), closes it and
                                     prints "SHA256 SIZE"
  chaos.py readall MNT REFS OUT      reads every file REFS lists ("NAME SHA SIZE"
                                     lines) under MNT and writes a line per file
                                     to OUT: "ok NAME", "eio NAME OFF" (EIO, or
                                     ENODATA/ETIMEDOUT/EAGAIN, which a read of
                                     chunks nobody up holds may give), "bad NAME
                                     ..." (wrong bytes, a short file, any other
                                     error).  OUT is written whole at the end
                                     (renamed in), so its presence says done.
                                     Exit status 0: all ok; 1: some eio; 2: bad.

  chaos.py midread PATH SHA SIZE TAG
                                     reads the first half of PATH, makes
                                     TAG.ready, waits for TAG.go, reads the
                                     rest and writes TAG.out: "ok", "eio OFF
                                     ERRNO" or "bad ..." (a reader caught
                                     mid-file by a fault)

The bytes of a file follow from its seed alone, so that a failing run can be
replayed with the same MFS_CHAOS_SEED.
"""
import errno
import hashlib
import os
import random
import sys
import time

BLOCK = 1 << 20
SOFT = {errno.EIO, errno.ENODATA, errno.ETIMEDOUT, errno.EAGAIN}


def gen_blocks(seed, size):
    rng = random.Random(seed)
    # Some runs of repeated bytes among the random ones, so that chunks dedup
    # across files (shared chunks must keep the largest factor among them).
    common = random.Random(7).randbytes(BLOCK)
    left = size
    while left > 0:
        n = min(BLOCK, left)
        if rng.random() < 0.2:
            yield common[:n]
        else:
            yield rng.randbytes(n)
        left -= n


def cmd_write(path, seed, size):
    h = hashlib.sha256()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for b in gen_blocks(int(seed), int(size)):
            h.update(b)
            off = 0
            while off < len(b):
                off += os.write(fd, b[off:])
    finally:
        os.close(fd)
    print(h.hexdigest(), size)


def read_one(path, sha, size):
    h, n = hashlib.sha256(), 0
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        if e.errno in SOFT:
            return "eio", "open %s" % errno.errorcode.get(e.errno, e.errno)
        return "bad", "open: %s" % os.strerror(e.errno)
    try:
        while True:
            b = os.read(fd, BLOCK)
            if not b:
                break
            h.update(b)
            n += len(b)
    except OSError as e:
        if e.errno in SOFT:
            return "eio", "%s at %d" % (errno.errorcode.get(e.errno, e.errno), n)
        return "bad", "%s at %d" % (os.strerror(e.errno), n)
    finally:
        os.close(fd)
    if n != size:
        return "bad", "read %d bytes of %d" % (n, size)
    if h.hexdigest() != sha:
        return "bad", "WRONG BYTES: sha %s, want %s" % (h.hexdigest(), sha)
    return "ok", ""


def cmd_readall(mnt, refs, out):
    worst, lines = 0, []
    with open(refs) as f:
        for line in f:
            name, sha, size = line.split()
            kind, why = read_one(os.path.join(mnt, name), sha, int(size))
            worst = max(worst, {"ok": 0, "eio": 1, "bad": 2}[kind])
            lines.append(("%s %s %s" % (kind, name, why)).rstrip())
    with open(out + ".tmp", "w") as f:
        f.write("".join(l + "\n" for l in lines))
    os.rename(out + ".tmp", out)
    return worst


def cmd_midread(path, sha, size, tag):
    size = int(size)
    h, n, res = hashlib.sha256(), 0, None
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            while n < size // 2:
                b = os.read(fd, min(BLOCK, size // 2 - n))
                if not b:
                    break
                h.update(b)
                n += len(b)
            open(tag + ".ready", "w").close()
            while not os.path.exists(tag + ".go"):
                time.sleep(0.05)
            while True:
                b = os.read(fd, BLOCK)
                if not b:
                    break
                h.update(b)
                n += len(b)
        finally:
            os.close(fd)
    except OSError as e:
        kind = "eio" if e.errno in SOFT else "bad"
        res = "%s %d %s" % (kind, n, errno.errorcode.get(e.errno, e.errno))
    if res is None:
        if n != size:
            res = "bad read %d bytes of %d" % (n, size)
        elif h.hexdigest() != sha:
            res = "bad WRONG BYTES: sha %s, want %s" % (h.hexdigest(), sha)
        else:
            res = "ok"
    open(tag + ".ready", "a").close()  # also when it failed before half-way
    with open(tag + ".out.tmp", "w") as f:
        f.write(res + "\n")
    os.rename(tag + ".out.tmp", tag + ".out")
    return 0


def main():
    a = sys.argv[1:]
    if len(a) == 4 and a[0] == "write":
        cmd_write(*a[1:])
        return 0
    if len(a) == 5 and a[0] == "midread":
        return cmd_midread(*a[1:])
    if len(a) == 4 and a[0] == "readall":
        return cmd_readall(*a[1:])
    sys.stderr.write(__doc__)
    return 64


if __name__ == "__main__":
    sys.exit(main())
