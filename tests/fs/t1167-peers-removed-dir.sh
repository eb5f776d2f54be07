#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A directory that lost its name to another node's directory of the same
# path is merged by the node that made it (t1165).  When that node was
# removed from the cluster before it heard of the winner, the active node
# of lowest id merges it at its next gc, and nothing it held stays hidden.
#
# Three nodes, every chunk on every node (setrepl -r 3).  Nodes 1 and 3
# stopped: node 2 makes D and writes D/f2; node 3 comes back and holds f2,
# then nodes 2 and 3 stop.  Node 1 alone (which never saw node 2's D)
# makes its own D, later (by Lamport time), and writes D/f1.  Node 3 back: node 1's D has the
# name on nodes 1 and 3, f2 is out of view and fsck reports it.  Node 2 is
# removed; gc --apply on nodes 1 and 3: D holds f1 and f2 on both; with
# the factor set to 2 for the two nodes left, fsck is clean on both.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
CL_OPTS=gc_interval_s=0
cl_init 3

S=$WORK/src
M1=${CL_M[1]}
M3=${CL_M[3]}
check "start 3 nodes" cl_start_all || mfs_abort "no cluster"
id2=$(cl_get 2 node_id)
mkdir -p "$S" && randfile "$S/f1" $((1 * MiB)) && randfile "$S/f2" $((1 * MiB + 7)) ||
	mfs_abort "no sources"
check "setrepl -r 3 on the root" expect_status 0 admin setrepl -r 3 "${CL_M[2]}"

on_2() {
	cl_stop 1 && cl_stop 3 && mkdir "${CL_M[2]}/D" && cp "$S/f2" "${CL_M[2]}/D/f2"
}
check "nodes 1 and 3 stopped; node 2 makes D and writes D/f2" on_2
to_3() {
	cl_restart 3 && cl_wait_sha 3 D/f2 "$(file_sha "$S/f2")" && cl_wait_backlog0 2 3 &&
	cl_stop 2 && cl_stop 3
}
check "node 3 back, holds D/f2; nodes 2 and 3 stopped" to_3
# Stamps are Lamport times: node 1's ops must count past node 2's for its D to win.
on_1() {
	local i
	cl_restart 1 && [ ! -e "$M1/D" ] &&
	for i in $(seq 1 100); do mkdir "$M1/t$i" && rmdir "$M1/t$i" || return 1; done &&
	mkdir "$M1/D" && cp "$S/f1" "$M1/D/f1"
}
check "node 1 alone makes its own D, 200 ops later, and writes D/f1" on_1
meet() {
	cl_restart 3 && cl_wait_converged 1 3 && [ ! -e "$M1/D/f2" ] && [ ! -e "$M3/D/f2" ]
}
check "node 3 back: node 1's D has the name, f2 is out of view on both" meet
# The trees agree as soon as node 3 has node 1's D, before node 1 has node
# 2's ops (f2 is hidden on both either way): wait for node 1 to see them.
lost_name() {
	admin fsck --json "$M1" >"$WORK/fsck1.json" 2>&1
	grep -q 'directory that lost its name' "$WORK/fsck1.json"
}
hidden() {
	wait_for "$CL_TRIES" lost_name && [ ! -e "$M1/D/f2" ] && return 0
	head -c 1500 "$WORK/fsck1.json" >&2
	return 1
}
check "fsck on node 1 reports f2 in a directory that lost its name" hidden

state_on() {
	admin node list --json "${CL_M[$1]}" 2>/dev/null | "$PY" -c '
import json, sys
n = [x for x in json.load(sys.stdin)["nodes"] if x["node_id"] == sys.argv[1]]
sys.exit(0 if n and n[0]["state"] == sys.argv[2] else 1)' "$2" "$3"
}
remove() {
	expect_status 0 admin node remove "$id2" "$M1" &&
	wait_for "$CL_TRIES" state_on 1 "$id2" gone && wait_for "$CL_TRIES" state_on 3 "$id2" gone
}
check "node remove of node 2: gone on nodes 1 and 3" remove
check "gc --apply on node 1" expect_status 0 admin gc --apply --json "$M1"
check "gc --apply on node 3" expect_status 0 admin gc --apply --json "$M3"

merged() {
	local i
	for i in 1 3; do
		cl_wait_sha "$i" D/f1 "$(file_sha "$S/f1")" &&
		cl_wait_sha "$i" D/f2 "$(file_sha "$S/f2")" ||
			{ echo "node $i: $(ls -la "${CL_M[$i]}/D" 2>&1)" >&2; return 1; }
	done
}
check "D holds f1 and f2 on nodes 1 and 3" merged
check "the trees agree" cl_wait_converged 1 3
check "setrepl -r 2 on the root: two nodes are left" expect_status 0 admin setrepl -r 2 "$M1"
fsck_clean() { admin fsck --json "${CL_M[$1]}" >"$WORK/fsck.json" 2>&1; }
clean() {
	wait_for "$CL_TRIES" fsck_clean 1 && wait_for "$CL_TRIES" fsck_clean 3 && return 0
	head -c 1500 "$WORK/fsck.json" >&2
	return 1
}
check "fsck clean on nodes 1 and 3" clean

cl_done
