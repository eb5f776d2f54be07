#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The allow-list as data (store/ns/allow.h).  Nodes 1 and 2 have keys and
# an authorized_keys file that lists only the two of them, and nobody edits
# it.  Node 3's key is listed nowhere: naming node 1 it is refused.  An
# admin runs `node allow` on node 1 only: node 2 learns it from the op log,
# node 3 is admitted by both, joins (node 2 contacts it from the member
# table), and its file reads right on node 2.  `node revoke` on node 2 then
# cuts node 3 off: its open connections get no answers (refused_requests)
# and it sees no peer up.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 3

S=$WORK/src
AK=$WORK/authorized_keys
REFUSED_RE='refus|not in authorized_keys'
keys() {
	for i in 1 2 3; do admin keygen "$WORK/key$i" >/dev/null || return 1; done
	{
		echo "$(cat "$WORK/key1.pub") $(cl_endpoint 1)"
		echo "$(cat "$WORK/key2.pub") $(cl_endpoint 2)"
	} >"$AK" &&
	cat "$AK" "$WORK/key3.pub" >"$AK.3" &&
	AK_SUM=$(sha256sum <"$AK")
}
check "keys for 3 nodes; authorized_keys of nodes 1 and 2 lists only them" keys ||
	mfs_abort "no keys"
for i in 1 2 3; do mfs_log_allow "${CL_D[$i]}" "$REFUSED_RE"; done

cl_set_peers 1 2
cl_set_peers 2 1
cl_set_peers 3 1
start12() {
	cl_start 1 "curve_key=$WORK/key1,authorized_keys=$AK" &&
	cl_start 2 "curve_key=$WORK/key2,authorized_keys=$AK" &&
	cl_wait_formed 1 2
}
check "start nodes 1 and 2 with keys" start12 || mfs_abort "no cluster"

refused_by_1() { grep -qiE "$REFUSED_RE" "${CL_D[1]}/modelfs.log"; }
outsider() {
	cl_start 3 "curve_key=$WORK/key3,authorized_keys=$AK.3" &&
	wait_for "$CL_TRIES" refused_by_1 || { echo "node 1 logged no refusal" >&2; return 1; }
	expect_eq "$(cl_get 3 peers_up)" 0 "peers_up of node 3"
}
check "node 3 (key listed nowhere) names node 1: refused" outsider

# allowed I KEYFILE: node I's allow-list says KEYFILE's key is allowed.
allowed() {
	admin node list --json "${CL_M[$1]}" | "$PY" -c '
import json, sys
key = open(sys.argv[1]).read().split()[0]
sys.exit(0 if any(a["key"] == key and a["state"] == "yes"
                  for a in json.load(sys.stdin)["allowed"]) else 1)' "$2"
}
allow3() {
	admin node allow "$WORK/key3.pub" "${CL_M[1]}" >/dev/null &&
	allowed 1 "$WORK/key3.pub" &&
	wait_for "$CL_TRIES" allowed 2 "$WORK/key3.pub" || { echo "node 2 never got the key" >&2; return 1; }
	wait_for "$CL_TRIES" cl_sees 2 "$(cl_endpoint 3)" || { _cl_report peers 2 3; return 1; }
	expect_eq "$(sha256sum <"$AK")" "$AK_SUM" "authorized_keys of nodes 1 and 2 (untouched)"
}
check "node allow on node 1 only: node 2 learns the key and contacts node 3" allow3

write3() {
	randfile "$S/w" $((3 * MiB + 5)) && cp "$S/w" "${CL_M[3]}/w" &&
	cl_wait_converged meta 1 2 3 && expect_sha "${CL_M[2]}/w" "$(file_sha "$S/w")"
}
check "node 3 writes; node 2 reads it right" write3

cut_off() { [ "$(cl_get 3 peers_up)" = 0 ]; }
refused_requests() { echo $(($(cl_get 1 refused_requests) + $(cl_get 2 refused_requests))); }
revoke3() {
	admin node revoke "$WORK/key3.pub" "${CL_M[2]}" >/dev/null &&
	wait_for "$CL_TRIES" cut_off || { echo "node 3 still has peers up" >&2; return 1; }
	[ "$(refused_requests)" -gt 0 ] || { echo "no request refused" >&2; return 1; }
	! allowed 1 "$WORK/key3.pub"
}
check "node revoke on node 2: node 3's open connections are refused" revoke3

bad_args() {
	expect_status 2 "$ADMIN_BIN" node allow "${CL_M[1]}" &&
	expect_status 2 "$ADMIN_BIN" node allow not-a-key "${CL_M[1]}" &&
	expect_status 2 "$ADMIN_BIN" node revoke "$WORK/authorized_keys.nope" "${CL_M[1]}" &&
	expect_status 1 "$ADMIN_BIN" node allow "$(head -c 40 /dev/zero | tr '\0' '~')" "${CL_M[1]}"
}
check "wrong arguments: usage (2) or a clear error (1)" bad_args

cl_done
