#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# lost+found across two nodes.  /D exists on both.  With node 2 stopped,
# node 1 writes D/f (4 MiB) and D/sub/g; with node 1 stopped, node 2
# removes the (on its side empty) D.  Both back: they converge on a tree
# where D is gone and f and sub are unreachable.  fsck reports the two
# unreachable entries (exit 4); `gc --apply` on node 1 moves them into
# /lost+found as D's inode number in hex, '-', the name; node 2 sees
# them there, f reads back byte-identical and sub/g too on both nodes,
# fsck is clean on both, and the trees agree.  The gc timer is off
# (gc_interval_s=0), so nothing moves before fsck has looked.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
CL_OPTS=gc_interval_s=0
cl_init 2

S=$WORK/src
M1=${CL_M[1]}
M2=${CL_M[2]}
sumf=
sumg=
dhex=
check "start 2 nodes" cl_start_all || mfs_abort "no cluster"

mkdir_d() {
	mkdir "$M1/D" && cl_wait_converged meta &&
	dhex=$(printf '%016x' "$(stat -c %i "$M2/D")") && note "D is inode $dhex"
}
check "node 1: mkdir /D; node 2 sees it" mkdir_d || mfs_abort "no D"

one_up() { [ "$(cl_get "$1" peers_up)" = 0 ]; }
create_while_2_down() {
	cl_stop 2 && wait_for 200 one_up 1 &&
	mkdir -p "$S" && randfile "$S/f" $((4 * MiB)) && sumf=$(file_sha "$S/f") &&
	echo "g's bytes" >"$S/g" && sumg=$(file_sha "$S/g") &&
	cp "$S/f" "$M1/D/f" && mkdir "$M1/D/sub" && cp "$S/g" "$M1/D/sub/g"
}
check "node 2 stopped; node 1 writes D/f and D/sub/g" create_while_2_down
rmdir_while_1_down() {
	cl_stop 1 && cl_restart 2 && [ -d "$M2/D" ] && [ -z "$(ls -A "$M2/D")" ] && rmdir "$M2/D"
}
check "node 1 stopped; node 2 (D empty there) removes D" rmdir_while_1_down
both_back() { cl_restart 1 && cl_wait_formed && cl_wait_converged meta; }
check "node 1 back: the trees converge" both_back
gone() {
	local i
	for i in 1 2; do
		[ ! -e "${CL_M[$i]}/D" ] || { echo "node $i still shows D" >&2; return 1; }
	done
}
check "D is gone on both nodes" gone

unreachable() {
	local rc
	admin fsck --json "$M1" >"$WORK/u.json" 2>&1
	rc=$?
	expect_eq "$rc" 4 "fsck exit status" &&
	expect_eq "$(json_get unreachable_entries <"$WORK/u.json")" 2 unreachable_entries &&
	expect_eq "$("$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(sorted(c["path"] for c in d["chunks"] if c["kind"] == "unreachable"))' "$WORK/u.json")" \
		"['(deleted directory)/f', '(deleted directory)/sub']" "the unreachable entries"
}
check "fsck of node 1: 2 unreachable entries, exit 4" unreachable
check "fsck of node 2 agrees (exit 4)" expect_status 4 admin fsck "$M2"

adopt() {
	expect_status 0 admin gc --apply --json "$M1" &&
	expect_eq "$(json_get lost_found_moved <"$WORK/.cmd.out")" 2 lost_found_moved
}
check "gc --apply on node 1 moves both into /lost+found" adopt
there() {
	[ -f "$1/lost+found/$dhex-f" ] && [ -f "$1/lost+found/$dhex-sub/g" ]
}
found_everywhere() {
	local i
	for i in 1 2; do
		wait_for "$CL_TRIES" there "${CL_M[$i]}" ||
			{ echo "node $i: $(ls -la "${CL_M[$i]}/lost+found" 2>&1)" >&2; return 1; }
		expect_sha "${CL_M[$i]}/lost+found/$dhex-f" "$sumf" &&
		expect_sha "${CL_M[$i]}/lost+found/$dhex-sub/g" "$sumg" || return 1
	done
	expect_eq "$(stat -c %a "$M2/lost+found")" 700 "mode of lost+found"
}
check "both nodes show /lost+found/$dhex-f and $dhex-sub/g, byte-identical" found_everywhere
check "the trees agree" cl_wait_converged
check "fsck of node 1: clean" expect_status 0 admin fsck "$M1"
check "fsck of node 2: clean" expect_status 0 admin fsck "$M2"
again() {
	expect_status 0 admin gc --apply --json "$M2" &&
	expect_eq "$(json_get lost_found_moved <"$WORK/.cmd.out")" 0 "lost_found_moved on node 2"
}
check "gc --apply on node 2: nothing left to move" again
move_out() { mv "$M2/lost+found/$dhex-f" "$M2/f" && cl_wait_sha 1 f "$sumf"; }
check "the file can be moved out of lost+found, and node 1 reads it there" move_out

cl_done
