#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Driver of t0426: a writer whose open(2) meets a commit of the file
in progress writes on from the bytes that commit publishes, and a writer
that opens the path after it shares those bytes, as on tmpfs.

    t0426-writer-open-during-commit.py CASE FILE HOLD ROUNDS

Processes of their own keep their descriptors; each step waits for the
one before.  HOLD is the daemon's MODELFS_TEST_COMMIT_HOLD: a close's
commit waits there, holding the file's node, while another open comes in.

CASE "superseded", per round: A and B open FILE O_RDWR (one staging); A
  writes n+1 and closes: its commit gives the path a new inode, B still
  writes (a view, view.c).  B writes n+2, then closes, its commit held;
  C opens FILE O_RDWR meanwhile (the kernel's dentry names the inode of
  A's commit, which B's commit is about to supersede); the hold goes; C
  must read n+2, writes n+3 and closes.  C's staging started from A's
  version: it read n+1, and its close published over B's bytes.
CASE "alone", per round: A writes n+1 and closes alone, its commit held;
  B opens meanwhile (on the inode that commit supersedes: it writes A's
  staging on), reads n+1, writes n+2 and stays open; then C opens the
  path: it must read n+2 (B's bytes), writes n+3; B closes, then C.
  The commit made no view (every writer had closed), so C made a staging
  of its own from the commit's bytes, n+1.
Two processes counting in a file under lockf (open, lock, read, write,
unlock, close) lost about 1 update in 10 to these.
Prints one line per round; exit 1 at the first wrong value.
"""
import os
import sys
import time

CASE, FILE, HOLD, ROUNDS = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def proc():
    """A process that runs the ops it is sent on its own descriptor."""
    cr, cw = os.pipe()
    rr, rw = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(cw)
        os.close(rr)
        fd = -1
        while True:
            op = os.read(cr, 64).decode()
            if not op:
                os._exit(0)
            out = "ok"
            try:
                if op == "open":
                    fd = os.open(FILE, os.O_RDWR)
                elif op == "close":
                    os.close(fd)
                elif op == "read":
                    out = os.pread(fd, 64, 0).decode().strip()
                else:  # a value to write
                    os.pwrite(fd, op.encode() + b"\n", 0)
            except OSError as e:
                out = "error %s" % e
            os.write(rw, out.encode())
    os.close(cr)
    os.close(rw)
    return cw, rr, pid


def send(p, op):
    os.write(p[0], op.encode())


def answer(p):
    return os.read(p[1], 128).decode()


def do(p, op):
    send(p, op)
    return answer(p)


def done(*ps):
    """Ends these processes: each holds the others' pipes, so all close first."""
    for p in ps:
        os.close(p[0])
        os.close(p[1])
    for p in ps:
        os.waitpid(p[2], 0)


def in_open(pid):
    """Whether the process waits in an openat(2) (x86_64: 257; aarch64: 56)."""
    try:
        with open("/proc/%d/syscall" % pid) as f:
            nr = f.read().split()[0]
    except (OSError, IndexError):
        return False
    return nr in ("257", "56")


def wait_for(cond, what):
    for _ in range(240 * 20):  # the long bound of lib.sh's wait_until
        if cond():
            return
        time.sleep(0.05)
    sys.exit("never: " + what)


def alone(rounds):
    """CASE alone (see the top)."""
    with open(FILE, "w") as f:
        f.write("0\n")
    n = 0
    for r in range(rounds):
        a = proc()
        assert do(a, "open") == "ok"
        assert do(a, str(n + 1)) == "ok"
        for f in (HOLD, HOLD + ".held"):
            if os.path.exists(f):
                os.unlink(f)
        send(a, "close")
        wait_for(lambda: os.path.exists(HOLD + ".held"), "A's commit held")
        b = proc()
        send(b, "open")
        wait_for(lambda: in_open(b[2]), "B in open(2)")
        open(HOLD, "w").close()
        assert answer(a) == "ok"
        assert answer(b) == "ok"
        got_b = do(b, "read")
        assert do(b, str(n + 2)) == "ok"
        cr, cw = os.pipe()
        cpid = os.fork()
        if cpid == 0:
            fd = os.open(FILE, os.O_RDWR)
            got = os.pread(fd, 64, 0).decode().strip()
            os.write(cw, got.encode())
            os.pwrite(fd, b"%d\n" % (int(got) + 1), 0)
            os.close(fd)
            os._exit(0)
        got_c = os.read(cr, 64).decode()
        os.waitpid(cpid, 0)
        assert do(b, "close") == "ok"
        with open(FILE) as f:
            final = f.read().strip()
        print("alone round %d: B read %s (want %d), C read %s (want %d), the file has %s" %
              (r, got_b, n + 1, got_c, n + 2, final), flush=True)
        done(a, b)
        if got_b != str(n + 1) or got_c != str(n + 2):
            sys.exit(1)
        n = int(final)


def main():
    if CASE == "alone":
        alone(ROUNDS)
        return
    with open(FILE, "w") as f:
        f.write("0\n")
    n = 0
    for r in range(ROUNDS):
        a, b = proc(), proc()
        for p in (a, b):
            assert do(p, "open") == "ok"
        assert do(a, str(n + 1)) == "ok"
        assert do(a, "close") == "ok"
        assert do(b, str(n + 2)) == "ok"
        if os.path.exists(HOLD):
            os.unlink(HOLD)
        if os.path.exists(HOLD + ".held"):
            os.unlink(HOLD + ".held")
        send(b, "close")  # its commit waits for HOLD
        wait_for(lambda: os.path.exists(HOLD + ".held"), "B's commit held")
        cpid = os.fork()
        if cpid == 0:  # C: open during the commit, read, write, close
            fd = os.open(FILE, os.O_RDWR)
            got = os.pread(fd, 64, 0).decode().strip()
            os.pwrite(fd, b"%d\n" % (int(got) + 1), 0)
            os.close(fd)
            os._exit(0 if got == str(n + 2) else 1)
        wait_for(lambda: in_open(cpid), "C in open(2)")
        open(HOLD, "w").close()
        assert answer(b) == "ok", "B's close"
        crc = os.waitpid(cpid, 0)[1]
        with open(FILE) as f:
            final = f.read().strip()
        print("round %d: C read %s (want %d), the file has %s (want %d)" %
              (r, "right" if crc == 0 else "WRONG", n + 2, final, n + 3), flush=True)
        done(a, b)
        if crc != 0 or final != str(n + 3):
            sys.exit(1)
        n += 3


main()
