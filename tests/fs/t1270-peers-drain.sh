#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# node drain and node remove.  Three nodes, factor 1: 24 MiB written on node
# 3 and 8 MiB on node 1 are spread over the three stores.  `modelfs-admin
# node drain ID3` on node 1: every node lists node 3 draining, node 3 says
# member_state draining, and fsck on node 1 becomes clean with node 3's
# copies not counted (they are on their way out), i.e. nodes 1 and 2 hold
# every chunk.  Node 3 then stops and `node remove ID3` (on node 2): node 3
# is gone in every list, out of node 2's peers, fsck is still clean and
# every file reads right on nodes 1 and 2.  A write after the remove: nodes
# 1 and 2 drop their ops at once (node 3, removed, is not waited for, though
# down for less than grace_s).  Bad arguments exit 2 or 1.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 3

S=$WORK/src
check "start 3 nodes" cl_start_all || mfs_abort "no cluster"
id3=$(cl_get 3 node_id)

spread() {
	mkdir -p "$S" &&
	for i in 1 2 3; do randfile "$S/w$i" $((8 * MiB + i)) && cp "$S/w$i" "${CL_M[3]}/w$i" || return 1; done &&
	randfile "$S/v" $((8 * MiB)) && cp "$S/v" "${CL_M[1]}/v" &&
	cl_wait_converged meta && cl_wait_backlog0 &&
	{ [ "$(cl_get 3 chunks)" != 0 ] || { echo "node 3 holds no chunk" >&2; return 1; }; }
}
check "24 MiB written on node 3, 8 MiB on node 1, factor 1: node 3 holds chunks" spread

# state_on I ID STATE: node I's node list --json shows node ID in STATE.
state_on() {
	admin node list --json "${CL_M[$1]}" 2>/dev/null | "$PY" -c '
import json, sys
n = [x for x in json.load(sys.stdin)["nodes"] if x["node_id"] == sys.argv[1]]
sys.exit(0 if n and n[0]["state"] == sys.argv[2] else 1)' "$2" "$3"
}
fsck_clean() { admin fsck --json "${CL_M[1]}" >"$WORK/fsck.json" 2>&1; }

check "node drain with a bad id: usage error" expect_status 2 admin node drain xyz "${CL_M[1]}"
check "node drain of an unknown node: error" expect_status 1 admin node drain ffff "${CL_M[1]}"
check "node list of a path outside a mount: error" expect_status 1 admin node list /tmp

# Each node learns the member record by its own next pull: wait for all three.
draining_everywhere() {
	state_on 1 "$id3" draining && state_on 2 "$id3" draining && state_on 3 "$id3" draining &&
	[ "$(cl_get 3 member_state)" = draining ]
}
drain() {
	expect_status 0 admin node drain "$id3" "${CL_M[1]}" || return 1
	wait_for "$CL_TRIES" draining_everywhere && return 0
	echo "node 3's state as nodes 1 2 3 list it, and its own member_state:" >&2
	for i in 1 2 3; do state_on "$i" "$id3" draining || echo "node $i: not draining" >&2; done
	echo "node 3 member_state: $(cl_get 3 member_state)" >&2
	return 1
}
check "node drain ID3 on node 1: every node lists node 3 draining" drain

moved() {
	wait_for "$CL_TRIES" fsck_clean && return 0
	echo "fsck on node 1 not clean with node 3 draining:" >&2
	head -c 1500 "$WORK/fsck.json" >&2
	return 1
}
check "fsck on node 1 becomes clean: nodes 1 and 2 hold every chunk" moved

remove() {
	cl_stop 3 && expect_status 0 admin node remove "$id3" "${CL_M[2]}" &&
	wait_for "$CL_TRIES" state_on 1 "$id3" gone && state_on 2 "$id3" gone &&
	cl_status 2 | "$PY" -c '
import json, sys
peers = [p["endpoint"] for p in json.load(sys.stdin)["peers"]]
sys.exit("node 3 still a peer: %r" % peers if any(e.endswith(sys.argv[1]) for e in peers) else 0)' \
		"$(cl_endpoint 3)" &&
	expect_eq "$(cl_get 2 peers_up)" 1 "peers_up of node 2"
}
check "node 3 stopped, node remove ID3 on node 2: gone everywhere, out of node 2's peers" remove

after() {
	fsck_clean || { head -c 1500 "$WORK/fsck.json" >&2; return 1; }
	for i in 1 2 3; do
		expect_sha "${CL_M[1]}/w$i" "$(file_sha "$S/w$i")" &&
		expect_sha "${CL_M[2]}/w$i" "$(file_sha "$S/w$i")" || return 1
	done
	expect_sha "${CL_M[2]}/v" "$(file_sha "$S/v")"
}
check "without node 3: fsck clean, every file reads right on nodes 1 and 2" after

log_empty() { [ "$(cl_get 1 oplog_ops)" = 0 ] && [ "$(cl_get 2 oplog_ops)" = 0 ]; }
trimmed() {
	echo after >"${CL_M[1]}/after-remove" && cl_wait_converged meta 1 2 &&
	wait_for "$CL_TRIES" log_empty && return 0
	_cl_report oplog_ops 1 2
	return 1
}
check "a write after the remove: nodes 1 and 2 drop every op (node 3 not waited for)" trimmed

cl_done
