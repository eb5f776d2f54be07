#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# mount(8) integration: `mount -t modelfs` and an fstab line find the
# helper as /sbin/mount.modelfs, pass SOURCE, MOUNTPOINT and -o options, and
# return once the mount is live.  The fstab is a private file (mount -T), so
# the system's /etc/fstab is never touched; /sbin/mount.modelfs is a symlink
# to the build, made only if absent and removed at the end.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
HELPER_LINK=/sbin/mount.modelfs
made_link=
cleanup_link() { [ -z "$made_link" ] || rm -f "$HELPER_LINK"; }
trap 'cleanup_link; _on_exit' EXIT

if [ -e "$HELPER_LINK" ] && [ "$(readlink -f "$HELPER_LINK")" != "$(readlink -f "$MOUNT_BIN")" ]; then
	skip_all "$HELPER_LINK exists and is not this build"
fi
if [ ! -e "$HELPER_LINK" ]; then
	ln -s "$(readlink -f "$MOUNT_BIN")" "$HELPER_LINK" || skip_all "cannot link $HELPER_LINK"
	made_link=1
fi
mkdir -p "$M" "$D"

# Like mfs_mount, but through mount(8).
via_mount() { # description-free: mount ARGS...
	mount "$@" >>"$WORK/mount.out" 2>&1 || { tail -5 "$WORK/mount.out" >&2; return 1; }
	is_mounted "$M" || { echo "mount returned but $M is not mounted" >&2; return 1; }
	mfs_adopt "$M" "$D"
}

mount_t() {
	via_mount -t modelfs models "$M" -o "data=$D,noatime,nodev,_netdev" &&
	grep -q " $M fuse.modelfs " /proc/self/mounts &&
	echo hello >"$M/f" && expect_eq "$(cat "$M/f")" hello "content"
}
check "mount -t modelfs SOURCE DIR -o data=...,mount options: live on return" mount_t
check "umount" mfs_umount "$M"

fstab_line() {
	printf '# a private fstab\nmodels  %s  modelfs  data=%s,nofail,x-systemd.requires=network.target  0 0\n' \
		"$M" "$D" >"$WORK/fstab" &&
	via_mount -T "$WORK/fstab" "$M" &&
	expect_eq "$(cat "$M/f")" hello "content after remount from fstab"
}
check "an fstab line (mount -T FILE MOUNTPOINT) mounts the same store" fstab_line
check "umount" mfs_umount "$M"

bad_option() {
	! mount -t modelfs models "$M" -o "data=$D,bogus" 2>"$WORK/err" &&
	grep -q "unknown option 'bogus'" "$WORK/err" && ! is_mounted "$M"
}
check "mount -t modelfs with an unknown option fails and says why" bad_option

mfs_done
