#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A file streamed into the mount runs at most 128 MiB (STREAM_LEAD,
# fuse/staging.c) ahead of the bytes its write-behind stored, however large
# the staging budget: past that the writer waits for the feed, and the
# stored bytes leave the staging (its memfd reuses the pages just freed).
# Checked while the writer holds the file open, from the memfd's allocated
# blocks, which the rule bounds at every write (not a timing).  The bytes
# dropped that way come back for a change below them, as past a budget.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data

check "mount with the default staging budget" mfs_mount "$M" "$D" || mfs_abort "no mount"

# writer.py PATH REF MIB PATCH SAID GO: writes MIB MiB of seeded bytes to
# PATH, says so in the fifo SAID, waits for a line from the fifo GO, writes
# 4 KiB at PATCH (-1: none) and closes; REF gets the same bytes.
cat >"$WORK/writer.py" <<'PY'
import os, random, sys
path, refp, mib, patch, said, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
rng = random.Random(path)
ref = open(refp, "wb")
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for _ in range(mib):
    b = rng.randbytes(1 << 20)
    os.write(fd, b)
    ref.write(b)
with open(said, "w") as f:
    f.write("written\n")
with open(go) as f:
    f.readline()
if patch >= 0:
    b = rng.randbytes(4096)
    os.pwrite(fd, b, patch)
    ref.seek(patch)
    ref.write(b)
os.close(fd)
ref.close()
PY

# The largest allocation among the daemon's staging memfds, in MiB.
memfd_mib() {
	local f max=0 mib
	for f in /proc/"$1"/fd/*; do
		case "$(readlink "$f" 2>/dev/null)" in *modelfs-staging*) ;; *) continue ;; esac
		mib=$(($(stat -L -c '%b * %B' "$f") >> 20))
		[ "$mib" -le "$max" ] || max=$mib
	done
	echo "$max"
}

# stream NAME MIB PATCH: writes $M/NAME, the staging checked while it is open.
stream() {
	local name=$1 mib=$2 patch=$3 pid p rc=0 used
	pid=$(mfs_daemon_pid "$M")
	rm -f "$WORK/said" "$WORK/go"
	mkfifo "$WORK/said" "$WORK/go" || return 1
	"$PY" "$WORK/writer.py" "$M/$name" "$WORK/$name.ref" "$mib" "$patch" "$WORK/said" "$WORK/go" &
	p=$!
	read -r _ <"$WORK/said"
	used=$(memfd_mib "$pid")
	note "$name: $used MiB staged in memory after $mib MiB written"
	[ "$used" -le 192 ] || { echo "$name: $used MiB staged after $mib MiB written" >&2; rc=1; }
	echo go >"$WORK/go"
	wait "$p" || rc=1
	return "$rc"
}
last_commit() { grep "write-behind at commit" "$D/modelfs.log" | tail -n 1; }
dropped() { last_commit | grep -v " 0 dropped" | grep -q usable; }
put_backs() { grep -c "staged bytes put back" "$D/modelfs.log"; }

streamed() {
	stream big 400 -1 && cmp "$WORK/big.ref" "$M/big" && dropped
}
check "400 MiB streamed: at most ~128 MiB staged in memory, stored bytes dropped, whole" streamed

patched() {
	local n
	n=$(put_backs)
	stream patched 300 100 && cmp "$WORK/patched.ref" "$M/patched" &&
	[ "$(put_backs)" -gt "$n" ]
}
check "a header patched after 300 MiB: the dropped bytes come back, whole" patched

check "after remount both files are the same" \
	eval 'mfs_remount "$M" && cmp "$WORK/big.ref" "$M/big" && cmp "$WORK/patched.ref" "$M/patched"'
check "fsck: no problem" expect_status 0 admin fsck "$M"

mfs_done
