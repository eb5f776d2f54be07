#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Fine-tune deltas across two nodes (doc/format.md "Delta records": delta
# records are local, a peer gets a chunk as a plain record).  Node 1 writes
# a real base and its fine-tune (tests/bench/make_finetune.py; skipped
# without python3 + torch; a synthetic base without the weights pool), the
# fine-tune stored as
# deltas against the base.  Node 2 reads the fine-tune exact, and what it
# holds of it is plain records (no delta).  Then node 1 loses a base chunk
# (dropped from its store while stopped): its read of the fine-tune still
# gives the exact bytes, the chunks it cannot rebuild fetched from node 2.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$CHUNK_TOOL" ] || skip_all "no $CHUNK_TOOL (make check builds it)"
"$PY" -c 'import torch' 2>/dev/null || skip_all "no torch for $PY"
cl_init 2

S=$WORK/src
mkdir -p "$S"
check "a real FP32 fine-tune pair" "$PY" "$MFS_SRC/tests/bench/make_finetune.py" \
	--pool "${MFS_WEIGHTS_DIR:-/var/tmp/modelfs-weights}/pool" --base "$S/base.st" --tune "$S/tune.st" --layers 8 ||
	mfs_abort "no pair"
sum=$(file_sha "$S/tune.st")
check "start 2 nodes" cl_start_all || mfs_abort "no cluster"

# finfo NODE FILE KEY: a key of the file's info on that node
finfo() {
	admin info --json "${CL_M[$1]}/$2" | "$PY" -c 'import json, sys
print(json.load(sys.stdin)[0][sys.argv[1]])' "$3"
}

write_pair() {
	cp "$S/base.st" "${CL_M[1]}/base.st" && touch "${CL_M[1]}/tune.st" &&
	setfattr -n user.modelfs.base -v /base.st "${CL_M[1]}/tune.st" &&
	cp "$S/tune.st" "${CL_M[1]}/tune.st" &&
	expect_sha "${CL_M[1]}/tune.st" "$sum" || return 1
	d=$(finfo 1 tune.st codec_chunks) || return 1
	note "node 1 codecs of tune.st: $d"
	case $d in *"'delta': 0"* | *'"delta": 0'*) echo "no delta chunk on node 1: $d" >&2; return 1 ;; esac
}
check "node 1: base, then the fine-tune named against it: deltas" write_pair || mfs_abort "no data"
check "node 2 sees both files" cl_wait_converged meta
check "replication backlog drains" cl_wait_backlog0

read_on_2() {
	local d
	cl_wait_sha 2 tune.st "$sum" || return 1
	d=$(finfo 2 tune.st codec_chunks) || return 1
	note "node 2 codecs of tune.st: $d"
	case $d in *"'delta': 0"* | *'"delta": 0'*) ;; *) echo "node 2 holds delta records: $d" >&2; return 1 ;; esac
	expect_eq "$(finfo 2 tune.st local_percent)" 100.0 "node 2 local_percent of tune.st"
}
check "node 2 reads the fine-tune exact, and holds it as plain records" read_on_2

lost_base() {
	local base
	cl_stop 1 &&
	base=$("$CHUNK_TOOL" "${CL_D[1]}" bases | head -n 1 | cut -d' ' -f2) && [ -n "$base" ] &&
	"$CHUNK_TOOL" "${CL_D[1]}" drop "$base" &&
	mfs_log_allow "${CL_D[1]}" "chunk [0-9a-f]+|base chunk|delta" &&
	cl_restart 1 &&
	expect_sha "${CL_M[1]}/tune.st" "$sum"
}
check "node 1 lost a base chunk: its read of the fine-tune is exact (fetched from node 2)" lost_base

cl_done
