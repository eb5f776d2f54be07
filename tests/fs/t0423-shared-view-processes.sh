#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Processes that each open one file for writing while a writer goes on
# after an fsync (the path moved to a new inode: a view, fuse/view.c) share
# one kernel inode and its page cache, as SQLite's WAL needs of the -shm
# and -wal across processes: A writes, fsyncs, writes on; B (forked, or
# spawned: a child that closes A's inherited descriptor before it runs)
# opens the path, maps it shared and writable, reads
# A's bytes through the mapping, writes through it and past the end; A
# reads those at once; A fsyncs again and C opens and maps it, and sees
# what A and B wrote; B's and C's mappings see each other's stores.  Once
# all have closed, the file is what they wrote.  One script runs on a
# tmpfs and on the mount; the two outputs must be equal.  Before, B and C
# opened the path's new inode, joined A's staged bytes with direct I/O,
# and their shared mmap failed with ENODEV (SQLITE_IOERR_SHMMAP in
# t0417's WAL runs); A's reads of B's writes raced an invalidation.  And
# a spawned child's close of A's descriptor counted as A's last close: A's
# fsync then left no view, and B and C staged bytes of their own beside
# A's (each saw only its own writes).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
R=$WORK/ref
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"
check "tmpfs reference" mfs_tmpfs "$R" "64m,nosuid,nodev" || mfs_abort "no tmpfs"

cat >"$WORK/share.py" <<'PYEOF'
# share.py DIR START: prints what each process saw (START: fork or spawn).
import hashlib, mmap, multiprocessing as mp, os, sys

K = 4096


def opener(p, name, go, done, out):
    fd = os.open(p, os.O_RDWR)
    try:
        m = mmap.mmap(fd, 16 * K, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    except OSError as e:                   # as many lines as otherwise
        out.put("%s map: %s" % (name, os.strerror(e.errno)))
        if name == "C":
            out.put("C sees nothing")
        done.set()
        if name == "B":
            go.wait()
            out.put("B sees nothing")
        return
    out.put("%s map: ok, sees A %r" % (name, bytes(m[K:K + 4])))
    if name == "B":
        m[2 * K:2 * K + 4] = b"BBBB"       # A reads it with pread
        os.pwrite(fd, b"b" * 10, 16 * K)   # past the end: A sees the size
        done.set()
        go.wait()                          # C has mapped and stored
        out.put("B sees C %r" % bytes(m[3 * K:3 * K + 4]))
    else:
        out.put("C sees B %r, size %d" % (bytes(m[2 * K:2 * K + 4]), os.fstat(fd).st_size))
        m[3 * K:3 * K + 4] = b"CCCC"
        done.set()
    m.close()
    os.close(fd)


if __name__ == "__main__":
    mp.set_start_method(sys.argv[2])
    p = os.path.join(sys.argv[1], "f")
    with open(p, "wb") as f:
        f.write(b"z" * 16 * K)
    a = os.open(p, os.O_RDWR)
    os.pwrite(a, b"a" * K, 0)
    os.fsync(a)                            # the path moves on; A writes on
    os.pwrite(a, b"A" * K, K)
    out = mp.Queue()
    bgo, bdone, cgo, cdone = mp.Event(), mp.Event(), mp.Event(), mp.Event()
    b = mp.Process(target=opener, args=(p, "B", bgo, bdone, out))
    b.start()
    bdone.wait()
    print(out.get())
    print("A reads %r, size %d" % (os.pread(a, 4, 2 * K), os.fstat(a).st_size))
    print("A reads past the end %r" % os.pread(a, 10, 16 * K))
    os.fsync(a)
    os.pwrite(a, b"Z" * 4, 5 * K)
    c = mp.Process(target=opener, args=(p, "C", cgo, cdone, out))
    c.start()
    cdone.wait()
    for _ in range(2):
        print(out.get())
    bgo.set()
    b.join()
    c.join()
    while not out.empty():
        print(out.get())
    print("A reads %r" % os.pread(a, 4, 3 * K))
    os.close(a)
    with open(p, "rb") as f:
        data = f.read()
    print("file %d %s" % (len(data), hashlib.sha256(data).hexdigest()[:16]))
PYEOF

same() { # NAME START
	local name=$1
	mkdir "$R/$name" "$M/$name" &&
	"$PY" "$WORK/share.py" "$R/$name" "$2" >"$WORK/$name.ref" 2>&1 &&
	"$PY" "$WORK/share.py" "$M/$name" "$2" >"$WORK/$name.mnt" 2>&1
	local rc=$?
	diff -u "$WORK/$name.ref" "$WORK/$name.mnt" >&2 && [ "$rc" -eq 0 ]
}
for start in fork spawn; do
	for i in 1 2; do
		check "$start, run $i: processes that open beside a writer after its fsync share its pages" \
			same "share-$start$i" "$start"
	done
done

alive() { pid_alive "$(mfs_daemon_pid "$M")" && ls "$M" >/dev/null; }
check "the daemon lived" alive
check "fsck is clean" expect_status 0 "$ADMIN_BIN" fsck "$M"

mfs_done
