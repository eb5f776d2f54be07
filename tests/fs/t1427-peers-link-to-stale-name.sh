#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A link or a rename to a name that a file's record still lists, but whose
# entry a peer's unlink took (store/ns/namespace.h, "Hard links", 4).  Node
# 3 writes d/f and d/g and links them as d/k and d/h, then stops: the
# node that made a file lists its names again after each peer op, and
# here nobody does until it is back.  With node 1 stopped node 2 removes
# d/k and d/h; with node 2 stopped node 1 (its clock moved ahead by ten
# mkdirs) chmods d/f and d/g; both back, node 1's records, the later, win
# on both: f lists f and k, g lists g and h, and k and h have no entry.
# Node 1 then links d/f as d/k and renames d/g to d/h.  The records listed
# k and h twice: d/f nlink 3 for two names, d/h nlink 2 for one, on every
# node, and node 3, back, kept both copies as names that lead to the file,
# so gc never made them right (t1496: status counted a file more than the
# tree showed).  Each name is listed once now: nlink 2 and 1 on every
# node, after node 3 is back, and status counts what the tree shows.
# shellcheck source-path=SCRIPTDIR
MFS_TEST_TIMEOUT=${MFS_TEST_TIMEOUT:-600}   # three nodes, stopped and started; under load
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
CL_OPTS=gc_interval_s=0
cl_init 3

M1=${CL_M[1]}
M2=${CL_M[2]}
M3=${CL_M[3]}
check "start 3 nodes" cl_start_all || mfs_abort "no cluster"

setup() {
	mkdir "$M3/d" && randfile "$M3/d/f" 100000 && randfile "$M3/d/g" 100000 &&
	ln "$M3/d/f" "$M3/d/k" && ln "$M3/d/g" "$M3/d/h" && cl_wait_converged && cl_stop 3
}
check "node 3 writes d/f (also d/k) and d/g (also d/h), every node sees them; node 3 stops" setup ||
	mfs_abort "no files"
race() {
	local i
	cl_stop 1 && rm "$M2/d/k" "$M2/d/h" && cl_stop 2 && cl_restart 1 &&
	for i in 1 2 3 4 5 6 7 8 9 10; do mkdir "$M1/t$i" || return 1; done &&
	chmod 600 "$M1/d/f" "$M1/d/g" && cl_restart 2 && cl_wait_formed && cl_wait_converged &&
	expect_listing "$M1/d" f g && expect_listing "$M2/d" f g
}
check "node 2 unlinks d/k and d/h while node 1, later, chmods d/f and d/g" race
relink() { ln "$M1/d/f" "$M1/d/k" && mv "$M1/d/g" "$M1/d/h"; }
check "node 1 links d/f as d/k and renames d/g to d/h" relink

nlink_is() { [ "$(stat -c %h "$1")" = "$2" ]; }
# names_counted I...: on each node, d/f and d/k are one file of nlink 2, d/h one of nlink 1.
names_counted() {
	local i
	for i in "$@"; do
		expect_listing "${CL_M[$i]}/d" f h k || return 1
		wait_for "$CL_READ_TRIES" nlink_is "${CL_M[$i]}/d/f" 2 ||
			{ echo "node $i: nlink of d/f is $(stat -c %h "${CL_M[$i]}/d/f"), want 2 (f, k)" >&2; return 1; }
		wait_for "$CL_READ_TRIES" nlink_is "${CL_M[$i]}/d/h" 1 ||
			{ echo "node $i: nlink of d/h is $(stat -c %h "${CL_M[$i]}/d/h"), want 1" >&2; return 1; }
	done
}
check "node 1: d/f nlink 2 (f, k), d/h nlink 1" names_counted 1
check "node 2 too" eval 'cl_wait_converged && names_counted 2'
back() { cl_restart 3 && cl_wait_formed && cl_wait_converged; }
check "node 3, the files' maker, is back; the trees converge" back
check "d/f nlink 2, d/h nlink 1 on every node" names_counted 1 2 3
gc_all() {
	local i
	for i in 1 2 3; do
		expect_status 0 admin gc --apply "${CL_M[$i]}" || return 1
	done
	cl_wait_converged
}
check "gc on every node; the trees converge" gc_all
check "d/f nlink 2, d/h nlink 1 on every node after gc" names_counted 1 2 3
check "status files is what the tree shows, on every node" cl_wait_files_counted
for i in 1 2 3; do
	check "fsck of node $i: clean" expect_status 0 admin fsck "${CL_M[$i]}"
done

cl_done
