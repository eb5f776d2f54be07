#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A writer adopts its own process's readers (fuse/fs_internal.h note 7)
# by process, not by the thread that opened them.  A thread pool or a
# PyTorch data loader opens a file in a worker thread that exits; the
# main thread then maps the file shared and writable.  The reader is its
# process's, so the mapping works and the reader reads the writes, as on
# a tmpfs.  Before, the reader counted as another process's once its
# thread had exited, and the mapping got ENODEV.
# Then the other way round: a process whose id is the id the exited
# thread had (clone3 with set_tid) is another process; its writer adopts
# nothing: its shared mapping gets ENODEV and the first process's reader
# keeps its version (README).  Before, the thread id alone decided, and
# the stranger's writer adopted the reader.
# A descriptor passed on by fork is its opener's: a writer of the opener's
# process adopts it, and the child reads the writes through it, as on
# tmpfs; a writer of the child's adopts none of the parent's readers
# (these two held before, and are kept as note 7 and the README say).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
T=$WORK/tmpfs
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"
check "a tmpfs for the reference" mfs_tmpfs "$T" 64m || mfs_abort "no tmpfs"

# exited DIR: a reader opened by a thread that exited, then a shared writable map.
exited() {
	"$PY" - "$1" <<'PYEOF'
import mmap, os, sys, threading

p = os.path.join(sys.argv[1], "a.bin")
with open(p, "wb") as f:
    f.write(b"a" * 100000)
for rnd in range(2):
    held = []
    t = threading.Thread(target=lambda: held.append(os.open(p, os.O_RDONLY)))
    t.start()
    t.join()
    r = held[0]
    print("round", rnd, "reader's first bytes:", os.pread(r, 4, 0))
    w = os.open(p, os.O_RDWR)
    try:
        mm = mmap.mmap(w, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    except OSError as e:
        print("round", rnd, "mmap:", os.strerror(e.errno))
        os.close(w)
        os.close(r)
        continue
    mm[10:14] = b"BBBB"
    mm[99990:99994] = b"b%d%d!" % (rnd, rnd)
    print("round", rnd, "reader before the flush:", os.pread(r, 6, 9), os.pread(r, 4, 99990))
    mm.flush()
    mm.close()
    os.close(w)
    print("round", rnd, "reader after:", os.pread(r, 6, 9), os.pread(r, 4, 99990),
          os.fstat(r).st_size)
    os.close(r)
    print("round", rnd, "a new reader:", open(p, "rb").read()[9:15])
PYEOF
}

ref() { exited "$T" >"$WORK/ref.out"; }
check "on a tmpfs (the reference)" ref || mfs_abort "no reference"
on_mount() {
	exited "$M" >"$WORK/mnt.out" || return 1
	diff -u "$WORK/ref.out" "$WORK/mnt.out"
}
check "a reader whose thread exited is its process's: the map works, it reads the writes" \
	on_mount
say "tmpfs: $(tr '\n' '|' <"$WORK/ref.out")"

# stranger DIR: a process that took the exited thread's id writes the file.
stranger() {
	"$PY" - "$1" <<'PYEOF'
import ctypes, os, struct, sys, threading

p = os.path.join(sys.argv[1], "s.bin")
with open(p, "wb") as f:
    f.write(b"s" * 100000)
held = []
def opener():
    held.append((os.open(p, os.O_RDONLY), threading.get_native_id()))
t = threading.Thread(target=opener)
t.start()
t.join()
r, tid = held[0]
before = os.pread(r, 1 << 20, 0)

# clone3(2) with set_tid: a child process whose id is tid.  It execs at once.
libc = ctypes.CDLL(None, use_errno=True)
ids = (ctypes.c_int32 * 1)(tid)
args = struct.pack("11Q", 0, 0, 0, 0, 17, 0, 0, 0, ctypes.addressof(ids), 1, 0)
buf = ctypes.create_string_buffer(args, len(args))
child = """
import errno, mmap, os, sys
w = os.open(sys.argv[1], os.O_RDWR)
try:
    mm = mmap.mmap(w, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    mm[0:4] = b"XXXX"
    mm.close()
    print("mapped")
except OSError as e:
    print(errno.errorcode[e.errno])
os.pwrite(w, b"YYYY", 8)
"""
pid = libc.syscall(435, buf, len(args))
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-c", child, p])
if pid < 0:
    print("SKIP clone3 set_tid:", os.strerror(ctypes.get_errno()))
    sys.exit(0)
_, st = os.waitpid(pid, 0)
assert pid == tid and st == 0, (pid, tid, st)
after = os.pread(r, 1 << 20, 0)
os.close(r)
print("reader kept its version" if after == before else "reader read " + repr(after[:12]))
print("a new reader:", open(p, "rb").read(12))
PYEOF
}

on_stranger() {
	local out
	out=$(stranger "$M") || return 1
	case $out in SKIP*) say "$out"; return 0 ;; esac
	expect_eq "$out" "ENODEV
reader kept its version
a new reader: b'ssssssssYYYY'" "the stranger's writer and the reader"
}
check "a process that took the exited thread's id adopts no reader (README)" on_stranger

# forked DIR: a reader the parent opened, inherited by a child, while the
# parent maps the file shared and writable: adopted, the child reads the
# parent's writes through it, as on tmpfs (fs_internal.h note 7).
forked() {
	"$PY" - "$1" <<'PYEOF'
import errno, mmap, os, sys
d = sys.argv[1]
p = os.path.join(d, "f.bin")
with open(p, "wb") as f:
    f.write(b"f" * 50000)
# A reader the parent opened, inherited by a child; the parent maps it r+.
r = os.open(p, os.O_RDONLY)
os.pread(r, 10, 0)
go_r, go_w = os.pipe()
out_r, out_w = os.pipe()
pid = os.fork()
if pid == 0:
    os.read(go_r, 1)
    os.write(out_w, os.pread(r, 8, 0) + os.pread(r, 4, 49996))
    os._exit(0)
w = os.open(p, os.O_RDWR)
try:
    mm = mmap.mmap(w, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    mm[0:4] = b"PPPP"
    mm[49996:50000] = b"QQQQ"
    mm.close()
    print("parent's map: ok")
except OSError as e:
    print("parent's map:", errno.errorcode[e.errno])
os.close(w)
os.write(go_w, b"x")
print("child reads through the inherited reader:", os.read(out_r, 100))
os.waitpid(pid, 0)
print("parent's reader:", os.pread(r, 8, 0))
os.close(r)
PYEOF
}
ref_forked() { forked "$T" >"$WORK/ref-forked.out"; }
check "on a tmpfs: a reader inherited by a child" ref_forked || mfs_abort "no reference"
on_forked() {
	forked "$M" >"$WORK/mnt-forked.out" || return 1
	diff -u "$WORK/ref-forked.out" "$WORK/mnt-forked.out"
}
check "a reader inherited by a child is the opener's: the child reads the writes" on_forked

# child_writer DIR: the child writes: another process than the reader's
# opener, whose reader keeps its version, and the child's map: ENODEV (README).
child_writer() {
	"$PY" - "$1" <<'PYEOF'
import errno, mmap, os, sys
d = sys.argv[1]
p = os.path.join(d, "f.bin")
with open(p, "wb") as f:
    f.write(b"f" * 50000)
r = os.open(p, os.O_RDONLY)
os.pread(r, 10, 0)
pid = os.fork()
if pid == 0:
    w = os.open(p, os.O_RDWR)
    try:
        mm = mmap.mmap(w, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        mm.close()
        print("child's map: ok", flush=True)
    except OSError as e:
        print("child's map:", errno.errorcode[e.errno], flush=True)
    os.pwrite(w, b"CCCC", 0)
    os.close(w)
    os._exit(0)
os.waitpid(pid, 0)
print("parent's reader after the child's write:", os.pread(r, 8, 0))
os.close(r)
print("a new reader:", open(p, "rb").read(8))
PYEOF
}
on_child_writer() {
	local out
	out=$(child_writer "$M") || return 1
	expect_eq "$out" "child's map: ENODEV
parent's reader after the child's write: b'ffffffff'
a new reader: b'CCCCffff'" "the child's writer and the parent's reader"
}
check "a child's writer adopts none of the parent's readers (README)" on_child_writer

mfs_done
