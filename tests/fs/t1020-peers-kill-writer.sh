#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The writer dies right after close.  Three nodes; a directory with
# user.modelfs.repl=3; node 1 writes three files (the last close has
# returned) and is killed with SIGKILL at once, before its peers may have
# pulled anything.  Its store is clean (offline fsck); restarted, it
# replicates: the trees converge, repl_backlog drops to 0 everywhere, and
# with node 1 killed again nodes 2 and 3 read every byte from their own
# copies (no fetch).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
cl_init 3

S=$WORK/src
declare -A sum=()
check "start 3 nodes" cl_start_all || mfs_abort "no cluster"

repl3() {
	mkdir "${CL_M[1]}/r3" && setfattr -n user.modelfs.repl -v 3 "${CL_M[1]}/r3" &&
	cl_wait_converged meta
}
check "node 1: mkdir r3 with user.modelfs.repl=3; every node knows it" repl3 || mfs_abort "no r3"

write_then_kill() {
	local f
	randfile "$S/a" $((40 * MiB)) && randfile "$S/b" $((5 * MiB + 3)) &&
	echo '{"dtype": "bfloat16"}' >"$S/c" || return 1
	for f in a b c; do
		sum[$f]=$(file_sha "$S/$f") || return 1
	done
	# cp returns after close(2) returned; kill at once.
	cp "$S/a" "${CL_M[1]}/r3/a" && cp "$S/b" "${CL_M[1]}/r3/b" && cp "$S/c" "${CL_M[1]}/r3/c" &&
	cl_kill9 1
}
check "node 1 writes 3 files into r3 and is killed right after the last close" write_then_kill ||
	mfs_abort "no write"

check "offline fsck of node 1's store: exit 0" expect_status 0 admin fsck --data "${CL_D[1]}"

all_there() { # NODE
	local f
	for f in a b c; do
		expect_sha "${CL_M[$1]}/r3/$f" "${sum[$f]}" || return 1
	done
}
check "restart node 1: it has its 3 files" eval 'cl_restart 1 && all_there 1'
check "peers up" cl_wait_formed
check "the trees converge (names)" cl_wait_converged meta
check "repl_backlog is 0 on every node" cl_wait_backlog0

fetched2='' fetched3=''
kill_again() {
	fetched2=$(cl_get 2 fetched_chunks) && fetched3=$(cl_get 3 fetched_chunks) &&
	cl_kill9 1
}
check "kill -9 node 1 again" kill_again
local_reads() { # NODE FETCHED_BEFORE
	all_there "$1" &&
	expect_eq "$(cl_get "$1" fetched_chunks)" "$2" "fetched_chunks of node $1 after its reads (repl 3: all chunks local)"
}
check "node 2 reads the 3 files from its own copies" local_reads 2 "$fetched2"
check "node 3 reads the 3 files from its own copies" local_reads 3 "$fetched3"
check "restart node 1" eval 'cl_restart 1 && cl_wait_formed'
check "every node reads the same tree" cl_wait_converged

cl_done
