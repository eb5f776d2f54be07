#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A write answered before its bytes reach the staging (fs_write.c,
# answer_first) whose bytes then fail to go in: the writer was told the
# write succeeded, so the failure must come at fsync and close, as a
# failed writeback does on a kernel filesystem, and the version with the
# missing bytes must never be published.  MODELFS_TEST_STAGING_EIO_AT=N
# (test only) fails the staged write that covers byte N.
#  1. dd's writes succeed and its fsync fails with EIO; a writer that
#     writes on after the failed fsync fails again at its next fsync and
#     at close (the missing bytes stay missing);
#  2. the path never shows the failed version: a file written whole the
#     same way is not published (still empty), an existing file keeps
#     its old bytes;
#  3. a truncate to 0 forgets the missing bytes: the file written anew
#     (below the failing offset) commits, and other files are untouched.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
S=$WORK/src
mkdir -p "$S"
mfs_log_allow "$D" 'failed after it was answered'
check "a 16 MiB source and a 4 MiB one" eval 'randfile "$S/f" $((16 * MiB)) && randfile "$S/g" $((4 * MiB))' ||
	mfs_abort "no sources"

export MODELFS_TEST_STAGING_EIO_AT=$((8 * MiB + 5))
check "mount, the staged write at 8 MiB + 5 to fail" mfs_mount "$M" "$D" || mfs_abort "no mount"
unset MODELFS_TEST_STAGING_EIO_AT
check "an older version of old" eval 'cp "$S/g" "$M/old"'
old_sum=$(file_sha "$S/g")

# fsync_fails PATH: writes the source through dd with fsync; dd must fail
# at the fsync (every write was answered) with EIO.
fsync_fails() {
	local out rc=0
	out=$(dd if="$S/f" of="$1" bs=1M conv=fsync,notrunc status=none 2>&1) || rc=$?
	note "dd: status $rc: $out"
	[ "$rc" -ne 0 ] || { echo "dd succeeded over a failed staged write" >&2; return 1; }
	case $out in
	*"fsync failed"*"Input/output error"* | *"Input/output error"*) ;;
	*) echo "dd failed, but not with EIO at fsync: $out" >&2; return 1 ;;
	esac
}
check "a new file: the writes succeed, the fsync fails with EIO" fsync_fails "$M/new"

# Python: writes all, then fsync; writes on, then fsync, then writes on and
# closes: each must say EIO (the missing bytes stay missing: a commit that
# failed leaves nothing dirty, so each round writes first).
every_sync_fails() {
	"$PY" - "$S/f" "$1" <<'PY'
import errno, os, sys
src, dst = sys.argv[1], sys.argv[2]
fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
with open(src, "rb") as f:
    data = f.read()
assert os.write(fd, data) == len(data)
for what in ("fsync", "fsync after a write past the hole", "close after another write"):
    try:
        if what != "fsync":
            assert os.write(fd, b"x") == 1
        (os.close if what.startswith("close") else os.fsync)(fd)
    except OSError as e:
        if e.errno != errno.EIO:
            sys.exit(f"{what}: {e}")
        continue
    sys.exit(f"{what} succeeded over a failed staged write")
PY
}
check "an existing file rewritten: fsync, and fsync and close after more writes, fail with EIO" every_sync_fails "$M/old"

not_published() {
	expect_eq "$(stat -c %s "$M/new")" 0 "size of new (never published whole)" || return 1
	expect_sha "$M/old" "$old_sum"
}
check "neither failed version was published" not_published

# A truncate to 0 drops the bytes that were missing: the file commits again.
anew() {
	"$PY" - "$S/g" "$M/new" <<'PY'
import os, sys
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_TRUNC)
with open(sys.argv[1], "rb") as f:
    os.write(fd, f.read())
os.fsync(fd)
os.close(fd)
PY
	expect_sha "$M/new" "$old_sum"
}
check "new written anew below 8 MiB after a truncate to 0 commits" anew
check "a remount shows what was committed" eval 'mfs_umount "$M" && mfs_mount "$M" "$D" && expect_sha "$M/new" "$old_sum" && expect_sha "$M/old" "$old_sum"'

check "umount" mfs_umount "$M"
check_log "$D"
mfs_done
