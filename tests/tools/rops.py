#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Random namespace and data operations on one tree, for the cluster torture
test (tests/fs/t1495-peers-random-ops.sh): run one of these on each node's
mount at once, over the same few names, so that the nodes' ops race on the
same paths; then the test checks that the trees converge and fsck is clean.

    rops.py ROOT SEED COUNT [LOG]
    rops.py --self-test

Each op picks paths in ROOT from a small set of names (depth 1-3), mostly
among the entries that exist, and does one of: mkdir, create and write,
append, overwrite in place, truncate, rename (files and directories), link,
symlink, unlink, rmdir, chmod, utime, setxattr, removexattr, or a read of a
whole file.  An op that fails the way a race on shared names may make it
fail (ENOENT, EEXIST, ENOTEMPTY, ENOTDIR, EISDIR, EINVAL, EXDEV, EMLINK,
ENODATA, ESTALE, ELOOP, ENAMETOOLONG; link(2)'s EPERM unless its source
stayed one non-directory throughout) is counted and passed over.  Any
other error (EIO, ENOTCONN when a daemon died, ENOSPC, ...) ends the run
with status 1 and the op that met it.  The run is a function of SEED and
of what the other node did meanwhile.  LOG gets one line per op.
--self-test checks the sorting of link(2)'s EPERM (a stubbed link, no mount).

For the fault torture test (tests/fs/t1496-peers-fault-torture.sh):
ROPS_DEAD_OK=1 takes ENOTCONN or ECONNABORTED, or ENOENT with ROOT gone, as
this node's daemon killed: the run waits for the mount to be back (2
minutes at most, then it ends with status 0) and goes on; ROPS_UNAVAIL_OK=1 counts EIO, ETIMEDOUT and
EHOSTUNREACH as "unavailable" and goes on (the only holder of some bytes
is killed or cut off: a read of them cannot succeed until it is back).
"""
import errno
import os
import random
import stat
import sys
import time

NAMES = ["a", "b", "c", "d", "e", "f"]
EXPECTED = {errno.ENOENT, errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR,
            errno.EINVAL, errno.EXDEV, errno.EMLINK, errno.ENODATA, errno.ESTALE,
            errno.ELOOP, errno.ENAMETOOLONG, errno.EBUSY}
DEAD = {errno.ENOTCONN, errno.ECONNABORTED}
UNAVAIL = {errno.EIO, errno.ETIMEDOUT, errno.EHOSTUNREACH}
DEAD_OK = os.environ.get("ROPS_DEAD_OK") == "1"
UNAVAIL_OK = os.environ.get("ROPS_UNAVAIL_OK") == "1"


class MountGone(Exception):
    pass


def lstat_or_none(p):
    """os.lstat(p), or None if a race may have taken the name; a dead mount raises."""
    try:
        return os.lstat(p)
    except OSError as e:
        if e.errno in EXPECTED:
            return None
        raise


def link(src, dst):
    """os.link, with its EPERM sorted: a race's is EISDIR, a real one raises.

    link(2) of a directory is EPERM.  The other node may have removed the
    directory since (the name leads nowhere), replaced it with a file, or
    put a directory where the file was just before: races too.  So the
    source is looked at before and after the link: only if it was the same
    non-directory both times (one inode) is the EPERM a real error.  lstat,
    not isdir: a mount that died meanwhile must show as ENOTCONN, not as
    EPERM.
    """
    before = lstat_or_none(src)
    try:
        os.link(src, dst)
    except PermissionError:
        after = lstat_or_none(src)
        if (before is not None and after is not None and not stat.S_ISDIR(after.st_mode)
                and (before.st_dev, before.st_ino) == (after.st_dev, after.st_ino)):
            raise
        raise OSError(errno.EISDIR, "a directory") from None


def self_test():
    """rops.py --self-test: link()'s sorting of EPERM, with os.link stubbed
    to change the source as another node might while the call runs."""
    import shutil
    import tempfile

    real_link, bad = os.link, 0
    d = tempfile.mkdtemp(prefix="rops-self-test.")

    n = 0

    def case(desc, make, during, want_raise):
        nonlocal bad, n
        n += 1
        src = os.path.join(d, "src%d" % n)
        make(src)

        def fake(a, b, **kw):
            during(a)
            raise PermissionError(errno.EPERM, "Operation not permitted")
        os.link = fake
        try:
            link(src, os.path.join(d, "dst"))
            got = "no error"
        except PermissionError:
            got = "EPERM"
        except OSError as e:
            got = errno.errorcode[e.errno]
        finally:
            os.link = real_link
        want = "EPERM" if want_raise else "EISDIR"
        print("%s - %s (%s)" % ("ok" if got == want else "not ok", desc, got))
        bad += got != want

    def mkfile(p):
        open(p, "w").close()

    # What was there is moved aside, not removed: a local filesystem could
    # give its inode number to the new one (modelfs does not reuse them).
    def to_file(p):
        os.rename(p, p + ".old")
        mkfile(p)

    def to_dir(p):
        os.rename(p, p + ".old")
        os.mkdir(p)

    def nothing(p):
        pass

    try:
        case("a directory: EPERM is a race's", os.mkdir, nothing, False)
        case("a directory replaced by a file before the lstat: a race's", os.mkdir, to_file,
             False)
        case("a directory removed: a race's", os.mkdir, os.rmdir, False)
        case("a file replaced by a directory: a race's", mkfile, to_dir, False)
        case("a file replaced by another file: a race's", mkfile, to_file, False)
        case("a file throughout: a real EPERM, raised", mkfile, nothing, True)
    finally:
        shutil.rmtree(d)
    return bad


class Run:
    def __init__(self, root, seed, log):
        self.root = root
        self.r = random.Random(seed)
        self.log = log
        self.passed = 0
        self.unavail = 0
        self.gone = 0

    def existing(self):
        """A path that exists now, walked down from ROOT, or None."""
        d = self.root
        for _ in range(self.r.randint(1, 3)):
            try:
                names = sorted(os.listdir(d))
            except OSError:
                return None
            if not names:
                return None
            p = os.path.join(d, self.r.choice(names))
            if not os.path.isdir(p) or os.path.islink(p) or self.r.random() < 0.4:
                return p
            d = p
        return d if d != self.root else None

    def fresh(self):
        """A path of random names (depth 1-3), which may or may not exist."""
        parts = [self.r.choice(NAMES) for _ in range(self.r.randint(1, 3))]
        return os.path.join(self.root, *parts)

    def path(self, exist=0.7):
        p = self.existing() if self.r.random() < exist else None
        return p or self.fresh()

    def data(self):
        n = self.r.choice([0, 1, 100, 4096, 65536, self.r.randint(1, 300000)])
        return self.r.randbytes(n)

    def wait_back(self, i):
        """The daemon died: wait for ROOT on its next mount (2 min at most)."""
        self.gone += 1
        for _ in range(1200):
            if os.path.isdir(self.root):
                return
            time.sleep(0.1)
        raise MountGone(i)

    # ---- the ops ----
    def op_mkdir(self):
        os.mkdir(self.fresh())

    def op_write(self):
        with open(self.path(0.5), "wb") as f:
            f.write(self.data())

    def op_append(self):
        with open(self.path(), "ab") as f:
            f.write(self.data()[:8192])

    def op_overwrite(self):
        fd = os.open(self.path(), os.O_WRONLY)
        try:
            os.pwrite(fd, self.r.randbytes(self.r.randint(1, 5000)), self.r.randint(0, 70000))
        finally:
            os.close(fd)

    def op_truncate(self):
        os.truncate(self.path(), self.r.choice([0, 1, 4096, self.r.randint(0, 200000)]))

    def op_rename(self):
        os.rename(self.path(), self.fresh() if self.r.random() < 0.7 else self.path())

    def op_link(self):
        link(self.path(), self.fresh())

    def op_symlink(self):
        os.symlink(self.r.choice(NAMES), self.fresh())

    def op_unlink(self):
        os.unlink(self.path())

    def op_rmdir(self):
        os.rmdir(self.path())

    def op_chmod(self):
        os.chmod(self.path(), self.r.choice([0o600, 0o644, 0o755, 0o700]))

    def op_utime(self):
        t = self.r.randint(1_000_000_000, 1_900_000_000)
        os.utime(self.path(), (t, t), follow_symlinks=False)

    def xattr(self, remove):
        p, name = self.path(), "user." + self.r.choice(NAMES)
        try:
            if remove:
                os.removexattr(p, name, follow_symlinks=False)
            else:
                os.setxattr(p, name, self.r.randbytes(self.r.randint(0, 64)),
                            follow_symlinks=False)
        except PermissionError:
            if not stat.S_ISLNK(os.lstat(p).st_mode):   # user.* on a symlink: EPERM
                raise
            raise OSError(errno.EINVAL, "a symlink") from None

    def op_setxattr(self):
        self.xattr(False)

    def op_removexattr(self):
        self.xattr(True)

    def op_read(self):
        p = self.path(0.9)
        if os.path.isfile(p):
            with open(p, "rb") as f:
                while f.read(1 << 20):
                    pass

    OPS = [("mkdir", 8), ("write", 14), ("append", 5), ("overwrite", 5), ("truncate", 4),
           ("rename", 12), ("link", 3), ("symlink", 3), ("unlink", 8), ("rmdir", 5),
           ("chmod", 3), ("utime", 2), ("setxattr", 3), ("removexattr", 2), ("read", 6)]

    def one(self, i):
        names = [n for n, _ in self.OPS]
        name = self.r.choices(names, weights=[w for _, w in self.OPS])[0]
        try:
            getattr(self, "op_" + name)()
            res = "ok"
        except IsADirectoryError:
            res = "EISDIR"
        except OSError as e:
            # A killed daemon's mount is cleared at once (umount -l): ROOT
            # is then gone, and every op fails with ENOENT until the restart.
            if DEAD_OK and (e.errno in DEAD or (e.errno == errno.ENOENT and
                                                not os.path.isdir(self.root))):
                if self.log:
                    self.log.write("%d %s %s: mount gone\n" % (i, name, errno.errorcode[e.errno]))
                self.wait_back(i)
                return
            if UNAVAIL_OK and e.errno in UNAVAIL:
                self.unavail += 1
                res = "unavailable " + errno.errorcode[e.errno]
                if self.log:
                    self.log.write("%d %s %s\n" % (i, name, res))
                return
            if e.errno not in EXPECTED:
                print("rops: op %d (%s) failed: %s" % (i, name, e), file=sys.stderr)
                raise SystemExit(1)
            res = errno.errorcode.get(e.errno, str(e.errno))
            self.passed += 1
        if self.log:
            self.log.write("%d %s %s\n" % (i, name, res))


def main():
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(1 if self_test() else 0)
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    root, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    log = open(sys.argv[4], "w") if len(sys.argv) > 4 else None
    run = Run(root, seed, log)
    try:
        for i in range(count):
            run.one(i)
    except MountGone as g:
        print("rops: the mount is gone at op %d and not back (%d failed as races may, %d unavailable)"
              % (g.args[0], run.passed, run.unavail))
        return
    print("rops: %d ops, %d failed as races may%s%s" % (count, run.passed,
          ", %d unavailable" % run.unavail if UNAVAIL_OK else "",
          ", the mount died %d times" % run.gone if DEAD_OK else ""))


if __name__ == "__main__":
    main()
