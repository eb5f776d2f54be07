#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# gc among peers: a chunk is freed only once every peer has reached the
# namespace state in which it became unreferenced.  Two nodes; node 1
# writes keep.bin and gone.bin, node 2 reads both.  With node 2 stopped,
# node 1 deletes gone.bin: `gc --apply --grace 0` on node 1 frees nothing
# and names node 2 as the peer holding it back.  Node 2 restarts and syncs
# (its pulls now carry the deletion): gc on node 1 frees gone.bin's chunks,
# gc on node 2 frees its copies and disk cache files.  keep.bin reads right
# on both nodes and fsck of node 1 is clean, before and after a remount.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 2

S=$WORK/src
sumK='' nG=''
check "start 2 nodes" cl_start_all || mfs_abort "no cluster"

# gcj KEY: a value of the last gc --json answer; gc_on I ARGS...: gc --json on node I.
gcj() { json_get "$1" <"$WORK/.cmd.out"; }
gc_on() { local i=$1; shift; expect_status 0 admin gc --json "$@" "${CL_M[$i]}"; }

write() {
	randfile "$S/keep" $((10 * MiB)) && sumK=$(file_sha "$S/keep") &&
	cp "$S/keep" "${CL_M[1]}/keep.bin" &&
	local n0
	n0=$(cl_get 1 chunks) &&
	randfile "${CL_M[1]}/gone.bin" $((12 * MiB)) &&
	nG=$(($(cl_get 1 chunks) - n0)) && note "gone.bin: $nG chunks" && [ "$nG" -ge 3 ] &&
	cl_wait_converged && cl_wait_backlog0 &&
	cat "${CL_M[2]}/gone.bin" "${CL_M[2]}/keep.bin" >/dev/null
}
check "node 1 writes keep.bin and gone.bin; node 2 has them and reads them" write ||
	mfs_abort "no files"

nothing() {
	gc_on 1 --apply --grace 0 && expect_eq "$(gcj unreferenced_chunks)" 0 unreferenced &&
	expect_eq "$(gcj freed_chunks)" 0 freed
}
check "gc on node 1 before any deletion: nothing unreferenced" nothing

check "stop node 2" cl_stop 2

# The gc above with --grace 0 also trims node 1's copies beyond the factor
# (the writer keeps what it owns): node 1 holds nG1 <= nG of gone.bin's chunks.
held() {
	rm "${CL_M[1]}/gone.bin" &&
	nG1=$(cl_get 1 orphan_chunks) && note "node 1 holds $nG1 of gone.bin's $nG chunks" &&
	[ "$nG1" -ge 1 ] && [ "$nG1" -le "$nG" ] &&
	gc_on 1 --apply --grace 0 &&
	expect_eq "$(gcj freed_chunks)" 0 "freed_chunks" &&
	expect_eq "$(gcj held_peers_chunks)" "$nG1" "held_peers_chunks" &&
	"$PY" - "$WORK/.cmd.out" "$(cl_endpoint 2)" "$nG1" <<'PYEOF' &&
import json, sys
d = json.load(open(sys.argv[1]))
peers = d["peers"]
want = [p for p in peers if p["endpoint"].endswith(sys.argv[2])]
if len(want) != 1 or want[0]["state"] != "behind" or want[0]["held_chunks"] != int(sys.argv[3]):
    sys.exit("node 2 not named as holding gc back: %r" % peers)
PYEOF
	expect_status 0 admin gc --apply --grace 0 "${CL_M[1]}" &&
	grep -q "^peer .*$(cl_endpoint 2).*has not reached this node's state, holds back $nG1 chunks" \
		"$WORK/.cmd.out" &&
	expect_eq "$(cl_get 1 orphan_chunks)" "$nG1" "node 1 orphan_chunks after gc"
}
check "node 2 down, node 1 deletes gone.bin: gc --apply --grace 0 frees nothing, names node 2" held

check "restart node 2; peers up" eval 'cl_restart 2 && cl_wait_formed && cl_wait_converged'

# Node 2 pulls every heartbeat: soon a pull carries the deletion.
due() { gc_on 1 --grace 0 && [ "$(gcj free_chunks)" = "$nG1" ]; }
freed1() {
	wait_for "$CL_TRIES" due || { echo "node 1 still holds back: $(cat "$WORK/.cmd.out")" >&2; return 1; }
	gc_on 1 --apply --grace 0 &&
	expect_eq "$(gcj freed_chunks)" "$nG1" "node 1 freed_chunks" &&
	expect_eq "$(gcj held_peers_chunks)" 0 "node 1 held_peers_chunks" &&
	expect_eq "$(cl_get 1 orphan_chunks)" 0 "node 1 orphan_chunks after gc"
}
check "node 2 has synced: gc on node 1 frees gone.bin's chunks" freed1

# Node 2's gc marks each chunk with node 2's vector when it first sees it
# unreferenced; node 1 must pull once more after that (within a heartbeat,
# longer on a loaded machine) before node 2 may free it.
due2() { gc_on 2 --grace 0 && [ "$(gcj free_chunks)" = "$1" ]; }
freed2() {
	local orphans
	orphans=$(cl_get 2 orphan_chunks) &&
	{ wait_for "$CL_TRIES" due2 "$orphans" ||
		{ echo "node 2 still holds back: $(cat "$WORK/.cmd.out")" >&2; return 1; }; } &&
	gc_on 2 --apply --grace 0 &&
	note "node 2: $orphans unreferenced chunks in its store; gc freed $(gcj freed_chunks) and $(gcj cache_freed_chunks) disk cache files" &&
	expect_eq "$(gcj freed_chunks)" "$orphans" "node 2 freed_chunks" &&
	expect_eq "$(gcj held_peers_chunks)" 0 "node 2 held_peers_chunks" &&
	expect_eq "$(gcj cache_unreferenced)" "$(gcj cache_freed_chunks)" "node 2 disk cache files freed" &&
	expect_eq "$(cl_get 2 orphan_chunks)" 0 "node 2 orphan_chunks after gc"
}
check "gc on node 2 frees its copies of gone.bin's chunks and its disk cache files" freed2

reads() {
	local i
	for i in 1 2; do
		expect_sha "${CL_M[$i]}/keep.bin" "$sumK" || return 1
		[ ! -e "${CL_M[$i]}/gone.bin" ] || { echo "gone.bin still on node $i" >&2; return 1; }
	done
	# Node 2 holds only the chunks it owns (fsck would call the others missing).
	expect_status 0 admin fsck "${CL_M[1]}"
}
check "keep.bin reads right on both nodes; fsck of node 1 (the writer) clean" reads
check "remount both; keep.bin still reads right; fsck clean" \
	eval 'cl_stop 1 && cl_stop 2 && cl_restart 1 && cl_restart 2 && cl_wait_formed && reads'

cl_done
