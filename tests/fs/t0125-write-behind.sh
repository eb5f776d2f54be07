#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Write-behind (fuse/writebehind.c): a large file's chunks are stored while
# it is still written, and the commit at close does the rest.  Every way a
# writer can change bytes the early ingest already read (a write below it,
# ftruncate, fallocate punch, fsync then more writes, unlink while open, two
# writers at once, kill -9) must still publish exactly the bytes written:
# each file is compared with the same operations done on a local file.
# Then again past a small staging budget, where the bytes whose chunks are
# stored leave the staging (a hole) and must come back for any change or
# read below it.
# Whether the early ingest was used or dropped is read from the log; both
# are decided when the write returns (not by timing), so they are asserted.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
R=$WORK/ref
mkdir -p "$R"

check "mount with write_behind_mb=8" mfs_mount "$M" "$D" write_behind_mb=8 ||
	mfs_abort "no mount"

# ops.py NAME OP...: runs the ops on $M/NAME and $R/NAME, one descriptor each.
# OP: wSIZE (append SIZE MiB of seeded bytes), pOFF (write 4 KiB at byte
# OFF), tSIZE (ftruncate to SIZE MiB), hOFF (punch 1 MiB at OFF MiB),
# s (fsync), u (unlink, mount side and reference alike), rOFF (read 1 MiB
# at OFF MiB through the same descriptor, the page cache dropped first, and
# compare).
cat >"$WORK/ops.py" <<'PY'
import os, random, sys
mnt, ref, name = sys.argv[1], sys.argv[2], sys.argv[3]
MiB = 1 << 20
fds = [os.open(os.path.join(d, name), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
       for d in (mnt, ref)]
rng = random.Random(name)
def both(f):
    for fd in fds:
        f(fd)
for op in sys.argv[4:]:
    kind, arg = op[0], op[1:]
    if kind == "w":
        for _ in range(int(arg) * 8):
            b = rng.randbytes(MiB // 8)
            both(lambda fd: os.write(fd, b))
    elif kind == "p":
        b = rng.randbytes(4096)
        both(lambda fd: os.pwrite(fd, b, int(arg)))
    elif kind == "t":
        both(lambda fd: os.ftruncate(fd, int(arg) * MiB))
        both(lambda fd: os.lseek(fd, 0, os.SEEK_END))
    elif kind == "h":
        FL = 0x01 | 0x02  # FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        for fd in fds:
            if libc.fallocate(fd, FL, ctypes.c_long(int(arg) * MiB), ctypes.c_long(MiB)):
                sys.exit("fallocate: %s" % os.strerror(ctypes.get_errno()))
    elif kind == "s":
        both(os.fsync)
    elif kind == "r":
        got = []
        for fd in fds:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            got.append(os.pread(fd, MiB, int(arg) * MiB))
        if got[0] != got[1]:
            sys.exit("read at %s MiB: the staged bytes differ" % arg)
    elif kind == "u":
        for d in (mnt, ref):
            os.unlink(os.path.join(d, name))
for fd in fds:
    os.close(fd)
PY

ops() { "$PY" "$WORK/ops.py" "$M" "$R" "$@"; }
same() { expect_sha "$M/$1" "$(file_sha "$R/$1")"; }
# The log line of the last commit of a file this size.
wb_log() { grep "write-behind at commit" "$D/modelfs.log" | tail -n 1; }
log_says() {
	case "$(wb_log)" in *"$1"*) return 0 ;; esac
	echo "last write-behind line: $(wb_log) (wanted: $1)" >&2
	false
}

sequential() {
	ops seq w48 && same seq && log_says "usable" && ! log_says " 0 of"
}
check "48 MiB written in order: stored while written, whole at close" sequential

patched() {
	ops patched w48 p100 && same patched && log_says "broken"
}
check "a header patched after 48 MiB: the early ingest is dropped, bytes whole" patched

patched_late() {
	# At or above what the feed read: the early ingest stays usable.
	ops late w32 p$((32 * 1024 * 1024 - 4096)) w8 && same late
}
check "a patch near the end, then more writes: bytes whole" patched_late

truncated() {
	ops trunc w32 t4 w24 && same trunc && log_says "broken"
}
check "ftruncate below what was read, then more writes: bytes whole" truncated

punched() {
	ops punch w32 h2 w4 && same punch
}
check "a hole punched after 32 MiB: bytes whole" punched

synced() {
	ops synced w32 s w16 s w4 && same synced
}
check "fsync mid-file, more writes, fsync, close: bytes whole" synced

unlinked() {
	ops gone w32 u w12 && [ ! -e "$M/gone" ] && pid_alive "$(mfs_daemon_pid "$M")"
}
check "unlinked while written: gone, the daemon lives" unlinked

two_writers() {
	ops two1 w40 & p1=$!
	ops two2 w24 p4096 w8 & p2=$!
	wait "$p1" && wait "$p2" && same two1 && same two2
}
check "two large writers at once: both whole" two_writers

killed() {
	"$PY" "$WORK/ops.py" "$M" "$R" killed w40 w40 & p=$!
	wait_for 300 test -s "$R/killed" && wait_for 300 size_at_least "$R/killed" $((36 << 20)) &&
	mfs_kill9 "$M" && { wait "$p"; true; } &&
	expect_status 0 admin fsck --data "$D" &&
	mfs_mount "$M" "$D" write_behind_mb=8 &&
	[ ! -e "$M/killed" ]
}
size_at_least() { [ "$(stat -c %s "$1")" -ge "$2" ]; }
check "kill -9 while stored behind a writer: no file, fsck clean, mounts" killed

remounted() {
	mfs_remount "$M" && same seq && same patched && same late && same trunc &&
	same punch && same synced && same two1 && same two2
}
check "after remount every file is the same" remounted
check "fsck of the mount: no problem (what dropped ingests stored is unused, not damage)" \
	expect_status 0 admin fsck "$M"

# A 16 MiB staging budget: past it, stored bytes are dropped from the staging.
check "remount with a 16 MiB staging budget" mfs_remount "$M" write_behind_mb=8,staging_mem_mb=16 ||
	mfs_abort "no mount"
dropped() { ! log_says " 0 dropped" 2>/dev/null; }
# put_back OPS...: runs ops; the dropped bytes had to come back (once more in the log).
put_back() {
	local n
	n=$(grep -c "staged bytes put back" "$D/modelfs.log")
	ops "$@" && [ "$(grep -c "staged bytes put back" "$D/modelfs.log")" -gt "$n" ]
}
check "64 MiB in order past the budget: stored bytes dropped, whole at close" \
	eval 'ops dseq w64 && same dseq && log_says "usable" && dropped'
check "a header patched after bytes were dropped: they come back, bytes whole" \
	eval 'put_back dpatch w64 p100 w8 && same dpatch && log_says "broken"'
# kept_out OPS...: runs ops; no dropped bytes came back (no more in the log).
kept_out() {
	local n
	n=$(grep -c "staged bytes put back" "$D/modelfs.log")
	ops "$@" && [ "$(grep -c "staged bytes put back" "$D/modelfs.log")" -eq "$n" ]
}
# Read from their chunks, not put back into the staging (fuse/kept.c): a
# reader of a file past the budget must not bring the whole file into memory.
check "a read below the hole through the writer's descriptor: the staged bytes, not put back" \
	eval 'kept_out dread w64 r1 r30 w8 && same dread'
check "ftruncate into the hole, then more writes: bytes whole" \
	eval 'put_back dtrunc w64 t2 w24 && same dtrunc'
check "fsync after bytes were dropped, more writes, close: bytes whole" \
	eval 'ops dsync w64 s w16 p4096 && same dsync'
check "two writers past the budget at once: both whole" \
	eval 'ops dtwo1 w48 & p1=$!; ops dtwo2 w48 p8192 w8 & p2=$!; wait $p1 && wait $p2 && same dtwo1 && same dtwo2'
check "after remount the files past the budget are the same" \
	eval 'mfs_remount "$M" && same dseq && same dpatch && same dread && same dtrunc && same dsync && same dtwo1 && same dtwo2'
check "fsck after the budget runs: no problem" expect_status 0 admin fsck "$M"

# Store writes failing from the Nth on (MODELFS_FAULT, test only) while bytes
# are dropped: the writer may hear of it (EIO), but the file is then never
# published with a hole, and after a clean remount it is absent or whole.
mfs_log_allow "$D" 'cannot be put back|Input/output error|I/O error|EIO'
faulted() {
	local n=$1 rc
	mfs_umount "$M" && MODELFS_FAULT=write:$n:crash mfs_mount "$M" "$D" write_behind_mb=8,staging_mem_mb=16 ||
		return 1
	ops "fault$n" w48 p100 w4 2>"$WORK/fault.err"
	rc=$?
	note "write:$n:crash: writer exit $rc: $(tail -n 1 "$WORK/fault.err")"
	mfs_remount "$M" || return 1
	if [ "$rc" = 0 ]; then
		same "fault$n"
	else
		[ ! -e "$M/fault$n" ]
	fi
}
for n in 4 8 12; do
	check "store writes crash from the ${n}th on while bytes are dropped: absent or whole" faulted "$n"
done
check "fsck after the faults: no problem" expect_status 0 admin fsck "$M"

mfs_done
