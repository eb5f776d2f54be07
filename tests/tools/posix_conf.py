# SPDX-License-Identifier: Apache-2.0
"""POSIX behaviours of open, mkdir, rmdir, unlink, rename, truncate,
ftruncate, chmod, chown, utimensat, link, symlink, mknod/mkfifo, readdir and
posix_fallocate, checked in a directory (run by
tests/fs/t0395-posix-conformance.sh on a modelfs mount, and on a tmpfs as
the reference the expectations are checked against).

The groups of checks follow the directories of the pjdfstest suite (the
ten the issue asked to pass, then link, symlink, mkfifo, mknod and
posix_fallocate); they are written here from what those tests check, not
copied.  Calls as another user run in a forked child that drops
to that uid/gid/groups (setresuid), so the mount must have allow_other;
permission checks are the kernel's (default_permissions), what the daemon
must do is the rest: times, ctime, nlink, rename rules, names.

Not checked, as the suite itself skips them on Linux: the chflags cases
(EPERM for immutable, append-only and no-unlink flags), ENOSPC and EBUSY,
which need a small FreeBSD md device, O_EXLOCK, and lchmod; EXDEV is
checked against a tmpfs by the calling script instead of an md device.

Times: instead of sleeping a second between two stat calls, a check moves
atime/mtime into the past first and compares nanosecond ctimes, which any
call that changes an inode must move forward.

    posix_conf.py list                  prints NAME<TAB>DESCRIPTION lines
    posix_conf.py run NAME|all DIR      runs the group(s) in DIR (made and
                                        removed here); failures on stderr
    posix_conf.py erofs DIR             on a read-only mount: EROFS checks
"""
import ctypes
import errno
import os
import pickle
import signal
import socket
import stat
import struct
import subprocess
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
CLOCK_REALTIME_COARSE = 5  # not in the time module
BADPTR = 0xDEADC0DE
PAST = 1000000000  # 2001-09-09: times moved here before a "moved" check

NOBODY = 65534
ALL_TYPES = ["regular", "dir", "fifo", "block", "char", "socket", "symlink"]
NONDIR = ["regular", "fifo", "block", "char", "socket", "symlink"]

failures = []
checked = [0]


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def ename(e):
    return errno.errorcode.get(e, str(e))


def fail(msg):
    failures.append(msg)


def expect(want, got, what):
    """want: a value, or for errno results "A|B" (0 is success)."""
    checked[0] += 1
    if isinstance(want, str) and "|" in want:
        ok = str(got) in want.split("|")
    else:
        ok = str(got) == str(want)
    if not ok:
        fail("%s: got %s, want %s" % (what, got, want))
    return ok


def call(fn, *args):
    """0, or the errno name fn raised."""
    try:
        fn(*args)
    except OSError as e:
        return ename(e.errno)
    return 0


def _run_as(uid, gid, groups, umask, fn, args):
    """In a child: takes the identity, runs fn; its result as a string."""
    if umask is not None:
        os.umask(umask)
    if uid is not None:
        os.setgroups(groups if groups is not None else [gid])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    return _result(fn, args)


def _result(fn, args):
    try:
        v = fn(*args)
        return "0" if v is None else str(v)
    except OSError as e:
        return ename(e.errno)


def _send(fd, obj):
    b = pickle.dumps(obj)
    os.write(fd, struct.pack("<I", len(b)) + b)


def _recv(fd):
    def exact(k):
        out = b""
        while len(out) < k:
            b = os.read(fd, k - len(out))
            if not b:
                raise EOFError
            out += b
        return out
    return pickle.loads(exact(struct.unpack("<I", exact(4))[0]))


_workers = {}  # (uid, gid, groups, umask) -> (pid, request fd, reply fd)


def _worker(key):
    """A child that keeps one identity and runs calls sent to it: a fork
    per call costs tens of milliseconds here, a round trip much less."""
    if key in _workers:
        return _workers[key]
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(w1)
            os.close(r2)
            for _, ow, orr in _workers.values():  # or they would never see EOF
                os.close(ow)
                os.close(orr)
            uid, gid, groups, umask = key
            _run_as(uid, gid, list(groups) if groups else None, umask, lambda: None, ())
            while True:
                try:
                    fn, args = _recv(r1)
                except EOFError:
                    break
                _send(w2, _result(fn, args))
        finally:
            os._exit(0)
    os.close(r1)
    os.close(w2)
    _workers[key] = (pid, w1, r2)
    return _workers[key]


def as_user(uid, gid, fn, *args, groups=None, umask=None):
    """Runs call(fn, *args) as that identity; 0, an errno name, or what fn
    returned if not None (as a string)."""
    key = (uid, gid, tuple(groups) if groups else None, umask)
    try:
        pickle.dumps((fn, args))
        picklable = True
    except (pickle.PicklingError, AttributeError, TypeError):
        picklable = False
    if picklable:
        pid, w, r = _worker(key)
        _send(w, (fn, args))
        res = _recv(r)
    else:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(r)
                os.write(w, _run_as(uid, gid, groups, umask, fn, args).encode())
            finally:
                os._exit(0)
        os.close(w)
        out = b""
        while True:
            b = os.read(r, 4096)
            if not b:
                break
            out += b
        os.close(r)
        os.waitpid(pid, 0)
        res = out.decode()
    return 0 if res == "0" else res


def stop_workers():
    for pid, w, r in _workers.values():
        os.close(w)
        os.close(r)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    _workers.clear()


def u(uid, gid=None, groups=None):
    """A runner for uid: u(65534)(os.unlink, p) -> 0 or errno name."""
    g = uid if gid is None else gid
    return lambda fn, *a: as_user(uid, g, fn, *a, groups=groups)


def root(fn, *a):
    return call(fn, *a)


# ---- making and removing each type ------------------------------------

def bind_sock(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.bind(path)
    finally:
        s.close()


def make(kind, path, mode=0o644, uid=None, gid=None):
    """Creates path of kind; True on success (a failure is recorded)."""
    try:
        if kind == "regular":
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode))
        elif kind == "dir":
            os.mkdir(path, mode)
        elif kind == "fifo":
            os.mkfifo(path, mode)
        elif kind == "block":
            os.mknod(path, stat.S_IFBLK | mode, os.makedev(1, 2))
        elif kind == "char":
            os.mknod(path, stat.S_IFCHR | mode, os.makedev(1, 2))
        elif kind == "socket":
            bind_sock(path)
        elif kind == "symlink":
            os.symlink("test", path)
        if kind in ("regular", "dir", "fifo", "block", "char", "socket"):
            os.chmod(path, mode)  # undo the umask, as the suite's helper does
        if uid is not None:
            os.lchown(path, uid, gid)
    except OSError as e:
        fail("making a %s %s: %s" % (kind, path, ename(e.errno)))
        return False
    return True


def remove(path):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    try:
        if stat.S_ISDIR(st.st_mode):
            os.rmdir(path)
        else:
            os.unlink(path)
    except OSError as e:
        fail("removing %s: %s" % (path, ename(e.errno)))


def kind_of(mode):
    for k, t in (("regular", stat.S_ISREG), ("dir", stat.S_ISDIR), ("fifo", stat.S_ISFIFO),
                 ("block", stat.S_ISBLK), ("char", stat.S_ISCHR), ("socket", stat.S_ISSOCK),
                 ("symlink", stat.S_ISLNK)):
        if t(mode):
            return k
    return "?"


def lst(path, fields, follow=False):
    """Fields of (l)stat as a comma-joined string, or the errno name."""
    try:
        st = os.stat(path) if follow else os.lstat(path)
    except OSError as e:
        return ename(e.errno)
    out = []
    for f in fields.split(","):
        out.append({
            "type": lambda: kind_of(st.st_mode),
            "mode": lambda: "0%o" % stat.S_IMODE(st.st_mode),
            "nlink": lambda: str(st.st_nlink),
            "uid": lambda: str(st.st_uid),
            "gid": lambda: str(st.st_gid),
            "ino": lambda: str(st.st_ino),
            "size": lambda: str(st.st_size),
            "atime": lambda: str(st.st_atime_ns // 10**9),
            "mtime": lambda: str(st.st_mtime_ns // 10**9),
        }[f]())
    return ",".join(out)


def ctime(path, follow=False):
    """ctime in ns, once the clock has passed it: the kernel's own
    filesystems stamp with a clock that ticks every few milliseconds, and a
    change within the same tick would look like no change."""
    st = os.stat(path) if follow else os.lstat(path)
    while time.clock_gettime_ns(CLOCK_REALTIME_COARSE) <= st.st_ctime_ns:
        time.sleep(0.001)
    return st.st_ctime_ns


def times(path):
    st = os.lstat(path)
    return st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns


def to_past(path):
    """atime and mtime of path (not following a symlink) set to PAST."""
    utimensat(path, (PAST, 0), (PAST, 0), AT_SYMLINK_NOFOLLOW)


def utimensat(path, at, mt, flags=0, dirfd=AT_FDCWD):
    ts = (Timespec * 2)(Timespec(*at), Timespec(*mt))
    p = path.encode() if isinstance(path, str) else path
    if libc.utimensat(dirfd, p, ts, flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def raw(fname, *args):
    """A libc call with raw arguments: 0 or the errno name."""
    f = getattr(libc, fname)
    if f(*args) != 0:
        return ename(ctypes.get_errno())
    return 0


def open_close(path, flags, mode=0o644):
    os.close(os.open(path, flags, mode))


def ctime_moved(path, before, what, follow=False):
    try:
        after = ctime(path, follow)
    except OSError as e:
        fail("%s: stat %s: %s" % (what, path, ename(e.errno)))
        return
    if after <= before:
        fail("%s: ctime of %s did not move (%d -> %d)" % (what, path, before, after))


def ctime_kept(path, before, what, follow=False):
    try:
        after = ctime(path, follow)
    except OSError as e:
        fail("%s: stat %s: %s" % (what, path, ename(e.errno)))
        return
    if after != before:
        fail("%s: ctime of %s moved (%d -> %d)" % (what, path, before, after))


def mtime_moved(path, what):
    m = os.lstat(path).st_mtime_ns
    if m // 10**9 <= PAST:
        fail("%s: mtime of %s did not move from the past (%d)" % (what, path, m))


# ---- checks shared by several calls ------------------------------------

def name_max_path():
    return "x" * 255, "x" * 256


def path_max_pair(base):
    """A relative path of PATH_MAX-1 bytes (dirs made) and one byte more."""
    comps, total = [], len(base)
    while True:
        room = 4095 - total - 1  # the "/" before the next component
        if room <= 255:
            comps.append("y" * room)
            break
        comps.append("d" * 255)
        total += 256
    os.mkdir(base)
    cur = base
    for c in comps[:-1]:
        cur = cur + "/" + c
        os.mkdir(cur)
    full = cur + "/" + comps[-1]
    assert len(full) == 4095, len(full)
    return full, full + "x", base


def rm_tree(path):
    subprocess.run(["rm", "-rf", "--one-file-system", path], check=False)


def common_errnos(op, names, one_arg, create_ok, existing=None):
    """ENOTDIR, ENAMETOOLONG (name, path), ENOENT, ELOOP and EACCES on a
    prefix for a call taking a path; one_arg(path) -> 0/errno name.
    create_ok(path) is the call that succeeds on a fresh name (it creates
    it); or, with existing ("regular" or "dir"), one_arg must succeed on a
    name of that kind made first."""
    if create_ok is None and existing:
        def create_ok(p):
            return one_arg(p) if make(existing, p) else "not made"
    d = names + "_d"
    os.mkdir(d)
    for kind in ["regular", "fifo", "block", "char", "socket"]:
        p = d + "/nd"
        if make(kind, p):
            expect("ENOTDIR", one_arg(p + "/test"), "%s under a %s" % (op, kind))
            remove(p)
    n255, n256 = name_max_path()
    if create_ok:
        expect(0, create_ok(d + "/" + n255), "%s of a 255-byte name" % op)
        remove(d + "/" + n255)
    expect("ENAMETOOLONG", one_arg(d + "/" + n256), "%s of a 256-byte name" % op)
    full, over, top = path_max_pair(d + "/p")
    if create_ok:
        expect(0, create_ok(full), "%s of a path of PATH_MAX-1 bytes" % op)
        remove(full)
    expect("ENAMETOOLONG", one_arg(over), "%s of a path of PATH_MAX bytes" % op)
    rm_tree(top)
    expect("ENOENT", one_arg(d + "/nonexistent/test"), "%s under a missing directory" % op)
    os.symlink("l1", d + "/l0")
    os.symlink("l0", d + "/l1")
    expect("ELOOP", one_arg(d + "/l0/test"), "%s through a symlink loop" % op)
    expect("ELOOP", one_arg(d + "/l1/test"), "%s through a symlink loop" % op)
    os.unlink(d + "/l0")
    os.unlink(d + "/l1")
    # Search permission on a prefix (the suite's NN/05-style cases).
    os.mkdir(d + "/s", 0o755)
    os.chown(d + "/s", NOBODY, NOBODY)
    os.mkdir(d + "/s/t", 0o777)
    os.chown(d + "/s/t", NOBODY, NOBODY)
    if make("regular", d + "/s/t/f", 0o666, NOBODY, NOBODY):
        os.chmod(d + "/s", 0o644)
        expect("EACCES", as_user(NOBODY, NOBODY, one_arg, d + "/s/t/f"),
               "%s with no search permission on a prefix" % op)
        os.chmod(d + "/s", 0o755)
    rm_tree(d + "/s")
    os.rmdir(d)


def efault(op, fname, *args):
    for bad in (None, BADPTR):
        a = [ctypes.c_void_p(bad) if x == "BAD" else x for x in args]
        expect("EFAULT", raw(fname, *a), "%s with a bad path pointer (%s)" % (op, bad))


# ---- open ----------------------------------------------------------------

def g_open_create(d):
    """open/00, 26: O_CREAT applies the mode under the umask, owner from
    the caller; 0000 modes with every access mode."""
    n = d + "/f"
    for mode, umask, want in ((0o755, 0, "0755"), (0o151, 0, "0151"), (0o151, 0o077, "0100"),
                              (0o345, 0o070, "0305"), (0o345, 0o501, "0244")):
        expect(0, as_user(None, None, open_close, n, os.O_CREAT | os.O_WRONLY, mode, umask=umask),
               "open O_CREAT mode 0%o umask 0%o" % (mode, umask))
        expect("regular," + want, lst(n, "type,mode"), "mode after open O_CREAT 0%o umask 0%o" % (mode, umask))
        remove(n)
    os.chown(d, NOBODY, NOBODY)
    expect(0, u(NOBODY)(open_close, n, os.O_CREAT | os.O_WRONLY), "open O_CREAT as 65534")
    expect("65534,65534", lst(n, "uid,gid"), "owner of a file 65534 created")
    remove(n)
    expect(0, u(NOBODY, 65533)(open_close, n, os.O_CREAT | os.O_WRONLY), "open O_CREAT as 65534:65533")
    expect("65534,65533|65534,65534", lst(n, "uid,gid"), "owner of a file 65534:65533 created")
    remove(n)
    os.chmod(d, 0o777)
    expect(0, u(65533, 65532)(open_close, n, os.O_CREAT | os.O_WRONLY), "open O_CREAT as 65533:65532")
    expect("65533,65532|65533,65534", lst(n, "uid,gid"), "owner of a file 65533:65532 created")
    remove(n)
    os.chown(d, 0, 0)
    os.chmod(d, 0o755)
    for acc in (os.O_WRONLY, os.O_RDWR, os.O_RDONLY):
        expect(0, call(open_close, n, os.O_CREAT | acc, 0), "open O_CREAT mode 0 access %d" % acc)
        expect("regular,00", lst(n, "type,mode"), "mode after open O_CREAT mode 0 (access %d)" % acc)
        remove(n)


def g_open_times(d):
    """open/00: a new file gets fresh times and its directory's mtime and
    ctime move; O_CREAT of an existing name leaves the directory alone;
    O_TRUNC moves the file's mtime and ctime."""
    n = d + "/f"
    to_past(d)
    c0 = ctime(d)
    expect(0, call(open_close, n, os.O_CREAT | os.O_WRONLY), "open O_CREAT")
    a, m, c = times(n)
    if not (a > c0 and m > c0 and c > c0):
        fail("times of a new file (%d %d %d) not after the directory's old ctime %d" % (a, m, c, c0))
    mtime_moved(d, "open O_CREAT of a new name (parent)")
    ctime_moved(d, c0, "open O_CREAT of a new name (parent)")
    remove(n)
    make("regular", n)
    to_past(d)
    dm, dc = os.lstat(d).st_mtime_ns, ctime(d)
    expect(0, call(open_close, n, os.O_CREAT | os.O_RDONLY), "open O_CREAT|O_RDONLY of an existing file")
    expect(dm, os.lstat(d).st_mtime_ns, "parent mtime after O_CREAT of an existing name")
    ctime_kept(d, dc, "open O_CREAT of an existing name (parent)")
    remove(n)
    with open(n, "w") as f:
        f.write("test\n")
    expect("5", lst(n, "size"), "size after writing 5 bytes")
    to_past(n)
    c1 = ctime(n)
    expect(0, call(open_close, n, os.O_WRONLY | os.O_TRUNC), "open O_WRONLY|O_TRUNC")
    mtime_moved(n, "open O_TRUNC")
    ctime_moved(n, c1, "open O_TRUNC")
    expect("0", lst(n, "size"), "size after O_TRUNC")
    # An empty file: the times move all the same.
    to_past(n)
    c1 = ctime(n)
    expect(0, call(open_close, n, os.O_WRONLY | os.O_TRUNC), "open O_WRONLY|O_TRUNC of an empty file")
    mtime_moved(n, "open O_TRUNC of an empty file")
    ctime_moved(n, c1, "open O_TRUNC of an empty file")
    remove(n)


def g_open_errnos(d):
    """open/01-05, 12, 21: ENOTDIR, ENAMETOOLONG, ENOENT, EACCES on a
    prefix, ELOOP, EFAULT.  The suite takes its limits from pathconf:
    they must be the ones checked here."""
    expect(255, os.pathconf(d, "PC_NAME_MAX"), "pathconf NAME_MAX")
    expect(4096, os.pathconf(d, "PC_PATH_MAX"), "pathconf PATH_MAX")
    common_errnos("open", d + "/c", lambda p: call(open_close, p, os.O_RDONLY),
                  lambda p: call(open_close, p, os.O_CREAT | os.O_WRONLY, 0o642))
    make("regular", d + "/r")
    expect("ENOTDIR", call(open_close, d + "/r/test", os.O_CREAT | os.O_WRONLY), "open O_CREAT under a file")
    remove(d + "/r")
    efault("open", "open", "BAD", os.O_RDONLY)


def perm_matrix(path, opener, cases):
    """cases: (chmod mode, uid, gid, want) tried in order; chmod as owner
    65534."""
    for mode, uid, gid, want in cases:
        expect(0, u(NOBODY)(os.chmod, path, mode), "chmod 0%o as the owner" % mode)
        expect(want, u(uid, gid)(opener), "mode 0%o, caller %d:%d" % (mode, uid, gid))


def g_open_access(d):
    """open/06-08: EACCES from the mode bits for each access mode (owner,
    group, other), O_TRUNC without write permission, O_CREAT in a
    directory that is not writable."""
    os.chown(d, NOBODY, NOBODY)
    n = d + "/f"
    expect(0, u(NOBODY)(open_close, n, os.O_CREAT | os.O_WRONLY, 0o644), "create as 65534")
    who = [(NOBODY, NOBODY, 6), (65533, NOBODY, 3), (65533, 65533, 0)]  # owner, group, other
    for bits, r, w in ((6, 0, 0), (4, 0, "EACCES"), (2, "EACCES", 0), (1, "EACCES", "EACCES"),
                       (0, "EACCES", "EACCES")):
        for uid, gid, shift in who:
            # The class being tested gets `bits`, the other classes all.
            mode = (0o777 & ~(0o7 << shift)) | (bits << shift)
            expect(0, u(NOBODY)(os.chmod, n, mode), "chmod 0%o" % mode)
            rw = 0 if r == 0 and w == 0 else "EACCES"
            what = "open of mode 0%o as %d:%d" % (mode, uid, gid)
            expect(r, u(uid, gid)(open_close, n, os.O_RDONLY), what + " O_RDONLY")
            expect(w, u(uid, gid)(open_close, n, os.O_WRONLY), what + " O_WRONLY")
            expect(rw, u(uid, gid)(open_close, n, os.O_RDWR), what + " O_RDWR")
            if w != 0:
                expect("EACCES", u(uid, gid)(open_close, n, os.O_RDONLY | os.O_TRUNC), what + " O_RDONLY|O_TRUNC")
    expect(0, u(NOBODY)(os.chmod, n, 0o644), "chmod 0644")
    remove(n)
    # Directories: O_RDONLY needs read permission.
    expect(0, u(NOBODY)(os.mkdir, n, 0o755), "mkdir as 65534")
    for mode, uid, gid, want in ((0o477, NOBODY, NOBODY, 0), (0o277, NOBODY, NOBODY, "EACCES"),
                                 (0o747, 65533, NOBODY, 0), (0o727, 65533, NOBODY, "EACCES"),
                                 (0o774, 65533, 65533, 0), (0o771, 65533, 65533, "EACCES")):
        expect(0, u(NOBODY)(os.chmod, n, mode), "chmod 0%o" % mode)
        expect(want, u(uid, gid)(open_close, n, os.O_RDONLY), "open of a directory of mode 0%o as %d:%d" % (mode, uid, gid))
    remove(n)
    # FIFOs: O_RDONLY|O_NONBLOCK and O_RDWR by mode.
    if make("fifo", n, 0o644, NOBODY, NOBODY):
        for mode, rd, rw in ((0o600, 0, 0), (0o477, 0, "EACCES"), (0o277, "EACCES", "EACCES")):
            expect(0, u(NOBODY)(os.chmod, n, mode), "chmod fifo 0%o" % mode)
            expect(rd, u(NOBODY)(open_close, n, os.O_RDONLY | os.O_NONBLOCK), "open fifo 0%o O_RDONLY|O_NONBLOCK" % mode)
            expect(rw, u(NOBODY)(open_close, n, os.O_RDWR), "open fifo 0%o O_RDWR" % mode)
        remove(n)
    os.chown(d, 0, 0)
    os.chmod(d, 0o755)
    expect("EACCES", u(NOBODY)(open_close, d + "/new", os.O_RDONLY | os.O_CREAT, 0o644),
           "open O_CREAT in a directory 65534 cannot write")


def g_open_types(d):
    """open/13, 16, 17, 22, 23, 24: EISDIR, ELOOP with O_NOFOLLOW, ENXIO
    for a FIFO with no reader and for a socket, EEXIST with O_EXCL,
    EINVAL-or-0 for odd access modes."""
    n = d + "/n"
    os.mkdir(n)
    expect(0, call(open_close, n, os.O_RDONLY), "open a directory O_RDONLY")
    for fl, nm in ((os.O_WRONLY, "O_WRONLY"), (os.O_RDWR, "O_RDWR"), (os.O_RDONLY | os.O_TRUNC, "O_RDONLY|O_TRUNC"),
                   (os.O_WRONLY | os.O_TRUNC, "O_WRONLY|O_TRUNC"), (os.O_RDWR | os.O_TRUNC, "O_RDWR|O_TRUNC")):
        expect("EISDIR", call(open_close, n, fl), "open a directory " + nm)
    os.rmdir(n)
    os.symlink("target", n)
    for fl in (os.O_RDONLY | os.O_CREAT, os.O_RDONLY, os.O_WRONLY, os.O_RDWR):
        expect("ELOOP", call(open_close, n, fl | os.O_NOFOLLOW), "open a symlink with O_NOFOLLOW (%#o)" % fl)
    os.unlink(n)
    if make("fifo", n):
        expect("ENXIO", call(open_close, n, os.O_WRONLY | os.O_NONBLOCK), "open a FIFO O_WRONLY|O_NONBLOCK, no reader")
        remove(n)
    if make("socket", n):
        for fl in (os.O_RDONLY, os.O_WRONLY, os.O_RDWR):
            expect("ENXIO", call(open_close, n, fl), "open a unix socket (%d)" % fl)
        remove(n)
    for kind in ALL_TYPES:
        if make(kind, n):
            expect("EEXIST", call(open_close, n, os.O_CREAT | os.O_EXCL), "open O_CREAT|O_EXCL of a " + kind)
            remove(n)
    make("regular", n)
    for fl in (os.O_RDONLY | os.O_RDWR, os.O_WRONLY | os.O_RDWR, os.O_RDONLY | os.O_WRONLY | os.O_RDWR):
        expect("0|EINVAL", call(open_close, n, fl), "open with access bits %d" % fl)
    remove(n)


def txtbsy_probe(d):
    """open O_WRONLY, O_RDWR and truncate of a running copy of sleep(1)."""
    exe = d + "/sleeper"
    with open("/bin/sleep", "rb") as src, open(exe, "wb") as dst:
        dst.write(src.read())
    os.chmod(exe, 0o755)
    p = subprocess.Popen([exe, "30"])
    try:
        # Wait until the child is executing the file (its exe link says so).
        for _ in range(500):
            try:
                if os.readlink("/proc/%d/exe" % p.pid) == os.path.realpath(exe):
                    break
            except OSError:
                pass
            time.sleep(0.01)
        got = [call(open_close, exe, os.O_WRONLY), call(open_close, exe, os.O_RDWR),
               call(os.truncate, exe, 123)]
    finally:
        p.kill()
        p.wait()
    remove(exe)
    return got


def g_open_txtbsy(d):
    """open/20 (and truncate/11): a running executable cannot be opened
    for writing or truncated (ETXTBSY), exactly as on the kernel's own
    filesystem (MFS_POSIX_REF_DIR, a tmpfs) on this kernel."""
    got = txtbsy_probe(d)
    ref = os.environ.get("MFS_POSIX_REF_DIR")
    want = [str(x) for x in txtbsy_probe(ref)] if ref else ["ETXTBSY"] * 3
    for g, w, what in zip(got, want, ("open O_WRONLY", "open O_RDWR", "truncate")):
        expect(w, g, what + " of a running executable")


def g_open_large(d):
    """open/25: a byte written past 2 GiB reads back; the size is right."""
    n = d + "/big"
    off = 2 * 1024 ** 3 + 1
    fd = os.open(n, os.O_CREAT | os.O_WRONLY, 0o755)
    try:
        expect(1, os.pwrite(fd, b"a", off), "pwrite past 2 GiB")
    finally:
        os.close(fd)
    expect(str(off + 1), lst(n, "size"), "size after a write past 2 GiB")
    fd = os.open(n, os.O_RDONLY)
    try:
        expect(b"a", os.pread(fd, 1, off), "pread past 2 GiB")
    finally:
        os.close(fd)
    remove(n)


# ---- mkdir ---------------------------------------------------------------

def g_mkdir(d):
    """mkdir/00: mode under the umask, owner, times of the new directory
    and of its parent; nlink of the parent goes up by one."""
    n = d + "/n"
    for mode, umask, want in ((0o755, 0, "0755"), (0o151, 0, "0151"), (0o151, 0o077, "0100"),
                              (0o345, 0o070, "0305"), (0o345, 0o501, "0244")):
        expect(0, as_user(None, None, os.mkdir, n, mode, umask=umask), "mkdir 0%o umask 0%o" % (mode, umask))
        expect("dir," + want, lst(n, "type,mode"), "mode after mkdir 0%o umask 0%o" % (mode, umask))
        os.rmdir(n)
    os.chown(d, 65535, 65535)
    expect(0, u(65535)(os.mkdir, n, 0o755), "mkdir as 65535")
    expect("65535,65535", lst(n, "uid,gid"), "owner of a directory 65535 made")
    os.rmdir(n)
    expect(0, u(65535, 65534)(os.mkdir, n, 0o755), "mkdir as 65535:65534")
    expect("65535,65534|65535,65535", lst(n, "uid,gid"), "owner of a directory 65535:65534 made")
    os.rmdir(n)
    os.chmod(d, 0o777)
    expect(0, u(NOBODY, 65533)(os.mkdir, n, 0o755), "mkdir as 65534:65533")
    expect("65534,65533|65534,65535", lst(n, "uid,gid"), "owner of a directory 65534:65533 made")
    os.rmdir(n)
    os.chown(d, 0, 0)
    os.chmod(d, 0o755)
    to_past(d)
    c0 = ctime(d)
    nl = os.lstat(d).st_nlink
    expect(0, call(os.mkdir, n, 0o755), "mkdir")
    a, m, c = times(n)
    if not (a > c0 and m > c0 and c > c0):
        fail("times of a new directory (%d %d %d) not after the parent's old ctime %d" % (a, m, c, c0))
    mtime_moved(d, "mkdir (parent)")
    ctime_moved(d, c0, "mkdir (parent)")
    expect(nl + 1, os.lstat(d).st_nlink, "parent nlink after mkdir")
    expect("2", lst(n, "nlink"), "nlink of a new directory")
    os.rmdir(n)
    expect(nl, os.lstat(d).st_nlink, "parent nlink after rmdir")


def g_mkdir_errnos(d):
    """mkdir/01-05, 06 (EACCES), 10 (EEXIST), 12 (EFAULT)."""
    common_errnos("mkdir", d + "/c", lambda p: call(os.mkdir, p, 0o755),
                  lambda p: call(os.mkdir, p, 0o755))
    os.mkdir(d + "/w", 0o755)
    os.chown(d + "/w", NOBODY, NOBODY)
    expect(0, u(NOBODY)(os.mkdir, d + "/w/x", 0o755), "mkdir in a directory the caller owns")
    os.rmdir(d + "/w/x")
    os.chmod(d + "/w", 0o555)
    expect("EACCES", u(NOBODY)(os.mkdir, d + "/w/x", 0o755), "mkdir in a directory without write permission")
    os.chmod(d + "/w", 0o755)
    os.rmdir(d + "/w")
    for kind in ALL_TYPES:
        if make(kind, d + "/e"):
            expect("EEXIST", call(os.mkdir, d + "/e", 0o755), "mkdir over a " + kind)
            remove(d + "/e")
    efault("mkdir", "mkdir", "BAD", 0o755)


# ---- rmdir ---------------------------------------------------------------

def g_rmdir(d):
    """rmdir/00, 06, 10, 12: removes; parent times move; ENOTEMPTY;
    EINVAL for "." and ENOTEMPTY|EEXIST for ".."; ENOTDIR on a file."""
    n = d + "/n"
    os.mkdir(n)
    expect(0, call(os.rmdir, n), "rmdir")
    expect("ENOENT", lst(n, "type"), "lstat after rmdir")
    os.mkdir(n)
    os.mkdir(n + "/s")
    to_past(n)
    c0 = ctime(n)
    nl = os.lstat(n).st_nlink
    expect(0, call(os.rmdir, n + "/s"), "rmdir of a subdirectory")
    mtime_moved(n, "rmdir (parent)")
    ctime_moved(n, c0, "rmdir (parent)")
    expect(nl - 1, os.lstat(n).st_nlink, "parent nlink after rmdir")
    for kind in ALL_TYPES:
        if make(kind, n + "/x"):
            expect("ENOTEMPTY|EEXIST", call(os.rmdir, n), "rmdir of a directory holding a " + kind)
            remove(n + "/x")
    os.mkdir(n + "/s")
    expect("EINVAL", call(os.rmdir, n + "/s/."), "rmdir of .")
    expect("ENOTEMPTY|EEXIST", call(os.rmdir, n + "/s/.."), "rmdir of ..")
    os.rmdir(n + "/s")
    os.rmdir(n)
    for kind in NONDIR:
        if make(kind, n):
            expect("ENOTDIR", call(os.rmdir, n), "rmdir of a " + kind)
            remove(n)


def g_rmdir_errnos(d):
    """rmdir/01-05, 07-08, 11 (EACCES, sticky), 15 (EFAULT)."""
    common_errnos("rmdir", d + "/c", lambda p: call(os.rmdir, p), None, "dir")
    w = d + "/w"
    os.mkdir(w, 0o755)
    os.chown(w, NOBODY, NOBODY)
    expect(0, u(NOBODY)(os.mkdir, w + "/x", 0o755), "mkdir as owner")
    os.chmod(w, 0o555)
    expect("EACCES", u(NOBODY)(os.rmdir, w + "/x"), "rmdir in a directory without write permission")
    os.chmod(w, 0o755)
    expect(0, u(NOBODY)(os.rmdir, w + "/x"), "rmdir as owner of the parent")
    # Sticky directory: only the owner of the entry, of the directory, or root.
    os.chmod(w, 0o1777)
    for downer, eowner, who, want in ((NOBODY, NOBODY, NOBODY, 0), (NOBODY, 65533, NOBODY, 0),
                                      (0, NOBODY, NOBODY, 0), (0, 65533, NOBODY, "EACCES|EPERM"),
                                      (65533, 0, NOBODY, "EACCES|EPERM")):
        os.chown(w, downer, downer)
        os.mkdir(w + "/x", 0o755)
        os.chown(w + "/x", eowner, eowner)
        expect(want, u(who)(os.rmdir, w + "/x"),
               "rmdir in a sticky dir owned by %d of an entry owned by %d, as %d" % (downer, eowner, who))
        if os.path.lexists(w + "/x"):
            os.rmdir(w + "/x")
    os.rmdir(w)
    efault("rmdir", "rmdir", "BAD")


# ---- unlink --------------------------------------------------------------

def g_unlink(d):
    """unlink/00: every non-directory type goes; the parent's times move;
    the remaining link's ctime moves; a failed unlink changes nothing."""
    n, m = d + "/n", d + "/m"
    for kind in NONDIR:
        if make(kind, n):
            expect(kind, lst(n, "type"), "type of a new " + kind)
            expect(0, call(os.unlink, n), "unlink of a " + kind)
            expect("ENOENT", lst(n, "type"), "lstat after unlink of a " + kind)
    for kind in ["regular", "fifo", "block", "char", "socket"]:
        if make(kind, n):
            if expect(0, call(os.link, n, m), "link of a " + kind):
                c1 = ctime(n)
                expect(0, call(os.unlink, m), "unlink of a second link to a " + kind)
                ctime_moved(n, c1, "unlink of another link to a " + kind)
                expect("1", lst(n, "nlink"), "nlink after unlink of the other link")
            remove(m)
            remove(n)
    for kind in ["regular", "fifo", "block", "char", "socket"]:
        if make(kind, n):
            c1 = ctime(n)
            expect("EACCES", u(NOBODY)(os.unlink, n), "unlink of a %s by 65534 in a root directory" % kind)
            ctime_kept(n, c1, "failed unlink of a " + kind)
            remove(n)
    for kind in NONDIR:
        os.mkdir(n)
        if make(kind, n + "/x"):
            to_past(n)
            c0 = ctime(n)
            expect(0, call(os.unlink, n + "/x"), "unlink of a " + kind)
            mtime_moved(n, "unlink of a %s (parent)" % kind)
            ctime_moved(n, c0, "unlink of a %s (parent)" % kind)
        os.rmdir(n)


def g_unlink_errnos(d):
    """unlink/01-08, 11 (sticky), 13 (EFAULT); EISDIR|EPERM on a
    directory; unlink of an open file keeps its bytes readable."""
    common_errnos("unlink", d + "/c", lambda p: call(os.unlink, p), None, "regular")
    os.mkdir(d + "/dir")
    expect("EISDIR|EPERM", call(os.unlink, d + "/dir"), "unlink of a directory")
    os.rmdir(d + "/dir")
    w = d + "/w"
    os.mkdir(w, 0o755)
    os.chown(w, NOBODY, NOBODY)
    make("regular", w + "/f", 0o644, NOBODY, NOBODY)
    os.chmod(w, 0o555)
    expect("EACCES", u(NOBODY)(os.unlink, w + "/f"), "unlink in a directory without write permission")
    os.chmod(w, 0o755)
    expect(0, u(NOBODY)(os.unlink, w + "/f"), "unlink as the owner of the directory")
    os.chmod(w, 0o1777)
    for kind in NONDIR:
        for downer, eowner, want in ((NOBODY, NOBODY, 0), (NOBODY, 65533, 0), (0, NOBODY, 0),
                                     (65533, 65533, "EACCES|EPERM"), (0, 0, "EACCES|EPERM")):
            os.chown(w, downer, downer)
            if not make(kind, w + "/x", 0o644, eowner, eowner):
                break
            expect(want, u(NOBODY)(os.unlink, w + "/x"),
                   "unlink of a %s owned by %d in a sticky dir owned by %d, as 65534" % (kind, eowner, downer))
            remove(w + "/x")
    os.rmdir(w)
    # An open, unlinked file is still read and written through its fd.
    with open(d + "/o", "w+b") as f:
        f.write(b"hello")
        f.flush()
        os.unlink(d + "/o")
        f.seek(0)
        expect(b"hello", f.read(), "read of an unlinked open file")
        expect(0, os.fstat(f.fileno()).st_nlink, "nlink of an unlinked open file")
    efault("unlink", "unlink", "BAD")


# ---- rename --------------------------------------------------------------

def g_rename(d):
    """rename/00, 22, 23, 24: the inode moves with its name (same inode
    number, mode, nlink), hard links, directories, symlinks; the renamed
    inode's ctime moves; a failed rename keeps it; .. and nlinks of the
    parents follow a moved directory."""
    n0, n1, n2 = d + "/a", d + "/b", d + "/c"
    for kind in ["regular", "fifo", "block", "char", "socket"]:
        if not make(kind, n0):
            continue
        expect(kind + ",0644,1", lst(n0, "type,mode,nlink"), "a new " + kind)
        ino = lst(n0, "ino")
        expect(0, call(os.rename, n0, n1), "rename of a " + kind)
        expect("ENOENT", lst(n0, "type"), "old name after rename")
        expect("%s,%s,0644,1" % (kind, ino), lst(n1, "type,ino,mode,nlink"), "new name after rename of a " + kind)
        if expect(0, call(os.link, n1, n0), "link of a renamed " + kind):
            expect("%s,%s,0644,2" % (kind, ino), lst(n0, "type,ino,mode,nlink"), "link after rename")
            expect(0, call(os.rename, n1, n2), "rename of one of two links")
            expect("%s,%s,0644,2" % (kind, ino), lst(n0, "type,ino,mode,nlink"), "other link after rename")
            expect("%s,%s,0644,2" % (kind, ino), lst(n2, "type,ino,mode,nlink"), "renamed link")
        remove(n0)
        remove(n1)
        remove(n2)
    os.mkdir(n0, 0o755)
    ino = lst(n0, "ino")
    expect(0, call(os.rename, n0, n1), "rename of a directory")
    expect("dir,%s,0755" % ino, lst(n1, "type,ino,mode"), "directory after rename")
    os.rmdir(n1)
    make("regular", n0)
    rino = lst(n0, "ino")
    os.symlink("a", n1)
    sino = lst(n1, "ino")
    expect(0, call(os.rename, n1, n2), "rename of a symlink")
    expect("regular,%s,0644" % rino, lst(n2, "type,ino,mode", follow=True), "target through a renamed symlink")
    expect("symlink," + sino, lst(n2, "type,ino"), "renamed symlink")
    remove(n0)
    remove(n2)
    # ctime: moves on success, not on failure.
    for kind in ALL_TYPES:
        if make(kind, n0):
            c1 = ctime(n0)
            expect("EACCES", u(NOBODY)(os.rename, n0, n1), "rename of a %s by 65534 in a root directory" % kind)
            ctime_kept(n0, c1, "failed rename of a " + kind)
            expect(0, call(os.rename, n0, n1), "rename of a " + kind)
            ctime_moved(n1, c1, "rename of a " + kind)
            remove(n1)
    # The target has another link: its nlink drops and its ctime moves.
    for kind in ["regular", "fifo", "block", "char", "socket"]:
        if make(kind, n0) and make(kind, n1):
            if expect(0, call(os.link, n1, n2), "link of a " + kind):
                c1 = ctime(n2)
                expect(0, call(os.rename, n0, n1), "rename over a %s with two links" % kind)
                expect(kind + ",1", lst(n2, "type,nlink"), "other link of a replaced " + kind)
                ctime_moved(n2, c1, "rename over one link of a " + kind)
        for p in (n0, n1, n2):
            remove(p)
    # A directory moved between parents.
    sp, dp = d + "/sp", d + "/dp"
    os.mkdir(sp)
    os.mkdir(dp)
    os.mkdir(sp + "/x")
    expect("3", lst(sp, "nlink"), "nlink of a directory with one subdirectory")
    expect("2", lst(dp, "nlink"), "nlink of an empty directory")
    expect(lst(sp, "ino"), lst(sp + "/x/..", "ino"), "inode of x/..")
    expect(0, call(os.rename, sp + "/x", dp + "/y"), "rename of a directory to another parent")
    expect("2", lst(sp, "nlink"), "nlink of the old parent")
    expect("3", lst(dp, "nlink"), "nlink of the new parent")
    expect(lst(dp, "ino"), lst(dp + "/y/..", "ino"), "inode of y/.. after the move")
    # Parent times move on both sides.
    to_past(sp)
    to_past(dp)
    cs, cd = ctime(sp), ctime(dp)
    expect(0, call(os.rename, dp + "/y", sp + "/x"), "rename back")
    mtime_moved(sp, "rename into a directory (new parent)")
    mtime_moved(dp, "rename out of a directory (old parent)")
    ctime_moved(sp, cs, "rename into a directory (new parent)")
    ctime_moved(dp, cd, "rename out of a directory (old parent)")
    os.rmdir(sp + "/x")
    os.rmdir(sp)
    os.rmdir(dp)


def g_rename_dirs(d):
    """rename/12-14, 18-20: directory over an empty directory (succeeds),
    over a non-empty one (ENOTEMPTY|EEXIST), a file over a directory
    (EISDIR), a directory over a file (ENOTDIR), a directory into its own
    subtree (EINVAL), "." and ".." (EINVAL|EBUSY), a name onto itself."""
    a, b = d + "/a", d + "/b"
    os.mkdir(a)
    os.mkdir(a + "/inner")
    os.mkdir(b)
    ino = lst(a, "ino")
    nl = os.lstat(d).st_nlink
    expect(0, call(os.rename, a, b), "rename of a directory over an empty directory")
    expect("dir," + ino, lst(b, "type,ino"), "directory after replacing an empty one")
    expect("ENOENT", lst(a, "type"), "old name after replacing an empty directory")
    expect(nl - 1, os.lstat(d).st_nlink, "parent nlink after a directory replaced another")
    expect("3", lst(b, "nlink"), "nlink of the moved directory (one subdirectory)")
    os.mkdir(a)
    for kind in ALL_TYPES:
        if make(kind, b + "/z"):
            expect("EEXIST|ENOTEMPTY", call(os.rename, a, b), "rename over a directory holding a " + kind)
            expect("dir", lst(a, "type"), "source after a refused rename")
            remove(b + "/z")
    rm_tree(b)
    os.mkdir(b)
    for kind in NONDIR:
        if make(kind, d + "/f"):
            expect("EISDIR", call(os.rename, d + "/f", b), "rename of a %s over a directory" % kind)
            expect("dir", lst(b, "type"), "directory after a refused rename")
            expect(kind, lst(d + "/f", "type"), "source after a refused rename")
            expect("ENOTDIR", call(os.rename, b, d + "/f"), "rename of a directory over a " + kind)
            remove(d + "/f")
    os.mkdir(b + "/c")
    expect("EINVAL", call(os.rename, b, b + "/c"), "rename of a directory into its child")
    expect("EINVAL", call(os.rename, b, b + "/c/x"), "rename of a directory into its grandchild")
    expect("EINVAL|EBUSY", call(os.rename, b + "/c/.", d + "/q"), "rename of .")
    expect("EINVAL|EBUSY", call(os.rename, b + "/c/..", d + "/q"), "rename of ..")
    expect(0, call(os.rename, b, b), "rename of a directory onto itself")
    make("regular", d + "/f")
    expect(0, call(os.rename, d + "/f", d + "/f"), "rename of a file onto itself")
    if expect(0, call(os.link, d + "/f", d + "/g"), "link"):
        expect(0, call(os.rename, d + "/f", d + "/g"), "rename onto another link of the same file")
        expect("regular|ENOENT", lst(d + "/f", "type"), "source of a rename between two links")
        remove(d + "/g")
    remove(d + "/f")
    rm_tree(a)
    rm_tree(b)


def g_rename_errnos(d):
    """rename/01-08, 11, 17, 21: name and path limits, ENOENT, ENOTDIR,
    ELOOP, EACCES for write permission on either directory, EFAULT."""
    common_errnos("rename (from)", d + "/c", lambda p: call(os.rename, p, d + "/z") or call(os.rename, d + "/z", p),
                  None, "regular")
    make("regular", d + "/src")
    common_errnos("rename (to)", d + "/t", lambda p: call(os.rename, d + "/src", p),
                  lambda p: call(os.rename, d + "/src", p) or call(os.rename, p, d + "/src"))
    for kind in ["regular", "fifo", "block", "char", "socket"]:
        if make(kind, d + "/nd"):
            expect("ENOTDIR", call(os.rename, d + "/nd/test", d + "/x"), "rename from under a " + kind)
            expect("ENOTDIR", call(os.link, d + "/src", d + "/nd/test"), "link to under a " + kind)
            remove(d + "/nd")
    w1, w2 = d + "/w1", d + "/w2"
    for p in (w1, w2):
        os.mkdir(p, 0o755)
        os.chown(p, NOBODY, NOBODY)
    make("regular", w1 + "/f", 0o644, NOBODY, NOBODY)
    expect(0, u(NOBODY)(os.rename, w1 + "/f", w2 + "/f"), "rename between writable directories")
    os.chmod(w1, 0o555)
    expect("EACCES", u(NOBODY)(os.rename, w2 + "/f", w1 + "/f"), "rename into a directory without write permission")
    os.chmod(w1, 0o755)
    os.chmod(w2, 0o555)
    expect("EACCES", u(NOBODY)(os.rename, w2 + "/f", w1 + "/f"), "rename out of a directory without write permission")
    os.chmod(w2, 0o755)
    # Moving a directory to another parent needs write permission on it.
    os.mkdir(w1 + "/sub", 0o700)
    expect("0|EACCES", u(NOBODY)(os.rename, w1 + "/sub", w1 + "/sub2"), "rename of a root directory inside 65534's directory")
    rm_tree(w1)
    rm_tree(w2)
    efault("rename", "rename", "BAD", (d + "/src").encode())
    efault("rename", "rename", (d + "/src").encode(), "BAD")
    remove(d + "/src")


def sticky_rename_matrix(d):
    """rename/09, 10: renames out of and into a sticky directory by 65534,
    as owner of the directory, of the entry, of both, or of neither."""
    s, o = d + "/sticky", d + "/other"
    os.mkdir(s, 0o755)
    os.chmod(s, 0o1777)
    os.mkdir(o, 0o755)
    os.chown(o, NOBODY, NOBODY)
    for kind in NONDIR + ["dir"]:
        # From the sticky directory.
        for downer, eowner in ((NOBODY, NOBODY), (NOBODY, 0), (NOBODY, 65533), (0, NOBODY), (65533, NOBODY),
                               (0, 0), (65533, 65533)):
            os.chown(s, downer, downer)
            if not make(kind, s + "/e", 0o755, eowner, eowner):
                break
            ino = lst(s + "/e", "ino")
            allowed = NOBODY in (downer, eowner)
            if kind == "dir" and eowner != NOBODY:
                allowed = False  # moving it rewrites its "..": needs write permission on it
            want = 0 if allowed else "EACCES|EPERM"
            got = u(NOBODY)(os.rename, s + "/e", o + "/e")
            expect(want, got, "rename of a %s owned by %d out of a sticky dir owned by %d, as 65534"
                   % (kind, eowner, downer))
            if got == 0:
                expect("%s,%d,%d" % (ino, eowner, eowner), lst(o + "/e", "ino,uid,gid"), "entry after rename")
                expect(0, call(os.rename, o + "/e", s + "/e"), "rename back as root")
            else:
                expect("%s,%d,%d" % (ino, eowner, eowner), lst(s + "/e", "ino,uid,gid"), "entry after a refused rename")
            if kind == "dir" and NOBODY in (downer,) and eowner != NOBODY:
                expect(0, u(NOBODY)(os.rename, s + "/e", s + "/e2"), "rename of a directory within a sticky dir it owns")
                if os.path.lexists(s + "/e2"):
                    os.rename(s + "/e2", s + "/e")
            remove(s + "/e")
        # Into the sticky directory, over an existing entry.
        for downer, towner in ((NOBODY, NOBODY), (NOBODY, 0), (0, NOBODY), (0, 0), (65533, 65533)):
            os.chown(s, downer, downer)
            if not make(kind, o + "/e", 0o755, NOBODY, NOBODY):
                break
            if not make(kind, s + "/t", 0o755, towner, towner):
                remove(o + "/e")
                break
            ino = lst(o + "/e", "ino")
            want = 0 if NOBODY in (downer, towner) else "EACCES|EPERM"
            got = u(NOBODY)(os.rename, o + "/e", s + "/t")
            expect(want, got, "rename of a %s over one owned by %d in a sticky dir owned by %d, as 65534"
                   % (kind, towner, downer))
            if got == 0:
                expect(ino, lst(s + "/t", "ino"), "replaced entry's inode")
            else:
                expect("%d,%d" % (towner, towner), lst(s + "/t", "uid,gid"), "target after a refused rename")
            remove(s + "/t")
            remove(o + "/e")
    os.chown(s, 0, 0)
    os.rmdir(s)
    os.rmdir(o)


def g_rename_sticky(d):
    sticky_rename_matrix(d)


# ---- truncate and ftruncate ---------------------------------------------

def g_truncate(d):
    """truncate/00, 12, 13: sizes up and down, bytes kept, ctime and mtime
    move on success only; EFBIG|EINVAL (or success) past the limit;
    EINVAL for a negative length; EISDIR on a directory."""
    n = d + "/f"
    make("regular", n)
    expect(0, call(os.truncate, n, 1234567), "truncate up")
    expect("1234567", lst(n, "size"), "size after truncate up")
    expect(0, call(os.truncate, n, 567), "truncate down")
    expect("567", lst(n, "size"), "size after truncate down")
    remove(n)
    data = os.urandom(12345)
    with open(n, "wb") as f:
        f.write(data)
    expect(0, call(os.truncate, n, 23456), "truncate of a written file up")
    with open(n, "rb") as f:
        expect(True, f.read() == data + bytes(23456 - 12345), "bytes after truncate up (zeros after the data)")
    expect(0, call(os.truncate, n, 1), "truncate to 1")
    with open(n, "rb") as f:
        expect(data[:1], f.read(), "bytes after truncate to 1")
    remove(n)
    make("regular", n)
    to_past(n)
    c1 = ctime(n)
    expect(0, call(os.truncate, n, 123), "truncate")
    ctime_moved(n, c1, "truncate")
    mtime_moved(n, "truncate")
    c1 = ctime(n)
    expect(0, call(os.truncate, n, 123), "truncate to the same size")
    ctime_kept(n, c1, "truncate to the same size")
    expect("EACCES", u(NOBODY)(os.truncate, n, 123), "truncate by 65534 of root's 0644 file")
    ctime_kept(n, c1, "failed truncate")
    expect("EINVAL", call(os.truncate, n, -1), "truncate to -1")
    r = call(os.truncate, n, 999999999999999)
    if r == 0:
        expect("999999999999999", lst(n, "size"), "size after a huge truncate")
    else:
        expect("EFBIG|EINVAL", r, "truncate past the largest size")
        expect("123", lst(n, "size"), "size after a refused huge truncate")
    remove(n)
    os.mkdir(n)
    expect("EISDIR", call(os.truncate, n, 0), "truncate of a directory")
    os.rmdir(n)


def g_truncate_errnos(d):
    """truncate/01-07, 14 (EFAULT): limits, ENOENT, EACCES by mode and on a
    prefix, ELOOP."""
    common_errnos("truncate", d + "/c", lambda p: call(os.truncate, p, 123), None, "regular")
    os.chown(d, NOBODY, NOBODY)
    make("regular", d + "/f", 0o644, NOBODY, NOBODY)
    expect(0, u(NOBODY)(os.truncate, d + "/f", 10), "truncate by the owner")
    os.chmod(d + "/f", 0o444)
    expect("EACCES", u(NOBODY)(os.truncate, d + "/f", 5), "truncate of a read-only file")
    expect("EACCES", u(65533)(os.truncate, d + "/f", 5), "truncate by another user")
    os.chmod(d + "/f", 0o666)
    expect(0, u(65533)(os.truncate, d + "/f", 5), "truncate by another user with write permission")
    remove(d + "/f")
    os.chown(d, 0, 0)
    efault("truncate", "truncate", "BAD", ctypes.c_long(0))


def ftrunc(path, flags, length, mode=0o644):
    fd = os.open(path, flags, mode)
    try:
        os.ftruncate(fd, length)
    finally:
        os.close(fd)


def g_ftruncate(d):
    """ftruncate/00, 08-13: sizes through O_RDWR and O_WRONLY handles,
    ctime moves only on success, EINVAL on a read-only handle and for a
    negative length, EINVAL|EBADF on a directory handle, and a file made
    with mode 0 can be truncated through the handle that made it."""
    n = d + "/f"
    make("regular", n)
    expect(0, call(ftrunc, n, os.O_RDWR, 1234567), "ftruncate up (O_RDWR)")
    expect("1234567", lst(n, "size"), "size after ftruncate up")
    expect(0, call(ftrunc, n, os.O_WRONLY, 567), "ftruncate down (O_WRONLY)")
    expect("567", lst(n, "size"), "size after ftruncate down")
    remove(n)
    data = os.urandom(12345)
    with open(n, "wb") as f:
        f.write(data)
    expect(0, call(ftrunc, n, os.O_RDWR, 23456), "ftruncate of a written file up")
    expect("23456", lst(n, "size"), "size after ftruncate up")
    expect(0, call(ftrunc, n, os.O_WRONLY, 1), "ftruncate to 1")
    expect("1", lst(n, "size"), "size after ftruncate to 1")
    remove(n)
    make("regular", n)
    to_past(n)
    c1 = ctime(n)
    expect(0, call(ftrunc, n, os.O_RDWR, 123), "ftruncate")
    ctime_moved(n, c1, "ftruncate")
    mtime_moved(n, "ftruncate")
    c1 = ctime(n)
    expect(0, call(ftrunc, n, os.O_RDWR, 123), "ftruncate to the same size")
    ctime_moved(n, c1, "ftruncate to the same size")
    c1 = ctime(n)
    expect("EINVAL", u(NOBODY)(ftrunc, n, os.O_RDONLY, 1), "ftruncate of an O_RDONLY handle")
    ctime_kept(n, c1, "failed ftruncate")
    expect("EINVAL", call(ftrunc, n, os.O_RDWR, -1), "ftruncate to -1")
    expect("EINVAL", call(ftrunc, n, os.O_WRONLY, -999999), "ftruncate to -999999")
    remove(n)
    expect(0, call(ftrunc, n, os.O_CREAT | os.O_RDWR, 0, 0), "ftruncate of a file just made with mode 0")
    remove(n)
    os.chmod(d, 0o777)
    expect(0, u(NOBODY)(ftrunc, n, os.O_CREAT | os.O_RDWR, 0, 0), "ftruncate as 65534 of a file it made with mode 0")
    remove(n)
    os.chmod(d, 0o755)
    os.mkdir(n)
    expect("EINVAL|EBADF", call(ftrunc, n, os.O_RDONLY, 0), "ftruncate of a directory handle")
    os.rmdir(n)
    if make("fifo", n):
        r, w = os.open(n, os.O_RDONLY | os.O_NONBLOCK), None
        try:
            w = os.open(n, os.O_WRONLY)
            expect("EINVAL", call(os.ftruncate, w, 0), "ftruncate of a FIFO")
        finally:
            os.close(r)
            if w is not None:
                os.close(w)
        remove(n)
    expect("EBADF", call(os.ftruncate, 987654, 0), "ftruncate of a closed descriptor")


# ---- chmod ---------------------------------------------------------------

def g_chmod(d):
    """chmod/00, 11: every type, through a symlink too; ctime moves on
    success only (EPERM for a non-owner); the sticky bit on files and
    directories; a non-member's setgid bit is dropped."""
    n0, n1 = d + "/a", d + "/b"
    for kind in ALL_TYPES[:-1]:
        if not make(kind, n0):
            continue
        expect(0, call(os.chmod, n0, 0o111), "chmod of a " + kind)
        expect("0111", lst(n0, "mode", follow=True), "mode after chmod of a " + kind)
        os.symlink(n0.rsplit("/", 1)[1], n1)
        lmode = lst(n1, "mode")
        expect(0, call(os.chmod, n1, 0o222), "chmod through a symlink to a " + kind)
        expect("0222", lst(n0, "mode"), "mode of a %s chmodded through a symlink" % kind)
        expect(lmode, lst(n1, "mode"), "mode of the symlink itself")
        os.unlink(n1)
        os.chmod(n0, 0o755)
        c1 = ctime(n0)
        expect(0, call(os.chmod, n0, 0o111), "chmod of a " + kind)
        ctime_moved(n0, c1, "chmod of a " + kind)
        c1 = ctime(n0)
        expect("EPERM", u(NOBODY)(os.chmod, n0, 0o111), "chmod of root's %s by 65534" % kind)
        ctime_kept(n0, c1, "failed chmod of a " + kind)
        os.chmod(n0, 0o755)
        remove(n0)
    # Sticky bit.
    for kind in ALL_TYPES[:-1]:
        if make(kind, n0):
            expect(0, call(os.chmod, n0, 0o1621), "chmod 01621 of a " + kind)
            expect("01621", lst(n0, "mode"), "mode 01621 of a " + kind)
            os.chmod(n0, 0o755)
            remove(n0)
    os.mkdir(n0, 0o755)
    os.chown(n0, NOBODY, NOBODY)
    expect(0, u(NOBODY)(os.chmod, n0, 0o1755), "chmod 01755 of its directory by 65534")
    expect("01755", lst(n0, "mode"), "mode after chmod 01755")
    os.rmdir(n0)
    for kind in ["regular", "fifo", "block", "char", "socket"]:
        if make(kind, n0, 0o640, NOBODY, NOBODY):
            expect(0, u(NOBODY)(os.chmod, n0, 0o1644), "chmod 01644 of its %s by 65534" % kind)
            expect("01644", lst(n0, "mode"), "sticky bit on a %s set by its owner" % kind)
            remove(n0)
    # Setgid by a non-member of the file's group.
    make("regular", n0, 0o755, NOBODY, NOBODY)
    expect(0, u(NOBODY)(os.chmod, n0, 0o2755), "chmod 02755 by the owner in the group")
    expect("02755", lst(n0, "mode"), "mode after chmod 02755 by a member")
    expect(0, u(NOBODY)(os.chmod, n0, 0o755), "chmod 0755")
    expect(0, u(NOBODY, 65533)(os.chmod, n0, 0o2755), "chmod 02755 by the owner outside the group")
    expect("0755", lst(n0, "mode"), "mode after chmod 02755 by a non-member (setgid dropped)")
    remove(n0)


def g_chmod_errnos(d):
    """chmod/01-07 (limits, ENOENT, EACCES, ELOOP, EPERM), 10 (EFAULT), 12
    (a write by a non-owner clears setuid and setgid)."""
    common_errnos("chmod", d + "/c", lambda p: call(os.chmod, p, 0o642), None, "regular")
    n = d + "/f"
    os.mkdir(d + "/o", 0o755)
    os.chown(d + "/o", NOBODY, NOBODY)
    make("regular", d + "/o/f", 0o644, NOBODY, NOBODY)
    expect(0, u(NOBODY)(os.chmod, d + "/o/f", 0o642), "chmod by the owner")
    expect("EPERM", u(65533)(os.chmod, d + "/o/f", 0o641), "chmod by another user")
    expect("0642", lst(d + "/o/f", "mode"), "mode after a refused chmod")
    expect(0, call(os.chmod, d + "/o/f", 0o641), "chmod by root")
    os.symlink("f", d + "/o/l")
    expect("EPERM", u(65533)(os.chmod, d + "/o/l", 0o640), "chmod through a symlink by another user")
    os.chown(d + "/o/f", 0, 0)
    expect("EPERM", u(NOBODY)(os.chmod, d + "/o/f", 0o640), "chmod by the owner it was given away by")
    expect("EPERM", u(NOBODY)(os.chmod, d + "/o/l", 0o640), "the same through a symlink")
    expect("0641,0,0", lst(d + "/o/f", "mode,uid,gid"), "mode after refused chmods")
    rm_tree(d + "/o")

    def write_fstat_mode(path, flags):
        fd = os.open(path, flags)
        try:
            os.write(fd, b"x")
            return "0%o" % stat.S_IMODE(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
    for mode in (0o4777, 0o2777, 0o6777):
        os.close(os.open(n, os.O_CREAT | os.O_WRONLY, 0o644))
        os.chmod(n, mode)
        expect("0777", u(NOBODY)(write_fstat_mode, n, os.O_RDWR),
               "fstat after a write by a non-owner to a 0%o file" % mode)
        expect("0777", lst(n, "mode"), "mode after a write by a non-owner to a 0%o file" % mode)
        remove(n)
    efault("chmod", "chmod", "BAD", 0o644)


# ---- chown ---------------------------------------------------------------

def both(path, uid, gid, follow):
    return (os.chown if follow else os.lchown)(path, uid, gid)


def g_chown(d):
    """chown/00: root sets any owner (through symlinks with chown, on the
    link with lchown); an owner changes the group to one of its groups;
    -1/-1 works for anyone; setuid/setgid cleared when a non-root caller
    changes the owner or group of a file, kept for -1/-1; ctime moves on
    success only."""
    n0, n1 = d + "/a", d + "/b"
    for kind in ALL_TYPES:
        if kind != "symlink":
            if not make(kind, n0):
                continue
            expect(0, call(os.chown, n0, 123, 456), "chown of a " + kind)
            expect("123,456", lst(n0, "uid,gid"), "owner after chown of a " + kind)
            os.chown(n0, 0, 0)
            os.symlink("a", n1)
            lown = lst(n1, "uid,gid")
            expect(0, call(os.chown, n1, 123, 456), "chown through a symlink to a " + kind)
            expect("123,456", lst(n0, "uid,gid"), "owner of a %s chowned through a symlink" % kind)
            expect(lown, lst(n1, "uid,gid"), "owner of the symlink after chown through it")
            os.unlink(n1)
            remove(n0)
        if make(kind, n0):
            expect(0, call(os.lchown, n0, 123, 456), "lchown of a " + kind)
            expect("123,456", lst(n0, "uid,gid"), "owner after lchown of a " + kind)
            remove(n0)
    # An owner moves the group among its own groups; -1/-1 for anyone.
    mem = u(NOBODY, 65532, groups=[65532, 65531])
    for kind in ALL_TYPES:
        if not make(kind, n0):
            continue
        os.lchown(n0, NOBODY, 65533)
        expect(0, mem(os.lchown, n0, -1, 65532), "lchown -1:65532 of a %s by its owner, a member" % kind)
        expect("65534,65532", lst(n0, "uid,gid"), "owner after the owner changed the group")
        expect(0, mem(os.lchown, n0, NOBODY, 65531), "lchown 65534:65531 of a %s by its owner, a member" % kind)
        expect("65534,65531", lst(n0, "uid,gid"), "owner after the owner changed the group again")
        os.lchown(n0, 0, 0)
        expect(0, u(NOBODY)(os.lchown, n0, -1, -1), "lchown -1:-1 of root's %s by 65534" % kind)
        expect("0,0", lst(n0, "uid,gid"), "owner after lchown -1:-1")
        if kind != "symlink":
            expect(0, u(NOBODY)(os.chown, n0, -1, -1), "chown -1:-1 of root's %s by 65534" % kind)
        remove(n0)
    # setuid and setgid.
    for kind in ALL_TYPES[:-1]:
        if not make(kind, n0):
            continue
        os.chown(n0, NOBODY, 65533)
        os.chmod(n0, 0o6555)
        expect("06555,65534,65533", lst(n0, "mode,uid,gid"), "mode 06555 of a " + kind)
        expect(0, call(os.chown, n0, 65532, 65531), "chown by root of a 06555 " + kind)
        expect("06555,65532,65531|0555,65532,65531", lst(n0, "mode,uid,gid"), "mode after root's chown")
        if kind != "dir":  # Linux keeps them on directories
            mem2 = u(NOBODY, 65533, groups=[65533, 65532])
            os.chown(n0, NOBODY, 65533)
            os.chmod(n0, 0o6555)
            expect(0, mem2(os.chown, n0, NOBODY, 65532), "chown of a 06555 %s by its owner" % kind)
            expect("0555,65534,65532", lst(n0, "mode,uid,gid"), "setuid/setgid cleared by the owner's chown of a " + kind)
            os.chmod(n0, 0o6555)
            expect(0, mem2(os.chown, n0, -1, 65533), "chown -1:65533 of a 06555 " + kind)
            expect("0555,65534,65533", lst(n0, "mode,uid,gid"), "setuid/setgid cleared by the owner's chgrp of a " + kind)
            os.chmod(n0, 0o6555)
            expect(0, mem2(os.chown, n0, -1, -1), "chown -1:-1 of a 06555 " + kind)
            expect("06555,65534,65533|0555,65534,65533", lst(n0, "mode,uid,gid"), "mode after chown -1:-1")
        os.chmod(n0, 0o755)
        remove(n0)
    # ctime.
    for kind in ALL_TYPES:
        if not make(kind, n0):
            continue
        c1 = ctime(n0)
        expect(0, call(os.lchown, n0, NOBODY, 65533), "lchown of a " + kind)
        ctime_moved(n0, c1, "lchown of a " + kind)
        c1 = ctime(n0)
        expect(0, u(NOBODY, 65532)(os.lchown, n0, NOBODY, 65532), "lchown by the owner of a " + kind)
        ctime_moved(n0, c1, "lchown by the owner of a " + kind)
        os.lchown(n0, 0, 0)
        c1 = ctime(n0)
        expect("EPERM", u(NOBODY)(os.lchown, n0, NOBODY, -1), "lchown of root's %s to 65534" % kind)
        expect("EPERM", u(NOBODY)(os.lchown, n0, -1, NOBODY), "lchown of root's %s to group 65534" % kind)
        expect("EPERM", u(NOBODY)(os.lchown, n0, NOBODY, NOBODY), "lchown of root's %s to 65534:65534" % kind)
        ctime_kept(n0, c1, "failed lchown of a " + kind)
        expect("0,0", lst(n0, "uid,gid"), "owner after refused lchowns")
        remove(n0)


def g_chown_errnos(d):
    """chown/01-07 (limits, ENOENT, EACCES, ELOOP, EPERM for non-owners and
    groups the caller is not in), 10 (EFAULT)."""
    common_errnos("chown", d + "/c", lambda p: call(os.chown, p, 65534, 65534), None, "regular")
    o = d + "/o"
    os.mkdir(o, 0o755)
    os.chown(o, NOBODY, NOBODY)
    for kind in ALL_TYPES:
        if not make(kind, o + "/e", 0o644, NOBODY, NOBODY):
            continue
        what = "lchown of 65534's " + kind
        expect("EPERM", u(NOBODY)(os.lchown, o + "/e", 65533, 65533), what + " to another user, by the owner")
        expect("EPERM", u(65533)(os.lchown, o + "/e", NOBODY, NOBODY), what + " by another user")
        expect("EPERM", u(65533)(os.lchown, o + "/e", 65533, 65533), what + " to the caller, by another user")
        expect("EPERM", u(NOBODY)(os.lchown, o + "/e", -1, 65533), what + " to a group the owner is not in")
        remove(o + "/e")
    rm_tree(o)
    efault("chown", "chown", "BAD", 0, 0)


# ---- utimensat -----------------------------------------------------------

D1, D2 = 1900000000, 1950000000


def g_utimensat(d):
    """utimensat/00-09: every type, UTIME_NOW, UTIME_OMIT, atime and mtime
    in either order, through and not through symlinks, 100 ms precision,
    past 2038 and 2106, who may set which times, ctime moves."""
    n, s = d + "/n", d + "/s"
    for kind in ALL_TYPES[:-1]:
        if make(kind, n):
            expect(0, call(utimensat, n, (D1, 0), (D2, 0)), "utimensat of a " + kind)
            expect("%d,%d" % (D1, D2), lst(n, "atime,mtime"), "times of a " + kind)
            remove(n)
    make("regular", n)
    to_past(n)
    c1 = ctime(n)
    expect(0, call(utimensat, n, (0, UTIME_NOW), (0, UTIME_NOW)), "utimensat UTIME_NOW")
    a, m, c = times(n)
    if not (a // 10**9 > PAST and m // 10**9 > PAST and a >= c1 and m >= c1):
        fail("UTIME_NOW: atime %d mtime %d not now (ctime before %d)" % (a, m, c1))
    ctime_moved(n, c1, "utimensat UTIME_NOW")
    orig_m = lst(n, "mtime")
    expect(0, call(utimensat, n, (D1, 0), (0, UTIME_OMIT)), "utimensat atime, UTIME_OMIT")
    expect("%d,%s" % (D1, orig_m), lst(n, "atime,mtime"), "times after UTIME_OMIT for mtime")
    expect(0, call(utimensat, n, (0, UTIME_OMIT), (D2, 0)), "utimensat UTIME_OMIT, mtime")
    expect("%d,%d" % (D1, D2), lst(n, "atime,mtime"), "times after UTIME_OMIT for atime")
    c1 = ctime(n)
    expect(0, call(utimensat, n, (0, UTIME_OMIT), (0, UTIME_OMIT)), "utimensat UTIME_OMIT both")
    expect("%d,%d" % (D1, D2), lst(n, "atime,mtime"), "times after UTIME_OMIT for both")
    for a_, m_ in ((100000000, 200000000), (200000000, 100000000)):
        expect(0, call(utimensat, n, (a_, 0), (m_, 0)), "utimensat %d %d" % (a_, m_))
        expect("%d,%d" % (a_, m_), lst(n, "atime,mtime"), "atime and mtime in either order")
    expect(0, call(utimensat, n, (100000000, 100000000), (200000000, 200000000)), "utimensat with nanoseconds")
    st = os.lstat(n)
    expect("100000000,200000000", "%d,%d" % (st.st_atime_ns % 10**9, st.st_mtime_ns % 10**9), "nanoseconds kept")
    expect(0, call(utimensat, n, (2147483648, 0), (4294967296, 0)), "utimensat past 2038")
    expect("2147483648,4294967296", lst(n, "atime,mtime"), "times past 2038 and 2106")
    # Symlinks.
    os.symlink("n", s)
    expect(0, call(utimensat, n, (D1, 0), (D2, 0)), "utimensat of the target")
    expect(0, call(utimensat, s, (1960000000, 0), (1970000000, 0), AT_SYMLINK_NOFOLLOW), "utimensat of a symlink itself")
    expect("%d,%d" % (D1, D2), lst(n, "atime,mtime"), "target after utimensat of the link itself")
    expect("1960000000,1970000000", lst(s, "atime,mtime"), "times of the symlink itself")
    expect(0, call(utimensat, s, (1980000000, 0), (1990000000, 0)), "utimensat through a symlink")
    expect("1980000000,1990000000", lst(n, "atime,mtime"), "target after utimensat through the link")
    expect("1970000000", lst(s, "mtime"), "symlink's mtime after utimensat through it")
    os.unlink(s)
    remove(n)
    # Who: UTIME_NOW needs ownership or write permission; explicit times
    # need ownership.
    make("regular", n, 0o644)
    expect("EACCES", u(NOBODY)(utimensat, n, (0, UTIME_NOW), (0, UTIME_NOW)), "UTIME_NOW by a non-owner without write permission")
    for at, mt in (((0, UTIME_OMIT), (D2, 0)), ((D1, 0), (0, UTIME_OMIT)), ((D1, 0), (D2, 0))):
        expect("EPERM", u(NOBODY)(utimensat, n, at, mt), "explicit times by a non-owner")
    os.chmod(n, 0o666)
    c1 = ctime(n)
    for at, mt in (((0, UTIME_OMIT), (D2, 0)), ((D1, 0), (0, UTIME_OMIT)), ((D1, 0), (D2, 0))):
        expect("EPERM", u(NOBODY)(utimensat, n, at, mt), "explicit times by a non-owner with write permission")
    ctime_kept(n, c1, "refused utimensat")
    expect(0, u(NOBODY)(utimensat, n, (0, UTIME_NOW), (0, UTIME_NOW)), "UTIME_NOW by a non-owner with write permission")
    os.chown(n, NOBODY, NOBODY)
    os.chmod(n, 0o444)
    expect(0, u(NOBODY)(utimensat, n, (0, UTIME_NOW), (0, UTIME_NOW)), "UTIME_NOW by the owner of a 0444 file")
    expect(0, u(NOBODY)(utimensat, n, (D1, 0), (D2, 0)), "explicit times by the owner of a 0444 file")
    expect("%d,%d" % (D1, D2), lst(n, "atime,mtime"), "times set by the owner")
    expect(0, call(utimensat, n, (0, UTIME_OMIT), (0, UTIME_OMIT)), "UTIME_OMIT by root")
    expect(0, call(utimensat, n, (D2, 0), (D1, 0)), "explicit times by root")
    remove(n)
    # Through an open handle (futimens) and via a directory fd.
    make("regular", n)
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        expect(0, call(utimensat, b"n", (D1, 0), (D2, 0), 0, fd), "utimensat relative to a directory fd")
    finally:
        os.close(fd)
    expect("%d,%d" % (D1, D2), lst(n, "atime,mtime"), "times set relative to a directory fd")
    fd = os.open(n, os.O_WRONLY)
    try:
        os.utime(fd, ns=(D2 * 10**9, D1 * 10**9))
    finally:
        os.close(fd)
    expect("%d,%d" % (D2, D1), lst(n, "atime,mtime"), "times set through an open handle (futimens), after close")
    remove(n)


# ---- link, symlink, mkfifo and mknod, posix_fallocate ---------------------

def g_link(d):
    """link/00: every non-directory type gets a second name: one inode,
    nlink 2 on both names, its ctime and the target directory's times
    move; the names keep sharing attributes; unlink of one leaves 1."""
    n, m, sub = d + "/n", d + "/m", d + "/sub"
    os.mkdir(sub, 0o755)
    for kind in NONDIR:
        if not make(kind, n):
            continue
        to_past(sub)
        c0, cs = ctime(n), ctime(sub)
        if expect(0, call(os.link, n, sub + "/x"), "link of a " + kind):
            expect(lst(n, "type,ino,nlink"), lst(sub + "/x", "type,ino,nlink"),
                   "the two names of a " + kind)
            expect("2", lst(n, "nlink"), "nlink after link of a " + kind)
            ctime_moved(n, c0, "link of a " + kind)
            mtime_moved(sub, "link of a %s (target directory)" % kind)
            ctime_moved(sub, cs, "link of a %s (target directory)" % kind)
            if kind != "symlink":
                os.chmod(n, 0o601)
                os.chown(n, 65533, 65532)
                expect("0601,65533,65532", lst(sub + "/x", "mode,uid,gid"),
                       "mode and owner through the other name of a " + kind)
            expect(0, call(os.unlink, n), "unlink of the first name of a " + kind)
            expect("1", lst(sub + "/x", "nlink"), "nlink of the name left of a " + kind)
        remove(sub + "/x")
        remove(n)
    # Three names, then each removed in turn.
    if make("regular", n):
        for i in range(3):
            os.link(n, "%s%d" % (m, i))
        expect("4", lst(n, "nlink"), "nlink of a file with four names")
        for i in range(3):
            os.unlink("%s%d" % (m, i))
            expect(str(3 - i), lst(n, "nlink"), "nlink after removing name %d" % i)
        remove(n)
    os.rmdir(sub)


def g_link_errnos(d):
    """link/01-17: limits and ENOENT/ENOTDIR/ELOOP on either name, EEXIST
    for every type, EPERM for a directory, EACCES, a symlink linked
    itself (not its target), EFAULT."""
    src = d + "/src"
    make("regular", src)
    common_errnos("link (new name)", d + "/c", lambda p: call(os.link, src, p),
                  lambda p: call(os.link, src, p))
    common_errnos("link (old name)", d + "/o", lambda p: call(os.link, p, d + "/new"), None)
    remove(d + "/new")
    for kind in ALL_TYPES:
        if make(kind, d + "/e"):
            expect("EEXIST", call(os.link, src, d + "/e"), "link over a " + kind)
            remove(d + "/e")
    os.mkdir(d + "/dir")
    expect("EPERM", call(os.link, d + "/dir", d + "/dir2"), "link of a directory")
    expect("ENOENT", lst(d + "/dir2", "type"), "no name after a refused link of a directory")
    os.rmdir(d + "/dir")
    expect("ENOENT", call(os.link, d + "/missing", d + "/new"), "link of a missing name")
    os.symlink("src", d + "/sl")
    # link(2) itself, which does not follow (os.link's default does).
    expect(0, call(lambda a, b: os.link(a, b, follow_symlinks=False), d + "/sl", d + "/sl2"),
           "link of a symlink")
    expect("symlink,2", lst(d + "/sl2", "type,nlink"), "link of a symlink links the symlink")
    expect("1", lst(src, "nlink"), "the symlink's target keeps one name")
    remove(d + "/sl2")
    remove(d + "/sl")
    w = d + "/w"
    os.mkdir(w, 0o755)
    os.chown(w, NOBODY, NOBODY)
    os.chown(src, NOBODY, NOBODY)  # fs.protected_hardlinks: a file of the caller's own
    expect(0, u(NOBODY)(os.link, src, w + "/x"), "link into a directory the caller owns")
    remove(w + "/x")
    os.chmod(w, 0o555)
    expect("EACCES", u(NOBODY)(os.link, src, w + "/x"), "link into a directory without write permission")
    os.chmod(w, 0o755)
    os.rmdir(w)
    os.chown(src, 0, 0)
    expect("1", lst(src, "nlink"), "nlink after the refused links")
    efault("link", "link", "BAD", (d + "/x").encode())
    efault("link", "link", src.encode(), "BAD")
    remove(src)


def g_symlink(d):
    """symlink/00: type, target, size, owner of a new symlink; the
    directory's times move; a target of PATH_MAX-1 bytes is kept whole."""
    n = d + "/n"
    to_past(d)
    c0 = ctime(d)
    expect(0, call(os.symlink, "some/target", n), "symlink")
    expect("symlink,11,0,0,1", lst(n, "type,size,uid,gid,nlink"), "a new symlink")
    expect("some/target", os.readlink(n), "readlink of a new symlink")
    mtime_moved(d, "symlink (parent)")
    ctime_moved(d, c0, "symlink (parent)")
    os.unlink(n)
    os.chmod(d, 0o777)
    expect(0, u(65533, 65532)(os.symlink, "t", n), "symlink as 65533:65532")
    expect("65533,65532", lst(n, "uid,gid"), "owner of a symlink 65533:65532 made")
    os.unlink(n)
    os.chmod(d, 0o755)
    for tlen in (1, 255, 256, 1023, 4095):
        target = ("t" * 200 + "/") * (tlen // 201) + "u" * (tlen % 201)
        target = target[:tlen]
        if expect(0, call(os.symlink, target, n), "symlink to a %d-byte target" % tlen):
            expect(target, os.readlink(n), "readlink of a %d-byte target" % tlen)
            expect(str(tlen), lst(n, "size"), "size of a symlink to a %d-byte target" % tlen)
            os.unlink(n)
    expect("ENOENT", call(os.symlink, "", n), "symlink to an empty target")
    os.symlink("n", n)
    expect("ELOOP", call(os.stat, n), "stat through a symlink to itself")
    os.unlink(n)


def g_symlink_errnos(d):
    """symlink/01-12: limits and errnos of the new name, EEXIST for every
    type, EACCES, ENAMETOOLONG for a target of PATH_MAX bytes, EFAULT."""
    common_errnos("symlink", d + "/c", lambda p: call(os.symlink, "t", p),
                  lambda p: call(os.symlink, "t", p))
    for kind in ALL_TYPES:
        if make(kind, d + "/e"):
            expect("EEXIST", call(os.symlink, "t", d + "/e"), "symlink over a " + kind)
            remove(d + "/e")
    expect("ENAMETOOLONG", call(os.symlink, "t" * 4096, d + "/n"), "symlink to a 4096-byte target")
    w = d + "/w"
    os.mkdir(w, 0o755)
    os.chown(w, NOBODY, NOBODY)
    os.chmod(w, 0o555)
    expect("EACCES", u(NOBODY)(os.symlink, "t", w + "/x"), "symlink in a directory without write permission")
    os.rmdir(w)
    efault("symlink", "symlink", "BAD", (d + "/x").encode())
    efault("symlink", "symlink", b"t", "BAD")


def g_mknod(d):
    """mkfifo/00, mknod/00, 11: mode under the umask, owner, device
    numbers, times of the new node and its directory; EEXIST; limits."""
    n = d + "/n"
    for kind, fmt in (("fifo", stat.S_IFIFO), ("char", stat.S_IFCHR), ("block", stat.S_IFBLK)):
        for mode, umask, want in ((0o755, 0, "0755"), (0o151, 0o077, "0100"), (0o345, 0o501, "0244")):
            expect(0, as_user(None, None, os.mknod, n, fmt | mode, os.makedev(3, 7), umask=umask),
                   "mknod %s 0%o umask 0%o" % (kind, mode, umask))
            expect(kind + "," + want, lst(n, "type,mode"), "mode of a %s 0%o umask 0%o" % (kind, mode, umask))
            if kind != "fifo":
                expect(os.makedev(3, 7), os.lstat(n).st_rdev, "device numbers of a " + kind)
            os.unlink(n)
        to_past(d)
        c0 = ctime(d)
        expect(0, call(os.mknod, n, fmt | 0o644, os.makedev(5, 9)), "mknod of a " + kind)
        a, m, c = times(n)
        if not (a > c0 and m > c0 and c > c0):
            fail("times of a new %s (%d %d %d) not after the parent's old ctime %d" % (kind, a, m, c, c0))
        mtime_moved(d, "mknod of a %s (parent)" % kind)
        ctime_moved(d, c0, "mknod of a %s (parent)" % kind)
        for other in ALL_TYPES:
            if make(other, d + "/e"):
                expect("EEXIST", call(os.mknod, d + "/e", fmt | 0o644, 0), "mknod of a %s over a %s" % (kind, other))
                remove(d + "/e")
        os.unlink(n)
    os.chmod(d, 0o777)
    expect(0, u(65533, 65532)(os.mkfifo, n, 0o644), "mkfifo as 65533:65532")
    expect("fifo,65533,65532", lst(n, "type,uid,gid"), "owner of a fifo 65533:65532 made")
    os.unlink(n)
    expect("EPERM", u(65533, 65532)(os.mknod, n, stat.S_IFCHR | 0o644, os.makedev(1, 3)),
           "mknod of a char device as 65533")
    os.chmod(d, 0o755)
    common_errnos("mkfifo", d + "/c", lambda p: call(os.mkfifo, p, 0o644),
                  lambda p: call(os.mkfifo, p, 0o644))


def g_fallocate(d):
    """posix_fallocate/00: the size grows to off + len and never shrinks,
    the new bytes read as zeros and the old ones are kept, ctime moves;
    EINVAL for len 0 and negative offsets, EBADF for a read-only handle."""
    n = d + "/f"
    with open(n, "wb") as f:
        f.write(b"abc" * 1000)
    fd = os.open(n, os.O_RDWR)
    try:
        c0 = ctime(n)
        expect(0, call(os.posix_fallocate, fd, 0, 10000), "posix_fallocate to 10000")
        expect("10000", lst(n, "size"), "size after posix_fallocate to 10000")
        ctime_moved(n, c0, "posix_fallocate that grows")
        expect(0, call(os.posix_fallocate, fd, 100, 200), "posix_fallocate inside the file")
        expect("10000", lst(n, "size"), "size after posix_fallocate inside the file")
        expect(0, call(os.posix_fallocate, fd, 20000, 5000), "posix_fallocate past the end")
        expect("25000", lst(n, "size"), "size after posix_fallocate past the end")
        expect("EINVAL", call(os.posix_fallocate, fd, 0, 0), "posix_fallocate of length 0")
        expect("EINVAL", call(os.posix_fallocate, fd, -1, 10), "posix_fallocate at offset -1")
    finally:
        os.close(fd)
    with open(n, "rb") as f:
        data = f.read()
    expect(True, data[:3000] == b"abc" * 1000, "bytes kept by posix_fallocate")
    expect(True, data[3000:] == bytes(22000), "bytes added by posix_fallocate are zeros")
    fd = os.open(n, os.O_RDONLY)
    try:
        expect("EBADF", call(os.posix_fallocate, fd, 0, 30000), "posix_fallocate of a read-only handle")
    finally:
        os.close(fd)
    expect("25000", lst(n, "size"), "size after the refused posix_fallocate")
    os.unlink(n)


# ---- readdir ----------------------------------------------------------------

SYS_GETDENTS64 = 217  # x86_64


def getdents(fd, size):
    """One getdents64 call with a buffer of size bytes: its names, or an errno name."""
    buf = ctypes.create_string_buffer(size)
    n = libc.syscall(SYS_GETDENTS64, fd, buf, size)
    if n < 0:
        return ename(ctypes.get_errno())
    names, off = [], 0
    while off < n:
        reclen = struct.unpack_from("<H", buf.raw, off + 16)[0]
        names.append(buf.raw[off + 19:off + reclen].split(b"\0")[0].decode())
        off += reclen
    return names


def fill_dir(n, count):
    os.mkdir(n)
    names = ["%04d-%s" % (i, "n" * (i % 40)) for i in range(count)]
    for name in names:
        os.close(os.open(n + "/" + name, os.O_CREAT | os.O_WRONLY, 0o644))
    return names


def dirstream_fns():
    for fn, res, args in (("opendir", ctypes.c_void_p, [ctypes.c_char_p]),
                          ("readdir", ctypes.c_void_p, [ctypes.c_void_p]),
                          ("telldir", ctypes.c_long, [ctypes.c_void_p]),
                          ("seekdir", None, [ctypes.c_void_p, ctypes.c_long]),
                          ("closedir", ctypes.c_int, [ctypes.c_void_p])):
        getattr(libc, fn).restype = res
        getattr(libc, fn).argtypes = args


def dirstream_name(dp):
    e = libc.readdir(dp)
    return ctypes.string_at(e + 19).decode() if e else None


def g_readdir(d):
    """Not in pjdfstest: a listing whose caller removes what it has read
    (rm -rf) sees every entry once, whatever its buffer size (musl's
    readdir reads 2 KiB at a time); a buffer that takes one entry lists
    "." and ".." once; seekdir to a telldir position after earlier entries
    were removed resumes at the entry it was at."""
    for size in (256, 2048):
        n = d + "/rm%d" % size
        names = fill_dir(n, 400)
        fd = os.open(n, os.O_RDONLY | os.O_DIRECTORY)
        seen = []
        try:
            while True:
                got = getdents(fd, size)
                if not isinstance(got, list) or not got:
                    break
                for name in got:
                    if name not in (".", ".."):
                        seen.append(name)
                        os.unlink(n + "/" + name)
        finally:
            os.close(fd)
        expect(len(names), len(seen), "entries listed while removing them, %d-byte getdents" % size)
        expect(len(seen), len(set(seen)), "entries listed twice while removing them, %d-byte getdents" % size)
        expect(0, len(os.listdir(n)), "entries left after removing each one listed, %d-byte getdents" % size)
        rm_tree(n)
    n = d + "/one"
    names = [chr(ord("a") + i) for i in range(26)]
    os.mkdir(n)
    for name in names:
        os.mkdir(n + "/" + name)
    fd = os.open(n, os.O_RDONLY | os.O_DIRECTORY)
    seen = []
    try:
        for _ in range(100):
            got = getdents(fd, 32)
            if not isinstance(got, list) or not got:
                break
            seen += got
    finally:
        os.close(fd)
    expect(sorted(names + [".", ".."]), sorted(seen), "a listing by 32-byte getdents, one entry a call")
    rm_tree(n)
    names = fill_dir(n, 30)
    dirstream_fns()
    dp = libc.opendir(n.encode())
    try:
        first = [dirstream_name(dp) for _ in range(12)]
        pos = libc.telldir(dp)
        at = dirstream_name(dp)
        for name in first:
            if name not in (".", ".."):
                os.unlink(n + "/" + name)
        libc.seekdir(dp, pos)
        expect(at, dirstream_name(dp), "seekdir to a telldir position after the entries before it were removed")
    finally:
        libc.closedir(dp)
    rm_tree(n)


# ---- extended attribute names ---------------------------------------------

def g_xattr_names(d):
    """user.* names at their limits: "user." alone is EINVAL for set, get and
    remove (the VFS finds the handler, the name is empty); 255 bytes is the
    longest name (ERANGE past it); the size probe and a short buffer."""
    f = d + "/f"
    make("regular", f)
    for what, fn in (("setxattr", lambda: os.setxattr(f, "user.", b"v")),
                     ("getxattr", lambda: os.getxattr(f, "user.")),
                     ("removexattr", lambda: os.removexattr(f, "user."))):
        expect("EINVAL", call(fn), what + " of user. (empty name)")
    expect(0, call(os.setxattr, f, "user." + "n" * 250, b"1"), "setxattr, name of 255 bytes")
    expect("ERANGE", call(os.setxattr, f, "user." + "n" * 251, b"1"), "setxattr, name of 256 bytes")
    expect(0, call(os.setxattr, f, "user.a", b"12345"), "setxattr user.a")
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(2)
    n = libc.getxattr(f.encode(), b"user.a", None, ctypes.c_size_t(0))
    expect(5, n, "getxattr size probe")
    n = libc.getxattr(f.encode(), b"user.a", buf, ctypes.c_size_t(2))
    expect("ERANGE", ename(ctypes.get_errno()) if n < 0 else n, "getxattr into 2 bytes")
    names = [x for x in os.listxattr(f) if x.startswith("user.")]
    expect(True, "user." not in names and "user.a" in names, "listxattr names")
    os.unlink(f)


# ---- read-only mount -----------------------------------------------------

def erofs(d):
    """open/14-15, mkdir/09, rmdir/14, unlink/12, rename/16, truncate/10,
    ftruncate/10, chmod/09, chown/09: EROFS on a read-only mount."""
    f, sub = d + "/f", d + "/sub"
    expect(0, call(open_close, f, os.O_RDONLY), "open O_RDONLY")
    expect("EROFS", call(open_close, f, os.O_WRONLY), "open O_WRONLY")
    expect("EROFS", call(open_close, f, os.O_RDWR), "open O_RDWR")
    expect("EROFS", call(open_close, f, os.O_RDONLY | os.O_TRUNC), "open O_RDONLY|O_TRUNC")
    expect("EROFS", call(open_close, d + "/new", os.O_CREAT | os.O_RDONLY), "open O_CREAT")
    expect(0, call(open_close, f, os.O_CREAT | os.O_RDONLY), "open O_CREAT of an existing file")
    expect("EROFS", call(os.mkdir, d + "/new"), "mkdir")
    expect("EROFS", call(os.rmdir, sub), "rmdir")
    expect("EROFS", call(os.unlink, f), "unlink")
    expect("EROFS", call(os.rename, f, d + "/g"), "rename")
    expect("EROFS", call(os.truncate, f, 1), "truncate")
    expect("EROFS", call(os.chmod, f, 0o600), "chmod")
    expect("EROFS", call(os.chown, f, 1, 1), "chown")
    expect("EROFS", call(utimensat, f, (D1, 0), (D2, 0)), "utimensat")
    expect("EROFS", call(os.symlink, "x", d + "/new"), "symlink")
    fd = os.open(f, os.O_RDONLY)
    try:
        expect("EINVAL|EROFS", call(os.ftruncate, fd, 0), "ftruncate of an O_RDONLY handle")
    finally:
        os.close(fd)


GROUPS = [
    ("open-create", g_open_create, "open: O_CREAT mode under the umask, owner, mode 0000"),
    ("open-times", g_open_times, "open: times of a new file and its directory, O_TRUNC times"),
    ("open-errnos", g_open_errnos, "open: ENOTDIR ENAMETOOLONG ENOENT EACCES ELOOP EFAULT"),
    ("open-access", g_open_access, "open: EACCES by mode for each access mode, O_TRUNC, O_CREAT"),
    ("open-types", g_open_types, "open: EISDIR, O_NOFOLLOW, FIFO and socket ENXIO, EEXIST, EINVAL"),
    ("open-txtbsy", g_open_txtbsy, "open and truncate: ETXTBSY of a running executable"),
    ("open-large", g_open_large, "open: a byte past 2 GiB"),
    ("mkdir", g_mkdir, "mkdir: mode, owner, times, parent nlink"),
    ("mkdir-errnos", g_mkdir_errnos, "mkdir: limits ENOENT ENOTDIR EACCES ELOOP EEXIST EFAULT"),
    ("rmdir", g_rmdir, "rmdir: parent times and nlink, ENOTEMPTY, . and .., ENOTDIR"),
    ("rmdir-errnos", g_rmdir_errnos, "rmdir: limits ENOENT EACCES ELOOP, sticky directories, EFAULT"),
    ("unlink", g_unlink, "unlink: every type, parent times, ctime of the other link"),
    ("unlink-errnos", g_unlink_errnos, "unlink: limits EACCES ELOOP EISDIR, sticky directories, open files"),
    ("rename", g_rename, "rename: inode kept, hard links, ctime, nlink and .. of moved directories"),
    ("rename-dirs", g_rename_dirs, "rename: over empty/non-empty dirs, EISDIR ENOTDIR EINVAL"),
    ("rename-errnos", g_rename_errnos, "rename: limits ENOENT ENOTDIR ELOOP EACCES EFAULT"),
    ("rename-sticky", g_rename_sticky, "rename: out of and into sticky directories"),
    ("truncate", g_truncate, "truncate: sizes, bytes, ctime/mtime, EFBIG EINVAL EISDIR"),
    ("truncate-errnos", g_truncate_errnos, "truncate: limits ENOENT EACCES ELOOP EFAULT"),
    ("ftruncate", g_ftruncate, "ftruncate: sizes, ctime, EINVAL EBADF, mode-0 files"),
    ("chmod", g_chmod, "chmod: every type, symlinks, ctime, sticky bit, setgid by non-members"),
    ("chmod-errnos", g_chmod_errnos, "chmod: limits EPERM EFAULT, a write clears setuid/setgid"),
    ("chown", g_chown, "chown: root, owners and groups, -1, setuid/setgid clearing, ctime"),
    ("chown-errnos", g_chown_errnos, "chown: limits, EPERM for non-owners and foreign groups"),
    ("utimensat", g_utimensat, "utimensat: UTIME_NOW/OMIT, symlinks, precision, 2038, permissions"),
    ("link", g_link, "link: every type, one inode, nlink, ctime, target directory times"),
    ("link-errnos", g_link_errnos, "link: limits ENOENT ENOTDIR ELOOP EEXIST EPERM EACCES EFAULT"),
    ("symlink", g_symlink, "symlink: type, target, size, owner, times, long targets"),
    ("symlink-errnos", g_symlink_errnos, "symlink: limits EEXIST EACCES ENAMETOOLONG EFAULT"),
    ("mknod", g_mknod, "mknod and mkfifo: modes, owners, device numbers, times, EEXIST EPERM"),
    ("fallocate", g_fallocate, "posix_fallocate: size, zeros, ctime, EINVAL EBADF"),
    ("readdir", g_readdir, "readdir: removals while listing, small getdents buffers, seekdir"),
    ("xattr-names", g_xattr_names, "user.* names: empty EINVAL, 255 bytes, ERANGE, size probe"),
]


def main(argv):
    if argv[1] == "list":
        for name, _, desc in GROUPS:
            print("%s\t%s" % (name, desc))
        return 0
    if argv[1] == "erofs":
        erofs(argv[2])
    else:
        name, top = argv[2], argv[3]
        for gname, fn, _ in GROUPS:
            if name not in ("all", gname):
                continue
            d = os.path.join(top, gname)
            os.mkdir(d, 0o755)
            os.chmod(d, 0o755)
            t0 = time.monotonic()
            try:
                fn(d)
            except Exception as e:  # a check that could not go on
                fail("%s: stopped by %s: %s" % (gname, type(e).__name__, e))
            rm_tree(d)
            if os.environ.get("MFS_POSIX_TIMES"):
                print("%s: %.2f s" % (gname, time.monotonic() - t0), file=sys.stderr)
            if os.path.lexists(d):
                fail("%s: could not remove its directory" % gname)
    stop_workers()
    seen = {}
    for f in failures:
        seen[f] = seen.get(f, 0) + 1
    for f, k in list(seen.items())[:60]:
        print(f + (" (x%d)" % k if k > 1 else ""), file=sys.stderr)
    if len(seen) > 60:
        print("... and %d more distinct failures" % (len(seen) - 60), file=sys.stderr)
    print("%d checks, %d failed" % (checked[0], len(failures)), file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main(sys.argv))
