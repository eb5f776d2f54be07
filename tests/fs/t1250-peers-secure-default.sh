#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Secure by default.  A node whose listen address is not loopback and that
# has no curve_key refuses to start (exit 1, nothing mounted or running, a
# message that names the way out: keygen and curve_key, or insecure), as a
# mount and as a storage-only peer.  With the explicit `insecure` option it
# starts, warns in its log and says `peer_security insecure` in status.
# Loopback without keys starts quietly (loopback); keys give `curve`.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 2

M=${CL_M[1]}
D=${CL_D[1]}
E2=$(cl_endpoint 2)
mkdir -p "$M" "$D"

# refused ARG...: mount.modelfs ARG... exits 1 and says why, nothing runs.
refused() {
	expect_status 1 "$MOUNT_BIN" "$@" || return 1
	grep -q "not a loopback address" "$WORK/.cmd.err" &&
		grep -q "keygen" "$WORK/.cmd.err" && grep -q "insecure" "$WORK/.cmd.err" ||
		{ echo "stderr does not explain: $(cat "$WORK/.cmd.err")" >&2; return 1; }
	not_mounted "$M" || { echo "$M got mounted" >&2; return 1; }
	if [ -s "$D/modelfs.pid" ] && pid_alive "$(cat "$D/modelfs.pid")"; then
		echo "a daemon is running: $(cat "$D/modelfs.pid")" >&2
		return 1
	fi
}
check "listen=*:PORT without keys: refused" refused "$M" -o "data=$D,listen=*:$CL_PORT,peer=$E2"
check "listen=0.0.0.0:PORT without keys: refused" refused "$M" -o "data=$D,listen=0.0.0.0:$CL_PORT"
check "listen on a host name without keys: refused" refused "$M" -o "data=$D,listen=example.org:$CL_PORT"
check "--serve on *:PORT without keys: refused" refused --serve -o "data=$D,listen=*:$CL_PORT"
echo "listen = *:$CL_PORT" >"$WORK/open.conf"
check "listen from a config file without keys: refused" refused "$M" -o "data=$D,config=$WORK/open.conf"

security_is() {
	expect_status 0 admin status --json "$M" || return 1
	expect_eq "$(json_get peer_security <"$WORK/.cmd.out")" "$1" "peer_security"
}

insecure_ok() {
	mfs_mount "$M" "$D" "listen=*:$CL_PORT,insecure,heartbeat_ms=100" &&
	security_is insecure &&
	grep -q "WARN.*INSECURE: tcp://\*:$CL_PORT serves peers in clear text" "$D/modelfs.log" ||
		{ echo "no warning in the log" >&2; return 1; }
	admin status "$M" | grep -q '^peer security  insecure' ||
		{ echo "text status does not show insecure" >&2; return 1; }
	echo x >"$M/f" && mfs_umount "$M"
}
check "listen=*:PORT with insecure: mounted, log warns, status says insecure" insecure_ok

loopback_ok() {
	mfs_mount "$M" "$D" "listen=$(cl_endpoint 1),peer=$E2,heartbeat_ms=100" &&
	security_is loopback &&
	! grep -q "INSECURE.*$(cl_endpoint 1)" "$D/modelfs.log" &&
	mfs_umount "$M"
}
check "loopback listen without keys: mounted, status says loopback" loopback_ok

curve_ok() {
	admin keygen "$WORK/key1" >/dev/null &&
	echo "$(cat "$WORK/key1.pub") *:$CL_PORT" >"$WORK/ak" &&
	mfs_mount "$M" "$D" "listen=*:$CL_PORT,curve_key=$WORK/key1,authorized_keys=$WORK/ak" &&
	security_is curve &&
	expect_eq "$(cat "$M/f")" x "content" &&
	mfs_umount "$M"
}
check "listen=*:PORT with curve_key: mounted, status says curve" curve_ok

mfs_done
