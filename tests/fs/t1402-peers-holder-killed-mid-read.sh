#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A holder of the chunks being read dies mid-read while another holder
# lives (t1400 has the only holder die).  Three nodes; node 1 writes a
# 96 MiB file in a directory with user.modelfs.repl=2 and the nodes
# replicate it, so every chunk is on node 1 (the writer, gc off) and on
# its two owners: each chunk node 3 does not hold is on node 2 too.  A
# reader on node 3 reads the first 8 MiB, node 1 is killed (SIGKILL) or
# frozen (SIGSTOP), and the reader reads on: it must get every byte right
# (from node 2 or its own copies), never EIO, never wrong bytes, and never
# hang.  The daemons of nodes 2 and 3 live through it, and after node 1
# comes back the trees converge and fsck is clean.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
CL_OPTS=gc_interval_s=0
cl_init 3

S=$WORK/src
size=$((96 * MiB))
declare -A sums=()
mkdir -p "$S"
check "start 3 nodes" cl_start_all || mfs_abort "no cluster"
mkd() {
	mkdir "${CL_M[1]}/D" && setfattr -n user.modelfs.repl -v 2 "${CL_M[1]}/D" &&
	cl_wait_converged meta
}
check "make D (user.modelfs.repl=2) on node 1" mkd || mfs_abort "no D"

write_file() { # NAME
	randfile "$S/$1" "$size" && sums[$1]=$(file_sha "$S/$1") &&
	cp "$S/$1" "${CL_M[1]}/D/$1" &&
	cl_wait_converged meta && cl_wait_backlog0
}

# Another holder lives: the read ends with every byte right, not EIO.  A
# hang is caught far beyond any timeout of the fetch path.
read_exact() { # TAG NAME
	local out
	wait_for 1800 test -s "$WORK/$1.out" || { echo "the read on node 3 did not end in 180 s (hangs)" >&2; return 1; }
	out=$(cat "$WORK/$1.out")
	note "reader on node 3: $out"
	[ "$out" = "ok $size ${sums[$2]}" ] && return 0
	echo "reader on node 3: $out (want ok $size ${sums[$2]})" >&2
	return 1
}


# ---- SIGKILL ----------------------------------------------------------------
check "node 1 writes a.bin (96 MiB, factor 2); replicated" write_file a.bin || mfs_abort "no data"
kill_mid_read() {
	cl_start_reader "${CL_M[3]}/D/a.bin" kill &&
	wait_for 1200 test -e "$WORK/kill.ready" &&
	cl_kill9 1 &&
	touch "$WORK/kill.go"
}
check "node 3 reads 8 MiB of a.bin; node 1 killed (SIGKILL)" kill_mid_read
check "node 3's read ends with the exact bytes" read_exact kill a.bin
check "the daemons of nodes 2 and 3 live" cl_daemons_alive 2 3
check "node 1 restarted; the cluster forms" eval 'cl_restart 1 && cl_wait_formed'

# ---- SIGSTOP ----------------------------------------------------------------
check "node 1 writes b.bin (96 MiB, factor 2); replicated" write_file b.bin || mfs_abort "no data"
pid1=
freeze_mid_read() {
	cl_start_reader "${CL_M[3]}/D/b.bin" stop &&
	wait_for 1200 test -e "$WORK/stop.ready" &&
	pid1=$(mfs_daemon_pid "${CL_M[1]}") && kill -STOP "$pid1" &&
	touch "$WORK/stop.go"
}
check "node 3 reads 8 MiB of b.bin; node 1 frozen (SIGSTOP)" freeze_mid_read
check "node 3's read ends with the exact bytes" read_exact stop b.bin
check "the daemons of nodes 2 and 3 live" cl_daemons_alive 2 3
thaw() { kill -CONT "$pid1" && cl_wait_formed; }
check "node 1 thawed (SIGCONT); the cluster forms" thaw

check "the trees converge" cl_wait_converged
check "repl_backlog is 0 on every node" cl_wait_backlog0
for i in 1 2 3; do
	check "fsck on node $i is clean" expect_status 0 "$ADMIN_BIN" fsck "${CL_M[$i]}"
done
mfs_log_allow "${CL_D[3]}" 'fetch|peer|chunk'
mfs_log_allow "${CL_D[2]}" 'fetch|peer|chunk'
cl_done
