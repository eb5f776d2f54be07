#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# What modelfs refuses: hard links (link(2) fails EPERM or ENOTSUP, ln
# fails), FIFOs, device nodes and unix sockets.  A refused call leaves no
# name behind and the source untouched.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

hardlink() {
	echo data >"$M/f" &&
	expect_errno "EPERM|ENOTSUP|EOPNOTSUPP" link "$M/f" "$M/g" &&
	! ln "$M/f" "$M/h" 2>/dev/null &&
	expect_errno ENOENT lstat "$M/g" &&
	expect_errno ENOENT lstat "$M/h" &&
	expect_eq "$(stat -c %h "$M/f")" 1 "link count of the source" &&
	expect_eq "$(cat "$M/f")" data "content of the source"
}
check "hard links are refused (EPERM or ENOTSUP), nothing is created" hardlink

special() { # OP NAME
	local got
	got=$("$PY" "$HELPER" errno "$1" "$M/$2")
	if [ "$got" = OK ]; then
		echo "$1 $2 succeeded" >&2
		return 1
	fi
	expect_errno ENOENT lstat "$M/$2"
}
check "mkfifo is refused, no name is left" special mkfifo fifo
check "mknod of a character device is refused, no name is left" special mknod_chr chr
check "bind of a unix socket is refused, no name is left" special bind_unix sock
check "the root lists only the file" expect_listing "$M" f

mfs_done
