#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Loads from many peers.  Nodes 1, 2 and 3 hold two files under factor 3
# (64 MiB and 96 MiB of random bytes); a fresh node 4, which names node 1
# only, joins and reads the first: the bytes are exact, every holder served
# a share of it (served_bytes on each, over the read), and node 4 fetched
# about the file once (a read and the replication of the same chunk share
# one fetch).  Then node 4 reads the second file while node 2 is killed
# with SIGKILL a quarter of the way in: the read completes with the right
# bytes from nodes 1 and 3.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 4

S=$WORK/src
sum1= sum2=
size1=$((64 * MiB)) size2=$((96 * MiB))
cl_set_peers 1 2 3
cl_set_peers 2 1 3
cl_set_peers 3 1 2
cl_set_peers 4 1
check "start nodes 1, 2 and 3" eval 'cl_start 1 && cl_start 2 && cl_start 3 && cl_wait_formed 1 2 3' ||
	mfs_abort "no cluster"

write_files() {
	mkdir "${CL_M[1]}/d" && setfattr -n user.modelfs.repl -v 3 "${CL_M[1]}/d" &&
	randfile "$S/w1" "$size1" && sum1=$(file_sha "$S/w1") &&
	randfile "$S/w2" "$size2" && sum2=$(file_sha "$S/w2") &&
	cp "$S/w1" "${CL_M[1]}/d/w1.bin" && cp "$S/w2" "${CL_M[1]}/d/w2.bin"
}
check "node 1 writes 64 MiB and 96 MiB under factor 3" write_files || mfs_abort "no data"
check "nodes 2 and 3 hold every chunk (repl_backlog 0)" \
	eval 'cl_wait_converged meta 1 2 3 && cl_wait_backlog0 1 2 3'

declare -A before=()
served_before() {
	local i
	for i in 1 2 3; do
		before[$i]=$(cl_get "$i" served_bytes) || return 1
	done
	before[4]=$(cl_get 4 fetched_bytes) || return 1
}

# (cl_wait_formed counts configured peers: nodes 1-3 learn node 4 instead.)
join4() {
	local i
	cl_start 4 || return 1
	for i in 1 2 3; do
		wait_for "$CL_TRIES" cl_sees 4 "$(cl_endpoint "$i")" &&
		wait_for "$CL_TRIES" cl_sees "$i" "$(cl_endpoint 4)" ||
		{ echo "node $i and node 4 do not see each other up" >&2; return 1; }
	done
	wait_for "$CL_TRIES" test -f "${CL_M[4]}/d/w2.bin"
}
check "a fresh node 4 joins through node 1 and sees the files" join4 || mfs_abort "no node 4"

check "counters before the read" served_before
check "node 4 reads the 64 MiB file: exact bytes" expect_sha "${CL_M[4]}/d/w1.bin" "$sum1"

# Each holder served at least an eighth of the file during the read (a
# third each when the spread is even; all of it from one holder before).
shares() {
	local i d bad=0 got
	for i in 1 2 3; do
		d=$(($(cl_get "$i" served_bytes) - before[$i]))
		note "node $i served $d bytes of the $size1-byte file to node 4's read"
		echo "node $i served $d bytes" >&2
		[ "$d" -ge $((size1 / 8)) ] || bad=1
	done
	got=$(($(cl_get 4 fetched_bytes) - before[4]))
	note "node 4 fetched $got bytes for the $size1-byte file"
	echo "node 4 fetched $got bytes for $size1" >&2
	# Random bytes are stored raw: about the file, fetched once.
	[ "$got" -ge "$size1" ] && [ "$got" -le $((size1 + size1 / 10)) ] || bad=1
	return $bad
}
check "every holder served a share; node 4 fetched the file once" shares

# A reader that reads 1 MiB at a time and says how far it got.
slow_read() {
	"$PY" - "$1" "$WORK/progress" "$WORK/read2" <<'PYEOF'
import hashlib, sys, time
h = hashlib.sha256()
n = 0
with open(sys.argv[1], "rb", buffering=0) as f:
    while True:
        b = f.read(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
        with open(sys.argv[2], "w") as p:
            p.write(str(n))
        time.sleep(0.02)
open(sys.argv[3], "w").write(h.hexdigest() + "\n")
PYEOF
}
progress_past() { [ "$(cat "$WORK/progress" 2>/dev/null || echo 0)" -ge "$1" ]; }

kill_mid_read() {
	local pid
	slow_read "${CL_M[4]}/d/w2.bin" &
	pid=$!
	wait_for "$CL_TRIES" progress_past $((size2 / 4)) || { kill "$pid"; return 1; }
	progress_past "$size2" && { echo "the read ended before the kill" >&2; return 1; }
	cl_kill9 2 || return 1
	note "node 2 killed at byte $(cat "$WORK/progress") of $size2"
	wait "$pid" || return 1
	expect_eq "$(cat "$WORK/read2")" "$sum2" "SHA-256 of the 96 MiB file read on node 4"
}
# A dead peer is logged as a warning by the others, not an error.
check "node 2 killed mid-read: node 4 reads the 96 MiB file exactly" kill_mid_read
check "node 4 reads it again, exactly" expect_sha "${CL_M[4]}/d/w2.bin" "$sum2"

cl_done
