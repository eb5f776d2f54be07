#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A process opens a file, writes, fsyncs (the commit gives the path a new
# inode, fuse/view.c) and takes an fcntl lock and a flock on it; a child
# then opens the path and tries both locks without waiting.  On tmpfs
# both are refused (EAGAIN).  On the mount the kernel keeps the locks of
# each inode apart, and the child's open reached the newer inode: it gets
# both.  SQLite relies on these locks between processes: the s40 tool hunt
# saw a connection take another's live -journal for a hot one, roll it back
# and delete it (SQLITE_IOERR_DELETE_NOENT), and WAL readers and writers
# fail (t0417).  The daemon keeps the locks itself, per file (fuse/locks.c).
# The second part compares what the lock calls get on tmpfs and on the
# mount, each case after a commit: F_GETLK, ranges split and merged, close
# and death dropping POSIX locks, F_SETLKW waking at the unlock and ending
# when its process is killed, flock conversion, OFD locks.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
R=$WORK/ref
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"
check "tmpfs reference" mfs_tmpfs "$R" "16m,nosuid,nodev" || mfs_abort "no tmpfs"

cat >"$WORK/locks.py" <<'PYEOF'
# locks.py DIR: what a child's non-blocking lockf and flock get.
import fcntl, os, sys

p = os.path.join(sys.argv[1], "f")
with open(p, "wb") as f:
    f.write(b"x" * 100)
a = os.open(p, os.O_RDWR)
os.write(a, b"y")
os.fsync(a)
fcntl.lockf(a, fcntl.LOCK_EX)
fcntl.flock(a, fcntl.LOCK_EX)
pid = os.fork()
if pid == 0:
    b = os.open(p, os.O_RDWR)
    for name, call in (("lockf", fcntl.lockf), ("flock", fcntl.flock)):
        try:
            call(b, fcntl.LOCK_EX | fcntl.LOCK_NB)
            print(name, "granted")
        except OSError as e:
            print(name, "refused", e.errno)
    os._exit(0)
os.waitpid(pid, 0)
PYEOF

same() {
	"$PY" "$WORK/locks.py" "$R" >"$WORK/ref.out" 2>&1 &&
	"$PY" "$WORK/locks.py" "$M" >"$WORK/mnt.out" 2>&1 &&
	diff -u "$WORK/ref.out" "$WORK/mnt.out" >&2
}
check "a lock taken before an fsync's commit excludes a process that opened after it" same

cat >"$WORK/semantics.py" <<'PYEOF'
# semantics.py DIR: what lock requests get, printed for a diff with tmpfs.
# The holder's descriptor `a` writes and fsyncs before each case: the
# commit gives the path a new inode, which every later open reaches.
import fcntl, os, signal, struct, sys

FL = "hh4xqqi4x"                    # struct flock on x86_64 and aarch64
F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW = 36, 37, 38
p = os.path.join(sys.argv[1], "f")
with open(p, "wb") as f:
    f.write(b"x" * 200)
a = os.open(p, os.O_RDWR)


def commit():
    os.pwrite(a, b"y", 0)
    os.fsync(a)


def lk(fd, cmd, typ, start, length):
    """fcntl lock: 'ok', 'EAGAIN' and the like, or for GETLK what it reports."""
    try:
        r = fcntl.fcntl(fd, cmd, struct.pack(FL, typ, 0, start, length, 0))
    except OSError as e:
        return os.strerror(e.errno)
    t, _, s, n, pid = struct.unpack(FL, r)
    if cmd in (fcntl.F_GETLK, F_OFD_GETLK):
        if t == fcntl.F_UNLCK:
            return "unlocked"
        return "type %d start %d len %d pid %s" % (
            t, s, n, "holder" if pid == holder else pid)
    return "ok"


def fl(fd, op):
    try:
        fcntl.flock(fd, op)
        return "ok"
    except OSError as e:
        return os.strerror(e.errno)


def child(fn):
    """Runs fn(fd) in a child with its own descriptor of the path; its lines."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        b = os.open(p, os.O_RDWR)
        out = fn(b)
        os.write(w, ("\n".join(out) + "\n").encode())
        os._exit(0)
    os.close(w)
    data = b""
    while True:
        c = os.read(r, 4096)
        if not c:
            break
        data += c
    os.close(r)
    os.waitpid(pid, 0)
    return data.decode().splitlines()


def show(name, lines):
    for line in lines:
        print(name + ":", line)


def in_syscall(pid):
    """Whether pid sits in fcntl(2) (72 on x86_64; elsewhere any call), or exited."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        with open("/proc/%d/syscall" % pid) as f:
            nr = f.read().split()[0]
    except OSError:
        return True
    if nr == "running":
        return False
    return os.uname().machine != "x86_64" or nr == "72"


holder = os.getpid()
W, R, U = fcntl.F_WRLCK, fcntl.F_RDLCK, fcntl.F_UNLCK

# F_GETLK reports the holder's range, type and pid through another inode.
commit()
print("set", lk(a, fcntl.F_SETLK, W, 10, 10))
show("getlk", child(lambda b: [lk(b, fcntl.F_GETLK, W, 0, 0),
                               lk(b, fcntl.F_GETLK, R, 20, 5),
                               lk(b, fcntl.F_SETLK, W, 19, 1),
                               lk(b, fcntl.F_SETLK, W, 20, 1)]))

# Split: an unlock in the middle of a range leaves two; merge: relocking joins them.
commit()
print("set", lk(a, fcntl.F_SETLK, W, 0, 100))
print("unlock middle", lk(a, fcntl.F_SETLK, U, 40, 20))
show("split", child(lambda b: [lk(b, fcntl.F_SETLK, W, 45, 5),
                               lk(b, fcntl.F_SETLK, U, 45, 5),
                               lk(b, fcntl.F_SETLK, W, 30, 5),
                               lk(b, fcntl.F_SETLK, W, 65, 5),
                               lk(b, fcntl.F_GETLK, W, 0, 0),
                               lk(b, fcntl.F_GETLK, W, 50, 50)]))
commit()
print("relock middle", lk(a, fcntl.F_SETLK, W, 40, 20))
show("merge", child(lambda b: [lk(b, fcntl.F_GETLK, W, 50, 1)]))
print("downgrade", lk(a, fcntl.F_SETLK, R, 0, 100))
show("read", child(lambda b: [lk(b, fcntl.F_SETLK, R, 0, 100),
                              lk(b, fcntl.F_SETLK, W, 99, 1),
                              lk(b, fcntl.F_GETLK, W, 0, 0)]))

# close(2) of any descriptor of the file (here one on its newer inode) drops them.
commit()
c = os.open(p, os.O_RDONLY)
os.close(c)
show("after close", child(lambda b: [lk(b, fcntl.F_SETLK, W, 0, 0)]))

# The holder's death drops its locks.
commit()
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    b = os.open(p, os.O_RDWR)
    os.write(w, lk(b, fcntl.F_SETLK, W, 0, 0).encode())
    os.read(os.open("/dev/null", os.O_RDONLY), 1)
    signal.pause()
    os._exit(0)
os.close(w)
print("child locked", os.read(r, 100).decode())
print("while it lives", lk(a, fcntl.F_SETLK, W, 0, 1))
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
print("after its death", lk(a, fcntl.F_SETLK, W, 0, 1))
lk(a, fcntl.F_SETLK, U, 0, 0)

# F_SETLKW waits while the holder holds, and gets the lock when it unlocks.
commit()
print("set", lk(a, fcntl.F_SETLK, W, 0, 0))
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    b = os.open(p, os.O_RDWR)
    os.write(w, b"waiting\n")
    os.write(w, ("setlkw " + lk(b, fcntl.F_SETLKW, W, 0, 0) + "\n").encode())
    os._exit(0)
os.close(w)
rf = os.fdopen(r)
print(rf.readline().strip())
while not in_syscall(pid):
    os.sched_yield()
print("unlock", lk(a, fcntl.F_SETLK, U, 0, 0))
print(rf.readline().strip())
rf.close()
os.waitpid(pid, 0)

# A waiter killed while it waits ends (the daemon answers its INTERRUPT).
commit()
print("set", lk(a, fcntl.F_SETLK, W, 0, 0))
pid = os.fork()
if pid == 0:
    b = os.open(p, os.O_RDWR)
    lk(b, fcntl.F_SETLKW, W, 0, 0)
    os._exit(3)
while not in_syscall(pid):
    os.sched_yield()
os.kill(pid, signal.SIGKILL)
print("killed waiter", os.waitpid(pid, 0)[1])
show("after", child(lambda b: [lk(b, fcntl.F_SETLK, W, 0, 0)]))
print("unlock", lk(a, fcntl.F_SETLK, U, 0, 0))

# flock: shared by two, conversion (Linux drops the old lock when one fails).
commit()
print("flock sh", fl(a, fcntl.LOCK_SH | fcntl.LOCK_NB))


def conv(b):
    out = [fl(b, fcntl.LOCK_SH | fcntl.LOCK_NB),
           fl(b, fcntl.LOCK_EX | fcntl.LOCK_NB)]
    return out


show("flock", child(conv))
print("flock ex", fl(a, fcntl.LOCK_EX | fcntl.LOCK_NB))
show("flock vs ex", child(lambda b: [fl(b, fcntl.LOCK_SH | fcntl.LOCK_NB)]))
print("flock down", fl(a, fcntl.LOCK_SH | fcntl.LOCK_NB))
show("flock vs sh", child(lambda b: [fl(b, fcntl.LOCK_SH | fcntl.LOCK_NB),
                                     fl(b, fcntl.LOCK_EX | fcntl.LOCK_NB)]))
# The child's descriptor closed: its RELEASE drops its flock (a blocking
# flock waits for it: the kernel sends RELEASE after close returns).
print("flock un", fl(a, fcntl.LOCK_UN))
b2 = os.open(p, os.O_RDWR)
print("flock other ex", fl(b2, fcntl.LOCK_EX | fcntl.LOCK_NB))
print("flock a", fl(a, fcntl.LOCK_EX | fcntl.LOCK_NB))
os.close(b2)
print("flock a waits for the close", fl(a, fcntl.LOCK_EX))
print("flock un", fl(a, fcntl.LOCK_UN))

# OFD locks: per open file description, even within one process.
commit()
o1 = os.open(p, os.O_RDWR)
o2 = os.open(p, os.O_RDWR)
print("ofd 1", lk(o1, F_OFD_SETLK, W, 0, 10))
print("ofd 2", lk(o2, F_OFD_SETLK, W, 5, 10))
print("ofd 2 other range", lk(o2, F_OFD_SETLK, W, 10, 10))
print("posix vs ofd", lk(a, fcntl.F_SETLK, W, 0, 1))
# (Linux shows l_pid -1 for an OFD lock; through FUSE the taker's pid.)
print("ofd getlk", lk(o2, F_OFD_GETLK, W, 0, 5).split(" pid")[0])
os.close(o1)
print("ofd 2 waits for o1's close", lk(o2, F_OFD_SETLKW, W, 0, 10))
os.close(o2)
print("posix after", lk(a, fcntl.F_SETLKW, W, 0, 0))
PYEOF

same_semantics() {
	"$PY" "$WORK/semantics.py" "$R" >"$WORK/ref2.out" 2>&1 &&
	"$PY" "$WORK/semantics.py" "$M" >"$WORK/mnt2.out" 2>&1 &&
	diff -u "$WORK/ref2.out" "$WORK/mnt2.out" >&2
}
check "lock calls across commits get what they get on tmpfs" same_semantics

cat >"$WORK/rand.py" <<'PYEOF'
# rand.py DIR SEED: three processes, each with its own descriptor of the
# path (opened after a commit of the first descriptor's), take and drop
# random byte ranges in turn (F_SETLK, and F_GETLK: which of several
# conflicting locks it reports is unspecified, so only whether one does).
import fcntl, os, random, struct, sys

FL = "hh4xqqi4x"
p = os.path.join(sys.argv[1], "r")
rng = random.Random(int(sys.argv[2]))
with open(p, "wb") as f:
    f.write(b"x" * 64)
a = os.open(p, os.O_RDWR)
os.pwrite(a, b"y", 0)
os.fsync(a)
procs = []
for i in range(3):
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    pid = os.fork()
    if pid == 0:
        fd = os.open(p, os.O_RDWR)
        inp, out = os.fdopen(r1), os.fdopen(w2, "w")
        for line in inp:
            if line.strip() == "end":
                os._exit(0)
            cmd, t, s, n = (int(x) for x in line.split())
            try:
                r = fcntl.fcntl(fd, cmd, struct.pack(FL, t, 0, s, n, 0))
                t = struct.unpack(FL, r)[0]
                res = "ok" if cmd != fcntl.F_GETLK else (
                    "none" if t == fcntl.F_UNLCK else "conflict")
            except OSError as e:
                res = os.strerror(e.errno)
            out.write(res + "\n")
            out.flush()
        os._exit(0)
    procs.append((pid, os.fdopen(w1, "w"), os.fdopen(r2)))
for step in range(400):
    i = rng.randrange(3)
    cmd = fcntl.F_GETLK if rng.random() < 0.2 else fcntl.F_SETLK
    t = rng.choice((fcntl.F_RDLCK, fcntl.F_WRLCK, fcntl.F_UNLCK, fcntl.F_RDLCK))
    if cmd == fcntl.F_GETLK and t == fcntl.F_UNLCK:
        t = fcntl.F_WRLCK
    s = rng.randrange(40)
    n = rng.choice((0, 1, 2, 5, 10, 20))
    _, w, r = procs[i]
    w.write("%d %d %d %d\n" % (cmd, t, s, n))
    w.flush()
    print(step, i, cmd, t, s, n, r.readline().strip())
for pid, w, r in procs:
    w.write("end\n")
    w.flush()
    os.waitpid(pid, 0)
PYEOF

same_random() {
	local seed
	for seed in 1 2 3; do
		"$PY" "$WORK/rand.py" "$R" "$seed" >"$WORK/rand-ref.out" 2>&1 &&
		"$PY" "$WORK/rand.py" "$M" "$seed" >"$WORK/rand-mnt.out" 2>&1 &&
		diff -u "$WORK/rand-ref.out" "$WORK/rand-mnt.out" >&2 || return 1
	done
}
check "3 processes' random ranges (3 x 400 requests) get what they get on tmpfs" same_random

cat >"$WORK/many.py" <<'PYEOF'
# many.py DIR N: N processes wait in F_SETLKW on the path's newer inode
# while the holder holds (more than the daemon's threads: a waiter holds
# none); at the unlock each takes the lock in turn, adds 1 to the number in
# the file, fsyncs (a commit: a new inode) and unlocks.  The holder writes
# 1000 just before it unlocks: the sum is 1000 + N if none went before.
import fcntl, os, sys

p = os.path.join(sys.argv[1], "cnt")
n = int(sys.argv[2])
with open(p, "wb") as f:
    f.write(b"0".ljust(16))
a = os.open(p, os.O_RDWR)
os.pwrite(a, b"0", 0)
os.fsync(a)
fcntl.lockf(a, fcntl.LOCK_EX)
kids = []
for i in range(n):
    pid = os.fork()
    if pid == 0:
        b = os.open(p, os.O_RDWR)
        fcntl.lockf(b, fcntl.LOCK_EX)
        v = int(os.pread(b, 16, 0).strip()) + 1
        os.pwrite(b, str(v).encode().ljust(16), 0)
        os.fsync(b)
        fcntl.lockf(b, fcntl.LOCK_UN)
        os._exit(0)
    kids.append(pid)


def waiting(pid):
    """In fcntl(2) (72 on x86_64; elsewhere any call), or exited."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        with open("/proc/%d/syscall" % pid) as f:
            nr = f.read().split()[0]
    except OSError:
        return True
    return nr != "running" and (os.uname().machine != "x86_64" or nr == "72")


for k in kids:
    while not waiting(k):
        os.sched_yield()
os.stat(p)                              # the daemon still answers
os.pwrite(a, b"1000".ljust(16), 0)      # what no waiter saw before the unlock
os.fsync(a)
fcntl.lockf(a, fcntl.LOCK_UN)
for k in kids:
    os.waitpid(k, 0)
print(int(os.pread(os.open(p, os.O_RDONLY), 16, 0).strip()))
PYEOF

many() {
	local got
	got=$("$PY" "$WORK/many.py" "$M" 48) && expect_eq "$got" 1048 "the sum"
}
check "48 waiters in F_SETLKW wait for the holder, then take the lock in turn" many

cat >"$WORK/grants.py" <<'PYEOF'
# grants.py DIR: waiters a grant must not leave behind, for a diff with tmpfs.
# 1. O holds W [0,99], P W [200,300]; Q waits for R [50,60] (O's), then O
#    waits for R [0,300] (P's).  P unlocks: O's grant turns its W [0,99]
#    into R, so Q goes on too.
# 2. One open file description: thread T waits in flock(LOCK_EX) while C
#    holds LOCK_SH, and the main thread takes LOCK_SH|LOCK_NB meanwhile.
#    C unlocks: T's EX replaces the description's SH, and one LOCK_UN
#    leaves the file unlocked for another process.
import fcntl, os, select, struct, sys, threading

FL = "hh4xqqi4x"
R, W, U = fcntl.F_RDLCK, fcntl.F_WRLCK, fcntl.F_UNLCK
d = sys.argv[1]


def lk(fd, cmd, typ, start, length):
    fcntl.fcntl(fd, cmd, struct.pack(FL, typ, 0, start, length, 0))


def sits(path, nr):
    """Waits until the task of /proc path sits in syscall nr (x86_64; elsewhere any call)."""
    while True:
        with open(path + "/syscall") as f:
            got = f.read().split()[0]
        if got != "running" and (os.uname().machine != "x86_64" or got == nr):
            return


def child(fn):
    pid = os.fork()
    if pid == 0:
        fn()
        os._exit(0)
    return pid


p = os.path.join(d, "g1")
with open(p, "wb") as f:
    f.write(b"x" * 400)
rd, wr = os.pipe()
go_p, go_o = os.pipe(), os.pipe()


def holder(typ_start_len, go, then):
    fd = os.open(p, os.O_RDWR)
    lk(fd, fcntl.F_SETLK, *typ_start_len)
    os.write(wr, b"-")
    os.read(go[0], 1)
    then(fd)
    os.read(go[0], 1)


def p_then(fd):
    lk(fd, fcntl.F_SETLK, U, 200, 101)


def o_then(fd):
    lk(fd, fcntl.F_SETLKW, R, 0, 301)
    os.write(wr, b"O")


def q():
    fd = os.open(p, os.O_RDWR)
    lk(fd, fcntl.F_SETLKW, R, 50, 11)
    os.write(wr, b"Q")
    os.read(go_p[0], 1)


pp = child(lambda: holder((W, 200, 101), go_p, p_then))
po = child(lambda: holder((W, 0, 100), go_o, o_then))
os.read(rd, 1)
os.read(rd, 1)
pq = child(q)
sits("/proc/%d" % pq, "72")
os.write(go_o[1], b"g")
sits("/proc/%d" % po, "72")
os.write(go_p[1], b"u")
got = b""
# A bound only against a hang, generous for a loaded machine: a waiter
# left behind waits for ever.
while len(got) < 2 and select.select([rd], [], [], 120)[0]:
    got += os.read(rd, 2 - len(got))
print("granted after the unlock:", "".join(sorted(got.decode())) or "none")
for pid in (pp, po, pq):
    os.kill(pid, 9)
    os.waitpid(pid, 0)

p = os.path.join(d, "g2")
with open(p, "wb") as f:
    f.write(b"x")
go = os.pipe()


def c():
    fd = os.open(p, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH)
    os.write(wr, b"c")
    os.read(go[0], 1)
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.read(go[0], 1)


pc = child(c)
os.read(rd, 1)
fd = os.open(p, os.O_RDONLY)
tids = []
t = threading.Thread(target=lambda: (tids.append(threading.get_native_id()),
                                     fcntl.flock(fd, fcntl.LOCK_EX)))
t.start()
while not tids:
    pass
sits("/proc/self/task/%d" % tids[0], "73")
fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
os.write(go[1], b"u")
t.join()
fcntl.flock(fd, fcntl.LOCK_UN)


def other():
    try:
        fcntl.flock(os.open(p, os.O_RDONLY), fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(wr, b"y")
    except OSError:
        os.write(wr, b"n")


pd = child(other)
os.waitpid(pd, 0)
print("another's LOCK_EX|LOCK_NB after the LOCK_UN:", os.read(rd, 1).decode())
os.kill(pc, 9)
os.waitpid(pc, 0)
PYEOF

same_grants() {
	"$PY" "$WORK/grants.py" "$R" >"$WORK/ref4.out" 2>&1 &&
	"$PY" "$WORK/grants.py" "$M" >"$WORK/mnt4.out" 2>&1 &&
	diff -u "$WORK/ref4.out" "$WORK/mnt4.out" >&2
}
check "a grant that frees its owner's range wakes who waits; flock grants convert" same_grants

alive() { pid_alive "$(mfs_daemon_pid "$M")" && ls "$M" >/dev/null; }
check "the daemon lived" alive

mfs_done
