#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Changes of one name or one xattr on a file that has many, per second.

    many_names.py DIR SECS SIZES [DAEMON_PID]

For each N of SIZES (comma separated): a file with N names (at most 999:
a record lists MFS_LINK_MAX = 1000) gets one more name and loses it again
(link + unlink), and a file with N xattrs gets one more and loses it
(setxattr + removexattr), for SECS seconds each.  Prints the pairs per
second and, given the daemon's pid, its CPU microseconds per pair (user +
sys from /proc), which the load of a shared machine moves far less than
the rate.  DIR must not exist (it is made).  Compare builds mounted side
by side in one session, and a tmpfs:

    many_names.py /mnt/a/r1 3 10,100,1000,3000 "$(cat DATA/modelfs.pid)"

Both counts must stay flat in N (stress-ng --link and --xattr, cp -al and
rsync --link-dest make files of many names or attributes).
"""
import os
import sys
import time


def cpu(pid, tck):
    if not pid:
        return 0.0
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tck


def rate(fn, secs, pid, tck):
    n, c0, t0 = 0, cpu(pid, tck), time.monotonic()
    while True:
        fn()
        n += 1
        dt = time.monotonic() - t0
        if dt >= secs:
            return n / dt, (cpu(pid, tck) - c0) / n * 1e6


def main():
    root, secs = sys.argv[1], float(sys.argv[2])
    sizes = [int(x) for x in sys.argv[3].split(",")]
    pid = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    tck = os.sysconf("SC_CLK_TCK")
    os.mkdir(root)
    for n in sizes:
        d = os.path.join(root, "b%d" % n)
        os.mkdir(d)
        f, x = os.path.join(d, "f"), os.path.join(d, "x")
        open(f, "w").close()
        names = min(n, 999)
        for i in range(1, names):
            os.link(f, os.path.join(d, "l%05d" % i))

        def link_unlink():
            os.link(f, x)
            os.unlink(x)
        r1, c1 = rate(link_unlink, secs, pid, tck)
        g = os.path.join(d, "g")
        open(g, "w").close()
        for i in range(n):
            os.setxattr(g, "user.a%05d" % i, b"v" * 16)

        def set_remove():
            os.setxattr(g, "user.zz", b"w" * 16)
            os.removexattr(g, "user.zz")
        r2, c2 = rate(set_remove, secs, pid, tck)
        assert len(os.listxattr(g)) == n and os.stat(f).st_nlink == names
        print("N=%-5d names=%-4d link+unlink %9.1f/s %7.0f us-cpu   "
              "xattrs=%-5d set+remove %9.1f/s %7.0f us-cpu" % (n, names, r1, c1, n, r2, c2),
              flush=True)


if __name__ == "__main__":
    main()
