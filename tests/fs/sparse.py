# SPDX-License-Identifier: Apache-2.0
"""Sparse files of 1 TiB for t0332 and t1146: written with data at a few
offsets, checked by reading the data, some of the zeros around it and in
its holes (never the whole file), and by lseek SEEK_DATA / SEEK_HOLE.

  sparse.py write PATH         data at SEGS, the file 1 TiB
  sparse.py rewrite PATH       4 KiB more at 300 GiB, through r+b
  sparse.py verify PATH [--rewritten]
"""
import errno
import os
import random
import sys

TiB = 1 << 40
GiB = 1 << 30
MiB = 1 << 20
CHUNK_MAX = 4 * MiB  # the longest chunk (store/chunk/chunker.h)

# offset, length: the last one ends at 1 TiB, so the file is written to its size.
SEGS = [(0, 4096), (200 * GiB + 12345, MiB), (600 * GiB - 1, 3), (TiB - 5000, 5000)]
REWRITE = (300 * GiB, 4096)


def seg_bytes(off, n):
    return random.Random(off).randbytes(n)


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def write(path):
    with open(path, "wb") as f:
        for off, n in SEGS:
            f.seek(off)
            f.write(seg_bytes(off, n))


def rewrite(path):
    with open(path, "r+b") as f:
        f.seek(REWRITE[0])
        f.write(seg_bytes(*REWRITE))


def seek(fd, off, whence):
    try:
        return os.lseek(fd, off, whence)
    except OSError as e:
        if e.errno == errno.ENXIO:
            return "ENXIO"
        raise


def verify(path, rewritten):
    segs = SEGS + ([REWRITE] if rewritten else [])
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size != TiB:
            fail("size %d, want %d" % (size, TiB))
        for off, n in segs:
            got = os.pread(fd, n, off)
            if got != seg_bytes(off, n):
                fail("data at %d (%d bytes) differs" % (off, n))
            # The zeros on both sides of it, within its chunks.
            for zoff in (off - 65536, off + n):
                if 0 <= zoff and zoff + 65536 <= TiB and not any(
                        s[0] < zoff + 65536 and zoff < s[0] + s[1] for s in segs):
                    if os.pread(fd, 65536, zoff) != bytes(65536):
                        fail("zeros at %d read as data" % zoff)
        for hoff in (100 * GiB, 450 * GiB + 77, TiB - 5000 - 4 * MiB):
            if os.pread(fd, MiB, hoff) != bytes(MiB):
                fail("the hole at %d reads as data" % hoff)
        if os.pread(fd, 100, TiB - 10) != seg_bytes(TiB - 5000, 5000)[-10:]:
            fail("the last 10 bytes differ")
        # Every data extent holds a segment, within a chunk of it.
        pos, data = 0, 0
        while True:
            d = seek(fd, pos, os.SEEK_DATA)
            if d == "ENXIO":
                break
            h = seek(fd, d, os.SEEK_HOLE)
            if not any(d <= s[0] + s[1] and s[0] <= h and s[0] - d <= 2 * CHUNK_MAX
                       and h - s[0] - s[1] <= 2 * CHUNK_MAX for s in segs):
                fail("data extent [%d, %d) holds no segment" % (d, h))
            data += h - d
            pos = h
        if data > len(segs) * 4 * CHUNK_MAX:
            fail("%d bytes of data extents" % data)
        for off, n in segs:
            d = seek(fd, off, os.SEEK_DATA)
            if d != off:
                fail("SEEK_DATA at %d: %s" % (off, d))
            h = seek(fd, off, os.SEEK_HOLE)
            if h == "ENXIO" or h < off + n:
                fail("SEEK_HOLE at %d: %s, before the data ends" % (off, h))
        if seek(fd, TiB - 1, os.SEEK_HOLE) != TiB:
            fail("SEEK_HOLE of the last byte is not the end")
        if seek(fd, TiB, os.SEEK_DATA) != "ENXIO":
            fail("SEEK_DATA at the end is not ENXIO")
        if seek(fd, 100 * GiB, os.SEEK_HOLE) != 100 * GiB:
            fail("SEEK_HOLE in a hole is not where it was asked")
        print("data extents: %d bytes" % data)
    finally:
        os.close(fd)


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "write":
        write(path)
    elif cmd == "rewrite":
        rewrite(path)
    elif cmd == "verify":
        verify(path, "--rewritten" in sys.argv[3:])
    else:
        fail("unknown command " + cmd)


main()
