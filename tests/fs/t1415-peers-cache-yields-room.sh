#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The disk cache gives way to what a node owns.  Two nodes; node 2's store
# is on a 192 MiB tmpfs.  Node 1 writes 96 MiB at factor 1 and node 2 reads
# it: the chunks node 2 owns go to its store, the others to its disk cache
# (peers' chunks it does not own, up to disk_cache_mb, 10 GiB by default:
# more than the disk).  Node 1 then writes 64 MiB at factor 2: node 2 owns
# every chunk, and they fit only if the cache makes room.  Node 2's
# replication must complete on the same disk, its cache evicting its
# oldest files (replica/room.c), with no store write failing; fsck is clean
# and node 2 still reads both files exact.  (Before, replication stopped
# at the 32 MiB margin, its backlog never reached 0, while the cache held
# tens of MiB it could have freed.)
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 2

S=$WORK/src
sumc='' sumw=''
check "node 2's store on a 192 MiB tmpfs" mfs_tmpfs "${CL_D[2]}" 192m || mfs_abort "no tmpfs"
check "start 2 nodes" cl_start_all || mfs_abort "no cluster"

write_c() {
	randfile "$S/c" $((96 * MiB)) && sumc=$(file_sha "$S/c") &&
	cp "$S/c" "${CL_M[1]}/c.bin" && cl_wait_converged meta
}
check "node 1 writes 96 MiB at factor 1" write_c || mfs_abort "no data"
cached=0
read_c() {
	expect_sha "${CL_M[2]}/c.bin" "$sumc" && cl_wait_backlog0 2 &&
	cached=$(cl_get 2 disk_cache_bytes) &&
	note "node 2: disk_cache_bytes $cached; $(df -k "${CL_D[2]}" | tail -n 1)" &&
	[ "$cached" -ge $((16 * MiB)) ]
}
check "node 2 reads it; the chunks it does not own fill its disk cache" read_c

write_w() {
	mkdir "${CL_M[1]}/d" && setfattr -n user.modelfs.repl -v 2 "${CL_M[1]}/d" &&
	randfile "$S/w" $((64 * MiB)) && sumw=$(file_sha "$S/w") &&
	cp "$S/w" "${CL_M[1]}/d/w.bin" && cl_wait_converged meta
}
check "node 1 writes 64 MiB at factor 2 (node 2 owns every chunk)" write_w
made_room() {
	local now
	cl_wait_backlog0 2 || return 1
	now=$(cl_get 2 disk_cache_bytes)
	note "node 2: disk_cache_bytes $cached -> $now; $(df -k "${CL_D[2]}" | tail -n 1)"
	[ "$now" -lt "$cached" ]
}
check "node 2's replication completes on the same disk: its cache made room" made_room
check "fsck on node 1 is clean (w.bin on both nodes)" expect_status 0 "$ADMIN_BIN" fsck "${CL_M[1]}"
store_errors() {
	expect_eq "$(grep -cE 'db: write|append failed' "${CL_D[2]}/modelfs.log")" 0 \
		"store write errors in node 2's log"
}
check "no store write failed on node 2" store_errors
reads_2() { expect_sha "${CL_M[2]}/d/w.bin" "$sumw" && expect_sha "${CL_M[2]}/c.bin" "$sumc"; }
check "node 2 reads both files exact" reads_2

cl_done
