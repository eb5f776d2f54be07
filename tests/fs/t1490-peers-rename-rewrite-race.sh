#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A rename or a link of a file on one node racing a rewrite of the same
# file (a new version: a new inode) on another: the rewritten bytes are
# not lost, and the names lead to them (store/ns/ns_version.c).  Two
# nodes; with node 1 stopped node 2 renames d/b to d/b2, makes 40
# directories (its Lamport clock moves ahead), then renames d/a to d/a2,
# links d/c to d/ch and renames d/e to d/e2; with node 2 stopped node 1
# makes 10 directories, rewrites d/b, d/a, d/c and d/e, and renames a new
# file over d/e.  So the rename of b is the earlier op, the rename of a,
# the link of c and the rename of e the later.  Once both are back:
#  - d/a2 reads as the new bytes of a, on both nodes (node 1, which knew
#    the old inode as replaced, used to answer ESTALE there; node 2 read
#    the old bytes); no d/a;
#  - d/c and d/ch are one file with the new bytes (nlink 2);
#  - d/b reads as its new bytes (the rewrite, the later, deleted the old
#    version the earlier rename named b2: that name is gone);
#  - d/e2 reads as the old bytes of e: the rename put the old version back
#    and no later version holds a name to take it over; node 1, which had
#    superseded it, used to answer ESTALE there for as long as it ran (the
#    rename, the later, removed the name e too);
#  - after gc, each node counts 4 files (status `files`: no old version
#    kept beside a new one, no new one left without a name) and fsck is
#    clean.
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
	local f
	mkdir -p "$S" || return 1
	for f in a b c e a.new b.new c.new e.new o; do
		randfile "$S/$f" $((2 * MiB)) || return 1
	done
	mkdir "$A/d" && cp "$S/a" "$S/b" "$S/c" "$S/e" "$A/d/" &&
	cl_wait_converged && wait_for "$CL_READ_TRIES" files_is 2 4
}
check "node 1 writes d/a, d/b, d/c, d/e; node 2 sees them" setup || mfs_abort "no files"

race() {
	local i
	cl_stop 1 && mv "$B/d/b" "$B/d/b2" || return 1
	for i in $(seq 1 40); do
		mkdir "$B/tick$i" || return 1
	done
	mv "$B/d/a" "$B/d/a2" && ln "$B/d/c" "$B/d/ch" && mv "$B/d/e" "$B/d/e2" &&
	cl_stop 2 && cl_restart 1 || return 1
	for i in $(seq 1 10); do
		mkdir "$A/tock$i" || return 1
	done
	cp "$S/b.new" "$A/d/b" && cp "$S/a.new" "$A/d/a" && cp "$S/c.new" "$A/d/c" &&
	cp "$S/e.new" "$A/d/e" && cp "$S/o" "$A/d/o" && mv "$A/d/o" "$A/d/e" &&
	cl_restart 2 && cl_wait_formed && cl_wait_converged
}
check "node 2 renames b, a, e and links c while node 1 rewrites them; the trees converge" race

outcome() {
	local i m
	for i in 1 2; do
		m=${CL_M[$i]}
		expect_listing "$m/d" a2 b c ch e2 &&
		expect_sha "$m/d/e2" "$(file_sha "$S/e")" &&
		expect_sha "$m/d/a2" "$(file_sha "$S/a.new")" &&
		expect_sha "$m/d/b" "$(file_sha "$S/b.new")" &&
		expect_sha "$m/d/c" "$(file_sha "$S/c.new")" &&
		expect_sha "$m/d/ch" "$(file_sha "$S/c.new")" &&
		expect_eq "$(stat -c %h "$m/d/c")" 2 "node $i: nlink of d/c" &&
		expect_eq "$(stat -c %i "$m/d/c")" "$(stat -c %i "$m/d/ch")" "node $i: d/c and d/ch one file" ||
			{ echo "node $i: $(ls -li "$m/d" 2>&1)" >&2; return 1; }
	done
}
check "a2, c and ch hold the rewritten bytes, b its own, e2 the old e, on both nodes" outcome

four_files() {
	local i
	admin gc --apply "$A" >/dev/null && admin gc --apply "$B" >/dev/null || return 1
	for i in 1 2; do
		wait_for "$CL_READ_TRIES" files_is "$i" 4 ||
			{ echo "node $i: status files is $(cl_get "$i" files), want 4" >&2; return 1; }
	done
}
check "after gc each node holds 4 file records: no old version kept, no new one nameless" four_files
check "fsck on node 1 is clean" expect_status 0 admin fsck "$A"
check "fsck on node 2 is clean" expect_status 0 admin fsck "$B"

cl_done
