#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Processes that count in one file under a lock, the way tools share a
# small state file (a counter, a pid or sequence file): each turn opens
# the file, takes the lock, reads the number, writes it plus one, unlocks
# and closes.  On tmpfs the count ends at the number of turns.  Here it
# lost about 1 turn in 10, silently (hunt s41): a writer's open(2) that
# comes in while another writer's close commits the file.  t0426 covers
# the two orders fixed first; the last one (two stagings of one file made
# at once, through a superseded inode and the current one: lostturn s41)
# is checked here.
#  1. fcntl locks (lockf), open/lock/read/write/ftruncate/unlock/close.
#  2. The same, each process keeping its descriptor, fsync under the lock.
#  3. The same, descriptors kept, no fsync (one staging all along).
#  4. flock(1) on a lock file, the counter rewritten by the shell's >.
# The daemon's locks themselves are right throughout (t0422).
# Each turn is a commit: 600 of them, slow on a loaded 2-core machine.
MFS_TEST_TIMEOUT=${MFS_TEST_TIMEOUT:-900}
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
PROCS=3
TURNS=50
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

cat >"$WORK/count.py" <<'PY'
import fcntl, os, sys
path, procs, turns, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with open(path, "w") as f:
    f.write("0\n")
kids = []
for _ in range(procs):
    pid = os.fork()
    if pid == 0:
        keep = os.open(path, os.O_RDWR) if mode != "reopen" else -1
        for _ in range(turns):
            fd = keep if keep >= 0 else os.open(path, os.O_RDWR)
            fcntl.lockf(fd, fcntl.LOCK_EX)
            n = int(os.pread(fd, 64, 0))
            s = b"%d\n" % (n + 1)
            os.pwrite(fd, s, 0)
            os.ftruncate(fd, len(s))
            if mode == "sync":
                os.fsync(fd)
            fcntl.lockf(fd, fcntl.LOCK_UN)
            if keep < 0:
                os.close(fd)
        os._exit(0)
    kids.append(pid)
bad = [k for k in kids if os.waitpid(k, 0)[1]]
print(open(path).read().strip())
sys.exit(1 if bad else 0)
PY

# counted MODE: the count after PROCS x TURNS turns.
counted() {
	local got
	got=$("$PY" "$WORK/count.py" "$M/$1" "$PROCS" "$TURNS" "$1") || return 1
	expect_eq "$got" $((PROCS * TURNS)) "the count ($1)"
}
check "lockf, reopened each turn: no turn lost" counted reopen
check "lockf, kept open, fsync under the lock: no turn lost" counted sync
check "lockf, kept open: no turn lost" counted keep

flock_counted() {
	local i got pids=()
	echo 0 >"$M/c" && : >"$M/lk" || return 1
	for i in $(seq "$PROCS"); do
		(for _ in $(seq "$TURNS"); do
			# shellcheck disable=SC2016 # the inner shell expands them
			flock "$M/lk" sh -c 'n=$(cat "$1"); echo $((n + 1)) >"$1"' sh "$M/c" || exit 1
		done) &
		pids+=($!)
	done
	# Not a bare wait: the watchdog is a background job of this shell too.
	for i in "${pids[@]}"; do
		wait "$i" || return 1
	done
	got=$(cat "$M/c")
	expect_eq "$got" $((PROCS * TURNS)) "the count (flock(1))"
}
check "flock(1) on a lock file, the counter rewritten by >: no turn lost" flock_counted

mfs_done
