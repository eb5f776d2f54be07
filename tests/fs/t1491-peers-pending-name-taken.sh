#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A file still being written on one node whose name another node's op
# takes (two downloads of one file into a shared cache: each node creates
# blobs/X.incomplete) leaves no record behind.  Two nodes.  With node 1
# stopped, node 2 makes 20 directories (its Lamport clock moves ahead) and
# writes d/f and d/g; with node 2 stopped, node 1 opens its own d/f and
# d/g for writing and writes a little to each, both still pending.  Node 2
# back, its later creates take the names; then:
#  - node 1 closes d/f: its commit finds the name taken, and the pending
#    record it leaves must go too, on both nodes (status `files` counts 2
#    everywhere: node 2's d/f and d/g), not stay a file no path shows;
#  - node 1 is killed (-9) with d/g still open, and restarted: its
#    recovery removes the pending record whose name was taken (it used to
#    log `WARN pending inode ... has no entry` at every start and keep it);
# and node 2's d/f, d/g read as written on both nodes, fsck is clean.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 2

S=$WORK/src
A=${CL_M[1]} B=${CL_M[2]}
check "start 2 nodes" cl_start_all || mfs_abort "no cluster"

files_is() { [ "$(cl_get "$1" files)" = "$2" ]; }
setup() {
	mkdir -p "$S" && randfile "$S/f" $((1 * MiB)) && randfile "$S/g" $((1 * MiB)) &&
	mkdir "$A/d" && cl_wait_converged
}
check "node 1 makes d; node 2 sees it" setup || mfs_abort "no d"

# holder: a process that opens node 1's d/f and d/g for writing, writes a
# little to each and keeps them open (no child of this shell may inherit
# them: every close(2) of a writer's descriptor commits); SIGUSR1 closes
# d/f, SIGTERM ends it.
holder() {
	"$PY" - "$A/d" "$WORK/held" <<'PYEOF' &
import os, signal, sys
d, held = sys.argv[1:]
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGTERM})
fds = {n: os.open(os.path.join(d, n), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) for n in ("f", "g")}
for fd in fds.values():
    os.write(fd, b"partial\n")
open(held, "w").close()
while signal.sigwait({signal.SIGUSR1, signal.SIGTERM}) == signal.SIGUSR1:
    os.close(fds.pop("f"))
    open(held + ".f", "w").close()
PYEOF
	_hpid=$!
	wait_for 100 test -e "$WORK/held"
}

race() {
	local i
	cl_stop 1 || return 1
	for i in $(seq 1 20); do
		mkdir "$B/tick$i" || return 1
	done
	cp "$S/f" "$B/d/f" && cp "$S/g" "$B/d/g" && cl_stop 2 && cl_restart 1 && holder &&
	cl_restart 2 && cl_wait_formed && cl_wait_converged meta
}
check "node 2 writes d/f, d/g while node 1 has its own d/f, d/g open; node 2's names win" race

closed() {
	local i
	kill -USR1 "$_hpid" && wait_for 100 test -e "$WORK/held.f" && cl_wait_converged &&
	for i in 1 2; do
		wait_for "$CL_READ_TRIES" files_is "$i" 3 ||
			{ echo "node $i: status files is $(cl_get "$i" files), want 3 (d/f, d/g, node 1's open d/g)" >&2; return 1; }
	done
}
check "node 1 closes its d/f: its record goes on both nodes" closed

killed() {
	local i
	cl_kill9 1 && kill "$_hpid" && wait_until pid_gone "$_hpid" &&
	cl_restart 1 && cl_wait_formed && cl_wait_converged &&
	for i in 1 2; do
		wait_for "$CL_READ_TRIES" files_is "$i" 2 ||
			{ echo "node $i: status files is $(cl_get "$i" files), want 2" >&2; return 1; }
	done
}
check "node 1 killed with d/g open, restarted: its pending d/g goes on both nodes" killed
no_warn() {
	! grep "has no entry" "${CL_D[1]}/modelfs.log" >&2
}
check "node 1's recovery logged no pending inode without an entry" no_warn

contents() {
	local i
	for i in 1 2; do
		expect_listing "${CL_M[$i]}/d" f g &&
		expect_sha "${CL_M[$i]}/d/f" "$(file_sha "$S/f")" &&
		expect_sha "${CL_M[$i]}/d/g" "$(file_sha "$S/g")" || return 1
	done
}
check "d/f and d/g read as node 2 wrote them, on both nodes" contents
check "fsck on node 1 is clean" expect_status 0 admin fsck "$A"
check "fsck on node 2 is clean" expect_status 0 admin fsck "$B"

cl_done
