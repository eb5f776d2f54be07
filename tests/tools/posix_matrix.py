# SPDX-License-Identifier: Apache-2.0
"""Every call of a table on every kind of path a conformance suite hands
it, as root and as two unprivileged users, run the same way in a reference
directory (a tmpfs: the kernel's own answers) and in the mount, compared
call by call (tests/fs/t0397-posix-matrix.sh).

Where tests/tools/fsdiff runs one long random stream and
tests/tools/posix_conf.py checks what we wrote down, this one is a cross
product: each case is one call (open with one set of flags, rename with
one flag, chmod to one mode, ...) with its arguments drawn from a fixed
list of path forms (each type of file, hard links, symlinks to a file, a
directory, nowhere and themselves, a FIFO, a socket, a device, trailing
slashes, "." and "..", a path through a file, 255- and 256-byte names,
entries of a sticky, a setgid and a read-only directory), made fresh in a
directory of its own.  After the call both sides must agree on its result
(the value, or the errno) and on the whole case directory: names, type,
mode, owner, group, nlink, size of non-directories, rdev, symlink targets,
bytes, user.* xattrs, which names share an inode, and whether each
entry's mtime and ctime moved.

    posix_matrix.py REF MNT [--only SUBSTR] [--users 0,4242,4243]
                            [--sample N:K] [--holds r,w,wa] [--peer DIR]
                            [--build-on DIR]
                            [--max-fail N] [--list]

--peer DIR: another node's mount of MNT's tree; after each case its copy
of the case directory must come to show the same, times included.
--build-on DIR: another node's mount of MNT's tree; each case's fixture is
made there and the call runs here once it has arrived (calls on what
another node made).

Prints each divergence (the case, both results, the differing entries)
and a last line "N cases, M diverged"; exits 1 if any diverged.  A case
is named op:args:user, and --only runs the cases whose name contains
SUBSTR, to replay one.

The differences write-once versions intend are in allowed(), each with the
README line that documents it.
"""
import ast
import ctypes
import errno
import hashlib
import itertools
import os
import signal
import socket
import stat
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
# The workers' pipe framing, as posix_conf.py (t0395) frames it.
from posix_conf import _recv, _send  # noqa: E402

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_SYMLINK_FOLLOW = 0x400
AT_EACCESS = 0x200
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
CLOCK_REALTIME_COARSE = 5
PAST = 1000000000

U1, U2, G3 = 4242, 4243, 4300   # U2 is also in group G3; U1 is not
IDS = {0: (0, 0, [0]), U1: (U1, U1, [U1]), U2: (U2, U2, [U2, G3])}

L255 = "n" * 255
L256 = "n" * 256

# The fixture: name -> (kind, mode, uid, gid, what it needs first, extra).
# extra: bytes of a regular file, target of a symlink or of a hard link.
FIX = {
    "f": ("reg", 0o644, 0, 0, [], b"root file\n"),
    "fu": ("reg", 0o644, U1, U1, [], b"user file\n"),
    "fw": ("reg", 0o666, 0, 0, [], b"world-writable\n"),
    "fs": ("reg", 0o6755, U1, U1, [], b"setuid setgid\n"),
    "fg": ("reg", 0o2644, U1, G3, [], b"setgid, no group x\n"),
    "fr": ("reg", 0o444, U1, U1, [], b"read-only\n"),
    "f0": ("reg", 0o000, U1, U1, [], b"mode 0\n"),
    "e": ("reg", 0o644, U1, U1, [], b""),
    "hl": ("link", None, None, None, ["fu"], "fu"),
    "d": ("dir", 0o755, 0, 0, [], None),
    "du": ("dir", 0o755, U1, U1, [], None),
    "dn": ("dir", 0o777, U1, U1, [], None),
    "dn/a": ("reg", 0o644, U1, U1, ["dn"], b"a\n"),
    "dn/sub": ("dir", 0o777, U1, U1, ["dn", "dn/a"], None),
    "sf": ("sym", None, U1, U1, ["fu"], "fu"),
    "sd": ("sym", None, 0, 0, ["du"], "du"),
    "sx": ("sym", None, 0, 0, [], "nowhere"),
    "sl": ("sym", None, 0, 0, [], "sl"),
    "p": ("fifo", 0o666, U1, U1, [], None),
    "k": ("sock", 0o777, U1, U1, [], None),
    "c": ("chr", 0o666, 0, 0, [], (1, 3)),
    "ro": ("dir", 0o755, 0, 0, [], None),
    "ro/f": ("reg", 0o666, U1, U1, ["ro"], b"in ro\n"),
    "ro/d": ("dir", 0o777, U1, U1, ["ro"], None),
    "st": ("dir", 0o1777, 0, 0, [], None),
    "st/mine": ("reg", 0o666, U1, U1, ["st"], b"u1's\n"),
    "st/oth": ("reg", 0o666, U2, U2, ["st"], b"u2's\n"),
    "st/dm": ("dir", 0o777, U1, U1, ["st"], None),
    "st/do": ("dir", 0o777, U2, U2, ["st"], None),
    "gs": ("dir", 0o2777, 0, G3, [], None),
    "gs/f": ("reg", 0o664, 0, G3, ["gs"], b"in gs\n"),
    "dx": ("dir", 0o700, 0, 0, [], None),
    "dx/f": ("reg", 0o666, U1, U1, ["dx"], b"in dx\n"),
}

# Path forms the calls get.  A fixture entry is made when a form names it
# (its first component, or all of it).
EXISTING = ["f", "fu", "fw", "fs", "fg", "fr", "f0", "e", "hl", "d", "du", "dn",
            "dn/a", "dn/sub", "sf", "sd", "sx", "sl", "p", "k", "c", "ro/f", "ro/d",
            "st/mine", "st/oth", "st/dm", "st/do", "gs", "gs/f", "dx/f"]
NEW = ["new", "ro/new", "st/new", "gs/new", "dn/new", "dx/new", "sx/new", L255, L256]
FORMS = ["f/", "d/", "sd/", "sf/", "sx/", "new/", "f/x", "nx/x", "p/", "d/.", "d/..",
         "dn/sub/..", ".", "dn/" + L256, "sl/x"]
ONE = EXISTING + NEW + FORMS

# Two-path calls: sources and targets.
SRC = ["f", "fu", "hl", "e", "fs", "d", "du", "dn", "dn/sub", "sf", "sd", "sx", "p",
       "ro/f", "ro/d", "st/mine", "st/oth", "st/dm", "st/do", "gs/f", "new", "f/", "d/",
       "sd/", "dn/sub/..", ".", L256]
DST = SRC + ["ro/new", "st/new", "dn/new", "dn/sub/new", "gs/new", "dn/a", "new/",
             "du/", "dn/" + L255, "dx/new"]


def fixture_names(paths):
    """The fixture entries paths name, with what they need, in order."""
    want = []

    def add(n):
        if n in want or n not in FIX:
            return
        for dep in FIX[n][4]:
            add(dep)
        want.append(n)
    for p in paths:
        parts = p.split("/")
        for i in range(1, len(parts) + 1):
            add("/".join(parts[:i]))
    return want


def build(case_dir, paths):
    os.mkdir(case_dir)
    os.chmod(case_dir, 0o777)
    for n in fixture_names(paths):
        kind, mode, uid, gid, _, extra = FIX[n]
        p = os.path.join(case_dir, n)
        if kind == "reg":
            fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            os.write(fd, extra)
            os.close(fd)
        elif kind == "dir":
            os.mkdir(p, 0o700)
        elif kind == "fifo":
            os.mkfifo(p, 0o600)
        elif kind == "chr":
            os.mknod(p, stat.S_IFCHR | 0o600, os.makedev(*extra))
        elif kind == "sock":
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(p)
            s.close()
        elif kind == "sym":
            os.symlink(extra, p)
        elif kind == "link":
            os.link(os.path.join(case_dir, extra), p)
            continue
        os.lchown(p, uid, gid)
        if kind != "sym":
            os.chmod(p, mode)
        if kind in ("reg", "dir"):
            os.setxattr(p, "user.t", b"fixture")


# ---- the calls ---------------------------------------------------------

def _ts(spec):
    class Timespec(ctypes.Structure):
        _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]
    return (Timespec * 2)(*[Timespec(*t) for t in spec])


def _c(rc):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def desc_fd(fd):
    st = os.fstat(fd)
    return "fd:%s,%o,%d,%d,%d" % (kind(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid,
                                  st.st_gid, st.st_size if not stat.S_ISDIR(st.st_mode) else -1)


def op_open(p, flags, mode, write):
    fd = os.open(p, flags | os.O_NONBLOCK, mode)
    try:
        r = desc_fd(fd) if not flags & os.O_PATH else "fd"
        if write and stat.S_ISREG(os.fstat(fd).st_mode):
            r += ",w=%d" % os.write(fd, b"W")
            st = os.fstat(fd)
            r += ",%o,%d" % (stat.S_IMODE(st.st_mode), st.st_size)
    finally:
        os.close(fd)
    return r


def op_fd(p, flags, what, arg):
    """open p, then a call on the descriptor."""
    fd = os.open(p, flags | os.O_NONBLOCK)
    try:
        if what == "fchmod":
            os.fchmod(fd, arg)
        elif what == "fchown":
            os.fchown(fd, *arg)
        elif what == "ftruncate":
            os.ftruncate(fd, arg)
        elif what == "futimens":
            _c(libc.futimens(fd, _ts(arg)))
        elif what == "fsetxattr":
            os.setxattr(fd, "user.x", arg)
        elif what == "fallocate":
            os.posix_fallocate(fd, 0, arg)
        return desc_fd(fd)
    finally:
        os.close(fd)


def op_stat(p, follow):
    st = os.stat(p, follow_symlinks=follow)
    return "%s,%o,%d,%d,%d,%s" % (kind(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid,
                                  st.st_gid, st.st_nlink,
                                  st.st_size if not stat.S_ISDIR(st.st_mode) else "-")


def op_access(p, m, flags):
    _c(libc.faccessat(AT_FDCWD, p.encode(), m, flags))


def op_utimens(p, spec, flags):
    _c(libc.utimensat(AT_FDCWD, p.encode(), _ts(spec), flags))


def op_listdir(p):
    return ",".join(sorted(os.listdir(p)))


def op_rename2(a, b, flags):
    _c(libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), flags))


def op_linkat(a, b, flags):
    os.link(a, b, follow_symlinks=bool(flags & AT_SYMLINK_FOLLOW))


def op_mknod(p, mode, dev):
    os.mknod(p, mode, dev)


def op_getx(p, name, follow):
    return os.getxattr(p, name, follow_symlinks=follow).decode(errors="replace")


def op_setx(p, name, val, flags, follow):
    os.setxattr(p, name, val, flags, follow_symlinks=follow)


def op_listx(p, follow):
    return ",".join(sorted(os.listxattr(p, follow_symlinks=follow)))


def op_removex(p, name, follow):
    os.removexattr(p, name, follow_symlinks=follow)


def op_readlink(p):
    return os.readlink(p)


def op_read(p):
    fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    try:
        return os.read(fd, 100).decode(errors="replace")
    finally:
        os.close(fd)


def op_exec_bit(p):
    """What an exec would find: access(X_OK) as the kernel checks it."""
    return os.access(p, os.X_OK)


CALLS = {
    "open": op_open, "fd": op_fd, "stat": op_stat, "access": op_access,
    "utimens": op_utimens, "listdir": op_listdir, "rename2": op_rename2,
    "link": op_linkat, "mknod": op_mknod, "getx": op_getx, "setx": op_setx,
    "listx": op_listx, "removex": op_removex, "readlink": op_readlink, "read": op_read,
    "mkdir": os.mkdir, "rmdir": os.rmdir, "unlink": os.unlink, "truncate": os.truncate,
    "chmod": lambda p, m: os.chmod(p, m),
    "chown": lambda p, u, g: os.chown(p, u, g), "lchown": os.lchown,
    "symlink": os.symlink, "exec_bit": op_exec_bit,
}

O = os
OPEN_FLAGS = [
    ("rd", O.O_RDONLY, False), ("wr", O.O_WRONLY, True), ("rw", O.O_RDWR, True),
    ("wr-trunc", O.O_WRONLY | O.O_TRUNC, True), ("wr-append", O.O_WRONLY | O.O_APPEND, True),
    ("creat", O.O_WRONLY | O.O_CREAT, True), ("creat-excl", O.O_WRONLY | O.O_CREAT | O.O_EXCL, True),
    ("creat-trunc", O.O_RDWR | O.O_CREAT | O.O_TRUNC, True),
    ("creat-rd", O.O_RDONLY | O.O_CREAT, False),
    ("dir", O.O_RDONLY | O.O_DIRECTORY, False), ("dir-creat", O.O_RDONLY | O.O_DIRECTORY | O.O_CREAT, False),
    ("nofollow", O.O_RDONLY | O.O_NOFOLLOW, False),
    ("nofollow-creat", O.O_WRONLY | O.O_NOFOLLOW | O.O_CREAT, True),
    ("path-nofollow", O.O_PATH | O.O_NOFOLLOW, False),
    ("dir-nofollow", O.O_RDONLY | O.O_DIRECTORY | O.O_NOFOLLOW, False),
]

NOW, OMIT = (0, UTIME_NOW), (0, UTIME_OMIT)
T1, T2 = (1200000000, 5), (1300000000, 7)


class P(str):
    """A path argument: made relative to the case directory."""


def one_path_cases():
    """(name, call, args); paths are P."""
    out = []
    for p in map(P, ONE):
        for nm, fl, w in OPEN_FLAGS:
            out.append(("open-%s" % nm, "open", (p, fl, 0o640, w)))
        out.append(("creat-4755", "open", (p, O.O_WRONLY | O.O_CREAT | O.O_EXCL, 0o6755, True)))
        out.append(("stat", "stat", (p, True)))
        out.append(("lstat", "stat", (p, False)))
        for m, mn in ((os.R_OK, "r"), (os.W_OK, "w"), (os.X_OK, "x")):
            out.append(("access-" + mn, "access", (p, m, 0)))
        out.append(("access-w-nofollow", "access", (p, os.W_OK, AT_SYMLINK_NOFOLLOW)))
        out.append(("read", "read", (p,)))
        out.append(("listdir", "listdir", (p,)))
        out.append(("readlink", "readlink", (p,)))
        out.append(("mkdir", "mkdir", (p, 0o755)))
        out.append(("mkdir-3777", "mkdir", (p, 0o3777)))
        out.append(("rmdir", "rmdir", (p,)))
        out.append(("unlink", "unlink", (p,)))
        for n in (0, 3, 100000):
            out.append(("truncate-%d" % n, "truncate", (p, n)))
        out.append(("truncate-neg", "truncate", (p, -1)))
        for m in (0o600, 0o4755, 0o2755, 0o1777, 0o0):
            out.append(("chmod-%o" % m, "chmod", (p, m)))
        for u, g in ((U1, U1), (U2, -1), (-1, G3), (-1, -1), (0, 0), (U1, G3)):
            out.append(("chown-%d-%d" % (u, g), "chown", (p, u, g)))
            out.append(("lchown-%d-%d" % (u, g), "lchown", (p, u, g)))
        for nm, spec, fl in (("now", (NOW, NOW), 0), ("omit", (OMIT, OMIT), 0),
                             ("set", (T1, T2), 0), ("now-omit", (NOW, OMIT), 0),
                             ("set-nofollow", (T1, T2), AT_SYMLINK_NOFOLLOW),
                             ("now-nofollow", (NOW, NOW), AT_SYMLINK_NOFOLLOW)):
            out.append(("utimens-" + nm, "utimens", (p, spec, fl)))
        out.append(("mkfifo", "mknod", (p, stat.S_IFIFO | 0o644, 0)))
        out.append(("mknod-chr", "mknod", (p, stat.S_IFCHR | 0o644, os.makedev(1, 7))))
        out.append(("mknod-reg", "mknod", (p, stat.S_IFREG | 0o4755, 0)))
        out.append(("symlink", "symlink", ("target", p)))
        out.append(("getx", "getx", (p, "user.t", True)))
        out.append(("lgetx", "getx", (p, "user.t", False)))
        out.append(("setx", "setx", (p, "user.x", b"v", 0, True)))
        out.append(("setx-create", "setx", (p, "user.t", b"v", os.XATTR_CREATE, True)))
        out.append(("setx-replace", "setx", (p, "user.x", b"v", os.XATTR_REPLACE, True)))
        out.append(("lsetx", "setx", (p, "user.x", b"v", 0, False)))
        out.append(("setx-trusted", "setx", (p, "trusted.x", b"v", 0, True)))
        out.append(("listx", "listx", (p, True)))
        out.append(("removex", "removex", (p, "user.t", True)))
        out.append(("exec-bit", "exec_bit", (p,)))
        for nm, fl in (("rd", O.O_RDONLY), ("wr", O.O_WRONLY), ("path", O.O_PATH)):
            out.append(("fchmod-%s" % nm, "fd", (p, fl, "fchmod", 0o4700)))
            out.append(("fchown-%s" % nm, "fd", (p, fl, "fchown", (U1, G3))))
            out.append(("futimens-%s" % nm, "fd", (p, fl, "futimens", (T1, T2))))
            out.append(("futimens-now-%s" % nm, "fd", (p, fl, "futimens", (NOW, NOW))))
            out.append(("ftruncate-%s" % nm, "fd", (p, fl, "ftruncate", 2)))
            out.append(("fsetx-%s" % nm, "fd", (p, fl, "fsetxattr", b"fv")))
        out.append(("fallocate-wr", "fd", (p, O.O_WRONLY, "fallocate", 4096)))
    return [(p_name(c), c) for c in out]


def two_path_cases():
    out = []
    for a, b in itertools.product(map(P, SRC), map(P, DST)):
        out.append(("rename", "rename2", (a, b, 0)))
        out.append(("rename-noreplace", "rename2", (a, b, RENAME_NOREPLACE)))
        out.append(("rename-exchange", "rename2", (a, b, RENAME_EXCHANGE)))
        out.append(("link", "link", (a, b, 0)))
        out.append(("link-follow", "link", (a, b, AT_SYMLINK_FOLLOW)))
    return [(p_name(c), c) for c in out]


def short(p):
    return p if len(p) < 40 else "%s<%d>" % (p[:p.rfind("/") + 1] if "/" in p else "", len(p) - (p.rfind("/") + 1))


def p_name(c):
    nm, _, args = c
    paths = [a for a in args if isinstance(a, P)]
    return "%s:%s" % (nm, ",".join(short(p) for p in paths))


# ---- running as a user, in a worker -------------------------------------

def run_call(call, args, base):
    """Runs one call with its paths under base; its result as a string."""
    a = [os.path.join(base, x) if isinstance(x, P) else x for x in args]
    try:
        v = CALLS[call](*a)
        return "0" if v is None else str(v)
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


_workers = {}


def worker(uid):
    if uid in _workers:
        return _workers[uid]
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(w1)
            os.close(r2)
            for _, ow, orr in _workers.values():
                os.close(ow)
                os.close(orr)
            u, g, groups = IDS[uid]
            os.setgroups(groups)
            os.setresgid(g, g, g)
            os.setresuid(u, u, u)
            while True:
                try:
                    call, args, base = _recv(r1)
                except EOFError:
                    break
                signal.alarm(30)
                _send(w2, run_call(call, args, base))
                signal.alarm(0)
        finally:
            os._exit(0)
    os.close(r1)
    os.close(w2)
    _workers[uid] = (pid, w1, r2)
    return _workers[uid]


def as_user(uid, call, args, base):
    pid, w, r = worker(uid)
    _send(w, (call, args, base))
    return _recv(r)


def stop_workers():
    for pid, w, r in _workers.values():
        os.close(w)
        os.close(r)
        os.waitpid(pid, 0)
    _workers.clear()


# ---- the tree of a case ----------------------------------------------------

def kind(m):
    for k, t in (("reg", stat.S_ISREG), ("dir", stat.S_ISDIR), ("fifo", stat.S_ISFIFO),
                 ("chr", stat.S_ISCHR), ("blk", stat.S_ISBLK), ("sock", stat.S_ISSOCK),
                 ("sym", stat.S_ISLNK)):
        if t(m):
            return k
    return "?"


def snap(base, data=True):
    """path -> lstat and what is read of it; the case directory is '.'"""
    out = {}

    def walk(rel):
        p = os.path.join(base, rel) if rel != "." else base
        st = os.lstat(p)
        e = {"st": st, "link": None, "data": None, "x": None}
        if stat.S_ISLNK(st.st_mode):
            e["link"] = os.readlink(p)
        if stat.S_ISREG(st.st_mode) and data:
            with open(p, "rb") as f:
                e["data"] = hashlib.sha256(f.read()).hexdigest()[:12] + "/" + str(st.st_size)
        if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
            e["x"] = ",".join("%s=%s" % (n, os.getxattr(p, n).decode(errors="replace"))
                              for n in sorted(os.listxattr(p)))
        out[rel] = e
        if stat.S_ISDIR(st.st_mode):
            for n in sorted(os.listdir(p)):
                walk(n if rel == "." else rel + "/" + n)
    walk(".")
    return out


def describe(before, after):
    """path -> comparable string, times as moved/kept, inodes as groups."""
    groups = {}
    for rel, e in after.items():
        if not stat.S_ISDIR(e["st"].st_mode):
            groups.setdefault(e["st"].st_ino, []).append(rel)
    out = {}
    for rel, e in after.items():
        st = e["st"]
        b = before.get(rel)
        if b is None or b["st"].st_ino != st.st_ino:
            mv = "new"
        else:
            mv = "m%s c%s" % ("+" if st.st_mtime_ns != b["st"].st_mtime_ns else "=",
                              "+" if st.st_ctime_ns != b["st"].st_ctime_ns else "=")
        s = "%s %o %d:%d n%d" % (kind(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid,
                                 st.st_gid, st.st_nlink)
        if not stat.S_ISDIR(st.st_mode):
            s += " s%d" % st.st_size
            if len(groups[st.st_ino]) > 1:
                s += " ino=" + "|".join(sorted(groups[st.st_ino]))
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            s += " rdev=%d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
        if e["link"] is not None:
            s += " ->" + e["link"]
        if e["data"] is not None:
            s += " data=" + e["data"]
        if e["x"]:
            s += " x=" + e["x"]
        out[rel] = (s, mv)
    return out


def set_past(base, before):
    """atime/mtime of every entry to PAST, so a moved mtime shows."""
    for rel in before:
        p = base if rel == "." else os.path.join(base, rel)
        os.utime(p, ns=(PAST * 10**9, PAST * 10**9), follow_symlinks=False)


def wait_coarse(base_list):
    """Until the kernel's coarse clock has passed every ctime made so far:
    a change in the same tick would not move a tmpfs ctime."""
    newest = 0
    for b in base_list:
        newest = max(newest, os.lstat(b).st_ctime_ns)
    while time.clock_gettime_ns(CLOCK_REALTIME_COARSE) <= newest + 1000000:
        time.sleep(0.002)


# ---- what write-once versions do differently (README's table) ------------

def no_sizes(r):
    """A descriptor's result (desc_fd, op_open) without its sizes."""
    p = r.split(",")
    if not r.startswith("fd:") or len(p) < 5:
        return r
    p[4] = "S"
    if len(p) > 7:
        p[7] = "S"
    return ",".join(p)


def held_read(r):
    """The bytes a reader held open read (hold_close), or None."""
    if " | held: " not in r:
        return None
    text = r.split(" | held: ")[1]
    end = text.rfind("' ") if text.startswith("'") else text.rfind('" ')
    try:
        return ast.literal_eval("b" + text[:end + 1])
    except (ValueError, SyntaxError):
        return None


def held_bytes(name):
    """The fixture bytes of the file a case held open."""
    parts = name.split(":")
    path = parts[1].split(",")[1 if parts[-1].startswith("held1") else 0]
    if path not in FIX:
        return None
    kind, *_, deps, extra = FIX[path]
    return extra if kind == "reg" else FIX[deps[0]][5]


def allowed(name, ref, mnt, tref, tmnt):
    """A reason when the difference is one README documents, else None."""
    diff = [rel for rel in set(tref) | set(tmnt) if tref.get(rel) != tmnt.get(rel)]
    call_ref, call_mnt = ref.split(" | ")[0], mnt.split(" | ")[0]
    if (name.startswith("truncate-0:") and call_ref == call_mnt == "0" and len(diff) == 1 and
            tref[diff[0]][0] == tmnt[diff[0]][0] and " s0 " in tref[diff[0]][0] and
            tref[diff[0]][1] == "m= c=" and tmnt[diff[0]][1] == "m+ c+"):
        return "truncate(path, 0) of an empty file marks mtime and ctime"
    if name.startswith("setx-trusted:") and call_mnt in ("ENOTSUP", call_ref):
        return "extended attributes outside user.*: EOPNOTSUPP to set"
    if ":held" in name and name.endswith("-r") and not diff and (
            call_ref == call_mnt or no_sizes(call_ref) == no_sizes(call_mnt)):
        # "stat of a file being rewritten while readers hold the old
        # version: the larger of the two sizes" (the writer's fstat too)
        # Only the reader's view differs: it must be its own version whole,
        # and end there: the writer closed before it read ("Once the writer
        # closed, the reader's fstat shows its version's size again and its
        # read ends there").
        target, got = held_bytes(name), held_read(mnt)
        if target is not None and got == target:
            return "a reader that had the old version open keeps reading it"
    return None


def rm_tree(p):
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        os.chmod(p, 0o700)
        for n in os.listdir(p):
            rm_tree(os.path.join(p, n))
        os.rmdir(p)
    else:
        os.unlink(p)


HOLDS = {
    # a descriptor open on the case's first path while the call runs
    "r": "O_RDONLY; read it all after the call",
    "w": "O_WRONLY, written before the call, closed after it",
    "wa": "O_WRONLY, written after the call, then closed",
}
HOLD_PATHS = ["f", "fu", "fw", "fs", "fr", "e", "hl", "sf", "dn/a", "ro/f", "st/mine",
              "st/oth"]


def hold_open(p, hold):
    if hold == "r":
        return os.open(p, os.O_RDONLY)
    fd = os.open(p, os.O_WRONLY)
    if hold == "w":
        os.pwrite(fd, b"HELD", 0)
    return fd


def hold_close(fd, hold):
    """What the holder saw: its bytes (a reader), its fstat, its close."""
    out = []
    try:
        if hold == "r":
            out.append(repr(os.pread(fd, 200, 0))[1:])
        if hold == "wa":
            out.append("w=%d" % os.pwrite(fd, b"AFTER", 2))
        st = os.fstat(fd)
        out.append("%o s%d n%d" % (stat.S_IMODE(st.st_mode), st.st_size, st.st_nlink))
    except OSError as e:
        out.append(errno.errorcode.get(e.errno, str(e.errno)))
    try:
        os.close(fd)
        out.append("closed")
    except OSError as e:
        out.append("close " + errno.errorcode.get(e.errno, str(e.errno)))
    return " ".join(out)


BUILD_ON = [None]  # --build-on: the mount's fixtures are made through another node


def build_on_peer(idx, paths, b):
    """Makes the case's fixture on the other node and waits for it here."""
    pb = os.path.join(BUILD_ON[0], "matrix", "c%d" % idx)
    for _ in range(200):
        if os.path.isdir(os.path.dirname(pb)):
            break
        time.sleep(0.1)
    build(pb, paths)
    if peer_agrees(pb, b):
        raise OSError(errno.ETIMEDOUT, "c%d: the fixture made on %s did not arrive" % (idx, BUILD_ON[0]))


def run_case(idx, name, call, args, uid, hold, ref_root, mnt_root):
    bases = []
    paths = [a for a in args if isinstance(a, P)]
    for root in (ref_root, mnt_root):
        b = os.path.join(root, "c%d" % idx)
        rm_tree(b)
        if root == mnt_root and BUILD_ON[0]:
            build_on_peer(idx, paths, b)
        else:
            build(b, paths)
        bases.append(b)
    snaps = []
    for b in bases:
        s = snap(b)
        set_past(b, s)
        snaps.append(s)
    wait_coarse(bases)
    res, trees = [], []
    for b in bases:
        fd = hold_open(os.path.join(b, paths[hold[1]]), hold[0]) if hold else None
        before = snap(b, data=not hold)
        r = as_user(uid, call, args, b) if uid else run_call(call, args, b)
        if hold:
            r += " | held: " + hold_close(fd, hold[0])
        res.append(r)
        trees.append(describe(before, snap(b)))
    return res, trees, bases


def static_desc(base):
    """describe() with the times themselves: for a peer's copy of the case."""
    out = {}
    for rel, (d, _) in describe({}, snap(base)).items():
        st = os.lstat(base if rel == "." else os.path.join(base, rel))
        out[rel] = "%s mtime=%d ctime=%d" % (d, st.st_mtime_ns, st.st_ctime_ns)
    return out


def peer_agrees(mnt_base, peer_base, wait_s=20):
    """The peer's copy of a case directory, once it has caught up: the
    differences left after wait_s, or [] once both show the same."""
    want = static_desc(mnt_base)
    deadline = time.time() + wait_s
    # Polls 10 ms apart at first, then up to 100 ms: the copy comes within a
    # heartbeat or two (100 ms each), and at 100 ms a case waited half a
    # poll for nothing (t1499: 7% of its time).
    nap = 0.01
    while True:
        try:
            got = static_desc(peer_base)
        except OSError as e:
            got = {"?": "ERR %s" % e}
        if got == want:
            return []
        if time.time() > deadline:
            return ["    peer %s: node %s | peer %s" % (short(rel), want.get(rel), got.get(rel))
                    for rel in sorted(set(want) | set(got)) if want.get(rel) != got.get(rel)]
        time.sleep(nap)
        nap = min(nap * 1.5, 0.1)


def diff_trees(a, b):
    out = []
    for rel in sorted(set(a) | set(b)):
        x, y = a.get(rel), b.get(rel)
        if x != y:
            out.append("    %s: ref %s | mnt %s" % (short(rel), x, y))
    return out


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    ref, mnt = argv[1], argv[2]
    only, users, max_fail, listing = None, [0, U1, U2], 200, False
    holds, sample, sample_at, peer = list(HOLDS), 1, 0, None
    i = 3
    while i < len(argv):
        if argv[i] == "--only":
            only = argv[i + 1]
            i += 1
        elif argv[i] == "--users":
            users = [int(x) for x in argv[i + 1].split(",")]
            i += 1
        elif argv[i] == "--max-fail":
            max_fail = int(argv[i + 1])
            i += 1
        elif argv[i] == "--holds":
            holds = [h for h in argv[i + 1].split(",") if h]
            i += 1
        elif argv[i] == "--sample":
            sample, sample_at = [int(x) for x in argv[i + 1].split(":")]
            i += 1
        elif argv[i] == "--peer":
            peer = argv[i + 1]
            i += 1
        elif argv[i] == "--build-on":
            BUILD_ON[0] = argv[i + 1]
            i += 1
        elif argv[i] == "--list":
            listing = True
        i += 1
    os.umask(0o022)
    cases = []
    for nm, c in one_path_cases() + two_path_cases():
        for uid in users:
            full = "%s:%d" % (nm, uid)
            if not only or only in full:
                cases.append((full, c, uid, None))
    # The same one-path calls on files held open (write-once versions: a
    # writer's bytes are committed at its close, a reader keeps its version).
    for hold in holds:
        for nm, c in one_path_cases():
            if c[2][0] not in HOLD_PATHS:
                continue
            for uid in users[:2]:
                full = "%s:%d:held-%s" % (nm, uid, hold)
                if not only or only in full:
                    cases.append((full, c, uid, (hold, 0)))
        # Renames and links of a held file, or over one: as root.
        for nm, c in two_path_cases():
            for at in (0, 1):
                if c[2][at] not in HOLD_PATHS or c[2][1 - at] == c[2][at]:
                    continue
                full = "%s:0:held%d-%s" % (nm, at, hold)
                if not only or only in full:
                    cases.append((full, c, 0, (hold, at)))
    if sample > 1:
        cases = cases[sample_at::sample]
    if listing:
        for full, _, _, _ in cases:
            print(full)
        return 0
    ref_root = os.path.join(ref, "matrix")
    mnt_root = os.path.join(mnt, "matrix")
    for r in (ref_root, mnt_root):
        rm_tree(r)
        os.mkdir(r)
        os.chmod(r, 0o755)
    diverged = allowed_n = 0
    t0 = time.time()
    for idx, (full, (_, call, args), uid, hold) in enumerate(cases):
        res, trees, bases = run_case(idx, full, call, args, uid, hold, ref_root, mnt_root)
        td = diff_trees(*trees)
        if res[0] != res[1] or td:
            why = allowed(full, res[0], res[1], trees[0], trees[1])
            if why:
                allowed_n += 1
            else:
                diverged += 1
                print("DIVERGED %s: ref %s | mnt %s" % (full, res[0], res[1]))
                for line in td:
                    print(line)
                sys.stdout.flush()
                if diverged >= max_fail:
                    print("stopping after %d divergences" % diverged)
                    break
        if peer:
            pd = peer_agrees(bases[1], os.path.join(peer, "matrix", os.path.basename(bases[1])))
            if pd:
                diverged += 1
                print("PEER DIVERGED %s" % full)
                print("\n".join(pd))
                sys.stdout.flush()
        for b in bases:
            rm_tree(b)
    stop_workers()
    print("%d cases, %d diverged, %d allowed, %.0f s" % (len(cases), diverged, allowed_n,
                                                      time.time() - t0))
    return 1 if diverged else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
