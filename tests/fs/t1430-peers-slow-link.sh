#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A slow link that drops packets.  Two nodes in network namespaces with the
# default heartbeat and peer timeout; node 2's link is limited both ways by
# tc tbf to RATE with a queue so short that bursts are dropped (TCP
# retransmits them; sch_netem is not always there, tbf is).  Node 1 writes
# 24 MiB under factor 2: node 2 replicates it over the slow link, and a
# reader on node 2 reads it at once, while replication runs: the read is
# exact (the link works: a slow peer is not a dead one, so no EIO), node 2's
# replication completes, and once the limit is lifted fsck is clean.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
command -v tc >/dev/null || skip_all "no tc"
RATE=${RATE:-16mbit}
CL_COMMON=
cl_init 2 netns

S=$WORK/src
sum=
check "start 2 nodes in network namespaces" cl_start_all || mfs_abort "no cluster"

limit() {
	ip netns exec "${_cl_ns[2]}" tc qdisc replace dev "mn$$-2" root tbf rate "$RATE" burst 32kb limit 48kb &&
	tc qdisc replace dev "${_cl_veth[2]}" root tbf rate "$RATE" burst 32kb limit 48kb
}
unlimit() {
	ip netns exec "${_cl_ns[2]}" tc qdisc del dev "mn$$-2" root &&
	tc qdisc del dev "${_cl_veth[2]}" root
}
check "node 2's link limited to $RATE both ways, short queues" limit || skip_all "tc tbf not available"

write_big() {
	mkdir "${CL_M[1]}/d" && setfattr -n user.modelfs.repl -v 2 "${CL_M[1]}/d" &&
	randfile "$S/w" $((24 * MiB)) && sum=$(file_sha "$S/w") &&
	cp "$S/w" "${CL_M[1]}/d/w.bin" &&
	wait_for "$CL_TRIES" size_is "${CL_M[2]}/d/w.bin" $((24 * MiB))
}
# A file being written shows empty on the other nodes until its publish
# arrives: wait for the size, not the name.
size_is() { [ "$(stat -c %s "$1" 2>/dev/null)" = "$2" ]; }
check "node 1 writes 24 MiB under factor 2; node 2 sees it whole" write_big || mfs_abort "no data"
read_slow() {
	"$PY" "$HELPER" blockcheck "${CL_M[2]}/d/w.bin" "$S/w" $((1 * MiB)) >"$WORK/slow.out" 2>&1
	note "node 2's read over the slow link: $(tail -n 1 "$WORK/slow.out")"
	expect_eq "$(tail -n 1 "$WORK/slow.out")" "eio=0 bad=0 other=0" "blockcheck of w.bin on node 2"
}
check "node 2 reads w.bin at once: exact, no EIO" read_slow
check "node 2 replicates over the slow link (repl_backlog 0)" cl_wait_backlog0
note "node 2: peers down events $(grep -c 'is down' "${CL_D[2]}/modelfs.log"), node 1: $(grep -c 'is down' "${CL_D[1]}/modelfs.log")"
lifted() { unlimit && expect_status 0 "$ADMIN_BIN" fsck "${CL_M[1]}"; }
check "limit lifted; fsck on node 1 is clean" lifted
check "w.bin reads exact on node 2" expect_sha "${CL_M[2]}/d/w.bin" "$sum"

cl_done
