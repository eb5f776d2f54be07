#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A slow link is slow, not broken.  Two nodes in network namespaces; node
# 1's link is limited with tc tbf both ways to 2 mbit/s (short queues, as
# t1357's slow fault), so that one 1 MiB chunk takes about 4 s to cross it:
# several times peer_timeout_ms (1 s here).  Node 1 writes 5 MiB of random
# bytes (factor 1: node 2's replication pulls its share over the same link
# meanwhile), and node 2 reads the file: the bytes are exact, no EIO.  Node
# 1 is alive and sending the whole time, so no ask of it may be given up
# on (replica/window.c note 5): on a link slower than a chunk per
# peer_timeout_ms every read of it used to end in EIO.  The read has no
# time limit but the test's own (the link's rate sets how long it takes).
# shellcheck source-path=SCRIPTDIR
MFS_TEST_TIMEOUT=${MFS_TEST_TIMEOUT:-600}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
command -v tc >/dev/null || skip_all "no tc"
cl_init 2 netns
check "start 2 nodes" eval 'cl_start_all && cl_wait_formed 1 2' || mfs_abort "no cluster"

limit() { # limit V RATE: tbf both ways on V's link
	ip netns exec "${_cl_ns[$1]}" tc qdisc replace dev "mn$$-$1" root tbf rate "$2" burst 32kb limit 48kb &&
		tc qdisc replace dev "${_cl_veth[$1]}" root tbf rate "$2" burst 32kb limit 48kb
}
check "node 1's link limited to 2 mbit/s" limit 1 2mbit || mfs_abort "no tc tbf"

S=$WORK/src.bin
write() {
	randfile "$S" $((5 * MiB)) &&
		mkdir "${CL_M[1]}/d" && setfattr -n user.modelfs.repl -v 1 "${CL_M[1]}/d" &&
		cp "$S" "${CL_M[1]}/d/f.bin" && cl_wait_converged meta 1 2
}
check "node 1 writes 5 MiB (factor 1); node 2 sees it" write || mfs_abort "no file"
check "node 2 reads it over the slow link, exactly" expect_sha "${CL_M[2]}/d/f.bin" "$(file_sha "$S")"
check "node 2 reads it again, exactly" expect_sha "${CL_M[2]}/d/f.bin" "$(file_sha "$S")"
cl_done
