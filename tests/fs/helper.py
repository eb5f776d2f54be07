# SPDX-License-Identifier: Apache-2.0
"""Small system-call helpers for the tests/fs scripts (run with /usr/bin/python3).

Shell tools report errors as localised text; these report errno names, read
files block by block to tell EIO from wrong bytes, and hold files open at a
chosen point so a script can act (rewrite, kill the daemon) while they wait.
Synchronisation with the calling script is by signal files polled with a
bounded number of tries, never by fixed sleeps.

    helper.py sha256 FILE...
    helper.py errno OP ARG...           prints OK or the errno name (ENOENT, ...)
    helper.py randread FILE REF COUNT SEED
    helper.py blockcheck FILE REF BLOCK
    helper.py reader FILE READY GO      read half, signal, wait, read the rest
    helper.py mmapreader FILE READY GO  the same through a shared mapping
    helper.py hold-writer FILE SRC READY   write half of SRC, signal, block
    helper.py close-writer FILE SRC READY  write SRC, signal, then close
    helper.py write-report FILE SRC     write SRC; report where an error came
"""
import ctypes
import errno
import hashlib
import mmap
import os
import random
import sys
import time

BLOCK = 1 << 20


def signal(path, text="1"):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def wait_file(path, tries=1200, step=0.05):
    for _ in range(tries):
        if os.path.exists(path):
            return True
        time.sleep(step)
    return False


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while True:
            b = f.read(BLOCK)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def cmd_sha256(args):
    rc = 0
    for p in args:
        try:
            print(sha256_file(p))
        except OSError as e:
            print("%s: %s" % (p, e), file=sys.stderr)
            rc = 1
    return rc


def renameat2(a, b, flags):
    libc = ctypes.CDLL(None, use_errno=True)
    AT_FDCWD = -100
    r = libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), flags)
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def cmd_errno(args):
    op, a = args[0], args[1:]
    ops = {
        "rmdir": lambda: os.rmdir(a[0]),
        "unlink": lambda: os.unlink(a[0]),
        "mkdir": lambda: os.mkdir(a[0]),
        "rename": lambda: os.rename(a[0], a[1]),
        "rename_noreplace": lambda: renameat2(a[0], a[1], 1),
        "rename_exchange": lambda: renameat2(a[0], a[1], 2),
        "link": lambda: os.link(a[0], a[1]),
        "symlink": lambda: os.symlink(a[0], a[1]),
        "mkfifo": lambda: os.mkfifo(a[0]),
        "mknod_chr": lambda: os.mknod(a[0], 0o600 | 0o020000, os.makedev(1, 3)),
        "stat": lambda: os.stat(a[0]),
        "lstat": lambda: os.lstat(a[0]),
        "readlink": lambda: os.readlink(a[0]),
        "open": lambda: os.close(os.open(a[0], os.O_RDONLY)),
        "create_excl": lambda: os.close(os.open(a[0], os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)),
        "write": lambda: write_close(a[0], a[1].encode()),
        "truncate": lambda: os.truncate(a[0], int(a[1])),
        "setxattr": lambda: os.setxattr(a[0], a[1], a[2].encode()),
        "setxattr_create": lambda: os.setxattr(a[0], a[1], a[2].encode(), os.XATTR_CREATE),
        "setxattr_replace": lambda: os.setxattr(a[0], a[1], a[2].encode(), os.XATTR_REPLACE),
        "getxattr": lambda: os.getxattr(a[0], a[1]),
        "removexattr": lambda: os.removexattr(a[0], a[1]),
        "bind_unix": lambda: bind_unix(a[0]),
    }
    try:
        ops[op]()
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)))
        return 0
    print("OK")
    return 0


def write_close(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def bind_unix(path):
    import socket
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(path)
    finally:
        s.close()


def cmd_randread(args):
    """COUNT reads of 1 B..256 KiB at random offsets, checked against REF."""
    path, ref, count, seed = args[0], args[1], int(args[2]), int(args[3])
    rnd = random.Random(seed)
    size = os.path.getsize(ref)
    bad = 0
    with open(path, "rb", buffering=0) as f, open(ref, "rb", buffering=0) as r:
        for _ in range(count):
            n = rnd.randint(1, 256 << 10)
            off = rnd.randint(0, size - 1)
            got = os.pread(f.fileno(), n, off)
            want = os.pread(r.fileno(), n, off)
            if got != want:
                bad += 1
                print("mismatch at offset %d len %d (got %d bytes)" % (off, n, len(got)))
    return 1 if bad else 0


def cmd_blockcheck(args):
    """Reads FILE block by block: every block must be EIO or equal to REF."""
    path, ref, bs = args[0], args[1], int(args[2])
    size = os.path.getsize(ref)
    eio = bad = other = 0
    with open(path, "rb", buffering=0) as f, open(ref, "rb", buffering=0) as r:
        for off in range(0, size, bs):
            want = os.pread(r.fileno(), bs, off)
            try:
                got = os.pread(f.fileno(), bs, off)
            except OSError as e:
                if e.errno == errno.EIO:
                    eio += 1
                else:
                    other += 1
                    print("block at %d: %s" % (off, e))
                continue
            if got != want[:len(got)]:
                bad += 1
                print("block at %d: WRONG BYTES (%d read)" % (off, len(got)))
            elif not got:
                bad += 1
                print("block at %d: premature end of file" % off)
    print("eio=%d bad=%d other=%d" % (eio, bad, other))
    return 1 if bad or other else 0


def read_exact(f, n):
    out = bytearray()
    while len(out) < n:
        b = f.read(n - len(out))
        if not b:
            break
        out += b
    return bytes(out)


def cmd_reader(args):
    path, ready, go = args
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        first = read_exact(f, size // 2)
        h.update(first)
        signal(ready, str(os.fstat(f.fileno()).st_ino))
        if not wait_file(go):
            print("reader: no go signal", file=sys.stderr)
            return 3
        n = len(first)
        while True:
            b = f.read(BLOCK)
            if not b:
                break
            n += len(b)
            h.update(b)
    print(n, h.hexdigest())
    return 0


def cmd_mmapreader(args):
    path, ready, go = args
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        m = mmap.mmap(f.fileno(), size, mmap.MAP_SHARED, mmap.PROT_READ)
        hashlib.sha256(m[:size // 2]).hexdigest()  # fault in the first half
        signal(ready)
        if not wait_file(go):
            print("mmapreader: no go signal", file=sys.stderr)
            return 3
        print(size, hashlib.sha256(m[:]).hexdigest())
        m.close()
    return 0


def cmd_hold_writer(args):
    """Overwrites FILE with the first half of SRC, signals, then blocks."""
    path, src, ready = args
    size = os.path.getsize(src)
    with open(src, "rb") as s, open(path, "wb", buffering=0) as f:
        done = 0
        while done < size // 2:
            b = s.read(min(BLOCK, size // 2 - done))
            f.write(b)
            done += len(b)
        signal(ready, str(done))
        # Killed by the test from here; never reaches close.
        while True:
            time.sleep(3600)


def cmd_close_writer(args):
    """Writes all of SRC to FILE, signals just before close, reports close."""
    path, src, ready = args
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with open(src, "rb") as s:
        while True:
            b = s.read(BLOCK)
            if not b:
                break
            os.write(fd, b)
    signal(ready)
    try:
        os.close(fd)
    except OSError as e:
        print("close:", errno.errorcode.get(e.errno, e.errno))
        return 1
    print("close: OK")
    return 0


def cmd_write_report(args):
    """Writes SRC to FILE; prints OK, or where the error came from and its errno."""
    path, src = args
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as e:
        print("open", errno.errorcode.get(e.errno, e.errno))
        return 0
    off = 0
    with open(src, "rb") as s:
        while True:
            b = s.read(BLOCK)
            if not b:
                break
            try:
                os.write(fd, b)
            except OSError as e:
                print("write@%d" % off, errno.errorcode.get(e.errno, e.errno))
                try:
                    os.close(fd)
                except OSError:
                    pass
                return 0
            off += len(b)
    try:
        os.close(fd)
    except OSError as e:
        print("close", errno.errorcode.get(e.errno, e.errno))
        return 0
    print("OK")
    return 0


def main():
    cmds = {
        "sha256": cmd_sha256,
        "errno": cmd_errno,
        "randread": cmd_randread,
        "blockcheck": cmd_blockcheck,
        "reader": cmd_reader,
        "mmapreader": cmd_mmapreader,
        "hold-writer": cmd_hold_writer,
        "close-writer": cmd_close_writer,
        "write-report": cmd_write_report,
    }
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    return cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
