#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The bounded op log and snapshot bootstrap (doc/replication.md).
# Part 1: nodes 1 and 2 (node 3 is in their peer lists but has never run)
# write 400 files and a few renames and unlinks; once both have pulled
# everything, each drops its ops (oplog_ops back to 0, oplog_folded up).
# Node 3 starts fresh: its peers no longer hold the ops it lacks, so it
# bootstraps from a snapshot and converges to the full tree, then takes new
# writes from both sides and makes its own, which reach the others.
# Part 2: node 4 joins while nodes 1 and 2 serve snapshots slowly
# (snapshot_throttle_ms, 16 KiB chunks); the node that serves it is killed
# mid-stream.  Node 4 applies nothing of the cut stream (its tree stays
# empty), takes a whole snapshot from the other node and converges.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 4

M1=${CL_M[1]} M2=${CL_M[2]}
# A killed peer is an expected error on the others.
DOWN_RE='timed out|not answer|down|unreachable|snapshot'
for i in 1 2 3 4; do mfs_log_allow "${CL_D[$i]}" "$DOWN_RE"; done

check "start nodes 1 and 2" eval 'cl_start 1 && cl_start 2 && cl_wait_formed 1 2' ||
	mfs_abort "no cluster"

write_tree() { # MOUNT TAG COUNT
	local m=$1 t=$2 n=$3 i
	mkdir -p "$m/$t/a" "$m/$t/b" || return 1
	for ((i = 0; i < n; i++)); do
		echo "$t file $i" >"$m/$t/a/f$i" || return 1
	done
	ln -s a/f0 "$m/$t/link" && mv "$m/$t/a/f1" "$m/$t/b/moved" && rm "$m/$t/a/f2" &&
	setfattr -n user.tag -v "$t" "$m/$t/a/f3"
}
check "node 1 writes 200 files, node 2 another 200 (with a rename, unlink, symlink, xattr)" \
	eval 'write_tree "$M1" one 200 && write_tree "$M2" two 200'
check "nodes 1 and 2 converge" cl_wait_converged 1 2

trimmed() { # NODE
	[ "$(cl_get "$1" oplog_ops)" = 0 ] && [ "$(cl_get "$1" oplog_folded)" -gt 400 ]
}
check "node 1 drops every op both nodes hold (oplog_ops 0)" wait_for "$CL_TRIES" trimmed 1
check "node 2 likewise" wait_for "$CL_TRIES" trimmed 2

check "start node 3 (fresh)" eval 'cl_start 3 && cl_wait_formed 1 2 3'
applied() { [ "$(cl_get "$1" snapshots_applied)" -ge "${2:-1}" ]; }
check "node 3 bootstraps from a snapshot" wait_for "$CL_TRIES" applied 3
check "node 3 converges to the full tree" cl_wait_converged 1 2 3
check "node 3 shows node 1's xattr and symlink" eval \
	'expect_eq "$(getfattr --only-values -n user.tag "${CL_M[3]}/one/a/f3")" one "user.tag" &&
	 expect_eq "$(readlink "${CL_M[3]}/one/link")" a/f0 "symlink target"'

after() {
	write_tree "$M1" one-after 20 && write_tree "$M2" two-after 20 &&
	write_tree "${CL_M[3]}" three 20 && rm -r "$M1/two/b" && mv "${CL_M[3]}/one/a/f5" "$M2/five"
}
check "writes after the bootstrap on all three nodes" after
check "all three converge (the tail is pulled as ops)" cl_wait_converged 1 2 3
check "node 3 did not need a second snapshot" expect_eq "$(cl_get 3 snapshots_applied)" 1 \
	"snapshots_applied on node 3"
check "the logs shrink again once node 3 has pulled" eval \
	'wait_for "$CL_TRIES" trimmed 1 && wait_for "$CL_TRIES" trimmed 3'

# ---- part 2: the serving node dies mid-stream --------------------------------

# Node 4 is nobody's peer: nodes 1..3 do not wait for it to trim.
for i in 1 2 3; do cl_set_peers "$i" $(seq 1 3 | grep -vx "$i"); done
cl_set_peers 4 1 2
part2_setup() {
	local i
	# Both survivors must hold every chunk: factor 3 on the whole tree.
	setfattr -n user.modelfs.repl -v 3 "$M1" || return 1
	for ((i = 0; i < 800; i++)); do
		echo "bulk $i" >"$M1/one/a/bulk$i" || return 1
	done
	cl_wait_converged 1 2 3 && wait_for "$CL_TRIES" trimmed 1 && wait_for "$CL_TRIES" trimmed 2 &&
	cl_stop 1 && cl_stop 2 &&
	cl_start 1 "snapshot_throttle_ms=150" && cl_start 2 "snapshot_throttle_ms=150" &&
	cl_wait_formed 1 2 3
}
check "1,000 more files; nodes 1 and 2 restart serving snapshots slowly" part2_setup ||
	mfs_abort "no part 2"

server=
serving() {
	local i
	for i in 1 2; do
		if [ "$(cl_get "$i" snapshots_served)" -ge 1 ]; then
			server=$i
			return 0
		fi
	done
	return 1
}
kill_server() {
	# Its next bootstrap 500 ms after the cut one, not 5 s (test only).
	MODELFS_TEST_SNAP_BACKOFF_MS=500 cl_start 4 || return 1
	wait_for "$CL_TRIES" serving || { echo "nobody served node 4 a snapshot" >&2; return 1; }
	say "node $server serves node 4; killing it"
	cl_kill9 "$server" &&
	expect_eq "$(cl_get 4 snapshots_applied)" 0 "snapshots_applied on node 4 when the server died" &&
	expect_listing "${CL_M[4]}"
}
check "node 4 joins; the node serving its snapshot is killed mid-stream, nothing is applied yet" \
	kill_server
other=$((3 - server))
cut_logged() { grep -qE "snapshot bootstrap failed after [1-9][0-9]* bytes.*nothing applied" "${CL_D[4]}/modelfs.log"; }
check "node 4 logs the cut stream (some bytes, nothing applied)" wait_for "$CL_TRIES" cut_logged
check "node 4 bootstraps from node $other instead" wait_for "$CL_TRIES" applied 4
check "node 4 converges with nodes $other and 3" cl_wait_converged "$other" 3 4
check "restart node $server; all four converge" eval 'cl_restart "$server" && cl_wait_converged 1 2 3 4'

cl_done
