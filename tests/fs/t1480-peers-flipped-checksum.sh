#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A copy from a peer is stored only if it verifies as stored.  Two nodes;
# node 2 reaches node 1 only through a proxy (tests/tools/flip_proxy; node 1
# advertises the proxy's address) that flips one bit of the XXH64 checksum
# in every chunk record node 1 sends: the record still decodes to bytes
# whose SHA-256 is the chunk's name, but it fails its own check wherever it
# is kept, so a node that stored it would count a copy it can never read or
# serve (under factor 2, the file would live on one node while both count
# it).  Node 1 writes 8 MiB and 20 small files under factor 2; node 2 must
# refuse every flipped copy (bad_copies_from_peers), and its fsck must show
# no corrupt copy.  The proxy then forwards faithfully: node 2's replication
# completes, fsck is clean, and node 2 reads the files exact.  Meanwhile
# node 2 reads chunks it does not own, served and never kept in its store:
# their bytes' SHA-256 suffices, the flipped checksum must not stop them.
# (Found by a proxy that damaged 30% of node 1's replies at random: fsck
# then listed 3 corrupt copies on node 2, all of small files.)
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
FLIP=$MFS_BUILD/tests/tools/flip_proxy
[ -x "$FLIP" ] || skip_all "no $FLIP (make check builds it)"
cl_init 2

S=$WORK/src
PX=127.0.0.9:$CL_PORT
# Node 1's replies through the proxy are damaged: expected on node 2.
mfs_log_allow "${CL_D[2]}" 'does not verify|corrupt|no peer has a good copy'
"$FLIP" "$PX" "$(cl_endpoint 1)" >"$WORK/flip.out" 2>&1 &
flip=$!

cl_set_peers 1
cl_set_peers 2
start() {
	cl_start 1 "advertise=$PX" && cl_start 2 "peer=$PX" &&
	wait_for "$CL_TRIES" cl_sees 2 "$PX" && wait_for "$CL_TRIES" cl_sees 1 "$(cl_endpoint 2)"
}
check "node 2 reaches node 1 through the proxy" start || mfs_abort "no cluster"

sum=''
write_1() {
	local i
	mkdir "${CL_M[1]}/d" && setfattr -n user.modelfs.repl -v 2 "${CL_M[1]}/d" &&
	randfile "$S/w" $((8 * MiB)) && sum=$(file_sha "$S/w") &&
	cp "$S/w" "${CL_M[1]}/d/w.bin" || return 1
	for ((i = 0; i < 20; i++)); do
		echo "small $i" >"${CL_M[1]}/d/s$i" || return 1
	done
	cl_wait_converged meta
}
check "node 1 writes 8 MiB and 20 small files under factor 2" write_1 || mfs_abort "no data"

# Every chunk of d has come through the proxy at least once (flipped).
nchunks=$(cl_get 1 chunks)
tried() {
	local got bad
	got=$(cl_get 2 fetched_chunks) && bad=$(cl_get 2 bad_copies_from_peers) &&
	[ $((got + bad)) -ge "$nchunks" ]
}
check "node 2 has been sent every chunk ($nchunks) through the proxy" wait_for "$CL_TRIES" tried
note "node 2: fetched_chunks $(cl_get 2 fetched_chunks), bad_copies_from_peers $(cl_get 2 bad_copies_from_peers)"

no_corrupt_on_2() {
	"$ADMIN_BIN" fsck --json "${CL_M[2]}" >"$WORK/fsck1.json" 2>"$WORK/fsck1.err"
	expect_eq "$(json_get corrupt_chunks <"$WORK/fsck1.json")" 0 "corrupt copies (fsck on node 2)" &&
	expect_eq "$(cl_get 2 fetched_chunks)" 0 "chunks node 2 took from the proxy"
}
check "node 2 keeps no flipped copy: fsck finds no corrupt one" no_corrupt_on_2

# A chunk node 2 does not own is only served there, and kept at most in its
# disk cache, which checks a record whenever it reads one back: the SHA-256
# of the bytes, the chunk's name, is what a read needs, and a flipped record
# checksum must not stop it (replica/fetch.c check_copy).  Of 24 one-chunk
# files under factor 1 node 2 owns about half, whose flipped copies it
# refuses as before (they would be kept in its store); it reads the others.
read_unowned_2() {
	local i got ok=0
	mkdir "${CL_M[1]}/r1" && setfattr -n user.modelfs.repl -v 1 "${CL_M[1]}/r1" || return 1
	for ((i = 0; i < 24; i++)); do
		echo "one $i" >"${CL_M[1]}/r1/f$i" || return 1
	done
	cl_wait_converged meta || return 1
	for ((i = 0; i < 24; i++)); do
		got=$(cat "${CL_M[2]}/r1/f$i" 2>/dev/null) || continue
		expect_eq "$got" "one $i" "r1/f$i on node 2" || return 1
		ok=$((ok + 1))
	done
	note "node 2 read $ok of 24 factor-1 files through the flipping proxy"
	[ "$ok" -gt 0 ] || { echo "node 2 read none of the files it does not own" >&2; return 1; }
}
check "node 2 reads the chunks it does not own through the flipping proxy" read_unowned_2

check "the proxy stops flipping" kill -USR1 "$flip"
healed() {
	cl_wait_backlog0 &&
	expect_status 0 "$ADMIN_BIN" fsck "${CL_M[2]}"
}
check "node 2's replication completes; fsck on node 2 is clean" healed
reads_2() {
	local i
	expect_sha "${CL_M[2]}/d/w.bin" "$sum" || return 1
	for ((i = 0; i < 20; i++)); do
		expect_eq "$(cat "${CL_M[2]}/d/s$i")" "small $i" "d/s$i on node 2" || return 1
	done
}
check "node 2 reads every file exact" reads_2

# The flipped records of the chunks node 2 read without owning them sit in
# its disk cache; read back (node 2 restarted: its memory cache is empty),
# each fails its checksum there, is dropped and fetched again, good now.
reread_2() {
	local i dropped
	cl_stop 2 && cl_restart 2 && wait_for "$CL_TRIES" cl_sees 2 "$PX" || return 1
	for ((i = 0; i < 24; i++)); do
		expect_eq "$(cat "${CL_M[2]}/r1/f$i")" "one $i" "r1/f$i on node 2, read again" || return 1
	done
	dropped=$(grep -c 'cached chunk .* is damaged: dropped' "${CL_D[2]}/modelfs.log")
	note "node 2's disk cache dropped $dropped flipped record(s) as it read them back"
	[ "$dropped" -gt 0 ] || { echo "no flipped record read back from the disk cache" >&2; return 1; }
}
check "node 2 drops the flipped records of its disk cache as it reads them back" reread_2

stop_proxy() {
	kill -TERM "$flip" && wait "$flip"
	note "proxy: $(cat "$WORK/flip.out")"
	grep -qE '^flipped [1-9]' "$WORK/flip.out"
}
check "the proxy flipped some records" stop_proxy
cl_done
