#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A file deleted before its owner pulled it leaves nothing to replicate.
# Two nodes in network namespaces, node 2's link slow (tc tbf), factor 2:
# node 1 writes 16 MiB, node 2 sees the name and queues the chunks it owns
# (all of them), which come slowly.  Node 1 is killed (SIGKILL) mid-pull,
# node 2 deletes the file, and node 1's copies go (chunk_tool drop-all,
# offline: what node 1's gc does once it has the deletion, with no race
# against node 2's pulls).  Node 1 restarts and pulls the deletion.  No
# file needs those chunks now and no node has them: the queues must empty
# (repl_backlog 0 on both nodes; owned work was kept for ever, found by
# t1357's chaos: the backlog stayed up and the node asked its peers for the
# chunks every 256 s), a new file replicates, fsck is clean.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
[ -x "$CHUNK_TOOL" ] || skip_all "no $CHUNK_TOOL (make check builds it)"
command -v tc >/dev/null || skip_all "no tc"
# The scan that finds what no file needs runs every 2 s, not 30 (the wait
# below would be as long, not the result different).
export MODELFS_TEST_SCAN_MS=2000
CL_OPTS=gc_interval_s=0
cl_init 2 netns
check "start 2 nodes in network namespaces" cl_start_all || mfs_abort "no cluster"

limit() {
	ip netns exec "${_cl_ns[2]}" tc qdisc replace dev "mn$$-2" root tbf rate 4mbit burst 32kb limit 48kb &&
		tc qdisc replace dev "${_cl_veth[2]}" root tbf rate 4mbit burst 32kb limit 48kb
}
unlimit() {
	ip netns exec "${_cl_ns[2]}" tc qdisc del dev "mn$$-2" root &&
		tc qdisc del dev "${_cl_veth[2]}" root
}
check "node 2's link limited to 4 mbit/s" limit || skip_all "tc tbf not available"

mkr() {
	mkdir "${CL_M[1]}/R" && setfattr -n user.modelfs.repl -v 2 "${CL_M[1]}/R" &&
		cl_wait_converged meta
}
check "R (factor 2) on both nodes" mkr || mfs_abort "no R"
randfile "$WORK/f16" $((16 << 20)) || mfs_abort "no source"
seen() { [ -e "${CL_M[2]}/R/f" ]; }
check "node 1 writes R/f (16 MiB); node 2 sees it" eval 'cp "$WORK/f16" "${CL_M[1]}/R/f" && wait_until seen'
pulling() { [ "$(cl_get 2 repl_backlog)" -gt 0 ] 2>/dev/null; }
check "node 2 has chunks of R/f to pull" wait_until pulling
check "node 1 killed mid-pull" cl_kill9 1
check "node 2 deletes R/f" rm "${CL_M[2]}/R/f"
check "node 1's copies dropped (what its gc does after the deletion)" \
	expect_status 0 "$CHUNK_TOOL" "${CL_D[1]}" drop-all
check "node 2's link back to full speed" unlimit
check "node 1 restarts" eval 'cl_restart 1 && cl_wait_formed'
gone1() { [ ! -e "${CL_M[1]}/R/f" ]; }
check "node 1 pulls the deletion" wait_until gone1
drained() { cl_backlog0 && cl_backlog0; }
drain() {
	wait_until drained && return 0
	_cl_report repl_backlog 1 2
	return 1
}
check "nothing left to replicate on either node" drain
logged() { grep -q 'no file needs it any more' "${CL_D[2]}/modelfs.log"; }
check "node 2 logs why it dropped them" logged
randfile "$WORK/g" $((4 << 20)) || mfs_abort "no source"
check "a new file replicates" eval 'cp "$WORK/g" "${CL_M[2]}/R/g" && cl_wait_converged && drain'
fsck_clean() { admin fsck --json "${CL_M[$1]}" >"$WORK/fsck$1.json" 2>&1; }
check "fsck clean on node 1" wait_for "$CL_TRIES" fsck_clean 1
cl_done
