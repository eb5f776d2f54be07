#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A disk cache that cannot be written does not fail a read.  Node 2's
# DATA/cache/ is a 2 MiB tmpfs, so after a record or two every disk cache
# write fails with ENOSPC (the store itself has room).  Node 1 writes
# 32 MiB (factor 1: node 2 owns about half the chunks); node 2 reads it at
# once: exact bytes, its disk cache holds no more than fits (store + cache
# hold fewer chunks than the file has), no temporary file is left behind,
# and its replication is done (repl_backlog 0).  The chunks it could
# not cache are fetched again on the next read, which is exact too.  No
# ERROR line is logged: a cache copy that cannot be written costs a
# refetch, nothing more.  (Node 2's chunk cache is smaller than the file,
# so the second read does not find it all in memory.)
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 2

S=$WORK/src
size=$((32 * MiB))
sum=
check "node 2's disk cache on a 2 MiB tmpfs" mfs_tmpfs "${CL_D[2]}/cache" 2m ||
	mfs_abort "no tmpfs"
# Node 2's chunk cache (16 MiB) is smaller than the file: a second read
# asks the disk cache (or a peer) again.
check "start 2 nodes" eval 'cl_start 1 && cl_start 2 cache_mb=16 && cl_wait_formed' ||
	mfs_abort "no cluster"
mkdata() { randfile "$S/f" "$size" && sum=$(file_sha "$S/f"); }
check "random bytes" mkdata ||
	mfs_abort "no data"

seen_2() { [ "$(stat -c %s "${CL_M[2]}/f.bin" 2>/dev/null)" = "$size" ]; }
write_read() {
	cp "$S/f" "${CL_M[1]}/f.bin" && wait_for "$CL_TRIES" seen_2 &&
		dd if="${CL_M[2]}/f.bin" of="$WORK/r" bs=16M status=none &&
		expect_eq "$(file_sha "$WORK/r")" "$sum" "SHA-256 of the file read on node 2"
}
check "node 1 writes 32 MiB, node 2 reads it at once: exact bytes" write_read ||
	mfs_abort "no read"
check "node 2's replication is done (repl_backlog 0)" cl_wait_backlog0 2

full_cache() {
	local d=${CL_D[2]}/cache n bytes c held left
	n=$(cl_get 2 disk_cache_chunks) && bytes=$(cl_get 2 disk_cache_bytes) &&
		c=$(cl_get 2 chunks) && held=$(cl_get 1 chunks) || return 1
	left=$(find "$d" -name '*.tmp*' | wc -l)
	note "node 2: $n chunks ($bytes bytes) in its disk cache, $c in its store;" \
		"node 1 holds $held; $left temporary files"
	[ "$bytes" -le $((2 * MiB)) ] || { echo "$bytes bytes cached on a 2 MiB disk" >&2; return 1; }
	[ "$c" -gt 0 ] || { echo "nothing in node 2's store" >&2; return 1; }
	# Some chunks could not be cached (the writes did fail).
	[ $((c + n)) -lt "$held" ] ||
		{ echo "node 2 holds $c + $n of $held chunks: no cache write failed" >&2; return 1; }
	expect_eq "$left" 0 "temporary files left in node 2's disk cache"
}
check "node 2's disk cache holds what fits, no temporary file left" full_cache

read_again() {
	local f0 n f1
	f0=$(cl_get 2 fetched_chunks) && n=$(cl_get 2 disk_cache_chunks) || return 1
	echo 3 >/proc/sys/vm/drop_caches
	expect_sha "${CL_M[2]}/f.bin" "$sum" || return 1
	f1=$(cl_get 2 fetched_chunks) || return 1
	note "node 2's second read fetched $((f1 - f0)) chunks ($n were cached)"
	[ "$f1" -gt "$f0" ] || { echo "the second read fetched nothing: every chunk was cached?" >&2; return 1; }
}
check "node 2 reads it again, exactly: what it could not cache is fetched again" read_again

cl_done
