#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A corrupt local copy is never served: it is dropped and fetched from a
# peer.  Three nodes, a directory with user.modelfs.repl=3 so that every node
# holds every chunk; 24 MiB are written on node 1 and replicated.  Node 2 is
# stopped, 64 bytes in the middle of its largest RocksDB blob file are
# overwritten, node 2 is started again: every node, node 2 included, reads
# the right bytes; node 2 logs the corruption, fetches the chunk from a peer
# and, once its backlog is 0, its store checks clean.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
cl_init 3

S=$WORK/src
sum=
CORRUPT_RE='checksum|corrupt|mismatch|verif|quarantin'
mfs_log_allow "${CL_D[2]}" "$CORRUPT_RE"
check "start 3 nodes" cl_start_all || mfs_abort "no cluster"

store() {
	mkdir "${CL_M[1]}/r3" && setfattr -n user.modelfs.repl -v 3 "${CL_M[1]}/r3" &&
	randfile "$S/big" $((24 * MiB)) && sum=$(file_sha "$S/big") &&
	cp "$S/big" "${CL_M[1]}/r3/big" && echo "small file" >"${CL_M[1]}/r3/small" &&
	cl_wait_converged meta && cl_wait_backlog0
}
check "node 1 writes 24 MiB with repl 3; replicated to every node" store || mfs_abort "no data"

check "stop node 2" cl_stop 2

check "corrupt the middle of node 2's largest blob file" corrupt_largest_blob "${CL_D[2]}" ||
	mfs_abort "cannot corrupt"

fetched=
restart2() {
	cl_restart 2 && cl_wait_formed && fetched=$(cl_get 2 fetched_chunks)
}
check "start node 2 again" restart2 || mfs_abort "node 2 does not start"

check "node 2 (the corrupt copy) reads the right bytes" expect_sha "${CL_M[2]}/r3/big" "$sum"
logged() { grep -E '^[^ ]+ [A-Z]+ ' "${CL_D[2]}/modelfs.log" | grep -qiE "$CORRUPT_RE"; }
corruption_logged() {
	wait_for 100 logged && return 0
	echo "no line matching /$CORRUPT_RE/ in ${CL_D[2]}/modelfs.log" >&2
	tail -n 20 "${CL_D[2]}/modelfs.log" >&2
	return 1
}
check "node 2's log reports the corrupt chunk" corruption_logged
fetched_more() {
	local now
	now=$(cl_get 2 fetched_chunks) || return 1
	[ "$now" -gt "$fetched" ] || { echo "fetched_chunks of node 2: $fetched at start, $now now" >&2; return 1; }
}
check "node 2 fetched the chunk from a peer (fetched_chunks grew)" fetched_more
check "node 1 reads the right bytes" expect_sha "${CL_M[1]}/r3/big" "$sum"
check "node 3 reads the right bytes" expect_sha "${CL_M[3]}/r3/big" "$sum"
check "node 2 reads the small file" expect_eq "$(cat "${CL_M[2]}/r3/small")" "small file" "content of small"
check "node 2 reads the right bytes again" expect_sha "${CL_M[2]}/r3/big" "$sum"
check "repl_backlog is 0 on every node" cl_wait_backlog0
check "online fsck of node 2 after the repair: exit 0" expect_status 0 admin fsck "${CL_M[2]}"

cl_done
