#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# An umount while a peer hangs.  Node 2 is stopped (SIGSTOP: its TCP
# connections stay up, nothing answers), so node 1's sync thread waits in a
# PULL for the reply; with peer_timeout_ms at ten minutes that wait is what
# an umount would sit out.  Node 1 must leave it at once and exit (lib.sh's
# umount gives a daemon 60 s), then, node 2 let go, both nodes carry on.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
cl_init 2
CL_OPTS=peer_timeout_ms=600000

check "start 2 nodes" cl_start_all || mfs_abort "no cluster"

write_f() {
	head -c $((2 * MiB)) /dev/urandom >"$WORK/f" && cp "$WORK/f" "${CL_M[1]}/f" &&
	cl_wait_sha 2 f "$(file_sha "$WORK/f")"
}
check "node 1 writes f, node 2 reads it" write_f

check "node 2's daemon stopped (SIGSTOP)" cl_sigstop 2
# Node 1's sync thread PULLs from node 2 every heartbeat (500 ms): within
# two seconds one PULL is waiting for a reply that will not come.
sleep 2
check "node 1 unmounts while its PULL to node 2 waits; its daemon exits" cl_stop 1
check "node 2 let go (SIGCONT)" cl_let_go

# Both nodes again with the default timeout (a PULL node 2 had sent to the
# node 1 that went would wait out the ten minutes).
again() {
	CL_OPTS=
	cl_stop 2 && cl_start 1 && cl_start 2 && cl_wait_formed &&
	echo two >"${CL_M[1]}/g" &&
	cl_wait_sha 2 g "$(printf 'two\n' | sha256sum | cut -d' ' -f1)" &&
	cl_wait_sha 1 f "$(file_sha "$WORK/f")"
}
check "both nodes mounted again: the cluster forms, a new file reaches node 2" again
cl_done
