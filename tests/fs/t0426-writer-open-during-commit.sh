#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A writer whose open(2) comes in while another writer's close commits
# the file must write on from what that commit publishes, and a writer
# that opens the path after it must share its bytes, as on tmpfs: two
# processes counting in one file under lockf (open, lock, read, write,
# unlock, close) lost about 1 update in 10 (hunt s41).  The commit is held
# (MODELFS_TEST_COMMIT_HOLD) while the other open comes in, so each
# order is made, not waited for; the driver is t0426-*.py beside this.
#  1. superseded: the open meets the inode a commit is superseding (its
#     staging started from the version before, fs_read.c open_node from).
#  2. alone: the open meets the node the commit runs on, after every
#     writer closed; the path's new inode showed none of its writes
#     (no view), so the next writer started a staging of its own.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
HOLD=$WORK/hold
DRIVER=$(dirname "$0")/t0426-writer-open-during-commit.py

touch "$HOLD"
export MODELFS_TEST_COMMIT_HOLD=$HOLD
check "mount (commits wait for $HOLD when it is gone)" mfs_mount "$M" "$D" || mfs_abort "no mount"
unset MODELFS_TEST_COMMIT_HOLD

# drive CASE FILE: five rounds; the driver prints what each open read.
drive() {
	"$PY" "$DRIVER" "$1" "$2" "$HOLD" 5 >"$WORK/$1.out" 2>&1
	local rc=$?
	cat "$WORK/$1.out" >&2
	touch "$HOLD" # a failed round must not leave commits held
	return "$rc"
}
check "a writer that opens while a commit supersedes its inode reads that commit's bytes" \
	drive superseded "$M/s"
check "a writer that opens during the lone writer's commit shares its bytes with the next" \
	drive alone "$M/a"

mfs_done
