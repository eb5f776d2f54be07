#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Replication factor 2 survives the loss of any one node.  Three nodes; a
# directory gets user.modelfs.repl=2 and 48 MiB are written in it on node 1;
# once repl_backlog is 0 everywhere, each node holding chunks is killed with
# SIGKILL in turn (and restarted before the next): the other two read the
# right bytes.  While node 3 is dead, node 1 writes and renames; node 3
# catches up after its restart.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
cl_init 3

S=$WORK/src
sum=
check "start 3 nodes" cl_start_all || mfs_abort "no cluster"

write_repl2() {
	mkdir "${CL_M[1]}/r2" &&
	setfattr -n user.modelfs.repl -v 2 "${CL_M[1]}/r2" &&
	expect_eq "$(getfattr --only-values -n user.modelfs.repl "${CL_M[1]}/r2")" 2 "user.modelfs.repl of r2" &&
	randfile "$S/w" $((48 * MiB)) && sum=$(file_sha "$S/w") &&
	cp "$S/w" "${CL_M[1]}/r2/weights.bin" &&
	expect_sha "${CL_M[1]}/r2/weights.bin" "$sum"
}
check "node 1: mkdir r2, setfattr user.modelfs.repl=2, write 48 MiB" write_repl2 || mfs_abort "no data"

# Names only: reading the bytes now would cache chunks on every node.
check "every node knows the file" cl_wait_converged meta
check "repl_backlog is 0 on every node" cl_wait_backlog0

repl_seen_on() { # NODE
	expect_eq "$(getfattr --only-values -n user.modelfs.repl "${CL_M[$1]}/r2")" 2 "user.modelfs.repl of r2 on node $1"
}
check "user.modelfs.repl of r2 is 2 on nodes 2 and 3" eval 'repl_seen_on 2 && repl_seen_on 3'

holders=()
find_holders() {
	local i n
	for i in 1 2 3; do
		n=$(cl_get "$i" chunks) || { echo "no status from node $i" >&2; return 1; }
		note "node $i holds $n chunks"
		[ "$n" -gt 0 ] && holders+=("$i")
	done
	# Each chunk has 2 owners among 3 nodes: at least 2 nodes hold chunks.
	[ "${#holders[@]}" -ge 2 ] || { echo "only nodes ${holders[*]} hold chunks" >&2; return 1; }
}
check "at least two nodes hold chunks" find_holders

reads_without() { # DEAD: the other nodes read the right bytes
	local i
	for i in 1 2 3; do
		[ "$i" = "$1" ] && continue
		expect_sha "${CL_M[$i]}/r2/weights.bin" "$sum" || { echo "(read on node $i, node $1 dead)" >&2; return 1; }
	done
}

catch_up_3() {
	# While node 3 is dead: a new file, a rename, a new directory.
	head -c $((3 * MiB + 7)) /dev/urandom >"${CL_M[1]}/r2/late.bin" &&
	mv "${CL_M[1]}/r2/weights.bin" "${CL_M[1]}/r2/weights-v1.bin" &&
	mkdir "${CL_M[1]}/while-3-was-down" &&
	cl_wait_converged 1 2 &&
	cl_restart 3 &&
	cl_wait_formed &&
	cl_wait_converged &&
	expect_sha "${CL_M[3]}/r2/weights-v1.bin" "$sum"
}

for k in "${holders[@]}"; do
	check "kill -9 node $k" cl_kill9 "$k" || mfs_abort "cannot kill node $k"
	check "node $k dead: the other two nodes read the right 48 MiB" reads_without "$k"
	if [ "$k" = 3 ]; then
		check "node 3 dead: node 1 writes and renames; node 3 restarts and catches up" catch_up_3
	else
		check "restart node $k; peers up again" eval "cl_restart $k && cl_wait_formed"
	fi
	check "repl_backlog is 0 again on every node" cl_wait_backlog0
done
if [ "${_cl_up[3]}" != 1 ]; then
	check "restart node 3" eval "cl_restart 3 && cl_wait_formed"
fi
case " ${holders[*]} " in
*" 3 "*) ;;
*) check "node 3 holds nothing; still: node 1 writes, node 3 is killed, restarts, catches up" \
	eval 'cl_kill9 3 && catch_up_3' ;;
esac

check "every node reads the same tree" cl_wait_converged

cl_done
