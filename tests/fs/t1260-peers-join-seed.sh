#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Membership as data: a node joins by naming one member.  Nodes 1 and 2
# know each other; node 3 names node 1 only.  Without touching nodes 1 and
# 2 (their options are the same before and after), node 2 sees node 3 up
# and lists it in `modelfs-admin node list` (text and --json: three active
# members); a 16 MiB file written on node 3 under factor 3 reads right on
# node 2, and fsck on node 2 is clean (every node holds every chunk).  Node
# 2 restarted alone (nodes 1 and 3 stopped) still lists node 3: the member
# table is in its store.  With nodes 1 and 3 back, node 2 sees node 3 up.
# Node 3 restarted at another address is reached there by nodes 1 and 2.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 3

S=$WORK/src
sum=
cl_set_peers 1 2
cl_set_peers 2 1
cl_set_peers 3 1
check "start nodes 1 and 2, each naming the other" \
	eval 'cl_start 1 && cl_start 2 && cl_wait_formed 1 2' || mfs_abort "no cluster"
opts1=$(cl_get 1 options)
opts2=$(cl_get 2 options)

join() {
	cl_start 3 || return 1
	wait_for "$CL_TRIES" cl_sees 2 "$(cl_endpoint 3)" && wait_for "$CL_TRIES" cl_sees 3 "$(cl_endpoint 2)" &&
		return 0
	echo "node 2 does not see node 3 up (or node 3 node 2):" >&2
	_cl_report peers 2 3
	return 1
}
check "node 3 names only node 1: node 2 sees node 3 up, node 3 sees node 2" join

# members_are I N STATE: node I's node list --json has N members, each STATE.
members_are() {
	admin node list --json "${CL_M[$1]}" >"$WORK/nodes.$1.json" 2>"$WORK/nodes.err" || {
		cat "$WORK/nodes.err" >&2
		return 1
	}
	"$PY" - "$WORK/nodes.$1.json" "$2" "$3" <<'PYEOF'
import json, sys
nodes = json.load(open(sys.argv[1]))["nodes"]
if len(nodes) != int(sys.argv[2]) or any(n["state"] != sys.argv[3] for n in nodes):
    sys.exit("node list: %r" % nodes)
if len(set(n["node_id"] for n in nodes)) != len(nodes):
    sys.exit("duplicate ids: %r" % nodes)
PYEOF
}
# Each node hears of node 3's promotion at its own next pull: wait on each.
listed() {
	local i
	for i in 2 1 3; do
		wait_for "$CL_TRIES" members_are "$i" 3 active || { cat "$WORK/nodes.$i.json" >&2; return 1; }
	done
	admin node list "${CL_M[2]}" >"$WORK/nodes.txt" &&
	expect_eq "$(grep -c ' active ' "$WORK/nodes.txt")" 3 "active lines in node list" &&
	grep -q "$(cl_endpoint 3)" "$WORK/nodes.txt" &&
	grep -q "self" "$WORK/nodes.txt"
}
check "node list on every node: 3 active members (text and --json)" listed

write3() {
	randfile "$S/w" $((16 * MiB + 7)) && sum=$(file_sha "$S/w") &&
	mkdir "${CL_M[3]}/d" && admin setrepl 3 "${CL_M[3]}/d" &&
	cp "$S/w" "${CL_M[3]}/d/w.bin" &&
	cl_wait_converged meta && cl_wait_backlog0 &&
	expect_sha "${CL_M[2]}/d/w.bin" "$sum"
}
check "node 3 writes 16 MiB under factor 3; node 2 reads it right" write3

fsck_clean() {
	admin fsck --json "${CL_M[2]}" >"$WORK/fsck.json" 2>&1 && return 0
	echo "fsck on node 2: exit $?" >&2
	head -c 2000 "$WORK/fsck.json" >&2
	return 1
}
check "fsck on node 2: clean (3 copies of every chunk, on 3 nodes)" wait_for 100 fsck_clean

untouched() {
	expect_eq "$(cl_get 1 options)" "$opts1" "node 1's options" &&
	expect_eq "$(cl_get 2 options)" "$opts2" "node 2's options" &&
	case $opts1$opts2 in *"$(cl_endpoint 3)"*) echo "node 3 in a config" >&2; return 1 ;; esac
}
check "nodes 1 and 2 run with the options they started with (no node 3 in them)" untouched

persisted() {
	cl_stop 3 && cl_stop 1 && cl_stop 2 && cl_start 2 &&
	members_are 2 3 active &&
	grep -q "$(cl_endpoint 3)" "$WORK/nodes.2.json"
}
check "node 2 restarted alone, no node 3 in its config: still lists node 3" persisted

back() {
	cl_start 1 && cl_start 3 &&
	wait_for "$CL_TRIES" cl_sees 2 "$(cl_endpoint 3)" &&
	expect_sha "${CL_M[3]}/d/w.bin" "$sum"
}
check "nodes 1 and 3 back: node 2 sees node 3 up" back

# Node 3 moves: restarted listening on another address (its seed is still
# node 1).  Its old endpoint stops answering; nodes 1 and 2 take the new one
# from its HELLO and its member record.
NEW3=127.0.0.5:$CL_PORT
# Node 3 says HELLO every second, not 10 s (test only): nodes 1 and 2 take
# its new address at the first HELLO after the old one stopped answering.
moved() {
	cl_stop 3 && MODELFS_TEST_HELLO_MS=1000 cl_start 3 "listen=$NEW3" &&
	wait_for "$CL_TRIES" cl_sees 2 "$NEW3" && wait_for "$CL_TRIES" cl_sees 1 "$NEW3" ||
		{ _cl_report peers 1 2; return 1; }
	wait_for "$CL_TRIES" eval 'admin node list "${CL_M[1]}" | grep -q "tcp://$NEW3"' &&
	echo moved >"${CL_M[3]}/d/after-move" &&
	cl_wait_converged meta &&
	expect_eq "$(cat "${CL_M[2]}/d/after-move")" moved "after-move on node 2"
}
check "node 3 restarted at a new address: nodes 1 and 2 reach it there" moved

cl_done
