#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A listing of a directory does not wait for the commit of a file in it.
# A commit holds its file's node locked while it chunks the bytes (seconds
# for a large file; in a sanitizer build a 64 GiB sparse file took 9 s and
# `truncate -s 8T` ten minutes), and readdirplus used to wait for that lock
# to give the entry its attributes: `ls` of a download directory hung until
# the download's close was done.  Here the commit is held for the test
# (MODELFS_TEST_COMMIT_HOLD) and the listings must finish while it is:
# readdirplus sends such an entry without attributes instead.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
HOLD=$WORK/hold
export MODELFS_TEST_COMMIT_HOLD=$HOLD
check "mount (commits wait for $HOLD)" mfs_mount "$M" "$D" || mfs_abort "no mount"
unset MODELFS_TEST_COMMIT_HOLD

writer=
setup() {
	mkdir "$M/dl" && touch "$HOLD" && for i in 1 2 3; do echo "$i" >"$M/dl/done$i" || return 1; done &&
	rm "$HOLD" "$HOLD.held" && ls -l "$M/dl" >/dev/null && sync
}
check "a directory with three files" setup

committing() {
	(echo "model bytes" >"$M/dl/model.bin") &
	writer=$!
	wait_for 300 test -e "$HOLD.held" || { echo "the commit never started" >&2; return 1; }
}
check "a file whose commit is under way (held)" committing

# Each listing runs with a bound far above what it needs: without the fix
# it waits for the commit, which waits for $HOLD, so it would never end.
listing() { # WHAT CMD...
	local out
	out=$(timeout 20 "$@" 2>&1) || { echo "$1 did not finish while the commit was held: $out" >&2; return 1; }
	case "$out" in
	*model.bin*) ;;
	*) echo "$1 does not list model.bin: $out" >&2; return 1 ;;
	esac
	pid_alive "$writer" || { echo "the writer's close ended: the commit was not held" >&2; return 1; }
}
check "ls -f lists the directory while the commit is held" listing ls -f "$M/dl"
check "find lists it too" listing find "$M/dl"
check "a second ls -f, with the kernel's entries cached" listing ls -f "$M/dl"

release() { touch "$HOLD" && wait "$writer"; }
check "the commit goes on once released; the writer's close succeeds" release
check "model.bin has its bytes" expect_eq "$(cat "$M/dl/model.bin")" "model bytes" model.bin
check "stat after the commit: its size" expect_eq "$(stat -c %s "$M/dl/model.bin")" 12 size

mfs_done
