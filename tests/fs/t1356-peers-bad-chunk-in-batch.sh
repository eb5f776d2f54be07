#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A chunk whose copy does not verify fails only its own reads, also when it
# comes among many chunks fetched at once (the window's runs keep many
# asked; replica/window.c), whether each reply is verified alone or several
# are hashed together.  Node 2 reaches node 1 only through a proxy
# (tests/tools/flip_proxy --data) that damages one chunk, the 8th it sees
# sent, in that reply and every later one: its last record byte flipped and
# the record's XXH64 made right again, so only its SHA-256, the name its
# bytes must hash to, shows it.  Node 1 writes 48 MiB of random bytes;
# node 2 streams the file (dd bs=16M, chunks in flight together), which
# must fail; then reads it MiB by MiB: no block may differ from the source,
# the blocks that fail (EIO, or end short) must be one run of at most 8 MiB
# (one chunk's), and every other block reads exact.  The proxy then
# forwards faithfully, and node 2 reads the whole file exact: the damaged
# copy was kept nowhere.
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
size=$((48 * MiB))
mfs_log_allow "${CL_D[2]}" 'does not verify|corrupt|no peer has a good copy|damaged'
"$FLIP" "$PX" "$(cl_endpoint 1)" --data 8 >"$WORK/flip.out" 2>&1 &
flip=$!

cl_set_peers 1
cl_set_peers 2
start() {
	cl_start 1 "advertise=$PX" && cl_start 2 "peer=$PX" &&
	wait_for "$CL_TRIES" cl_sees 2 "$PX" && wait_for "$CL_TRIES" cl_sees 1 "$(cl_endpoint 2)"
}
check "node 2 reaches node 1 through the proxy" start || mfs_abort "no cluster"

sum=
write_1() {
	randfile "$S/f" "$size" && sum=$(file_sha "$S/f") && cp "$S/f" "${CL_M[1]}/f.bin" &&
	wait_for "$CL_TRIES" eval '[ "$(stat -c %s "${CL_M[2]}/f.bin" 2>/dev/null)" = "$size" ]'
}
check "node 1 writes 48 MiB; node 2 sees it" write_1 || mfs_abort "no data"

stream_fails() {
	if dd if="${CL_M[2]}/f.bin" of=/dev/null bs=16M status=none 2>"$WORK/dd.err"; then
		echo "dd read the whole file through a proxy that damages one chunk" >&2
		return 1
	fi
	note "dd: $(head -c 200 "$WORK/dd.err")"
}
check "node 2 streams the file: the read fails" stream_fails

# Per MiB block: "ok", "eio" (EIO, or a short read of exact bytes) or
# "differs"; one line each.
blocks() {
	python3 - "${CL_M[2]}/f.bin" "$S/f" <<'EOF'
import errno, os, sys
f = os.open(sys.argv[1], os.O_RDONLY)
src = open(sys.argv[2], 'rb').read()
mib = 1 << 20
for off in range(0, len(src), mib):
    try:
        got = os.pread(f, mib, off)
        want = src[off:off + mib]
        # A read that reaches the damaged chunk may end short, before it.
        print('ok' if got == want else
              'eio' if len(got) < len(want) and got == want[:len(got)] else 'differs')
    except OSError as e:
        print('eio' if e.errno == errno.EIO else 'err%d' % e.errno)
EOF
}
only_its_reads() {
	local out n_ok n_eio first last
	out=$(blocks) || return 1
	n_ok=$(grep -c '^ok$' <<<"$out")
	n_eio=$(grep -c '^eio$' <<<"$out")
	first=$(grep -n '^eio$' <<<"$out" | head -1 | cut -d: -f1)
	last=$(grep -n '^eio$' <<<"$out" | tail -1 | cut -d: -f1)
	note "blocks: $n_ok exact, $n_eio EIO (MiB $((${first:-1} - 1))-$((${last:-1} - 1))), $(grep -vc '^ok$\|^eio$' <<<"$out") else;" \
		"bad_copies_from_peers $(cl_get 2 bad_copies_from_peers)," \
		"batches $(cl_get 2 fetch_verify_batches 2>/dev/null || echo -) of $(cl_get 2 fetch_verify_batched_chunks 2>/dev/null || echo -) chunks"
	expect_eq "$(grep -vc '^ok$\|^eio$' <<<"$out")" 0 "blocks that read other bytes or errors" &&
		[ "$n_eio" -ge 1 ] && [ "$n_eio" -le 8 ] &&
		expect_eq "$((last - first + 1))" "$n_eio" "EIO blocks in one run" &&
		expect_eq "$((n_ok + n_eio))" "$((size / MiB))" "blocks"
}
check "node 2 reads MiB by MiB: only one chunk's blocks fail, the rest exact" only_its_reads
check "node 2 counted the damaged copies" eval '[ "$(cl_get 2 bad_copies_from_peers)" -ge 1 ]'
# All MFS_EBADHASH: the record passed its XXH64 and decoded, then its bytes
# failed their hash, the check a batch of hashes makes.
by_hash() {
	note "node 2's refusals: $(grep -o 'does not verify ([^)]*)' "${CL_D[2]}/modelfs.log" | sort | uniq -c | tr -s ' \n' ' ')"
	expect_eq "$(grep 'does not verify' "${CL_D[2]}/modelfs.log" | grep -vc 'does not match its hash')" 0 \
		"refusals not by the SHA-256"
}
check "node 2 refused the damaged copies by their SHA-256" by_hash

check "the proxy forwards faithfully" kill -USR1 "$flip"
check "node 2 reads the whole file exact" expect_sha "${CL_M[2]}/f.bin" "$sum"

kill "$flip" 2>/dev/null
wait "$flip" 2>/dev/null
note "proxy: $(cat "$WORK/flip.out")"
cl_done
