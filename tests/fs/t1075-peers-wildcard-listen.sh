#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A node that listens on a wildcard (listen=*:PORT, no advertise=) is
# learned by every node, not only its seeds.  Three nodes, each in its own
# network namespace on a private bridge; nodes 2 and 3 know only node 1.
# Node 2 listens on *:PORT: it advertises the address it reaches its seed
# from (replica/selfaddr.c), so its member record reaches node 3 through
# node 1 and node 3 connects to it.  Then node 1 stops: a file node 2
# writes still reaches node 3, straight from node 2.  (Before, node 2
# advertised nothing: node 3 never saw it up.)
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
cl_init 3 netns

S=$WORK/src
cl_set_peers 1
cl_set_peers 2 1
cl_set_peers 3 1
start() {
	cl_start 1 && cl_start 2 "listen=*:$CL_PORT" && cl_start 3
}
check "node 1, node 2 on *:$CL_PORT, node 3 (2 and 3 know node 1 only)" start || mfs_abort "no cluster"

advertised() {
	grep -q "listen=tcp://\*:$CL_PORT is a wildcard: this node advertises tcp://${CL_IP[2]}:$CL_PORT" \
		"${CL_D[2]}/modelfs.log" && return 0
	grep -i "listen=" "${CL_D[2]}/modelfs.log" >&2
	return 1
}
check "node 2 advertises its bridge address, ${CL_IP[2]}" advertised
all_up() { [ "$(cl_get 1 peers_up)" = 2 ] && [ "$(cl_get 2 peers_up)" = 2 ] && [ "$(cl_get 3 peers_up)" = 2 ]; }
check "every node sees the other two up" wait_for "$CL_TRIES" all_up

sum=''
sees_1_down() {
	cl_get 3 peers | grep -q "\"endpoint\": \"tcp://${CL_IP[1]}:$CL_PORT\", \"node_id\": \"[0-9a-f]*\", \"state\": \"down\""
}
alone() {
	cl_stop 1 && wait_for "$CL_TRIES" sees_1_down && expect_eq "$(cl_get 3 peers_up)" 1 "peers up on node 3"
}
check "node 1 stops; node 3 sees it down and node 2 still up" alone
write_2() {
	randfile "$S/w" $((3 * MiB)) && sum=$(file_sha "$S/w") &&
	cp "$S/w" "${CL_M[2]}/w.bin" && cl_wait_sha 3 w.bin "$sum"
}
check "node 3 reads a file node 2 writes, from node 2" write_2

cl_done
