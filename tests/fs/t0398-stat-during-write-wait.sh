#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# stat, lookup and getfattr of a file do not wait for a write that waits
# for the write-behind.  A writer that runs 128 MiB ahead of what the
# write-behind has stored waits for it with the file's node locked
# (fuse/staging.c, reserve), and every stat(2) of the file waited too:
# 0.1-0.4 s at a time during a cp of a model under load.  Here the feed is
# held (MODELFS_TEST_FEED_HOLD), so the writer's write past 128 MiB waits
# as long as the test wants; stat and getfattr must finish meanwhile, with
# the size written before that write (fuse/noted_attrs.c).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
HOLD=$WORK/hold
export MODELFS_TEST_FEED_HOLD=$HOLD
# 1 GiB of staging memory: the writer's wait is the 128 MiB lead's, not the budget's.
check "mount with write_behind_mb=8 and the feed held" \
	mfs_mount "$M" "$D" write_behind_mb=8,staging_mem_mb=1024 ||
	mfs_abort "no mount"
unset MODELFS_TEST_FEED_HOLD

# The writer: 1 MiB writes, 160 of them, its count of writes done in
# $WORK/done after each; a tag (user.src) first.
cat >"$WORK/writer.py" <<'PY'
import os, sys
path, done = sys.argv[1:3]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.setxattr(path, "user.src", b"hub")
b = bytes(range(256)) * 4096
for i in range(160):
    os.write(fd, b)
    with open(done + ".tmp", "w") as f:
        f.write(str(i + 1))
    os.rename(done + ".tmp", done)
os.close(fd)
PY

writer=
done_now() { cat "$WORK/done" 2>/dev/null || echo 0; }
written_ge() { [ "$(done_now)" -ge "$1" ]; }
start() {
	"$PY" "$WORK/writer.py" "$M/model.bin" "$WORK/done" &
	writer=$!
	wait_for 600 test -e "$HOLD.held" || { echo "the feed never reached its hold" >&2; return 1; }
	# 128 MiB ahead of nothing stored: the 129th write waits for the feed.
	wait_for 600 written_ge 128 || { echo "the writer stopped at $(done_now)" >&2; return 1; }
}
check "a writer 128 MiB ahead of a held write-behind" start

# Each request runs with a bound far above what it needs: without the
# notes it waits for the write, which waits for $HOLD, so it never ends.
quick() { # WHAT CMD...
	local out
	out=$(timeout 20 "$@" 2>&1) || { echo "$1 did not finish while the write waited: $out" >&2; return 1; }
	echo "$out"
	pid_alive "$writer" || { echo "the writer ended: its write did not wait" >&2; return 1; }
	[ "$(done_now)" = 128 ] || { echo "the writer went on ($(done_now) writes)" >&2; return 1; }
}
size_is_written() {
	local out
	out=$(quick stat -c %s "$M/model.bin") || return 1
	[ "$out" = $((128 << 20)) ] || { echo "stat says $out, want $((128 << 20))" >&2; return 1; }
}
check "stat while the write waits: the 128 MiB written" size_is_written
check "ls -l while the write waits" quick ls -l "$M"
check "getfattr -d while the write waits" quick getfattr -d "$M/model.bin"

release() { touch "$HOLD" && wait "$writer"; }
check "the writer finishes once the feed goes on" release
check "its size: 160 MiB" expect_eq "$(stat -c %s "$M/model.bin")" $((160 << 20)) size
check "its bytes" expect_sha "$M/model.bin" \
	"$("$PY" -c 'import hashlib,sys; sys.stdout.write(hashlib.sha256(bytes(range(256)) * 4096 * 160).hexdigest())')"
check "fsck of the mount: no problem" expect_status 0 admin fsck "$M"
mfs_done
