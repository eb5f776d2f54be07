#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A storage-only peer (mount.modelfs --serve, no mountpoint) holds and serves
# chunks.  Nodes 1 and 2 are mounts, node 3 is a storage-only peer.  Node 1
# writes 32 MiB in a directory with user.modelfs.repl=2; once replicated,
# node 3 holds chunks and answers status through its data dir.  Node 1 is
# killed with SIGKILL: node 2 reads every byte, the chunks it does not own
# coming from the storage-only peer.  The storage-only peer survives a
# SIGKILL too (restarted with its chunks) and stops cleanly on SIGTERM.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 3

S=$WORK/src
sum=
start() {
	cl_serve 3 && cl_start 1 && cl_start 2 && cl_wait_formed
}
check "start a storage-only peer (node 3) and two mounts; all see each other" start || mfs_abort "no cluster"

serve_status() {
	expect_status 0 admin status --json --data "${CL_D[3]}" &&
	local listen
	listen=$(json_get listen <"$WORK/.cmd.out") &&
	expect_eq "${listen#tcp://}" "$(cl_endpoint 3)" "listen of node 3" &&
	expect_eq "$(json_get peers_up <"$WORK/.cmd.out")" 2 "peers_up of node 3"
}
check "status --json --data of the storage-only peer: its listen, 2 peers up" serve_status

write() {
	mkdir "${CL_M[1]}/r2" && setfattr -n user.modelfs.repl -v 2 "${CL_M[1]}/r2" &&
	randfile "$S/w" $((32 * MiB)) && sum=$(file_sha "$S/w") &&
	cp "$S/w" "${CL_M[1]}/r2/w.bin" &&
	cl_wait_converged meta && cl_wait_backlog0
}
check "node 1 writes 32 MiB with repl 2; repl_backlog 0 on all three" write || mfs_abort "no data"

served='' fetched=''
holds() {
	local n
	n=$(cl_get 3 chunks) && served=$(cl_get 3 served_chunks) && fetched=$(cl_get 3 fetched_chunks) || return 1
	note "node 3 holds $n chunks, fetched $fetched, served $served"
	[ "$n" -gt 0 ] || { echo "the storage-only peer holds no chunk" >&2; return 1; }
}
check "the storage-only peer holds chunks" holds

check "kill -9 node 1" cl_kill9 1
read_via_3() {
	local now
	expect_sha "${CL_M[2]}/r2/w.bin" "$sum" || return 1
	now=$(cl_get 3 served_chunks) || return 1
	note "node 3 served_chunks: $served before node 2's read, $now after"
	# Chunks owned by nodes 1 and 3 (not by 2) can only come from node 3.
	[ "$now" -gt "$served" ] || { echo "node 3 served nothing for node 2's read" >&2; return 1; }
}
check "node 1 dead: node 2 reads the right 32 MiB, served in part by the storage-only peer" read_via_3

check "restart node 1" eval 'cl_restart 1 && cl_wait_formed'
check "kill -9 the storage-only peer, restart it; all see each other" \
	eval 'cl_kill9 3 && cl_restart 3 && cl_wait_formed'
still_holds() {
	local n
	n=$(cl_get 3 chunks) || return 1
	[ "$n" -gt 0 ] || { echo "the storage-only peer holds no chunk after its restart" >&2; return 1; }
}
check "it still holds its chunks; repl_backlog 0 on all three" eval 'still_holds && cl_wait_backlog0'
late() {
	echo "written after the restarts" >"${CL_M[2]}/r2/late" &&
	cl_wait_converged &&
	expect_eq "$(cat "${CL_M[1]}/r2/late")" "written after the restarts" "late on node 1"
}
check "a file written on node 2 reaches node 1" late

cl_done
