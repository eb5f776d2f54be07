#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A daemon killed while the kernel waited on it (fuse/wedged.c): a thread
# that invalidates a file's cached pages (here `modelfs-admin evict`) waits
# in the kernel for a page whose READ is still unanswered (held by
# MODELFS_TEST_READ_HOLD); kill -9 then leaves a process that cannot finish
# dying, its mount hanging every caller and its store locked.  A plain
# restart of mount.modelfs on the same store and mountpoint must end that:
# it aborts the old connection (the stuck reader gets an error, the old
# process goes), clears the dead mount and serves the file again.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
HOLD=$WORK/hold
CONN=
mfs_log_allow "$D" 'in use|locked|lock|READ_HOLD|killed while'

# The state letter of a process, empty when it is gone.
has_text() { case "$1" in *"$2"*) return 0 ;; esac; echo "$3: got: $1" >&2; false; }
pstate() { sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null; }
is_zombie() { [ "$(pstate "$1")" = Z ]; }
# Whatever happens, no hung mount is left behind on this machine.
unwedge() {
	[ -n "$CONN" ] || return 0
	[ -e /sys/fs/fuse/connections/"$CONN" ] ||
		mount -t fusectl none /sys/fs/fuse/connections 2>/dev/null
	echo 1 >/sys/fs/fuse/connections/"$CONN"/abort 2>/dev/null
	: >"$HOLD"
}

setup() {
	mkdir -p "$M" "$D" &&
	MODELFS_TEST_READ_HOLD=$HOLD "$MOUNT_BIN" "$M" -o "data=$D" >>"$WORK/mount.out" 2>&1 &&
	mfs_adopt "$M" "$D" &&
	CONN=$(findmnt -n -o MAJ:MIN --mountpoint "$M" | tr -d ' ' | sed 's/^0://') &&
	[ -n "$CONN" ] &&
	head -c 4194304 /dev/urandom >"$WORK/orig" &&
	cp "$WORK/orig" "$M/f" &&
	admin evict "$M/f" >/dev/null &&
	test -s "$D/fuse.conn" &&
	expect_eq "$(cat "$D/fuse.conn")" "$CONN $(mfs_daemon_pid "$M")" "DATA/fuse.conn"
}
check "a mount notes its FUSE connection in DATA/fuse.conn" setup || mfs_abort "no mount"

wedge() {
	local pid i
	pid=$(mfs_daemon_pid "$M")
	dd if="$M/f" of=/dev/null bs=1M 2>"$WORK/dd.err" &
	READER=$!
	wait_for 100 test -e "$HOLD.held" || { echo "no READ reached the hold" >&2; return 1; }
	admin evict "$M/f" >"$WORK/evict.out" 2>&1 &
	# The evict's invalidation sleeps on the page the held READ locks.
	for ((i = 0; i < 100; i++)); do
		grep -qs folio /proc/"$pid"/task/*/wchan && grep -qs inval /proc/"$pid"/task/*/stack && break
		sleep 0.1
	done
	[ "$i" -lt 100 ] || { echo "no daemon thread waits in the kernel's invalidation" >&2; return 1; }
	kill -9 "$pid" &&
	wait_for 50 is_zombie "$pid" || { echo "daemon $pid did not die" >&2; return 1; }
	sleep 3
	is_zombie "$pid" || { echo "daemon $pid finished dying: nothing wedged (state $(pstate "$pid"))" >&2; return 1; }
	kill -0 "$READER" 2>/dev/null || { echo "the reader did not hang" >&2; return 1; }
	OLD=$pid
}
check "kill -9 during an invalidation leaves the daemon unable to die" wedge || {
	unwedge
	mfs_abort "not wedged"
}

restart() {
	local out rc
	_mnt_pid[$M]=
	out=$(timeout 60 "$MOUNT_BIN" "$M" -o "data=$D" 2>&1)
	rc=$?
	echo "$out" >>"$WORK/mount.out"
	if [ "$rc" -ne 0 ]; then
		echo "restart: exit status $rc: $out" >&2
		unwedge
		return 1
	fi
	has_text "$out" "was killed while the kernel waited" "message" &&
	mfs_adopt "$M" "$D" &&
	wait_until pid_gone "$OLD" &&
	{ [ ! -e /proc/"$OLD" ] || { echo "old daemon $OLD still exists" >&2; false; }; } &&
	wait_for 100 eval '! kill -0 "$READER" 2>/dev/null' &&
	{ ! wait "$READER" || { echo "the stuck reader ended without an error" >&2; false; }; } &&
	expect_sha "$M/f" "$(file_sha "$WORK/orig")"
}
check "a restart aborts the wedged connection, clears the mount and serves" restart

: >"$HOLD"
fsck_clean() {
	admin fsck "$M" >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out" >&2; false; }
}
check "fsck is clean after" fsck_clean

mfs_done
