#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A link on one node racing an unlink of another name of the same file on
# another node, then the last name removed: the file is gone from the
# store too, not only from view.  Two nodes.  A file's record lists its
# names; with node 1 stopped, node 2 unlinks a name, and with node 2
# stopped, node 1 (its Lamport clock moved ahead first, so its op is the
# later one) adds a link to the same file.  Once both are back, the link's
# record wins: it still lists the unlinked name, whose entry is gone
# (store/ns/namespace.h, "Hard links", 4).  Three files so:
#  - d/a (node 2: rm a; node 1: ln a ah): rm ah removes the last name;
#  - d/b (node 2: rm b; node 1: ln b bh): a rename over bh replaces it;
#  - d/c with names c and ch (node 2: rm ch; node 1: ln c c2): rm c2 on
#    node 2 leaves c with nlink 1, on both nodes, and rm c removes the file.
# Right after the race, nlink counts the names left (d/c 2: c and c2; d/ah
# 1): the node that made the files lists their names again as their
# entries have them (store/ns/ns_version.c, note 7); stat showed 3 and 2.
# After that every node counts one file (status `files`: the file renamed
# over bh) and fsck is clean.  Before the fix the stale name counted as a
# name: rm and rename kept each record (files 4), a file no path shows,
# whose chunks gc never freed, and c kept nlink 2 after rm c2.  Node 2's
# kernel, which counts nlink down by one itself at an unlink, showed 2 even
# then, for as long as it kept the attributes (an hour), until the daemon
# had it ask again after the unlink.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 2

S=$WORK/src
A=${CL_M[1]} B=${CL_M[2]}
check "start 2 nodes" cl_start_all || mfs_abort "no cluster"

files_is() { [ "$(cl_get "$1" files)" = "$2" ]; }
setup() {
	randfile "$S/a" $((2 * MiB)) && randfile "$S/b" $((2 * MiB)) &&
	randfile "$S/c" $((2 * MiB)) && randfile "$S/new" 4096 &&
	mkdir "$A/d" && cp "$S/a" "$S/b" "$S/c" "$A/d/" && ln "$A/d/c" "$A/d/ch" &&
	cl_wait_converged && wait_for "$CL_READ_TRIES" files_is 2 3
}
check "node 1 writes d/a, d/b, d/c (also named d/ch); node 2 sees them" setup ||
	mfs_abort "no files"

# Node 2's unlinks while node 1 is down, then node 1's links while node 2
# is down: neither sees the other's op before making its own.
race() {
	local i
	cl_stop 1 && rm "$B/d/a" "$B/d/b" "$B/d/ch" && cl_stop 2 && cl_restart 1 || return 1
	for i in 1 2 3 4 5 6 7 8 9 10; do
		mkdir "$A/tick$i" || return 1
	done
	ln "$A/d/a" "$A/d/ah" && ln "$A/d/b" "$A/d/bh" && ln "$A/d/c" "$A/d/c2" &&
	cl_restart 2 && cl_wait_formed && cl_wait_converged &&
	expect_listing "$B/d" ah bh c c2
}
check "node 2 unlinks a, b, ch while node 1 links ah, bh, c2: the links win" race

nlink_is() { [ "$(stat -c %h "$1")" = "$2" ]; }
counted() {
	local i
	for i in 1 2; do
		wait_for "$CL_READ_TRIES" nlink_is "${CL_M[$i]}/d/c" 2 ||
			{ echo "node $i: nlink of d/c is $(stat -c %h "${CL_M[$i]}/d/c"), want 2 (c, c2)" >&2; return 1; }
		wait_for "$CL_READ_TRIES" nlink_is "${CL_M[$i]}/d/ah" 1 ||
			{ echo "node $i: nlink of d/ah is $(stat -c %h "${CL_M[$i]}/d/ah"), want 1" >&2; return 1; }
	done
}
check "nlink counts the names left: d/c 2, d/ah 1, on both nodes" counted

names_gone() {
	rm "$A/d/ah" && cp "$S/new" "$A/d/new" && mv "$A/d/new" "$A/d/bh" &&
	rm "$B/d/c2" && expect_eq "$(stat -c %h "$B/d/c")" 1 "nlink of d/c on node 2" &&
	cl_wait_converged && expect_eq "$(stat -c %h "$A/d/c")" 1 "nlink of d/c on node 1" &&
	rm "$A/d/c" && cl_wait_converged &&
	expect_listing "$A/d" bh && expect_sha "$B/d/bh" "$(file_sha "$S/new")"
}
check "rm ah, mv new over bh, rm c2 (c: nlink 1), rm c" names_gone

one_file() {
	local i
	for i in 1 2; do
		wait_for "$CL_READ_TRIES" files_is "$i" 1 ||
			{ echo "node $i: status files is $(cl_get "$i" files), want 1" >&2; return 1; }
	done
}
check "each node holds one file record: the removed files are gone from the store" one_file
check "fsck on node 1 is clean" expect_status 0 "$ADMIN_BIN" fsck "$A"

cl_done
