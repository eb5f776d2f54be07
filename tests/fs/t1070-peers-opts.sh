#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Peer options of mount.modelfs.  A bad value exits 1 with a message on
# stderr that names the option, and nothing is mounted or left running:
# listen without a port, with a bad port or garbage; peer without a port;
# curve_key naming a missing file; curve_key without authorized_keys; an
# authorized_keys file that is missing, malformed or does not list a peer;
# non-numeric heartbeat_ms, peer_timeout_ms, repl; prefetch_open other than
# 0|1; --serve with a bad listen.  Accepted: a tcp:// prefix, peers given
# in a config file (one `peer =` line each), CURVE with a valid key and
# authorized_keys; status --json shows the listen endpoint and the peers.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
mfs_init
[ -x "$ADMIN_BIN" ] || skip_all "no $ADMIN_BIN"
cl_init 3

M=${CL_M[1]}
D=${CL_D[1]}
E1=$(cl_endpoint 1) E2=$(cl_endpoint 2) E3=$(cl_endpoint 3)
mkdir -p "$M" "$D"
# The refused startups below log why, with the options' values.
mfs_log_allow "$D" 'cannot start the peer service|has no key in .*/ak$|/ak\.bad:1:|/nope'

# bad KEY ARG...: mount.modelfs ARG... exits 1, stderr names KEY (an ERE), nothing
# mounted, no daemon running for $D.
bad() {
	local key=$1
	shift
	expect_status 1 "$MOUNT_BIN" "$@" || return 1
	grep -qiE -- "$key" "$WORK/.cmd.err" ||
		{ echo "stderr does not name $key: $(cat "$WORK/.cmd.err")" >&2; return 1; }
	grep -qi usage "$WORK/.cmd.err" || note "(no usage text on stderr: $(head -n 1 "$WORK/.cmd.err"))"
	not_mounted "$M" || { echo "$M got mounted" >&2; return 1; }
	if [ -s "$D/modelfs.pid" ] && pid_alive "$(cat "$D/modelfs.pid")"; then
		echo "a daemon is running: $(cat "$D/modelfs.pid")" >&2
		return 1
	fi
}

check "listen=garbage: exit 1" bad listen "$M" -o "data=$D,listen=garbage"
check "listen without a port: exit 1" bad listen "$M" -o "data=$D,listen=${CL_IP[1]}"
check "listen with port 99999: exit 1" bad listen "$M" -o "data=$D,listen=${CL_IP[1]}:99999"
check "listen with a non-numeric port: exit 1" bad listen "$M" -o "data=$D,listen=${CL_IP[1]}:http-alt"
check "peer without a port: exit 1" bad peer "$M" -o "data=$D,listen=$E1,peer=${CL_IP[2]}"
check "peer with garbage after the port: exit 1" bad peer "$M" -o "data=$D,listen=$E1,peer=$E2:x"

check "modelfs-admin keygen" expect_status 0 admin keygen "$WORK/key1"
check "keygen of a second key" expect_status 0 admin keygen "$WORK/key2"
{
	echo "# test keys"
	echo "$(cat "$WORK/key1.pub") $E1"
	echo "$(cat "$WORK/key2.pub") $E2"
} >"$WORK/ak"
echo "this is not a key line" >"$WORK/ak.bad"

check "curve_key naming a missing file: exit 1" \
	bad curve_key "$M" -o "data=$D,listen=$E1,peer=$E2,curve_key=$WORK/nope,authorized_keys=$WORK/ak"
check "curve_key without authorized_keys: exit 1" \
	bad authorized_keys "$M" -o "data=$D,listen=$E1,peer=$E2,curve_key=$WORK/key1"
check "authorized_keys naming a missing file: exit 1" \
	bad authorized_keys "$M" -o "data=$D,listen=$E1,peer=$E2,curve_key=$WORK/key1,authorized_keys=$WORK/nope"
check "malformed authorized_keys: exit 1" \
	bad "authorized_keys|$WORK/ak.bad" "$M" -o "data=$D,listen=$E1,peer=$E2,curve_key=$WORK/key1,authorized_keys=$WORK/ak.bad"
check "curve_key with a peer not in authorized_keys: exit 1" \
	bad "$E3|authorized_keys" "$M" -o "data=$D,listen=$E1,peer=$E2,peer=$E3,curve_key=$WORK/key1,authorized_keys=$WORK/ak"
check "heartbeat_ms=abc: exit 1" bad heartbeat_ms "$M" -o "data=$D,listen=$E1,peer=$E2,heartbeat_ms=abc"
check "peer_timeout_ms=-5: exit 1" bad peer_timeout_ms "$M" -o "data=$D,listen=$E1,peer=$E2,peer_timeout_ms=-5"
check "repl=many: exit 1" bad repl "$M" -o "data=$D,repl=many"
check "prefetch_open=7: exit 1" bad prefetch_open "$M" -o "data=$D,prefetch_open=7"
check "--serve with listen=garbage: exit 1" bad listen --serve -o "data=$D,listen=garbage,peer=$E2"

# peers_are ENDPOINT...: status --json of $M lists exactly these peers.
peers_are() {
	expect_status 0 admin status --json "$M" || return 1
	"$PY" - "$WORK/.cmd.out" "$@" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
strip = lambda e: e[len("tcp://"):] if e.startswith("tcp://") else e
got = sorted(strip(p["endpoint"]) for p in d["peers"])
want = sorted(sys.argv[2:])
if got != want:
    sys.exit("peers: got %r, want %r" % (got, want))
for p in d["peers"]:
    if p.get("state") not in ("up", "down", "unknown"):
        sys.exit("peer state %r" % (p.get("state"),))
PYEOF
}
listen_is() {
	local got
	got=$(json_get listen <"$WORK/.cmd.out")
	expect_eq "${got#tcp://}" "$1" "listen in status"
}

tcp_prefix() {
	mfs_mount "$M" "$D" "listen=tcp://$E1,peer=tcp://$E2,heartbeat_ms=100,peer_timeout_ms=1000" &&
	peers_are "$E2" && listen_is "$E1" &&
	echo kept >"$M/f" &&
	mfs_umount "$M"
}
check "listen= and peer= with a tcp:// prefix: mounted, status shows them" tcp_prefix

config_peers() {
	cat >"$WORK/peers.conf" <<-CONF &&
		# two peers, one line each
		data = $D
		listen = $E1
		peer = $E2
		peer = $E3   # the third node
		heartbeat_ms = 100
		peer_timeout_ms = 1000
	CONF
	"$MOUNT_BIN" "$M" -o "config=$WORK/peers.conf" >>"$WORK/mount.out" 2>&1 &&
	mfs_adopt "$M" "$D" &&
	peers_are "$E2" "$E3" && listen_is "$E1" &&
	expect_eq "$(cat "$M/f")" kept "content" &&
	mfs_umount "$M"
}
check "config file with two peer lines: status lists both" config_peers

curve_ok() {
	mfs_mount "$M" "$D" "listen=$E1,peer=$E2,curve_key=$WORK/key1,authorized_keys=$WORK/ak" &&
	peers_are "$E2" &&
	expect_eq "$(cat "$M/f")" kept "content" &&
	mfs_umount "$M"
}
check "curve_key with authorized_keys listing the peer: mounted" curve_ok

mfs_done
