#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The failed WAL that RocksDB's recovery keeps (t0807) is ended by one
# reopen in place (store/kv/db_rocks.c, reopen_stuck) that works, not one
# per caller that found the store stuck: a caller that looked (stuck(),
# not under the life lock) before another's reopen and tried after it
# closed and opened the healthy store again, and would have left it shut
# had that open failed.  Readers of a shut store try the open too
# (shut_retry), so many callers look at once.  MODELFS_TEST_REOPEN_PAUSE_MS
# (test only) makes the k-th such caller wait k x 1 s before it tries (a
# reopen of this store takes a few tens of ms);
# MODELFS_TEST_REOPEN_FAIL=11 fails the first reopen, so the store is shut
# and two listers and the mkdirs all look 2 s later (MODELFS_TEST_REOPEN_AFTER_MS,
# test only; 12 s by default); the first of them reopens it, and the
# others, 1, 2 and 3 s later, must leave it alone.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init
. "$(dirname "$0")/walstuck.sh"

M=$WORK/mnt
D=$WORK/data
mfs_log_allow "$D" 'No space left on device|ENOSPC|space|cannot reopen|Input/output'

check "a 64 MiB tmpfs for the store" mfs_tmpfs "$D" 64m || mfs_abort "no tmpfs"
MODELFS_SPACE_FLOOR=0 MODELFS_TEST_REOPEN_PAUSE_MS=1000 MODELFS_TEST_REOPEN_FAIL=11 \
	MODELFS_TEST_REOPEN_AFTER_MS=2000 \
	check "mount with the floor off; reopen tries paused, the first failing (test only)" \
	mfs_mount "$M" "$D" ||
	mfs_abort "no mount"
check "a file, xattrs in a first WAL; gc switches to a second" wal_setup
check "another process fills the disk to the last block" wal_fill
check "the first append to a fresh WAL fails for space; the daemon lives" wal_first_append_failed
check "the other process frees its space" wal_unfill
# Two listers all along: on the shut store their reads try the open again
# (shut_retry), each on its own.
lister() { while [ ! -e "$WORK/stop" ]; do ls "$M" >/dev/null 2>&1; sleep 0.05; done; }
lister &
l1=$!
lister &
l2=$!
reopened() { grep -q 'the store reopened' "$D/modelfs.log"; }
mkdir_reopened() { mkdir "$M/after" 2>/dev/null; reopened; }
once() {
	wait_for 900 mkdir_reopened ||
		{ echo "not reopened in 90 s: $(tail -n 1 "$D/modelfs.log")" >&2; return 1; }
	# The callers paused after the one that reopened: 1 s, 2 s... later.
	sleep 4
	touch "$WORK/stop" && wait "$l1" "$l2"
	note "$(grep -E 'reopen' "$D/modelfs.log" | cut -d' ' -f2- | tr '\n' ' ')"
	expect_eq "$(grep -c 'the store reopened' "$D/modelfs.log")" 1 "reopens that worked" &&
		mkdir -p "$M/after" && mkdir "$M/after2" && pid_alive "$(mfs_daemon_pid "$M")"
}
check "once space is back: a failed reopen, then one reopen, and writes work" once
intact() { cmp "$WORK/small" "$M/small" && [ -d "$M/after" ] && [ -d "$M/after2" ]; }
restarted() {
	mfs_umount "$M" && expect_status 0 admin fsck --data "$D" && mfs_mount "$M" "$D" && intact
}
check "unmount, fsck clean; after a restart everything is there" restarted
mfs_done
