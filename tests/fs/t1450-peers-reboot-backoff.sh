#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Replication work in backoff survives a reboot of its node.  A wanted
# entry that failed is retried at "now + backoff" on the monotonic clock,
# and that time is stored; the monotonic clock starts again near 0 when the
# machine boots.  Two nodes, prefetch_open=1 on node 2.  Node 2 first runs
# in a time namespace whose monotonic clock is 30 days ahead (a machine up
# for a month): node 1 writes 16 MiB, node 1 stops, and node 2 opens the
# file, which queues the chunks it lacks (to warm its disk cache); their
# fetches fail and back off.  Node 2 stops, and starts again outside the
# namespace (the reboot: its clock is 30 days behind the stored times),
# with node 1 back: the queued chunks are fetched at once (repl_backlog 0
# on node 2), not 30 days later.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
command -v unshare >/dev/null || skip_all "no unshare(1)"
unshare --time --monotonic 2592000 true 2>/dev/null || skip_all "no time namespaces"
cl_init 2

S=$WORK/src
sum=''
# mount.modelfs in a time namespace whose monotonic clock is 30 days ahead.
REAL_MOUNT=$MOUNT_BIN
cat >"$WORK/mount-ahead" <<EOF
#!/bin/sh
exec unshare --time --monotonic 2592000 "$REAL_MOUNT" "\$@"
EOF
chmod +x "$WORK/mount-ahead"

start_ahead() {
	cl_start 1 &&
	MOUNT_BIN=$WORK/mount-ahead cl_start 2 prefetch_open=1 && cl_wait_formed
}
check "start node 1, and node 2 with its monotonic clock 30 days ahead" start_ahead || mfs_abort "no cluster"

write_1() {
	randfile "$S/a" $((16 * MiB)) && sum=$(file_sha "$S/a") &&
	cp "$S/a" "${CL_M[1]}/a.bin" && cl_wait_converged meta && cl_wait_backlog0
}
check "node 1 writes 16 MiB; replicated" write_1 || mfs_abort "no data"

backlog_2() { local b; b=$(cl_get 2 repl_backlog) && [ "$b" -gt 0 ]; }
none_up_2() { [ "$(cl_get 2 peers_up)" = 0 ]; }
queue_and_fail() {
	cl_stop 1 && wait_for "$CL_TRIES" none_up_2 &&
	"$PY" -c 'import sys; open(sys.argv[1], "rb").close()' "${CL_M[2]}/a.bin" &&
	wait_for "$CL_TRIES" backlog_2 || return 1
	note "node 2: repl_backlog $(cl_get 2 repl_backlog) with node 1 down"
	cl_stop 2
}
check "node 1 stops; node 2 opens a.bin (queues what it lacks, fetches fail); node 2 stops" queue_and_fail

restart_both() {
	cl_restart 1 && cl_restart 2 && cl_wait_formed
}
check "node 2 starts again with the clock of a fresh boot; node 1 back" restart_both
check "node 2 fetches what it queued (repl_backlog 0)" cl_wait_backlog0
check "a.bin reads exact on node 2" expect_sha "${CL_M[2]}/a.bin" "$sum"

cl_done
