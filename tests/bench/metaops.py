#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Namespace operations per second on a mount, beside a baseline directory.

    metaops.py [-n N] MOUNT_DIR BASELINE_DIR

Runs the same N operations of each kind (setxattr, chmod, utime, mkdir,
rename, rmdir, symlink, link, unlink, stat) in an empty directory under
each, one process, one call at a time, and prints a table: ops/s on each
and the ratio mount / baseline.  Each row is measured in the same run, on
the same machine, so the ratio carries over where the rates do not.
"""
import argparse
import os
import sys
import tempfile
import time


def ops(d, n):
    f = os.path.join(d, "x")
    open(f, "w").close()
    links = min(n, 900)  # below modelfs's 1,000 names per file (EMLINK)
    p = lambda fmt, i: os.path.join(d, fmt % i)
    return [
        ("setxattr", n, lambda: [os.setxattr(f, b"user.k%d" % (i % 50), b"v" * 20) for i in range(n)]),
        ("chmod", n, lambda: [os.chmod(f, 0o600 if i & 1 else 0o644) for i in range(n)]),
        ("utime", n, lambda: [os.utime(f, (i, i)) for i in range(n)]),
        ("mkdir", n, lambda: [os.mkdir(p("d%d", i)) for i in range(n)]),
        ("rename", n, lambda: [os.rename(p("d%d", i), p("e%d", i)) for i in range(n)]),
        ("rmdir", n, lambda: [os.rmdir(p("e%d", i)) for i in range(n)]),
        ("symlink", n, lambda: [os.symlink("x", p("s%d", i)) for i in range(n)]),
        ("link", links, lambda: [os.link(f, p("l%d", i)) for i in range(links)]),
        ("unlink", links, lambda: [os.unlink(p("l%d", i)) for i in range(links)]),
        ("stat", n, lambda: [os.lstat(p("s%d", i)) for i in range(n)]),
    ]


def rates(top, n):
    d = tempfile.mkdtemp(prefix="metaops.", dir=top)
    out = {}
    for name, count, fn in ops(d, n):
        t0 = time.monotonic()
        fn()
        out[name] = count / (time.monotonic() - t0)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("mount")
    ap.add_argument("baseline")
    a = ap.parse_args()
    m, b = rates(a.mount, a.n), rates(a.baseline, a.n)
    print("| op | mount ops/s | baseline ops/s | mount / baseline |")
    print("|---|---:|---:|---:|")
    for k in m:
        print("| %s | %.0f | %.0f | %.3fx |" % (k, m[k], b[k], m[k] / b[k]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
