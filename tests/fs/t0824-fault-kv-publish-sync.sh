#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A commit whose publish reached the store but whose sync failed.  The
# publish is an unsynced store write, then a sync; when only the sync
# fails, the version is in the store: readers and peers see it, and a
# restart finds it.  The node took the error for "not published" and went
# on showing the old version (an empty file), while after a restart the
# new one was there (found by the hunt of stop 24 with MODELFS_FAULT,
# store/kv/db.h).  Now the writer's close still fails with EIO (the
# version's durability is not assured), and the node shows what a restart
# shows.  For every store write N from 2 to 8 failing for good
# (write:N:crash), a new file is created and, in a second run, a stored
# file is rewritten; whether the new bytes are shown right after the close
# must be whether they are shown after a remount without faults.  At least
# one N must be the publish's sync, or the test proves nothing.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
NEW='the new version'

# write_close FILE: writes $NEW into FILE (O_TRUNC); prints OK or the errno of the call that failed
write_close() {
	"$PY" - "$1" "$NEW" <<'PY'
import errno, os, sys
try:
    fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
except OSError as e:
    print("open", errno.errorcode[e.errno]); sys.exit(0)
try:
    os.write(fd, sys.argv[2].encode())
except OSError as e:
    print("write", errno.errorcode[e.errno])
try:
    os.close(fd); print("OK")
except OSError as e:
    print("close", errno.errorcode[e.errno])
PY
}

shows_new() { [ "$(cat "$1" 2>/dev/null)" = "$NEW" ] && echo yes || echo no; }

synced_fails=0
# one_point KIND N: KIND create or rewrite, with store write N failing for good
one_point() {
	local kind=$1 n=$2 res live after sync=no
	rm -rf "$D" && mkdir -p "$D" || return 1
	if [ "$kind" = rewrite ]; then
		mfs_mount "$M" "$D" && echo 'the old version' >"$M/f" && mfs_umount "$M" || return 1
	fi
	if ! MODELFS_FAULT=write:$n:crash mfs_mount "$M" "$D" 2>/dev/null; then
		note "$kind, write $n: the mount fails (the store's own writes)"
		return 0
	fi
	res=$(write_close "$M/f")
	live=$(shows_new "$M/f")
	grep -q "injected crash at write call $n (sync)" "$D/modelfs.log" && sync=yes
	mfs_umount "$M" && mfs_mount "$M" "$D" || return 1
	after=$(shows_new "$M/f")
	mfs_umount "$M" || return 1
	note "$kind, write $n: $res, new bytes shown: $live, after a remount: $after (sync failed: $sync)"
	[ "$sync" = yes ] && [ "$res" = "close EIO" ] && synced_fails=$((synced_fails + 1))
	expect_eq "$live" "$after" "$kind, write $n failing: new bytes shown before and after a restart"
}

points() { # KIND
	local n rc=0
	for n in 2 3 4 5 6 7 8; do
		one_point "$1" "$n" || rc=1
	done
	return "$rc"
}
check "a new file: what the node shows after a failed close is what a restart shows" points create
check "a rewrite: the same" points rewrite
check "the publish's sync failed at close in at least one run" \
	eval '[ "$synced_fails" -ge 1 ] || { echo "no run failed the publish sync at close" >&2; false; }'

mfs_done
