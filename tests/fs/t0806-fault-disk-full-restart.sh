#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A node restarted on a disk filled to the last block while it was down
# (a reboot, an OOM kill, an upgrade).  The store lives on a 64 MiB tmpfs;
# files are stored and namespace changes leave more than 8 MiB in the WAL;
# the daemon is killed with SIGKILL and another process (dd)
# takes every free block.  The restart must mount (it failed with exit 32,
# "No space left on device": RocksDB's open writes an SST of what it
# replays, a MANIFEST, CURRENT and OPTIONS; store/kv/db_space.c, the
# reserve), read every file byte-exact, refuse a create and a mkdir with
# ENOSPC, say FULL in status, and start again after a second SIGKILL;
# then, the filler gone, take writes again without a restart, its reserve
# made again.  Then the same after a clean
# unmount on the full disk (RocksDB has less to replay), and fsck of the
# stopped store is clean.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
declare -A sum=()
# wal_files: the WAL files, NAME:BYTES (allocated KiB)
wal_files() { find "$D/db" -name '*.log' -printf '%f:%s(%kK)\n' | sort | tr '\n' ' '; }
mfs_log_allow "$D" 'No space left on device|ENOSPC|space'

check "a 64 MiB tmpfs for the store" mfs_tmpfs "$D" 64m || mfs_abort "no tmpfs"
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

reserve_blocks() { echo $(($(stat -c %b "$D/db/space.reserve" 2>/dev/null || echo 0) / 2)); }
reserve_made() {
	[ "$(reserve_blocks)" -ge 1024 ] ||
		{ echo "no 1 MiB reserve: $(ls -ls "$D/db/space.reserve" 2>&1)" >&2; return 1; }
}

# Files, and namespace changes (four xattrs of 45 kB: each setxattr a
# ~180 kB WAL record) until the newest WAL is past max_total_wal_size
# (8 MiB, store/kv/db_rocks.c): RocksDB replays all of it at the next
# open, and the open's first write makes it switch WALs and flush.
last=0
newest_wal() { find "$D/db" -name '*.log' -printf '%f %s\n' | sort | tail -n 1 | cut -d' ' -f2; }
before() {
	local f i v
	for f in a:3072 b:100 c:1; do
		randfile "$S/${f%:*}" $((${f#*:} * 1024)) && sum[${f%:*}]=$(file_sha "$S/${f%:*}") || return 1
	done
	mkdir -p "$M/keep/sub" && cp "$S/a" "$S/b" "$M/keep/" && cp "$S/c" "$M/keep/sub/" &&
		setfattr -n user.k -v before "$M/keep/a" && : >"$M/x" || return 1
	v=$(head -c 33750 /dev/urandom | base64 -w0)
	for i in $(seq 1 100); do
		setfattr -n "user.v$((i % 4))" -v "$v$i" "$M/x" || return 1
		last=$i
		[ "$(newest_wal)" -gt $((8 * MiB)) ] && break
	done
	note "after $last setxattrs, WAL files: $(wal_files)"
	[ "$(newest_wal)" -gt $((8 * MiB)) ] || { echo "the WAL never passed 8 MiB" >&2; return 1; }
	expect_sha "$M/keep/a" "${sum[a]}"
}
check "files stored, the WAL full of namespace records" before || mfs_abort "no files"
check "the store keeps a 1 MiB reserve (db/space.reserve)" reserve_made

# fill: another process takes every free block (1 MiB writes, then 4 KiB).
fill() {
	dd if=/dev/zero of="$D/filler" bs=1M status=none 2>/dev/null
	dd if=/dev/zero of="$D/filler2" bs=4k status=none 2>/dev/null
	note "free after the filler: $(df -k --output=avail "$D" | tail -n 1) KiB"
	[ "$(df -k --output=avail "$D" | tail -n 1)" -eq 0 ]
}
unfill() { rm -f "$D/filler" "$D/filler2"; }

killed_full() { mfs_kill9 "$M" && fill; }
check "the daemon is killed (SIGKILL); the disk fills to the last block" killed_full

# restart: mount.modelfs on the full disk must mount.
restart() {
	"$MOUNT_BIN" "$M" -o "data=$D" >"$WORK/full-mount.out" 2>&1 ||
		{ echo "mount.modelfs on the full disk: exit $?: $(tail -n 2 "$WORK/full-mount.out")" >&2
		  return 1; }
	wait_until is_mounted "$M" && mfs_adopt "$M" "$D"
}

intact() {
	expect_sha "$M/keep/a" "${sum[a]}" && expect_sha "$M/keep/b" "${sum[b]}" &&
		expect_sha "$M/keep/sub/c" "${sum[c]}" &&
		expect_eq "$(getfattr --absolute-names --only-values -n user.k "$M/keep/a")" before "user.k of keep/a" &&
		expect_eq "$(getfattr --absolute-names --only-values -n "user.v$((last % 4))" "$M/x" | tail -c ${#last})" \
			"$last" "user.v$((last % 4)) of x (the last setxattr)"
}

refused() {
	expect_errno ENOSPC create_excl "$M/new-on-full" && expect_errno ENOSPC mkdir "$M/dir-on-full" &&
		expect_errno ENOENT stat "$M/new-on-full"
}

# status_full WANT: store_disk_full in status --json, and FULL in the report when 1.
status_full() {
	local got
	got=$(admin status --json "$M" | json_get store_disk_full) &&
		expect_eq "$got" "$1" "store_disk_full" || return 1
	if [ "$1" = 1 ]; then
		admin status "$M" | grep "^disk .*FULL: under the 16 MiB the store keeps"
	else
		! admin status "$M" | grep FULL
	fi
}

# writable NAME: a create of NAME works within a bounded poll, no restart.
writable() {
	local pid
	pid=$(mfs_daemon_pid "$M")
	wait_for 300 expect_errno OK create_excl "$M/$1" 2>/dev/null ||
		{ echo "no create worked in 300 tries after space came back" >&2; return 1; }
	pid_alive "$pid" || { echo "the daemon died" >&2; return 1; }
	mkdir "$M/$1.d" && cp "$S/a" "$M/$1.d/a" && expect_sha "$M/$1.d/a" "${sum[a]}" &&
		pid_alive "$pid"
}

check "restart after SIGKILL on the full disk: it mounts" restart || mfs_abort "no mount on the full disk"
check "every file reads back byte-exact, xattrs too" intact
check "a create and a mkdir fail with ENOSPC" refused
check "status says FULL (store_disk_full 1)" status_full 1
# Killed again with the disk still full (a crash loop): the reserve is gone,
# the room its release left is what the second open writes into.
again() {
	mfs_kill9 "$M" && note "free before the second restart: $(df -k --output=avail "$D" | tail -n 1) KiB" &&
		restart && intact && refused
}
check "killed again on the full disk; the second restart mounts too" again
check "the other process frees its space" unfill
check "a create works without a restart; a new file is stored" writable back1
check "status says it no longer is (store_disk_full 0)" status_full 0
check "the reserve is made again" wait_for 100 reserve_made

# A clean unmount on the full disk: RocksDB has little to replay, but its
# open still writes a MANIFEST, CURRENT and an OPTIONS file.
umount_full() { fill && mfs_umount "$M" && fill; }
check "the disk fills; a clean unmount on it; the disk fills to the last block" umount_full
check "restart after an unmount on the full disk: it mounts" restart || mfs_abort "no mount on the full disk"
check "every file reads back byte-exact" intact
check "a create and a mkdir fail with ENOSPC" refused
check "the other process frees its space" unfill
check "a create works without a restart" writable back2
check "the reserve is made again" wait_for 100 reserve_made

fsck_clean() {
	mfs_umount "$M" && expect_status 0 admin fsck --data "$D" &&
		mfs_mount "$M" "$D" && intact && [ -f "$M/back1" ] && [ -f "$M/back2" ] &&
		expect_sha "$M/back2.d/a" "${sum[a]}"
}
check "fsck of the stopped store is clean; everything is there after a remount" fsck_clean

# Without its reserve (a store made before it): with no page free the
# open cannot write its MANIFEST, and mount.modelfs says so (exit 32); with
# two pages free it mounts (MANIFEST and CURRENT; the OPTIONS file it
# could not finish is removed at the next open, no longer left for good).
free_kib() { truncate -s $(($(stat -c %s "$D/filler") - $1 * 1024)) "$D/filler"; }
no_reserve_0() {
	local rc
	mfs_umount "$M" && rm -f "$D/db/space.reserve" && fill || return 1
	"$MOUNT_BIN" "$M" -o "data=$D" >"$WORK/full-mount.out" 2>&1
	rc=$?
	expect_eq "$rc" 32 "exit status of mount.modelfs with no reserve and 0 KiB free" &&
		not_mounted "$M" && grep -q 'No space left on device' "$WORK/full-mount.out"
}
check "no reserve, 0 KiB free: mount.modelfs exits 32, saying no space" no_reserve_0
# With no room for its pid file: the daemon is found by its own data dir.
restart_nopid() {
	local pid
	"$MOUNT_BIN" "$M" -o "data=$D" >"$WORK/full-mount.out" 2>&1 ||
		{ echo "mount.modelfs: exit $?: $(tail -n 2 "$WORK/full-mount.out")" >&2; return 1; }
	wait_until is_mounted "$M" && pid=$(pgrep -f -- "data=$D\$") && _register "$M" "$D" &&
		_mnt_pid[$M]=$pid && echo "$pid $M" >>"$WORK/.daemons"
}
no_reserve_8() {
	free_kib 8 && note "free: $(df -k --output=avail "$D" | tail -n 1) KiB" && restart_nopid &&
		intact && refused && mfs_umount "$M" && unfill && mfs_mount "$M" "$D" &&
		! ls "$D"/db/OPTIONS-*.dbtmp 2>/dev/null
}
check "no reserve, 8 KiB free: it mounts; no OPTIONS-*.dbtmp is left" no_reserve_8

mfs_done
