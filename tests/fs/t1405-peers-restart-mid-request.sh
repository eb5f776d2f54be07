#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A peer restarts while requests to it are under way.  Two nodes with
# peer_timeout_ms at ten minutes (a slow link's setting).  Node 2 writes f
# (factor 1: the chunks node 1 does not own are on node 2 alone) and is
# stopped (SIGSTOP); a reader on node 1 then reads f, and asks node 2 for
# its chunks (a read's fetch, and the window's read-ahead), while node 1's
# sync thread waits in a PULL to node 2.  Node 2 is killed (SIGKILL) and
# started again.  Those requests went with the old connections, and
# ZeroMQ does not say so: node 1 waited out the whole timeout for replies
# that could not come (ten minutes for the PULL, thirty for a read's GET).
# Each DEALER's monitor now tells node 1 the connection dropped, and what
# was asked on it is asked again, of node 2 restarted: the read must end
# with the exact bytes, and node 1 must pull what node 2 writes next, both
# long before any timeout (the waits here are the bound).  Then the same
# with a clean stop (SIGTERM) and a start, and with an fsck on node 1 whose
# CHECK to node 2 is under way, and with node 2 only stopped, past the
# heartbeat's timeout, then let go.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 2
CL_OPTS=peer_timeout_ms=600000,gc_interval_s=0

S=$WORK/src
size=$((32 * MiB))
declare -A sums=()
mkdir -p "$S"
check "start 2 nodes" cl_start_all || mfs_abort "no cluster"

write_file() { # NAME
	randfile "$S/$1" "$size" && sums[$1]=$(file_sha "$S/$1") &&
	cp "$S/$1" "${CL_M[2]}/$1" &&
	cl_wait_converged meta && cl_wait_backlog0
}

# Node 2 stopped, a reader on node 1 starts; its first chunk that only
# node 2 holds is asked at once (the chunks before it are node 1's own).
stop_2_and_read() { # TAG NAME
	cl_sigstop 2 && cl_start_reader "${CL_M[1]}/$2" "$1" && touch "$WORK/$1.go" || return 1
	sleep 2
	if [ -s "$WORK/$1.out" ]; then
		echo "the read on node 1 ended with node 2 stopped: $(cat "$WORK/$1.out")" >&2
		return 1
	fi
}

# The read ends with every byte right; 120 s is far below any timeout left.
read_exact() { # TAG NAME
	local out
	wait_for 1200 test -s "$WORK/$1.out" ||
		{ echo "the read on node 1 did not end in 120 s (waits out peer_timeout_ms)" >&2; return 1; }
	out=$(cat "$WORK/$1.out")
	note "reader on node 1: $out; node 1 requests_resent $(cl_get 1 requests_resent)"
	[ "$out" = "ok $size ${sums[$2]}" ] && return 0
	echo "reader on node 1: $out (want ok $size ${sums[$2]})" >&2
	return 1
}

# Node 1 pulls from node 2 again (its PULL under way went with node 2),
# and node 2 from node 1.
sync_on() { # NAME
	local sha2 sha1
	echo "$1 from 2" >"${CL_M[2]}/$1.2" && echo "$1 from 1" >"${CL_M[1]}/$1.1" &&
	sha2=$(printf '%s from 2\n' "$1" | sha256sum | cut -d' ' -f1) &&
	sha1=$(printf '%s from 1\n' "$1" | sha256sum | cut -d' ' -f1) &&
	cl_wait_sha 1 "$1.2" "$sha2" && cl_wait_sha 2 "$1.1" "$sha1"
}

# ---- SIGKILL, then a start ----------------------------------------------------
check "node 2 writes a.bin (32 MiB, factor 1); replicated" write_file a.bin || mfs_abort "no data"
check "node 2 stopped (SIGSTOP); node 1 reads a.bin" stop_2_and_read kill a.bin
kill_restart() { cl_kill9 2 && CL_STOPPED= && cl_restart 2; }
check "node 2 killed (SIGKILL) and started again" kill_restart
check "node 1's read ends with the exact bytes" read_exact kill a.bin
check "node 1 pulls from node 2 again, and node 2 from node 1" sync_on k
check "node 1's daemon lives" cl_daemons_alive 1

# ---- SIGTERM, then a start ----------------------------------------------------
check "node 2 writes b.bin (32 MiB, factor 1); replicated" write_file b.bin || mfs_abort "no data"
check "node 2 stopped (SIGSTOP); node 1 reads b.bin" stop_2_and_read term b.bin
# SIGTERM, taken once node 2 is let go: it stops, closing its sockets.
# What it had read of node 1's requests before it goes may be answered
# or not.  No request to node 2's mount is needed for it to act on the
# SIGTERM (t0010).
term_restart() {
	local pid=$CL_STOPPED
	kill -TERM "$pid" && cl_let_go || return 1
	if ! wait_for 600 pid_gone "$pid"; then
		echo "node 2's daemon $pid still runs 60 s after SIGTERM" >&2
		return 1
	fi
	wait_for 100 not_mounted "${CL_M[2]}" || { echo "node 2's mount is left" >&2; return 1; }
	cl_restart 2
}
check "node 2 stopped (SIGTERM) and started again" term_restart
check "node 1's read ends with the exact bytes" read_exact term b.bin
check "node 1 pulls from node 2 again, and node 2 from node 1" sync_on t
check "node 1's daemon lives" cl_daemons_alive 1
# ---- fsck's CHECK, then SIGKILL and a start ----------------------------------------
# fsck asks node 2 for its copies (CHECK, 10 x peer_timeout_ms to answer).
fsck_stopped() {
	cl_sigstop 2 || return 1
	{ "$ADMIN_BIN" fsck "${CL_M[1]}" >"$WORK/fsck.out" 2>&1; echo $? >"$WORK/fsck.rc"; } &
	sleep 2
	if [ -s "$WORK/fsck.rc" ]; then
		echo "fsck on node 1 ended with node 2 stopped: $(cat "$WORK/fsck.out")" >&2
		return 1
	fi
}
check "node 2 stopped (SIGSTOP); fsck on node 1" fsck_stopped
check "node 2 killed (SIGKILL) and started again" kill_restart
fsck_ends() {
	wait_for 1200 test -s "$WORK/fsck.rc" ||
		{ echo "fsck on node 1 did not end in 120 s (waits out 10 x peer_timeout_ms)" >&2; return 1; }
	[ "$(cat "$WORK/fsck.rc")" = 0 ] && return 0
	echo "fsck on node 1: status $(cat "$WORK/fsck.rc"): $(tail -5 "$WORK/fsck.out")" >&2
	return 1
}
check "node 1's fsck ends, clean" fsck_ends
check "node 1 pulls from node 2 again, and node 2 from node 1" sync_on f
# ---- stopped past the heartbeat, then let go ----------------------------------------
# Not restarted: stopped long enough for ZeroMQ's heartbeat (5 s without
# an answer) to drop node 1's connections, which took the requests on
# them; then let go.  The requests were sent again at the drop and wait
# for node 2's handshake, which comes with SIGCONT.
check "node 2 writes c.bin (32 MiB, factor 1); replicated" write_file c.bin || mfs_abort "no data"
resent0=
resent_grew() { [ "$(cl_get 1 requests_resent)" -gt "$resent0" ]; }
stop_long() {
	resent0=$(cl_get 1 requests_resent) && stop_2_and_read cont c.bin || return 1
	# The heartbeat's drop, seen by node 1: a request sent again.
	if ! wait_for 300 resent_grew; then
		echo "node 1 sent nothing again in 30 s with node 2 stopped (requests_resent $resent0)" >&2
		return 1
	fi
}
check "node 2 stopped (SIGSTOP) past the heartbeat's timeout; node 1 reads c.bin" stop_long
check "node 2 let go (SIGCONT)" cl_let_go
check "node 1's read ends with the exact bytes" read_exact cont c.bin
check "node 1 pulls from node 2 again, and node 2 from node 1" sync_on c
mfs_log_allow "${CL_D[1]}" 'fetch|peer|chunk|window'
cl_done
