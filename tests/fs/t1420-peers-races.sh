#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Races between nodes that operators hit.  Three nodes, factor 2.
#  - Nodes 1 and 2 write the same path at once, ten times over (different
#    bytes of the same size, and of different sizes; open O_CREAT|O_TRUNC,
#    write, close: both succeed): once the trees agree,
#    the path reads as one of the two versions, whole, the same on every
#    node.
#  - Node 3 is unmounted (umount, a clean stop) while node 2 reads a file
#    whose chunks node 3 holds: the read ends with the exact bytes or EIO,
#    node 3 stops, and node 2's next read after node 3 is back is exact.
#  - Node 3 is killed (SIGKILL) while node 2 reads that file: factor 2
#    means node 1 holds what node 2 lacks, so the read is exact, no EIO.
#  - Node 3 is stopped cleanly, then killed with SIGKILL, each time while
#    it replicates a 64 MiB file; restarted, it completes the replication
#    and fsck is clean.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 3

S=$WORK/src
check "start 3 nodes" cl_start_all || mfs_abort "no cluster"
mkdir_2() { mkdir "${CL_M[1]}/d" && setfattr -n user.modelfs.repl -v 2 "${CL_M[1]}/d" && cl_wait_converged meta; }
check "a directory with factor 2" mkdir_2

# ---- same path, two writers -------------------------------------------------
# The writers open with O_CREAT|O_TRUNC, not cp: cp probes the target and,
# finding none, creates it with O_EXCL, so the cp that probes before the
# other node's create reaches its node and opens after gets EEXIST ("cannot
# create regular file: File exists").  Any filesystem does that, a local
# one too, for two cps racing to a new name (round 1 failed so, once in
# the runs of stop 25; with node 2's cp held 0.8 s between its probe of the
# target and its create, by strace's inject=openat:delay_enter:when=2, it
# fails so every time, and write-report held alike succeeds).  What is
# promised is that neither plain writer fails and one version wins, whole.
write_same() { # SRC MOUNT OUT
	"$PY" "$HELPER" write-report "$2/d/same.bin" "$1" >"$3" 2>&1
}
same_path() {
	local k a b got s1 s2 p1 p2
	for k in 1 2 3 4 5 6 7 8 9 10; do
		a=$((3 * MiB + k * 4096)) b=$a
		[ $((k % 2)) = 0 ] && b=$((5 * MiB + 17))
		randfile "$S/a$k" "$a" && randfile "$S/b$k" "$b" || return 1
		# (wait names the two: the watchdog is a child of this shell too)
		write_same "$S/a$k" "${CL_M[1]}" "$WORK/w1.out" &
		p1=$!
		write_same "$S/b$k" "${CL_M[2]}" "$WORK/w2.out" &
		p2=$!
		wait "$p1" && wait "$p2" || return 1
		expect_eq "$(cat "$WORK/w1.out")" OK "round $k: the write on node 1" &&
		expect_eq "$(cat "$WORK/w2.out")" OK "round $k: the write on node 2" || return 1
		cl_wait_converged || return 1
		s1=$(file_sha "$S/a$k") s2=$(file_sha "$S/b$k")
		got=$(file_sha "${CL_M[3]}/d/same.bin")
		[ "$got" = "$s1" ] || [ "$got" = "$s2" ] || {
			echo "round $k: same.bin reads $got, neither version ($s1, $s2)" >&2
			return 1
		}
	done
}
check "nodes 1 and 2 write d/same.bin at once, 10 rounds: one version, whole, everywhere" same_path

# ---- umount of the holder while a peer reads ----------------------------------
sum=''
write_3() {
	randfile "$S/r" $((64 * MiB)) && sum=$(file_sha "$S/r") &&
	cp "$S/r" "${CL_M[3]}/d/r.bin" && cl_wait_converged meta && cl_wait_backlog0
}
check "node 3 writes 64 MiB under factor 2; replicated" write_3 || mfs_abort "no data"

umount_mid_read() {
	local out
	"$PY" "$HELPER" blockcheck "${CL_M[2]}/d/r.bin" "$S/r" $((1 * MiB)) >"$WORK/um.out" 2>&1 &
	local rp=$!
	cl_stop 3 || return 1
	wait_for 1800 pid_gone "$rp" || { echo "node 2's read did not end in 180 s" >&2; return 1; }
	wait "$rp"
	out=$(tail -n 1 "$WORK/um.out")
	note "node 2's read while node 3 unmounted: $out"
	case $out in eio=*" bad=0 other=0") ;; *) cat "$WORK/um.out" >&2; return 1 ;; esac
}
check "node 3 unmounted while node 2 reads r.bin: EIO or exact, never wrong" umount_mid_read
back_3() { cl_restart 3 && cl_wait_formed && expect_sha "${CL_M[2]}/d/r.bin" "$sum"; }
check "node 3 back: r.bin reads exact on node 2" back_3

# Factor 2: whatever node 2 lacks of r.bin node 1 holds too, so a holder
# killed mid-read costs nothing: every byte exact, no EIO.
kill_mid_read() {
	local out rp
	sync && echo 3 >/proc/sys/vm/drop_caches
	"$PY" "$HELPER" blockcheck "${CL_M[2]}/d/r.bin" "$S/r" $((1 * MiB)) >"$WORK/k9.out" 2>&1 &
	rp=$!
	cl_kill9 3 || return 1
	wait_for 1800 pid_gone "$rp" || { echo "node 2's read did not end in 180 s" >&2; return 1; }
	wait "$rp"
	out=$(tail -n 1 "$WORK/k9.out")
	note "node 2's read while node 3 was killed: $out"
	expect_eq "$out" "eio=0 bad=0 other=0" "blockcheck of r.bin on node 2"
}
check "node 3 killed (SIGKILL) while node 2 reads r.bin: exact, no EIO" kill_mid_read
check "node 3 back: r.bin reads exact on node 2" back_3

# ---- restarts while replicating ---------------------------------------------
restart_mid_repl() { # stop|kill9 NAME
	local s
	randfile "$S/$2" $((64 * MiB)) && s=$(file_sha "$S/$2") &&
	cp "$S/$2" "${CL_M[1]}/d/$2" || return 1
	# Node 3 learns of the file and starts pulling what it owns.
	wait_for 600 test -e "${CL_M[3]}/d/$2" || { echo "node 3 never saw $2" >&2; return 1; }
	if [ "$1" = stop ]; then cl_stop 3; else cl_kill9 3; fi || return 1
	cl_restart 3 && cl_wait_formed && cl_wait_backlog0 &&
	expect_sha "${CL_M[3]}/d/$2" "$s" && expect_sha "${CL_M[2]}/d/$2" "$s"
}
check "node 3 stopped cleanly while it replicates; restarted, it completes" restart_mid_repl stop s1.bin
check "node 3 killed (SIGKILL) while it replicates; restarted, it completes" restart_mid_repl kill9 s2.bin
check "fsck on node 1 is clean" expect_status 0 "$ADMIN_BIN" fsck "${CL_M[1]}"
check "every node reads the same tree" cl_wait_converged

mfs_log_allow "${CL_D[2]}" 'fetch|peer|chunk'
cl_done
