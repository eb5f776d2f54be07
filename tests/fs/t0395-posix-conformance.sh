#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# POSIX behaviours of open, mkdir, rmdir, unlink, rename, truncate,
# ftruncate, chmod, chown, utimensat, link, symlink, mknod/mkfifo, readdir and
# posix_fallocate on a mount, grouped as the pjdfstest suite groups them
# (the checks are ours, in tests/tools/posix_conf.py).  Non-root
# callers need allow_other; the mount has default_permissions, so EACCES and
# EPERM come from the kernel, and what is checked of the daemon is the rest:
# times and ctime, nlink, rename rules, name limits, setuid clearing.
# Every group runs on a tmpfs first: the expectations hold on the kernel's
# own filesystem.  Then EROFS on a read-only remount.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

CONF=$MFS_SRC/tests/tools/posix_conf.py
M=$WORK/mnt
D=$WORK/data
REF=$WORK/ref

conf() { (cd / && "$PY" "$CONF" "$@"); }

check "mount with allow_other" mfs_mount "$M" "$D" allow_other || mfs_abort "no mount"
# Non-root callers must reach the mount and the reference.
{ chmod 711 "$WORK" && chmod 755 "$M"; } || mfs_abort "chmod"

options() {
	local o
	o=$(awk -v d="$M" '$5 == d { print $6 " " $NF }' /proc/self/mountinfo)
	note "mount options: $o"
	case "$o" in
	*default_permissions*) ;;
	*) echo "no default_permissions in '$o'" >&2; return 1 ;;
	esac
	case "$o" in
	*allow_other*) ;;
	*) echo "no allow_other in '$o'" >&2; return 1 ;;
	esac
}
check "the mount has default_permissions and allow_other" options

# The checks themselves, on the kernel's own filesystem.
reference() { mfs_tmpfs "$REF" 64m && chmod 755 "$REF" && conf run all "$REF"; }
check "the checks pass on a tmpfs (the reference)" reference

groups=$(conf list) || mfs_abort "posix_conf.py list failed"
# Where the kernel decides by version (ETXTBSY), the mount must match it.
export MFS_POSIX_REF_DIR=$REF
# group NAME: runs it on the mount; notes how many checks it made.
group() {
	local rc
	conf run "$1" "$M" 2>"$WORK/.group.err"
	rc=$?
	note "$(tail -n 1 "$WORK/.group.err")"
	[ "$rc" -eq 0 ] || cat "$WORK/.group.err" >&2
	return "$rc"
}
while IFS=$'\t' read -r name desc; do
	check "$desc" group "$name"
done <<<"$groups"

exdev() {
	echo x >"$M/xdev" && expect_errno EXDEV rename "$M/xdev" "$REF/xdev" &&
	mkdir "$M/xdir" && expect_errno EXDEV rename "$M/xdir" "$REF/xdir" &&
	rm "$M/xdev" && rmdir "$M/xdir"
}
check "rename: EXDEV to another filesystem" exdev

erofs_setup() {
	echo x >"$M/f" && mkdir "$M/sub" &&
	mfs_remount "$M" "ro,allow_other" &&
	conf erofs "$M"
}
check "read-only mount: EROFS from every call that would change it" erofs_setup

mfs_done
