#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A writer that deferred its codec (option recode=1) encodes a
# queued raw chunk when a peer asks for it, before it serves it
# (replica/server.c, recode_first): the peer stores the encoded record and
# has nothing to encode again.  Node 2 writes with recode=1 and no
# background pass of its own (MODELFS_TEST_RECODE_NO_PASS), so the only
# encodes are the ones the pulls cause; node 1 (recode=2: whatever it
# receives raw stays queued, no pass) replicates the directory with factor
# 2.  After the backlog drains, node 1 holds no raw chunk and queued none,
# node 2's queue is empty and it counts the chunks it recoded for node 1.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
cl_init 2

S=$WORK/src
mkdir -p "$S"
# Compressible bytes that never repeat (base64 of random): every chunk
# compresses by a quarter, none dedups.
check "a 24 MiB source" eval 'head -c $((18 * MiB)) /dev/urandom | base64 -w 0 >"$S/f"' ||
	mfs_abort "no source"
sum=$(file_sha "$S/f")

check "node 1 (recode=2: what it receives raw stays queued)" cl_start 1 recode=2 ||
	mfs_abort "no node 1"
export MODELFS_TEST_RECODE_NO_PASS=1
check "node 2 (recode=1, no background pass)" cl_start 2 recode=1 || mfs_abort "no node 2"
unset MODELFS_TEST_RECODE_NO_PASS
check "the nodes see each other" cl_wait_formed || mfs_abort "no cluster"

st() { admin status --json "${CL_M[$1]}" | json_get "$2" 2>/dev/null; }

# Node 1 pulls as soon as the file is published, and each chunk it pulls
# leaves node 2's queue encoded (ci1 of s36 read 3 left): what was queued
# is what is still queued plus what was recoded for node 1 by then.
write_deferred() {
	local q n
	mkdir "${CL_M[2]}/r2" && setfattr -n user.modelfs.repl -v 2 "${CL_M[2]}/r2" &&
	cp "$S/f" "${CL_M[2]}/r2/f" || return 1
	q=$(st 2 recode_queue) n=$(st 2 recoded_served_chunks)
	note "node 2: recode_queue $q, recoded_served_chunks $n after the write"
	[ $((q + n)) -gt 10 ] || { echo "only $((q + n)) chunks queued on node 2" >&2; return 1; }
}
check "node 2 writes 24 MiB with factor 2, stored raw and queued" write_deferred ||
	mfs_abort "no data"
check "replication backlog drains" cl_wait_backlog0

q2_empty() { [ "$(st 2 recode_queue)" = 0 ]; }
served_encoded() {
	local q1 raw1 q2 n
	# repl_backlog can read 0 on both nodes while node 2 still answers node
	# 1's last GETs (2-11 entries left on node 2 in 5 of 6 runs, at once).
	wait_for 300 q2_empty
	q1=$(st 1 recode_queue) raw1=$(st 1 codec_chunks.raw)
	q2=$(st 2 recode_queue) n=$(st 2 recoded_served_chunks)
	note "node 1: recode_queue $q1, raw chunks ${raw1:-0}; node 2: recode_queue $q2, recoded_served_chunks $n"
	[ "$q1" = 0 ] || { echo "node 1 received $q1 raw chunks to encode" >&2; return 1; }
	[ "${raw1:-0}" = 0 ] || { echo "node 1 holds $raw1 raw chunks" >&2; return 1; }
	[ "$n" -gt 10 ] || { echo "node 2 recoded only $n chunks for node 1" >&2; return 1; }
	[ "$q2" = 0 ] || { echo "node 2 still has $q2 queued chunks" >&2; return 1; }
}
check "node 1 received encoded records; node 2 encoded them as they were pulled" served_encoded

read_on_1() {
	cl_wait_sha 1 r2/f "$sum" || return 1
	expect_eq "$(mfs_finfo "${CL_M[1]}/r2/f" local_percent)" 100.0 "node 1 local_percent of r2/f"
}
check "node 1 reads the file exact from its own copy" read_on_1
check "node 2 reads the file exact" cl_wait_sha 2 r2/f "$sum"

fsck_both() {
	local i
	for i in 1 2; do
		admin fsck "${CL_M[$i]}" >"$WORK/fsck$i.out" ||
			{ cat "$WORK/fsck$i.out" >&2; return 1; }
	done
}
check "fsck is clean on both nodes" fsck_both

cl_done
