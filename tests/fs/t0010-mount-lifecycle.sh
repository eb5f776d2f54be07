#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Mount lifecycle: mount.modelfs returns with the mount live; statfs works;
# the daemon exits on umount, on fusermount3 -u and on SIGTERM; a second
# daemon on the same store is refused with status 32; -f stays in the
# foreground and exits 0 when unmounted.  A mount on a live modelfs
# mountpoint is refused (status 32, nothing stacked); after kill -9 a plain
# restart on the same mountpoint clears the dead mount and serves.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
M2=$WORK/mnt2
D=$WORK/data
mfs_log_allow "$D" 'in use|locked|lock'

mount_is_live_on_return() {
	mkdir -p "$M" "$D" &&
	"$MOUNT_BIN" "$M" -o "data=$D" >>"$WORK/mount.out" 2>&1 &&
	{ mountpoint -q "$M" || { echo "not a mountpoint when mount.modelfs returned" >&2; false; }; } &&
	mfs_adopt "$M" "$D"
}
check "mount.modelfs returns 0 with the mount already live" mount_is_live_on_return ||
	mfs_abort "no mount"

fresh_root() {
	local fstype
	fstype=$(findmnt -n -o FSTYPE --mountpoint "$M") &&
	case "$fstype" in fuse*) ;; *) echo "fstype $fstype" >&2; false ;; esac &&
	expect_eq "$(stat -c %F "$M")" directory "root type" &&
	expect_eq "$(ls -A "$M")" "" "listing of a fresh root"
}
check "the root of a fresh store is an empty directory on a fuse mount" fresh_root

# What a library writes to stderr before it aborts (a RocksDB or ZeroMQ
# assertion, glibc's heap checks) reaches the log, not /dev/null: a daemon
# that dies must say why.  Its standard input and output are /dev/null.
stdio_of_daemon() {
	local pid
	pid=$(mfs_daemon_pid "$M") &&
	expect_eq "$(readlink "/proc/$pid/fd/0")" /dev/null "stdin" &&
	expect_eq "$(readlink "/proc/$pid/fd/1")" /dev/null "stdout" &&
	expect_eq "$(readlink -f "/proc/$pid/fd/2")" "$(readlink -f "$D/modelfs.log")" "stderr"
}
check "the daemon's stderr is its log file; stdin and stdout are /dev/null" stdio_of_daemon

statfs_works() {
	local blocks bsize
	read -r blocks bsize < <(stat -f -c '%b %S' "$M") &&
	[ "${blocks:-0}" -gt 0 ] && [ "${bsize:-0}" -gt 0 ] &&
	df -P "$M" >/dev/null
}
check "statfs reports a size (stat -f, df)" statfs_works

umount_stops_daemon() {
	echo hello >"$M/f" &&
	mfs_umount "$M"
}
check "umount: the mount goes away and the daemon exits" umount_stops_daemon

fusermount_stops_daemon() {
	mfs_mount "$M" "$D" &&
	expect_eq "$(cat "$M/f")" hello "content after remount" &&
	mfs_umount "$M" fusermount3 -u "$M"
}
check "fusermount3 -u: the mount goes away and the daemon exits" fusermount_stops_daemon

sigterm_stops_daemon() {
	local pid
	mfs_mount "$M" "$D" &&
	pid=$(cat "$D/modelfs.pid") &&
	expect_eq "$pid" "$(mfs_daemon_pid "$M")" "pid file" &&
	kill -TERM "$pid" &&
	{ wait_until not_mounted "$M" || { echo "still mounted $MFS_WAIT_MAX s after SIGTERM" >&2; false; }; } &&
	{ wait_until pid_gone "$pid" || { echo "daemon alive $MFS_WAIT_MAX s after SIGTERM" >&2; false; }; }
}
check "SIGTERM to the pid in modelfs.pid unmounts and exits" sigterm_stops_daemon

# A SIGTERM sent while the daemon is stopped (SIGSTOP, a debugger, a frozen
# cgroup) is pending in every thread at once; on SIGCONT whichever thread
# runs first takes it.  Only the FUSE loop's own thread acts on it at once:
# taken by another (a RocksDB or timer thread), the daemon went on serving
# until the next request woke the loop.  Nothing here touches the mount
# while it waits (mountinfo and /proc only); a few rounds, since which
# thread runs first after SIGCONT varies.
sigterm_while_stopped() {
	local pid round
	for round in 1 2 3 4 5; do
		mfs_mount "$M" "$D" && pid=$(mfs_daemon_pid "$M") && [ -n "$pid" ] &&
		kill -STOP "$pid" && sleep 0.2 && kill -TERM "$pid" && sleep 0.2 && kill -CONT "$pid" || return 1
		if ! wait_for 300 pid_gone "$pid"; then
			echo "round $round: daemon alive 30 s after SIGTERM + SIGCONT" >&2
			stat "$M" >/dev/null 2>&1 # a request wakes the loop: let it go
			wait_for 300 pid_gone "$pid"
			return 1
		fi
		wait_for 100 not_mounted "$M" || { echo "round $round: still mounted" >&2; return 1; }
	done
}
check "SIGTERM to a stopped daemon is acted on at SIGCONT, no request needed" sigterm_while_stopped

second_daemon_refused() {
	mfs_mount "$M" "$D" &&
	mkdir -p "$M2" &&
	expect_status 32 "$MOUNT_BIN" "$M2" -o "data=$D" &&
	not_mounted "$M2" &&
	expect_eq "$(cat "$M/f")" hello "first mount still serves"
}
check "a second daemon on a store in use exits 32, the first keeps serving" second_daemon_refused

mounts_on() { grep -c " $1 " /proc/self/mountinfo; }
has_text() { case "$1" in *"$2"*) return 0 ;; esac; echo "$3: got: $1" >&2; false; }

live_mountpoint_refused() {
	local out
	mkdir -p "$WORK/data2" &&
	expect_eq "$(mounts_on "$M")" 1 "mounts on $M before" || return 1
	out=$("$MOUNT_BIN" "$M" -o "data=$WORK/data2" 2>&1)
	expect_eq "$?" 32 "exit status of a mount on a live modelfs mount" &&
	has_text "$out" "already a live modelfs mount" "its message" &&
	expect_eq "$(mounts_on "$M")" 1 "mounts on $M after (nothing stacked)" &&
	expect_eq "$(cat "$M/f")" hello "the first mount still serves"
}
check "a mount on a live modelfs mountpoint exits 32 and stacks nothing" live_mountpoint_refused

restart_after_kill9() {
	local pid out
	pid=$(mfs_daemon_pid "$M") && kill -9 "$pid" &&
	wait_until pid_gone "$pid" || return 1
	_mnt_pid[$M]=
	! stat -f "$M" >/dev/null 2>&1 || { echo "the dead mount still answers" >&2; return 1; }
	out=$("$MOUNT_BIN" "$M" -o "data=$D" 2>&1) || { echo "$out" >&2; return 1; }
	has_text "$out" "cleared a dead modelfs mount" "message" &&
	mfs_adopt "$M" "$D" &&
	expect_eq "$(mounts_on "$M")" 1 "mounts on $M (the dead one is gone)" &&
	expect_eq "$(cat "$M/f")" hello "content after the restart"
}
check "after kill -9, mount.modelfs on the same mountpoint clears the dead mount" restart_after_kill9

foreground_mode() {
	local fg rc
	mfs_umount "$M" || return 1
	"$MOUNT_BIN" "$M" -f -o "data=$D" >>"$WORK/mount.out" 2>&1 &
	fg=$!
	wait_until is_mounted "$M" || { echo "-f: no mount after $MFS_WAIT_MAX s" >&2; return 1; }
	pid_alive "$fg" || { echo "-f: the process did not stay" >&2; return 1; }
	expect_eq "$(cat "$M/f")" hello "content in foreground mode" || return 1
	umount "$M" || return 1
	wait "$fg"
	rc=$?
	expect_eq "$rc" 0 "exit status of mount.modelfs -f after umount"
}
check "-f stays in the foreground and exits 0 after umount" foreground_mode

mfs_done
