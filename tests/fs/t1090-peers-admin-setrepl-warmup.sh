#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# modelfs-admin setrepl and warmup across nodes.  Three nodes.  32 MiB are
# written on node 1 in a directory; `setrepl -r 3` of the directory on
# node 2 makes every node an owner of every chunk: once repl_backlog is 0
# and every node holds all the chunks, getrepl on node 3 shows 3.  Then a
# file of factor 1 is written on node 1 in another directory; `warmup` on
# node 3 fetches the chunks node 3 lacks, and reading the file again on
# node 3 after dropping the page cache fetches nothing from peers.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
[ -w /proc/sys/vm/drop_caches ] || skip_all "cannot drop the page cache"
cl_init 3

S=$WORK/src
sum=
cold_sum=
nchunks=
check "start 3 nodes" cl_start_all || mfs_abort "no cluster"

write_d3() {
	mkdir "${CL_M[1]}/d3" &&
	randfile "$S/w" $((32 * MiB)) && sum=$(file_sha "$S/w") &&
	cp "$S/w" "${CL_M[1]}/d3/weights.bin" &&
	expect_sha "${CL_M[1]}/d3/weights.bin" "$sum"
}
check "node 1: write 32 MiB in d3" write_d3 || mfs_abort "no data"
# Names only: reading the bytes now would cache chunks on every node.
check "every node knows the file" cl_wait_converged meta
check "repl_backlog is 0 on every node" cl_wait_backlog0

# The writer keeps every chunk it wrote, and the store holds nothing else.
count_chunks() {
	nchunks=$(cl_get 1 chunks) || return 1
	if [ "$nchunks" -le 0 ]; then
		echo "node 1 holds $nchunks chunks" >&2
		return 1
	fi
	note "the file is $nchunks chunks"
}
check "node 1 holds the file's chunks" count_chunks || mfs_abort "no chunk count"

check "node 2: modelfs-admin setrepl -r 3 d3" \
	expect_status 0 admin setrepl -r 3 "${CL_M[2]}/d3"

all_hold() {
	local i
	cl_backlog0 || return 1
	for i in 1 2 3; do
		[ "$(cl_get "$i" chunks)" -ge "$nchunks" ] 2>/dev/null || return 1
	done
	cl_backlog0
}
wait_all_hold() {
	wait_for "$CL_TRIES" all_hold && return 0
	echo "not every node holds the $nchunks chunks after $CL_TRIES polls" >&2
	_cl_report chunks 1 2 3
	_cl_report repl_backlog 1 2 3
	return 1
}
# The node that made the change finds its new chunks at its next scan of
# the namespace (every 30 s); the others when they apply the op.
check "repl_backlog 0 and all $nchunks chunks on every node" wait_all_hold

get_on_3() {
	local want
	want=$(printf '3 %s\n' "${CL_M[3]}/d3" "${CL_M[3]}/d3/weights.bin")
	expect_status 0 admin getrepl -r "${CL_M[3]}/d3" &&
	expect_eq "$(cat "$WORK/.cmd.out")" "$want" "getrepl -r on node 3"
}
check "node 3: getrepl -r d3 shows 3 for the directory and the file" get_on_3
check "node 3 reads the right bytes" expect_sha "${CL_M[3]}/d3/weights.bin" "$sum"

write_d1() {
	mkdir "${CL_M[1]}/d1" &&
	randfile "$S/c" $((32 * MiB)) && cold_sum=$(file_sha "$S/c") &&
	cp "$S/c" "${CL_M[1]}/d1/cold.bin" &&
	expect_eq "$(getfattr --only-values -n user.modelfs.repl "${CL_M[1]}/d1/cold.bin")" 1 \
		"repl of d1/cold.bin"
}
check "node 1: write 32 MiB of factor 1 in d1" write_d1 || mfs_abort "no second file"
check "every node knows it" cl_wait_converged meta
# Node 3 pulls the chunks it owns first: fetches that are not the warmup's.
check "repl_backlog is 0 on every node" cl_wait_backlog0

fetched=
warm_3() {
	local before
	before=$(cl_get 3 fetched_chunks) || return 1
	expect_status 0 admin warmup --json "${CL_M[3]}/d1" || return 1
	expect_eq "$(json_get bytes <"$WORK/.cmd.out")" $((32 * MiB)) "warmup bytes" &&
	expect_eq "$(json_get files <"$WORK/.cmd.out")" 1 "warmup files" &&
	fetched=$(cl_get 3 fetched_chunks) || return 1
	note "warmup on node 3 fetched $((fetched - before)) chunks"
	# Node 3 owns about a third of the chunks at factor 1: it must lack some.
	[ "$fetched" -gt "$before" ] || { echo "warmup fetched nothing ($before before, $fetched after)" >&2; return 1; }
}
check "node 3: warmup d1 reads 32 MiB and fetches the chunks node 3 lacks" warm_3

reread_3() {
	local after
	sync && echo 3 >/proc/sys/vm/drop_caches &&
	cat "${CL_M[3]}/d1/cold.bin" >/dev/null &&
	expect_sha "${CL_M[3]}/d1/cold.bin" "$cold_sum" &&
	after=$(cl_get 3 fetched_chunks) &&
	expect_eq "$after" "$fetched" "fetched_chunks on node 3 after the reread"
}
check "node 3: after dropping the page cache, reading the file again fetches nothing" reread_3

cl_done
