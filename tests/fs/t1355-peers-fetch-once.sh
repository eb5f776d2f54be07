#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A cold read fetches each chunk once (issue 13 item 4, issue 10).  Nodes 1
# and 2 are up; node 1 writes a 128 MiB file of random bytes, and node 2
# reads it with dd bs=16M as soon as it sees it, while its replication pulls
# the half it owns.  Node 2's chunk cache (cache_mb=16) is smaller than its
# read-ahead (prefetch_chunks=64), so chunks leave the cache before they are
# read, and are asked for again while the first fetch's record still waits
# at the keeper to be written (to the disk cache, or to the store for the
# chunks node 2 owns), or is staged in the store by replication, which
# indexes its records a batch at a time, or indexed by then: after the
# cache's store lookup missed, while the chunk waited in the window's queue
# (that was taken for a bad local copy and fetched again: 1 run in 20-50
# under load).  That second load must use the record, not fetch the
# chunk again: once node 2's replication is done it has fetched exactly as
# many chunks as the file has (node 1 holds only this file's), and holds
# each of them in its store or its disk cache.  Then node 2 reads the file
# again: from its own copies, no fetch.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 2

S=$WORK/src
size=$((128 * MiB))
sum=
check "start nodes 1 and 2" \
	eval 'cl_start 1 && cl_start 2 cache_mb=16,prefetch_chunks=64 && cl_wait_formed' ||
	mfs_abort "no cluster"
check "random bytes" eval 'randfile "$S/f" "$size" && sum=$(file_sha "$S/f")' || mfs_abort "no data"

held=
write_read() {
	local pid rc=0
	cp "$S/f" "${CL_M[1]}/f.bin" &
	pid=$!
	wait_for "$CL_TRIES" eval '[ "$(stat -c %s "${CL_M[2]}/f.bin" 2>/dev/null)" = "$size" ]' &&
		dd if="${CL_M[2]}/f.bin" of="$WORK/r" bs=16M status=none &&
		expect_eq "$(file_sha "$WORK/r")" "$sum" "SHA-256 of the file read on node 2" || rc=1
	wait "$pid" || rc=1
	held=$(cl_get 1 chunks) || rc=1
	note "node 1 holds $held chunks"
	return "$rc"
}
check "node 1 writes 128 MiB, node 2 reads it at once: exact bytes" write_read ||
	mfs_abort "no read"
check "node 2's replication is done (repl_backlog 0)" cl_wait_backlog0 2

fetched_once() {
	local f c d u
	f=$(cl_get 2 fetched_chunks) && c=$(cl_get 2 chunks) && d=$(cl_get 2 disk_cache_chunks) ||
		return 1
	u=$(cl_get 2 fetch_reused_chunks) || u='?'
	note "node 2 fetched $f chunks, reused $u records not kept yet; holds $c in its store," \
		"$d in its disk cache; the file has $held"
	expect_eq "$f" "$held" "chunks node 2 fetched" &&
		expect_eq "$((c + d))" "$held" "chunks node 2 holds (store + disk cache)"
}
check "node 2 fetched each chunk once and kept each" fetched_once

read_again() {
	local f0
	f0=$(cl_get 2 fetched_chunks) || return 1
	echo 3 >/proc/sys/vm/drop_caches
	expect_sha "${CL_M[2]}/f.bin" "$sum" &&
		expect_eq "$(cl_get 2 fetched_chunks)" "$f0" "fetched_chunks after a second read"
}
check "node 2 reads it again from its own copies, exactly" read_again

cl_done
