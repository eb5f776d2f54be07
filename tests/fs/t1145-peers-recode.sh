#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Raw chunks a peer sends are compressed on the node that keeps them
# (doc/format.md, "Recode queue"; chunkstore.h, mfs_chunk_stage_index_received).
# Node 1 stores its chunks raw with the codec deferred and no pass of its
# own (recode=2); node 2 (the default, recode=0) replicates a directory with
# factor 2: what it receives raw goes on its queue, and its background pass
# compresses it there.  Node 2's copy then reads exact, holds no raw chunk,
# and fsck is clean on both nodes; node 1's own queue is untouched.
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

check "node 1 (recode=2: raw, queued, no pass)" cl_start 1 recode=2 || mfs_abort "no node 1"
check "node 2 (defaults)" cl_start 2 || mfs_abort "no node 2"
check "the nodes see each other" cl_wait_formed || mfs_abort "no cluster"

st() { admin status --json "${CL_M[$1]}" | json_get "$2" 2>/dev/null; }

write_raw() {
	local q
	mkdir "${CL_M[1]}/r2" && setfattr -n user.modelfs.repl -v 2 "${CL_M[1]}/r2" &&
	cp "$S/f" "${CL_M[1]}/r2/f" || return 1
	q=$(st 1 recode_queue)
	note "node 1: recode_queue $q, raw chunks $(st 1 codec_chunks.raw)"
	[ "$q" -gt 10 ] || { echo "only $q chunks queued on node 1" >&2; return 1; }
}
check "node 1 writes 24 MiB with factor 2, stored raw and queued" write_raw || mfs_abort "no data"
check "replication backlog drains" cl_wait_backlog0

compressed_on_2() {
	local raw n
	mfs_recode_wait "${CL_M[2]}" || return 1
	raw=$(st 2 codec_chunks.raw) n=$(st 2 recoded_chunks)
	note "node 2: recoded_chunks $n, raw chunks $raw, stored $(st 2 stored_bytes)"
	[ "$n" -gt 10 ] || { echo "node 2 recoded only $n chunks" >&2; return 1; }
	[ "${raw:-0}" = 0 ] || { echo "node 2 still holds $raw raw chunks" >&2; return 1; }
}
check "node 2 queued what it received raw, and its pass compressed it" compressed_on_2

read_on_2() {
	cl_wait_sha 2 r2/f "$sum" || return 1
	expect_eq "$(mfs_finfo "${CL_M[2]}/r2/f" local_percent)" 100.0 "node 2 local_percent of r2/f"
}
check "node 2 reads the file exact from its own compressed copy" read_on_2
check "node 1's own queue is left to it (recode=2)" eval '[ "$(st 1 recode_queue)" -gt 10 ]'

fsck_both() {
	local i
	for i in 1 2; do
		admin fsck "${CL_M[$i]}" >"$WORK/fsck$i.out" ||
			{ cat "$WORK/fsck$i.out" >&2; return 1; }
	done
}
check "fsck is clean on both nodes" fsck_both

cl_done
