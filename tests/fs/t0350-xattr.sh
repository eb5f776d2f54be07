#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# user.* extended attributes with setfattr/getfattr: set, get (text, binary,
# 4000 bytes, empty), list exactly, replace, remove (then ENODATA), the
# XATTR_CREATE / XATTR_REPLACE flags, on files and directories; user.modelfs.*
# is reserved: it cannot be set or removed.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

# user_xattrs PATH: the names of PATH's user.* attributes but ours, sorted.
user_xattrs() {
	getfattr --absolute-names -m '^user\.' "$1" 2>/dev/null | grep '^user\.' |
		grep -v '^user\.modelfs\.' | LC_ALL=C sort | tr '\n' ' '
}

set_get() {
	echo data >"$M/f" &&
	setfattr -n user.text -v hello "$M/f" &&
	expect_eq "$(getfattr --absolute-names --only-values -n user.text "$M/f")" hello "user.text" &&
	setfattr -n user.bin -v 0x00ff00fe0a "$M/f" &&
	expect_eq "$(getfattr --absolute-names -e hex -n user.bin "$M/f" | grep ^user.bin)" \
		"user.bin=0x00ff00fe0a" "user.bin" &&
	setfattr -n user.empty "$M/f" &&
	expect_eq "$(getfattr --absolute-names --only-values -n user.empty "$M/f" | wc -c)" 0 "user.empty length"
}
check "set and get text, binary and empty values" set_get

big_value() {
	local v
	v=$(head -c 3000 /dev/urandom | base64 -w0 | head -c 4000)
	setfattr -n user.big -v "$v" "$M/f" &&
	expect_eq "$(getfattr --absolute-names --only-values -n user.big "$M/f")" "$v" "user.big"
}
check "a 4000-byte value round-trips" big_value

check "listxattr lists exactly the user.* attributes set" \
	expect_eq "$(user_xattrs "$M/f")" "user.big user.bin user.empty user.text " "listing"

replace_remove() {
	setfattr -n user.text -v changed "$M/f" &&
	expect_eq "$(getfattr --absolute-names --only-values -n user.text "$M/f")" changed "replaced value" &&
	setfattr -x user.text "$M/f" &&
	expect_errno ENODATA getxattr "$M/f" user.text &&
	expect_errno ENODATA removexattr "$M/f" user.text &&
	expect_eq "$(user_xattrs "$M/f")" "user.big user.bin user.empty " "listing after remove" &&
	expect_eq "$(cat "$M/f")" data "content after xattr changes"
}
check "replace, remove, then get and remove fail ENODATA" replace_remove

flags() {
	expect_errno EEXIST setxattr_create "$M/f" user.bin x &&
	expect_errno ENODATA setxattr_replace "$M/f" user.nope x &&
	expect_errno OK setxattr_create "$M/f" user.new x &&
	expect_errno OK setxattr_replace "$M/f" user.new y &&
	expect_eq "$(getfattr --absolute-names --only-values -n user.new "$M/f")" y "user.new"
}
check "XATTR_CREATE on an existing name: EEXIST; XATTR_REPLACE on a missing one: ENODATA" flags

on_dir() {
	mkdir "$M/d" &&
	setfattr -n user.dir -v yes "$M/d" &&
	expect_eq "$(getfattr --absolute-names --only-values -n user.dir "$M/d")" yes "user.dir" &&
	expect_eq "$(user_xattrs "$M/d")" "user.dir " "listing of the directory"
}
check "xattrs on a directory" on_dir

reserved() {
	local got
	if setfattr -n user.modelfs.mine -v x "$M/f" 2>/dev/null; then
		echo "setfattr user.modelfs.mine succeeded" >&2
		return 1
	fi
	expect_errno ENODATA getxattr "$M/f" user.modelfs.mine || return 1
	got=$(getfattr --absolute-names -m '^user\.modelfs\.' "$M/f" 2>/dev/null | grep '^user\.modelfs\.' | head -n 1)
	[ -z "$got" ] && return 0
	# A name the daemon provides: it can be read but not changed or removed.
	getfattr --absolute-names -n "$got" "$M/f" >/dev/null || return 1
	if setfattr -n "$got" -v x "$M/f" 2>/dev/null; then
		echo "setfattr $got succeeded" >&2
		return 1
	fi
	if setfattr -x "$got" "$M/f" 2>/dev/null; then
		echo "setfattr -x $got succeeded" >&2
		return 1
	fi
}
check "user.modelfs.* cannot be set or removed" reserved

persisted() {
	expect_eq "$(user_xattrs "$M/f")" "user.big user.bin user.empty user.new " "file listing" &&
	expect_eq "$(getfattr --absolute-names -e hex -n user.bin "$M/f" | grep ^user.bin)" \
		"user.bin=0x00ff00fe0a" "user.bin" &&
	expect_eq "$(getfattr --absolute-names --only-values -n user.dir "$M/d")" yes "user.dir"
}
check "umount, mount" mfs_remount "$M"
check "after remount the xattrs are the same" persisted

mfs_done
