#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Helpers for the tests/fs scripts that run several modelfs nodes which
# replicate to each other (the peers feature).  Sourced after lib.sh and
# after mfs_init:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/cluster.sh"
#   mfs_init
#   cl_init 3            # or: cl_init 3 netns
#   cl_start_all
#   ...
#   cl_done              # instead of mfs_done
#
# Node I (1..N) listens on CL_IP[I]:CL_PORT (127.0.0.$((I+1)) on loopback,
# or an address on a private bridge in netns mode), keeps its store in
# CL_D[I] = $WORK/nI and is mounted on CL_M[I] = $WORK/mI.  Its peers are all
# the other nodes unless cl_set_peers says otherwise.  Every node gets
# CL_COMMON (small heartbeat and peer timeout so that tests are quick), then
# CL_OPTS (for every node of the test), then its own options (cl_start I OPTS),
# which restarts reuse.  A node is either a mount or a storage-only peer
# (`mount.modelfs --serve`, cl_serve I).
#
# Synchronisation is by bounded polls (wait_for with CL_TRIES tries of 0.1 s
# plus the time each try takes), never by fixed sleeps; a node's start and
# exit by wait_until (lib.sh), which no load outlasts.
#
# Cleanup: storage-only daemons are listed in $WORK/.daemons (which the
# watchdog reads and kills) and stopped by the EXIT handler, which also
# removes the network namespaces, veths and bridge of netns mode, then runs
# lib.sh's own handler.

CL_N=0
CL_PORT=
CL_COMMON=${CL_COMMON:-heartbeat_ms=100,peer_timeout_ms=1000}
CL_OPTS=${CL_OPTS:-}
CL_TRIES=${CL_TRIES:-900}
# Once the names agree, the bytes should be readable soon (a rewrite of the
# same size and mode is the one case that waits): fewer polls, each of which
# reads every file.
CL_READ_TRIES=${CL_READ_TRIES:-100}
CL_NETNS=0
CL_IP=()
CL_M=()
CL_D=()
declare -A CL_PEERS=()     # node -> space-separated peer node numbers (default: all others)
declare -A _cl_opts=()     # node -> its own extra options
declare -A _cl_kind=()     # node -> mount | serve
declare -A _cl_up=()       # node -> 1 while its daemon runs
declare -A _cl_spid=()     # node -> pid of a storage-only daemon
declare -A _cl_ns=()       # node -> network namespace (netns mode)
declare -A _cl_veth=()     # node -> host side of its veth (netns mode)
_cl_bridge=
_cl_cleaned=0

# ---- setup ------------------------------------------------------------------

# _cl_free_port IP...: a random high TCP port that every IP can bind.
_cl_free_port() {
	"$PY" - "$@" <<'PYEOF'
import random, socket, sys
for _ in range(200):
    port = random.randint(10000, 32000)  # below the ephemeral range (32768+)
    socks = []
    try:
        for ip in sys.argv[1:]:
            s = socket.socket()
            socks.append(s)
            s.bind((ip, port))
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(port)
    sys.exit(0)
sys.exit("no free port")
PYEOF
}

# cl_init N [netns]: N nodes; netns puts each node's daemon in its own network
# namespace on a private bridge (cl_partition / cl_heal then work).
cl_init() {
	local n=$1 mode=${2:-} i ips=()
	CL_N=$n
	# A bridge is a network: plain TCP there needs the explicit option.
	[ "$mode" = netns ] && CL_NETNS=1 && CL_COMMON+=,insecure
	trap _cl_on_exit EXIT
	for ((i = 1; i <= n; i++)); do
		if [ "$CL_NETNS" = 1 ]; then
			CL_IP[i]=10.77.0.$((i + 1))
		else
			CL_IP[i]=127.0.0.$((i + 1))
		fi
		CL_M[i]=$WORK/m$i
		CL_D[i]=$WORK/n$i
		ips+=("${CL_IP[i]}")
	done
	if [ "$CL_NETNS" = 1 ]; then
		if ! _cl_netns_setup 2>"$WORK/.netns.err"; then
			_cl_netns_teardown
			skip_all "cannot make network namespaces on a bridge: $(head -n 1 "$WORK/.netns.err")"
		fi
		CL_PORT=${CL_PORT:-$((10000 + RANDOM % 22000))}
	else
		CL_PORT=${CL_PORT:-$(_cl_free_port "${ips[@]}")} || mfs_abort "no free port"
	fi
	say "cluster of $n nodes, port $CL_PORT${_cl_bridge:+, bridge $_cl_bridge}"
}

_cl_netns_setup() {
	local i tag=$$ ns vh vn
	if ! command -v ip >/dev/null || ! command -v nsenter >/dev/null; then
		echo "needs ip and nsenter" >&2
		return 1
	fi
	_cl_bridge=mb$tag
	echo "bridge $_cl_bridge" >>"$WORK/.netns"
	ip link add "$_cl_bridge" type bridge && ip link set "$_cl_bridge" up || return 1
	for ((i = 1; i <= CL_N; i++)); do
		ns=mfs-$tag-$i vh=mh$tag-$i vn=mn$tag-$i
		_cl_ns[$i]=$ns
		_cl_veth[$i]=$vh
		echo "netns $ns $vh" >>"$WORK/.netns"
		ip netns add "$ns" &&
			ip link add "$vh" type veth peer name "$vn" &&
			ip link set "$vn" netns "$ns" &&
			ip link set "$vh" master "$_cl_bridge" &&
			ip link set "$vh" up &&
			ip -n "$ns" addr add "${CL_IP[i]}/24" dev "$vn" &&
			ip -n "$ns" link set "$vn" up &&
			ip -n "$ns" link set lo up || return 1
	done
}

_cl_netns_teardown() {
	local i
	[ -n "$_cl_bridge" ] || return 0
	for ((i = 1; i <= CL_N; i++)); do
		[ -n "${_cl_veth[$i]:-}" ] && ip link del "${_cl_veth[$i]}" 2>/dev/null
		[ -n "${_cl_ns[$i]:-}" ] && ip netns del "${_cl_ns[$i]}" 2>/dev/null
	done
	ip link del "$_cl_bridge" 2>/dev/null
	_cl_bridge=
}

# cl_set_peers I J...: node I's peers are nodes J... (default: all others).
cl_set_peers() {
	local i=$1
	shift
	CL_PEERS[$i]="$*"
}

cl_endpoint() { echo "${CL_IP[$1]}:$CL_PORT"; }

# cl_opts I: node I's -o options without data=.
cl_opts() {
	local i=$1 j peers o
	peers=${CL_PEERS[$i]-}
	if [ -z "${CL_PEERS[$i]+x}" ]; then
		peers=
		for ((j = 1; j <= CL_N; j++)); do
			[ "$j" -ne "$i" ] && peers+=" $j"
		done
	fi
	o="listen=$(cl_endpoint "$i")"
	for j in $peers; do
		o+=",peer=$(cl_endpoint "$j")"
	done
	o+=${CL_COMMON:+,$CL_COMMON}
	o+=${CL_OPTS:+,$CL_OPTS}
	o+=${_cl_opts[$i]:+,${_cl_opts[$i]}}
	echo "$o"
}

# _cl_run I CMD...: runs CMD in node I's network namespace (netns mode).
_cl_run() {
	local i=$1
	shift
	if [ -n "${_cl_ns[$i]:-}" ]; then
		nsenter "--net=/run/netns/${_cl_ns[$i]}" "$@"
	else
		"$@"
	fi
}

# ---- starting and stopping nodes ------------------------------------------

# cl_start I [OPTS]: mounts node I (OPTS are kept for restarts).
cl_start() {
	local i=$1 mnt=${CL_M[$1]} data=${CL_D[$1]} o rc
	[ $# -ge 2 ] && _cl_opts[$i]=$2
	_cl_kind[$i]=mount
	o="data=$data,$(cl_opts "$i")"
	mkdir -p "$mnt" "$data" || return 1
	_register "$mnt" "$data"
	echo "node $i: mount.modelfs $mnt -o $o" >>"$WORK/mount.out"
	_cl_run "$i" "$MOUNT_BIN" "$mnt" -o "$o" >>"$WORK/mount.out" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "node $i: mount.modelfs $mnt -o $o: exit status $rc" >&2
		tail -n 20 "$WORK/mount.out" >&2
		return 1
	fi
	if ! wait_until is_mounted "$mnt"; then
		echo "node $i: $mnt is not a mountpoint ${MFS_WAIT_MAX} s after mount.modelfs returned" >&2
		return 1
	fi
	mfs_adopt "$mnt" "$data" || return 1
	_cl_up[$i]=1
}

_cl_pid_ok() { [ -s "$1/modelfs.pid" ] && pid_alive "$(cat "$1/modelfs.pid")"; }

# cl_serve I [OPTS]: starts node I as a storage-only peer (mount.modelfs --serve).
cl_serve() {
	local i=$1 data=${CL_D[$1]} o rc pid d found=0
	[ $# -ge 2 ] && _cl_opts[$i]=$2
	_cl_kind[$i]=serve
	o="data=$data,$(cl_opts "$i")"
	mkdir -p "$data" || return 1
	for d in "${_datas[@]}"; do
		[ "$d" = "$data" ] && found=1
	done
	[ "$found" = 1 ] || _datas+=("$data")
	echo "node $i: mount.modelfs --serve -o $o" >>"$WORK/mount.out"
	_cl_run "$i" "$MOUNT_BIN" --serve -o "$o" >>"$WORK/mount.out" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "node $i: mount.modelfs --serve -o $o: exit status $rc" >&2
		tail -n 20 "$WORK/mount.out" >&2
		return 1
	fi
	if ! wait_until _cl_pid_ok "$data"; then
		echo "node $i: no live pid in $data/modelfs.pid after mount.modelfs --serve returned" >&2
		return 1
	fi
	pid=$(cat "$data/modelfs.pid")
	_cl_spid[$i]=$pid
	echo "$pid $data" >>"$WORK/.daemons"
	_cl_up[$i]=1
}

# cl_start_all [OPTS]: mounts nodes 1..N, each with OPTS, and waits until
# every node sees every peer up.
cl_start_all() {
	local i
	for ((i = 1; i <= CL_N; i++)); do
		cl_start "$i" "${1:-}" || return 1
	done
	cl_wait_formed
}

# cl_sigstop I: stops node I's daemon (SIGSTOP: its connections stay up,
# nothing answers) until cl_let_go; the exit trap lets it go too, since a
# node left stopped keeps its mount, and the teardown, hung.
CL_STOPPED=
cl_sigstop() {
	CL_STOPPED=$(mfs_daemon_pid "${CL_M[$1]}") && [ -n "$CL_STOPPED" ] &&
	kill -STOP "$CL_STOPPED"
}
# cl_let_go: SIGCONT to the daemon cl_sigstop stopped, if any.
cl_let_go() {
	[ -n "$CL_STOPPED" ] && kill -CONT "$CL_STOPPED" 2>/dev/null
	CL_STOPPED=
	return 0
}

# cl_kill9 I: SIGKILL to node I's daemon (a dead mount is cleared).
cl_kill9() {
	local i=$1 pid
	if [ "${_cl_kind[$i]}" = serve ]; then
		pid=${_cl_spid[$i]:-}
		[ -n "$pid" ] || { echo "node $i: no daemon recorded" >&2; return 1; }
		kill -9 "$pid" 2>/dev/null || pid_gone "$pid" || return 1
		wait_until pid_gone "$pid" || { echo "node $i: $pid survived SIGKILL" >&2; return 1; }
		_cl_spid[$i]=
	else
		# The daemon's own pid file, not the pid recorded at its start: a
		# restart in a subshell (t1496's faults run in one per round) left
		# the caller's record stale, and mfs_kill9 took that dead pid for
		# this daemon killed and only detached its mount, a clean stop.
		_cl_pid_ok "${CL_D[$i]}" && _mnt_pid[${CL_M[$i]}]=$(cat "${CL_D[$i]}/modelfs.pid")
		mfs_kill9 "${CL_M[$i]}" || return 1
	fi
	_cl_up[$i]=0
}

# cl_stop I: clean stop (umount, or SIGTERM for a storage-only peer).
cl_stop() {
	local i=$1 pid
	if [ "${_cl_kind[$i]}" = serve ]; then
		pid=${_cl_spid[$i]:-}
		[ -n "$pid" ] || { echo "node $i: no daemon recorded" >&2; return 1; }
		kill -TERM "$pid" || return 1
		wait_until pid_gone "$pid" ||
			{ echo "node $i: $pid still running ${MFS_WAIT_MAX} s after SIGTERM" >&2; return 1; }
		_cl_spid[$i]=
	else
		mfs_umount "${CL_M[$i]}" || return 1
	fi
	_cl_up[$i]=0
}

# cl_restart I: starts node I again with the same data and options.
cl_restart() {
	if [ "${_cl_kind[$1]}" = serve ]; then
		cl_serve "$1"
	else
		cl_start "$1"
	fi
}

# cl_live: the numbers of the running nodes.
cl_live() {
	local i out=()
	for ((i = 1; i <= CL_N; i++)); do
		[ "${_cl_up[$i]:-0}" = 1 ] && out+=("$i")
	done
	echo "${out[*]}"
}

# cl_daemons_alive N...: each named node's daemon still runs (a fault
# test's check that the survivors lived through it).
cl_daemons_alive() {
	local i
	for i in "$@"; do
		pid_alive "$(mfs_daemon_pid "${CL_M[$i]}")" || { echo "node $i's daemon is gone" >&2; return 1; }
	done
}

# cl_mounts: the numbers of the running mounted nodes.
cl_mounts() {
	local i out=()
	for i in $(cl_live); do
		[ "${_cl_kind[$i]}" = mount ] && out+=("$i")
	done
	echo "${out[*]}"
}

# ---- partitions (netns mode) -------------------------------------------------

# cl_partition I: cuts node I off the bridge; cl_heal I: joins it again.
cl_partition() { ip link set "${_cl_veth[$1]}" down; }
cl_heal() { ip link set "${_cl_veth[$1]}" up; }

# ---- status -----------------------------------------------------------------

# cl_status I: node I's `modelfs-admin status --json`.
cl_status() {
	if [ "${_cl_kind[$1]}" = serve ]; then
		"$ADMIN_BIN" status --json --data "${CL_D[$1]}"
	else
		"$ADMIN_BIN" status --json "${CL_M[$1]}"
	fi
}

# cl_sees I ENDPOINT: node I has a peer at ENDPOINT (host:port) that is up.
cl_sees() {
	cl_status "$1" 2>/dev/null | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if any(p["endpoint"].endswith(sys.argv[1]) and p["state"] == "up"
                  for p in d.get("peers", [])) else 1)' "$2"
}

# cl_get I KEY: a top-level value of node I's status.
cl_get() {
	local js
	js=$(cl_status "$1" 2>/dev/null) || return 1
	json_get "$2" <<<"$js" 2>/dev/null
}

# cl_expect_peers_up I: the number of node I's peers that are running.
_cl_expect_peers_up() {
	local i=$1 j n=0 peers
	if [ -n "${CL_PEERS[$i]+x}" ]; then
		peers=${CL_PEERS[$i]}
	else
		peers=
		for ((j = 1; j <= CL_N; j++)); do
			[ "$j" -ne "$i" ] && peers+=" $j"
		done
	fi
	for j in $peers; do
		[ "${_cl_up[$j]:-0}" = 1 ] && n=$((n + 1))
	done
	echo "$n"
}

# cl_formed [I...]: each node (default: every running one) sees exactly its
# running peers up.
cl_formed() {
	local i
	# shellcheck disable=SC2046 # node numbers
	[ $# -gt 0 ] || set -- $(cl_live)
	for i in "$@"; do
		[ "$(cl_get "$i" peers_up)" = "$(_cl_expect_peers_up "$i")" ] || return 1
	done
}

_cl_report() { # KEY [I...]: KEY on each node, to stderr
	local key=$1 i
	shift
	for i in "$@"; do
		echo "node $i: $key=$(cl_get "$i" "$key" || echo '?')" >&2
	done
}

# cl_wait_formed [I...]
cl_wait_formed() {
	# shellcheck disable=SC2046 # node numbers
	[ $# -gt 0 ] || set -- $(cl_live)
	wait_for "$CL_TRIES" cl_formed "$@" && return 0
	echo "peers not all up after $CL_TRIES polls (want: running peers up)" >&2
	_cl_report peers_up "$@"
	_cl_report peers "$@"
	return 1
}

# cl_backlog0 [I...]: repl_backlog is 0 on each node (default: every running one).
cl_backlog0() {
	local i
	# shellcheck disable=SC2046 # node numbers
	[ $# -gt 0 ] || set -- $(cl_live)
	for i in "$@"; do
		[ "$(cl_get "$i" repl_backlog)" = 0 ] || return 1
	done
}

# cl_wait_backlog0 [I...]: polls until two rounds in a row find repl_backlog
# 0 on each node.  (A node applies a remote op, which shows the file, then
# queues the chunks it should hold: a single round could fall in between.)
_cl_backlog0_twice() { cl_backlog0 "$@" && cl_backlog0 "$@"; }
cl_wait_backlog0() {
	# shellcheck disable=SC2046 # node numbers
	[ $# -gt 0 ] || set -- $(cl_live)
	wait_for "$CL_TRIES" _cl_backlog0_twice "$@" && return 0
	echo "repl_backlog not 0 everywhere after $CL_TRIES polls" >&2
	_cl_report repl_backlog "$@"
	_cl_report peers_up "$@"
	return 1
}

# cl_start_reader FILE TAG: in the background, reads 8 MiB of FILE, makes
# $WORK/TAG.ready, waits for $WORK/TAG.go, reads on to the end in blocks of
# 1 MiB, and writes "ok N SHA" or "err ERRNO at OFF" to $WORK/TAG.out: a
# reader caught mid-file by a fault the test makes between ready and go.
cl_start_reader() { # FILE TAG
	rm -f "$WORK/$2".*
	"$PY" - "$1" "$WORK/$2.ready" "$WORK/$2.go" "$WORK/$2.out" <<'PYEOF' &
import errno, hashlib, os, sys, time
path, ready, go, out = sys.argv[1:]
def put(s):
    with open(out + ".tmp", "w") as f:
        f.write(s)
    os.rename(out + ".tmp", out)
h, n = hashlib.sha256(), 0
try:
    fd = os.open(path, os.O_RDONLY)
    while n < 8 << 20:
        b = os.read(fd, 1 << 20)
        if not b:  # a file under 8 MiB: its end (this looped for ever)
            break
        h.update(b)
        n += len(b)
    open(ready, "w").close()
    while not os.path.exists(go):
        time.sleep(0.05)
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    put("ok %d %s" % (n, h.hexdigest()))
except OSError as e:
    put("err %s at %d" % (errno.errorcode.get(e.errno, e.errno), n))
PYEOF
}

# ---- trees ------------------------------------------------------------------

# cl_snapshot ROOT [meta]: one line per entry below ROOT: relative path,
# type, size, mode, owner, symlink target, user xattrs (but user.modelfs.*)
# and, unless meta, the SHA-256 of regular files; with CL_SNAP_NLINK=1 in
# the environment, link counts too (=files: of all but directories).  Not
# times.  An entry
# that vanishes or fails while walked gives an ERR line.
cl_snapshot() {
	"$PY" - "$1" "${2:-}" <<'PYEOF'
import hashlib, os, stat, sys
root, meta = sys.argv[1], sys.argv[2] == "meta"
nlink = os.environ.get("CL_SNAP_NLINK", "")
out = []
def walk(d):
    try:
        names = sorted(os.listdir(d))
    except OSError as e:
        out.append("ERR %s %s" % (os.path.relpath(d, root), e.strerror))
        return
    for name in names:
        p = os.path.join(d, name)
        rel = os.path.relpath(p, root)
        try:
            st = os.lstat(p)
            h = link = ""
            xs = []
            if stat.S_ISLNK(st.st_mode):
                link = os.readlink(p)
            else:
                xs = sorted((n, os.getxattr(p, n).hex()) for n in os.listxattr(p)
                            if n.startswith("user.") and not n.startswith("user.modelfs."))
            if stat.S_ISREG(st.st_mode) and not meta:
                hh = hashlib.sha256()
                with open(p, "rb", buffering=0) as f:
                    while True:
                        b = f.read(1 << 20)
                        if not b:
                            break
                        hh.update(b)
                h = hh.hexdigest()
            nl = " n%d" % st.st_nlink if nlink == "1" or (nlink == "files" and not stat.S_ISDIR(st.st_mode)) else ""
            out.append("%s %o %d %d:%d %s %s %s%s" % (rel, st.st_mode, st.st_size if not stat.S_ISDIR(st.st_mode) else 0,
                                                    st.st_uid, st.st_gid, h, link, xs, nl))
        except OSError as e:
            out.append("ERR %s %s" % (rel, e.strerror))
            continue
        if stat.S_ISDIR(st.st_mode):
            walk(p)
walk(root)
print("\n".join(out))
PYEOF
}

# cl_same_trees [meta|full] [I...]: the mounts of the nodes (default: every
# running mount) hold the same tree; the differences go to $WORK/.conv.diff.
cl_same_trees() {
	local meta='' i first=''
	case "${1:-}" in
	meta) meta=meta && shift ;;
	full) shift ;;
	esac
	# shellcheck disable=SC2046 # node numbers
	[ $# -gt 0 ] || set -- $(cl_mounts)
	: >"$WORK/.conv.diff"
	for i in "$@"; do
		cl_snapshot "${CL_M[$i]}" "$meta" >"$WORK/.snap.$i" || return 1
		if grep -q '^ERR ' "$WORK/.snap.$i"; then
			grep '^ERR ' "$WORK/.snap.$i" | sed "s/^/node $i: /" >>"$WORK/.conv.diff"
			return 1
		fi
		if [ -z "$first" ]; then
			first=$i
		elif ! diff -u --label "node $first" --label "node $i" \
			"$WORK/.snap.$first" "$WORK/.snap.$i" >>"$WORK/.conv.diff"; then
			return 1
		fi
	done
}

# cl_wait_converged [meta] [I...]: polls until cl_same_trees holds (with
# meta first, CL_TRIES polls, so that the bytes are read only once the names
# agree; then the bytes, CL_READ_TRIES polls).
cl_wait_converged() {
	local meta=''
	if [ "${1:-}" = meta ]; then
		meta=meta
		shift
	fi
	# shellcheck disable=SC2046 # node numbers
	[ $# -gt 0 ] || set -- $(cl_mounts)
	if ! wait_for "$CL_TRIES" cl_same_trees meta "$@"; then
		echo "the names, sizes and modes on nodes $* did not converge after $CL_TRIES polls:" >&2
	elif [ -n "$meta" ] || wait_for "$CL_READ_TRIES" cl_same_trees full "$@"; then
		return 0
	else
		echo "the names agree, but the bytes on nodes $* did not after $CL_READ_TRIES polls:" >&2
	fi
	head -n 40 "$WORK/.conv.diff" >&2
	return 1
}

# cl_files_counted [I...]: every file record node I counts (status files)
# has a name: as many as the regular files its tree shows, each of n names
# counted 1/n (two versions that parted in a race may show one st_ino, so
# inode numbers cannot tell links apart).  Every mounted node by default.
# On a mismatch it says the sum before rounding too (a file of nlink 2 with
# one name left is a half); cl_files_explain says which files.
cl_files_counted() {
	local i want got
	# shellcheck disable=SC2046 # node numbers
	[ $# -gt 0 ] || set -- $(cl_mounts)
	for i in "$@"; do
		want=$(_cl_tree_files "${CL_M[$i]}")
		got=$(cl_get "$i" files)
		[ "$got" = "${want%% *}" ] || { echo "node $i: status files $got, tree shows $want" >&2; return 1; }
	done
}

# _cl_tree_files DIR [-v]: "N (sum S)", the regular files of the tree under DIR,
# each name 1/st_nlink; with -v also, on stderr, every st_ino whose names
# in the tree are not st_nlink, with its paths.
_cl_tree_files() {
	"$PY" - "$@" <<'PYEOF'
import os, sys
n = 0.0
by_ino = {}
for d, _, files in os.walk(sys.argv[1]):
    for f in files:
        p = os.path.join(d, f)
        st = os.lstat(p)
        if (st.st_mode & 0o170000) == 0o100000:
            n += 1.0 / max(st.st_nlink, 1)
            by_ino.setdefault(st.st_ino, []).append((p, st.st_nlink, st.st_size))
print("%d (sum %.2f)" % (round(n), n))
if len(sys.argv) > 2:
    for ino, names in sorted(by_ino.items()):
        if any(nl != len(names) for _, nl, _ in names):
            for p, nl, size in names:
                print("  st_ino %016x nlink %d size %d: %s" % (ino, nl, size,
                      os.path.relpath(p, sys.argv[1])), file=sys.stderr)
PYEOF
}

# cl_wait_files_counted: cl_files_counted of every mounted node, polled
# (CL_TRIES); if it never holds, its last complaint and cl_files_explain.
cl_wait_files_counted() {
	wait_for "$CL_TRIES" cl_files_counted 2>/dev/null && return 0
	cl_files_counted
	cl_files_explain
	return 1
}

# cl_files_explain [I...]: after cl_files_counted failed, which files it
# counts apart, on stderr: the tree's st_inos whose names are not st_nlink,
# then the file records the store holds that no entry names, or whose
# nlink, list of names or entries disagree (tests/tools/ns_records), read
# after a SIGKILL of the node (its store as it was), which then restarts.
cl_files_explain() {
	local i
	# shellcheck disable=SC2046 # node numbers
	[ $# -gt 0 ] || set -- $(cl_mounts)
	for i in "$@"; do
		echo "node $i: status files $(cl_get "$i" files); the tree: $(_cl_tree_files "${CL_M[$i]}" -v 2>&1)" >&2
	done
	[ -x "$MFS_BUILD/tests/tools/ns_records" ] || { echo "(no tests/tools/ns_records: make check builds it)" >&2; return 0; }
	for i in "$@"; do
		cl_kill9 "$i" || continue
		echo "node $i: its file records (ns_records ${CL_D[$i]}):" >&2
		"$MFS_BUILD/tests/tools/ns_records" "${CL_D[$i]}" >&2
		cl_restart "$i"
	done
}

# cl_wait_sha I PATH SHA: polls until PATH (relative to the mounts) reads as SHA on node I.
_cl_sha_is() { [ "$(file_sha "$1" 2>/dev/null)" = "$2" ]; }
cl_wait_sha() {
	local p=${CL_M[$1]}/$2
	wait_for "$CL_READ_TRIES" _cl_sha_is "$p" "$3" && return 0
	echo "node $1: $2 does not read as $3 after $CL_READ_TRIES polls (now: $(file_sha "$p" 2>&1))" >&2
	return 1
}

# ---- end ----------------------------------------------------------------------

# cl_done: stops the storage-only peers (a test point each), then mfs_done.
cl_done() {
	local i
	for ((i = 1; i <= CL_N; i++)); do
		if [ "${_cl_kind[$i]:-}" = serve ] && [ "${_cl_up[$i]:-0}" = 1 ]; then
			check "stop storage-only node $i with SIGTERM: it exits" cl_stop "$i"
		fi
	done
	mfs_done
}

_cl_on_exit() {
	local rc=$? pid skip i
	if [ "$_cl_cleaned" = 0 ] && [ -n "$WORK" ]; then
		_cl_cleaned=1
		cl_let_go
		# Helpers first (they may hold files in the mounts); not the watchdog.
		skip=" ${_watchdog:-} $([ -n "${_watchdog:-}" ] && _descendants "$_watchdog" | tr '\n' ' ') "
		for pid in $(_descendants "$$"); do
			case "$skip" in *" $pid "*) continue ;; esac
			kill -9 "$pid" 2>/dev/null
		done
		_teardown_mounts
		for ((i = 1; i <= CL_N; i++)); do
			pid=${_cl_spid[$i]:-}
			if [ -n "$pid" ] && pid_alive "$pid"; then
				say "storage-only daemon $pid (node $i) still running: SIGTERM, then SIGKILL"
				kill -TERM "$pid" 2>/dev/null
				wait_for 50 pid_gone "$pid" || kill -9 "$pid" 2>/dev/null
				wait_for 50 pid_gone "$pid"
			fi
		done
		_cl_netns_teardown
	fi
	(exit "$rc")
	_on_exit
}
