#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Joining by a seed under CURVE.  Nodes 1 and 2 have keys and name each
# other; node 3's key is in every authorized_keys file, without an
# endpoint, and node 3 names node 1 only: node 2 learns node 3 from the
# member table, takes its key from node 3's member record (listed, so
# allowed) and sees it up; a file written on node 3 reads right on node 2.
# Node 4's key is listed nowhere but in its own file: it names node 1, is
# refused (logged), never appears in a node list, and sees no file.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 4

S=$WORK/src
AK=$WORK/authorized_keys
REFUSED_RE='refus|not in authorized_keys'
keys() {
	for i in 1 2 3 4; do admin keygen "$WORK/key$i" >/dev/null || return 1; done
	{
		echo "$(cat "$WORK/key1.pub") $(cl_endpoint 1)"
		echo "$(cat "$WORK/key2.pub") $(cl_endpoint 2)"
		echo "$(cat "$WORK/key3.pub")   # node 3: a key, no endpoint"
	} >"$AK" &&
	cat "$AK" "$WORK/key4.pub" >"$AK.4"
}
check "keys for 4 nodes; authorized_keys lists 1 and 2 with endpoints, 3 without, not 4" keys ||
	mfs_abort "no keys"
for i in 1 2 3; do mfs_log_allow "${CL_D[$i]}" "$REFUSED_RE"; done

cl_set_peers 1 2
cl_set_peers 2 1
cl_set_peers 3 1
cl_set_peers 4 1
start12() {
	cl_start 1 "curve_key=$WORK/key1,authorized_keys=$AK" &&
	cl_start 2 "curve_key=$WORK/key2,authorized_keys=$AK" &&
	cl_wait_formed 1 2 &&
	expect_eq "$(cl_get 1 peer_security)" curve "peer_security of node 1"
}
check "start nodes 1 and 2 with keys" start12 || mfs_abort "no cluster"

# members I: node I's member ids, sorted, one line.
members() {
	admin node list --json "${CL_M[$1]}" | "$PY" -c '
import json, sys
print(" ".join(sorted(n["node_id"] for n in json.load(sys.stdin)["nodes"])))'
}
join3() {
	cl_start 3 "curve_key=$WORK/key3,authorized_keys=$AK" &&
	wait_for "$CL_TRIES" cl_sees 2 "$(cl_endpoint 3)" && return 0
	_cl_report peers 2 3
	tail -n 5 "${CL_D[2]}/modelfs.log" >&2
	return 1
}
check "node 3 (listed key, no endpoint line) names node 1: node 2 sees it up" join3

write3() {
	randfile "$S/w" $((4 * MiB + 3)) && cp "$S/w" "${CL_M[3]}/w" &&
	cl_wait_converged meta 1 2 3 && expect_sha "${CL_M[2]}/w" "$(file_sha "$S/w")"
}
check "node 3 writes; node 2 reads it right" write3

refused_by() { grep -qiE "$REFUSED_RE" "${CL_D[1]}/modelfs.log"; }
outsider() {
	local want
	want=$(members 1) &&
	cl_start 4 "curve_key=$WORK/key4,authorized_keys=$AK.4" &&
	wait_for "$CL_TRIES" refused_by || { echo "node 1 logged no refusal" >&2; return 1; }
	# Refused at the handshake: no HELLO, no PULL of node 4 got through.
	expect_eq "$(members 1)" "$want" "members on node 1" &&
	expect_eq "$(members 2)" "$want" "members on node 2" &&
	expect_eq "$(cl_get 4 peers_up)" 0 "peers_up of node 4" &&
	expect_errno ENOENT open "${CL_M[4]}/w"
}
check "node 4 (key listed nowhere) names node 1: refused, in no node list, sees no file" outsider

cl_done
