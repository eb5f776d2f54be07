#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A store shut by a failed reopen (store/kv/db_rocks.c, reopen_stuck;
# t0807's second case) on a node that only reads afterwards, as a node
# serving weights does: the next try of the open must come without a
# write.  It came only at a write, sync, flush or reclaim, so every read
# that reached the store failed with EIO for as long as nobody wrote.
#
# t0807's sequence (the floor off on a 64 MiB tmpfs; xattrs of 4 x 45 kB;
# gc --relocate; dd fills the disk; the first append to a fresh WAL
# fails), with the reopen's first 11 opens failing (MODELFS_TEST_REOPEN_FAIL,
# test only): mkdirs until the failed reopen says so, then listings only.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
wal_files() { find "$D/db" -name '*.log' -printf '%f:%s(%kK)\n' | sort | tr '\n' ' '; }
mfs_log_allow "$D" 'No space left on device|ENOSPC|space|cannot reopen|Input/output'

cat >"$WORK/sx.py" <<'PYEOF'
import errno, os, sys
p, n = sys.argv[1], int(sys.argv[2])
big = os.urandom(45000)
res = {}
for i in range(n):
    try:
        os.setxattr(p, "user.k%d" % (i % 4), big[:45000 - i % 97])
        r = "ok"
    except OSError as e:
        r = errno.errorcode[e.errno]
    res[r] = res.get(r, 0) + 1
print(" ".join("%s=%d" % kv for kv in sorted(res.items())))
PYEOF

check "a 64 MiB tmpfs for the store" mfs_tmpfs "$D" 64m || mfs_abort "no tmpfs"
MODELFS_SPACE_FLOOR=0 MODELFS_TEST_REOPEN_FAIL=11 \
	check "mount with the floor off, the first reopen failing (test only)" \
	mfs_mount "$M" "$D" meta_sync_ms=0 ||
	mfs_abort "no mount"
setup() {
	: >"$M/x" && head -c 1000 /dev/urandom >"$WORK/small" && cp "$WORK/small" "$M/small" &&
		"$PY" "$WORK/sx.py" "$M/x" 4 >/dev/null &&
		expect_status 0 admin gc --apply --relocate "$M" &&
		"$PY" "$WORK/sx.py" "$M/x" 1 >/dev/null && note "WALs: $(wal_files)"
}
check "a file, xattrs in a first WAL; gc switches to a second" setup
fill() {
	dd if=/dev/zero of="$D/filler" bs=1M status=none 2>/dev/null
	dd if=/dev/zero of="$D/filler2" bs=4k status=none 2>/dev/null
	[ "$(df -k --output=avail "$D" | tail -n 1)" -eq 0 ]
}
check "another process fills the disk to the last block" fill
failed() {
	note "setxattrs on the full disk: $("$PY" "$WORK/sx.py" "$M/x" 60); WALs: $(wal_files)"
	grep -q 'an append to .* failed' "$D/modelfs.log" && pid_alive "$(mfs_daemon_pid "$M")"
}
check "a WAL append fails for space; the daemon lives" failed
unfill() { rm -f "$D/filler" "$D/filler2"; }
check "the other process frees its space" unfill
# A listing reaches the store (an iterator); xattrs may be answered from memory.
readable() { ls "$M" >/dev/null 2>&1 && getfattr -n user.k0 "$M/x" >/dev/null 2>&1; }
shut() { grep -q 'cannot reopen the store' "$D/modelfs.log"; }
mkdir_shut() { mkdir "$M/w" 2>/dev/null; shut; }
shut_by_writes() {
	wait_for 600 mkdir_shut ||
		{ echo "no failed reopen in 60 s: $(tail -n 1 "$D/modelfs.log")" >&2; return 1; }
	! readable
}
check "writes meet the gate; the reopen fails; the store is shut (reads fail)" shut_by_writes
reads_back() {
	wait_for 600 readable ||
		{ echo "reads still fail after 60 s: $(tail -n 1 "$D/modelfs.log")" >&2; return 1; }
	grep -q 'the store reopened' "$D/modelfs.log" && pid_alive "$(mfs_daemon_pid "$M")"
}
check "with reads only, the store opens again and reads work" reads_back
check "writes work again" mkdir "$M/after"
restarted() {
	mfs_umount "$M" && expect_status 0 admin fsck --data "$D" && mfs_mount "$M" "$D" &&
		[ -d "$M/after" ] && readable
}
check "unmount, fsck clean; after a restart everything is there" restarted
mfs_done
