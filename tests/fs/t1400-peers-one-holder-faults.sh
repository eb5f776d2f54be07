#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The only holder of the chunks being read fails mid-read (factor 1, two
# nodes: node 1 writes, node 2 reads; the chunks node 2 does not own are on
# node 1 alone).  A reader on node 2 reads the first 8 MiB of a 96 MiB file,
# pauses, and then:
#  - node 1 is frozen (SIGSTOP): the rest of the read either fails with EIO
#    or completes exact; it never hangs and never gives wrong bytes.  Node 1
#    is thawed (SIGCONT): the file then reads exact on node 2.
#  - node 1 is killed (SIGKILL): the same.  Restarted, node 1 is a holder
#    again: the file reads exact on node 2.
# Both daemons live through it, fsck is clean after, no ERROR line is
# logged but the failed fetches', and those are not logged one per retry
# (the kernel retries a failed read page by page: the log was flooded with
# over a thousand lines a second).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 2

S=$WORK/src
size=$((96 * MiB))
declare -A sums=()
check "start 2 nodes" cl_start_all || mfs_abort "no cluster"

write_file() { # NAME
	randfile "$S/$1" "$size" && sums[$1]=$(file_sha "$S/$1") &&
	cp "$S/$1" "${CL_M[1]}/$1" &&
	cl_wait_converged meta && cl_wait_backlog0
}

# The read ends: EIO, or every byte right.  A hang is caught here, far
# beyond any timeout of the fetch path (3 x peer_timeout_ms per holder).
read_ends_eio_or_exact() { # TAG NAME
	local out
	wait_for 1800 test -s "$WORK/$1.out" || { echo "the read on node 2 did not end in 180 s (hangs)" >&2; return 1; }
	out=$(cat "$WORK/$1.out")
	note "reader on node 2: $out"
	case $out in
	"ok $size ${sums[$2]}") return 0 ;;
	"err EIO at "*) return 0 ;;
	esac
	echo "reader on node 2: $out (want EIO or ok $size ${sums[$2]})" >&2
	return 1
}

# ---- SIGSTOP ----------------------------------------------------------------
check "node 1 writes a.bin (96 MiB, factor 1); replicated" write_file a.bin || mfs_abort "no data"
pid1=
freeze_mid_read() {
	cl_start_reader "${CL_M[2]}/a.bin" stop &&
	wait_for 1200 test -e "$WORK/stop.ready" &&
	pid1=$(mfs_daemon_pid "${CL_M[1]}") && kill -STOP "$pid1" &&
	touch "$WORK/stop.go"
}
check "node 2 reads 8 MiB of a.bin; node 1 frozen (SIGSTOP)" freeze_mid_read
check "node 2's read ends, with EIO or the exact bytes" read_ends_eio_or_exact stop a.bin
check "node 2's daemon lives" cl_daemons_alive 2
thaw() { kill -CONT "$pid1" && cl_wait_formed && cl_wait_sha 2 a.bin "${sums[a.bin]}"; }
check "node 1 thawed (SIGCONT): a.bin reads exact on node 2" thaw

# ---- SIGKILL ----------------------------------------------------------------
check "node 1 writes b.bin (96 MiB, factor 1); replicated" write_file b.bin || mfs_abort "no data"
kill_mid_read() {
	cl_start_reader "${CL_M[2]}/b.bin" kill &&
	wait_for 1200 test -e "$WORK/kill.ready" &&
	cl_kill9 1 &&
	touch "$WORK/kill.go"
}
check "node 2 reads 8 MiB of b.bin; node 1 killed (SIGKILL)" kill_mid_read
check "node 2's read ends, with EIO or the exact bytes" read_ends_eio_or_exact kill b.bin
check "node 2's daemon lives" cl_daemons_alive 2
back_1() {
	cl_restart 1 && cl_wait_formed &&
	cl_wait_sha 2 b.bin "${sums[b.bin]}" && cl_wait_sha 2 a.bin "${sums[a.bin]}"
}
check "node 1 restarted: b.bin and a.bin read exact on node 2" back_1
check "repl_backlog is 0 on both nodes" cl_wait_backlog0
check "fsck on node 2 is clean" expect_status 0 "$ADMIN_BIN" fsck "${CL_M[2]}"

# The reader's retries fail fast (about 150 fetches of one chunk a second
# were seen): the log must not get a line for each.  The limit is 10 a
# second on the monotonic clock, so a second of the log's clock may hold
# up to 20 (and no ordering of the machine's load changes that).
log_not_flooded() {
	local worst
	worst=$(grep -E '^[^ ]+ WARN fetch: chunk [0-9a-f]+: no peer has a good copy' "${CL_D[2]}/modelfs.log" |
		cut -d' ' -f1 | uniq -c | sort -n | tail -n 1)
	note "node 2's log, the second with most failed-fetch lines: ${worst:-none}"
	[ "${worst:-0}" = 0 ] || [ "$(echo "$worst" | awk '{print $1}')" -le 20 ]
}
check "node 2's log holds at most 20 failed-fetch lines in any second" log_not_flooded

mfs_log_allow "${CL_D[2]}" 'fetch|peer|chunk'
cl_done
