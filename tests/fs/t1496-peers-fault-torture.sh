#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Cluster fault torture: the nodes of a cluster (each daemon in its own
# network namespace) run random namespace and data ops (tests/tools/rops.py)
# at once over the same few names, as in t1495, while faults strike at
# random moments: a node's daemon is killed with SIGKILL (mid-commit,
# mid-transfer: wherever it is) and restarted while the others work on, or
# a node's link is cut for a while and then joined again.
#
# While a fault lasts, the killed node's ops end at its first ENOTCONN
# (its mount is gone for the rest of the round), and an op on any node may
# find bytes whose only holder is down (EIO, counted as unavailable: R has
# user.modelfs.repl=2, but a file just written is held by its writer alone
# until the other node pulls it).  Any other error than a race's ends the
# run.  After each round, with every node up and linked: no daemon died but
# the one killed, the trees converge (names, sizes, modes, xattrs, bytes:
# every file reads, no EIO) and nothing is left to replicate.  At the end,
# after gc, the trees agree in link counts too (files' and directories'),
# fsck is clean on every node,
# status counts what the tree shows,
# and no daemon logged an ERROR line (none is expected: a kill or a cut is
# logged as a peer down, a failed fetch as a warning).
#
# MFS_FAULT_NODES (2) nodes; MFS_ROPS_ROUNDS (6) rounds of MFS_ROPS_COUNT
# (1500) ops per node; MFS_ROPS_SEED fixes the seeds of the ops and of the
# faults (printed; the timing of the nodes aside).  MFS_FAULT_TERM=1 makes
# a third of the faults a SIGTERM (the daemon must exit within 60 s) and a
# restart.  MFS_FAULT_NLINK=files
# compares only files' link counts after gc (see agree_nlink).  `make
# check-torture-long` runs it longer.
# shellcheck source-path=SCRIPTDIR
MFS_TEST_TIMEOUT=${MFS_TEST_TIMEOUT:-900}   # under load; about 1-2 minutes alone
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
N=${MFS_FAULT_NODES:-2}
CL_OPTS=gc_interval_s=0
cl_init "$N" netns

ROPS=$MFS_SRC/tests/tools/rops.py
rounds=${MFS_ROPS_ROUNDS:-6}
count=${MFS_ROPS_COUNT:-1500}
seed=${MFS_ROPS_SEED:-$((RANDOM * 32768 + RANDOM))}
say "seed $seed: MFS_ROPS_SEED=$seed reruns these ops and faults (the nodes' timing aside)"
RANDOM=$seed   # the faults' choices and moments follow from the seed

check "rops.py sorts link(2)'s EPERM: a race's passes, a real one fails" "$PY" "$ROPS" --self-test
check "start $N nodes in network namespaces" cl_start_all || mfs_abort "no cluster"
mkr() {
	mkdir "${CL_M[1]}/R" && setfattr -n user.modelfs.repl -v 2 "${CL_M[1]}/R" &&
	cl_wait_converged meta
}
check "make R (user.modelfs.repl=2) on node 1, seen on every node" mkr

# rand_s LO HI: a random number of milliseconds in [LO, HI], as seconds.
rand_s() {
	local ms=$(($1 + RANDOM % ($2 - $1 + 1)))
	printf '%d.%03d' $((ms / 1000)) $((ms % 1000))
}

# term_restart V: SIGTERM to node V's daemon (a clean stop, as systemd's),
# which must exit within 60 s, and a restart after a while.
term_restart() {
	local pid
	pid=$(cat "${CL_D[$1]}/modelfs.pid") && kill -TERM "$pid" || return 1
	wait_for 600 pid_gone "$pid" || { echo "node $1: $pid still runs 60 s after SIGTERM" >&2; return 1; }
	_cl_up[$1]=0
	sleep "$(rand_s 100 2000)"
	cl_restart "$1"
}

# one_fault: one node is killed with SIGKILL and restarted after a while, or
# its link is cut and joined again after a while (kind and node at random);
# prints what it did.
one_fault() {
	local v=$((1 + RANDOM % N))
	if [ "${MFS_FAULT_TERM:-0}" = 1 ] && [ $((RANDOM % 3)) = 0 ]; then
		echo "term $v"
		term_restart "$v"
	elif [ $((RANDOM % 3)) -lt 2 ]; then
		echo "kill $v"
		cl_kill9 "$v" || return 1
		sleep "$(rand_s 100 2000)"
		cl_restart "$v" || return 1
	else
		echo "cut $v"
		cl_partition "$v" || return 1
		sleep "$(rand_s 300 5000)"
		cl_heal "$v" || return 1
	fi
}

# faults PID...: faults at random moments for as long as any PID (the ops)
# runs; then, every other round, one more kill while the nodes catch up
# (mid-transfer).
faults() {
	local p busy=1 gap=0
	while [ "$busy" = 1 ]; do
		sleep "$(rand_s "$gap" 1500)"
		gap=100
		busy=0
		for p in "$@"; do
			pid_alive "$p" && busy=1
		done
		[ "$busy" = 1 ] || break
		one_fault || return 1
	done
	if [ $((RANDOM % 2)) = 0 ]; then
		local v=$((1 + RANDOM % N))
		sleep "$(rand_s 0 1500)"
		echo "kill $v (catching up)"
		cl_kill9 "$v" && cl_restart "$v"
	fi
}

# round K: rops on every mount at once, and faults; every run must end with
# status 0 (a killed node's at its mount's end).
round() {
	local k=$1 i rc=0 fpid pids=()
	for i in $(seq 1 "$N"); do
		ROPS_DEAD_OK=1 ROPS_UNAVAIL_OK=1 "$PY" "$ROPS" "${CL_M[$i]}/R" $((seed + N * k + i)) \
			"$count" "$WORK/rops$i.$k.log" >"$WORK/rops$i.$k.out" 2>&1 &
		pids+=($!)
	done
	faults "${pids[@]}" >"$WORK/fault.$k" 2>"$WORK/fault.$k.err" &
	fpid=$!
	for i in "${pids[@]}"; do
		wait "$i" || rc=1
	done
	wait "$fpid" || { echo "the faults failed:" >&2; cat "$WORK/fault.$k.err" >&2; rc=1; }
	for i in $(seq 1 "$N"); do
		echo "node $i: $(cat "$WORK/rops$i.$k.out")" >&2
	done
	note "round $k: faults: $(tr '\n' ',' <"$WORK/fault.$k")"
	for i in $(seq 1 "$N"); do
		note "  node $i: $(tail -n 1 "$WORK/rops$i.$k.out")"
	done
	return "$rc"
}
alive() {
	local i
	for i in $(seq 1 "$N"); do
		if ! _cl_pid_ok "${CL_D[$i]}" || ! mountpoint -q "${CL_M[$i]}"; then
			echo "node $i: daemon or mount gone" >&2
			return 1
		fi
	done
}
for k in $(seq 1 "$rounds"); do
	check "round $k: $count random ops on each node, a fault strikes; no unexpected error" round "$k"
	check "round $k: every daemon up, every peer seen" eval 'alive && cl_wait_formed'
	check "round $k: the trees converge, every file reads" cl_wait_converged
	check "round $k: nothing left to replicate" cl_wait_backlog0
done

# Twice round the nodes: a repair only the maker of a directory or file
# makes (ns_merge.c) may be called for by another node's gc pass, and one
# node's recount by another's moves into lost+found.
gc_all() {
	local i
	for i in $(seq 1 "$N"); do
		expect_status 0 admin gc --apply --json "${CL_M[$i]}" || return 1
		cl_wait_backlog0 || return 1
	done
}
check "gc --apply on every node, then again" eval 'gc_all && gc_all'
# Link counts too, once gc has run: a node killed between an op and the
# repair that follows it leaves a file's list of names to gc's pass
# (ns_nameless.c note 6).  Directories' too: each node counts a
# directory's nlink itself, and lost+found's parted by one now and then
# where a repair moved a directory into it without reporting lost+found's
# record, so that the kernel kept the old count (ns_merge.c note 10, t1161).
agree_nlink() {
	local CL_SNAP_NLINK=${MFS_FAULT_NLINK:-1}   # files: files' only
	export CL_SNAP_NLINK
	cl_wait_converged
}
check "the trees still agree, link counts too" agree_nlink

fsck_clean() { admin fsck --json "${CL_M[$1]}" >"$WORK/fsck$1.json" 2>&1; }
clean() {
	wait_for "$CL_TRIES" fsck_clean "$1" && return 0
	head -c 2000 "$WORK/fsck$1.json" >&2
	return 1
}
for i in $(seq 1 "$N"); do
	check "fsck clean on node $i" clean "$i"
done

# A kill between applying a link and the maker's repair that lists its
# name left a file with an entry its record does not list (nlink 1, two
# names lead to it): gc's nameless pass now lists it (ns_nameless.c note 7).
check "status files is what the tree shows, on every node" cl_wait_files_counted

# Each kill was a SIGKILL, not a clean stop: a daemon logs "unmounting"
# only when it stops cleanly, so for SIGTERMs alone until cl_done.  (The
# faults of a round run in a subshell, and a kill once took the stale pid
# of a node restarted in an earlier round for the daemon: it only
# detached the mount, and the daemon stopped cleanly.)
only_sigterms_clean() {
	local i n want
	for i in $(seq 1 "$N"); do
		n=$(grep -c ' INFO daemon: unmounting ' "${CL_D[$i]}/modelfs.log")
		want=$(cat "$WORK"/fault.? "$WORK"/fault.?? 2>/dev/null | grep -c "^term $i\$")
		[ "$n" = "$want" ] && continue
		echo "node $i stopped cleanly $n times, for $want SIGTERMs: a kill did not kill" >&2
		return 1
	done
}
check "every kill was a SIGKILL: no clean stop but the SIGTERMs'" only_sigterms_clean

cl_done
