#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A commit that moves a path to a new inode must not wait for the parent
# directory's lock while the kernel holds the file's.  fsync(2) and
# truncate(2) reach the daemon with the file's inode lock held; an unlink
# or rename of that file in another thread takes the parent's lock, then
# waits for the file's.  The daemon dropped the path's dentry (which needs
# the parent's lock) before replying to the FSYNC: every one of them hung
# in D state for good, and the mount with them.  Each round: a stored file
# is rewritten (48 MiB staged, so the commit lasts), one thread fsyncs it,
# and as soon as that FSYNC is with the daemon (its wchan), another thread
# unlinks the file, or renames another file over it.  Both calls return,
# the path holds what the unlink or rename left, and the daemon lives.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
mfs_init

M=$WORK/mnt
D=$WORK/data
check "mount" mfs_mount "$M" "$D" || mfs_abort "no mount"

cat >"$WORK/race.py" <<'PYEOF'
import os, sys, threading
path, how = sys.argv[1], sys.argv[2]
d = os.path.dirname(path)
with open(path, "wb") as f:
    f.write(b"old" * 1000)
with open(d + "/other", "wb") as f:
    f.write(b"other")
fd = os.open(path, os.O_RDWR)
blob = os.urandom(1 << 20)
for _ in range(48):
    os.write(fd, blob)
tid = []
def syncer():
    tid.append(threading.get_native_id())
    os.fsync(fd)
t = threading.Thread(target=syncer)
t.start()
# The FSYNC is with the daemon once its caller waits for the answer.
while True:
    if tid:
        try:
            with open("/proc/self/task/%d/wchan" % tid[0]) as w:
                if w.read() == "request_wait_answer":
                    break
        except FileNotFoundError:
            pass
    os.sched_yield()
if how == "unlink":
    os.unlink(path)
else:
    os.rename(d + "/other", path)
t.join()
os.close(fd)
if how == "unlink":
    assert not os.path.exists(path), "the unlinked file is back"
else:
    with open(path, "rb") as f:
        assert f.read() == b"other", "the renamed file's bytes are not at the path"
PYEOF

# The FUSE connection of the mount (fusectl's directory name): a daemon
# thread stuck in the kernel keeps even a SIGKILLed daemon, and so the
# connection and its callers, alive; only an abort through fusectl ends it.
conn() { awk -v d="$M" '$5 == d { split($3, a, ":"); print a[2] }' /proc/self/mountinfo; }
abort_conn() {
	local c=$1 fc=/sys/fs/fuse/connections
	[ -e "$fc/$c" ] || mount -t fusectl none "$fc" 2>/dev/null
	echo 1 >"$fc/$c/abort"
}

# race HOW ROUND: one round in the background; a hang guard (not a measure
# of speed) then aborts the connection and kills the daemon.
race() {
	local pid c
	c=$(conn)
	mkdir -p "$M/r$2" || return 1
	"$PY" "$WORK/race.py" "$M/r$2/f" "$1" &
	pid=$!
	if ! wait_for 1200 pid_gone "$pid"; then
		echo "round $2 ($1 during fsync): still blocked after 120 s" >&2
		grep -l fuse_reverse_inval "/proc/$(mfs_daemon_pid "$M")"/task/*/wchan 2>/dev/null |
			sed 's/^/  daemon thread waiting for the parent lock: /' >&2
		abort_conn "$c"
		mfs_kill9 "$M"
		wait "$pid"
		mfs_mount "$M" "$D" || mfs_abort "no mount after the hang"
		return 1
	fi
	wait "$pid"
}
for i in 1 2 3; do
	check "round $i: unlink during fsync of a rewrite: both return" race unlink "u$i"
	check "round $i: rename over the file during fsync of a rewrite: both return" race rename "r$i"
done
check "the daemon lives" pid_alive "$(mfs_daemon_pid "$M")"
check "fsck is clean" expect_status 0 "$ADMIN_BIN" fsck "$M"

mfs_done
