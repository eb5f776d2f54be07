#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A replicating node's disk fills to the last byte and the node is killed
# there (t1410 has the disk fill to the store's margin, without a kill).
# Two nodes; node 2's store is on a 64 MiB tmpfs.  Node 1 writes 96 MiB
# under user.modelfs.repl=2; node 2 pulls until its replication pauses at
# the margin, then a file from outside takes the rest of the disk, node 2
# writes and reads on, and is killed with SIGKILL.  Restarted on the full
# disk it must start (it exited with status 32), read w.bin exact and
# refuse a mkdir with ENOSPC; once the outside file is gone and the disk
# grows, it must start, finish replicating, read every byte exact and be
# fsck clean.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 2

S=$WORK/src
sum=''
mfs_log_allow "${CL_D[2]}" "No space left on device|ENOSPC|[Ss]pace|db: write|append failed|flush|background|read-only|Read-only"
check "node 2's store on a 64 MiB tmpfs" mfs_tmpfs "${CL_D[2]}" 64m || mfs_abort "no tmpfs"
check "start 2 nodes" cl_start_all || mfs_abort "no cluster"

write_big() {
	mkdir "${CL_M[1]}/d" && setfattr -n user.modelfs.repl -v 2 "${CL_M[1]}/d" &&
	randfile "$S/w" $((96 * MiB)) && sum=$(file_sha "$S/w") &&
	cp "$S/w" "${CL_M[1]}/d/w.bin" && cl_wait_converged meta
}
mkdir -p "$S"
check "node 1 writes 96 MiB under factor 2" write_big || mfs_abort "no data"
paused() { [ "$(cl_get 2 repl_disk_full)" = 1 ]; }
check "node 2's replication pauses at the margin (repl_disk_full 1)" wait_for 1200 paused

fill() {
	dd if=/dev/zero of="${CL_D[2]}/outside.fill" bs=1M 2>/dev/null
	note "node 2: $(df -k "${CL_D[2]}" | tail -n 1)"
	[ "$(df --output=avail -k "${CL_D[2]}" | tail -n 1)" -lt 1024 ]
}
check "a file from outside takes the rest of node 2's disk" fill

# Node 2 goes on working on the full disk: every answer is an error or right.
work_full() {
	local res
	randfile "$S/x" $((4 * MiB)) &&
	res=$("$PY" "$HELPER" write-report "${CL_M[2]}/x.bin" "$S/x") || return 1
	note "4 MiB written on node 2 with its disk full: $res"
	mkdir "${CL_M[2]}/dir-on-full" 2>/dev/null
	touch "${CL_M[2]}/small-on-full" 2>/dev/null
	expect_sha "${CL_M[2]}/d/w.bin" "$sum"
}
check "node 2 reads w.bin exact on its full disk; writes end" work_full
check "node 2 is killed (SIGKILL)" cl_kill9 2

# Restarted on the full disk, node 2 mounts: w.bin reads exact (the chunks
# it lacks come from node 1 into memory: its disk cache cannot write), a
# mkdir fails with ENOSPC and status says FULL.
restart_full() {
	timeout 120 "$MOUNT_BIN" "${CL_M[2]}" -o "data=${CL_D[2]},$(cl_opts 2)" >>"$WORK/mount.out" 2>&1 ||
		{ echo "restart on the full disk: exit status $?; $(tail -n 2 "$WORK/mount.out")" >&2
		  return 1; }
	note "node 2: $(df -k "${CL_D[2]}" | tail -n 1)"
	wait_until is_mounted "${CL_M[2]}" && mfs_adopt "${CL_M[2]}" "${CL_D[2]}" &&
		expect_sha "${CL_M[2]}/d/w.bin" "$sum" &&
		expect_errno ENOSPC mkdir "${CL_M[2]}/dir-after-restart" &&
		expect_eq "$(admin status --json "${CL_M[2]}" | json_get store_disk_full)" 1 \
			"store_disk_full on node 2" &&
		mfs_umount "${CL_M[2]}"
}
check "node 2 restarted on the full disk: it mounts, reads w.bin exact, refuses a mkdir" restart_full

room() {
	rm -f "${CL_D[2]}/outside.fill" && mount -o remount,size=512m "${CL_D[2]}" &&
	cl_restart 2 && cl_wait_formed
}
check "the outside file goes, the disk grows; node 2 restarted" room || mfs_abort "node 2 does not come back"
check "node 2's replication completes (repl_backlog 0)" cl_wait_backlog0
check "the trees converge" cl_wait_converged
check "w.bin reads exact on node 2" expect_sha "${CL_M[2]}/d/w.bin" "$sum"
for i in 1 2; do
	check "fsck on node $i is clean" expect_status 0 "$ADMIN_BIN" fsck "${CL_M[$i]}"
done
cl_done
