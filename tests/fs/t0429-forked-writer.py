#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Driver of t0429: a writer's descriptor that a forked child inherited,
closed by one of the two while the other writes on, and other processes
that append, write, read and stat the file meanwhile.

    t0429-forked-writer.py DIR SYNC

Runs every case on files in DIR (SYNC: a directory for fifos, not on the
mount) and prints what each process read, each stat's size and each
file's bytes at the end: run on a tmpfs and on the mount, the two outputs
must be equal.  Every step waits for the one before (pipes), no sleeps.

The worker is a forked child that holds the descriptor its parent opened
and runs the ops it is sent.  "Others" are processes of their own: a
shell's `echo >>`, a Python writer at an offset, a reader (`cat`).
"""
import os
import subprocess
import sys

DIR, SYNC = sys.argv[1], sys.argv[2]
out = []


def say(*a):
    out.append(" ".join(str(x) for x in a))


def worker(fd):
    """A forked child holding fd; runs the ops sent down a pipe."""
    cr, cw = os.pipe()
    rr, rw = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(cw)
        os.close(rr)
        while True:
            op = os.read(cr, 256).decode()
            res = "ok"
            try:
                if not op or op == "exit":      # exits with fd open: the kernel closes it
                    os.write(rw, b"ok")
                    os._exit(0)
                kind, _, arg = op.partition(":")
                if kind == "w":
                    os.write(fd, arg.encode())
                elif kind == "p":
                    off, _, text = arg.partition(":")
                    os.pwrite(fd, text.encode(), int(off))
                elif kind == "P":                # P:OFF:LEN:CHAR, a big write
                    off, ln, ch = arg.split(":")
                    os.pwrite(fd, ch.encode() * int(ln), int(off))
                elif kind == "s":
                    os.fsync(fd)
                elif kind == "c":
                    os.close(fd)
                elif kind == "exec":             # the descriptor as stdout of a program
                    os.dup2(fd, 1)
                    os.execv("/bin/sh", ["sh", "-c", arg])
            except OSError as e:
                res = "error %s" % e.strerror
            os.write(rw, res.encode())
    os.close(cr)
    os.close(rw)
    return cw, rr, pid


def do(w, op):
    os.write(w[0], op.encode())
    r = os.read(w[1], 128).decode()
    if r != "ok":
        say("worker", op, r)


def finish(w):
    os.close(w[0])
    os.waitpid(w[2], 0)
    os.close(w[1])


def sh(cmd):
    r = subprocess.run(["sh", "-c", cmd], capture_output=True)
    if r.returncode or r.stderr:
        say("sh", repr(cmd), r.returncode, r.stderr.decode().strip())
    return r.stdout


def other_pwrite(p, off, text):
    """Another process opens p O_WRONLY (no truncation), writes at off, closes."""
    sh("printf %s '%s' | dd of='%s' bs=1 seek=%d conv=notrunc status=none" % ("%s", text, p, off))


def read(p, what):
    say(what, "reads", repr(sh("cat '%s'" % p)), "size", os.stat(p).st_size)


def base(name, text=b"base\n"):
    p = os.path.join(DIR, name)
    with open(p, "wb") as f:
        f.write(text)
    return p


def end(p):
    with open(p, "rb") as f:
        say(os.path.basename(p), "ends", repr(f.read()))


def append_parent_first():
    """review2 #1: the opener closes first, the child appends on."""
    p = base("a1")
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    w = worker(fd)
    do(w, "w:c1\n")
    os.close(fd)                 # the opener's close: its FLUSH is not the file's
    read(p, "after the opener's close:")
    do(w, "w:c2\n")
    read(p, "after c2:")
    sh("echo b >> '%s'" % p)     # another process appends meanwhile
    read(p, "after b:")
    do(w, "w:c3\n")
    read(p, "after c3:")
    do(w, "c")
    finish(w)
    end(p)


def append_child_first():
    """The other order: the child closes first, the opener appends on."""
    p = base("a2")
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    w = worker(fd)
    do(w, "w:c1\n")
    do(w, "c")
    finish(w)
    os.write(fd, b"p2\n")
    sh("echo b >> '%s'" % p)
    read(p, "after b:")
    os.write(fd, b"p3\n")
    os.close(fd)
    end(p)


def append_before_child_writes():
    """Another process appends right after the opener's close, before the child writes."""
    p = base("a3")
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"p1\n")
    w = worker(fd)
    os.close(fd)
    sh("echo b >> '%s'" % p)
    read(p, "after b:")
    do(w, "w:c2\n")
    read(p, "after c2:")
    sh("echo d >> '%s'" % p)
    do(w, "w:c3\n")
    do(w, "c")
    finish(w)
    end(p)


def pwrite_parent_first():
    """Plain O_WRONLY, writes at offsets: the opener closes, the child writes on."""
    p = base("p1", b"0123456789" * 4)
    fd = os.open(p, os.O_WRONLY)
    w = worker(fd)
    do(w, "p:0:AAAA")
    os.close(fd)
    do(w, "p:10:BBBB")
    read(p, "after BBBB:")
    other_pwrite(p, 20, "OOOO")
    read(p, "after OOOO:")
    do(w, "p:30:CCCC")
    do(w, "c")
    finish(w)
    end(p)


def pwrite_child_first():
    """Plain O_WRONLY, writes at offsets: the child closes first, the opener writes on."""
    p = base("p2", b"0123456789" * 4)
    fd = os.open(p, os.O_WRONLY)
    w = worker(fd)
    do(w, "p:0:AAAA")
    do(w, "c")
    finish(w)
    os.pwrite(fd, b"BBBB", 10)
    read(p, "after BBBB:")
    other_pwrite(p, 20, "OOOO")
    read(p, "after OOOO:")
    os.pwrite(fd, b"CCCC", 30)
    os.close(fd)
    end(p)


def child_syncs_long():
    """The child writes on for long, committing (fsync) again and again; others append between."""
    p = base("l1")
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    w = worker(fd)
    do(w, "w:c0\n")
    os.close(fd)
    for i in range(1, 4):
        do(w, "w:c%d\n" % i)
        do(w, "s")
        sh("echo b%d >> '%s'" % (i, p))
        read(p, "round %d:" % i)
        other_pwrite(p, 0, "X%d" % i)
    do(w, "w:end\n")
    do(w, "c")
    finish(w)
    end(p)


def child_exits_open():
    """The child never closes: its exit does."""
    p = base("e1")
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    w = worker(fd)
    do(w, "w:c1\n")
    os.close(fd)
    do(w, "w:c2\n")
    sh("echo b >> '%s'" % p)
    do(w, "w:c3\n")
    do(w, "exit")
    finish(w)
    end(p)


def fifos(*names):
    ps = [os.path.join(SYNC, n) for n in names]
    for g in ps:
        if os.path.exists(g):
            os.unlink(g)
        os.mkfifo(g)
    return ps


def signal(g):
    with open(g, "w") as f:
        f.write("go\n")


def waitsig(g):
    with open(g) as f:
        f.read()


def truncate_path_between():
    """A truncate(2) of the path after the opener's close, before the child writes on."""
    p = base("t1")
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    w = worker(fd)
    do(w, "w:c1\n")
    os.close(fd)
    os.truncate(p, 2)
    read(p, "after truncate(2):")
    do(w, "w:c2\n")
    read(p, "after c2:")
    do(w, "c")
    finish(w)
    end(p)


def popen_stdout():
    """Popen(stdout=f); f.close(): the program writes on through its stdout."""
    p = base("s1")
    go1, done1, go2 = fifos("go1", "done1", "go2")
    f = open(p, "ab")
    f.write(b"header\n")
    f.flush()
    child = subprocess.Popen(["sh", "-c", "read x <'%s'; echo c1; echo >'%s'; read x <'%s'; "
                              "echo c2" % (go1, done1, go2)], stdout=f)
    f.close()
    read(p, "after f.close():")
    sh("echo b >> '%s'" % p)
    signal(go1)
    waitsig(done1)
    read(p, "after c1:")
    sh("echo d >> '%s'" % p)
    signal(go2)
    child.wait()
    end(p)


def exec_child():
    """The child execs a program with the inherited descriptor as its stdout."""
    p = base("x1")
    go, done = fifos("gox", "donex")
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"p1\n")
    w = worker(fd)
    os.close(fd)
    os.write(w[0], ("exec:echo c1; echo >'%s'; read x <'%s'; echo c2" % (done, go)).encode())
    waitsig(done)
    read(p, "after c1:")
    sh("echo b >> '%s'" % p)
    signal(go)
    os.waitpid(w[2], 0)
    os.close(w[0])
    os.close(w[1])
    end(p)


def sizes(p, what):
    """Another process's stat and read of p: sizes and a digest, not the bytes."""
    r = sh("stat -c %%s '%s'; md5sum <'%s'" % (p, p)).decode().split()
    say(what, "stat", r[0], "reads md5", r[1])


def big_write_parent_first():
    """review3 s42 #3: the child's first write after the opener's close is big
    (>= 64 KiB: answered before the copy), then small."""
    p = base("b1")
    fd = os.open(p, os.O_WRONLY)
    os.pwrite(fd, b"p1\n", 5)
    w = worker(fd)
    os.close(fd)
    sizes(p, "after the opener's close:")
    do(w, "P:%d:%d:C" % (1 << 20, 1 << 20))
    sizes(p, "after the child's big write:")
    do(w, "p:%d:small" % (3 << 20))
    sizes(p, "after the child's small write:")
    do(w, "c")
    finish(w)
    sizes(p, "at the end:")


def idle_child_map():
    """review3 s42 #2: the child keeps the descriptor and never writes; another
    process opens the file read-write and closes it unwritten, then a
    reader maps it shared."""
    p = base("i1", b"B" * 8192)
    fd = os.open(p, os.O_WRONLY)
    os.write(fd, b"A" * 8192)
    w = worker(fd)
    os.close(fd)
    sh("exec 4<>'%s'; head -c 2 <&4; exec 4>&-" % p)
    say("shared map of a reader:", sh("%s -c 'import mmap, sys; f = open(sys.argv[1], \"rb\"); "
        "print(mmap.mmap(f.fileno(), 8192, mmap.MAP_SHARED, mmap.PROT_READ)[0:2])' '%s' 2>&1 | tail -1"
        % (sys.executable, p)).decode().strip())
    do(w, "c")
    finish(w)
    sizes(p, "at the end:")


def idle_child_truncates():
    """The child idle until others truncated the path (open O_TRUNC, then
    truncate -s), then it appends: no view was up when they came (#2)."""
    for name, cmd in (("j1", "echo new >'%s'"), ("j2", "truncate -s 3 '%s'")):
        p = base(name)
        fd = os.open(p, os.O_WRONLY | os.O_APPEND)
        os.write(fd, b"p1\n")
        w = worker(fd)
        os.close(fd)
        sh(cmd % p)
        read(p, "after the truncate:")
        do(w, "w:child\n")
        read(p, "after the child's append:")
        do(w, "c")
        finish(w)
        end(p)


def shell_shapes():
    """The shell's own: a background job appending, another append beside it."""
    p = base("h1")
    go, = fifos("goh")
    # The job opens f itself (the redirection is the subshell's).
    sh("(read x <'%s'; echo x) >>'%s' & echo y >>'%s'; echo go >'%s'; wait" % (go, p, p, go))
    end(p)
    # The shell opens it, the job inherits it, the shell closes its own first.
    p = base("h2")
    sh("exec 3>>'%s'; echo s >&3; (read x <'%s'; echo x >&3) & exec 3>&-; echo y >>'%s'; "
       "echo go >'%s'; wait" % (p, go, p, go))
    end(p)


CASES = [append_parent_first, append_child_first, append_before_child_writes,
         pwrite_parent_first, pwrite_child_first, child_syncs_long, child_exits_open,
         truncate_path_between, popen_stdout, exec_child, shell_shapes, big_write_parent_first,
         idle_child_map, idle_child_truncates]
for case in CASES:
    say("==", case.__name__)
    case()
print("\n".join(out))
