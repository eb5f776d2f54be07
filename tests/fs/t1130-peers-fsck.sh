#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# fsck across a cluster of three nodes.
#  - /d holds three files at factor 1: healthy.  Node 3 stopped, setrepl
#    -r 3 /d: every chunk is under-replicated (copies there are not counted,
#    node 3 reported down); node 3 back and caught up: healthy.
#  - All stopped; on node 2 one chunk of a is corrupted; one chunk of b is
#    dropped on nodes 1 and 2 (kept on node 3 only); one chunk of c is
#    dropped everywhere.  Nodes 1 and 2 start: fsck --deep finds the
#    corrupt copy (naming node 2) and both lost chunks (no reachable copy),
#    each with its file; plain fsck does not see the corrupt copy's SHA-256
#    but its record checksum, and finds it too.
#  - Node 3 starts; fsck --deep --repair: the corrupt copy is replaced and
#    b's chunk copied back (3/3 again); c's chunk is reported missing with
#    /d/c, exit 4.  a and b read back byte-identical on every node.
#  - info (user.modelfs.replicas_*) agrees: 2 copies of every chunk (never
#    more) once node 2 has pulled them while node 3 is down, 3 of every
#    chunk on every node once node 3 caught up.
#  - fsck of one path only checks that path; bad arguments exit 16.
#  - The report is per file by default (each file's factor, good copies,
#    counts per kind, nodes); per chunk only with --verbose.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
cl_init 3
[ -x "$CHUNK_TOOL" ] || skip_all "no $CHUNK_TOOL (make check builds it)"

S=$WORK/src
M1=${CL_M[1]}
# Bad copies are logged as errors on the nodes that hold or fetch them.
for i in 1 2 3; do
	mfs_log_allow "${CL_D[$i]}" 'checksum|corrupt|does not verify|no peer has|bad local copy'
done
check "start 3 nodes" cl_start_all || mfs_abort "no cluster"

# fsck_json OUT ARGS...: runs fsck --json ARGS into $WORK/OUT, prints its exit status.
fsck_json() {
	local out=$1
	shift
	admin fsck --json "$@" >"$WORK/$out" 2>"$WORK/$out.err"
	echo $?
}
# jq_py FILE EXPR: evaluates a python expression over the JSON in FILE (as d).
jq_py() {
	"$PY" -c 'import json, sys
def unique(pairs):  # a key twice in one object is a bug in the emitter
	keys = [k for k, _ in pairs]
	assert len(keys) == len(set(keys)), "duplicate JSON keys: %r" % keys
	return dict(pairs)
d = json.load(open(sys.argv[1]), object_pairs_hook=unique)
def hashes(kind):  # the distinct chunks of one kind (--verbose)
	return sorted({c["hash"] for c in d["chunks"] if c["kind"] == kind})
print(eval(sys.argv[2]))' "$1" "$2"
}

write_files() {
	mkdir -p "$S" "$M1/d" && setfattr -n user.modelfs.repl -v 1 "$M1/d" &&
	randfile "$S/a" $((6 * MiB)) && randfile "$S/b" $((6 * MiB)) && randfile "$S/c" $((3 * MiB)) &&
	cp "$S/a" "$S/b" "$S/c" "$M1/d/" && cl_wait_converged meta && cl_wait_backlog0
}
check "node 1 writes d/a, d/b, d/c at factor 1; replicated" write_files || mfs_abort "no data"

healthy() {
	local rc
	rc=$(fsck_json ok.json "$M1")
	[ "$rc" = 0 ] || { echo "fsck exit $rc: $(cat "$WORK/ok.json" "$WORK/ok.json.err")" >&2; return 1; }
	expect_eq "$(json_get ok <"$WORK/ok.json")" true '"ok"' &&
	expect_eq "$(json_get nodes_checked <"$WORK/ok.json")" 3 nodes_checked &&
	expect_eq "$(json_get files_checked <"$WORK/ok.json")" 3 files_checked
}
check "fsck at factor 1: healthy, 3 nodes, 3 files" healthy

three_down() { [ "$(cl_get 1 peers_up)" = 1 ]; }
stop3() { cl_stop 3 && wait_for 200 three_down; }
check "stop node 3; node 1 sees it down" stop3
check "setrepl -r 3 /d on node 1" expect_status 0 admin setrepl -r 3 "$M1/d"

under_all() {
	local rc
	rc=$(fsck_json under.json --verbose "$M1")
	expect_eq "$rc" 4 "fsck exit status" &&
	expect_eq "$(json_get nodes_down <"$WORK/under.json")" 1 nodes_down &&
	expect_eq "$(jq_py "$WORK/under.json" 'len(hashes("under")) > 0 and len(hashes("under")) == d["chunks_checked"] == d["under_replicated_chunks"]')" True \
		"every chunk under-replicated" &&
	expect_eq "$(jq_py "$WORK/under.json" 'all(f["path"].startswith("/d/") and f["detail"].startswith("copies=") and int(f["detail"][7]) < 3 for f in d["chunks"] if f["kind"] == "under")')" True \
		"each with its file and fewer than 3 copies" &&
	expect_eq "$(jq_py "$WORK/under.json" '[(f["path"], f["state"], f["problem"], f["factor"], f["good_copies"] < 3, f["under_replicated"] == f["chunks"] > 0) for f in d["files"]]')" \
		"[('/d/a', 'under', True, 3, True, True), ('/d/b', 'under', True, 3, True, True), ('/d/c', 'under', True, 3, True, True)]" \
		"one entry per file: factor 3, fewer good copies, every chunk under" &&
	expect_eq "$(json_get files_with_problems <"$WORK/under.json")" 3 files_with_problems
}
check "node 3 down, factor 3: every chunk under-replicated, node 3 down" under_all

xa() { getfattr --only-values -n "user.modelfs.$2" "$1"; }
# After setrepl -r 3, node 2 pulls from node 1 a copy of every chunk it
# lacks (node 3, down, cannot): until it has, a chunk may have 1 copy.  Poll
# until every chunk of d/a has 2 copies, failing at once if one is counted
# more than twice; then the counts are stable and asserted.
info_down() {
	local i min max
	for ((i = 0; i < CL_TRIES; i++)); do
		min=$(xa "$M1/d/a" replicas_min) && max=$(xa "$M1/d/a" replicas_max) || return 1
		if [ "$max" -gt 2 ]; then
			echo "replicas_max of d/a is $max with node 3 down" >&2
			return 1
		fi
		[ "$min" = 2 ] && break
		sleep 0.1
	done
	note "d/a: every chunk on nodes 1 and 2 after $i polls"
	expect_eq "$(xa "$M1/d/a" nodes)" 3 "nodes in info" &&
	expect_eq "$(xa "$M1/d/a" nodes_down)" 1 "nodes_down in info" &&
	expect_eq "$(xa "$M1/d/a" replicas_min)" 2 "replicas_min of d/a" &&
	expect_eq "$(xa "$M1/d/a" replicas_max)" 2 "replicas_max of d/a" &&
	expect_eq "$(xa "$M1/d/a" replicas.2)" "$(xa "$M1/d/a" distinct_chunks)" "replicas.2 of d/a" &&
	expect_eq "$(xa "$M1/d/a" under_replicated_chunks)" "$(xa "$M1/d/a" distinct_chunks)" \
		"under_replicated_chunks of d/a"
}
check "info of d/a with node 3 down: 2 copies at most, every chunk under the factor" info_down

# The chunks of each file, from the findings above.
chunk_of() { jq_py "$WORK/under.json" "sorted(f['hash'] for f in d['chunks'] if f['path'] == '/d/$1')[0]"; }
A=$(chunk_of a) B=$(chunk_of b) C=$(chunk_of c)
note "chunks: a $A, b $B, c $C"

back3() { cl_restart 3 && cl_wait_formed && cl_wait_backlog0; }
check "node 3 back: it catches up" back3
healthy3() { wait_for 300 healthy 2>/dev/null || healthy; }
check "fsck: healthy again once the copies exist" healthy3
info_whole() {
	local i
	for i in 1 2 3; do
		expect_eq "$(xa "${CL_M[$i]}/d/b" replicas_min)" 3 "replicas_min of d/b on node $i" &&
		expect_eq "$(xa "${CL_M[$i]}/d/b" under_replicated_chunks)" 0 "under on node $i" &&
		expect_eq "$(xa "${CL_M[$i]}/d/b" "replicas.3")" "$(xa "${CL_M[$i]}/d/b" distinct_chunks)" \
			"replicas.3 on node $i" || return 1
	done
}
check "info on every node: 3 copies of every chunk of d/b" info_whole

for i in 1 2 3; do check "stop node $i" cl_stop "$i"; done
damage() {
	"$CHUNK_TOOL" "${CL_D[2]}" corrupt "$A" &&
	"$CHUNK_TOOL" "${CL_D[1]}" drop "$B" && "$CHUNK_TOOL" "${CL_D[2]}" drop "$B" &&
	"$CHUNK_TOOL" "${CL_D[1]}" drop "$C" && "$CHUNK_TOOL" "${CL_D[2]}" drop "$C" &&
	"$CHUNK_TOOL" "${CL_D[3]}" drop "$C" &&
	"$CHUNK_TOOL" "${CL_D[3]}" list | grep -q "^$B "
}
check "corrupt a's chunk on node 2, drop b's on nodes 1 and 2, c's everywhere" damage
# Node 3, the only holder of b's chunk, stays down: nothing can copy it back yet.
# fsck counts only peers it sees up: wait until node 1 sees node 2.
two_up() { [ "$(cl_get 1 peers_up)" = 1 ]; }
start12() { cl_restart 1 && cl_restart 2 && wait_for 200 two_up; }
check "start nodes 1 and 2" start12
ID2=$(cl_get 2 node_id)

finds_both() { # fsck options
	local rc
	rc=$(fsck_json found.json --verbose "$@" "$M1")
	expect_eq "$rc" 4 "fsck exit status" &&
	expect_eq "$(jq_py "$WORK/found.json" 'hashes("corrupt")')" "['$A']" '"corrupt" chunks' &&
	expect_eq "$(jq_py "$WORK/found.json" '[(f["detail"], f["path"]) for f in d["chunks"] if f["kind"] == "corrupt"]')" \
		"[('nodes=$ID2', '/d/a')]" "corrupt finding" &&
	expect_eq "$(jq_py "$WORK/found.json" 'hashes("missing")')" "$(jq_py /dev/stdin 'sorted(d)' <<<"[\"$B\", \"$C\"]")" '"missing" chunks' &&
	expect_eq "$(jq_py "$WORK/found.json" 'sorted(f["path"] for f in d["chunks"] if f["kind"] == "missing")')" \
		"['/d/b', '/d/c']" "missing chunks' files" &&
	per_file found.json
}
# per_file OUT: the files of the damage above, one entry each.
per_file() {
	# Node 3 is down: the other chunks are under-replicated too, on nodes 1 and 2.
	expect_eq "$(jq_py "$WORK/$1" '[(f["path"], f["state"], f["corrupt"], f["missing"], "'"$ID2"'" in f["nodes"], f["under_replicated"] == f["chunks"] - f["missing"]) for f in d["files"] if f["problem"]]')" \
		"[('/d/a', 'corrupt', 1, 0, True, True), ('/d/b', 'missing', 0, 1, True, True), ('/d/c', 'missing', 0, 1, True, True)]" \
		"per file: a's corrupt copy on node 2, b and c one chunk missing each, the rest under" &&
	expect_eq "$(jq_py "$WORK/$1" '(d["corrupt_chunks"], d["missing_chunks"], d["files_with_problems"])')" \
		"(1, 2, 3)" "totals: corrupt_chunks, missing_chunks, files_with_problems"
}
check "fsck --deep --verbose: the corrupt copy on node 2 and both lost chunks, with their files" finds_both --deep
check "fsck --verbose (record checksums): the same" finds_both
per_file_default() {
	local rc
	rc=$(fsck_json files.json "$M1")
	expect_eq "$rc" 4 "fsck exit status" &&
	per_file files.json &&
	expect_eq "$(jq_py "$WORK/files.json" 'd["chunks"]')" "[]" "no per-chunk entries without --verbose" &&
	{ admin fsck "$M1" >"$WORK/files.txt"; expect_eq "$?" 4 "exit status of the human report"; } &&
	expect_eq "$(grep -c ' /d/[abc]$' "$WORK/files.txt")" 3 "human report: one line per damaged file" &&
	! grep -q "^corrupt *chunk " "$WORK/files.txt" || { echo "per-chunk lines without --verbose" >&2; return 1; }
}
check "fsck (default): per file, the same findings, no per-chunk lines" per_file_default

check "start node 3" cl_restart 3
check "cluster formed" cl_wait_formed

repaired() {
	local rc
	rc=$(fsck_json repair.json --verbose --deep --repair --wait 120 "$M1")
	expect_eq "$rc" 4 "fsck --repair exit status (c's chunk is lost)" &&
	expect_eq "$(jq_py "$WORK/repair.json" 'hashes("corrupt")')" "[]" '"corrupt" after repair' &&
	expect_eq "$(jq_py "$WORK/repair.json" 'hashes("under")')" "[]" '"under" after repair' &&
	expect_eq "$(jq_py "$WORK/repair.json" 'hashes("missing")')" "['$C']" '"missing" after repair' &&
	expect_eq "$(jq_py "$WORK/repair.json" '[f["path"] for f in d["chunks"] if f["kind"] == "missing"]')" \
		"['/d/c']" "the lost chunk's file" &&
	expect_eq "$(jq_py "$WORK/repair.json" '"'"$A"'" in hashes("repaired")')" True "a's chunk repaired" &&
	expect_eq "$(jq_py "$WORK/repair.json" '[(f["path"], f["state"]) for f in d["files"] if f["path"] != "/d/b"]')" \
		"[('/d/a', 'repaired'), ('/d/c', 'missing')]" "per file after repair" &&
	# Nodes 1 and 2 own b's chunk: their replication may copy it back from
	# node 3 before fsck looks; then b is whole and not listed at all.
	expect_eq "$(jq_py "$WORK/repair.json" '[f["state"] for f in d["files"] if f["path"] == "/d/b"] in ([], ["repaired"])')" \
		True "b repaired by fsck, or whole already"
}
check "fsck --deep --repair: corrupt copy replaced, b whole again; c's chunk reported lost (exit 4)" repaired

reads() {
	local i
	for i in 1 2 3; do
		expect_sha "${CL_M[$i]}/d/a" "$(file_sha "$S/a")" &&
		expect_sha "${CL_M[$i]}/d/b" "$(file_sha "$S/b")" || return 1
	done
}
check "a and b read back byte-identical on every node" reads
read_fails() {
	! cat "$M1/d/c" >/dev/null 2>"$WORK/cat.err" && grep -q "Input/output error" "$WORK/cat.err" &&
	return 0
	echo "cat of d/c: $(cat "$WORK/cat.err")" >&2
	return 1
}
check "reading c fails with EIO, never wrong bytes" read_fails

after() {
	local rc
	rc=$(fsck_json after.json --deep "$M1")
	expect_eq "$rc" 4 "exit status" &&
	expect_eq "$(jq_py "$WORK/after.json" '(d["corrupt_chunks"], d["under_replicated_chunks"], d["missing_chunks"])')" \
		"(0, 0, 1)" "only one chunk is a problem" &&
	expect_eq "$(jq_py "$WORK/after.json" '[(f["path"], f["missing"], f["chunks"] > 1) for f in d["files"] if f["problem"]]')" \
		"[('/d/c', 1, True)]" "it is c's"
}
check "fsck --deep again: only c's chunk is missing" after

only_a() {
	local rc
	rc=$(fsck_json a.json "$M1/d/a" "${CL_M[1]}/d/b")
	expect_eq "$rc" 0 "exit status of fsck d/a d/b" &&
	expect_eq "$(json_get files_checked <"$WORK/a.json")" 2 files_checked &&
	expect_eq "$(json_get orphan_chunks <"$WORK/a.json")" 0 "no orphans counted for a subtree"
}
check "fsck of d/a and d/b only: healthy, 2 files" only_a

check "fsck --wait without --repair: exit 16" expect_status 16 admin fsck --wait 5 "$M1"
check "fsck --wait with a bad number: exit 16" expect_status 16 admin fsck --repair --wait x "$M1"
check "fsck of paths in two mounts: exit 8" expect_status 8 admin fsck "$M1" "${CL_M[2]}"
check "fsck --repair of a stopped store: exit 8" expect_status 8 admin fsck --repair --data "$WORK/nope"

cl_done
