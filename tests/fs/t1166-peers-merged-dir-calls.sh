#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Calls into a directory that merged away go to the directory it merged
# into (store/ns/ns_forward.c).  Two nodes make one path's directory at
# once (two `mkdir -p` of one model's cache directory); the loser's maker
# merges its directory into the winner.  A process on that node that made
# its directory a moment before still holds it: the kernel resolved the
# path to it (its dentry, or an open directory).  In a CI run of t1170,
# huggingface_hub's makedirs of .locks/<repo> and then open(O_CREAT) of the
# lock file under it came back ENOENT, though nobody removed anything.
#
# Node 1's link is cut (network namespaces); node 1 makes D and a file in
# it, and a process on node 1 opens D and waits; then node 2 makes 20 files
# and D (a later Lamport stamp: its D wins the name) and the link comes back.  Node 1 merges
# its D into node 2's.  The waiting process, through its open directory
# (openat), then creates a file, makes a directory, finds the file made
# before the merge, renames a file, and removes one; every call works, and
# both nodes show the result under D.  Before the fix each call failed
# with ENOENT.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 2 netns

M1=${CL_M[1]} M2=${CL_M[2]}
for i in 1 2; do mfs_log_allow "${CL_D[$i]}" 'timed out|not answer|down|unreachable'; done
check "start 2 nodes in network namespaces" eval 'cl_start_all && cl_wait_formed 1 2' ||
	mfs_abort "no cluster"

alone() { [ "$(cl_get 1 peers_up)" = 0 ] && [ "$(cl_get 2 peers_up)" = 0 ]; }
check "cut node 1's link: each node sees no peer up" \
	eval 'cl_partition 1 && wait_for "$CL_TRIES" alone'

# holder DIR: opens DIR, says so, waits for "go" on its stdin, then calls into it.
holder() {
	"$PY" - "$1" <<'PYEOF'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
print("open", flush=True)
sys.stdin = open(os.environ["GO"])
sys.stdin.readline()
def call(what, f):
    try:
        f()
        print(what, "ok", flush=True)
    except OSError as e:
        print(what, "failed:", e.strerror, flush=True)
call("stat before", lambda: os.stat("before", dir_fd=fd))
call("create", lambda: os.close(os.open("made", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd)))
call("mkdir", lambda: os.mkdir("sub", dir_fd=fd))
call("rename", lambda: os.rename("made", "renamed", src_dir_fd=fd, dst_dir_fd=fd))
call("unlink", lambda: os.unlink("gone", dir_fd=fd))
PYEOF
}
mkfifo "$WORK/go" || mfs_abort "no fifo"
export GO=$WORK/go
on_1() {
	mkdir "$M1/D" && echo before >"$M1/D/before" && echo gone >"$M1/D/gone" || return 1
	holder "$M1/D" >"$WORK/holder.out" 2>&1 &
	hpid=$!
	wait_for 100 grep -qx open "$WORK/holder.out"
}
check "node 1 makes D with two files; a process opens D and waits" on_1
on_2() {
	local i
	mkdir "$M2/scratch" || return 1
	for ((i = 0; i < 20; i++)); do echo "$i" >"$M2/scratch/f$i" || return 1; done
	mkdir "$M2/D" && echo two >"$M2/D/two"
}
check "node 2 makes 20 files, then D (a later stamp) and a file in it" on_2
merged() { grep -q "merged into it" "${CL_D[1]}/modelfs.log"; }
check "the link comes back; node 1 merges its D into node 2's" \
	eval 'cl_heal 1 && wait_for "$CL_TRIES" merged'
calls() {
	echo go >"$WORK/go" && wait "$hpid" || return 1
	cat "$WORK/holder.out" >&2
	! grep -q failed "$WORK/holder.out" && [ "$(grep -c ' ok$' "$WORK/holder.out")" = 5 ]
}
check "through its open directory: stat, create, mkdir, rename and unlink all work" calls
check "the trees converge" cl_wait_converged 1 2
result() {
	local i m
	for i in 1 2; do
		m=${CL_M[$i]}
		[ -f "$m/D/before" ] && [ -f "$m/D/renamed" ] && [ -d "$m/D/sub" ] &&
			[ -f "$m/D/two" ] && [ ! -e "$m/D/made" ] && [ ! -e "$m/D/gone" ] ||
			{ echo "node $i: $(ls -la "$m/D" 2>&1)" >&2; return 1; }
	done
}
check "D on both nodes: before, two, renamed, sub; no made, no gone" result
check "fsck of node 1: clean" expect_status 0 admin fsck "$M1"
check "fsck of node 2: clean" expect_status 0 admin fsck "$M2"

cl_done
