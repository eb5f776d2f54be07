#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# modelfs-admin evict and info across two nodes, replication factor 1.
# Node 1 writes 24 MiB; node 2 owns about half of the chunks (it pulls
# them into its store) and reading the file there fetches the rest into
# its disk cache: info on node 2 shows a cached share above 0.  evict on
# node 2 drops exactly those (info: 0 % cached, the stored share as
# before; status: disk cache empty), and reading again fetches them again
# and gives the same bytes.  evict on node 1, which wrote the file and
# keeps every chunk in its store, drops none of them; the file still reads
# on both nodes.  status --prometheus on node 2 shows node 1 up, the fetch
# latency histogram, and only keys of the status vocabulary.  Node 2's
# disk cache files were written past the page cache (O_DIRECT).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 2

S=$WORK/src
F=models/w.bin
sum=
check "start 2 nodes" cl_start_all || mfs_abort "no cluster"

write_1() {
	mkdir "${CL_M[1]}/models" &&
	randfile "$S/w" $((24 * MiB)) && sum=$(file_sha "$S/w") &&
	cp "$S/w" "${CL_M[1]}/$F" &&
	expect_sha "${CL_M[1]}/$F" "$sum"
}
check "node 1: write 24 MiB" write_1 || mfs_abort "no data"
check "node 2 knows the file" cl_wait_converged meta
check "repl_backlog is 0 on both nodes" cl_wait_backlog0

# info_of I KEY: one value of the file's info on node I.
info_of() { getfattr --absolute-names --only-values -n "user.modelfs.$2" "${CL_M[$1]}/$F"; }

store2=
cached2=
read_2() {
	cl_wait_sha 2 "$F" "$sum" || return 1
	store2=$(info_of 2 local_store_chunks) && cached2=$(info_of 2 local_cache_chunks) || return 1
	note "node 2 holds $store2 chunks in its store, $cached2 in its disk cache, of $(info_of 2 distinct_chunks)"
	expect_eq "$(info_of 2 local_percent)" 100.0 "local_percent on node 2 after reading" || return 1
	if [ "$cached2" -le 0 ] || [ "$(info_of 2 local_cache_percent | tr -d .)" -le 0 ]; then
		echo "nothing in node 2's disk cache: $cached2 chunks, $(info_of 2 local_cache_percent) %" >&2
		return 1
	fi
}
check "node 2 reads the file: the chunks it does not own are in its disk cache" read_2 ||
	mfs_abort "no cached chunks"

# The disk cache's files go to disk by O_DIRECT but for each one's last
# partial block: they are not cached a second time as page cache pages
# (the mount's pages and the chunk cache hold the bytes).  The tail's
# folio may span a few blocks: at most a quarter of the bytes, where a
# buffered write leaves them all.
cache_uncached() {
	local d=${CL_D[2]}/cache files bytes pages
	files=$(find "$d" -type f | wc -l)
	bytes=$(find "$d" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
	pages=$(find "$d" -type f -exec fincore --noheadings --output PAGES {} + |
		awk '{ s += $1 } END { print s + 0 }')
	note "node 2's disk cache: $files files, $bytes bytes, $pages pages in the page cache"
	[ "$bytes" -gt 0 ] && [ $((pages * 4096)) -le $((bytes / 4)) ] ||
		{ echo "$pages page cache pages for $files cache files of $bytes bytes" >&2; return 1; }
}
if [ "$(stat -f -c %T "${CL_D[2]}")" = tmpfs ] || ! command -v fincore >/dev/null; then
	ok "# SKIP node 2's disk cache files: tmpfs or no fincore"
else
	check "node 2's disk cache files are not in the page cache" cache_uncached
fi

fetched=
evict_2() {
	local dc_before evicted
	dc_before=$(cl_get 2 disk_cache_bytes) || return 1
	expect_status 0 admin evict --json "${CL_M[2]}/models" || return 1
	evicted=$(json_get evicted_disk_bytes <"$WORK/.cmd.out")
	note "evict on node 2: $(cat "$WORK/.cmd.out")"
	expect_eq "$(json_get evicted_files <"$WORK/.cmd.out")" 1 "evicted_files" &&
	expect_eq "$(json_get evicted_disk_chunks <"$WORK/.cmd.out")" "$cached2" "evicted_disk_chunks" &&
	expect_eq "$(json_get kept_store_chunks <"$WORK/.cmd.out")" "$store2" "kept_store_chunks" &&
	expect_eq "$(info_of 2 local_cache_chunks)" 0 "local_cache_chunks after evict" &&
	expect_eq "$(info_of 2 local_cache_percent)" 0.0 "local_cache_percent after evict" &&
	expect_eq "$(info_of 2 local_store_chunks)" "$store2" "local_store_chunks after evict" &&
	expect_eq "$(cl_get 2 disk_cache_bytes)" $((dc_before - evicted)) "disk_cache_bytes after evict" &&
	expect_eq "$(cl_get 2 disk_cache_bytes)" 0 "disk_cache_bytes (the only file's chunks were cached)" &&
	fetched=$(cl_get 2 fetched_chunks)
}
check "node 2: evict drops the cached chunks, keeps the stored ones" evict_2

reread_2() {
	local after
	# No drop_caches: evict dropped the kernel's pages of the file itself.
	expect_sha "${CL_M[2]}/$F" "$sum" &&
	after=$(cl_get 2 fetched_chunks) || return 1
	note "the reread fetched $((after - fetched)) chunks"
	[ "$after" -ge $((fetched + cached2)) ] ||
		{ echo "fetched_chunks $fetched -> $after, want at least $cached2 more" >&2; return 1; }
	[ "$(info_of 2 local_cache_chunks)" = "$cached2" ] ||
		{ echo "local_cache_chunks $(info_of 2 local_cache_chunks), want $cached2" >&2; return 1; }
}
check "node 2: reading again fetches the evicted chunks again, same bytes" reread_2

evict_1() {
	local chunks nd
	chunks=$(cl_get 1 chunks) && nd=$(info_of 1 distinct_chunks) || return 1
	expect_eq "$(info_of 1 local_store_percent)" 100.0 "node 1 local_store_percent" &&
	expect_status 0 admin evict --json "${CL_M[1]}/$F" &&
	expect_eq "$(json_get evicted_disk_chunks <"$WORK/.cmd.out")" 0 "evicted_disk_chunks on node 1" &&
	expect_eq "$(json_get kept_store_chunks <"$WORK/.cmd.out")" "$nd" "kept_store_chunks on node 1" &&
	expect_eq "$(cl_get 1 chunks)" "$chunks" "chunks in node 1's store" &&
	expect_eq "$(info_of 1 local_store_percent)" 100.0 "node 1 local_store_percent after evict" &&
	expect_sha "${CL_M[1]}/$F" "$sum" &&
	expect_sha "${CL_M[2]}/$F" "$sum"
}
check "node 1 (the writer): evict frees none of its stored chunks; the file reads on both" evict_1

peer_metric() {
	local id1
	id1=$(cl_get 1 node_id) || return 1
	expect_status 0 admin status --prometheus "${CL_M[2]}" || return 1
	if ! grep -qxF "modelfs_peer_up{endpoint=\"tcp://$(cl_endpoint 1)\",node=\"$id1\"} 1" "$WORK/.cmd.out" ||
		! grep -qx '# TYPE modelfs_fetched_chunks_total counter' "$WORK/.cmd.out" ||
		! grep -qE '^modelfs_disk_cache_bytes [1-9][0-9]*$' "$WORK/.cmd.out" ||
		! grep -qE '^modelfs_fetch_latency_seconds_count [1-9][0-9]*$' "$WORK/.cmd.out" ||
		grep -q "Status key" "$WORK/.cmd.out"; then
		echo "status --prometheus on node 2:" >&2
		grep -E 'peer|disk_cache|fetch|Status key' "$WORK/.cmd.out" >&2
		return 1
	fi
}
check "node 2: status --prometheus has node 1 up, the peer counters, fetch latency" peer_metric

cl_done
