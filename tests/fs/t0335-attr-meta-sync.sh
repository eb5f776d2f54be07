#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# When namespace changes become durable (option meta_sync_ms, fuse/admin/
# fs_sync.c).  A chmod, mkdir, rename, unlink or setxattr returns with its op
# in the WAL, unsynced: status counts it in ns_unsynced_ops until fsync of
# any file, fsyncdir, a file's publish at close, or the periodic sync makes
# it durable.  A kill -9 loses none of them (the WAL write reached the
# kernel), and neither does an unmount.  meta_sync_ms=0 syncs each change
# before it returns, as before.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data

unsynced() { admin status --json "$M" | json_get ns_unsynced_ops; }
no_unsynced() { [ "$(unsynced)" = 0 ]; }
# expect_unsynced_at_least N WHAT
expect_unsynced_at_least() {
	local n
	n=$(unsynced) || return 1
	[ "$n" -ge "$1" ] || { echo "$2: ns_unsynced_ops $n, expected >= $1" >&2; return 1; }
}

# A period no step below waits for: only the calls under test sync.
check "mount with meta_sync_ms=60000" mfs_mount "$M" "$D" meta_sync_ms=60000 ||
	mfs_abort "no mount"

deferred() {
	echo data >"$M/f" && no_unsynced &&
	chmod 600 "$M/f" && mkdir "$M/d" && mv "$M/d" "$M/e" &&
	setfattr -n user.k -v v "$M/f" &&
	expect_unsynced_at_least 4 "after chmod, mkdir, rename and setxattr"
}
check "a close syncs its publish; chmod, mkdir, rename, setxattr stay unsynced" deferred

fsync_file() {
	# python's os.fsync on a read-only descriptor of another file
	"$PY" -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)' "$M/f" &&
	expect_eq "$(unsynced)" 0 "ns_unsynced_ops after fsync"
}
check "fsync of a file syncs every change before it" fsync_file

fsync_dir() {
	touch -d @1000000000 "$M/f" && rmdir "$M/e" &&
	expect_unsynced_at_least 2 "after touch and rmdir" &&
	"$PY" -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY); os.fsync(fd)' "$M" &&
	expect_eq "$(unsynced)" 0 "ns_unsynced_ops after fsync of the directory"
}
check "fsync of a directory syncs them" fsync_dir

publish_syncs() {
	chmod 640 "$M/f" && expect_unsynced_at_least 1 "after chmod" &&
	echo g >"$M/g" && expect_eq "$(unsynced)" 0 "ns_unsynced_ops after a file's close"
}
check "a publish syncs the changes before it" publish_syncs

kill9() {
	chmod 604 "$M/f" && ln -s f "$M/s" && mkdir "$M/k" && setfattr -n user.j -v w "$M/f" &&
	expect_unsynced_at_least 4 "before kill -9" &&
	mfs_kill9 "$M" && mfs_mount "$M" "$D" meta_sync_ms=60000 &&
	expect_eq "$(stat -c %a "$M/f")" 604 "mode after kill -9" &&
	expect_eq "$(readlink "$M/s")" f "symlink after kill -9" &&
	[ -d "$M/k" ] && expect_eq "$(getfattr --only-values -n user.j "$M/f")" w "xattr after kill -9"
}
check "kill -9 loses no unsynced change (the WAL holds them)" kill9

umount_syncs() {
	chmod 600 "$M/f" && expect_unsynced_at_least 1 "before the unmount" &&
	mfs_remount "$M" meta_sync_ms=60000 &&
	expect_eq "$(stat -c %a "$M/f")" 600 "mode after the remount" &&
	expect_eq "$(unsynced)" 0 "ns_unsynced_ops after the remount"
}
check "an unmount keeps them" umount_syncs

check "remount with meta_sync_ms=200" mfs_remount "$M" meta_sync_ms=200

periodic() {
	chmod 644 "$M/f" && mkdir "$M/p" &&
	wait_for 300 no_unsynced ||
		{ echo "ns_unsynced_ops still $(unsynced) 30 s after the changes" >&2; return 1; }
}
check "the periodic sync makes changes durable on its own" periodic

check "remount with meta_sync_ms=0" mfs_remount "$M" meta_sync_ms=0

each_synced() {
	chmod 600 "$M/f" && expect_eq "$(unsynced)" 0 "after chmod" &&
	mkdir "$M/q" && mv "$M/q" "$M/r" && expect_eq "$(unsynced)" 0 "after mkdir and rename" &&
	expect_eq "$(admin status --json "$M" | json_get options | grep -o 'meta_sync_ms=[0-9]*')" \
		meta_sync_ms=0 "the option in status"
}
check "meta_sync_ms=0 syncs each change before it returns" each_synced

check "fsck is clean" admin fsck "$M"
mfs_done
