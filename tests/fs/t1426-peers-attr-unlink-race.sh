#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# An attribute change on one node, later by the clock than an unlink of the
# same file on the other, put the whole record back with no name: no path
# showed it, nothing could remove it, gc never freed its chunks, status
# counted it and fsck called the tree healthy.  Node 1 writes d/x, d/y,
# d/z; with node 1 stopped node 2 removes them; with node 2 stopped node 1
# (its clock moved ahead by ten mkdirs) chmods d/x, sets an xattr on d/y
# and touches d/z; both back, the trees converge with d empty, but the
# three records live on (status counts 3 files); gc on node 1, which made
# them, removes them by an op: status counts no file on either node, and
# fsck is clean on both.  The gc timer is off, so nothing moves early.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
CL_OPTS=gc_interval_s=0
cl_init 2

M1=${CL_M[1]}
M2=${CL_M[2]}
check "start 2 nodes" cl_start_all || mfs_abort "no cluster"

setup() {
	mkdir "$M1/d" && randfile "$M1/d/x" 100000 && randfile "$M1/d/y" 100000 &&
	randfile "$M1/d/z" 100000 && cl_wait_converged
}
check "node 1 writes d/x, d/y, d/z; node 2 sees them" setup || mfs_abort "no files"
race() {
	local i
	cl_stop 1 && rm "$M2/d/x" "$M2/d/y" "$M2/d/z" && cl_stop 2 && cl_restart 1 &&
	for i in 1 2 3 4 5 6 7 8 9 10; do mkdir "$M1/t$i" || return 1; done &&
	chmod 600 "$M1/d/x" && setfattr -n user.a -v 1 "$M1/d/y" && touch -d 2020-01-01 "$M1/d/z" &&
	cl_restart 2 && cl_wait_formed && cl_wait_converged
}
check "node 2 removes them while node 1 is down; node 1, later, changes their attributes" race
empty() { [ -z "$(ls -A "$M1/d")" ] && [ -z "$(ls -A "$M2/d")" ]; }
check "d is empty on both nodes" empty
files_are() {
	local i
	for i in 1 2; do
		[ "$(cl_get "$i" files)" = "$1" ] || return 1
	done
}
leaked() {
	files_are 3 || { echo "files: node 1 $(cl_get 1 files), node 2 $(cl_get 2 files)" >&2; return 1; }
}
check "their three records are left with no name: status counts 3 files on both" leaked
gone() {
	expect_status 0 admin gc --apply "$M1" && wait_for "$CL_TRIES" files_are 0 ||
		{ echo "files: node 1 $(cl_get 1 files), node 2 $(cl_get 2 files)" >&2; return 1; }
}
check "gc on node 1 removes them: status counts no file on either node" gone
check "fsck of node 1: clean" expect_status 0 admin fsck "$M1"
check "fsck of node 2: clean" expect_status 0 admin fsck "$M2"

cl_done
