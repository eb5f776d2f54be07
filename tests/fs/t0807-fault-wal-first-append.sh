#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A WAL append that fails for space as the first append of a WAL file that
# RocksDB switched to in that very write, every memtable empty: the case in
# which RocksDB's recovery keeps the failed WAL (store/kv/db_rocks.c,
# wal_gate; doc/decisions.md): the store took no writes until a restart.
# Now it reopens the database in place once the gate has stayed shut with
# room on the disk (reopen_stuck): writes come back without a restart,
# the daemon lives, and everything is there after a restart, fsck clean.
# Then all of it again with the reopen's first opens failing, as when
# another process takes the store's LOCK in between (test only,
# MODELFS_TEST_REOPEN_FAIL): the store is shut, reads that reach it fail
# with EIO, the daemon lives, and a later try opens it.  The reopen comes
# 2 s after space is back, not 12 s (MODELFS_TEST_REOPEN_AFTER_MS, test only).
#
# Made deterministic with the store's floor off (MODELFS_SPACE_FLOOR=0,
# test only) on a 64 MiB tmpfs: xattrs of 4 x 45 kB make each setxattr a
# ~180 kB WAL record; gc --relocate flushes the chunks family, so RocksDB
# starts a second WAL while the first stays alive (its other families are
# not flushed); one setxattr allocates the second WAL's 8 MiB block; dd
# fills the disk; setxattrs go on within that block until the WALs alive
# pass max_total_wal_size (8 MiB), when RocksDB flushes every family they
# hold and switches to a third WAL in the write, whose first append fails.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init
. "$(dirname "$0")/walstuck.sh"

# Readers all along (reads, listings, xattrs), across the reopen; a failure
# other than EIO fails them, and EIO too unless argv[4] allows it.
cat >"$WORK/readers.py" <<'EOF'
import errno, os, sys
mnt, ref, stop = sys.argv[1], open(sys.argv[2], "rb").read(), sys.argv[3]
eio_ok = sys.argv[4] != "0"
n = bad = eio = 0
while not os.path.exists(stop):
    try:
        with open(os.path.join(mnt, "small"), "rb") as f:
            bad += f.read() != ref
        os.listdir(mnt)
        os.getxattr(os.path.join(mnt, "x"), "user.k0")
    except OSError as e:
        if eio_ok and e.errno == errno.EIO:
            eio += 1
        else:
            bad += 1
            print("reader: %s" % e, file=sys.stderr)
    n += 1
print("%d rounds, %d failed, %d with EIO" % (n, bad, eio))
sys.exit(1 if bad or not n else 0)
EOF
writable() {
	local pid
	pid=$(mfs_daemon_pid "$M")
	wait_for 600 mkdir "$M/after" 2>/dev/null ||
		{ echo "no mkdir worked in 60 s: $(tail -n 1 "$D/modelfs.log")" >&2; return 1; }
	pid_alive "$pid" || { echo "the daemon died" >&2; return 1; }
	note "$(grep -E 'reopen|dropped' "$D/modelfs.log" | cut -d' ' -f2- | tr '\n' ' ')"
	"$PY" "$WORK/sx.py" "$M/x" 8 | grep -qx 'ok=8' && mkdir "$M/after2" && pid_alive "$pid"
}
readers_ok() {
	touch "$D/../stop" && wait "$readers"
	local rc=$?
	note "readers: $(tail -n 3 "$D/../readers.out" | tr '\n' ' ')"
	return "$rc"
}
intact() {
	cmp "$WORK/small" "$M/small" && [ "$(getfattr --absolute-names --only-values -n user.k0 "$M/x" | wc -c)" -gt 40000 ] &&
		pid_alive "$(mfs_daemon_pid "$M")"
}
restarted() {
	mfs_umount "$M" && expect_status 0 admin fsck --data "$D" && mfs_mount "$M" "$D" &&
		[ -d "$M/after" ] && [ -d "$M/after2" ] && intact
}

# one_case TAG FAILS: the whole sequence on a fresh store, the reopen's
# first FAILS opens failing.
one_case() {
	local tag=$1 fails=$2
	M=$WORK/$tag/mnt D=$WORK/$tag/data
	mkdir -p "$M" "$D"
	mfs_log_allow "$D" 'No space left on device|ENOSPC|space|cannot reopen|Input/output'
	check "$tag: a 64 MiB tmpfs for the store" mfs_tmpfs "$D" 64m || return 1
	MODELFS_SPACE_FLOOR=0 MODELFS_TEST_REOPEN_FAIL=$fails MODELFS_TEST_REOPEN_AFTER_MS=2000 \
		check "$tag: mount with the floor off (test only)" mfs_mount "$M" "$D" || return 1
	check "$tag: xattrs in a first WAL; gc switches to a second" wal_setup
	check "$tag: another process fills the disk to the last block" wal_fill
	check "$tag: the first append to a fresh WAL fails for space; the daemon lives" wal_first_append_failed
	"$PY" "$WORK/readers.py" "$M" "$WORK/small" "$D/../stop" "$fails" >"$WORK/$tag/readers.out" 2>&1 &
	readers=$!
	check "$tag: the other process frees its space" wal_unfill
	check "$tag: once space is back, a mkdir works without a restart (the store reopens)" writable
	if [ "$fails" = 0 ]; then
		check "$tag: readers ran all along, across the reopen, and none failed" readers_ok
	else
		check "$tag: the failed reopen shut the store, said so, and the daemon lived" shut_said
		check "$tag: readers ran all along and failed only with EIO, while shut" readers_ok
	fi
	check "$tag: reads go on, and the daemon lives" intact
	check "$tag: unmount, fsck clean; after a restart everything is there" restarted
}
shut_said() {
	grep -q 'cannot reopen the store' "$D/modelfs.log" &&
		grep -q 'the store reopened' "$D/modelfs.log"
}

one_case reopen 0
# 11: every open of the first reopen (its 11 tries), none of the next.
one_case reopen-fails 11
mfs_done
