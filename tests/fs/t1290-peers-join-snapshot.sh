#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Membership and snapshot bootstrap: a node that joins after the op log was
# trimmed learns the member table from the snapshot image.  Nodes 1 and 2
# know each other, write 300 files, and drop every op both hold (their
# member records' ops with them).  Node 3 names node 1 only: it bootstraps
# from a snapshot, and its `node list` shows all three members active, node
# 2 at node 2's endpoint (that record reached it only in the image).  Node 3
# converges with both and sees node 2 up; nodes 1 and 2 list node 3.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 3

cl_set_peers 1 2
cl_set_peers 2 1
cl_set_peers 3 1
check "start nodes 1 and 2, each naming the other" \
	eval 'cl_start 1 && cl_start 2 && cl_wait_formed 1 2' || mfs_abort "no cluster"

write() { # MOUNT TAG COUNT
	local i
	mkdir -p "$1/$2" || return 1
	for ((i = 0; i < $3; i++)); do
		echo "$2 file $i" >"$1/$2/f$i" || return 1
	done
}
check "node 1 writes 200 files, node 2 100" \
	eval 'write "${CL_M[1]}" one 200 && write "${CL_M[2]}" two 100'
check "nodes 1 and 2 converge" cl_wait_converged 1 2

trimmed() { [ "$(cl_get "$1" oplog_ops)" = 0 ] && [ "$(cl_get "$1" oplog_folded)" -gt 300 ]; }
check "nodes 1 and 2 drop every op (oplog_ops 0)" \
	eval 'wait_for "$CL_TRIES" trimmed 1 && wait_for "$CL_TRIES" trimmed 2'

applied() { [ "$(cl_get "$1" snapshots_applied)" -ge 1 ]; }
check "node 3 (seed: node 1) bootstraps from a snapshot" \
	eval 'cl_start 3 && wait_for "$CL_TRIES" applied 3'

# lists I J: node I's node list has 3 members, all active, node J at its endpoint.
lists() {
	admin node list "${CL_M[$1]}" >"$WORK/nodes.$1.txt" 2>&1 || return 1
	[ "$(grep -c ' active ' "$WORK/nodes.$1.txt")" = 3 ] &&
		grep ' active ' "$WORK/nodes.$1.txt" | grep -q "tcp://$(cl_endpoint "$2")"
}
node3_lists() {
	wait_for "$CL_TRIES" lists 3 2 && return 0
	cat "$WORK/nodes.3.txt" >&2
	return 1
}
check "node 3 lists 3 active members, node 2 among them" node3_lists
check "node 3 converges with nodes 1 and 2" cl_wait_converged 1 2 3

check "node 3 sees node 2 up" wait_for "$CL_TRIES" cl_sees 3 "$(cl_endpoint 2)"
check "nodes 1 and 2 list node 3" eval 'wait_for "$CL_TRIES" lists 1 3 && wait_for "$CL_TRIES" lists 2 3'
check "node 3 needed one snapshot" expect_eq "$(cl_get 3 snapshots_applied)" 1 "snapshots_applied"

cl_done
