#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A setattr whose store write fails changes nothing, in the store or in
# what stat shows.  The daemon applied chmod, chown and utimens to its
# in-memory record before storing it, and kept the change when the store
# write failed (MODELFS_FAULT, store/kv/db.h): the caller got EIO, yet the
# next setattr's reply, or a stat, showed the new mode, owner or times
# until a restart lost them; likewise getxattr after a failed setxattr or
# removexattr.  Once with the store's first write failing
# (chmod fails, the chown after it succeeds: the mode stays), once with
# every write failing from the first on (chmod, chown and utimens fail:
# nothing moves), and after a remount without faults the same.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
mfs_log_allow "$D" 'Input/output error|EIO|cannot sync namespace changes'

attrs() { stat -c '%a %u %g %Y' "$M/f"; }
setup() {
	mfs_mount "$M" "$D" && echo hi >"$M/f" && chmod 644 "$M/f" && chown 0:0 "$M/f" &&
	setfattr -n user.k -v v "$M/f" && touch -d @1500000000 "$M/f" && mfs_umount "$M"
}
check "a stored file" setup || mfs_abort "no file"

# chmod fails (the first store write), chown succeeds
one_fault() {
	MODELFS_FAULT=write:1:EIO mfs_mount "$M" "$D" || return 1
	expect_status 1 chmod 600 "$M/f" 2>/dev/null && chown 1000 "$M/f" &&
	expect_eq "$(attrs)" "644 1000 0 1500000000" "after a failed chmod and a chown"
	local rc=$?
	mfs_umount "$M" && return "$rc"
}
check "a chmod that failed with EIO shows nowhere, not after the next setattr either" one_fault

crashed() {
	MODELFS_FAULT=write:1:crash mfs_mount "$M" "$D" || return 1
	expect_status 1 chmod 600 "$M/f" 2>/dev/null && expect_status 1 chown 2000 "$M/f" 2>/dev/null &&
	expect_status 1 touch -d @1000 "$M/f" 2>/dev/null &&
	expect_eq "$(attrs)" "644 1000 0 1500000000" "after chmod, chown, utimens failed" &&
	expect_status 1 setfattr -n user.new -v 1 "$M/f" && expect_status 1 setfattr -x user.k "$M/f" &&
	expect_eq "$(getfattr --absolute-names -d "$M/f" | grep '^user\.')" 'user.k="v"' "xattrs after setxattr and removexattr failed"
	local rc=$?
	mfs_umount "$M" && return "$rc"
}
check "chmod, chown, utimens, setxattr, removexattr that failed change nothing shown" crashed

remount() { mfs_mount "$M" "$D" && expect_eq "$(attrs)" "644 1000 0 1500000000" "after a remount"; }
check "after a remount without faults: the same attributes" remount

mfs_done
