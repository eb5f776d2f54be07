#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A node whose wall clock is stepped back.  Three nodes, grace_s=1; node 2
# runs with tests/tools/clockshift.so preloaded, which adds a shift the
# test sets to what CLOCK_REALTIME reads in that process.  Node 1 writes
# 16 MiB at factor 2.  Node 2's clock runs an hour fast for a moment, then
# is stepped back to the right time, as chrony's makestep or a VM's resume
# do.  Then node 3 is killed: past the grace, nodes 1 and 2 own every chunk
# and node 2 must pull those it lacks, which its periodic scan finds
# (nothing else tells it); fsck on node 1 becomes clean and the file reads
# exact on node 2; a file written after the step replicates as well.
# Before, the replication thread napped until a deadline on the wall clock:
# a nap begun before the step lasted the hour the clock went back, and what
# needs no kick (the periodic scan, the retry of a failed fetch) waited as
# long.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
SHIM=$MFS_BUILD/tests/tools/clockshift.so
[ -f "$SHIM" ] || skip_all "no $SHIM (make check builds it)"
CL_OPTS=grace_s=1
# The periodic scan every 2 s, not 30 s (test only): a nap the step
# stretched would still hold it for the hour.
export MODELFS_TEST_SCAN_MS=2000
cl_init 3

S=$WORK/src
SHIFT=$WORK/clock.shift
set_shift() { "$PY" -c 'import struct, sys
with open(sys.argv[1], "r+b") as f:
    f.write(struct.pack("<q", int(sys.argv[2])))' "$SHIFT" "$1"; }
shifted_reads() { "$PY" -c 'import struct, sys
with open(sys.argv[1], "rb") as f:
    print(struct.unpack("<qq", f.read(16))[1])' "$SHIFT"; }
head -c 16 /dev/zero >"$SHIFT"

start_nodes() {
	cl_start 1 && cl_start 3 &&
	CLOCK_SHIFT_FILE=$SHIFT LD_PRELOAD=$SHIM \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" cl_start 2 &&
	cl_wait_formed
}
check "start 3 nodes, node 2 with its wall clock shifted by the test" start_nodes || mfs_abort "no cluster"

sum1='' sum2=''
write_1() {
	mkdir "${CL_M[1]}/d" && setfattr -n user.modelfs.repl -v 2 "${CL_M[1]}/d" && randfile "$S/a" $((16 * MiB)) && sum1=$(file_sha "$S/a") &&
	cp "$S/a" "${CL_M[1]}/d/a.bin" && cl_wait_converged meta && cl_wait_backlog0
}
check "node 1 writes 16 MiB at factor 2; replicated" write_1 || mfs_abort "no data"

n0=
more_shifted_reads() { [ "$(shifted_reads)" -gt "$n0" ]; }
step_back() {
	n0=$(shifted_reads) && set_shift 3600 || return 1
	# Node 2 is an hour fast for a while: its replication thread, idle,
	# naps half a second at a time, so a nap begins meanwhile.  (How long
	# is not a threshold: under load the nap may begin later, and the test
	# then passes without having stepped a nap.)  A build that reads the
	# wall clock for its naps shows it in the count; one that does not
	# reads it for nothing else while idle.
	wait_for 30 more_shifted_reads
	set_shift 0
	note "node 2 read its wall clock $(($(shifted_reads) - n0)) times while an hour fast"
}
check "node 2's clock runs an hour fast, then is stepped back" step_back

fsck_clean() { "$ADMIN_BIN" fsck "${CL_M[1]}" >"$WORK/fsck.out" 2>&1; }
kill_3() {
	cl_kill9 3 || return 1
	wait_for "$CL_TRIES" fsck_clean && return 0
	echo "fsck on node 1 still not clean after $CL_TRIES polls:" >&2
	tail -n 5 "$WORK/fsck.out" >&2
	_cl_report repl_backlog 1 2
	return 1
}
check "node 3 killed: past the grace node 2 pulls what it lacks; fsck on node 1 becomes clean" kill_3
check "a.bin reads exact on node 2" expect_sha "${CL_M[2]}/d/a.bin" "$sum1"
after_step() {
	randfile "$S/b" $((8 * MiB)) && sum2=$(file_sha "$S/b") &&
	cp "$S/b" "${CL_M[1]}/d/b.bin" && cl_wait_converged meta && cl_wait_backlog0 &&
	expect_sha "${CL_M[2]}/d/b.bin" "$sum2" && fsck_clean
}
check "a file written after the step replicates to node 2; fsck clean" after_step

cl_done
