#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A reader that opens a new file during its writer's close keeps the bytes
# written when the file is then not published, as a reader of a file
# unlinked while open does on tmpfs.  Such an open is answered at once
# (fuse/commit_open.c); the commit is held here (MODELFS_TEST_COMMIT_HOLD).
#  1. The file is unlinked before the publish (the unlink waits for the
#     commit, whose publish then finds no path).  The reader read size 0
#     and nothing from then on, and a mapping took SIGBUS; tmpfs gives the
#     whole file.  The same reader script runs on a tmpfs, and the two
#     must agree: fstat, read(2) to the end, SEEK_HOLE and a mapping, once the
#     writer's close returned and again after its RELEASE.
#  2. The commit fails (ENOSPC: the store's disk filled while it was
#     held).  The writer's close fails; the file, never published, goes at
#     its RELEASE.  The reader opened during the commit, and a reader that
#     opened before the close (a follower, fuse/fs_internal.h note 6),
#     read the bytes written, and fstat gives their size (the follower's
#     said 0: review s38, finding 8b).
#  3. A write answered before its bytes failed to reach the staging (the
#     writer's close fails with EIO): a follower's read answers EIO, never
#     the bytes without that write (review s38, finding 8c).
#  4. As 2, but the reader has closed when the last writer leaves: no
#     bytes are kept (put back in memory) for nobody (review s39).
#  5. The name 2 left (its removal failed on the full disk) is written
#     again once the disk is freed: the new bytes are published, not
#     dropped with the old node (review s39).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
T=$WORK/tmpfs
S=$WORK/src
HOLD=$WORK/hold
mfs_log_allow "$D" 'No space left on device|ENOSPC|space|not published'
SIZE=$((3 * MiB + 1234))

check "a $SIZE-byte source" randfile "$S/f" "$SIZE" || mfs_abort "no source"
check "a 160 MiB tmpfs for the store" mfs_tmpfs "$D" 160m || mfs_abort "no tmpfs"
check "a tmpfs to compare with" mfs_tmpfs "$T" 64m || mfs_abort "no tmpfs"
export MODELFS_TEST_COMMIT_HOLD=$HOLD
check "mount (commits wait for $HOLD)" mfs_mount "$M" "$D" || mfs_abort "no mount"
unset MODELFS_TEST_COMMIT_HOLD

# READER PATH OUT: opens PATH, reads 4 bytes, then at each of
# OUT.closed, OUT.released prints what fstat, read(2) to the end,
# lseek(SEEK_HOLE), a mapping made then and one made at the open give
# (read in a child: a SIGBUS kills it, not the reader).
cat >"$WORK/reader.py" <<'PYEOF'
import hashlib, mmap, os, sys, time
path, out = sys.argv[1], sys.argv[2]
fd = os.open(path, os.O_RDONLY)
def say(*a):
    with open(out, "a") as f:
        print(*a, file=f)
say("open", os.pread(fd, 4, 0).hex())
# A mapping made now, while the file is whole (a follower's fails: ENODEV).
try:
    early = mmap.mmap(fd, os.fstat(fd).st_size, prot=mmap.PROT_READ)
except (OSError, ValueError):
    early = None
def look(when):
    size = os.fstat(fd).st_size
    try:
        data, off = b"", 0
        while True:
            b = os.pread(fd, 1 << 20, off)
            if not b:
                break
            data += b
            off += len(b)
        read = "%d %s" % (len(data), hashlib.sha256(data).hexdigest()[:16])
    except OSError as e:
        read = "error " + os.strerror(e.errno)
    try:
        hole = str(os.lseek(fd, 0, os.SEEK_HOLE))
    except OSError as e:
        hole = "error " + os.strerror(e.errno)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            mm = mmap.mmap(fd, size, prot=mmap.PROT_READ)
            msg = "%d %s" % (len(mm), hashlib.sha256(mm[:]).hexdigest()[:16])
        except (OSError, ValueError) as e:
            msg = "error " + str(e)
        os.write(w, msg.encode())
        if early is not None:  # a SIGBUS here ends the child with the map's answer sent
            os.write(w, (" early %d %s" % (len(early), hashlib.sha256(early[:]).hexdigest()[:16])).encode())
        os._exit(0)
    os.close(w)
    _, st = os.waitpid(pid, 0)
    msg = os.read(r, 200).decode()
    if os.WIFSIGNALED(st):
        msg += " killed by signal %d" % os.WTERMSIG(st)
    say(when, "size", size, "read", read, "hole", hole, "map", msg)
for when in ("closed", "released"):
    while not os.path.exists(out + "." + when):
        time.sleep(0.01)
    look(when)
PYEOF

# start_reader PATH OUT: the reader, in the background; waits for its open.
rpids=() routs=()
start_reader() {
	"$PY" "$WORK/reader.py" "$1" "$2" 2>>"$2.err" &
	rpids+=($!) routs+=("$2")
	wait_for 300 grep -q '^open' "$2" || { echo "the reader did not open $1: $(cat "$2" "$2.err")" >&2; return 1; }
}
# look OUT WHEN: the reader prints what it sees now.
look() { touch "$1.$2" && wait_for 300 grep -q "^$2 " "$1"; }
# readers_done: lets every reader finish, and waits for them.
readers_done() {
	local p o rc=0
	for o in "${routs[@]}"; do touch "$o.closed" "$o.released"; done
	for p in "${rpids[@]}"; do wait "$p" || rc=1; done
	rpids=() routs=()
	return "$rc"
}

# What tmpfs gives: write, close, open, unlink, read.
reference() {
	cp "$S/f" "$T/f" && start_reader "$T/f" "$WORK/tmpfs.out" && rm "$T/f" &&
		look "$WORK/tmpfs.out" closed && look "$WORK/tmpfs.out" released && readers_done &&
		note "tmpfs: $(cat "$WORK/tmpfs.out")" &&
		expect_eq "$(sed -n 2p "$WORK/tmpfs.out")" \
			"closed size $SIZE read $SIZE $(file_sha "$S/f" | cut -c1-16) hole $SIZE map $SIZE $(file_sha "$S/f" | cut -c1-16) early $SIZE $(file_sha "$S/f" | cut -c1-16)" \
			"tmpfs's reader"
}
check "tmpfs: a reader of a file unlinked after its close reads it whole" reference

# held_writer PATH OUT [FOLLOWER_OUT]: writes the source to PATH and
# closes it, its commit held; with FOLLOWER_OUT a reader opens before the
# close.  Prints the close's outcome to OUT.  (A reader started by the
# writer itself would not do: its fork's copy of the descriptor, closed
# at exec, sends a FLUSH, and that commit would be the one held.)
writer=
held_writer() {
	rm -f "$HOLD" "$HOLD.held"
	"$PY" - "$1" "$S/f" "$2" <<'PYEOF' &
import errno, os, sys, time
path, src, out = sys.argv[1:4]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
with open(src, "rb") as f:
    os.write(fd, f.read())
open(out + ".written", "w").close()
while not os.path.exists(out + ".close"):
    time.sleep(0.01)
try:
    os.close(fd)
    r = "close ok"
except OSError as e:
    r = "close " + errno.errorcode[e.errno]
with open(out, "w") as f:
    print(r, file=f)
PYEOF
	writer=$!
	wait_for 300 test -e "$2.written" || { echo "the writer did not write" >&2; return 1; }
	if [ -n "${3:-}" ]; then
		start_reader "$1" "$3" || return 1
	fi
	touch "$2.close" &&
		wait_for 300 test -e "$HOLD.held" || { echo "the commit never started" >&2; return 1; }
}

# waiting PID: PID waits for the daemon's answer (it is with the daemon).
waiting() { [ "$(cat "/proc/$1/wchan" 2>/dev/null)" = request_wait_answer ]; }

rmpid=
unlinked_during() {
	held_writer "$M/f" "$WORK/w1.out" && start_reader "$M/f" "$WORK/r1.out" &&
		{ rm "$M/f" & rmpid=$!; } &&
		wait_for 300 waiting "$rmpid" || { echo "the unlink did not reach the daemon" >&2; return 1; }
	pid_alive "$writer" || { echo "the writer's close did not wait: the commit was not held" >&2; return 1; }
}
check "a new file's close, held; a reader opens; an unlink waits for the commit" unlinked_during

let_go() {
	touch "$HOLD" && wait "$writer" && wait "$rmpid" &&
		expect_eq "$(cat "$WORK/w1.out")" "close ok" "the writer's close" &&
		expect_status 1 test -e "$M/f"
}
check "the commit goes on, publishes nothing; close and unlink succeed" let_go

# same_as_tmpfs OUT WHEN [nomap]: what the reader saw is what tmpfs's did.
# nomap: a follower reads with direct I/O, so its shared mapping gives
# ENODEV (fuse/fs_internal.h note 6); its fstat and read(2) are compared.
same_as_tmpfs() {
	local got want
	got=$(grep "^$2 " "$1") want=$(grep '^closed ' "$WORK/tmpfs.out" | sed "s/^closed/$2/")
	if [ -n "${3:-}" ]; then
		got=${got% map *} want=${want% map *}
	fi
	expect_eq "$got" "$want" "the reader's fstat, read, hole and map ($2)"
}
check "the reader, the writer's close returned: what tmpfs gives" \
	eval 'look "$WORK/r1.out" closed && same_as_tmpfs "$WORK/r1.out" closed'

# The writer's RELEASE frees the staging: its readers keep their bytes.
# released ERE N: the daemon logged ERE N times.
released() { [ "$(grep -c -- "$1" "$D/modelfs.log")" -ge "$2" ]; }
check "the writer's RELEASE: its reader keeps the bytes" \
	wait_for 300 released 'kept by 1 reader.* opened during its commit' 1
check "the reader after the writer's RELEASE: what tmpfs gives" \
	eval 'look "$WORK/r1.out" released && same_as_tmpfs "$WORK/r1.out" released'
check "the reader closes" readers_done

# 2. The commit fails: the store's disk fills while it is held.
failing() {
	held_writer "$M/g" "$WORK/w2.out" "$WORK/f2.out" && start_reader "$M/g" "$WORK/r2.out" &&
		dd if=/dev/zero of="$D/filler" bs=1M >/dev/null 2>&1 # until the disk is full
	touch "$HOLD" && wait "$writer" &&
		expect_eq "$(cat "$WORK/w2.out")" "close ENOSPC" "the writer's close"
}
check "a follower, a close whose commit fails (ENOSPC), a reader during it" failing
check "r2, the writer's close failed: the bytes written (as tmpfs after an unlink)" \
	eval 'look "$WORK/r2.out" closed && same_as_tmpfs "$WORK/r2.out" closed'
check "f2, a follower, the same (its fstat and read)" \
	eval 'look "$WORK/f2.out" closed && same_as_tmpfs "$WORK/f2.out" closed nomap'
check "the writer's RELEASE: the readers keep the bytes" \
	wait_for 300 released 'kept by 1 reader.* opened during its commit' 2
# The file, never published, goes at that RELEASE; not while the disk is
# full, though: the store cannot write the removal either, and the name
# stays (until a restart).  A new open of it read the empty version, and
# its short read made the kernel shrink the size for r2 too: r2 read
# nothing.  It answers ENOENT (fuse/fs_read.c, unpublished_gone).
check "a new open of the file's name fails: it was not published" \
	expect_status 1 eval 'cat "$M/g" >"$WORK/cat.out"'
check "r2 after the writer's RELEASE: the same" \
	eval 'look "$WORK/r2.out" released && same_as_tmpfs "$WORK/r2.out" released'
check "f2 after it: the same, fstat too (it said 0)" \
	eval 'look "$WORK/f2.out" released && same_as_tmpfs "$WORK/f2.out" released nomap'
check "the readers close" readers_done
check "the disk freed" rm -f "$D/filler"

# 4. The reader that opened during the failed commit has closed when the
# last writer (a dup'ed descriptor) leaves: nothing is kept for nobody.
# The keep put every byte the write-behind had dropped back into memory,
# outside the staging budget, for no reader (review s39).
nobody() {
	rm -f "$HOLD" "$HOLD.held"
	"$PY" - "$M/k" "$S/f" "$WORK/w4" <<'PYEOF' &
import errno, os, sys, time
path, src, out = sys.argv[1:4]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
with open(src, "rb") as f:
    os.write(fd, f.read())
fd2 = os.dup(fd)  # the same open file: its close alone sends the RELEASE
open(out + ".written", "w").close()
while not os.path.exists(out + ".close"):
    time.sleep(0.01)
for d in (fd, fd2):
    try:
        os.close(d)
        r = "close ok"
    except OSError as e:
        r = "close " + errno.errorcode[e.errno]
    with open(out, "a") as f:
        print(r, file=f)
    while d == fd and not os.path.exists(out + ".close2"):
        time.sleep(0.01)
PYEOF
	writer=$!
	wait_for 300 test -e "$WORK/w4.written" && touch "$WORK/w4.close" &&
		wait_for 300 test -e "$HOLD.held" && start_reader "$M/k" "$WORK/r4.out" &&
		dd if=/dev/zero of="$D/filler" bs=1M >/dev/null 2>&1 # until the disk is full
	touch "$HOLD" && wait_for 300 grep -q close "$WORK/w4" &&
		look "$WORK/r4.out" closed && same_as_tmpfs "$WORK/r4.out" closed && readers_done &&
		rm -f "$D/filler" && touch "$WORK/w4.close2" && wait "$writer" &&
		expect_eq "$(tr '\n' ' ' <"$WORK/w4")" "close ENOSPC close ok " "the writer's closes" &&
		wait_for 300 grep -q 'removed k: its writer closed it' "$D/modelfs.log" &&
		expect_eq "$(grep -c 'kept by' "$D/modelfs.log")" 2 "the keeps logged"
}
check "a failed commit's reader closed before the writer left: nothing kept" nobody

# 5. Case 2's name g stayed (its removal failed on the full disk).  The
# download is tried again once the disk is freed: the new writer's close
# said 0 and its bytes went nowhere (the node was gone; a restart's
# recovery removed the name).  The open removes the name first now, and the
# kernel's retry creates the file anew (review s39, finding A).
retry() {
	"$PY" - "$M/g" "$S/f" <<'PYEOF' &&
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
with open(sys.argv[2], "rb") as f:
    os.write(fd, f.read())
os.close(fd)
PYEOF
		expect_sha "$M/g" "$(file_sha "$S/f")" && mfs_remount "$M" && expect_sha "$M/g" "$(file_sha "$S/f")"
}
check "g written again once the disk is freed: it is there, after a remount too" retry
check "unmount" mfs_umount "$M"

# 3. A write answered before its bytes failed to go in (a large one: a
# small write is copied before it is answered).
M3=$WORK/mnt3
D3=$WORK/data3
mfs_log_allow "$D3" 'failed after it was answered'
export MODELFS_TEST_STAGING_EIO_AT=5000
check "mount, the staged write over byte 5000 to fail" mfs_mount "$M3" "$D3" || mfs_abort "no mount"
unset MODELFS_TEST_STAGING_EIO_AT
werr() {
	"$PY" - "$M3/h" >"$WORK/werr.out" 2>&1 <<'PYEOF'
import errno, os, sys
p = sys.argv[1]
w = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
os.write(w, b"A" * 4096)
r = os.open(p, os.O_RDONLY)  # a follower
# 64 KiB: answered before its bytes go in (smaller writes are copied
# first and fail in write(2) itself: fs_write.c answer_first, t0132)
os.write(w, b"B" * 65536)    # answered; its bytes fail to go in
try:
    os.close(w)
    print("close ok")
except OSError as e:
    print("close", errno.errorcode[e.errno])
for _ in range(2):
    try:
        b = os.pread(r, 16384, 0)
        print("read", len(b))
    except OSError as e:
        print("read", errno.errorcode[e.errno])
PYEOF
	expect_eq "$(tr '\n' ' ' <"$WORK/werr.out")" "close EIO read EIO read EIO " "the writer and the follower"
}
check "a follower of bytes a failed write missed reads EIO" werr

mfs_done
