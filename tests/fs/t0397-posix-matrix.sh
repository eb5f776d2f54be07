#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Differential cross product against the kernel's own filesystem:
# tests/tools/posix_matrix.py runs each call of its table (open with each
# set of flags, mkdir, rmdir, unlink, truncate, chmod, chown, lchown,
# utimensat, mknod, symlink, readlink, access, xattrs, fchmod/fchown/
# futimens/ftruncate/fsetxattr on descriptors of each access mode,
# rename, renameat2 NOREPLACE and EXCHANGE, link, linkat FOLLOW) on every
# kind of path a conformance suite hands it (each file type, hard links,
# symlinks to a file, a directory, nowhere and themselves, trailing
# slashes, "." and "..", paths through a file, 255- and 256-byte names,
# entries of sticky, setgid, read-only and unsearchable directories), as
# root and as two unprivileged users, then the same one-path calls and
# renames and links with the file held open by a reader or a writer; each
# in a fresh directory of a tmpfs (nosuid,nodev like a FUSE mount) and of
# the mount, comparing the result or errno and the whole directory after
# it (HACKING.md, Tests).
#
# The whole table is about 45,000 calls (15 minutes here): make check runs
# every MFS_MATRIX_SAMPLE-th (N:K, the default 16:0), make check-diff-long
# all of them (1:0).
MFS_TEST_TIMEOUT=${MFS_TEST_TIMEOUT:-900}
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

MATRIX=$MFS_SRC/tests/tools/posix_matrix.py
SAMPLE=${MFS_MATRIX_SAMPLE:-16:0}
M=$WORK/mnt
D=$WORK/data
R=$WORK/ref

# Unprivileged callers must reach both directories.
chmod 711 "$WORK"
check "mount with allow_other" mfs_mount "$M" "$D" allow_other || mfs_abort "no mount"
check "tmpfs reference" mfs_tmpfs "$R" "256m,nosuid,nodev" || mfs_abort "no tmpfs"
chmod 755 "$M" "$R" || mfs_abort "chmod"

matrix() {
	(cd / && "$PY" "$MATRIX" "$R" "$M" --sample "$SAMPLE") >"$WORK/matrix.out" 2>&1
	local rc=$?
	note "$(tail -n 1 "$WORK/matrix.out")"
	[ "$rc" -eq 0 ] || head -n 60 "$WORK/matrix.out" >&2
	return "$rc"
}
check "every sampled call ($SAMPLE) answers and changes the tree as on tmpfs" matrix

alive() { pid_alive "$(mfs_daemon_pid "$M")" && ls "$M" >/dev/null; }
check "the daemon lived through every call" alive || mfs_abort "the daemon died"
check "fsck is clean after the calls" expect_status 0 "$ADMIN_BIN" fsck "$M"

mfs_done
