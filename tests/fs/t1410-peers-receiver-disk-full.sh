#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A replicating node's disk fills, then gets space back.  Two nodes; node
# 2's store is on a 64 MiB tmpfs.  Node 1 writes 96 MiB in a directory with
# user.modelfs.repl=2, so node 2 owns every chunk and pulls them until its
# disk is down to the 32 MiB margin the store keeps free (MFS_SPACE_MARGIN):
# there replication pauses (status repl_disk_full 1), and the store itself
# never runs out (no RocksDB or pack write fails: before replication kept
# the margin, the disk filled to 0, every flush failed, and once the paused
# pulls had backed off for minutes; t1410 timed out so).  Meanwhile node 2
# stays up: it answers status, reads the file exact (what it lacks comes
# from node 1) and reports ENOSPC, not wrong bytes, for a file written on
# it that does not fit.  The tmpfs then grows to 512 MiB: node 2's
# replication goes on by itself (repl_backlog 0, every chunk held), a new
# file written on node 2 reads exact on node 1, fsck is clean, and after a
# restart node 2 still reads everything exact.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 2

S=$WORK/src
sum='' sum2=''
# The file written on node 2 that does not fit (its disk is never full:
# no log line is cut short there, no pack append fails).
mfs_log_allow "${CL_D[2]}" "No space left on device|ENOSPC|[Ss]pace"
check "node 2's store on a 64 MiB tmpfs" mfs_tmpfs "${CL_D[2]}" 64m || mfs_abort "no tmpfs"
check "start 2 nodes" cl_start_all || mfs_abort "no cluster"

write_big() {
	mkdir "${CL_M[1]}/d" && setfattr -n user.modelfs.repl -v 2 "${CL_M[1]}/d" &&
	randfile "$S/w" $((96 * MiB)) && sum=$(file_sha "$S/w") &&
	cp "$S/w" "${CL_M[1]}/d/w.bin" && cl_wait_converged meta
}
check "node 1 writes 96 MiB under factor 2" write_big || mfs_abort "no data"

paused() { [ "$(cl_get 2 repl_disk_full)" = 1 ]; }
check "node 2's replication pauses at the margin (repl_disk_full 1)" wait_for 1200 paused
note "node 2: $(df -k "${CL_D[2]}" | tail -n 1)"
# The margin is 32 MiB; what was in flight as it paused (a few records per
# worker and the keeper's batch) may take some of it.
kept_free() { [ "$(df --output=avail -k "${CL_D[2]}" | tail -n 1)" -ge $((16 * 1024)) ]; }
check "node 2's disk keeps at least 16 MiB free" kept_free
backlog_2() { local b; b=$(cl_get 2 repl_backlog) && note "node 2: repl_backlog $b" && [ "$b" -gt 0 ]; }
check "node 2 answers status; its backlog is not 0" backlog_2
says_paused() { "$ADMIN_BIN" status "${CL_M[2]}" | grep "^replication .*PAUSED: the store's disk is at"; }
check "modelfs-admin status on node 2 says replication is paused" says_paused
check "node 2 reads w.bin exact while its disk is full" expect_sha "${CL_M[2]}/d/w.bin" "$sum"

write_on_full() {
	local res
	randfile "$S/x" $((16 * MiB)) &&
	res=$("$PY" "$HELPER" write-report "${CL_M[2]}/x.bin" "$S/x") || return 1
	note "16 MiB written on node 2 with its disk full: $res"
	case $res in
	OK) expect_sha "${CL_M[2]}/x.bin" "$(file_sha "$S/x")" ;;
	"write@"*" ENOSPC" | "close ENOSPC" | "open ENOSPC") rm -f "${CL_M[2]}/x.bin" ;;
	*) echo "want ENOSPC or OK, got $res" >&2; return 1 ;;
	esac
}
check "a write on node 2 fails with ENOSPC, or is stored whole" write_on_full

store_errors() {
	local n
	n=$(grep -cE 'db: write|append failed' "${CL_D[2]}/modelfs.log")
	expect_eq "$n" 0 "store write errors in node 2's log"
}
check "node 2's store never ran out of space (no write of it failed)" store_errors
check "node 2's tmpfs grows to 512 MiB" mount -o remount,size=512m "${CL_D[2]}"
check "node 2's replication completes (repl_backlog 0)" cl_wait_backlog0
goes_on() { grep -q "replication goes on" "${CL_D[2]}/modelfs.log" && [ "$(cl_get 2 repl_disk_full)" = 0 ]; }
check "node 2 logged that replication went on; repl_disk_full 0" goes_on
check "fsck on node 1 is clean (every chunk on both nodes)" expect_status 0 "$ADMIN_BIN" fsck "${CL_M[1]}"
write_after() {
	randfile "$S/y" $((8 * MiB)) && sum2=$(file_sha "$S/y") &&
	cp "$S/y" "${CL_M[2]}/y.bin" && cl_wait_converged meta && cl_wait_sha 1 y.bin "$sum2"
}
check "node 2 writes 8 MiB; node 1 reads it exact" write_after
restart_2() {
	cl_stop 2 && cl_restart 2 && cl_wait_formed &&
	expect_sha "${CL_M[2]}/d/w.bin" "$sum" && expect_sha "${CL_M[2]}/y.bin" "$sum2"
}
check "node 2 restarted: w.bin and y.bin read exact there" restart_2
check "fsck on node 2 is clean" expect_status 0 "$ADMIN_BIN" fsck "${CL_M[2]}"

cl_done
