#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Every call's effect replicates whole.  tests/tools/posix_matrix.py (t0397)
# runs its calls on node 1, each against a tmpfs as there, and with --peer
# waits after each for node 2's copy of the case directory to show what
# node 1 shows: names, types, modes, owners, nlink, sizes, rdev, symlink
# targets, bytes, user.* xattrs, hard-link groups, and mtime and ctime to
# the nanosecond (cl_snapshot compares no times: a directory's mtime set
# back stayed on one node, t1498).  Every MFS_MATRIX_SAMPLE-th case (N:K,
# default 96:0, about 450 cases, as make check keeps its time; make
# check-diff-long runs every 8th).
MFS_TEST_TIMEOUT=${MFS_TEST_TIMEOUT:-900}
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
CL_COMMON+=,allow_other
cl_init 2

MATRIX=$MFS_SRC/tests/tools/posix_matrix.py
SAMPLE=${MFS_MATRIX_SAMPLE:-96:0}
M1=${CL_M[1]} M2=${CL_M[2]} R=$WORK/ref

check "start 2 nodes (allow_other); each sees the other" cl_start_all || mfs_abort "no cluster"
# Unprivileged callers must reach both directories.
chmod 711 "$WORK"
check "tmpfs reference" mfs_tmpfs "$R" "256m,nosuid,nodev" || mfs_abort "no tmpfs"
chmod 755 "$M1" "$R" || mfs_abort "chmod"

matrix() {
	(cd / && "$PY" "$MATRIX" "$R" "$M1" --peer "$M2" --sample "$SAMPLE" --max-fail 5) >"$WORK/matrix.out" 2>&1
	local rc=$?
	note "$(tail -n 1 "$WORK/matrix.out")"
	[ "$rc" -eq 0 ] || head -n 60 "$WORK/matrix.out" >&2
	return "$rc"
}
check "each sampled call ($SAMPLE) on node 1 as on tmpfs; node 2 shows its result, times too" matrix
check "the trees converge" cl_wait_converged

cl_done
