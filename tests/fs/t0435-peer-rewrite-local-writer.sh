#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A peer rewrites a file while a local process holds it open for writing;
# later local writers and truncates must reach the peer's version.
#
# Node 1: P holds F open (exec 7>>F, one line written), so P's inode is
# listed as the file's stager (fuse/stager.c).  Node 2 rewrites F: on node 1
# the path then names a new inode of the same file id, and P's inode is
# deleted, with no successor link (only local commits make one).  The
# stager record stayed in force (review3 s42 #1): a later `echo q >>F` on
# node 1 joined P's dead staging, its close published to the deleted inode,
# got ENOENT, dropped the bytes and returned 0; `truncate -s 2 F` and
# truncate(2) were lost the same way.  Now a stager whose chain does not
# lead to the opener's version is skipped (and unlisted): the opener stages
# the peer's version.
#
# P's own bytes keep the behaviour they had before stager.c: the peer's
# rewrite replaced the file P writes (as a rename over it would), so P's
# close publishes nothing over the newer version and returns 0.  Checked:
# P's close undoes neither q's line nor the cut.
#
# Cases (one file each): `echo q >>F`; `truncate -s 2 F` (an open and an
# ftruncate); os.truncate(F, 2) (a truncate(2) with no descriptor: the
# TRUNCATE_STAGER path of fs_write.c).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
cl_init 2
M1=${CL_M[1]}
M2=${CL_M[2]}
check "start 2 nodes" cl_start_all || mfs_abort "no cluster"

sha_of() { printf '%b' "$1" | sha256sum | cut -d' ' -f1; }
# sees I FILE BYTES: node I reads FILE as BYTES (printf %b), waiting for replication.
sees() { wait_until _cl_sha_is "${CL_M[$1]}/$2" "$(sha_of "$3")" ||
	{ echo "node $1: $2 reads $(od -c "${CL_M[$1]}/$2" | head -3 | tr '\n' ' ')" >&2; return 1; }; }
# reads_now FILE BYTES: node 1 reads FILE as BYTES now (a local close has committed).
reads_now() {
	local want got
	want=$(sha_of "$2")
	got=$(file_sha "$M1/$1") || return 1
	[ "$got" = "$want" ] && return 0
	echo "node 1: $1 reads $(od -c "$M1/$1" | head -3 | tr '\n' ' '), want $(printf '%q' "$2")" >&2
	return 1
}

# everywhere FILE BYTES: node 1 reads FILE as BYTES now, and node 2 gets it
# (no wait for node 2 when node 1 is wrong already).
everywhere() { reads_now "$1" "$2" && sees 2 "$1" "$2"; }

# setup F: F is 'base\n' on both nodes, P (fd 7) holds it open for
# appending on node 1 with 'p1\n' written, and node 2 rewrote it to
# 'peer\n', which node 1 shows.
setup() {
	printf 'base\n' >"$M1/$1" && sees 2 "$1" 'base\n' || return 1
	exec 7>>"$M1/$1" && echo p1 >&7 || return 1
	printf 'peer\n' >"$M2/$1.tmp" && cat "$M2/$1.tmp" >"$M2/$1" && rm -f "$M2/$1.tmp" &&
		sees 1 "$1" 'peer\n'
}
# p_closes F: P writes on and closes: its close returns 0 (the file it
# wrote was replaced) and publishes nothing over the peer's version.
p_closes() {
	echo p2 >&7 || return 1
	exec 7>&- || { echo "P's close failed" >&2; return 1; }
}

check "append: setup" setup Fa
check "append: a local writer's append after the peer's rewrite returns 0" \
	bash -c 'echo q >>"$1"' sh "$M1/Fa"
check "append: both nodes read its line after the peer's version" everywhere Fa 'peer\nq\n'
check "append: P writes on and closes" p_closes
check "append: P's close undid nothing" everywhere Fa 'peer\nq\n'

check "truncate -s: setup" setup Ft
check "truncate -s: cut after the peer's rewrite" truncate -s 2 "$M1/Ft"
check "truncate -s: both nodes read the cut" everywhere Ft 'pe'
check "truncate -s: P writes on and closes" p_closes
check "truncate -s: P's close undid nothing" everywhere Ft 'pe'

check "truncate(2): setup" setup Fp
check "truncate(2): cut after the peer's rewrite" \
	"$PY" -c 'import os, sys; os.truncate(sys.argv[1], 2)' "$M1/Fp"
check "truncate(2): both nodes read the cut" everywhere Fp 'pe'
check "truncate(2): P writes on and closes" p_closes
check "truncate(2): P's close undid nothing" everywhere Fp 'pe'

cl_done
