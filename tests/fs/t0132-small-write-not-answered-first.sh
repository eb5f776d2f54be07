#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A small write is stored before it is answered (fs_write.c, answer_first,
# ANSWER_FIRST_MIN): answered first, it woke the writer while the handler
# still held the file's lock, and a small file's close (its FLUSH) then
# slept on that lock until the copy was done (issue 10, row 7).  What a
# writer sees tells which way a write went: with MODELFS_TEST_STAGING_EIO_AT
# (test only) failing the staged write that covers byte 5,
#  1. a 4 KiB write(2) of a new file fails itself with EIO, and the close
#     after it succeeds: nothing was taken that went missing (answered
#     first, the write succeeded and the close failed);
#  2. a 1 MiB write is still answered first: the write succeeds and the
#     close fails with EIO (t0129 covers the rest of that path);
#  3. the first file is published, empty, and a remount shows the same.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
mfs_log_allow "$D" 'failed after it was answered'

export MODELFS_TEST_STAGING_EIO_AT=5
check "mount, the staged write covering byte 5 to fail" mfs_mount "$M" "$D" || mfs_abort "no mount"
unset MODELFS_TEST_STAGING_EIO_AT

# write_then_close PATH SIZE WHERE: one write(2) of SIZE bytes into a new
# file, then close(2); WHERE (write or close) is the call that must fail
# with EIO, the other must succeed.
write_then_close() {
	"$PY" - "$@" <<'PY'
import errno, os, sys
path, size, where = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
failed = []
try:
    n = os.write(fd, b"s" * size)
    if n != size:
        sys.exit(f"short write: {n} of {size}")
except OSError as e:
    if e.errno != errno.EIO:
        sys.exit(f"write: {e}")
    failed.append("write")
try:
    os.close(fd)
except OSError as e:
    if e.errno != errno.EIO:
        sys.exit(f"close: {e}")
    failed.append("close")
if failed != [where]:
    sys.exit(f"failed with EIO: {failed or 'nothing'}, expected: {where} alone")
PY
}
check "a 4 KiB write fails itself with EIO; its close succeeds" write_then_close "$M/small" 4096 write
check "a 1 MiB write is answered first: it succeeds, its close fails with EIO" \
	write_then_close "$M/big" $((1024 * 1024)) close
check "the small file is published, empty" expect_eq "$(stat -c %s "$M/small" 2>&1)" 0 "size of small"
check "a remount shows it so" eval 'mfs_umount "$M" && mfs_mount "$M" "$D" &&
	expect_eq "$(stat -c %s "$M/small" 2>&1)" 0 "size of small after the remount"'

check "umount" mfs_umount "$M"
check_log "$D"
mfs_done
