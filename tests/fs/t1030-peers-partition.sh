#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A network partition heals to one tree.  Three nodes, each daemon in its own
# network namespace on a private bridge (the FUSE mounts stay in this mount
# namespace: the daemons run under nsenter --net).  Node 3's link is cut;
# each side sees the other down and writes: different files, and the same
# path with different bytes on each side.  After the link is up again every
# node lists the same names with the same bytes; the path written on both
# sides holds one of the two versions, whole, the same everywhere.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
cl_init 3 netns

S=$WORK/src
declare -A sum=()
check "start 3 nodes in network namespaces" cl_start_all || mfs_abort "no cluster"

before() {
	randfile "$S/base" $((6 * MiB)) && sum[base]=$(file_sha "$S/base") &&
	cp "$S/base" "${CL_M[1]}/base.bin" &&
	cl_wait_converged
}
check "a file written on node 1 before the partition reaches every node" before

# peers_up of each node is WANT (node numbers and counts alternate).
peers_up_are() {
	while [ $# -gt 0 ]; do
		[ "$(cl_get "$1" peers_up)" = "$2" ] || return 1
		shift 2
	done
}
partition() {
	cl_partition 3 || return 1
	wait_for "$CL_TRIES" peers_up_are 1 1 2 1 3 0 && return 0
	echo "peers_up after cutting node 3 off (want 1, 1, 0):" >&2
	_cl_report peers_up 1 2 3
	return 1
}
check "cut node 3's link: nodes 1 and 2 see 1 peer up, node 3 none" partition || mfs_abort "no partition"

both_sides_write() {
	local v
	for v in maj min same1 same3; do
		randfile "$S/$v" $((4 * MiB + ${#v})) && sum[$v]=$(file_sha "$S/$v") || return 1
	done
	cp "$S/maj" "${CL_M[1]}/majority.bin" &&
	mkdir "${CL_M[2]}/from-2" && echo two >"${CL_M[2]}/from-2/note" &&
	cp "$S/min" "${CL_M[3]}/minority.bin" &&
	mkdir "${CL_M[3]}/from-3" && echo three >"${CL_M[3]}/from-3/note" &&
	cp "$S/same1" "${CL_M[1]}/same.bin" &&
	cp "$S/same3" "${CL_M[3]}/same.bin" &&
	rm "${CL_M[3]}/base.bin" &&
	expect_sha "${CL_M[1]}/same.bin" "${sum[same1]}" &&
	expect_sha "${CL_M[3]}/same.bin" "${sum[same3]}"
}
check "both sides write: different files, and same.bin with different bytes; node 3 removes base.bin" both_sides_write

sides_apart() {
	cl_wait_converged 1 2 &&
	expect_listing "${CL_M[2]}" base.bin majority.bin from-2 same.bin &&
	expect_listing "${CL_M[3]}" minority.bin from-3 same.bin
}
check "while apart: nodes 1 and 2 agree; node 3 sees only its own changes" sides_apart

check "heal: every node sees its 2 peers up" eval 'cl_heal 3 && cl_wait_formed'
check "the trees converge after the heal" cl_wait_converged

merged() {
	local i got
	for i in 1 2 3; do
		expect_listing "${CL_M[$i]}" majority.bin minority.bin from-2 from-3 same.bin &&
		expect_sha "${CL_M[$i]}/majority.bin" "${sum[maj]}" &&
		expect_sha "${CL_M[$i]}/minority.bin" "${sum[min]}" &&
		expect_eq "$(cat "${CL_M[$i]}/from-2/note")$(cat "${CL_M[$i]}/from-3/note")" twothree "notes on node $i" ||
			return 1
	done
	got=$(file_sha "${CL_M[1]}/same.bin")
	case "$got" in
	"${sum[same1]}") note "same.bin: node 1's version won" ;;
	"${sum[same3]}") note "same.bin: node 3's version won" ;;
	*) echo "same.bin is neither version: $got" >&2; return 1 ;;
	esac
}
check "merged: both sides' files, base.bin removed, same.bin one whole version everywhere" merged
check "repl_backlog is 0 on every node" cl_wait_backlog0

cl_done
