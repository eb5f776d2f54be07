#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A store shut by a failed reopen (store/kv/db_rocks.c, reopen_stuck;
# t0807's second case) on a node that only reads afterwards, as a node
# serving weights does: the next try of the open must come without a
# write.  It came only at a write, sync, flush or reclaim, so every read
# that reached the store failed with EIO for as long as nobody wrote.
#
# t0807's sequence (the floor off on a 64 MiB tmpfs; xattrs of 4 x 45 kB;
# gc --relocate; dd fills the disk; the first append to a fresh WAL
# fails), with the reopen's first 11 opens failing (MODELFS_TEST_REOPEN_FAIL,
# test only): mkdirs until the failed reopen says so, then listings only.
# The reopen is tried 3 s after space is back and again 3 s after it failed,
# not 12 s (MODELFS_TEST_REOPEN_AFTER_MS, test only): the listing that must
# fail comes within milliseconds of the failed reopen's log line.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init
. "$(dirname "$0")/walstuck.sh"

M=$WORK/mnt
D=$WORK/data
mfs_log_allow "$D" 'No space left on device|ENOSPC|space|cannot reopen|Input/output'

check "a 64 MiB tmpfs for the store" mfs_tmpfs "$D" 64m || mfs_abort "no tmpfs"
MODELFS_SPACE_FLOOR=0 MODELFS_TEST_REOPEN_FAIL=11 MODELFS_TEST_REOPEN_AFTER_MS=3000 \
	check "mount with the floor off, the first reopen failing (test only)" \
	mfs_mount "$M" "$D" meta_sync_ms=0 ||
	mfs_abort "no mount"
check "a file, xattrs in a first WAL; gc switches to a second" wal_setup
check "another process fills the disk to the last block" wal_fill
check "the first append to a fresh WAL fails for space; the daemon lives" wal_first_append_failed
check "the other process frees its space" wal_unfill
# A listing reaches the store (an iterator); xattrs may be answered from memory.
readable() { ls "$M" >/dev/null 2>&1 && getfattr -n user.k0 "$M/x" >/dev/null 2>&1; }
shut() { grep -q 'cannot reopen the store' "$D/modelfs.log"; }
mkdir_shut() { mkdir "$M/w" 2>/dev/null; shut; }
shut_by_writes() {
	wait_for 600 mkdir_shut ||
		{ echo "no failed reopen in 60 s: $(tail -n 1 "$D/modelfs.log")" >&2; return 1; }
	! readable
}
check "writes meet the gate; the reopen fails; the store is shut (reads fail)" shut_by_writes
reads_back() {
	wait_for 600 readable ||
		{ echo "reads still fail after 60 s: $(tail -n 1 "$D/modelfs.log")" >&2; return 1; }
	grep -q 'the store reopened' "$D/modelfs.log" && pid_alive "$(mfs_daemon_pid "$M")"
}
check "with reads only, the store opens again and reads work" reads_back
check "writes work again" mkdir "$M/after"
restarted() {
	mfs_umount "$M" && expect_status 0 admin fsck --data "$D" && mfs_mount "$M" "$D" &&
		[ -d "$M/after" ] && readable
}
check "unmount, fsck clean; after a restart everything is there" restarted
mfs_done
