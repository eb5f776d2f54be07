#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Times replicate as they were set, directories' too.  cp -a, tar x and
# rsync -a set each directory's mtime after filling it, usually back in
# time; the peers merged directory times by the later mtime, so every
# directory on the other nodes kept the time of the copy, for ever (stat
# on node 2 disagreed with node 1; rsync from node 2 saw changes that were
# not there).  Here a model tree copied with cp -a and unpacked with tar x
# on node 1, a directory's mtime set back with touch -d, and directories
# moved and exchanged after their mtime was set: node 2 shows every mtime
# and ctime node 1 shows, and both show the source's mtimes.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
cl_init 2

check "start 2 nodes; each sees the other" cl_start_all || mfs_abort "no cluster"
M1=${CL_M[1]} M2=${CL_M[2]} S=$WORK/src

# times ROOT: a line per entry below ROOT: path, type, mtime and ctime (ns).
times() {
	(cd "$1" && find . -mindepth 1 -printf '%p %y %T@ %C@\n' | sort)
}
# mtimes ROOT: the same without ctime (the source's ctimes are its own).
mtimes() { times "$1" | cut -d' ' -f1-3; }
# seconds ROOT: mtimes in whole seconds (what a tar archive keeps).
seconds() { mtimes "$1" | sed 's/\.[0-9]*$//'; }

source_tree() {
	mkdir -p "$S/llm/tokenizer" "$S/llm/shards/a" "$S/llm/shards/b" &&
	randfile "$S/llm/shards/a/model-00001.safetensors" $((2 * MiB)) &&
	randfile "$S/llm/shards/b/model-00002.safetensors" $((1 * MiB + 7)) &&
	echo '{"hidden_size": 64}' >"$S/llm/config.json" &&
	echo '{"model": {"type": "BPE"}}' >"$S/llm/tokenizer/tokenizer.json" &&
	touch -h -d '2023-03-01 10:00:00' "$S/llm/config.json" "$S/llm/tokenizer/tokenizer.json" &&
	touch -d '2023-03-02 11:00:00' "$S/llm/shards/a" "$S/llm/shards/b" "$S/llm/shards" &&
	touch -d '2023-03-03 12:00:00' "$S/llm/tokenizer" "$S/llm" &&
	tar -C "$S" -cf "$WORK/llm.tar" llm
}
check "a model tree whose files and directories have 2023 mtimes" source_tree || mfs_abort "no source"

copies() {
	cp -a "$S/llm" "$M1/cp" && mkdir "$M1/tar" && tar -C "$M1/tar" -xf "$WORK/llm.tar" &&
	expect_eq "$(mtimes "$M1/cp")" "$(mtimes "$S/llm")" "mtimes of the cp -a copy on node 1" &&
	expect_eq "$(seconds "$M1/tar/llm")" "$(seconds "$S/llm")" "mtimes of the tar x copy on node 1"
}
check "node 1: cp -a and tar x keep every mtime" copies

moves() {
	mkdir -p "$M1/mv/a/c" "$M1/mv/b/x" "$M1/mv/p" "$M1/mv/q" &&
	touch -d '2022-01-01 00:00:00' "$M1/mv/b" "$M1/mv/a/c" "$M1/mv/p" "$M1/mv/q" &&
	mv "$M1/mv/b" "$M1/mv/a/b2" &&
	"$PY" -c '
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), 2):
    sys.exit("RENAME_EXCHANGE: errno %d" % ctypes.get_errno())' "$M1/mv/p" "$M1/mv/a/c" &&
	touch -d '2021-06-01 00:00:00' "$M1/mv/q"
}
check "node 1: directories moved and exchanged after their mtime was set back" moves

same_times() {
	times "$M1" >"$WORK/t1" && times "$M2" >"$WORK/t2" || return 1
	diff "$WORK/t1" "$WORK/t2" >&2 || { echo "times differ (< node 1, > node 2)" >&2; return 1; }
	expect_eq "$(mtimes "$M2/cp")" "$(mtimes "$S/llm")" "mtimes of the cp -a copy on node 2" &&
	expect_eq "$(seconds "$M2/tar/llm")" "$(seconds "$S/llm")" "mtimes of the tar x copy on node 2"
}
check "the trees converge" cl_wait_converged
check "node 2 shows every mtime and ctime node 1 shows, and the source's mtimes" same_times

# The same after node 2 restarts and after a create inside one of them
# on node 2: the later change's times hold on both.
later_create() {
	echo x >"$M2/cp/tokenizer/added.json" && cl_wait_converged && same_times_only
}
same_times_only() {
	times "$M1" >"$WORK/t1" && times "$M2" >"$WORK/t2" &&
	diff "$WORK/t1" "$WORK/t2" >&2
}
check "a create in cp/tokenizer on node 2: both nodes show its times" later_create
check "node 2 restarts: the same times on both" eval 'cl_stop 2 && cl_start 2 && cl_wait_formed && cl_wait_converged && same_times_only'

cl_done
