#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A writer whose own process holds the file open for reading maps it
# shared and writable, as np.load(path, mmap_mode='r+') does (it keeps a
# descriptor open for reading while open_memmap opens the file 'r+b' and
# maps it): the writer adopts its process's readers (fuse/fs_internal.h
# note 7), so it writes through the page cache and the mapping works.
# Before, such a writer used direct I/O and mmap failed with ENODEV.
# One script runs in a tmpfs and on the mount, and prints what it saw:
# np.load r+ (writes land, a later np.load reads them); open 'rb', then
# np.memmap r+ (the reader reads the mapped writes, before and after the
# flush and after the map goes); a read-only mapping (np.load 'r') beside
# np.load r+ (it shows the writes); a reader opened by another thread of
# the process; the same writes twice in a row; a writer that grows the
# file and one that shrinks it (the reader's fstat and reads, also after
# the writer left).  The two outputs must be equal.  Then what stays as the README says: a reader in another process
# keeps its version while the file is rewritten, the writer's shared
# mapping gets ENODEV, and a reader of the writer's process opened beside
# that one keeps its version too; and a writer that truncates (O_TRUNC)
# leaves its process's reader the version it had.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init
"$PY" -c 'import numpy' 2>/dev/null || skip_all "$PY has no numpy (python3-numpy)"

M=$WORK/mnt
D=$WORK/data
T=$WORK/tmpfs
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"
check "a tmpfs for the reference" mfs_tmpfs "$T" 64m || mfs_abort "no tmpfs"

# cases DIR: the own-process cases in DIR; prints one line per observation.
cases() {
	"$PY" - "$1" <<'PYEOF'
import os, sys, threading
import numpy as np

d = sys.argv[1]

# np.load(mmap_mode='r+'): the user's report.
p = os.path.join(d, "a.npy")
np.save(p, np.arange(1 << 20, dtype=np.float32))
for rnd in range(2):
    m = np.load(p, mmap_mode="r+")
    m[5] = 42.0 + rnd
    m[-1] = -7.0 - rnd
    m.flush()
    del m
    a = np.load(p)
    print("np.load r+ round %d:" % rnd, a[5], a[-1], a[6], a.sum(dtype=np.float64))

# A reader open, then np.memmap r+ of the same file.
p = os.path.join(d, "b.bin")
np.arange(1 << 19, dtype=np.float16).tofile(p)
r = open(p, "rb", buffering=0)
print("reader's first bytes:", r.read(16).hex())
mm = np.memmap(p, dtype=np.float16, mode="r+")
mm[3] = 1.5
mm[100000] = -2.0
print("reader before the flush:", np.frombuffer(os.pread(r.fileno(), 2, 6), np.float16)[0],
      np.frombuffer(os.pread(r.fileno(), 2, 200000), np.float16)[0])
mm.flush()
print("reader after the flush:", np.frombuffer(os.pread(r.fileno(), 2, 6), np.float16)[0],
      np.frombuffer(os.pread(r.fileno(), 2, 200000), np.float16)[0])
mm[7] = 9.0
del mm
r.seek(0)
b = np.frombuffer(r.read(), np.float16)
print("reader after the map went:", len(b), b[3], b[7], b[100000], b[100001])
print("reader fstat:", os.fstat(r.fileno()).st_size)
r.close()
b = np.fromfile(p, np.float16)
print("a new reader:", len(b), b[3], b[7], b[100000])

# A read-only mapping beside np.load r+: it shows the writes.
p = os.path.join(d, "c.npy")
np.save(p, np.zeros(300000, dtype=np.float32))
ro = np.load(p, mmap_mode="r")
rw = np.load(p, mmap_mode="r+")
rw[7] = 3.0
rw[299999] = 4.0
rw.flush()
print("read-only mapping:", ro[7], ro[299999])
del rw
print("read-only mapping after:", ro[7], ro[299999], ro.sum(dtype=np.float64))
del ro
print("c.npy:", np.load(p)[7], np.load(p)[299999])

# A reader another thread of the process opened, a thread still running
# (one that has exited: t0424).
p = os.path.join(d, "e.bin")
with open(p, "wb") as f:
    f.write(b"\1" * 200000)
held, opened, done = [], threading.Event(), threading.Event()
def hold():
    held.append(os.open(p, os.O_RDONLY))
    opened.set()
    done.wait()
t = threading.Thread(target=hold)
t.start()
opened.wait()
os.pread(held[0], 4096, 0)
mm = np.memmap(p, dtype=np.uint8, mode="r+")
mm[10:20] = 7
mm.flush()
del mm
print("thread's reader:", os.pread(held[0], 30, 0).hex())
done.set()
t.join()
os.close(held[0])
print("e.bin:", open(p, "rb").read(30).hex())

# A writer that grows the file and shrinks another: the reader goes by the new size.
for name, size in (("g.bin", 70000), ("s.bin", 20000)):
    p = os.path.join(d, name)
    with open(p, "wb") as f:
        f.write(b"g" * 50000)
    r = os.open(p, os.O_RDONLY)
    os.pread(r, 100, 0)
    w = os.open(p, os.O_RDWR)
    os.ftruncate(w, size)
    os.pwrite(w, b"tail", size - 4)
    print(name, "during:", os.fstat(r).st_size, len(os.pread(r, 1 << 20, 0)))
    os.close(w)
    for i in range(3):
        got = os.pread(r, 1 << 20, 0)
        print(name, "after the writer, %d:" % i, os.fstat(r).st_size, len(got), got[-6:])
    os.close(r)
PYEOF
}

ref() { cases "$T" >"$WORK/ref.out"; }
check "the cases on a tmpfs (the reference)" ref || mfs_abort "no reference"

on_mount() {
	cases "$M" >"$WORK/mnt.out" || return 1
	diff -u "$WORK/ref.out" "$WORK/mnt.out"
}
check "the same cases on the mount: what the tmpfs shows" on_mount
say "tmpfs: $(tr '\n' '|' <"$WORK/ref.out")"

# other_reader: a reader in another process keeps its version (README).
other_reader() {
	"$PY" - "$M" <<'PYEOF'
import errno, os, subprocess, sys
import numpy as np

d = sys.argv[1]
p = os.path.join(d, "o.npy")
np.save(p, np.full(100000, 1.0, dtype=np.float32))
child = subprocess.Popen([sys.executable, "-c", """
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
head = os.pread(fd, 4096, 0)
print("ready", flush=True)
sys.stdin.readline()
sys.stdout.write(os.pread(fd, 1 << 20, 0).hex() + "\\n")
""", p], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
assert child.stdout.readline() == "ready\n"
before = open(p, "rb").read()
own = os.open(p, os.O_RDONLY)
bad = []
try:
    m = np.load(p, mmap_mode="r+")
    bad.append("np.load r+ mapped the file while another process reads it")
    del m
except OSError as e:
    if e.errno != errno.ENODEV:
        raise
w = os.open(p, os.O_RDWR)
os.pwrite(w, b"\0" * 64, 256)
os.close(w)
out, _ = child.communicate("go\n")
if bytes.fromhex(out.strip()) != before:
    bad.append("the other process's reader did not keep its version")
if os.pread(own, 1 << 20, 0) != before:
    bad.append("the writer's process's reader beside it did not keep its version")
os.close(own)
after = open(p, "rb").read()
if after != before[:256] + b"\0" * 64 + before[320:]:
    bad.append("a new open does not read the write")
if bad:
    sys.exit("; ".join(bad))
PYEOF
}
check "a reader in another process keeps its version; the writer's map: ENODEV (README)" \
	other_reader

# truncating_writer: a writer that cannot map (O_WRONLY) adopts no reader (note 7).
truncating_writer() {
	"$PY" - "$M" <<'PYEOF'
import os, sys
p = os.path.join(sys.argv[1], "t.bin")
with open(p, "wb") as f:
    f.write(b"old" * 5000)
r = os.open(p, os.O_RDONLY)
os.pread(r, 10, 0)
with open(p, "wb") as f:
    f.write(b"new")
got = os.pread(r, 1 << 20, 0)
os.close(r)
if got != b"old" * 5000 or open(p, "rb").read() != b"new":
    sys.exit("reader read %d bytes %r..." % (len(got), got[:9]))
PYEOF
}
check "a writer that opens O_WRONLY, truncating: its process's reader keeps its version" truncating_writer

mfs_done
