#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A chmod and a setxattr of a file on one node racing a rewrite of the
# same file (a new version: a new inode) on another, the attribute changes
# later by the clock: the rewritten bytes keep them (store/ns/ns_version.c,
# note 5).  Two nodes; d/k is 0644.  With node 1 stopped, node 2 makes 40
# directories (its Lamport clock moves ahead), then chmods d/k to 0600 and
# sets user.x on it; with node 2 stopped, node 1 rewrites d/k.  Both back:
# on both nodes d/k reads as node 1's new bytes, with mode 0600 and user.x.
# The changes used to go to the old version's record, which won over the
# rewrite's deletion but had no name left: lost on every node (a private
# file back to 0644), the record waiting for gc.  After gc each node counts
# one file; fsck is clean.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 2

S=$WORK/src
A=${CL_M[1]} B=${CL_M[2]}
check "start 2 nodes" cl_start_all || mfs_abort "no cluster"

files_is() { [ "$(cl_get "$1" files)" = "$2" ]; }
setup() {
	mkdir -p "$S" && randfile "$S/k" $((1 * MiB)) && randfile "$S/k.new" $((1 * MiB)) &&
	mkdir "$A/d" && cp "$S/k" "$A/d/k" && chmod 0644 "$A/d/k" &&
	cl_wait_converged && wait_for "$CL_READ_TRIES" files_is 2 1
}
check "node 1 writes d/k (0644); node 2 sees it" setup || mfs_abort "no file"

race() {
	local i
	cl_stop 1 || return 1
	for i in $(seq 1 40); do
		mkdir "$B/tick$i" || return 1
	done
	chmod 0600 "$B/d/k" && setfattr -n user.x -v late "$B/d/k" && cl_stop 2 && cl_restart 1 &&
	cp "$S/k.new" "$A/d/k" && cl_restart 2 && cl_wait_formed && cl_wait_converged
}
check "node 2 chmods d/k and sets user.x while node 1 rewrites it; the trees converge" race

kept() {
	local i m
	for i in 1 2; do
		m=${CL_M[$i]}
		expect_sha "$m/d/k" "$(file_sha "$S/k.new")" &&
		expect_eq "$(stat -c %a "$m/d/k")" 600 "node $i: mode of d/k" &&
		expect_eq "$(getfattr --only-values -n user.x "$m/d/k" 2>/dev/null)" late "node $i: user.x of d/k" ||
			return 1
	done
}
check "d/k holds node 1's new bytes with node 2's mode and user.x, on both nodes" kept

one_file() {
	local i
	admin gc --apply "$A" >/dev/null && admin gc --apply "$B" >/dev/null || return 1
	for i in 1 2; do
		wait_for "$CL_READ_TRIES" files_is "$i" 1 ||
			{ echo "node $i: status files is $(cl_get "$i" files), want 1" >&2; return 1; }
	done
}
check "after gc each node holds one file record" one_file
check "the trees agree" cl_wait_converged
check "fsck on node 1 is clean" expect_status 0 admin fsck "$A"
check "fsck on node 2 is clean" expect_status 0 admin fsck "$B"

cl_done
