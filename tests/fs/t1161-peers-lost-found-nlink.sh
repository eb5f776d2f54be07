#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# lost+found's link count on the node that moves a directory into it.  A
# directory that loses its name to another node's file moves to
# /lost+found on its maker, as the maker applies the file's op
# (store/ns/ns_merge.c, note 1): lost+found's nlink (and the root's, when
# the move makes lost+found) goes up there.  The kernel caches a
# directory's attributes until the daemon says they changed, so the maker
# must report the change of lost+found's record too, not only the entries
# that moved (note 10).  Before the fix, after the second round node 1's
# /lost+found showed nlink 3 for two subdirectories, node 2's 4, for good
# (t1496 with MFS_FAULT_NLINK=1: "lost+found's still parts by one").
#
# Twice: node 1's link is cut (network namespaces); node 1 makes the
# directory D$k; node 2 makes 20 files, then the file D$k (a later stamp:
# its entry wins the name); the link comes back and node 1 moves its D$k
# to lost+found.  After each round, on both nodes, a stat of /lost+found
# (cached by the kernel from the first round on) and of the root shows 2 +
# the number of subdirectories.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
CL_OPTS=gc_interval_s=0
cl_init 2 netns

M1=${CL_M[1]} M2=${CL_M[2]}
for i in 1 2; do mfs_log_allow "${CL_D[$i]}" 'timed out|not answer|down|unreachable'; done
check "start 2 nodes in network namespaces" eval 'cl_start_all && cl_wait_formed 1 2' ||
	mfs_abort "no cluster"
check "node 2 makes /scratch; node 1 sees it" eval 'mkdir "$M2/scratch" && cl_wait_converged meta'

alone() { [ "$(cl_get 1 peers_up)" = 0 ] && [ "$(cl_get 2 peers_up)" = 0 ]; }
moved() { [ "$(grep -c 'moved to /lost+found' "${CL_D[1]}/modelfs.log")" -ge "$1" ]; }

# subdirs DIR: the number of directories in DIR.
subdirs() { find "$1" -mindepth 1 -maxdepth 1 -type d | wc -l; }

# nlinks_right: on both nodes, /lost+found and the root have 2 + their subdirectories.
nlinks_right() {
	local i d want got
	for i in 1 2; do
		for d in "${CL_M[$i]}/lost+found" "${CL_M[$i]}"; do
			want=$((2 + $(subdirs "$d")))
			got=$(stat -c %h "$d") || return 1
			[ "$got" = "$want" ] ||
				{ echo "node $i: $d has nlink $got, $((want - 2)) subdirectories" >&2; return 1; }
		done
	done
}

round() {
	local k=$1 i
	cl_partition 1 && wait_for "$CL_TRIES" alone || return 1
	mkdir "$M1/D$k" && touch "$M1/D$k/in" || return 1
	for ((i = 0; i < 20; i++)); do echo "$i" >"$M2/scratch/f$k.$i" || return 1; done
	echo file >"$M2/D$k" || return 1
	cl_heal 1 && wait_for "$CL_TRIES" moved "$k" && cl_wait_converged
}
for k in 1 2; do
	check "round $k: D$k a directory on node 1, a later file on node 2; D$k to lost+found, the trees agree" \
		round "$k"
	# No waiting: the trees agree, and the kernel keeps a stale count for good.
	check "round $k: on both nodes, lost+found's and the root's nlink is 2 + subdirectories" \
		nlinks_right
done
check "lost+found holds two directories on node 2" eval '[ "$(subdirs "$M2/lost+found")" = 2 ]'
check "fsck of node 1: clean" expect_status 0 admin fsck "$M1"
check "fsck of node 2: clean" expect_status 0 admin fsck "$M2"

cl_done
