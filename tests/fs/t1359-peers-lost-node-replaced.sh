#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A node lost for good, and its replacement.  Three nodes, factor 2, a
# node down for grace_s (3 s) leaves placement.  Node 1 writes 24 MiB in R
# (factor 2) and the nodes replicate.  Node 3 dies (SIGKILL) and its disk
# is lost (its store removed): nodes 1 and 2 read R exact at once, and past
# the grace they re-replicate what node 3 held, so that fsck on node 1 is
# clean (a down node's copies do not count) and, node 1 killed, node 2
# alone reads R exact.  `node remove` of the lost id.  A new node with an
# empty store then starts at node 3's address (a new id), while a reader on
# node 2 is mid-file: it joins, gets its share (it holds chunks, every
# backlog drains), fsck is clean on every node, the reader ends exact, and
# factor 2 holds with the newcomer: any one node killed, the others read R
# exact.
# shellcheck source-path=SCRIPTDIR
MFS_TEST_TIMEOUT=${MFS_TEST_TIMEOUT:-600}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
# The scan that finds what a node gone past grace left this node to own
# runs every 2 s, not 30 (the waits would be as long, not the result other).
export MODELFS_TEST_SCAN_MS=2000
CL_OPTS=grace_s=3,gc_interval_s=1,gc_grace_s=0
cl_init 3
check "start 3 nodes" cl_start_all || mfs_abort "no cluster"
id3=$(cl_get 3 node_id)

S=$WORK/srcf
mkdir -p "$S"
write() {
	mkdir "${CL_M[1]}/R" && setfattr -n user.modelfs.repl -v 2 "${CL_M[1]}/R" &&
		randfile "$S/a" $((16 << 20)) && randfile "$S/b" $((8 << 20)) &&
		cp "$S/a" "$S/b" "${CL_M[1]}/R/" &&
		cl_wait_converged meta && cl_wait_backlog0
}
check "node 1 writes 24 MiB in R (factor 2); replicated" write || mfs_abort "no files"

# reads I...: each node reads R exact.
reads() {
	local i f
	for i in "$@"; do
		for f in a b; do
			expect_sha "${CL_M[$i]}/R/$f" "$(file_sha "$S/$f")" || return 1
		done
	done
}
fsck_clean() { admin fsck --json "${CL_M[$1]}" >"$WORK/fsck$1.json" 2>&1; }
clean() {
	local i
	for i in "$@"; do
		wait_until fsck_clean "$i" && continue
		echo "node $i: fsck not clean:" >&2
		head -c 2000 "$WORK/fsck$i.json" >&2
		return 1
	done
}
check "node 3 dies, its disk lost" eval 'cl_kill9 3 && rm -rf "${CL_D[3]}"'
check "nodes 1 and 2 read R exact at once" reads 1 2
check "past the grace, nodes 1 and 2 hold R twice: fsck clean on node 1" clean 1
alone() {
	cl_kill9 1 || return 1
	reads 2 || { cl_restart 1; return 1; }
	cl_restart 1 && cl_wait_formed 1 2
}
check "node 1 killed, node 2 alone reads R exact; node 1 back" alone
# state_on I ID STATE: node I's node list shows node ID in STATE.
state_on() {
	admin node list --json "${CL_M[$1]}" 2>/dev/null | "$PY" -c '
import json, sys
n = [x for x in json.load(sys.stdin)["nodes"] if x["node_id"] == sys.argv[1]]
sys.exit(0 if n and n[0]["state"] == sys.argv[2] else 1)' "$2" "$3"
}
removed() {
	expect_status 0 admin node remove "$id3" "${CL_M[2]}" &&
		wait_until state_on 1 "$id3" gone && state_on 2 "$id3" gone
}
check "node remove of the lost node: gone on nodes 1 and 2" removed

cl_start_reader "${CL_M[2]}/R/a" mid
check "a reader on node 2 is mid-file" wait_until test -e "$WORK/mid.ready"
newcomer() {
	cl_start 3 || return 1
	[ "$(cl_get 3 node_id)" != "$id3" ] || { echo "node 3 kept the lost id" >&2; return 1; }
	cl_wait_formed
}
check "a new node (empty store, a new id) starts at node 3's address: every node sees every other up" newcomer
touch "$WORK/mid.go"
reader_ok() {
	wait_until test -e "$WORK/mid.out" || { echo "the reader hangs" >&2; return 1; }
	expect_eq "$(cat "$WORK/mid.out")" "ok $((16 << 20)) $(file_sha "$S/a")" "the reader's result"
}
check "the reader on node 2 ends exact" reader_ok
share() {
	cl_wait_converged meta && cl_wait_backlog0 || return 1
	[ "$(cl_get 3 chunks)" -gt 0 ] || { echo "node 3 holds no chunk" >&2; return 1; }
}
check "the newcomer gets its share: it holds chunks, every backlog drains" share
check "fsck clean on every node" clean 1 2 3
check "every node reads R exact" reads 1 2 3
factor2() {
	local v others
	for v in 1 2 3; do
		others=$(cl_live | tr ' ' '\n' | grep -vx "$v" | tr '\n' ' ')
		cl_kill9 "$v" || return 1
		# shellcheck disable=SC2086 # node numbers
		reads $others || { echo "node $v killed: R does not read exact on $others" >&2; cl_restart "$v"; return 1; }
		cl_restart "$v" && cl_wait_formed || return 1
	done
}
check "factor 2 holds with the newcomer: any one node killed, the others read R" factor2
cl_done
