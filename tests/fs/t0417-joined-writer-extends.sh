#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Two descriptors open for writing on one file, the second opened after
# the first's fsync (the path moved to a new inode: a view, fuse/view.c),
# take turns: each writes the next 4 KiB block past the end, fsyncs now
# and then, and the other reads the block back at once.  On tmpfs every
# read gets the block.  The second joined the first's staged bytes with
# direct I/O through the new inode (fuse/fs_read.c join_view), and the
# first writer's kernel learned its new size from an invalidation, first
# sent after the write() had returned (6 of the first 250 blocks read 0
# bytes).  Now the path's lookup gives the first writer's inode while its
# view is shared, and both write through one page cache.  SQLite's WAL
# does this between processes (every connection opens the -wal and the
# database for writing, and maps the -shm shared): the WAL runs below,
# each several times, as on tmpfs; before, about one run in three failed
# (SQLITE_IOERR_SHORT_READ, with spawned processes SQLITE_IOERR_SHMMAP).
MFS_TEST_TIMEOUT=${MFS_TEST_TIMEOUT:-900}   # ten SQLite runs of five processes: minutes under load
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
R=$WORK/ref
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"
check "tmpfs reference" mfs_tmpfs "$R" "64m,nosuid,nodev" || mfs_abort "no tmpfs"

cat >"$WORK/turns.py" <<'PYEOF'
# turns.py BLOCKS DIR: prints the blocks a reader missed, then a summary.
import os, sys

p = os.path.join(sys.argv[2], "f")
with open(p, "wb") as f:
    f.write(b"z" * 100)
a = os.open(p, os.O_RDWR)
os.pwrite(a, b"a" * 4096, 0)
os.fsync(a)
b = os.open(p, os.O_RDWR)  # joins a's bytes
bad = 0
for k in range(1, int(sys.argv[1])):
    w, r = (a, b) if k % 2 else (b, a)
    blk = bytes([65 + k % 26]) * 4096
    os.pwrite(w, blk, k * 4096)
    if k % 5 == 0:
        os.fsync(w)
    got = os.pread(r, 4096, k * 4096)
    if got != blk:
        bad += 1
        if bad <= 5:
            print("block %d written by %s: read %d bytes" % (k, "ab"[w == b], len(got)))
os.close(a)
os.close(b)
print("%d blocks missed; size %d" % (bad, os.stat(p).st_size))
PYEOF

cat >"$WORK/sql.py" <<'PYEOF'
# sql.py MODE START DIR: three writers and two readers, each a process
# (START: fork or spawn) with its own connection, on one database in
# journal mode MODE.
import multiprocessing as mp, os, sqlite3, sys

db = os.path.join(sys.argv[3], "db")


def writer(i):
    c = sqlite3.connect(db, timeout=60)
    for k in range(300):
        c.execute("insert into t values(?, ?)", (i, k))
        c.commit()
    c.close()


def reader():
    c = sqlite3.connect(db, timeout=60)
    for k in range(300):
        c.execute("select count(*) from t").fetchone()


if __name__ == "__main__":
    mp.set_start_method(sys.argv[2])
    c = sqlite3.connect(db)
    c.execute("pragma journal_mode=%s" % sys.argv[1])
    c.execute("create table t(a, b)")
    c.commit()
    ps = [mp.Process(target=writer, args=(i,)) for i in range(3)]
    ps += [mp.Process(target=reader) for i in range(2)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    print([p.exitcode for p in ps], c.execute("select count(*), sum(b) from t").fetchone(),
          c.execute("pragma integrity_check").fetchone()[0])
PYEOF

# same NAME CMD...: CMD DIR on the tmpfs and on the mount prints the same.
same() {
	local name=$1
	shift
	mkdir "$R/$name" "$M/$name" &&
	"$@" "$R/$name" >"$WORK/$name.ref" 2>&1 &&
	"$@" "$M/$name" >"$WORK/$name.mnt" 2>&1
	local rc=$?
	diff -u "$WORK/$name.ref" "$WORK/$name.mnt" >&2 && [ "$rc" -eq 0 ]
}
for i in 1 2 3; do
	check "run $i: each writer reads the other's block at once, as on tmpfs" \
		same turns$i "$PY" "$WORK/turns.py" 600
done
# SQLite shared by processes.  The rollback journal failed with
# SQLITE_IOERR_DELETE_NOENT (a connection took another's live -journal for
# a hot one: the kernel kept fcntl locks per inode, and a commit moves the
# path to a new one); the daemon keeps them per file now (fuse/locks.c,
# t0422).  WAL failed about one run in three: SQLITE_IOERR_SHORT_READ (a
# reader's size refresh that another writer's invalidation overtook was
# dropped by the kernel; a connection that opened as a commit published
# staged bytes of its own), with spawned processes also SQLITE_IOERR_SHMMAP
# (mmap of the -shm refused: direct I/O); t0423 has the mechanism.  Four
# runs of each: before, 3 of these 8 failed (s41).
for run in "delete spawn" "delete fork"; do
	read -r mode start <<<"$run"
	check "SQLite $mode journal, 3 writers and 2 readers ($start), as on tmpfs" \
		same "sql-$mode-$start" "$PY" "$WORK/sql.py" "$mode" "$start"
done
for run in "wal fork" "wal spawn"; do
	read -r mode start <<<"$run"
	for i in 1 2 3 4; do
		check "SQLite $mode journal, 3 writers and 2 readers ($start), run $i, as on tmpfs" \
			same "sql-$mode-$start$i" "$PY" "$WORK/sql.py" "$mode" "$start"
	done
done

alive() { pid_alive "$(mfs_daemon_pid "$M")" && ls "$M" >/dev/null; }
check "the daemon lived" alive
check "fsck is clean" expect_status 0 "$ADMIN_BIN" fsck "$M"

mfs_done
