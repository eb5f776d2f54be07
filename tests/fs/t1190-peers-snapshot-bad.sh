#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Malformed snapshots lose nothing.  Node 1 holds a tree of its own; a
# hostile peer (tests/tools/snap_peer) answers its pulls with "bootstrap
# from a snapshot" and then serves, in turn, an image whose SHA-256 is
# wrong, one whose SHA-256 is right but holds a dirent named "a/b", a
# SNAPDATA of 5 bytes, and an image whose id changes mid-stream.  Each time
# node 1 logs a clear reason, counts the failure and a malformed message,
# and its tree stays exactly as it was.  Then bad SNAP requests sent to node
# 1 get no answer (counted as malformed), one for an image it never made
# gets GONE, and a real image fetched from it checks.  Finally a fresh node 2
# joins node 1 and converges.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
SNAP_PEER=$MFS_BUILD/tests/tools/snap_peer
[ -x "$SNAP_PEER" ] || skip_all "no $SNAP_PEER (make check builds it)"
cl_init 2

FAKE=127.0.0.9:$CL_PORT
M1=${CL_M[1]}
mfs_log_allow "${CL_D[1]}" 'snapshot|malformed|timed out|down'

cl_set_peers 1 2
# Each hostile image's bootstrap 500 ms after the last one failed, not 5 s
# (test only): the rule that spaces them is not what is tested here.
MODELFS_TEST_SNAP_BACKOFF_MS=500 \
	check "start node 1 (peers: node 2, not running, and the hostile peer)" \
	cl_start 1 "peer=$FAKE" || mfs_abort "no node"
tree0() {
	local i
	mkdir -p "$M1/d/e" || return 1
	for ((i = 0; i < 50; i++)); do echo "file $i" >"$M1/d/f$i" || return 1; done
	ln -s d/f0 "$M1/link" && cl_snapshot "$M1" >"$WORK/tree0"
}
check "node 1 writes a tree of 50 files" tree0 || mfs_abort "no tree"

fake=
try_mode() { # MODE LOG-ERE
	local mode=$1 re=$2 f0 m0
	f0=$(cl_get 1 snapshot_failures) && m0=$(cl_get 1 malformed_messages) || return 1
	"$SNAP_PEER" serve "tcp://$FAKE" "$mode" >>"$WORK/fake.out" 2>&1 &
	fake=$!
	failed_more() { [ "$(cl_get 1 snapshot_failures)" -gt "$f0" ]; }
	wait_for "$CL_TRIES" failed_more || { echo "no failed bootstrap counted" >&2; return 1; }
	kill "$fake" && wait "$fake" 2>/dev/null
	fake=
	grep -qE "$re" "${CL_D[1]}/modelfs.log" || { echo "no log line matching /$re/" >&2; return 1; }
	[ "$(cl_get 1 malformed_messages)" -gt "$m0" ] || { echo "malformed_messages not counted" >&2; return 1; }
	cl_snapshot "$M1" >"$WORK/tree.$mode" &&
	diff -u "$WORK/tree0" "$WORK/tree.$mode" >&2
}
check "an image with a wrong SHA-256: refused, nothing applied" \
	try_mode badsha 'snapshot fails its SHA-256, dropped'
check "a well-hashed image with a dirent named a/b: refused, nothing applied" \
	try_mode badrecord 'snapshot image is malformed'
check "a SNAPDATA of 5 bytes: refused, nothing applied" \
	try_mode badmsg 'malformed reply to SNAP'
check "an image whose id changes mid-stream: refused, nothing applied" \
	try_mode changeid 'snapshot changed mid-stream'

bad_requests() {
	local m0 out
	m0=$(cl_get 1 malformed_messages) || return 1
	out=$("$SNAP_PEER" client "tcp://$(cl_endpoint 1)") || { echo "$out" >&2; return 1; }
	say "$out"
	[ "$(cl_get 1 malformed_messages)" -ge $((m0 + 2)) ] || { echo "bad SNAPs not counted" >&2; return 1; }
}
check "bad SNAP requests to node 1: no answer, counted; unknown image: GONE; a real image checks" \
	bad_requests
check "node 1's tree is unchanged" eval 'cl_snapshot "$M1" >"$WORK/tree1" && diff -u "$WORK/tree0" "$WORK/tree1" >&2'
check "a fresh node 2 joins node 1 and converges" eval 'cl_start 2 && cl_wait_converged 1 2'

cl_done
