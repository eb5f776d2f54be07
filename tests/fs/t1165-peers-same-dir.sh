#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The same directory made on two nodes at once (mkdir -p of one path, as
# two downloads of one model into a shared cache do) is one directory once
# the nodes meet: what each node put in it is there, on both nodes.
#
# With node 2 stopped, node 1 makes D/w/sub and writes D/w/f1 (1 MiB),
# D/w/sub/g1, D/w/same and a file D/x; with node 1 stopped, node 2 (which
# never saw node 1's D) makes D/w/sub and D/w/only2 itself and writes
# D/w/f2, D/w/sub/g2, a different D/w/same, and D/x/in in a directory D/x.
# Both back: the trees converge; D/w holds f1, f2, only2 and sub/{g1,g2}
# with their bytes on both nodes; D/w/same reads as one writer's bytes
# (two files of one name: the last writer's, README); D/x is the file or
# the directory, and the other is in /lost+found, not lost; a new file
# made in D/w on either node shows on the other; fsck is clean on both.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 2

S=$WORK/src
M1=${CL_M[1]}
M2=${CL_M[2]}
check "start 2 nodes" cl_start_all || mfs_abort "no cluster"

mkdir -p "$S" && randfile "$S/f1" $((1 * MiB)) && randfile "$S/f2" $((1 * MiB)) &&
	echo "g1" >"$S/g1" && echo "g2" >"$S/g2" && echo "same from 1" >"$S/s1" &&
	echo "same from 2" >"$S/s2" || mfs_abort "no sources"

one_up() { [ "$(cl_get "$1" peers_up)" = 0 ]; }
on_1() {
	cl_stop 2 && wait_for 200 one_up 1 &&
	mkdir -p "$M1/D/w/sub" && cp "$S/f1" "$M1/D/w/f1" && cp "$S/g1" "$M1/D/w/sub/g1" &&
	cp "$S/s1" "$M1/D/w/same" && echo one >"$M1/D/x"
}
check "node 2 stopped; node 1 makes D/w/sub and writes f1, sub/g1, same, and a file D/x" on_1
on_2() {
	cl_stop 1 && cl_restart 2 && [ ! -e "$M2/D" ] &&
	mkdir -p "$M2/D/w/sub" "$M2/D/w/only2" "$M2/D/x" && cp "$S/f2" "$M2/D/w/f2" &&
	cp "$S/g2" "$M2/D/w/sub/g2" && cp "$S/s2" "$M2/D/w/same" && echo two >"$M2/D/x/in"
}
check "node 1 stopped; node 2 makes D/w/sub, D/w/only2 and writes f2, sub/g2, same, D/x/in" on_2
both_back() { cl_restart 1 && cl_wait_formed && cl_wait_converged; }
check "node 1 back: the trees converge" both_back

merged() {
	local i m
	for i in 1 2; do
		m=${CL_M[$i]}
		expect_sha "$m/D/w/f1" "$(file_sha "$S/f1")" &&
		expect_sha "$m/D/w/f2" "$(file_sha "$S/f2")" &&
		expect_sha "$m/D/w/sub/g1" "$(file_sha "$S/g1")" &&
		expect_sha "$m/D/w/sub/g2" "$(file_sha "$S/g2")" &&
		[ -d "$m/D/w/only2" ] || { echo "node $i: $(ls -laR "$m/D" 2>&1)" >&2; return 1; }
	done
}
check "D/w holds what both nodes put in it, on both nodes" merged

same_kept() {
	local s
	s=$(cat "$M1/D/w/same") &&
	case $s in
	"same from 1" | "same from 2") ;;
	*) echo "D/w/same reads '$s'" >&2; return 1 ;;
	esac
}
check "D/w/same is one writer's file" same_kept

x_kept() {
	if [ -f "$M1/D/x" ]; then
		expect_eq "$(cat "$M1/D/x")" one D/x &&
		grep -rlx two "$M1/lost+found" >/dev/null
	else
		expect_eq "$(cat "$M1/D/x/in")" two D/x/in &&
		grep -rlx one "$M1/lost+found" >/dev/null
	fi || { echo "$(ls -laR "$M1/D" "$M1/lost+found" 2>&1)" >&2; return 1; }
}
check "D/x: the file or the directory has the name, the other is in /lost+found" x_kept

new_files() {
	echo new1 >"$M1/D/w/new1" && echo new2 >"$M2/D/w/sub/new2" &&
	cl_wait_sha 2 D/w/new1 "$(echo new1 | sha256sum | cut -d' ' -f1)" &&
	cl_wait_sha 1 D/w/sub/new2 "$(echo new2 | sha256sum | cut -d' ' -f1)"
}
check "a file made in D/w on either node shows on the other" new_files
check "the trees agree" cl_wait_converged
check "fsck of node 1: clean" expect_status 0 admin fsck "$M1"
check "fsck of node 2: clean" expect_status 0 admin fsck "$M2"

cl_done
