#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# modelfs-admin arguments: usage errors print a usage message on stderr and
# exit 2 (status) or 16 (fsck); a path with no modelfs daemon behind it
# exits 1 (status) or 8 (fsck), as does fsck --data of a directory that
# holds no store.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"

M=$WORK/mnt
D=$WORK/data
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

usage() { # CODE ARG...: exit CODE with a usage message on stderr
	local code=$1
	shift
	expect_status "$code" admin "$@" || return 1
	grep -qi usage "$WORK/.cmd.err" || { echo "no usage message on stderr: $(cat "$WORK/.cmd.err")" >&2; return 1; }
}
check "no arguments: exit 2 with usage" usage 2
check "unknown command: exit 2 with usage" usage 2 frobnicate "$M"
check "status without a path: exit 2 with usage" usage 2 status
check "status with an unknown flag: exit 2 with usage" usage 2 status --bogus "$M"
two_paths() {
	expect_status 2 admin status "$M" "$M" &&
	{ [ -s "$WORK/.cmd.err" ] || { echo "nothing on stderr" >&2; false; }; }
}
check "status with two paths: exit 2 with a message" two_paths
check "fsck without a path: exit 16 with usage" usage 16 fsck
check "fsck with an unknown flag: exit 16 with usage" usage 16 fsck --bogus "$M"
check "fsck --data without a directory: exit 16 with usage" usage 16 fsck --data

# One option parser (getopt_long) for every command: a missing value is
# named, --opt=VALUE and -jN forms work, options may follow the operands,
# and "--" ends the options.
missing_value() {
	expect_status 2 admin gc "$M" --grace &&
	grep -q "option '--grace' needs a value" "$WORK/.cmd.err" ||
		{ echo "stderr: $(cat "$WORK/.cmd.err")" >&2; return 1; }
}
check "gc --grace without a value: exit 2, the option named" missing_value
option_forms() {
	echo x >"$M/opt-f" &&
	expect_status 0 admin gc --grace=60 --json "$M" &&
	expect_status 0 admin getrepl "$M/opt-f" --json &&
	expect_status 0 admin warmup -j2 "$M/opt-f" &&
	expect_status 0 admin info -- "$M/opt-f" &&
	expect_status 2 admin setrepl --json 2 "$M/opt-f" &&
	expect_status 1 admin info -- -no-such-file
}
check "--opt=VALUE, -jN, options after operands, --" option_forms
unknown_short() {
	expect_status 2 admin warmup -x "$M" &&
	grep -q "unknown option '-x'" "$WORK/.cmd.err" ||
		{ echo "stderr: $(cat "$WORK/.cmd.err")" >&2; return 1; }
}
check "an unknown short option is named" unknown_short

mkdir -p "$WORK/plain" "$WORK/empty-store"
check "status of a directory outside any mount: exit 1" expect_status 1 admin status "$WORK/plain"
check "status of a path that does not exist: exit 1" expect_status 1 admin status "$WORK/nope"
check "fsck of a directory outside any mount: exit 8" expect_status 8 admin fsck "$WORK/plain"
check "fsck --data of a directory with no store: exit 8" expect_status 8 admin fsck --data "$WORK/empty-store"
check "fsck --data of a directory that does not exist: exit 8" expect_status 8 admin fsck --data "$WORK/nope"

dead_mount() {
	local pid
	pid=$(mfs_daemon_pid "$M") &&
	echo x >"$M/f" &&
	kill -9 "$pid" && wait_until pid_gone "$pid" &&
	expect_status 1 timeout 30 "$ADMIN_BIN" status "$M" &&
	expect_status 8 timeout 30 "$ADMIN_BIN" fsck "$M" &&
	mfs_kill9 "$M"
}
check "on a mount whose daemon was killed: status exits 1, fsck 8" dead_mount

mfs_done
