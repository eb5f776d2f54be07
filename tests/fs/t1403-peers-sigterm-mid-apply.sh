#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# SIGTERM while a peer's change is being applied and a reader reads the
# same file (t0012 has the kill -9 of a like wedge).  On SIGTERM the FUSE
# loop stops taking requests, but the mount and the replica's threads stay
# until the loop has ended: a READ the kernel sends in that window is never
# answered, and the thread applying a peer's change to that file waits in
# the kernel's invalidation for the page the READ locks.  Here node 2 holds
# a READ of f (MODELFS_TEST_READ_HOLD), to keep its loop busy after the
# SIGTERM; a reader that has g open reads it then, and node 1 rewrites g.
# Once f's READ is let go, node 2's daemon must exit and unmount, its
# readers end (an error is fine, a hang is not), and a restart serve g's
# new bytes.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 2

HOLD=$WORK/hold
CONN=
mfs_log_allow "${CL_D[2]}" 'READ_HOLD'

# Whatever happens, no hung mount is left behind on this machine.
unwedge() {
	: >"$HOLD"
	[ -n "$CONN" ] || return 0
	[ -e /sys/fs/fuse/connections/"$CONN" ] ||
		mount -t fusectl none /sys/fs/fuse/connections 2>/dev/null
	{ echo 1 >/sys/fs/fuse/connections/"$CONN"/abort; } 2>/dev/null
}

start() {
	: >"$HOLD" &&
	cl_start 1 && MODELFS_TEST_READ_HOLD=$HOLD cl_start 2 && cl_wait_formed &&
	CONN=$(findmnt -n -o MAJ:MIN --mountpoint "${CL_M[2]}" | tr -d ' ' | sed 's/^0://') &&
	[ -n "$CONN" ]
}
check "start 2 nodes (node 2's reads held at $HOLD when it is gone)" start || mfs_abort "no cluster"

files() {
	head -c $((4 * MiB)) /dev/urandom >"$WORK/f" &&
	head -c $((4 * MiB)) /dev/urandom >"$WORK/g" &&
	head -c $((4 * MiB)) /dev/urandom >"$WORK/g2" &&
	cp "$WORK/f" "${CL_M[1]}/f" && cp "$WORK/g" "${CL_M[1]}/g" &&
	cl_wait_converged && cl_wait_backlog0 &&
	admin evict "${CL_M[2]}/f" >/dev/null && admin evict "${CL_M[2]}/g" >/dev/null
}
check "node 1 writes f and g; node 2 sees them, evicted from its page cache" files ||
	mfs_abort "no files"

# A reader on node 2 opens f and g, reads f (its READ is held), and once
# told (GO) reads g; each read's end is written to its own file.
reader() {
	"$PY" - "${CL_M[2]}/f" "${CL_M[2]}/g" "$WORK/go" "$WORK/r" <<'PYEOF' &
import os, sys, threading, time
f, g, go, out = sys.argv[1:]
def read_all(path, fd, tag):
    try:
        n = 0
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            n += len(b)
        res = "ok %d" % n
    except OSError as e:
        res = "err %d" % e.errno
    with open(out + "." + tag, "w") as o:
        o.write(res)
ff, gf = os.open(f, os.O_RDONLY), os.open(g, os.O_RDONLY)
open(out + ".open", "w").close()
threading.Thread(target=read_all, args=(f, ff, "f")).start()
while not os.path.exists(go):
    time.sleep(0.05)
read_all(g, gf, "g")
PYEOF
	READER=$!
}

PID=
term() {
	local i
	PID=$(mfs_daemon_pid "${CL_M[2]}")
	rm -f "$HOLD" "$HOLD.held"
	reader
	wait_for 100 test -e "$HOLD.held" || { echo "no READ reached the hold" >&2; return 1; }
	kill -TERM "$PID" && sleep 1 &&
	touch "$WORK/go" && sleep 1 &&
	cp "$WORK/g2" "${CL_M[1]}/g" || return 1
	# Node 2's replica applies the rewrite: its invalidation of g waits on
	# the page the unanswered READ of g locks.
	for ((i = 0; i < 100; i++)); do
		grep -qs inval /proc/"$PID"/task/*/stack && break
		sleep 0.1
	done
	note "after 10 s: a thread of node 2 in the invalidation: $([ "$i" -lt 100 ] && echo yes || echo no)"
	: >"$HOLD" # f's READ goes on
	for ((i = 0; i < 300; i++)); do
		pid_alive "$PID" || break
		sleep 0.1
	done
	if ! pid_alive "$PID"; then
		wait_for 100 not_mounted "${CL_M[2]}" && return 0
		echo "node 2's daemon exited, but its mount is left" >&2
		umount -l "${CL_M[2]}"
		return 1
	fi
	echo "node 2's daemon $PID still runs 30 s after SIGTERM and the held READ's end:" >&2
	for t in /proc/"$PID"/task/*; do
		grep -q . "$t/stack" 2>/dev/null &&
			echo "  task ${t##*/} $(cat "$t/comm"): $(grep -o '^[^+]*' "$t/stack" | head -4 | tr '\n' ' ')" >&2
	done
	unwedge
	wait_for 100 pid_gone "$PID"
	return 1
}
check "SIGTERM to node 2 while a READ is held; g read and rewritten on node 1: it exits, unmounted" term

reader_ends() {
	wait_for 100 pid_gone "$READER" || { echo "node 2's reader hangs" >&2; unwedge; return 1; }
	note "reader of f: $(cat "$WORK/r.f" 2>/dev/null), of g: $(cat "$WORK/r.g" 2>/dev/null)"
}
check "node 2's reader ends" reader_ends

back() {
	cl_restart 2 && cl_wait_formed &&
	cl_wait_sha 2 g "$(file_sha "$WORK/g2")" && cl_wait_sha 2 f "$(file_sha "$WORK/f")"
}
check "node 2 restarted: it reads f, and g's new bytes" back
check "fsck on node 2 is clean" expect_status 0 "$ADMIN_BIN" fsck "${CL_M[2]}"
cl_done
