#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Special files and hard links replicate.  Two nodes; node 1 makes a FIFO, a
# character and a block device, a unix socket and a file with a second name
# in another directory: node 2 sees the same types, major and minor numbers,
# link counts, and both names on one inode.  A rewrite on node 2 through one
# name reads back through both names on node 1; unlink of one name on node
# 1 leaves the other, with nlink 1, on node 2.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
cl_init 2

check "start 2 nodes" cl_start_all || mfs_abort "no cluster"
M1=${CL_M[1]} M2=${CL_M[2]}

make_on_1() {
	mkdir "$M1/s" "$M1/other" &&
	mkfifo "$M1/s/fifo" &&
	mknod "$M1/s/chr" c 10 200 &&
	mknod "$M1/s/blk" b 7 300 &&
	expect_eq "$("$PY" "$HELPER" errno bind_unix "$M1/s/sock")" OK "bind of a unix socket" &&
	echo first >"$M1/s/f" &&
	ln "$M1/s/f" "$M1/other/f2" &&
	ln "$M1/s/chr" "$M1/other/chr2"
}
check "node 1: mkfifo, mknod c and b, a socket, two hard links" make_on_1 || mfs_abort "no files"
check "the trees converge" cl_wait_converged

reads_as() { [ "$(cat "$1" 2>/dev/null)" = "$2" ]; }
# stat_is NODE PATH FORMAT WANT
stat_is() { [ "$(stat -c "$3" "${CL_M[$1]}/$2" 2>/dev/null)" = "$4" ]; }
same_ino() { # NODE A B
	local a b
	a=$(stat -c %i "${CL_M[$1]}/$2") && b=$(stat -c %i "${CL_M[$1]}/$3") && [ "$a" = "$b" ]
}

seen_on_2() {
	expect_eq "$(stat -c %F "$M2/s/fifo")" fifo "fifo on node 2" &&
	expect_eq "$(stat -c '%F %t %T %h' "$M2/s/chr")" "character special file a c8 2" "chr on node 2" &&
	expect_eq "$(stat -c '%F %t %T %h' "$M2/s/blk")" "block special file 7 12c 1" "blk on node 2" &&
	expect_eq "$(stat -c %F "$M2/s/sock")" socket "sock on node 2" &&
	expect_eq "$(stat -c '%h %s' "$M2/other/f2")" "2 6" "f2 on node 2" &&
	expect_eq "$(cat "$M2/other/f2")" first "bytes of f2 on node 2" &&
	same_ino 2 s/f other/f2 && same_ino 2 s/chr other/chr2
}
check "node 2: types, major and minor, link counts, one inode per linked file" seen_on_2

fifo_on_2() {
	local got
	timeout 20 sh -c "echo via-node-2 >'$M2/s/fifo'" &
	got=$(timeout 20 cat "$M2/s/fifo") && wait $! &&
	expect_eq "$got" via-node-2 "bytes through the FIFO"
}
check "node 2: the replicated FIFO carries bytes" fifo_on_2

rewrite_on_2() {
	echo second >"$M2/other/f2" &&
	wait_for "$CL_READ_TRIES" reads_as "$M1/s/f" second &&
	expect_eq "$(cat "$M1/other/f2")" second "node 1 through other/f2" &&
	same_ino 1 s/f other/f2 &&
	wait_for "$CL_TRIES" stat_is 1 s/f %h 2
}
check "a rewrite on node 2 reads back through both names on node 1" rewrite_on_2

unlink_on_1() {
	rm "$M1/s/f" "$M1/s/chr" &&
	wait_for "$CL_TRIES" stat_is 2 other/f2 %h 1 &&
	wait_for "$CL_TRIES" stat_is 2 other/chr2 '%h %t %T' "1 a c8" &&
	expect_errno ENOENT lstat "$M2/s/f" &&
	expect_eq "$(cat "$M2/other/f2")" second "f2 on node 2 after the unlink"
}
check "unlink of one name on node 1: node 2 keeps the other, nlink 1" unlink_on_1
check "the trees converge again" cl_wait_converged

cl_done
