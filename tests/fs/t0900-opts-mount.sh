#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# mount.modelfs arguments and options.  Bad usage exits 1 with a usage
# message on stderr (no arguments, unknown flag, unknown option, bad number,
# -o without value, missing or bad config file); a mountpoint that does not
# exist or is not a directory exits 32.  Accepted: mount(8)'s SOURCE DIR
# form, the mount(8)/fstab options we ignore, a config file with comments,
# ro (reads work, writes fail EROFS).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
mkdir -p "$M" "$D"

usage_error() { # ARG...: exit 1, usage on stderr, nothing mounted
	expect_status 1 "$MOUNT_BIN" "$@" || return 1
	grep -qi usage "$WORK/.cmd.err" || { echo "no usage message on stderr: $(cat "$WORK/.cmd.err")" >&2; return 1; }
	not_mounted "$M" || { echo "$M got mounted" >&2; return 1; }
}
check "no arguments: exit 1 with usage" usage_error
check "only options, no mountpoint: exit 1 with usage" usage_error -o "data=$D"
check "unknown flag: exit 1 with usage" usage_error --frobnicate "$M" -o "data=$D"
check "unknown option: exit 1 with usage" usage_error "$M" -o "data=$D,bogus=1"
check "unknown flag option: exit 1 with usage" usage_error "$M" -o "data=$D,nosuchflag"
check "non-numeric cache_mb: exit 1 with usage" usage_error "$M" -o "data=$D,cache_mb=lots"
check "negative threads: exit 1 with usage" usage_error "$M" -o "data=$D,threads=-1"
check "-o without a value: exit 1 with usage" usage_error "$M" -o
check "three positional arguments: exit 1 with usage" usage_error src "$M" extra -o "data=$D"
check "config file that does not exist: exit 1" usage_error "$M" -o "data=$D,config=$WORK/nope.conf"
printf 'cache_mb = 64\nwhat_is_this = 3\n' >"$WORK/bad.conf"
check "config file with an unknown key: exit 1" usage_error "$M" -o "data=$D,config=$WORK/bad.conf"

mount_failure() { # ARG...: exit 32
	expect_status 32 "$MOUNT_BIN" "$@"
}
check "mountpoint that does not exist: exit 32" mount_failure "$WORK/nonexistent" -o "data=$D"
touch "$WORK/afile"
check "mountpoint that is a file: exit 32" mount_failure "$WORK/afile" -o "data=$D"

source_form() {
	"$MOUNT_BIN" modelfs "$M" -o "data=$D" >>"$WORK/mount.out" 2>&1 &&
	mfs_adopt "$M" "$D" && is_mounted "$M" &&
	echo stored >"$M/f" &&
	mfs_umount "$M"
}
check "mount.modelfs SOURCE DIR -o data=... (the mount(8) form)" source_form

ignored_opts() {
	mfs_mount "$M" "$D" "rw,defaults,auto,noauto,nofail,_netdev,x-systemd.automount,x-foo=bar" &&
	expect_eq "$(cat "$M/f")" stored "content" &&
	mfs_umount "$M"
}
check "mount(8) and fstab options are accepted and ignored" ignored_opts

config_file() {
	cat >"$WORK/good.conf" <<-CONF &&
		# modelfs.conf used by the test
		data = $D
		cache_mb = 64   # a comment after a value

		readahead_kb = 1024
		threads = 4
	CONF
	"$MOUNT_BIN" "$M" -o "config=$WORK/good.conf" >>"$WORK/mount.out" 2>&1 &&
	mfs_adopt "$M" "$D" &&
	expect_eq "$(cat "$M/f")" stored "content with the config file's data dir" &&
	echo more >"$M/g" &&
	mfs_umount "$M"
}
check "config=FILE with comments and blank lines" config_file

numeric_opts() {
	mfs_mount "$M" "$D" "cache_mb=32,readahead_kb=512,threads=2" &&
	expect_eq "$(cat "$M/g")" more "content" &&
	mfs_umount "$M"
}
check "cache_mb, readahead_kb, threads" numeric_opts

read_only() {
	mfs_mount "$M" "$D" ro &&
	expect_eq "$(cat "$M/f")" stored "content under ro" &&
	expect_errno EROFS write "$M/new" x &&
	expect_errno EROFS write "$M/f" x &&
	expect_errno EROFS mkdir "$M/dir" &&
	expect_errno EROFS unlink "$M/f" &&
	expect_errno EROFS rename "$M/f" "$M/f2" &&
	expect_errno EROFS setxattr "$M/f" user.x y &&
	expect_eq "$(cat "$M/f")" stored "content after refused writes" &&
	expect_listing "$M" f g &&
	mfs_umount "$M"
}
check "ro: reads work, writes fail EROFS and change nothing" read_only

mfs_done
