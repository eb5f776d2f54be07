#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Sparse files between two nodes (manifest holes, doc/format.md): a hole
# is no chunk, so no node stores, fetches, repairs or warms one.
#  - node 1: truncate -s 1T, echo x >> it, and a 1 TiB file written by
#    Python with data at 4 offsets (tests/fs/sparse.py);
#  - node 2 sees both: its replication backlog drains (no chunk wanted for
#    a hole), the data, the zeros around it and in the holes read back
#    exact, SEEK_DATA / SEEK_HOLE find the data, st_blocks is small, warmup
#    reads the data only (and counts the holes done), fsck is healthy;
#  - node 2 rewrites the file at 300 GiB; node 1 reads the new version.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
cl_init 2

SPARSE_PY=$(dirname "$0")/sparse.py
sparse() { "$PY" "$SPARSE_PY" "$@"; }
TiB=$((1024 * 1024 * MiB))
# blocks_at_most FILE BYTES: st_blocks * 512 of FILE is at most BYTES.
blocks_at_most() {
	local b
	b=$(stat -c %b "$1") || return 1
	[ $((b * 512)) -le "$2" ] && return 0
	echo "$1: st_blocks $b ($((b * 512)) bytes), want at most $2 bytes" >&2
	return 1
}
check "start 2 nodes" cl_start_all || mfs_abort "no cluster"
M1=${CL_M[1]} M2=${CL_M[2]}

write_1() {
	truncate -s 1T "$M1/big" && echo x >>"$M1/big" &&
	sparse write "$M1/sp" && sparse verify "$M1/sp" >&2
}
check "node 1: truncate -s 1T, echo x >>, and a 1 TiB file with data at 4 offsets" write_1 ||
	mfs_abort "no files"

check "node 2 sees the files" cl_wait_converged meta 1 2
check "the replication backlog drains: no chunk is wanted for a hole" cl_wait_backlog0

read_2() {
	expect_eq "$(stat -c %s "$M2/big")" $((TiB + 2)) "size of big" &&
	expect_eq "$(tail -c 2 "$M2/big" | od -An -c | tr -d ' ')" 'x\n' "last bytes of big" &&
	expect_eq "$(dd if="$M2/big" bs=1M skip=$((300 * 1024)) count=1 status=none | tr -d '\0' | wc -c)" \
		0 "a MiB of big at 300 GiB" &&
	sparse verify "$M2/sp" >&2 &&
	blocks_at_most "$M2/big" $((4 * MiB)) &&
	blocks_at_most "$M2/sp" $((64 * MiB))
}
check "node 2: data, zeros, holes, SEEK_DATA/SEEK_HOLE and st_blocks" read_2

warm_2() {
	expect_status 0 admin warmup --json "$M2" || return 1
	expect_eq "$(json_get bytes <"$WORK/.cmd.out")" $((2 * TiB + 2)) "warmup bytes (holes count)" &&
	expect_eq "$(json_get files <"$WORK/.cmd.out")" 2 "warmup files"
}
check "node 2: warmup reads the data of 2 TiB of sparse files" warm_2
check "node 2: fsck is healthy" admin fsck "$M2"

holes_2() {
	local h
	h=$(cl_get 2 hole_bytes) || return 1
	[ "$h" -ge $((2 * TiB - 64 * MiB)) ] || { echo "hole_bytes on node 2: $h" >&2; return 1; }
}
check "node 2: status counts the holes" holes_2

check "node 2 rewrites the file at 300 GiB" sparse rewrite "$M2/sp"
check "node 1 reads the new version" wait_for "$CL_READ_TRIES" sparse verify "$M1/sp" --rewritten
check "node 1: fsck is healthy" admin fsck "$M1"

cl_done
