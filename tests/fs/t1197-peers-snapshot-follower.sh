#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A node that follows a peer's writes pulls a burst of them as ops, however
# many (doc/replication.md, "Who bootstraps").  The lag rule
# (snapshot_lag_ops) is for a node back from a long silence, or new: an
# image holds the whole namespace, and its fetch is what a follower a few
# seconds behind can least afford.  In a CI run of t1195 a follower that
# fell 1,000 ops behind for a moment was sent a 21,242-record image that
# took 49 s to fetch.
#
# Node 2 pulls node 1 every 500 ms.  It is stopped (SIGSTOP) while node 1
# writes 300 files (about 600 ops, three times snapshot_lag_ops=200), then
# let go: its next PULL is 600 ops behind, comes within a minute of its
# last one, and is answered with ops.  Before the fix node 1 answered it
# with a snapshot (snapshots_applied 1 on node 2).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 2

M1=${CL_M[1]} M2=${CL_M[2]}
for i in 1 2; do mfs_log_allow "${CL_D[$i]}" 'timed out|not answer|down|unreachable'; done

check "start node 1 (snapshot_lag_ops=200) and node 2 (pulling every 500 ms)" eval \
	'cl_start 1 "snapshot_lag_ops=200" && cl_start 2 "heartbeat_ms=500" && cl_wait_formed 1 2' ||
	mfs_abort "no cluster"
seed() { mkdir "$M1/d" && echo first >"$M1/d/f0"; }
check "node 1 writes a file; node 2 pulls it as ops" eval \
	'seed && cl_wait_converged 1 2 &&
	 expect_eq "$(cl_get 2 snapshots_applied)" 0 "snapshots_applied on node 2"'

pid2=$(cat "${CL_D[2]}/modelfs.pid")
burst() {
	local i
	kill -STOP "$pid2" || return 1
	for ((i = 1; i <= 300; i++)); do echo "burst $i" >"$M1/d/f$i" || break; done
	kill -CONT "$pid2"
	[ "$i" -gt 300 ]
}
check "node 2 stopped while node 1 writes 300 files, then let go" burst
check "node 2 holds exactly node 1's tree" cl_wait_converged 1 2
check "node 2 pulled the burst as ops, not as an image" \
	expect_eq "$(cl_get 2 snapshots_applied)" 0 "snapshots_applied on node 2"
check "node 1 sent no image" eval \
	'! grep -E "answered with a snapshot|snapshot [0-9a-f]+: " "${CL_D[1]}/modelfs.log"'

cl_done
