#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Differential test against the kernel's own filesystem: tests/tools/fsdiff
# runs the same random op stream (fixed seeds) in a tmpfs and in the mount,
# step by step, and compares results, errno, stat fields, listings, bytes
# and xattrs after every op (HACKING.md, Tests).  Some ops run as an
# unprivileged uid, so the mount has allow_other (default_permissions is
# always on); the tmpfs is nosuid,nodev like a FUSE mount.
#
# FSDIFF_SEEDS ("SEED:COUNT:PROCS ...") and FSDIFF_OPS (fsdiff --ops) change
# the runs: make check-diff-long runs many more seeds and ops.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

FSDIFF=$MFS_BUILD/tests/tools/fsdiff
[ -x "$FSDIFF" ] || mfs_abort "no $FSDIFF (make check builds it)"
M=$WORK/mnt
D=$WORK/data
R=$WORK/ref
# 20,000 ops in all: two single streams and four processes at once.
SEEDS=${FSDIFF_SEEDS:-"1:5000:1 2:5000:1 3:2500:4"}
OPS=${FSDIFF_OPS:-}

# The work dir is 0700 (mktemp): without this the ops fsdiff runs as uid
# 4242 would fail on both sides at the first path component, untested.
chmod 755 "$WORK"
check "mount with allow_other" mfs_mount "$M" "$D" allow_other || mfs_abort "no mount"
check "tmpfs reference" mfs_tmpfs "$R" "256m,nosuid,nodev" || mfs_abort "no tmpfs"

fsdiff_run() { # SEED COUNT PROCS
	local dir=$1.$2.$3
	mkdir "$M/$dir" "$R/$dir" &&
	"$FSDIFF" --ref "$R/$dir" --mnt "$M/$dir" --seed "$1" --count "$2" --procs "$3" \
		--keep-going ${OPS:+"--ops=$OPS"} 2>&1 | tail -n 40 >"$WORK/fsdiff.out"
	local rc=${PIPESTATUS[0]}
	cat "$WORK/fsdiff.out"
	return "$rc"
}
# Every stream runs to its end (--keep-going), so all 20,000 ops reach the
# daemon even past a divergence: the daemon must live through them and the
# store be clean afterwards.  The divergences themselves are known and open
# (issue 9's note lists them): TODO until fixed, so they stay visible.
alive() { pid_alive "$(mfs_daemon_pid "$M")" && ls "$M" >/dev/null; }
for run in $SEEDS; do
	IFS=: read -r seed count procs <<<"$run"
	check_todo "open divergences from tmpfs (issue 9)" \
		"seed $seed: $count ops in $procs process(es), same results as tmpfs${OPS:+ (ops $OPS)}" \
		fsdiff_run "$seed" "$count" "$procs"
	check "seed $seed: the daemon lived through every op" alive || mfs_abort "the daemon died"
done
check "fsck is clean after the runs" expect_status 0 "$ADMIN_BIN" fsck "$M"

mfs_done
