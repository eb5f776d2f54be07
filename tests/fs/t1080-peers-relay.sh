#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Ops and bytes travel through a middle node.  Three nodes in a chain: node
# 1 reaches only node 2, node 3 reaches only node 2, node 2 reaches both.  A file
# written on node 1 shows up on node 3 and reads back right there (its
# chunks come through node 2); a change made on node 3 shows up on node 1.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
cl_init 3

S=$WORK/src
sum=
cl_set_peers 1 2
cl_set_peers 2 1 3
cl_set_peers 3 2
# Nodes learn each other from the member table (doc/replication.md): nodes 1
# and 3 advertise addresses nothing listens on, so that they learn of each
# other but cannot connect, as across two networks joined by node 2 only.
chain() {
	cl_start 1 "advertise=127.0.1.2:$CL_PORT" && cl_start 2 &&
	cl_start 3 "advertise=127.0.1.4:$CL_PORT" && cl_wait_formed
}
check "start a chain of 3 nodes: 1 - 2 - 3" chain || mfs_abort "no cluster"

one_to_three() {
	randfile "$S/w" $((16 * MiB + 5)) && sum=$(file_sha "$S/w") &&
	mkdir -p "${CL_M[1]}/models/a" && cp "$S/w" "${CL_M[1]}/models/a/w.bin" &&
	echo '{"n": 1}' >"${CL_M[1]}/models/a/config.json" &&
	cl_wait_converged meta
}
check "node 1 writes 16 MiB and a config; node 3 lists them (through node 2)" one_to_three
check "node 3 reads the 16 MiB right" expect_sha "${CL_M[3]}/models/a/w.bin" "$sum"
check "node 2 reads the 16 MiB right" expect_sha "${CL_M[2]}/models/a/w.bin" "$sum"

three_to_one() {
	mv "${CL_M[3]}/models/a" "${CL_M[3]}/models/b" &&
	chmod 0600 "${CL_M[3]}/models/b/config.json" &&
	echo '{"n": 3}' >"${CL_M[3]}/models/b/from3.json" &&
	cl_wait_converged &&
	expect_listing "${CL_M[1]}/models" b &&
	expect_eq "$(stat -c %a "${CL_M[1]}/models/b/config.json")" 600 "mode of config.json on node 1" &&
	expect_eq "$(cat "${CL_M[1]}/models/b/from3.json")" '{"n": 3}' "from3.json on node 1"
}
check "node 3 renames, chmods, writes; node 1 sees it all (through node 2)" three_to_one
check "repl_backlog is 0 on every node" cl_wait_backlog0

cl_done
